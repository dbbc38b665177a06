"""ExpertSender's read methods: Activities (CSV) and SummaryStatistics (XML), apiKey in the query."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
import xml.etree.ElementTree as ET

import pytest
from starlette.testclient import TestClient

from goalkeeper.core.registry import create_message, issue_recipients
from goalkeeper.model import Channel
from goalkeeper.store import Store
from tests.fixtures import PUSH_GUID, SMS_GUID, SPEC_GUID, World, goals_xml

TODAY = dt.datetime.now(dt.UTC).date()
YESTERDAY = TODAY - dt.timedelta(days=1)
NOON = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def record(client: TestClient, goal: str, value: str, guid: str) -> None:
    answer = client.post("/v2/Api/Goals", content=goals_xml(goal_id=goal, value=value, guid=guid))
    assert answer.status_code == 201, answer.text


@pytest.fixture
def recorded(client: TestClient) -> TestClient:
    record(client, "1", "100", SPEC_GUID)
    record(client, "2", "7", SPEC_GUID)
    record(client, "2", "9", SPEC_GUID)  # once per recipient: listed, not counted
    record(client, "1", "30", SMS_GUID)
    return client


def rows_of(answer) -> list[list[str]]:  # type: ignore[no-untyped-def]
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.text.startswith('"Date",')  # every field quoted
    return list(csv.reader(io.StringIO(answer.text)))


def error_of(answer) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    assert answer.headers["content-type"] == "text/xml; charset=utf-8"
    root = ET.fromstring(answer.content)
    code = root.findtext("ErrorMessage/Code")
    assert code == str(answer.status_code)
    return answer.status_code, str(root.findtext("ErrorMessage/Message"))


def test_activities_lists_every_stored_fulfillment_of_the_day(
    recorded: TestClient, world: World
) -> None:
    rows = rows_of(
        recorded.get(
            "/v2/Api/Activities",
            params={"apiKey": world.admin_key, "date": TODAY.isoformat(), "type": "Goals"},
        )
    )
    assert rows[0] == [
        "Date", "MessageGuid", "MessageId", "SubscriberId", "GoalId", "GoalValue", "Channel",
    ]  # fmt: skip
    body = [(r[1], r[4], r[5], r[6]) for r in rows[1:]]
    assert body == [
        (SPEC_GUID, "1", "100", "Email"),
        (SPEC_GUID, "2", "7", "Email"),
        (SPEC_GUID, "2", "9", "Email"),
        (SMS_GUID, "1", "30", "SmsMms"),
    ]
    assert all(r[0].startswith(TODAY.isoformat() + " ") and len(r[0]) == 19 for r in rows[1:])
    assert {r[3] for r in rows[1:]} == {"subscriber-1"}


def test_activities_narrow_by_channel_and_day(recorded: TestClient, world: World) -> None:
    sms = rows_of(
        recorded.get(
            f"/api/activities?apikey={world.admin_key}&date={TODAY}&type=goals&channel=SmsMms"
        )
    )
    assert [r[1] for r in sms[1:]] == [SMS_GUID]
    other_day = rows_of(
        recorded.get(
            "/v2/Api/Activities",
            params={"apiKey": world.admin_key, "date": YESTERDAY.isoformat(), "type": "Goals"},
        )
    )
    assert other_day == [other_day[0]]


def test_activities_sends_carry_guids_when_asked(client: TestClient, world: World) -> None:
    query = {"apiKey": world.admin_key, "date": YESTERDAY.isoformat(), "type": "Sends"}
    with_guids = rows_of(client.get("/v2/Api/Activities", params={**query, "returnGuid": "true"}))
    assert with_guids[0] == ["Date", "MessageGuid", "MessageId", "SubscriberId", "Channel"]
    assert sorted(r[1] for r in with_guids[1:]) == sorted([SPEC_GUID, SMS_GUID, PUSH_GUID])
    without = rows_of(client.get("/v2/Api/Activities", params=query))
    assert without[0] == ["Date", "MessageId", "SubscriberId", "Channel"]
    assert len(without) == 4


def test_another_accounts_key_sees_none_of_it(recorded: TestClient, world: World) -> None:
    rows = rows_of(
        recorded.get(
            "/v2/Api/Activities",
            params={"apiKey": world.other_key, "date": TODAY.isoformat(), "type": "Goals"},
        )
    )
    assert len(rows) == 1


def statistics(answer) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    assert answer.status_code == 200, answer.text
    root = ET.fromstring(answer.content)
    assert root.tag == "ApiResponse"
    return [
        {child.tag: child.text or "" for child in row}
        for row in root.findall("Data/SummaryStatistics/SummaryStatistic")
    ]


def test_summary_statistics_totals_apply_counting_rules(recorded: TestClient, world: World) -> None:
    rows = statistics(
        recorded.get(
            "/v2/Api/SummaryStatistics",
            params={"apiKey": world.admin_key, "startDate": str(YESTERDAY), "endDate": str(TODAY)},
        )
    )
    assert rows == [{"Sent": "3", "Goals": "3", "GoalsValue": "137"}]


def test_summary_statistics_group_by_goal(recorded: TestClient, world: World) -> None:
    rows = statistics(
        recorded.get(
            "/v2/Api/SummaryStatistics",
            params={"apiKey": world.admin_key, "grouping": "Goal"},
        )
    )
    assert rows == [
        {"GoalId": "1", "GoalName": "Purchase", "Sent": "3", "Goals": "2", "GoalsValue": "130"},
        {"GoalId": "2", "GoalName": "Questionnaire", "Sent": "3", "Goals": "1", "GoalsValue": "7"},
    ]


@pytest.mark.parametrize(
    ("path", "query", "status", "message"),
    [
        ("/v2/Api/Activities", {"date": str(TODAY), "type": "Goals"}, 403, "API key was invalid."),
        ("/v2/Api/Activities", {"key": "ingest", "date": str(TODAY), "type": "Goals"}, 403,
         "API key was invalid."),
        ("/v2/Api/Activities", {"key": "admin", "type": "Goals"}, 400, "date is required"),
        ("/v2/Api/Activities", {"key": "admin", "date": "27/11/2026", "type": "Goals"}, 400,
         "date must be a date"),
        ("/v2/Api/Activities", {"key": "admin", "date": str(TODAY), "type": "Opens"}, 400,
         "type must be Goals or Sends."),
        ("/v2/Api/Activities", {"key": "admin", "date": str(TODAY), "type": "Goals",
                                "channel": "Fax"}, 400, "Channel must be one of"),
        ("/v2/Api/SummaryStatistics", {"key": "admin", "grouping": "List"}, 400,
         "grouping must be Goal"),
        ("/v2/Api/SummaryStatistics", {"key": "admin", "startDate": "2026-02-02",
                                       "endDate": "2026-02-01"}, 400,
         "startDate must not be after endDate."),
        ("/v2/Api/Nothing", {"key": "admin"}, 404, "Resource not found."),
        ("/v2/Api/Activities", {"key": "admin", "date": str(TODAY), "type": "Sends",
                                "returnGuid": "yes"}, 400, "returnGuid must be true or false."),
    ],
)  # fmt: skip
def test_errors_answer_in_the_xml_envelope(
    client: TestClient, world: World, path: str, query: dict[str, str], status: int, message: str
) -> None:
    keys = {"admin": world.admin_key, "ingest": world.ingest_key}
    query = dict(query)
    if "key" in query:
        query["apiKey"] = keys[query.pop("key")]
    answer = client.get(path, params=query)
    assert error_of(answer)[0] == status
    assert error_of(answer)[1].startswith(message)


def test_only_get_is_allowed(client: TestClient, world: World) -> None:
    answer = client.post(f"/v2/Api/SummaryStatistics?apiKey={world.admin_key}", content=b"<x/>")
    assert error_of(answer) == (405, "Only GET is allowed for this resource.")
    assert answer.headers["allow"] == "GET"


def test_a_large_day_streams_in_chunks_and_arrives_whole(
    client: TestClient, world: World, store: Store
) -> None:
    message = create_message(store, world.account_id, "Big send", Channel.EMAIL, None, NOON)
    people = [(f"big-{i}", uuid.uuid4()) for i in range(4500)]  # more than two chunks
    issue_recipients(store, message, people, NOON)
    with client.stream(
        "GET",
        "/v2/Api/Activities",
        params={"apiKey": world.admin_key, "date": str(NOON.date()), "type": "Sends",
                "returnGuid": "true"},
    ) as answer:  # fmt: skip
        chunks = list(answer.iter_raw())
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode())))
    assert len(rows) == 1 + 4500
    assert {r[1] for r in rows[1:]} == {str(g).upper() for _, g in people}


@pytest.mark.parametrize(
    "text",
    ["2026-11-27junk", "2026-11-27\x00", "20261127", "2026-11-27T00:00", " 2026-11-27",
     "2026-11-27 ", "2026-11-27\n", "2026-1-27", "2026-02-30", "２０２６-11-27", "+2026-11-27"],
    ids=repr,
)  # fmt: skip
@pytest.mark.parametrize(
    ("path", "parameter", "rest"),
    [
        ("/v2/Api/Activities", "date", {"type": "Goals"}),
        ("/v2/Api/SummaryStatistics", "startDate", {}),
        ("/v2/Api/SummaryStatistics", "endDate", {}),
    ],
)
def test_dates_are_exactly_yyyy_mm_dd(
    client: TestClient, world: World, text: str, path: str, parameter: str, rest: dict[str, str]
) -> None:
    answer = client.get(path, params={"apiKey": world.admin_key, parameter: text, **rest})
    assert error_of(answer) == (400, f"{parameter} must be a date as YYYY-MM-DD.")


@pytest.mark.parametrize("prefix", ["/v2/Api/", "/Api/", "//v2/Api/", "//api//"])
def test_read_paths_as_iis_routes_them(client: TestClient, world: World, prefix: str) -> None:
    answer = client.get(
        f"http://testserver{prefix}Activities/",
        params={"apiKey": world.admin_key, "date": str(TODAY), "type": "Goals"},
    )
    assert rows_of(answer)[0][0] == "Date"
    summary = client.get(
        f"http://testserver{prefix}SummaryStatistics/", params={"apiKey": world.admin_key}
    )
    assert statistics(summary) == [{"Sent": "3", "Goals": "0", "GoalsValue": "0"}]


@pytest.mark.parametrize("repeated", ["date", "DATE", "apiKey", "type"])
def test_a_parameter_given_twice_is_refused(
    client: TestClient, world: World, repeated: str
) -> None:
    """Which of its values was meant is unknown: once the last one silently won."""
    query = [("apiKey", world.admin_key), ("date", str(YESTERDAY)), ("type", "Goals")]
    value = dict(query)[{"DATE": "date"}.get(repeated, repeated)]
    answer = client.get("/v2/Api/Activities", params=[*query, (repeated, value)])
    assert error_of(answer) == (400, f"{repeated} must be given only once.")
