"""POST /api/v1/fulfillments: one, a batch with one result per item, and dry runs."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from starlette.testclient import TestClient

from goalkeeper.store import Store
from tests.fixtures import OTHER_GUID, PUSH_GUID, SMS_GUID, SPEC_GUID, World, goals_xml
from tests.web.test_api_goals import bearer, error_of

URL = "/api/v1/fulfillments"


def iso(delta: dt.timedelta) -> str:
    return (dt.datetime.now(dt.UTC) + delta).isoformat().replace("+00:00", "Z")


def test_records_one_fulfillment(client: TestClient, world: World, store: Store) -> None:
    when = iso(-dt.timedelta(days=2))
    response = client.post(
        URL,
        headers=bearer(world.ingest_key),
        json={"goal_id": 1, "message_guid": SPEC_GUID, "value": 2**63 - 1, "occurred_at": when},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "accepted"
    (row,) = store.list_fulfillments(world.account_id)
    assert row.id == body["id"]
    assert (row.goal_id, row.value, row.source) == (1, 2**63 - 1, "json")
    assert row.message_guid == uuid.UUID(SPEC_GUID).bytes
    assert row.occurred_at == dt.datetime.fromisoformat(when)


def test_a_repeated_idempotency_key_answers_duplicate_and_stores_nothing(
    client: TestClient, world: World, store: Store
) -> None:
    body = {"goal_id": 1, "message_guid": SPEC_GUID, "idempotency_key": "order-17"}
    first = client.post(URL, headers=bearer(world.ingest_key), json=body)
    again = client.post(URL, headers=bearer(world.admin_key), json={**body, "value": 5})
    assert first.status_code == again.status_code == 201
    assert again.json() == {"id": first.json()["id"], "status": "duplicate"}
    assert store.count_fulfillments(world.account_id) == 1


def test_a_key_refused_with_a_4xx_stays_free(
    client: TestClient, world: World, store: Store
) -> None:
    body = {"goal_id": 9, "message_guid": SPEC_GUID, "idempotency_key": "retry-me"}
    refused = client.post(URL, headers=bearer(world.ingest_key), json=body)
    assert error_of(refused)["code"] == "goal_not_recognized"
    accepted = client.post(URL, headers=bearer(world.ingest_key), json={**body, "goal_id": 1})
    assert accepted.json()["status"] == "accepted"


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"goal_id": 3}, 400, "goal_not_recognized"),  # the other account's goal 3
        ({"message_guid": OTHER_GUID}, 400, "message_guid_not_recognized"),
        (
            {"message_guid": "00000000-0000-0000-0000-000000000001"},
            400,
            "message_guid_not_recognized",
        ),
        ({"message_guid": "nope"}, 400, "guid_invalid"),
        ({"channel": "SmsMms"}, 400, "message_guid_not_recognized"),  # an Email GUID
        ({"channel": "Fax"}, 400, "channel_invalid"),
        ({"value": 2**63}, 400, "out_of_range"),
        ({"value": "12"}, 400, "invalid_type"),
        ({"value": False}, 400, "invalid_type"),
        ({"goal_id": None}, 400, "field_required"),
        ({"occurred_at": iso(dt.timedelta(hours=1))}, 400, "occurred_at_in_future"),
        ({"occurred_at": iso(-dt.timedelta(days=91))}, 400, "occurred_at_too_old"),
        ({"occurred_at": "yesterday"}, 400, "time_invalid"),
        ({"idempotency_key": ""}, 400, "invalid_field"),
        ({"idempotency_key": "   "}, 400, "invalid_field"),
        ({"idempotency_key": "\t\n\u3000"}, 400, "invalid_field"),
        ({"idempotency_key": "k" * 256}, 400, "invalid_field"),
        ({"source": "xml"}, 400, "unknown_field"),
    ],
)
def test_refuses_a_bad_single_fulfillment(
    client: TestClient,
    world: World,
    store: Store,
    fields: dict[str, object],
    status: int,
    code: str,
) -> None:
    body = {"goal_id": 1, "message_guid": SPEC_GUID, **fields}
    response = client.post(URL, headers=bearer(world.ingest_key), json=body)
    assert (response.status_code, error_of(response)["code"]) == (status, code)
    assert store.count_fulfillments() == 0


def test_channel_all_and_matching_channels_are_accepted(client: TestClient, world: World) -> None:
    for guid, channel in ((SPEC_GUID, "All"), (SMS_GUID, "SmsMms"), (PUSH_GUID, "WebPush")):
        response = client.post(
            URL,
            headers=bearer(world.ingest_key),
            json={"goal_id": 1, "message_guid": guid, "channel": channel},
        )
        assert response.status_code == 201, response.text


def test_tracker_keys_may_not_record(client: TestClient, world: World) -> None:
    response = client.post(
        URL, headers=bearer(world.tracker_key), json={"goal_id": 1, "message_guid": SPEC_GUID}
    )
    assert (response.status_code, error_of(response)["code"]) == (403, "forbidden")


def test_a_batch_answers_one_result_per_item_in_order(
    client: TestClient, world: World, store: Store
) -> None:
    items: list[object] = [
        {"goal_id": 1, "message_guid": SPEC_GUID, "value": 10, "idempotency_key": "a"},
        {"goal_id": 1, "message_guid": OTHER_GUID},
        {"goal_id": 2, "message_guid": SMS_GUID, "value": 20},
        "not an object",
        {"goal_id": 1, "message_guid": SPEC_GUID, "idempotency_key": "a"},
        {"goal_id": 1, "message_guid": SPEC_GUID, "extra": 1},
        {"goal_id": 1, "message_guid": SPEC_GUID, "occurred_at": iso(dt.timedelta(days=1))},
    ]
    response = client.post(URL, headers=bearer(world.ingest_key), json={"fulfillments": items})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [
        "accepted",
        "rejected",
        "accepted",
        "rejected",
        "duplicate",
        "rejected",
        "rejected",
    ]
    assert results[4]["id"] == results[0]["id"]
    assert results[1]["error"]["code"] == "message_guid_not_recognized"
    assert results[3]["error"] == {
        "status": 400,
        "code": "invalid_type",
        "message": "fulfillments[3] must be a JSON object, not string.",
    }
    assert results[5]["error"]["code"] == "unknown_field"
    assert "fulfillments[5].extra" in results[5]["error"]["message"]
    assert results[6]["error"]["code"] == "occurred_at_in_future"
    rows = store.list_fulfillments(world.account_id)
    assert [(r.id, r.value) for r in rows] == [(results[0]["id"], 10), (results[2]["id"], 20)]


def test_a_batch_of_a_thousand_is_stored_and_one_more_is_refused(
    client: TestClient, world: World, store: Store
) -> None:
    items = [{"goal_id": 1, "message_guid": SPEC_GUID, "value": i} for i in range(1000)]
    response = client.post(URL, headers=bearer(world.ingest_key), json={"fulfillments": items})
    results = response.json()["results"]
    assert len(results) == 1000
    assert all(r["status"] == "accepted" for r in results)
    assert sorted(r.value for r in store.list_fulfillments(world.account_id, 2000)) == list(
        range(1000)
    )
    items.append(items[0])
    response = client.post(URL, headers=bearer(world.ingest_key), json={"fulfillments": items})
    assert (response.status_code, error_of(response)["code"]) == (400, "too_many_items")
    assert store.count_fulfillments() == 1000


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"fulfillments": {}}, "invalid_type"),
        ({"fulfillments": [], "goal_id": 1}, "unknown_field"),
        ([], "invalid_type"),
    ],
)
def test_a_malformed_batch_fails_whole(
    client: TestClient, world: World, body: object, code: str
) -> None:
    response = client.post(URL, headers=bearer(world.ingest_key), json=body)
    assert (response.status_code, error_of(response)["code"]) == (400, code)


def test_validate_only_checks_against_the_database_and_stores_nothing(
    client: TestClient, world: World, store: Store
) -> None:
    stored = client.post(
        URL,
        headers=bearer(world.ingest_key),
        json={"goal_id": 1, "message_guid": SPEC_GUID, "idempotency_key": "old"},
    ).json()
    items = [
        {"goal_id": 1, "message_guid": SPEC_GUID, "idempotency_key": "new"},
        {"goal_id": 1, "message_guid": SPEC_GUID, "idempotency_key": "new"},
        {"goal_id": 1, "message_guid": SPEC_GUID, "idempotency_key": "old"},
        {"goal_id": 3, "message_guid": SPEC_GUID},
        {"goal_id": 1, "message_guid": OTHER_GUID},
        {"goal_id": 1},
    ]
    response = client.post(
        URL + "?validate_only=true", headers=bearer(world.ingest_key), json={"fulfillments": items}
    )
    assert response.status_code == 200
    assert [
        (r["status"], r.get("id"), r.get("same_as"), r.get("error", {}).get("code"))
        for r in response.json()["results"]
    ] == [
        ("valid", None, None, None),
        ("duplicate", None, 0, None),
        ("duplicate", stored["id"], None, None),
        ("rejected", None, None, "goal_not_recognized"),
        ("rejected", None, None, "message_guid_not_recognized"),
        ("rejected", None, None, "field_required"),
    ]
    single = client.post(
        URL + "?validate_only=true",
        headers=bearer(world.ingest_key),
        json={"goal_id": 1, "message_guid": SMS_GUID},
    )
    assert (single.status_code, single.json()) == (200, {"status": "valid"})
    unknown = client.post(
        URL + "?validate_only=true",
        headers=bearer(world.ingest_key),
        json={"goal_id": 1, "message_guid": OTHER_GUID},
    )
    assert unknown.status_code == 200
    assert unknown.json()["error"]["code"] == "message_guid_not_recognized"
    assert store.count_fulfillments() == 1
    # a malformed body is malformed in a dry run too
    malformed = client.post(
        URL + "?validate_only=true",
        headers=bearer(world.ingest_key),
        json={"goal_id": "1", "message_guid": SMS_GUID},
    )
    assert (malformed.status_code, error_of(malformed)["code"]) == (400, "invalid_type")
    flag = client.post(
        URL + "?validate_only=yes",
        headers=bearer(world.ingest_key),
        json={"goal_id": 1, "message_guid": SMS_GUID},
    )
    assert (flag.status_code, error_of(flag)["code"]) == (400, "invalid_type")
    assert store.count_fulfillments() == 1


def test_a_blank_idempotency_key_is_refused_in_batches_and_dry_runs(
    client: TestClient, world: World, store: Store
) -> None:
    items = [
        {"goal_id": 1, "message_guid": SPEC_GUID, "idempotency_key": "   "},
        {"goal_id": 1, "message_guid": SPEC_GUID, "idempotency_key": " order-1 "},
    ]
    for query in ("?validate_only=true", ""):
        response = client.post(
            URL + query, headers=bearer(world.ingest_key), json={"fulfillments": items}
        )
        first, second = response.json()["results"]
        assert first["error"] == {
            "status": 400,
            "code": "invalid_field",
            "message": "fulfillments[0].idempotency_key must not be empty or blank.",
        }
        assert second["status"] in ("accepted", "valid")
    single = client.post(
        URL + "?validate_only=true", headers=bearer(world.ingest_key), json=items[0]
    )
    assert (single.status_code, error_of(single)["code"]) == (400, "invalid_field")
    # a key that is not blank is kept exactly as given, spaces included
    assert [r.idempotency_key for r in store.list_fulfillments(world.account_id)] == [" order-1 "]


def test_every_rejected_batch_item_names_its_place_and_keeps_its_code(
    client: TestClient, world: World
) -> None:
    items = [
        {"goal_id": 1, "message_guid": SPEC_GUID},
        {"goal_id": 1},
        {"goal_id": 1, "message_guid": OTHER_GUID},
        {"goal_id": 9, "message_guid": SPEC_GUID},
        {"goal_id": 1, "message_guid": SPEC_GUID, "occurred_at": iso(dt.timedelta(days=1))},
        {"goal_id": 1, "message_guid": SPEC_GUID, "occurred_at": iso(-dt.timedelta(days=91))},
        {"goal_id": 1, "message_guid": SMS_GUID, "channel": "Email"},
    ]
    expected = [
        None,
        ("field_required", "fulfillments[1].message_guid is required."),
        ("message_guid_not_recognized", "fulfillments[2]: Message GUID was not recognized."),
        ("goal_not_recognized", "fulfillments[3]: Goal was not recognized."),
        ("occurred_at_in_future", "fulfillments[4]: occurred_at is in the future."),
        ("occurred_at_too_old", "fulfillments[5]: occurred_at is older than 90 days;"),
        ("message_guid_not_recognized", "fulfillments[6]: Message GUID was not recognized."),
    ]
    for query in ("", "?validate_only=true"):
        response = client.post(
            URL + query, headers=bearer(world.ingest_key), json={"fulfillments": items}
        )
        found = [
            None if "error" not in r else (r["error"]["code"], r["error"]["message"])
            for r in response.json()["results"]
        ]
        assert [
            f if f is None or e is None else (f[0], f[1][: len(e[1])])
            for f, e in zip(found, expected, strict=True)
        ] == expected
    # a single fulfillment's messages stay as they were
    single = client.post(
        URL, headers=bearer(world.ingest_key), json={"goal_id": 9, "message_guid": SPEC_GUID}
    )
    assert error_of(single)["message"] == "Goal was not recognized."


def test_a_repeated_query_parameter_is_refused_and_nothing_is_stored(
    client: TestClient, world: World, store: Store
) -> None:
    body = {"goal_id": 1, "message_guid": SPEC_GUID}
    for query in (
        "validate_only=true&validate_only=false",
        "validate_only=false&validate_only=false",
    ):
        response = client.post(f"{URL}?{query}", headers=bearer(world.ingest_key), json=body)
        error = error_of(response)
        assert (response.status_code, error["code"]) == (400, "invalid_field")
        assert "validate_only" in str(error["message"])
    assert store.count_fulfillments() == 0


def test_a_key_repeated_in_a_json_object_keeps_its_last_value(
    client: TestClient, world: World, store: Store
) -> None:
    body = f'{{"goal_id": 1, "goal_id": 99, "message_guid": "{SPEC_GUID}"}}'
    response = client.post(
        URL,
        headers={**bearer(world.ingest_key), "Content-Type": "application/json"},
        content=body,
    )
    assert error_of(response)["code"] == "goal_not_recognized"  # goal 99, as documented
    assert store.count_fulfillments() == 0


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"goal_id": 1, "message_guid": SPEC_GUID}).encode("utf-16"),
        json.dumps({"goal_id": 1, "message_guid": SPEC_GUID}).encode("utf-16-le"),
        json.dumps({"goal_id": 1, "message_guid": SPEC_GUID}).encode("utf-32"),
        b'{"goal_id": 1, "message_guid": "%s", "idempotency_key": "a\xed\xa0\x80"}'
        % SPEC_GUID.encode(),
        b'{"goal_id": 1, "message_guid": "%s", "idempotency_key": "\xc0\xaf"}' % SPEC_GUID.encode(),
    ],
    ids=["utf-16", "utf-16-no-bom", "utf-32", "encoded-surrogate", "overlong"],
)
def test_a_body_not_in_strict_utf8_is_invalid_json(
    client: TestClient, world: World, store: Store, body: bytes
) -> None:
    for query in ("", "?validate_only=true"):
        response = client.post(
            URL + query,
            headers={**bearer(world.ingest_key), "Content-Type": "application/json"},
            content=body,
        )
        assert (response.status_code, error_of(response)["code"]) == (400, "invalid_json")
    assert store.count_fulfillments() == 0


def test_a_leading_utf8_byte_order_mark_is_ignored(client: TestClient, world: World) -> None:
    body = b"\xef\xbb\xbf" + json.dumps({"goal_id": 1, "message_guid": SPEC_GUID}).encode()
    response = client.post(
        URL,
        headers={**bearer(world.ingest_key), "Content-Type": "application/json"},
        content=body,
    )
    assert response.status_code == 201, response.text


def test_a_fulfillment_without_a_value_takes_its_goals_default_value(
    client: TestClient, world: World, store: Store
) -> None:
    goal = {"name": "Subscription", "id": 5, "default_value": 4990}
    assert client.post("/api/v1/goals", headers=bearer(world.admin_key), json=goal).is_success
    single = client.post(
        URL, headers=bearer(world.ingest_key), json={"goal_id": 5, "message_guid": SPEC_GUID}
    )
    assert single.status_code == 201
    items: list[dict[str, object]] = [
        {"goal_id": 5, "message_guid": SPEC_GUID},
        {"goal_id": 5, "message_guid": SPEC_GUID, "value": 0},
        {"goal_id": 5, "message_guid": SPEC_GUID, "value": None},
        {"goal_id": 5, "message_guid": SPEC_GUID, "value": -3},
        {"goal_id": 1, "message_guid": SPEC_GUID},
        {"goal_id": 9, "message_guid": SPEC_GUID},
    ]
    batch = client.post(URL, headers=bearer(world.ingest_key), json={"fulfillments": items})
    assert [r["status"] for r in batch.json()["results"]] == ["accepted"] * 5 + ["rejected"]
    assert batch.json()["results"][5]["error"]["code"] == "goal_not_recognized"
    # the XML Goals method keeps ExpertSender's rule: no GoalValue is 0
    xml = client.post("/v2/Api/Goals", content=goals_xml(goal_id="5", value=None))
    assert xml.status_code == 201, xml.text
    rows = store.list_fulfillments(world.account_id)
    assert [(r.goal_id, r.value, r.source) for r in rows] == [
        (5, 4990, "json"),
        (5, 4990, "json"),
        (5, 0, "json"),
        (5, 4990, "json"),
        (5, -3, "json"),
        (1, 0, "json"),
        (5, 0, "xml"),
    ]


def test_a_goal_defined_after_a_refusal_gets_its_default_value(
    client: TestClient, world: World, store: Store
) -> None:
    body = {"goal_id": 6, "message_guid": SPEC_GUID}
    refused = client.post(URL, headers=bearer(world.ingest_key), json=body)
    assert error_of(refused)["code"] == "goal_not_recognized"
    goal = {"name": "Late", "id": 6, "default_value": 7}
    assert client.post("/api/v1/goals", headers=bearer(world.admin_key), json=goal).is_success
    assert client.post(URL, headers=bearer(world.ingest_key), json=body).status_code == 201
    assert [r.value for r in store.list_fulfillments(world.account_id)] == [7]
