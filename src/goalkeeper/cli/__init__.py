"""The ``goalkeeper`` command line: thin wrappers over the same core the HTTP API uses."""

from __future__ import annotations

import argparse
import errno
import json
import os
import socket
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from goalkeeper import __version__
from goalkeeper.config import SETTINGS, Config
from goalkeeper.errors import GoalkeeperError, SchemaOutdated
from goalkeeper.store import Store, open_store, sqlite_path

Handler = Callable[[argparse.Namespace, Config], int]


class CliError(Exception):
    """A failure to report on stderr with exit status 2 (no traceback)."""


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


_SQLITE_HEADER = b"SQLite format 3\x00"


def check_database(url: str, *, create: bool) -> None:
    """Refuse, before anything is opened or created, a SQLite path that cannot be a
    database: a directory, a file of another kind, a missing parent directory, or (unless
    ``create``) a file that does not exist yet. Other databases pass unchecked."""
    name = sqlite_path(url)
    if not name or "?" in name or "#" in name:  # not a file: open_store refuses it
        return
    path = Path(name)
    if path.is_dir():
        raise CliError(f"{path} is a directory: give --database sqlite:///PATH a file name")
    if not path.exists():
        if not create:
            raise CliError(
                f"there is no database at {path}: create it with `goalkeeper db upgrade`"
                " (or `goalkeeper init`), or give --database the URL of an existing one"
            )
        if not path.parent.is_dir():
            raise CliError(
                f"cannot create {path}: there is no directory {path.parent};"
                " create it, or give --database another path"
            )
        return
    try:
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}; check its permissions") from None
    if header and header != _SQLITE_HEADER:
        raise CliError(
            f"{path} is not a SQLite database: give --database the URL of a goalkeeper"
            " database, or a new file name"
        )
    if create:  # a command that writes: opened read-only, every write would fail later
        if not os.access(path, os.W_OK):
            raise CliError(f"{path} is not writable: check its permissions")
        beside = [Path(f"{path}{suffix}") for suffix in ("-wal", "-shm")]
        if not os.access(path.parent, os.W_OK | os.X_OK) and not all(
            os.access(f, os.W_OK) for f in beside
        ):
            raise CliError(
                f"cannot write in {path.parent}: SQLite keeps {path.name}-wal and"
                f" {path.name}-shm beside the database; check the directory's permissions"
            )


def open_database(config: Config, *, create: bool) -> Store:
    """The store ``config`` names; only a command that may create it passes ``create``."""
    check_database(config.database_url, create=create)
    try:
        return open_store(config.database_url, pool_size=config.pool_size)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def open_checked(config: Config) -> Store:
    """The store, with a schema this goalkeeper can use (else a message naming the fix)."""
    store = open_database(config, create=False)
    version = store.schema_version()
    if version != store.latest_version():
        store.close()
        raise CliError(str(SchemaOutdated(version, store.latest_version())))
    return store


def check_listen(host: str, port: int) -> None:
    """Refuse, before anything is seeded or printed, an address the server could not
    listen on. Binds as uvicorn does (``SO_REUSEADDR``) and lets go at once."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CliError(
            f"cannot listen on {host}:{port}: {exc.strerror}; give --host an address of this machine"
        ) from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    fix = "stop what listens there, or choose another port with --port"
                else:
                    fix = "choose another --host or --port"
                raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}; {fix}") from None


DATABASE_HELP = "database URL (env GOALKEEPER_DATABASE_URL, default sqlite:///goalkeeper.db)"


def _database_flag(parser: argparse.ArgumentParser, help: str = DATABASE_HELP) -> None:
    parser.add_argument("--database", dest="database_url", metavar="URL", help=help)


def build_parser() -> argparse.ArgumentParser:
    from goalkeeper.cli import admin, demo, report, server

    parser = argparse.ArgumentParser(
        prog="goalkeeper",
        description="Business goals attributed to the messages that drove them.",
    )
    parser.add_argument("--version", action="version", version=f"goalkeeper {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(
        name: str,
        help: str,
        handler: Handler,
        parent: Any = commands,
        database_help: str = DATABASE_HELP,
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = parent.add_parser(name, help=help, description=help)
        _database_flag(sub, database_help)
        sub.set_defaults(handler=handler)
        return sub

    server.register(command)
    admin.register(command, commands)
    demo.register(command)
    report.register(command, commands)
    return parser


def settings_help() -> str:
    return "\n".join(f"  {s.env:<40} {s.help} (default: {s.default})" for s in SETTINGS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    flags = {k: v for k, v in vars(args).items() if k in {s.name for s in SETTINGS if s.flag}}
    try:
        config = Config.load(flags)
    except ValueError as exc:
        print(f"goalkeeper: error: {exc}", file=sys.stderr)
        return 2
    try:
        handler: Handler = args.handler
        return handler(args, config)
    except (CliError, ValueError) as exc:
        print(f"goalkeeper: error: {exc}", file=sys.stderr)
        return 2
    except GoalkeeperError as exc:
        print(f"goalkeeper: error: {exc.detail or exc.message}", file=sys.stderr)
        return 2
    except SchemaOutdated as exc:
        print(f"goalkeeper: error: {exc}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as exc:
        # a damaged file, or one that changed under us after check_database looked at it
        print(
            f"goalkeeper: error: cannot use the database {config.database_url}: {exc};"
            " give --database the URL of a goalkeeper database",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
