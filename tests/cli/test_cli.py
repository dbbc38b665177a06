"""The command line, called as users call it (``main(argv)`` and real processes)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from goalkeeper.cli import main
from goalkeeper.core.keys import hash_key
from goalkeeper.model import Channel, Scope
from goalkeeper.store import open_store
from tests.conftest import free_port


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def import_log(
    capsys: pytest.CaptureFixture[str], db: str, account: object, path: Path, *extra: str
) -> tuple[int, str, str]:
    """``goalkeeper recipients import PATH`` into ``account``."""
    return run(
        capsys, "recipients", "import", str(path), "--database", db, "--account", str(account),
        *extra,
    )  # fmt: skip


@pytest.fixture
def db(database_url: str) -> str:
    return database_url


def init(capsys: pytest.CaptureFixture[str], db: str) -> dict[str, object]:
    code, out, _ = run(capsys, "init", "--database", db, "--account", "Shop", "--json")
    assert code == 0
    value: dict[str, object] = json.loads(out)
    return value


def test_init_json_creates_schema_account_and_key(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    created = init(capsys, db)
    assert set(created) == {"account_id", "api_key"}
    store = open_store(db)
    try:
        record = store.find_api_key(hash_key(str(created["api_key"])))
        assert record is not None and record.scope.value == "admin"
    finally:
        store.close()


def test_db_upgrade_is_idempotent_and_speaks_on_stderr(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    code, out, err = run(capsys, "db", "upgrade", "--database", db)
    assert (code, out) == (0, "")
    assert err.splitlines()[-1].startswith("schema upgraded from version 0 to ")
    code, out, err = run(capsys, "db", "upgrade", "--database", db)
    assert (code, out) == (0, "")
    assert err.startswith("schema is current")


def test_init_prints_only_the_key_on_stdout(capsys: pytest.CaptureFixture[str], db: str) -> None:
    code, out, err = run(capsys, "init", "--database", db)
    assert code == 0
    assert out.splitlines() == [out.strip()] and out.startswith("gk_")
    assert "admin API key (shown once)" in err and "gk_" not in err


def test_keys_revoke_speaks_on_stderr(capsys: pytest.CaptureFixture[str], db: str) -> None:
    account = str(init(capsys, db)["account_id"])
    code, out, _ = run(
        capsys, "keys", "create", "--database", db, "--account", account, "--scope", "ingest"
    )
    assert code == 0
    code, out, err = run(capsys, "keys", "revoke", "--database", db, out.strip())
    assert (code, out) == (0, "") and "revoked" in err


def test_commands_refuse_a_database_without_schema(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    code, _, err = run(capsys, "goals", "create", "--database", db, "--account", "1", "--name", "X")
    assert code == 2
    assert "goalkeeper db upgrade" in err


def test_keys_create_and_revoke(capsys: pytest.CaptureFixture[str], db: str) -> None:
    account = init(capsys, db)["account_id"]
    code, out, _ = run(
        capsys,
        "keys",
        "create",
        "--database",
        db,
        "--account",
        str(account),
        "--scope",
        "ingest",
        "--json",
    )
    assert code == 0
    key = json.loads(out)
    assert key["scope"] == "ingest" and key["key"].startswith("gk_" + key["prefix"])
    assert run(capsys, "keys", "revoke", "--database", db, key["prefix"])[0] == 0
    store = open_store(db)
    try:
        assert store.find_api_key(hash_key(key["key"])) is None
    finally:
        store.close()
    code, _, err = run(capsys, "keys", "revoke", "--database", db, key["prefix"])
    assert code == 2 and "no active key" in err


def test_tracker_key_needs_an_origin(capsys: pytest.CaptureFixture[str], db: str) -> None:
    account = init(capsys, db)["account_id"]
    code, _, err = run(
        capsys, "keys", "create", "--database", db, "--account", str(account), "--scope", "tracker"
    )
    assert code == 2 and "origin" in err
    code, out, _ = run(
        capsys,
        "keys",
        "create",
        "--database",
        db,
        "--account",
        str(account),
        "--scope",
        "tracker",
        "--origin",
        "https://shop.example",
        "--json",
    )
    assert code == 0 and json.loads(out)["scope"] == "tracker"


def test_keys_create_unknown_account(capsys: pytest.CaptureFixture[str], db: str) -> None:
    init(capsys, db)
    code, _, err = run(
        capsys, "keys", "create", "--database", db, "--account", "99", "--scope", "admin"
    )
    assert code == 2 and "account 99 does not exist" in err


def test_goals_create(capsys: pytest.CaptureFixture[str], db: str) -> None:
    account = str(init(capsys, db)["account_id"])
    code, out, _ = run(
        capsys,
        "goals",
        "create",
        "--database",
        db,
        "--account",
        account,
        "--name",
        "Purchase",
        "--id",
        "2",
        "--counting",
        "once_per_recipient",
        "--window-days",
        "7",
        "--json",
    )
    assert code == 0
    assert json.loads(out) == {
        "account_id": int(account),
        "id": 2,
        "name": "Purchase",
        "counting": "once_per_recipient",
        "window_days": 7,
    }
    code, _, err = run(
        capsys,
        "goals",
        "create",
        "--database",
        db,
        "--account",
        account,
        "--name",
        "Again",
        "--id",
        "2",
    )
    assert code == 2 and "already exists" in err
    code, out, _ = run(
        capsys,
        "goals",
        "create",
        "--database",
        db,
        "--account",
        account,
        "--name",
        "Next",
        "--json",
    )
    assert json.loads(out)["id"] == 3


CSV = """guid,message,subscriber,channel,sent_at
C7015756-95F3-4509-8C6C-759FEEC48F91,Welcome,alice,Email,2026-11-01T10:00:00Z
{5b0e3c9a-1111-4222-8333-444455556666},Welcome,bob,Email,2026-11-01T10:00:00Z
9d2f7a10aaaa4bbb8cccddddeeeeffff,Flash,carol,SmsMms,
"""


def test_recipients_import_csv_is_idempotent(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    account = str(init(capsys, db)["account_id"])
    path = tmp_path / "sends.csv"
    path.write_text(CSV)
    code, out, _ = import_log(capsys, db, account, path, "--json")
    assert code == 0
    assert json.loads(out) == {
        "records": 3,
        "registered": 3,
        "already_registered": 0,
        "taken": 0,
        "messages_created": 2,
    }
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    documented = json.loads(
        doc.split("With `--json` the same counts are one JSON document:")[1].split("`")[1]
    )
    assert list(json.loads(out)) == list(documented)  # the keys the docs show, in order
    code, out, _ = import_log(capsys, db, account, path, "--json")
    assert json.loads(out) == {
        "records": 3,
        "registered": 0,
        "already_registered": 3,
        "taken": 0,
        "messages_created": 0,
    }
    code, out, _ = import_log(capsys, db, account, path)
    assert out == "3 records: 0 registered, 3 already registered, 0 messages created\n"
    store = open_store(db)
    try:
        recipient = store.get_recipient(uuid.UUID("5b0e3c9a-1111-4222-8333-444455556666").bytes)
        assert recipient is not None and recipient.subscriber_id == "bob"
        assert recipient.sent_at.isoformat() == "2026-11-01T10:00:00+00:00"
        assert store.count_recipients(int(account)) == 3
    finally:
        store.close()


def test_recipients_import_names_the_lines_whose_guid_another_send_holds(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    account = str(init(capsys, db)["account_id"])
    path = tmp_path / "sends.csv"
    path.write_text(CSV)
    assert import_log(capsys, db, account, path)[0] == 0
    taken = tmp_path / "taken.csv"
    taken.write_text(
        "guid,message,subscriber,channel\n"
        "C7015756-95F3-4509-8C6C-759FEEC48F91,Welcome,mallory,Email\n"  # alice's GUID
        "11111111-2222-4333-8444-555555555555,Welcome,dave,Email\n"
    )
    code, out, err = import_log(capsys, db, account, taken)
    assert code == 1
    assert out.strip() == (
        "2 records: 1 registered, 0 already registered, 1 taken by other sends, 0 messages created"
    )
    assert err.strip() == (
        "taken.csv: line 2: GUID C7015756-95F3-4509-8C6C-759FEEC48F91 is already registered"
        " to another send; not imported"
    )
    store = open_store(db)
    try:
        recipient = store.get_recipient(uuid.UUID("C7015756-95F3-4509-8C6C-759FEEC48F91").bytes)
        assert recipient is not None and recipient.subscriber_id == "alice"
        assert store.count_recipients(int(account)) == 4
    finally:
        store.close()
    # a message whose every record is taken is not left behind, empty
    others = tmp_path / "others.csv"
    others.write_text(
        "guid,message,subscriber,channel\n"
        "C7015756-95F3-4509-8C6C-759FEEC48F91,Autumn sale,mallory,Email\n"
    )
    code, out, _ = import_log(capsys, db, account, others)
    assert code == 1
    assert out.strip() == (
        "1 records: 0 registered, 0 already registered, 1 taken by other sends, 0 messages created"
    )
    store = open_store(db)
    try:
        assert store.find_message(int(account), "Autumn sale", Channel.EMAIL) is None
    finally:
        store.close()


def test_recipients_import_ndjson_onto_one_message(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    account = int(str(init(capsys, db)["account_id"]))
    store = open_store(db)
    message = store.create_message(account, "Newsletter", Channel.WEB_PUSH)
    store.close()
    path = tmp_path / "sends.ndjson"
    path.write_text(
        '{"guid": "C7015756-95F3-4509-8C6C-759FEEC48F91", "subscriber": "s1"}\n\n'
        '{"guid": "5b0e3c9a-1111-4222-8333-444455556666", "subscriber": "s2", "channel": "WebPush"}\n'
    )
    code, out, _ = import_log(capsys, db, account, path, "--message", str(message.id), "--json")
    assert code == 0, out
    assert json.loads(out)["registered"] == 2


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (CSV + "not-a-guid,Welcome,dave,Email,\n", "line 5: guid 'not-a-guid' is not a GUID"),
        (
            CSV + "C7015756-95F3-4509-8C6C-759FEEC48F92,Welcome,dave,Fax,\n",
            "line 5: channel must be one of",
        ),
        (
            CSV + "C7015756-95F3-4509-8C6C-759FEEC48F92,Welcome,,Email,\n",
            "line 5: subscriber is required",
        ),
        (
            CSV + "C7015756-95F3-4509-8C6C-759FEEC48F92,Welcome,x,Email,yesterday\n",
            "line 5: sent_at must be RFC 3339 with an offset",
        ),
        (  # an ISO week date: Python's fromisoformat takes it, RFC 3339 does not
            CSV + "C7015756-95F3-4509-8C6C-759FEEC48F92,Welcome,x,Email,2026-W48-5T09:00Z\n",
            "line 5: sent_at must be RFC 3339 with an offset",
        ),
        (
            CSV + "C7015756-95F3-4509-8C6C-759FEEC48F92,Welcome,x,Email,1969-12-31T23:00:00Z\n",
            "line 5: sent_at must lie from 1970-01-01 to 8999-12-31 (UTC)",
        ),
        (
            CSV + "C7015756-95F3-4509-8C6C-759FEEC48F92,Welcome,da\x00ve,Email,\n",
            "line 5: subscriber must not contain the NUL character",
        ),
        (
            CSV + "C7015756-95F3-4509-8C6C-759FEEC48F92,Wel\x00come,dave,Email,\n",
            "line 5: message must not contain the NUL character",
        ),
        (
            "guid,message,subscriber,channel,color\n",
            "line 1: the first line must name the columns, among guid, message, subscriber,"
            " channel, sent_at, list; it names 'color'",
        ),
    ],
)
def test_recipients_import_bad_record_imports_nothing(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path, content: str, expected: str
) -> None:
    account = str(init(capsys, db)["account_id"])
    path = tmp_path / "sends.csv"
    path.write_text(content)
    code, _, err = import_log(capsys, db, account, path)
    assert code == 2
    assert "nothing imported" in err and expected in err
    store = open_store(db)
    try:
        assert store.count_recipients(int(account)) == 0
    finally:
        store.close()


_SEND = '{"guid": "C7015756-95F3-4509-8C6C-759FEEC48F91", "message": "M", "subscriber": "s", "channel": "Email"}'


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (_SEND + "\n{oops\n", "line 2: not valid JSON"),
        (
            _SEND.replace('"s"', '"s\\udc00"') + "\n",
            "line 1: subscriber holds an unpaired surrogate",
        ),
    ],
)
def test_recipients_import_bad_json_line(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path, content: str, expected: str
) -> None:
    account = str(init(capsys, db)["account_id"])
    path = tmp_path / "sends.ndjson"
    path.write_text(content)
    code, _, err = import_log(capsys, db, account, path)
    assert code == 2 and expected in err


def test_serve_refuses_a_stale_schema(db: str, tmp_path: Path) -> None:
    if not db.startswith("sqlite"):
        pytest.skip("schema surgery below is SQLite's")
    store = open_store(db)
    store.upgrade()
    store.close()
    import sqlite3

    conn = sqlite3.connect(db.removeprefix("sqlite:///"))
    conn.execute("INSERT INTO schema_migrations VALUES (9999, 'future', '2030-01-01')")
    conn.commit()
    conn.close()
    result = subprocess.run(
        [sys.executable, "-m", "goalkeeper", "serve", "--database", db, "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "version 9999" in result.stderr and "upgrade goalkeeper" in result.stderr


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("serve", "--port", "70000"), "--port must be from 0 to 65,535, not 70000"),
        (("serve", "--workers", "0"), "--workers must be from 1 to 256, not 0"),
        (
            ("keys", "create", "--account", "1", "--scope", "admin", "--rate-limit", "-5"),
            "--rate-limit must be from 0 to 1,000,000,000, not -5",
        ),
    ],
)
def test_a_bad_flag_is_named_as_the_flag(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    argv: tuple[str, ...],
    expected: str,
) -> None:
    code, _, err = run(capsys, *argv, "--database", f"sqlite:///{tmp_path / 'x.db'}")
    assert code == 2
    assert err == f"goalkeeper: error: {expected}\n"
    assert list(tmp_path.iterdir()) == []


def test_a_bad_variable_is_named_as_the_variable(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOALKEEPER_PORT", "70000")
    code, _, err = run(capsys, "serve", "--database", f"sqlite:///{tmp_path / 'x.db'}")
    assert code == 2
    assert err == "goalkeeper: error: GOALKEEPER_PORT must be from 0 to 65,535, not '70000'\n"


def test_a_keys_own_rate_limit_is_not_the_server_setting(
    capsys: pytest.CaptureFixture[str], db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = str(init(capsys, db)["account_id"])
    monkeypatch.setenv("GOALKEEPER_RATE_LIMIT", "3")
    code, out, _ = run(
        capsys,
        "keys",
        "create",
        "--database",
        db,
        "--account",
        account,
        "--scope",
        "ingest",
        "--rate-limit",
        "7",
        "--json",
    )
    assert code == 0
    store = open_store(db)
    try:
        record = store.find_api_key(hash_key(json.loads(out)["key"]))
        assert record is not None and record.rate_limit == 7
    finally:
        store.close()


@pytest.mark.parametrize("scope", ["admin", "ingest"])
def test_origins_are_refused_on_keys_other_than_tracker_keys(
    capsys: pytest.CaptureFixture[str], db: str, scope: str
) -> None:
    account = int(str(init(capsys, db)["account_id"]))
    code, out, err = run(
        capsys,
        "keys",
        "create",
        "--database",
        db,
        "--account",
        str(account),
        "--scope",
        scope,
        "--origin",
        "https://shop.example",
    )
    assert (code, out) == (2, "")
    assert err == (
        f"goalkeeper: error: --origin applies only to tracker keys: leave it out for an"
        f" {scope} key, or create it with --scope tracker\n"
    )
    store = open_store(db)
    try:
        assert sum(len(store.list_api_keys(account, s)) for s in Scope) == 1  # init's own
    finally:
        store.close()


def test_recipients_import_of_a_directory_says_it_is_one(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    account = str(init(capsys, db)["account_id"])
    code, _, err = import_log(capsys, db, account, tmp_path)
    assert code == 2
    assert err == f"goalkeeper: error: {tmp_path} is a directory: give the send log's file name\n"


def test_an_interrupted_import_says_exactly_how_far_it_got_and_how_to_finish(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    """Ctrl-C (a real SIGINT) stops after the chunk being written: the count it reports
    is the count stored, and the same import run again finishes the job."""
    account = str(init(capsys, db)["account_id"])
    path = tmp_path / "sends.csv"
    records = 60_000
    with path.open("w") as out:
        out.write("guid,message,subscriber,channel\n")
        for i in range(records):
            out.write(f"{uuid.UUID(int=i + 1)},Welcome,s{i},Email\n")
    command = [sys.executable, "-m", "goalkeeper", "recipients", "import", str(path),
               "--database", db, "--account", account]  # fmt: skip
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    store = open_store(db)
    try:
        deadline = time.monotonic() + 30
        while store.count_recipients(int(account)) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
        stored = store.count_recipients(int(account))
    finally:
        if child.poll() is None:
            child.kill()
        store.close()
    assert (child.returncode, out) == (130, "")
    assert 0 < stored < records, "interrupted too late to show anything"
    assert err.endswith(
        f"sends.csv: interrupted: the first {stored:,} of {records:,} records are registered;"
        " run the same import again to register the rest (it skips GUIDs already registered)\n"
    ), err
    code, out, _ = import_log(capsys, db, account, path)
    assert code == 0
    assert out == (
        f"{records} records: {records - stored} registered, {stored} already registered,"
        " 0 messages created\n"
    )
