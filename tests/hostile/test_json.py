"""Hostile input on the JSON API: a 4xx with its stable code in the JSON envelope."""

from __future__ import annotations

import dataclasses
import gzip
import json
from typing import Any

import pytest

from tests.fixtures import SPEC_GUID
from tests.hostile.conftest import Target

F = "/api/v1/fulfillments"
G = "/api/v1/goals"
M = "/api/v1/messages"


@dataclasses.dataclass(frozen=True)
class JsonCase:
    id: str
    path: str
    body: bytes | None  # None: no body
    status: int
    code: str
    method: str = "POST"
    key: str | None = "admin"  # "admin", "ingest", "tracker", "other", or a literal key
    headers: tuple[tuple[str, str], ...] = ()


def j(value: Any) -> bytes:
    return json.dumps(value).encode()


def fulfil(**changes: Any) -> bytes:
    body: dict[str, Any] = {"goal_id": 1, "message_guid": SPEC_GUID}
    for name, value in changes.items():
        if value is ...:
            body.pop(name, None)
        else:
            body[name] = value
    return j(body)


CASES = [
    # not JSON, or not an object
    JsonCase("empty", F, b"", 400, "invalid_json"),
    JsonCase("whitespace", F, b"   \n", 400, "invalid_json"),
    JsonCase("garbage", F, b"\x00\x01\x02binary", 400, "invalid_json"),
    JsonCase("truncated", F, fulfil()[:-3], 400, "invalid_json"),
    JsonCase("trailing-data", F, fulfil() + b"{}", 400, "invalid_json"),
    JsonCase("invalid-utf8", F, b'{"goal_id": 1, "message_guid": "\xff\xfe"}', 400, "invalid_json"),
    JsonCase("utf-16-with-bom", F, fulfil().decode().encode("utf-16"), 400, "invalid_json"),
    JsonCase("utf-16-be", F, fulfil().decode().encode("utf-16-be"), 400, "invalid_json"),
    JsonCase("utf-32-with-bom", F, fulfil().decode().encode("utf-32"), 400, "invalid_json"),
    JsonCase(
        "utf8-encoded-surrogate",
        F,
        fulfil(idempotency_key="KEY").replace(b"KEY", b"\xed\xa0\x80"),
        400,
        "invalid_json",
    ),
    JsonCase(
        "utf8-encoded-surrogate-in-name",
        G,
        b'{"name": "\xed\xb0\x80"}',
        400,
        "invalid_json",
    ),
    JsonCase("nan", F, b'{"goal_id": NaN, "message_guid": "x"}', 400, "invalid_json"),
    JsonCase(
        "infinity",
        F,
        b'{"goal_id": 1, "value": Infinity, "message_guid": "x"}',
        400,
        "invalid_json",
    ),
    JsonCase("deep-nesting", F, b"[" * 100_000 + b"]" * 100_000, 400, "invalid_json"),
    JsonCase(
        "deep-nesting-within-limit", F, b'{"a":' * 5000 + b"1" + b"}" * 5000, 400, "invalid_json"
    ),
    JsonCase("array-body", F, b"[]", 400, "invalid_type"),
    JsonCase("string-body", F, b'"hello"', 400, "invalid_type"),
    JsonCase("number-body", F, b"42", 400, "invalid_type"),
    JsonCase("null-body", F, b"null", 400, "invalid_type"),
    JsonCase("xml-body", F, b"<ApiRequest/>", 400, "invalid_json"),
    # fields
    JsonCase("missing-goal-id", F, fulfil(goal_id=...), 400, "field_required"),
    JsonCase("missing-guid", F, fulfil(message_guid=...), 400, "field_required"),
    JsonCase("null-goal-id", F, fulfil(goal_id=None), 400, "field_required"),
    JsonCase("unknown-field", F, fulfil(extra=1), 400, "unknown_field"),
    JsonCase("unknown-field-proto", F, fulfil(__proto__={}), 400, "unknown_field"),
    JsonCase("goal-id-string", F, fulfil(goal_id="1"), 400, "invalid_type"),
    JsonCase("goal-id-float", F, fulfil(goal_id=1.0), 400, "invalid_type"),
    JsonCase("goal-id-bool", F, fulfil(goal_id=True), 400, "invalid_type"),
    JsonCase("goal-id-list", F, fulfil(goal_id=[1]), 400, "invalid_type"),
    JsonCase("goal-id-object", F, fulfil(goal_id={"id": 1}), 400, "invalid_type"),
    JsonCase("goal-id-zero", F, fulfil(goal_id=0), 400, "out_of_range"),
    JsonCase("goal-id-negative", F, fulfil(goal_id=-1), 400, "out_of_range"),
    JsonCase("goal-id-int32-overflow", F, fulfil(goal_id=2**31), 400, "out_of_range"),
    JsonCase(
        "goal-id-400-digits",
        F,
        b'{"goal_id": ' + b"9" * 400 + b', "message_guid": "x"}',
        400,
        "out_of_range",
    ),
    JsonCase(
        "goal-id-5000-digits",
        F,
        b'{"goal_id": ' + b"9" * 5000 + b', "message_guid": "x"}',
        400,
        "out_of_range",
    ),
    JsonCase("value-int64-overflow", F, fulfil(value=2**63), 400, "out_of_range"),
    JsonCase("value-int64-underflow", F, fulfil(value=-(2**63) - 1), 400, "out_of_range"),
    JsonCase("value-float", F, fulfil(value=12.5), 400, "invalid_type"),
    JsonCase("value-string", F, fulfil(value="12"), 400, "invalid_type"),
    JsonCase(
        "value-exponent",
        F,
        b'{"goal_id": 1, "message_guid": "' + SPEC_GUID.encode() + b'", "value": 1e3}',
        400,
        "invalid_type",
    ),
    JsonCase("guid-number", F, fulfil(message_guid=123), 400, "invalid_type"),
    JsonCase("guid-malformed", F, fulfil(message_guid="nope"), 400, "guid_invalid"),
    JsonCase(
        "guid-arabic-indic", F, fulfil(message_guid=SPEC_GUID[:-1] + "١"), 400, "guid_invalid"
    ),
    JsonCase(
        "guid-unknown",
        F,
        fulfil(message_guid="00000000-0000-0000-0000-0000000000AB"),
        400,
        "message_guid_not_recognized",
    ),
    JsonCase("goal-unknown", F, fulfil(goal_id=77), 400, "goal_not_recognized"),
    JsonCase("channel-unknown", F, fulfil(channel="Fax"), 400, "channel_invalid"),
    JsonCase("channel-number", F, fulfil(channel=1), 400, "invalid_type"),
    JsonCase("idempotency-key-empty", F, fulfil(idempotency_key=""), 400, "invalid_field"),
    JsonCase("idempotency-key-blank", F, fulfil(idempotency_key="   "), 400, "invalid_field"),
    JsonCase(
        "idempotency-key-blank-dry-run",
        F + "?validate_only=true",
        fulfil(idempotency_key="\t \u3000"),
        400,
        "invalid_field",
    ),
    JsonCase("idempotency-key-long", F, fulfil(idempotency_key="k" * 300), 400, "invalid_field"),
    JsonCase("idempotency-key-number", F, fulfil(idempotency_key=5), 400, "invalid_type"),
    JsonCase("idempotency-key-nul", F, fulfil(idempotency_key="a\u0000b"), 400, "invalid_field"),
    JsonCase("goal-name-nul", G, j({"name": "Pur\u0000chase"}), 400, "invalid_field"),
    JsonCase(
        "message-name-nul", M, j({"name": "A\u0000", "channel": "Email"}), 400, "invalid_field"
    ),
    JsonCase("occurred-at-garbage", F, fulfil(occurred_at="yesterday"), 400, "time_invalid"),
    JsonCase(
        "occurred-at-no-offset", F, fulfil(occurred_at="2026-11-01T10:00:00"), 400, "time_invalid"
    ),
    JsonCase(
        "occurred-at-future",
        F,
        fulfil(occurred_at="2099-01-01T00:00:00Z"),
        400,
        "occurred_at_in_future",
    ),
    JsonCase(
        "occurred-at-ancient",
        F,
        fulfil(occurred_at="1999-01-01T00:00:00Z"),
        400,
        "occurred_at_too_old",
    ),
    JsonCase(
        "occurred-at-year-zero", F, fulfil(occurred_at="0000-01-01T00:00:00Z"), 400, "time_invalid"
    ),
    JsonCase(
        "lone-surrogate",
        F,
        b'{"goal_id": 1, "message_guid": "'
        + SPEC_GUID.encode()
        + b'", "idempotency_key": "\\ud800"}',
        400,
        "invalid_field",
    ),
    # batches
    JsonCase("batch-not-list", F, j({"fulfillments": {}}), 400, "invalid_type"),
    JsonCase("batch-too-many", F, j({"fulfillments": [{}] * 1001}), 400, "too_many_items"),
    JsonCase("batch-unknown-field", F, j({"fulfillments": [], "also": 1}), 400, "unknown_field"),
    JsonCase("validate-only-garbage", F + "?validate_only=maybe", fulfil(), 400, "invalid_type"),
    JsonCase(
        "validate-only-twice",
        F + "?validate_only=true&validate_only=false",
        fulfil(),
        400,
        "invalid_field",
    ),
    # size, encoding
    JsonCase("too-large", F, b'{"x": "' + b"a" * 5_000_000 + b'"}', 413, "body_too_large"),
    JsonCase(
        "gzip-bomb",
        F,
        gzip.compress(b" " * 50_000_000),
        413,
        "body_too_large",
        headers=(("Content-Encoding", "gzip"),),
    ),
    JsonCase(
        "gzip-garbage",
        F,
        b"\x1f\x8bnope",
        400,
        "invalid_json",
        headers=(("Content-Encoding", "gzip"),),
    ),
    JsonCase(
        "unknown-encoding",
        F,
        fulfil(),
        415,
        "unsupported_content_encoding",
        headers=(("Content-Encoding", "br"),),
    ),
    # keys and scopes
    JsonCase("no-key", F, fulfil(), 401, "api_key_required", key=None),
    JsonCase(
        "wrong-scheme",
        F,
        fulfil(),
        401,
        "api_key_required",
        key=None,
        headers=(("Authorization", "Basic dXNlcjpwYXNz"),),
    ),
    JsonCase(
        "bearer-alone",
        F,
        fulfil(),
        401,
        "api_key_required",
        key=None,
        headers=(("Authorization", "Bearer"),),
    ),
    JsonCase("unknown-key", F, fulfil(), 403, "api_key_invalid", key="gk_00000000_" + "0" * 32),
    JsonCase("huge-key", F, fulfil(), 403, "api_key_invalid", key="k" * 5000),
    JsonCase("tracker-key", F, fulfil(), 403, "forbidden", key="tracker"),
    JsonCase("ingest-key-on-goals", G, j({"name": "x"}), 403, "forbidden", key="ingest"),
    JsonCase("other-account-guid", F, fulfil(), 400, "message_guid_not_recognized", key="other"),
    JsonCase(
        "other-account-message",
        M + "/2/personalize",
        j({"content": "x", "guid": SPEC_GUID}),
        404,
        "not_found",
        key="other",
    ),
    # goals and messages
    JsonCase("goal-name-missing", G, j({}), 400, "field_required"),
    JsonCase("goal-name-number", G, j({"name": 5}), 400, "invalid_type"),
    JsonCase("goal-name-blank", G, j({"name": "   "}), 400, "invalid_field"),
    JsonCase("goal-name-huge", G, j({"name": "n" * 10_000}), 400, "invalid_field"),
    JsonCase(
        "goal-counting-unknown", G, j({"name": "x", "counting": "sometimes"}), 400, "invalid_field"
    ),
    JsonCase("goal-window-negative", G, j({"name": "x", "window_days": -1}), 400, "out_of_range"),
    JsonCase("goal-window-float", G, j({"name": "x", "window_days": 1278.0}), 400, "invalid_type"),
    JsonCase("goal-id-duplicate", G, j({"name": "x", "id": 1}), 409, "conflict"),
    JsonCase(
        "goal-default-value-overflow",
        G,
        j({"name": "x", "default_value": 2**64}),
        400,
        "out_of_range",
    ),
    *(
        JsonCase(
            f"message-sent-at-{name}",
            M,
            j({"name": "m", "channel": "Email", "sent_at": sent_at}),
            400,
            "time_invalid",
        )
        for name, sent_at in (
            ("past-year-9999-in-utc", "9999-12-31T23:59:59-14:00"),
            ("before-year-1-in-utc", "0001-01-01T00:00:00+14:00"),
            ("before-1970", "1969-12-31T23:59:59Z"),
            ("year-9999", "9999-06-01T00:00:00Z"),
        )
    ),
    JsonCase("message-channel-all", M, j({"name": "m", "channel": "All"}), 400, "channel_invalid"),
    JsonCase("message-channel-missing", M, j({"name": "m"}), 400, "field_required"),
    JsonCase(
        "recipients-too-many",
        M + "/1/recipients",
        j({"recipients": [{"subscriber_id": "s"}] * 10_001}),
        400,
        "too_many_items",
    ),
    JsonCase(
        "recipients-bad-guid",
        M + "/1/recipients",
        j({"recipients": [{"subscriber_id": "s", "guid": "x"}]}),
        400,
        "guid_invalid",
    ),
    JsonCase(
        "recipients-unknown-message", M + "/999/recipients", j({"recipients": []}), 404, "not_found"
    ),
    JsonCase(
        "personalize-content-number",
        M + "/1/personalize",
        j({"content": 1, "guid": SPEC_GUID}),
        400,
        "invalid_type",
    ),
    JsonCase(
        "personalize-lone-surrogate",
        M + "/1/personalize",
        b'{"content": "x \\ud800 *[message_guid]*", "guid": "' + SPEC_GUID.encode() + b'"}',
        400,
        "invalid_field",
    ),
    *(
        JsonCase(f"lone-surrogate-in-{name}", path, body, 400, code)
        for name, path, body, code in (
            (
                "channel",
                F,
                b'{"goal_id": 1, "message_guid": "x", "channel": "\\udc00"}',
                "channel_invalid",
            ),
            ("guid", F, b'{"goal_id": 1, "message_guid": "\\udc00"}', "guid_invalid"),
            (
                "occurred-at",
                F,
                b'{"goal_id": 1, "message_guid": "'
                + SPEC_GUID.encode()
                + b'", "occurred_at": "\\udc00"}',
                "time_invalid",
            ),
            ("counting", G, b'{"name": "x", "counting": "\\udc00"}', "invalid_field"),
            (
                "field-name",
                F,
                b'{"goal_id": 1, "message_guid": "x", "\\udc00": 1}',
                "unknown_field",
            ),
        )
    ),
    # paths and methods
    JsonCase("unknown-route", "/api/v1/nope", b"{}", 404, "not_found"),
    JsonCase("path-traversal", "/api/v1/../../etc/passwd", None, 404, "not_found", method="GET"),
    JsonCase("message-id-not-int", M + "/abc", None, 404, "not_found", method="GET"),
    JsonCase("message-id-huge", M + "/" + "9" * 400, None, 404, "not_found", method="GET"),
    JsonCase("wrong-method", F, None, 405, "method_not_allowed", method="GET"),
    JsonCase(
        "report-bad-date",
        "/api/v1/reports/goals?from=yesterday",
        None,
        400,
        "invalid_field",
        method="GET",
    ),
    JsonCase(
        "report-bad-tz",
        "/api/v1/reports/goals?tz=Mars/Olympus",
        None,
        400,
        "invalid_field",
        method="GET",
    ),
    *(
        JsonCase(
            f"report-{name}",
            "/api/v1/reports/goals?" + query,
            None,
            400,
            "invalid_field",
            method="GET",
        )
        for name, query in (
            ("to-year-9999", "from=9999-12-30&to=9999-12-31&tz=Pacific/Kiritimati"),
            ("from-year-1", "from=0001-01-01&to=0001-01-02&tz=America/Adak"),
            ("tz-nul", "tz=%00"),
            ("tz-path", "tz=../../../../etc/passwd"),
            ("tz-huge", "tz=" + "A" * 5000),
            ("to-before-from", "from=2026-11-02&to=2026-11-01"),
            ("to-empty", "to="),
            ("from-empty", "from=&to=2026-11-30"),
            ("channel-empty", "channel="),
            ("goal-id-empty", "goal_id="),
            ("from-basic-form", "from=20261101"),
            ("tz-twice", "tz=UTC&tz=Europe/Warsaw"),
        )
    ),
    JsonCase(
        "report-bad-by",
        "/api/v1/reports/goals?by=weather",
        None,
        400,
        "invalid_field",
        method="GET",
    ),
    *(
        JsonCase(
            f"report-goal-id-{name}",
            f"/api/v1/reports/goals?goal_id={value}",
            None,
            400,
            "invalid_field",
            method="GET",
        )
        for name, value in (("double-minus", "--5"), ("arabic-digits", "١"), ("huge", "9" * 30))
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_hostile_json(target: Target, case: JsonCase) -> None:
    keys = {
        "admin": target.world.admin_key,
        "ingest": target.world.ingest_key,
        "tracker": target.world.tracker_key,
        "other": target.world.other_key,
    }
    headers = {"Content-Type": "application/json", **dict(case.headers)}
    if case.key is not None:
        headers["Authorization"] = f"Bearer {keys.get(case.key, case.key)}"
    response = target.http.request(case.method, case.path, content=case.body, headers=headers)
    assert response.status_code == case.status, response.text[:300]
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["status"] == case.status
    assert error["code"] == case.code, error
    assert isinstance(error["message"], str) and error["message"]
    target.after_case()
