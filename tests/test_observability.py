"""Health, readiness, metrics, request ids and structured logs."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from goalkeeper.config import Config
from goalkeeper.store import Store, open_store
from goalkeeper.web.app import Goalkeeper, GuardedApp
from tests.conftest import Server
from tests.fixtures import UNKNOWN_GUID, World, build_world, goals_xml


def create_app_with_store(config: Config, store: Any) -> GuardedApp:
    return GuardedApp(Goalkeeper(config, store=store))


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if not match or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match[2] or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match[3])
    return total


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_readiness_says_when_writes_fail_and_recovers(
    client: TestClient, store: Store, database_url: str, immutable: list[Path]
) -> None:
    """Reads still work while writes fail (here: a file that cannot be written)."""
    if store.dialect != "sqlite":
        pytest.skip("a file made unwritable is SQLite's case")
    path = Path(database_url.removeprefix("sqlite:///"))
    subprocess.run(["chattr", "+i", str(path)], check=True)
    immutable.append(path)
    assert client.post("/v2/Api/Goals", content=goals_xml()).status_code == 503
    unready = client.get("/readyz")
    assert unready.status_code == 503 and "writes are failing" in unready.json()["reason"]
    subprocess.run(["chattr", "-i", str(path)], check=True)
    assert client.post("/v2/Api/Goals", content=goals_xml()).status_code == 201
    assert client.get("/readyz").json() == {"status": "ready"}


def test_metrics_count_requests_fulfillments_and_batches(client: TestClient, world: World) -> None:
    before = client.get("/metrics").text
    assert client.post("/v2/Api/Goals", content=goals_xml()).status_code == 201
    assert client.post("/v2/Api/Goals", content=goals_xml(guid=UNKNOWN_GUID)).status_code == 400
    after = client.get("/metrics").text
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")

    def grew(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert grew("goalkeeper_fulfillments_accepted_total", source="xml") == 1
    assert (
        grew(
            "goalkeeper_fulfillments_rejected_total",
            source="xml",
            reason="message_guid_not_recognized",
        )
        == 1
    )
    assert grew("goalkeeper_http_requests_total", route="goals", status="201") == 1
    assert grew("goalkeeper_http_requests_total", route="goals", status="400") == 1
    assert grew("goalkeeper_writer_batch_size_count") == 2
    assert grew("goalkeeper_writer_commit_seconds_count") == 2


def test_request_id_is_returned_and_echoed(client: TestClient) -> None:
    generated = client.get("/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{16}", generated)
    assert (
        client.get("/healthz", headers={"X-Request-Id": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    hostile = client.get("/healthz", headers={"X-Request-Id": "a b\tc"}).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{16}", hostile)
    response = client.post("/v2/Api/Goals", content=b"junk", headers={"X-Request-Id": "req-9"})
    assert response.status_code == 400 and response.headers["x-request-id"] == "req-9"


def test_json_logs_carry_the_request_id(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gk.db'}"
    store = open_store(url)
    build_world(store)
    store.close()
    log = tmp_path / "server.log"
    server = Server(
        url, log, env={"GOALKEEPER_LOG_FORMAT": "json", "GOALKEEPER_ACCESS_LOG": "true"}
    ).start()
    try:
        response = httpx.post(
            server.base_url + "/v2/Api/Goals",
            content=goals_xml(),
            headers={"X-Request-Id": "trace-42"},
        )
        assert response.status_code == 201
    finally:
        server.stop()
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert entries, log.read_text()
    access = [
        e for e in entries if e["logger"] == "goalkeeper.access" and e["request_id"] == "trace-42"
    ]
    assert len(access) == 1
    assert access[0]["message"].startswith("POST /v2/Api/Goals 201")
    assert all({"time", "level", "logger", "message", "request_id"} <= set(e) for e in entries)
    assert "test_api_key1" not in log.read_text()  # keys are never logged


def test_a_text_log_line_cannot_be_forged_through_a_request_path(tmp_path: Path) -> None:
    """The path is logged decoded: a %0a in it would start a line of the attacker's
    making, a %1b an escape sequence for whoever reads the log on a terminal."""
    url = f"sqlite:///{tmp_path / 'gk.db'}"
    store = open_store(url)
    build_world(store)
    store.close()
    log = tmp_path / "server.log"
    server = Server(url, log, env={"GOALKEEPER_ACCESS_LOG": "true"}).start()
    try:
        response = httpx.get(
            server.base_url + "/api/v1/x%0a2026-11-27 ERROR goalkeeper forged%1b[31m"
        )
        assert response.status_code == 404
    finally:
        server.stop()
    text = log.read_text()
    (line,) = [line for line in text.splitlines() if "forged" in line]
    assert "GET /api/v1/x\\x0a2026-11-27 ERROR goalkeeper forged\\x1b[31m 404" in line
    assert "\x1b" not in text


def test_metrics_add_up_across_workers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gk.db'}"
    store = open_store(url)
    build_world(store)
    store.close()
    server = Server(url, tmp_path / "server.log", "--workers", "2").start(timeout=30)
    try:
        with httpx.Client(base_url=server.base_url) as http:
            for _ in range(20):
                with httpx.Client(
                    base_url=server.base_url
                ) as fresh:  # new connections spread over workers
                    assert fresh.post("/v2/Api/Goals", content=goals_xml()).status_code == 201
            text = http.get("/metrics").text
    finally:
        server.stop()
    assert metric(text, "goalkeeper_fulfillments_accepted_total", source="xml") == 20


def test_json_api_fulfillments_are_counted(client: TestClient, world: World) -> None:
    before = client.get("/metrics").text
    headers = {"Authorization": f"Bearer {world.ingest_key}"}
    from tests.fixtures import SPEC_GUID

    good = {"goal_id": 1, "message_guid": SPEC_GUID}
    batch = {"fulfillments": [good, {**good, "goal_id": 99}, {**good, "goal_id": "x"}]}
    assert client.post("/api/v1/fulfillments", json=batch, headers=headers).status_code == 200
    assert (
        client.post(
            "/api/v1/fulfillments", json={**good, "idempotency_key": "k"}, headers=headers
        ).status_code
        == 201
    )
    assert (
        client.post(
            "/api/v1/fulfillments", json={**good, "idempotency_key": "k"}, headers=headers
        ).status_code
        == 201
    )
    after = client.get("/metrics").text

    def grew(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert grew("goalkeeper_fulfillments_accepted_total", source="json") == 2
    assert grew("goalkeeper_fulfillments_duplicate_total", source="json") == 1
    assert (
        grew("goalkeeper_fulfillments_rejected_total", source="json", reason="goal_not_recognized")
        == 1
    )
    assert grew("goalkeeper_fulfillments_rejected_total", source="json", reason="invalid_type") == 1


class BrokenKeys:
    """A store whose key lookup has a defect: the last-resort answer is what is tested."""

    def __init__(self, store: Store):
        self._store = store

    def find_api_key(self, digest: bytes) -> None:
        raise RuntimeError("a defect")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/v2/Api/Goals", "text/xml"), ("/api/v1/goals", "application/json")],
)
def test_a_defect_answers_500_in_the_paths_envelope_logged_and_counted(
    store: Store, world: World, config: Config, path: str, kind: str, caplog: Any
) -> None:
    app = create_app_with_store(config, BrokenKeys(store))
    group = "goals" if path.startswith("/v2") else "api"
    with TestClient(app, raise_server_exceptions=False) as client:
        before = metric(client.get("/metrics").text, "goalkeeper_http_requests_total",
                        route=group, status="500")  # fmt: skip
        if path.startswith("/v2"):
            response = client.post(path, content=goals_xml(), headers={"X-Request-Id": "bug-1"})
        else:
            response = client.get(
                path,
                headers={"Authorization": f"Bearer {world.admin_key}", "X-Request-Id": "bug-1"},
            )
        text = client.get("/metrics").text
    assert response.status_code == 500
    assert response.headers["content-type"].startswith(kind)
    assert response.headers["x-request-id"] == "bug-1"
    assert b"a defect" not in response.content  # no stack trace, no internals
    assert metric(text, "goalkeeper_http_requests_total", route=group, status="500") == before + 1
    assert any(
        r.levelname == "ERROR" and "unexpected error" in r.getMessage() for r in caplog.records
    )
