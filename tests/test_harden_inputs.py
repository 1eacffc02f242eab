"""Issue 12, items 7 and 12: hostile inputs get the library's own errors, and look-alike tags
are refused.

Each test reproduces an attack first: deeply nested JSON escaped as ``RecursionError``, huge
usage as a ``struct.error``, and invisible code points made tags that print like others.
"""

from __future__ import annotations

import io
import json
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tagcore as tc
from tagcore.errors import CoerceError, TagcoreError
from tagcore.gateway.extract import HEADER, extract_tags, parse_tags_header
from tagcore.prices import PriceTable
from tagcore.recorder import Recorder
from tagcore.tags import TagError, TagPolicy, normalize_tag, normalize_tags, tags_from_mapping

DEEP = 100_000  # far past the JSON decoder's (and repr's) recursion limit


def deep_list(n: int = DEEP) -> list:
    x: list = []
    for _ in range(n):
        x = [x]
    return x


def line(**over: object) -> bytes:
    rec = {"ts": 0, "model": "m", "prompt_tokens": 1, "completion_tokens": 1, "cost": 0.5,
           "latency_ms": 1.0, "status": 200, "request_tags": ["a"]}
    rec.update(over)
    return json.dumps(rec).encode() + b"\n"


def raw_line(field: str, raw: bytes) -> bytes:
    """A JSONL line whose ``field`` is the raw JSON text ``raw``."""
    return line(**{field: "@@"}).replace(b'"@@"', raw)


# ====================================================================== item 7: nested JSON


@pytest.mark.parametrize("field, depth", [
    ("cost", 900), ("cost", 985), ("cost", 995), ("cost", DEEP), ("request_tags", DEEP),
    ("extra_junk", DEEP), ("model", DEEP)])
def test_read_jsonl_deep_nesting_is_a_bad_line(field, depth):
    """Past the decoder's limit, or just under it (so that printing the value for its error
    would overflow the stack): a bad line either way, never a RecursionError."""
    nested = b"[" * depth + b"]" * depth
    data = line() + raw_line(field, nested) + line(prompt_tokens=3)
    with pytest.raises(tc.LogError) as info:
        tc.read_jsonl(io.BytesIO(data))
    assert isinstance(info.value, TagcoreError)
    assert "line 2" in str(info.value)
    if depth == DEEP:
        assert "(json)" in str(info.value) and "nested too deeply" in str(info.value)
    log = tc.read_jsonl(io.BytesIO(data), on_error="skip")
    assert log.prompt_tokens.tolist() == [1, 3]
    assert log.dropped_rows == 1 and "line 2" in log.problems[0]


@pytest.mark.parametrize("as_type", [bytes, str, bytearray, memoryview])
def test_extract_tags_deep_body_is_a_tag_error(as_type):
    text = '{"request_tags": ["a"], "messages": ' + "[" * DEEP + "]" * DEEP + "}"
    body = text if as_type is str else as_type(text.encode())
    with pytest.raises(TagError) as info:
        extract_tags(body)
    assert info.value.param is None and info.value.code == "invalid_body"
    assert "nested too deeply" in str(info.value)
    assert info.value.to_openai_error()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("value", ["[" * DEEP, "[" * DEEP + "]" * DEEP,
                                   b"[" * DEEP, "[" + "[" * 990 + "]" * 990 + "]"],
                         ids=["unclosed", "balanced", "bytes", "just-under-the-limit"])
def test_x_request_tags_deep_json_is_a_tag_error(value):
    with pytest.raises(TagError) as info:
        extract_tags({"model": "m"}, headers=[("X-Request-Tags", value)])
    assert info.value.param == HEADER
    with pytest.raises(TagError):
        parse_tags_header(value)


def test_deep_python_values_in_tags_name_the_element():
    """Python objects reach tags too (a dict body, metadata): printing one for the error
    must not overflow the stack."""
    x = deep_list()
    with pytest.raises(TagError) as info:
        normalize_tags(["ok", x])
    assert info.value.index == 1 and info.value.code == "invalid_tag_type"
    assert "[[[" in str(info.value)
    out = normalize_tags([x, "ok"], TagPolicy(on_invalid="drop"))
    assert out == ["ok"] and out.dropped[0].index == 0
    with pytest.raises(TagError) as info:
        extract_tags({"request_tags": ["a", x]})
    assert info.value.index == 1
    with pytest.raises(TagError) as info:
        tags_from_mapping({"user": x})
    assert info.value.key == "user"


def test_a_failing_repr_does_not_replace_the_tag_error():
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("boom")

    with pytest.raises(TagError) as info:
        normalize_tags([Hostile()])
    assert info.value.code == "invalid_tag_type" and "Hostile" in str(info.value)


# ====================================================================== item 7: huge numbers


def test_recorder_huge_usage_priced_by_the_table_is_a_coerce_error():
    """2**62 prompt tokens at a normal price overflowed the row's int64 cost: struct.error."""
    prices = PriceTable({"m": {"input_cost_per_token": 1.5e-07,
                               "output_cost_per_token": 6e-07}})
    rec = Recorder(prices=prices)
    for usage in ({"prompt_tokens": 2**62, "completion_tokens": 2**62},
                  {"input_tokens": 2**62, "output_tokens": 1}):
        with pytest.raises(CoerceError) as info:
            rec.record(["a"], model="m", usage=usage, latency_ms=1.0)
        assert info.value.field == "cost" and "int64" in info.value.reason
    with pytest.raises(CoerceError) as info:
        rec.record(["a"], model="m", prompt_tokens=2**62, completion_tokens=0, latency_ms=1.0)
    assert info.value.field == "cost"
    assert len(rec) == 0  # nothing recorded
    rec.record(["a"], model="m", prompt_tokens=10, completion_tokens=0, latency_ms=1.0)
    assert rec.snapshot().cost.tolist() == [1500]


@pytest.mark.parametrize("kw, field", [
    ({"cost": "1e30"}, "cost"),
    ({"cost": 1e30}, "cost"),
    ({"cost": "1e400"}, "cost"),
    ({"usage": {"prompt_tokens": 10**30, "completion_tokens": 1}}, "usage.prompt_tokens"),
    ({"usage": {"prompt_tokens": "1e400", "completion_tokens": 1}}, "usage.prompt_tokens"),
    ({"usage": {"input_tokens": 2**62, "output_tokens": 1, "cache_read_input_tokens": 2**62}},
     "usage.input_tokens"),
    ({"prompt_tokens": 2**64, "completion_tokens": 1}, "prompt_tokens"),
    ({"cost_nanos": 2**70}, "cost_nanos"),
    ({"ts": 10**400}, "ts"),
    ({"ts": "1e400"}, "ts"),
])
def test_recorder_huge_values_name_their_field(kw, field):
    rec = Recorder()
    with pytest.raises(CoerceError) as info:
        rec.record(["a"], model="m", latency_ms=1.0, **kw)
    assert info.value.field == field
    assert len(rec) == 0


@pytest.mark.parametrize("field, raw", [
    ("cost", b'"1e30"'), ("cost", b"1e30"), ("cost", b"1e400"), ("cost", b'"1e400"'),
    ("prompt_tokens", b"1e400"), ("prompt_tokens", b"1" + b"0" * 40),
    ("ts", b"1e30"), ("ts", b'"1e400"'), ("latency_ms", b'"1e400"'),
])
def test_read_jsonl_huge_numbers_name_the_column_and_skip(field, raw):
    data = line() + raw_line(field, raw)
    with pytest.raises(tc.LogError) as info:
        tc.read_jsonl(io.BytesIO(data))
    assert "line 2" in str(info.value)
    log = tc.read_jsonl(io.BytesIO(data), on_error="skip")
    assert len(log) == 1 and log.dropped_rows == 1


# ====================================================================== item 12: look-alikes

LOOK_ALIKE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad",
              "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
              "\u2066", "\u2067", "\u2068", "\u2069",
              "\U000e0000", "\U000e0001", "\U000e0041", "\U000e007f"]


@pytest.mark.parametrize("ch", LOOK_ALIKE, ids=lambda c: f"U+{ord(c):04X}")
def test_invisible_code_points_are_refused_naming_the_code_point(ch):
    tag = f"customer/ac{ch}me"
    with pytest.raises(TagError) as info:
        normalize_tag(tag)
    assert info.value.code == "invisible_character"
    assert f"U+{ord(ch):04X}" in str(info.value)
    with pytest.raises(TagError) as info:
        normalize_tags(["customer/acme", tag])
    assert info.value.index == 1 and f"U+{ord(ch):04X}" in info.value.reason
    # at either end too: they are not white space, so stripping leaves them
    for t in (ch + "customer/acme", "customer/acme" + ch, f"customer/{ch}/acme"):
        with pytest.raises(TagError):
            normalize_tag(t)
    # a policy may allow them
    allow = TagPolicy(allow_invisible=True)
    assert normalize_tag(tag, allow) == unicodedata.normalize("NFC", tag)
    out = normalize_tags([tag, "customer/acme"], TagPolicy(on_invalid="drop"))
    assert out == ["customer/acme"] and out.dropped[0].code == "invisible_character"


def test_look_alike_tags_are_refused_through_every_door():
    with pytest.raises(TagError) as info:
        extract_tags({"request_tags": ["customer/ac\u200bme"]})
    assert info.value.param == "request_tags" and "U+200B" in str(info.value)
    with pytest.raises(TagError) as info:
        extract_tags({}, headers={"X-Request-Tags": "customer/ac%E2%80%8Bme"})
    assert info.value.param == HEADER and "U+200B" in str(info.value)
    with pytest.raises(TagError) as info:
        extract_tags({}, headers={"X-Request-Tags": '["env/prod\\u202e"]'})
    assert "U+202E" in str(info.value)
    with pytest.raises(TagError) as info:
        tags_from_mapping({"customer": "ac\u00adme"})
    assert info.value.key == "customer" and "U+00AD" in str(info.value)
    with pytest.raises(TagError):
        Recorder().record(["customer/ac\u2066me"], model="m", latency_ms=1.0)
    data = line(request_tags=["customer/acme"]) + line(request_tags=["customer/ac\ufeffme"])
    with pytest.raises(tc.LogError) as info2:
        tc.read_jsonl(io.BytesIO(data))
    assert "line 2" in str(info2.value) and "U+FEFF" in str(info2.value)
    assert len(tc.read_jsonl(io.BytesIO(data), on_error="skip")) == 1
    # and the policy that allows them allows them everywhere
    tags, _ = extract_tags({"request_tags": ["customer/ac\u200bme"]},
                           policy=TagPolicy(allow_invisible=True))
    assert tags == ["customer/ac\u200bme"]


def test_policy_flag_is_checked():
    with pytest.raises(ValueError, match="allow_invisible"):
        TagPolicy(allow_invisible="yes")  # type: ignore[arg-type]


def test_visible_text_is_still_accepted():
    for tag in ("caf\u00e9", "\u65e5\u672c/\u6771\u4eac", "emoji/\U0001f680", "a-b_c.d",
                "\u00a0nbsp\u00a0", "\u05e9\u05dc\u05d5\u05dd", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629"):
        normalize_tag(tag)


@settings(max_examples=200)
@given(st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8),
       st.sampled_from(LOOK_ALIKE), st.text(st.characters(blacklist_categories=("Cs", "Cc")),
                                            max_size=8))
def test_property_any_tag_with_a_look_alike_is_refused_by_default(head, ch, tail):
    with pytest.raises(TagError) as info:
        normalize_tag(head + ch + tail)
    assert info.value.code in ("invisible_character", "control_character")
    try:
        out = normalize_tag(head + ch + tail, TagPolicy(allow_invisible=True))
    except TagError as exc:
        assert exc.code in ("empty_tag", "control_character", "tag_too_long", "tag_too_deep")
    else:
        assert ch in out
