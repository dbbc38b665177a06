"""What the sync and async clients share: the retry policy and every call, as data.

Each API method is built here once as a :class:`Call` (method, path, body, how to
read the answer, whether a lost answer may be retried), its arguments checked first;
the two clients only send calls, with their own I/O.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import math
import operator
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, SupportsIndex, TypeVar
from xml.sax.saxutils import escape

import httpx

from goalkeeper import __version__
from goalkeeper.client._exceptions import ArgumentError, ArgumentTypeError, ArgumentValueError

T = TypeVar("T")
Json = dict[str, Any]

# Errors raised before the request could reach the server: always safe to retry.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# httpx refusing the request it was given (e.g. an illegal header value): nothing was
# sent, and sending it again cannot help.
UNSENDABLE = (httpx.LocalProtocolError, httpx.UnsupportedProtocol)
GOALS_PATH = "/v2/Api/Goals"
USER_AGENT = f"goalkeeper-client/{__version__}"


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How the client retries network errors, 429 and 503 (nothing else).

    ``attempts`` counts the first try. Waits grow exponentially from ``backoff``
    seconds, capped at ``max_backoff``, with full jitter; a ``Retry-After`` from the
    server is honoured as given, and one longer than ``max_retry_after`` ends the
    retries (the error is raised with its ``retry_after``).
    """

    attempts: int = 4
    backoff: float = 0.25
    max_backoff: float = 8.0
    max_retry_after: float = 60.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise ArgumentTypeError("RetryPolicy.attempts must be an int")
        if self.attempts < 1:
            raise ArgumentValueError("RetryPolicy.attempts counts the first try: at least 1")
        for name in ("backoff", "max_backoff", "max_retry_after"):
            seconds = getattr(self, name)
            if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                raise ArgumentTypeError(f"RetryPolicy.{name} must be a number of seconds")
            if not 0 <= seconds < math.inf:
                raise ArgumentValueError(f"RetryPolicy.{name} must be finite and not negative")

    def delay(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait before try ``attempt + 1`` (1-based ``attempt``); None: give up."""
        if attempt >= self.attempts:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        ceiling = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return random.uniform(0, ceiling) if self.jitter else ceiling


NO_RETRIES = RetryPolicy(attempts=1)


@dataclasses.dataclass(frozen=True)
class Call(Generic[T]):
    """One API call: the request, and how its successful answer is read."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    json: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    params: Mapping[str, str] = dataclasses.field(default_factory=dict)
    bearer: bool = True
    # True when a repeat cannot double anything (reads, or writes under an idempotency
    # key): then a request whose answer was lost, or that was answered 503, is retried too.
    repeatable: bool = False

    def retries_error(self, exc: httpx.TransportError) -> bool:
        """Whether a request that got no answer may be sent again."""
        return self.repeatable or isinstance(exc, NOT_SENT)

    def retries_status(self, status: int) -> bool:
        """Whether a request answered ``status`` may be sent again.

        goalkeeper answers 429 (rate limit) before doing anything, so any call may be
        repeated after it. A 503 may come after a commit whose answer was lost, or from
        a proxy in front: only a call that cannot double anything is repeated after it.
        """
        return status == 429 or (status == 503 and self.repeatable)

    def unsendable(self, exc: httpx.TransportError) -> ArgumentValueError:
        """The error for a request httpx refused to send (:data:`UNSENDABLE`)."""
        return ArgumentValueError(
            f"{self.method} {self.path}: the request cannot be sent as built ({exc}); "
            "nothing was sent"
        )


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


def _visible_ascii(text: str) -> bool:
    return all("!" <= c <= "~" for c in text)


def check_api_key(api_key: object) -> str:
    """The API key, if it can be sent: visible ASCII, no spaces or control characters.

    The key is never quoted in the error, which may end up in a log.
    """
    if not isinstance(api_key, str):
        raise ArgumentTypeError(f"api_key must be a str, not {type(api_key).__name__}")
    if not api_key.strip():
        raise ArgumentValueError("api_key is empty")
    if not _visible_ascii(api_key):
        raise ArgumentValueError(
            "api_key must be visible ASCII characters only "
            "(no spaces, control characters or non-ASCII letters)"
        )
    return api_key


def check_base_url(base_url: object) -> httpx.URL:
    """``base_url`` as an absolute http(s) URL."""
    if not isinstance(base_url, str | httpx.URL):
        raise ArgumentTypeError(f"base_url must be a str, not {type(base_url).__name__}")
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL as exc:
        raise ArgumentValueError(f"base_url is not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ArgumentValueError("base_url must be an absolute http:// or https:// URL")
    return url


def _whole(value: object, name: str) -> int:
    """An int argument (bool, float and str refused: int() would truncate or guess)."""
    if isinstance(value, SupportsIndex) and not isinstance(value, bool):
        return operator.index(value)
    raise ArgumentTypeError(f"{name} must be an int, not {type(value).__name__}")


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be a str, not {type(value).__name__}")
    return value


def _guid(value: object, name: str) -> str:
    """A MessageGuid argument: its text as given, or a uuid.UUID's canonical form."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be a str or uuid.UUID, not {type(value).__name__}")
    return value


def _json(response: httpx.Response) -> Json:
    value = response.json()
    assert isinstance(value, dict)
    return value


def _field(name: str) -> Callable[[httpx.Response], Any]:
    return lambda response: _json(response)[name]


def _nothing(_response: httpx.Response) -> None:
    return None


def _clean(fields: Mapping[str, Any]) -> Json:
    """The body without the fields left as None (absent)."""
    return {k: v for k, v in fields.items() if v is not None}


def _time(value: object, name: str) -> str | None:
    """An aware datetime as RFC 3339; a string is sent as given (the server checks it)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        if value.utcoffset() is None:
            raise ArgumentValueError(
                f"{name} needs a time zone: a naive datetime is ambiguous "
                "(e.g. datetime.now(timezone.utc))"
            )
        return value.isoformat()
    raise ArgumentTypeError(
        f"{name} must be an aware datetime or an RFC 3339 string, not {type(value).__name__}"
    )


def _header_key(key: str) -> str:
    """An Idempotency-Key header value: 1 to 255 visible ASCII characters."""
    if not 0 < len(_text(key, "idempotency_key")) <= 255 or not _visible_ascii(key):
        raise ArgumentValueError(
            "idempotency_key must be 1 to 255 visible ASCII characters (it is sent as a header)"
        )
    return key


def fulfill_goal(
    api_key: str,
    goal_id: int,
    message_guid: str | uuid.UUID,
    value: int,
    channel: str | None,
    idempotency_key: str,
) -> Call[None]:
    """ExpertSender's Goals method: an XML document, 201 with an empty body."""
    data = (
        f"<GoalId>{_whole(goal_id, 'goal_id')}</GoalId>"
        f"<GoalValue>{_whole(value, 'value')}</GoalValue>"
        f"<MessageGuid>{escape(_guid(message_guid, 'message_guid'))}</MessageGuid>"
    )
    if channel is not None:
        data += f"<Channel>{escape(_text(channel, 'channel'))}</Channel>"
    body = (
        '<ApiRequest xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        ' xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        f"<ApiKey>{escape(api_key)}</ApiKey><Data>{data}</Data></ApiRequest>"
    )
    return Call(
        "POST",
        GOALS_PATH,
        _nothing,
        content=body.encode("utf-8"),
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "Idempotency-Key": _header_key(idempotency_key),
        },
        bearer=False,
        repeatable=True,
    )


def create_goal(
    name: str,
    id: int | None,
    counting: str | None,
    window_days: int | None,
    default_value: int | None,
) -> Call[Json]:
    body = _clean(
        {
            "name": name,
            "id": id,
            "counting": counting,
            "window_days": window_days,
            "default_value": default_value,
        }
    )
    # With an explicit id a repeat answers 409 instead of making a second goal; without
    # one the server picks the next free id, so a repeat would make a second goal.
    return Call("POST", "/api/v1/goals", _json, json=body, repeatable=id is not None)


def list_goals() -> Call[list[Json]]:
    return Call("GET", "/api/v1/goals", _field("goals"), repeatable=True)


def get_goal(goal_id: int) -> Call[Json]:
    return Call("GET", f"/api/v1/goals/{_whole(goal_id, 'goal_id')}", _json, repeatable=True)


def create_message(
    name: str, channel: str, list: str | None, sent_at: dt.datetime | str | None
) -> Call[Json]:
    body = _clean(
        {"name": name, "channel": channel, "list": list, "sent_at": _time(sent_at, "sent_at")}
    )
    return Call("POST", "/api/v1/messages", _json, json=body)


def list_messages(after: int = 0, limit: int = 1000) -> Call[list[Json]]:
    """A page of messages by id after ``after``; a full page may have more behind it."""
    params = {"after": str(_whole(after, "after")), "limit": str(_whole(limit, "limit"))}
    return Call("GET", "/api/v1/messages", _field("messages"), params=params, repeatable=True)


def get_message(message_id: int) -> Call[Json]:
    return Call(
        "GET", f"/api/v1/messages/{_whole(message_id, 'message_id')}", _json, repeatable=True
    )


def add_recipients(
    message_id: int, recipients: Sequence[str | Mapping[str, str | uuid.UUID]]
) -> Call[list[Json]]:
    if isinstance(recipients, str | Mapping):
        raise ArgumentTypeError("recipients must be a list of subscriber ids or dicts, not one")
    items: list[Json] = []
    for n, r in enumerate(recipients):
        if not isinstance(r, str | Mapping):
            raise ArgumentTypeError(
                f"recipients[{n}] must be a subscriber id (str) or a dict, not {type(r).__name__}"
            )
        item = {"subscriber_id": r} if isinstance(r, str) else dict(r)
        if "guid" in item:
            item["guid"] = _guid(item["guid"], f"recipients[{n}]['guid']")
        items.append(item)
    # Only a call that names every GUID is safe to repeat (the registry keeps the first).
    repeatable = all("guid" in item for item in items)
    return Call(
        "POST",
        f"/api/v1/messages/{_whole(message_id, 'message_id')}/recipients",
        _field("recipients"),
        json={"recipients": items},
        repeatable=repeatable,
    )


def personalize(message_id: int, content: str, guid: str | uuid.UUID) -> Call[str]:
    return Call(
        "POST",
        f"/api/v1/messages/{_whole(message_id, 'message_id')}/personalize",
        _field("content"),
        json={"content": content, "guid": _guid(guid, "guid")},
        repeatable=True,
    )


def fulfillment_item(
    goal_id: int,
    message_guid: str | uuid.UUID,
    value: int | None = None,
    channel: str | None = None,
    idempotency_key: str | None = None,
    occurred_at: dt.datetime | str | None = None,
) -> Json:
    """One fulfillment for the JSON API, with an idempotency key (made when not given)."""
    return _clean(
        {
            "goal_id": goal_id,
            "message_guid": _guid(message_guid, "message_guid"),
            "value": value,
            "channel": channel,
            "idempotency_key": idempotency_key or new_idempotency_key(),
            "occurred_at": _time(occurred_at, "occurred_at"),
        }
    )


# A batch item's fields are fulfillment_item's parameters; those without a default are
# required.
_ITEM_FIELDS = inspect.signature(fulfillment_item).parameters
_REQUIRED_ITEM_FIELDS = [n for n, p in _ITEM_FIELDS.items() if p.default is p.empty]


def _flag(validate_only: bool) -> dict[str, str]:
    return {"validate_only": "true"} if validate_only else {}


def record_fulfillment(item: Json, validate_only: bool) -> Call[Json]:
    return Call(
        "POST",
        "/api/v1/fulfillments",
        _json,
        json=item,
        params=_flag(validate_only),
        repeatable=True,
    )


def record_fulfillments(
    items: Sequence[Mapping[str, Any]], validate_only: bool
) -> Call[list[Json]]:
    if isinstance(items, str | Mapping):
        raise ArgumentTypeError("items must be a list of dicts, not one")
    body: list[Json] = []
    for n, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ArgumentTypeError(f"items[{n}] must be a dict, not {type(item).__name__}")
        unknown = sorted(set(item) - _ITEM_FIELDS.keys())
        missing = [name for name in _REQUIRED_ITEM_FIELDS if name not in item]
        problems = [f"unknown fields {unknown}"] if unknown else []
        if missing:
            problems.append(f"missing fields {missing}")
        if problems:
            raise ArgumentTypeError(f"items[{n}]: " + ", ".join(problems))
        try:
            body.append(fulfillment_item(**item))
        except ArgumentError as exc:
            raise type(exc)(f"items[{n}]: {exc}") from None
    return Call(
        "POST",
        "/api/v1/fulfillments",
        _field("results"),
        json={"fulfillments": body},
        params=_flag(validate_only),
        repeatable=True,
    )


def goal_report(
    start: dt.date | str | None,
    end: dt.date | str | None,
    by: Sequence[str] | str | None,
    tz: str | None,
) -> Call[Json]:
    params = _clean(
        {
            "from": None if start is None else str(start),
            "to": None if end is None else str(end),
            "by": by if by is None or isinstance(by, str) else ",".join(by),
            "tz": tz,
        }
    )
    return Call("GET", "/api/v1/reports/goals", _json, params=params, repeatable=True)
