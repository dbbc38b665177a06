"""Every Python example of docs/sdk.md runs as written against a live server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from goalkeeper.store import Store
from tests.conftest import Server
from tests.fixtures import World

DOC = Path(__file__).resolve().parents[2] / "docs" / "sdk.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", DOC.read_text("utf-8"), re.DOTALL)


def test_the_page_has_examples() -> None:
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("number", range(len(EXAMPLES)))
def test_example_runs(
    number: int, live: tuple[Server, World, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    server, world, _store = live
    code = EXAMPLES[number].replace("http://127.0.0.1:8080", server.base_url)
    code = code.replace("gk_YOUR_ADMIN_KEY", world.admin_key)
    exec(compile(code, f"docs/sdk.md example {number + 1}", "exec"), {"__name__": "example"})
    capsys.readouterr()
