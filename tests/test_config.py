"""Settings: precedence, conversion, and that each one is documented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from goalkeeper.config import SETTINGS, Config, Setting

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_documented(setting: object) -> None:
    text = DOC.read_text()
    assert f"`{setting.name}`" in text and f"`{setting.env}`" in text  # type: ignore[attr-defined]


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.flag], ids=lambda s: s.name)
def test_every_flag_is_documented_with_its_setting(setting: Setting) -> None:
    lines = DOC.read_text().splitlines()
    row = next(line for line in lines if line.startswith(f"| `{setting.name}`"))
    assert f"Flag: `{setting.flag}`" in row


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"port": 70000}, "--port must be from 0 to 65,535, not 70000"),
        ({"workers": 0}, "--workers must be from 1 to 256, not 0"),
        ({"port": "eighty"}, "--port must be of type int, not 'eighty'"),
    ],
)
def test_a_bad_flag_value_is_named_as_its_flag(flags: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as refused:
        Config.load(flags, environ={"GOALKEEPER_PORT": "9000"})
    assert str(refused.value) == message


def test_a_bad_environment_value_is_named_as_its_variable_even_with_flags_given() -> None:
    with pytest.raises(ValueError) as refused:
        Config.load({"port": 9000}, environ={"GOALKEEPER_WORKERS": "0"})
    assert str(refused.value) == "GOALKEEPER_WORKERS must be from 1 to 256, not '0'"


def test_flags_win_over_environment_over_defaults() -> None:
    env = {"GOALKEEPER_PORT": "9000", "GOALKEEPER_HOST": "0.0.0.0"}
    config = Config.load({"port": 9100, "host": None}, environ=env)
    assert (config.port, config.host, config.workers) == (9100, "0.0.0.0", 1)


def test_booleans_and_bad_values() -> None:
    assert Config.load(environ={"GOALKEEPER_ACCESS_LOG": "yes"}).access_log is True
    with pytest.raises(ValueError, match="GOALKEEPER_PORT must be of type int"):
        Config.load(environ={"GOALKEEPER_PORT": "eighty"})


def test_environment_round_trip() -> None:
    config = Config(port=1234, access_log=True, key_cache_seconds=0.5)
    assert Config.load(environ=config.to_environ()) == config


def test_settings_with_choices_refuse_anything_else() -> None:
    assert Config.load(environ={"GOALKEEPER_WRITER": "thread"}).writer == "thread"
    with pytest.raises(ValueError, match="GOALKEEPER_WRITER must be process or thread"):
        Config.load(environ={"GOALKEEPER_WRITER": "threads"})
    with pytest.raises(ValueError, match="GOALKEEPER_LOG_FORMAT must be text or json"):
        Config.load({"log_format": "xml"}, environ={})


@pytest.mark.parametrize(
    ("env", "raw", "message"),
    [
        ("MAX_OCCURRED_AGE_DAYS", "100000000", "must be from 1 to 3,650"),
        ("MAX_OCCURRED_AGE_DAYS", "0", "must be from 1 to 3,650"),
        ("BODY_TIMEOUT_SECONDS", "0", "must be from 0.001 to 3,600"),
        ("WORKERS", "0", "must be from 1 to 256"),
        ("BATCH_MAX", "-1", "must be from 1 to 100,000"),
        ("POOL_SIZE", "0", "must be from 1 to 1,000"),
        ("PORT", "70000", "must be from 0 to 65,535"),
        ("LOG_LEVEL", "loud", "must be one of debug, info, warning, error"),
    ],
)
def test_numbers_outside_their_range_are_refused_naming_the_range(
    env: str, raw: str, message: str
) -> None:
    with pytest.raises(ValueError, match=f"GOALKEEPER_{env} {message}, not '{raw}'"):
        Config.load(environ={f"GOALKEEPER_{env}": raw})


def test_the_ends_of_each_range_are_allowed() -> None:
    for setting in SETTINGS:
        if setting.bounds is not None:
            for end in setting.bounds:
                raw = str(end if setting.type is float else int(end))
                assert getattr(Config.load(environ={setting.env: raw}), setting.name) == end


def test_serve_refuses_a_bad_setting_before_touching_the_database(tmp_path: Path) -> None:
    database = tmp_path / "never.db"
    done = subprocess.run(
        [sys.executable, "-m", "goalkeeper", "serve", "--database", f"sqlite:///{database}"],
        env={**os.environ, "GOALKEEPER_WRITER": "bogus"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "GOALKEEPER_WRITER must be process or thread, not 'bogus'" in done.stderr
    assert "Created account" not in done.stderr
    assert not database.exists()
