"""Automatic tracking in the browser: ``GET /tracker.js`` and ``POST /api/v1/beacon``.

The beacon never fails toward the browser: every POST answers 204, also for bodies
it refuses (oversized, malformed, foreign origin, unknown GUID); what it refused is
logged and counted by reason in ``goalkeeper_fulfillments_rejected_total{source=
"beacon"}``, never shown to the page. CORS: a preflight (which carries no key) is
answered for origins listed on any active tracker key; the POST is accepted only from
an origin of its own key. The same ``order_id`` for the same account and goal is one
fulfillment (it becomes the request's idempotency key).
"""

from __future__ import annotations

import asyncio
import logging
import time
from importlib import resources
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from goalkeeper.core.keys import key_prefix
from goalkeeper.errors import GoalkeeperError, OriginNotAllowed
from goalkeeper.model import FulfillmentRequest, Scope, Source
from goalkeeper.observability import (
    FULFILLMENTS_ACCEPTED,
    FULFILLMENTS_DUPLICATE,
    FULFILLMENTS_REJECTED,
)
from goalkeeper.wire.beacon import MAX_BODY, parse_beacon
from goalkeeper.wire.body import ClientDisconnected, declared_length, decode_content

if TYPE_CHECKING:
    from goalkeeper.web.app import Goalkeeper

log = logging.getLogger("goalkeeper.beacon")

TRACKER_SCOPES = (Scope.TRACKER,)
_PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "POST",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "600",
}


def tracker_script() -> bytes:
    return (resources.files("goalkeeper.web") / "static" / "tracker.js").read_bytes()


class OriginCache:
    """Origins of all active tracker keys, re-read at most every ``ttl`` seconds."""

    def __init__(self, gk: Goalkeeper, ttl: float):
        self._gk = gk
        self._ttl = ttl
        self._origins: frozenset[str] = frozenset()
        self._expires = 0.0

    async def allowed(self, origin: str) -> bool:
        if time.monotonic() >= self._expires:
            self._origins = frozenset(await asyncio.to_thread(self._gk.store.tracker_origins))
            self._expires = time.monotonic() + self._ttl
        return origin in self._origins


def routes(gk: Goalkeeper) -> list[Route]:
    script = tracker_script()
    origins = OriginCache(gk, max(gk.config.key_cache_seconds, 1.0))

    async def tracker_js(_request: Request) -> Response:
        """The tracking script for customers' websites (no dependencies, under 4 KB)."""
        return Response(
            script,
            media_type="application/javascript",
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    async def beacon(request: Request) -> Response:
        origin = request.headers.get("origin", "")
        if request.method == "OPTIONS":
            if origin and await origins.allowed(origin):
                headers = {
                    **_PREFLIGHT_HEADERS,
                    "Access-Control-Allow-Origin": origin,
                    "Vary": "Origin",
                }
                return Response(status_code=204, headers=headers)
            return Response(status_code=204, headers={"Vary": "Origin"})
        allow: dict[str, str] = {"Vary": "Origin"}
        data = None
        try:
            raw = await gk.deadlines.read(
                request.receive, MAX_BODY, declared_length(request.headers.get("content-length"))
            )
            body = decode_content(raw, request.headers.get("content-encoding"), MAX_BODY)
            data = parse_beacon(body)
            key = await gk.ingestor.identify(data.key, TRACKER_SCOPES)
            # The origin first: a page elsewhere that embeds the public key must not use
            # up the key's rate limit, which would drop the shop's own goals.
            if origin not in key.origins:
                raise OriginNotAllowed()
            await gk.ingestor.limit(key)
            allow["Access-Control-Allow-Origin"] = origin
            value = data.value
            if value is None:
                value = await gk.goal_defaults.value_of(key.account_id, data.goal_id)
            stored = await gk.ingestor.fulfill(
                FulfillmentRequest(
                    account_id=key.account_id,
                    goal_id=data.goal_id,
                    guid=data.guid,
                    value=value,
                    channel=None,
                    source=Source.BEACON,
                    idempotency_key=None
                    if data.order_id is None
                    else f"order:{data.goal_id}:{data.order_id}",
                )
            )
        except GoalkeeperError as error:
            FULFILLMENTS_REJECTED.labels("beacon", error.code).inc()
            log.info(
                "beacon refused (%s) from %r, key %s, goal %s: %s",
                error.code,
                origin[:100],
                "-" if data is None else key_prefix(data.key),
                "-" if data is None else data.goal_id,
                error.message,
            )
        except ClientDisconnected:
            pass
        else:
            (FULFILLMENTS_DUPLICATE if stored.duplicate else FULFILLMENTS_ACCEPTED).labels(
                "beacon"
            ).inc()
        return Response(status_code=204, headers=allow)

    return [
        Route("/tracker.js", tracker_js, methods=["GET"]),
        Route("/api/v1/beacon", beacon, methods=["POST", "OPTIONS"]),
    ]
