"""/api/v1/messages: sends, their recipients' GUIDs, personalization."""

from __future__ import annotations

import uuid

import pytest
from starlette.testclient import TestClient

from goalkeeper.store import Store
from tests.fixtures import OTHER_GUID, SPEC_GUID, World
from tests.web.test_api_goals import bearer, error_of


def new_message(client: TestClient, world: World, **fields: object) -> dict[str, object]:
    body = {"name": "November news", "channel": "Email", **fields}
    response = client.post("/api/v1/messages", headers=bearer(world.admin_key), json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_creates_and_lists_messages(client: TestClient, world: World) -> None:
    message = new_message(client, world, list="VIP", sent_at="2026-11-27T09:00:00+01:00")
    assert message["id"] == 4  # the world's account has three already
    assert message["sent_at"] == "2026-11-27T08:00:00Z"
    assert message["list"] == "VIP"
    listed = client.get("/api/v1/messages", headers=bearer(world.admin_key)).json()["messages"]
    assert [m["id"] for m in listed] == [1, 2, 3, 4]
    one = client.get("/api/v1/messages/4", headers=bearer(world.admin_key)).json()
    assert one == message


def test_messages_are_listed_a_page_at_a_time(client: TestClient, world: World) -> None:
    """The first 1,000 used to be all there was: newer messages could not be listed."""
    for n in range(4):
        new_message(client, world, name=f"Issue {n}")  # ids 4 to 7
    pages, url = [], "/api/v1/messages?limit=3"
    while url:
        answer = client.get(url, headers=bearer(world.admin_key)).json()
        pages.append([m["id"] for m in answer["messages"]])
        url = answer["next"]
    assert pages == [[1, 2, 3], [4, 5, 6], [7]]
    tail = client.get("/api/v1/messages?after=6", headers=bearer(world.admin_key)).json()
    assert [m["id"] for m in tail["messages"]] == [7] and tail["next"] is None


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=1001", "after=-1", "after=x", "limit=", "after=1.5", "page=2"]
)
def test_a_bad_page_is_refused(client: TestClient, world: World, query: str) -> None:
    answer = client.get(f"/api/v1/messages?{query}", headers=bearer(world.admin_key))
    assert answer.status_code == 400
    assert error_of(answer)["code"] in ("invalid_field", "unknown_field")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"channel": "All"}, "channel_invalid"),
        ({"channel": "email"}, "channel_invalid"),
        ({"channel": 1}, "invalid_type"),
        ({"sent_at": "2026-11-27"}, "time_invalid"),
        ({"sent_at": "2026-11-27T10:00:00"}, "time_invalid"),
        ({"sent_at": "2026-02-30T10:00:00Z"}, "time_invalid"),
        ({"sender": "me"}, "unknown_field"),
    ],
)
def test_refuses_bad_messages(
    client: TestClient, world: World, fields: dict[str, object], code: str
) -> None:
    body = {"name": "N", "channel": "Email", **fields}
    response = client.post("/api/v1/messages", headers=bearer(world.admin_key), json=body)
    assert response.status_code == 400
    assert error_of(response)["code"] == code


def test_issues_uuid7_guids_and_registers_given_ones(
    client: TestClient, world: World, store: Store
) -> None:
    message = new_message(client, world)
    given = "{0e6f0000-0000-4000-8000-00000000abcd}"
    response = client.post(
        f"/api/v1/messages/{message['id']}/recipients",
        headers=bearer(world.admin_key),
        json={"recipients": [{"subscriber_id": "s1"}, {"subscriber_id": "s2", "guid": given}]},
    )
    assert response.status_code == 201
    rows = response.json()["recipients"]
    assert [r["subscriber_id"] for r in rows] == ["s1", "s2"]
    issued = uuid.UUID(rows[0]["guid"])
    assert issued.version == 7
    assert rows[1]["guid"] == "0E6F0000-0000-4000-8000-00000000ABCD"
    for row in rows:
        recipient = store.get_recipient(uuid.UUID(row["guid"]).bytes)
        assert recipient is not None
        assert (recipient.account_id, recipient.message_id) == (world.account_id, message["id"])
        assert recipient.subscriber_id == row["subscriber_id"]


def test_registers_ten_thousand_recipients_in_one_call(
    client: TestClient, world: World, store: Store
) -> None:
    message = new_message(client, world)
    body = {"recipients": [{"subscriber_id": f"s{i}"} for i in range(10_000)]}
    response = client.post(
        f"/api/v1/messages/{message['id']}/recipients", headers=bearer(world.admin_key), json=body
    )
    assert response.status_code == 201
    assert len({r["guid"] for r in response.json()["recipients"]}) == 10_000
    assert store.count_recipients(world.account_id) == 3 + 10_000
    body["recipients"].append({"subscriber_id": "one too many"})
    response = client.post(
        f"/api/v1/messages/{message['id']}/recipients", headers=bearer(world.admin_key), json=body
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "too_many_items"


@pytest.mark.parametrize(
    ("recipient", "code", "words"),
    [
        ({}, "field_required", "recipients[0].subscriber_id is required"),
        ({"subscriber_id": "a", "guid": "not-a-guid"}, "guid_invalid", "recipients[0].guid"),
        ({"subscriber_id": "a", "email": "x"}, "unknown_field", "recipients[0].email"),
        ({"subscriber_id": 12}, "invalid_type", "subscriber_id"),
    ],
)
def test_refuses_bad_recipients_naming_the_item(
    client: TestClient, world: World, recipient: dict[str, object], code: str, words: str
) -> None:
    response = client.post(
        "/api/v1/messages/1/recipients",
        headers=bearer(world.admin_key),
        json={"recipients": [recipient]},
    )
    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], words in str(error["message"])) == (code, True)


def test_another_accounts_message_answers_like_a_missing_one(
    client: TestClient, world: World
) -> None:
    for path in ("/api/v1/messages/{}", "/api/v1/messages/{}/recipients"):
        answers = []
        for message_id in (2, 999):  # 2 is only the first account's
            method = client.get if path.endswith("}") else client.post
            kwargs = {} if method == client.get else {"json": {"recipients": []}}
            response = method(path.format(message_id), headers=bearer(world.other_key), **kwargs)
            answers.append((response.status_code, error_of(response)["code"]))
        assert answers[0] == answers[1] == (404, "not_found")


def test_personalize_replaces_every_tag(client: TestClient, world: World) -> None:
    content = "<a href='https://shop.example/?gk_guid=*[message_guid]*'>*[message_guid]*</a>"
    response = client.post(
        "/api/v1/messages/1/personalize",
        headers=bearer(world.admin_key),
        json={"content": content, "guid": SPEC_GUID.lower()},
    )
    assert response.status_code == 200
    assert response.json() == {"content": content.replace("*[message_guid]*", SPEC_GUID)}


@pytest.mark.parametrize(
    ("message_id", "guid", "status", "code"),
    [
        (2, SPEC_GUID, 400, "message_guid_not_recognized"),  # a GUID of another message
        (1, OTHER_GUID, 400, "message_guid_not_recognized"),  # another account's GUID
        (1, "zz", 400, "guid_invalid"),
        (99, SPEC_GUID, 404, "not_found"),
    ],
)
def test_personalize_needs_a_recipient_of_that_message(
    client: TestClient, world: World, message_id: int, guid: str, status: int, code: str
) -> None:
    response = client.post(
        f"/api/v1/messages/{message_id}/personalize",
        headers=bearer(world.admin_key),
        json={"content": "*[message_guid]*", "guid": guid},
    )
    assert (response.status_code, error_of(response)["code"]) == (status, code)


def test_a_guid_registered_to_another_send_is_refused_whole(
    client: TestClient, world: World, store: Store
) -> None:
    message = new_message(client, world)
    url = f"/api/v1/messages/{message['id']}/recipients"
    fresh = "11111111-2222-4333-8444-555555555555"
    for taken in (SPEC_GUID, OTHER_GUID):  # this account's other message, another account's
        response = client.post(
            url,
            headers=bearer(world.admin_key),
            json={
                "recipients": [
                    {"subscriber_id": "n", "guid": fresh},
                    {"subscriber_id": "s", "guid": taken},
                ]
            },
        )
        assert (response.status_code, error_of(response)["code"]) == (409, "conflict")
    assert store.get_recipient(uuid.UUID(fresh).bytes) is None
    body = {"recipients": [{"subscriber_id": "n", "guid": fresh}]}
    for _ in range(2):  # the same send again is idempotent
        response = client.post(url, headers=bearer(world.admin_key), json=body)
        assert response.status_code == 201
