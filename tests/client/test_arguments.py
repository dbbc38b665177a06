"""Arguments the client cannot send are refused before any request, with a client error."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from goalkeeper.client import (
    ArgumentError,
    ArgumentTypeError,
    ArgumentValueError,
    AsyncClient,
    Client,
    GoalkeeperClientError,
    RetryPolicy,
)

GUID = "C7015756-95F3-4509-8C6C-759FEEC48F91"
NAIVE = dt.datetime(2025, 3, 1, 12, 0)


class Counter:
    """A server that answers 200 and counts the requests that reach it."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={})


def test_the_argument_errors_are_client_errors_and_builtin_errors() -> None:
    assert issubclass(ArgumentValueError, ArgumentError)
    assert issubclass(ArgumentValueError, GoalkeeperClientError)
    assert issubclass(ArgumentValueError, ValueError)
    assert issubclass(ArgumentTypeError, ArgumentError)
    assert issubclass(ArgumentTypeError, TypeError)


@pytest.mark.parametrize(
    "key",
    ["", "   ", "Bearer gk_a b", " gk_key", "gk_key\n", "gk_\x00key", "gk_\x7f", "gk_clé"],
    ids=["empty", "blank", "space", "leading-space", "newline", "nul", "del", "non-ascii"],
)
def test_a_malformed_api_key_is_refused_at_construction(key: str) -> None:
    server = Counter()
    with pytest.raises(ArgumentValueError) as caught:
        Client("http://gk.test", key, transport=httpx.MockTransport(server))
    assert "api_key" in str(caught.value)
    if key.strip():
        assert key not in str(caught.value)  # a secret stays out of logs
    with pytest.raises(ArgumentValueError):
        AsyncClient("http://gk.test", key, transport=httpx.MockTransport(server))
    assert server.requests == []


def test_an_api_key_that_is_not_a_string_is_a_type_error() -> None:
    with pytest.raises(ArgumentTypeError):
        Client("http://gk.test", None)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://gk.test", "http://", "http://[::1"])
def test_a_base_url_that_is_not_http_is_refused_at_construction(url: str) -> None:
    with pytest.raises(ArgumentValueError):
        Client(url, "gk_key")


@pytest.mark.parametrize(
    "policy",
    [
        {"attempts": 0},
        {"backoff": -1.0},
        {"max_backoff": float("inf")},
        {"max_retry_after": float("nan")},
    ],
)
def test_a_retry_policy_that_cannot_work_is_refused(policy: dict[str, Any]) -> None:
    with pytest.raises(ArgumentValueError):
        RetryPolicy(**policy)


Refused = tuple[Callable[[Client], object], type[ArgumentError]]
REFUSED: dict[str, Refused] = {
    "naive occurred_at": (
        lambda gk: gk.record_fulfillment(1, GUID, occurred_at=NAIVE),
        ArgumentValueError,
    ),
    "naive sent_at": (
        lambda gk: gk.create_message("m", "Email", sent_at=NAIVE),
        ArgumentValueError,
    ),
    "date as occurred_at": (
        lambda gk: gk.record_fulfillment(1, GUID, occurred_at=dt.date(2025, 3, 1)),  # type: ignore[arg-type]
        ArgumentTypeError,
    ),
    "naive datetime in a batch": (
        lambda gk: gk.record_fulfillments(
            [{"goal_id": 1, "message_guid": GUID, "occurred_at": NAIVE}]
        ),
        ArgumentValueError,
    ),
    "unknown field in a batch": (
        lambda gk: gk.record_fulfillments([{"goal_id": 1, "message_guid": GUID, "amount": 5}]),
        ArgumentTypeError,
    ),
    "missing field in a batch": (
        lambda gk: gk.record_fulfillments([{"goal_id": 1}]),
        ArgumentTypeError,
    ),
    "one dict as a batch": (
        lambda gk: gk.record_fulfillments({"goal_id": 1, "message_guid": GUID}),  # type: ignore[arg-type]
        ArgumentTypeError,
    ),
    "float goal id": (lambda gk: gk.get_goal(1.9), ArgumentTypeError),  # type: ignore[arg-type]
    "string message id": (lambda gk: gk.get_message("7"), ArgumentTypeError),  # type: ignore[arg-type]
    "bool message id": (lambda gk: gk.personalize(True, "x", GUID), ArgumentTypeError),
    "float goal id, XML": (lambda gk: gk.fulfill_goal(2.5, GUID), ArgumentTypeError),  # type: ignore[arg-type]
    "non-str channel, XML": (
        lambda gk: gk.fulfill_goal(2, GUID, channel=1),  # type: ignore[arg-type]
        ArgumentTypeError,
    ),
    "idempotency key not sendable as a header": (
        lambda gk: gk.fulfill_goal(2, GUID, idempotency_key="order 1"),
        ArgumentValueError,
    ),
    "one subscriber id as recipients": (
        lambda gk: gk.add_recipients(1, "subscriber-1"),
        ArgumentTypeError,
    ),
    "a tuple as a recipient": (
        lambda gk: gk.add_recipients(1, [("subscriber-1", GUID)]),  # type: ignore[list-item]
        ArgumentTypeError,
    ),
    "bytes as a GUID": (
        lambda gk: gk.personalize(1, "x", uuid.UUID(GUID).bytes),  # type: ignore[arg-type]
        ArgumentTypeError,
    ),
    "an int as a recipient's GUID": (
        lambda gk: gk.add_recipients(1, [{"subscriber_id": "s", "guid": 7}]),  # type: ignore[dict-item]
        ArgumentTypeError,
    ),
    "an int as the XML method's GUID": (
        lambda gk: gk.fulfill_goal(2, 12345),  # type: ignore[arg-type]
        ArgumentTypeError,
    ),
}


@pytest.mark.parametrize(("call", "kind"), REFUSED.values(), ids=REFUSED.keys())
def test_a_bad_argument_raises_an_argument_error_and_sends_nothing(
    call: Callable[[Client], object], kind: type[ArgumentError]
) -> None:
    server = Counter()
    gk = Client("http://gk.test", "gk_key", transport=httpx.MockTransport(server))
    with gk, pytest.raises(kind):
        call(gk)
    assert server.requests == []


def test_a_naive_datetime_is_still_a_value_error_for_the_async_client() -> None:
    server = Counter()

    async def main() -> None:
        async with AsyncClient(
            "http://gk.test", "gk_key", transport=httpx.MockTransport(server)
        ) as gk:
            await gk.record_fulfillment(1, GUID, occurred_at=NAIVE)

    with pytest.raises(ValueError, match="time zone"):
        asyncio.run(main())
    assert server.requests == []


def test_valid_arguments_still_go_through() -> None:
    server = Counter()
    aware = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
    with Client(
        "https://gk.test/base", "gk_ab12cd34_s3cr3t", transport=httpx.MockTransport(server)
    ) as gk:
        gk.get_goal(3)
        gk.record_fulfillment(1, GUID, occurred_at=aware)
        gk.fulfill_goal(2, GUID, idempotency_key="order-1001")
    assert [r.url.path for r in server.requests] == [
        "/base/api/v1/goals/3",
        "/base/api/v1/fulfillments",
        "/base/v2/Api/Goals",
    ]
    assert b"2025-03-01T12:00:00+00:00" in server.requests[1].content


def test_a_guid_may_be_a_uuid() -> None:
    sent: list[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"content": "", "recipients": [], "results": [{}]})

    guid = uuid.UUID(GUID)
    with Client(
        "https://gk.test", "gk_ab12cd34_s3cr3t", transport=httpx.MockTransport(server)
    ) as gk:
        gk.personalize(1, "x *[message_guid]*", guid)
        gk.add_recipients(1, [{"subscriber_id": "s", "guid": guid}])
        gk.record_fulfillment(1, guid)
        gk.record_fulfillments([{"goal_id": 1, "message_guid": guid}])
        gk.fulfill_goal(2, guid)
    assert len(sent) == 5 and all(str(guid).encode() in r.content for r in sent)
