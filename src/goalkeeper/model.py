"""Plain typed values shared by the wire adapters, the core and the stores."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from typing import NamedTuple

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class Channel(enum.StrEnum):
    """The channel a message is sent on. ``All`` is only a filter, never stored."""

    ALL = "All"
    EMAIL = "Email"
    SMS_MMS = "SmsMms"
    WEB_PUSH = "WebPush"


SEND_CHANNELS = (Channel.EMAIL, Channel.SMS_MMS, Channel.WEB_PUSH)


class Scope(enum.StrEnum):
    ADMIN = "admin"
    INGEST = "ingest"
    TRACKER = "tracker"


class Counting(enum.StrEnum):
    EVERY = "every"
    ONCE_PER_RECIPIENT = "once_per_recipient"


class Source(enum.StrEnum):
    """Which front door a fulfillment came through."""

    XML = "xml"
    JSON = "json"
    BEACON = "beacon"


@dataclasses.dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    account_id: int
    prefix: str
    scope: Scope
    origins: tuple[str, ...] = ()
    rate_limit: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Goal:
    account_id: int
    id: int
    name: str
    counting: Counting = Counting.EVERY
    window_days: int | None = None
    default_value: int = 0
    created_at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    account_id: int
    id: int
    name: str
    channel: Channel
    list: str | None = None
    sent_at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Recipient:
    """One registered send: one message to one subscriber, named by its GUID."""

    guid: uuid.UUID
    account_id: int
    message_id: int
    subscriber_id: str
    channel: Channel
    sent_at: dt.datetime
    list: str | None = None


class FulfillmentRequest(NamedTuple):
    """One validated fulfillment on its way to the writer.

    A named tuple, not a frozen dataclass: as immutable, and built in half the time,
    which counts twice per Goals request (in the server and in the writer process).
    """

    account_id: int
    goal_id: int
    guid: bytes  # 16 bytes
    value: int
    channel: Channel | None  # None or ALL: any channel
    source: Source
    idempotency_key: str | None = None
    occurred_at: dt.datetime | None = None  # None: when received


@dataclasses.dataclass(frozen=True, slots=True)
class Stored:
    """The writer's answer for one request: stored now, or a duplicate of an earlier one."""

    fulfillment_id: int
    duplicate: bool = False


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
