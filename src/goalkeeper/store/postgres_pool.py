"""PostgreSQL connections for the store: opened on demand, failures mapped to 503.

Deliberately no background threads: a connection is opened by the caller that needs
one, so while the server is down every caller gets a refused connect (milliseconds)
and the retryable :class:`~goalkeeper.errors.StorageUnavailable`, and the first caller
after it is back simply connects again.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from goalkeeper.errors import StorageUnavailable

Connection = psycopg.Connection[tuple[Any, ...]]

# A pooled connection idle longer than this is checked before use: the server may have
# restarted meanwhile, and a stale connection must not turn into a failed request.
CHECK_IDLE_SECONDS = 1.0
CONNECT_OPTIONS: dict[str, Any] = {
    "connect_timeout": 2,  # libpq's minimum; a refused connection fails at once anyway
    "application_name": "goalkeeper",
    # A row or advisory lock held by a stuck client elsewhere turns into a 503 after a
    # few seconds instead of holding requests indefinitely.
    "options": "-c TimeZone=UTC -c lock_timeout=5s",
    # A server that vanishes without closing the socket is noticed within seconds.
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 2,
    "tcp_user_timeout": 5000,
}


def unavailable(exc: BaseException) -> StorageUnavailable:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return StorageUnavailable(detail=f"database unavailable: {text}")


@contextlib.contextmanager
def mapped_errors() -> Iterator[None]:
    """Connection-level failures become the retryable 503 of the error family."""
    try:
        yield
    except psycopg.OperationalError as exc:
        raise unavailable(exc) from exc


class Pool:
    """At most ``size`` connections per process, opened on demand by the caller.

    Deliberately simple: no background threads, so a dead server costs each caller one
    refused connect (milliseconds), and a live one is used again the moment it answers.
    """

    def __init__(self, url: str, size: int, timeout: float):
        self._url = url
        self._size = max(1, size)
        self._timeout = timeout
        self._idle: list[tuple[Connection, float]] = []
        self._count = 0
        self._cond = threading.Condition(threading.Lock())
        self._closed = False

    def get(self) -> Connection:
        deadline = time.monotonic() + self._timeout
        conn: Connection | None = None
        since = 0.0
        with self._cond:
            while True:
                if self._closed:
                    raise StorageUnavailable(detail="store is closed")
                if self._idle:
                    conn, since = self._idle.pop()
                    break
                if self._count < self._size:
                    self._count += 1
                    break
                left = deadline - time.monotonic()
                if left <= 0 or not self._cond.wait(left):
                    raise StorageUnavailable(detail="no database connection free in time")
        try:
            conn = reuse_or_connect(conn, since, self._url)
        except BaseException:
            self._forget()
            raise
        return conn

    def put(self, conn: Connection) -> None:
        healthy = (
            not conn.closed
            and not conn.broken
            and conn.info.transaction_status == TransactionStatus.IDLE
        )
        with self._cond:
            if healthy and not self._closed:
                self._idle.append((conn, time.monotonic()))
                self._cond.notify()
                return
        conn.close()
        self._forget()

    def _forget(self) -> None:
        with self._cond:
            self._count -= 1
            self._cond.notify()

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        conn = self.get()
        try:
            yield conn
        finally:
            self.put(conn)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
        for conn, _ in idle:
            conn.close()


def reuse_or_connect(
    conn: Connection | None, last_used: float, url: str, settings: str = ""
) -> Connection:
    """``conn`` if it is still usable (checked with a round trip after an idle second),
    else a new connection: the server may have restarted while it sat unused."""
    if conn is not None and (conn.closed or conn.broken):
        conn.close()
        conn = None
    if conn is not None and time.monotonic() - last_used > CHECK_IDLE_SECONDS:
        try:
            conn.execute("")
        except psycopg.Error:
            conn.close()
            conn = None
    return conn if conn is not None else connect(url, settings)


def connect(url: str, settings: str = "") -> Connection:
    """One autocommit connection with goalkeeper's session settings, and ``settings``
    (more ``-c name=value`` options) for this connection alone."""
    options = CONNECT_OPTIONS
    if settings:
        options = {**options, "options": f"{options['options']} {settings}"}
    return psycopg.connect(url, autocommit=True, **options)
