"""MessageGuid text forms and issuing.

Accepted forms (any letter case) are the four .NET ones: ``D`` (hyphenated), ``N``
(32 digits), ``B`` (braces) and ``P`` (parentheses). Only ASCII hex digits count:
``int()`` would accept Arabic-Indic digits, so nothing here relies on it.
GUIDs goalkeeper issues are UUIDv7: time-ordered, so the registry grows at its edge.
"""

from __future__ import annotations

import os
import re
import time
import uuid

_GUID = re.compile(
    r"""
    (?P<n>[0-9a-f]{32})
    | (?P<d>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})
    | \{(?P<b>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}
    | \((?P<p>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\)
    """,
    re.ASCII | re.IGNORECASE | re.VERBOSE,
)


def parse_guid(text: str) -> bytes | None:
    """The 16 bytes of a GUID in any .NET form, or None if ``text`` is not one."""
    if len(text) == 36 and text[8] == text[13] == text[18] == text[23] == "-":
        # The usual form, checked first and without the regular expression: with the
        # four hyphens in place, 32 hex digits must remain. bytes.fromhex refuses
        # anything but ASCII hex digits and whitespace, and whitespace, or a hyphen
        # elsewhere, leaves fewer than 16 bytes.
        try:
            raw = bytes.fromhex(text.replace("-", ""))
        except ValueError:
            return None
        return raw if len(raw) == 16 else None
    if len(text) > 38:
        return None
    match = _GUID.fullmatch(text)
    if match is None:
        return None
    digits = next(g for g in match.groups() if g is not None)
    return bytes.fromhex(digits.replace("-", ""))


def format_guid(raw: bytes) -> str:
    """The canonical (upper-case ``D``) form, as ExpertSender prints GUIDs."""
    return str(uuid.UUID(bytes=raw)).upper()


def uuid7() -> uuid.UUID:
    """A new time-ordered UUID (RFC 9562 version 7)."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)
