"""What the sync and async clients share: the retry policy and every call, as data.

Each API method is built here once as a :class:`Call` (method, path, body, how to
read the answer, whether a lost answer may be retried); the two clients only send
calls, with their own I/O.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar
from xml.sax.saxutils import escape

import httpx

from goalkeeper import __version__

T = TypeVar("T")
Json = dict[str, Any]

RETRY_STATUSES = frozenset((429, 503))
# Errors raised before the request could reach the server: always safe to retry.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
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
    # key): then a request whose answer was lost is retried too.
    repeatable: bool = False


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


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


def _time(value: dt.datetime | str | None) -> str | None:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("datetimes sent to goalkeeper need a time zone")
        return value.isoformat()
    return value


def fulfill_goal(
    api_key: str,
    goal_id: int,
    message_guid: str,
    value: int,
    channel: str | None,
    idempotency_key: str,
) -> Call[None]:
    """ExpertSender's Goals method: an XML document, 201 with an empty body."""
    data = (
        f"<GoalId>{int(goal_id)}</GoalId><GoalValue>{int(value)}</GoalValue>"
        f"<MessageGuid>{escape(str(message_guid))}</MessageGuid>"
    )
    if channel is not None:
        data += f"<Channel>{escape(channel)}</Channel>"
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
        headers={"Content-Type": "text/xml; charset=utf-8", "Idempotency-Key": idempotency_key},
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
    # With an explicit id a repeat answers 409 instead of making a second goal.
    return Call("POST", "/api/v1/goals", _json, json=body, repeatable=id is not None)


def list_goals() -> Call[list[Json]]:
    return Call("GET", "/api/v1/goals", _field("goals"), repeatable=True)


def get_goal(goal_id: int) -> Call[Json]:
    return Call("GET", f"/api/v1/goals/{int(goal_id)}", _json, repeatable=True)


def create_message(
    name: str, channel: str, list: str | None, sent_at: dt.datetime | str | None
) -> Call[Json]:
    body = _clean({"name": name, "channel": channel, "list": list, "sent_at": _time(sent_at)})
    return Call("POST", "/api/v1/messages", _json, json=body)


def list_messages() -> Call[list[Json]]:
    return Call("GET", "/api/v1/messages", _field("messages"), repeatable=True)


def get_message(message_id: int) -> Call[Json]:
    return Call("GET", f"/api/v1/messages/{int(message_id)}", _json, repeatable=True)


def add_recipients(
    message_id: int, recipients: Sequence[str | Mapping[str, str]]
) -> Call[list[Json]]:
    items = [{"subscriber_id": r} if isinstance(r, str) else dict(r) for r in recipients]
    # Only a call that names every GUID is safe to repeat (the registry keeps the first).
    repeatable = all("guid" in item for item in items)
    return Call(
        "POST",
        f"/api/v1/messages/{int(message_id)}/recipients",
        _field("recipients"),
        json={"recipients": items},
        repeatable=repeatable,
    )


def personalize(message_id: int, content: str, guid: str) -> Call[str]:
    return Call(
        "POST",
        f"/api/v1/messages/{int(message_id)}/personalize",
        _field("content"),
        json={"content": content, "guid": guid},
        repeatable=True,
    )


def fulfillment_item(
    goal_id: int,
    message_guid: str,
    value: int | None = None,
    channel: str | None = None,
    idempotency_key: str | None = None,
    occurred_at: dt.datetime | str | None = None,
) -> Json:
    """One fulfillment for the JSON API, with an idempotency key (made when not given)."""
    return _clean(
        {
            "goal_id": goal_id,
            "message_guid": message_guid,
            "value": value,
            "channel": channel,
            "idempotency_key": idempotency_key or new_idempotency_key(),
            "occurred_at": _time(occurred_at),
        }
    )


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
    body = [fulfillment_item(**item) for item in items]
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
