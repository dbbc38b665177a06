"""Hostile input on the beacon: always 204 toward the browser, nothing stored, counted."""

from __future__ import annotations

import gzip
import json

import pytest

from goalkeeper.store import open_store
from tests.fixtures import PUSH_GUID
from tests.hostile.conftest import Target

SHOP = "https://shop.example"


def body(target: Target, **changes: object) -> bytes:
    data: dict[str, object] = {"key": target.world.tracker_key, "guid": PUSH_GUID, "goal_id": 1}
    data.update(changes)
    return json.dumps(data).encode()


CASES: list[tuple[str, object, str | None, dict[str, str]]] = [
    # (id, body or a function of the target, Origin, extra headers)
    ("empty", b"", SHOP, {}),
    ("not-json", b"goal=1", SHOP, {}),
    ("json-array", b"[1,2,3]", SHOP, {}),
    ("binary", bytes(range(256)), SHOP, {}),
    ("invalid-utf8", b'{"key": "\xff"}', SHOP, {}),
    ("oversized", b'{"pad": "' + b"x" * 5000 + b'"}', SHOP, {}),
    ("oversized-10mb", b"x" * 10_000_000, SHOP, {}),
    ("gzip-bomb", gzip.compress(b" " * 10_000_000), SHOP, {"Content-Encoding": "gzip"}),
    ("deep-nesting", b"[" * 2000 + b"]" * 2000, SHOP, {}),
    ("huge-number", lambda t: body(t, value=int("9" * 300)), SHOP, {}),
    ("goal-id-string", lambda t: body(t, goal_id="1"), SHOP, {}),
    ("goal-id-float", lambda t: body(t, goal_id=1.5), SHOP, {}),
    ("goal-id-overflow", lambda t: body(t, goal_id=2**31), SHOP, {}),
    ("value-overflow", lambda t: body(t, value=2**63), SHOP, {}),
    ("guid-bad", lambda t: body(t, guid="<script>"), SHOP, {}),
    ("order-id-huge", lambda t: body(t, order_id="o" * 1000), SHOP, {}),
    ("order-id-object", lambda t: body(t, order_id={"a": 1}), SHOP, {}),
    ("order-id-nul", lambda t: body(t, order_id="a\u0000b"), SHOP, {}),
    ("order-id-lone-surrogate", lambda t: body(t, order_id="\udc00"), SHOP, {}),
    ("unknown-field", lambda t: body(t, url="https://x"), SHOP, {}),
    ("no-origin", lambda t: body(t), None, {}),
    ("null-origin", lambda t: body(t), "null", {}),
    ("foreign-origin", lambda t: body(t), "https://evil.example", {}),
    ("origin-prefix-trick", lambda t: body(t), "https://shop.example.evil.example", {}),
    ("origin-with-path", lambda t: body(t), "https://shop.example/", {}),
    ("admin-key", lambda t: body(t, key=t.world.admin_key), SHOP, {}),
    ("ingest-key", lambda t: body(t, key=t.world.ingest_key), SHOP, {}),
    ("other-account-key", lambda t: body(t, key=t.world.other_key), SHOP, {}),
    ("unknown-key", lambda t: body(t, key="gk_x"), SHOP, {}),
    ("unknown-goal", lambda t: body(t, goal_id=42), SHOP, {}),
]


@pytest.mark.parametrize(
    ("case_id", "payload", "origin", "headers"), CASES, ids=[c[0] for c in CASES]
)
def test_hostile_beacon(
    target: Target, case_id: str, payload: object, origin: str | None, headers: dict[str, str]
) -> None:
    content = payload(target) if callable(payload) else payload
    assert isinstance(content, bytes)
    sent = {"Content-Type": "text/plain", **headers}
    if origin is not None:
        sent["Origin"] = origin
    store = open_store(target.server.database_url)
    try:
        before = store.count_fulfillments()
        try:
            response = target.http.post("/api/v1/beacon", content=content, headers=sent)
        except Exception:  # a refused oversized body may close the connection early
            assert case_id.startswith("oversized")
        else:
            assert response.status_code == 204
            assert response.content == b""
            assert response.headers.get("access-control-allow-origin") in (None, SHOP)
            if response.headers.get("access-control-allow-origin") == SHOP:
                assert case_id in ("admin-key", "ingest-key", "unknown-goal") or origin == SHOP
        assert store.count_fulfillments() == before
    finally:
        store.close()
    target.after_case()
