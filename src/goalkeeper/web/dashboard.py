"""The dashboard at ``/``: sign in with an admin key, then read the goal report in a browser.

Server-rendered HTML (Jinja2 templates in ``web/templates``), an SVG chart drawn here,
and two small assets in ``web/static``; nothing is loaded from anywhere else. A session
cookie (HttpOnly, SameSite=Lax, Secure over HTTPS) names a session kept in the database
(:class:`Sessions`), so every process shares it and signing out ends it; every request
checks that the key that signed in is still an active admin key, so revoking it ends
its sessions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import importlib.resources
import secrets
import zoneinfo
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from goalkeeper.core.keys import IssuedKey, create_key
from goalkeeper.core.reports import (
    Report,
    ReportRequest,
    goal_report,
    parse_date,
    parse_zone,
    resolve_range,
)
from goalkeeper.errors import GoalkeeperError, InvalidField
from goalkeeper.model import ApiKey, Scope
from goalkeeper.web.chart import Point, series_svg
from goalkeeper.wire.body import ClientDisconnected, declared_length

if TYPE_CHECKING:
    from goalkeeper.web.app import Goalkeeper

COOKIE = "gk_session"
SESSION_SECONDS = 12 * 3600
_MAX_FORM = 4096
VIEWS = {
    "day": ("day",),
    "goal": ("goal",),
    "channel": ("channel",),
    "message": ("message", "channel"),
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self';"
    " img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
COMMON_ZONES = (
    "UTC", "Europe/London", "Europe/Warsaw", "Europe/Berlin", "America/New_York",
    "America/Chicago", "America/Los_Angeles", "America/Sao_Paulo", "Asia/Kolkata",
    "Asia/Kathmandu", "Asia/Singapore", "Asia/Tokyo", "Australia/Sydney",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Session:
    account_id: int
    key_prefix: str


class Sessions:
    """Server-side sessions. The cookie is ``<account id>.<random token>``; the database
    keeps only the token's SHA-256, so neither a copy of the database nor a cookie's
    text can make another session. Signing out deletes the session; revoking its key
    or the end of ``SESSION_SECONDS`` ends it too."""

    def __init__(self, gk: Goalkeeper):
        self._gk = gk

    def issue(self, record: ApiKey) -> str:
        token = secrets.token_urlsafe(32)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=SESSION_SECONDS)
        self._gk.store.create_session(record.account_id, _token_hash(token), record.id, expires)
        return f"{record.account_id}.{token}"

    def check(self, cookie: str | None) -> Session | None:
        """The session of a cookie whose key is still an active admin key; else None."""
        parts = _cookie_parts(cookie)
        if parts is None:
            return None
        record = self._gk.store.find_session(*parts)
        if record is None or record.scope is not Scope.ADMIN:
            return None
        return Session(record.account_id, record.prefix)

    def end(self, cookie: str | None) -> None:
        parts = _cookie_parts(cookie)
        if parts is not None:
            self._gk.store.delete_session(*parts)


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


def _cookie_parts(cookie: str | None) -> tuple[int, bytes] | None:
    """(account id, token hash) of a cookie shaped as :class:`Sessions` makes them."""
    account, _, token = (cookie or "").partition(".")
    if not (account.isascii() and account.isdigit() and len(account) <= 18):
        return None
    if not (token.isascii() and 20 <= len(token) <= 64):
        return None
    return int(account), _token_hash(token)


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("goalkeeper.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["thousands"] = lambda n: f"{n:,}".replace(",", "\u202f")
    env.filters["percent"] = lambda r: "\u2013" if r is None else f"{r * 100:.1f}\u202f%"
    return env


@dataclasses.dataclass(frozen=True)
class Range:
    start: dt.date
    end: dt.date
    tz: str

    def query(self, **extra: str) -> str:
        return urlencode(
            {"from": self.start.isoformat(), "to": self.end.isoformat(), "tz": self.tz, **extra}
        )


def _range(request: Request) -> Range:
    params = request.query_params
    zone = parse_zone(params.get("tz") or "UTC")
    start, end = resolve_range(
        parse_date(params.get("from"), "from"), parse_date(params.get("to"), "to"), zone
    )
    return Range(start, end, zone.key)


def _report(gk: Goalkeeper, account_id: int, span: Range, by: tuple[str, ...]) -> Report:
    return goal_report(gk.store, ReportRequest(account_id, span.start, span.end, by, span.tz))


def _page_data(gk: Goalkeeper, account_id: int, span: Range) -> dict[str, Any]:
    """Everything the dashboard shows for one range (runs in a worker thread)."""
    by_day = _report(gk, account_id, span, ("day",))
    days = {row.day: row for row in by_day.rows}
    points = []
    day = span.start
    while day <= span.end:
        row = days.get(day)
        points.append(Point(day, row.fulfillments if row else 0, row.value if row else 0))
        day += dt.timedelta(days=1)
    by_goal = _report(gk, account_id, span, ("goal",))
    by_channel = _report(gk, account_id, span, ("channel",))
    by_message = _report(gk, account_id, span, ("message", "channel"))
    messages = sorted(by_message.rows, key=lambda r: (-r.fulfillments, -r.value, r.message_id or 0))
    return {
        "totals": by_day.totals,
        "chart": series_svg(
            points, f"Fulfillments and value per day, {span.start} to {span.end} ({span.tz})"
        ),
        "has_data": any(p.fulfillments or p.value for p in points),
        "goals_defined": bool(gk.store.list_goals(account_id)),
        "messages_defined": bool(gk.store.list_messages(account_id, limit=1)),
        "by_goal": sorted(by_goal.rows, key=lambda r: -r.fulfillments),
        "by_channel": sorted(by_channel.rows, key=lambda r: -r.fulfillments),
        "by_message": messages,
    }


def routes(gk: Goalkeeper) -> list[BaseRoute]:
    templates = _templates()
    sessions = Sessions(gk)
    static = importlib.resources.files("goalkeeper.web") / "static"

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = templates.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def cross_site(request: Request) -> bool:
        """A form posted from another site (sign-in and sign-out accept only our own)."""
        if request.headers.get("sec-fetch-site") == "cross-site":
            return True
        origin = request.headers.get("origin")
        if origin is None or origin == "null":
            return False
        # the host only: behind a TLS proxy the scheme seen here may differ
        return urlsplit(origin).netloc != request.url.netloc

    async def form_of(request: Request) -> dict[str, list[str]]:
        """A posted form, read within _MAX_FORM bytes and the body deadline."""
        length = declared_length(request.headers.get("content-length"))
        try:
            body = await gk.deadlines.read(request.receive, _MAX_FORM, length)
        except ClientDisconnected:
            return {}
        return parse_qs(body.decode("utf-8", "replace"))

    async def session_of(request: Request) -> Session | None:
        return await asyncio.to_thread(sessions.check, request.cookies.get(COOKIE))

    async def home(request: Request) -> Response:
        """The dashboard, or the sign-in form."""
        session = await session_of(request)
        if session is None:
            return page("login.html", error=None)
        try:
            span = _range(request)
        except InvalidField as exc:
            today = dt.datetime.now(dt.UTC).date()
            return page(
                "dashboard.html",
                400,
                error=exc.message,
                session=session,
                span=Range(today - dt.timedelta(days=29), today, "UTC"),
                data=None,
                zones=COMMON_ZONES,
                quick=[],
            )
        data = await asyncio.to_thread(_page_data, gk, session.account_id, span)
        today = dt.datetime.now(zoneinfo.ZoneInfo(span.tz)).date()
        quick = [
            (label, Range(today - dt.timedelta(days=n - 1), today, span.tz).query())
            for label, n in (("7 days", 7), ("30 days", 30), ("90 days", 90))
        ]
        return page(
            "dashboard.html",
            error=None,
            session=session,
            span=span,
            data=data,
            zones=COMMON_ZONES,
            quick=quick,
        )

    async def login(request: Request) -> Response:
        """Sign in with an admin key: sets the session cookie."""
        if cross_site(request):
            return page("login.html", 403, error="Sign in from this page itself.")
        try:
            form = await form_of(request)
        except GoalkeeperError as exc:
            return page("login.html", exc.status, error=exc.message)
        key = (form.get("key") or [""])[0].strip()
        record = await asyncio.to_thread(gk.keys.resolve, key) if key else None
        if record is None or record.scope is not Scope.ADMIN:
            return page(
                "login.html",
                403,
                error="That is not an active admin API key of this goalkeeper.",
            )
        response = RedirectResponse("/", status_code=303, headers=SECURITY_HEADERS)
        response.set_cookie(
            COOKIE,
            await asyncio.to_thread(sessions.issue, record),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    async def logout(request: Request) -> Response:
        """Sign out: the session ends on the server, and the cookie is cleared."""
        if cross_site(request):
            return RedirectResponse("/", status_code=303, headers=SECURITY_HEADERS)
        await asyncio.to_thread(sessions.end, request.cookies.get(COOKIE))
        response = RedirectResponse("/", status_code=303, headers=SECURITY_HEADERS)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
        return response

    async def download(request: Request) -> Response:
        """One of the dashboard's tables as CSV, for the range shown."""
        session = await session_of(request)
        if session is None:
            return RedirectResponse("/", status_code=303)
        view = request.query_params.get("view", "message")
        if view not in VIEWS:
            raise InvalidField(f"view must be one of: {', '.join(VIEWS)}.")
        span = _range(request)
        report = await asyncio.to_thread(_report, gk, session.account_id, span, VIEWS[view])
        name = f"goals-by-{view}-{span.start}-{span.end}.csv"
        return Response(
            report.csv(),
            media_type="text/csv; charset=utf-8",
            headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def tracking(request: Request) -> Response:
        """Website tracking: the snippet, the account's tracker keys, and making one."""
        session = await session_of(request)
        if session is None:
            return RedirectResponse("/", status_code=303)
        created: IssuedKey | None = None
        error = None
        status = 200
        if request.method == "POST":
            if cross_site(request):
                return RedirectResponse("/tracking", status_code=303, headers=SECURITY_HEADERS)
            try:
                form = await form_of(request)
            except GoalkeeperError:
                form = {}
            origins = " ".join(form.get("origins") or []).split()
            try:
                if not origins:
                    raise InvalidField(
                        "Give the address of your website, e.g. https://shop.example."
                    )
                created = await asyncio.to_thread(
                    create_key, gk.store, session.account_id, Scope.TRACKER, origins
                )
            except InvalidField as exc:
                error, status = exc.message, 400
        keys, goals = await asyncio.to_thread(
            lambda: (
                gk.store.list_api_keys(session.account_id, Scope.TRACKER),
                gk.store.list_goals(session.account_id),
            )
        )
        windows = [g.window_days for g in goals if g.window_days]
        return page(
            "tracking.html",
            status,
            session=session,
            keys=keys,
            goals=goals,
            created=created,
            error=error,
            base_url=str(request.base_url).rstrip("/"),
            window_days=max(windows, default=30),
        )

    return [
        Route("/", home, methods=["GET"]),
        Route("/tracking", tracking, methods=["GET", "POST"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/dashboard.csv", download, methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(static)), name="static"),
    ]
