"""The embedded SQLite store (the zero-set-up default).

WAL journal, ``synchronous=FULL`` (a commit is on disk before it returns), one
connection per thread. Every write transaction holds an exclusive ``flock`` on a lock
file beside the database, so several goalkeeper processes can share one file without
SQLite's busy-retry sleeps.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from goalkeeper.errors import Conflict, SchemaOutdated, StorageUnavailable
from goalkeeper.model import (
    ApiKey,
    Channel,
    Counting,
    Goal,
    Message,
    Recipient,
    Scope,
    utcnow,
)
from goalkeeper.store.base import (
    KEY_COLUMNS,
    Migration,
    NewGoal,
    Registered,
    api_key_of,
    migrations,
    taken_error,
)
from goalkeeper.store.sqlite_fulfillments import SqliteFulfillments
from goalkeeper.store.sqlite_reports import parse_ts, ts


class SqliteStore(SqliteFulfillments):
    dialect = "sqlite"

    def __init__(self, path: str):
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._lock_fd: int | None = None
        # goal -> (counts once per recipient, attribution window in days)
        self._known_goals: dict[tuple[int, int], tuple[bool, int | None]] = {}
        self._migrations = migrations(self.dialect)
        try:
            self._lock_fd = os.open(path + "-lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageUnavailable(detail=f"cannot open {path}: {exc.strerror}") from None

    # -- connections ------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 10000")
            # Turning a new database to WAL takes an exclusive lock that the busy timeout
            # does not wait for: connections opening at once (several processes starting
            # together) take turns under the writers' file lock instead.
            with self._writers_turn():
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def _forget_connection(self) -> None:
        """Close this thread's connection; its next use opens a new one."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            return
        with self._connections_lock:
            if conn in self._connections:
                self._connections.remove(conn)
        del self._local.conn
        self._local.writer_cache = False
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    def close(self) -> None:
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @contextlib.contextmanager
    def _writers_turn(self) -> Iterator[None]:
        """Exclusive across this store's threads and across processes on the file."""
        with self._write_lock:
            assert self._lock_fd is not None, "store is closed"
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, exclusive across threads and processes."""
        conn = self._conn()
        with self._writers_turn():
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_READONLY:
                    # A connection that opened the file while it was not writable, or a
                    # file replaced under it, stays read-only: the next transaction
                    # opens a new one, which sees the file as it is then.
                    self._forget_connection()
                raise StorageUnavailable(detail=f"database error on {self.path}: {exc}") from exc

    def _read(self) -> sqlite3.Connection:
        return self._conn()

    # -- schema -------------------------------------------------------------------------

    def latest_version(self) -> int:
        return self._migrations[-1].version

    def schema_version(self) -> int:
        conn = self._read()
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        if not exists:
            return 0
        row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    def upgrade(self, progress: Callable[[Migration], None] | None = None) -> list[Migration]:
        applied: list[Migration] = []
        with self._write() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            current = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] or 0
            for migration in self._migrations:
                if migration.version <= current:
                    continue
                if progress:
                    progress(migration)
                for statement in _split_sql(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, ts(utcnow())),
                )
                applied.append(migration)
        return applied

    def ping(self) -> None:
        try:
            self._read().execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            raise StorageUnavailable(detail=f"database error: {exc}") from exc
        version = self.schema_version()
        if version != self.latest_version():
            raise SchemaOutdated(version, self.latest_version())

    # -- accounts and keys --------------------------------------------------------------

    def create_account(self, name: str) -> int:
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO accounts (name, created_at) VALUES (?, ?)", (name, ts(utcnow()))
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

    def create_first_account(self, name: str) -> int | None:
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM accounts LIMIT 1").fetchone():
                return None
            cur = conn.execute(
                "INSERT INTO accounts (name, created_at) VALUES (?, ?)", (name, ts(utcnow()))
            )
            return cur.lastrowid

    def account_ids(self) -> list[int]:
        return [r[0] for r in self._read().execute("SELECT id FROM accounts ORDER BY id")]

    def insert_api_key(
        self,
        account_id: int,
        prefix: str,
        key_hash: bytes,
        scope: Scope,
        origins: Sequence[str] = (),
        rate_limit: int | None = None,
    ) -> ApiKey:
        with self._write() as conn:
            if not conn.execute("SELECT 1 FROM accounts WHERE id = ?", (account_id,)).fetchone():
                raise Conflict(f"Account {account_id} does not exist.")
            cur = conn.execute(
                "INSERT INTO api_keys (account_id, prefix, key_hash, scope, origins, rate_limit,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    account_id,
                    prefix,
                    key_hash,
                    scope.value,
                    " ".join(origins),
                    rate_limit,
                    ts(utcnow()),
                ),
            )
            assert cur.lastrowid is not None
            return ApiKey(cur.lastrowid, account_id, prefix, scope, tuple(origins), rate_limit)

    def find_api_key(self, key_hash: bytes) -> ApiKey | None:
        row = (
            self._read()
            .execute(
                f"SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
                (key_hash,),
            )
            .fetchone()
        )
        if row is None:
            return None
        return api_key_of(row)

    def list_api_keys(self, account_id: int, scope: Scope) -> list[ApiKey]:
        rows = self._read().execute(
            f"SELECT {KEY_COLUMNS} FROM api_keys"
            f" WHERE account_id = ? AND scope = ? AND revoked_at IS NULL ORDER BY id",
            (account_id, scope.value),
        )
        return [api_key_of(r) for r in rows]

    def tracker_origins(self) -> set[str]:
        """Every origin allowed by an active tracker key (for CORS preflights)."""
        rows = self._read().execute(
            "SELECT origins FROM api_keys WHERE scope = 'tracker' AND revoked_at IS NULL"
        )
        return {origin for (text,) in rows for origin in text.split()}

    def create_session(
        self, account_id: int, token_hash: bytes, key_id: int, expires_at: dt.datetime
    ) -> None:
        now = ts(utcnow())
        with self._write() as conn:
            conn.execute(
                "DELETE FROM dashboard_sessions WHERE account_id = ? AND expires_at <= ?",
                (account_id, now),
            )
            conn.execute(
                "INSERT INTO dashboard_sessions (account_id, token_hash, key_id, created_at,"
                " expires_at) VALUES (?, ?, ?, ?, ?)",
                (account_id, token_hash, key_id, now, ts(expires_at)),
            )

    def find_session(self, account_id: int, token_hash: bytes) -> ApiKey | None:
        row = (
            self._read()
            .execute(
                f"SELECT {KEY_COLUMNS} FROM api_keys WHERE revoked_at IS NULL AND id ="
                " (SELECT key_id FROM dashboard_sessions"
                " WHERE account_id = ? AND token_hash = ? AND expires_at > ?)",
                (account_id, token_hash, ts(utcnow())),
            )
            .fetchone()
        )
        if row is None:
            return None
        return api_key_of(row)

    def delete_session(self, account_id: int, token_hash: bytes) -> None:
        with self._write() as conn:
            conn.execute(
                "DELETE FROM dashboard_sessions WHERE account_id = ? AND token_hash = ?",
                (account_id, token_hash),
            )

    def revoke_api_key(self, prefix: str) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE prefix = ? AND revoked_at IS NULL",
                (ts(utcnow()), prefix),
            )
            return cur.rowcount > 0

    # -- goals and messages -------------------------------------------------------------

    def create_goal(self, goal: NewGoal) -> Goal:
        created = utcnow()
        with self._write() as conn:
            goal_id = goal.id
            if goal_id is None:
                row = conn.execute(
                    "SELECT coalesce(max(id), 0) + 1 FROM goals WHERE account_id = ?",
                    (goal.account_id,),
                ).fetchone()
                goal_id = int(row[0])
            try:
                conn.execute(
                    "INSERT INTO goals (account_id, id, name, counting, window_days, default_value,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        goal.account_id,
                        goal_id,
                        goal.name,
                        goal.counting.value,
                        goal.window_days,
                        goal.default_value,
                        ts(created),
                    ),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"Goal {goal_id} already exists.") from None
        return Goal(
            goal.account_id,
            goal_id,
            goal.name,
            goal.counting,
            goal.window_days,
            goal.default_value,
            created,
        )

    _GOAL_COLUMNS = "account_id, id, name, counting, window_days, default_value, created_at"

    @staticmethod
    def _goal(row: Any) -> Goal:
        return Goal(
            int(row[0]),
            int(row[1]),
            str(row[2]),
            Counting(row[3]),
            None if row[4] is None else int(row[4]),
            int(row[5]),
            parse_ts(str(row[6])),
        )

    def get_goal(self, account_id: int, goal_id: int) -> Goal | None:
        row = (
            self._read()
            .execute(
                f"SELECT {self._GOAL_COLUMNS} FROM goals WHERE account_id = ? AND id = ?",
                (account_id, goal_id),
            )
            .fetchone()
        )
        return None if row is None else self._goal(row)

    def list_goals(self, account_id: int) -> list[Goal]:
        rows = self._read().execute(
            f"SELECT {self._GOAL_COLUMNS} FROM goals WHERE account_id = ? ORDER BY id",
            (account_id,),
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
        with self._write() as conn:
            row = conn.execute(
                "SELECT coalesce(max(id), 0) + 1 FROM messages WHERE account_id = ?", (account_id,)
            ).fetchone()
            message_id = int(row[0])
            conn.execute(
                "INSERT INTO messages (account_id, id, name, channel, list, sent_at, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    account_id,
                    message_id,
                    name,
                    channel.value,
                    list_name,
                    None if sent_at is None else ts(sent_at),
                    ts(utcnow()),
                ),
            )
        return Message(account_id, message_id, name, channel, list_name, sent_at)

    @staticmethod
    def _message(row: Any) -> Message:
        return Message(
            int(row[0]),
            int(row[1]),
            str(row[2]),
            Channel(row[3]),
            None if row[4] is None else str(row[4]),
            None if row[5] is None else parse_ts(str(row[5])),
        )

    def get_message(self, account_id: int, message_id: int) -> Message | None:
        row = (
            self._read()
            .execute(
                "SELECT account_id, id, name, channel, list, sent_at FROM messages"
                " WHERE account_id = ? AND id = ?",
                (account_id, message_id),
            )
            .fetchone()
        )
        return None if row is None else self._message(row)

    def find_message(self, account_id: int, name: str, channel: Channel) -> Message | None:
        row = (
            self._read()
            .execute(
                "SELECT account_id, id, name, channel, list, sent_at FROM messages"
                " WHERE account_id = ? AND name = ? AND channel = ? ORDER BY id LIMIT 1",
                (account_id, name, channel.value),
            )
            .fetchone()
        )
        return None if row is None else self._message(row)

    def delete_empty_message(self, account_id: int, message_id: int) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                "DELETE FROM messages WHERE account_id = ? AND id = ? AND NOT EXISTS"
                " (SELECT 1 FROM recipients WHERE account_id = ? AND message_id = ?)",
                (account_id, message_id, account_id, message_id),
            )
            return cur.rowcount > 0

    def list_messages(self, account_id: int, limit: int = 1000, after: int = 0) -> list[Message]:
        rows = self._read().execute(
            "SELECT account_id, id, name, channel, list, sent_at FROM messages"
            " WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?",
            (account_id, after, limit),
        )
        return [self._message(r) for r in rows]

    # -- the GUID registry --------------------------------------------------------------

    def add_recipients(self, rows: Sequence[Recipient], refuse_taken: bool = False) -> Registered:
        with self._write() as conn:
            before = conn.total_changes
            rows, taken = self._new_recipients(conn, rows)
            if taken and refuse_taken:
                raise taken_error(taken[0])
            conn.executemany(
                "INSERT INTO recipients (guid, account_id, message_id, subscriber_id, list,"
                " channel, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (guid) DO NOTHING",
                [
                    (
                        r.guid.bytes,
                        r.account_id,
                        r.message_id,
                        r.subscriber_id,
                        r.list,
                        r.channel.value,
                        ts(r.sent_at),
                    )
                    for r in rows
                ],
            )
            inserted = conn.total_changes - before
            self._count_sends(conn, rows)
            return Registered(inserted, taken)

    def get_recipient(self, guid: bytes) -> Recipient | None:
        row = (
            self._read()
            .execute(
                "SELECT guid, account_id, message_id, subscriber_id, channel, sent_at, list"
                " FROM recipients WHERE guid = ?",
                (guid,),
            )
            .fetchone()
        )
        if row is None:
            return None
        return Recipient(
            uuid.UUID(bytes=row[0]),
            row[1],
            row[2],
            row[3],
            Channel(row[4]),
            parse_ts(row[5]),
            row[6],
        )

    def count_recipients(self, account_id: int) -> int:
        row = (
            self._read()
            .execute("SELECT count(*) FROM recipients WHERE account_id = ?", (account_id,))
            .fetchone()
        )
        return int(row[0])

    # -- rate limits --------------------------------------------------------------------

    def lease_rate_tokens(self, key_id: int, second: int, want: int, limit: int) -> int:
        """Take up to ``want`` of the window's ``limit`` tokens; how many were granted."""
        conn = self._conn()
        conn.execute("PRAGMA synchronous = OFF")  # counters are worthless after a crash
        try:
            with self._write() as conn:
                row = conn.execute(
                    "SELECT count FROM rate_counters WHERE key_id = ? AND second = ?",
                    (key_id, second),
                ).fetchone()
                used = 0 if row is None else int(row[0])
                granted = max(0, min(want, limit - used))
                if granted:
                    conn.execute(
                        "INSERT INTO rate_counters (key_id, second, count) VALUES (?, ?, ?)"
                        " ON CONFLICT (key_id, second) DO UPDATE SET count = count + excluded.count",
                        (key_id, second, granted),
                    )
                if row is None:
                    conn.execute("DELETE FROM rate_counters WHERE second < ?", (second - 60,))
        finally:
            conn.execute("PRAGMA synchronous = FULL")
        return granted


def _split_sql(script: str) -> list[str]:
    """Statements of a migration file (no semicolons inside statements by convention)."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
