"""The JSON API under ``/api/v1``: thin handlers per entity, and its OpenAPI document.

Each handler authenticates the Bearer key, parses its body with
:mod:`goalkeeper.wire.json_api`, calls the core, and renders the answer. Errors are
raised as members of the one family and rendered by the site's handler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from goalkeeper.core.fulfillments import Fulfillments
from goalkeeper.web.api import fulfillments, goals, messages, openapi

if TYPE_CHECKING:
    from goalkeeper.web.app import Goalkeeper


def routes(gk: Goalkeeper) -> list[Route]:
    """Every ``/api/v1`` route of this process (OpenAPI document included)."""
    limit = gk.config.api_max_body_bytes
    recorder = Fulfillments(
        gk.store,
        gk.writer,
        max_occurred_age_days=gk.config.max_occurred_age_days,
        idempotency_hours=gk.config.idempotency_hours,
    )
    spec = openapi.document()

    async def openapi_json(_request: Request) -> Response:
        """The OpenAPI document, served without authentication."""
        return JSONResponse(spec)

    return [
        Route("/api/v1/openapi.json", openapi_json, methods=["GET"]),
        *goals.routes(gk, limit),
        *messages.routes(gk, limit),
        *fulfillments.routes(gk, limit, recorder),
    ]
