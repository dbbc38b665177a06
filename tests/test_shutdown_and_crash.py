"""Acknowledged means durable: SIGTERM drains in-flight work, SIGKILL loses nothing acked."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from goalkeeper.store import Store
from tests.conftest import Server
from tests.fixtures import World
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
