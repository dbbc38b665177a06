"""The goal report: counted fulfillments, unique recipients, value and conversion rate.

One function, :func:`goal_report`, serves the JSON API, the command line, the dashboard
and ExpertSender's SummaryStatistics. It reads only the counters the store keeps with
every write (quarter-hour buckets in UTC), so its cost depends on the number of goals,
messages and days in the range, not on the number of fulfillments.

Rules (see docs/reports.md):

- a fulfillment counts when it is no later than its goal's ``window_days`` after its
  GUID was sent; under ``once_per_recipient`` only each GUID's earliest one counts;
- ``unique_recipients`` counts GUIDs in the group whose earliest counted fulfillment (of
  the row's goal, or of any goal when the report is not by goal) falls in the range;
- ``recipients`` counts registered sends: all sends of the row's message when grouped by
  message, else the sends in the range (on the row's channel, on the row's day);
- ``conversion_rate`` = ``unique_recipients`` / ``recipients`` (None without sends);
- days are cut in the requested IANA time zone.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
import zoneinfo
from collections.abc import Iterable, Sequence

from goalkeeper.errors import InvalidField
from goalkeeper.model import INT64_MAX, Channel
from goalkeeper.store import Store
from goalkeeper.store.base import REPORT_KEYS, CounterQuery, Segment
from goalkeeper.store.counting import BUCKET_SECONDS, BUCKETS_PER_DAY, bucket_of
from goalkeeper.text import quoted

EPOCH_DAY = dt.date(1970, 1, 1)
ALL_TIME = Segment(0, 2**62, 0)
DEFAULT_DAYS = 30
MAX_DAYS = 3660


@dataclasses.dataclass(frozen=True)
class ReportRequest:
    """What to report: one account, a range of calendar days in ``tz``, grouping, filters."""

    account_id: int
    start: dt.date | None = None  # inclusive; default: DEFAULT_DAYS before ``end``
    end: dt.date | None = None  # inclusive; default: today in ``tz``
    by: tuple[str, ...] = ()
    tz: str = "UTC"
    goal_id: int | None = None
    message_id: int | None = None
    channel: Channel | None = None


@dataclasses.dataclass(frozen=True)
class ReportRow:
    goal_id: int | None
    goal_name: str | None
    message_id: int | None
    message_name: str | None
    channel: Channel | None
    day: dt.date | None
    fulfillments: int
    unique_recipients: int
    value: int
    recipients: int
    conversion_rate: float | None

    def as_dict(self, by: Sequence[str]) -> dict[str, object]:
        """The row as the JSON API and the CLI show it: its grouping keys, then figures."""
        out: dict[str, object] = {}
        if "goal" in by:
            out["goal_id"] = self.goal_id
            out["goal_name"] = self.goal_name
        if "message" in by:
            out["message_id"] = self.message_id
            out["message_name"] = self.message_name
        if "channel" in by:
            out["channel"] = None if self.channel is None else self.channel.value
        if "day" in by:
            out["day"] = None if self.day is None else self.day.isoformat()
        out["fulfillments"] = self.fulfillments
        out["unique_recipients"] = self.unique_recipients
        out["value"] = self.value
        out["recipients"] = self.recipients
        out["conversion_rate"] = self.conversion_rate
        return out


@dataclasses.dataclass(frozen=True)
class Report:
    tz: str
    start: dt.date
    end: dt.date
    by: tuple[str, ...]
    rows: list[ReportRow]
    totals: ReportRow

    def csv(self) -> str:
        """The rows as CSV with a header line (the CLI's and the dashboard's downloads)."""
        out = io.StringIO()
        rows = [row.as_dict(self.by) for row in self.rows]
        columns = list(rows[0]) if rows else list(self.totals.as_dict(self.by))
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row[c]) for c in columns])
        return out.getvalue()

    def as_dict(self) -> dict[str, object]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "tz": self.tz,
            "by": list(self.by),
            "rows": [row.as_dict(self.by) for row in self.rows],
            "totals": self.totals.as_dict(()),
        }


def _cell(value: object) -> object:
    """A CSV cell. These files are opened in spreadsheets, which run a cell starting with
    = + - @ (or a tab or carriage return) as a formula: a goal or message name, which an
    API caller chose, gets a leading apostrophe there, so it shows as the text it is."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
        return "'" + value
    return value


_FORMULA_STARTS = frozenset("=+-@\t\r")


# -- parsing what callers give --------------------------------------------------------


def parse_by(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """``goal,message,channel,day`` (any subset, any order) as a tuple in that order."""
    if text is None:
        return ()
    parts = text.split(",") if isinstance(text, str) else list(text)
    names = [p.strip().lower() for p in parts if p.strip()]
    unknown = [n for n in names if n not in REPORT_KEYS]
    if unknown:
        raise InvalidField(
            f"Cannot group by {', '.join(unknown)}: use any of {', '.join(REPORT_KEYS)}."
        )
    return tuple(k for k in REPORT_KEYS if k in names)


def parse_zone(name: str | None) -> zoneinfo.ZoneInfo:
    """An IANA time zone by name (default UTC)."""
    if not name:
        name = "UTC"
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidField(
            f"Unknown time zone {quoted(name)}: use an IANA name such as Europe/Warsaw."
        ) from None


# Counters start in 1970 (buckets are non-negative) and days are added to a range's
# ends: a date outside these bounds holds nothing and could overflow.
EARLIEST_DAY = dt.date(1970, 1, 1)
LATEST_DAY = dt.date(8999, 12, 31)


_DAY_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def parse_date(text: str | None, field: str) -> dt.date | None:
    """A day written exactly YYYY-MM-DD (fromisoformat alone also takes 20261127 and
    week dates); empty or absent is None."""
    if text is None or text == "":
        return None
    if not _DAY_SHAPE.fullmatch(text):
        raise InvalidField(f"{field} must be a date as YYYY-MM-DD.")
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidField(f"{field} {text} is not a calendar date.") from None
    return check_day(day, field)


def check_day(day: dt.date, field: str) -> dt.date:
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise InvalidField(f"{field} must be a date from 1970-01-01 to 8999-12-31.")
    return day


def parse_channel(text: str | None) -> Channel | None:
    if text is None or text == "" or text == Channel.ALL.value:
        return None
    try:
        channel = Channel(text)
    except ValueError:
        raise InvalidField("channel must be one of: Email, SmsMms, WebPush.") from None
    return channel


# -- time: calendar days in a zone as spans of UTC buckets ----------------------------


def local_midnight(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    """The instant (UTC) a calendar day starts in ``zone``."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def _offset_buckets(moment: dt.datetime, zone: dt.tzinfo) -> int:
    offset = moment.astimezone(zone).utcoffset() or dt.timedelta(0)
    return int(offset.total_seconds()) // BUCKET_SECONDS


def zone_segments(start: dt.datetime, end: dt.datetime, zone: dt.tzinfo) -> tuple[Segment, ...]:
    """Spans of buckets in [start, end) over which ``zone``'s UTC offset holds."""
    segments: list[Segment] = []
    first, last = bucket_of(start), bucket_of(end)
    quarter = dt.timedelta(seconds=BUCKET_SECONDS)
    cursor = first
    while cursor < last:
        offset = _offset_buckets(start + (cursor - first) * quarter, zone)
        # probe a day at a time for a change of offset, then bisect to the quarter hour
        low, high = cursor, cursor
        while high < last:
            probe = min(high + BUCKETS_PER_DAY, last)
            if _offset_buckets(start + (probe - first) * quarter, zone) != offset:
                while probe - high > 1:
                    middle = (high + probe) // 2
                    if _offset_buckets(start + (middle - first) * quarter, zone) == offset:
                        high = middle
                    else:
                        probe = middle
                high = probe
                break
            high = probe
        segments.append(Segment(low, high, offset))
        cursor = high
    return tuple(segments)


def resolve_range(
    start: dt.date | None, end: dt.date | None, zone: dt.tzinfo
) -> tuple[dt.date, dt.date]:
    if end is None:
        end = dt.datetime.now(zone).date()
    if start is None:
        start = end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise InvalidField("from must not be after to.")
    if (end - start).days >= MAX_DAYS:
        raise InvalidField(f"A report covers at most {MAX_DAYS} days.")
    return start, end


# -- the report -----------------------------------------------------------------------

Key = tuple[int | None, int | None, Channel | None, int | None]


def goal_report(store: Store, request: ReportRequest) -> Report:
    """The report for one account, read from the counters."""
    zone = parse_zone(request.tz)
    start, end = resolve_range(request.start, request.end, zone)
    by = parse_by(request.by)
    # A filter on nothing would answer zeros that look like a finding; another
    # account's goal or message is as unknown as a missing one.
    if request.goal_id is not None and (
        not 1 <= request.goal_id <= INT64_MAX
        or store.get_goal(request.account_id, request.goal_id) is None
    ):
        raise InvalidField(f"goal_id {request.goal_id} is not a goal of this account.")
    if request.message_id is not None and (
        not 1 <= request.message_id <= INT64_MAX
        or store.get_message(request.account_id, request.message_id) is None
    ):
        raise InvalidField(f"message_id {request.message_id} is not a message of this account.")
    begin, finish = local_midnight(start, zone), local_midnight(end + dt.timedelta(1), zone)
    segments = zone_segments(begin, finish, zone)
    names = _Names(store, request.account_id, by)
    rows, totals = _rows(store, request, frozenset(by), segments, names)
    if totals is None:  # unique recipients do not add up across goals: ask for them
        totals = _rows(store, request, frozenset(), segments, names)[0][0]
    return Report(tz=zone.key, start=start, end=end, by=by, rows=rows, totals=totals)


def _rows(
    store: Store,
    request: ReportRequest,
    by: frozenset[str],
    segments: tuple[Segment, ...],
    names: _Names,
) -> tuple[list[ReportRow], ReportRow | None]:
    """The rows, and their totals when they add up (not when grouped by goal)."""
    query = CounterQuery(
        account_id=request.account_id,
        segments=segments,
        by=by,
        goal_id=request.goal_id,
        message_id=request.message_id,
        channel=request.channel,
    )
    # per goal: the goal counters; else the message counters, already summed over goals
    per_goal = "goal" in by or request.goal_id is not None
    figures: dict[Key, list[int]] = {}  # fulfillments, value, unique recipients
    if per_goal:
        for row in store.goal_counts(query):
            key = (row.goal_id, row.message_id, row.channel, row.day)
            entry = figures.setdefault(key, [0, 0, 0])
            entry[0] += row.fulfillments
            entry[1] += row.value
            entry[2] += row.recipients

    sends: dict[Key, int] = {}
    if "message" in by:
        all_time = dataclasses.replace(
            query, segments=(ALL_TIME,), by=by - {"day"}, sends_only=True
        )
        for send in store.message_counts(all_time):
            sends[(None, send.message_id, send.channel, None)] = send.sends
    sent_in_range: set[Key] = set()  # shown even without fulfillments (not by goal)
    range_sends = 0
    for send in store.message_counts(query):
        range_sends += send.sends
        key = (None, send.message_id, send.channel, send.day)
        if "message" not in by:
            sends[key] = sends.get(key, 0) + send.sends
        if "goal" not in by:
            entry = figures.setdefault(key, [0, 0, 0])
            if not per_goal:
                entry[0] += send.fulfillments
                entry[1] += send.value
                entry[2] += send.converted
            if send.sends:
                sent_in_range.add(key)

    out: list[ReportRow] = []
    for key, (count, value, unique) in figures.items():
        goal_id, message_id, channel, day = key
        recipients = sends.get((None, message_id, channel, None if "message" in by else day), 0)
        if not (count or value or unique or key in sent_in_range):
            continue
        out.append(
            ReportRow(
                goal_id=goal_id,
                goal_name=names.goal(goal_id),
                message_id=message_id,
                message_name=names.message(message_id),
                channel=channel,
                day=None if day is None else EPOCH_DAY + dt.timedelta(days=day),
                fulfillments=count,
                unique_recipients=unique,
                value=value,
                recipients=recipients,
                conversion_rate=round(unique / recipients, 6) if recipients else None,
            )
        )
    out.sort(key=_order)
    if "goal" in by:
        return out, None
    # a GUID belongs to one message and converts in one bucket: uniques add up here
    count, value, unique = (sum(f[i] for f in figures.values()) for i in range(3))
    totals = ReportRow(
        None, None, None, None, None, None, count, unique, value, range_sends,
        round(unique / range_sends, 6) if range_sends else None,
    )  # fmt: skip
    if not by:
        out = [totals]
    return out, totals


def _order(row: ReportRow) -> tuple[object, ...]:
    return (
        row.day or dt.date.min,
        row.goal_id if row.goal_id is not None else -(2**63),
        row.message_id if row.message_id is not None else -(2**63),
        row.channel.value if row.channel is not None else "",
    )


class _Names:
    """Goal and message names of one account, read once per report when needed."""

    def __init__(self, store: Store, account_id: int, by: Sequence[str]):
        self._goals = {g.id: g.name for g in store.list_goals(account_id)} if "goal" in by else {}
        self._messages = (
            {m.id: m.name for m in store.list_messages(account_id, limit=1_000_000)}
            if "message" in by
            else {}
        )

    def goal(self, goal_id: int | None) -> str | None:
        return None if goal_id is None else self._goals.get(goal_id)

    def message(self, message_id: int | None) -> str | None:
        return None if message_id is None else self._messages.get(message_id)
