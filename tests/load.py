"""A small, bounded load generator for failure tests: many clients, each request marked.

Each request carries a unique GoalValue (and, for every other one, an Idempotency-Key)
so the test can tell exactly which acknowledged requests were stored.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time

import httpx

from tests.fixtures import goals_xml


@dataclasses.dataclass
class LoadResult:
    acknowledged: set[int] = dataclasses.field(default_factory=set)  # values answered 201
    sent: set[int] = dataclasses.field(default_factory=set)
    statuses: dict[int, int] = dataclasses.field(default_factory=dict)  # status -> count
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


class Load:
    def __init__(self, base_url: str, clients: int = 8, max_seconds: float = 20.0):
        self.base_url = base_url
        self.clients = clients
        self.deadline = time.monotonic() + max_seconds
        self.result = LoadResult()
        self._stop = threading.Event()
        self._counter = itertools.count(1)
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def wait_for_acks(self, count: int, timeout: float = 15.0) -> None:
        end = time.monotonic() + timeout
        while len(self.result.acknowledged) < count and time.monotonic() < end:
            time.sleep(0.01)

    def stop(self) -> LoadResult:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        return self.result

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=5) as http:
            while not self._stop.is_set() and time.monotonic() < self.deadline:
                value = next(self._counter)
                headers = {"Idempotency-Key": f"load-{value}"} if value % 2 else {}
                with self.result.lock:
                    self.result.sent.add(value)
                try:
                    response = http.post(
                        "/v2/Api/Goals", content=goals_xml(value=str(value)), headers=headers
                    )
                except httpx.TransportError:
                    time.sleep(0.01)
                    continue
                with self.result.lock:
                    self.result.statuses[response.status_code] = (
                        self.result.statuses.get(response.status_code, 0) + 1
                    )
                    if response.status_code == 201:
                        self.result.acknowledged.add(value)
