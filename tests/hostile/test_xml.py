"""Hostile input on the ExpertSender paths: a 4xx in the XML envelope, every time."""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
import zlib

import pytest

from tests.cases import ERROR_CASES, Case
from tests.fixtures import SPEC_GUID, SPEC_KEY, goals_xml
from tests.hostile.conftest import Target

INVALID = "Request is not a valid ApiRequest XML document."
DTD = "DTDs are not allowed."
TOO_LARGE = "Request body is too large."


def doc(inner: bytes) -> bytes:
    return (
        b"<ApiRequest><ApiKey>"
        + SPEC_KEY.encode()
        + b"</ApiKey><Data>"
        + inner
        + b"</Data></ApiRequest>"
    )


def _cases() -> list[Case]:
    extra = [
        Case(
            "quadratic-blowup-entity",
            b'<!DOCTYPE r [<!ENTITY a "'
            + b"x" * 5000
            + b'">]><ApiRequest><ApiKey>&a;&a;&a;</ApiKey><Data/></ApiRequest>',
            400,
            DTD,
        ),
        Case(
            "parameter-entity",
            b'<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x"> %p;]><ApiRequest/>',
            400,
            DTD,
        ),
        Case(
            "xinclude",
            b'<ApiRequest xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="/etc/passwd"/><Data/></ApiRequest>',
            403,
            "API key was invalid.",
        ),
        Case("processing-instruction-only", b"<?xml-stylesheet href='x'?>", 400, INVALID),
        Case("comment-only", b"<!-- nothing -->", 400, INVALID),
        Case("two-roots", doc(b"") + doc(b""), 400, INVALID),
        Case("text-after-root", doc(b"") + b"trailing", 400, INVALID),
        Case("unclosed-tag", b"<ApiRequest><Data>", 400, INVALID),
        Case("mismatched-tags", b"<ApiRequest><Data></ApiRequest></Data>", 400, INVALID),
        Case("bad-attribute", b"<ApiRequest a=b><Data/></ApiRequest>", 400, INVALID),
        Case("undefined-entity", doc(b"<GoalId>&nope;</GoalId>"), 400, INVALID),
        Case("char-ref-nul", doc(b"<GoalId>&#0;</GoalId>"), 400, INVALID),
        Case("char-ref-huge", doc(b"<GoalId>&#99999999;</GoalId>"), 400, INVALID),
        Case(
            "utf16-detected-without-bom",
            "<ApiRequest><Data/></ApiRequest>".encode("utf-16-le"),
            403,
            "API key was invalid.",
        ),
        Case(
            "unknown-encoding-declared",
            b'<?xml version="1.0" encoding="x-klingon"?><ApiRequest><Data/></ApiRequest>',
            400,
            INVALID,
        ),
        Case(
            "latin1-declared",
            b'<?xml version="1.0" encoding="ISO-8859-1"?>' + doc(b"<GoalId>\xe9</GoalId>"),
            400,
            "GoalId must be an integer.",
        ),
        Case("overlong-utf8", doc(b"<GoalId>\xc0\xb2</GoalId>"), 400, INVALID),
        Case("lone-surrogate-utf8", doc(b"<GoalId>\xed\xa0\x80</GoalId>"), 400, INVALID),
        Case(
            "bom-then-doc",
            b"\xef\xbb\xbf" + goals_xml(goal_id="99"),
            400,
            "Goal was not recognized.",
        ),
        Case("deep-nesting-in-data", doc(b"<x>" * 40 + b"</x>" * 40), 400, INVALID),
        Case("many-siblings", doc(b"<x/>" * 6000), 400, "GoalId is required."),
        Case("long-element-name", doc(b"<" + b"n" * 30000 + b"/>"), 400, "GoalId is required."),
        Case(
            "many-attributes",
            b"<ApiRequest "
            + b" ".join(b"a%d='1'" % i for i in range(3000))
            + b"><Data/></ApiRequest>",
            403,
            "API key was invalid.",
        ),
        Case(
            "cdata-goal-id",
            doc(
                b"<GoalId><![CDATA[2]]></GoalId><MessageGuid>00000000-0000-0000-0000-000000000009</MessageGuid>"
            ),
            400,
            "Message GUID was not recognized.",
        ),
        Case("goal-id-exponent", goals_xml(goal_id="2e0"), 400, "GoalId must be an integer."),
        Case(
            "goal-id-negative-zero-ok-but-unknown",
            goals_xml(goal_id="-0"),
            400,
            "Goal was not recognized.",
        ),
        Case("goal-id-20-digits", goals_xml(goal_id="9" * 20), 400, "GoalId must be an integer."),
        Case("goal-id-nbsp", goals_xml(goal_id="\u00a02"), 400, "GoalId must be an integer."),
        Case(
            "goal-id-int64-min",
            goals_xml(goal_id="-9223372036854775808"),
            400,
            "GoalId must be an integer.",
        ),
        Case(
            "goal-value-int64",
            goals_xml(value="9223372036854775807"),
            400,
            "GoalValue must be an integer.",
        ),
        Case("goal-value-thai-digits", goals_xml(value="๑๒"), 400, "GoalValue must be an integer."),
        Case("goal-value-comma", goals_xml(value="1,5"), 400, "GoalValue must be an integer."),
        Case("goal-value-inf", goals_xml(value="Infinity"), 400, "GoalValue must be an integer."),
        Case("goal-value-nan", goals_xml(value="NaN"), 400, "GoalValue must be an integer."),
        Case("channel-with-nul-ref", goals_xml(channel="Email&#0;"), 400, INVALID),
        Case(
            "channel-long",
            goals_xml(channel="E" * 50000),
            400,
            "Channel must be one of: All, Email, SmsMms, WebPush.",
        ),
        Case(
            "guid-with-spaces-inside",
            goals_xml(guid=SPEC_GUID.replace("-", " ")),
            400,
            "Message GUID was not recognized.",
        ),
        Case(
            "guid-mixed-brackets",
            goals_xml(guid="{" + SPEC_GUID + ")"),
            400,
            "Message GUID was not recognized.",
        ),
        Case(
            "guid-sql-injection",
            goals_xml(guid="' OR 1=1 --"),
            400,
            "Message GUID was not recognized.",
        ),
        Case("api-key-sql-injection", goals_xml(key="' OR '1'='1"), 403, "API key was invalid."),
        Case("api-key-huge", goals_xml(key="k" * 60000), 403, "API key was invalid."),
        Case(
            "api-key-nested-element",
            doc(b"").replace(
                b"<ApiKey>" + SPEC_KEY.encode() + b"</ApiKey>",
                b"<ApiKey><b>" + SPEC_KEY.encode() + b"</b></ApiKey>",
            ),
            403,
            "API key was invalid.",
        ),
        Case(
            "gzip-of-garbage",
            gzip.compress(b"\x00\x01garbage"),
            400,
            INVALID,
            headers=(("Content-Encoding", "gzip"),),
        ),
        Case(
            "gzip-declared-plain-body",
            goals_xml(),
            400,
            INVALID,
            headers=(("Content-Encoding", "gzip"),),
        ),
        Case(
            "gzip-twice",
            gzip.compress(gzip.compress(goals_xml())),
            400,
            INVALID,
            headers=(("Content-Encoding", "gzip"),),
        ),
        Case(
            "deflate-bomb-max-ratio",
            zlib.compress(b"\0" * 50_000_000, 9),
            413,
            TOO_LARGE,
            headers=(("Content-Encoding", "deflate"),),
        ),
        Case(
            "encoding-list",
            goals_xml(),
            415,
            "Content-Encoding must be gzip, deflate or identity.",
            headers=(("Content-Encoding", "gzip, br"),),
        ),
        Case(
            "content-length-lies-large",
            b"<ApiRequest/>",
            413,
            TOO_LARGE,
            headers=(("Content-Length-Override", "0"),),
        ),
        Case("huge-content-length-header", b"", 413, TOO_LARGE),
        Case("path-traversal", goals_xml(), 404, "Resource not found.", path="/v2/Api/../Api/Nope"),
        Case(
            "path-encoded-traversal",
            goals_xml(),
            404,
            "Resource not found.",
            path="/v2/Api/%2e%2e/%2e%2e/etc/passwd",
        ),
        Case("path-goals-suffix", goals_xml(), 404, "Resource not found.", path="/v2/Api/Goals/1"),
        Case("path-nul", goals_xml(), 404, "Resource not found.", path="/v2/Api/Goals%00"),
        Case("method-delete", b"", 405, "Only POST is allowed for this resource.", method="DELETE"),
        Case(
            "method-patch",
            goals_xml(),
            405,
            "Only POST is allowed for this resource.",
            method="PATCH",
        ),
        Case(
            "method-options", b"", 405, "Only POST is allowed for this resource.", method="OPTIONS"
        ),
        Case("method-head-old-path", b"", 405, "", method="HEAD", path="/Api/Goals"),
    ]
    return [*ERROR_CASES, *extra]


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_hostile_xml(target: Target, case: Case) -> None:
    headers = dict(case.headers)
    if case.id == "huge-content-length-header":
        headers["Content-Length"] = str(10**12)
    headers.pop("Content-Length-Override", None)
    if case.id == "content-length-lies-large":
        headers["Content-Length"] = str(10**7)
    try:
        response = target.http.request(case.method, case.path, content=case.body, headers=headers)
    except Exception as exc:  # the server may close a connection whose body it refused
        if case.id in ("huge-content-length-header", "content-length-lies-large"):
            target.after_case()
            return
        raise AssertionError(exc) from exc
    assert response.status_code == case.status, response.text[:300]
    assert 400 <= response.status_code < 500
    if case.method == "HEAD":
        assert response.headers["content-type"] == "text/xml; charset=utf-8"
    else:
        root = ET.fromstring(response.content)
        assert root.tag == "ApiResponse"
        assert root.findtext("ErrorMessage/Code") == str(case.status)
        assert root.findtext("ErrorMessage/Message") == case.message
    target.after_case()


READ_QUERIES = [
    ("activities-bad-month", "/v2/Api/Activities?apiKey={key}&date=2026-13-01&type=Goals", 400),
    ("activities-garbage-date", "/v2/Api/Activities?apiKey={key}&date=--&type=Goals", 400),
    ("activities-no-date", "/v2/Api/Activities?apiKey={key}&type=Goals", 400),
    ("activities-unknown-type", "/v2/Api/Activities?apiKey={key}&date=2026-11-01&type=Nope", 400),
    (
        "activities-unknown-channel",
        "/v2/Api/Activities?apiKey={key}&date=2026-11-01&type=Goals&channel=Fax",
        400,
    ),
    ("activities-no-key", "/v2/Api/Activities?date=2026-11-01&type=Goals", 403),
    ("activities-last-day", "/v2/Api/Activities?apiKey={key}&date=9999-12-31&type=Goals", 400),
    ("activities-before-1970", "/v2/Api/Activities?apiKey={key}&date=1969-12-31&type=Sends", 400),
    (
        "summary-last-days",
        "/v2/Api/SummaryStatistics?apiKey={key}&startDate=9999-12-30&endDate=9999-12-31",
        400,
    ),
    ("activities-arabic-digits", "/v2/Api/Activities?apiKey={key}&date=٢٠٢٦-11-01&type=Goals", 400),
    (
        "activities-ingest-key-of-other-account",
        "/v2/Api/Activities?apiKey={other}&date=2026-11-01&type=Nope",
        400,
    ),
    (
        "summary-reversed-range",
        "/v2/Api/SummaryStatistics?apiKey={key}&startDate=2026-11-30&endDate=2026-11-01",
        400,
    ),
    ("summary-garbage-date", "/v2/Api/SummaryStatistics?apiKey={key}&startDate=x", 400),
    ("summary-unknown-grouping", "/v2/Api/SummaryStatistics?apiKey={key}&grouping=Weather", 400),
    (
        "summary-ten-thousand-years",
        "/v2/Api/SummaryStatistics?apiKey={key}&startDate=0001-01-01&endDate=9999-12-31",
        400,
    ),
    ("summary-huge-key", "/v2/Api/SummaryStatistics?apiKey=" + "k" * 5000, 403),
    ("summary-two-keys", "/v2/Api/SummaryStatistics?apiKey={key}&apiKey=other", 400),
]


@pytest.mark.parametrize(
    ("case_id", "path", "status"), READ_QUERIES, ids=[q[0] for q in READ_QUERIES]
)
def test_hostile_read_queries(target: Target, case_id: str, path: str, status: int) -> None:
    url = path.format(key=target.world.admin_key, other=target.world.other_key)
    response = target.http.get(url)
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    root = ET.fromstring(response.content)
    assert root.findtext("ErrorMessage/Code") == str(status)
    assert root.findtext("ErrorMessage/Message")
    target.after_case()
