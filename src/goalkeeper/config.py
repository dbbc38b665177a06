"""Settings, declared once.

Each setting has a name, a type, a default and one line of help. Values come from
command-line flags first, then ``GOALKEEPER_<NAME>`` environment variables, then the
default. ``docs/configuration.md`` lists them all; a test fails if one is missing there.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] = ()  # the only values allowed, when not empty
    bounds: tuple[float, float] | None = None  # lowest and highest number allowed

    @property
    def env(self) -> str:
        return "GOALKEEPER_" + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "database_url",
        str,
        "sqlite:///goalkeeper.db",
        "Database URL: sqlite:///PATH or postgresql://...",
    ),
    Setting("host", str, "127.0.0.1", "Address the HTTP server listens on."),
    Setting("port", int, 8080, "Port the HTTP server listens on.", bounds=(0, 65535)),
    Setting(
        "workers", int, 1, "Number of server processes (each with its own writer).", bounds=(1, 256)
    ),
    Setting(
        "max_body_bytes",
        int,
        65536,
        "Largest accepted request body, after decompression.",
        bounds=(1, 1 << 30),
    ),
    Setting(
        "api_max_body_bytes",
        int,
        4194304,
        "Largest accepted JSON API request body (/api/v1), after decompression.",
        bounds=(1, 1 << 30),
    ),
    Setting(
        "body_timeout_seconds",
        float,
        30.0,
        "Longest time a request body may take to arrive before 408 (slow senders).",
        bounds=(0.001, 3600),
    ),
    Setting(
        "batch_max",
        int,
        512,
        "Most fulfillments the writer commits in one transaction.",
        bounds=(1, 100000),
    ),
    Setting(
        "batch_wait_us",
        int,
        500,
        "How long the writer waits for more rows while other requests are in flight (microseconds).",
        bounds=(0, 1_000_000),
    ),
    Setting(
        "writer",
        str,
        "process",
        "Where the group-commit writer runs: process (a child process, the default) or thread.",
        ("process", "thread"),
    ),
    Setting(
        "key_cache_seconds",
        float,
        5.0,
        "How long a process trusts its cached view of an API key; the bound on revocation delay.",
        bounds=(0, 86400),
    ),
    Setting(
        "idempotency_hours",
        int,
        24,
        "How long an Idempotency-Key stays bound to its first fulfillment.",
        bounds=(0, 87600),
    ),
    Setting(
        "max_occurred_age_days",
        int,
        90,
        "Oldest occurred_at the JSON API accepts, in days.",
        bounds=(1, 3650),
    ),
    Setting(
        "rate_limit",
        int,
        0,
        "Requests per second per admin or ingest key without a limit of its own (0: unlimited).",
        bounds=(0, 1_000_000_000),
    ),
    Setting(
        "tracker_rate_limit",
        int,
        50,
        "Requests per second per tracker key without a limit of its own (0: unlimited).",
        bounds=(0, 1_000_000_000),
    ),
    Setting(
        "pool_size",
        int,
        8,
        "PostgreSQL connections per process for reads (the writer has its own).",
        bounds=(1, 1000),
    ),
    Setting("log_format", str, "text", "Log format: text or json.", ("text", "json")),
    Setting(
        "log_level",
        str,
        "info",
        "Log level: debug, info, warning or error.",
        ("debug", "info", "warning", "error"),
    ),
    Setting("access_log", bool, False, "Log one line per HTTP request."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def _convert(setting: Setting, raw: Any) -> Any:
    if setting.type is bool and isinstance(raw, str):
        value = raw.strip().lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"{setting.env} must be true or false, not {raw!r}")
    try:
        value = setting.type(raw)
    except (TypeError, ValueError):
        raise ValueError(
            f"{setting.env} must be of type {setting.type.__name__}, not {raw!r}"
        ) from None
    if setting.choices and value not in setting.choices:
        allowed = " or ".join(setting.choices)
        if len(setting.choices) > 2:
            allowed = "one of " + ", ".join(setting.choices)
        raise ValueError(f"{setting.env} must be {allowed}, not {raw!r}")
    if setting.bounds is not None and not setting.bounds[0] <= value <= setting.bounds[1]:
        low, high = (format(b, ",g") if isinstance(b, float) else f"{b:,}" for b in setting.bounds)
        raise ValueError(f"{setting.env} must be from {low} to {high}, not {raw!r}")
    return value


@dataclasses.dataclass(frozen=True)
class Config:
    database_url: str = "sqlite:///goalkeeper.db"
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_body_bytes: int = 65536
    api_max_body_bytes: int = 4194304
    body_timeout_seconds: float = 30.0
    batch_max: int = 512
    batch_wait_us: int = 500
    writer: str = "process"
    key_cache_seconds: float = 5.0
    idempotency_hours: int = 24
    max_occurred_age_days: int = 90
    rate_limit: int = 0
    tracker_rate_limit: int = 50
    pool_size: int = 8
    log_format: str = "text"
    log_level: str = "info"
    access_log: bool = False

    @classmethod
    def load(
        cls, flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Config:
        """Flags (None means unset) win over the environment, which wins over defaults."""
        flags = flags or {}
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            if flags.get(setting.name) is not None:
                values[setting.name] = _convert(setting, flags[setting.name])
            elif setting.env in environ:
                values[setting.name] = _convert(setting, environ[setting.env])
        return cls(**values)

    def to_environ(self) -> dict[str, str]:
        """The environment that makes a child process load this same configuration."""
        out = {}
        for setting in SETTINGS:
            value = getattr(self, setting.name)
            out[setting.env] = (
                ("true" if value else "false") if isinstance(value, bool) else str(value)
            )
        return out


def _check_declared() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(Config)}
    assert fields == {s.name: s.default for s in SETTINGS}, "Config and SETTINGS disagree"


_check_declared()
