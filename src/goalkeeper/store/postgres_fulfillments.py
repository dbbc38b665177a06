"""The PostgreSQL store's fulfillments: one statement per writer batch, and reads.

A batch is one transaction sent in two round trips (pipeline mode): BEGIN, the GUIDs'
locks, the batch statement and the read of the GUIDs' earliest rows; then the counter
upserts and COMMIT.

A mixin of :class:`goalkeeper.store.postgres.PostgresStore`, which provides the
connection pool, the writer's own connection and its lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus

from goalkeeper.errors import GoalNotRecognized, MessageGuidNotRecognized, StorageUnavailable
from goalkeeper.model import Channel, Counting, FulfillmentRequest, Stored
from goalkeeper.store import postgres_arrays as arrays
from goalkeeper.store.base import CheckOutcome, FulfillmentRow, WriteOutcome
from goalkeeper.store.counting import Counted, in_window
from goalkeeper.store.postgres_pool import Connection, reuse_or_connect, unavailable
from goalkeeper.store.postgres_reports import FIRSTS, LOCK_GUIDS, PostgresReports

# The whole batch in one statement. Rows keep their order through WITH ORDINALITY;
# ``v`` gives each storable row its fulfillment id up front (nextval, materialised once),
# so the idempotency key can be bound in the same statement that claims it: a new key,
# or one whose binding is older than the window, takes this row's id; a live binding
# keeps its id and the row is a duplicate. ON CONFLICT waits for a concurrent claimer
# to commit, then sees its row. Keys are claimed in (account_id, key) order so two
# batches cannot deadlock on each other. Each stored row comes back with what the
# counters need (message, channel, times, the goal's rules), so nothing is read twice.
_WRITE_BATCH = """
WITH b AS (
    SELECT * FROM unnest(
        %(account_id)s::bigint[], %(goal_id)s::integer[], %(guid)s::uuid[],
        %(channel)s::text[], %(value)s::bigint[], %(source)s::text[], %(key)s::text[],
        %(occurred_at)s::timestamptz[]
    ) WITH ORDINALITY AS b(account_id, goal_id, guid, channel, value, source, key,
                           occurred_at, ord)
), m AS MATERIALIZED (
    SELECT b.*, r.message_id, r.subscriber_id, r.channel AS sent_channel, r.sent_at,
           g.id IS NOT NULL AS goal_ok, g.counting, g.window_days
    FROM b JOIN recipients r ON r.guid = b.guid AND r.account_id = b.account_id
    LEFT JOIN goals g ON g.account_id = b.account_id AND g.id = b.goal_id
    WHERE b.channel IS NULL OR r.channel = b.channel
), v AS MATERIALIZED (
    SELECT m.*, nextval('fulfillments_id_seq') AS new_id,
           coalesce(m.occurred_at, now()) AS occurred
    FROM m WHERE m.goal_ok
    ORDER BY m.ord  -- ids in the order of the batch, as on SQLite
), claim AS (
    INSERT INTO idempotency_keys AS k (account_id, key, fulfillment_id, created_at)
    SELECT DISTINCT ON (v.account_id, v.key) v.account_id, v.key, v.new_id, now()
    FROM v WHERE v.key IS NOT NULL
    ORDER BY v.account_id, v.key, v.ord
    ON CONFLICT (account_id, key) DO UPDATE SET
        fulfillment_id = CASE WHEN k.created_at < now() - %(window)s::interval
                              THEN excluded.fulfillment_id ELSE k.fulfillment_id END,
        created_at = CASE WHEN k.created_at < now() - %(window)s::interval
                          THEN excluded.created_at ELSE k.created_at END
    RETURNING k.account_id, k.key, k.fulfillment_id
), ins AS (
    INSERT INTO fulfillments (account_id, id, goal_id, message_guid, message_id,
                              subscriber_id, channel, value, source, idempotency_key,
                              occurred_at, received_at)
    SELECT v.account_id, v.new_id, v.goal_id, v.guid, v.message_id, v.subscriber_id,
           v.sent_channel, v.value, v.source, v.key, v.occurred, now()
    FROM v
    WHERE v.key IS NULL OR EXISTS (SELECT 1 FROM claim c WHERE c.fulfillment_id = v.new_id)
    RETURNING id
)
SELECT 0 AS part, b.ord, m.ord IS NOT NULL, coalesce(m.goal_ok, false), v.new_id,
       NULL::bigint, NULL::text, v.message_id, v.sent_channel, v.occurred, v.sent_at,
       v.counting, v.window_days
FROM b
LEFT JOIN m ON m.ord = b.ord
LEFT JOIN v ON v.ord = b.ord
UNION ALL
SELECT 1, NULL, NULL, NULL, c.fulfillment_id, c.account_id, c.key, NULL, NULL, NULL, NULL,
       NULL, NULL
FROM claim c
ORDER BY 1, 2
"""

# The writer's statements look rows up by key, whatever the batch: one plan each, made
# once for any array, keeps their index scans. Left to choose per execution, PostgreSQL
# planned the read of the earliest rows with the batch's 31 GUIDs as a sequential scan
# of first_fulfillments (0.6 ms a batch once it held 8k rows, against 0.1 by its primary
# key), and whether a connection kept that plan or the generic one depended on how big
# the table was when it chose: a fresh database ran at one of two speeds.
_WRITER_SETTINGS = "-c plan_cache_mode=force_generic_plan"

# The read-only twin of _WRITE_BATCH (validate_only): the same checks, no claims.
_CHECK_BATCH = """
SELECT b.ord, r.guid IS NOT NULL,
       EXISTS (SELECT 1 FROM goals g WHERE g.account_id = b.account_id AND g.id = b.goal_id),
       k.fulfillment_id
FROM unnest(
    %(account_id)s::bigint[], %(goal_id)s::integer[], %(guid)s::uuid[], %(channel)s::text[],
    %(key)s::text[]
) WITH ORDINALITY AS b(account_id, goal_id, guid, channel, key, ord)
LEFT JOIN recipients r ON r.guid = b.guid AND r.account_id = b.account_id
    AND (b.channel IS NULL OR r.channel = b.channel)
LEFT JOIN idempotency_keys k ON k.account_id = b.account_id AND k.key = b.key
    AND k.created_at >= now() - %(window)s::interval AND k.fulfillment_id IS NOT NULL
ORDER BY b.ord
"""


class PostgresFulfillments(PostgresReports):
    url: str
    _writer_lock: threading.Lock
    _writer_conn: Connection | None
    _writer_used: float

    def _one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> tuple[Any, ...] | None:
        raise NotImplementedError

    def _all(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    # -- fulfillments (the hot path) ----------------------------------------------------

    def _writer_connection(self) -> Connection:
        self._writer_conn = reuse_or_connect(
            self._writer_conn, self._writer_used, self.url, _WRITER_SETTINGS
        )
        return self._writer_conn

    def write_fulfillments(
        self, batch: Sequence[FulfillmentRequest], idempotency_hours: int
    ) -> list[WriteOutcome]:
        if not batch:
            return []
        params = _batch_params(batch, idempotency_hours)
        with self._writer_lock:
            for attempt in range(3):
                try:
                    conn = self._writer_connection()
                    rows = self._write_batch(conn, batch, params)
                    self._writer_used = time.monotonic()
                    break
                except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure):
                    # The transaction was rolled back whole: trying again is safe.
                    if attempt == 2:
                        raise StorageUnavailable(detail="database busy") from None
                except psycopg.OperationalError as exc:
                    if self._writer_conn is not None and (
                        self._writer_conn.closed or self._writer_conn.broken
                    ):
                        self._writer_conn.close()
                        self._writer_conn = None
                    raise unavailable(exc) from exc
        outcomes: list[WriteOutcome] = []
        for row in rows:
            if not row.guid_ok:
                outcomes.append(MessageGuidNotRecognized())
            elif not row.goal_ok:
                outcomes.append(GoalNotRecognized())
            elif row.stored:
                outcomes.append(Stored(row.new_id))
            else:
                outcomes.append(Stored(row.bound_id, duplicate=True))
        return outcomes

    def _write_batch(
        self, conn: Connection, batch: Sequence[FulfillmentRequest], params: dict[str, Any]
    ) -> list[_Written]:
        """One transaction in two round trips to the server, rather than one for each
        statement: under load each round trip waits for the scheduler about as long as
        the work it asks for.

        The first sends BEGIN, the GUIDs' locks, the batch and the read of their earliest
        rows. That read is a statement of its own, after the locks, so it sees what the
        batches that held them before committed. The second sends the counter upserts
        and COMMIT.
        """
        try:
            with conn.pipeline():
                conn.execute("BEGIN", prepare=False)
                conn.execute(LOCK_GUIDS, (params["distinct_guids"],))
                written = conn.execute(_WRITE_BATCH, params)
                firsts = conn.execute(FIRSTS, (params["distinct_guids"],))
                rows = _written(batch, written.fetchall())
                self._count_stored(conn, _counted(batch, rows), firsts.fetchall())
                conn.execute("COMMIT", prepare=False)
        except BaseException:
            if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("ROLLBACK", prepare=False)
            raise
        return rows

    def check_fulfillments(
        self, batch: Sequence[FulfillmentRequest], idempotency_hours: int
    ) -> list[CheckOutcome]:
        """What write_fulfillments would answer for each request, writing nothing."""
        if not batch:
            return []
        params = _batch_params(batch, idempotency_hours)
        rows = self._all(_CHECK_BATCH, params)
        outcomes: list[CheckOutcome] = []
        for _ord, guid_ok, goal_ok, bound_id in rows:
            if not guid_ok:
                outcomes.append(MessageGuidNotRecognized())
            elif not goal_ok:
                outcomes.append(GoalNotRecognized())
            elif bound_id is not None:
                outcomes.append(Stored(int(bound_id), duplicate=True))
            else:
                outcomes.append(None)
        return outcomes

    def list_fulfillments(self, account_id: int, limit: int = 1000) -> list[FulfillmentRow]:
        rows = self._all(
            "SELECT id, account_id, goal_id, message_guid, message_id, subscriber_id, channel,"
            " value, source, idempotency_key, occurred_at, received_at FROM fulfillments"
            " WHERE account_id = %s ORDER BY id LIMIT %s",
            (account_id, limit),
        )
        return [
            FulfillmentRow(
                int(r[0]),
                int(r[1]),
                int(r[2]),
                r[3].bytes,
                int(r[4]),
                r[5],
                Channel(r[6]),
                int(r[7]),
                r[8],
                r[9],
                r[10],
                r[11],
            )
            for r in rows
        ]

    def count_fulfillments(self, account_id: int | None = None) -> int:
        if account_id is None:
            row = self._one("SELECT count(*) FROM fulfillments")
        else:
            row = self._one(
                "SELECT count(*) FROM fulfillments WHERE account_id = %s", (account_id,)
            )
        return int(row[0]) if row else 0


class _Written(NamedTuple):
    """What _WRITE_BATCH did with one request of the batch."""

    guid_ok: bool
    goal_ok: bool
    new_id: int  # 0 unless both are
    bound_id: int  # the row its idempotency key is bound to; new_id when stored now
    counting: tuple[Any, ...]  # message, channel, occurred_at, sent_at, counting, window

    @property
    def stored(self) -> bool:
        return self.goal_ok and self.bound_id == self.new_id


def _written(
    batch: Sequence[FulfillmentRequest], result: Iterable[tuple[Any, ...]]
) -> list[_Written]:
    """One _Written per request, in order, from _WRITE_BATCH's rows.

    The statement answers its per-request rows, then the claimed keys with the id each
    is bound to; matching them here keeps the statement free of a join whose size the
    planner cannot foresee.
    """
    items: list[tuple[Any, ...]] = []
    bound: dict[tuple[int, str], int] = {}
    for part, ord_, guid_ok, goal_ok, new_id, account_id, key, *counting in result:
        if part == 0:
            items.append((ord_, guid_ok, goal_ok, new_id, counting))
        else:
            bound[(int(account_id), key)] = int(new_id)
    out: list[_Written] = []
    for ord_, guid_ok, goal_ok, new_id, counting in items:
        request = batch[int(ord_) - 1]
        fid = 0 if new_id is None else int(new_id)
        bound_id = fid
        key = request.idempotency_key
        if new_id is not None and key is not None:
            bound_id = bound.get((request.account_id, key), fid)
        out.append(_Written(bool(guid_ok), bool(goal_ok), fid, bound_id, tuple(counting)))
    return out


def _counted(batch: Sequence[FulfillmentRequest], rows: Sequence[_Written]) -> list[Counted]:
    """The rows stored now that fall inside their goal's window, as the counters see them."""
    out: list[Counted] = []
    for request, row in zip(batch, rows, strict=True):
        if not row.stored:
            continue
        message_id, channel, occurred, sent_at, counting, window_days = row.counting
        if in_window(occurred, sent_at, window_days):
            out.append(
                Counted(
                    request.account_id,
                    request.goal_id,
                    request.guid,
                    int(message_id),
                    channel,
                    request.value,
                    row.new_id,
                    occurred,
                    counting == Counting.ONCE_PER_RECIPIENT.value,
                )
            )
    return out


def _batch_params(batch: Sequence[FulfillmentRequest], idempotency_hours: int) -> dict[str, Any]:
    """The columns of a batch as array literals, for unnest(), and its GUIDs once each,
    sorted."""
    return {
        "account_id": arrays.ints([r.account_id for r in batch]),
        "goal_id": arrays.ints([r.goal_id for r in batch]),
        "guid": arrays.guids([r.guid for r in batch]),
        "channel": arrays.texts(
            [
                None if r.channel is None or r.channel is Channel.ALL else r.channel.value
                for r in batch
            ]
        ),
        "value": arrays.ints([r.value for r in batch]),
        "source": arrays.texts([r.source.value for r in batch]),
        "key": arrays.texts([r.idempotency_key for r in batch]),
        "occurred_at": arrays.times([r.occurred_at for r in batch]),
        "window": dt.timedelta(hours=idempotency_hours),
        "distinct_guids": arrays.guids(sorted({r.guid for r in batch})),
    }
