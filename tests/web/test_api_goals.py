"""/api/v1/goals and the rules every JSON route shares: keys, scopes, accounts, errors."""

from __future__ import annotations

import gzip

import pytest
from starlette.testclient import TestClient

from tests.fixtures import World


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def error_of(response) -> dict[str, object]:  # type: ignore[no-untyped-def]
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"status", "code", "message"}
    assert body["error"]["status"] == response.status_code
    return dict(body["error"])


def test_lists_only_the_keys_own_goals(client: TestClient, world: World) -> None:
    mine = client.get("/api/v1/goals", headers=bearer(world.admin_key)).json()["goals"]
    assert [(g["id"], g["name"], g["counting"]) for g in mine] == [
        (1, "Purchase", "every"),
        (2, "Questionnaire", "once_per_recipient"),
    ]
    theirs = client.get("/api/v1/goals", headers=bearer(world.other_key)).json()["goals"]
    assert [g["id"] for g in theirs] == [1, 3]


def test_creates_a_goal_with_every_field(client: TestClient, world: World) -> None:
    body = {
        "name": "Signup",
        "id": 7,
        "counting": "once_per_recipient",
        "window_days": 30,
        "default_value": -5,
    }
    response = client.post("/api/v1/goals", headers=bearer(world.admin_key), json=body)
    assert response.status_code == 201
    goal = response.json()
    assert {k: goal[k] for k in body} == body
    assert goal["created_at"].endswith("Z")
    fetched = client.get("/api/v1/goals/7", headers=bearer(world.admin_key))
    assert fetched.json() == goal


def test_goal_ids_are_per_account(client: TestClient, world: World) -> None:
    response = client.post(
        "/api/v1/goals", headers=bearer(world.other_key), json={"name": "Two", "id": 2}
    )
    assert response.status_code == 201
    again = client.post(
        "/api/v1/goals", headers=bearer(world.admin_key), json={"name": "X", "id": 2}
    )
    assert error_of(again)["code"] == "conflict"


def test_issues_the_next_id_when_none_is_given(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/goals", headers=bearer(world.admin_key), json={"name": "N"})
    assert response.status_code == 201
    assert response.json()["id"] == 3
    assert response.json()["counting"] == "every"


def test_another_accounts_goal_answers_like_a_missing_one(client: TestClient, world: World) -> None:
    theirs = client.get("/api/v1/goals/3", headers=bearer(world.admin_key))
    missing = client.get("/api/v1/goals/99", headers=bearer(world.admin_key))
    assert theirs.status_code == missing.status_code == 404
    assert error_of(theirs)["code"] == error_of(missing)["code"] == "not_found"


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "api_key_required"),
        ({"Authorization": "Basic abc"}, 401, "api_key_required"),
        ({"Authorization": "Bearer "}, 401, "api_key_required"),
        ({"Authorization": "Bearer gk_nope_nope"}, 403, "api_key_invalid"),
    ],
)
def test_refuses_missing_or_unknown_keys(
    client: TestClient, headers: dict[str, str], status: int, code: str
) -> None:
    response = client.get("/api/v1/goals", headers=headers)
    assert response.status_code == status
    assert error_of(response)["code"] == code
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("which", ["ingest_key", "tracker_key", "spec_key"])
def test_only_admin_keys_define_goals(client: TestClient, world: World, which: str) -> None:
    key = getattr(world, which)
    for response in (
        client.get("/api/v1/goals", headers=bearer(key)),
        client.post("/api/v1/goals", headers=bearer(key), json={"name": "X"}),
    ):
        assert response.status_code == 403
        assert error_of(response)["code"] == "forbidden"


def test_revoked_keys_are_refused_once_the_cache_forgets(
    client: TestClient, world: World, store
) -> None:  # type: ignore[no-untyped-def]
    prefix = world.admin_key.split("_")[1]
    assert store.revoke_api_key(prefix)
    client.app.app.keys.forget()  # type: ignore[attr-defined]
    response = client.get("/api/v1/goals", headers=bearer(world.admin_key))
    assert error_of(response)["code"] == "api_key_invalid"


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        (b"", "invalid_json", "empty"),
        (b"{", "invalid_json", "Not valid JSON"),
        (b"[]", "invalid_type", "object"),
        (b'{"name": NaN}', "invalid_json", "NaN"),
        (b"{}", "field_required", "name is required"),
        (b'{"name": null}', "field_required", "name is required"),
        (b'{"name": "A", "colour": 1, "bad": 2}', "unknown_field", "bad, colour"),
        (b'{"name": 5}', "invalid_type", "name must be a string, not integer"),
        (b'{"name": "   "}', "invalid_field", "blank"),
        (b'{"name": "' + b"x" * 201 + b'"}', "invalid_field", "200"),
        (b'{"name": "A", "id": true}', "invalid_type", "not boolean"),
        (b'{"name": "A", "id": 1.0}', "invalid_type", "without a fraction or exponent"),
        (b'{"name": "A", "window_days": 1278.0}', "invalid_type", "without a fraction"),
        (b'{"name": "A", "default_value": 1e3}', "invalid_type", "without a fraction"),
        (b'{"name": "A", "id": 1.5}', "invalid_type", "without a fraction"),
        (b'{"name": "A", "id": "3"}', "invalid_type", "not string"),
        (b'{"name": "A", "id": 0}', "out_of_range", "id must be between 1"),
        (b'{"name": "A", "id": 2147483648}', "out_of_range", "2147483647"),
        (b'{"name": "A", "default_value": 9223372036854775808}', "out_of_range", "default_value"),
        (b'{"name": "A", "default_value": -9223372036854775809}', "out_of_range", "default_value"),
        (b'{"name": "A", "default_value": 1' + b"0" * 5000 + b"}", "out_of_range", "digits"),
        (b'{"name": "A", "counting": "sometimes"}', "invalid_field", "counting"),
        (b'{"name": "A", "window_days": 0}', "out_of_range", "window_days"),
        (b'{"name": "\\ud800"}', "invalid_field", "surrogate"),
        (b"[" * 100_000, "invalid_json", "deeply"),
    ],
)
def test_bad_bodies_answer_400_with_their_code(
    client: TestClient, world: World, body: bytes, code: str, words: str
) -> None:
    response = client.post(
        "/api/v1/goals",
        headers={**bearer(world.admin_key), "Content-Type": "application/json"},
        content=body,
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == code
    assert words in str(error["message"])


def test_64_bit_bounds_are_accepted(client: TestClient, world: World) -> None:
    for value in (2**63 - 1, -(2**63)):
        response = client.post(
            "/api/v1/goals",
            headers=bearer(world.admin_key),
            json={"name": "B", "default_value": value},
        )
        assert response.status_code == 201
        assert response.json()["default_value"] == value


def test_bodies_over_the_limit_are_refused(client: TestClient, world: World) -> None:
    limit = client.app.app.config.api_max_body_bytes  # type: ignore[attr-defined]
    body = b'{"name": "' + b"x" * limit + b'"}'
    response = client.post("/api/v1/goals", headers=bearer(world.admin_key), content=body)
    assert response.status_code == 413
    assert error_of(response)["code"] == "body_too_large"
    bomb = gzip.compress(b" " * (limit + 10))
    response = client.post(
        "/api/v1/goals",
        headers={**bearer(world.admin_key), "Content-Encoding": "gzip"},
        content=bomb,
    )
    assert error_of(response)["code"] == "body_too_large"


def test_gzip_bodies_are_read(client: TestClient, world: World) -> None:
    response = client.post(
        "/api/v1/goals",
        headers={**bearer(world.admin_key), "Content-Encoding": "gzip"},
        content=gzip.compress(b'{"name": "Zipped"}'),
    )
    assert response.status_code == 201
    assert response.json()["name"] == "Zipped"


def test_wrong_method_answers_405_naming_the_allowed_ones(client: TestClient, world: World) -> None:
    response = client.delete("/api/v1/goals", headers=bearer(world.admin_key))
    assert response.status_code == 405
    assert "POST" in response.headers["allow"] and "GET" in response.headers["allow"]
    assert error_of(response)["code"] == "method_not_allowed"


def test_unknown_fields_are_named_within_bounds(client: TestClient, world: World) -> None:
    body = {"name": "A", **{f"field{i:03}" + "x" * 500: i for i in range(50)}}
    response = client.post("/api/v1/goals", headers=bearer(world.admin_key), json=body)
    message = str(error_of(response)["message"])
    assert message.startswith("Unknown field(s): field000xxx")
    assert message.endswith(" and 40 more.")
    assert len(message) < 1000


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v1/goals/"), ("GET", "/api/v1/goals/1/"), ("POST", "/api/v1/fulfillments/")],
)
def test_a_trailing_slash_answers_404_in_the_envelope_not_a_redirect(
    client: TestClient, world: World, method: str, path: str
) -> None:
    response = client.request(
        method, path, headers=bearer(world.admin_key), json={}, follow_redirects=False
    )
    assert (response.status_code, error_of(response)["code"]) == (404, "not_found")


def test_api_answers_are_neither_cached_nor_sniffed(client: TestClient, world: World) -> None:
    for path in ("/api/v1/goals", "/api/v1/goals/999", "/api/v1/reports/goals"):
        answer = client.get(path, headers=bearer(world.admin_key))
        assert answer.headers["cache-control"] == "no-store", path
        assert answer.headers["x-content-type-options"] == "nosniff", path
    refused = client.get("/api/v1/goals")  # no key: the error is private as well
    assert refused.status_code == 401 and refused.headers["cache-control"] == "no-store"
