"""Tag normalization: a table of cases, a slow oracle, and hypothesis properties."""

from __future__ import annotations

import json
import pickle
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tagcore.tags import (
    DroppedTag,
    NormalizedTags,
    TagError,
    TagPolicy,
    normalize_tag,
    normalize_tags,
    tags_from_mapping,
)

# --- a slow, obviously-correct oracle, written from DESIGN.md and not from the code -------------

DEFAULT = TagPolicy()


def _is_control(ch: str) -> bool:
    o = ord(ch)
    return o <= 0x1F or 0x7F <= o <= 0x9F or o in (0x2028, 0x2029)


def _is_invisible(ch: str) -> bool:
    """DESIGN.md's look-alike code points: zero-width, word joiner, BOM, soft hyphen, bidi
    controls and isolates, tag characters."""
    o = ord(ch)
    return (o in (0x00AD, 0x2060, 0xFEFF) or 0x200B <= o <= 0x200D or 0x202A <= o <= 0x202E
            or 0x2066 <= o <= 0x2069 or 0xE0000 <= o <= 0xE007F)


def _trim(s: str) -> str:
    start, end = 0, len(s)
    while start < end and s[start].isspace():
        start += 1
    while end > start and s[end - 1].isspace():
        end -= 1
    return s[start:end]


def oracle_tag(tag: object, policy: TagPolicy = DEFAULT) -> tuple[str, str | None]:
    """(normalized, None) or (None, code), applying the rules one by one."""
    if not isinstance(tag, str):
        return None, "invalid_tag_type"
    s = unicodedata.normalize("NFC", tag)
    segments = []
    current = ""
    for ch in s + "/":
        if ch == "/":
            trimmed = _trim(current)
            if trimmed != "":
                segments.append(trimmed)
            current = ""
        else:
            current += ch
    out = "/".join(segments)
    if policy.case == "lower":
        out = unicodedata.normalize("NFC", out.casefold())
    if out == "":
        return None, "empty_tag"
    for ch in tag:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            return None, "invalid_unicode"
        if _is_control(ch):
            return None, "control_character"
        if _is_invisible(ch) and not policy.allow_invisible:
            return None, "invisible_character"
    if len(out.encode("utf-8")) > policy.max_tag_bytes:
        return None, "tag_too_long"
    if len(segments) > policy.max_depth:
        return None, "tag_too_deep"
    return out, None


def oracle_tags(tags, policy: TagPolicy = DEFAULT):
    """(kept tags, [(index, code)]) in drop mode; the first problem is what raise mode raises."""
    kept: list[str] = []
    problems: list[tuple[int, str]] = []
    for i, tag in enumerate(tags):
        out, code = oracle_tag(tag, policy)
        if code is not None:
            problems.append((i, code))
        elif out in kept:
            pass
        elif len(kept) == policy.max_tags:
            problems.append((i, "too_many_tags"))
        else:
            kept.append(out)
    return kept, problems


# --- the table ----------------------------------------------------------------------------------

LOWER = TagPolicy(case="lower")

VALID = [
    # (input, policy, expected)
    ("production", None, "production"),
    ("org/team/project", None, "org/team/project"),
    ("Cafe\u0301", None, "Caf\u00e9"),  # decomposed -> composed
    ("Caf\u00e9", None, "Caf\u00e9"),  # composed stays
    ("a//b", None, "a/b"),
    ("/a/b/", None, "a/b"),
    ("  UK / London ", None, "UK/London"),
    ("UK/London", None, "UK/London"),  # case kept by default
    ("UK/London", LOWER, "uk/london"),
    ("Stra\u00dfe", LOWER, "strasse"),  # casefold, not lower
    ("CAFE\u0301", LOWER, "caf\u00e9"),
    ("\u01f0", LOWER, "\u01f0"),  # casefold gives j + U+030C; NFC again recomposes it
    ("\u0390", LOWER, "\u0390"),
    ("\u0130", LOWER, "i\u0307"),  # no precomposed form: stays two code points
    ("\u00a0nbsp\u00a0/\u3000ideo\u3000", None, "nbsp/ideo"),  # Unicode white space is trimmed
    ("a / b c / d", None, "a/b c/d"),  # inner spaces kept
    ("///x///", None, "x"),
    ("x" * 256, None, "x" * 256),  # exactly at the byte limit
    ("/".join("abcdefghijklmnop"), None, "/".join("abcdefghijklmnop")),  # exactly 16 deep
    ("\u65e5\u672c/\u6771\u4eac", None, "\u65e5\u672c/\u6771\u4eac"),
    ("emoji/\U0001f680", None, "emoji/\U0001f680"),
]


@pytest.mark.parametrize(("raw", "policy", "expected"), VALID)
def test_normalize_valid(raw, policy, expected):
    assert normalize_tag(raw, policy) == expected
    assert oracle_tag(raw, policy or DEFAULT) == (expected, None)
    assert normalize_tag(expected, policy) == expected  # idempotent


INVALID = [
    # (input, code, text the message must contain)
    (None, "invalid_tag_type", "= None: must be a string, got NoneType"),
    (3, "invalid_tag_type", "= 3: must be a string, got int"),
    (1.5, "invalid_tag_type", "got float"),
    (True, "invalid_tag_type", "= True: must be a string, got bool"),
    (b"abc", "invalid_tag_type", "= b'abc': must be a string, got bytes"),
    (["a"], "invalid_tag_type", "got list"),
    ({"a": 1}, "invalid_tag_type", "got dict"),
    ("", "empty_tag", "= '': is empty after normalization"),
    ("   ", "empty_tag", "is empty"),
    ("/ / /", "empty_tag", "is empty"),
    ("a\x00b", "control_character", "= 'a\\x00b': contains control character U+0000"),
    ("a\tb", "control_character", "U+0009"),
    ("tag\n", "control_character", "U+000A"),  # not silently stripped as white space
    ("\rtag", "control_character", "U+000D"),
    ("a\x7fb", "control_character", "U+007F"),
    ("a\x85b", "control_character", "U+0085"),
    ("a\x9fb", "control_character", "U+009F"),
    ("a\u2028b", "control_character", "U+2028"),
    ("a\u2029", "control_character", "U+2029"),
    ("a\ud800b", "invalid_unicode", "U+D800"),
    ("x" * 257, "tag_too_long", "257 UTF-8 bytes, more than the limit of 256"),
    ("\u00e9" * 129, "tag_too_long", "258 UTF-8 bytes"),  # 129 chars, 258 bytes
    ("e\u0301" * 128, None, None),  # 256 chars, but 128 composed chars = 256 bytes: valid
    ("/".join("abcdefghijklmnopq"), "tag_too_deep", "17 segments, more than the limit of 16"),
]


@pytest.mark.parametrize(("raw", "code", "text"), INVALID)
def test_normalize_invalid(raw, code, text):
    if code is None:
        assert normalize_tag(raw) == "\u00e9" * 128
        return
    with pytest.raises(TagError) as info:
        normalize_tag(raw)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.code == code
    assert oracle_tag(raw)[1] == code
    assert text in str(err)
    assert str(err).startswith("request_tags = ")
    assert err.value is raw or err.value == raw
    assert err.index is None


def test_long_value_is_shortened_in_message():
    with pytest.raises(TagError) as info:
        normalize_tag("a" * 1000 + "\x00")
    msg = str(info.value)
    assert len(msg) < 120
    assert "'aaaa" in msg and "..." in msg and "U+0000" in msg
    assert info.value.value == "a" * 1000 + "\x00"  # the attribute keeps the whole value


def test_error_has_index_and_openai_body():
    with pytest.raises(TagError) as info:
        normalize_tags(["ok", "fine", "a\x00b"])
    err = info.value
    assert (err.index, err.code, err.param, err.value) == (
        2,
        "control_character",
        "request_tags",
        "a\x00b",
    )
    assert str(err) == "request_tags[2] = 'a\\x00b': contains control character U+0000"
    assert err.reason == "contains control character U+0000"
    assert err.status_code == 400
    body = err.to_openai_error()
    assert body == {
        "error": {
            "message": str(err),
            "type": "invalid_request_error",
            "param": "request_tags",
            "code": "control_character",
        }
    }
    assert json.loads(json.dumps(body)) == body


def test_error_pickles():
    err = TagError("empty_tag", "is empty", index=4, value=" ", param="X-Request-Tags")
    back = pickle.loads(pickle.dumps(err))
    assert (back.code, back.reason, back.index, back.value, back.param) == (
        "empty_tag",
        "is empty",
        4,
        " ",
        "X-Request-Tags",
    )
    assert str(back) == str(err) == "X-Request-Tags[4] = ' ': is empty"


# --- the policy -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_tag_bytes": 0},
        {"max_depth": -1},
        {"max_tags": 0},
        {"max_tags": 2.0},
        {"max_tags": True},
        {"case": "upper"},
        {"on_invalid": "ignore"},
    ],
)
def test_policy_rejects_bad_fields(kwargs):
    with pytest.raises(ValueError, match="TagPolicy"):
        TagPolicy(**kwargs)


def test_policy_is_frozen_and_hashable():
    p = TagPolicy(max_tags=3)
    assert hash(p) == hash(TagPolicy(max_tags=3))
    assert {p: 1}[TagPolicy(max_tags=3)] == 1
    with pytest.raises(AttributeError):
        p.max_tags = 4  # type: ignore[misc]


def test_byte_limit_counts_the_normalized_tag():
    p = TagPolicy(max_tag_bytes=5, max_depth=2)
    assert normalize_tag("  ab / cd  ", p) == "ab/cd"  # 11 raw chars, 5 normalized bytes
    with pytest.raises(TagError, match="6 UTF-8 bytes"):
        normalize_tag("ab/cde", p)
    with pytest.raises(TagError, match="3 segments"):
        normalize_tag("a/b/c", p)


# --- lists ----------------------------------------------------------------------------------------


def test_normalize_tags_dedup_keeps_first_order():
    out = normalize_tags(["b", "a", " b ", "Cafe\u0301", "c", "Caf\u00e9", "a//"])
    assert out == ["b", "a", "Caf\u00e9", "c"]
    assert type(out) is NormalizedTags and isinstance(out, list)
    assert out.dropped == ()
    assert normalize_tags(("x", "x")) == ["x"]
    assert normalize_tags([]) == []


@pytest.mark.parametrize("bad", ["a,b", {"a": 1}, {"a"}, None, 3, b"ab", frozenset()])
def test_normalize_tags_rejects_non_lists(bad):
    with pytest.raises(TagError) as info:
        normalize_tags(bad)
    assert info.value.code == "invalid_request_tags"
    assert info.value.index is None
    assert f"got {type(bad).__name__}" in str(info.value)


def test_too_many_tags():
    tags = [f"t{i}" for i in range(64)]
    assert normalize_tags(tags + tags) == tags  # 64 distinct, duplicates do not count
    with pytest.raises(TagError) as info:
        normalize_tags(tags + ["t0", "extra", "more"])
    err = info.value
    assert (err.code, err.index, err.value) == ("too_many_tags", 65, "extra")
    assert "more than 64 distinct tags" in str(err)


def test_first_problem_in_order_is_raised():
    p = TagPolicy(max_tags=1)
    with pytest.raises(TagError) as info:
        normalize_tags(["a", "b", None], p)
    assert (info.value.code, info.value.index) == ("too_many_tags", 1)
    with pytest.raises(TagError) as info:
        normalize_tags(["a", None, "b"], p)
    assert (info.value.code, info.value.index) == ("invalid_tag_type", 1)


def test_drop_reports_and_never_touches_policy():
    p = TagPolicy(max_tags=2, on_invalid="drop")
    out = normalize_tags(["a", None, "a", "", "b", "c", "b", "a\x00"], p)
    assert out == ["a", "b"]
    assert out.dropped == (
        DroppedTag(1, None, "invalid_tag_type", "must be a string, got NoneType"),
        DroppedTag(3, "", "empty_tag", "is empty after normalization"),
        DroppedTag(5, "c", "too_many_tags", "more than 2 distinct tags, the limit per request"),
        DroppedTag(7, "a\x00", "control_character", "contains control character U+0000"),
    )
    assert not hasattr(p, "dropped") and vars(p) == {
        "max_tag_bytes": 256,
        "max_depth": 16,
        "max_tags": 2,
        "case": "keep",
        "on_invalid": "drop",
        "allow_invisible": False,
    }
    again = normalize_tags(["a"], p)
    assert again.dropped == ()  # reports belong to one result, not to the shared policy


def test_normalized_tags_behaves_like_a_list():
    out = normalize_tags(["a", "b"])
    assert out == ["a", "b"] and ["a", "b"] == out
    assert out != ["b", "a"]
    assert json.dumps(out) == '["a", "b"]'
    back = pickle.loads(pickle.dumps(normalize_tags(["a", 1], TagPolicy(on_invalid="drop"))))
    assert back == ["a"] and back.dropped[0].index == 1


# --- key/value sources --------------------------------------------------------------------------


def test_tags_from_mapping():
    assert tags_from_mapping({"customer": "acme", "env": "prod"}) == ["customer/acme", "env/prod"]
    assert tags_from_mapping({"geo": "US/CA"}) == ["geo/US/CA"]
    assert tags_from_mapping({" Geo ": " US / CA "}) == ["Geo/US/CA"]
    assert tags_from_mapping({"Env": "PROD"}, LOWER) == ["env/prod"]
    assert tags_from_mapping(
        {"beta": True, "off": False, "tier": 2, "ratio": 0.5, "skip": None, "blank": "  "}
    ) == ["beta/true", "off/false", "tier/2", "ratio/0.5"]
    assert tags_from_mapping({"a": "x", "b": "y"}, prefix="meta/") == ["meta/a/x", "meta/b/y"]
    assert tags_from_mapping({}) == []
    assert tags_from_mapping({"a": "x", " a": "x "}) == ["a/x"]  # dedup after normalization


@pytest.mark.parametrize(
    ("mapping", "code", "text"),
    [
        (
            {"ok": "1", "user": {"id": 1}},
            "invalid_tag_type",
            "metadata['user'] = {'id': 1}: value must be",
        ),
        (
            {"ids": [1, 2]},
            "invalid_tag_type",
            "metadata['ids'] = [1, 2]: value must be a str, int, float, bool or None, got list",
        ),
        ({"k": b"v"}, "invalid_tag_type", "got bytes"),
        ({1: "v"}, "invalid_tag_type", "metadata[1] = 1: key must be a string, got int"),
        ({"": "v"}, "empty_tag", "metadata[''] = '': key is empty"),
        (
            {"k": "a\nb"},
            "control_character",
            "metadata['k'] = 'a\\nb': value contains control character U+000A",
        ),
        ({"k": "v" * 300}, "tag_too_long", "more than the limit of 256"),
    ],
)
def test_tags_from_mapping_errors(mapping, code, text):
    with pytest.raises(TagError) as info:
        tags_from_mapping(mapping)
    assert info.value.code == code
    assert info.value.param == "metadata"
    assert text in str(info.value)


def test_tags_from_mapping_drop_and_limit():
    p = TagPolicy(max_tags=2, on_invalid="drop")
    out = tags_from_mapping({"a": "1", "b": [1], "c": "3", "d": "4"}, p)
    assert out == ["a/1", "c/3"]
    assert [(d.index, d.code, d.param) for d in out.dropped] == [
        (1, "invalid_tag_type", "metadata"),
        (3, "too_many_tags", "metadata"),
    ]
    with pytest.raises(TagError, match="must be a mapping"):
        tags_from_mapping([("a", "b")])  # type: ignore[arg-type]


# --- properties ---------------------------------------------------------------------------------

_ALPHABET = st.sampled_from(
    list("aBz/ /é")
    + [
        "e\u0301",
        "\u0301",
        "\u00df",
        "\u0130",
        "\u00a0",
        "\u3000",
        "\t",
        "\n",
        "\x00",
        "\x7f",
        "\x85",
        "\u2028",
        "\u2029",
        "\u1e9e",
        "\ufb03",
        "\u0345",
        "\u03a3",
        "\u01f0",
        "\u0390",
        "\u1fb7",
        "\U0001f680",
        "%",
        ",",
    ]
)
tag_text = st.one_of(
    st.text(max_size=30),
    st.lists(_ALPHABET, max_size=20).map("".join),
)
elements = st.one_of(
    tag_text,
    tag_text,
    tag_text,
    st.none(),
    st.integers(),
    st.booleans(),
    st.lists(st.text(max_size=3), max_size=2),
)
policies = st.builds(
    TagPolicy,
    max_tag_bytes=st.integers(1, 40),
    max_depth=st.integers(1, 5),
    max_tags=st.integers(1, 6),
    case=st.sampled_from(["keep", "lower"]),
    on_invalid=st.sampled_from(["raise", "drop"]),
    allow_invisible=st.booleans(),
)


@settings(max_examples=400)
@given(tag=tag_text, case=st.sampled_from(["keep", "lower"]))
@example(tag="Cafe\u0301", case="keep")
@example(tag="\u0130STANBUL/\u1e9e", case="lower")
def test_property_normalize_matches_oracle_and_is_idempotent(tag, case):
    policy = TagPolicy(case=case)
    expected, code = oracle_tag(tag, policy)
    if code is not None:
        with pytest.raises(TagError) as info:
            normalize_tag(tag, policy)
        assert info.value.code == code
        return
    out = normalize_tag(tag, policy)
    assert out == expected
    assert normalize_tag(out, policy) == out  # idempotent
    assert unicodedata.is_normalized("NFC", out)
    assert not any(_is_control(ch) for ch in out)
    for seg in out.split("/"):
        assert seg != "" and seg == _trim(seg)


@settings(max_examples=300)
@given(tags=st.lists(elements, max_size=12), policy=policies)
def test_property_normalize_tags_matches_oracle(tags, policy):
    kept, problems = oracle_tags(tags, policy)
    if policy.on_invalid == "raise":
        if problems:
            with pytest.raises(TagError) as info:
                normalize_tags(tags, policy)
            assert (info.value.index, info.value.code) == problems[0]
            assert f"request_tags[{problems[0][0]}]" in str(info.value)
        else:
            assert normalize_tags(tags, policy) == kept
        return
    out = normalize_tags(tags, policy)
    assert out == kept
    assert [(d.index, d.code) for d in out.dropped] == problems
    assert all(tags[d.index] is d.value for d in out.dropped)
    # limits are never exceeded
    assert len(out) <= policy.max_tags
    assert len(set(out)) == len(out)
    for t in out:
        assert len(t.encode()) <= policy.max_tag_bytes
        assert len(t.split("/")) <= policy.max_depth
        assert normalize_tag(t, policy) == t


@given(tags=st.lists(st.sampled_from(["a", " a", "b", "a/", "B", "c//", "c"]), max_size=10))
def test_property_dedup_first_seen_order(tags):
    out = normalize_tags(tags)
    firsts = []
    for t in tags:
        n = "/".join(s.strip() for s in t.split("/") if s.strip())
        if n not in firsts:
            firsts.append(n)
    assert out == firsts
