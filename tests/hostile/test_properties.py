"""Property tests: no input makes a wire adapter raise anything but the error family."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goalkeeper.errors import GoalkeeperError
from goalkeeper.wire import json_api
from goalkeeper.wire.beacon import parse_beacon
from goalkeeper.wire.body import decode_content

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=15), children, max_size=6)
    ),
    max_leaves=25,
)
field_names = st.sampled_from(
    [
        "goal_id",
        "message_guid",
        "value",
        "channel",
        "idempotency_key",
        "occurred_at",
        "name",
        "id",
        "counting",
        "window_days",
        "default_value",
        "list",
        "sent_at",
        "recipients",
        "subscriber_id",
        "guid",
        "content",
        "fulfillments",
        "key",
        "order_id",
    ]
)
plausible_objects = st.dictionaries(field_names, json_values, max_size=7)

ADAPTERS: list[Callable[[bytes], Any]] = [
    json_api.fulfillments_input,
    json_api.goal_input,
    json_api.message_input,
    json_api.recipients_input,
    json_api.personalize_input,
    parse_beacon,
]


def only_family(adapter: Callable[[bytes], Any], body: bytes) -> None:
    try:
        adapter(body)
    except GoalkeeperError as error:
        assert 400 <= error.status < 500
        assert error.code and error.message


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda a: a.__name__)
@settings(max_examples=150, deadline=None)
@given(body=st.binary(max_size=300))
def test_any_bytes(adapter: Callable[[bytes], Any], body: bytes) -> None:
    only_family(adapter, body)


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda a: a.__name__)
@settings(max_examples=150, deadline=None)
@given(value=json_values)
def test_any_json_value(adapter: Callable[[bytes], Any], value: Any) -> None:
    only_family(adapter, json.dumps(value).encode())


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda a: a.__name__)
@settings(max_examples=200, deadline=None)
@given(value=plausible_objects)
def test_objects_with_real_field_names(
    adapter: Callable[[bytes], Any], value: dict[str, Any]
) -> None:
    only_family(adapter, json.dumps(value).encode())
    only_family(adapter, json.dumps({"fulfillments": [value, value]}).encode())


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=500),
    encoding=st.sampled_from(["gzip", "deflate", "br", "identity", "GZIP", ""]),
)
def test_decompression_of_anything(body: bytes, encoding: str) -> None:
    try:
        out = decode_content(body, encoding, 1000)
    except GoalkeeperError as error:
        assert error.status in (400, 413, 415)
    else:
        assert len(out) <= 1000
