"""The Goals method in-process: the spec's examples, every error row, every leniency item."""

from __future__ import annotations

import gzip
import uuid
import xml.etree.ElementTree as ET
import zlib

import pytest
from starlette.testclient import TestClient

from goalkeeper.model import Channel
from goalkeeper.store import Store
from tests.cases import ERROR_CASES, LENIENCY_CASES, Case
from tests.fixtures import PUSH_GUID, SPEC_GUID, UNKNOWN_GUID, World, goals_xml

SPEC_BODY = b"""<ApiRequest xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <ApiKey>test_api_key1</ApiKey>
  <Data>
    <GoalId>2</GoalId>
    <GoalValue>123</GoalValue>
    <MessageGuid>C7015756-95F3-4509-8C6C-759FEEC48F91</MessageGuid>
  </Data>
</ApiRequest>"""

SPEC_ERROR = """<ApiResponse xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <ErrorMessage>
    <Code>400</Code>
    <Message>Message GUID was not recognized.</Message>
  </ErrorMessage>
</ApiResponse>"""


def elements(xml: str | bytes) -> list[tuple[str, str, dict[str, str]]]:
    """A document as (tag, trimmed text, attributes) in document order."""
    return [(e.tag, (e.text or "").strip(), dict(e.attrib)) for e in ET.fromstring(xml).iter()]


def send(client: TestClient, case: Case):  # type: ignore[no-untyped-def]
    return client.request(case.method, case.path, content=case.body, headers=dict(case.headers))


def test_spec_request_is_created_and_stored(client: TestClient, store: Store, world: World) -> None:
    response = client.post(
        "/v2/Api/Goals", content=SPEC_BODY, headers={"Content-Type": "application/xml"}
    )
    assert response.status_code == 201
    assert response.content == b""
    assert response.headers["cache-control"] == "private"
    assert response.headers["content-length"] == "0"
    rows = store.list_fulfillments(world.account_id)
    assert len(rows) == 1
    row = rows[0]
    assert (row.goal_id, row.value, row.channel) == (2, 123, Channel.EMAIL)
    assert row.message_guid == uuid.UUID(SPEC_GUID).bytes
    assert row.source == "xml"


def test_spec_error_example_matches(client: TestClient) -> None:
    body = goals_xml(guid="00000000-0000-0000-0000-0000000000AA")
    response = client.post(
        "/v2/Api/Goals", content=body, headers={"Content-Type": "application/xml"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.headers["cache-control"] == "private"
    assert elements(response.content) == elements(SPEC_ERROR)


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: c.id)
def test_error_table(client: TestClient, store: Store, world: World, case: Case) -> None:
    response = send(client, case)
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.headers["cache-control"] == "private"
    root = ET.fromstring(response.content)
    assert root.tag == "ApiResponse"
    assert root.findtext("ErrorMessage/Code") == str(case.status)
    assert root.findtext("ErrorMessage/Message") == case.message
    for name, value in case.response_headers:
        assert response.headers[name] == value
    assert store.count_fulfillments() == 0


@pytest.mark.parametrize("case", LENIENCY_CASES, ids=lambda c: c.id)
def test_leniency(client: TestClient, store: Store, world: World, case: Case) -> None:
    response = send(client, case)
    assert response.status_code == 201, response.text
    rows = store.list_fulfillments(world.account_id)
    assert len(rows) == 1
    if case.stored_value is not None:
        assert rows[0].value == case.stored_value


def test_stored_channel_is_the_messages(client: TestClient, store: Store, world: World) -> None:
    response = client.post("/v2/Api/Goals", content=goals_xml(guid=PUSH_GUID, channel="All"))
    assert response.status_code == 201
    assert store.list_fulfillments(world.account_id)[0].channel is Channel.WEB_PUSH


def test_same_guid_and_goal_may_be_fulfilled_many_times(
    client: TestClient, store: Store, world: World
) -> None:
    for _ in range(3):
        assert client.post("/v2/Api/Goals", content=goals_xml()).status_code == 201
    assert store.count_fulfillments(world.account_id) == 3


def test_idempotency_key_stores_once(client: TestClient, store: Store, world: World) -> None:
    headers = {"Idempotency-Key": "order-1001"}
    first = client.post("/v2/Api/Goals", content=goals_xml(), headers=headers)
    second = client.post("/v2/Api/Goals", content=goals_xml(), headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.content == b""
    assert store.count_fulfillments(world.account_id) == 1


def test_idempotency_key_is_per_account(client: TestClient, store: Store, world: World) -> None:
    from tests.fixtures import OTHER_GUID

    headers = {"Idempotency-Key": "shared-key"}
    assert client.post("/v2/Api/Goals", content=goals_xml(), headers=headers).status_code == 201
    other = goals_xml(key=world.other_key, goal_id="1", guid=OTHER_GUID)
    assert client.post("/v2/Api/Goals", content=other, headers=headers).status_code == 201
    assert store.count_fulfillments() == 2


def test_idempotency_key_not_bound_by_a_failure(
    client: TestClient, store: Store, world: World
) -> None:
    headers = {"Idempotency-Key": "retry-me"}
    bad = client.post("/v2/Api/Goals", content=goals_xml(goal_id="99"), headers=headers)
    assert bad.status_code == 400
    good = client.post("/v2/Api/Goals", content=goals_xml(), headers=headers)
    assert good.status_code == 201
    assert store.count_fulfillments(world.account_id) == 1


@pytest.mark.parametrize("value", ["", "x" * 256, "bad key", "ключ"])
def test_idempotency_key_must_be_visible_ascii(client: TestClient, value: str) -> None:
    response = client.post(
        "/v2/Api/Goals", content=goals_xml(), headers=[(b"Idempotency-Key", value.encode())]
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in (
        ET.fromstring(response.content).findtext("ErrorMessage/Message") or ""
    )


def test_idempotency_key_sent_twice_is_refused(
    client: TestClient, store: Store, world: World
) -> None:
    for values in (["a", "b"], ["same", "same"]):
        headers = [(b"Idempotency-Key", v.encode()) for v in values]
        response = client.post("/v2/Api/Goals", content=goals_xml(), headers=headers)
        assert response.status_code == 400
        assert message_of(response) == "Idempotency-Key must be sent only once."
    assert store.count_fulfillments(world.account_id) == 0


@pytest.mark.parametrize(
    ("guid", "message"),
    [
        ("not-a-guid", "Message GUID was not recognized."),  # the GUID's form first
        (UNKNOWN_GUID, "Idempotency-Key must be sent only once."),  # then the header
    ],
)
def test_idempotency_key_error_comes_after_the_guid_form(
    client: TestClient, guid: str, message: str
) -> None:
    headers = [(b"Idempotency-Key", b"a"), (b"Idempotency-Key", b"b")]
    response = client.post("/v2/Api/Goals", content=goals_xml(guid=guid), headers=headers)
    assert (response.status_code, message_of(response)) == (400, message)


def message_of(response) -> str:  # type: ignore[no-untyped-def]
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    return str(ET.fromstring(response.content).findtext("ErrorMessage/Message"))


@pytest.mark.parametrize(
    "path",
    [
        "/v2/Api/Goals/",
        "/Api/Goals/",
        "/V2/API/GOALS/",
        "//v2/Api/Goals",  # a client base URL ending in "/"
        "//Api/Goals",
        "/v2//Api///Goals//",
    ],
)
def test_goals_path_as_iis_routes_it(
    client: TestClient, store: Store, world: World, path: str
) -> None:
    response = client.post("http://testserver" + path, content=goals_xml())
    assert response.status_code == 201, response.text
    assert store.count_fulfillments(world.account_id) == 1


@pytest.mark.parametrize(
    "path",
    ["/v2/Api", "/Api", "/api", "/v2", "/v2/", "/v2/Anything", "/API/", "//v2/Api/Nope",
     "/v2/Api/Goals/x", "/Api/V1x"],
)  # fmt: skip
def test_expertsender_namespace_answers_the_xml_404(client: TestClient, path: str) -> None:
    response = client.post("http://testserver" + path, content=goals_xml())
    assert response.status_code == 404
    assert message_of(response) == "Resource not found."


@pytest.mark.parametrize("path", ["/api/v1/nothing", "/API/V1/nothing", "/api/v1", "/apix"])
def test_goalkeepers_own_paths_keep_json_errors(client: TestClient, path: str) -> None:
    response = client.post(path, content=goals_xml())
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "element", ["<Channel/>", "<Channel></Channel>", "<Channel> \n </Channel>"]
)
def test_empty_channel_means_none(
    client: TestClient, store: Store, world: World, element: str
) -> None:
    body = goals_xml(guid=PUSH_GUID).replace(b"</Data>", element.encode() + b"</Data>")
    assert client.post("/v2/Api/Goals", content=body).status_code == 201
    assert store.list_fulfillments(world.account_id)[0].channel is Channel.WEB_PUSH


def test_leading_zeros_do_not_count_against_the_length(
    client: TestClient, store: Store, world: World
) -> None:
    body = goals_xml(goal_id="0" * 20 + "2", value="-" + "0" * 40 + "2147483648")
    assert client.post("/v2/Api/Goals", content=body).status_code == 201
    row = store.list_fulfillments(world.account_id)[0]
    assert (row.goal_id, row.value) == (2, -(2**31))
    huge = client.post("/v2/Api/Goals", content=goals_xml(goal_id="0" * 60_000 + "1" * 11))
    assert message_of(huge) == "GoalId must be an integer."


def test_gzip_members_back_to_back(client: TestClient, store: Store, world: World) -> None:
    body = goals_xml()
    members = gzip.compress(body[:40]) + gzip.compress(body[40:])
    response = client.post("/v2/Api/Goals", content=members, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 201, response.text
    assert store.count_fulfillments(world.account_id) == 1


@pytest.mark.parametrize(
    ("encoding", "compressed"),
    [("gzip", gzip.compress(goals_xml())), ("deflate", zlib.compress(goals_xml()))],
)
def test_bytes_after_a_compressed_body_are_refused(
    client: TestClient, store: Store, encoding: str, compressed: bytes
) -> None:
    response = client.post(
        "/v2/Api/Goals", content=compressed + b"trailing", headers={"Content-Encoding": encoding}
    )
    assert response.status_code == 400
    assert message_of(response) == "Request is not a valid ApiRequest XML document."
    assert store.count_fulfillments() == 0


def test_tracker_key_cannot_use_goals(client: TestClient, world: World) -> None:
    response = client.post("/v2/Api/Goals", content=goals_xml(key=world.tracker_key))
    assert response.status_code == 403


def test_admin_and_ingest_keys_can(client: TestClient, world: World) -> None:
    for key in (world.admin_key, world.ingest_key):
        assert client.post("/v2/Api/Goals", content=goals_xml(key=key)).status_code == 201


def test_revoked_key_is_refused_after_cache_expiry(
    database_url: str, store: Store, world: World
) -> None:
    from goalkeeper.config import Config
    from goalkeeper.web.app import create_app

    config = Config.load({"database_url": database_url, "key_cache_seconds": 0}, environ={})
    with TestClient(create_app(config)) as client:
        assert (
            client.post("/v2/Api/Goals", content=goals_xml(key=world.ingest_key)).status_code == 201
        )
        assert store.revoke_api_key(world.ingest_key.split("_")[1])
        assert (
            client.post("/v2/Api/Goals", content=goals_xml(key=world.ingest_key)).status_code == 403
        )
