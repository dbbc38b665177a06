"""``goalkeeper serve`` on a database that has nothing yet."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

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
