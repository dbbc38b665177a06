"""The group-commit writer in a process of its own (the default).

Python runs one thread at a time (the GIL), so a writer thread inside the server
process takes its turns from the event loop: every row it prepares, every statement it
sends, is time the loop does not spend answering requests. Here the writer runs in a
child process with its own interpreter, and the server process only hands it requests
and reads back outcomes, in frames of many requests each::

    server process (event loop)                  writer process
    ───────────────────────────                  ──────────────
    submit() ─┐
    submit() ─┼─ one frame per loop turn ──────▶ read every frame waiting (≤ batch_max)
    submit() ─┘                                  write them in one transaction, commit
    futures ◀─── one frame per transaction ───── outcomes, batch size, commit time

A :meth:`ProcessWriter.submit_many` hand-over (a JSON batch) travels as one entry with
one future, is written in one transaction whatever ``batch_max`` says, and is answered
with one list: the server pays for one future, not one per item. Nothing is answered
before its transaction committed, as with the thread. The child
ignores SIGINT and SIGTERM: the server stops it with a stop frame once every queued
request is written, and when the server dies it sees the end of the socket, finishes
the batch in hand and exits. If the child dies, the requests in flight answer 503 and
a new child is started.

The child is a fresh interpreter (``python -m goalkeeper.core.writer_process``), so
it shares no database handle with the server process; it gets its settings, database
URL included, over the socket rather than on its command line.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from goalkeeper import errors
from goalkeeper.core.writer import BatchWriter, WriteHealth
from goalkeeper.errors import GoalkeeperError, InternalError, StorageUnavailable
from goalkeeper.model import Channel, FulfillmentRequest, Source, Stored
from goalkeeper.observability import DATABASE_ERRORS
from goalkeeper.store.base import WriteOutcome

log = logging.getLogger("goalkeeper.writer")

_LENGTH = struct.Struct("<I")  # every frame: its length, then a pickle
_READ_SIZE = 1 << 20
_RESTART_SECONDS = 1.0  # at most one new child a second when children keep dying
_STOP_SECONDS = 30.0  # how long stop() waits for the child to write what it holds

# A request on the wire: (account, goal, guid, value, channel, source, key, occurred_at).
_Wire = tuple[int, int, bytes, int, str | None, str, str | None, Any]
# An outcome on the wire: a new row's id; (its id, True) for a duplicate; or
# (error class, message, headers).
_WireOutcome = int | tuple[int, bool] | tuple[str, str, dict[str, str]]
# An entry on the wire: (seq, one request) from submit(), or (seq, [requests]) from
# submit_many(); answered with (seq, outcome), or (seq, [outcomes] or the one error).
_Entry = tuple[int, "_Wire | list[_Wire]"]


def encode_request(r: FulfillmentRequest) -> _Wire:
    """The request as plain values, in FulfillmentRequest's field order."""
    channel = None if r.channel is None else r.channel.value
    return (r.account_id, r.goal_id, r.guid, r.value, channel, r.source.value,
            r.idempotency_key, r.occurred_at)  # fmt: skip


_CHANNELS = {c.value: c for c in Channel}
_SOURCES = {s.value: s for s in Source}


def decode_request(w: _Wire) -> FulfillmentRequest:
    # positional: the wire keeps FulfillmentRequest's field order
    channel = None if w[4] is None else _CHANNELS[w[4]]
    return FulfillmentRequest(w[0], w[1], w[2], w[3], channel, _SOURCES[w[5]], w[6], w[7])


def encode_outcome(outcome: WriteOutcome) -> _WireOutcome:
    if isinstance(outcome, Stored):
        return (outcome.fulfillment_id, True) if outcome.duplicate else outcome.fulfillment_id
    return (type(outcome).__name__, outcome.message, outcome.headers)


def decode_outcome(w: _WireOutcome) -> WriteOutcome:
    if isinstance(w, int):
        return Stored(w)
    if isinstance(w[0], int):
        return Stored(w[0], bool(w[1]))
    name, message, headers = w
    cls = getattr(errors, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, GoalkeeperError)):
        cls = InternalError
    # Built without the subclass's own __init__ (some take other arguments): the
    # message and headers are what crossed the wire.
    error = cls.__new__(cls)
    GoalkeeperError.__init__(error, str(message), headers=dict(headers))
    return error


def _frame(payload: object) -> bytes:
    body = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(body)) + body


def _frames(buffer: bytearray, limit: int | None = None) -> list[Any]:
    """The complete frames (at most ``limit``) at the front of ``buffer``, removed from it."""
    found: list[Any] = []
    start = 0
    size = len(buffer)
    while size - start >= 4 and (limit is None or len(found) < limit):
        (length,) = _LENGTH.unpack_from(buffer, start)
        if size - start - 4 < length:
            break
        found.append(pickle.loads(memoryview(buffer)[start + 4 : start + 4 + length]))
        start += 4 + length
    if start:
        del buffer[:start]
    return found


_Future = "asyncio.Future[WriteOutcome]"


class ProcessWriter:
    """The writer's interface (start, stop, expect, submit, submit_many) over a child."""

    def __init__(
        self,
        database_url: str,
        *,
        batch_max: int = 512,
        batch_wait_us: int = 500,
        idempotency_hours: int = 24,
        on_batch: Callable[[int, float], None] | None = None,
        log_format: str = "text",
        log_level: str = "info",
    ):
        self._child_args = (database_url, batch_max, batch_wait_us, idempotency_hours,
                            log_format, log_level)  # fmt: skip
        self._on_batch = on_batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._process: subprocess.Popen[bytes] | None = None  # the running child
        self._sock: socket.socket | None = None
        self._read_buffer = bytearray()
        self._write_buffer = bytearray()
        self._outgoing: list[_Entry] = []  # submitted, not yet framed
        self._flush_scheduled = False
        self._pending: dict[int, asyncio.Future[Any]] = {}  # sent, not answered
        self._next_seq = 0
        self._expected = 0
        self._stopping = False
        self._closed: asyncio.Future[None] | None = None  # the child's socket ended
        self._last_start = 0.0
        self._restart: asyncio.TimerHandle | None = None
        self.health = WriteHealth()

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._spawn()

    def _spawn(self) -> None:
        loop = self._loop
        assert loop is not None
        self._restart = None
        self._last_start = time.monotonic()
        ours, theirs = socket.socketpair()
        # A fresh interpreter: it shares no database handle with this process, and no
        # main module of the embedding program is run again in it.
        # It imports goalkeeper from wherever this process did, even when that is a
        # path the embedding program added to sys.path itself.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        process = subprocess.Popen(
            [sys.executable, "-m", "goalkeeper.core.writer_process", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            env=env,
        )
        theirs.close()
        ours.setblocking(False)
        self._process = process
        self._sock = ours
        self._closed = loop.create_future()
        self._read_buffer.clear()
        self._write_buffer.clear()
        loop.add_reader(ours.fileno(), self._on_readable)
        # The settings travel on the socket, not on the command line where any user
        # of the machine could read the database URL's password.
        self._send(_frame(("settings", *self._child_args)))
        if self._outgoing:
            self._schedule_flush()

    async def stop(self) -> None:
        """Write and answer everything queued, then end the child."""
        if self._stopping:
            return
        self._stopping = True
        if self._restart is not None:
            self._restart.cancel()
            self._restart = None
        if self._sock is not None:
            self._flush()
            self._send(_frame(("stop",)))
        if self._closed is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._closed), _STOP_SECONDS)
            except TimeoutError:
                log.error("the writer process did not finish within %.0f s", _STOP_SECONDS)
        self._lost()
        process, self._process = self._process, None
        if process is not None:
            try:
                await asyncio.to_thread(process.wait, 5)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)

    def _lost(self) -> None:
        """The child's socket ended: close our end, fail (503) what it had not answered."""
        loop = self._loop
        sock, self._sock = self._sock, None
        if sock is not None and loop is not None:
            loop.remove_reader(sock.fileno())
            if self._write_buffer:
                loop.remove_writer(sock.fileno())
            sock.close()
        self._write_buffer.clear()
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        # Requests not yet framed are failed too: none of them may be written after
        # its client was told 503.
        self._outgoing.clear()
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(StorageUnavailable())

    def _child_died(self) -> None:
        loop = self._loop
        assert loop is not None
        process, self._process = self._process, None
        self._lost()
        code = None
        if process is not None:
            try:
                code = process.wait(1)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
        if self._stopping:
            return
        log.error("the writer process ended (exit code %s); starting a new one", code)
        DATABASE_ERRORS.inc()
        self.health.failed()
        wait = max(0.0, self._last_start + _RESTART_SECONDS - time.monotonic())
        self._restart = loop.call_later(wait, self._spawn)

    # -- the server's side ---------------------------------------------------------------

    def expect(self, delta: int) -> None:
        """Tell the writer a request is on its way (+1) or no longer coming (-1)."""
        self._expected += delta

    def submit(self, request: FulfillmentRequest) -> asyncio.Future[WriteOutcome]:
        """Queue one request; the future is resolved once its transaction has committed
        (a future, not a coroutine: the hot path awaits one layer less)."""
        return self._queue(encode_request(request))

    def _queue(self, wire: _Wire | list[_Wire]) -> asyncio.Future[Any]:
        loop = self._loop
        assert loop is not None, "writer not started"
        if self._stopping:
            raise StorageUnavailable()
        future: asyncio.Future[Any] = loop.create_future()
        seq = self._next_seq
        self._next_seq = seq + 1
        self._pending[seq] = future
        self._outgoing.append((seq, wire))
        if not self._flush_scheduled:
            self._schedule_flush()
        return future

    def _schedule_flush(self) -> None:
        assert self._loop is not None
        self._flush_scheduled = True
        self._loop.call_soon(self._flush)

    async def submit_many(self, requests: Sequence[FulfillmentRequest]) -> list[WriteOutcome]:
        """Queue requests in one hand-over, written in one transaction; outcomes in order.

        A storage failure raises once that transaction has failed.
        """
        if not requests:
            return []
        outcomes: list[WriteOutcome] | GoalkeeperError = await self._queue(
            [encode_request(r) for r in requests]
        )
        if isinstance(outcomes, GoalkeeperError):
            raise outcomes
        assert len(outcomes) == len(requests)
        return outcomes

    def _flush(self) -> None:
        """Everything submitted this loop turn, to the child in one frame."""
        self._flush_scheduled = False
        if not self._outgoing or self._sock is None:
            return  # no child at the moment: sent once the next one starts
        outgoing, self._outgoing = self._outgoing, []
        self._send(_frame(("batch", self._expected, outgoing)))

    def _send(self, data: bytes) -> None:
        sock = self._sock
        if sock is None:
            return
        if self._write_buffer:
            self._write_buffer += data
            return
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            return  # the child is gone: the reader sees the end and fails what is pending
        if sent < len(data):
            self._write_buffer += data[sent:]
            assert self._loop is not None
            self._loop.add_writer(sock.fileno(), self._on_writable)

    def _on_writable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            sent = sock.send(self._write_buffer)
        except BlockingIOError:
            return
        except OSError:
            sent = len(self._write_buffer)
        del self._write_buffer[:sent]
        if not self._write_buffer:
            assert self._loop is not None
            self._loop.remove_writer(sock.fileno())

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            data = sock.recv(_READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._child_died()
            return
        self._read_buffer += data
        for size, seconds, outcomes in _frames(self._read_buffer):
            if self._on_batch is not None and size:
                self._on_batch(size, seconds)
            pending = self._pending
            for seq, wire in outcomes:
                future = pending.pop(seq, None)
                if future is None or future.done():
                    continue
                if type(wire) is list:  # a hand-over's outcomes, new rows' ids mostly
                    future.set_result(
                        [Stored(w) if type(w) is int else decode_outcome(w) for w in wire]
                    )
                else:
                    future.set_result(decode_outcome(wire))
            if outcomes:
                first = outcomes[0][1]
                if type(first) is tuple and first[0] == StorageUnavailable.__name__:
                    DATABASE_ERRORS.inc()  # the whole batch failed: the database is away
                    self.health.failed()
                else:
                    self.health.succeeded()


# -- the child ---------------------------------------------------------------------------


def child_main(fd: int) -> None:
    """The writer process: read frames of requests, write them in batches, answer."""
    # A terminal's Ctrl-C reaches the whole process group: the server decides when the
    # writer stops, after the requests in flight are written.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    buffer = bytearray()
    settings: list[Any] = []
    while not settings:
        data = sock.recv(_READ_SIZE)
        if not data:
            return  # the server went away before it said anything
        buffer.extend(data)
        settings = _frames(buffer, limit=1)
    _, database_url, batch_max, batch_wait_us, idempotency_hours, log_format, log_level = settings[
        0
    ]
    from goalkeeper.observability import configure_logging
    from goalkeeper.store import open_store

    configure_logging(log_format, log_level)
    store = open_store(database_url, pool_size=1)
    try:
        _serve(sock, buffer, BatchWriter(store, idempotency_hours), batch_max, batch_wait_us / 1e6)
    finally:
        store.close()
        sock.close()


def _take_batch(items: list[_Entry], batch_max: int) -> int:
    """How many entries at the front of ``items`` make the next transaction: as many as
    hold ``batch_max`` requests, at least one, and never part of a hand-over."""
    total = 0
    for n, (_, wire) in enumerate(items):
        total += len(wire) if type(wire) is list else 1
        if total > batch_max:
            return n or 1
    return len(items)


def _serve(
    sock: socket.socket, buffer: bytearray, batches: Any, batch_max: int, batch_wait: float
) -> None:
    items: list[_Entry] = []
    queued = 0  # requests in items
    expected = 0
    ended = False  # the server said stop, or its end of the socket closed

    def read(timeout: float | None) -> bool:
        """Read what arrives within ``timeout`` (None: block); False at the end."""
        sock.settimeout(timeout)
        try:
            data = sock.recv(_READ_SIZE)
        except (BlockingIOError, TimeoutError):
            return True
        except OSError:
            return False
        if not data:
            return False
        buffer.extend(data)
        return True

    def take() -> None:
        nonlocal expected, ended, queued
        for frame in _frames(buffer):
            if frame[0] == "batch":
                expected = frame[1]
                entries = frame[2]
                items.extend(entries)
                queued += sum(len(w) if type(w) is list else 1 for _, w in entries)
            else:
                ended = True

    while True:
        take()  # frames already read (the first may have come with the settings)
        if not items:
            if ended:
                return
            if not read(None):
                ended = True
            continue
        if not ended:
            if not read(0):  # whatever else is already waiting
                ended = True
            take()
        if queued < batch_max and expected > 0 and not ended:
            deadline = time.monotonic() + batch_wait
            while queued < batch_max and expected > 0 and not ended:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                before = queued
                if not read(left):
                    ended = True
                take()
                if queued == before:
                    break
        taken = _take_batch(items, batch_max)
        batch, items = items[:taken], items[taken:]
        requests: list[FulfillmentRequest] = []
        for _, wire in batch:
            if isinstance(wire, list):
                requests += map(decode_request, wire)
            else:
                requests.append(decode_request(wire))
        queued -= len(requests)
        started = time.perf_counter()
        result = batches.write(requests)
        seconds = time.perf_counter() - started
        outcomes: list[tuple[int, Any]] = []
        if isinstance(result, GoalkeeperError):
            error = encode_outcome(result)
            outcomes = [(seq, error) for seq, _ in batch]
            if isinstance(result, StorageUnavailable):
                # What queued up while this batch waited for the database (up to its
                # lock timeout) gets the same answer now, not a full wait of its own.
                if not ended and not read(0):
                    ended = True
                take()
                outcomes += [(seq, error) for seq, _ in items]
                items.clear()
                queued = 0
        else:
            at = 0
            for seq, wire in batch:
                if type(wire) is list:
                    end = at + len(wire)
                    outcomes.append((seq, [encode_outcome(o) for o in result[at:end]]))
                    at = end
                else:
                    outcomes.append((seq, encode_outcome(result[at])))
                    at += 1
        try:
            sock.settimeout(None)
            sock.sendall(_frame((len(requests), seconds, outcomes)))
        except OSError:
            ended = True  # the server is gone; what is left is written, never answered


if __name__ == "__main__":
    child_main(int(sys.argv[1]))
