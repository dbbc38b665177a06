"""Per-key rate limits that hold across processes.

Limits are requests per second per API key: the key's own ``rate_limit`` when it has
one, else the server's default for its scope (``rate_limit`` for admin and ingest keys,
``tracker_rate_limit`` for tracker keys; 0 means unlimited).

Every process leases tokens for the current one-second window from the shared
``rate_counters`` table, a tenth of the limit at a time, and spends them locally; the
lease is a small transaction that never grants more than the limit in total. So the
limit is never exceeded, however many processes share it; what one process leased but
did not spend is lost to the others for that second, so with N busy processes a key may
be held up to ``(N - 1) * limit / 10`` requests below its limit. Requests of one process
that need a lease at the same moment share it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

from goalkeeper.errors import RateLimited
from goalkeeper.model import ApiKey, Scope
from goalkeeper.store import Store

LEASE_FRACTION = 10


@dataclasses.dataclass(slots=True)
class _Window:
    second: int
    tokens: int = 0  # leased and not yet spent
    exhausted: bool = False  # the shared table has nothing left for this second
    lease: asyncio.Task[None] | None = None


class RateLimiter:
    def __init__(self, store: Store, default: int, tracker_default: int):
        self._store = store
        self._default = default
        self._tracker_default = tracker_default
        self._windows: dict[int, _Window] = {}

    def limit_for(self, key: ApiKey) -> int:
        if key.rate_limit is not None:
            return key.rate_limit
        return self._tracker_default if key.scope is Scope.TRACKER else self._default

    def take(self, key: ApiKey) -> bool:
        """Spend one request of ``key``'s limit from what this process holds, without
        waiting: True when spent (or unlimited), False when a lease is needed first
        (:meth:`acquire`); raises RateLimited when the window has nothing left."""
        if self.limit_for(key) <= 0:
            return True
        window = self._windows.get(key.id)
        if window is None or window.second != int(time.time()):
            return False
        if window.tokens > 0:
            window.tokens -= 1
            return True
        if window.exhausted:
            raise RateLimited(retry_after=1)
        return False

    async def acquire(self, key: ApiKey) -> None:
        """Spend one request of ``key``'s limit, leasing more from the shared table when
        this process holds none; raises RateLimited when none is left."""
        if self.take(key):
            return
        limit = self.limit_for(key)
        while True:
            second = int(time.time())
            window = self._windows.get(key.id)
            if window is None or window.second != second:
                if len(self._windows) > 10_000:
                    self._windows.clear()
                window = self._windows[key.id] = _Window(second)
            if window.tokens > 0:
                window.tokens -= 1
                return
            if window.exhausted:
                raise RateLimited(retry_after=1)
            if window.lease is None:
                window.lease = asyncio.get_running_loop().create_task(
                    self._lease(window, key.id, limit)
                )
            await asyncio.shield(window.lease)

    async def _lease(self, window: _Window, key_id: int, limit: int) -> None:
        want = max(1, limit // LEASE_FRACTION)
        try:
            granted = await asyncio.to_thread(
                self._store.lease_rate_tokens, key_id, window.second, want, limit
            )
        finally:
            window.lease = None
        window.tokens += granted
        if granted == 0:
            window.exhausted = True
