"""One real server per module for the hostile suite, and its memory as it goes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from goalkeeper.store import open_store
from tests.conftest import BACKENDS, Server, database_url_for
from tests.fixtures import World, build_world


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


class Target:
    def __init__(self, server: Server, world: World):
        self.server = server
        self.world = world
        self.http = httpx.Client(base_url=server.base_url, timeout=30)
        assert server.process is not None
        self.pid = server.process.pid
        self.peak_rss_kib = rss_kib(self.pid)

    def after_case(self) -> None:
        """The server is still up and answering, and its memory is sampled."""
        assert self.server.process is not None and self.server.process.poll() is None
        assert self.http.get("/healthz").status_code == 200
        self.peak_rss_kib = max(self.peak_rss_kib, rss_kib(self.pid))


@pytest.fixture(scope="module", params=BACKENDS)
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    folder = tmp_path_factory.mktemp("hostile")
    url = database_url_for(str(request.param), folder)
    store = open_store(url)
    world = build_world(store)
    store.close()
    server = Server(
        url, folder / "server.log", env={"GOALKEEPER_BODY_TIMEOUT_SECONDS": "2"}
    ).start()
    found = Target(server, world)
    start_rss = found.peak_rss_kib
    yield found
    found.http.close()
    server.stop()
    # bounded memory: whatever was thrown at it, the server grew by less than 64 MiB
    assert found.peak_rss_kib - start_rss < 64 * 1024, (start_rss, found.peak_rss_kib)
