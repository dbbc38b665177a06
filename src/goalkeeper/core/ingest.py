"""Recording fulfillments: authentication, the writer, and the answer per request.

The wire adapters turn bytes into typed values and call :class:`Ingestor`; it checks
the key, hands the request to the group-commit writer and returns what was stored or
raises the error the store found (unknown GUID, unknown goal). :class:`GoalDefaults`
gives a JSON fulfillment sent without a value its goal's ``default_value`` before the
hand-over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from goalkeeper.core.keys import KeyCache
from goalkeeper.core.ratelimit import RateLimiter
from goalkeeper.core.writer import FulfillmentWriter
from goalkeeper.errors import ApiKeyInvalid, GoalkeeperError
from goalkeeper.model import ApiKey, FulfillmentRequest, Scope, Stored
from goalkeeper.store.base import Store
from goalkeeper.wire.json_api import FulfillmentInput

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
        record = await self.identify(key, scopes, narrow)
        if not self.limiter.take(record):  # the common case needs no await
            await self.limiter.acquire(record)
        return record

    async def identify(
        self,
        key: str,
        scopes: Sequence[Scope] = INGEST_SCOPES,
        narrow: type[GoalkeeperError] = ApiKeyInvalid,
    ) -> ApiKey:
        """:meth:`authenticate` without the rate limit, for a caller that has more to
        check before the request may count against the key's limit (:meth:`limit`)."""
        hit, record = self.keys.cached(key)
        if not hit:
            record = await asyncio.to_thread(self.keys.resolve, key)
        if record is None:
            raise ApiKeyInvalid()
        if record.scope not in scopes:
            raise narrow()
        return record

    async def limit(self, record: ApiKey) -> None:
        """Count one request against the key's rate limit; raises RateLimited."""
        if not self.limiter.take(record):
            await self.limiter.acquire(record)

    async def fulfill(self, request: FulfillmentRequest) -> Stored:
        """Store one fulfillment durably (or find its earlier twin) and say which."""
        outcome = await self.writer.submit(request)
        if isinstance(outcome, GoalkeeperError):
            raise outcome
        return outcome


class GoalDefaults:
    """Each goal's ``default_value``, for JSON fulfillments sent without a value.

    The parser puts in the defaults this cache knows (:meth:`known`); :meth:`apply`
    looks up those it did not, with one store call, and remembers them. Goals are never
    changed once created, so a default is kept for the life of the process (up to
    ``max_goals`` goals, then all are forgotten at once). An explicit value, 0
    included, is kept; an unknown goal stays as it is, for the writer to refuse.
    """

    def __init__(self, store: Store, max_goals: int = 100_000):
        self._store = store
        self._max_goals = max_goals
        self._size = 0
        self._by_account: dict[int, dict[int, int]] = {}

    def known(self, account_id: int) -> Mapping[int, int]:
        """Goal id to default value, for the account's goals seen so far."""
        return self._by_account.get(account_id, _NONE)

    async def apply(
        self, account_id: int, items: list[FulfillmentInput | GoalkeeperError]
    ) -> list[FulfillmentInput | GoalkeeperError]:
        """``items`` with the default value put into each that still needs it."""
        pending = [
            (index, item)
            for index, item in enumerate(items)
            if type(item) is FulfillmentInput and item.needs_default
        ]
        if not pending:
            return items
        defaults = await self._load(account_id)
        out = list(items)
        for index, (goal_id, guid, _, channel, key, occurred, _) in pending:
            default = defaults.get(goal_id)
            if default is not None:
                out[index] = FulfillmentInput(goal_id, guid, default, channel, key, occurred)
        return out

    async def value_of(self, account_id: int, goal_id: int) -> int:
        """One goal's default value; 0 for an unknown goal, which the writer refuses."""
        known = self.known(account_id).get(goal_id)
        if known is None:
            known = (await self._load(account_id)).get(goal_id, 0)
        return known

    async def _load(self, account_id: int) -> dict[int, int]:
        goals = await asyncio.to_thread(self._store.list_goals, account_id)
        defaults = {goal.id: goal.default_value for goal in goals}
        self._remember(account_id, defaults)
        return defaults

    def _remember(self, account_id: int, defaults: dict[int, int]) -> None:
        old = self._by_account.pop(account_id, _NONE)
        self._size -= len(old)
        if self._size + len(defaults) > self._max_goals:
            self._by_account.clear()
            self._size = 0
        self._by_account[account_id] = defaults
        self._size += len(defaults)


_NONE: Mapping[int, int] = {}
