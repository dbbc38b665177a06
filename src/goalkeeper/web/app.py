"""The ASGI application: lifespan, and the routes table.

The ExpertSender paths (``/v2/Api/...`` and ``/Api/...``, matched case-insensitively as
IIS does) are dispatched here without a framework and answer errors in the XML
envelope; everything else goes to the Starlette application of :mod:`.site`, which
answers errors as JSON.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from starlette.types import ASGIApp

from goalkeeper.config import Config
from goalkeeper.core.ingest import Ingestor
from goalkeeper.core.keys import KeyCache
from goalkeeper.core.writer import Writer
from goalkeeper.errors import InternalError, NotFound
from goalkeeper.store import Store, open_store
from goalkeeper.web.goals import GoalsHandler
from goalkeeper.web.responses import Send, send_xml_error
from goalkeeper.wire.body import Receive

log = logging.getLogger("goalkeeper.web")

GOALS_PATHS = frozenset(("/v2/api/goals", "/api/goals"))


def is_expertsender_path(lower_path: str) -> bool:
    return lower_path.startswith("/v2/api/") or (
        lower_path.startswith("/api/") and not lower_path.startswith("/api/v1/")
    )


class Goalkeeper:
    """The whole service for one process: store, writer, and the HTTP routes."""

    def __init__(self, config: Config, store: Store | None = None):
        self.config = config
        self._own_store = store is None
        self.store: Store = store if store is not None else open_store(config.database_url)
        self.keys = KeyCache(self.store, config.key_cache_seconds)
        self.writer = Writer(
            self.store,
            batch_max=config.batch_max,
            batch_wait_us=config.batch_wait_us,
            idempotency_hours=config.idempotency_hours,
        )
        self.ingestor = Ingestor(self.keys, self.writer)
        self.goals = GoalsHandler(self.ingestor, config.max_body_bytes)
        from goalkeeper.web.site import build_site

        self.site: ASGIApp = build_site(self)
        self.started = False

    async def startup(self) -> None:
        self.store.ping()  # refuses a stale schema with a message naming `db upgrade`
        self.writer.start()
        self.started = True

    async def shutdown(self) -> None:
        if self.started:
            await self.writer.stop()
            self.started = False
        if self._own_store:
            self.store.close()

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            lower = scope["path"].lower()
            if lower in GOALS_PATHS:
                await self.goals(scope, receive, send)
                return
            if is_expertsender_path(lower):
                await self._expertsender(scope, receive, send, lower)
                return
            await self.site(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            await self.site(scope, receive, send)

    async def _expertsender(
        self, scope: MutableMapping[str, Any], receive: Receive, send: Send, lower: str
    ) -> None:
        await send_xml_error(send, NotFound())

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.error("startup failed: %s", exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


class GuardedApp:
    """Turns anything unexpected into a 500 in the right envelope, never a stack trace."""

    def __init__(self, app: Goalkeeper):
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if scope["type"] != "http":
                raise
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                from goalkeeper.web.responses import send_json_error

                lower = scope["path"].lower()
                if lower in GOALS_PATHS or is_expertsender_path(lower):
                    await send_xml_error(send, InternalError())
                else:
                    await send_json_error(send, InternalError())


def create_app(config: Config | None = None) -> GuardedApp:
    """The ASGI application, configured from the environment unless given a Config."""
    return GuardedApp(Goalkeeper(config or Config.load()))
