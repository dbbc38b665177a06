"""Recording fulfillments: authentication, the writer, and the answer per request.

The wire adapters turn bytes into typed values and call :class:`Ingestor`; it checks
the key, hands the request to the group-commit writer and returns what was stored or
raises the error the store found (unknown GUID, unknown goal).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from goalkeeper.core.keys import KeyCache
from goalkeeper.core.ratelimit import RateLimiter
from goalkeeper.core.writer import FulfillmentWriter
from goalkeeper.errors import ApiKeyInvalid, GoalkeeperError
from goalkeeper.model import ApiKey, FulfillmentRequest, Scope, Stored

INGEST_SCOPES = (Scope.ADMIN, Scope.INGEST)


class Ingestor:
    def __init__(self, keys: KeyCache, writer: FulfillmentWriter, limiter: RateLimiter):
        self.keys = keys
        self.writer = writer
        self.limiter = limiter

    async def authenticate(
        self,
        key: str,
        scopes: Sequence[Scope] = INGEST_SCOPES,
        narrow: type[GoalkeeperError] = ApiKeyInvalid,
    ) -> ApiKey:
        """The key's record if it may act with one of ``scopes`` now.

        Every front door authenticates here. An unknown or revoked key raises
        ApiKeyInvalid; a valid key of another scope raises ``narrow`` (the XML paths
        answer it like an invalid key, the JSON API says ``forbidden``); a key over its
        rate limit raises RateLimited.
        """
        hit, record = self.keys.cached(key)
        if not hit:
            record = await asyncio.to_thread(self.keys.resolve, key)
        if record is None:
            raise ApiKeyInvalid()
        if record.scope not in scopes:
            raise narrow()
        if not self.limiter.take(record):  # the common case needs no await
            await self.limiter.acquire(record)
        return record

    async def fulfill(self, request: FulfillmentRequest) -> Stored:
        """Store one fulfillment durably (or find its earlier twin) and say which."""
        outcome = await self.writer.submit(request)
        if isinstance(outcome, GoalkeeperError):
            raise outcome
        return outcome
