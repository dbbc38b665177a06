"""MessageGuid text forms: the fast path for the hyphenated form agrees with the rule."""

from __future__ import annotations

import re
import uuid

from hypothesis import example, given
from hypothesis import strategies as st

from goalkeeper.guid import format_guid, parse_guid

# The rule, spelled out once more: the four .NET forms, ASCII hex digits in any case.
_HEX = "[0-9a-fA-F]"
_D = f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
_RULE = re.compile(rf"{_HEX}{{32}}|{_D}|\{{{_D}\}}|\({_D}\)")


def by_the_rule(text: str) -> bytes | None:
    if not _RULE.fullmatch(text):
        return None
    return bytes.fromhex("".join(c for c in text if c not in "-{}()"))


def forms(value: uuid.UUID) -> list[str]:
    d = str(value)
    return [d, d.upper(), value.hex, f"{{{d}}}", f"({d.upper()})"]


# Characters that could slip through a looser check: whitespace bytes.fromhex skips,
# digits int() would take, hyphens, braces, a NUL, non-ASCII letters.
_TRICKY = st.sampled_from([" ", "\t", "\n", "-", "{", ")", "\x00", "٣", "０", "g", "G", "é"])


@st.composite
def near_guids(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(forms(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        what = draw(st.sampled_from(["replace", "insert", "delete"]))
        char = draw(_TRICKY | st.characters(codec="utf-8"))
        if what == "replace" and at < len(text):
            text = text[:at] + char + text[at + 1 :]
        elif what == "insert":
            text = text[:at] + char + text[at:]
        elif text:
            text = text[:at] + text[at + 1 :]
    return text


@given(near_guids())
@example("0123456a-89ab-cdef-0123-456789abcde ")  # a space where a digit belongs
@example("0123456a-89ab-cdef-0123-456789abcd 1")  # one skipped between two pairs
@example("0123456a-89ab-cdef-0123-456789ab  ef")  # two skipped: 15 bytes
@example("0123456a-89ab-cdef-0123-45-789abc ef")  # a fifth hyphen and a space: 15 bytes
@example("0123456a-89ab-cdef-0123-4567-9abcdef")  # a fifth hyphen
@example("0123456a-89ab-cdef-0123-٣56789abcdef")  # an Arabic-Indic digit
def test_parse_guid_follows_the_rule(text: str) -> None:
    assert parse_guid(text) == by_the_rule(text)


@given(st.integers(0, 2**128 - 1))
def test_every_form_reads_back_the_same_bytes(n: int) -> None:
    value = uuid.UUID(int=n)
    assert {parse_guid(text) for text in forms(value)} == {value.bytes}
    assert parse_guid(format_guid(value.bytes)) == value.bytes
