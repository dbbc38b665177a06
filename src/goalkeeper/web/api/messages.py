"""``/api/v1/messages``: register sends, their recipients' GUIDs, and personalize content."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from goalkeeper.core import registry
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
        check_query(request)
        messages = await asyncio.to_thread(store.list_messages, key.account_id)
        return JSONResponse({"messages": [message_json(m) for m in messages]})

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
