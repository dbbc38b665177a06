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
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

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
    utcnow,
)
from goalkeeper.store.base import (
    CheckOutcome,
    FulfillmentRow,
    Migration,
    NewGoal,
    WriteOutcome,
    migrations,
)
from goalkeeper.store.counting import Counted, in_window
from goalkeeper.store.sqlite_reports import SqliteReports

UTC = dt.UTC

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


def ts(value: dt.datetime) -> str:
    """A datetime as the UTC text stored in SQLite."""
    return value.astimezone(UTC).isoformat(sep=" ", timespec="microseconds")[:26]


def parse_ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


class SqliteStore(SqliteReports):
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
            raise StorageUnavailable(message=f"cannot open {path}: {exc.strerror}") from None

    # -- connections ------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

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
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, exclusive across threads and processes."""
        conn = self._conn()
        with self._write_lock:
            assert self._lock_fd is not None, "store is closed"
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                raise StorageUnavailable(message=f"database error: {exc}") from exc
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

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
            raise StorageUnavailable(message=f"database error: {exc}") from exc
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
                "SELECT id, account_id, prefix, scope, origins, rate_limit FROM api_keys"
                " WHERE key_hash = ? AND revoked_at IS NULL",
                (key_hash,),
            )
            .fetchone()
        )
        if row is None:
            return None
        return ApiKey(row[0], row[1], row[2], Scope(row[3]), tuple(row[4].split()), row[5])

    def list_api_keys(self, account_id: int, scope: Scope) -> list[ApiKey]:
        rows = self._read().execute(
            "SELECT id, account_id, prefix, scope, origins, rate_limit FROM api_keys"
            " WHERE account_id = ? AND scope = ? AND revoked_at IS NULL ORDER BY id",
            (account_id, scope.value),
        )
        return [ApiKey(r[0], r[1], r[2], Scope(r[3]), tuple(r[4].split()), r[5]) for r in rows]

    def tracker_origins(self) -> set[str]:
        """Every origin allowed by an active tracker key (for CORS preflights)."""
        rows = self._read().execute(
            "SELECT origins FROM api_keys WHERE scope = 'tracker' AND revoked_at IS NULL"
        )
        return {origin for (text,) in rows for origin in text.split()}

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

    def list_messages(self, account_id: int, limit: int = 1000) -> list[Message]:
        rows = self._read().execute(
            "SELECT account_id, id, name, channel, list, sent_at FROM messages"
            " WHERE account_id = ? ORDER BY id LIMIT ?",
            (account_id, limit),
        )
        return [self._message(r) for r in rows]

    # -- the GUID registry --------------------------------------------------------------

    def add_recipients(self, rows: Sequence[Recipient]) -> int:
        with self._write() as conn:
            before = conn.total_changes
            rows = self._new_recipients(conn, rows)
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
            return inserted

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
            recipients = self._recipients_of(conn, batch)

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
                if (
                    row is None
                    or row[0] != req.account_id
                    or (
                        req.channel is not None
                        and req.channel is not Channel.ALL
                        and row[3] != req.channel.value
                    )
                ):
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
            self._count_fulfillments(conn, counted)
        return [outcome for outcome in outcomes if outcome is not None]

    @staticmethod
    def _recipients_of(
        conn: sqlite3.Connection, batch: Sequence[FulfillmentRequest]
    ) -> dict[bytes, Any]:
        """guid -> [account_id, message_id, subscriber_id, channel, sent_at] for the batch.

        The rows come back as one JSON text: fetching them one by one would release and
        retake the GIL once a row.
        """
        guids = list({req.guid for req in batch})
        found: dict[bytes, Any] = {}
        start = 0
        for size in _chunk_sizes(len(guids), _LOOKUP_GUIDS):
            chunk = guids[start : start + size]
            start += size
            (text,) = conn.execute(
                "SELECT json_group_array(json_array(hex(guid), account_id, message_id,"
                " subscriber_id, channel, sent_at))"
                f" FROM recipients WHERE guid IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchone()
            for row in json.loads(text):
                found[bytes.fromhex(row[0])] = row[1:]
        return found

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
            if (
                row is None
                or row[0] != req.account_id
                or (
                    req.channel is not None
                    and req.channel is not Channel.ALL
                    and row[1] != req.channel.value
                )
            ):
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
