"""The beacon and tracker.js, in-process: always 204, stores only what it should."""

from __future__ import annotations

import gzip
import json
import logging
import time

import pytest
from starlette.testclient import TestClient

from goalkeeper.core.keys import create_key
from goalkeeper.core.registry import create_goal
from goalkeeper.model import Channel, Scope
from goalkeeper.store import Store
from tests.fixtures import PUSH_GUID, SPEC_GUID, UNKNOWN_GUID, World
from tests.test_observability import metric

SHOP = "https://shop.example"


def beacon(
    client: TestClient, payload: object, origin: str | None = SHOP, raw: bytes | None = None
):  # type: ignore[no-untyped-def]
    headers = {"Content-Type": "text/plain;charset=UTF-8"}
    if origin is not None:
        headers["Origin"] = origin
    body = raw if raw is not None else json.dumps(payload).encode()
    return client.post("/api/v1/beacon", content=body, headers=headers)


def good(world: World, **extra: object) -> dict[str, object]:
    return {"key": world.tracker_key, "guid": SPEC_GUID, "goal_id": 1, "value": 4990, **extra}


def test_tracker_script_is_small_and_served_as_javascript(client: TestClient) -> None:
    response = client.get("/tracker.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert len(response.content) <= 4096
    assert b"sendBeacon" in response.content


def test_beacon_stores_the_fulfillment(client: TestClient, store: Store, world: World) -> None:
    response = beacon(client, good(world, guid=PUSH_GUID))
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == SHOP
    rows = store.list_fulfillments(world.account_id)
    assert len(rows) == 1
    assert (rows[0].goal_id, rows[0].value, rows[0].channel, rows[0].source) == (
        1,
        4990,
        Channel.WEB_PUSH,
        "beacon",
    )


def test_value_is_optional_and_defaults_to_the_goals(
    client: TestClient, store: Store, world: World
) -> None:
    payload = good(world)
    del payload["value"]
    assert beacon(client, payload).status_code == 204  # goal 1 has no default value: 0
    create_goal(store, world.account_id, "Newsletter signup", goal_id=7, default_value=150)
    assert beacon(client, {**payload, "goal_id": 7}).status_code == 204
    assert beacon(client, {**payload, "goal_id": 7, "value": 0}).status_code == 204
    values = [(f.goal_id, f.value) for f in store.list_fulfillments(world.account_id)]
    assert values == [(1, 0), (7, 150), (7, 0)]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ({"origin": "https://evil.example"}, "origin_not_allowed"),
        ({"origin": None}, "origin_not_allowed"),
        ({"origin": "https://shop.example.evil.example"}, "origin_not_allowed"),
        ({"raw": b"{not json"}, "invalid_json"),
        ({"raw": b""}, "invalid_json"),
        (
            {
                "raw": json.dumps(
                    {"key": "k", "guid": SPEC_GUID, "goal_id": 1, "pad": "x" * 5000}
                ).encode()
            },
            "body_too_large",
        ),
        ({"payload": {"guid": SPEC_GUID, "goal_id": 1}}, "field_required"),
        ({"payload": {"key": "nope", "guid": SPEC_GUID, "goal_id": 1}}, "api_key_invalid"),
        ({"payload_extra": {"goal_id": "1"}}, "invalid_type"),
        ({"payload_extra": {"goal_id": True}}, "invalid_type"),
        ({"payload_extra": {"value": 2**63}}, "out_of_range"),
        ({"payload_extra": {"guid": "nope"}}, "guid_invalid"),
        ({"payload_extra": {"guid": UNKNOWN_GUID}}, "message_guid_not_recognized"),
        ({"payload_extra": {"goal_id": 99}}, "goal_not_recognized"),
        ({"payload_extra": {"extra": 1}}, "unknown_field"),
    ],
)
def test_refusals_still_answer_204_and_are_counted(
    client: TestClient, store: Store, world: World, case: dict[str, object], reason: str
) -> None:
    before = client.get("/metrics").text
    payload = case.get("payload", {**good(world), **case.get("payload_extra", {})})  # type: ignore[dict-item]
    response = beacon(client, payload, origin=case.get("origin", SHOP), raw=case.get("raw"))  # type: ignore[arg-type]
    assert response.status_code == 204
    assert response.content == b""
    assert store.count_fulfillments() == 0
    after = client.get("/metrics").text
    name = "goalkeeper_fulfillments_rejected_total"
    assert (
        metric(after, name, source="beacon", reason=reason)
        - metric(before, name, source="beacon", reason=reason)
        == 1
    )


def test_admin_and_ingest_keys_cannot_use_the_beacon(
    client: TestClient, store: Store, world: World
) -> None:
    for key in (world.admin_key, world.ingest_key):
        assert beacon(client, good(world, key=key)).status_code == 204
    assert store.count_fulfillments() == 0


def test_same_order_id_is_one_fulfillment_per_goal(
    client: TestClient, store: Store, world: World
) -> None:
    for _ in range(3):
        beacon(client, good(world, order_id="A-1001"))
    beacon(client, good(world, order_id="A-1001", goal_id=2))
    beacon(client, good(world, order_id="A-1002"))
    assert store.count_fulfillments(world.account_id) == 3


def test_preflight_answers_only_known_origins(client: TestClient, world: World) -> None:
    headers = {"Origin": SHOP, "Access-Control-Request-Method": "POST"}
    allowed = client.options("/api/v1/beacon", headers=headers)
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == SHOP
    assert allowed.headers["access-control-allow-methods"] == "POST"
    refused = client.options(
        "/api/v1/beacon", headers={**headers, "Origin": "https://evil.example"}
    )
    assert refused.status_code == 204
    assert "access-control-allow-origin" not in refused.headers


def test_tracker_keys_are_rate_limited(client: TestClient, store: Store, world: World) -> None:
    limited = create_key(store, world.account_id, Scope.TRACKER, [SHOP], rate_limit=2)
    time.sleep(1.02 - time.time() % 1)
    for _ in range(5):
        assert beacon(client, good(world, key=limited.key)).status_code == 204
    assert store.count_fulfillments(world.account_id) == 2


def test_the_origin_is_checked_before_the_rate_limit(
    client: TestClient, store: Store, world: World
) -> None:
    """A page elsewhere that embeds the public key cannot use up the shop's limit."""
    limited = create_key(store, world.account_id, Scope.TRACKER, [SHOP], rate_limit=2)
    time.sleep(1.02 - time.time() % 1)
    for _ in range(5):
        beacon(client, good(world, key=limited.key), origin="https://elsewhere.example")
    assert beacon(client, good(world, key=limited.key)).status_code == 204
    assert store.count_fulfillments(world.account_id) == 1


def test_a_compressed_beacon_is_inflated_and_an_unknown_encoding_refused(
    client: TestClient, store: Store, world: World
) -> None:
    body = json.dumps(good(world)).encode()
    headers = {"Content-Type": "text/plain", "Origin": SHOP}
    sent = client.post(
        "/api/v1/beacon",
        content=gzip.compress(body),
        headers={**headers, "Content-Encoding": "gzip"},
    )
    assert sent.status_code == 204
    assert store.count_fulfillments(world.account_id) == 1
    before = client.get("/metrics").text
    odd = client.post("/api/v1/beacon", content=body, headers={**headers, "Content-Encoding": "br"})
    assert odd.status_code == 204
    assert store.count_fulfillments(world.account_id) == 1
    name, reason = "goalkeeper_fulfillments_rejected_total", "unsupported_content_encoding"
    after = client.get("/metrics").text
    assert metric(after, name, source="beacon", reason=reason) == (
        metric(before, name, source="beacon", reason=reason) + 1
    )


def test_a_refusal_is_logged_with_the_key_prefix_and_goal(
    client: TestClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="goalkeeper.beacon"):
        beacon(client, good(world, goal_id=99))
    (line,) = [r.getMessage() for r in caplog.records if r.name == "goalkeeper.beacon"]
    prefix = world.tracker_key.split("_")[1]
    assert f"key {prefix}, goal 99" in line and "goal_not_recognized" in line
    assert world.tracker_key not in line  # never the secret part
