"""``goalkeeper report`` and ``goalkeeper db rebuild-counters``."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from goalkeeper.cli import CliError, emit_json, open_checked
from goalkeeper.config import Config
from goalkeeper.core.reports import (
    Report,
    ReportRequest,
    goal_report,
    parse_by,
    parse_channel,
    parse_date,
)
from goalkeeper.store import Store
from goalkeeper.text import visible

if TYPE_CHECKING:
    from rich.text import Text


def register(command: Any, commands: Any) -> None:
    report = command(
        "report", "The goal report (counted fulfillments, value, conversion).", run_report
    )
    report.add_argument("--account", type=int, metavar="ID", help="default: the only account")
    report.add_argument(
        "--from", dest="start", metavar="DATE", help="first day (default: 29 days before --to)"
    )
    report.add_argument(
        "--to", dest="end", metavar="DATE", help="last day, inclusive (default: today)"
    )
    report.add_argument(
        "--by",
        default="goal",
        metavar="KEYS",
        help="any of goal,message,channel,day (default goal)",
    )
    report.add_argument("--tz", default="UTC", metavar="ZONE", help="IANA time zone for days")
    report.add_argument("--goal", type=int, metavar="ID", help="only this goal")
    report.add_argument("--message", type=int, metavar="ID", help="only this message")
    report.add_argument(
        "--channel", choices=["Email", "SmsMms", "WebPush"], help="only this channel"
    )
    report.add_argument("--format", choices=["table", "csv", "json"], default="table")
    report.add_argument("--json", action="store_true", help="same as --format json")

    db = commands.choices["db"]
    db_commands = next(a for a in db._actions if isinstance(a, argparse._SubParsersAction))
    command(
        "rebuild-counters",
        "Recompute the report counters from the raw fulfillments and sends.",
        run_rebuild,
        db_commands,
    )


def _account(store: Store, wanted: int | None) -> int:
    accounts = store.account_ids()
    if wanted is not None:
        if wanted not in accounts:
            raise CliError(f"account {wanted} does not exist")
        return wanted
    if len(accounts) == 1:
        return accounts[0]
    if not accounts:
        raise CliError("the database has no account yet: run `goalkeeper init` first")
    raise CliError(f"the database has {len(accounts)} accounts: choose one with --account ID")


def run_report(args: argparse.Namespace, config: Config) -> int:
    store = open_checked(config)
    try:
        request = ReportRequest(
            account_id=_account(store, args.account),
            start=parse_date(args.start, "--from"),
            end=parse_date(args.end, "--to"),
            by=parse_by(args.by),
            tz=args.tz,
            goal_id=args.goal,
            message_id=args.message,
            channel=parse_channel(args.channel),
        )
        report = goal_report(store, request)
    finally:
        store.close()
    fmt = "json" if args.json else args.format
    if fmt == "json":
        emit_json(report.as_dict())
    elif fmt == "csv":
        sys.stdout.write(report.csv())
    else:
        print_table(report)
    return 0


def print_table(report: Report) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"Goals {report.start} to {report.end} ({report.tz})",
        caption="conversion = unique recipients / recipients",
    )
    rows = [row.as_dict(report.by) for row in report.rows]
    columns = list(rows[0]) if rows else list(report.totals.as_dict(report.by))
    for name in columns:
        numeric = name in {"fulfillments", "unique_recipients", "value", "recipients"}
        table.add_column(name.replace("_", " "), justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(_cell(row[c], c) for c in columns))
    totals = report.totals.as_dict(())
    if not report.totals.fulfillments:
        table.caption = (
            "No fulfillments in this range: widen --from/--to, or record goals."
            if report.totals.recipients
            else "No fulfillments or sends in this range: widen --from/--to, or record goals."
        )
    if report.by:
        table.add_section()
        table.add_row(
            *(
                _cell(totals[c], c) if c in totals else ("total" if i == 0 else "")
                for i, c in enumerate(columns)
            )
        )
    # piped output is not cut to 80 columns; a terminal keeps its own width
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def _cell(value: object, column: str) -> Text:
    """A table cell as plain text. Names come from API callers: a bracket in one is not
    rich markup (an unmatched ``[/bold]`` raised), and a control character (an escape
    sequence recolouring or relinking the operator's terminal) is shown as ``\\xNN``."""
    from rich.text import Text  # imported when a table is printed: start-up stays quick

    if value is None:
        return Text("-")
    if column == "conversion_rate" and isinstance(value, float):
        return Text(f"{value:.2%}")
    return Text(visible(str(value)))


def run_rebuild(args: argparse.Namespace, config: Config) -> int:
    store = open_checked(config)
    try:
        started = time.monotonic()
        result = store.rebuild_counters()
        took = time.monotonic() - started
    finally:
        store.close()
    print(
        f"rebuilt the report counters from {result.fulfillments} fulfillments in {took:.1f} s"
        f" ({result.goal_counters} goal counters, {result.message_counters} message counters)",
        file=sys.stderr,
    )
    return 0
