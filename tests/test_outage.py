"""PostgreSQL stops under load and comes back: fast 503s, unready, recovery, nothing lost.

The test runs a cluster of its own (scripts/pg-cluster) so stopping it disturbs no other
test. A real ``goalkeeper serve`` process takes a steady load from a few clients while
the server is stopped with ``pg_ctl stop -m fast`` and started again.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from goalkeeper.model import FulfillmentRequest, Source, Stored
from goalkeeper.store import open_store
from tests import pgcluster
from tests.conftest import POSTGRES, Server
from tests.fixtures import SPEC_GUID, build_world, goals_xml

pytestmark = [
    pytest.mark.blackbox,
    pytest.mark.skipif(POSTGRES is None, reason="PostgreSQL unavailable"),
]

# An answer while the database is down must come within this (no hang, no pile-up).
ANSWER_WITHIN = 1.0


@dataclasses.dataclass(frozen=True)
class Answer:
    value: int
    sent: float
    took: float
    status: int  # 0: no HTTP answer at all
    retry_after: str | None
    body: bytes


class SteadyLoad:
    """A few clients posting Goals in a loop, each request marked by its GoalValue."""

    def __init__(self, base_url: str, clients: int = 6, max_seconds: float = 60.0):
        self.base_url = base_url
        self.deadline = time.monotonic() + max_seconds
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._values = itertools.count(1)
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def __enter__(self) -> SteadyLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def acknowledged(self) -> set[int]:
        with self._lock:
            return {a.value for a in self.answers if a.status == 201}

    def wait_for(self, predicate: object, timeout: float) -> None:
        assert callable(predicate)
        end = time.monotonic() + timeout
        while not predicate() and time.monotonic() < end:
            time.sleep(0.02)
        assert predicate(), "condition not reached in time"

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as http:
            while not self._stop.is_set() and time.monotonic() < self.deadline:
                value = next(self._values)
                headers = {"Idempotency-Key": f"outage-{value}"} if value % 2 else {}
                sent = time.monotonic()
                try:
                    response = http.post(
                        "/v2/Api/Goals", content=goals_xml(value=str(value)), headers=headers
                    )
                    answer = Answer(
                        value,
                        sent,
                        time.monotonic() - sent,
                        response.status_code,
                        response.headers.get("retry-after"),
                        response.content,
                    )
                except httpx.TransportError:
                    answer = Answer(value, sent, time.monotonic() - sent, 0, None, b"")
                with self._lock:
                    self.answers.append(answer)
                if answer.status != 201:
                    time.sleep(0.01)


@pytest.fixture(scope="module")
def cluster() -> Iterator[pgcluster.Cluster]:
    own = pgcluster.launch()
    yield own
    own.close()


def readyz(base_url: str) -> tuple[int, float]:
    started = time.monotonic()
    status = httpx.get(base_url + "/readyz", timeout=10).status_code
    return status, time.monotonic() - started


def test_database_outage_answers_503_fast_then_recovers_losing_nothing(
    cluster: pgcluster.Cluster, tmp_path: Path
) -> None:
    url = cluster.new_database()
    store = open_store(url)
    world = build_world(store)
    # A short key cache, so the outage outlasts it and key lookups meet the dead server too.
    server = Server(url, tmp_path / "server.log", env={"GOALKEEPER_KEY_CACHE_SECONDS": "1"})
    server.start()
    assert server.process is not None
    pid = server.process.pid
    try:
        with SteadyLoad(server.base_url) as load:
            load.wait_for(lambda: len(load.acknowledged()) >= 200, timeout=30)
            assert readyz(server.base_url)[0] == 200

            cluster.stop()  # pg_ctl stop -m fast, under load
            stopped_at = time.monotonic()
            unready = [readyz(server.base_url) for _ in range(5)]
            time.sleep(2.5)  # past the key cache: lookups hit the stopped server as well
            unready += [readyz(server.base_url) for _ in range(5)]
            reason = httpx.get(server.base_url + "/readyz", timeout=10).json()["reason"]
            alive = httpx.get(server.base_url + "/healthz", timeout=10).status_code
            api = httpx.get(  # the JSON API answers in its own envelope
                server.base_url + "/api/v1/goals",
                headers={"Authorization": f"Bearer {world.admin_key}"},
                timeout=10,
            )
            acked_while_down = len(load.acknowledged())
            time.sleep(0.3)
            assert len(load.acknowledged()) == acked_while_down  # nothing acked while down

            cluster.start()
            restarted_at = time.monotonic()
            load.wait_for(lambda: len(load.acknowledged()) >= acked_while_down + 200, timeout=30)
            load.wait_for(lambda: readyz(server.base_url)[0] == 200, timeout=10)
    finally:
        server.stop()
    assert server.process is None and pid  # the same process served before, during, after

    assert all(status == 503 and took < ANSWER_WITHIN for status, took in unready), unready
    assert alive == 200  # unready, yet alive: a balancer drains it, nobody restarts it
    # the cause goes to the log, not to whoever asks /readyz (no host, no port)
    assert reason == "database unavailable (the log says why)"
    assert "unready: database unavailable: " in (tmp_path / "server.log").read_text()
    assert api.status_code == 503 and api.headers["retry-after"] == "1"
    # The cause (here the database's host and port) is for the log, not for clients.
    assert api.json()["error"] == {
        "status": 503,
        "code": "unavailable",
        "message": "Service temporarily unavailable.",
    }
    down = [a for a in load.answers if stopped_at <= a.sent and a.sent + a.took <= restarted_at]
    assert len(down) >= 20, "the load did not meet the outage"
    statuses = Counter(a.status for a in load.answers)
    assert set(statuses) <= {201, 503}, statuses  # never a 500, never a dropped connection
    for answer in (a for a in load.answers if a.status == 503):
        assert answer.retry_after is not None and int(answer.retry_after) >= 1
        assert b"<Code>503</Code>" in answer.body  # the Goals method's own envelope
        assert b"<Message>Service temporarily unavailable.</Message>" in answer.body
    slow = [a for a in down if a.took >= ANSWER_WITHIN]
    assert not slow, slow[:5]
    # The log says it once (and again when writes succeed), not once per failed batch.
    log = (tmp_path / "server.log").read_text()
    assert 1 <= log.count("failed batches so far") <= 3, log[-3000:]
    assert "failed batches so far): database unavailable: " in log
    assert "writes succeed again after" in log

    # Every 201 is stored, once; nothing is stored that was never sent.
    rows = store.list_fulfillments(world.account_id, limit=1_000_000)
    stored = Counter(row.value for row in rows)
    assert load.acknowledged() <= set(stored)
    assert max(stored.values()) == 1
    assert set(stored) <= {a.value for a in load.answers}
    store.close()
    cluster.drop_database(url)


def test_connections_left_idle_across_a_restart_are_not_a_failed_request(
    cluster: pgcluster.Cluster,
) -> None:
    url = cluster.new_database()
    store = open_store(url)
    world = build_world(store)
    request = FulfillmentRequest(
        world.account_id, 1, uuid.UUID(SPEC_GUID).bytes, 1, None, Source.XML
    )
    store.write_fulfillments([request], idempotency_hours=24)  # the writer's connection
    assert store.count_fulfillments(world.account_id) == 1  # and a pooled one
    cluster.stop()
    cluster.start()
    time.sleep(1.2)  # idle long enough to be checked before use
    # Both connections died with the old server; neither call may fail because of it.
    assert isinstance(store.write_fulfillments([request], idempotency_hours=24)[0], Stored)
    assert store.count_fulfillments(world.account_id) == 2
    store.close()
    cluster.drop_database(url)
