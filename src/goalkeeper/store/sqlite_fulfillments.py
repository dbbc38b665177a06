"""The SQLite store's fulfillments: the writer's batched hot path and its reads.

A mixin of :class:`goalkeeper.store.sqlite.SqliteStore`, which provides the
connections (``_conn``, ``_write``, ``_read``) and the per-process goal cache.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from goalkeeper.errors import GoalNotRecognized, MessageGuidNotRecognized
from goalkeeper.model import Channel, Counting, FulfillmentRequest, Stored, utcnow
from goalkeeper.store.base import CheckOutcome, FulfillmentRow, WriteOutcome
from goalkeeper.store.counting import Counted, First, GoalKey, in_window
from goalkeeper.store.sqlite_reports import SqliteReports, parse_ts, ts

_INSERT_FULFILLMENTS = (
    "INSERT INTO fulfillments (account_id, goal_id, message_guid, message_id, subscriber_id,"
    " channel, value, source, idempotency_key, occurred_at, received_at) VALUES "
)
_FULFILLMENT_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_ROWS = 256  # most rows in one multi-row INSERT (11 parameters each)
_LOOKUP_GUIDS = 512  # most GUIDs in one IN (...) lookup
_WRITER_CACHE_KIB = 32 * 1024


def _chunk_sizes(n: int, cap: int) -> Iterator[int]:
    """``n`` split into powers of two no larger than ``cap`` (a power of two), largest
    first: statements of a few shapes only, so the connection's statement cache keeps
    them prepared."""
    while n >= cap:
        yield cap
        n -= cap
    size = cap
    while n:
        size >>= 1
        if n >= size:
            yield size
            n -= size


def _recognized(req: FulfillmentRequest, account_id: int, channel: str) -> bool:
    """A registered GUID counts for ``req`` only in its own account and, when the request
    names a channel, only on that channel; otherwise it answers as unknown."""
    return account_id == req.account_id and (
        req.channel is None or req.channel is Channel.ALL or channel == req.channel.value
    )


class SqliteFulfillments(SqliteReports):
    _local: threading.local
    _known_goals: dict[tuple[int, int], tuple[bool, int | None]]

    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    # -- fulfillments (the hot path) ----------------------------------------------------

    def write_fulfillments(
        self, batch: Sequence[FulfillmentRequest], idempotency_hours: int
    ) -> list[WriteOutcome]:
        now = utcnow()
        now_s = ts(now)
        cutoff_s = ts(now - dt.timedelta(hours=idempotency_hours))
        outcomes: list[WriteOutcome | None] = [None] * len(batch)
        counted: list[Counted] = []
        # Every statement releases the GIL and takes it back, which costs the writer
        # thread a wait whenever the event loop is busy; so the batch's GUIDs are looked
        # up together and its rows without an Idempotency-Key inserted together.
        pending: list[tuple[int, FulfillmentRequest, Any, tuple[bool, int | None], str]] = []
        if not getattr(self._local, "writer_cache", False):
            # The writing connection looks up every GUID: a page cache of 32 MiB (not the
            # default 2) keeps the registry's upper levels and its hot leaves in memory.
            # Readers keep the default, so report scans do not grow every thread's cache.
            self._conn().execute(f"PRAGMA cache_size = -{_WRITER_CACHE_KIB}")
            self._local.writer_cache = True
        with self._write() as conn:
            execute = conn.execute
            recipients, firsts = self._recipients_of(conn, batch)

            def row_values(
                req: FulfillmentRequest, row: Any, key: str | None, occurred: str
            ) -> tuple[Any, ...]:
                """The fulfillments columns of one stored request, as _FULFILLMENT_ROW orders them."""
                return (req.account_id, req.goal_id, req.guid, row[1], row[2], row[3], req.value,
                        req.source.value, key, occurred, now_s)  # fmt: skip

            def insert_pending() -> None:
                start = 0
                for size in _chunk_sizes(len(pending), _INSERT_ROWS):
                    part = pending[start : start + size]
                    start += size
                    cur = execute(
                        _INSERT_FULFILLMENTS + ", ".join([_FULFILLMENT_ROW] * len(part)),
                        [
                            value
                            for _, req, row, _, occurred in part
                            for value in row_values(req, row, None, occurred)
                        ],
                    )
                    # The rows got consecutive ids: each new row takes the largest id plus
                    # one (no AUTOINCREMENT), and this transaction holds the write lock.
                    assert cur.lastrowid is not None
                    first_id = cur.lastrowid - len(part) + 1
                    for offset, (i, req, row, rules, _) in enumerate(part):
                        stored(i, req, row, rules, first_id + offset)
                pending.clear()

            def stored(
                i: int, req: FulfillmentRequest, row: Any, rules: tuple[bool, int | None], fid: int
            ) -> None:
                outcomes[i] = Stored(fid)
                moment = now if req.occurred_at is None else req.occurred_at
                if rules[1] is None or in_window(moment, parse_ts(row[4]), rules[1]):
                    counted.append(
                        Counted(
                            req.account_id,
                            req.goal_id,
                            req.guid,
                            row[1],
                            row[3],
                            req.value,
                            fid,
                            moment,
                            rules[0],
                        )
                    )

            for i, req in enumerate(batch):
                row = recipients.get(req.guid)
                if row is None or not _recognized(req, row[0], row[3]):
                    outcomes[i] = MessageGuidNotRecognized()
                    continue
                goal_key = (req.account_id, req.goal_id)
                rules = self._known_goals.get(goal_key)
                if rules is None:
                    found = execute(
                        "SELECT counting, window_days FROM goals WHERE account_id = ? AND id = ?",
                        goal_key,
                    ).fetchone()
                    if not found:
                        outcomes[i] = GoalNotRecognized()
                        continue
                    rules = (found[0] == Counting.ONCE_PER_RECIPIENT.value, found[1])
                    self._known_goals[goal_key] = rules
                occurred = now_s if req.occurred_at is None else ts(req.occurred_at)
                key = req.idempotency_key
                if key is None:
                    pending.append((i, req, row, rules, occurred))
                    continue
                insert_pending()  # ids stay in the order of the batch
                claimed = execute(
                    "INSERT INTO idempotency_keys (account_id, key, fulfillment_id, created_at)"
                    " VALUES (?, ?, NULL, ?) ON CONFLICT (account_id, key) DO UPDATE"
                    " SET fulfillment_id = NULL, created_at = excluded.created_at"
                    " WHERE idempotency_keys.created_at < ? RETURNING 1",
                    (req.account_id, key, now_s, cutoff_s),
                ).fetchone()
                if claimed is None:
                    first = execute(
                        "SELECT fulfillment_id FROM idempotency_keys"
                        " WHERE account_id = ? AND key = ?",
                        (req.account_id, key),
                    ).fetchone()
                    outcomes[i] = Stored(int(first[0]), duplicate=True)
                    continue
                cur = execute(
                    _INSERT_FULFILLMENTS + _FULFILLMENT_ROW, row_values(req, row, key, occurred)
                )
                fulfillment_id = cur.lastrowid
                assert fulfillment_id is not None
                execute(
                    "UPDATE idempotency_keys SET fulfillment_id = ?"
                    " WHERE account_id = ? AND key = ?",
                    (fulfillment_id, req.account_id, key),
                )
                stored(i, req, row, rules, fulfillment_id)
            insert_pending()
            self._count_fulfillments(conn, counted, firsts)
        return [outcome for outcome in outcomes if outcome is not None]

    @staticmethod
    def _recipients_of(
        conn: sqlite3.Connection, batch: Sequence[FulfillmentRequest]
    ) -> tuple[dict[bytes, Any], dict[GoalKey, First]]:
        """For the batch's registered GUIDs: guid -> (account_id, message_id, subscriber_id,
        channel, sent_at), and the earliest counted fulfillments stored for them (what
        the counters compare with), read together: one lookup of each GUID, not two."""
        guids = list({req.guid for req in batch})
        found: dict[bytes, Any] = {}
        firsts: dict[GoalKey, First] = {}
        start = 0
        for size in _chunk_sizes(len(guids), _LOOKUP_GUIDS):
            chunk = guids[start : start + size]
            start += size
            for row in conn.execute(
                "SELECT r.guid, r.account_id, r.message_id, r.subscriber_id, r.channel,"
                " r.sent_at, f.account_id, f.goal_id, f.fulfillment_id, f.occurred_at, f.value"
                " FROM recipients r LEFT JOIN first_fulfillments f ON f.guid = r.guid"
                f" WHERE r.guid IN ({','.join('?' * len(chunk))})",
                chunk,
            ):
                found[row[0]] = row[1:6]
                if row[7] is not None:
                    firsts[(row[6], row[7], row[0])] = First(row[8], parse_ts(row[9]), row[10])
        return found, firsts

    def check_fulfillments(
        self, batch: Sequence[FulfillmentRequest], idempotency_hours: int
    ) -> list[CheckOutcome]:
        """What write_fulfillments would answer for each request, writing nothing."""
        cutoff_s = ts(utcnow() - dt.timedelta(hours=idempotency_hours))
        outcomes: list[CheckOutcome] = []
        execute = self._read().execute
        goals: dict[tuple[int, int], bool] = {}
        for req in batch:
            row = execute(
                "SELECT account_id, channel FROM recipients WHERE guid = ?", (req.guid,)
            ).fetchone()
            if row is None or not _recognized(req, row[0], row[1]):
                outcomes.append(MessageGuidNotRecognized())
                continue
            goal_key = (req.account_id, req.goal_id)
            known = goals.get(goal_key)
            if known is None:
                known = goals[goal_key] = (
                    execute(
                        "SELECT 1 FROM goals WHERE account_id = ? AND id = ?", goal_key
                    ).fetchone()
                    is not None
                )
            if not known:
                outcomes.append(GoalNotRecognized())
                continue
            if req.idempotency_key is not None:
                bound = execute(
                    "SELECT fulfillment_id FROM idempotency_keys WHERE account_id = ?"
                    " AND key = ? AND created_at >= ? AND fulfillment_id IS NOT NULL",
                    (req.account_id, req.idempotency_key, cutoff_s),
                ).fetchone()
                if bound is not None:
                    outcomes.append(Stored(int(bound[0]), duplicate=True))
                    continue
            outcomes.append(None)
        return outcomes

    def list_fulfillments(self, account_id: int, limit: int = 1000) -> list[FulfillmentRow]:
        rows = self._read().execute(
            "SELECT id, account_id, goal_id, message_guid, message_id, subscriber_id, channel,"
            " value, source, idempotency_key, occurred_at, received_at FROM fulfillments"
            " WHERE account_id = ? ORDER BY id LIMIT ?",
            (account_id, limit),
        )
        return [
            FulfillmentRow(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                Channel(r[6]),
                r[7],
                r[8],
                r[9],
                parse_ts(r[10]),
                parse_ts(r[11]),
            )
            for r in rows
        ]

    def count_fulfillments(self, account_id: int | None = None) -> int:
        if account_id is None:
            row = self._read().execute("SELECT count(*) FROM fulfillments").fetchone()
        else:
            row = (
                self._read()
                .execute("SELECT count(*) FROM fulfillments WHERE account_id = ?", (account_id,))
                .fetchone()
            )
        return int(row[0])
