"""Raw ASGI responses, and the two renderings of the error family (XML and JSON)."""

from __future__ import annotations

import json
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
