"""The least a 1,000-row JSON batch can cost the SQLite writer, statement by statement.

``make bench`` holds the JSON batch path to 0.6 of a raw ``executemany`` that only
inserts rows whose registry data it already has. goalkeeper's writer must also find
each GUID in the registry and read the earliest fulfillments the report counters
compare against. This script seeds the same database as ``make bench`` (1M
recipients), stores one round of fulfillments so every sampled GUID has its earliest
row, then times, per row of 1,000-row batches, each statement the writer runs, in C
and with no Python work per row beyond building the parameters:

- the GUID lookup, which reads each GUID's registry row and its earliest stored
  fulfillments (``recipients`` joined with ``first_fulfillments``, one ``IN (...)`` of
  512 at most);
- the insert (multi-row ``INSERT``, 256 rows at most), and the commit;
- the raw ``executemany`` the benchmark compares with, its commit included.

Every batch is rolled back except the baseline's, so each measures the same database.

    .venv/bin/python bench/json_floor.py [--recipients 1000000] [--batches 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # bench/run.py, beside this file

from goalkeeper.model import FulfillmentRequest, Source
from goalkeeper.store import open_store
from goalkeeper.store.sqlite import ts
from goalkeeper.store.sqlite_fulfillments import (
    _FULFILLMENT_ROW,
    _INSERT_FULFILLMENTS,
    _INSERT_ROWS,
    _LOOKUP_GUIDS,
    _chunk_sizes,
)

ROWS = run.JSON_BATCH


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=30)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="goalkeeper-floor-") as folder:
        url = f"sqlite:///{Path(folder) / 'floor.db'}"
        print(f"seeding {args.recipients:,} recipients...", file=sys.stderr)
        seeded = run.seed(url, args.recipients)
        guids = [uuid.UUID(g).bytes for g in seeded.guids]
        store = open_store(url)
        try:  # every sampled GUID gets its earliest fulfillment, as in a running bench
            requests = [
                FulfillmentRequest(seeded.account_id, run.GOAL_ID, g, 1, None, Source.JSON, None)
                for g in guids
            ]
            store.write_fulfillments(requests, idempotency_hours=24)
        finally:
            store.close()
        conn = sqlite3.connect(url[len("sqlite:///") :], isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA cache_size = -32768")  # as the writer's connection
        results = measure(conn, seeded.account_id, guids, args.batches)
        conn.close()
    width = max(map(len, results))
    print(f"\nper row of {ROWS:,}-row batches, {args.recipients:,} recipients")
    for name, micros in results.items():
        print(f"  {name:<{width}}  {micros:5.2f} µs")
    writer = sum(v for k, v in results.items() if k != "raw executemany + commit")
    base = results["raw executemany + commit"]
    print(f"  run one after the other, the writer's statements allow {base / writer:.2f} of it")
    return 0


def measure(
    conn: sqlite3.Connection, account_id: int, guids: list[bytes], batches: int
) -> dict[str, float]:
    now = ts(dt.datetime.now(dt.UTC))

    def batch(n: int) -> list[bytes]:
        return [guids[(n * 613 + i) % len(guids)] for i in range(ROWS)]

    def rows(n: int) -> list[tuple[object, ...]]:
        return [
            (account_id, run.GOAL_ID, g, 1, "subscriber", "Email", 1999, "json", None, now, now)
            for g in batch(n)
        ]

    def in_chunks(sql: str, n: int) -> None:
        keys = list(set(batch(n)))
        start = 0
        for size in _chunk_sizes(len(keys), _LOOKUP_GUIDS):
            chunk = keys[start : start + size]
            start += size
            conn.execute(sql.format(",".join("?" * size)), chunk).fetchall()

    def lookup(n: int) -> None:
        in_chunks(
            "SELECT r.guid, r.account_id, r.message_id, r.subscriber_id, r.channel,"
            " r.sent_at, f.account_id, f.goal_id, f.fulfillment_id, f.occurred_at, f.value"
            " FROM recipients r LEFT JOIN first_fulfillments f ON f.guid = r.guid"
            " WHERE r.guid IN ({})",
            n,
        )

    def insert(n: int) -> None:
        values = rows(n)
        start = 0
        for size in _chunk_sizes(len(values), _INSERT_ROWS):
            part = values[start : start + size]
            start += size
            conn.execute(
                _INSERT_FULFILLMENTS + ", ".join([_FULFILLMENT_ROW] * size),
                [v for row in part for v in row],
            )

    def executemany(n: int) -> None:
        conn.executemany(_INSERT_FULFILLMENTS + _FULFILLMENT_ROW, rows(n))

    def timed(step: Callable[[int], None], commit: bool) -> float:
        total = 0.0
        for n in range(batches):
            started = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            step(n)
            if commit:
                conn.execute("COMMIT")
                total += time.perf_counter() - started
            else:
                total += time.perf_counter() - started
                conn.execute("ROLLBACK")
        return total / batches / ROWS * 1e6

    def commit_only(_n: int) -> None:
        conn.execute("PRAGMA user_version = 1")  # one page written: the commit's fsync

    return {
        "GUID lookup with earliest rows": timed(lookup, commit=False),
        "insert": timed(insert, commit=False),
        "commit (fsync), shared by the rows": timed(commit_only, commit=True),
        "raw executemany + commit": timed(executemany, commit=True),
    }


if __name__ == "__main__":
    raise SystemExit(main())
