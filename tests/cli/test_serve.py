"""``goalkeeper serve`` on a database that has nothing yet."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server
from tests.fixtures import goals_xml


def test_serve_on_empty_database_creates_account_and_prints_key_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    log = tmp_path / "serve.log"
    server = Server(url, log).start()
    try:
        match = re.search(
            r"Created account 1 with admin API key \(shown once\):\s+(gk_\w+)", log.read_text()
        )
        assert match, log.read_text()
        response = httpx.post(server.base_url + "/v2/Api/Goals", content=goals_xml(key=match[1]))
        # the key is accepted: the request fails only later, on the (absent) GUID
        assert response.status_code == 400
        assert b"Message GUID was not recognized." in response.content
    finally:
        server.stop()
    restarted = Server(url, log)
    restarted.start()
    restarted.stop()
    assert log.read_text().count("Created account") == 1


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_on_a_busy_port_fails_in_one_line_before_touching_the_database(
    tmp_path: Path, workers: str
) -> None:
    database = tmp_path / "fresh.db"
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "goalkeeper",
                "serve",
                "--database",
                f"sqlite:///{database}",
                "--port",
                str(port),
                "--workers",
                workers,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert_refused_busy_port(done, port, tmp_path)


def assert_refused_busy_port(
    done: subprocess.CompletedProcess[str], port: int, folder: Path
) -> None:
    """One line naming the address and the fix, exit 2, and nothing created."""
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        f"goalkeeper: error: cannot listen on 127.0.0.1:{port}: Address already in use;"
        " stop what listens there, or choose another port with --port\n"
    )
    assert list(folder.iterdir()) == []
