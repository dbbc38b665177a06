"""The XML adapter on its own: parsing, conversions, and that nothing escapes the family."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goalkeeper.errors import GoalIdInvalid, GoalkeeperError, GoalValueInvalid, InvalidDocument
from goalkeeper.model import Channel
from goalkeeper.wire import expertsender as es
from tests.fixtures import goals_xml


def test_parses_the_values() -> None:
    doc = es.parse_goals_document(goals_xml(channel="SmsMms"))
    assert doc == es.GoalsDocument(
        "test_api_key1", "2", "123", "C7015756-95F3-4509-8C6C-759FEEC48F91", "SmsMms"
    )


def test_absent_elements_are_none() -> None:
    doc = es.parse_goals_document(b"<ApiRequest><Data/></ApiRequest>")
    assert doc == es.GoalsDocument(None, None, None, None, None)


def test_values_nested_below_data_children_are_not_fields() -> None:
    doc = es.parse_goals_document(
        b"<ApiRequest><Data><X><GoalId>5</GoalId></X></Data></ApiRequest>"
    )
    assert doc.goal_id is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("-2147483648", -(2**31)),
        ("2147483647", 2**31 - 1),
        (" 7\n", 7),
        ("+3", 3),
        ("007", 7),
        ("000000000000000000002", 2),  # .NET's int.Parse takes any number of leading zeros
        ("-000000000000000000002", -2),
        ("+00000000000000000002147483647", 2**31 - 1),
        ("-00000000000000000002147483648", -(2**31)),
        ("0" * 30, 0),
        ("-" + "0" * 30, 0),
        ("0" * 60_000 + "5", 5),  # past int()'s 4300-digit limit: the zeros never reach it
    ],
    ids=lambda v: repr(v)[:24] if isinstance(v, str) else None,
)
def test_int32_bounds(text: str, value: int) -> None:
    assert es.goal_id(text) == value
    assert es.goal_value(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "2147483648",
        "-2147483649",
        "1e3",
        "1.0",
        "١",
        "0x10",
        "--1",
        "1 2",
        "+",
        "-",
        "+-1",
        "0" * 30 + "2147483648",
        "0" * 30 + "12345678901",
        "9" * 400,
        "0" * 32_000 + "1" * 32_000,
    ],
    ids=lambda v: repr(v)[:24],
)
def test_not_int32(text: str) -> None:
    with pytest.raises(GoalIdInvalid):
        es.goal_id(text)
    with pytest.raises(GoalValueInvalid):
        es.goal_value(text)


def test_channel_all_means_any() -> None:
    assert es.channel("All") is Channel.ALL
    assert es.channel(None) is None
    assert es.channel("") is None
    assert es.channel("  ") is None


def test_error_body_is_the_envelope_and_escapes() -> None:
    root = ET.fromstring(es.error_body(400, "a < b & c"))
    assert root.tag == "ApiResponse"
    assert root.findtext("ErrorMessage/Code") == "400"
    assert root.findtext("ErrorMessage/Message") == "a < b & c"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_give_a_document_or_a_family_error(body: bytes) -> None:
    try:
        doc = es.parse_goals_document(body)
    except GoalkeeperError as error:
        assert 400 <= error.status < 500
        return
    for convert, raw in (
        (es.goal_id, doc.goal_id),
        (es.goal_value, doc.goal_value),
        (es.channel, doc.channel),
        (es.message_guid, doc.message_guid),
    ):
        try:
            convert(raw)
        except GoalkeeperError as error:
            assert error.status == 400


xml_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(xml_text, xml_text, xml_text, xml_text)
def test_any_element_text_gives_a_value_or_a_family_error(
    gid: str, value: str, guid: str, channel: str
) -> None:
    def esc(s: str) -> str:
        return s.replace("&", "&amp;").replace("<", "&lt;")

    body = goals_xml(goal_id=esc(gid), value=esc(value), guid=esc(guid), channel=esc(channel))
    try:
        doc = es.parse_goals_document(body)
    except InvalidDocument:
        return  # characters XML 1.0 does not allow
    for convert, raw in (
        (es.goal_id, doc.goal_id),
        (es.goal_value, doc.goal_value),
        (es.channel, doc.channel),
        (es.message_guid, doc.message_guid),
    ):
        try:
            convert(raw)
        except GoalkeeperError as error:
            assert error.status == 400
