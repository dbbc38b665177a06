"""The group-commit writer over a real store: batching, order, hand-over, stopping."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from goalkeeper.core.writer import FulfillmentWriter, Writer
from goalkeeper.errors import GoalNotRecognized, MessageGuidNotRecognized, StorageUnavailable
from goalkeeper.model import FulfillmentRequest, Source, Stored
from goalkeeper.store import Store
from tests.fixtures import SMS_GUID, SPEC_GUID, UNKNOWN_GUID, World


def request(
    world: World, guid: str = SPEC_GUID, goal: int = 1, value: int = 0
) -> FulfillmentRequest:
    return FulfillmentRequest(
        account_id=world.account_id,
        goal_id=goal,
        value=value,
        channel=None,
        guid=uuid.UUID(guid).bytes,
        source=Source.JSON,
        idempotency_key=None,
    )


W = TypeVar("W", bound=FulfillmentWriter)


def run_started(
    make: Callable[[Callable[[int, float], None]], W], body: Callable[[W], Awaitable[Any]]
) -> tuple[Any, list[int]]:
    """What ``body`` returns with a started writer (stopped afterwards), and the batch
    sizes it reported; ``make`` builds the writer around the batch callback."""
    sizes: list[int] = []

    async def main() -> Any:
        writer = make(lambda n, _s: sizes.append(n))
        writer.start()
        try:
            return await body(writer)
        finally:
            await writer.stop()

    return asyncio.run(main()), sizes


def run_with_writer(
    store: Store, batch_max: int, body: Callable[[Writer], Awaitable[Any]]
) -> tuple[Any, list[int]]:
    return run_started(lambda on_batch: Writer(store, batch_max=batch_max, on_batch=on_batch), body)


def test_a_hand_over_is_one_transaction_answered_in_order(store: Store, world: World) -> None:
    requests = [request(world, value=i) for i in range(1200)]
    outcomes, sizes = run_with_writer(store, 512, lambda w: w.submit_many(requests))
    assert sizes == [1200]  # never split, however large
    ids = [o.fulfillment_id for o in outcomes if isinstance(o, Stored)]
    assert len(set(ids)) == 1200
    stored = {row.id: row.value for row in store.list_fulfillments(world.account_id, 2000)}
    assert [stored[i] for i in ids] == list(range(1200))


def test_hand_overs_share_a_transaction_up_to_batch_max(store: Store, world: World) -> None:
    async def body(writer: Writer) -> list[object]:
        groups = [[request(world, value=g * 10 + i) for i in range(3)] for g in range(5)]
        return list(await asyncio.gather(*(writer.submit_many(g) for g in groups)))

    outcomes, sizes = run_with_writer(store, 7, body)
    # whole hand-overs of 3, as many as fit in 7 (the first may wait alone)
    assert sum(sizes) == 15 and all(n % 3 == 0 and n <= 6 for n in sizes)
    values = {row.id: row.value for row in store.list_fulfillments(world.account_id)}
    assert [[values[o.fulfillment_id] for o in g] for g in outcomes] == [
        [g * 10 + i for i in range(3)] for g in range(5)
    ]


def test_each_item_gets_its_own_outcome_within_one_batch(store: Store, world: World) -> None:
    requests = [
        request(world, value=1),
        request(world, guid=UNKNOWN_GUID),
        request(world, value=2),
        request(world, goal=99),
        request(world, guid=SMS_GUID, value=3),
    ]
    outcomes, sizes = run_with_writer(store, 512, lambda w: w.submit_many(requests))
    assert sizes == [5]
    assert isinstance(outcomes[1], MessageGuidNotRecognized)
    assert isinstance(outcomes[3], GoalNotRecognized)
    stored = [o for o in outcomes if isinstance(o, Stored)]
    rows = {row.id: row for row in store.list_fulfillments(world.account_id)}
    assert [rows[s.fulfillment_id].value for s in stored] == [1, 2, 3]
    assert rows[stored[2].fulfillment_id].message_guid == uuid.UUID(SMS_GUID).bytes


def test_concurrent_requests_share_transactions(store: Store, world: World) -> None:
    async def body(writer: Writer) -> list[object]:
        return list(await asyncio.gather(*(writer.submit(request(world)) for _ in range(200))))

    outcomes, sizes = run_with_writer(store, 64, body)
    assert all(isinstance(o, Stored) for o in outcomes)
    assert sum(sizes) == 200 and max(sizes) <= 64 and len(sizes) < 200
    assert store.count_fulfillments(world.account_id) == 200


def test_stop_answers_everything_queued_then_refuses(store: Store, world: World) -> None:
    async def body(writer: Writer) -> list[object]:
        pending = [asyncio.ensure_future(writer.submit(request(world))) for _ in range(50)]
        await asyncio.sleep(0)  # every submit has queued its request
        await writer.stop()
        with pytest.raises(StorageUnavailable):
            await writer.submit(request(world))
        return list(await asyncio.gather(*pending))

    outcomes, _ = run_with_writer(store, 8, body)
    assert len(outcomes) == 50 and all(isinstance(o, Stored) for o in outcomes)
    assert store.count_fulfillments(world.account_id) == 50
