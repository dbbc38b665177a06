"""The one error family of goalkeeper.

Every failure a client can see is a subclass of :class:`GoalkeeperError`. Each class
carries its HTTP status, a stable machine-readable ``code`` and the human-readable
wire message. The wire adapters render them (XML envelope on the ExpertSender paths,
``{"error": {...}}`` on the JSON API); nothing else builds an error response.

    GoalkeeperError
    ├── BadRequest (400)
    │   ├── InvalidDocument            invalid_document
    │   ├── DtdNotAllowed              dtd_not_allowed
    │   ├── GoalIdRequired             goal_id_required
    │   ├── GoalIdInvalid              goal_id_invalid
    │   ├── GoalNotRecognized          goal_not_recognized
    │   ├── GoalValueInvalid           goal_value_invalid
    │   ├── MessageGuidRequired        message_guid_required
    │   ├── MessageGuidNotRecognized   message_guid_not_recognized
    │   ├── ChannelInvalid             channel_invalid
    │   └── InvalidField               invalid_field (JSON and CLI validation)
    │       ├── InvalidJson            invalid_json (not one JSON document)
    │       ├── FieldRequired          field_required
    │       ├── UnknownField           unknown_field (names the fields)
    │       ├── FieldType              invalid_type (e.g. a string or bool for an integer)
    │       ├── OutOfRange             out_of_range (e.g. past signed 64 bits)
    │       ├── TooManyItems           too_many_items
    │       ├── GuidInvalid            guid_invalid
    │       ├── TimeInvalid            time_invalid (not RFC 3339 with an offset)
    │       ├── OccurredInFuture       occurred_at_in_future
    │       └── OccurredTooOld         occurred_at_too_old
    ├── ApiKeyRequired (401)           api_key_required (JSON API: no Bearer key), carries
    │                                  ``WWW-Authenticate``
    ├── ApiKeyInvalid (403)            api_key_invalid
    ├── Forbidden (403)                forbidden (key valid, scope too narrow)
    │   └── OriginNotAllowed           origin_not_allowed (beacon from a foreign site)
    ├── NotFound (404)                 not_found
    ├── MethodNotAllowed (405)         method_not_allowed, carries ``Allow``
    ├── Conflict (409)                 conflict
    ├── RequestTimeout (408)           request_timeout (body trickled in too slowly)
    ├── BodyTooLarge (413)             body_too_large
    ├── UnsupportedEncoding (415)      unsupported_content_encoding
    ├── RateLimited (429)              rate_limited, carries ``Retry-After``
    ├── InternalError (500)            internal_error
    └── StorageUnavailable (503)       unavailable, carries ``Retry-After``
"""

from __future__ import annotations


class GoalkeeperError(Exception):
    """Base of every error a client can see.

    ``message`` is what the client sees; ``detail``, when set, says more for the operator
    (logs, the command line, ``/readyz``) and never goes on the wire.
    """

    status: int = 500
    code: str = "internal_error"
    message: str = "Internal server error."
    detail: str | None = None

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None):
        if message is not None:
            self.message = message
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class BadRequest(GoalkeeperError):
    status = 400
    code = "bad_request"
    message = "Bad request."


class InvalidDocument(BadRequest):
    code = "invalid_document"
    message = "Request is not a valid ApiRequest XML document."


class DtdNotAllowed(BadRequest):
    code = "dtd_not_allowed"
    message = "DTDs are not allowed."


class GoalIdRequired(BadRequest):
    code = "goal_id_required"
    message = "GoalId is required."


class GoalIdInvalid(BadRequest):
    code = "goal_id_invalid"
    message = "GoalId must be an integer."


class GoalNotRecognized(BadRequest):
    code = "goal_not_recognized"
    message = "Goal was not recognized."


class GoalValueInvalid(BadRequest):
    code = "goal_value_invalid"
    message = "GoalValue must be an integer."


class MessageGuidRequired(BadRequest):
    code = "message_guid_required"
    message = "MessageGuid is required."


class MessageGuidNotRecognized(BadRequest):
    code = "message_guid_not_recognized"
    message = "Message GUID was not recognized."


class ChannelInvalid(BadRequest):
    code = "channel_invalid"
    message = "Channel must be one of: All, Email, SmsMms, WebPush."


class InvalidField(BadRequest):
    """A field of a JSON body, a CLI argument or an imported record is wrong."""

    code = "invalid_field"
    message = "A field is invalid."


class InvalidJson(InvalidField):
    code = "invalid_json"
    message = "The body must be one JSON document (UTF-8)."


class FieldRequired(InvalidField):
    code = "field_required"
    message = "A required field is missing."


class UnknownField(InvalidField):
    code = "unknown_field"
    message = "The body has a field this request does not take."


class FieldType(InvalidField):
    code = "invalid_type"
    message = "A field has the wrong JSON type."


class OutOfRange(InvalidField):
    code = "out_of_range"
    message = "A number is out of its allowed range."


class TooManyItems(InvalidField):
    code = "too_many_items"
    message = "The list has more items than one request may carry."


class GuidInvalid(InvalidField):
    code = "guid_invalid"
    message = "A GUID must be 32 hex digits, optionally hyphenated, braced or parenthesised."


class TimeInvalid(InvalidField):
    code = "time_invalid"
    message = "A time must be RFC 3339 with an offset, e.g. 2026-11-27T10:00:00Z."


class OccurredInFuture(InvalidField):
    code = "occurred_at_in_future"
    message = "occurred_at is in the future."


class OccurredTooOld(InvalidField):
    code = "occurred_at_too_old"
    message = "occurred_at is older than this server accepts."


class ApiKeyRequired(GoalkeeperError):
    status = 401
    code = "api_key_required"
    message = "An API key is required: Authorization: Bearer <key>."

    def __init__(self, message: str | None = None):
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class ApiKeyInvalid(GoalkeeperError):
    status = 403
    code = "api_key_invalid"
    message = "API key was invalid."


class Forbidden(GoalkeeperError):
    status = 403
    code = "forbidden"
    message = "This API key's scope does not allow this action."


class OriginNotAllowed(Forbidden):
    code = "origin_not_allowed"
    message = "This website is not an allowed origin of the tracker key."


class NotFound(GoalkeeperError):
    status = 404
    code = "not_found"
    message = "Resource not found."


class MethodNotAllowed(GoalkeeperError):
    status = 405
    code = "method_not_allowed"
    message = "Only POST is allowed for this resource."

    def __init__(self, allow: str = "POST", message: str | None = None):
        super().__init__(message, headers={"Allow": allow})


class Conflict(GoalkeeperError):
    status = 409
    code = "conflict"
    message = "The resource already exists."


class RequestTimeout(GoalkeeperError):
    status = 408
    code = "request_timeout"
    message = "Request body was not received in time."


class BodyTooLarge(GoalkeeperError):
    status = 413
    code = "body_too_large"
    message = "Request body is too large."


class UnsupportedEncoding(GoalkeeperError):
    status = 415
    code = "unsupported_content_encoding"
    message = "Content-Encoding must be gzip, deflate or identity."


class RateLimited(GoalkeeperError):
    status = 429
    code = "rate_limited"
    message = "Too many requests."

    def __init__(self, retry_after: int = 1, message: str | None = None):
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})


class InternalError(GoalkeeperError):
    status = 500
    code = "internal_error"
    message = "Internal server error."


class StorageUnavailable(GoalkeeperError):
    status = 503
    code = "unavailable"
    message = "Service temporarily unavailable."

    def __init__(self, retry_after: int = 1, detail: str | None = None):
        # The wire message stays fixed: the cause may name a file or a database host.
        super().__init__(headers={"Retry-After": str(max(1, retry_after))})
        self.detail = detail


class SchemaOutdated(Exception):
    """The database schema is not the one this goalkeeper expects (operator error)."""

    def __init__(self, current: int, latest: int):
        self.current = current
        self.latest = latest
        if current < latest:
            text = (
                f"The database schema is at version {current}, this goalkeeper needs {latest}:"
                " run `goalkeeper db upgrade`."
            )
        else:
            text = (
                f"The database schema is at version {current}, newer than this goalkeeper"
                f" ({latest}): upgrade goalkeeper."
            )
        super().__init__(text)
