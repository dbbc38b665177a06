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


def test_gzip_members_back_to_back_are_one_body() -> None:
    body = gzip.compress(b"<ApiRequest>") + gzip.compress(b"") + gzip.compress(b"</ApiRequest>")
    assert decode_content(body, "gzip", 100) == b"<ApiRequest></ApiRequest>"


def test_gzip_members_share_one_limit() -> None:
    two = gzip.compress(b"x" * 50) + gzip.compress(b"y" * 50)
    assert decode_content(two, "gzip", 100) == b"x" * 50 + b"y" * 50
    with pytest.raises(BodyTooLarge):
        decode_content(two + gzip.compress(b"z"), "gzip", 100)
    bomb = gzip.compress(b"x" * 60) + gzip.compress(b"\0" * 50_000_000)
    with pytest.raises(BodyTooLarge):
        decode_content(bomb, "gzip", 65536)


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "stream"),
    [
        ("gzip", gzip.compress(b"hello")),
        ("deflate", zlib.compress(b"hello")),
        ("deflate", _raw_deflate(b"hello")),
    ],
    ids=["gzip", "zlib", "raw-deflate"],
)
@pytest.mark.parametrize("after", [b"garbage", b"\0\0\0\0", b"\x1f\x8b"], ids=repr)
def test_bytes_after_the_stream_are_invalid(encoding: str, stream: bytes, after: bytes) -> None:
    assert decode_content(stream, encoding, 100) == b"hello"
    with pytest.raises(InvalidDocument):
        decode_content(stream + after, encoding, 100)


def test_a_second_zlib_stream_is_invalid() -> None:
    with pytest.raises(InvalidDocument):
        decode_content(zlib.compress(b"a") + zlib.compress(b"b"), "deflate", 100)


def test_truncated_second_gzip_member_is_invalid() -> None:
    with pytest.raises(InvalidDocument):
        decode_content(gzip.compress(b"a") + gzip.compress(b"b")[:-4], "gzip", 100)
