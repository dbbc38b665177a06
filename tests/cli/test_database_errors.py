"""A database the command line cannot use: one line, exit 2, and nothing created."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from goalkeeper.cli import main
from goalkeeper.store import open_store


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    assert len(err.splitlines()) == 1, err
    assert err.startswith("goalkeeper: error: ") and "Traceback" not in err
    return err


READ_COMMANDS = [
    ("report",),
    ("db", "rebuild-counters"),
    ("keys", "create", "--account", "1", "--scope", "admin"),
    ("keys", "revoke", "abcd1234"),
    ("goals", "create", "--account", "1", "--name", "Purchase"),
]


@pytest.mark.parametrize(
    "command", [*READ_COMMANDS, ("db", "upgrade"), ("init",)], ids=lambda c: " ".join(c)
)
def test_a_file_that_is_not_a_database_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: tuple[str, ...]
) -> None:
    path = tmp_path / "f.db"
    path.write_text("x\n")
    code, _, err = run(capsys, *command, "--database", f"sqlite:///{path}")
    assert code == 2
    assert f"{path} is not a SQLite database" in one_line(err) and "--database" in err
    assert path.read_text() == "x\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.db"]


def test_a_damaged_database_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "damaged.db"
    path.write_bytes(b"SQLite format 3\x00" + b"garbage" * 200)
    code, _, err = run(capsys, "report", "--database", f"sqlite:///{path}")
    assert code == 2
    assert "cannot use the database" in one_line(err) and "file is not a database" in err


@pytest.mark.parametrize(
    "command", [*READ_COMMANDS, ("db", "upgrade"), ("init",)], ids=lambda c: " ".join(c)
)
def test_a_directory_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: tuple[str, ...]
) -> None:
    directory = tmp_path / "data"
    directory.mkdir()
    code, _, err = run(capsys, *command, "--database", f"sqlite:///{directory}")
    assert code == 2
    assert f"{directory} is a directory" in one_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_a_missing_directory_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "nowhere" / "goalkeeper.db"
    code, _, err = run(capsys, "db", "upgrade", "--database", f"sqlite:///{path}")
    assert code == 2
    assert f"there is no directory {path.parent}" in one_line(err)


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: " ".join(c))
def test_commands_that_need_a_database_create_no_file(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: tuple[str, ...],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GOALKEEPER_DATABASE_URL", raising=False)
    code, _, err = run(capsys, *command)
    assert code == 2
    assert "there is no database at goalkeeper.db" in one_line(err)
    assert "goalkeeper db upgrade" in err and "goalkeeper init" in err
    assert list(tmp_path.iterdir()) == []


def test_db_upgrade_and_init_still_create_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert run(capsys, "db", "upgrade", "--database", url)[0] == 0
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert run(capsys, "init", "--database", other)[0] == 0
    assert (tmp_path / "new.db").exists() and (tmp_path / "other.db").exists()


def test_db_upgrade_refuses_a_newer_schema(capsys: pytest.CaptureFixture[str], db: str) -> None:
    if not db.startswith("sqlite"):
        pytest.skip("schema surgery below is SQLite's")
    store = open_store(db)
    store.upgrade()
    latest = store.latest_version()
    store.close()
    conn = sqlite3.connect(db.removeprefix("sqlite:///"))
    conn.execute("INSERT INTO schema_migrations VALUES (9999, 'future', '2030-01-01')")
    conn.commit()
    conn.close()
    code, out, err = run(capsys, "db", "upgrade", "--database", db)
    assert (code, out) == (2, "")
    assert f"version 9999, newer than this goalkeeper ({latest})" in one_line(err)
    assert "upgrade goalkeeper" in err


@pytest.fixture
def db(database_url: str) -> str:
    return database_url


@pytest.mark.parametrize("command", [("serve",), ("db", "upgrade"), ("init",)], ids=" ".join)
def test_a_database_that_cannot_be_written_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    immutable: list[Path],
    command: tuple[str, ...],
) -> None:
    """``serve`` used to start on it, say ready, and answer 503 to every write."""
    path = tmp_path / "gk.db"
    assert main(["db", "upgrade", "--database", f"sqlite:///{path}"]) == 0
    capsys.readouterr()
    subprocess.run(["chattr", "+i", str(path)], check=True)
    immutable.append(path)
    code, _, err = run(capsys, *command, "--database", f"sqlite:///{path}")
    assert code == 2
    assert f"{path} is not writable" in one_line(err)


@pytest.mark.parametrize("suffix", ["?mode=ro", "#main"])
def test_a_sqlite_url_with_options_is_refused_and_creates_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, suffix: str
) -> None:
    url = f"sqlite:///{tmp_path / 'gk.db'}{suffix}"
    code, _, err = run(capsys, "db", "upgrade", "--database", url)
    assert code == 2
    assert "takes a file path only" in one_line(err)
    assert list(tmp_path.iterdir()) == []
