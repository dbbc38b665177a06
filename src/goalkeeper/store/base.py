"""What every storage backend offers the core, and what they share.

A store is synchronous and thread-safe: the core calls it from the writer (the hot
path, batched; in the writer process or the writer thread) and from worker threads
(admin and report calls). Each backend keeps its SQL to itself; nothing above this
package sees a dialect.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.resources
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple, Protocol

from goalkeeper.errors import Conflict, GoalkeeperError
from goalkeeper.guid import format_guid
from goalkeeper.model import (
    ApiKey,
    Channel,
    Counting,
    FulfillmentRequest,
    Goal,
    Message,
    Recipient,
    Scope,
    Stored,
)

WriteOutcome = Stored | GoalkeeperError
# What writing one request would do: None (stored), a duplicate of a stored one, an error.
CheckOutcome = Stored | GoalkeeperError | None


@dataclasses.dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


# An API key's record as both backends read it: these columns, then api_key_of(row).
KEY_COLUMNS = "id, account_id, prefix, scope, origins, rate_limit"


def api_key_of(row: Sequence[Any]) -> ApiKey:
    return ApiKey(int(row[0]), int(row[1]), row[2], Scope(row[3]), tuple(row[4].split()), row[5])


def migrations(dialect: str) -> list[Migration]:
    """The numbered migrations of one dialect, oldest first."""
    folder = importlib.resources.files("goalkeeper.store") / "migrations" / dialect
    found = []
    for entry in folder.iterdir():
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    return found


class Registered(NamedTuple):
    """What :meth:`Store.add_recipients` did."""

    added: int  # sends newly registered
    taken: list[Recipient]  # given sends whose GUID already names another send


def unique_sends(rows: Sequence[Recipient]) -> tuple[dict[bytes, Recipient], list[Recipient]]:
    """``rows`` by GUID, the first of each kept, and the later ones that name another
    send than the first (a repeat of the same send is dropped)."""
    unique: dict[bytes, Recipient] = {}
    taken: list[Recipient] = []
    for r in rows:
        first = unique.setdefault(r.guid.bytes, r)
        if first is not r and not same_send(first, r.account_id, r.message_id, r.subscriber_id):
            taken.append(r)
    return unique, taken


def same_send(r: Recipient, account_id: int, message_id: int, subscriber_id: str) -> bool:
    return (r.account_id, r.message_id, r.subscriber_id) == (account_id, message_id, subscriber_id)


def taken_error(r: Recipient) -> Conflict:
    # The same answer whichever account holds the GUID: it tells the caller only that a
    # GUID it already knows is taken.
    return Conflict(f"GUID {format_guid(r.guid.bytes)} is already registered to another send.")


@dataclasses.dataclass(frozen=True)
class NewGoal:
    account_id: int
    name: str
    id: int | None = None
    counting: Counting = Counting.EVERY
    window_days: int | None = None
    default_value: int = 0


@dataclasses.dataclass(frozen=True)
class FulfillmentRow:
    """A stored fulfillment, as read back."""

    id: int
    account_id: int
    goal_id: int
    message_guid: bytes
    message_id: int
    subscriber_id: str
    channel: Channel
    value: int
    source: str
    idempotency_key: str | None
    occurred_at: dt.datetime
    received_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class Segment:
    """A span of quarter-hour buckets [start, end) over which a zone's UTC offset holds.

    ``offset`` is that offset in buckets: (bucket + offset) // 96 is the local day number
    (days since 1970-01-01 in the zone).
    """

    start: int
    end: int
    offset: int = 0


REPORT_KEYS = ("goal", "message", "channel", "day")


@dataclasses.dataclass(frozen=True)
class CounterQuery:
    """A read of the report counters: one account, spans of buckets, grouping, filters."""

    account_id: int
    segments: tuple[Segment, ...]
    by: frozenset[str] = frozenset()  # subset of REPORT_KEYS
    goal_id: int | None = None
    message_id: int | None = None
    channel: Channel | None = None
    sends_only: bool = False  # message counters: only buckets that hold sends


@dataclasses.dataclass(frozen=True)
class CounterRow:
    """Counted fulfillments of one group (keys not grouped on are None)."""

    goal_id: int | None
    message_id: int | None
    channel: Channel | None
    day: int | None
    fulfillments: int
    value: int
    recipients: int  # GUIDs whose first counted fulfillment of the goal is in the group


@dataclasses.dataclass(frozen=True)
class SendRow:
    """Per message: registered sends, converted recipients (first counted fulfillment of
    any goal), and counted fulfillments and value summed over goals."""

    message_id: int | None
    channel: Channel | None
    day: int | None
    sends: int
    converted: int
    fulfillments: int = 0
    value: int = 0


@dataclasses.dataclass(frozen=True)
class RebuildResult:
    fulfillments: int
    goal_counters: int
    message_counters: int


class Store(Protocol):
    dialect: str

    def close(self) -> None: ...

    # schema
    def schema_version(self) -> int: ...
    def latest_version(self) -> int: ...
    def upgrade(self, progress: Callable[[Migration], None] | None = None) -> list[Migration]: ...
    def ping(self) -> None: ...

    # accounts and keys
    def create_account(self, name: str) -> int: ...
    # an account only if the database has none yet, decided atomically: its id, or None
    def create_first_account(self, name: str) -> int | None: ...
    def account_ids(self) -> list[int]: ...
    def insert_api_key(
        self,
        account_id: int,
        prefix: str,
        key_hash: bytes,
        scope: Scope,
        origins: Sequence[str] = (),
        rate_limit: int | None = None,
    ) -> ApiKey: ...
    def find_api_key(self, key_hash: bytes) -> ApiKey | None: ...
    def list_api_keys(self, account_id: int, scope: Scope) -> list[ApiKey]: ...
    def revoke_api_key(self, prefix: str) -> bool: ...
    def tracker_origins(self) -> set[str]: ...

    # goals and messages
    def create_goal(self, goal: NewGoal) -> Goal: ...
    def get_goal(self, account_id: int, goal_id: int) -> Goal | None: ...
    def list_goals(self, account_id: int) -> list[Goal]: ...
    def create_message(
        self,
        account_id: int,
        name: str,
        channel: Channel,
        list_name: str | None = None,
        sent_at: dt.datetime | None = None,
    ) -> Message: ...
    def get_message(self, account_id: int, message_id: int) -> Message | None: ...
    def find_message(self, account_id: int, name: str, channel: Channel) -> Message | None: ...
    def delete_empty_message(self, account_id: int, message_id: int) -> bool:
        """Delete the message if it holds no sends (what an import made and could not
        fill); whether it was deleted."""
        ...

    def list_messages(self, account_id: int, limit: int = 1000, after: int = 0) -> list[Message]:
        """The account's messages by id, the first ``limit`` after id ``after``."""
        ...

    # the GUID registry
    def add_recipients(self, rows: Sequence[Recipient], refuse_taken: bool = False) -> Registered:
        """Register the sends whose GUIDs are new. A GUID already stored, or given earlier
        in ``rows``, is skipped; a skipped one that names another send (account, message
        or subscriber) is returned as taken, or with ``refuse_taken`` raises Conflict and
        nothing is written. The check and the insert share one transaction."""
        ...

    def get_recipient(self, guid: bytes) -> Recipient | None: ...
    def count_recipients(self, account_id: int) -> int: ...

    # fulfillments
    def write_fulfillments(
        self, batch: Sequence[FulfillmentRequest], idempotency_hours: int
    ) -> list[WriteOutcome]: ...
    def check_fulfillments(
        self, batch: Sequence[FulfillmentRequest], idempotency_hours: int
    ) -> list[CheckOutcome]: ...
    def list_fulfillments(self, account_id: int, limit: int = 1000) -> list[FulfillmentRow]: ...
    def count_fulfillments(self, account_id: int | None = None) -> int: ...

    # rate limits: tokens per key per one-second window, shared by every process
    def lease_rate_tokens(self, key_id: int, second: int, want: int, limit: int) -> int: ...

    # reports (counters kept in each write transaction; see store/counting.py)
    def goal_counts(self, query: CounterQuery) -> list[CounterRow]: ...
    def message_counts(self, query: CounterQuery) -> list[SendRow]: ...
    def rebuild_counters(self) -> RebuildResult: ...
    def fulfillments_between(
        self, account_id: int, start: dt.datetime, end: dt.datetime, channel: Channel | None
    ) -> Iterator[FulfillmentRow]: ...
    def recipients_between(
        self, account_id: int, start: dt.datetime, end: dt.datetime, channel: Channel | None
    ) -> Iterator[Recipient]: ...
    # dashboard sessions (the token itself is never stored, only its SHA-256)
    def create_session(
        self, account_id: int, token_hash: bytes, key_id: int, expires_at: dt.datetime
    ) -> None:
        """Store a new session; expired sessions of the account are deleted on the way."""
        ...

    def find_session(self, account_id: int, token_hash: bytes) -> ApiKey | None:
        """The key of an unexpired session whose key is still active; else None."""
        ...

    def delete_session(self, account_id: int, token_hash: bytes) -> None: ...
