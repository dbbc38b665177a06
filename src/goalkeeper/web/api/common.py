"""What every ``/api/v1`` handler shares: the Bearer key, the bounded body, renderings."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from goalkeeper.errors import (
    ApiKeyRequired,
    BodyTooLarge,
    Forbidden,
    GoalkeeperError,
    InvalidDocument,
    InvalidField,
    InvalidJson,
    UnknownField,
)
from goalkeeper.model import ApiKey, Goal, Message, Scope
from goalkeeper.wire.body import ClientDisconnected, declared_length, decode_content

if TYPE_CHECKING:
    from goalkeeper.web.app import Goalkeeper

ADMIN = (Scope.ADMIN,)
INGEST = (Scope.ADMIN, Scope.INGEST)


async def authenticate(gk: Goalkeeper, request: Request, scopes: Sequence[Scope]) -> ApiKey:
    """The key of ``Authorization: Bearer <key>``.

    No usable header: 401 api_key_required; an unknown or revoked key: 403
    api_key_invalid (as on the XML path); a key whose scope is too narrow: 403 forbidden.
    """
    header = request.headers.get("authorization")
    if header is None:
        raise ApiKeyRequired()
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise ApiKeyRequired("The Authorization header must be: Bearer <key>.")
    return await gk.ingestor.authenticate(key, scopes, narrow=Forbidden)


def check_query(request: Request, allowed: frozenset[str] = frozenset()) -> None:
    """Refuse query parameters the route does not take, and any given more than once
    (which of two values would count is a guess no route makes), naming them."""
    query = request.query_params
    if not query:
        return
    unknown = sorted({k for k in query if k not in allowed})
    if unknown:
        raise UnknownField(f"Unknown query parameter(s): {', '.join(unknown)}.")
    pairs = query.multi_items()
    if len(pairs) != len(query):
        times = Counter(k for k, _ in pairs)
        repeated = sorted(k for k, n in times.items() if n > 1)
        raise InvalidField(f"Query parameter(s) given more than once: {', '.join(repeated)}.")


async def read_body(gk: Goalkeeper, request: Request, limit: int) -> bytes:
    """The body, Content-Encoding undone, refused past ``limit`` bytes (raw or inflated).

    Read like every body (``wire.body``): a sender that trickles it past
    ``body_timeout_seconds`` gets 408.
    """
    length = declared_length(request.headers.get("content-length"))
    try:
        raw = await gk.deadlines.read(request.receive, limit, length)
        return decode_content(raw, request.headers.get("content-encoding"), limit)
    except BodyTooLarge:
        raise BodyTooLarge(f"Request body is too large: at most {limit} bytes.") from None
    except ClientDisconnected:
        # Nobody is left to read the answer; end the request quietly, without a trace.
        raise InvalidJson("The client went away before its body arrived.") from None
    except InvalidDocument:
        raise InvalidJson("The body could not be decompressed.") from None


def path_id(request: Request, name: str = "id") -> int:
    """A numeric path parameter (the route's ``{id:int}`` already refused non-digits)."""
    value: int = request.path_params[name]
    return value


def error_object(error: GoalkeeperError) -> dict[str, Any]:
    return {"status": error.status, "code": error.code, "message": error.message}


def timestamp(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def goal_json(goal: Goal) -> dict[str, Any]:
    return {
        "id": goal.id,
        "name": goal.name,
        "counting": goal.counting.value,
        "window_days": goal.window_days,
        "default_value": goal.default_value,
        "created_at": timestamp(goal.created_at),
    }


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "name": message.name,
        "channel": message.channel.value,
        "list": message.list,
        "sent_at": timestamp(message.sent_at),
    }
