"""``/api/v1/messages``: register sends, their recipients' GUIDs, and personalize content.

``GET /api/v1/messages`` answers a page of the account's messages by id (``limit``, at
most 1,000) after the id ``after``, and ``next``: the URL of the following page when
this one is full, else null.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from goalkeeper.core import registry
from goalkeeper.errors import InvalidField
from goalkeeper.guid import format_guid
from goalkeeper.web.api.common import (
    ADMIN,
    authenticate,
    check_query,
    message_json,
    path_id,
    read_body,
)
from goalkeeper.wire import json_api

if TYPE_CHECKING:
    from goalkeeper.web.app import Goalkeeper


PAGE = 1000  # most messages in one answer
PAGE_QUERY = frozenset(("after", "limit"))
_DIGITS = re.compile(r"[0-9]{1,19}", re.ASCII)


def _count(text: str | None, name: str, low: int, high: int, default: int) -> int:
    """A whole-number query parameter from ``low`` to ``high``; absent: ``default``."""
    if text is None:
        return default
    if not _DIGITS.fullmatch(text) or not low <= int(text) <= high:
        raise InvalidField(f"{name} must be a whole number from {low:,} to {high:,}.")
    return int(text)


def routes(gk: Goalkeeper, limit: int) -> list[Route]:
    store = gk.store

    async def create_message(request: Request) -> Response:
        key = await authenticate(gk, request, ADMIN)
        check_query(request)
        given = json_api.message_input(await read_body(gk, request, limit))
        message = await asyncio.to_thread(
            registry.create_message,
            store,
            key.account_id,
            given.name,
            given.channel,
            given.list,
            given.sent_at,
        )
        return JSONResponse(message_json(message), status_code=201)

    async def list_messages(request: Request) -> Response:
        key = await authenticate(gk, request, ADMIN)
        check_query(request, PAGE_QUERY)
        after = _count(request.query_params.get("after"), "after", 0, 2**63 - 1, 0)
        size = _count(request.query_params.get("limit"), "limit", 1, PAGE, PAGE)
        messages = await asyncio.to_thread(store.list_messages, key.account_id, size, after)
        # A full page may have more behind it: the next one starts after its last id.
        following = None
        if len(messages) == size:
            following = f"/api/v1/messages?{urlencode({'after': messages[-1].id, 'limit': size})}"
        return JSONResponse({"messages": [message_json(m) for m in messages], "next": following})

    async def get_message(request: Request) -> Response:
        key = await authenticate(gk, request, ADMIN)
        check_query(request)
        message = await asyncio.to_thread(
            registry.message_of, store, key.account_id, path_id(request)
        )
        return JSONResponse(message_json(message))

    async def add_recipients(request: Request) -> Response:
        key = await authenticate(gk, request, ADMIN)
        check_query(request)
        message = await asyncio.to_thread(
            registry.message_of, store, key.account_id, path_id(request)
        )
        given = json_api.recipients_input(await read_body(gk, request, limit))
        rows = await asyncio.to_thread(registry.register_recipients, store, message, given)
        return JSONResponse(
            {
                "recipients": [
                    {"subscriber_id": r.subscriber_id, "guid": format_guid(r.guid.bytes)}
                    for r in rows
                ]
            },
            status_code=201,
        )

    async def personalize(request: Request) -> Response:
        key = await authenticate(gk, request, ADMIN)
        check_query(request)
        message = await asyncio.to_thread(
            registry.message_of, store, key.account_id, path_id(request)
        )
        content, guid = json_api.personalize_input(await read_body(gk, request, limit))
        text = await asyncio.to_thread(registry.personalize, store, message, content, guid)
        return JSONResponse({"content": text})

    async def messages(request: Request) -> Response:
        if request.method == "POST":
            return await create_message(request)
        return await list_messages(request)

    return [
        Route("/api/v1/messages", messages, methods=["GET", "POST"]),
        Route("/api/v1/messages/{id:int}", get_message, methods=["GET"]),
        Route("/api/v1/messages/{id:int}/recipients", add_recipients, methods=["POST"]),
        Route("/api/v1/messages/{id:int}/personalize", personalize, methods=["POST"]),
    ]
