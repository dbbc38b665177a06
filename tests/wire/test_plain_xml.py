"""The Goals document's fast path agrees with expat on every document it accepts."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from goalkeeper.wire import expertsender as es
from tests.fixtures import SPEC_GUID, goals_xml

DECLARATIONS = [
    "",
    "",
    '<?xml version="1.0" encoding="utf-8"?>',
    '<?xml version="1.0"?>',
    '<?xml version="1.0" encoding="utf-8"?>',
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<?xml version="1.0" encoding="ISO-8859-1"?>',
    "<?xml version='1.0'?>",
    ' <?xml version="1.0"?>',
    "\ufeff",
]
SPACE = st.sampled_from(["", " ", "\n", "\r\n", "\t", "  \n  ", "\r"])
PLAIN_TEXT = st.text(alphabet=st.sampled_from(list("aZ09-{}() _.:>\t\n")), max_size=12)
# Characters that matter to XML: markup, entities, CDATA ends, CR, controls, non-ASCII.
HOSTILE_TEXT = st.text(
    alphabet=st.sampled_from(list("aZ09-{}() _.:>]&<;#\"'\r\n\t\x00\x01\x7féü\u2028")),
    max_size=12,
)
TEXT = st.one_of(PLAIN_TEXT, PLAIN_TEXT, PLAIN_TEXT, HOSTILE_TEXT)
ATTRIBUTE_NAMES = st.sampled_from(["xmlns:xsi", "xmlns:xs", "xmlns", "a", "b", "1x", "x y"])
FIELD_NAMES = st.sampled_from(
    ["GoalId", "GoalValue", "MessageGuid", "Channel", "GoalId", "goalid", "Other", "ApiKey"]
)


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    # Mostly well-shaped, so that many documents reach the fast path.
    usual = draw(st.integers(0, 3)) > 0
    attribute_names = draw(
        st.lists(st.sampled_from(["xmlns:xsi", "xmlns:xs", "a"]), max_size=3, unique=True)
        if usual
        else st.lists(ATTRIBUTE_NAMES, max_size=3)
    )
    attributes = "".join(f'{draw(SPACE) or " "}{n}="{draw(TEXT)}"' for n in attribute_names)
    field_names = draw(
        st.lists(st.sampled_from(es.GoalsDocument.__slots__[1:]), max_size=4, unique=True)
        if usual
        else st.lists(FIELD_NAMES, max_size=5)
    )
    if usual and draw(st.booleans()):  # the documented order: the quickest match
        field_names.sort(key=es.GoalsDocument.__slots__.index)
    fields = "".join(
        f"{draw(SPACE)}<{name}>{draw(TEXT)}</{name}>" for name in map(_element, field_names)
    )
    key = f"<ApiKey>{draw(TEXT)}</ApiKey>"
    data = f"<Data>{fields}{draw(SPACE)}</Data>"
    children = [key, data] if draw(st.integers(0, 3)) else [data, key]
    text = (
        f"{draw(st.sampled_from(DECLARATIONS))}{draw(SPACE)}<ApiRequest{attributes}{draw(SPACE)}>"
        f"{draw(SPACE)}{children[0]}{draw(SPACE)}{children[1]}{draw(SPACE)}</ApiRequest>"
        f"{draw(SPACE)}"
    )
    body = text.encode("utf-8")
    if not draw(st.integers(0, 3)):  # one byte changed somewhere
        at = draw(st.integers(0, len(body) - 1))
        body = body[:at] + bytes([draw(st.integers(0, 255))]) + body[at + 1 :]
    return body


def _element(name: str) -> str:
    return {"goal_id": "GoalId", "goal_value": "GoalValue", "message_guid": "MessageGuid"}.get(
        name, name.capitalize() if name == "channel" else name
    )


def expat_answer(body: bytes) -> es.GoalsDocument | str:
    try:
        return es._parse_expat(body)
    except Exception as error:
        return type(error).__name__


@settings(max_examples=3000, deadline=None)
@given(documents())
@example(goals_xml())
@example(b'<ApiRequest a="1" a="2"><ApiKey>k</ApiKey><Data></Data></ApiRequest>')
@example(b"<ApiRequest><ApiKey>k</ApiKey><Data><GoalId>1</GoalId><GoalId>2</GoalId></Data>"
         b"</ApiRequest>")  # fmt: skip
def test_the_fast_path_answers_as_expat_does(body: bytes) -> None:
    plain = es._parse_plain(body)
    if plain is not None:
        assert plain == expat_answer(body)
    assert expat_answer(body) == _answer(body)


def _answer(body: bytes) -> es.GoalsDocument | str:
    try:
        return es.parse_goals_document(body)
    except Exception as error:
        return type(error).__name__


def test_the_usual_documents_take_the_fast_path() -> None:
    assert es._parse_plain(goals_xml(channel="Email")) == es.GoalsDocument(
        "test_api_key1", "2", "123", SPEC_GUID, "Email"
    )
    declared = b'<?xml version="1.0" encoding="utf-8"?>\r\n' + goals_xml()
    assert es._parse_plain(declared) == es._parse_expat(declared)
    pretty = (
        b"<ApiRequest>\r\n  <ApiKey>k</ApiKey>\r\n  <Data>\r\n    <GoalId>7</GoalId>\r\n"
        b"    <MessageGuid>x</MessageGuid>\r\n  </Data>\r\n</ApiRequest>\r\n"
    )
    assert es._parse_plain(pretty) == es.GoalsDocument("k", "7", None, "x", None)


def test_anything_unusual_goes_to_expat() -> None:
    for body in (
        b"<ApiRequest><ApiKey>a&amp;b</ApiKey><Data/></ApiRequest>",
        b"<ApiRequest><ApiKey>k</ApiKey><Data><!-- c --></Data></ApiRequest>",
        b"<ApiRequest><ApiKey>k\r</ApiKey><Data></Data></ApiRequest>",
        b"<ApiRequest><Data></Data><ApiKey>k</ApiKey></ApiRequest>",
        b"<!DOCTYPE x><ApiRequest><ApiKey>k</ApiKey><Data></Data></ApiRequest>",
    ):
        assert es._parse_plain(body) is None


FIELD_TEXT = st.text(alphabet=st.sampled_from(list("aZ09-{}() _.:>\t\n")), max_size=40)
ATTRIBUTE_TEXT = st.text(alphabet=st.sampled_from(list("aZ09-{}() _./:>]")), max_size=40)
INNER_SPACE = st.sampled_from(["", " ", "\n", "\r\n", "\t"])


@st.composite
def plain_documents(draw: st.DrawFn) -> bytes:
    names = draw(st.lists(st.sampled_from(["xmlns:xsi", "xmlns:xs", "a"]), unique=True))
    attributes = "".join(f' {n}="{draw(ATTRIBUTE_TEXT)}"' for n in names)
    fields = draw(
        st.lists(st.sampled_from(["GoalId", "GoalValue", "MessageGuid", "Channel"]), unique=True)
    )
    data = "".join(f"{draw(INNER_SPACE)}<{n}>{draw(FIELD_TEXT)}</{n}>" for n in fields)
    return (
        f"{draw(st.sampled_from(DECLARATIONS[:5]))}{draw(INNER_SPACE)}<ApiRequest{attributes}>"
        f"{draw(INNER_SPACE)}<ApiKey>{draw(FIELD_TEXT)}</ApiKey>{draw(INNER_SPACE)}<Data>{data}"
        f"{draw(INNER_SPACE)}</Data>{draw(INNER_SPACE)}</ApiRequest>{draw(INNER_SPACE)}"
    ).encode()


@settings(max_examples=1000, deadline=None)
@given(plain_documents())
def test_plain_documents_take_the_fast_path_with_expats_answer(body: bytes) -> None:
    plain = es._parse_plain(body)
    assert plain is not None
    assert plain == es._parse_expat(body)


def test_the_documented_order_still_refuses_a_repeated_root_attribute() -> None:
    body = goals_xml().replace(b"<ApiRequest", b'<ApiRequest a="1" a="2"', 1)
    assert es._parse_plain(body) is None  # expat answers it (not well-formed)
    single = goals_xml().replace(b"<ApiRequest", b'<ApiRequest a="x=y"', 1)
    assert es._parse_plain(single) == es._parse_expat(single)
