"""The PostgreSQL store's report side: counters kept with each write, report reads, rebuilds.

Mixed into :class:`goalkeeper.store.postgres.PostgresStore`; the rules of what counts
live in :mod:`goalkeeper.store.counting`, shared with SQLite. Several processes may write
at once: each batch takes a transaction-scoped advisory lock per GUID (in one sorted
order) before it reads the earliest rows, and upserts counters in key order, so
concurrent batches neither miscount nor deadlock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg

from goalkeeper.model import Channel, Counting, Recipient
from goalkeeper.store import postgres_arrays as arrays
from goalkeeper.store.base import FulfillmentRow, RebuildResult
from goalkeeper.store.counter_reads import CounterReads
from goalkeeper.store.counting import (
    BUCKET_SECONDS,
    Counted,
    CounterDeltas,
    First,
)

Connection = psycopg.Connection[tuple[Any, ...]]


_UPSERT_GOAL = (
    "INSERT INTO goal_counters AS c (account_id, bucket, goal_id, message_id, channel,"
    " fulfillments, value, recipients) SELECT * FROM unnest(%s::bigint[], %s::bigint[],"
    " %s::integer[], %s::bigint[], %s::text[], %s::bigint[], %s::numeric[], %s::bigint[])"
    " ON CONFLICT (account_id, bucket, goal_id, message_id, channel) DO UPDATE SET"
    " fulfillments = c.fulfillments + excluded.fulfillments, value = c.value + excluded.value,"
    " recipients = c.recipients + excluded.recipients"
)
_UPSERT_MESSAGE = (
    "INSERT INTO message_counters AS c (account_id, bucket, message_id, channel, sends,"
    " converted, fulfillments, value) SELECT * FROM unnest(%s::bigint[], %s::bigint[],"
    " %s::bigint[], %s::text[], %s::bigint[], %s::bigint[], %s::bigint[], %s::numeric[])"
    " ON CONFLICT (account_id, bucket, message_id, channel) DO UPDATE SET"
    " sends = c.sends + excluded.sends, converted = c.converted + excluded.converted,"
    " fulfillments = c.fulfillments + excluded.fulfillments, value = c.value + excluded.value"
)
_UPSERT_FIRSTS = (
    "INSERT INTO first_fulfillments AS f (guid, goal_id, account_id, fulfillment_id,"
    " occurred_at, value) SELECT * FROM unnest(%s::uuid[], %s::integer[],"
    " %s::bigint[], %s::bigint[], %s::timestamptz[], %s::bigint[])"
    " ON CONFLICT (guid, goal_id) DO UPDATE SET"
    " fulfillment_id = excluded.fulfillment_id, occurred_at = excluded.occurred_at,"
    " value = excluded.value"
)
# A batch's three upserts in one statement (each client statement costs the writer
# 20-35 µs in psycopg). Every batch runs this same statement, so every batch takes the
# counter rows' locks in one order: table by table, keys sorted.
_UPSERT_COUNTERS = f"WITH goal AS ({_UPSERT_GOAL}), message AS ({_UPSERT_MESSAGE}) {_UPSERT_FIRSTS}"
# A transaction-scoped lock per GUID, taken in one sorted order: batches of several
# processes that share GUIDs count them one after the other.
LOCK_GUIDS = (
    "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT"
    " hashtextextended(g::text, 7) AS k FROM unnest(%s::uuid[]) AS g ORDER BY 1) AS s"
)
# The earliest counted fulfillments already stored for some GUIDs, any goal.
FIRSTS = (
    "SELECT account_id, goal_id, guid, fulfillment_id, occurred_at, value"
    " FROM first_fulfillments WHERE guid = ANY(%s::uuid[])"
)
# What builds each column's literal, in the order of the statements' unnest().
_GOAL_COLUMNS = (arrays.ints,) * 4 + (arrays.texts,) + (arrays.ints,) * 3
_MESSAGE_COLUMNS = (arrays.ints,) * 3 + (arrays.texts,) + (arrays.ints,) * 4
_FIRST_COLUMNS = (arrays.guids,) + (arrays.ints,) * 3 + (arrays.times, arrays.ints)
_BUCKET_OF = f"floor(extract(epoch FROM {{0}}) / {BUCKET_SECONDS})::bigint"


class PostgresReports(CounterReads):
    """Report methods of the PostgreSQL store (needs its ``_transaction`` and ``_all``)."""

    _MARK = "%s"

    def _transaction(self) -> contextlib.AbstractContextManager[Connection]:
        raise NotImplementedError

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    # -- kept with each write -----------------------------------------------------------

    @staticmethod
    def _count_stored(
        conn: Connection, rows: list[Counted], firsts: Iterable[tuple[Any, ...]]
    ) -> None:
        """Add just-stored fulfillments to the counters (inside their transaction).

        ``firsts`` are the rows of :data:`FIRSTS` for the batch's GUIDs, read while the
        batch held their locks (:data:`LOCK_GUIDS`).
        """
        if not rows:
            return
        known = {
            (int(r[0]), int(r[1]), r[2].bytes): First(int(r[3]), r[4], int(r[5])) for r in firsts
        }
        deltas = CounterDeltas()
        deltas.add(rows, lambda _guids: known)
        PostgresReports._apply(conn, deltas)

    @staticmethod
    def _apply(conn: Connection, deltas: CounterDeltas) -> None:
        goal_rows = sorted(deltas.goal_rows())
        message_rows = sorted(deltas.message_rows())
        firsts = sorted(
            (guid, goal, account, f.fulfillment_id, f.occurred_at, f.value)
            for (account, goal, guid), f in deltas.firsts.items()
        )
        if goal_rows or message_rows or firsts:
            conn.execute(
                _UPSERT_COUNTERS,
                arrays.columns(goal_rows, *_GOAL_COLUMNS)
                + arrays.columns(message_rows, *_MESSAGE_COLUMNS)
                + arrays.columns(firsts, *_FIRST_COLUMNS),
            )

    @staticmethod
    def _count_sends(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Add newly registered sends, (account, message, channel, sent_at) each."""
        deltas = CounterDeltas()
        deltas.add_sends((int(r[0]), int(r[1]), str(r[2]), r[3]) for r in rows)
        message_rows = sorted(deltas.message_rows())
        if message_rows:
            conn.execute(_UPSERT_MESSAGE, arrays.columns(message_rows, *_MESSAGE_COLUMNS))

    # -- report reads -------------------------------------------------------------------

    def _counter_rows(self, sql: str, params: Sequence[object]) -> Iterable[Sequence[Any]]:
        return self._all(sql, params)

    def fulfillments_between(
        self, account_id: int, start: dt.datetime, end: dt.datetime, channel: Channel | None
    ) -> Iterator[FulfillmentRow]:
        sql = (
            "SELECT id, account_id, goal_id, message_guid, message_id, subscriber_id, channel,"
            " value, source, idempotency_key, occurred_at, received_at FROM fulfillments"
            " WHERE account_id = %s AND occurred_at >= %s AND occurred_at < %s"
        )
        params: list[object] = [account_id, start, end]
        if channel is not None:
            sql += " AND channel = %s"
            params.append(channel.value)
        for r in self._all(sql + " ORDER BY occurred_at, id", params):
            yield FulfillmentRow(
                int(r[0]), int(r[1]), int(r[2]), r[3].bytes, int(r[4]), r[5], Channel(r[6]),
                int(r[7]), r[8], r[9], r[10], r[11],
            )  # fmt: skip

    def recipients_between(
        self, account_id: int, start: dt.datetime, end: dt.datetime, channel: Channel | None
    ) -> Iterator[Recipient]:
        sql = (
            "SELECT guid, account_id, message_id, subscriber_id, channel, sent_at, list"
            " FROM recipients WHERE account_id = %s AND sent_at >= %s AND sent_at < %s"
        )
        params: list[object] = [account_id, start, end]
        if channel is not None:
            sql += " AND channel = %s"
            params.append(channel.value)
        for r in self._all(sql + " ORDER BY sent_at, guid", params):
            yield Recipient(r[0], int(r[1]), int(r[2]), r[3], Channel(r[4]), r[5], r[6])

    # -- rebuilding from the raw rows ---------------------------------------------------

    def rebuild_counters(self) -> RebuildResult:
        """Recompute every counter from the raw rows, in one transaction."""
        with self._transaction() as conn:
            conn.execute("LOCK TABLE fulfillments, recipients IN SHARE MODE")
            conn.execute("TRUNCATE goal_counters, message_counters, first_fulfillments")
            conn.execute(
                "CREATE TEMP TABLE counted ON COMMIT DROP AS SELECT f.id, f.account_id,"
                " f.goal_id, f.message_guid AS guid, f.message_id, f.channel, f.value,"
                " f.occurred_at, g.counting = %s AS every, row_number() OVER (PARTITION BY"
                " f.account_id, f.goal_id, f.message_guid ORDER BY f.occurred_at, f.id) AS rank"
                " FROM fulfillments f JOIN goals g ON g.account_id = f.account_id"
                " AND g.id = f.goal_id LEFT JOIN recipients r ON r.guid = f.message_guid"
                " WHERE g.window_days IS NULL OR r.sent_at IS NULL"
                " OR f.occurred_at <= r.sent_at + make_interval(days => g.window_days)",
                (Counting.EVERY.value,),
            )
            conn.execute(
                "INSERT INTO goal_counters (account_id, bucket, goal_id, message_id, channel,"
                f" fulfillments, value, recipients) SELECT account_id,"
                f" {_BUCKET_OF.format('occurred_at')}, goal_id, message_id, channel,"
                " count(*) FILTER (WHERE every OR rank = 1),"
                " coalesce(sum(value) FILTER (WHERE every OR rank = 1), 0),"
                " count(*) FILTER (WHERE rank = 1) FROM counted WHERE every OR rank = 1"
                " GROUP BY 1, 2, 3, 4, 5"
            )
            conn.execute(
                "INSERT INTO first_fulfillments (guid, goal_id, account_id, fulfillment_id,"
                " occurred_at, value) SELECT guid, goal_id, account_id, id, occurred_at, value"
                " FROM counted WHERE rank = 1"
            )
            conn.execute(
                "INSERT INTO message_counters (account_id, bucket, message_id, channel, sends,"
                " converted, fulfillments, value) SELECT account_id, bucket, message_id,"
                " channel, sum(sends), sum(converted), sum(fulfillments), sum(value) FROM ("
                f" SELECT account_id, {_BUCKET_OF.format('sent_at')} AS bucket, message_id,"
                " channel, 1 AS sends, 0 AS converted, 0 AS fulfillments, 0::numeric AS value"
                " FROM recipients"
                f" UNION ALL SELECT account_id, {_BUCKET_OF.format('occurred_at')}, message_id,"
                " channel, 0, 1, 0, 0 FROM (SELECT DISTINCT ON (guid) * FROM counted"
                " WHERE rank = 1 ORDER BY guid, occurred_at, id) AS converted"
                " UNION ALL SELECT account_id, bucket, message_id, channel, 0, 0, fulfillments,"
                " value FROM goal_counters"
                ") AS u GROUP BY 1, 2, 3, 4"
            )
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM fulfillments), (SELECT count(*) FROM"
                " goal_counters), (SELECT count(*) FROM message_counters)"
            ).fetchone()
        assert counts is not None
        return RebuildResult(int(counts[0]), int(counts[1]), int(counts[2]))
