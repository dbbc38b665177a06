"""GET /api/v1/reports/goals: the report over the counters, for admin keys only."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest
from starlette.testclient import TestClient

from tests.fixtures import PUSH_GUID, SMS_GUID, SPEC_GUID, World, goals_xml


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def record(client: TestClient, goal: str, value: str, guid: str) -> None:
    answer = client.post("/v2/Api/Goals", content=goals_xml(goal_id=goal, value=value, guid=guid))
    assert answer.status_code == 201, answer.text


@pytest.fixture
def recorded(client: TestClient) -> TestClient:
    record(client, "1", "100", SPEC_GUID)
    record(client, "1", "50", SPEC_GUID)
    record(client, "2", "7", SPEC_GUID)  # once per recipient: the first counts
    record(client, "2", "9", SPEC_GUID)
    record(client, "1", "30", SMS_GUID)
    record(client, "2", "0", PUSH_GUID)
    return client


def test_groups_by_goal_with_counting_rules_applied(recorded: TestClient, world: World) -> None:
    answer = recorded.get("/api/v1/reports/goals?by=goal", headers=bearer(world.admin_key))
    assert answer.status_code == 200
    body = answer.json()
    assert body["tz"] == "UTC"
    assert body["to"] == dt.datetime.now(dt.UTC).date().isoformat()
    rows = [
        (r["goal_id"], r["goal_name"], r["fulfillments"], r["unique_recipients"], r["value"])
        for r in body["rows"]
    ]
    assert rows == [(1, "Purchase", 3, 2, 180), (2, "Questionnaire", 2, 2, 7)]
    # three sends were registered yesterday, inside the default range
    assert [r["recipients"] for r in body["rows"]] == [3, 3]
    totals = body["totals"]
    assert (totals["fulfillments"], totals["value"], totals["unique_recipients"]) == (5, 187, 3)
    assert totals["conversion_rate"] == 1.0


def test_groups_by_message_and_channel_with_conversion(recorded: TestClient, world: World) -> None:
    answer = recorded.get(
        "/api/v1/reports/goals",
        params={"by": "message,channel", "tz": "Asia/Kolkata"},
        headers=bearer(world.admin_key),
    )
    body = answer.json()
    assert body["tz"] == "Asia/Kolkata"
    rows = {r["channel"]: r for r in body["rows"]}
    assert set(rows) == {"Email", "SmsMms", "WebPush"}
    assert rows["Email"]["message_name"] == "Email campaign"
    assert (rows["Email"]["fulfillments"], rows["Email"]["value"]) == (3, 157)
    assert rows["SmsMms"]["conversion_rate"] == 1.0
    assert set(rows["Email"]) == {
        "message_id", "message_name", "channel", "fulfillments", "unique_recipients", "value",
        "recipients", "conversion_rate",
    }  # fmt: skip


def test_filters_narrow_the_report(recorded: TestClient, world: World) -> None:
    body = recorded.get(
        "/api/v1/reports/goals",
        params={"by": "day", "goal_id": "1", "channel": "Email"},
        headers=bearer(world.admin_key),
    ).json()
    assert sum(r["fulfillments"] for r in body["rows"]) == 2
    assert body["totals"]["value"] == 150


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"goal_id": "99"}, "goal_id 99 is not a goal of this account."),
        ({"goal_id": "3"}, "goal_id 3 is not a goal of this account."),  # the other account's
        ({"goal_id": "0"}, "goal_id 0 is not a goal of this account."),
        ({"message_id": "4"}, "message_id 4 is not a message of this account."),
    ],
)
def test_a_filter_on_an_unknown_goal_or_message_is_refused(
    recorded: TestClient, world: World, query: dict[str, str], message: str
) -> None:
    answer = recorded.get("/api/v1/reports/goals", params=query, headers=bearer(world.admin_key))
    assert answer.status_code == 400
    assert answer.json()["error"] == {"status": 400, "code": "invalid_field", "message": message}


def test_a_range_given_only_its_first_day_ends_today(recorded: TestClient, world: World) -> None:
    today = dt.datetime.now(dt.UTC).date()
    start = today - dt.timedelta(days=100)
    body = recorded.get(
        "/api/v1/reports/goals",
        params={"from": start.isoformat()},
        headers=bearer(world.admin_key),
    ).json()
    assert (body["from"], body["to"]) == (start.isoformat(), today.isoformat())
    assert body["totals"]["fulfillments"] == 5  # as over the default range
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    answer = recorded.get(
        "/api/v1/reports/goals", params={"from": tomorrow}, headers=bearer(world.admin_key)
    )
    assert answer.status_code == 400


def test_other_accounts_and_other_scopes_see_nothing(recorded: TestClient, world: World) -> None:
    theirs = recorded.get("/api/v1/reports/goals", headers=bearer(world.other_key)).json()
    assert theirs["totals"]["fulfillments"] == 0
    ingest = recorded.get("/api/v1/reports/goals", headers=bearer(world.ingest_key))
    assert ingest.status_code == 403
    assert ingest.json()["error"]["code"] == "forbidden"
    assert recorded.get("/api/v1/reports/goals").status_code in (401, 403)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"tz": "Nowhere/Special"}, "invalid_field"),
        ({"by": "week"}, "invalid_field"),
        ({"from": "2026-13-01"}, "invalid_field"),
        ({"from": "2026-02-02", "to": "2026-02-01"}, "invalid_field"),
        ({"goal_id": "one"}, "invalid_field"),
        ({"channel": "Fax"}, "invalid_field"),
        ({"colour": "red"}, "unknown_field"),
        ({"to": ""}, "invalid_field"),
        ({"from": ""}, "invalid_field"),
        ({"tz": ""}, "invalid_field"),
        ({"goal_id": ""}, "invalid_field"),
        ({"message_id": ""}, "invalid_field"),
        ({"channel": ""}, "invalid_field"),
        ({"from": "20261101"}, "invalid_field"),  # ISO 8601's basic form, not YYYY-MM-DD
        ({"from": "2026-W45-1"}, "invalid_field"),
    ],
)
def test_bad_queries_answer_400_with_their_code(
    client: TestClient, world: World, query: dict[str, str], code: str
) -> None:
    answer = client.get("/api/v1/reports/goals", params=query, headers=bearer(world.admin_key))
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == code


def test_an_error_does_not_echo_a_long_value_whole(client: TestClient, world: World) -> None:
    zone = "Europe/" + "x" * 5000
    answer = client.get(
        "/api/v1/reports/goals", params={"tz": zone}, headers=bearer(world.admin_key)
    )
    message = answer.json()["error"]["message"]
    assert answer.status_code == 400 and message.startswith("Unknown time zone 'Europe/xxx")
    assert len(message) < 200


def test_the_command_line_prints_the_same_report(
    recorded: TestClient, world: World, database_url: str
) -> None:
    api = recorded.get(
        "/api/v1/reports/goals", params={"by": "goal,day"}, headers=bearer(world.admin_key)
    ).json()
    for fmt in ("json", "csv", "table"):
        done = subprocess.run(
            [sys.executable, "-m", "goalkeeper", "report", "--database", database_url,
             "--account", str(world.account_id), "--by", "goal,day", "--format", fmt],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        if fmt == "json":
            assert json.loads(done.stdout) == api
        elif fmt == "csv":
            lines = done.stdout.splitlines()
            assert lines[0].split(",")[:4] == ["goal_id", "goal_name", "day", "fulfillments"]
            assert len(lines) == 1 + len(api["rows"])
        else:
            assert "Purchase" in done.stdout and "Questionnaire" in done.stdout


def test_the_command_line_table_shows_any_name_as_plain_text(
    client: TestClient, world: World, database_url: str
) -> None:
    """A name chosen by an API caller is neither rich markup (an unmatched closing tag
    used to end the command with a traceback) nor escape sequences for the terminal."""
    name = "[/bold] \x1b[31mred\x1b]8;;https://evil.example\x07"
    made = client.post(
        "/api/v1/goals", json={"name": name, "id": 9}, headers=bearer(world.admin_key)
    )
    assert made.status_code == 201
    record(client, "9", "5", SPEC_GUID)
    done = subprocess.run(
        [sys.executable, "-m", "goalkeeper", "report", "--database", database_url,
         "--account", str(world.account_id), "--by", "goal"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "[/bold]" in done.stdout and "\\x1b[31mred" in done.stdout
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout


def test_rebuild_counters_from_the_command_line_changes_no_figure(
    recorded: TestClient, world: World, database_url: str
) -> None:
    def report() -> dict[str, object]:
        answer = recorded.get(
            "/api/v1/reports/goals",
            params={"by": "goal,message,channel,day"},
            headers=bearer(world.admin_key),
        )
        body: dict[str, object] = answer.json()
        return body

    before = report()
    done = subprocess.run(
        [sys.executable, "-m", "goalkeeper", "db", "rebuild-counters", "--database", database_url],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "rebuilt the report counters from 6 fulfillments" in done.stderr
    assert report() == before


def test_a_repeated_query_parameter_is_refused_naming_it(client: TestClient, world: World) -> None:
    answer = client.get(
        "/api/v1/reports/goals?by=goal&tz=UTC&by=day", headers=bearer(world.admin_key)
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_field"
    assert answer.json()["error"]["message"] == "Query parameter(s) given more than once: by."


def test_channel_all_and_an_empty_by_are_what_the_document_says(
    recorded: TestClient, world: World
) -> None:
    def report(query: dict[str, str]) -> dict[str, object]:
        answer = recorded.get(
            "/api/v1/reports/goals", params=query, headers=bearer(world.admin_key)
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, object] = answer.json()
        return body

    assert report({"channel": "All", "by": "goal"}) == report({"by": "goal"})
    assert report({"by": ""}) == report({})  # no grouping: one row for everything
