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
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg

from goalkeeper.errors import Conflict, SchemaOutdated
from goalkeeper.model import ApiKey, Channel, Counting, Goal, Message, Recipient, Scope
from goalkeeper.store.base import (
    KEY_COLUMNS,
    Migration,
    NewGoal,
    Registered,
    api_key_of,
    migrations,
    same_send,
    taken_error,
    unique_sends,
)
from goalkeeper.store.postgres_fulfillments import PostgresFulfillments
from goalkeeper.store.postgres_pool import Connection, Pool, mapped_errors

# pg_advisory_xact_lock key serialising schema upgrades across processes ("gkmigrat").
_MIGRATION_LOCK = 0x676B6D6967726174
_GOAL_COLUMNS = "account_id, id, name, counting, window_days, default_value, created_at"
_MESSAGE_COLUMNS = "account_id, id, name, channel, list, sent_at"


class PostgresStore(PostgresFulfillments):
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
            f"SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = %s AND revoked_at IS NULL",
            (key_hash,),
        )
        if row is None:
            return None
        return api_key_of(row)

    def list_api_keys(self, account_id: int, scope: Scope) -> list[ApiKey]:
        rows = self._all(
            f"SELECT {KEY_COLUMNS} FROM api_keys"
            f" WHERE account_id = %s AND scope = %s AND revoked_at IS NULL ORDER BY id",
            (account_id, scope.value),
        )
        return [api_key_of(r) for r in rows]

    def tracker_origins(self) -> set[str]:
        """Every origin allowed by an active tracker key (for CORS preflights)."""
        rows = self._all(
            "SELECT origins FROM api_keys WHERE scope = 'tracker' AND revoked_at IS NULL"
        )
        return {origin for (text,) in rows for origin in str(text).split()}

    def create_session(
        self, account_id: int, token_hash: bytes, key_id: int, expires_at: dt.datetime
    ) -> None:
        with self._transaction() as conn:
            conn.execute(
                "DELETE FROM dashboard_sessions WHERE account_id = %s AND expires_at <= now()",
                (account_id,),
            )
            conn.execute(
                "INSERT INTO dashboard_sessions (account_id, token_hash, key_id, created_at,"
                " expires_at) VALUES (%s, %s, %s, now(), %s)",
                (account_id, token_hash, key_id, expires_at),
            )

    def find_session(self, account_id: int, token_hash: bytes) -> ApiKey | None:
        row = self._one(
            f"SELECT {KEY_COLUMNS} FROM api_keys WHERE revoked_at IS NULL AND id ="
            " (SELECT key_id FROM dashboard_sessions"
            " WHERE account_id = %s AND token_hash = %s AND expires_at > now())",
            (account_id, token_hash),
        )
        if row is None:
            return None
        return api_key_of(row)

    def delete_session(self, account_id: int, token_hash: bytes) -> None:
        with self._transaction() as conn:
            conn.execute(
                "DELETE FROM dashboard_sessions WHERE account_id = %s AND token_hash = %s",
                (account_id, token_hash),
            )

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

    def delete_empty_message(self, account_id: int, message_id: int) -> bool:
        with self._transaction() as conn:
            cur = conn.execute(
                "DELETE FROM messages WHERE account_id = %s AND id = %s AND NOT EXISTS"
                " (SELECT 1 FROM recipients WHERE account_id = %s AND message_id = %s)",
                (account_id, message_id, account_id, message_id),
            )
            return cur.rowcount > 0

    def list_messages(self, account_id: int, limit: int = 1000, after: int = 0) -> list[Message]:
        rows = self._all(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE account_id = %s AND id > %s"
            " ORDER BY id LIMIT %s",
            (account_id, after, limit),
        )
        return [self._message(r) for r in rows]

    # -- the GUID registry --------------------------------------------------------------

    def add_recipients(self, rows: Sequence[Recipient], refuse_taken: bool = False) -> Registered:
        unique, taken = unique_sends(rows)
        if taken and refuse_taken:
            raise taken_error(taken[0])
        rows = list(unique.values())
        added = 0
        with self._transaction() as conn:
            for start in range(0, len(rows), 5000):
                chunk = rows[start : start + 5000]
                cur = conn.execute(
                    "INSERT INTO recipients (guid, account_id, message_id, subscriber_id, list,"
                    " channel, sent_at) SELECT * FROM unnest(%s::uuid[], %s::bigint[],"
                    " %s::bigint[], %s::text[], %s::text[], %s::text[], %s::timestamptz[])"
                    " ON CONFLICT (guid) DO NOTHING"
                    " RETURNING account_id, message_id, channel, sent_at, guid",
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
                for row in new:
                    del unique[row[4].bytes]
            if unique:
                # Skipped by ON CONFLICT, which waited for any transaction inserting the
                # same GUID: the rows it kept are committed and visible now.
                for guid, account_id, message_id, subscriber_id in conn.execute(
                    "SELECT guid, account_id, message_id, subscriber_id FROM recipients"
                    " WHERE guid = ANY(%s)",
                    ([uuid.UUID(bytes=g) for g in unique],),
                ):
                    known = unique[guid.bytes]
                    if not same_send(known, int(account_id), int(message_id), subscriber_id):
                        taken.append(known)
                if taken and refuse_taken:
                    raise taken_error(taken[0])
        return Registered(added, taken)

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

    # -- rate limits --------------------------------------------------------------------

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


def _split_sql(script: str) -> list[str]:
    """Statements of a migration file (no semicolons inside statements by convention)."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
