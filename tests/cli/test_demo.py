"""``goalkeeper demo``: it seeds, serves, and the examples it prints work as printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port


def test_demo_prints_working_examples(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "goalkeeper", "demo", "--port", str(port)],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("GOALKEEPER_")},
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
    finally:
        process.terminate()
        process.wait(timeout=15)
