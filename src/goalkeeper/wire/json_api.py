"""Strict JSON request bodies of ``/api/v1``: bytes in, plain typed values out.

Every body is one JSON object whose fields are checked by hand (plain ``dict``
look-ups, no validation framework: a batch of 1,000 fulfillments pays microseconds
per item). Each mistake is one error of the family with a stable code: a body that is
not JSON (``invalid_json``), a missing field (``field_required``), fields the request
does not take, all named (``unknown_field``), a wrong JSON type (``invalid_type``; a
boolean is never an integer, ``1.0`` is not one either), a number past its bounds
such as signed 64 bits (``out_of_range``), a list longer than allowed
(``too_many_items``), a malformed GUID (``guid_invalid``) or time (``time_invalid``).
``null`` on an optional field means the field is absent. Messages name the field by
its path, e.g. ``fulfillments[3].goal_id``.

The body must be UTF-8 (a leading UTF-8 byte order mark is ignored, as RFC 8259
allows): other encodings and encoded surrogates are ``invalid_json``, not guessed at.
A key repeated within one object keeps its last value: refusing it would need a hook
called for every object, which costs the batch path a tenth of its time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import uuid
from collections.abc import Mapping
from typing import Any, NamedTuple

from goalkeeper.errors import (
    ChannelInvalid,
    FieldRequired,
    FieldType,
    GoalkeeperError,
    GuidInvalid,
    InvalidField,
    InvalidJson,
    OutOfRange,
    TimeInvalid,
    TooManyItems,
    UnknownField,
)
from goalkeeper.guid import parse_guid
from goalkeeper.model import INT32_MAX, INT64_MAX, INT64_MIN, Channel, Counting

MAX_FULFILLMENTS = 1000
MAX_RECIPIENTS = 10_000
MAX_TEXT = 200
MAX_IDEMPOTENCY_KEY = 255
MAX_WINDOW_DAYS = 3650

_JSON_TYPES = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}
_CHANNELS = {c.value: c for c in Channel}
_SEND_CHANNELS = {c.value: c for c in Channel if c is not Channel.ALL}
_COUNTINGS = {c.value: c for c in Counting}
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)
_UTF8_BOM = b"\xef\xbb\xbf"


def _reject_constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not valid JSON.")


def parse_json(body: bytes) -> Any:
    """One JSON document in strict UTF-8; NaN and Infinity refused, huge numbers refused
    by range."""
    if body.startswith(_UTF8_BOM):
        body = body[len(_UTF8_BOM) :]
    if not body.strip():
        raise InvalidJson("The body is empty: send one JSON object.")
    try:
        # Decoded here, strictly: json.loads(bytes) would guess UTF-16 or UTF-32 from the
        # first bytes and let encoded surrogates through.
        document = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJson(f"The body is not UTF-8 (byte {exc.start}).") from None
    try:
        return json.loads(document, parse_constant=_reject_constant)
    except RecursionError:
        raise InvalidJson("The JSON document is nested too deeply.") from None
    except json.JSONDecodeError as exc:
        where = f"at line {exc.lineno}, column {exc.colno}"  # some messages end in "at"
        raise InvalidJson(f"Not valid JSON: {exc.msg.removesuffix(' at')} {where}.") from None
    except ValueError:
        # Only an integer literal of thousands of digits gets here.
        raise OutOfRange("A number in the body has too many digits.") from None


def type_name(value: Any) -> str:
    return _JSON_TYPES.get(type(value), "value")


def expect_object(value: Any, where: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise FieldType(f"{where} must be a JSON object, not {type_name(value)}.")
    return value


def check_fields(
    data: dict[str, Any],
    allowed: frozenset[str],
    required: tuple[str, ...],
    prefix: str = "",
) -> None:
    """Refuse unknown fields (naming them all) and missing required ones."""
    if not data.keys() <= allowed:
        unknown = sorted(k for k in data if k not in allowed)
        named = ", ".join(prefix + k[:60] for k in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise UnknownField(f"Unknown field(s): {named}{more}.")
    for name in required:
        if data.get(name) is None:
            raise FieldRequired(f"{prefix}{name} is required.")


def integer(value: Any, name: str, low: int = INT64_MIN, high: int = INT64_MAX) -> int:
    """An integer literal within bounds. ``1278.0`` and ``1e3`` are refused, not rounded:
    read as floats, such numbers past 2**53 have already lost digits."""
    if type(value) is float:
        raise FieldType(f"{name} must be an integer, written without a fraction or exponent.")
    if type(value) is not int:
        raise FieldType(f"{name} must be an integer, not {type_name(value)}.")
    if not low <= value <= high:
        raise OutOfRange(f"{name} must be between {low} and {high}.")
    return value


def string(value: Any, name: str, max_length: int) -> str:
    """A string of at most ``max_length`` characters, all encodable (no lone surrogates),
    without NUL (which PostgreSQL cannot store in text, so neither backend takes it)."""
    if type(value) is not str:
        raise FieldType(f"{name} must be a string, not {type_name(value)}.")
    if len(value) > max_length:
        raise InvalidField(f"{name} must be at most {max_length} characters.")
    return storable(value, name)


def storable(value: str, name: str) -> str:
    """``value`` if both backends can store it: no NUL (PostgreSQL's text cannot hold
    one) and no unpaired surrogate."""
    if "\x00" in value:
        raise InvalidField(f"{name} must not contain the NUL character (\\u0000).")
    return encodable(value, name)


def encodable(value: str, name: str) -> str:
    """``value`` if UTF-8 can encode it: JSON lets a string hold an unpaired surrogate."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidField(f"{name} holds an unpaired surrogate.") from None
    return value


def text(value: Any, name: str, max_length: int = MAX_TEXT) -> str:
    """A string of 1 to ``max_length`` characters, trimmed, not blank."""
    out = string(value, name, max_length).strip()
    if not out:
        raise InvalidField(f"{name} must not be empty or blank.")
    return out


def array(value: Any, name: str, max_items: int) -> list[Any]:
    if type(value) is not list:
        raise FieldType(f"{name} must be an array, not {type_name(value)}.")
    if len(value) > max_items:
        raise TooManyItems(f"{name} may hold at most {max_items} items, not {len(value)}.")
    return value


def guid(value: Any, name: str) -> bytes:
    if type(value) is not str:
        raise FieldType(f"{name} must be a string, not {type_name(value)}.")
    raw = parse_guid(value)
    if raw is None:
        raise GuidInvalid(f"{name} is not a GUID.")
    return raw


def timestamp(value: Any, name: str) -> dt.datetime:
    """An RFC 3339 time with an offset, as an aware datetime."""
    if type(value) is not str:
        raise FieldType(f"{name} must be a string, not {type_name(value)}.")
    if len(value) > 40 or not _RFC3339.fullmatch(value):
        raise TimeInvalid(f"{name} must be RFC 3339 with an offset, e.g. 2026-11-27T10:00:00Z.")
    head, dot, tail = value.upper().partition(".")
    if dot:  # Python reads at most microseconds: drop further fraction digits
        digits = len(tail) - len(tail.lstrip("0123456789"))
        tail = tail[: min(digits, 6)] + tail[digits:]
    try:
        return dt.datetime.fromisoformat(head + dot + tail)
    except ValueError:
        raise TimeInvalid(f"{name} is not a valid date and time.") from None


def query_flag(raw: str | None, name: str) -> bool:
    """A boolean query parameter: ``true`` or ``false``; absent means false."""
    if raw is None:
        return False
    if raw == "true":
        return True
    if raw == "false":
        return False
    raise FieldType(f"Query parameter {name} must be true or false.")


# -- goals -------------------------------------------------------------------------------

_GOAL_FIELDS = frozenset(("name", "id", "counting", "window_days", "default_value"))


@dataclasses.dataclass(frozen=True)
class GoalInput:
    name: str
    id: int | None
    counting: Counting
    window_days: int | None
    default_value: int


def goal_input(body: bytes) -> GoalInput:
    data = expect_object(parse_json(body), "The body")
    check_fields(data, _GOAL_FIELDS, ("name",))
    counting = Counting.EVERY
    raw_counting = data.get("counting")
    if raw_counting is not None:
        if type(raw_counting) is not str:
            raise FieldType(f"counting must be a string, not {type_name(raw_counting)}.")
        found = _COUNTINGS.get(raw_counting)
        if found is None:
            raise InvalidField("counting must be one of: every, once_per_recipient.")
        counting = found
    goal_id = data.get("id")
    window = data.get("window_days")
    default = data.get("default_value")
    return GoalInput(
        name=text(data["name"], "name"),
        id=None if goal_id is None else integer(goal_id, "id", 1, INT32_MAX),
        counting=counting,
        window_days=None if window is None else integer(window, "window_days", 1, MAX_WINDOW_DAYS),
        default_value=0 if default is None else integer(default, "default_value"),
    )


# -- messages and recipients -------------------------------------------------------------

_MESSAGE_FIELDS = frozenset(("name", "channel", "list", "sent_at"))


@dataclasses.dataclass(frozen=True)
class MessageInput:
    name: str
    channel: Channel
    list: str | None
    sent_at: dt.datetime | None


def send_channel(value: Any, name: str = "channel") -> Channel:
    if type(value) is not str:
        raise FieldType(f"{name} must be a string, not {type_name(value)}.")
    found = _SEND_CHANNELS.get(value)
    if found is None:
        raise ChannelInvalid(f"{name} must be one of: Email, SmsMms, WebPush.")
    return found


def message_input(body: bytes) -> MessageInput:
    data = expect_object(parse_json(body), "The body")
    check_fields(data, _MESSAGE_FIELDS, ("name", "channel"))
    list_name = data.get("list")
    sent_at = data.get("sent_at")
    return MessageInput(
        name=text(data["name"], "name"),
        channel=send_channel(data["channel"]),
        list=None if list_name is None else text(list_name, "list"),
        sent_at=None if sent_at is None else timestamp(sent_at, "sent_at"),
    )


_RECIPIENTS_FIELDS = frozenset(("recipients",))
_RECIPIENT_FIELDS = frozenset(("subscriber_id", "guid"))


def recipients_input(body: bytes) -> list[tuple[str, uuid.UUID | None]]:
    """(subscriber id, given GUID or None) per recipient, in order."""
    data = expect_object(parse_json(body), "The body")
    check_fields(data, _RECIPIENTS_FIELDS, ("recipients",))
    items = array(data["recipients"], "recipients", MAX_RECIPIENTS)
    out: list[tuple[str, uuid.UUID | None]] = []
    for i, item in enumerate(items):
        where = f"recipients[{i}]"
        entry = expect_object(item, where)
        check_fields(entry, _RECIPIENT_FIELDS, ("subscriber_id",), where + ".")
        given = entry.get("guid")
        out.append(
            (
                text(entry["subscriber_id"], where + ".subscriber_id"),
                None if given is None else uuid.UUID(bytes=guid(given, where + ".guid")),
            )
        )
    return out


_PERSONALIZE_FIELDS = frozenset(("content", "guid"))


def personalize_input(body: bytes) -> tuple[str, bytes]:
    """(content, GUID) of a personalize request; content may be empty."""
    data = expect_object(parse_json(body), "The body")
    check_fields(data, _PERSONALIZE_FIELDS, ("content", "guid"))
    content = data["content"]
    if type(content) is not str:
        raise FieldType(f"content must be a string, not {type_name(content)}.")
    return encodable(content, "content"), guid(data["guid"], "guid")


# -- fulfillments (the batch path: keep the per-item work small) -----------------------

_FULFILLMENT_FIELDS = frozenset(
    ("goal_id", "message_guid", "value", "channel", "idempotency_key", "occurred_at")
)
_BATCH_FIELDS = frozenset(("fulfillments",))
_NO_DEFAULTS: Mapping[int, int] = {}


class FulfillmentInput(NamedTuple):
    goal_id: int
    guid: bytes
    value: int  # not given: the goal's default_value if known when parsed, else 0
    channel: Channel | None  # None: any channel
    idempotency_key: str | None
    occurred_at: dt.datetime | None  # None: now
    needs_default: bool = False  # no value given, and the goal's default was not known


def idempotency_key(value: Any, name: str) -> str:
    """An opaque key of 1 to 255 characters, not blank, kept exactly as given."""
    if (
        type(value) is str
        and 0 < len(value) <= MAX_IDEMPOTENCY_KEY
        and value.isascii()
        and "\x00" not in value
        and not value.isspace()
    ):
        return value
    key = string(value, name, MAX_IDEMPOTENCY_KEY)
    if not key or key.isspace():
        raise InvalidField(f"{name} must not be empty or blank.")
    return key


def fulfillment_input(
    item: Any, prefix: str = "", defaults: Mapping[int, int] = _NO_DEFAULTS
) -> FulfillmentInput:
    """One fulfillment object; ``prefix`` names its place in a batch. Without a value it
    takes its goal's default from ``defaults`` (goal id to default_value), and when
    that does not know the goal, 0 and ``needs_default``."""
    if type(item) is not dict:
        raise FieldType(f"{prefix or 'The body'} must be a JSON object, not {type_name(item)}.")
    dot = prefix + "." if prefix else ""
    if not item.keys() <= _FULFILLMENT_FIELDS:
        check_fields(item, _FULFILLMENT_FIELDS, (), dot)
    goal_id = item.get("goal_id")
    if goal_id is None:
        raise FieldRequired(f"{dot}goal_id is required.")
    raw_guid = item.get("message_guid")
    if raw_guid is None:
        raise FieldRequired(f"{dot}message_guid is required.")
    value = item.get("value")
    raw_channel = item.get("channel")
    channel: Channel | None = None
    if raw_channel is not None:
        if type(raw_channel) is not str:
            raise FieldType(f"{dot}channel must be a string, not {type_name(raw_channel)}.")
        channel = _CHANNELS.get(raw_channel)
        if channel is None:
            raise ChannelInvalid(f"{dot}channel must be one of: All, Email, SmsMms, WebPush.")
        if channel is Channel.ALL:
            channel = None
    key = item.get("idempotency_key")
    occurred = item.get("occurred_at")
    # Fast paths for the common case; the helpers name the field when something is wrong.
    if type(goal_id) is not int or not 1 <= goal_id <= INT32_MAX:
        goal_id = integer(goal_id, dot + "goal_id", 1, INT32_MAX)
    needs_default = False
    if value is None:
        value = defaults.get(goal_id)
        if value is None:
            value = 0
            needs_default = True
    elif type(value) is not int or not INT64_MIN <= value <= INT64_MAX:
        value = integer(value, dot + "value")
    raw = parse_guid(raw_guid) if type(raw_guid) is str else None
    if raw is None:
        raw = guid(raw_guid, dot + "message_guid")  # raises, naming the field
    return FulfillmentInput(
        goal_id,
        raw,
        value,
        channel,
        None if key is None else idempotency_key(key, dot + "idempotency_key"),
        None if occurred is None else timestamp(occurred, dot + "occurred_at"),
        needs_default,
    )


def fulfillments_input(
    body: bytes, defaults: Mapping[int, int] = _NO_DEFAULTS
) -> tuple[bool, list[FulfillmentInput | GoalkeeperError]]:
    """(is a batch, each item parsed or the error it alone has), for one or many items;
    ``defaults`` are the goals' default values known (see :func:`fulfillment_input`).

    Only a body that is not a JSON object, or a malformed ``fulfillments`` list, raises.
    """
    data = expect_object(parse_json(body), "The body")
    if "fulfillments" not in data:
        try:
            return False, [fulfillment_input(data, "", defaults)]
        except GoalkeeperError as error:
            return False, [error]
    check_fields(data, _BATCH_FIELDS, ("fulfillments",))
    items = array(data["fulfillments"], "fulfillments", MAX_FULFILLMENTS)
    out: list[FulfillmentInput | GoalkeeperError] = []
    append = out.append
    for i, item in enumerate(items):
        try:
            append(fulfillment_input(item, "", defaults))
        except GoalkeeperError as unnamed:
            try:  # again, to name the item's place in the error (only bad items pay this)
                fulfillment_input(item, f"fulfillments[{i}]")
            except GoalkeeperError as error:
                append(error)
            else:
                append(unnamed)
    return True, out
