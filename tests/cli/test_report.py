"""``goalkeeper report``: what the table says agrees with its numbers; dates it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from goalkeeper.cli import main

SENDS = """guid,message,subscriber,channel
C7015756-95F3-4509-8C6C-759FEEC48F91,Welcome,alice,Email
5b0e3c9a-1111-4222-8333-444455556666,Welcome,bob,Email
9d2f7a10-aaaa-4bbb-8ccc-ddddeeeeffff,Welcome,carol,Email
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def account(capsys: pytest.CaptureFixture[str], database_url: str) -> str:
    code, out, _ = run(capsys, "init", "--database", database_url, "--json")
    assert code == 0
    return str(json.loads(out)["account_id"])


def test_sends_without_fulfillments_are_not_captioned_as_no_sends(
    capsys: pytest.CaptureFixture[str], database_url: str, account: str, tmp_path: Path
) -> None:
    sends = tmp_path / "sends.csv"
    sends.write_text(SENDS)
    assert (
        run(
            capsys,
            "recipients",
            "import",
            str(sends),
            "--database",
            database_url,
            "--account",
            account,
        )[0]
        == 0
    )
    code, out, _ = run(capsys, "report", "--database", database_url, "--account", account)
    assert code == 0
    assert "No fulfillments or sends" not in out
    assert "No fulfillments in this range" in out
    total = next(line for line in out.splitlines() if "total" in line)
    assert [cell for cell in total.split() if cell != "│"][-2:] == ["3", "0.00%"]


def test_an_empty_account_is_captioned_as_having_no_sends(
    capsys: pytest.CaptureFixture[str], database_url: str, account: str
) -> None:
    code, out, _ = run(capsys, "report", "--database", database_url, "--account", account)
    assert code == 0 and "No fulfillments or sends in this range" in out


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--from", "2026-02-30", "--from 2026-02-30 is not a calendar date"),
        ("--to", "2025-13-01", "--to 2025-13-01 is not a calendar date"),
        ("--from", "30.01.2026", "--from must be a date as YYYY-MM-DD"),
        ("--from", "1969-12-31", "--from must be a date from 1970-01-01 to 8999-12-31"),
    ],
)
def test_report_dates_are_refused_saying_why(
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    account: str,
    flag: str,
    value: str,
    expected: str,
) -> None:
    code, _, err = run(capsys, "report", "--database", database_url, flag, value)
    assert code == 2
    assert expected in err and len(err.splitlines()) == 1
