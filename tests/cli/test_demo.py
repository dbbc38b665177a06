"""``goalkeeper demo``: it seeds, serves, and the examples it prints work as printed."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from goalkeeper.cli import main
from goalkeeper.cli.demo import shown_url
from goalkeeper.store import open_store
from tests.cli.test_serve import assert_refused_busy_port
from tests.conftest import free_port


def test_demo_prints_working_examples(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    real = tmp_path / "real.db"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "goalkeeper", "demo", "--port", str(port)],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            # the demo never seeds the database the environment names
            env={**clean_environ(), "GOALKEEPER_DATABASE_URL": f"sqlite:///{real}"},
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        text = log.read_text()
        bodies = re.findall(r"--data '([^']+)'", text)
        assert len(bodies) == 2, text
        url = f"http://127.0.0.1:{port}/v2/Api/Goals"
        created = httpx.post(url, content=bodies[0], headers={"Content-Type": "application/xml"})
        assert created.status_code == 201
        refused = httpx.post(url, content=bodies[1], headers={"Content-Type": "application/xml"})
        assert refused.status_code == 400
        assert b"Message GUID was not recognized." in refused.content
        assert (tmp_path / "goalkeeper-demo.db").exists()
        assert not real.exists()
    finally:
        process.terminate()
        process.wait(timeout=15)


def demo(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "goalkeeper", "demo", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_environ(),
    )


def clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GOALKEEPER_")}


def test_demo_on_a_busy_port_fails_before_seeding_or_printing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = demo(tmp_path, "--port", str(port))
    assert_refused_busy_port(done, port, tmp_path)


def test_demo_help_says_which_database_it_uses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default sqlite:///goalkeeper.db" not in text
    assert (
        "default: goalkeeper-demo.db in the working directory, recreated on every run;"
        " GOALKEEPER_DATABASE_URL is not read" in text
    )
    assert "must hold no account yet" in text


def test_demo_refuses_a_database_that_holds_data(
    capsys: pytest.CaptureFixture[str], database_url: str, tmp_path: Path
) -> None:
    assert main(["init", "--database", database_url, "--json"]) == 0
    capsys.readouterr()
    # a process: a demo that wrongly went ahead would seed, then serve until the timeout
    done = demo(tmp_path, "--database", database_url, "--port", str(free_port()))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "goalkeeper: error: the --database named already holds accounts, and the demo seeds"
        " only an empty one: leave out --database to use goalkeeper-demo.db, or name a new"
        " file\n"
    )
    store = open_store(database_url)
    try:
        assert store.account_ids() == [1]
    finally:
        store.close()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://gk:s3cr%40t@db.example:5432/gk", "postgresql://gk:***@db.example:5432/gk"),
        ("postgresql://gk@db.example/gk", "postgresql://gk@db.example/gk"),
        ("sqlite:///goalkeeper-demo.db", "sqlite:///goalkeeper-demo.db"),
    ],
)
def test_the_banner_never_shows_a_database_password(url: str, shown: str) -> None:
    assert shown_url(url) == shown
