"""ExpertSender API v2 XML: the Goals request document and the error envelope.

Parsing uses expat with every DTD, entity declaration and external entity refused at
the first token, and no namespace processing, so root attributes may be written as
``xmlns:xsi=...`` or as plain ``xsi=...``. Element names are case-sensitive, values
are trimmed of XML whitespace, unknown elements are ignored, known ones may appear in
any order but only once.
"""

from __future__ import annotations

import dataclasses
import re
from typing import NoReturn
from xml.parsers import expat

from goalkeeper.errors import (
    ChannelInvalid,
    DtdNotAllowed,
    GoalIdInvalid,
    GoalIdRequired,
    GoalkeeperError,
    GoalValueInvalid,
    InvalidDocument,
    MessageGuidNotRecognized,
    MessageGuidRequired,
)
from goalkeeper.guid import parse_guid
from goalkeeper.model import INT32_MAX, INT32_MIN, Channel

_XML_WS = " \t\r\n"
_MAX_DEPTH = 32
_DATA_FIELDS = frozenset(("GoalId", "GoalValue", "MessageGuid", "Channel"))
# As .NET's int.Parse: an optional sign, then digits, leading zeros as many as sent; past
# them, at most the 10 digits a 32-bit integer has, so int() never sees a long string.
# The zeros are taken possessively: a long run of them is never backtracked into.
_INTEGER = re.compile(r"[+-]?(?=[0-9])0*+[0-9]{0,10}", re.ASCII)
_SHORT_INTEGER = 11  # a sign and 10 digits: int() takes the text as it is
_CHANNELS = {c.value: c for c in Channel}

# Marks a field that held child elements instead of text: present, but not a value.
_NOT_TEXT = "\x00"


@dataclasses.dataclass(frozen=True, slots=True)
class GoalsDocument:
    """The raw text of a Goals request, as found in the XML (None: element absent)."""

    api_key: str | None
    goal_id: str | None
    goal_value: str | None
    message_guid: str | None
    channel: str | None


class _Collector:
    """Expat callbacks that collect the few values a Goals request carries."""

    __slots__ = (
        "depth",
        "field",
        "field_depth",
        "fields",
        "path",
        "saw_api_key",
        "saw_data",
        "text",
    )

    def __init__(self) -> None:
        self.depth = 0
        self.path: list[str] = []
        self.field: str | None = None  # ApiKey or a Data child being read
        self.field_depth = 0
        self.text: list[str] = []
        self.fields: dict[str, str] = {}
        self.saw_data = False
        self.saw_api_key = False

    def start(self, name: str, _attrs: object) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise InvalidDocument()
        if self.depth == 1:
            if name != "ApiRequest":
                raise InvalidDocument()
        elif self.field is not None:
            self.fields[self.field] = _NOT_TEXT  # an element inside a value
        elif self.depth == 2:
            if name == "Data":
                if self.saw_data:
                    raise InvalidDocument()
                self.saw_data = True
            elif name == "ApiKey":
                if self.saw_api_key:
                    raise InvalidDocument()
                self.saw_api_key = True
                self._begin(name)
        elif self.depth == 3 and self.path[1] == "Data" and name in _DATA_FIELDS:
            if name in self.fields:
                raise InvalidDocument()
            self._begin(name)
        self.path.append(name)

    def _begin(self, name: str) -> None:
        self.field = name
        self.field_depth = self.depth
        self.text = []
        self.fields[name] = ""

    def end(self, name: str) -> None:
        if self.field is not None and self.depth == self.field_depth:
            if self.fields[name] != _NOT_TEXT:
                self.fields[name] = "".join(self.text)
            self.field = None
        self.path.pop()
        self.depth -= 1

    def chars(self, data: str) -> None:
        if self.field is not None:
            self.text.append(data)


def _refuse_dtd(*_args: object) -> NoReturn:
    raise DtdNotAllowed()


def _refuse_entity(*_args: object) -> int:
    raise DtdNotAllowed()


# The plain shape nearly every client sends, matched without expat: ASCII only, an
# optional <?xml?> declaration, attributes on the root only, ApiKey before Data, Data
# holding only known fields each once, no comments, entities, CDATA or carriage
# returns. Within that shape expat would return exactly the raw text of each field, so
# a match is its answer; anything else, valid or not, goes to expat.
_S = rb"[ \t\r\n]*"
_TEXT = rb"[\t\n\x20-\x25\x27-\x3b\x3d-\x5c\x5e-\x7e]*"  # no & < ] or CR
_ROOT_ATTRIBUTES = (
    rb'((?:[ \t\r\n]+[A-Za-z_][A-Za-z0-9_.:-]*="[\x20\x21\x23-\x25\x27-\x3b\x3d-\x7e]*")*)'
)
_PLAIN = re.compile(
    rb'(?:<\?xml version="1\.0"(?: encoding="[Uu][Tt][Ff]-8")?\?>)?' + _S
    + rb"<ApiRequest" + _ROOT_ATTRIBUTES + _S + rb">" + _S
    + rb"<ApiKey>(" + _TEXT + rb")</ApiKey>" + _S
    + rb"<Data>((?:" + _S + rb"<(GoalId|GoalValue|MessageGuid|Channel)>" + _TEXT + rb"</\4>)*)"
    + _S + rb"</Data>" + _S + rb"</ApiRequest>" + _S
)  # fmt: skip
# The plainest shape of all, which every known client sends: the fields in the order
# the method's documentation lists them, GoalValue and Channel optional. One match
# gives every field, with no loop; anything else goes through _PLAIN (same answers).
_COMMON = re.compile(
    rb'(?:<\?xml version="1\.0"(?: encoding="[Uu][Tt][Ff]-8")?\?>)?' + _S
    + rb"<ApiRequest" + _ROOT_ATTRIBUTES + _S + rb">" + _S
    + rb"<ApiKey>(" + _TEXT + rb")</ApiKey>" + _S + rb"<Data>" + _S
    + rb"<GoalId>(" + _TEXT + rb")</GoalId>" + _S
    + rb"(?:<GoalValue>(" + _TEXT + rb")</GoalValue>" + _S + rb")?"
    + rb"<MessageGuid>(" + _TEXT + rb")</MessageGuid>" + _S
    + rb"(?:<Channel>(" + _TEXT + rb")</Channel>" + _S + rb")?"
    + rb"</Data>" + _S + rb"</ApiRequest>" + _S
)  # fmt: skip
_PLAIN_FIELD = re.compile(rb"<(GoalId|GoalValue|MessageGuid|Channel)>(" + _TEXT + rb")</\1>")
_PLAIN_ATTRIBUTE = re.compile(rb'[ \t\r\n]+([A-Za-z_][A-Za-z0-9_.:-]*)="[^"]*"')


def _repeats_an_attribute(attributes: bytes) -> bool:
    """Whether the root's attributes name one twice (not well-formed: expat says how).

    A client sends the same attributes (its namespace declarations) with every
    request, so the answer for the last few distinct ones is kept.
    """
    if attributes.count(b"=") < 2:
        return False
    known = _REPEATS.get(attributes)
    if known is None:
        names = _PLAIN_ATTRIBUTE.findall(attributes)
        known = len(set(names)) != len(names)
        if len(_REPEATS) >= _REPEATS_KEPT:
            _REPEATS.clear()
        _REPEATS[attributes] = known
    return known


_REPEATS: dict[bytes, bool] = {}
_REPEATS_KEPT = 64


def _parse_plain(body: bytes) -> GoalsDocument | None:
    """The document if it has the plain shape (see above), else None."""
    common = _COMMON.fullmatch(body)
    if common is not None:
        if _repeats_an_attribute(common.group(1)):
            return None
        key, goal, value, guid, channel = common.group(2, 3, 4, 5, 6)
        return GoalsDocument(
            api_key=key.decode("ascii"),
            goal_id=goal.decode("ascii"),
            goal_value=None if value is None else value.decode("ascii"),
            message_guid=guid.decode("ascii"),
            channel=None if channel is None else channel.decode("ascii"),
        )
    match = _PLAIN.fullmatch(body)
    if match is None:
        return None
    if _repeats_an_attribute(match.group(1)):
        return None
    fields: dict[bytes, str] = {}
    for name, text in _PLAIN_FIELD.findall(match.group(3)):
        if name in fields:
            return None
        fields[name] = text.decode("ascii")
    return GoalsDocument(
        api_key=match.group(2).decode("ascii"),
        goal_id=fields.get(b"GoalId"),
        goal_value=fields.get(b"GoalValue"),
        message_guid=fields.get(b"MessageGuid"),
        channel=fields.get(b"Channel"),
    )


def parse_goals_document(body: bytes) -> GoalsDocument:
    """The values of a Goals request; InvalidDocument or DtdNotAllowed if it is not one."""
    plain = _parse_plain(body)
    if plain is not None:
        return plain
    return _parse_expat(body)


def _parse_expat(body: bytes) -> GoalsDocument:
    collector = _Collector()
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.UnparsedEntityDeclHandler = _refuse_dtd
    parser.ExternalEntityRefHandler = _refuse_entity
    parser.StartElementHandler = collector.start
    parser.EndElementHandler = collector.end
    parser.CharacterDataHandler = collector.chars
    parser.buffer_text = True
    try:
        parser.Parse(body, True)
    except expat.ExpatError:
        raise InvalidDocument() from None
    except GoalkeeperError:
        raise
    except (ValueError, LookupError, RecursionError):  # LookupError: unknown encoding
        raise InvalidDocument() from None
    if not collector.saw_data:
        raise InvalidDocument()
    fields = collector.fields
    return GoalsDocument(
        api_key=fields.get("ApiKey"),
        goal_id=fields.get("GoalId"),
        goal_value=fields.get("GoalValue"),
        message_guid=fields.get("MessageGuid"),
        channel=fields.get("Channel"),
    )


def api_key(raw: str | None) -> str:
    """The presented key, trimmed ("" when absent: refused as invalid by the core)."""
    return (raw or "").strip(_XML_WS)


def _int32(text: str) -> int | None:
    if not _INTEGER.fullmatch(text):
        return None
    if len(text) > _SHORT_INTEGER:  # leading zeros: drop them before int()
        digits = text.lstrip("+-").lstrip("0") or "0"
        text = "-" + digits if text[0] == "-" else digits
    value = int(text)
    return value if INT32_MIN <= value <= INT32_MAX else None


def goal_id(raw: str | None) -> int:
    text = (raw or "").strip(_XML_WS)
    if not text:
        raise GoalIdRequired()
    value = _int32(text)
    if value is None:
        raise GoalIdInvalid()
    return value


def goal_value(raw: str | None) -> int:
    """Absent or empty means 0 (a public PHP client always sends the element)."""
    text = (raw or "").strip(_XML_WS)
    if not text:
        return 0
    value = _int32(text)
    if value is None:
        raise GoalValueInvalid()
    return value


def channel(raw: str | None) -> Channel | None:
    """None (absent or empty) and ``All`` both mean: any channel."""
    text = (raw or "").strip(_XML_WS)
    if not text:
        return None
    found = _CHANNELS.get(text)
    if found is None:
        raise ChannelInvalid()
    return found


def message_guid(raw: str | None) -> bytes:
    text = (raw or "").strip(_XML_WS)
    if not text:
        raise MessageGuidRequired()
    value = parse_guid(text)
    if value is None:
        raise MessageGuidNotRecognized()
    return value


_ENVELOPE_HEAD = (
    '<ApiResponse xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xmlns:xsd="http://www.w3.org/2001/XMLSchema">\r\n'
    "  <ErrorMessage>\r\n"
)


def error_body(status: int, message: str) -> bytes:
    """The ExpertSender error envelope: Code equal to the HTTP status, one Message."""
    text = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        f"{_ENVELOPE_HEAD}    <Code>{status}</Code>\r\n    <Message>{text}</Message>\r\n"
        "  </ErrorMessage>\r\n</ApiResponse>"
    ).encode()
