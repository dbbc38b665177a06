"""API keys: issued once, stored as SHA-256 hashes, checked through a short-lived cache.

A key looks like ``gk_<prefix>_<secret>``: the 8-hex-digit prefix names the key in
listings and in ``goalkeeper keys revoke``; the 128-bit secret makes guessing useless,
so a fast hash is enough. The cache is per process and trusts an answer for
``key_cache_seconds``: that is the documented bound on how long a revoked key keeps
working in a process that has just seen it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Sequence

from goalkeeper.errors import InvalidField
from goalkeeper.model import ApiKey, Scope
from goalkeeper.store import Store
from goalkeeper.text import quoted

KEY_PREFIX = "gk_"
_MAX_KEY_LENGTH = 200


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


@dataclasses.dataclass(frozen=True)
class IssuedKey:
    key: str  # shown once, never stored
    record: ApiKey


# An Origin header as browsers send it: scheme, ASCII host (IDNs in punycode, IPv6 in
# brackets), optional port. Anything else could never match one.
_ORIGIN = re.compile(
    r"https?://(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def browser_origin(origin: str) -> str:
    """``origin`` as a browser sends it in the Origin header, which the beacon compares
    exactly: scheme and host in lower case, no default port (``https://Shop.Example:443``
    is ``https://shop.example``); InvalidField when no browser could send it."""
    if not (origin.isascii() and _ORIGIN.fullmatch(origin.lower())):
        raise InvalidField(
            f"Origin {quoted(origin)} must look like https://shop.example"
            " (scheme, host and an optional port; no path)."
        )
    scheme, _, rest = origin.lower().partition("://")
    host, port = rest, ""
    colon = rest.rfind(":")
    if colon > rest.rfind("]"):  # a port (an IPv6 address's colons are in brackets)
        host, port = rest[:colon], rest[colon + 1 :]
    if port:
        number = int(port)
        if not 0 < number <= 65535:
            raise InvalidField(f"Origin {quoted(origin)} has port {port}: ports are 1 to 65535.")
        port = "" if number == _DEFAULT_PORTS[scheme] else f":{number}"
    return f"{scheme}://{host}{port}"


def key_prefix(key: str) -> str:
    """The public prefix of a presented key, for logs ("?" when it is not shaped like
    one); never any of its secret part."""
    parts = key.split("_")
    if len(parts) == 3 and parts[0] == KEY_PREFIX[:-1] and re.fullmatch(r"[0-9a-f]{8}", parts[1]):
        return parts[1]
    return "?"


def create_key(
    store: Store,
    account_id: int,
    scope: Scope,
    origins: Sequence[str] = (),
    rate_limit: int | None = None,
) -> IssuedKey:
    """Issue a new key for an account; the plain key is returned once and never stored."""
    if scope is Scope.TRACKER and not origins:
        raise InvalidField("A tracker key needs at least one allowed origin (--origin).")
    if scope is not Scope.TRACKER and origins:
        raise InvalidField("Origins apply only to tracker keys.")
    origins = list(dict.fromkeys(browser_origin(origin) for origin in origins))
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_hex(16)}"
    record = store.insert_api_key(account_id, prefix, hash_key(key), scope, origins, rate_limit)
    return IssuedKey(key, record)


class KeyCache:
    """Resolves presented keys to their records, caching hits and misses briefly."""

    def __init__(self, store: Store, ttl_seconds: float, max_entries: int = 10_000):
        self._store = store
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: OrderedDict[bytes, tuple[float, ApiKey | None]] = OrderedDict()

    def cached(self, key: str) -> tuple[bool, ApiKey | None]:
        """(found in cache, record) without touching the store; cheap enough for the loop."""
        entry = self._entries.get(hash_key(key))
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def resolve(self, key: str) -> ApiKey | None:
        """The active key record for ``key``, or None (reads the store on a cache miss)."""
        if not key or len(key) > _MAX_KEY_LENGTH:
            return None
        digest = hash_key(key)
        now = time.monotonic()
        entry = self._entries.get(digest)
        if entry is not None and entry[0] >= now:
            return entry[1]
        record = self._store.find_api_key(digest)
        self._entries[digest] = (now + self._ttl, record)
        self._entries.move_to_end(digest)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return record

    def forget(self) -> None:
        self._entries.clear()
