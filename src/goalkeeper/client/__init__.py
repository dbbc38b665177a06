"""goalkeeper's Python client: :class:`Client` (blocking) and :class:`AsyncClient`.

``fulfill_goal`` speaks ExpertSender's XML Goals method, so the same client records
fulfillments against ExpertSender itself (its API address as ``base_url``) or against
goalkeeper; every other method is goalkeeper's JSON API (``/api/v1``)::

    from goalkeeper.client import Client

    with Client("http://127.0.0.1:8080", "gk_...") as gk:
        gk.fulfill_goal(2, "C7015756-95F3-4509-8C6C-759FEEC48F91", value=123)

Retries: network errors, 429 and 503 only, with exponential backoff and full jitter,
honouring ``Retry-After`` (:class:`RetryPolicy`). A fulfillment carries one
idempotency key, made once when not given, and reused by every retry, so a retry
never counts twice. A write that is not safe to repeat (``create_goal`` without an
id, ``create_message``, ``add_recipients`` that has GUIDs issued) is retried only when
the server cannot have acted on it: the connection was never made (refused, or timed
out while connecting), or the answer was 429 (goalkeeper rate-limits before doing
anything). After a 503 or a lost answer it raises at once: the write may have been
committed.

Testing without a server or patching: pass an httpx transport, e.g.
``Client(url, key, transport=httpx.MockTransport(handler))``.

Exceptions (all from :mod:`goalkeeper.client`)::

    GoalkeeperClientError            anything the client raises on purpose
    ├── ArgumentError                a call refused before anything is sent
    │   ├── ArgumentValueError       also a ValueError: empty or malformed API key, naive
    │   │                            datetime, a request httpx refuses to send
    │   └── ArgumentTypeError        also a TypeError: an id that is not an int, unknown
    │                                fields in a batch item
    ├── NetworkError                 no answer after the last retry (wraps the httpx error)
    └── ApiError                     the server answered an error: status, code, message
        ├── BadRequestError          400 (e.g. message_guid_not_recognized, unknown_field)
        ├── AuthenticationError      401 api_key_required, 403 api_key_invalid
        ├── PermissionDeniedError    403 forbidden (the key's scope is too narrow)
        ├── NotFoundError            404
        ├── ConflictError            409
        ├── PayloadTooLargeError     413
        ├── RateLimitedError         429, after the last retry (``retry_after``)
        ├── ServiceUnavailableError  503, after the last retry (``retry_after``)
        └── ServerError              any other 5xx
"""

from __future__ import annotations

from goalkeeper.client._async import AsyncClient
from goalkeeper.client._base import NO_RETRIES, RetryPolicy
from goalkeeper.client._exceptions import (
    ApiError,
    ArgumentError,
    ArgumentTypeError,
    ArgumentValueError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GoalkeeperClientError,
    NetworkError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    ServiceUnavailableError,
)
from goalkeeper.client._sync import Client

__all__ = [
    "NO_RETRIES",
    "ApiError",
    "ArgumentError",
    "ArgumentTypeError",
    "ArgumentValueError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "GoalkeeperClientError",
    "NetworkError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RetryPolicy",
    "ServerError",
    "ServiceUnavailableError",
]
