"""wire.json_api: the strict JSON checks, one rule at a time."""

from __future__ import annotations

import datetime as dt

import pytest

from goalkeeper.errors import (
    FieldType,
    GoalkeeperError,
    GuidInvalid,
    InvalidJson,
    OutOfRange,
    TimeInvalid,
    TooManyItems,
)
from goalkeeper.wire import json_api

GUID_BYTES = bytes.fromhex("c701575695f345098c6c759feec48f91")


@pytest.mark.parametrize(
    "text",
    [
        "C7015756-95F3-4509-8C6C-759FEEC48F91",
        "c701575695f345098c6c759feec48f91",
        "{c7015756-95f3-4509-8c6c-759feec48f91}",
        "(C7015756-95F3-4509-8C6C-759FEEC48F91)",
    ],
)
def test_guids_in_every_net_form(text: str) -> None:
    assert json_api.guid(text, "g") == GUID_BYTES


@pytest.mark.parametrize(
    "text",
    [
        " C7015756-95F3-4509-8C6C-759FEEC48F91",
        "C7015756-95F3-4509-8C6C-759FEEC48F9",
        "",
        "C7015756-95F3-4509-8C6C-759FEEC48F9 ",  # 36 characters, a space for a digit
        "C7015756-95F3-4509-8C6C-759FEEC48F\u0669\u0661",  # Arabic-Indic digits
        "C701575-695F3-4509-8C6C-759FEEC48F91",  # a hyphen out of place
        "C7015756-95F3-4509-8C6C-759FEEC48F91-",
    ],
)
def test_guids_are_not_trimmed_or_guessed(text: str) -> None:
    with pytest.raises(GuidInvalid):
        json_api.guid(text, "g")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27T10:00:00Z", dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)),
        ("2026-11-27t10:00:00z", dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)),
        (
            "2026-11-27T11:00:00.123456789+01:00",
            dt.datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=dt.UTC),
        ),
    ],
)
def test_rfc3339_times(text: str, expected: dt.datetime) -> None:
    assert json_api.timestamp(text, "t") == expected


@pytest.mark.parametrize(
    "text", ["2026-11-27", "2026-11-27T10:00:00", "2026-11-27 10:00:00Z", "2026-13-01T00:00:00Z"]
)
def test_times_without_offset_or_out_of_calendar_are_refused(text: str) -> None:
    with pytest.raises(TimeInvalid):
        json_api.timestamp(text, "t")


def test_booleans_and_floats_are_not_integers() -> None:
    for value in (True, 1.0):
        with pytest.raises(FieldType):
            json_api.integer(value, "n")
    with pytest.raises(OutOfRange):
        json_api.integer(2**63, "n")


def test_query_flag_takes_only_true_and_false() -> None:
    assert json_api.query_flag(None, "f") is False
    assert json_api.query_flag("true", "f") is True
    assert json_api.query_flag("false", "f") is False
    for raw in ("1", "TRUE", "yes", ""):
        with pytest.raises(FieldType):
            json_api.query_flag(raw, "f")


def test_a_batch_names_each_bad_item_and_keeps_the_good() -> None:
    body = (
        b'{"fulfillments": [{"goal_id": 1, "message_guid": "c701575695f345098c6c759feec48f91"},'
        b' {"goal_id": 1}, []]}'
    )
    batch, items = json_api.fulfillments_input(body)
    assert batch is True
    assert isinstance(items[0], json_api.FulfillmentInput)
    assert items[0].value == 0 and items[0].channel is None
    assert isinstance(items[1], GoalkeeperError)
    assert items[1].message == "fulfillments[1].message_guid is required."
    assert isinstance(items[2], FieldType)
    assert items[2].message == "fulfillments[2] must be a JSON object, not array."


def test_too_many_items_fail_the_whole_body() -> None:
    body = b'{"fulfillments": [' + b",".join([b"{}"] * 1001) + b"]}"
    with pytest.raises(TooManyItems):
        json_api.fulfillments_input(body)


@pytest.mark.parametrize("body", [b"", b"  ", b"\xff", b'{"a": Infinity}', b"{} {}"])
def test_not_one_json_document(body: bytes) -> None:
    with pytest.raises(InvalidJson):
        json_api.parse_json(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"goal_id": 1, "message_guid": "abc',
            "Unterminated string starting at line 1, column 32.",
        ),
        (b'{"goal_id": 1,\n "value": }', "Expecting value at line 2, column 11."),
    ],
)
def test_a_syntax_error_says_where(body: bytes, message: str) -> None:
    with pytest.raises(InvalidJson) as caught:
        json_api.parse_json(body)
    assert caught.value.message == f"Not valid JSON: {message}"
