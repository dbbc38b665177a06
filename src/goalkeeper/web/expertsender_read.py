"""ExpertSender's read methods: ``GET /v2/Api/Activities`` and ``GET /v2/Api/SummaryStatistics``.

Plain ASGI like the Goals path: ``apiKey`` comes in the query string, answers are CSV
(Activities) or the ``ApiResponse`` XML document (SummaryStatistics), and every error is
the XML envelope. Only admin keys read data. Activities streams one UTC day of stored
fulfillments (or registered sends) as they are; SummaryStatistics reads the goal report,
so goals' counting rules and attribution windows apply.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
import threading
from collections.abc import Iterator, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from goalkeeper.core.reports import ReportRequest, check_day, goal_report
from goalkeeper.errors import GoalkeeperError, InvalidField, MethodNotAllowed
from goalkeeper.guid import format_guid
from goalkeeper.model import Channel, Scope
from goalkeeper.web.responses import CACHE_PRIVATE, XML_TYPE, Send, send_response
from goalkeeper.wire.body import Receive

if TYPE_CHECKING:
    from goalkeeper.web.app import Goalkeeper

ACTIVITIES_PATHS = frozenset(("/v2/api/activities", "/api/activities"))
SUMMARY_PATHS = frozenset(("/v2/api/summarystatistics", "/api/summarystatistics"))
READ_PATHS = ACTIVITIES_PATHS | SUMMARY_PATHS

CSV_TYPE = (b"content-type", b"text/csv; charset=utf-8")
GOALS_HEADER = [
    "Date",
    "MessageGuid",
    "MessageId",
    "SubscriberId",
    "GoalId",
    "GoalValue",
    "Channel",
]
SENDS_HEADER = ["Date", "MessageGuid", "MessageId", "SubscriberId", "Channel"]
_CHUNK_ROWS = 2000
_QUEUE_CHUNKS = 4
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def _query(raw: bytes) -> dict[str, str]:
    """Parameters by lower-cased name (ASP.NET binds them in any case); one given twice
    is refused: which of its values was meant is unknown."""
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw.decode("latin-1")):
        key = name.lower()
        if key in query:
            raise InvalidField(f"{name} must be given only once.")
        query[key] = value
    return query


def _flag(text: str | None, name: str) -> bool:
    """A boolean as .NET parses one: true or false in any case; absent or empty: false."""
    value = (text or "").strip().lower()
    if value not in ("", "true", "false"):
        raise InvalidField(f"{name} must be true or false.")
    return value == "true"


def _date(text: str | None, name: str, required: bool = False) -> dt.date | None:
    """A day written exactly as YYYY-MM-DD; empty or absent is None (or required)."""
    if not text:
        if required:
            raise InvalidField(f"{name} is required (YYYY-MM-DD).")
        return None
    malformed = InvalidField(f"{name} must be a date as YYYY-MM-DD.")
    if not _DAY.fullmatch(text):
        raise malformed
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:  # a day that does not exist: 2026-02-30
        raise malformed from None
    return check_day(day, name)


def _channel(text: str | None) -> Channel | None:
    if not text:
        return None
    for channel in Channel:
        if channel.value.lower() == text.strip().lower():
            return None if channel is Channel.ALL else channel
    raise InvalidField("Channel must be one of: All, Email, SmsMms, WebPush.")


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


class ExpertSenderReads:
    """The two GET methods, for one process's service."""

    def __init__(self, gk: Goalkeeper):
        self.gk = gk

    async def __call__(
        self, scope: MutableMapping[str, Any], receive: Receive, send: Send, lower: str
    ) -> None:
        try:
            if scope["method"] != "GET":
                raise MethodNotAllowed("GET", "Only GET is allowed for this resource.")
            query = _query(scope.get("query_string", b""))
            account_id = await self._authenticate(query.get("apikey", ""))
            if lower in ACTIVITIES_PATHS:
                await self._activities(send, account_id, query)
            else:
                await self._summary(send, account_id, query)
        except GoalkeeperError as error:
            from goalkeeper.web.responses import send_xml_error

            await send_xml_error(send, error)

    async def _authenticate(self, key: str) -> int:
        record = await self.gk.ingestor.authenticate(key, (Scope.ADMIN,))
        return record.account_id

    # -- Activities ---------------------------------------------------------------------

    async def _activities(self, send: Send, account_id: int, query: dict[str, str]) -> None:
        day = _date(query.get("date"), "date", required=True)
        assert day is not None
        kind = query.get("type", "").strip().lower()
        if kind not in ("goals", "sends"):
            raise InvalidField("type must be Goals or Sends.")
        channel = _channel(query.get("channel"))
        with_guid = kind == "goals" or _flag(query.get("returnguid"), "returnGuid")
        start = dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)
        end = start + dt.timedelta(days=1)
        store = self.gk.store

        def lines() -> Iterator[Sequence[object]]:
            if kind == "goals":
                yield GOALS_HEADER
                for f in store.fulfillments_between(account_id, start, end, channel):
                    yield [
                        _when(f.occurred_at),
                        format_guid(f.message_guid),
                        f.message_id,
                        f.subscriber_id,
                        f.goal_id,
                        f.value,
                        f.channel.value,
                    ]
            else:
                header = (
                    SENDS_HEADER if with_guid else [h for h in SENDS_HEADER if h != "MessageGuid"]
                )
                yield header
                for r in store.recipients_between(account_id, start, end, channel):
                    row: list[object] = [_when(r.sent_at)]
                    if with_guid:
                        row.append(format_guid(r.guid.bytes))
                    row += [r.message_id, r.subscriber_id, r.channel.value]
                    yield row

        await self._stream_csv(send, lines)

    async def _stream_csv(self, send: Send, lines: Any) -> None:
        """CSV made in a worker thread, sent in chunks as it comes (a bounded queue)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(_QUEUE_CHUNKS)
        stop = threading.Event()

        def put(item: bytes | BaseException | None) -> None:
            asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

        def produce() -> None:
            try:
                out = io.StringIO()
                writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
                for count, line in enumerate(lines(), 1):
                    writer.writerow(line)
                    if count % _CHUNK_ROWS == 0:
                        put(out.getvalue().encode())
                        out.seek(0)
                        out.truncate()
                        if stop.is_set():
                            return
                put(out.getvalue().encode())
                put(None)
            except BaseException as exc:  # handed to the event loop, raised there
                put(exc)

        # the default executor's threads live on, and so do their store connections
        worker = loop.run_in_executor(None, produce)
        first = await queue.get()
        if isinstance(first, BaseException):
            raise first
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [CACHE_PRIVATE, CSV_TYPE],
            }
        )
        try:
            item: bytes | BaseException | None = first
            while item is not None:
                if isinstance(item, BaseException):
                    raise item  # headers are out: the server closes the connection
                await send({"type": "http.response.body", "body": item, "more_body": True})
                item = await queue.get()
            await send({"type": "http.response.body", "body": b""})
        finally:
            stop.set()
            while not worker.done():  # let a producer blocked on put() finish
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    await asyncio.sleep(0.001)

    # -- SummaryStatistics --------------------------------------------------------------

    async def _summary(self, send: Send, account_id: int, query: dict[str, str]) -> None:
        grouping = query.get("grouping", "").strip().lower()
        if grouping not in ("", "goal"):
            raise InvalidField("grouping must be Goal, or left out for totals.")
        start = _date(query.get("startdate"), "startDate")
        end = _date(query.get("enddate"), "endDate")
        if start is not None and end is not None and start > end:
            raise InvalidField("startDate must not be after endDate.")
        request = ReportRequest(
            account_id=account_id,
            start=start,
            end=end,
            by=("goal",) if grouping else (),
            tz="UTC",
        )
        report = await asyncio.to_thread(goal_report, self.gk.store, request)
        parts = [
            '<ApiResponse xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
            ' xmlns:xsd="http://www.w3.org/2001/XMLSchema">\r\n  <Data>\r\n'
            "    <SummaryStatistics>\r\n"
        ]
        if grouping:
            goals = await asyncio.to_thread(self.gk.store.list_goals, account_id)
            by_goal = {row.goal_id: row for row in report.rows}
            sent = report.totals.recipients
            for goal in goals:
                row = by_goal.get(goal.id)
                parts.append(
                    "      <SummaryStatistic>\r\n"
                    f"        <GoalId>{goal.id}</GoalId>\r\n"
                    f"        <GoalName>{escape(goal.name)}</GoalName>\r\n"
                    f"        <Sent>{sent}</Sent>\r\n"
                    f"        <Goals>{row.fulfillments if row else 0}</Goals>\r\n"
                    f"        <GoalsValue>{row.value if row else 0}</GoalsValue>\r\n"
                    "      </SummaryStatistic>\r\n"
                )
        else:
            totals = report.totals
            parts.append(
                "      <SummaryStatistic>\r\n"
                f"        <Sent>{totals.recipients}</Sent>\r\n"
                f"        <Goals>{totals.fulfillments}</Goals>\r\n"
                f"        <GoalsValue>{totals.value}</GoalsValue>\r\n"
                "      </SummaryStatistic>\r\n"
            )
        parts.append("    </SummaryStatistics>\r\n  </Data>\r\n</ApiResponse>")
        await send_response(send, 200, [CACHE_PRIVATE, XML_TYPE], "".join(parts).encode())
