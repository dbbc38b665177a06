"""``GET /api/v1/reports/goals``: the goal report for the key's account (admin keys)."""

from __future__ import annotations

import asyncio
import datetime as dt
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
from goalkeeper.web.api.common import ADMIN, authenticate, check_query

if TYPE_CHECKING:
    from goalkeeper.web.app import Goalkeeper

QUERY_FIELDS = ("from", "to", "by", "tz", "goal_id", "message_id", "channel")
ALLOWED = frozenset(QUERY_FIELDS)
# Given empty, these are refused rather than read as absent: leave them out instead.
# (``by=`` stays allowed: no grouping, as when absent; the client sends it for by=[].)
NOT_EMPTY = ("from", "to", "tz", "goal_id", "message_id", "channel")


_INTEGER = re.compile(r"-?[0-9]{1,18}", re.ASCII)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def _int_param(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    if not _INTEGER.fullmatch(text):  # ASCII digits only: int() takes other scripts too
        raise InvalidField(f"{name} must be an integer.")
    return int(text)


def _day_param(text: str | None, name: str) -> dt.date | None:
    # Only YYYY-MM-DD: date.fromisoformat alone also takes 20261127 and 2026-W48-5.
    if text is not None and not _DAY.fullmatch(text):
        raise InvalidField(f"{name} must be a date as YYYY-MM-DD.")
    return parse_date(text, name)


def report_request(account_id: int, query: dict[str, str]) -> ReportRequest:
    """A report request from the API's query parameters."""
    unknown = sorted(k for k in query if k not in QUERY_FIELDS)
    if unknown:
        raise UnknownField(f"Unknown query parameters: {', '.join(unknown)}.")
    empty = [k for k in NOT_EMPTY if query.get(k) == ""]
    if empty:
        raise InvalidField(f"Empty query parameter(s): {', '.join(empty)}; leave them out.")
    return ReportRequest(
        account_id=account_id,
        start=_day_param(query.get("from"), "from"),
        end=_day_param(query.get("to"), "to"),
        by=parse_by(query.get("by")),
        tz=query.get("tz") or "UTC",
        goal_id=_int_param(query.get("goal_id"), "goal_id"),
        message_id=_int_param(query.get("message_id"), "message_id"),
        channel=parse_channel(query.get("channel")),
    )


def routes(gk: Goalkeeper) -> list[Route]:
    async def goals_report(request: Request) -> Response:
        """The goal report: counted fulfillments, unique recipients, value, conversion."""
        key = await authenticate(gk, request, ADMIN)
        check_query(request, ALLOWED)
        wanted = report_request(key.account_id, dict(request.query_params))
        report = await asyncio.to_thread(goal_report, gk.store, wanted)
        return JSONResponse(report.as_dict())

    return [Route("/api/v1/reports/goals", goals_report, methods=["GET"])]
