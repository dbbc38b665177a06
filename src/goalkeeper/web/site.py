"""Everything off the ExpertSender paths, on Starlette: health, readiness, and the API.

Errors of the family render as ``{"error": {"status", "code", "message"}}``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from goalkeeper.errors import (
    GoalkeeperError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    SchemaOutdated,
)
from goalkeeper.observability import render_metrics
from goalkeeper.web import api, beacon, dashboard
from goalkeeper.web.api import reports as api_reports
from goalkeeper.web.responses import json_error_body

if TYPE_CHECKING:
    from goalkeeper.web.app import Goalkeeper

log = logging.getLogger("goalkeeper.web")


def error_response(error: GoalkeeperError) -> Response:
    """The JSON envelope, ASCII-escaped: a message naming what the client sent (a field
    name, say) may hold an unpaired surrogate, which UTF-8 cannot encode."""
    return Response(
        json_error_body(error),
        status_code=error.status,
        headers=error.headers,
        media_type="application/json",
    )


async def _family_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GoalkeeperError)
    return error_response(exc)


async def _defect(_request: Request, _exc: Exception) -> Response:
    """The last-resort 500 in the JSON envelope. Starlette answers with this, then
    re-raises, and the outer layer logs the error with the request id."""
    return error_response(InternalError())


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow", "GET")
        return error_response(
            MethodNotAllowed(allow, f"Only {allow} is allowed for this resource.")
        )
    if exc.status_code == 404:
        return error_response(NotFound())
    error = GoalkeeperError(exc.detail)
    error.status = exc.status_code
    error.code = "http_error"
    return error_response(error)


def build_site(gk: Goalkeeper) -> Starlette:
    async def healthz(_request: Request) -> Response:
        """The process is alive and serving."""
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        """The database answers, its schema is the one this goalkeeper needs, and writes
        are not failing."""
        try:
            await asyncio.wait_for(asyncio.to_thread(gk.store.ping), timeout=1.0)
        except SchemaOutdated as exc:
            return JSONResponse({"status": "unready", "reason": str(exc)}, status_code=503)
        except (GoalkeeperError, TimeoutError) as exc:
            # The cause (a host and port, a file's path) goes to the log only: /readyz
            # answers anyone who can reach it.
            detail = (exc.detail or exc.message) if isinstance(exc, GoalkeeperError) else None
            log.warning("unready: %s", detail or "the database did not answer within 1 s")
            reason = "database unavailable (the log says why)"
            return JSONResponse({"status": "unready", "reason": reason}, status_code=503)
        if gk.writer.health.failing():  # reads work, writes do not (a lock, a read-only file)
            reason = "writes are failing: the last batch could not be stored (see the log)"
            return JSONResponse({"status": "unready", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics(_request: Request) -> Response:
        """Prometheus exposition: requests, fulfillments, writer batches, database errors."""
        body, content_type = render_metrics()
        return Response(body, media_type=content_type)

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        *api.routes(gk),
        *beacon.routes(gk),
        *api_reports.routes(gk),
        *dashboard.routes(gk),
    ]
    site = Starlette(
        routes=routes,
        exception_handlers={
            GoalkeeperError: _family_error,
            HTTPException: _http_error,
            Exception: _defect,
        },
    )
    # /api/v1/goals/ answers 404 in the JSON envelope: a bare 307 to another path is no
    # answer an API client can act on (and a redirected POST may lose its body).
    site.router.redirect_slashes = False
    return site
