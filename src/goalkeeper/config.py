"""Settings, declared once.

Each setting has a name, a type, a default and one line of help. Values come from
command-line flags first, then ``GOALKEEPER_<NAME>`` environment variables, then the
default. ``docs/configuration.md`` lists them all; a test fails if one is missing there.
A refused value is named as the user gave it: as its flag, or as its variable.
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
    flag: str | None = None  # the command-line option that sets it, where one does

    @property
    def env(self) -> str:
        return "GOALKEEPER_" + self.name.upper()

    def convert(self, raw: Any, label: str | None = None) -> Any:
        """``raw`` as this setting's type, checked; a refusal names ``label`` (the flag or
        variable the value came from; default: the environment variable)."""
        label = label or self.env
        if self.type is bool and isinstance(raw, str):
            value = raw.strip().lower()
            if value in ("1", "true", "yes", "on"):
                return True
            if value in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(f"{label} must be true or false, not {raw!r}")
        try:
            value = self.type(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{label} must be of type {self.type.__name__}, not {raw!r}") from None
        if self.choices and value not in self.choices:
            allowed = " or ".join(self.choices)
            if len(self.choices) > 2:
                allowed = "one of " + ", ".join(self.choices)
            raise ValueError(f"{label} must be {allowed}, not {raw!r}")
        if self.bounds is not None and not self.bounds[0] <= value <= self.bounds[1]:
            low, high = (format(b, ",g") if isinstance(b, float) else f"{b:,}" for b in self.bounds)
            raise ValueError(f"{label} must be from {low} to {high}, not {raw!r}")
        return value


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "database_url",
        str,
        "sqlite:///goalkeeper.db",
        "Database URL: sqlite:///PATH or postgresql://...",
        flag="--database",
    ),
    Setting("host", str, "127.0.0.1", "Address the HTTP server listens on.", flag="--host"),
    Setting(
        "port", int, 8080, "Port the HTTP server listens on.", bounds=(0, 65535), flag="--port"
    ),
    Setting(
        "workers",
        int,
        1,
        "Number of server processes (each with its own writer).",
        bounds=(1, 256),
        flag="--workers",
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
        "shutdown_timeout_seconds",
        float,
        25.0,
        "How long a stopping server lets requests in flight finish before answering them 503.",
        bounds=(0.1, 3600),
    ),
    Setting(
        "batch_max",
        int,
        512,
        "Most fulfillments the writer gathers into one transaction; a JSON batch is never split.",
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
        "Beacons per second per tracker key without a limit of its own (0: unlimited); the rest are dropped, still answered 204.",
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


def setting_named(name: str) -> Setting:
    """The declared setting called ``name``."""
    return _BY_NAME[name]


@dataclasses.dataclass(frozen=True)
class Config:
    database_url: str = "sqlite:///goalkeeper.db"
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_body_bytes: int = 65536
    api_max_body_bytes: int = 4194304
    body_timeout_seconds: float = 30.0
    shutdown_timeout_seconds: float = 25.0
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
        """Flags (None means unset) win over the environment, which wins over defaults.

        A bad flag value is named as its flag (``--port``), a bad environment value as
        its variable (``GOALKEEPER_PORT``)."""
        flags = flags or {}
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            if flags.get(setting.name) is not None:
                values[setting.name] = setting.convert(flags[setting.name], setting.flag)
            elif setting.env in environ:
                values[setting.name] = setting.convert(environ[setting.env])
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
