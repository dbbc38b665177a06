"""Recording fulfillments from the JSON API: one, a batch, or a dry run.

The wire adapter hands over parsed items (:class:`FulfillmentInput`) or the error each
item alone has. Here the ``occurred_at`` rules are applied (a missing time means now;
one in the future, beyond a small allowance for clock skew, or older than
``max_occurred_age_days`` is refused), and every valid item of a batch goes to the
group-commit writer in one hand-over, so the items share transactions. One bad item
never fails the others: each gets its own outcome, in order. A dry run
(``validate_only``) asks the store what would happen, GUIDs, goals and idempotency
keys included, and stores nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence

from goalkeeper.core.writer import FulfillmentWriter
from goalkeeper.errors import GoalkeeperError, OccurredInFuture, OccurredTooOld
from goalkeeper.model import FulfillmentRequest, Source, Stored, utcnow
from goalkeeper.store.base import CheckOutcome, Store, WriteOutcome
from goalkeeper.wire.json_api import FulfillmentInput

# How far ahead of this server's clock an occurred_at may be (the sender's clock skew).
FUTURE_ALLOWANCE = dt.timedelta(seconds=60)


@dataclasses.dataclass(frozen=True, slots=True)
class Valid:
    """A dry run's verdict for an item that would be stored, or, with ``same_as``, that
    would be a duplicate of the earlier item of the same batch at that index."""

    same_as: int | None = None


VALID = Valid()
Verdict = Valid | Stored | GoalkeeperError  # Stored here is always a duplicate


class Fulfillments:
    def __init__(
        self,
        store: Store,
        writer: FulfillmentWriter,
        *,
        max_occurred_age_days: int,
        idempotency_hours: int,
        clock: Callable[[], dt.datetime] = utcnow,
    ):
        self.store = store
        self.writer = writer
        self.max_age = dt.timedelta(days=max_occurred_age_days)
        self.idempotency_hours = idempotency_hours
        self.clock = clock

    def _requests(
        self, account_id: int, items: Sequence[FulfillmentInput | GoalkeeperError]
    ) -> list[FulfillmentRequest | GoalkeeperError]:
        now = self.clock()
        latest = now + FUTURE_ALLOWANCE
        oldest = now - self.max_age
        out: list[FulfillmentRequest | GoalkeeperError] = []
        append = out.append
        json_source = Source.JSON
        for item in items:
            if isinstance(item, GoalkeeperError):
                append(item)
                continue
            occurred = item.occurred_at
            if occurred is not None:
                if occurred > latest:
                    append(OccurredInFuture())
                    continue
                if occurred < oldest:
                    append(
                        OccurredTooOld(
                            f"occurred_at is older than {self.max_age.days} days;"
                            " this server accepts nothing older."
                        )
                    )
                    continue
            append(
                FulfillmentRequest(
                    account_id,
                    item.goal_id,
                    item.guid,
                    item.value,
                    item.channel,
                    json_source,
                    item.idempotency_key,
                    occurred,
                )
            )
        return out

    async def record(self, account_id: int, item: FulfillmentInput) -> Stored:
        """Store one fulfillment durably (or find its earlier twin); raises its error."""
        (request,) = self._requests(account_id, [item])
        if isinstance(request, GoalkeeperError):
            raise request
        outcome = await self.writer.submit(request)
        if isinstance(outcome, GoalkeeperError):
            raise outcome
        return outcome

    async def record_batch(
        self, account_id: int, items: Sequence[FulfillmentInput | GoalkeeperError]
    ) -> list[WriteOutcome]:
        """One outcome per item, in order: stored, duplicate, or the item's error."""
        requests = self._requests(account_id, items)
        valid = [r for r in requests if not isinstance(r, GoalkeeperError)]
        if not valid:
            return [r for r in requests if isinstance(r, GoalkeeperError)]
        # Storage trouble raises for the whole batch (a 503 to retry, with the same keys).
        stored = iter(await self.writer.submit_many(valid))
        return [r if isinstance(r, GoalkeeperError) else next(stored) for r in requests]

    async def validate(
        self, account_id: int, items: Sequence[FulfillmentInput | GoalkeeperError]
    ) -> list[Verdict]:
        """What recording these items would do, storing nothing."""
        requests = self._requests(account_id, items)
        valid = [r for r in requests if not isinstance(r, GoalkeeperError)]
        checked: list[CheckOutcome] = []
        if valid:
            checked = await asyncio.to_thread(
                self.store.check_fulfillments, valid, self.idempotency_hours
            )
        found = iter(checked)
        out: list[Verdict] = []
        first_with_key: dict[str, int] = {}
        for index, request in enumerate(requests):
            if isinstance(request, GoalkeeperError):
                out.append(request)
                continue
            outcome = next(found)
            if outcome is not None:
                out.append(outcome)
                continue
            key = request.idempotency_key
            if key is not None:
                if key in first_with_key:
                    out.append(Valid(same_as=first_with_key[key]))
                    continue
                first_with_key[key] = index
            out.append(VALID)
        return out
