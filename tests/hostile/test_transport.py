"""Hostile clients at the HTTP level: slow senders, huge headers, header injection."""

from __future__ import annotations

import socket
import threading
import time

import httpx

from tests.fixtures import goals_xml
from tests.hostile.conftest import Target


def connect(target: Target) -> socket.socket:
    return socket.create_connection(("127.0.0.1", target.server.port), timeout=15)


def read_response(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
        if b"</ApiResponse>" in data or (
            b"\r\n\r\n" in data and b"content-length: 0" in data.lower()
        ):
            break
    return data


def test_slow_sender_gets_408_and_others_are_served_meanwhile(target: Target) -> None:
    body = goals_xml()
    sock = connect(target)
    sock.sendall(
        b"POST /v2/Api/Goals HTTP/1.1\r\nHost: x\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
    )
    answered: list[int] = []

    def trickle() -> None:
        try:
            for byte in body[:20]:  # one byte every 0.3 s: 6 s for 20 bytes, past the 2 s limit
                sock.sendall(bytes([byte]))
                time.sleep(0.3)
        except OSError:
            pass  # the server answered and closed

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    with httpx.Client(base_url=target.server.base_url) as other:
        for _ in range(5):
            answered.append(
                other.post("/v2/Api/Goals", content=goals_xml(goal_id="99")).status_code
            )
            time.sleep(0.1)
    started = time.monotonic()
    response = read_response(sock)
    sock.close()
    thread.join(timeout=10)
    assert answered == [400] * 5  # the slow sender blocks nobody
    assert response.startswith(b"HTTP/1.1 408 ")
    assert b"<Message>Request body was not received in time.</Message>" in response
    assert time.monotonic() - started < 5
    target.after_case()


def test_many_slow_senders_do_not_take_the_server_down(target: Target) -> None:
    sockets = []
    for _ in range(50):
        sock = connect(target)
        sock.sendall(b"POST /v2/Api/Goals HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n<Api")
        sockets.append(sock)
    assert httpx.get(target.server.base_url + "/healthz").status_code == 200
    for sock in sockets:
        assert read_response(sock).startswith(b"HTTP/1.1 408 ")
        sock.close()
    target.after_case()


def test_huge_header_is_refused_without_harm(target: Target) -> None:
    sock = connect(target)
    sock.sendall(
        b"POST /v2/Api/Goals HTTP/1.1\r\nHost: x\r\nX-Pad: "
        + b"a" * 2_000_000
        + b"\r\nContent-Length: 0\r\n\r\n"
    )
    reply = read_response(sock)
    sock.close()
    assert reply == b"" or reply.split(b" ")[1][:1] == b"4", reply[:200]
    target.after_case()


def test_many_headers(target: Target) -> None:
    headers = [(f"X-H{i}", "v") for i in range(2000)]
    response = httpx.post(
        target.server.base_url + "/v2/Api/Goals", content=goals_xml(goal_id="x"), headers=headers
    )
    assert response.status_code == 400
    target.after_case()


def test_header_injection_is_not_reflected(target: Target) -> None:
    sock = connect(target)
    sock.sendall(
        b"POST /v2/Api/Goals HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\rSet-Cookie: evil=1\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    reply = read_response(sock)
    sock.close()
    assert b"evil" not in reply
    response = httpx.post(
        target.server.base_url + "/v2/Api/Goals",
        content=b"",
        headers={"X-Request-Id": "a%0d%0aSet-Cookie:%20evil=1"},
    )
    assert "set-cookie" not in response.headers
    assert response.headers["x-request-id"] != "a%0d%0aSet-Cookie:%20evil=1"
    target.after_case()


def test_request_smuggling_both_lengths_refused(target: Target) -> None:
    sock = connect(target)
    sock.sendall(
        b"POST /v2/Api/Goals HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    reply = read_response(sock)
    sock.close()
    assert reply == b"" or reply.split(b" ")[1][:1] == b"4", reply[:200]
    target.after_case()


def test_slow_sender_on_the_json_api_gets_408(target: Target) -> None:
    body = b'{"goal_id": 1, "message_guid": "C7015756-95F3-4509-8C6C-759FEEC48F91"}'
    sock = connect(target)
    sock.sendall(
        b"POST /api/v1/fulfillments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + target.world.ingest_key.encode() + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:5]
    )
    reply = b""
    while b"request_timeout" not in reply:
        chunk = sock.recv(65536)
        if not chunk:
            break
        reply += chunk
    sock.close()
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert b'"code":"request_timeout"' in reply
    target.after_case()


def test_dashboard_forms_are_read_within_their_limit(target: Target) -> None:
    huge = httpx.post(
        target.server.base_url + "/login",
        content=b"key=" + b"k" * 10_000_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 413
    assert "Request body is too large." in huge.text
    assert huge.headers["content-type"].startswith("text/html")
    target.after_case()
