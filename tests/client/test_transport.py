"""The client against httpx.MockTransport: retries, idempotency keys, typed errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import pytest

from goalkeeper.client import (
    NO_RETRIES,
    ApiError,
    ArgumentValueError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    Client,
    ConflictError,
    NetworkError,
    PermissionDeniedError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    ServiceUnavailableError,
)

FAST = RetryPolicy(attempts=4, backoff=0.0, jitter=False)
GUID = "C7015756-95F3-4509-8C6C-759FEEC48F91"
XML_ERROR = (
    '<ApiResponse xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    "<ErrorMessage><Code>400</Code><Message>Message GUID was not recognized.</Message>"
    "</ErrorMessage></ApiResponse>"
)


def json_error(status: int, code: str, message: str = "m") -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"status": status, "code": code, "message": message}}
    )


class Recorder:
    """A scripted server: answers in order, remembers every request."""

    def __init__(self, *answers: httpx.Response | Exception):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client(recorder: Recorder, retry: RetryPolicy = FAST) -> Client:
    return Client("http://gk.test", "gk_key", retry=retry, transport=httpx.MockTransport(recorder))


def test_fulfill_goal_sends_the_xml_goals_document() -> None:
    server = Recorder(httpx.Response(201))
    client(server).fulfill_goal(2, GUID, value=123, channel="Email")
    (request,) = server.requests
    assert (request.method, request.url.path) == ("POST", "/v2/Api/Goals")
    body = request.content.decode()
    for part in (
        "<ApiKey>gk_key</ApiKey>",
        "<GoalId>2</GoalId>",
        "<GoalValue>123</GoalValue>",
        f"<MessageGuid>{GUID}</MessageGuid>",
        "<Channel>Email</Channel>",
    ):
        assert part in body
    assert "authorization" not in request.headers
    assert request.headers["user-agent"].startswith("goalkeeper-client/")
    assert request.headers["idempotency-key"]


def test_retries_reuse_one_idempotency_key() -> None:
    server = Recorder(
        httpx.ReadTimeout("lost"),
        httpx.Response(503, headers={"Retry-After": "0"}, content=b""),
        httpx.Response(429, headers={"Retry-After": "0"}),
        httpx.Response(201),
    )
    client(server).fulfill_goal(1, GUID)
    keys = {r.headers["idempotency-key"] for r in server.requests}
    assert len(server.requests) == 4 and len(keys) == 1
    json_server = Recorder(httpx.ConnectError("refused"), httpx.Response(201, json={"id": 1}))
    client(json_server).record_fulfillment(1, GUID)
    bodies = [json.loads(r.content) for r in json_server.requests]
    assert bodies[0] == bodies[1] and bodies[0]["idempotency_key"]


def test_a_given_idempotency_key_is_sent_as_given() -> None:
    server = Recorder(httpx.Response(201))
    client(server).fulfill_goal(1, GUID, idempotency_key="order-7")
    assert server.requests[0].headers["idempotency-key"] == "order-7"


@pytest.mark.parametrize("status", [400, 403, 404, 409, 500])
def test_permanent_errors_are_not_retried(status: int) -> None:
    server = Recorder(json_error(status, "x"), httpx.Response(201))
    with pytest.raises(Exception):  # noqa: B017 - the type is pinned below
        client(server).record_fulfillment(1, GUID)
    assert len(server.requests) == 1


def test_gives_up_after_the_last_attempt_with_the_typed_error() -> None:
    server = Recorder(*[json_error(503, "unavailable", "down") for _ in range(3)])
    with pytest.raises(ServiceUnavailableError) as caught:
        client(server, RetryPolicy(attempts=3, backoff=0, jitter=False)).list_goals()
    assert len(server.requests) == 3
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        503,
        "unavailable",
        "down",
    )


def test_a_retry_after_beyond_the_bound_is_not_waited_for() -> None:
    server = Recorder(httpx.Response(429, headers={"Retry-After": "3600"}))
    with pytest.raises(RateLimitedError) as caught:
        client(server).list_goals()
    assert caught.value.retry_after == 3600
    assert len(server.requests) == 1


def test_network_errors_end_as_network_error() -> None:
    server = Recorder(*[httpx.ConnectError("refused") for _ in range(4)])
    with pytest.raises(NetworkError) as caught:
        client(server).list_goals()
    assert isinstance(caught.value.cause, httpx.ConnectError)
    assert len(server.requests) == 4


def test_an_unrepeatable_write_is_not_retried_once_sent() -> None:
    server = Recorder(httpx.ReadTimeout("lost"), httpx.Response(201, json={"id": 9}))
    with pytest.raises(NetworkError):
        client(server).create_message("News", "Email")
    assert len(server.requests) == 1
    refused = Recorder(httpx.ConnectError("refused"), httpx.Response(201, json={"id": 9}))
    assert client(refused).create_message("News", "Email") == {"id": 9}


# Writes a repeat could double: goalkeeper picks the goal id, the message id, the GUIDs.
UNSAFE_WRITES: dict[str, Callable[[Client], object]] = {
    "create_message": lambda gk: gk.create_message("m", "Email"),
    "add_recipients issuing GUIDs": lambda gk: gk.add_recipients(1, ["a"]),
    "create_goal without id": lambda gk: gk.create_goal("g"),
}
SAFE_WRITES: dict[str, Callable[[Client], object]] = {
    "record_fulfillment": lambda gk: gk.record_fulfillment(1, GUID),
    "fulfill_goal": lambda gk: gk.fulfill_goal(1, GUID),
    "add_recipients naming every GUID": lambda gk: gk.add_recipients(
        1, [{"subscriber_id": "a", "guid": GUID}]
    ),
    "create_goal with id": lambda gk: gk.create_goal("g", id=7),
}
OK = {"id": 1, "recipients": [], "status": "accepted"}


@pytest.mark.parametrize("call", UNSAFE_WRITES.values(), ids=UNSAFE_WRITES.keys())
def test_an_unrepeatable_write_is_not_retried_after_503(call: Callable[[Client], object]) -> None:
    server = Recorder(
        httpx.Response(503, headers={"Retry-After": "0"}), httpx.Response(201, json=OK)
    )
    with pytest.raises(ServiceUnavailableError):
        call(client(server))
    assert len(server.requests) == 1


@pytest.mark.parametrize("call", UNSAFE_WRITES.values(), ids=UNSAFE_WRITES.keys())
def test_an_unrepeatable_write_is_retried_after_429(call: Callable[[Client], object]) -> None:
    server = Recorder(
        httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(201, json=OK)
    )
    call(client(server))
    assert len(server.requests) == 2


@pytest.mark.parametrize("call", SAFE_WRITES.values(), ids=SAFE_WRITES.keys())
def test_a_repeatable_write_is_retried_after_503_and_a_lost_answer(
    call: Callable[[Client], object],
) -> None:
    server = Recorder(
        httpx.Response(503, headers={"Retry-After": "0"}),
        httpx.ReadTimeout("lost"),
        httpx.Response(201, json=OK),
    )
    call(client(server))
    assert len(server.requests) == 3
    assert server.requests[0].content == server.requests[2].content


def test_the_async_client_does_not_retry_an_unrepeatable_write_after_503() -> None:
    server = Recorder(
        httpx.Response(503, headers={"Retry-After": "0"}), httpx.Response(201, json=OK)
    )

    async def main() -> None:
        async with AsyncClient(
            "http://gk.test", "gk_key", retry=FAST, transport=httpx.MockTransport(server)
        ) as gk:
            await gk.create_message("m", "Email")

    with pytest.raises(ServiceUnavailableError):
        asyncio.run(main())
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "refusal",
    [
        httpx.LocalProtocolError("Illegal header value b'Bearer '"),
        httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'."),
    ],
)
def test_a_request_httpx_refuses_to_send_is_not_retried_nor_a_network_error(
    refusal: httpx.TransportError,
) -> None:
    server = Recorder(refusal, httpx.Response(200, json={"goals": []}))
    with pytest.raises(ArgumentValueError) as caught:
        client(server).list_goals()
    assert not isinstance(caught.value, NetworkError)
    assert isinstance(caught.value, ValueError) and caught.value.__cause__ is refusal
    assert len(server.requests) == 1


def test_the_async_client_does_not_retry_a_request_httpx_refuses_to_send() -> None:
    server = Recorder(httpx.LocalProtocolError("Illegal header value"))

    async def main() -> None:
        async with AsyncClient(
            "http://gk.test", "gk_key", retry=FAST, transport=httpx.MockTransport(server)
        ) as gk:
            await gk.list_goals()

    with pytest.raises(ArgumentValueError):
        asyncio.run(main())
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("answer", "kind", "code"),
    [
        (json_error(400, "unknown_field"), BadRequestError, "unknown_field"),
        (json_error(401, "api_key_required"), AuthenticationError, "api_key_required"),
        (json_error(403, "api_key_invalid"), AuthenticationError, "api_key_invalid"),
        (json_error(403, "forbidden"), PermissionDeniedError, "forbidden"),
        (json_error(409, "conflict"), ConflictError, "conflict"),
        (httpx.Response(400, text=XML_ERROR), BadRequestError, "message_guid_not_recognized"),
        (httpx.Response(502, text="Bad gateway"), ServerError, None),
    ],
)
def test_errors_are_typed_from_either_envelope(
    answer: httpx.Response, kind: type[ApiError], code: str | None
) -> None:
    with pytest.raises(kind) as caught:
        client(Recorder(answer), NO_RETRIES).fulfill_goal(1, GUID)
    assert caught.value.code == code
    assert caught.value.status == answer.status_code


def test_xml_messages_are_carried_as_sent() -> None:
    with pytest.raises(BadRequestError) as caught:
        client(Recorder(httpx.Response(400, text=XML_ERROR)), NO_RETRIES).fulfill_goal(1, GUID)
    assert caught.value.message == "Message GUID was not recognized."


def test_backoff_grows_exponentially_within_its_cap_and_honours_retry_after() -> None:
    policy = RetryPolicy(attempts=6, backoff=0.5, max_backoff=3.0, jitter=False)
    assert [policy.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, None]
    assert policy.delay(1, retry_after=7) == 7
    assert policy.delay(1, retry_after=61) is None
    jittered = RetryPolicy(backoff=1.0)
    assert all(0 <= (jittered.delay(3) or 0) <= 4.0 for _ in range(50))


def test_batches_give_every_item_its_own_key() -> None:
    server = Recorder(httpx.Response(200, json={"results": [{}, {}]}))
    client(server).record_fulfillments(
        [{"goal_id": 1, "message_guid": GUID}, {"goal_id": 1, "message_guid": GUID, "value": 5}]
    )
    items = json.loads(server.requests[0].content)["fulfillments"]
    assert items[0]["idempotency_key"] != items[1]["idempotency_key"]
    assert items[1]["value"] == 5


def test_the_async_client_retries_the_same_way() -> None:
    server = Recorder(
        httpx.Response(503, headers={"Retry-After": "0"}), httpx.Response(200, json={"goals": []})
    )

    async def main() -> list[object]:
        async with AsyncClient(
            "http://gk.test", "gk_key", retry=FAST, transport=httpx.MockTransport(server)
        ) as gk:
            return list(await gk.list_goals())

    assert asyncio.run(main()) == []
    assert [r.headers["authorization"] for r in server.requests] == ["Bearer gk_key"] * 2
