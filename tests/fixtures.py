"""Test data shared by in-process and black-box tests: one account with everything."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from goalkeeper.core.accounts import create_account
from goalkeeper.core.keys import create_key, hash_key
from goalkeeper.core.registry import create_goal, create_message, issue_recipients
from goalkeeper.model import Channel, Counting, Scope
from goalkeeper.store import Store

SPEC_KEY = "test_api_key1"
SPEC_GUID = "C7015756-95F3-4509-8C6C-759FEEC48F91"
SMS_GUID = "5B0E3C9A-1111-4222-8333-444455556666"
PUSH_GUID = "9D2F7A10-AAAA-4BBB-8CCC-DDDDEEEEFFFF"
OTHER_GUID = "0F0F0F0F-1234-4567-89AB-CDEF01234567"  # belongs to the other account
UNKNOWN_GUID = "00000000-0000-0000-0000-000000000001"


@dataclasses.dataclass(frozen=True)
class World:
    account_id: int
    admin_key: str
    ingest_key: str
    tracker_key: str
    spec_key: str
    other_account_id: int
    other_key: str


def build_world(store: Store) -> World:
    """Two accounts; the first has goals 1 and 2, one message per channel, known GUIDs."""
    store.upgrade()
    first = create_account(store, "Shop")
    account = first.account_id
    store.insert_api_key(account, "spec0001", hash_key(SPEC_KEY), Scope.INGEST)
    ingest = create_key(store, account, Scope.INGEST)
    tracker = create_key(store, account, Scope.TRACKER, ["https://shop.example"])
    create_goal(store, account, "Purchase", goal_id=1)
    create_goal(store, account, "Questionnaire", goal_id=2, counting=Counting.ONCE_PER_RECIPIENT)
    sent = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    for channel, guid in (
        (Channel.EMAIL, SPEC_GUID),
        (Channel.SMS_MMS, SMS_GUID),
        (Channel.WEB_PUSH, PUSH_GUID),
    ):
        message = create_message(store, account, f"{channel.value} campaign", channel, "List", sent)
        issue_recipients(store, message, [("subscriber-1", uuid.UUID(guid))], sent)
    other = create_account(store, "Other shop")
    create_goal(store, other.account_id, "Purchase", goal_id=1)
    create_goal(store, other.account_id, "Other goal", goal_id=3)
    message = create_message(store, other.account_id, "Theirs", Channel.EMAIL)
    issue_recipients(store, message, [("them-1", uuid.UUID(OTHER_GUID))])
    return World(
        account, first.api_key, ingest.key, tracker.key, SPEC_KEY, other.account_id, other.api_key
    )


def goals_xml(
    key: str = SPEC_KEY,
    goal_id: str | None = "2",
    value: str | None = "123",
    guid: str | None = SPEC_GUID,
    channel: str | None = None,
) -> bytes:
    """A Goals request document with the given element texts (None: element left out)."""
    data = ""
    if goal_id is not None:
        data += f"<GoalId>{goal_id}</GoalId>"
    if value is not None:
        data += f"<GoalValue>{value}</GoalValue>"
    if guid is not None:
        data += f"<MessageGuid>{guid}</MessageGuid>"
    if channel is not None:
        data += f"<Channel>{channel}</Channel>"
    return (
        '<ApiRequest xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        f"<ApiKey>{key}</ApiKey><Data>{data}</Data></ApiRequest>"
    ).encode()
