"""What keeping the report counters costs the hot path: write_fulfillments, batch of 100.

Times ``SqliteStore.write_fulfillments`` on batches of 100 fulfillments of two goals
(``every``, and ``once_per_recipient`` with a window) over 20,000 GUIDs, with the
counters kept (as shipped) and with the counting step switched off in this process
only, alternating the two a few rounds so a busy machine affects both alike.

    .venv/bin/python bench/counter_cost.py [--batches 200] [--rounds 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from goalkeeper.core.accounts import create_account
from goalkeeper.core.registry import create_goal, create_message, issue_recipients
from goalkeeper.model import Channel, Counting, FulfillmentRequest, Source
from goalkeeper.store import open_store
from goalkeeper.store.sqlite import SqliteStore


def run(folder: Path, batches: int, counters: bool) -> float:
    """Median milliseconds of one write_fulfillments call on a fresh database."""
    store = open_store(f"sqlite:///{folder / f'cost-{counters}-{time.monotonic_ns()}.db'}")
    assert isinstance(store, SqliteStore)
    if not counters:
        store._count_fulfillments = lambda conn, rows, firsts: None  # type: ignore[method-assign]
    try:
        store.upgrade()
        account = create_account(store, "Cost").account_id
        create_goal(store, account, "Purchase", 1)
        create_goal(store, account, "Survey", 2, Counting.ONCE_PER_RECIPIENT, 30)
        sent = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
        guids: list[bytes] = []
        for m in range(10):
            message = create_message(store, account, f"Message {m}", Channel.EMAIL, None, sent)
            people = [(f"s{i}", uuid.uuid4()) for i in range(2000)]
            guids += [r.guid.bytes for r in issue_recipients(store, message, people, sent)]
        rng = random.Random(1)
        took = []
        for _ in range(batches):
            batch = [
                FulfillmentRequest(
                    account,
                    rng.choice([1, 2]),
                    rng.choice(guids),
                    rng.randint(0, 1000),
                    None,
                    Source.XML,
                )
                for _ in range(100)
            ]
            started = time.perf_counter()
            store.write_fulfillments(batch, 24)
            took.append((time.perf_counter() - started) * 1000)
        return statistics.median(took)
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="gk-counter-cost-") as folder:
        for _ in range(args.rounds):
            for counters in (False, True):
                results[counters].append(run(Path(folder), args.batches, counters))
    without, with_ = min(results[False]), min(results[True])
    print(f"write_fulfillments, batch of 100: {without:.2f} ms without counters,"
          f" {with_:.2f} ms with them (+{with_ - without:.2f} ms; best median of"
          f" {args.rounds} rounds of {args.batches} batches)")  # fmt: skip


if __name__ == "__main__":
    main()
