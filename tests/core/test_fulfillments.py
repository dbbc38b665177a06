"""core.fulfillments: occurred_at rules, per-item outcomes in order, dry runs."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from goalkeeper.core.fulfillments import FUTURE_ALLOWANCE, VALID, Fulfillments, Valid
from goalkeeper.core.writer import Writer
from goalkeeper.errors import GoalkeeperError, GoalNotRecognized, OccurredInFuture, OccurredTooOld
from goalkeeper.model import Stored
from goalkeeper.store import Store
from goalkeeper.wire.json_api import FulfillmentInput
from tests.fixtures import SPEC_GUID, World

T = TypeVar("T")
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
GUID = uuid.UUID(SPEC_GUID).bytes


def item(occurred_at: dt.datetime | None = None, goal_id: int = 1, key: str | None = None):  # type: ignore[no-untyped-def]
    return FulfillmentInput(goal_id, GUID, 5, None, key, occurred_at)


def run(store: Store, body: Callable[[Fulfillments], Awaitable[T]]) -> T:
    async def main() -> T:
        writer = Writer(store)
        writer.start()
        try:
            recorder = Fulfillments(
                store, writer, max_occurred_age_days=30, idempotency_hours=24, clock=lambda: NOW
            )
            return await body(recorder)
        finally:
            await writer.stop()

    return asyncio.run(main())


def test_occurred_at_bounds(store: Store, world: World) -> None:
    oldest = NOW - dt.timedelta(days=30)
    items = [
        item(NOW + FUTURE_ALLOWANCE),
        item(NOW + FUTURE_ALLOWANCE + dt.timedelta(microseconds=1)),
        item(oldest),
        item(oldest - dt.timedelta(microseconds=1)),
        item(None),
    ]
    verdicts = run(store, lambda f: f.validate(world.account_id, items))
    assert [type(v) for v in verdicts] == [Valid, OccurredInFuture, Valid, OccurredTooOld, Valid]
    assert "30 days" in str(verdicts[3])


def test_a_batch_keeps_order_and_bad_items_fail_alone(store: Store, world: World) -> None:
    bad: GoalkeeperError = GoalNotRecognized("from the wire")
    items = [item(key="a"), bad, item(goal_id=77), item(key="a"), item(NOW - dt.timedelta(days=1))]
    outcomes = run(store, lambda f: f.record_batch(world.account_id, items))
    assert isinstance(outcomes[0], Stored) and not outcomes[0].duplicate
    assert outcomes[1] is bad
    assert isinstance(outcomes[2], GoalNotRecognized)
    assert outcomes[3] == Stored(outcomes[0].fulfillment_id, duplicate=True)
    assert isinstance(outcomes[4], Stored)
    rows = {r.id: r for r in store.list_fulfillments(world.account_id)}
    assert set(rows) == {outcomes[0].fulfillment_id, outcomes[4].fulfillment_id}
    assert rows[outcomes[4].fulfillment_id].occurred_at == NOW - dt.timedelta(days=1)


def test_a_dry_run_stores_nothing_and_sees_bound_keys(store: Store, world: World) -> None:
    async def both(f: Fulfillments) -> tuple[Stored, list[object]]:
        stored = await f.record(world.account_id, item(key="k"))
        verdicts = await f.validate(
            world.account_id, [item(key="k"), item(key="new"), item(key="new"), item(goal_id=9)]
        )
        return stored, list(verdicts)

    stored, verdicts = run(store, both)
    assert verdicts[0] == Stored(stored.fulfillment_id, duplicate=True)
    assert verdicts[1] is VALID
    assert verdicts[2] == Valid(same_as=1)
    assert isinstance(verdicts[3], GoalNotRecognized)
    assert store.count_fulfillments(world.account_id) == 1
