"""Raw ASGI responses, and the two renderings of the error family (XML and JSON)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from goalkeeper.errors import GoalkeeperError
from goalkeeper.wire.expertsender import error_body

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

CACHE_PRIVATE = (b"cache-control", b"private")
XML_TYPE = (b"content-type", b"text/xml; charset=utf-8")
JSON_TYPE = (b"content-type", b"application/json")


async def send_response(send: Send, status: int, headers: Headers, body: bytes = b"") -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _extra(error: GoalkeeperError) -> Headers:
    return [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]


async def send_xml_error(send: Send, error: GoalkeeperError, *more: tuple[bytes, bytes]) -> None:
    """An error on the ExpertSender paths: always the XML envelope, never empty."""
    headers = [CACHE_PRIVATE, XML_TYPE, *_extra(error), *more]
    await send_response(send, error.status, headers, error_body(error.status, error.message))


def json_error_body(error: GoalkeeperError) -> bytes:
    """The JSON error envelope, compact and ASCII-escaped (always encodable)."""
    payload = {"error": {"status": error.status, "code": error.code, "message": error.message}}
    return json.dumps(payload, separators=(",", ":")).encode()


async def send_json_error(send: Send, error: GoalkeeperError) -> None:
    headers = [JSON_TYPE, *_extra(error)]
    await send_response(send, error.status, headers, json_error_body(error))


_stop_log = logging.getLogger("goalkeeper.web")


def cancelled_at_stop(scope: MutableMapping[str, Any], started: float, now: float) -> None:
    """A request task cancelled under us: at shutdown, uvicorn cancels what is still
    running after ``shutdown_timeout_seconds`` (nothing else cancels a request's task).
    Take the cancellation back so the caller can still answer 503 in its envelope (not
    uvicorn's plain 500 with a traceback), and say so in the log. The request may still
    be written by the writer, like any request answered 503."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
    _stop_log.warning(
        "answered 503 to %s %s: the server stopped while it was in flight (%.1f s)",
        scope.get("method"),
        scope.get("path"),
        now - started,
    )
