"""The writer in its own process, over a real store: the same answers as the thread,
errors carried across, a dead child replaced, and nothing written after a 503."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from goalkeeper.core.writer import FulfillmentWriter, Writer
from goalkeeper.core.writer_process import (
    ProcessWriter,
    _take_batch,
    decode_outcome,
    encode_outcome,
)
from goalkeeper.errors import (
    GoalNotRecognized,
    MessageGuidNotRecognized,
    RateLimited,
    StorageUnavailable,
)
from goalkeeper.model import Stored
from goalkeeper.store import Store
from tests.core.test_writer import request, run_started
from tests.fixtures import SMS_GUID, UNKNOWN_GUID, World


def run_with_process_writer(
    database_url: str, batch_max: int, body: Callable[[ProcessWriter], Awaitable[Any]]
) -> tuple[Any, list[int]]:
    return run_started(
        lambda on_batch: ProcessWriter(database_url, batch_max=batch_max, on_batch=on_batch),
        body,
    )


def child_pid(writer: ProcessWriter) -> int:
    process = writer._process
    assert process is not None
    return process.pid


def test_outcomes_come_back_in_order_and_a_hand_over_is_one_transaction(
    store: Store, world: World, database_url: str
) -> None:
    requests = [request(world, value=i) for i in range(1200)]
    requests[7] = request(world, guid=UNKNOWN_GUID)
    requests[9] = request(world, goal=999)
    outcomes, sizes = run_with_process_writer(
        database_url, 512, lambda w: w.submit_many(requests[:7] + requests[10:])
    )
    assert sizes == [1197]  # never split, however large
    values = {row.id: row.value for row in store.list_fulfillments(world.account_id, 2000)}
    assert [values[o.fulfillment_id] for o in outcomes] == [*range(7), *range(10, 1200)]

    async def each(writer: ProcessWriter) -> list[Any]:
        return list(
            await asyncio.gather(
                *(writer.submit(r) for r in requests[7:10]), return_exceptions=True
            )
        )

    answers, _ = run_with_process_writer(database_url, 512, each)
    assert isinstance(answers[0], MessageGuidNotRecognized)
    assert isinstance(answers[1], Stored) and not answers[1].duplicate
    assert isinstance(answers[2], GoalNotRecognized)


def test_hand_overs_share_a_transaction_up_to_batch_max(
    store: Store, world: World, database_url: str
) -> None:
    async def body(writer: ProcessWriter) -> list[Any]:
        singles = [writer.submit(request(world, value=100 + i)) for i in range(4)]
        groups = [[request(world, value=g * 10 + i) for i in range(3)] for g in range(5)]
        many = [writer.submit_many(g) for g in groups]
        return list(await asyncio.gather(*singles, *many))

    outcomes, sizes = run_with_process_writer(database_url, 7, body)
    assert sum(sizes) == 19 and max(sizes) <= 7
    values = {row.id: row.value for row in store.list_fulfillments(world.account_id)}
    assert [values[o.fulfillment_id] for o in outcomes[:4]] == [100, 101, 102, 103]
    assert [[values[o.fulfillment_id] for o in g] for g in outcomes[4:]] == [
        [g * 10 + i for i in range(3)] for g in range(5)
    ]


def test_a_transaction_takes_whole_hand_overs() -> None:
    one = (1, ())
    three = (2, [(), (), ()])
    assert _take_batch([three, three, three], 7) == 2  # a third group would overflow
    assert _take_batch([three, three, one], 7) == 3  # exactly full
    assert _take_batch([three, one, one, three], 5) == 3
    assert _take_batch([(3, [()] * 9), one], 7) == 1  # a larger group goes alone
    assert _take_batch([one] * 9, 7) == 7


def test_errors_cross_the_wire_with_their_class_message_and_headers() -> None:
    for error in (StorageUnavailable(retry_after=3), RateLimited(retry_after=2)):
        back = decode_outcome(encode_outcome(error))
        assert type(back) is type(error)
        assert (back.status, back.code, back.message) == (error.status, error.code, error.message)
        assert back.headers == error.headers
    assert decode_outcome(encode_outcome(Stored(41, duplicate=True))) == Stored(41, True)
    assert decode_outcome(encode_outcome(Stored(42))) == Stored(42)
    unknown = decode_outcome(("NoSuchError", "x", {}))
    assert unknown.status == 500  # type: ignore[union-attr]


def test_the_database_url_is_not_on_the_childs_command_line(
    world: World, database_url: str
) -> None:
    async def body(writer: ProcessWriter) -> bytes:
        await writer.submit(request(world))
        return Path(f"/proc/{child_pid(writer)}/cmdline").read_bytes()

    cmdline, _ = run_with_process_writer(database_url, 512, body)
    assert b"goalkeeper.core.writer_process" in cmdline
    assert database_url.encode() not in cmdline


def test_a_dead_child_fails_what_it_held_and_is_replaced(
    store: Store, world: World, database_url: str
) -> None:
    async def body(writer: ProcessWriter) -> tuple[list[Any], Any, int, int]:
        first = child_pid(writer)
        await writer.submit(request(world, value=1))
        os.kill(first, signal.SIGKILL)
        # requests handed over around the death: each either stored or answered 503
        around = await asyncio.gather(
            *(writer.submit(request(world, value=100 + i)) for i in range(50)),
            return_exceptions=True,
        )
        for _ in range(100):  # a new child within the restart interval
            await asyncio.sleep(0.05)
            if writer._process is not None and child_pid(writer) != first:
                break
        after = await writer.submit(request(world, guid=SMS_GUID, value=2))
        return around, after, first, child_pid(writer)

    (around, after, first, second), _ = run_with_process_writer(database_url, 512, body)
    assert second != first
    assert isinstance(after, Stored)
    refused = {100 + i for i, o in enumerate(around) if isinstance(o, StorageUnavailable)}
    accepted = {100 + i for i, o in enumerate(around) if isinstance(o, Stored)}
    assert refused | accepted == set(range(100, 150))
    stored = {row.value for row in store.list_fulfillments(world.account_id)}
    assert accepted <= stored
    assert not refused & stored  # nothing answered 503 is written afterwards


def test_stop_writes_everything_handed_over(store: Store, world: World, database_url: str) -> None:
    async def main() -> list[Stored]:
        writer = ProcessWriter(database_url)
        writer.start()
        pending = asyncio.gather(*(writer.submit(request(world, value=i)) for i in range(300)))
        await asyncio.sleep(0)  # handed over, not yet answered
        await writer.stop()
        assert writer._process is None
        return list(await pending)  # type: ignore[arg-type]

    outcomes = asyncio.run(main())
    assert all(isinstance(o, Stored) for o in outcomes)
    assert store.count_fulfillments(world.account_id) == 300


def test_after_stop_new_requests_are_refused(world: World, database_url: str) -> None:
    async def main() -> None:
        writer = ProcessWriter(database_url)
        writer.start()
        await writer.stop()
        with pytest.raises(StorageUnavailable):
            await writer.submit(request(world))

    asyncio.run(main())


def test_the_child_imports_from_the_paths_the_server_process_added(
    world: World, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))

    async def body(writer: ProcessWriter) -> bytes:
        await writer.submit(request(world))
        return Path(f"/proc/{child_pid(writer)}/environ").read_bytes()

    environ, _ = run_with_process_writer(database_url, 512, body)
    variables = dict(entry.split(b"=", 1) for entry in environ.split(b"\0") if b"=" in entry)
    assert str(tmp_path).encode() in variables[b"PYTHONPATH"].split(os.pathsep.encode())


@pytest.mark.parametrize("kind", ["process", "thread"])
def test_requests_queued_behind_a_lock_timeout_fail_with_it(
    store: Store, world: World, database_url: str, kind: str
) -> None:
    """They used to wait a lock timeout of their own after the first batch's (10 s for
    a 5 s lock_timeout), then be written once the other client let go. Meanwhile the
    writer's health says writes fail (/readyz: unready), until one succeeds."""
    if store.dialect != "postgresql":
        pytest.skip("SQLite waits 10 s for a lock; PostgreSQL's 5 s keeps this test short")
    import psycopg

    holder = psycopg.connect(database_url)
    holder.execute("LOCK TABLE fulfillments IN EXCLUSIVE MODE")  # a transaction left open

    async def body(writer: FulfillmentWriter) -> tuple[list[Any], float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = asyncio.ensure_future(writer.submit(request(world)))
        await asyncio.sleep(1.0)  # the first batch is waiting for the lock by now
        later = [writer.submit(request(world)) for _ in range(3)]
        outcomes = await asyncio.gather(first, *later, return_exceptions=True)
        seconds = loop.time() - started
        assert writer.health.failing()
        holder.rollback()
        assert isinstance(await writer.submit(request(world)), Stored)
        assert not writer.health.failing()
        return outcomes, seconds

    def make(on_batch: Callable[[int, float], None]) -> FulfillmentWriter:
        if kind == "thread":
            return Writer(store, batch_max=512, on_batch=on_batch)
        return ProcessWriter(database_url, batch_max=512, on_batch=on_batch)

    try:
        (outcomes, seconds), _ = run_started(make, body)
    finally:
        holder.rollback()
        holder.close()
    assert all(isinstance(o, StorageUnavailable) for o in outcomes), outcomes
    assert seconds < 8  # one lock timeout (5 s), not two
    assert store.count_fulfillments(world.account_id) == 1  # the one after the lock
