"""Several goalkeeper processes on one database: what must hold across them does.

Two real ``goalkeeper serve`` processes share one database (each backend), and one
``serve --workers 2`` runs uvicorn's worker processes: an Idempotency-Key sent to both
at once stores one row, a once_per_recipient goal converted in both counts once, and a
revoked key stops working everywhere within ``key_cache_seconds``, the documented bound.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from goalkeeper.core.reports import ReportRequest, goal_report
from goalkeeper.store import Store
from tests.conftest import Server
from tests.fixtures import World, goals_xml

pytestmark = pytest.mark.blackbox

KEY_CACHE_SECONDS = 1.0
ENV = {"GOALKEEPER_KEY_CACHE_SECONDS": str(KEY_CACHE_SECONDS)}


@pytest.fixture
def pair(world: World, database_url: str, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    servers = [Server(database_url, tmp_path / f"server{i}.log", env=ENV) for i in (1, 2)]
    try:
        for server in servers:
            server.start()
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


def post_at_once(urls: list[str], body: bytes, headers: dict[str, str]) -> list[int]:
    """POST the same request to every URL at the same moment (warm connections)."""
    clients = [httpx.Client(base_url=url, timeout=10) for url in urls]
    for client in clients:
        client.get("/healthz")
    barrier = threading.Barrier(len(urls))
    statuses = [0] * len(urls)

    def send(i: int) -> None:
        barrier.wait(timeout=10)
        statuses[i] = clients[i].post("/v2/Api/Goals", content=body, headers=headers).status_code

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(urls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for client in clients:
        client.close()
    return statuses


def rows_by_key(store: Store, world: World) -> dict[str | None, int]:
    counts: dict[str | None, int] = {}
    for row in store.list_fulfillments(world.account_id, limit=1_000_000):
        counts[row.idempotency_key] = counts.get(row.idempotency_key, 0) + 1
    return counts


def test_the_same_key_sent_to_two_processes_at_once_stores_one_row(
    pair: tuple[Server, Server], store: Store, world: World
) -> None:
    urls = [server.base_url for server in pair]
    rounds = 25
    for i in range(rounds):
        statuses = post_at_once(urls, goals_xml(value=str(i)), {"Idempotency-Key": f"both-{i}"})
        assert statuses == [201, 201]
    counts = rows_by_key(store, world)
    assert {k: v for k, v in counts.items() if k and k.startswith("both-")} == {
        f"both-{i}": 1 for i in range(rounds)
    }


def test_a_revoked_key_stops_working_in_every_process_within_the_cache_bound(
    pair: tuple[Server, Server], database_url: str, world: World
) -> None:
    key = world.ingest_key
    body = goals_xml(key=key)
    clients = [httpx.Client(base_url=server.base_url, timeout=10) for server in pair]
    for client in clients:  # both processes have the key in their cache now
        assert client.post("/v2/Api/Goals", content=body).status_code == 201

    prefix = key.split("_")[1]
    subprocess.run(
        [sys.executable, "-m", "goalkeeper", "keys", "revoke", prefix, "--database", database_url],
        check=True,
        capture_output=True,
        timeout=60,
    )
    revoked_at = time.monotonic()
    refused_after: list[float] = []
    for client in clients:
        while time.monotonic() - revoked_at < KEY_CACHE_SECONDS + 5:
            if client.post("/v2/Api/Goals", content=body).status_code == 403:
                refused_after.append(time.monotonic() - revoked_at)
                break
            time.sleep(0.05)
    for client in clients:  # and it stays refused
        assert client.post("/v2/Api/Goals", content=body).status_code == 403
        client.close()
    assert len(refused_after) == 2, "a process kept accepting the revoked key"
    # The bound, plus the time a request takes on a busy machine.
    assert max(refused_after) <= KEY_CACHE_SECONDS + 0.5, refused_after


def test_serve_workers_share_the_configuration_and_the_keys(
    store: Store, world: World, database_url: str, tmp_path: Path
) -> None:
    """``--workers 2``: the workers get the flags through the environment and agree, and
    log as configured (each worker is a process of its own)."""
    logs = {"GOALKEEPER_LOG_FORMAT": "json", "GOALKEEPER_ACCESS_LOG": "true"}
    log_path = tmp_path / "server.log"
    server = Server(database_url, log_path, "--workers", "2", env={**ENV, **logs}).start()
    try:
        assert server.process is not None
        children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
        deadline = time.monotonic() + 15
        while len(children.read_text().split()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(children.read_text().split()) >= 2  # two worker processes serving
        urls = [server.base_url, server.base_url]  # two connections: spread over workers
        for i in range(20):
            statuses = post_at_once(urls, goals_xml(value=str(i)), {"Idempotency-Key": f"w-{i}"})
            assert statuses == [201, 201]
    finally:
        server.stop()
    counts = rows_by_key(store, world)
    assert {k: v for k, v in counts.items() if k and k.startswith("w-")} == {
        f"w-{i}": 1 for i in range(20)
    }
    access = [
        entry
        for line in log_path.read_text().splitlines()
        if line.startswith("{") and (entry := json.loads(line))["logger"] == "goalkeeper.access"
    ]
    goals = [e for e in access if e["message"].startswith("POST /v2/Api/Goals 201")]
    assert len(goals) == 40


def test_a_once_per_recipient_goal_counts_once_across_processes(
    pair: tuple[Server, Server], store: Store, world: World
) -> None:
    """The same GUID converts goal 2 (once_per_recipient) in both processes at once."""
    urls = [server.base_url for server in pair]
    for i in range(10):
        assert post_at_once(urls, goals_xml(goal_id="2", value=str(i + 1)), {}) == [201, 201]
    assert store.count_fulfillments(world.account_id) == 20  # every request is kept raw
    report = goal_report(store, ReportRequest(world.account_id, by=("goal",)))
    (row,) = [r for r in report.rows if r.goal_id == 2]
    assert (row.fulfillments, row.unique_recipients) == (1, 1)
    assert row.value in {f.value for f in store.list_fulfillments(world.account_id)}
