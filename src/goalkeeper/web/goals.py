"""``POST /v2/Api/Goals``: ExpertSender's Goals method, as a plain ASGI handler.

This is the hot path, so it skips the framework: read the body within its limit,
undo Content-Encoding, parse, authenticate, convert the fields in the order the wire
contract gives for errors, hand the request to the group-commit writer, and answer
201 once the row is committed.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from goalkeeper.core.ingest import Ingestor
from goalkeeper.errors import (
    GoalkeeperError,
    InternalError,
    InvalidField,
    MethodNotAllowed,
    StorageUnavailable,
)
from goalkeeper.model import FulfillmentRequest, Source
from goalkeeper.observability import (
    FULFILLMENTS_ACCEPTED,
    FULFILLMENTS_DUPLICATE,
    FULFILLMENTS_REJECTED,
    new_request_id,
    request_id,
)
from goalkeeper.web.responses import CACHE_PRIVATE, Send, cancelled_at_stop, send_xml_error
from goalkeeper.wire import expertsender as es
from goalkeeper.wire.body import BodyDeadlines, ClientDisconnected, Receive, decode_content

if TYPE_CHECKING:
    from goalkeeper.web.app import RequestLog

log = logging.getLogger("goalkeeper.web")
_MAX_IDEMPOTENCY_KEY = 255
_EMPTY_LENGTH = (b"content-length", b"0")
ACCEPTED = FULFILLMENTS_ACCEPTED.labels("xml")
DUPLICATE = FULFILLMENTS_DUPLICATE.labels("xml")
REJECTED = FULFILLMENTS_REJECTED


class Repeated(enum.Enum):
    """What stands for a header sent more than once: which value was meant is unknown."""

    HEADER = enum.auto()


def idempotency_key(raw: bytes | Repeated | None) -> str | None:
    """The Idempotency-Key header's value: sent once, 1 to 255 visible ASCII characters."""
    if raw is None:
        return None
    if raw is Repeated.HEADER:
        raise InvalidField("Idempotency-Key must be sent only once.")
    text = raw.decode("latin-1").strip()
    if not text or len(text) > _MAX_IDEMPOTENCY_KEY or not all(33 <= ord(c) < 127 for c in text):
        raise InvalidField("Idempotency-Key must be 1 to 255 visible ASCII characters.")
    return text


class GoalsHandler:
    """The Goals method, guarding itself as :class:`goalkeeper.web.app.GuardedApp` guards
    every other route (request id, metrics, access log, last-resort 500), so that the
    hot path passes through no extra layer."""

    def __init__(
        self,
        ingestor: Ingestor,
        max_body_bytes: int,
        deadlines: BodyDeadlines,
        requests: RequestLog,
    ):
        self.ingestor = ingestor
        self.limit = max_body_bytes
        self.deadlines = deadlines
        self.requests = requests

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        content_length: int | None = None
        encoding: bytes | None = None
        idem: bytes | Repeated | None = None
        incoming: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                content_length = int(value) if value.isdigit() else None
            elif name == b"content-encoding":
                encoding = value
            elif name == b"idempotency-key":
                idem = value if idem is None else Repeated.HEADER
            elif name == b"x-request-id":
                incoming = value
        rid = new_request_id(incoming)
        token = request_id.set(rid)
        rid_header = (b"x-request-id", rid.encode())
        status = 0
        try:
            status = await self._answer(
                scope, receive, send, rid_header, content_length, encoding, idem
            )
        except Exception:
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            try:
                await send_xml_error(send, InternalError(), rid_header)
                status = 500
            except Exception:  # the answer had already started: nothing more to say
                pass
        except asyncio.CancelledError:
            cancelled_at_stop(scope, started, time.perf_counter())
            try:
                await send_xml_error(send, StorageUnavailable(), rid_header)
                status = 503
            except Exception:  # the answer had already started: nothing more to say
                pass
        finally:
            self.requests.done("goals", scope, status, started)
            request_id.reset(token)

    async def _answer(
        self,
        scope: MutableMapping[str, Any],
        receive: Receive,
        send: Send,
        rid_header: tuple[bytes, bytes],
        content_length: int | None,
        encoding: bytes | None,
        idem: bytes | Repeated | None,
    ) -> int:
        """Answer one request; its status (0 when the client left first)."""
        if scope["method"] != "POST":
            error: GoalkeeperError = MethodNotAllowed("POST")
            await send_xml_error(send, error, rid_header)
            return error.status
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
            # Ingestor.fulfill, one coroutine less on the hot path
            stored = await writer.submit(request)
            if isinstance(stored, GoalkeeperError):
                raise stored
        except GoalkeeperError as error:
            REJECTED.labels("xml", error.code).inc()
            await send_xml_error(send, error, rid_header)
            return error.status
        except ClientDisconnected:
            return 0
        finally:
            if expected:
                writer.expect(-1)
        (DUPLICATE if stored.duplicate else ACCEPTED).inc()
        headers = [CACHE_PRIVATE, rid_header, _EMPTY_LENGTH]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return 201
