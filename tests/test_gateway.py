"""extract_tags: shapes, headers, merge order, limits, and never touching the input."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagcore.gateway import HEADER, extract_tags, parse_tags_header
from tagcore.tags import TagError, TagPolicy, normalize_tags


def chat_body(**extra):
    body = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hello"},
        ],
        "temperature": 0.2,
    }
    body.update(extra)
    return body


class CIHeaders(Mapping):
    """A case-insensitive, multi-valued mapping in the style of starlette's Headers."""

    def __init__(self, raw: list[tuple[bytes, bytes]]):
        self.raw = [(k.lower(), v) for k, v in raw]

    def __getitem__(self, key: str) -> str:
        for k, v in self.raw:
            if k == key.lower().encode("latin-1"):
                return v.decode("latin-1")
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(k.decode("latin-1") for k, _ in self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    def items(self):  # all pairs, duplicates included, like starlette
        return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.raw]


# --- the basic contract -------------------------------------------------------------------------


def test_dict_body():
    body = chat_body(request_tags=["customer/acme", " env / production ", "customer/acme"])
    tags, fwd = extract_tags(body)
    assert tags == ["customer/acme", "env/production"]
    assert fwd == chat_body()
    assert fwd is not body and "request_tags" in body
    assert all(fwd[k] is body[k] for k in fwd)  # no other field changes, shallow copy
    assert list(fwd) == ["model", "messages", "temperature"]


@pytest.mark.parametrize(
    "encode",
    [lambda s: s, str.encode, lambda s: bytearray(s.encode()), lambda s: memoryview(s.encode())],
)
def test_bytes_and_str_bodies(encode):
    text = json.dumps(chat_body(request_tags=["Caf\u00e9", "a//b"]), ensure_ascii=False)
    tags, fwd = extract_tags(encode(text))
    assert tags == ["Caf\u00e9", "a/b"]
    assert fwd == chat_body()


@pytest.mark.parametrize(
    "body", [chat_body(), chat_body(request_tags=None), chat_body(request_tags=[])]
)
def test_absent_or_null_tags_are_not_an_error(body):
    tags, fwd = extract_tags(body)
    assert tags == [] and fwd == chat_body()


def test_forwarded_is_always_new():
    body = {"model": "m"}
    tags, fwd = extract_tags(body)
    assert fwd == body and fwd is not body
    fwd["x"] = 1
    assert body == {"model": "m"}


def test_other_mapping_body():
    from types import MappingProxyType

    tags, fwd = extract_tags(MappingProxyType({"model": "m", "request_tags": ["a"]}))
    assert tags == ["a"] and fwd == {"model": "m"} and type(fwd) is dict


# --- malformed shapes -------------------------------------------------------------------------

MALFORMED = [
    # (body, code, param, index, text in message)
    (
        chat_body(request_tags="a,b"),
        "invalid_request_tags",
        "request_tags",
        None,
        "request_tags = 'a,b': must be a list of strings, got str",
    ),
    (chat_body(request_tags={"a": "b"}), "invalid_request_tags", "request_tags", None, "got dict"),
    (chat_body(request_tags=3), "invalid_request_tags", "request_tags", None, "got int"),
    (chat_body(request_tags=True), "invalid_request_tags", "request_tags", None, "got bool"),
    (
        chat_body(request_tags=["a", None]),
        "invalid_tag_type",
        "request_tags",
        1,
        "request_tags[1] = None: must be a string, got NoneType",
    ),
    (chat_body(request_tags=["a", ["b"]]), "invalid_tag_type", "request_tags", 1, "got list"),
    (chat_body(request_tags=[{"k": "v"}]), "invalid_tag_type", "request_tags", 0, "got dict"),
    (chat_body(request_tags=[1.5]), "invalid_tag_type", "request_tags", 0, "got float"),
    (chat_body(request_tags=["ok", "  "]), "empty_tag", "request_tags", 1, "is empty"),
    (chat_body(request_tags=["a\u2028b"]), "control_character", "request_tags", 0, "U+2028"),
    (chat_body(request_tags=["x" * 300]), "tag_too_long", "request_tags", 0, "300 UTF-8 bytes"),
    (
        chat_body(request_tags=["/".join("x" * 20)]),
        "tag_too_deep",
        "request_tags",
        0,
        "20 segments",
    ),
    (
        chat_body(request_tags=[f"t{i}" for i in range(65)]),
        "too_many_tags",
        "request_tags",
        64,
        "more than 64",
    ),
    (b'{"model": "m", ', "invalid_body", None, None, "body: is not valid JSON"),
    ("not json", "invalid_body", None, None, "is not valid JSON"),
    (b"\xff\xfe\x00", "invalid_body", None, None, "is not valid JSON"),
    (b"[1, 2]", "invalid_body", None, None, "body: must be a JSON object, got an array"),
    ('"text"', "invalid_body", None, None, "got a string"),
    (b"null", "invalid_body", None, None, "got null"),
    (b"3", "invalid_body", None, None, "got a number"),
    (b'{"request_tags": "a"}', "invalid_request_tags", "request_tags", None, "got str"),
    (b'{"request_tags": [null]}', "invalid_tag_type", "request_tags", 0, "= None"),
    (b'{"request_tags": ["\\ud800"]}', "invalid_unicode", "request_tags", 0, "U+D800"),
    ([{"model": "m"}], "invalid_body", None, None, "got list"),
    (None, "invalid_body", None, None, "got NoneType"),
]


@pytest.mark.parametrize(("body", "code", "param", "index", "text"), MALFORMED)
def test_malformed_is_a_400(body, code, param, index, text):
    before = copy.deepcopy(body) if not isinstance(body, memoryview) else None
    with pytest.raises(TagError) as info:
        extract_tags(body)
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.code, err.param, err.index) == (code, param, index)
    assert text in str(err)
    assert err.status_code == 400
    out = err.to_openai_error()
    assert list(out) == ["error"]
    assert list(out["error"]) == ["message", "type", "param", "code"]
    assert out["error"]["type"] == "invalid_request_error"
    assert out["error"]["message"] == str(err) and isinstance(out["error"]["message"], str)
    assert out["error"]["param"] == param and out["error"]["code"] == code
    assert json.loads(json.dumps(out)) == out
    assert body == before  # not modified, even on error


# --- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Request-Tags": "h1, h2"},
        {"x-request-tags": "h1, h2"},
        {"X-REQUEST-TAGS": "h1,h2", "Content-Type": "application/json"},
        [("x-request-tags", "h1, h2")],
        [(b"x-request-tags", b"h1, h2"), (b"content-type", b"application/json")],
        [(b"X-Request-Tags", b"h1"), (b"x-request-tags", b"h2")],  # two occurrences, in order
        httpx.Headers({"x-request-tags": "h1, h2"}),
        httpx.Headers([("X-Request-Tags", "h1"), ("x-request-tags", "h2")]),
        CIHeaders([(b"X-Request-Tags", b"h1,h2")]),
        CIHeaders([(b"x-request-tags", b"h1"), (b"x-request-tags", b"h2")]),
        {"X-Request-Tags": '["h1", "h2"]'},
        {"X-Request-Tags": b"h1, h2"},
    ],
    ids=lambda h: type(h).__name__,
)
def test_header_sources(headers):
    tags, fwd = extract_tags(chat_body(), headers=headers)
    assert tags == ["h1", "h2"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a,b", ["a", "b"]),
        (" a , b ,, ,c, ", ["a", "b", "c"]),  # empty items ignored
        ("", []),
        ("   ", []),
        (",,,", []),
        ("team/a%2Cb, x", ["team/a,b", "x"]),
        ("team/a%2cb", ["team/a,b"]),
        ("100%25, 50%", ["100%", "50%"]),  # a lone % is kept
        ("%2541", ["%41"]),  # decoded once only
        ("caf%C3%A9", ["caf\u00e9"]),
        ("a%2Fb", ["a/b"]),
        ('["a,b", "c"]', ["a,b", "c"]),
        ('  ["a"]  ', ["a"]),
        ('["caf\\u00e9", "100%25"]', ["caf\u00e9", "100%25"]),  # no percent-decoding in JSON
        ("[]", []),
        ("%5Bnot-json", ["[not-json"]),
        (b"caf\xc3\xa9", ["caf\u00e9"]),
    ],
)
def test_parse_tags_header(value, expected):
    assert parse_tags_header(value) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("[not json", "is not a valid JSON array"),
        ('["a"] junk', "is not a valid JSON array"),
        (b"\xff", "is not valid UTF-8"),
        ("caf%C3", "percent-encoded bytes are not valid UTF-8"),
    ],
)
def test_bad_header_values(value, text):
    body = chat_body(request_tags=["a"])
    before = copy.deepcopy(body)
    with pytest.raises(TagError) as info:
        extract_tags(body, headers={"X-Request-Tags": value})
    assert info.value.code == "invalid_request_tags"
    assert info.value.param == HEADER
    assert text in str(info.value)
    assert info.value.to_openai_error()["error"]["param"] == "X-Request-Tags"
    assert body == before


def test_header_element_errors_name_the_header():
    with pytest.raises(TagError) as info:
        extract_tags(chat_body(), headers={"x-request-tags": '["ok", 5]'})
    assert (info.value.param, info.value.index, info.value.code) == (HEADER, 1, "invalid_tag_type")
    assert str(info.value) == "X-Request-Tags[1] = 5: must be a string, got int"


def test_headers_that_are_not_headers():
    with pytest.raises(TypeError):
        extract_tags(chat_body(), headers="x-request-tags: a")


# --- merge order, dedup, limits -------------------------------------------------------------


def test_merge_order_and_dedup():
    body = chat_body(request_tags=["customer/acme", "env/production"])
    tags, _ = extract_tags(
        body,
        headers={"X-Request-Tags": "asia, customer/acme , env/production/"},
        default_tags=["key/k1", "asia", "customer/acme"],
    )
    assert tags == ["customer/acme", "env/production", "asia", "key/k1"]


def test_limit_applies_after_merge():
    p = TagPolicy(max_tags=3)
    body = chat_body(request_tags=["a", "b"])
    assert extract_tags(body, {"x-request-tags": "b, c"}, ["a", "c"], p)[0] == ["a", "b", "c"]
    with pytest.raises(TagError) as info:
        extract_tags(body, {"x-request-tags": "c"}, ["d"], p)
    assert (info.value.code, info.value.param, info.value.index) == (
        "too_many_tags",
        "default_tags",
        0,
    )
    with pytest.raises(TagError) as info:
        extract_tags(chat_body(request_tags=["a", "b", "c"]), {"x-request-tags": "d"}, policy=p)
    assert (info.value.code, info.value.param, info.value.index) == ("too_many_tags", HEADER, 0)


def test_drop_policy_truncates_and_reports_sources():
    p = TagPolicy(max_tags=3, on_invalid="drop")
    body = chat_body(request_tags=["a", None, "b"])
    tags, fwd = extract_tags(body, {"x-request-tags": "c, d, a"}, ["e"], p)
    assert tags == ["a", "b", "c"]
    assert [(d.param, d.index, d.code) for d in tags.dropped] == [
        ("request_tags", 1, "invalid_tag_type"),
        (HEADER, 1, "too_many_tags"),
        ("default_tags", 0, "too_many_tags"),
    ]
    assert fwd == chat_body()
    # shape errors are not "tags" and still raise under drop
    with pytest.raises(TagError):
        extract_tags(chat_body(request_tags="a"), policy=p)


def test_default_tags_shapes():
    assert extract_tags({}, default_tags=("a",))[0] == ["a"]
    assert extract_tags({}, default_tags=None)[0] == []  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="default_tags"):
        extract_tags({}, default_tags="a")  # type: ignore[arg-type]
    with pytest.raises(TagError) as info:
        extract_tags({}, default_tags=["ok", ""])
    assert (info.value.param, info.value.index) == ("default_tags", 1)


def test_case_policy_applies_to_all_sources():
    tags, _ = extract_tags(
        {"request_tags": ["Env/PROD"]},
        {"X-Request-Tags": "env/prod, ASIA"},
        ["asia"],
        TagPolicy(case="lower"),
    )
    assert tags == ["env/prod", "asia"]


# --- never mutates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "defaults"),
    [
        (chat_body(request_tags=["a", "b"]), None, ()),
        (chat_body(request_tags=["a", None]), None, ()),
        (chat_body(request_tags=[" a ", ["nested"]]), {"X-Request-Tags": "x"}, ["d"]),
        (chat_body(request_tags=("a",)), [("x-request-tags", "b")], ["a", "c"]),
        (chat_body(request_tags=[f"t{i}" for i in range(70)]), None, ()),
        (chat_body(request_tags="a"), {"x-request-tags": "[bad"}, []),
        ({"request_tags": ["a"], "metadata": {"k": ["v"]}}, {"x-request-tags": '["y"]'}, ["z"]),
    ],
)
@pytest.mark.parametrize("on_invalid", ["raise", "drop"])
def test_never_mutates(body, headers, defaults, on_invalid):
    snapshot = copy.deepcopy((body, headers, defaults))
    try:
        tags, fwd = extract_tags(body, headers, defaults, TagPolicy(on_invalid=on_invalid))
    except TagError:
        pass
    else:
        assert "request_tags" not in fwd and fwd is not body
        fwd.clear()
    assert (body, headers, defaults) == snapshot


# --- properties --------------------------------------------------------------------------------

tag_text = st.one_of(
    st.text(max_size=12),
    st.lists(st.sampled_from(list("ab/ ,%[]\t") + ["e\u0301", "\u00e9", "%2C"]), max_size=8).map(
        "".join
    ),
)
elements = st.one_of(tag_text, tag_text, st.none(), st.integers())


def encode_header(tags: list[str]) -> str:
    """The comma form, as a client would write it (the convention under test)."""
    return ", ".join(t.replace("%", "%25").replace(",", "%2C").replace("[", "%5B") for t in tags)


@settings(max_examples=200)
@given(st.lists(tag_text, max_size=8))
def test_property_header_comma_form_round_trips(tags):
    trimmed = []
    for t in tags:
        stripped = t.strip()
        if stripped:
            trimmed.append(stripped)
    assert parse_tags_header(encode_header(tags)) == trimmed


@settings(max_examples=200)
@given(st.lists(st.text(max_size=10), max_size=8))
def test_property_header_json_form_round_trips(tags):
    assert parse_tags_header(json.dumps(tags)) == tags


@settings(max_examples=300)
@given(
    body_tags=st.lists(elements, max_size=6),
    header_tags=st.lists(elements, max_size=4),
    defaults=st.lists(tag_text, max_size=3),
    max_tags=st.integers(1, 8),
    on_invalid=st.sampled_from(["raise", "drop"]),
    as_bytes=st.booleans(),
)
def test_property_extract_equals_normalizing_the_concatenation(
    body_tags, header_tags, defaults, max_tags, on_invalid, as_bytes
):
    policy = TagPolicy(max_tags=max_tags, on_invalid=on_invalid)
    body = chat_body(request_tags=body_tags)
    snapshot = copy.deepcopy(body)
    headers = [(b"x-request-tags", json.dumps(header_tags).encode())]
    merged = body_tags + header_tags + defaults
    arg = json.dumps(body).encode() if as_bytes else body
    try:
        expected = normalize_tags(merged, policy)
    except TagError as exc:
        with pytest.raises(TagError) as info:
            extract_tags(arg, headers, defaults, policy)
        assert info.value.code == exc.code
        # the merged index maps back to the element's own source and position
        offsets = {
            "request_tags": 0,
            HEADER: len(body_tags),
            "default_tags": len(body_tags) + len(header_tags),
        }
        assert offsets[info.value.param] + info.value.index == exc.index
    else:
        tags, fwd = extract_tags(arg, headers, defaults, policy)
        assert tags == expected
        assert [(d.code, d.value) for d in tags.dropped] == [
            (d.code, d.value) for d in expected.dropped
        ]
        assert fwd == chat_body()
    assert body == snapshot
