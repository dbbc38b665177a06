"""The ASGI application: lifespan, and the routes table.

The ExpertSender paths (``/v2/...`` and ``/Api/...``, matched as IIS routes them: case-
insensitively, runs of slashes collapsed, a trailing slash ignored) are dispatched here
without a framework and answer errors in the XML envelope; everything else, goalkeeper's
own JSON API under ``/api/v1/`` included, goes to the Starlette application of
:mod:`.site`, which answers errors as JSON.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import MutableMapping
from typing import Any

from starlette.types import ASGIApp

from goalkeeper import observability
from goalkeeper.config import Config
from goalkeeper.core.ingest import GoalDefaults, Ingestor
from goalkeeper.core.keys import KeyCache
from goalkeeper.core.ratelimit import RateLimiter
from goalkeeper.core.writer import FulfillmentWriter, Writer
from goalkeeper.core.writer_process import ProcessWriter
from goalkeeper.errors import InternalError, NotFound, StorageUnavailable
from goalkeeper.store import Store, open_store
from goalkeeper.web.expertsender_read import READ_PATHS, ExpertSenderReads
from goalkeeper.web.goals import GoalsHandler
from goalkeeper.web.responses import Send, cancelled_at_stop, send_json_error, send_xml_error
from goalkeeper.wire.body import BodyDeadlines, Receive

log = logging.getLogger("goalkeeper.web")
access = logging.getLogger("goalkeeper.access")

GOALS_PATHS = frozenset(("/v2/api/goals", "/api/goals"))


def expertsender_path(lower_path: str) -> str | None:
    """The lower-case path as ExpertSender's IIS routes it, or None outside its namespace.

    ASP.NET collapses runs of slashes (a client base URL ending in ``/`` sends
    ``//v2/Api/Goals``) and its routes ignore a trailing slash. ExpertSender's namespace
    is ``/v2`` and ``/Api`` (older clients have no ``/v2``), less goalkeeper's own JSON API
    under ``/api/v1``, which differs from ``/Api/...`` only in case.
    """
    path = lower_path
    while "//" in path:
        path = path.replace("//", "/")
    if len(path) > 1 and path[-1] == "/":
        path = path[:-1]
    if path == "/v2" or path.startswith("/v2/"):
        return path
    if path == "/api" or (path.startswith("/api/") and not _is_json_api(path)):
        return path
    return None


def _is_json_api(path: str) -> bool:
    return path == "/api/v1" or path.startswith("/api/v1/")


class Goalkeeper:
    """The whole service for one process: store, writer, and the HTTP routes."""

    def __init__(self, config: Config, store: Store | None = None):
        self.config = config
        self._own_store = store is None
        self.store: Store = (
            store
            if store is not None
            else open_store(config.database_url, pool_size=config.pool_size)
        )
        self.keys = KeyCache(self.store, config.key_cache_seconds)
        self.writer: FulfillmentWriter
        if config.writer == "thread":
            self.writer = Writer(
                self.store,
                batch_max=config.batch_max,
                batch_wait_us=config.batch_wait_us,
                idempotency_hours=config.idempotency_hours,
                on_batch=observability.observe_batch,
            )
        else:  # "process", the only other value Config accepts
            self.writer = ProcessWriter(
                config.database_url,
                batch_max=config.batch_max,
                batch_wait_us=config.batch_wait_us,
                idempotency_hours=config.idempotency_hours,
                on_batch=observability.observe_batch,
                log_format=config.log_format,
                log_level=config.log_level,
            )
        self.limiter = RateLimiter(self.store, config.rate_limit, config.tracker_rate_limit)
        self.ingestor = Ingestor(self.keys, self.writer, self.limiter)
        self.goal_defaults = GoalDefaults(self.store)  # for the JSON API and the beacon
        self.deadlines = BodyDeadlines(config.body_timeout_seconds)
        self.requests = RequestLog(config.access_log)
        self.goals = GoalsHandler(
            self.ingestor, config.max_body_bytes, self.deadlines, self.requests
        )
        self.reads = ExpertSenderReads(self)
        from goalkeeper.web.site import build_site

        self.site: ASGIApp = build_site(self)
        self.started = False

    async def startup(self) -> None:
        self.store.ping()  # refuses a stale schema with a message naming `db upgrade`
        self.writer.start()
        self.deadlines.start()
        self.started = True

    async def shutdown(self) -> None:
        if self.started:
            self.deadlines.stop()
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
            path = expertsender_path(lower)
            if path is None:
                await self.site(scope, receive, send)
            elif path in GOALS_PATHS:
                await self.goals(scope, receive, send)
            elif path in READ_PATHS:
                await self.reads(scope, receive, send, path)
            else:
                await send_xml_error(send, NotFound())
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            await self.site(scope, receive, send)

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
                try:
                    await self.shutdown()
                except Exception as exc:
                    log.exception("shutdown failed")
                    await send({"type": "lifespan.shutdown.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return


XML_GROUPS = frozenset(("goals", "expertsender"))  # the groups whose errors are XML


def route_group(lower_path: str) -> str:
    """A low-cardinality name for metrics: which part of goalkeeper answered."""
    path = expertsender_path(lower_path)
    if path is not None:
        return "goals" if path in GOALS_PATHS else "expertsender"
    if lower_path.startswith("/api/v1/"):
        return "api"
    if lower_path in ("/healthz", "/readyz", "/metrics"):
        return "ops"
    return "site"


class RequestLog:
    """What every answered request leaves behind: its count by route group and status in
    /metrics, and (when ``access_log`` is on) one access line."""

    def __init__(self, access_log: bool):
        self.access_log = access_log
        # (route group, status) -> its counter: labels() takes a lock and builds a key
        # on every call, a cost the hot path pays per request otherwise.
        self._requests: dict[tuple[str, int], Any] = {}

    def done(
        self, group: str, scope: MutableMapping[str, Any], status: int, started: float
    ) -> None:
        status = status or 499  # 499: the client left before an answer started
        counter = self._requests.get((group, status))
        if counter is None:
            counter = observability.HTTP_REQUESTS.labels(group, str(status))
            self._requests[(group, status)] = counter
        counter.inc()
        if self.access_log:
            access.info(
                "%s %s %d %.1fms",
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
            )


_API_HEADERS = [(b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]


class GuardedApp:
    """The outermost layer: request id, metrics, access log, and the last-resort 500.

    Anything unexpected becomes a 500 in the envelope of the path (XML on the
    ExpertSender paths, JSON elsewhere), never a stack trace. The Goals method, the hot
    path, does the same for itself (:class:`goalkeeper.web.goals.GoalsHandler`), with
    no layer in between.
    """

    def __init__(self, app: Goalkeeper):
        self.app = app
        self.goals = app.goals
        self.requests = app.requests

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lower = scope["path"].lower()
        if lower in GOALS_PATHS:
            await self.goals(scope, receive, send)
            return
        group = route_group(lower)
        if group == "goals":  # the Goals path as IIS would route it: /v2/Api/Goals/
            await self.goals(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value
                break
        rid = observability.new_request_id(incoming)
        token = observability.request_id.set(rid)
        status = 0
        started = time.perf_counter()

        extra = [(b"x-request-id", rid.encode())]
        if group == "api":  # an account's data: no cache keeps it, no browser sniffs it
            extra += _API_HEADERS

        async def tracked_send(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception:
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if status == 0:
                if group in XML_GROUPS:
                    await send_xml_error(tracked_send, InternalError())
                else:
                    await send_json_error(tracked_send, InternalError())
        except asyncio.CancelledError:
            cancelled_at_stop(scope, started, time.perf_counter())
            if status == 0:
                if group in XML_GROUPS:
                    await send_xml_error(tracked_send, StorageUnavailable())
                else:
                    await send_json_error(tracked_send, StorageUnavailable())
        finally:
            self.requests.done(group, scope, status, started)
            observability.request_id.reset(token)


def create_app(config: Config | None = None) -> GuardedApp:
    """The ASGI application, configured from the environment unless given a Config.

    Without one it is a worker of ``serve --workers N`` (uvicorn's factory), a process
    of its own: it sets up its logging as ``serve`` did for itself, or its lines would
    be lost or bare.
    """
    if config is None:
        config = Config.load()
        observability.configure_logging(config.log_format, config.log_level)
    return GuardedApp(Goalkeeper(config))
