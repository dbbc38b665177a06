"""The OpenAPI document: served, complete, and true of a live server (schemathesis);
and the error table of the API's docs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from starlette.routing import Route
from starlette.testclient import TestClient

from goalkeeper.errors import GoalkeeperError
from goalkeeper.store import Store
from goalkeeper.web.api.openapi import SPACE, document
from tests.conftest import Server
from tests.fixtures import SPEC_GUID, World

schema = schemathesis.openapi.from_dict(document())


def test_the_document_is_served_without_a_key(client: TestClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json() == document()


def test_the_document_names_exactly_the_mounted_routes(client: TestClient) -> None:
    mounted = set()
    site = client.app.app.site  # type: ignore[attr-defined]
    for route in site.routes:
        if isinstance(route, Route) and route.path.startswith("/api/v1/"):
            for method in route.methods or ():
                if method != "HEAD":
                    mounted.add((route.path.replace(":int}", "}"), method.lower()))
    mounted.discard(("/api/v1/openapi.json", "get"))
    documented = {(path, method) for path, ops in document()["paths"].items() for method in ops}
    assert mounted == documented


def test_every_documented_error_status_has_the_error_shape() -> None:
    for ops in document()["paths"].values():
        for op in ops.values():
            for status, answer in op["responses"].items():
                if int(status) >= 400 and "content" in answer:
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/Error"


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_the_live_server_answers_as_documented(
    case: schemathesis.Case, live: tuple[Server, World, Store]
) -> None:
    server, world, _store = live
    if case.path == "/api/v1/beacon":
        # It answers 204 to anything by contract: all there is to check is no 5xx.
        case.call_and_validate(
            base_url=server.base_url, timeout=10, checks=[schemathesis.checks.not_a_server_error]
        )
        return
    case.call_and_validate(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {world.admin_key}"},
        timeout=10,
        # A schema cannot say which GUIDs and goals exist: requests it allows may rightly
        # be refused (400 message_guid_not_recognized), as the document says they may.
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )


def test_the_live_server_serves_the_same_document(live: tuple[Server, World, Store]) -> None:
    server, _world, _store = live
    assert httpx.get(server.base_url + "/api/v1/openapi.json").json() == document()


def test_every_operation_taking_a_body_documents_408() -> None:
    for path, ops in document()["paths"].items():
        for method, op in ops.items():
            if "requestBody" in op and path != "/api/v1/beacon":
                assert "408" in op["responses"], (path, method)


def test_the_error_table_of_the_docs_names_every_code_the_api_answers() -> None:
    table = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    documented = set(re.findall(r"^\| \d{3} \| `([a-z_]+)` \|", table, re.MULTILINE))
    # Codes only the XML paths (or the beacon, which always answers 204) can give, and
    # the internal error nobody should see.
    elsewhere = {
        "bad_request", "invalid_document", "dtd_not_allowed", "goal_id_required",
        "goal_id_invalid", "goal_value_invalid", "message_guid_required",
        "origin_not_allowed", "internal_error",
    }  # fmt: skip
    codes = {cls.code for cls in _subclasses(GoalkeeperError)}
    assert codes - elsewhere <= documented
    assert "request_timeout" in documented


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def _request_schemas() -> dict[str, Any]:
    schemas = document()["components"]["schemas"]
    return {n: schemas[n] for n in ("NewGoal", "NewMessage", "NewRecipients", "Fulfillment")}


def _integers(schema: Any) -> list[dict[str, Any]]:
    if isinstance(schema, list):
        return [found for item in schema for found in _integers(item)]
    if not isinstance(schema, dict):
        return []
    own = [schema] if schema.get("type") == "integer" else []
    return own + [found for value in schema.values() for found in _integers(value)]


def test_integer_fields_say_that_integral_floats_are_refused() -> None:
    fields = _integers(_request_schemas())
    assert len(fields) == 5  # goal id, window_days, default_value; goal_id, value
    for field in fields:
        assert "1278.0" in field.get("description", ""), field


@pytest.mark.parametrize(
    ("schema", "path", "body"),
    [
        ("NewGoal", "/api/v1/goals", {"name": "   "}),
        ("NewGoal", "/api/v1/goals", {"name": "\t\u3000\u2028"}),
        ("NewGoal", "/api/v1/goals", {"name": "Pur\u0000chase"}),
        ("NewMessage", "/api/v1/messages", {"name": "m", "channel": "Email", "list": " "}),
        (
            "NewMessage",
            "/api/v1/messages",
            {"name": "m", "channel": "Email", "sent_at": "2026-11-27T10:00:00"},
        ),
        (
            "NewMessage",
            "/api/v1/messages",
            {"name": "m", "channel": "Email", "sent_at": "2026-11-27 10:00:00Z"},
        ),
        (
            "Fulfillment",
            "/api/v1/fulfillments?validate_only=true",
            {"goal_id": 1, "message_guid": SPEC_GUID, "idempotency_key": "   "},
        ),
        (
            "Fulfillment",
            "/api/v1/fulfillments?validate_only=true",
            {"goal_id": 1, "message_guid": SPEC_GUID, "idempotency_key": "a\u0000"},
        ),
        (
            "Fulfillment",
            "/api/v1/fulfillments?validate_only=true",
            {"goal_id": 1, "message_guid": SPEC_GUID, "occurred_at": "2026-11-27"},
        ),
    ],
)
def test_the_schema_refuses_what_the_server_refuses(
    client: TestClient, world: World, schema: str, path: str, body: dict[str, Any]
) -> None:
    assert not jsonschema_rs.validator_for(_request_schemas()[schema]).is_valid(body)
    answer = client.post(path, json=body, headers={"Authorization": f"Bearer {world.admin_key}"})
    assert answer.status_code == 400, answer.text


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        ("NewGoal", {"name": " Purchase ", "window_days": 30, "default_value": -5}),
        ("NewMessage", {"name": "m", "channel": "Email", "sent_at": "2026-11-27T10:00:00.123Z"}),
        (
            "Fulfillment",
            {
                "goal_id": 1,
                "message_guid": SPEC_GUID,
                "idempotency_key": " order-1 ",
                "occurred_at": "2026-11-27t11:00:00.123456789+01:00",
            },
        ),
    ],
)
def test_the_schema_takes_what_the_server_takes(schema: str, body: dict[str, Any]) -> None:
    assert jsonschema_rs.validator_for(_request_schemas()[schema]).is_valid(body)


def test_the_documented_white_space_is_what_the_server_trims() -> None:
    blank = re.compile(f"^[{SPACE}]$")
    assert [c for c in map(chr, range(0x110000)) if bool(blank.match(c)) != c.isspace()] == []


def test_report_parameters_are_documented_as_the_server_reads_them(
    client: TestClient, world: World
) -> None:
    params = {
        p["name"]: p["schema"]
        for p in document()["paths"]["/api/v1/reports/goals"]["get"]["parameters"]
    }
    assert "All" in params["channel"]["enum"]
    assert "" not in params["channel"]["enum"]
    day = jsonschema_rs.validator_for(params["to"])
    assert [day.is_valid(v) for v in ("2026-11-30", "", "20261130")] == [True, False, False]
    headers = {"Authorization": f"Bearer {world.admin_key}"}
    for query, status in (("channel=All", 200), ("to=", 400), ("to=20261130", 400)):
        answer = client.get(f"/api/v1/reports/goals?{query}", headers=headers)
        assert answer.status_code == status, (query, answer.text)


def test_the_beacon_body_is_documented_as_optional(client: TestClient) -> None:
    beacon = document()["paths"]["/api/v1/beacon"]["post"]
    assert beacon["requestBody"]["required"] is False
    assert client.post("/api/v1/beacon").status_code == 204
