"""Reading request bodies within a byte limit, decompressing gzip and deflate.

The limit applies to the raw bytes as they arrive and again to the decompressed
bytes, which are produced in bounded steps: a compression bomb never makes more than
``limit + 1`` bytes exist in memory. A gzip body may be several members one after
another (RFC 1952), the limit applying to them all together; any other bytes after the
end of a compressed stream make the body invalid.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from goalkeeper.errors import BodyTooLarge, InvalidDocument, RequestTimeout, UnsupportedEncoding


class ClientDisconnected(Exception):
    """The client went away before its body arrived; there is nobody to answer."""


Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class BodyDeadlines:
    """Ends body reads that take longer than ``timeout`` seconds (senders that trickle).

    One sweep every second instead of a timer per request: registering a read costs a
    dict insert, where ``asyncio.timeout`` costs several microseconds on the hot path.
    A read is therefore ended between ``timeout`` and ``timeout`` + 1 s after it began.
    """

    def __init__(self, timeout: float):
        self.timeout = timeout
        self._reads: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    def stop(self) -> None:
        """Stop sweeping; the sweeper holds nothing, so it is not waited for."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, self.timeout / 2))
            now = loop.time()
            for task, deadline in list(self._reads.items()):
                if deadline <= now and task not in self._expired:
                    self._expired.add(task)
                    task.cancel()

    async def read(self, receive: Receive, limit: int, content_length: int | None = None) -> bytes:
        """:func:`read_body`, ended with RequestTimeout when it takes too long."""
        task = asyncio.current_task()
        assert task is not None
        self._reads[task] = asyncio.get_running_loop().time() + self.timeout
        try:
            return await read_body(receive, limit, content_length)
        except asyncio.CancelledError:
            if task not in self._expired:
                raise
            task.uncancel()
            raise RequestTimeout() from None
        finally:
            del self._reads[task]
            self._expired.discard(task)


async def read_body(receive: Receive, limit: int, content_length: int | None = None) -> bytes:
    """The whole request body, or BodyTooLarge as soon as it passes ``limit`` bytes."""
    if content_length is not None and content_length > limit:
        raise BodyTooLarge()
    first = await receive()
    if first["type"] != "http.request":
        raise ClientDisconnected()
    body: bytes = first.get("body", b"")
    if not first.get("more_body", False):
        if len(body) > limit:
            raise BodyTooLarge()
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnected()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def declared_length(value: str | None) -> int | None:
    """A Content-Length header's value as a number; None when absent or not ASCII digits
    (the HTTP parser refuses such a request before it gets here)."""
    if value and value.isascii() and value.isdigit():
        return int(value)
    return None


def decode_content(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body with its Content-Encoding undone, never more than ``limit`` bytes."""
    if encoding is None:
        return body
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return _inflate(body, 16 + zlib.MAX_WBITS, limit, members=True)
    if encoding == "deflate":
        # RFC 9110 "deflate" is the zlib format; some clients send a raw deflate stream.
        try:
            return _inflate(body, zlib.MAX_WBITS, limit)
        except InvalidDocument:
            return _inflate(body, -zlib.MAX_WBITS, limit)
    raise UnsupportedEncoding()


def _inflate(data: bytes, wbits: int, limit: int, members: bool = False) -> bytes:
    """One compressed stream, or with ``members`` (gzip) one or more back to back."""
    parts: list[bytes] = []
    room = limit
    while True:
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(data, room + 1)
        except zlib.error:
            raise InvalidDocument() from None
        if len(out) > room:
            raise BodyTooLarge()
        if not inflater.eof:
            if inflater.unconsumed_tail:
                raise BodyTooLarge()
            raise InvalidDocument()  # truncated stream
        data = inflater.unused_data
        if not data and not parts:
            return out
        parts.append(out)
        if not data:
            return b"".join(parts)
        if not members:
            raise InvalidDocument()  # bytes after the end of the stream
        room -= len(out)
