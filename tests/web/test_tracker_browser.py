"""tracker.js in a real headless Chromium: a test shop on another origin reports goals."""

from __future__ import annotations

import functools
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from goalkeeper.core.keys import create_key
from goalkeeper.model import Channel, Scope
from goalkeeper.store import Store
from tests.conftest import Server, free_port
from tests.fixtures import PUSH_GUID, World
from tests.test_observability import metric

pytestmark = pytest.mark.blackbox

SNIPPET = """<script>window.goalkeeper=window.goalkeeper||function(){{(goalkeeper.q=goalkeeper.q||[]).push(arguments)}}</script>
<script async src="{goalkeeper}/tracker.js" data-key="{key}" {options}></script>"""

PAGES = {
    "landing.html": "<h1>Welcome</h1>{snippet}",
    "thanks.html": "<h1>Thank you</h1>{snippet}<script>goalkeeper('fulfill', 1, 49.9 * 100, {{orderId: 'A-1001'}})</script>",
    "consent.html": "<h1>Cookies?</h1>{snippet}<script>goalkeeper('consent', true)</script>",
    "withdraw.html": "<h1>No cookies</h1>{snippet}<script>goalkeeper('consent', false)</script>",
}


class Shop:
    """Static pages on their own 127.0.0.1 port: another origin than goalkeeper's."""

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        root.mkdir(parents=True, exist_ok=True)
        handler = functools.partial(QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def write_pages(self, goalkeeper: str, key: str, options: str) -> None:
        snippet = SNIPPET.format(goalkeeper=goalkeeper, key=key, options=options)
        for name, html in PAGES.items():
            page = f"<!doctype html><html><body>{html.format(snippet=snippet)}</body></html>"
            (self.root / name).write_text(page)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def site(
    store: Store, world: World, database_url: str, tmp_path: Path
) -> Iterator[tuple[Server, Store, World, Path]]:
    server = Server(database_url, tmp_path / "server.log").start()
    yield server, store, world, tmp_path
    server.stop()


def wait_for(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def rejected(server: Server, reason: str) -> float:
    text = httpx.get(server.base_url + "/metrics").text
    return metric(text, "goalkeeper_fulfillments_rejected_total", source="beacon", reason=reason)


def open_shop(
    site: tuple[Server, Store, World, Path],
    name: str,
    options: str = "",
    key_origin: str | None = None,
) -> Shop:
    """A shop whose snippet carries a tracker key allowing ``key_origin`` (default: its own)."""
    server, store, world, tmp_path = site
    shop = Shop(tmp_path / name)
    key = create_key(store, world.account_id, Scope.TRACKER, [key_origin or shop.origin])
    shop.write_pages(server.base_url, key.key, options)
    return shop


def test_landing_then_goal_page_stores_the_fulfillment(browser, site) -> None:  # type: ignore[no-untyped-def]
    server, store, world, _ = site
    shop = open_shop(site, "shop")
    try:
        page = browser.new_context().new_page()
        page.goto(f"{shop.origin}/landing.html?gk_guid={PUSH_GUID}")
        page.wait_for_function("window.goalkeeper && window.goalkeeper.loaded")
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert cookies["gk_guid"]["value"] == PUSH_GUID
        assert cookies["gk_guid"]["sameSite"] == "Lax"
        assert cookies["gk_guid"]["expires"] > time.time() + 29 * 86400  # the attribution window
        page.goto(f"{shop.origin}/thanks.html")  # no GUID in this URL: the cookie carries it
        assert wait_for(lambda: store.count_fulfillments(world.account_id) == 1)
        row = store.list_fulfillments(world.account_id)[0]
        assert (row.goal_id, row.value, row.channel, row.source) == (
            1,
            4990,
            Channel.WEB_PUSH,
            "beacon",
        )
        before = httpx.get(server.base_url + "/metrics").text
        page.reload()  # the same orderId again
        assert wait_for(
            lambda: (
                metric(
                    httpx.get(server.base_url + "/metrics").text,
                    "goalkeeper_fulfillments_duplicate_total",
                    source="beacon",
                )
                > metric(before, "goalkeeper_fulfillments_duplicate_total", source="beacon")
            )
        )
        assert store.count_fulfillments(world.account_id) == 1
    finally:
        shop.close()


def test_consent_mode_stores_and_sends_nothing_until_given(browser, site) -> None:  # type: ignore[no-untyped-def]
    _, store, world, _ = site
    shop = open_shop(site, "consent-shop", 'data-require-consent="true"')
    try:
        page = browser.new_context().new_page()
        beacons: list[str] = []
        page.on("request", lambda r: beacons.append(r.url) if "/api/v1/beacon" in r.url else None)
        page.goto(f"{shop.origin}/landing.html?gk_guid={PUSH_GUID}")
        page.wait_for_function("window.goalkeeper && window.goalkeeper.loaded")
        assert page.context.cookies() == []
        page.goto(f"{shop.origin}/thanks.html")
        page.wait_for_function("window.goalkeeper && window.goalkeeper.loaded")
        page.wait_for_timeout(500)
        assert beacons == [] and store.count_fulfillments(world.account_id) == 0
        # consent given on a landing page: the GUID is kept from then on, across pages
        page.goto(f"{shop.origin}/consent.html?gk_guid={PUSH_GUID}")
        page.wait_for_function("window.goalkeeper && window.goalkeeper.loaded")
        names = {c["name"] for c in page.context.cookies()}
        assert names == {"gk_guid", "gk_consent"}
        page.goto(f"{shop.origin}/thanks.html")
        assert wait_for(lambda: store.count_fulfillments(world.account_id) == 1)
        # withdrawn: both cookies are deleted
        page.goto(f"{shop.origin}/withdraw.html")
        page.wait_for_function("window.goalkeeper && window.goalkeeper.loaded")
        assert page.context.cookies() == []
    finally:
        shop.close()


def test_page_on_a_disallowed_origin_stores_nothing(browser, site) -> None:  # type: ignore[no-untyped-def]
    server, store, world, _ = site
    shop = open_shop(site, "foreign-shop", key_origin="https://the-real-shop.example")
    try:
        before = rejected(server, "origin_not_allowed")
        page = browser.new_context().new_page()
        page.goto(f"{shop.origin}/landing.html?gk_guid={PUSH_GUID}")
        page.wait_for_function("window.goalkeeper && window.goalkeeper.loaded")
        page.goto(f"{shop.origin}/thanks.html")
        assert wait_for(lambda: rejected(server, "origin_not_allowed") == before + 1)
        assert store.count_fulfillments(world.account_id) == 0
    finally:
        shop.close()


def loaded(page, url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(url)
    page.wait_for_function("window.goalkeeper && window.goalkeeper.loaded")


def test_a_malformed_guid_in_a_later_link_keeps_the_good_one(browser, site) -> None:  # type: ignore[no-untyped-def]
    _, store, world, _ = site
    shop = open_shop(site, "guid-shop")
    try:
        page = browser.new_context().new_page()
        loaded(page, f"{shop.origin}/landing.html?gk_guid={PUSH_GUID}")
        for bad in (f"%7B{PUSH_GUID}%29", "-" * 36, "0123456789abcdef" * 2 + "0123"):
            loaded(page, f"{shop.origin}/landing.html?gk_guid={bad}")
        (cookie,) = page.context.cookies()
        assert cookie["value"] == PUSH_GUID
        page.goto(f"{shop.origin}/thanks.html")
        assert wait_for(lambda: store.count_fulfillments(world.account_id) == 1)
    finally:
        shop.close()


def test_consent_mode_fails_closed(browser, site) -> None:  # type: ignore[no-untyped-def]
    shop = open_shop(site, "consent-closed", "data-require-consent")  # no value given
    try:
        page = browser.new_context().new_page()
        loaded(page, f"{shop.origin}/landing.html?gk_guid={PUSH_GUID}")
        assert page.context.cookies() == []
        for refusal in ("'false'", "0", "'no'"):
            page.evaluate(f"goalkeeper('consent', {refusal})")
            assert page.context.cookies() == []
        page.evaluate("goalkeeper('consent', true)")
        assert {c["name"] for c in page.context.cookies()} == {"gk_guid", "gk_consent"}
    finally:
        shop.close()


def test_arguments_the_server_would_misread_are_not_sent(browser, site) -> None:  # type: ignore[no-untyped-def]
    _, store, world, _ = site
    shop = open_shop(site, "argument-shop")
    try:
        page = browser.new_context().new_page()
        warnings: list[str] = []
        page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
        beacons: list[str] = []
        page.on("request", lambda r: beacons.append(r.url) if "/api/v1/beacon" in r.url else None)
        loaded(page, f"{shop.origin}/landing.html?gk_guid={PUSH_GUID}")
        page.evaluate("goalkeeper('fulfill', 1, '49,90')")  # not a number: not 0, not sent
        page.wait_for_timeout(300)
        assert beacons == [] and any("not a number" in w for w in warnings)
        page.evaluate("goalkeeper('fulfill', 1, 100, {orderId: ''})")  # no order id, still sent
        assert wait_for(lambda: store.count_fulfillments(world.account_id) == 1)
        (row,) = store.list_fulfillments(world.account_id)
        assert (row.value, row.idempotency_key) == (100, None)
    finally:
        shop.close()


def test_the_fetch_fallback_leaves_no_error_on_the_page(browser, site) -> None:  # type: ignore[no-untyped-def]
    server, store, world, _ = site
    shop = open_shop(site, "fetch-shop", key_origin="https://the-real-shop.example")
    (shop.root / "favicon.ico").write_bytes(b"")  # the browser's own 404 is not the point
    try:
        context = browser.new_context()
        context.add_init_script(
            "Object.defineProperty(Navigator.prototype, 'sendBeacon', {value: undefined})"
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        before = rejected(server, "origin_not_allowed")
        loaded(page, f"{shop.origin}/landing.html?gk_guid={PUSH_GUID}")
        loaded(page, f"{shop.origin}/thanks.html")  # refused by the server: a foreign origin
        assert wait_for(lambda: rejected(server, "origin_not_allowed") == before + 1)
        page.wait_for_timeout(300)
        assert errors == []
        assert store.count_fulfillments(world.account_id) == 0
    finally:
        shop.close()
