"""The SDK's exceptions, and how an error answer (JSON or XML envelope) becomes one.

Their hierarchy is drawn in the docstring of :mod:`goalkeeper.client`.

``code`` is goalkeeper's stable cause (``"goal_not_recognized"``...). The XML envelope
of the ExpertSender paths carries no code: it is found from the message where the
message is one goalkeeper sends, and is None otherwise (e.g. from ExpertSender itself).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import html
import json
import re

import httpx

from goalkeeper import errors as _family


class GoalkeeperClientError(Exception):
    """Base of every exception the client raises on purpose."""


class ArgumentError(GoalkeeperClientError):
    """A call the client refuses before sending anything: one of its arguments is wrong."""


class ArgumentValueError(ArgumentError, ValueError):
    """An argument of the right type with a value the client cannot send (also a
    ValueError): an empty or malformed API key, a naive datetime..."""


class ArgumentTypeError(ArgumentError, TypeError):
    """An argument of the wrong type (also a TypeError): an id that is not an int..."""


class NetworkError(GoalkeeperClientError):
    """The request got no answer (connection, timeout, protocol), retries included."""

    def __init__(self, message: str, cause: httpx.TransportError):
        super().__init__(message)
        self.cause = cause


class ApiError(GoalkeeperClientError):
    """The server answered with an error."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        retry_after: float | None = None,
    ):
        super().__init__(f"{status} {code or 'error'}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


class BadRequestError(ApiError):
    pass


class AuthenticationError(ApiError):
    pass


class PermissionDeniedError(ApiError):
    pass


class NotFoundError(ApiError):
    pass


class ConflictError(ApiError):
    pass


class PayloadTooLargeError(ApiError):
    pass


class RateLimitedError(ApiError):
    pass


class ServiceUnavailableError(ApiError):
    pass


class ServerError(ApiError):
    pass


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    429: RateLimitedError,
    503: ServiceUnavailableError,
}


def _codes_by_message() -> dict[str, str]:
    found: dict[str, str] = {}
    todo: list[type[_family.GoalkeeperError]] = [_family.GoalkeeperError]
    while todo:
        cls = todo.pop()
        found.setdefault(cls.message, cls.code)
        todo.extend(cls.__subclasses__())
    return found


_CODES = _codes_by_message()
_XML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.DOTALL)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asks to wait (delta-seconds or an HTTP date), if any."""
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def error_from_response(response: httpx.Response) -> ApiError:
    """The typed exception for an error answer, from either envelope."""
    status = response.status_code
    code: str | None = None
    message = response.reason_phrase or "error"
    text = response.text
    try:
        body = json.loads(text) if text.lstrip().startswith("{") else None
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = error.get("code") if isinstance(error.get("code"), str) else None
        if isinstance(error.get("message"), str):
            message = error["message"]
    else:
        found = _XML_MESSAGE.search(text)
        if found:
            message = html.unescape(found.group(1).strip())
            code = _CODES.get(message)
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    if status == 403 and code == _family.Forbidden.code:
        cls = PermissionDeniedError
    return cls(status, code, message, retry_after(response))
