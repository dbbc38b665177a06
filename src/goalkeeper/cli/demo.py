"""``goalkeeper demo``: a demo database with realistic data, then the server.

The demo seeds its own throwaway file, so that trying goalkeeper never touches a real
database: ``GOALKEEPER_DATABASE_URL`` is not read, and a database named with
``--database`` is seeded only while it holds no account.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from goalkeeper.cli import CliError, check_listen, open_database
from goalkeeper.config import Config
from goalkeeper.core.accounts import create_account
from goalkeeper.core.registry import create_goal, create_message, issue_recipients
from goalkeeper.errors import SchemaOutdated
from goalkeeper.guid import format_guid, uuid7
from goalkeeper.model import Channel, Counting, FulfillmentRequest, Source
from goalkeeper.store import Store, sqlite_path

DEMO_DATABASE = "sqlite:///goalkeeper-demo.db"
DATABASE_HELP = (
    "database to seed, which must hold no account yet (default: goalkeeper-demo.db in the"
    " working directory, recreated on every run; GOALKEEPER_DATABASE_URL is not read)"
)

MESSAGES = [
    ("Black Friday newsletter", Channel.EMAIL, 1200),
    ("Cart reminder", Channel.EMAIL, 600),
    ("Flash sale SMS", Channel.SMS_MMS, 500),
    ("Back in stock push", Channel.WEB_PUSH, 400),
]
GOALS = [
    ("Purchase", Counting.EVERY, 30),
    ("Filled in the questionnaire", Counting.ONCE_PER_RECIPIENT, 14),
    ("Newsletter sign-up", Counting.ONCE_PER_RECIPIENT, 7),
]


def register(command: Any) -> None:
    demo = command(
        "demo",
        "Seed a demo database and run the server on it.",
        run_demo,
        database_help=DATABASE_HELP,
    )
    demo.add_argument("--port", type=int, help="listen port (default 8080)")
    demo.add_argument("--host", help="listen address (default 127.0.0.1)")
    demo.add_argument("--seed", type=int, default=7, help="random seed for the demo data")


def seed(store: Store, rng: random.Random, days: int = 30) -> tuple[int, str, str]:
    """Fill an upgraded store; returns (account id, admin key, one known GUID)."""
    account = create_account(store, "Demo shop")
    goals = [
        create_goal(store, account.account_id, name, counting=counting, window_days=window)
        for name, counting, window in GOALS
    ]
    now = dt.datetime.now(dt.UTC)
    pending: list[FulfillmentRequest] = []
    for name, channel, size in MESSAGES:
        sent = now - dt.timedelta(days=rng.randint(3, days - 1), hours=rng.randint(0, 23))
        message = create_message(store, account.account_id, name, channel, "Customers", sent)
        subscribers = [(f"subscriber-{i}", uuid7()) for i in range(size)]
        for row in issue_recipients(store, message, subscribers, sent):
            if rng.random() >= 0.06:
                continue
            goal = rng.choices(goals, weights=[6, 2, 1])[0]
            # a buyer sometimes comes back: repeat purchases make "unique" differ from "all"
            repeats = rng.choices([1, 2, 3], weights=[8, 2, 1])[0] if goal.name == "Purchase" else 1
            for _ in range(repeats):
                occurred = min(sent + dt.timedelta(minutes=rng.randint(5, 60 * 24 * 3)), now)
                value = rng.randint(900, 25_000) if goal.name == "Purchase" else 0
                pending.append(
                    FulfillmentRequest(
                        account.account_id,
                        goal.id,
                        row.guid.bytes,
                        value,
                        None,
                        Source.JSON,
                        None,
                        occurred,
                    )
                )
    store.write_fulfillments(pending, 24)
    known = format_guid(pending[0].guid)
    return account.account_id, account.api_key, known


def shown_url(url: str) -> str:
    """``url`` with its password, if any, masked: the banner may end up in a log."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _refuse_data(store: Store) -> None:
    """The demo adds an account with a working admin key: never to a database in use."""
    version = store.schema_version()
    if version > store.latest_version():
        raise SchemaOutdated(version, store.latest_version())
    if version and store.account_ids():
        raise CliError(
            "the --database named already holds accounts, and the demo seeds only an empty"
            " one: leave out --database to use goalkeeper-demo.db, or name a new file"
        )


def run_demo(args: argparse.Namespace, config: Config) -> int:
    from goalkeeper.cli.server import serve

    own = args.database_url is None  # the demo's own file, recreated on every run
    if own:
        config = Config.load({"database_url": DEMO_DATABASE, "host": args.host, "port": args.port})
    check_listen(config.host, config.port)
    if own:
        path = sqlite_path(DEMO_DATABASE)
        for suffix in ("", "-wal", "-shm", "-lock"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = open_database(config, create=True)
    try:
        _refuse_data(store)
        store.upgrade()
        account_id, key, guid = seed(store, random.Random(args.seed))
        fulfillments = store.count_fulfillments(account_id)
    finally:
        store.close()
    base = f"http://{config.host}:{config.port}"
    body = (
        f"<ApiRequest><ApiKey>{key}</ApiKey><Data><GoalId>1</GoalId>"
        f"<GoalValue>4990</GoalValue><MessageGuid>{{guid}}</MessageGuid></Data></ApiRequest>"
    )
    print(
        f"""
goalkeeper demo: account {account_id} "Demo shop" with {len(GOALS)} goals, {len(MESSAGES)} messages
on Email, SmsMms and WebPush, and {fulfillments} fulfillments, in {shown_url(config.database_url)}

Admin API key (shown once): {key}

Record a purchase worth 49.90 (answers 201 Created):

  curl -i -X POST {base}/v2/Api/Goals -H 'Content-Type: application/xml' \\
    --data '{body.format(guid=guid)}'

The same with a GUID goalkeeper never issued (answers 400 "Message GUID was not recognized."):

  curl -i -X POST {base}/v2/Api/Goals -H 'Content-Type: application/xml' \\
    --data '{body.format(guid="00000000-0000-0000-0000-000000000000")}'

Dashboard: {base}/   (sign in with the admin API key above)
Report:    curl -H 'Authorization: Bearer {key}' '{base}/api/v1/reports/goals?by=goal'
Health: {base}/healthz   Stop with Ctrl+C.
""",
        file=sys.stderr,
        flush=True,
    )
    serve(config)
    return 0
