"""The OpenAPI 3.1 document of ``/api/v1``, served at ``/api/v1/openapi.json``.

Written out by hand from the same limits the wire adapter enforces (imported from
:mod:`goalkeeper.wire.json_api`, so a limit changes in one place); a test checks that
it names exactly the routes the server mounts, and schemathesis checks that the live
server answers as it says.
"""

from __future__ import annotations

from typing import Any

from goalkeeper import __version__
from goalkeeper.model import INT32_MAX, INT64_MAX, INT64_MIN
from goalkeeper.wire.json_api import (
    MAX_FULFILLMENTS,
    MAX_IDEMPOTENCY_KEY,
    MAX_RECIPIENTS,
    MAX_TEXT,
    MAX_WINDOW_DAYS,
)

Schema = dict[str, Any]

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


def int_range(low: int, high: int) -> Schema:
    return {"type": "integer", "minimum": low, "maximum": high}


# Also refused, beyond what the schema can say: a blank text (spaces only).
TEXT: Schema = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}
TIME: Schema = {
    "type": "string",
    "format": "date-time",
    "description": "RFC 3339, e.g. 2026-11-27T10:00:00Z",
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
            "default_value": nullable(INT64),
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
            "sent_at": nullable(TIME),
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
    "Messages": obj(["messages"], {"messages": {"type": "array", "items": ref("Message")}}),
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
            "value": nullable(INT64),
            "channel": nullable({"type": "string", "enum": ["All", "Email", "SmsMms", "WebPush"]}),
            "idempotency_key": nullable(
                {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY}
            ),
            "occurred_at": nullable(TIME),
        },
        "value: integer in minor units, default 0. occurred_at: default now; refused when"
        " in the future or older than the server's max_occurred_age_days.",
    ),
    "FulfillmentBatch": obj(
        ["fulfillments"],
        {
            "fulfillments": {
                "type": "array",
                "maxItems": MAX_FULFILLMENTS,
                "description": "Each item is checked on its own against Fulfillment: an item"
                " that is not one is rejected in its own result, never failing the batch.",
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
    400: "Bad input: invalid JSON, a missing, unknown or mistyped field, a value out of range",
    401: "api_key_required: no Authorization: Bearer <key> header",
    403: "api_key_invalid (unknown or revoked key) or forbidden (the key's scope is too narrow)",
    404: "Not found (also another account's objects)",
    405: "Method not allowed",
    409: "Conflict: the object already exists",
    413: "Body too large",
    415: "Unsupported Content-Encoding",
    429: "Too many requests (retry after Retry-After)",
    503: "Storage unavailable (retry after Retry-After)",
}
_WITH_BODY = (400, 401, 403, 405, 413, 415, 429, 503)
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
        "get": operation("List the account's messages", (200, "Messages"), _WITHOUT_BODY),
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


SCHEMAS["Report"] = {
    "type": "object",
    "required": ["rows", "tz"],
    "properties": {
        "tz": {"type": "string"},
        "rows": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "fulfillments",
                    "unique_recipients",
                    "value",
                    "recipients",
                    "conversion_rate",
                ],
                "properties": {
                    "goal_id": {"type": "integer"},
                    "goal_name": {"type": "string"},
                    "message_id": {"type": "integer"},
                    "message_name": {"type": "string"},
                    "channel": {"type": "string"},
                    "day": {"type": "string", "format": "date"},
                    "fulfillments": {"type": "integer"},
                    "unique_recipients": {"type": "integer"},
                    "value": {"type": "integer"},
                    "recipients": {"type": "integer"},
                    "conversion_rate": {"type": ["number", "null"]},
                },
            },
        },
    },
}
INT_TEXT: Schema = {"type": "string", "pattern": r"^(?:-?[0-9]{1,18})?$"}
DAY: Schema = {"type": "string", "pattern": r"^(?:\d{4}-\d{2}-\d{2})?$"}
PATHS["/api/v1/reports/goals"] = {
    "get": operation(
        "The goal report: counted fulfillments, unique recipients, value, conversion",
        (200, "Report"),
        _WITHOUT_BODY,
        params=[
            _query("from", DAY, "First day, inclusive, in tz (empty: absent)"),
            _query("to", DAY, "Last day, inclusive, in tz (empty: absent)"),
            _query("by", {"type": "string"}, "Comma-separated: goal, message, channel, day"),
            _query("tz", {"type": "string"}, "IANA zone name, default UTC"),
            _query("goal_id", INT_TEXT, "Only this goal (empty: absent)"),
            _query("message_id", INT_TEXT, "Only this message (empty: absent)"),
            _query(
                "channel",
                {"type": "string", "enum": ["", "All", "Email", "SmsMms", "WebPush"]},
                "Only this channel (empty: absent)",
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
            "required": True,
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
