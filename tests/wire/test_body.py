"""Body limits and decompression: bounded memory whatever the input."""

from __future__ import annotations

import gzip
import zlib

import pytest

from goalkeeper.errors import BodyTooLarge, InvalidDocument, UnsupportedEncoding
from goalkeeper.wire.body import decode_content


def test_identity_and_missing_encoding_pass_through() -> None:
    assert decode_content(b"abc", None, 10) == b"abc"
    assert decode_content(b"abc", "identity", 10) == b"abc"


def test_gzip_within_limit() -> None:
    assert decode_content(gzip.compress(b"x" * 100), "gzip", 100) == b"x" * 100


def test_gzip_one_byte_over_limit() -> None:
    with pytest.raises(BodyTooLarge):
        decode_content(gzip.compress(b"x" * 101), "gzip", 100)


def test_bomb_is_refused_without_inflating_it() -> None:
    bomb = zlib.compress(b"\0" * 50_000_000, 9)  # ~50 KB in, 50 MB out
    with pytest.raises(BodyTooLarge):
        decode_content(bomb, "deflate", 65536)


def test_raw_deflate_accepted() -> None:
    c = zlib.compressobj(wbits=-15)
    assert decode_content(c.compress(b"hello") + c.flush(), "deflate", 100) == b"hello"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_garbage_is_invalid(encoding: str) -> None:
    with pytest.raises(InvalidDocument):
        decode_content(b"definitely not compressed", encoding, 100)


def test_unknown_encoding() -> None:
    with pytest.raises(UnsupportedEncoding):
        decode_content(b"x", "br", 100)
