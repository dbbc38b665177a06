"""The Goals method against a real ``goalkeeper serve`` process on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import xml.etree.ElementTree as ET

import httpx
import pytest

from goalkeeper.store import Store
from tests.cases import ERROR_CASES, LENIENCY_CASES, Case
from tests.conftest import Server
from tests.fixtures import World, goals_xml
from tests.web.test_goals import SPEC_BODY

pytestmark = pytest.mark.blackbox

Live = tuple[Server, World, Store]


@pytest.fixture(scope="module")
def http(live: Live) -> httpx.Client:
    """One keep-alive connection pool reused by every case, as real clients do."""
    with httpx.Client(base_url=live[0].base_url, timeout=10) as client:
        yield client  # type: ignore[misc]


def raw_exchange(server: Server, request: bytes) -> bytes:
    """Send exact bytes, read one response (headers and declared body)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            body += sock.recv(65536)
        return head + b"\r\n\r\n" + body


def test_spec_request_byte_for_byte(live: Live) -> None:
    server, world, store = live
    before = store.count_fulfillments(world.account_id)
    request = (
        b"POST /v2/Api/Goals HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/xml\r\n"
        b"Content-Length: " + str(len(SPEC_BODY)).encode() + b"\r\n\r\n" + SPEC_BODY
    )
    response = raw_exchange(server, request)
    status_line, *header_lines = response.split(b"\r\n\r\n")[0].split(b"\r\n")
    assert status_line == b"HTTP/1.1 201 Created"
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (h.partition(b":") for h in header_lines)
    }
    assert headers[b"cache-control"] == b"private"
    assert headers[b"content-length"] == b"0"
    assert store.count_fulfillments(world.account_id) == before + 1
    row = store.list_fulfillments(world.account_id, limit=100_000)[-1]
    assert (row.goal_id, row.value, row.channel.value) == (2, 123, "Email")


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: c.id)
def test_error_table(live: Live, http: httpx.Client, case: Case) -> None:
    _, _, store = live
    before = store.count_fulfillments()
    response = http.request(case.method, case.path, content=case.body, headers=dict(case.headers))
    assert response.status_code == case.status
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.headers["cache-control"] == "private"
    root = ET.fromstring(response.content)
    assert root.findtext("ErrorMessage/Code") == str(case.status)
    assert root.findtext("ErrorMessage/Message") == case.message
    for name, value in case.response_headers:
        assert response.headers[name] == value
    assert store.count_fulfillments() == before


@pytest.mark.parametrize("case", LENIENCY_CASES, ids=lambda c: c.id)
def test_leniency(live: Live, http: httpx.Client, case: Case) -> None:
    _, world, store = live
    before = store.count_fulfillments(world.account_id)
    response = http.request(case.method, case.path, content=case.body, headers=dict(case.headers))
    assert response.status_code == 201, response.text
    assert response.content == b""
    assert store.count_fulfillments(world.account_id) == before + 1
    if case.stored_value is not None:
        assert (
            store.list_fulfillments(world.account_id, limit=100_000)[-1].value == case.stored_value
        )


def test_keep_alive_connection_serves_many_requests(live: Live) -> None:
    server, _, _ = live
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        body = goals_xml()
        request = (
            b"POST /Api/Goals HTTP/1.1\r\nHost: x\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        for _ in range(5):
            sock.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(4096)
            assert data.startswith(b"HTTP/1.1 201 Created")


def test_concurrent_duplicates_store_one_row(live: Live) -> None:
    server, world, store = live
    before = store.count_fulfillments(world.account_id)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/v2/Api/Goals", content=goals_xml(), headers={"Idempotency-Key": "burst-1"}
                    )
                    for _ in range(40)
                )
            )
        return [r.status_code for r in responses]

    assert asyncio.run(burst()) == [201] * 40
    assert store.count_fulfillments(world.account_id) == before + 1


def test_concurrent_distinct_requests_all_stored(live: Live) -> None:
    server, world, store = live
    before = store.count_fulfillments(world.account_id)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            responses = await asyncio.gather(
                *(client.post("/v2/Api/Goals", content=goals_xml(value=str(i))) for i in range(100))
            )
        return [r.status_code for r in responses]

    assert asyncio.run(burst()) == [201] * 100
    assert store.count_fulfillments(world.account_id) == before + 100


@pytest.mark.parametrize(
    ("target", "status"),
    [
        (b"/v2/Api/Goals/", b"201 Created"),
        (b"/Api/Goals/", b"201 Created"),
        (b"//v2/Api/Goals", b"201 Created"),  # a client base URL ending in "/"
        (b"/v2/Api", b"404 Not Found"),
        (b"/Api", b"404 Not Found"),
        (b"//v2/Api/Nope", b"404 Not Found"),
    ],
)
def test_paths_as_iis_routes_them(live: Live, target: bytes, status: bytes) -> None:
    server, _, _ = live
    body = goals_xml()
    response = raw_exchange(
        server,
        b"POST " + target + b" HTTP/1.1\r\nHost: x\r\nContent-Length: "
        + str(len(body)).encode() + b"\r\n\r\n" + body,
    )  # fmt: skip
    head, _, content = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 " + status)
    if status != b"201 Created":
        assert b"content-type: text/xml; charset=utf-8" in head.lower()
        assert ET.fromstring(content).findtext("ErrorMessage/Message") == "Resource not found."


def test_idempotency_key_sent_twice_is_refused(live: Live, http: httpx.Client) -> None:
    headers = [("Idempotency-Key", "one"), ("Idempotency-Key", "two")]
    response = http.post("/v2/Api/Goals", content=goals_xml(), headers=headers)
    assert response.status_code == 400
    message = ET.fromstring(response.content).findtext("ErrorMessage/Message")
    assert message == "Idempotency-Key must be sent only once."
