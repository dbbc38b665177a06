"""The ``goalkeeper`` command line: thin wrappers over the same core the HTTP API uses."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from goalkeeper import __version__
from goalkeeper.config import SETTINGS, Config
from goalkeeper.errors import GoalkeeperError, SchemaOutdated
from goalkeeper.store import Store, open_store

Handler = Callable[[argparse.Namespace, Config], int]


class CliError(Exception):
    """A failure to report on stderr with exit status 2 (no traceback)."""


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def open_checked(config: Config) -> Store:
    """The store, with a schema this goalkeeper can use (else a message naming the fix)."""
    try:
        store = open_store(config.database_url)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    version = store.schema_version()
    if version != store.latest_version():
        store.close()
        raise CliError(str(SchemaOutdated(version, store.latest_version())))
    return store


def _database_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        dest="database_url",
        metavar="URL",
        help="database URL (env GOALKEEPER_DATABASE_URL, default sqlite:///goalkeeper.db)",
    )


def build_parser() -> argparse.ArgumentParser:
    from goalkeeper.cli import admin, demo, report, server

    parser = argparse.ArgumentParser(
        prog="goalkeeper",
        description="Business goals attributed to the messages that drove them.",
    )
    parser.add_argument("--version", action="version", version=f"goalkeeper {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(
        name: str, help: str, handler: Handler, parent: Any = commands
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = parent.add_parser(name, help=help, description=help)
        _database_flag(sub)
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
    flags = {k: v for k, v in vars(args).items() if k in {s.name for s in SETTINGS}}
    try:
        config = Config.load(flags)
        handler: Handler = args.handler
        return handler(args, config)
    except (CliError, ValueError) as exc:
        print(f"goalkeeper: error: {exc}", file=sys.stderr)
        return 2
    except GoalkeeperError as exc:
        print(f"goalkeeper: error: {exc.detail or exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
