"""The synchronous client."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from goalkeeper.client import _base
from goalkeeper.client._base import Call, Json, RetryPolicy, T
from goalkeeper.client._exceptions import ArgumentTypeError, NetworkError, error_from_response


class Client:
    """goalkeeper (or ExpertSender, for :meth:`fulfill_goal`) over HTTP, blocking.

    ``transport`` is handed to :class:`httpx.Client`: pass ``httpx.MockTransport(handler)``
    to test code that uses the client without a server, and without patching. An empty or
    malformed ``api_key``, or a ``base_url`` that is not an http(s) URL, raises
    :class:`ArgumentValueError` here, before anything is sent.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self.api_key = _base.check_api_key(api_key)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ArgumentTypeError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(
            base_url=_base.check_base_url(base_url),
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": _base.USER_AGENT},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, call: Call[T]) -> T:
        headers = dict(call.headers)
        if call.bearer:
            headers["Authorization"] = f"Bearer {self.api_key}"
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(
                    call.method,
                    call.path,
                    json=call.json,
                    content=call.content,
                    headers=headers,
                    params=call.params,
                )
            except _base.UNSENDABLE as exc:
                raise call.unsendable(exc) from exc
            except httpx.TransportError as exc:
                wait = self.retry.delay(attempt) if call.retries_error(exc) else None
                if wait is None:
                    raise NetworkError(f"{call.method} {call.path}: {exc!r}", exc) from exc
                time.sleep(wait)
                continue
            if response.is_success:
                return call.read(response)
            error = error_from_response(response)
            if call.retries_status(response.status_code):
                wait = self.retry.delay(attempt, error.retry_after)
                if wait is not None:
                    time.sleep(wait)
                    continue
            raise error

    # -- ExpertSender's Goals method (XML) -------------------------------------------------

    def fulfill_goal(
        self,
        goal_id: int,
        message_guid: str | uuid.UUID,
        value: int = 0,
        channel: str | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        """Record one fulfillment through the XML Goals method; one key for every retry."""
        key = idempotency_key or _base.new_idempotency_key()
        self._run(_base.fulfill_goal(self.api_key, goal_id, message_guid, value, channel, key))

    # -- the JSON API ----------------------------------------------------------------------

    def create_goal(
        self,
        name: str,
        id: int | None = None,
        counting: str | None = None,
        window_days: int | None = None,
        default_value: int | None = None,
    ) -> Json:
        return self._run(_base.create_goal(name, id, counting, window_days, default_value))

    def list_goals(self) -> list[Json]:
        return self._run(_base.list_goals())

    def get_goal(self, goal_id: int) -> Json:
        return self._run(_base.get_goal(goal_id))

    def create_message(
        self,
        name: str,
        channel: str,
        list: str | None = None,
        sent_at: dt.datetime | str | None = None,
    ) -> Json:
        return self._run(_base.create_message(name, channel, list, sent_at))

    def list_messages(self, after: int = 0, limit: int = 1000) -> list[Json]:
        """Up to ``limit`` (1,000 at most) messages with ids above ``after``, by id; when a
        page is full, the next starts after its last message's id."""
        return self._run(_base.list_messages(after, limit))

    def get_message(self, message_id: int) -> Json:
        return self._run(_base.get_message(message_id))

    def add_recipients(
        self, message_id: int, recipients: Sequence[str | Mapping[str, str | uuid.UUID]]
    ) -> list[Json]:
        """Register sends: subscriber ids (a GUID is issued) or {"subscriber_id", "guid"}."""
        return self._run(_base.add_recipients(message_id, recipients))

    def personalize(self, message_id: int, content: str, guid: str | uuid.UUID) -> str:
        return self._run(_base.personalize(message_id, content, guid))

    def record_fulfillment(
        self,
        goal_id: int,
        message_guid: str | uuid.UUID,
        value: int | None = None,
        channel: str | None = None,
        idempotency_key: str | None = None,
        occurred_at: dt.datetime | str | None = None,
        *,
        validate_only: bool = False,
    ) -> Json:
        """One fulfillment through the JSON API: ``{"id", "status"}`` (or a verdict)."""
        item = _base.fulfillment_item(
            goal_id, message_guid, value, channel, idempotency_key, occurred_at
        )
        return self._run(_base.record_fulfillment(item, validate_only))

    def record_fulfillments(
        self, items: Sequence[Mapping[str, Any]], *, validate_only: bool = False
    ) -> list[Json]:
        """Up to 1,000 fulfillments (keyword dicts of :meth:`record_fulfillment`'s
        arguments); one result per item, in order. Items without a key get one."""
        return self._run(_base.record_fulfillments(items, validate_only))

    def goal_report(
        self,
        start: dt.date | str | None = None,
        end: dt.date | str | None = None,
        by: Sequence[str] | str | None = None,
        tz: str | None = None,
    ) -> Json:
        return self._run(_base.goal_report(start, end, by, tz))
