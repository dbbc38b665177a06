"""The report counters' rules, shared by every backend: what a batch of fulfillments adds.

A fulfillment *counts* when it falls inside its goal's attribution window (no later than
``window_days`` after its GUID was sent; a goal without a window counts everything).
Under the ``every`` rule each counted fulfillment adds one and its value; under
``once_per_recipient`` only the earliest counted fulfillment of each GUID does (earliest
by ``occurred_at``, then by id). Unique recipients are counted in the bucket of each
GUID's earliest counted fulfillment, per goal and across goals.

Fulfillments may arrive out of order (``occurred_at`` is the caller's), so a new earliest
one moves the unique (and, under ``once_per_recipient``, the count and value) from the
old bucket to the new one. The backends only load the earliest rows already stored for
the batch's keys and write back what :class:`CounterDeltas` gathered: one upsert per
distinct counter key per batch.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable

BUCKET_SECONDS = 900  # a quarter of an hour: every time zone's offset is a multiple of it
BUCKETS_PER_DAY = 86_400 // BUCKET_SECONDS
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_BUCKET = dt.timedelta(seconds=BUCKET_SECONDS)


def bucket_of(moment: dt.datetime) -> int:
    """The quarter-hour bucket (UTC) holding ``moment``."""
    return (moment - EPOCH) // _BUCKET


def bucket_start(bucket: int) -> dt.datetime:
    return EPOCH + bucket * _BUCKET


def in_window(occurred: dt.datetime, sent: dt.datetime | None, window_days: int | None) -> bool:
    """Whether a fulfillment falls inside its goal's attribution window."""
    if window_days is None or sent is None:
        return True
    return occurred <= sent + dt.timedelta(days=window_days)


# Counted and First are built once a row by the writer and never changed. They are not
# frozen: a frozen dataclass's __init__ sets each field through object.__setattr__,
# which made building them four times as slow.


@dataclasses.dataclass(slots=True)
class Counted:
    """One stored fulfillment inside its goal's window, as the counters see it."""

    account_id: int
    goal_id: int
    guid: bytes
    message_id: int
    channel: str
    value: int
    fulfillment_id: int
    occurred_at: dt.datetime
    once: bool  # the goal counts once per recipient


@dataclasses.dataclass(slots=True)
class First:
    """The earliest counted fulfillment of a goal (or of any goal) by one GUID."""

    fulfillment_id: int
    occurred_at: dt.datetime
    value: int = 0

    def later_than(self, occurred_at: dt.datetime, fulfillment_id: int) -> bool:
        return (self.occurred_at, self.fulfillment_id) > (occurred_at, fulfillment_id)


GoalKey = tuple[int, int, bytes]  # account, goal, guid
GoalCounterKey = tuple[int, int, int, int, str]  # account, bucket, goal, message, channel
MessageCounterKey = tuple[int, int, int, str]  # account, bucket, message, channel


@dataclasses.dataclass
class CounterDeltas:
    """What one batch adds to the counters, and the earliest rows it changes."""

    goal: dict[GoalCounterKey, list[int]] = dataclasses.field(default_factory=dict)
    message: dict[MessageCounterKey, list[int]] = dataclasses.field(default_factory=dict)
    firsts: dict[GoalKey, First] = dataclasses.field(default_factory=dict)

    def _goal(self, row: Counted, bucket: int, count: int, value: int, unique: int) -> None:
        key = (row.account_id, bucket, row.goal_id, row.message_id, row.channel)
        entry = self.goal.get(key)
        if entry is None:
            self.goal[key] = [count, value, unique]
        else:
            entry[0] += count
            entry[1] += value
            entry[2] += unique
        if count or value:  # the same, summed over goals
            message = self._message((row.account_id, bucket, row.message_id, row.channel))
            message[2] += count
            message[3] += value

    def _message(self, key: MessageCounterKey) -> list[int]:
        entry = self.message.get(key)
        if entry is None:
            entry = self.message[key] = [0, 0, 0, 0]  # sends, converted, fulfillments, value
        return entry

    def _converted(self, row: Counted, bucket: int, delta: int) -> None:
        self._message((row.account_id, bucket, row.message_id, row.channel))[1] += delta

    def add_sends(self, rows: Iterable[tuple[int, int, str, dt.datetime]]) -> None:
        """Registered sends: (account, message, channel, sent_at) each."""
        for account_id, message_id, channel, sent_at in rows:
            self._message((account_id, bucket_of(sent_at), message_id, channel))[0] += 1

    def add(
        self,
        rows: list[Counted],
        load_firsts: Callable[[list[bytes]], dict[GoalKey, First]],
    ) -> None:
        """Count ``rows``; ``load_firsts`` reads the earliest rows stored for these GUIDs."""
        if not rows:
            return
        known = load_firsts(list({r.guid: None for r in rows}))
        converted: dict[bytes, First] = {}
        for (_account, _goal, guid), first in known.items():
            current = converted.get(guid)
            if current is None or current.later_than(first.occurred_at, first.fulfillment_id):
                converted[guid] = first
        for row in rows:
            bucket = bucket_of(row.occurred_at)
            key = (row.account_id, row.goal_id, row.guid)
            previous = self.firsts.get(key) or known.get(key)
            if previous is not None and not previous.later_than(
                row.occurred_at, row.fulfillment_id
            ):
                if not row.once:
                    self._goal(row, bucket, 1, row.value, 0)
                continue
            # the earliest counted fulfillment of this goal by this GUID so far
            if previous is not None:
                old = bucket_of(previous.occurred_at)
                if row.once:
                    self._goal(row, old, -1, -previous.value, -1)
                else:
                    self._goal(row, old, 0, 0, -1)
            first = First(row.fulfillment_id, row.occurred_at, row.value)
            self.firsts[key] = first
            self._goal(row, bucket, 1, row.value, 1)
            before = converted.get(row.guid)
            if before is None or before.later_than(row.occurred_at, row.fulfillment_id):
                if before is not None:
                    self._converted(row, bucket_of(before.occurred_at), -1)
                self._converted(row, bucket, 1)
                converted[row.guid] = first

    def goal_rows(self) -> list[tuple[int, int, int, int, str, int, int, int]]:
        """Non-zero goal counter deltas, ready for an upsert."""
        return [(*k, *v) for k, v in self.goal.items() if v[0] or v[1] or v[2]]  # type: ignore[misc]

    def message_rows(self) -> list[tuple[int, int, int, str, int, int, int, int]]:
        """Non-zero message counter deltas: key, sends, converted, fulfillments, value."""
        return [(*k, *v) for k, v in self.message.items() if any(v)]  # type: ignore[misc]
