"""``POST /v2/Api/Goals``: ExpertSender's Goals method, as a plain ASGI handler.

This is the hot path, so it skips the framework: read the body within its limit,
undo Content-Encoding, parse, authenticate, convert the fields in the order the wire
contract gives for errors, hand the request to the group-commit writer, and answer
201 once the row is committed.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from goalkeeper.core.ingest import Ingestor
from goalkeeper.errors import GoalkeeperError, InvalidField, MethodNotAllowed
from goalkeeper.model import FulfillmentRequest, Source
from goalkeeper.observability import (
    FULFILLMENTS_ACCEPTED,
    FULFILLMENTS_DUPLICATE,
    FULFILLMENTS_REJECTED,
)
from goalkeeper.web.responses import CACHE_PRIVATE, Send, send_response, send_xml_error
from goalkeeper.wire import expertsender as es
from goalkeeper.wire.body import BodyDeadlines, ClientDisconnected, Receive, decode_content

_MAX_IDEMPOTENCY_KEY = 255
ACCEPTED = FULFILLMENTS_ACCEPTED.labels("xml")
DUPLICATE = FULFILLMENTS_DUPLICATE.labels("xml")
REJECTED = FULFILLMENTS_REJECTED


def idempotency_key(raw: bytes | None) -> str | None:
    """The Idempotency-Key header's value: 1 to 255 visible ASCII characters."""
    if raw is None:
        return None
    text = raw.decode("latin-1").strip()
    if not text or len(text) > _MAX_IDEMPOTENCY_KEY or not all(33 <= ord(c) < 127 for c in text):
        raise InvalidField("Idempotency-Key must be 1 to 255 visible ASCII characters.")
    return text


class GoalsHandler:
    def __init__(self, ingestor: Ingestor, max_body_bytes: int, deadlines: BodyDeadlines):
        self.ingestor = ingestor
        self.limit = max_body_bytes
        self.deadlines = deadlines

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await send_xml_error(send, MethodNotAllowed("POST"))
            return
        content_length: int | None = None
        encoding: bytes | None = None
        idem: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                content_length = int(value) if value.isdigit() else None
            elif name == b"content-encoding":
                encoding = value
            elif name == b"idempotency-key":
                idem = value
        writer = self.ingestor.writer
        writer.expect(1)
        expected = True
        try:
            raw = await self.deadlines.read(receive, self.limit, content_length)
            body = decode_content(
                raw, None if encoding is None else encoding.decode("latin-1"), self.limit
            )
            doc = es.parse_goals_document(body)
            key = await self.ingestor.authenticate(es.api_key(doc.api_key))
            request = FulfillmentRequest(
                account_id=key.account_id,
                goal_id=es.goal_id(doc.goal_id),
                value=es.goal_value(doc.goal_value),
                channel=es.channel(doc.channel),
                guid=es.message_guid(doc.message_guid),
                source=Source.XML,
                idempotency_key=idempotency_key(idem),
            )
            writer.expect(-1)
            expected = False
            stored = await self.ingestor.fulfill(request)
        except GoalkeeperError as error:
            REJECTED.labels("xml", error.code).inc()
            await send_xml_error(send, error)
            return
        except ClientDisconnected:
            return
        finally:
            if expected:
                writer.expect(-1)
        (DUPLICATE if stored.duplicate else ACCEPTED).inc()
        await send_response(send, 201, [CACHE_PRIVATE])
