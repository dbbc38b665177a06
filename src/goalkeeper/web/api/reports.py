"""``GET /api/v1/reports/goals``: the goal report for the key's account (admin keys)."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from goalkeeper.core.reports import (
    ReportRequest,
    goal_report,
    parse_by,
    parse_channel,
    parse_date,
)
from goalkeeper.errors import InvalidField, UnknownField
from goalkeeper.web.api import openapi
from goalkeeper.web.api.common import ADMIN, authenticate

if TYPE_CHECKING:
    from goalkeeper.web.app import Goalkeeper

QUERY_FIELDS = ("from", "to", "by", "tz", "goal_id", "message_id", "channel")


_INTEGER = re.compile(r"-?[0-9]{1,18}", re.ASCII)


def _int_param(text: str | None, name: str) -> int | None:
    if text is None or text == "":
        return None
    if not _INTEGER.fullmatch(text):  # ASCII digits only: int() takes other scripts too
        raise InvalidField(f"{name} must be an integer.")
    return int(text)


def report_request(account_id: int, query: dict[str, str]) -> ReportRequest:
    """A report request from query parameters (shared with the dashboard)."""
    unknown = sorted(k for k in query if k not in QUERY_FIELDS)
    if unknown:
        raise UnknownField(f"Unknown query parameters: {', '.join(unknown)}.")
    return ReportRequest(
        account_id=account_id,
        start=parse_date(query.get("from"), "from"),
        end=parse_date(query.get("to"), "to"),
        by=parse_by(query.get("by")),
        tz=query.get("tz") or "UTC",
        goal_id=_int_param(query.get("goal_id"), "goal_id"),
        message_id=_int_param(query.get("message_id"), "message_id"),
        channel=parse_channel(query.get("channel")),
    )


_INT: openapi.Schema = {"type": "integer"}
_ROW: openapi.Schema = {
    "type": "object",
    "description": "One group: its keys (only those grouped on), then its figures",
    "properties": {
        "goal_id": _INT,
        "goal_name": openapi.nullable({"type": "string"}),
        "message_id": _INT,
        "message_name": openapi.nullable({"type": "string"}),
        "channel": {"type": "string", "enum": ["Email", "SmsMms", "WebPush"]},
        "day": {"type": "string", "format": "date"},
        "fulfillments": _INT,
        "unique_recipients": _INT,
        "value": _INT,
        "recipients": _INT,
        "conversion_rate": openapi.nullable({"type": "number"}),
    },
    "required": ["fulfillments", "unique_recipients", "value", "recipients", "conversion_rate"],
}
openapi.SCHEMAS["ReportRow"] = _ROW
openapi.SCHEMAS["Report"] = {
    "type": "object",
    "properties": {
        "from": {"type": "string", "format": "date"},
        "to": {"type": "string", "format": "date"},
        "tz": {"type": "string"},
        "by": {"type": "array", "items": {"type": "string"}},
        "rows": {"type": "array", "items": openapi.ref("ReportRow")},
        "totals": openapi.ref("ReportRow"),
    },
    "required": ["from", "to", "tz", "by", "rows", "totals"],
}


def _query(name: str, schema: openapi.Schema, about: str) -> openapi.Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": about}


openapi.PATHS["/api/v1/reports/goals"] = {
    "get": openapi.operation(
        "The goal report: counting rules and attribution windows applied, days in tz",
        (200, "Report"),
        (400, 401, 403, 429, 503),
        params=[
            _query("from", {"type": "string", "format": "date"}, "first day, inclusive"),
            _query("to", {"type": "string", "format": "date"}, "last day, inclusive"),
            _query("by", {"type": "string"}, "any of goal,message,channel,day"),
            _query("tz", {"type": "string"}, "IANA time zone (default UTC)"),
            _query("goal_id", _INT, "only this goal"),
            _query("message_id", _INT, "only this message"),
            _query("channel", {"type": "string", "enum": ["Email", "SmsMms", "WebPush"]}, ""),
        ],
    )
}


def routes(gk: Goalkeeper) -> list[Route]:
    async def goals_report(request: Request) -> Response:
        """The goal report: counted fulfillments, unique recipients, value, conversion."""
        key = await authenticate(gk, request, ADMIN)
        wanted = report_request(key.account_id, dict(request.query_params))
        report = await asyncio.to_thread(goal_report, gk.store, wanted)
        return JSONResponse(report.as_dict())

    return [Route("/api/v1/reports/goals", goals_report, methods=["GET"])]
