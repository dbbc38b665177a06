"""Account, key, goal and recipient commands."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from goalkeeper.cli import CliError, emit_json, open_checked, open_database
from goalkeeper.config import Config, setting_named
from goalkeeper.core import imports
from goalkeeper.core.accounts import create_account, ensure_schema
from goalkeeper.core.keys import create_key
from goalkeeper.core.registry import create_goal
from goalkeeper.model import Counting, Scope


def register(command: Any, commands: Any) -> None:
    init = command(
        "init", "Create the schema if needed and an account with an admin key.", run_init
    )
    init.add_argument("--account", default="default", metavar="NAME", help="account name")
    init.add_argument("--json", action="store_true", help="print one JSON document")

    keys = command("keys", "Create and revoke API keys.", lambda a, c: 0)
    key_commands = keys.add_subparsers(dest="keys_command", metavar="COMMAND", required=True)
    create = command("create", "Create an API key (printed once).", run_keys_create, key_commands)
    create.add_argument("--account", type=int, required=True, metavar="ID")
    create.add_argument("--scope", choices=[s.value for s in Scope], required=True)
    create.add_argument(
        "--origin",
        action="append",
        default=[],
        metavar="URL",
        help="allowed website origin (tracker keys; repeatable)",
    )
    create.add_argument(
        "--rate-limit",
        dest="key_rate_limit",  # this key's own limit, not the server-wide rate_limit setting
        type=int,
        metavar="N",
        help="requests per second for this key (default: the server's)",
    )
    create.add_argument("--json", action="store_true", help="print one JSON document")
    revoke = command("revoke", "Revoke an API key by its prefix.", run_keys_revoke, key_commands)
    revoke.add_argument("prefix", metavar="KEY_PREFIX")

    goals = command("goals", "Define business goals.", lambda a, c: 0)
    goal_commands = goals.add_subparsers(dest="goals_command", metavar="COMMAND", required=True)
    goal = command("create", "Define a business goal.", run_goals_create, goal_commands)
    goal.add_argument("--account", type=int, required=True, metavar="ID")
    goal.add_argument("--name", required=True)
    goal.add_argument(
        "--id", type=int, dest="goal_id", metavar="N", help="goal id (default: next free)"
    )
    goal.add_argument("--counting", choices=[c.value for c in Counting], default="every")
    goal.add_argument("--window-days", type=int, metavar="D", help="attribution window in days")
    goal.add_argument("--json", action="store_true", help="print one JSON document")

    recipients = command("recipients", "The MessageGuid registry.", lambda a, c: 0)
    rec_commands = recipients.add_subparsers(dest="rec_command", metavar="COMMAND", required=True)
    imp = command("import", "Import a send log (CSV or NDJSON).", run_import, rec_commands)
    imp.add_argument("file", metavar="FILE", help="CSV with a header line, or NDJSON ('-': stdin)")
    imp.add_argument("--account", type=int, required=True, metavar="ID")
    imp.add_argument("--message", type=int, metavar="ID", help="put every row on this message")
    imp.add_argument("--format", choices=["csv", "ndjson"], help="default: from the file name")
    imp.add_argument("--json", action="store_true", help="print one JSON document")


def run_init(args: argparse.Namespace, config: Config) -> int:
    store = open_database(config, create=True)
    try:
        ensure_schema(store)
        store.close()
        store = open_checked(config)
        account = create_account(store, args.account)
    finally:
        store.close()
    if args.json:
        emit_json({"account_id": account.account_id, "api_key": account.api_key})
    else:
        print(f"account {account.account_id} created; admin API key (shown once):", file=sys.stderr)
        print(account.api_key)
    return 0


def run_keys_create(args: argparse.Namespace, config: Config) -> int:
    scope = Scope(args.scope)
    if args.origin and scope is not Scope.TRACKER:
        raise CliError(
            f"--origin applies only to tracker keys: leave it out for an {scope.value} key,"
            " or create it with --scope tracker"
        )
    rate_limit = args.key_rate_limit
    if rate_limit is not None:
        # a key's own limit allows what the server-wide default allows
        rate_limit = setting_named("rate_limit").convert(rate_limit, "--rate-limit")
    store = open_checked(config)
    try:
        if args.account not in store.account_ids():
            raise CliError(f"account {args.account} does not exist")
        issued = create_key(store, args.account, scope, args.origin, rate_limit)
    finally:
        store.close()
    if args.json:
        emit_json(
            {
                "key": issued.key,
                "prefix": issued.record.prefix,
                "scope": issued.record.scope.value,
                "account_id": issued.record.account_id,
            }
        )
    else:
        print(
            f"{issued.record.scope.value} key {issued.record.prefix} for account"
            f" {issued.record.account_id} (shown once):",
            file=sys.stderr,
        )
        print(issued.key)
    return 0


def run_keys_revoke(args: argparse.Namespace, config: Config) -> int:
    store = open_checked(config)
    try:
        prefix = args.prefix.removeprefix("gk_").split("_")[0]
        if not store.revoke_api_key(prefix):
            raise CliError(f"no active key with prefix {args.prefix!r}")
    finally:
        store.close()
    print(
        f"key {prefix} revoked; every server stops accepting it within key_cache_seconds",
        file=sys.stderr,
    )
    return 0


def run_goals_create(args: argparse.Namespace, config: Config) -> int:
    store = open_checked(config)
    try:
        if args.account not in store.account_ids():
            raise CliError(f"account {args.account} does not exist")
        goal = create_goal(
            store, args.account, args.name, args.goal_id, Counting(args.counting), args.window_days
        )
    finally:
        store.close()
    if args.json:
        emit_json(
            {
                "account_id": goal.account_id,
                "id": goal.id,
                "name": goal.name,
                "counting": goal.counting.value,
                "window_days": goal.window_days,
            }
        )
    else:
        print(f"goal {goal.id} ({goal.name!r}) created for account {goal.account_id}")
    return 0


def run_import(args: argparse.Namespace, config: Config) -> int:
    with _send_log(args.file) as (path, name):
        return _import(args, config, path, name)


@contextlib.contextmanager
def _send_log(file: str) -> Iterator[tuple[Path, str]]:
    """The send log as a file on disk, read twice (checked, then written) and never held
    in memory whole; standard input is spooled to a temporary file first."""
    if file != "-":
        path = Path(file)
        if path.is_dir():
            raise CliError(f"{file} is a directory: give the send log's file name")
        if not path.is_file():
            raise CliError(f"{file}: no such file")
        yield path, path.name
        return
    with tempfile.NamedTemporaryFile(prefix="goalkeeper-import-") as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool, 1 << 20)
        spool.flush()
        yield Path(spool.name), "stdin"


def _open_log(path: Path) -> IO[str]:
    # newline="": the csv module reads line ends inside quoted fields itself
    return path.open(encoding="utf-8-sig", newline="")


def _import(args: argparse.Namespace, config: Config, path: Path, name: str) -> int:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    with _open_log(path) as log:
        try:
            head = log.read(200)
        except UnicodeDecodeError:
            raise CliError(f"{name}: not UTF-8") from None
    fmt = args.format or imports.detect_format(name, head)
    console = Console(stderr=True)
    quiet = args.json or not sys.stderr.isatty()
    store = open_checked(config)
    try:
        if args.account not in store.account_ids():
            raise CliError(f"account {args.account} does not exist")
        message = None
        if args.message is not None:
            message = store.get_message(args.account, args.message)
            if message is None:
                raise CliError(f"message {args.message} does not exist in account {args.account}")
        try:
            with (
                Progress(
                    SpinnerColumn(),
                    TextColumn("checking {task.completed:,} records"),
                    disable=quiet,
                    console=console,
                    transient=True,
                ) as checking,
                _open_log(path) as log,
            ):
                task = checking.add_task("check", total=None)
                total = imports.check_file(
                    log, fmt, message, lambda n: checking.update(task, completed=n)
                )
        except imports.ImportFailed as exc:
            lines = "\n  ".join(exc.errors)
            raise CliError(
                f"{name}: nothing imported, fix these records first:\n  {lines}"
            ) from None
        except KeyboardInterrupt:
            print(f"{name}: interrupted while checking: nothing imported", file=sys.stderr)
            raise
        written = 0
        with (
            Progress(
                TextColumn("importing"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                disable=quiet,
                console=console,
            ) as progress,
            _open_log(path) as log,
            _stop_on_interrupt(name) as stop,
        ):
            task = progress.add_task("import", total=total)

            def advance(n: int) -> None:
                nonlocal written
                written += n
                progress.advance(task, n)

            try:
                result = imports.import_records(
                    store, args.account, log, fmt, message, advance, stop
                )
            except imports.ImportStopped as stopped:
                progress.stop()
                print(
                    f"{name}: interrupted: the first {stopped.result.records:,} of {total:,}"
                    " records are registered; run the same import again to register the rest"
                    " (it skips GUIDs already registered)",
                    file=sys.stderr,
                )
                raise KeyboardInterrupt from None
            except KeyboardInterrupt:  # a second Ctrl-C: stopped at once, within a chunk
                progress.stop()
                print(
                    f"{name}: interrupted: at least the first {written:,} of {total:,} records"
                    " are registered; run the same import again to register the rest (it"
                    " skips GUIDs already registered)",
                    file=sys.stderr,
                )
                raise
    finally:
        store.close()
    if args.json:
        emit_json(
            {
                "records": result.records,
                "registered": result.inserted,
                "already_registered": result.already_registered,
                "taken": len(result.taken),
                "messages_created": result.messages_created,
            }
        )
    else:
        taken = f", {len(result.taken)} taken by other sends" if result.taken else ""
        print(
            f"{result.records} records: {result.inserted} registered,"
            f" {result.already_registered} already registered{taken},"
            f" {result.messages_created} messages created"
        )
    if not result.taken:
        return 0
    for line, guid in result.taken[: imports.MAX_ERRORS]:
        print(
            f"{name}: line {line}: GUID {guid} is already registered to another send; not imported",
            file=sys.stderr,
        )
    if len(result.taken) > imports.MAX_ERRORS:
        print(f"{name}: and {len(result.taken) - imports.MAX_ERRORS:,} more", file=sys.stderr)
    return 1


@contextlib.contextmanager
def _stop_on_interrupt(name: str) -> Iterator[Callable[[], bool]]:
    """The first Ctrl-C asks the import to stop after the chunk being written, so what
    it reports is exact; a second one stops it at once."""
    asked = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield asked.is_set  # signals reach the main thread only
        return

    def first(_signum: int, _frame: object) -> None:
        asked.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print(
            f"{name}: stopping after the current chunk (Ctrl-C again to stop at once)",
            file=sys.stderr,
        )

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield asked.is_set
    finally:
        signal.signal(signal.SIGINT, previous)
