"""The OpenAPI 3.1 document of ``/api/v1``, served at ``/api/v1/openapi.json``.

Written out by hand from the same limits the wire adapter enforces (imported from
:mod:`goalkeeper.wire.json_api`, so a limit changes in one place); a test checks that
it names exactly the routes the server mounts, and schemathesis checks that the live
server answers as it says.
"""

from __future__ import annotations

from typing import Any

from goalkeeper import __version__
from goalkeeper.core.fulfillments import FUTURE_ALLOWANCE
from goalkeeper.model import INT32_MAX, INT64_MAX, INT64_MIN
from goalkeeper.wire.json_api import (
    MAX_FULFILLMENTS,
    MAX_IDEMPOTENCY_KEY,
    MAX_RECIPIENTS,
    MAX_TEXT,
    MAX_WINDOW_DAYS,
)

Schema = dict[str, Any]
FUTURE_SECONDS = int(FUTURE_ALLOWANCE.total_seconds())

GUID_PATTERN = (
    r"^(?:[0-9A-Fa-f]{32}"
    r"|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"|\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}"
    r"|\([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\))$"
)


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """An optional field: ``null`` means absent."""
    return {"anyOf": [schema, {"type": "null"}]}


# JSON Schema counts 1278.0 as an integer; the server does not (invalid_type): a value
# past 2**53 written as a float has already lost digits, and values are money.
WHOLE = "A JSON integer literal: 1278.0 or 1.278e3 is refused (invalid_type)."


def int_range(low: int, high: int) -> Schema:
    return {"type": "integer", "minimum": low, "maximum": high, "description": WHOLE}


# The characters str.isspace() counts as white space, which the server trims: spelled
# out, as regular expression engines disagree on what \s takes.
SPACE = (
    "\\t-\\r\\u001c-\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
)
# Not blank (one character at least that is not white space), and no NUL, which
# PostgreSQL cannot store. An unpaired surrogate (\ud800), which a JSON string may hold
# but UTF-8 cannot, is refused too: JSON Schema has no way to say so.
NOT_BLANK = f"^[^\\u0000]*[^\\u0000{SPACE}][^\\u0000]*$"
TEXT: Schema = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_TEXT,
    "pattern": NOT_BLANK,
    "description": "Trimmed of surrounding white space; refused (invalid_field) when blank"
    " or holding NUL (\\u0000) or an unpaired surrogate.",
}
# What the server reads: RFC 3339 with seconds and an offset, at most 9 fraction digits.
TIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


def date_time(description: str) -> Schema:
    return {
        "type": "string",
        "format": "date-time",
        "pattern": TIME_PATTERN,
        "description": "RFC 3339 with an offset, e.g. 2026-11-27T10:00:00Z (stored in UTC);"
        f" else time_invalid. {description}",
    }


GUID: Schema = {"type": "string", "pattern": GUID_PATTERN, "description": "A GUID in any .NET form"}
INT64 = int_range(INT64_MIN, INT64_MAX)
SEND_CHANNEL: Schema = {"type": "string", "enum": ["Email", "SmsMms", "WebPush"]}


def obj(required: list[str], properties: dict[str, Schema], description: str = "") -> Schema:
    out: Schema = {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }
    if description:
        out["description"] = description
    return out


SCHEMAS: dict[str, Schema] = {
    "Error": obj(
        ["error"],
        {
            "error": obj(
                ["status", "code", "message"],
                {
                    "status": {"type": "integer"},
                    "code": {"type": "string", "description": "Stable, one per cause"},
                    "message": {"type": "string"},
                },
            )
        },
    ),
    "NewGoal": obj(
        ["name"],
        {
            "name": TEXT,
            "id": nullable(int_range(1, INT32_MAX)),
            "counting": nullable({"type": "string", "enum": ["every", "once_per_recipient"]}),
            "window_days": nullable(int_range(1, MAX_WINDOW_DAYS)),
            "default_value": nullable(
                {
                    **INT64,
                    "description": "The value of a JSON fulfillment sent without one"
                    " (default 0). " + WHOLE,
                }
            ),
        },
    ),
    "Goal": obj(
        ["id", "name", "counting", "window_days", "default_value", "created_at"],
        {
            "id": int_range(1, INT32_MAX),
            "name": {"type": "string"},
            "counting": {"type": "string", "enum": ["every", "once_per_recipient"]},
            "window_days": {"type": ["integer", "null"]},
            "default_value": {"type": "integer"},
            "created_at": {"type": ["string", "null"], "format": "date-time"},
        },
    ),
    "Goals": obj(["goals"], {"goals": {"type": "array", "items": ref("Goal")}}),
    "NewMessage": obj(
        ["name", "channel"],
        {
            "name": TEXT,
            "channel": SEND_CHANNEL,
            "list": nullable(TEXT),
            "sent_at": nullable(
                date_time("From 1970-01-01T00:00:00Z up to, not including, 9000-01-01T00:00:00Z.")
            ),
        },
    ),
    "Message": obj(
        ["id", "name", "channel", "list", "sent_at"],
        {
            "id": {"type": "integer", "minimum": 1},
            "name": {"type": "string"},
            "channel": SEND_CHANNEL,
            "list": {"type": ["string", "null"]},
            "sent_at": {"type": ["string", "null"], "format": "date-time"},
        },
    ),
    "Messages": obj(
        ["messages", "next"],
        {
            "messages": {"type": "array", "items": ref("Message")},
            "next": {
                "type": ["string", "null"],
                "description": "The following page's URL when this one is full, else null",
            },
        },
    ),
    "NewRecipients": obj(
        ["recipients"],
        {
            "recipients": {
                "type": "array",
                "maxItems": MAX_RECIPIENTS,
                "items": obj(["subscriber_id"], {"subscriber_id": TEXT, "guid": nullable(GUID)}),
            }
        },
    ),
    "Recipients": obj(
        ["recipients"],
        {
            "recipients": {
                "type": "array",
                "items": obj(
                    ["subscriber_id", "guid"],
                    {"subscriber_id": {"type": "string"}, "guid": GUID},
                ),
            }
        },
    ),
    "Personalize": obj(["content", "guid"], {"content": {"type": "string"}, "guid": GUID}),
    "Personalized": obj(["content"], {"content": {"type": "string"}}),
    "Fulfillment": obj(
        ["goal_id", "message_guid"],
        {
            "goal_id": int_range(1, INT32_MAX),
            "message_guid": GUID,
            "value": nullable(
                {
                    **INT64,
                    "description": "In minor units; absent: the goal's default_value. " + WHOLE,
                }
            ),
            "channel": nullable({"type": "string", "enum": ["All", "Email", "SmsMms", "WebPush"]}),
            "idempotency_key": nullable(
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_IDEMPOTENCY_KEY,
                    "pattern": NOT_BLANK,
                    "description": "Kept exactly as given; refused (invalid_field) when blank"
                    " or holding NUL (\\u0000) or an unpaired surrogate.",
                }
            ),
            "occurred_at": nullable(
                date_time(
                    f"Absent: now. Refused when more than {FUTURE_SECONDS} s ahead of the"
                    " server's clock"
                    " (occurred_at_in_future) or older than its max_occurred_age_days,"
                    " 90 by default (occurred_at_too_old)."
                )
            ),
        },
        "A key repeated within the object keeps its last value.",
    ),
    "FulfillmentBatch": obj(
        ["fulfillments"],
        {
            "fulfillments": {
                "type": "array",
                "maxItems": MAX_FULFILLMENTS,
                "description": "Each item is checked on its own against Fulfillment: an item"
                " that is not one is rejected in its own result, never failing the batch, its"
                " error's message naming its place (fulfillments[2]...).",
                "items": {},
            }
        },
    ),
    "Result": {
        "type": "object",
        "required": ["status"],
        "additionalProperties": False,
        "properties": {
            "status": {
                "type": "string",
                "enum": ["accepted", "duplicate", "rejected", "valid"],
            },
            "id": {"type": "integer", "description": "The stored (or first) fulfillment"},
            "same_as": {
                "type": "integer",
                "description": "validate_only: a duplicate of this earlier item of the batch",
            },
            "error": ref("ErrorObject"),
        },
    },
    "Results": obj(["results"], {"results": {"type": "array", "items": ref("Result")}}),
}
SCHEMAS["ErrorObject"] = SCHEMAS["Error"]["properties"]["error"]

_ERRORS = {
    400: "Bad input: invalid JSON (or not UTF-8), a missing, unknown or mistyped field, a value"
    " out of range, a query parameter unknown or given more than once",
    401: "api_key_required: no Authorization: Bearer <key> header",
    403: "api_key_invalid (unknown or revoked key) or forbidden (the key's scope is too narrow)",
    404: "Not found (also another account's objects)",
    405: "Method not allowed",
    408: "request_timeout: the body was not received in time (sent too slowly)",
    409: "Conflict: the object already exists",
    413: "Body too large",
    415: "Unsupported Content-Encoding",
    429: "Too many requests (retry after Retry-After)",
    503: "Storage unavailable (retry after Retry-After)",
}
_WITH_BODY = (400, 401, 403, 405, 408, 413, 415, 429, 503)
_WITHOUT_BODY = (400, 401, 403, 405, 429, 503)


def _json(schema: Schema) -> Schema:
    return {"content": {"application/json": {"schema": schema}}}


def operation(
    summary: str,
    ok: tuple[int, str],
    errors: tuple[int, ...],
    body: str | None = None,
    params: list[Schema] | None = None,
) -> Schema:
    status, name = ok
    responses: dict[str, Any] = {str(status): {"description": summary, **_json(ref(name))}}
    for code in sorted(errors):
        responses[str(code)] = {"description": _ERRORS[code], **_json(ref("Error"))}
    out: Schema = {"summary": summary, "responses": responses}
    if body is not None:
        out["requestBody"] = {"required": True, **_json(ref(body))}
    if params:
        out["parameters"] = params
    return out


ID_PARAM: Schema = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}

PATHS: dict[str, dict[str, Schema]] = {
    "/api/v1/goals": {
        "post": operation("Define a goal", (201, "Goal"), (*_WITH_BODY, 409), body="NewGoal"),
        "get": operation("List the account's goals", (200, "Goals"), _WITHOUT_BODY),
    },
    "/api/v1/goals/{id}": {
        "get": operation("One goal", (200, "Goal"), (*_WITHOUT_BODY, 404), params=[ID_PARAM]),
    },
    "/api/v1/messages": {
        "post": operation("Register a message", (201, "Message"), _WITH_BODY, body="NewMessage"),
        "get": operation(
            "List the account's messages by id, a page at a time",
            (200, "Messages"),
            _WITHOUT_BODY,
            params=[
                {
                    "name": "after",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                    "description": "Messages with a larger id (default 0)",
                },
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    "description": "Most messages in the answer (default 1,000)",
                },
            ],
        ),
    },
    "/api/v1/messages/{id}": {
        "get": operation("One message", (200, "Message"), (*_WITHOUT_BODY, 404), params=[ID_PARAM]),
    },
    "/api/v1/messages/{id}/recipients": {
        "post": operation(
            f"Register up to {MAX_RECIPIENTS} sends; a GUID (UUIDv7) is issued where none is given",
            (201, "Recipients"),
            (*_WITH_BODY, 404, 409),
            body="NewRecipients",
            params=[ID_PARAM],
        ),
    },
    "/api/v1/messages/{id}/personalize": {
        "post": operation(
            "Replace every *[message_guid]* tag with a recipient's GUID",
            (200, "Personalized"),
            (*_WITH_BODY, 404),
            body="Personalize",
            params=[ID_PARAM],
        ),
    },
}

_FULFILL = operation(
    "Record one fulfillment (201) or a batch (200, one result per item, in order);"
    " validate_only=true checks everything and stores nothing (200)",
    (201, "Result"),
    _WITH_BODY,
    params=[
        {
            "name": "validate_only",
            "in": "query",
            "required": False,
            "schema": {"type": "boolean"},
        }
    ],
)
_FULFILL["requestBody"] = {
    "required": True,
    **_json({"oneOf": [ref("Fulfillment"), ref("FulfillmentBatch")]}),
}
_FULFILL["responses"]["200"] = {
    "description": "A batch's results, or a validate_only verdict",
    **_json({"oneOf": [ref("Results"), ref("Result")]}),
}
PATHS["/api/v1/fulfillments"] = {"post": _FULFILL}


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


_ROW_INT: Schema = {"type": "integer"}
SCHEMAS["ReportRow"] = {
    "type": "object",
    "description": "One group: its keys (only those grouped on), then its figures",
    "properties": {
        "goal_id": _ROW_INT,
        "goal_name": nullable({"type": "string"}),
        "message_id": _ROW_INT,
        "message_name": nullable({"type": "string"}),
        "channel": {"type": "string", "enum": ["Email", "SmsMms", "WebPush"]},
        "day": {"type": "string", "format": "date"},
        "fulfillments": _ROW_INT,
        "unique_recipients": _ROW_INT,
        "value": _ROW_INT,
        "recipients": _ROW_INT,
        "conversion_rate": nullable({"type": "number"}),
    },
    "required": ["fulfillments", "unique_recipients", "value", "recipients", "conversion_rate"],
}
SCHEMAS["Report"] = {
    "type": "object",
    "properties": {
        "from": {"type": "string", "format": "date"},
        "to": {"type": "string", "format": "date"},
        "tz": {"type": "string"},
        "by": {"type": "array", "items": {"type": "string"}},
        "rows": {"type": "array", "items": ref("ReportRow")},
        "totals": ref("ReportRow"),
    },
    "required": ["from", "to", "tz", "by", "rows", "totals"],
}
# Report parameters are never empty (a parameter given empty is refused: leave it out),
# except by, where empty means no grouping, as when absent.
_DAY: Schema = {
    "type": "string",
    "format": "date",
    "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    "description": "YYYY-MM-DD, from 1970-01-01 to 8999-12-31, inclusive, in tz;"
    " default: the 30 days up to today",
}
_QUERY_ID: Schema = {
    "type": "integer",
    "minimum": -(10**18 - 1),
    "maximum": 10**18 - 1,
}
PATHS["/api/v1/reports/goals"] = {
    "get": operation(
        "The goal report: counting rules and attribution windows applied, days in tz",
        (200, "Report"),
        _WITHOUT_BODY,
        params=[
            _query("from", _DAY, "First day, inclusive"),
            _query("to", _DAY, "Last day, inclusive"),
            _query(
                "by",
                {"type": "string"},
                "Comma-separated, any of goal, message, channel, day;"
                " empty or absent: no grouping, one row",
            ),
            _query("tz", {"type": "string", "minLength": 1}, "IANA time zone, default UTC"),
            _query("goal_id", _QUERY_ID, "Only this goal"),
            _query("message_id", _QUERY_ID, "Only this message"),
            _query(
                "channel",
                {"type": "string", "enum": ["All", "Email", "SmsMms", "WebPush"]},
                "Only this channel (All: every channel, as when absent)",
            ),
        ],
    )
}


_BEACON_ANSWER: Schema = {
    "description": "Always, also for bodies it refuses (oversized, malformed, foreign"
    " origin, unknown GUID): what it refused is logged and counted, never shown to the page"
}
# The browser beacon of tracker.js: a tracker key inside a text/plain body, no Bearer.
BEACON: dict[str, Schema] = {
    "post": {
        "summary": "Record a fulfillment from the browser (tracker key, allowed origins only)",
        "security": [],
        "requestBody": {
            # The beacon answers 204 to anything, no body included.
            "required": False,
            "content": {
                "text/plain": {
                    "schema": {
                        "type": "string",
                        "maxLength": 4096,
                        "description": 'A JSON object: {"key", "guid", "goal_id", "value"?,'
                        ' "order_id"?}; the same order_id for one goal is one fulfillment',
                    }
                }
            },
        },
        "responses": {"204": _BEACON_ANSWER},
    },
    "options": {
        "summary": "CORS preflight, answered for origins of active tracker keys",
        "security": [],
        "responses": {"204": _BEACON_ANSWER},
    },
}


def document() -> Schema:
    """The whole document (a fresh copy: callers may change it)."""
    paths: dict[str, Any] = {}
    for path, methods in PATHS.items():
        paths[path] = {
            method: {**op, "security": [{"bearer": []}]} for method, op in methods.items()
        }
    paths["/api/v1/beacon"] = BEACON
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "goalkeeper JSON API",
            "version": __version__,
            "description": "Goals, messages, the GUID registry and fulfillments."
            ' Every error is {"error": {"status", "code", "message"}}.',
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
