"""The SQLite store's report side: counters kept with each write, report reads, rebuilds.

Mixed into :class:`goalkeeper.store.sqlite.SqliteStore`; the rules of what counts live in
:mod:`goalkeeper.store.counting`, shared with the other backends.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from goalkeeper.model import Channel, Counting, Recipient
from goalkeeper.store.base import (
    FulfillmentRow,
    RebuildResult,
    same_send,
    unique_sends,
)
from goalkeeper.store.counter_reads import CounterReads
from goalkeeper.store.counting import (
    BUCKET_SECONDS,
    Counted,
    CounterDeltas,
    First,
    GoalKey,
)

UTC = dt.UTC
_CHUNK = 400  # keys per IN (...) lookup, under SQLite's bound on parameters


def ts(value: dt.datetime) -> str:
    """A datetime as the UTC text stored in SQLite."""
    return value.astimezone(UTC).isoformat(sep=" ", timespec="microseconds")[:26]


def parse_ts(text: str) -> dt.datetime:
    """Stored UTC text back as an aware datetime. One C call: the offset is appended
    rather than set with ``replace``, which costs four times as much on the writer's
    per-row path."""
    return dt.datetime.fromisoformat(text + "+00:00")


# A value counter is value_high * 2^32 + value, value in [0, 2^32) (migration 6): the
# sum of 64-bit values needs more than SQLite's 64-bit integers. In DO UPDATE every
# right-hand side reads the old row, so both parts see the same old value.
_LOW = 0xFFFF_FFFF
_ADD_VALUE = (
    "value = (value + excluded.value) & 4294967295,"
    " value_high = value_high + excluded.value_high + ((value + excluded.value) >> 32)"
)
_UPSERT_GOAL = (
    "INSERT INTO goal_counters (account_id, bucket, goal_id, message_id, channel,"
    " fulfillments, value, value_high, recipients) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (account_id, bucket, goal_id, message_id, channel) DO UPDATE SET"
    f" fulfillments = fulfillments + excluded.fulfillments, {_ADD_VALUE},"
    " recipients = recipients + excluded.recipients"
)
_UPSERT_MESSAGE = (
    "INSERT INTO message_counters (account_id, bucket, message_id, channel, sends, converted,"
    " fulfillments, value, value_high) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (account_id, bucket, message_id, channel) DO UPDATE SET"
    " sends = sends + excluded.sends, converted = converted + excluded.converted,"
    f" fulfillments = fulfillments + excluded.fulfillments, {_ADD_VALUE}"
)

# SQLite's date functions keep milliseconds and round to them: 23:59:59.9996 would be
# the next day. Stored times are "YYYY-MM-DD HH:MM:SS.ffffff", so they get only the
# whole seconds (the first 19 characters) and the fraction is kept apart.
_WHOLE_SECONDS = "substr({}, 1, 19)"


def _bucket_of(column: str) -> str:
    """SQL for the quarter-hour bucket of a stored time, exact as counting.bucket_of."""
    return f"unixepoch({_WHOLE_SECONDS.format(column)}) / {BUCKET_SECONDS}"


# The attribution window's end as stored text: the date part moved by window_days, the
# fraction of a second kept, so the comparison is exact to the microsecond.
_IN_WINDOW = (
    "(g.window_days IS NULL OR r.sent_at IS NULL OR f.occurred_at <="
    f" strftime('%Y-%m-%d %H:%M:%S', {_WHOLE_SECONDS.format('r.sent_at')},"
    " '+' || g.window_days || ' days') || substr(r.sent_at, 20))"
)


class SqliteReports(CounterReads):
    """Report methods of the SQLite store (needs ``_write`` and ``_read`` of the store)."""

    _SPLIT_VALUES = True  # value counters in two columns: see _UPSERT_GOAL

    def _write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _read(self) -> sqlite3.Connection:
        raise NotImplementedError

    # -- kept with each write -----------------------------------------------------------

    @staticmethod
    def _count_fulfillments(
        conn: sqlite3.Connection, rows: list[Counted], firsts: dict[GoalKey, First]
    ) -> None:
        """Add a batch's counted fulfillments to the counters (inside its transaction);
        ``firsts`` holds the earliest rows stored for (at least) their GUIDs, read with
        the GUIDs' registry rows."""
        if not rows:
            return
        deltas = CounterDeltas()
        deltas.add(rows, lambda _guids: firsts)
        SqliteReports._apply(conn, deltas)

    @staticmethod
    def _apply(conn: sqlite3.Connection, deltas: CounterDeltas) -> None:
        if deltas.goal:
            conn.executemany(
                _UPSERT_GOAL,
                [(*key, n, value & _LOW, value >> 32, unique)
                 for *key, n, value, unique in deltas.goal_rows()],
            )  # fmt: skip
        if deltas.message:
            SqliteReports._upsert_messages(conn, deltas)
        if deltas.firsts:
            conn.executemany(
                "INSERT INTO first_fulfillments (guid, goal_id, account_id, fulfillment_id,"
                " occurred_at, value) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (guid, goal_id) DO UPDATE SET"
                " fulfillment_id = excluded.fulfillment_id, occurred_at = excluded.occurred_at,"
                " value = excluded.value",
                [
                    (
                        guid,
                        goal_id,
                        account_id,
                        first.fulfillment_id,
                        ts(first.occurred_at),
                        first.value,
                    )
                    for (account_id, goal_id, guid), first in deltas.firsts.items()
                ],
            )

    @staticmethod
    def _count_sends(conn: sqlite3.Connection, rows: Sequence[Recipient]) -> None:
        """Add newly registered sends to the message counters (inside their transaction)."""
        deltas = CounterDeltas()
        deltas.add_sends((r.account_id, r.message_id, r.channel.value, r.sent_at) for r in rows)
        SqliteReports._upsert_messages(conn, deltas)

    @staticmethod
    def _upsert_messages(conn: sqlite3.Connection, deltas: CounterDeltas) -> None:
        conn.executemany(
            _UPSERT_MESSAGE,
            [(*key, value & _LOW, value >> 32) for *key, value in deltas.message_rows()],
        )

    @staticmethod
    def _new_recipients(
        conn: sqlite3.Connection, rows: Sequence[Recipient]
    ) -> tuple[list[Recipient], list[Recipient]]:
        """The rows whose GUIDs are neither stored yet nor repeated earlier in ``rows``, and
        the rows whose GUID names another send (see :meth:`Store.add_recipients`)."""
        unique, taken = unique_sends(rows)
        keys = list(unique)
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for guid, account_id, message_id, subscriber_id in conn.execute(
                "SELECT guid, account_id, message_id, subscriber_id FROM recipients"
                f" WHERE guid IN ({marks})",
                chunk,
            ):
                known = unique.pop(guid)
                if not same_send(known, account_id, message_id, subscriber_id):
                    taken.append(known)
        return list(unique.values()), taken

    # -- report reads -------------------------------------------------------------------

    def _counter_rows(self, sql: str, params: Sequence[object]) -> Iterable[Sequence[Any]]:
        return self._read().execute(sql, params)

    def fulfillments_between(
        self, account_id: int, start: dt.datetime, end: dt.datetime, channel: Channel | None
    ) -> Iterator[FulfillmentRow]:
        sql = (
            "SELECT id, account_id, goal_id, message_guid, message_id, subscriber_id, channel,"
            " value, source, idempotency_key, occurred_at, received_at FROM fulfillments"
            " WHERE account_id = ? AND occurred_at >= ? AND occurred_at < ?"
        )
        params: list[object] = [account_id, ts(start), ts(end)]
        if channel is not None:
            sql += " AND channel = ?"
            params.append(channel.value)
        for r in self._read().execute(sql + " ORDER BY occurred_at, id", params):
            yield FulfillmentRow(
                r[0], r[1], r[2], r[3], r[4], r[5], Channel(r[6]), r[7], r[8], r[9],
                parse_ts(r[10]), parse_ts(r[11]),
            )  # fmt: skip

    def recipients_between(
        self, account_id: int, start: dt.datetime, end: dt.datetime, channel: Channel | None
    ) -> Iterator[Recipient]:
        sql = (
            "SELECT guid, account_id, message_id, subscriber_id, channel, sent_at, list"
            " FROM recipients WHERE account_id = ? AND sent_at >= ? AND sent_at < ?"
        )
        params: list[object] = [account_id, ts(start), ts(end)]
        if channel is not None:
            sql += " AND channel = ?"
            params.append(channel.value)
        for r in self._read().execute(sql + " ORDER BY sent_at, guid", params):
            yield Recipient(
                uuid.UUID(bytes=r[0]), r[1], r[2], r[3], Channel(r[4]), parse_ts(r[5]), r[6]
            )

    # -- rebuilding from the raw rows ---------------------------------------------------

    def rebuild_counters(self) -> RebuildResult:
        """Recompute every counter from the raw rows, in one transaction."""
        every = Counting.EVERY.value
        with self._write() as conn:
            for table in ("goal_counters", "message_counters", "first_fulfillments"):
                conn.execute(f"DELETE FROM {table}")
            conn.execute("DROP TABLE IF EXISTS temp.counted")
            conn.execute("DROP TABLE IF EXISTS temp.converted")
            conn.execute(
                "CREATE TEMP TABLE counted AS SELECT f.id, f.account_id, f.goal_id,"
                " f.message_guid AS guid, f.message_id, f.channel, f.value, f.occurred_at,"
                " g.counting = ? AS every, row_number() OVER (PARTITION BY f.account_id,"
                " f.goal_id, f.message_guid ORDER BY f.occurred_at, f.id) AS rank"
                " FROM fulfillments f JOIN goals g ON g.account_id = f.account_id"
                " AND g.id = f.goal_id LEFT JOIN recipients r ON r.guid = f.message_guid"
                f" WHERE {_IN_WINDOW}",
                (every,),
            )
            conn.execute(  # values summed in two parts, as the writer keeps them
                "INSERT INTO goal_counters (account_id, bucket, goal_id, message_id, channel,"
                " fulfillments, value, value_high, recipients) SELECT account_id, bucket,"
                " goal_id, message_id, channel, n, low & 4294967295, high + (low >> 32), uniques"
                " FROM (SELECT account_id,"
                f" {_bucket_of('occurred_at')} AS bucket, goal_id, message_id,"
                " channel, count(*) AS n, sum(value & 4294967295) AS low,"
                " sum(value >> 32) AS high, sum(rank = 1) AS uniques"
                " FROM counted WHERE every OR rank = 1 GROUP BY 1, 2, 3, 4, 5)"
            )
            conn.execute(
                "INSERT INTO first_fulfillments (guid, goal_id, account_id, fulfillment_id,"
                " occurred_at, value) SELECT guid, goal_id, account_id, id, occurred_at, value"
                " FROM counted WHERE rank = 1"
            )
            conn.execute(
                "CREATE TEMP TABLE converted AS SELECT guid, account_id, id, occurred_at,"
                " message_id, channel FROM (SELECT *, row_number() OVER (PARTITION BY guid"
                " ORDER BY occurred_at, id) AS first FROM counted WHERE rank = 1) WHERE first = 1"
            )
            conn.execute(
                "INSERT INTO message_counters (account_id, bucket, message_id, channel, sends,"
                " converted, fulfillments, value, value_high) SELECT account_id, bucket,"
                " message_id, channel, sum(sends), sum(converted), sum(fulfillments),"
                " sum(value) & 4294967295, sum(value_high) + (sum(value) >> 32) FROM ("
                f" SELECT account_id, {_bucket_of('sent_at')} AS bucket,"
                " message_id, channel, 1 AS sends, 0 AS converted, 0 AS fulfillments,"
                " 0 AS value, 0 AS value_high FROM recipients"
                f" UNION ALL SELECT account_id, {_bucket_of('occurred_at')},"
                " message_id, channel, 0, 1, 0, 0, 0 FROM converted"
                " UNION ALL SELECT account_id, bucket, message_id, channel, 0, 0,"
                " fulfillments, value, value_high FROM goal_counters"
                ") GROUP BY 1, 2, 3, 4"
            )
            conn.execute("DROP TABLE temp.converted")
            conn.execute("DROP TABLE temp.counted")
            result = RebuildResult(
                fulfillments=_scalar(conn, "SELECT count(*) FROM fulfillments"),
                goal_counters=_scalar(conn, "SELECT count(*) FROM goal_counters"),
                message_counters=_scalar(conn, "SELECT count(*) FROM message_counters"),
            )
        return result


def _scalar(conn: sqlite3.Connection, sql: str) -> int:
    return int(conn.execute(sql).fetchone()[0])
