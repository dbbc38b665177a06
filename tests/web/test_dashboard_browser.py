"""The dashboard in a real browser: Debian's Chromium, driven by Playwright, on a real server.

Sign in with the demo data's admin key, check the numbers against the report API,
change the range and the time zone, sort the top messages, download CSV, sign out,
and read it on a phone-sized screen. Screenshots go to test-artifacts/ (gitignored).

The browser is the ``browser`` fixture of tests/conftest.py (Debian's Chromium).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from goalkeeper.cli.demo import seed
from goalkeeper.store import open_store
from tests.conftest import Server

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """A real server on a database holding the demo's data; (server, admin key)."""
    folder = tmp_path_factory.mktemp("dashboard")
    url = f"sqlite:///{folder / 'demo.db'}"
    store = open_store(url)
    store.upgrade()
    _account, key, _guid = seed(store, random.Random(11))
    store.close()
    server = Server(url, folder / "server.log").start()
    yield server, key
    server.stop()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    opened = context.new_page()
    failed: list[str] = []
    opened.on("requestfailed", lambda r: failed.append(r.url))
    opened.on("pageerror", lambda e: failed.append(str(e)))
    yield opened
    ARTIFACTS.mkdir(exist_ok=True)
    opened.screenshot(path=str(ARTIFACTS / f"{request.node.name}-last.png"), full_page=True)
    context.close()
    assert failed == [], f"requests failed or scripts threw: {failed}"


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def number(page: Any, selector: str) -> int:
    return int(page.inner_text(selector).replace("\u202f", "").replace(",", ""))


def api_report(server: Server, key: str, **params: str) -> dict[str, Any]:
    answer = httpx.get(
        server.base_url + "/api/v1/reports/goals",
        params=params,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def sign_in(page: Any, server: Server, key: str) -> None:
    page.goto(server.base_url + "/")
    page.fill("#key", key)
    page.click("form[action='/login'] button")
    page.wait_for_selector("#total-fulfillments")


def test_sign_in_shows_the_demo_numbers_the_api_reports(
    page: Any, demo: tuple[Server, str]
) -> None:
    server, key = demo
    page.goto(server.base_url + "/")
    shot(page, "sign-in")
    page.fill("#key", "gk_00000000_" + "0" * 32)
    page.click("form[action='/login'] button")
    assert "not an active admin API key" in page.inner_text("#signin-error")
    sign_in(page, server, key)
    shot(page, "signed-in")
    start = page.input_value("input[name=from]")
    end = page.input_value("input[name=to]")
    api = api_report(server, key, **{"from": start, "to": end, "tz": "UTC"})
    totals = api["totals"]
    assert totals["fulfillments"] > 0
    assert number(page, "#total-fulfillments") == totals["fulfillments"]
    assert number(page, "#total-value") == totals["value"]
    assert number(page, "#total-unique") == totals["unique_recipients"]
    assert number(page, "#total-recipients") == totals["recipients"]
    by_message = api_report(server, key, **{"from": start, "to": end, "by": "message,channel"})
    shown = {
        row.query_selector("td").inner_text(): int(
            row.query_selector_all("td")[2].get_attribute("data-value")
        )
        for row in page.query_selector_all("#by-message tbody tr")
    }
    assert shown == {r["message_name"]: r["fulfillments"] for r in by_message["rows"]}
    bars = page.query_selector_all("svg.chart rect[data-day]")
    assert sum(int(b.get_attribute("data-fulfillments")) for b in bars) == totals["fulfillments"]


def test_changing_the_range_and_zone_changes_the_numbers(
    page: Any, demo: tuple[Server, str]
) -> None:
    server, key = demo
    sign_in(page, server, key)
    today = dt.datetime.now(dt.UTC).date()
    start = (today - dt.timedelta(days=6)).isoformat()
    page.fill("input[name=from]", start)
    page.fill("input[name=to]", today.isoformat())
    page.fill("input[name=tz]", "Asia/Kathmandu")
    page.click("#range button[type=submit]")
    page.wait_for_url(lambda url: "tz=Asia%2FKathmandu" in url)
    assert page.inner_text("#tz-shown") == "Asia/Kathmandu"
    shot(page, "range-changed")
    api = api_report(
        server, key, **{"from": start, "to": today.isoformat(), "tz": "Asia/Kathmandu"}
    )
    assert number(page, "#total-fulfillments") == api["totals"]["fulfillments"]
    assert number(page, "#total-value") == api["totals"]["value"]
    assert len(page.query_selector_all("svg.chart rect[data-day]")) == 7
    page.click("text=90 days")
    page.wait_for_selector("#total-fulfillments")
    assert len(page.query_selector_all("svg.chart rect[data-day]")) == 90


def test_the_top_messages_sort_and_download_as_csv(page: Any, demo: tuple[Server, str]) -> None:
    server, key = demo
    sign_in(page, server, key)
    table = "#by-message"
    page.click(f"{table} th:has-text('Value')")
    values = [
        int(v) for v in page.eval_on_selector_all(
            f"{table} tbody tr td:nth-child(5)", "cells => cells.map(c => c.dataset.value)"
        )
    ]  # fmt: skip
    assert values == sorted(values, reverse=True)
    page.click(f"{table} th:has-text('Value')")
    again = page.eval_on_selector_all(
        f"{table} tbody tr td:nth-child(5)", "cells => cells.map(c => Number(c.dataset.value))"
    )
    assert again == sorted(values)
    with page.expect_download() as info:
        page.click("#csv-message")
    download = info.value
    ARTIFACTS.mkdir(exist_ok=True)
    saved = ARTIFACTS / download.suggested_filename
    download.save_as(str(saved))
    rows = list(csv.DictReader(io.StringIO(saved.read_text("utf-8"))))
    start = page.input_value("input[name=from]")
    end = page.input_value("input[name=to]")
    api = api_report(server, key, **{"from": start, "to": end, "by": "message,channel"})
    assert [(r["message_name"], int(r["fulfillments"]), int(r["value"])) for r in rows] == [
        (r["message_name"], r["fulfillments"], r["value"]) for r in api["rows"]
    ]


def test_signing_out_returns_to_the_sign_in_form(page: Any, demo: tuple[Server, str]) -> None:
    server, key = demo
    sign_in(page, server, key)
    page.click("#sign-out")
    page.wait_for_selector("#key")
    shot(page, "signed-out")
    assert page.context.cookies() == [] or all(
        c["name"] != "gk_session" for c in page.context.cookies()
    )
    page.goto(server.base_url + "/?from=2026-01-01&to=2026-01-31")
    assert page.query_selector("#total-fulfillments") is None


def test_a_phone_sized_screen_needs_no_sideways_scrolling(
    browser: Any, demo: tuple[Server, str]
) -> None:
    server, key = demo
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    phone = context.new_page()
    try:
        sign_in(phone, server, key)
        shot(phone, "phone")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 360
        assert phone.is_visible("#total-conversion")
    finally:
        context.close()
