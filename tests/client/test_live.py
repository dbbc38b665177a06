"""The client against a real goalkeeper server process: both wire protocols, both clients."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from goalkeeper.client import (
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    Client,
    NotFoundError,
    PermissionDeniedError,
)
from goalkeeper.store import Store
from tests.conftest import Server
from tests.fixtures import OTHER_GUID, SMS_GUID, SPEC_GUID, SPEC_KEY, World

Live = tuple[Server, World, Store]


def test_fulfill_goal_records_through_the_xml_method(live: Live) -> None:
    server, world, store = live
    before = store.count_fulfillments(world.account_id)
    with Client(server.base_url, SPEC_KEY) as gk:
        gk.fulfill_goal(2, SPEC_GUID, value=123)
        gk.fulfill_goal(1, SMS_GUID, channel="SmsMms", idempotency_key="live-xml-1")
        gk.fulfill_goal(1, SMS_GUID, channel="SmsMms", idempotency_key="live-xml-1")
        with pytest.raises(BadRequestError) as caught:
            gk.fulfill_goal(2, OTHER_GUID)
    assert store.count_fulfillments(world.account_id) == before + 2
    assert caught.value.code == "message_guid_not_recognized"
    assert caught.value.message == "Message GUID was not recognized."


def test_the_json_api_from_goal_to_fulfillment(live: Live) -> None:
    server, world, store = live
    with Client(server.base_url, world.admin_key) as gk:
        goal = gk.create_goal("Client goal", counting="once_per_recipient")
        assert goal["id"] in {g["id"] for g in gk.list_goals()}
        message = gk.create_message("Client message", "Email", list="Main")
        assert gk.get_message(message["id"]) == message
        issued = gk.add_recipients(
            message["id"], ["alice", {"subscriber_id": "bob", "guid": str(uuid.uuid4())}]
        )
        guid = issued[0]["guid"]
        assert gk.personalize(message["id"], "?g=*[message_guid]*", guid) == f"?g={guid}"
        first = gk.record_fulfillment(goal["id"], guid, value=500, idempotency_key="live-json-1")
        again = gk.record_fulfillment(goal["id"], guid, value=500, idempotency_key="live-json-1")
        assert first["status"] == "accepted"
        assert again == {"id": first["id"], "status": "duplicate"}
        results = gk.record_fulfillments(
            [
                {"goal_id": goal["id"], "message_guid": issued[1]["guid"], "value": 1},
                {"goal_id": goal["id"], "message_guid": OTHER_GUID},
            ]
        )
        assert [r["status"] for r in results] == ["accepted", "rejected"]
        assert results[1]["error"]["code"] == "message_guid_not_recognized"
        dry = gk.record_fulfillment(goal["id"], guid, validate_only=True)
        assert dry == {"status": "valid"}
        with pytest.raises(NotFoundError):
            gk.get_goal(999_999)
    stored = [
        r for r in store.list_fulfillments(world.account_id, 10_000) if r.goal_id == goal["id"]
    ]
    assert sorted(r.value for r in stored) == [1, 500]


def test_keys_and_scopes_raise_typed_errors(live: Live) -> None:
    server, world, _store = live
    with Client(server.base_url, world.ingest_key) as gk, pytest.raises(PermissionDeniedError):
        gk.list_goals()
    with Client(server.base_url, "gk_00000000_nope") as gk:
        with pytest.raises(AuthenticationError) as json_error:
            gk.list_goals()
        with pytest.raises(AuthenticationError) as xml_error:
            gk.fulfill_goal(1, SPEC_GUID)
    assert (json_error.value.status, json_error.value.code) == (403, "api_key_invalid")
    assert (xml_error.value.status, xml_error.value.code) == (403, "api_key_invalid")


def test_the_async_client_does_the_same(live: Live) -> None:
    server, world, store = live
    before = store.count_fulfillments(world.account_id)

    async def main() -> None:
        async with AsyncClient(server.base_url, world.admin_key) as gk:
            await gk.fulfill_goal(1, SPEC_GUID, value=7)
            results = await asyncio.gather(
                *(gk.record_fulfillment(1, SPEC_GUID, value=i) for i in range(20))
            )
            assert all(r["status"] == "accepted" for r in results)
            goals = await gk.list_goals()
            assert {1, 2} <= {g["id"] for g in goals}

    asyncio.run(main())
    assert store.count_fulfillments(world.account_id) == before + 21


def test_goal_report_reads_the_report(live: Live) -> None:
    server, world, _store = live
    with Client(server.base_url, world.admin_key) as gk:
        gk.record_fulfillment(1, SPEC_GUID, value=250)
        report = gk.goal_report(by=["goal"], tz="Europe/Warsaw")
    assert report["tz"] == "Europe/Warsaw"
    (row,) = [r for r in report["rows"] if r["goal_id"] == 1]
    assert row["fulfillments"] >= 1 and row["value"] >= 250
