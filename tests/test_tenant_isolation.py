"""Tenant isolation on every route: another account's objects answer like missing ones."""

from __future__ import annotations

import datetime as dt
import json

from starlette.testclient import TestClient

from goalkeeper.store import Store
from tests.fixtures import OTHER_GUID, SPEC_GUID, UNKNOWN_GUID, World, goals_xml


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def record_for_a(client: TestClient, world: World) -> None:
    """Account A (the world's first) records two fulfillments worth 700 together."""
    for value in ("300", "400"):
        assert (
            client.post(
                "/v2/Api/Goals", content=goals_xml(key=world.admin_key, goal_id="1", value=value)
            ).status_code
            == 201
        )


def test_goals_method_cannot_reach_another_accounts_guid_or_goal(
    client: TestClient, world: World
) -> None:
    theirs = client.post("/v2/Api/Goals", content=goals_xml(key=world.admin_key, guid=OTHER_GUID))
    unknown = client.post(
        "/v2/Api/Goals", content=goals_xml(key=world.admin_key, guid=UNKNOWN_GUID)
    )
    assert (theirs.status_code, theirs.content) == (unknown.status_code, unknown.content)
    their_goal = client.post("/v2/Api/Goals", content=goals_xml(key=world.admin_key, goal_id="3"))
    missing_goal = client.post(
        "/v2/Api/Goals", content=goals_xml(key=world.admin_key, goal_id="99")
    )
    assert (their_goal.status_code, their_goal.content) == (
        missing_goal.status_code,
        missing_goal.content,
    )


def test_json_fulfillments_cannot_reach_another_accounts_guid(
    client: TestClient, world: World, store: Store
) -> None:
    theirs = client.post(
        "/api/v1/fulfillments",
        headers=bearer(world.admin_key),
        json={"goal_id": 1, "message_guid": OTHER_GUID},
    )
    unknown = client.post(
        "/api/v1/fulfillments",
        headers=bearer(world.admin_key),
        json={"goal_id": 1, "message_guid": UNKNOWN_GUID},
    )
    assert theirs.status_code == unknown.status_code == 400
    assert theirs.json() == unknown.json()
    assert store.count_fulfillments() == 0


def test_goals_and_messages_are_per_account(client: TestClient, world: World) -> None:
    mine = client.get("/api/v1/goals", headers=bearer(world.admin_key)).json()["goals"]
    theirs = client.get("/api/v1/goals", headers=bearer(world.other_key)).json()["goals"]
    assert {g["id"] for g in mine} == {1, 2} and {g["id"] for g in theirs} == {1, 3}
    assert {g["name"] for g in theirs}.isdisjoint({"Questionnaire"})
    their_goal = client.get("/api/v1/goals/3", headers=bearer(world.admin_key))
    missing = client.get("/api/v1/goals/999", headers=bearer(world.admin_key))
    assert their_goal.status_code == missing.status_code == 404
    assert their_goal.text == missing.text.replace(
        "999", "3"
    )  # the same answer, naming the id asked
    # account A has messages 1..3, account B only 1
    for path in ("/api/v1/messages/2",):
        response = client.get(path, headers=bearer(world.other_key))
        assert response.status_code == 404
        missing = client.get("/api/v1/messages/999", headers=bearer(world.other_key))
        assert response.text == missing.text.replace("999", "2")
    recipients = client.post(
        "/api/v1/messages/2/recipients",
        headers=bearer(world.other_key),
        json={"recipients": [{"subscriber_id": "x"}]},
    )
    assert recipients.status_code == 404
    personalize = client.post(
        "/api/v1/messages/2/personalize",
        headers=bearer(world.other_key),
        json={"content": "*[message_guid]*", "guid": SPEC_GUID},
    )
    assert personalize.status_code == 404
    listed = client.get("/api/v1/messages", headers=bearer(world.other_key)).json()
    assert [m["name"] for m in listed["messages"]] == ["Theirs"]


def test_reports_only_show_the_keys_account(client: TestClient, world: World) -> None:
    record_for_a(client, world)
    mine = client.get("/api/v1/reports/goals", headers=bearer(world.admin_key)).json()
    theirs = client.get("/api/v1/reports/goals", headers=bearer(world.other_key)).json()
    assert sum(r["fulfillments"] for r in mine["rows"]) == 2
    assert sum(r["value"] for r in mine["rows"]) == 700
    assert sum(r["fulfillments"] for r in theirs["rows"]) == 0


def test_expertsender_read_methods_only_show_the_keys_account(
    client: TestClient, world: World
) -> None:
    record_for_a(client, world)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    mine = client.get(f"/v2/Api/Activities?apiKey={world.admin_key}&date={today}&type=Goals")
    theirs = client.get(f"/v2/Api/Activities?apiKey={world.other_key}&date={today}&type=Goals")
    assert mine.status_code == theirs.status_code == 200
    assert len(mine.text.strip().splitlines()) == 3  # header and two rows
    assert len(theirs.text.strip().splitlines()) == 1  # header only
    summary = client.get(f"/v2/Api/SummaryStatistics?apiKey={world.other_key}")
    assert summary.status_code == 200
    assert "<GoalsValue>700</GoalsValue>" not in summary.text


def test_beacon_cannot_reach_another_accounts_guid(
    client: TestClient, world: World, store: Store
) -> None:
    response = client.post(
        "/api/v1/beacon",
        content=json.dumps({"key": world.tracker_key, "guid": OTHER_GUID, "goal_id": 1}),
        headers={"Origin": "https://shop.example", "Content-Type": "text/plain"},
    )
    assert response.status_code == 204
    assert store.count_fulfillments() == 0


def test_dashboard_shows_only_the_signed_in_account(client: TestClient, world: World) -> None:
    record_for_a(client, world)
    client.post("/login", data={"key": world.other_key}, follow_redirects=False)
    csv_theirs = client.get("/dashboard.csv?view=goal").text
    client.post("/logout", follow_redirects=False)
    client.post("/login", data={"key": world.admin_key}, follow_redirects=False)
    csv_mine = client.get("/dashboard.csv?view=goal").text
    assert "700" in csv_mine
    assert "700" not in csv_theirs and "Questionnaire" not in csv_theirs
