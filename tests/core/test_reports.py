"""The goal report: counting rules, attribution windows, unique recipients, time zones.

The reference for every figure is an independent computation over the raw rows
(:class:`Oracle`); the counters kept with each write must agree with it and with
``rebuild_counters`` after a random workload.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import sqlite3
import uuid
import zoneinfo
from collections import defaultdict

import psycopg
import pytest

from goalkeeper.core.accounts import create_account
from goalkeeper.core.registry import create_goal, create_message, issue_recipients
from goalkeeper.core.reports import (
    ReportRequest,
    goal_report,
    parse_by,
    parse_date,
    zone_segments,
)
from goalkeeper.errors import InvalidField
from goalkeeper.model import Channel, Counting, FulfillmentRequest, Source
from goalkeeper.store import Store
from goalkeeper.store.base import migrations
from goalkeeper.store.counting import BUCKETS_PER_DAY, bucket_of

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 20, 12, 0, tzinfo=UTC)  # a week before Europe's DST change


@dataclasses.dataclass
class Sent:
    guid: bytes
    message_id: int
    channel: Channel
    sent_at: dt.datetime


@dataclasses.dataclass
class Raw:
    id: int
    goal_id: int
    guid: bytes
    value: int
    occurred_at: dt.datetime


class Oracle:
    """The report computed the slow, obvious way from what was written."""

    def __init__(self, goals: dict[int, tuple[Counting, int | None]], sends: dict[bytes, Sent]):
        self.goals = goals
        self.sends = sends
        self.raw: list[Raw] = []

    def counted(self) -> list[tuple[Raw, bool]]:
        """Counted fulfillments, each with whether it is its GUID's earliest of its goal."""
        inside = []
        for r in self.raw:
            _, window = self.goals[r.goal_id]
            sent = self.sends[r.guid].sent_at
            if window is None or r.occurred_at <= sent + dt.timedelta(days=window):
                inside.append(r)
        earliest: dict[tuple[int, bytes], Raw] = {}
        for r in sorted(inside, key=lambda r: (r.occurred_at, r.id)):
            earliest.setdefault((r.goal_id, r.guid), r)
        out = []
        for r in inside:
            first = earliest[(r.goal_id, r.guid)] is r
            if self.goals[r.goal_id][0] is Counting.EVERY or first:
                out.append((r, first))
        return out

    def report(
        self, start: dt.date, end: dt.date, by: tuple[str, ...], tz: str, goal: int | None = None
    ) -> dict[tuple[object, ...], tuple[int, int, int, int]]:
        zone = zoneinfo.ZoneInfo(tz)
        begin = dt.datetime.combine(start, dt.time(0), tzinfo=zone)
        finish = dt.datetime.combine(end + dt.timedelta(1), dt.time(0), tzinfo=zone)

        def key(
            goal_id: int | None, sent: Sent, moment: dt.datetime, with_goal: bool = True
        ) -> tuple[object, ...]:
            parts: list[object] = []
            if "goal" in by and with_goal:
                parts.append(goal_id)
            if "message" in by:
                parts.append(sent.message_id)
            if "channel" in by:
                parts.append(sent.channel)
            if "day" in by:
                parts.append(moment.astimezone(zone).date())
            return tuple(parts)

        figures: dict[tuple[object, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
        converted: dict[bytes, Raw] = {}
        for r, first in self.counted():
            if goal is not None and r.goal_id != goal:
                continue
            if first:
                best = converted.get(r.guid)
                if best is None or (r.occurred_at, r.id) < (best.occurred_at, best.id):
                    converted[r.guid] = r
            if not begin <= r.occurred_at < finish:
                continue
            entry = figures[key(r.goal_id, self.sends[r.guid], r.occurred_at)]
            entry[0] += 1
            entry[1] += r.value
            if first and ("goal" in by or goal is not None):
                entry[2] += 1
        if "goal" not in by and goal is None:
            for guid, r in converted.items():
                if begin <= r.occurred_at < finish:
                    figures[key(None, self.sends[guid], r.occurred_at)][2] += 1
        sends: dict[tuple[object, ...], int] = defaultdict(int)
        sent_in_range = set()
        for s in self.sends.values():
            if "message" in by:
                sends[(s.message_id, s.channel if "channel" in by else None)] += 1
            elif begin <= s.sent_at < finish:
                sends[key(None, s, s.sent_at, with_goal=False)] += 1
            if begin <= s.sent_at < finish and "goal" not in by:
                sent_in_range.add(key(None, s, s.sent_at))  # shown even without fulfillments
                figures[key(None, s, s.sent_at)]
        out = {}
        for k, (count, value, unique) in figures.items():
            if "message" in by:
                parts = list(k)
                if "goal" in by:
                    parts.pop(0)
                sent_key = (parts[0], parts[1] if "channel" in by else None)
                recipients = sends.get(sent_key, 0)
            else:
                recipients = sends.get(k[1:] if "goal" in by else k, 0)
            if count or value or unique or k in sent_in_range:
                out[k] = (count, value, unique, recipients)
        return out


def figures_of(report_rows: list[dict[str, object]], by: tuple[str, ...]) -> dict:
    out = {}
    for row in report_rows:
        parts: list[object] = []
        if "goal" in by:
            parts.append(row["goal_id"])
        if "message" in by:
            parts.append(row["message_id"])
        if "channel" in by:
            parts.append(Channel(str(row["channel"])))
        if "day" in by:
            parts.append(dt.date.fromisoformat(str(row["day"])))
        out[tuple(parts)] = (
            row["fulfillments"],
            row["value"],
            row["unique_recipients"],
            row["recipients"],
        )
    return out


def counter_tables(store: Store) -> dict[str, list[tuple[object, ...]]]:
    """Every non-zero counter row, read straight from the database."""
    queries = {
        "goal_counters": "SELECT * FROM goal_counters WHERE fulfillments <> 0 OR value <> 0"
        " OR recipients <> 0 ORDER BY 1, 2, 3, 4, 5",
        "message_counters": "SELECT * FROM message_counters WHERE sends <> 0 OR converted <> 0"
        " OR fulfillments <> 0 OR value <> 0"
        " ORDER BY 1, 2, 3, 4",
        "first_fulfillments": "SELECT * FROM first_fulfillments ORDER BY 1, 2",
    }
    if store.dialect == "sqlite":
        conn = sqlite3.connect(store.path)  # type: ignore[attr-defined]
        try:
            return {name: conn.execute(sql).fetchall() for name, sql in queries.items()}
        finally:
            conn.close()
    with psycopg.connect(store.url) as pg:  # type: ignore[attr-defined]
        return {name: pg.execute(sql).fetchall() for name, sql in queries.items()}


class Workload:
    """An account with goals of every kind, messages on every channel, and its oracle."""

    def __init__(self, store: Store, rng: random.Random):
        self.store = store
        self.rng = rng
        self.account = create_account(store, "Reports").account_id
        rules = {
            1: (Counting.EVERY, None),
            2: (Counting.ONCE_PER_RECIPIENT, None),
            3: (Counting.EVERY, 2),
            4: (Counting.ONCE_PER_RECIPIENT, 3),
        }
        for goal_id, (counting, window) in rules.items():
            create_goal(store, self.account, f"Goal {goal_id}", goal_id, counting, window)
        sends: dict[bytes, Sent] = {}
        for index, channel in enumerate([Channel.EMAIL, Channel.SMS_MMS, Channel.WEB_PUSH] * 2):
            sent = T0 + dt.timedelta(hours=rng.randint(0, 24 * 6), minutes=rng.randint(0, 59))
            message = create_message(store, self.account, f"Message {index}", channel, None, sent)
            people = [(f"s{i}", uuid.UUID(int=rng.getrandbits(128))) for i in range(30)]
            for row in issue_recipients(store, message, people, sent):
                sends[row.guid.bytes] = Sent(row.guid.bytes, message.id, channel, sent)
        self.oracle = Oracle(rules, sends)
        self.guids = list(sends)

    def write(self, batches: int) -> None:
        rng = self.rng
        for _ in range(batches):
            batch = []
            for _ in range(rng.randint(1, 40)):
                guid = rng.choice(self.guids[: rng.choice([10, len(self.guids)])])
                sent = self.oracle.sends[guid].sent_at
                # before the send, inside and past every window, with ties on the minute
                occurred = sent + dt.timedelta(minutes=rng.randint(-60, 60 * 24 * 5))
                batch.append(
                    FulfillmentRequest(
                        self.account,
                        rng.randint(1, 4),
                        guid,
                        rng.randint(-5, 500),
                        None,
                        Source.JSON,
                        rng.choice([None, None, f"key-{rng.randint(1, 30)}"]),
                        occurred,
                    )
                )
            for request, outcome in zip(
                batch, self.store.write_fulfillments(batch, 24), strict=True
            ):
                if getattr(outcome, "duplicate", True):
                    continue
                self.oracle.raw.append(
                    Raw(
                        outcome.fulfillment_id,  # type: ignore[union-attr]
                        request.goal_id,
                        request.guid,
                        request.value,
                        request.occurred_at,  # type: ignore[arg-type]
                    )
                )


GROUPINGS = [(), ("goal",), ("message",), ("channel", "day"), ("goal", "message", "channel", "day")]


def check_against_oracle(w: Workload, tz: str, start: dt.date, end: dt.date) -> None:
    for by in GROUPINGS:
        for goal in (None, 4):
            report = goal_report(
                w.store, ReportRequest(w.account, start, end, by, tz, goal_id=goal)
            ).as_dict()
            expected = w.oracle.report(start, end, by, tz, goal)
            got = figures_of(report["rows"], by)  # type: ignore[arg-type]
            assert got == expected, (by, tz, goal)
            totals = figures_of([report["totals"]], ())  # type: ignore[list-item]
            everything = w.oracle.report(start, end, (), tz, goal)
            assert totals == (everything or {(): (0, 0, 0, 0)}), (by, tz, goal)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_counters_equal_a_rebuild_after_a_random_workload(
    store: Store, seed: int
) -> None:
    w = Workload(store, random.Random(seed))
    w.write(60)
    before = counter_tables(store)
    assert before["goal_counters"], "the workload counted nothing"
    result = store.rebuild_counters()
    assert result.fulfillments == len(w.oracle.raw)
    assert counter_tables(store) == before


def test_a_rebuild_keeps_sub_second_times_in_their_bucket_and_window(store: Store) -> None:
    """SQLite's date functions round to milliseconds: a rebuild once moved 23:59:59.9996
    into the next day and closed a window a second late."""
    account = create_account(store, "Edges").account_id
    create_goal(store, account, "Any time", 1, Counting.EVERY)
    create_goal(store, account, "Within a day", 2, Counting.EVERY, 1)
    sent = dt.datetime(2026, 11, 20, 23, 59, 59, 999_600, tzinfo=UTC)
    message = create_message(store, account, "Late", Channel.EMAIL, None, sent)
    (row,) = issue_recipients(store, message, [("s", uuid.uuid4())], sent)
    guid = row.guid.bytes
    a_day_on = sent + dt.timedelta(days=1)

    def fulfill(goal: int, value: int, occurred: dt.datetime) -> None:
        request = FulfillmentRequest(account, goal, guid, value, None, Source.JSON, None, occurred)
        store.write_fulfillments([request], 24)

    fulfill(1, 7, a_day_on + dt.timedelta(microseconds=100))  # 23:59:59.9997, Nov 21
    fulfill(2, 100, a_day_on + dt.timedelta(microseconds=300))  # just after the window
    fulfill(2, 5, a_day_on)  # the window's last instant
    live = counter_tables(store)
    days = {(r[2], r[1] // BUCKETS_PER_DAY) for r in live["goal_counters"]}
    nov_21 = bucket_of(a_day_on) // BUCKETS_PER_DAY
    assert days == {(1, nov_21), (2, nov_21)}
    assert sum(r[6] for r in live["goal_counters"] if r[2] == 2) == 5  # value, window kept
    store.rebuild_counters()
    assert counter_tables(store) == live


@pytest.mark.parametrize("tz", ["UTC", "Europe/Warsaw", "Asia/Kathmandu", "America/St_Johns"])
def test_reports_match_the_raw_rows_in_any_time_zone(store: Store, tz: str) -> None:
    w = Workload(store, random.Random(len(tz)))
    w.write(40)
    start, end = T0.date() - dt.timedelta(days=1), T0.date() + dt.timedelta(days=12)
    check_against_oracle(w, tz, start, end)
    check_against_oracle(w, tz, T0.date() + dt.timedelta(days=3), T0.date() + dt.timedelta(5))
    store.rebuild_counters()
    check_against_oracle(w, tz, start, end)


def test_a_late_arriving_earlier_fulfillment_becomes_the_counted_one(store: Store) -> None:
    account = create_account(store, "Late").account_id
    create_goal(store, account, "Survey", 1, Counting.ONCE_PER_RECIPIENT)
    message = create_message(store, account, "Mail", Channel.EMAIL, None, T0)
    (row,) = issue_recipients(store, message, [("s", uuid.uuid4())], T0)
    guid = row.guid.bytes

    def write(value: int, days: int) -> None:
        occurred = T0 + dt.timedelta(days=days, hours=1)
        request = FulfillmentRequest(account, 1, guid, value, None, Source.JSON, None, occurred)
        store.write_fulfillments([request], 24)

    def by_day() -> list[tuple[str, int, int]]:
        report = goal_report(
            store, ReportRequest(account, T0.date(), T0.date() + dt.timedelta(5), ("day",))
        )
        return [(str(r.day), r.fulfillments, r.value) for r in report.rows if r.fulfillments]

    write(100, 3)
    assert by_day() == [(str(T0.date() + dt.timedelta(3)), 1, 100)]
    write(7, 1)  # arrives later, happened earlier: it is the one that counts
    assert by_day() == [(str(T0.date() + dt.timedelta(1)), 1, 7)]
    write(9, 2)
    assert by_day() == [(str(T0.date() + dt.timedelta(1)), 1, 7)]


def test_fulfillments_past_the_attribution_window_do_not_count(store: Store) -> None:
    account = create_account(store, "Window").account_id
    create_goal(store, account, "Purchase", 1, window_days=2)
    message = create_message(store, account, "Mail", Channel.EMAIL, None, T0)
    (row,) = issue_recipients(store, message, [("s", uuid.uuid4())], T0)
    requests = [
        FulfillmentRequest(account, 1, row.guid.bytes, 10, None, Source.JSON, None, moment)
        for moment in (
            T0 + dt.timedelta(days=2),  # exactly at the end of the window: counts
            T0 + dt.timedelta(days=2, microseconds=1),  # just past it: does not
        )
    ]
    store.write_fulfillments(requests, 24)
    report = goal_report(store, ReportRequest(account, T0.date(), T0.date() + dt.timedelta(4)))
    assert (report.totals.fulfillments, report.totals.value) == (1, 10)
    assert (report.totals.unique_recipients, report.totals.recipients) == (1, 1)
    assert report.totals.conversion_rate == 1.0
    store.rebuild_counters()
    again = goal_report(store, ReportRequest(account, T0.date(), T0.date() + dt.timedelta(4)))
    assert again.totals == report.totals


def test_days_are_cut_in_the_requested_zone_and_the_answer_names_it(store: Store) -> None:
    account = create_account(store, "Zones").account_id
    create_goal(store, account, "Purchase", 1)
    message = create_message(store, account, "Mail", Channel.EMAIL, None, T0)
    (row,) = issue_recipients(store, message, [("s", uuid.uuid4())], T0)
    late = dt.datetime(2026, 3, 21, 23, 30, tzinfo=UTC)  # 21st in UTC, 22nd in Warsaw
    store.write_fulfillments(
        [FulfillmentRequest(account, 1, row.guid.bytes, 5, None, Source.JSON, None, late)], 24
    )
    for tz, day in (("UTC", "2026-03-21"), ("Europe/Warsaw", "2026-03-22")):
        report = goal_report(
            store,
            ReportRequest(account, dt.date(2026, 3, 20), dt.date(2026, 3, 23), ("day",), tz),
        ).as_dict()
        assert report["tz"] == tz
        days = [r["day"] for r in report["rows"] if r["fulfillments"]]  # type: ignore[attr-defined,index]
        assert days == [day]


def test_zone_segments_split_at_daylight_saving_changes() -> None:
    zone = zoneinfo.ZoneInfo("Europe/Warsaw")
    start = dt.datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    end = dt.datetime(2026, 3, 30, 22, 0, tzinfo=UTC)
    segments = zone_segments(start, end, zone)
    change = bucket_of(dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC))
    assert [(s.start, s.end, s.offset) for s in segments] == [
        (bucket_of(start), change, 4),
        (change, bucket_of(end), 8),
    ]
    # the day of the change is 23 hours long, and still one day
    assert (change - 1 + 4) // BUCKETS_PER_DAY == (change + 8) // BUCKETS_PER_DAY


def test_a_report_refuses_unknown_groupings_zones_and_inverted_ranges(store: Store) -> None:
    with pytest.raises(InvalidField, match="Cannot group by week"):
        parse_by("day,week")
    account = create_account(store, "Bad").account_id
    with pytest.raises(InvalidField, match="time zone"):
        goal_report(store, ReportRequest(account, tz="Mars/Olympus"))
    with pytest.raises(InvalidField, match="from must not be after to"):
        goal_report(store, ReportRequest(account, dt.date(2026, 2, 2), dt.date(2026, 2, 1)))


def test_an_account_sees_only_its_own_figures(store: Store) -> None:
    w = Workload(store, random.Random(5))
    w.write(10)
    other = create_account(store, "Other").account_id
    report = goal_report(store, ReportRequest(other, T0.date(), T0.date() + dt.timedelta(12)))
    assert report.rows == [report.totals]
    assert (report.totals.fulfillments, report.totals.recipients) == (0, 0)


def test_the_message_totals_migration_fills_the_new_columns_from_the_goal_counters(
    store: Store,
) -> None:
    """Migration 0004 on a database whose message counters predate its columns."""
    if store.dialect != "sqlite":
        pytest.skip("the same statement on PostgreSQL is run by every fresh upgrade")
    w = Workload(store, random.Random(9))
    w.write(20)
    expected = counter_tables(store)["message_counters"]
    conn = sqlite3.connect(store.path)  # type: ignore[attr-defined]
    try:
        with conn:
            conn.execute("UPDATE message_counters SET fulfillments = 0, value = 0")
            conn.execute("DELETE FROM message_counters WHERE sends = 0 AND converted = 0")
            (migration,) = [m for m in migrations("sqlite") if m.version == 4]
            backfill = [s for s in migration.sql.split(";") if "INSERT" in s]
            conn.execute(backfill[0])
    finally:
        conn.close()
    assert counter_tables(store)["message_counters"] == expected


def test_values_past_64_bits_add_up_exactly(store: Store) -> None:
    """Each value fits in 64 bits; their sum need not, and no digit may be lost: not by
    the writer (two such values in one batch), nor by a rebuild, nor by a report."""
    account = create_account(store, "Big").account_id
    create_goal(store, account, "Fleet", 1)
    message = create_message(store, account, "Mail", Channel.EMAIL, None, T0)
    rows = issue_recipients(store, message, [("a", uuid.uuid4()), ("b", uuid.uuid4())], T0)
    big = 2**63 - 1
    moment = T0 + dt.timedelta(hours=1)
    for value in (big, big, -5):
        requests = [
            FulfillmentRequest(account, 1, r.guid.bytes, value, None, Source.JSON, None, moment)
            for r in rows
        ]
        store.write_fulfillments(requests, 24)

    def totals() -> list[tuple[int, int]]:
        out = []
        for by in ((), ("goal",), ("message", "day")):  # message counters, goal counters
            report = goal_report(
                store, ReportRequest(account, T0.date(), T0.date() + dt.timedelta(1), by)
            )
            assert type(report.totals.value) is int
            out.append((report.totals.fulfillments, report.totals.value))
        return out

    assert totals() == [(6, 4 * big - 10)] * 3
    before = counter_tables(store)
    store.rebuild_counters()
    assert counter_tables(store) == before
    assert totals() == [(6, 4 * big - 10)] * 3


def test_the_split_value_migration_keeps_every_counter(store: Store) -> None:
    """Migration 0006 on counters written whole: negative and past-32-bit values too."""
    if store.dialect != "sqlite":
        pytest.skip("PostgreSQL's counters are numeric: they never needed it")
    account = create_account(store, "Old").account_id
    create_goal(store, account, "Purchase", 1)
    message = create_message(store, account, "Mail", Channel.EMAIL, None, T0)
    rows = issue_recipients(store, message, [(str(n), uuid.uuid4()) for n in range(3)], T0)
    for n, value in enumerate((-(2**40) - 3, 2**62 + 12345, 7)):
        moment = T0 + dt.timedelta(hours=n)
        store.write_fulfillments(
            [
                FulfillmentRequest(
                    account, 1, rows[n].guid.bytes, value, None, Source.JSON, None, moment
                )
            ],
            24,
        )
    request = ReportRequest(account, T0.date(), T0.date() + dt.timedelta(1), ("day",))
    expected = goal_report(store, request).rows
    conn = sqlite3.connect(store.path)  # type: ignore[attr-defined]
    try:
        with conn:  # back to the layout before the migration: the whole value in one column
            for table in ("goal_counters", "message_counters"):
                conn.execute(
                    f"UPDATE {table} SET value = value + (value_high << 32), value_high = 0"
                )
            (migration,) = [m for m in migrations("sqlite") if m.version == 6]
            for statement in migration.sql.split(";"):
                if statement.strip().startswith("UPDATE"):
                    conn.execute(statement)
        assert conn.execute(
            "SELECT count(*) FROM goal_counters WHERE value < 0 OR value > 4294967295"
        ).fetchone() == (0,)
    finally:
        conn.close()
    assert goal_report(store, request).rows == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("20261127", "from must be a date as YYYY-MM-DD."),  # fromisoformat would take it
        ("2026-W48-5", "from must be a date as YYYY-MM-DD."),
        ("2026-11-27T00:00", "from must be a date as YYYY-MM-DD."),
        ("2026-02-30", "from 2026-02-30 is not a calendar date."),
        ("1969-12-31", "from must be a date from 1970-01-01 to 8999-12-31."),
    ],
)
def test_report_days_are_written_exactly_as_yyyy_mm_dd(text: str, message: str) -> None:
    with pytest.raises(InvalidField) as caught:
        parse_date(text, "from")
    assert caught.value.message == message
