"""A small, bounded load generator for failure tests: many clients, each request marked.

Each request carries a unique value (and, for every other one, an idempotency key) so
the test can tell exactly which acknowledged requests were stored. Requests alternate
between the XML Goals method and the JSON API.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time

import httpx

from tests.fixtures import SPEC_GUID, goals_xml


@dataclasses.dataclass
class LoadResult:
    acknowledged: set[int] = dataclasses.field(default_factory=set)  # values answered 201
    sent: set[int] = dataclasses.field(default_factory=set)
    statuses: dict[int, int] = dataclasses.field(default_factory=dict)  # status -> count
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


class Load:
    def __init__(
        self,
        base_url: str,
        clients: int = 8,
        max_seconds: float = 20.0,
        json_key: str | None = None,
    ):
        self.base_url = base_url
        self.json_key = json_key  # when given, every third request goes to /api/v1/fulfillments
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
                with self.result.lock:
                    self.result.sent.add(value)
                try:
                    response = self._send(http, value)
                except httpx.TransportError:
                    time.sleep(0.01)
                    continue
                with self.result.lock:
                    self.result.statuses[response.status_code] = (
                        self.result.statuses.get(response.status_code, 0) + 1
                    )
                    if response.status_code == 201:
                        self.result.acknowledged.add(value)

    def _send(self, http: httpx.Client, value: int) -> httpx.Response:
        key = f"load-{value}" if value % 2 else None
        if self.json_key is not None and value % 3 == 0:
            body = {"goal_id": 2, "message_guid": SPEC_GUID, "value": value}
            if key:
                body["idempotency_key"] = key
            headers = {"Authorization": f"Bearer {self.json_key}"}
            return http.post("/api/v1/fulfillments", json=body, headers=headers)
        headers = {"Idempotency-Key": key} if key else {}
        return http.post("/v2/Api/Goals", content=goals_xml(value=str(value)), headers=headers)
