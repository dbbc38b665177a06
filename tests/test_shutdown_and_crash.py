"""Acknowledged means durable: SIGTERM drains in-flight work, SIGKILL loses nothing acked."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from goalkeeper.store import Store
from tests.conftest import Server
from tests.fixtures import SPEC_GUID, World, goals_xml
from tests.load import Load

pytestmark = pytest.mark.blackbox


def children_of(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for whoever adopted it to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stored_values(store: Store, world: World) -> Counter[int]:
    return Counter(row.value for row in store.list_fulfillments(world.account_id, limit=1_000_000))


def test_sigterm_finishes_in_flight_requests_then_exits(
    store: Store, world: World, database_url: str, tmp_path: Path
) -> None:
    server = Server(database_url, tmp_path / "server.log").start()
    assert server.process is not None
    load = Load(server.base_url, clients=16, json_key=world.ingest_key).start()
    load.wait_for_acks(200)
    server.process.send_signal(signal.SIGTERM)
    # uvicorn re-raises the signal once it has shut down cleanly
    assert server.process.wait(timeout=20) in (0, -signal.SIGTERM)
    result = load.stop()
    log = (tmp_path / "server.log").read_text()
    assert "Waiting for application shutdown." in log and "Application shutdown complete." in log
    assert len(result.acknowledged) >= 200
    assert set(result.statuses) <= {201}, result.statuses  # no 5xx while draining
    stored = stored_values(store, world)
    assert max(stored.values()) == 1
    assert set(stored) == result.acknowledged  # every answered request, and only those


@pytest.mark.parametrize("acks_before_kill", [50, 400, 1500])
def test_sigkill_loses_nothing_acknowledged(
    store: Store, world: World, database_url: str, tmp_path: Path, acks_before_kill: int
) -> None:
    """Kill at several points of a steady load: commits are in flight most of the time
    under this load (each batch waits for its fsync), so some kills land inside one."""
    server = Server(database_url, tmp_path / "server.log").start()
    assert server.process is not None
    load = Load(server.base_url, clients=16, json_key=world.ingest_key).start()
    load.wait_for_acks(acks_before_kill)
    writers = children_of(server.process.pid)
    assert writers, "the server runs its writer in a child process"
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)
    result = load.stop()
    assert set(result.statuses) <= {201}, result.statuses
    # the orphaned writer sees the end of its socket, finishes its batch and exits
    deadline = time.monotonic() + 10
    while any(map(running, writers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in writers if running(pid)]
    restarted = Server(database_url, tmp_path / "server.log").start()
    try:
        stored = stored_values(store, world)
        assert result.acknowledged <= set(stored)  # nothing acknowledged is lost
        assert set(stored) <= result.sent  # nothing stored that was never sent
        assert max(stored.values()) == 1  # nothing stored twice
        # a binding without its fulfillment would be a half-stored request
        assert store.count_fulfillments(world.account_id) == sum(stored.values())
    finally:
        restarted.stop()


def test_requests_still_running_at_the_shutdown_timeout_answer_503_in_their_envelope(
    store: Store, world: World, database_url: str, tmp_path: Path
) -> None:
    """They used to get uvicorn's plain-text 500, with a traceback in the log."""
    log_path = tmp_path / "server.log"
    env = {"GOALKEEPER_SHUTDOWN_TIMEOUT_SECONDS": "1"}
    server = Server(database_url, log_path, env=env).start()
    assert server.process is not None
    # another client holds a lock the writer needs, longer than the shutdown timeout
    holder: Any
    if store.dialect == "sqlite":
        holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    else:
        holder = psycopg.connect(database_url)
        holder.execute("LOCK TABLE fulfillments IN EXCLUSIVE MODE")
    answers: dict[str, httpx.Response] = {}

    def post(name: str, path: str, **kwargs: object) -> None:
        answers[name] = httpx.post(server.base_url + path, timeout=30, **kwargs)  # type: ignore[arg-type]

    posts = [
        threading.Thread(
            target=post, args=("xml", "/v2/Api/Goals"), kwargs={"content": goals_xml()}
        ),
        threading.Thread(
            target=post,
            args=("json", "/api/v1/fulfillments"),
            kwargs={
                "json": {"goal_id": 1, "message_guid": SPEC_GUID},
                "headers": {"Authorization": f"Bearer {world.ingest_key}"},
            },
        ),
    ]
    try:
        for thread in posts:
            thread.start()
        time.sleep(0.5)  # both are waiting for the writer
        server.process.send_signal(signal.SIGTERM)
        for thread in posts:
            thread.join(15)
    finally:
        holder.rollback()
        holder.close()
    assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
    xml, json_answer = answers["xml"], answers["json"]
    assert xml.status_code == 503 and "<ErrorMessage>" in xml.text
    assert "Service temporarily unavailable." in xml.text
    assert json_answer.status_code == 503
    assert json_answer.json()["error"]["code"] == "unavailable"
    log = log_path.read_text()
    assert log.count("the server stopped while it was in flight") == 2
    assert "Traceback" not in log
