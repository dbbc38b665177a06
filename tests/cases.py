"""The wire contract of the Goals method as data: every error-table row, every leniency
item. In-process and black-box tests run the same cases."""

from __future__ import annotations

import dataclasses
import gzip
import zlib

from tests.fixtures import (
    OTHER_GUID,
    PUSH_GUID,
    SMS_GUID,
    SPEC_GUID,
    SPEC_KEY,
    UNKNOWN_GUID,
    goals_xml,
)

INVALID_DOC = "Request is not a valid ApiRequest XML document."
GUID_UNKNOWN = "Message GUID was not recognized."
CHANNEL_MSG = "Channel must be one of: All, Email, SmsMms, WebPush."


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    body: bytes = b""
    status: int = 201
    message: str | None = None
    method: str = "POST"
    path: str = "/v2/Api/Goals"
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/xml"),)
    stored_value: int | None = None  # for 201 cases: the value stored
    response_headers: tuple[tuple[str, str], ...] = ()


def _xml(**kw: str | None) -> bytes:
    return goals_xml(**kw)  # type: ignore[arg-type]


def _raw_deflate(data: bytes) -> bytes:
    """A deflate stream without the zlib wrapper, as some clients send."""
    compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush()


ERROR_CASES = [
    # ApiKey
    Case(
        "api-key-missing",
        b"<ApiRequest><Data><GoalId>2</GoalId><MessageGuid>"
        + SPEC_GUID.encode()
        + b"</MessageGuid></Data></ApiRequest>",
        403,
        "API key was invalid.",
    ),
    Case("api-key-empty", _xml(key=""), 403, "API key was invalid."),
    Case("api-key-unknown", _xml(key="nope"), 403, "API key was invalid."),
    Case("api-key-case-matters", _xml(key=SPEC_KEY.upper()), 403, "API key was invalid."),
    # document
    Case("not-xml", b"hello", 400, INVALID_DOC),
    Case("empty-body", b"", 400, INVALID_DOC),
    Case("truncated", _xml()[:-10], 400, INVALID_DOC),
    Case("wrong-root", b"<ApiResponse><ApiKey>k</ApiKey><Data/></ApiResponse>", 400, INVALID_DOC),
    Case(
        "data-missing",
        b"<ApiRequest><ApiKey>" + SPEC_KEY.encode() + b"</ApiKey></ApiRequest>",
        400,
        INVALID_DOC,
    ),
    Case("root-case-matters", _xml().replace(b"ApiRequest", b"apirequest"), 400, INVALID_DOC),
    Case("data-twice", _xml().replace(b"</ApiRequest>", b"<Data/></ApiRequest>"), 400, INVALID_DOC),
    # GoalId
    Case("goal-id-missing", _xml(goal_id=None), 400, "GoalId is required."),
    Case("goal-id-empty", _xml(goal_id=""), 400, "GoalId is required."),
    Case("goal-id-blank", _xml(goal_id="   "), 400, "GoalId is required."),
    Case("goal-id-text", _xml(goal_id="two"), 400, "GoalId must be an integer."),
    Case("goal-id-decimal", _xml(goal_id="2.5"), 400, "GoalId must be an integer."),
    Case("goal-id-overflow", _xml(goal_id="2147483648"), 400, "GoalId must be an integer."),
    Case("goal-id-underflow", _xml(goal_id="-2147483649"), 400, "GoalId must be an integer."),
    Case("goal-id-400-digits", _xml(goal_id="9" * 400), 400, "GoalId must be an integer."),
    Case("goal-id-arabic-indic", _xml(goal_id="٢"), 400, "GoalId must be an integer."),
    Case("goal-id-unknown", _xml(goal_id="99"), 400, "Goal was not recognized."),
    Case("goal-id-of-other-account", _xml(goal_id="3"), 400, "Goal was not recognized."),
    # GoalValue
    Case("goal-value-text", _xml(value="12.50"), 400, "GoalValue must be an integer."),
    Case("goal-value-overflow", _xml(value="2147483648"), 400, "GoalValue must be an integer."),
    Case("goal-value-huge", _xml(value="1" * 400), 400, "GoalValue must be an integer."),
    # Channel
    Case("channel-unknown", _xml(channel="Fax"), 400, CHANNEL_MSG),
    Case("channel-case-matters", _xml(channel="email"), 400, CHANNEL_MSG),
    # MessageGuid
    Case("guid-missing", _xml(guid=None), 400, "MessageGuid is required."),
    Case("guid-empty", _xml(guid=""), 400, "MessageGuid is required."),
    Case("guid-malformed", _xml(guid="not-a-guid"), 400, GUID_UNKNOWN),
    Case("guid-unknown", _xml(guid=UNKNOWN_GUID), 400, GUID_UNKNOWN),
    Case("guid-of-other-account", _xml(guid=OTHER_GUID), 400, GUID_UNKNOWN),
    Case("guid-wrong-channel", _xml(channel="SmsMms"), 400, GUID_UNKNOWN),
    # DTDs
    Case(
        "doctype",
        b'<?xml version="1.0"?><!DOCTYPE ApiRequest>' + _xml(),
        400,
        "DTDs are not allowed.",
    ),
    Case(
        "billion-laughs",
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<ApiRequest><ApiKey>&lol2;</ApiKey><Data/></ApiRequest>",
        400,
        "DTDs are not allowed.",
    ),
    Case(
        "external-entity",
        b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<ApiRequest><ApiKey>&x;</ApiKey><Data/></ApiRequest>",
        400,
        "DTDs are not allowed.",
    ),
    # size
    Case(
        "too-large",
        b"<ApiRequest>" + b" " * 70_000 + b"</ApiRequest>",
        413,
        "Request body is too large.",
    ),
    Case(
        "gzip-bomb",
        gzip.compress(b"<ApiRequest>" + b" " * 10_000_000 + b"</ApiRequest>"),
        413,
        "Request body is too large.",
        headers=(("Content-Encoding", "gzip"),),
    ),
    Case(
        "deflate-bomb",
        zlib.compress(b"<ApiRequest>" + b" " * 10_000_000 + b"</ApiRequest>"),
        413,
        "Request body is too large.",
        headers=(("Content-Encoding", "deflate"),),
    ),
    # hostile bodies
    Case("binary-garbage", bytes(range(256)) * 10, 400, INVALID_DOC),
    Case("nul-byte-in-value", _xml(goal_id="2\x00"), 400, INVALID_DOC),
    Case("invalid-utf8", _xml().replace(b"<GoalId>2", b"<GoalId>\xff\xfe2"), 400, INVALID_DOC),
    Case(
        "nested-element-bomb",
        b"<ApiRequest><Data>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</Data></ApiRequest>",
        400,
        INVALID_DOC,
    ),
    Case(
        "ten-megabytes",
        b"<ApiRequest>" + b"x" * 10_000_000 + b"</ApiRequest>",
        413,
        "Request body is too large.",
    ),
    Case(
        "gzip-garbage",
        b"\x1f\x8b not really gzip",
        400,
        INVALID_DOC,
        headers=(("Content-Encoding", "gzip"),),
    ),
    Case(
        "gzip-truncated",
        gzip.compress(_xml())[:-12],
        400,
        INVALID_DOC,
        headers=(("Content-Encoding", "gzip"),),
    ),
    Case(
        "unknown-encoding",
        _xml(),
        415,
        "Content-Encoding must be gzip, deflate or identity.",
        headers=(("Content-Encoding", "br"),),
    ),
    Case("value-inside-element", _xml(goal_id="<x>2</x>"), 400, "GoalId must be an integer."),
    Case(
        "goal-id-twice",
        _xml().replace(b"<GoalId>2</GoalId>", b"<GoalId>2</GoalId><GoalId>1</GoalId>"),
        400,
        INVALID_DOC,
    ),
    Case(
        "api-key-twice",
        _xml().replace(b"</ApiRequest>", b"<ApiKey>x</ApiKey></ApiRequest>"),
        400,
        INVALID_DOC,
    ),
    Case("goal-id-fullwidth-digits", _xml(goal_id="２"), 400, "GoalId must be an integer."),
    Case("goal-id-hex", _xml(goal_id="0x2"), 400, "GoalId must be an integer."),
    Case("goal-id-underscore", _xml(goal_id="1_0"), 400, "GoalId must be an integer."),
    Case("guid-arabic-indic", _xml(guid="C7015756-95F3-4509-8C6C-759FEEC48F9١"), 400, GUID_UNKNOWN),
    Case("guid-urn-form", _xml(guid="urn:uuid:" + SPEC_GUID), 400, GUID_UNKNOWN),
    Case("guid-huge", _xml(guid="A" * 60_000), 400, GUID_UNKNOWN),
    # method and path
    Case(
        "get",
        b"",
        405,
        "Only POST is allowed for this resource.",
        method="GET",
        response_headers=(("allow", "POST"),),
    ),
    Case(
        "put",
        _xml(),
        405,
        "Only POST is allowed for this resource.",
        method="PUT",
        response_headers=(("allow", "POST"),),
    ),
    Case("unknown-path", _xml(), 404, "Resource not found.", path="/v2/Api/Nope"),
    Case("unknown-path-old-style", _xml(), 404, "Resource not found.", path="/Api/Nope"),
    # order: size before XML, XML before key, key before fields, GoalId before GUID
    Case("order-413-before-400", b"x" * 70_000, 413, "Request body is too large."),
    Case(
        "order-400-before-403", b"<ApiRequest><ApiKey>nope</ApiKey></ApiRequest>", 400, INVALID_DOC
    ),
    Case("order-403-before-goal-id", _xml(key="nope", goal_id="x"), 403, "API key was invalid."),
    Case(
        "order-goal-id-before-value",
        _xml(goal_id="x", value="y"),
        400,
        "GoalId must be an integer.",
    ),
    Case(
        "order-value-before-channel",
        _xml(value="y", channel="Fax"),
        400,
        "GoalValue must be an integer.",
    ),
    Case("order-channel-before-guid", _xml(channel="Fax", guid=None), 400, CHANNEL_MSG),
    Case("order-guid-before-goal", _xml(goal_id="99", guid=UNKNOWN_GUID), 400, GUID_UNKNOWN),
]

LENIENCY_CASES = [
    Case("path-v2", _xml(), stored_value=123),
    Case("path-without-v2", _xml(), path="/Api/Goals", stored_value=123),
    Case("path-lower-case", _xml(), path="/v2/api/goals", stored_value=123),
    Case("path-upper-case", _xml(), path="/V2/API/GOALS", stored_value=123),
    Case("content-type-application-xml", _xml(), headers=(("Content-Type", "application/xml"),)),
    Case("content-type-text-xml", _xml(), headers=(("Content-Type", "text/xml"),)),
    Case(
        "content-type-text-xml-charset",
        _xml(),
        headers=(("Content-Type", "text/xml;charset=UTF-8"),),
    ),
    Case(
        "content-type-app-xml-charset",
        _xml(),
        headers=(("Content-Type", "application/xml; charset=utf-8"),),
    ),
    Case(
        "content-type-form",
        _xml(),
        headers=(("Content-Type", "application/x-www-form-urlencoded"),),
    ),
    Case("content-type-none", _xml(), headers=()),
    Case("xml-declaration", b'<?xml version="1.0" encoding="UTF-8"?>' + _xml()),
    Case(
        "plain-root-attributes",
        _xml().replace(b"xmlns:xsi=", b"xsi=").replace(b"xmlns:xs=", b"xs="),
    ),
    Case(
        "no-root-attributes",
        b"<ApiRequest><ApiKey>" + SPEC_KEY.encode() + b"</ApiKey><Data><GoalId>2</GoalId>"
        b"<MessageGuid>" + SPEC_GUID.encode() + b"</MessageGuid></Data></ApiRequest>",
        stored_value=0,
    ),
    Case(
        "indentation",
        b"<ApiRequest>\r\n\t<ApiKey>"
        + SPEC_KEY.encode()
        + b"</ApiKey>\n  <Data>\n    <GoalId>2</GoalId>\n"
        b"    <GoalValue>7</GoalValue>\n    <MessageGuid>"
        + SPEC_GUID.encode()
        + b"</MessageGuid>\n  </Data>\n</ApiRequest>\n",
        stored_value=7,
    ),
    Case(
        "whitespace-inside-values",
        _xml(key=f" {SPEC_KEY} ", goal_id=" 2 ", value="\n 5 \t", guid=f"  {SPEC_GUID}\n"),
        stored_value=5,
    ),
    Case(
        "elements-any-order",
        b"<ApiRequest><Data><MessageGuid>"
        + SPEC_GUID.encode()
        + b"</MessageGuid><GoalValue>9</GoalValue>"
        b"<GoalId>2</GoalId></Data><ApiKey>" + SPEC_KEY.encode() + b"</ApiKey></ApiRequest>",
        stored_value=9,
    ),
    Case(
        "unknown-elements-ignored",
        _xml()
        .replace(b"<Data>", b"<Data><Extra>x</Extra><Nested><A>1</A></Nested>")
        .replace(b"</ApiRequest>", b"<Other/></ApiRequest>"),
        stored_value=123,
    ),
    Case("guid-lower-case", _xml(guid=SPEC_GUID.lower())),
    Case("guid-n-form", _xml(guid=SPEC_GUID.replace("-", "").lower())),
    Case("guid-b-form", _xml(guid="{" + SPEC_GUID + "}")),
    Case("guid-p-form", _xml(guid="(" + SPEC_GUID + ")")),
    Case("goal-value-empty", _xml(value=""), stored_value=0),
    Case(
        "goal-value-self-closing",
        _xml(value=None).replace(b"<Data>", b"<Data><GoalValue/>"),
        stored_value=0,
    ),
    Case("goal-value-absent", _xml(value=None), stored_value=0),
    Case("goal-value-negative", _xml(value="-50"), stored_value=-50),
    Case("goal-value-int32-max", _xml(value="2147483647"), stored_value=2147483647),
    Case("goal-value-plus-sign", _xml(value="+8"), stored_value=8),
    Case("channel-all", _xml(channel="All")),
    Case("channel-email", _xml(channel="Email")),
    Case("channel-sms", _xml(guid=SMS_GUID, channel="SmsMms")),
    Case("channel-webpush", _xml(guid=PUSH_GUID, channel="WebPush")),
    Case("channel-absent-any", _xml(guid=PUSH_GUID)),
    Case("gzip-body", gzip.compress(_xml()), headers=(("Content-Encoding", "gzip"),)),
    Case("deflate-body", zlib.compress(_xml()), headers=(("Content-Encoding", "deflate"),)),
    Case("raw-deflate-body", _raw_deflate(_xml()), headers=(("Content-Encoding", "deflate"),)),
    Case(
        "utf-16-document",
        ('<?xml version="1.0" encoding="UTF-16"?>' + _xml().decode()).encode("utf-16"),
    ),
]
