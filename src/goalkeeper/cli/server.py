"""``goalkeeper serve`` and ``goalkeeper db upgrade``."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from typing import Any

from goalkeeper import observability
from goalkeeper.cli import CliError, check_listen, open_database
from goalkeeper.config import Config
from goalkeeper.core.accounts import bootstrap_account, ensure_schema
from goalkeeper.errors import SchemaOutdated


def register(command: Any) -> None:
    serve = command("serve", "Run the HTTP service.", run_serve)
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default 8080)")
    serve.add_argument("--workers", type=int, help="server processes (default 1)")

    db = command("db", "Database schema commands.", lambda a, c: 0)
    db_commands = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    command("upgrade", "Create or migrate the database schema.", run_upgrade, db_commands)


def run_upgrade(args: argparse.Namespace, config: Config) -> int:
    store = open_database(config, create=True)
    try:
        before = store.schema_version()
        if before > store.latest_version():
            raise CliError(str(SchemaOutdated(before, store.latest_version())))
        applied = store.upgrade(
            lambda m: print(f"applying {m.version:04d}_{m.name}", file=sys.stderr)
        )
        after = store.schema_version()
    finally:
        store.close()
    if applied:
        print(f"schema upgraded from version {before} to {after}", file=sys.stderr)
    else:
        print(f"schema is current (version {after})", file=sys.stderr)
    return 0


def configure_logging(config: Config) -> None:
    observability.configure_logging(config.log_format, config.log_level)


def prepare_database(config: Config, announce: bool = True) -> None:
    """Create the schema on an empty database, refuse a stale one, seed a first account."""
    store = open_database(config, create=True)
    try:
        ensure_schema(store)
        version = store.schema_version()
        if version != store.latest_version():
            raise SchemaOutdated(version, store.latest_version())
        account = bootstrap_account(store)
        if account is not None and announce:
            print(
                f"Created account {account.account_id} with admin API key (shown once):\n"
                f"  {account.api_key}",
                file=sys.stderr,
            )
    finally:
        store.close()


def run_serve(args: argparse.Namespace, config: Config) -> int:
    check_listen(config.host, config.port)
    prepare_database(config)
    serve(config)
    return 0


def serve(config: Config) -> None:
    import uvicorn

    configure_logging(config)
    options: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "loop": "uvloop",
        "http": "httptools",
        "lifespan": "on",
        "log_level": config.log_level,
        "access_log": False,  # goalkeeper logs its own access lines, with the request id
        "server_header": False,
        "log_config": None,
        # Longer than the writer's own waits (a lock: 5 s on PostgreSQL, 10 s on SQLite),
        # so a stop answers what is in flight; whatever still runs then answers 503.
        "timeout_graceful_shutdown": config.shutdown_timeout_seconds,
    }
    if config.workers > 1:
        os.environ.update(config.to_environ())
        metrics_dir = tempfile.mkdtemp(prefix="goalkeeper-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # /metrics adds up all workers
        try:
            uvicorn.run(
                "goalkeeper.web.app:create_app", factory=True, workers=config.workers, **options
            )
        finally:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    else:
        from goalkeeper.web.app import create_app

        uvicorn.run(create_app(config), **options)
