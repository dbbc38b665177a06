"""Fixtures: real databases (every backend in BACKENDS), in-process apps, real servers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from goalkeeper.config import Config
from goalkeeper.store import Store, open_store
from goalkeeper.web.app import create_app
from tests import pgcluster
from tests.fixtures import World, build_world

# PostgreSQL: a throwaway cluster for this run (see tests/pgcluster.py).
POSTGRES, POSTGRES_MISSING = pgcluster.start()
if POSTGRES is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"CI=true needs PostgreSQL: {POSTGRES_MISSING}")
    pgcluster.loud(f"PostgreSQL UNAVAILABLE, its half of the suite is SKIPPED: {POSTGRES_MISSING}")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES is not None else [])


def pytest_unconfigure(config: pytest.Config) -> None:
    if POSTGRES is not None:
        POSTGRES.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if POSTGRES is None:
        terminalreporter.write_sep(
            "!", f"PostgreSQL half SKIPPED: {POSTGRES_MISSING}", red=True, bold=True
        )


def database_url_for(backend: str, tmp_path: Path) -> str:
    """A fresh, empty database of ``backend`` (drop PostgreSQL ones with drop_database)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'goalkeeper.db'}"
    if backend == "postgresql":
        assert POSTGRES is not None
        return POSTGRES.new_database()
    raise AssertionError(backend)


def drop_database(url: str) -> None:
    if url.startswith("postgresql://") and POSTGRES is not None:
        POSTGRES.drop_database(url)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    url = database_url_for(backend, tmp_path)
    yield url
    drop_database(url)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(database_url)
    opened.upgrade()
    yield opened
    opened.close()


@pytest.fixture
def world(store: Store) -> World:
    return build_world(store)


@pytest.fixture
def config(database_url: str) -> Config:
    return Config.load({"database_url": database_url}, environ={})


@pytest.fixture
def client(world: World, config: Config) -> Iterator[TestClient]:
    """The whole application in-process, lifespan included."""
    with TestClient(create_app(config), base_url="http://testserver") as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A real ``goalkeeper serve`` process on 127.0.0.1."""

    def __init__(
        self, database_url: str, log_path: Path, *extra: str, env: dict[str, str] | None = None
    ):
        self.database_url = database_url
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.args = [
            sys.executable,
            "-m",
            "goalkeeper",
            "serve",
            "--database",
            database_url,
            "--port",
            str(self.port),
            *extra,
        ]
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> Server:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.args, stdout=log, stderr=subprocess.STDOUT, env=self.env
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=0.5).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not start: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@pytest.fixture(scope="module", params=BACKENDS)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, World, Store]]:
    """A real server process on a database holding the test world (one per module)."""
    folder = tmp_path_factory.mktemp("live")
    url = database_url_for(str(request.param), folder)
    opened = open_store(url)
    world = build_world(opened)
    server = Server(url, folder / "server.log").start()
    yield server, world, opened
    server.stop()
    opened.close()
    drop_database(url)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright (which never downloads a browser).

    ``scripts/install-chromium`` (run by ``make test``) installs it when missing. Without
    it the test is skipped with a loud reason, except under CI=true, where it fails.
    """
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: run scripts/install-chromium (make test does)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run under CI: {message}")
        pytest.skip(f"SKIPPING BROWSER TESTS: {message}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[list[Path]]:
    """Files made immutable (``chattr +i``: not writable even by root), undone at the end."""
    chattr = shutil.which("chattr")
    probe = tmp_path / "probe"
    probe.touch()
    if chattr is None or subprocess.run([chattr, "+i", str(probe)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here (it needs root and a file system with it)")
    subprocess.run([chattr, "-i", str(probe)], check=True)
    made: list[Path] = []
    yield made
    for path in made:
        subprocess.run([chattr, "-i", str(path)], check=False)
