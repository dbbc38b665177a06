"""The dashboard's website-tracking page: the snippet, tracker keys, and making one."""

from __future__ import annotations

import json
import re

import pytest
from starlette.testclient import TestClient

from goalkeeper.model import Scope
from goalkeeper.store import Store
from tests.fixtures import PUSH_GUID, World


def sign_in(client: TestClient, world: World) -> None:
    response = client.post("/login", data={"key": world.admin_key}, follow_redirects=False)
    assert response.status_code == 303


def test_needs_a_session(client: TestClient) -> None:
    response = client.get("/tracking", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_shows_the_snippet_and_the_existing_keys(
    client: TestClient, world: World, store: Store
) -> None:
    sign_in(client, world)
    page = client.get("/tracking").text
    assert 'data-key="TRACKER_KEY"' in page
    assert 'src="http://testserver/tracker.js"' in page
    assert 'data-window-days="30"' in page
    (existing,) = store.list_api_keys(world.account_id, Scope.TRACKER)
    assert existing.prefix in page and "https://shop.example" in page
    assert world.tracker_key not in page  # keys are never shown again


def test_creating_a_key_shows_a_snippet_that_works(
    client: TestClient, world: World, store: Store
) -> None:
    sign_in(client, world)
    response = client.post("/tracking", data={"origins": "https://shop2.example"})
    assert response.status_code == 200
    key = re.search(r'data-key="(gk_[0-9a-f]+_[0-9a-f]+)"', response.text)
    assert key, response.text
    beacon = client.post(
        "/api/v1/beacon",
        content=json.dumps({"key": key[1], "guid": PUSH_GUID, "goal_id": 1, "value": 5}),
        headers={"Origin": "https://shop2.example", "Content-Type": "text/plain"},
    )
    assert beacon.status_code == 204
    assert store.count_fulfillments(world.account_id) == 1
    assert key[1] not in client.get("/tracking").text


@pytest.mark.parametrize(
    "origin",
    [
        "shop.example/path",
        "https://shop.example/path",  # a browser's Origin never has one
        "https://shop\x00.example",  # PostgreSQL cannot store NUL
        "https://user@shop.example",
        "https://shop.example:123456",
    ],
)
def test_a_bad_origin_is_explained(
    client: TestClient, world: World, store: Store, origin: str
) -> None:
    sign_in(client, world)
    response = client.post("/tracking", data={"origins": origin})
    assert response.status_code == 400
    assert 'id="tracking-error"' in response.text and "must look like https://" in response.text
    assert len(store.list_api_keys(world.account_id, Scope.TRACKER)) == 1


def test_ports_and_bracketed_addresses_are_origins(
    client: TestClient, world: World, store: Store
) -> None:
    sign_in(client, world)
    response = client.post(
        "/tracking", data={"origins": "http://localhost:8080 https://[::1]:8443"}
    )
    assert response.status_code == 200
    assert len(store.list_api_keys(world.account_id, Scope.TRACKER)) == 2


def test_a_form_posted_from_another_site_makes_nothing(
    client: TestClient, world: World, store: Store
) -> None:
    sign_in(client, world)
    response = client.post(
        "/tracking",
        data={"origins": "https://evil.example"},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert len(store.list_api_keys(world.account_id, Scope.TRACKER)) == 1
