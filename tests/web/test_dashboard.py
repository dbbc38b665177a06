"""The dashboard in-process: sign-in, the session cookie, pages, CSV downloads, sign-out.

What a person sees in a real browser is pinned in test_dashboard_browser.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import sqlite3
import time

import psycopg
from starlette.testclient import TestClient

from goalkeeper.core.keys import hash_key
from goalkeeper.store import Store
from tests.fixtures import SMS_GUID, SPEC_GUID, World, goals_xml


def sign_in(client: TestClient, key: str) -> None:
    answer = client.post("/login", data={"key": key}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/"


def test_the_root_asks_for_an_admin_key(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert 'name="key"' in page.text and "admin" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in page.text.replace("http-equiv", "").split("<main>")[0].lower()


def test_signing_in_sets_a_signed_httponly_samesite_cookie(
    client: TestClient, world: World
) -> None:
    answer = client.post("/login", data={"key": world.admin_key}, follow_redirects=False)
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("gk_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=43200" in cookie
    assert world.admin_key not in cookie
    page = client.get("/")
    assert 'id="total-fulfillments"' in page.text
    assert "Sign out" in page.text


def test_other_keys_and_forged_cookies_do_not_sign_in(client: TestClient, world: World) -> None:
    for key in (world.ingest_key, "gk_00000000_" + "0" * 32, ""):
        answer = client.post("/login", data={"key": key}, follow_redirects=False)
        assert answer.status_code == 403 if key else answer.status_code in (403, 200)
        assert "gk_session" not in answer.headers.get("set-cookie", "")
    for forged in ("eyJoIjoiMDAifQ.forged.signature", f"{world.account_id}." + "A" * 43, "1"):
        client.cookies.set("gk_session", forged)
        assert 'name="key"' in client.get("/").text


def test_a_revoked_key_ends_its_sessions(client: TestClient, world: World, store: Store) -> None:
    sign_in(client, world.admin_key)
    assert "Sign out" in client.get("/").text
    prefix = world.admin_key.split("_")[1]
    assert store.revoke_api_key(prefix)
    time.sleep(0.01)
    assert 'name="key"' in client.get("/").text


def test_signing_out_clears_the_cookie(client: TestClient, world: World) -> None:
    sign_in(client, world.admin_key)
    answer = client.post("/logout", follow_redirects=False)
    assert answer.status_code == 303
    assert (
        'gk_session=""' in answer.headers["set-cookie"]
        or "Max-Age=0" in answer.headers["set-cookie"]
    )
    assert 'name="key"' in client.get("/").text
    assert client.get("/dashboard.csv", follow_redirects=False).status_code == 303


def test_signing_out_ends_the_session_on_the_server(
    client: TestClient, world: World, store: Store
) -> None:
    """A copy of the cookie kept elsewhere stops working too."""
    sign_in(client, world.admin_key)
    copy = client.cookies["gk_session"]
    client.post("/logout", follow_redirects=False)
    client.cookies.set("gk_session", copy)
    assert 'name="key"' in client.get("/").text
    assert client.get("/dashboard.csv", follow_redirects=False).status_code == 303


def test_the_database_keeps_no_session_token(
    client: TestClient, world: World, store: Store, database_url: str
) -> None:
    """Only the token's hash is stored: a copy of the database makes no session."""
    sign_in(client, world.admin_key)
    account, token = client.cookies["gk_session"].split(".")
    assert int(account) == world.account_id
    rows = sessions_table(store, database_url)
    assert len(rows) == 1
    assert bytes(rows[0][1]) == hashlib.sha256(token.encode()).digest()  # never the token


def test_an_expired_session_does_not_sign_in(world: World, store: Store) -> None:
    key = store.find_api_key(hash_key(world.admin_key))
    assert key is not None
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    store.create_session(world.account_id, b"\x01" * 32, key.id, past)
    assert store.find_session(world.account_id, b"\x01" * 32) is None
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    store.create_session(world.account_id, b"\x02" * 32, key.id, later)
    assert store.find_session(world.account_id, b"\x02" * 32) == key
    assert store.find_session(world.account_id + 1, b"\x02" * 32) is None  # another account


def sessions_table(store: Store, database_url: str) -> list[tuple[object, ...]]:
    sql = "SELECT account_id, token_hash, key_id FROM dashboard_sessions"
    if store.dialect == "sqlite":
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        try:
            return list(conn.execute(sql).fetchall())
        finally:
            conn.close()
    with psycopg.connect(database_url) as pg:
        return list(pg.execute(sql).fetchall())


def test_an_empty_account_says_what_to_do_next(client: TestClient, world: World) -> None:
    sign_in(client, world.admin_key)
    page = client.get("/").text
    assert 'id="empty"' in page and "No fulfillments in this range" in page
    assert "POST /v2/Api/Goals" in page


def test_the_csv_downloads_match_the_report_api(client: TestClient, world: World) -> None:
    for guid, goal, value in ((SPEC_GUID, "1", "250"), (SMS_GUID, "2", "0"), (SPEC_GUID, "1", "5")):
        answer = client.post(
            "/v2/Api/Goals", content=goals_xml(goal_id=goal, value=value, guid=guid)
        )
        assert answer.status_code == 201
    sign_in(client, world.admin_key)
    span = {"from": "2026-01-01", "to": "2026-12-31", "tz": "Europe/Warsaw"}
    page = client.get("/", params=span).text
    assert 'id="total-fulfillments">3<' in page and 'id="total-value">255<' in page
    for view, by in (("goal", "goal"), ("channel", "channel"), ("message", "message,channel"),
                     ("day", "day")):  # fmt: skip
        download = client.get("/dashboard.csv", params={**span, "view": view})
        assert download.status_code == 200
        assert download.headers["content-type"] == "text/csv; charset=utf-8"
        assert "attachment" in download.headers["content-disposition"]
        api = client.get(
            "/api/v1/reports/goals",
            params={**span, "by": by},
            headers={"Authorization": f"Bearer {world.admin_key}"},
        ).json()
        rows = list(csv.DictReader(io.StringIO(download.text)))
        assert [int(r["fulfillments"]) for r in rows] == [r["fulfillments"] for r in api["rows"]]
        assert [int(r["value"]) for r in rows] == [r["value"] for r in api["rows"]]


def test_a_name_a_spreadsheet_would_run_is_downloaded_as_text(
    client: TestClient, world: World
) -> None:
    """CSV downloads are opened in spreadsheets: a name starting with = + - @ would run
    as a formula there, so it gets a leading apostrophe; numbers stay numbers."""
    admin = {"Authorization": f"Bearer {world.admin_key}"}
    name = '=HYPERLINK("https://evil.example","Click")'
    made = client.post("/api/v1/goals", json={"name": name, "id": 9}, headers=admin)
    assert made.status_code == 201
    answer = client.post("/v2/Api/Goals", content=goals_xml(goal_id="9", value="-5"))
    assert answer.status_code == 201
    sign_in(client, world.admin_key)
    download = client.get("/dashboard.csv", params={"view": "goal"})
    (row,) = [r for r in csv.DictReader(io.StringIO(download.text)) if r["goal_id"] == "9"]
    assert row["goal_name"] == "'" + name
    assert row["value"] == "-5"


def test_a_bad_range_or_zone_is_shown_not_crashed_on(client: TestClient, world: World) -> None:
    sign_in(client, world.admin_key)
    page = client.get("/", params={"tz": "Atlantis/Capital"})
    assert page.status_code == 400
    assert "Unknown time zone" in page.text
    page = client.get("/", params={"from": "2026-05-02", "to": "2026-05-01"})
    assert page.status_code == 400 and "from must not be after to" in page.text


def test_every_asset_is_served_by_goalkeeper(client: TestClient, world: World) -> None:
    sign_in(client, world.admin_key)
    page = client.get("/").text
    for asset in ("/static/dashboard.css", "/static/dashboard.js"):
        assert f'"{asset}"' in page
        assert client.get(asset).status_code == 200
    assert "://" not in page.replace("http://www.w3.org/2000/svg", "")


def test_forms_posted_from_another_site_are_refused(client: TestClient, world: World) -> None:
    answer = client.post(
        "/login",
        data={"key": world.admin_key},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert "gk_session" not in answer.headers.get("set-cookie", "")
    sign_in(client, world.admin_key)
    client.post("/logout", headers={"Sec-Fetch-Site": "cross-site"}, follow_redirects=False)
    assert "Sign out" in client.get("/").text
    own = client.post("/login", data={"key": world.admin_key}, follow_redirects=False,
                      headers={"Origin": "http://testserver"})  # fmt: skip
    assert own.status_code == 303
