"""Goals, messages and the MessageGuid registry: the rules for defining them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from goalkeeper.errors import (
    InvalidField,
    MessageGuidNotRecognized,
    NotFound,
    TimeInvalid,
)
from goalkeeper.guid import format_guid, uuid7
from goalkeeper.model import (
    INT32_MAX,
    INT64_MAX,
    INT64_MIN,
    Channel,
    Counting,
    Goal,
    Message,
    Recipient,
)
from goalkeeper.store import Store
from goalkeeper.store.base import NewGoal
from goalkeeper.wire.json_api import storable

MAX_NAME = 200
MAX_SUBSCRIBER_ID = 200


# Sends are counted in quarter-hour buckets since 1970 (reports take them as
# non-negative), and a goal's attribution window is added to a send's time: a send time
# outside these bounds would miscount or overflow.
SENT_AT_EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
SENT_AT_LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)


def check_sent_at(sent_at: dt.datetime | None) -> dt.datetime | None:
    """``sent_at`` (aware) if it lies from 1970 up to the year 9000, UTC."""
    if sent_at is not None and not SENT_AT_EARLIEST <= sent_at < SENT_AT_LATEST:
        raise TimeInvalid("sent_at must lie from 1970-01-01 to 8999-12-31 (UTC).")
    return sent_at


def check_name(name: str, what: str = "name") -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidField(f"{what} must be 1 to {MAX_NAME} characters.")
    return storable(name, what)


def create_goal(
    store: Store,
    account_id: int,
    name: str,
    goal_id: int | None = None,
    counting: Counting = Counting.EVERY,
    window_days: int | None = None,
    default_value: int = 0,
) -> Goal:
    if goal_id is not None and not 1 <= goal_id <= INT32_MAX:
        raise InvalidField(f"Goal id must be between 1 and {INT32_MAX}.")
    if window_days is not None and not 1 <= window_days <= 3650:
        raise InvalidField("window_days must be between 1 and 3650.")
    if not INT64_MIN <= default_value <= INT64_MAX:
        raise InvalidField("default_value must be a signed 64-bit integer.")
    if goal_id is None:
        goal_id = _next_goal_id(store, account_id)
    return store.create_goal(
        NewGoal(account_id, check_name(name), goal_id, counting, window_days, default_value)
    )


def _next_goal_id(store: Store, account_id: int) -> int:
    """One above the highest id, or the lowest free one once the highest is INT32_MAX."""
    used = {goal.id for goal in store.list_goals(account_id)}
    highest = max(used, default=0)
    if highest < INT32_MAX:
        return highest + 1
    return next(i for i in range(1, INT32_MAX + 1) if i not in used)


def send_channel(text: str) -> Channel:
    """A channel a message can be sent on (``All`` is only a filter)."""
    try:
        channel = Channel(text)
    except ValueError:
        channel = None
    if channel is None or channel is Channel.ALL:
        raise InvalidField("channel must be one of: Email, SmsMms, WebPush.")
    return channel


def create_message(
    store: Store,
    account_id: int,
    name: str,
    channel: Channel,
    list_name: str | None = None,
    sent_at: dt.datetime | None = None,
) -> Message:
    if channel is Channel.ALL:
        raise InvalidField("channel must be one of: Email, SmsMms, WebPush.")
    list_name = None if list_name is None else storable(list_name, "list")
    return store.create_message(
        account_id, check_name(name), channel, list_name, check_sent_at(sent_at)
    )


def goal_of(store: Store, account_id: int, goal_id: int) -> Goal:
    """The account's goal; another account's answers exactly like a missing one."""
    goal = store.get_goal(account_id, goal_id) if 1 <= goal_id <= INT32_MAX else None
    if goal is None:
        raise NotFound(f"Goal {goal_id} was not found.")
    return goal


def message_of(store: Store, account_id: int, message_id: int) -> Message:
    """The account's message; another account's answers exactly like a missing one."""
    message = store.get_message(account_id, message_id) if 1 <= message_id <= INT64_MAX else None
    if message is None:
        raise NotFound(f"Message {message_id} was not found.")
    return message


MESSAGE_GUID_TAG = "*[message_guid]*"


def personalize(store: Store, message: Message, content: str, guid: bytes) -> str:
    """``content`` with every ``*[message_guid]*`` tag replaced by a GUID of ``message``."""
    recipient = store.get_recipient(guid)
    if (
        recipient is None
        or recipient.account_id != message.account_id
        or recipient.message_id != message.id
    ):
        raise MessageGuidNotRecognized(
            f"Message GUID was not recognized as a recipient of message {message.id}."
        )
    return content.replace(MESSAGE_GUID_TAG, format_guid(guid))


def check_subscriber(subscriber_id: str) -> str:
    subscriber_id = subscriber_id.strip()
    if not subscriber_id or len(subscriber_id) > MAX_SUBSCRIBER_ID:
        raise InvalidField(f"subscriber must be 1 to {MAX_SUBSCRIBER_ID} characters.")
    return storable(subscriber_id, "subscriber")


def issue_recipients(
    store: Store,
    message: Message,
    subscribers: Sequence[tuple[str, uuid.UUID | None]],
    sent_at: dt.datetime | None = None,
    refuse_taken: bool = False,
) -> list[Recipient]:
    """Register one send per subscriber, issuing a UUIDv7 where no GUID is given."""
    when = check_sent_at(sent_at) or message.sent_at or dt.datetime.now(dt.UTC)
    rows = [
        Recipient(
            guid or uuid7(),
            message.account_id,
            message.id,
            check_subscriber(sub),
            message.channel,
            when,
            message.list,
        )
        for sub, guid in subscribers
    ]
    store.add_recipients(rows, refuse_taken)
    return rows


def register_recipients(
    store: Store, message: Message, subscribers: Sequence[tuple[str, uuid.UUID | None]]
) -> list[Recipient]:
    """:func:`issue_recipients`, refusing (409, writing nothing) a given GUID that is
    already registered to another send, or given twice for two sends, so the answer never
    claims a GUID it did not register. The store checks in the transaction that inserts,
    so two calls at once cannot both claim one GUID. Registering the same send again is
    idempotent."""
    return issue_recipients(store, message, subscribers, refuse_taken=True)
