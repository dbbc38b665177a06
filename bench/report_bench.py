"""How long the goal report takes, grouped by message and day, over many fulfillments.

Seeds a database quickly: messages and their recipients through the store, raw
fulfillments by bulk INSERT (SQLite) or COPY (PostgreSQL), then one rebuild of the
counters, the same work as ``goalkeeper db rebuild-counters``. Then it times
``goal_report(by=message,day)`` over the whole range, in UTC and in a zone with a
half-hour offset and a daylight-saving change, and prints milliseconds.

    .venv/bin/python bench/report_bench.py                       # 1M fulfillments, SQLite
    .venv/bin/python bench/report_bench.py --fulfillments 10000000 --sends 10000
    .venv/bin/python bench/report_bench.py --database postgresql://...

Target: <= 100 ms at 1M fulfillments; at 10M within 2x of that.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from goalkeeper.core.accounts import create_account
from goalkeeper.core.registry import create_goal, create_message
from goalkeeper.core.reports import ReportRequest, goal_report
from goalkeeper.model import Channel, Counting, Recipient
from goalkeeper.store import Store, open_store

CHANNELS = (Channel.EMAIL, Channel.EMAIL, Channel.SMS_MMS, Channel.WEB_PUSH)
GOALS = [
    ("Purchase", Counting.EVERY, 30),
    ("Second purchase", Counting.EVERY, None),
    ("Questionnaire", Counting.ONCE_PER_RECIPIENT, 14),
    ("Sign-up", Counting.ONCE_PER_RECIPIENT, 7),
    ("Download", Counting.EVERY, 3),
]


def seed(
    store: Store,
    fulfillments: int,
    messages: int,
    days: int,
    rng: random.Random,
    sends_cap: int | None = None,
) -> int:
    """A realistic account: campaigns over ``days``, conversions decaying after each send."""
    account = create_account(store, "Bench").account_id
    for name, counting, window in GOALS:
        create_goal(store, account, name, counting=counting, window_days=window)
    end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    start = end - dt.timedelta(days=days)
    per_message = max(1, fulfillments // messages)
    sends = max(2000, per_message + per_message // 4)
    if sends_cap is not None:
        sends = min(sends, sends_cap)  # more fulfillments per GUID: repeat customers
    guids_of: list[tuple[int, Channel, dt.datetime, list[bytes]]] = []
    for index in range(messages):
        channel = CHANNELS[index % len(CHANNELS)]
        sent = start + dt.timedelta(seconds=rng.uniform(0, (days - 3) * 86400))
        message = create_message(store, account, f"Campaign {index}", channel, "All", sent)
        # GUIDs differ per account, so a second run on the same database adds its own
        guids = [uuid.UUID(int=rng.getrandbits(128) ^ account) for _ in range(sends)]
        store.add_recipients(
            [Recipient(g, account, message.id, f"s{i}", channel, sent) for i, g in enumerate(guids)]
        )
        guids_of.append((message.id, channel, sent, [g.bytes for g in guids]))

    def rows(count: int) -> list[tuple[object, ...]]:
        out = []
        for _ in range(count):
            message_id, channel, sent, guids = rng.choice(guids_of)
            delay = min(rng.expovariate(1 / 36000), 40 * 86400)  # mean 10 hours
            occurred = min(sent + dt.timedelta(seconds=delay), end)
            goal = 1 + min(int(rng.expovariate(1.0)), len(GOALS) - 1)
            out.append(
                (account, goal, rng.choice(guids), message_id, "s", channel.value,
                 rng.randint(100, 50_000), "json", occurred)
            )  # fmt: skip
        return out

    started = time.monotonic()
    chunk = 200_000
    for offset in range(0, fulfillments, chunk):
        batch = rows(min(chunk, fulfillments - offset))
        _bulk_insert(store, batch)
        done = offset + len(batch)
        print(
            f"  {done:>10,} fulfillments inserted ({time.monotonic() - started:.0f} s)", flush=True
        )
    return account


def _bulk_insert(store: Store, batch: list[tuple[object, ...]]) -> None:
    if store.dialect == "sqlite":
        conn = sqlite3.connect(store.path)  # type: ignore[attr-defined]
        try:
            with conn:
                conn.executemany(
                    "INSERT INTO fulfillments (account_id, goal_id, message_guid, message_id,"
                    " subscriber_id, channel, value, source, occurred_at, received_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (*r[:8], _text(r[8]), _text(r[8]))  # type: ignore[arg-type]
                        for r in batch
                    ],
                )
        finally:
            conn.close()
        return
    import psycopg

    copy_sql = (
        "COPY fulfillments (account_id, goal_id, message_guid, message_id, subscriber_id,"
        " channel, value, source, occurred_at, received_at) FROM STDIN"
    )
    with (
        psycopg.connect(store.url) as conn,  # type: ignore[attr-defined]
        conn.cursor().copy(copy_sql) as copy,
    ):
        for r in batch:
            copy.write_row((*r[:2], uuid.UUID(bytes=r[2]), *r[3:9], r[8]))  # type: ignore[arg-type]


def _text(moment: dt.datetime) -> str:
    return moment.isoformat(sep=" ", timespec="microseconds")[:26]


def time_report(store: Store, account: int, days: int, tz: str, runs: int) -> list[float]:
    end = dt.datetime.now(dt.UTC).date()
    request = ReportRequest(account, end - dt.timedelta(days=days), end, ("message", "day"), tz)
    goal_report(store, request)  # warm the caches once
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        report = goal_report(store, request)
        took.append((time.perf_counter() - started) * 1000)
    assert report.rows
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fulfillments", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--sends", type=int, help="cap on recipients per message (default: 1.25x its share)"
    )
    parser.add_argument("--database", help="default: a new SQLite file in a temporary folder")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory(prefix="gk-report-bench-")
    url = args.database or f"sqlite:///{Path(folder.name) / 'bench.db'}"
    store = open_store(url)
    try:
        store.upgrade()
        print(
            f"seeding {args.fulfillments:,} fulfillments over {args.messages} messages", flush=True
        )
        started = time.monotonic()
        account = seed(
            store, args.fulfillments, args.messages, args.days, random.Random(1), args.sends
        )
        seeded = time.monotonic() - started
        started = time.monotonic()
        rebuilt = store.rebuild_counters()
        rebuild_s = time.monotonic() - started
        print(
            f"seeded in {seeded:.0f} s; rebuild-counters {rebuild_s:.1f} s"
            f" ({rebuilt.goal_counters:,} goal counters, {rebuilt.message_counters:,} message counters)"
        )
        results = {}
        for tz in ("UTC", "Asia/Kolkata", "Europe/Warsaw"):
            took = time_report(store, account, args.days, tz, args.runs)
            median = statistics.median(took)
            p95 = sorted(took)[max(0, math.ceil(len(took) * 0.95) - 1)]
            results[tz] = {"median_ms": round(median, 1), "p95_ms": round(p95, 1)}
            print(
                f"report by message,day over {args.days} days, tz {tz}:"
                f" median {median:.1f} ms, p95 {p95:.1f} ms ({args.runs} runs)"
            )
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "fulfillments": args.fulfillments,
                        "messages": args.messages,
                        "days": args.days,
                        "backend": store.dialect,
                        "goal_counters": rebuilt.goal_counters,
                        "report": results,
                    },
                    indent=2,
                )
            )
    finally:
        store.close()
        folder.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
