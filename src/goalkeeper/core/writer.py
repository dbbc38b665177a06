"""The group-commit writer: many concurrent requests, one transaction, then the answers.

This is the writer thread (``GOALKEEPER_WRITER=thread``); by default the same batching
runs in a child process, :mod:`goalkeeper.core.writer_process`. Requests hand a
validated :class:`FulfillmentRequest` to :meth:`Writer.submit` and await its outcome.
One thread per process takes whatever is queued (up to ``batch_max``; a
:meth:`Writer.submit_many` hand-over, a JSON batch, is never split), writes it in one
transaction through the store, and only after the commit resolves each request's
future. While the thread commits, new requests queue
up, so batches grow with load on their own; when other requests are known to be on
their way (``expect``), the thread waits up to ``batch_wait_us`` for them, and never
when nothing else is in flight, so a lone request pays no timer.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from goalkeeper.errors import GoalkeeperError, InternalError, StorageUnavailable
from goalkeeper.model import FulfillmentRequest
from goalkeeper.observability import DATABASE_ERRORS
from goalkeeper.store.base import Store, WriteOutcome

log = logging.getLogger("goalkeeper.writer")

_Item = tuple[FulfillmentRequest, "asyncio.Future[WriteOutcome]"]


class WriteHealth:
    """Whether writes are failing: the last batch failed for storage less than ``window``
    seconds ago and none has succeeded since. ``/readyz`` answers unready meanwhile; the
    window lets a process that gets no traffic (taken out of a load balancer) become
    ready again, and be tried."""

    def __init__(self, window: float = 10.0):
        self.window = window
        self._failed_at: float | None = None

    def failed(self) -> None:
        self._failed_at = time.monotonic()

    def succeeded(self) -> None:
        self._failed_at = None

    def failing(self) -> bool:
        failed_at = self._failed_at
        return failed_at is not None and time.monotonic() - failed_at < self.window


class FulfillmentWriter(Protocol):
    """What the front doors need of a writer: :class:`Writer` (a thread) or
    :class:`goalkeeper.core.writer_process.ProcessWriter` (a child process)."""

    health: WriteHealth

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    def expect(self, delta: int) -> None: ...

    def submit(self, request: FulfillmentRequest) -> Awaitable[WriteOutcome]: ...

    async def submit_many(self, requests: Sequence[FulfillmentRequest]) -> list[WriteOutcome]: ...


class Writer:
    def __init__(
        self,
        store: Store,
        *,
        batch_max: int = 512,
        batch_wait_us: int = 500,
        idempotency_hours: int = 24,
        on_batch: Callable[[int, float], None] | None = None,
    ):
        self._store = store
        self._batch_max = batch_max
        self._batch_wait = batch_wait_us / 1_000_000
        self._idempotency_hours = idempotency_hours
        self._on_batch = on_batch
        # A C queue: putting costs the event loop no Python-level locking. Entries are
        # lists of items handed over together; None tells the thread to finish.
        self._queue: queue.SimpleQueue[list[_Item] | None] = queue.SimpleQueue()
        self._carry: list[list[_Item]] = []  # taken from the queue, left for the next batch
        self._finishing = False  # the thread has seen None
        self._expected = 0  # requests parsed in the loop but not yet submitted
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.health = WriteHealth()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="goalkeeper-writer", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Commit and answer everything queued, then end the thread."""
        if not self._stopping:
            self._stopping = True
            self._queue.put(None)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    def expect(self, delta: int) -> None:
        """Tell the writer a request is on its way (+1) or no longer coming (-1)."""
        self._expected += delta

    async def submit(self, request: FulfillmentRequest) -> WriteOutcome:
        """Queue one request; its outcome arrives once its transaction has committed."""
        loop = self._loop
        assert loop is not None, "writer not started"
        if self._stopping:
            raise StorageUnavailable()
        future: asyncio.Future[WriteOutcome] = loop.create_future()
        self._queue.put([(request, future)])
        return await future

    async def submit_many(self, requests: Sequence[FulfillmentRequest]) -> list[WriteOutcome]:
        """Queue requests in one hand-over, written in one transaction; outcomes in order.

        A storage failure raises once that transaction has failed.
        """
        loop = self._loop
        assert loop is not None, "writer not started"
        if self._stopping:
            raise StorageUnavailable()
        futures: list[asyncio.Future[WriteOutcome]] = [loop.create_future() for _ in requests]
        self._queue.put(list(zip(requests, futures, strict=True)))
        return await outcomes_of(futures)

    # -- the thread -----------------------------------------------------------------------

    def _take(self) -> list[_Item] | None:
        """The next batch (None once stopped and everything is answered): entries taken
        whole, as many as hold ``batch_max`` requests, at least one."""
        entries, self._carry = self._carry, []
        count = sum(map(len, entries))
        get = self._queue.get
        full = self._batch_max

        def add(entry: list[_Item] | None) -> None:
            nonlocal count
            if entry is None:
                self._finishing = True
            else:
                entries.append(entry)
                count += len(entry)

        if not entries:
            if self._finishing and self._queue.empty():
                return None
            add(get())
        if count < full and self._expected > 0 and not self._finishing:
            deadline = time.monotonic() + self._batch_wait
            while count < full and self._expected > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    add(get(timeout=left))
                except queue.Empty:
                    break
        while count < full:
            try:
                add(get(block=False))
            except queue.Empty:
                break
        items: list[_Item] = []
        for n, entry in enumerate(entries):
            if n and len(items) + len(entry) > full:
                self._carry = entries[n:]
                break
            items += entry
        return items

    def _drain(self) -> list[_Item]:
        """Everything queued or carried over, taken at once."""
        entries, self._carry = self._carry, []
        while True:
            try:
                entry = self._queue.get(block=False)
            except queue.Empty:
                break
            if entry is None:
                self._finishing = True
            else:
                entries.append(entry)
        return [item for entry in entries for item in entry]

    def _run(self) -> None:
        loop = self._loop
        assert loop is not None
        batches = BatchWriter(self._store, self._idempotency_hours)
        while True:
            items = self._take()
            if items is None:
                return
            if not items:
                continue
            started = time.perf_counter()
            outcomes = batches.write([request for request, _ in items])
            if self._on_batch is not None:
                self._on_batch(len(items), time.perf_counter() - started)
            if isinstance(outcomes, StorageUnavailable):
                self.health.failed()
                DATABASE_ERRORS.inc()
                # What queued up while this batch waited for the database gets the same
                # answer now, not a full wait of its own.
                items += self._drain()
            else:
                self.health.succeeded()
            loop.call_soon_threadsafe(_resolve, [f for _, f in items], outcomes)


async def outcomes_of(futures: Sequence[asyncio.Future[WriteOutcome]]) -> list[WriteOutcome]:
    """Every future's outcome, in order; a storage failure raises (the first one) once
    every transaction has answered."""
    outcomes: list[WriteOutcome] = []
    failure: BaseException | None = None
    for future in futures:
        try:
            outcomes.append(await future)
        except GoalkeeperError as exc:
            failure = failure or exc
    if failure is not None:
        raise failure
    return outcomes


class BatchWriter:
    """One batch, one transaction: the outcomes, or the one error every request gets.

    While the database is down every batch fails: that is logged once, then once every
    ten seconds, not once per batch. Shared by the writer thread and the writer process.
    """

    def __init__(self, store: Store, idempotency_hours: int):
        self._store = store
        self._idempotency_hours = idempotency_hours
        self._failed = 0
        self._last_logged = 0.0

    def write(self, batch: Sequence[FulfillmentRequest]) -> list[WriteOutcome] | GoalkeeperError:
        try:
            outcomes = self._store.write_fulfillments(batch, self._idempotency_hours)
        except GoalkeeperError as exc:
            self._failed += 1
            if self._failed == 1 or time.monotonic() - self._last_logged >= 10:
                log.warning(
                    "batch of %d failed (%d failed batches so far): %s",
                    len(batch),
                    self._failed,
                    exc.detail or exc.message,
                )
                self._last_logged = time.monotonic()
            return exc
        except Exception:
            log.exception("batch of %d failed unexpectedly", len(batch))
            return InternalError()
        if self._failed:
            log.warning("writes succeed again after %d failed batches", self._failed)
            self._failed = 0
        return outcomes


def _resolve(
    futures: list[asyncio.Future[WriteOutcome]], outcomes: list[WriteOutcome] | GoalkeeperError
) -> None:
    for i, future in enumerate(futures):
        if future.done():
            continue
        if isinstance(outcomes, GoalkeeperError):
            future.set_exception(outcomes)
        else:
            future.set_result(outcomes[i])
