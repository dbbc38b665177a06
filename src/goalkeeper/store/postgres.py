"""The PostgreSQL store: many goalkeeper processes, on many hosts, sharing one database.

Reads and admin writes take a connection from a small per-process pool; the group-commit
writer has a connection of its own and stores a whole batch in ONE statement (arrays
unnested, data-modifying CTEs), then updates the report counters in the same
transaction: a batch costs a fixed handful of round trips and one commit whatever its
size. Everything that must hold across processes is enforced by the database: an
``Idempotency-Key`` is bound by a unique key with ``ON CONFLICT`` (a concurrent twin
waits for the first transaction, then sees its row), migrations run under an advisory
lock, and times come from the database clock so processes on several hosts agree.

When the server cannot be reached every call fails fast with
:class:`~goalkeeper.errors.StorageUnavailable` (see :mod:`.postgres_pool`), and the
first call after the server is back simply connects again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from goalkeeper.errors import (
    Conflict,
    GoalNotRecognized,
    MessageGuidNotRecognized,
    SchemaOutdated,
    StorageUnavailable,
)
from goalkeeper.model import (
    ApiKey,
    Channel,
    Counting,
    FulfillmentRequest,
    Goal,
    Message,
    Recipient,
    Scope,
    Stored,
)
from goalkeeper.store.base import (
    CheckOutcome,
    FulfillmentRow,
    Migration,
    NewGoal,
    WriteOutcome,
    migrations,
)
from goalkeeper.store.postgres_pool import (
    CHECK_IDLE_SECONDS,
    Connection,
    Pool,
    connect,
    mapped_errors,
    unavailable,
)
from goalkeeper.store.postgres_reports import PostgresReports

# pg_advisory_xact_lock key serialising schema upgrades across processes ("gkmigrat").
_MIGRATION_LOCK = 0x676B6D6967726174
# The whole batch in one statement. Rows keep their order through WITH ORDINALITY;
# ``v`` gives each storable row its fulfillment id up front (nextval, materialised once),
# so the idempotency key can be bound in the same statement that claims it: a new key,
# or one whose binding is older than the window, takes this row's id; a live binding
# keeps its id and the row is a duplicate. ON CONFLICT waits for a concurrent claimer
# to commit, then sees its row. Keys are claimed in (account_id, key) order so two
# batches cannot deadlock on each other.
_WRITE_BATCH = """
WITH b AS (
    SELECT * FROM unnest(
        %(account_id)s::bigint[], %(goal_id)s::integer[], %(guid)s::uuid[],
        %(channel)s::text[], %(value)s::bigint[], %(source)s::text[], %(key)s::text[],
        %(occurred_at)s::timestamptz[]
    ) WITH ORDINALITY AS b(account_id, goal_id, guid, channel, value, source, key,
                           occurred_at, ord)
), m AS MATERIALIZED (
    SELECT b.*, r.message_id, r.subscriber_id, r.channel AS sent_channel,
           EXISTS (SELECT 1 FROM goals g WHERE g.account_id = b.account_id
                   AND g.id = b.goal_id) AS goal_ok
    FROM b JOIN recipients r ON r.guid = b.guid AND r.account_id = b.account_id
    WHERE b.channel IS NULL OR r.channel = b.channel
), v AS MATERIALIZED (
    SELECT m.*, nextval('fulfillments_id_seq') AS new_id FROM m WHERE m.goal_ok
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
           v.sent_channel, v.value, v.source, v.key, coalesce(v.occurred_at, now()), now()
    FROM v
    WHERE v.key IS NULL OR EXISTS (SELECT 1 FROM claim c WHERE c.fulfillment_id = v.new_id)
    RETURNING id
)
SELECT 0 AS part, b.ord, m.ord IS NOT NULL, coalesce(m.goal_ok, false), v.new_id,
       NULL::bigint, NULL::text
FROM b
LEFT JOIN m ON m.ord = b.ord
LEFT JOIN v ON v.ord = b.ord
UNION ALL
SELECT 1, NULL, NULL, NULL, c.fulfillment_id, c.account_id, c.key FROM claim c
ORDER BY 1, 2
"""

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

_GOAL_COLUMNS = "account_id, id, name, counting, window_days, default_value, created_at"
_MESSAGE_COLUMNS = "account_id, id, name, channel, list, sent_at"


class PostgresStore(PostgresReports):
    dialect = "postgresql"

    def __init__(self, url: str, pool_size: int = 8, timeout: float = 0.75):
        self.url = url
        self._pool = Pool(url, pool_size, timeout)
        self._migrations = migrations(self.dialect)
        self._writer_lock = threading.Lock()
        self._writer_conn: Connection | None = None
        self._writer_used = 0.0

    def close(self) -> None:
        self._pool.close()
        with self._writer_lock:
            if self._writer_conn is not None:
                self._writer_conn.close()
                self._writer_conn = None

    # -- helpers ------------------------------------------------------------------------

    def _one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> tuple[Any, ...] | None:
        with mapped_errors(), self._pool.connection() as conn:
            return conn.execute(sql, params).fetchone()

    def _all(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        with mapped_errors(), self._pool.connection() as conn:
            return conn.execute(sql, params).fetchall()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with mapped_errors(), self._pool.connection() as conn, conn.transaction():
            yield conn

    # -- schema -------------------------------------------------------------------------

    def latest_version(self) -> int:
        return self._migrations[-1].version

    def schema_version(self) -> int:
        row = self._one(
            "SELECT CASE WHEN to_regclass('schema_migrations') IS NULL THEN -1 ELSE 0 END"
        )
        if row is None or row[0] < 0:
            return 0
        found = self._one("SELECT max(version) FROM schema_migrations")
        return int(found[0] or 0) if found else 0

    def upgrade(self, progress: Callable[[Migration], None] | None = None) -> list[Migration]:
        """Apply pending migrations in one transaction, one process at a time."""
        applied: list[Migration] = []
        with self._transaction() as conn:
            conn.execute("SET LOCAL lock_timeout = 0")  # another process may be migrating
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
            current = int(row[0] or 0) if row else 0
            for migration in self._migrations:
                if migration.version <= current:
                    continue
                if progress:
                    progress(migration)
                for statement in _split_sql(migration.sql):
                    conn.execute(statement.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
                applied.append(migration)
        return applied

    def ping(self) -> None:
        self._one("SELECT 1")
        version = self.schema_version()
        if version != self.latest_version():
            raise SchemaOutdated(version, self.latest_version())

    # -- accounts and keys --------------------------------------------------------------

    def create_account(self, name: str) -> int:
        row = self._one(
            "INSERT INTO accounts (name, created_at) VALUES (%s, now()) RETURNING id", (name,)
        )
        assert row is not None
        return int(row[0])

    def create_first_account(self, name: str) -> int | None:
        with self._transaction() as conn:
            # one process at a time decides whether the database has an account yet
            conn.execute("LOCK TABLE accounts IN SHARE ROW EXCLUSIVE MODE")
            if conn.execute("SELECT 1 FROM accounts LIMIT 1").fetchone():
                return None
            row = conn.execute(
                "INSERT INTO accounts (name, created_at) VALUES (%s, now()) RETURNING id", (name,)
            ).fetchone()
            assert row is not None
            return int(row[0])

    def account_ids(self) -> list[int]:
        return [int(r[0]) for r in self._all("SELECT id FROM accounts ORDER BY id")]

    def insert_api_key(
        self,
        account_id: int,
        prefix: str,
        key_hash: bytes,
        scope: Scope,
        origins: Sequence[str] = (),
        rate_limit: int | None = None,
    ) -> ApiKey:
        with self._transaction() as conn:
            if (
                conn.execute("SELECT 1 FROM accounts WHERE id = %s", (account_id,)).fetchone()
                is None
            ):
                raise Conflict(f"Account {account_id} does not exist.")
            try:
                row = conn.execute(
                    "INSERT INTO api_keys (account_id, prefix, key_hash, scope, origins, rate_limit,"
                    " created_at) VALUES (%s, %s, %s, %s, %s, %s, now()) RETURNING id",
                    (account_id, prefix, key_hash, scope.value, " ".join(origins), rate_limit),
                ).fetchone()
            except psycopg.IntegrityError:
                raise Conflict(f"API key {prefix} already exists.") from None
        assert row is not None
        return ApiKey(int(row[0]), account_id, prefix, scope, tuple(origins), rate_limit)

    def find_api_key(self, key_hash: bytes) -> ApiKey | None:
        row = self._one(
            "SELECT id, account_id, prefix, scope, origins, rate_limit FROM api_keys"
            " WHERE key_hash = %s AND revoked_at IS NULL",
            (key_hash,),
        )
        if row is None:
            return None
        return ApiKey(
            int(row[0]), int(row[1]), row[2], Scope(row[3]), tuple(row[4].split()), row[5]
        )

    def list_api_keys(self, account_id: int, scope: Scope) -> list[ApiKey]:
        rows = self._all(
            "SELECT id, account_id, prefix, scope, origins, rate_limit FROM api_keys"
            " WHERE account_id = %s AND scope = %s AND revoked_at IS NULL ORDER BY id",
            (account_id, scope.value),
        )
        return [
            ApiKey(int(r[0]), int(r[1]), r[2], Scope(r[3]), tuple(r[4].split()), r[5]) for r in rows
        ]

    def tracker_origins(self) -> set[str]:
        """Every origin allowed by an active tracker key (for CORS preflights)."""
        rows = self._all(
            "SELECT origins FROM api_keys WHERE scope = 'tracker' AND revoked_at IS NULL"
        )
        return {origin for (text,) in rows for origin in str(text).split()}

    def revoke_api_key(self, prefix: str) -> bool:
        with self._transaction() as conn:
            cur = conn.execute(
                "UPDATE api_keys SET revoked_at = now() WHERE prefix = %s AND revoked_at IS NULL",
                (prefix,),
            )
            return cur.rowcount > 0

    # -- goals and messages -------------------------------------------------------------

    def create_goal(self, goal: NewGoal) -> Goal:
        with self._transaction() as conn:
            # Numbering per account: lock the account row so processes take turns.
            if (
                conn.execute(
                    "SELECT 1 FROM accounts WHERE id = %s FOR UPDATE", (goal.account_id,)
                ).fetchone()
                is None
            ):
                raise Conflict(f"Account {goal.account_id} does not exist.")
            goal_id = goal.id
            if goal_id is None:
                row = conn.execute(
                    "SELECT coalesce(max(id), 0) + 1 FROM goals WHERE account_id = %s",
                    (goal.account_id,),
                ).fetchone()
                assert row is not None
                goal_id = int(row[0])
            inserted = conn.execute(
                "INSERT INTO goals (account_id, id, name, counting, window_days, default_value,"
                " created_at) VALUES (%s, %s, %s, %s, %s, %s, now())"
                " ON CONFLICT (account_id, id) DO NOTHING RETURNING created_at",
                (
                    goal.account_id,
                    goal_id,
                    goal.name,
                    goal.counting.value,
                    goal.window_days,
                    goal.default_value,
                ),
            ).fetchone()
            if inserted is None:
                raise Conflict(f"Goal {goal_id} already exists.")
        return Goal(
            goal.account_id,
            goal_id,
            goal.name,
            goal.counting,
            goal.window_days,
            goal.default_value,
            inserted[0],
        )

    @staticmethod
    def _goal(row: tuple[Any, ...]) -> Goal:
        return Goal(
            int(row[0]),
            int(row[1]),
            str(row[2]),
            Counting(row[3]),
            None if row[4] is None else int(row[4]),
            int(row[5]),
            row[6],
        )

    def get_goal(self, account_id: int, goal_id: int) -> Goal | None:
        row = self._one(
            f"SELECT {_GOAL_COLUMNS} FROM goals WHERE account_id = %s AND id = %s",
            (account_id, goal_id),
        )
        return None if row is None else self._goal(row)

    def list_goals(self, account_id: int) -> list[Goal]:
        rows = self._all(
            f"SELECT {_GOAL_COLUMNS} FROM goals WHERE account_id = %s ORDER BY id", (account_id,)
        )
        return [self._goal(r) for r in rows]

    def create_message(
        self,
        account_id: int,
        name: str,
        channel: Channel,
        list_name: str | None = None,
        sent_at: dt.datetime | None = None,
    ) -> Message:
        with self._transaction() as conn:
            if (
                conn.execute(
                    "SELECT 1 FROM accounts WHERE id = %s FOR UPDATE", (account_id,)
                ).fetchone()
                is None
            ):
                raise Conflict(f"Account {account_id} does not exist.")
            row = conn.execute(
                "INSERT INTO messages (account_id, id, name, channel, list, sent_at, created_at)"
                " SELECT %s, coalesce(max(id), 0) + 1, %s, %s, %s, %s, now()"
                " FROM messages WHERE account_id = %s RETURNING id",
                (account_id, name, channel.value, list_name, sent_at, account_id),
            ).fetchone()
        assert row is not None
        return Message(account_id, int(row[0]), name, channel, list_name, sent_at)

    @staticmethod
    def _message(row: tuple[Any, ...]) -> Message:
        return Message(int(row[0]), int(row[1]), str(row[2]), Channel(row[3]), row[4], row[5])

    def get_message(self, account_id: int, message_id: int) -> Message | None:
        row = self._one(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE account_id = %s AND id = %s",
            (account_id, message_id),
        )
        return None if row is None else self._message(row)

    def find_message(self, account_id: int, name: str, channel: Channel) -> Message | None:
        row = self._one(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages"
            " WHERE account_id = %s AND name = %s AND channel = %s ORDER BY id LIMIT 1",
            (account_id, name, channel.value),
        )
        return None if row is None else self._message(row)

    def list_messages(self, account_id: int, limit: int = 1000) -> list[Message]:
        rows = self._all(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE account_id = %s ORDER BY id LIMIT %s",
            (account_id, limit),
        )
        return [self._message(r) for r in rows]

    # -- the GUID registry --------------------------------------------------------------

    def add_recipients(self, rows: Sequence[Recipient]) -> int:
        added = 0
        with self._transaction() as conn:
            for start in range(0, len(rows), 5000):
                chunk = rows[start : start + 5000]
                cur = conn.execute(
                    "INSERT INTO recipients (guid, account_id, message_id, subscriber_id, list,"
                    " channel, sent_at) SELECT * FROM unnest(%s::uuid[], %s::bigint[],"
                    " %s::bigint[], %s::text[], %s::text[], %s::text[], %s::timestamptz[])"
                    " ON CONFLICT (guid) DO NOTHING"
                    " RETURNING account_id, message_id, channel, sent_at",
                    (
                        [r.guid for r in chunk],
                        [r.account_id for r in chunk],
                        [r.message_id for r in chunk],
                        [r.subscriber_id for r in chunk],
                        [r.list for r in chunk],
                        [r.channel.value for r in chunk],
                        [r.sent_at for r in chunk],
                    ),
                )
                new = cur.fetchall()
                self._count_sends(conn, new)
                added += len(new)
        return added

    def get_recipient(self, guid: bytes) -> Recipient | None:
        row = self._one(
            "SELECT guid, account_id, message_id, subscriber_id, channel, sent_at, list"
            " FROM recipients WHERE guid = %s",
            (uuid.UUID(bytes=guid),),
        )
        if row is None:
            return None
        return Recipient(row[0], int(row[1]), int(row[2]), row[3], Channel(row[4]), row[5], row[6])

    def count_recipients(self, account_id: int) -> int:
        row = self._one("SELECT count(*) FROM recipients WHERE account_id = %s", (account_id,))
        return int(row[0]) if row else 0

    # -- fulfillments (the hot path) ----------------------------------------------------

    def _writer_connection(self) -> Connection:
        conn = self._writer_conn
        if conn is not None and (conn.closed or conn.broken):
            conn.close()
            conn = None
        if conn is not None and time.monotonic() - self._writer_used > CHECK_IDLE_SECONDS:
            try:
                conn.execute("")
            except psycopg.Error:
                conn.close()
                conn = None
        if conn is None:
            conn = connect(self.url)
        self._writer_conn = conn
        return conn

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
                    with conn.transaction():  # the counters commit with the rows
                        rows = _write_outcomes(batch, conn.execute(_WRITE_BATCH, params))
                        self._count_stored(conn, *_stored_ids(batch, rows))
                    self._writer_used = time.monotonic()
                    break
                except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure):
                    # The statement was rolled back whole: trying again is safe.
                    if attempt == 2:
                        raise StorageUnavailable(message="database busy") from None
                except psycopg.OperationalError as exc:
                    if self._writer_conn is not None and (
                        self._writer_conn.closed or self._writer_conn.broken
                    ):
                        self._writer_conn.close()
                        self._writer_conn = None
                    raise unavailable(exc) from exc
        outcomes: list[WriteOutcome] = []
        for _ord, guid_ok, goal_ok, new_id, bound_id in rows:
            if not guid_ok:
                outcomes.append(MessageGuidNotRecognized())
            elif not goal_ok:
                outcomes.append(GoalNotRecognized())
            elif bound_id is None or bound_id == new_id:
                outcomes.append(Stored(int(new_id)))
            else:
                outcomes.append(Stored(int(bound_id), duplicate=True))
        return outcomes

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

    def lease_rate_tokens(self, key_id: int, second: int, want: int, limit: int) -> int:
        """Take up to ``want`` of the window's ``limit`` tokens; how many were granted."""
        with self._transaction() as conn:
            conn.execute("SET LOCAL synchronous_commit = off")  # an unlogged counter
            row = conn.execute(
                "INSERT INTO rate_counters (key_id, second, count) VALUES (%s, %s, 0)"
                " ON CONFLICT (key_id, second) DO UPDATE SET count = rate_counters.count"
                " RETURNING count, xmax = 0",
                (key_id, second),
            ).fetchone()
            assert row is not None
            used, inserted = int(row[0]), bool(row[1])
            granted = max(0, min(want, limit - used))
            if granted:
                conn.execute(
                    "UPDATE rate_counters SET count = count + %s WHERE key_id = %s AND second = %s",
                    (granted, key_id, second),
                )
            if inserted:
                conn.execute("DELETE FROM rate_counters WHERE second < %s", (second - 60,))
        return granted

    def count_fulfillments(self, account_id: int | None = None) -> int:
        if account_id is None:
            row = self._one("SELECT count(*) FROM fulfillments")
        else:
            row = self._one(
                "SELECT count(*) FROM fulfillments WHERE account_id = %s", (account_id,)
            )
        return int(row[0]) if row else 0


def _write_outcomes(
    batch: Sequence[FulfillmentRequest], result: Iterable[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """(ord, guid_ok, goal_ok, new_id, bound_id) per request, from _WRITE_BATCH's rows.

    The statement answers its per-request rows, then the claimed keys with the id each
    is bound to; matching them here keeps the statement free of a join whose size the
    planner cannot foresee.
    """
    items: list[tuple[Any, ...]] = []
    bound: dict[tuple[int, str], int] = {}
    for part, ord_, guid_ok, goal_ok, new_id, account_id, key in result:
        if part == 0:
            items.append((ord_, guid_ok, goal_ok, new_id))
        else:
            bound[(int(account_id), key)] = int(new_id)
    out: list[tuple[Any, ...]] = []
    for ord_, guid_ok, goal_ok, new_id in items:
        request = batch[int(ord_) - 1]
        key = request.idempotency_key
        bound_id = None
        if new_id is not None and key is not None:
            bound_id = bound.get((request.account_id, key))
        out.append((ord_, guid_ok, goal_ok, new_id, bound_id))
    return out


def _stored_ids(
    batch: Sequence[FulfillmentRequest], rows: Sequence[tuple[Any, ...]]
) -> tuple[list[int], list[int]]:
    """(account ids, fulfillment ids) of the rows a _WRITE_BATCH stored (not duplicates)."""
    accounts: list[int] = []
    ids: list[int] = []
    for ord_, guid_ok, goal_ok, new_id, bound_id in rows:
        if guid_ok and goal_ok and (bound_id is None or bound_id == new_id):
            accounts.append(batch[int(ord_) - 1].account_id)
            ids.append(int(new_id))
    return accounts, ids


def _batch_params(batch: Sequence[FulfillmentRequest], idempotency_hours: int) -> dict[str, Any]:
    """The columns of a batch as arrays, for unnest()."""
    return {
        "account_id": [r.account_id for r in batch],
        "goal_id": [r.goal_id for r in batch],
        "guid": [uuid.UUID(bytes=r.guid) for r in batch],
        "channel": [
            None if r.channel is None or r.channel is Channel.ALL else r.channel.value
            for r in batch
        ],
        "value": [r.value for r in batch],
        "source": [r.source.value for r in batch],
        "key": [r.idempotency_key for r in batch],
        "occurred_at": [r.occurred_at for r in batch],
        "window": dt.timedelta(hours=idempotency_hours),
    }


def _split_sql(script: str) -> list[str]:
    """Statements of a migration file (no semicolons inside statements by convention)."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
