"""The one coercion module against slow, obviously correct oracles (Decimal, datetime, pandas),
and its vectorised paths against its scalar ones, element for element."""

from __future__ import annotations

import datetime as dt
import math
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from tagcore import coerce as C
from tagcore.errors import CoerceError, TagcoreError

# ------------------------------------------------------------------------------ oracles


def oracle_nanos(x) -> int:
    """Shortest decimal of a float (or the text as written), half-even to the nano."""
    d = Decimal(repr(float(x))) if isinstance(x, float) else Decimal(str(x).strip().lstrip("$"))
    return int((d * 10**9).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def oracle_time(text: str) -> int:
    """pandas reads ISO 8601 with nanoseconds; naive text is UTC."""
    t = pd.Timestamp(text)
    if t.tzinfo is None:
        t = t.tz_localize("UTC")
    return int(t.as_unit("ns").value)


money_floats = st.one_of(
    st.floats(min_value=0, max_value=1e6, allow_nan=False),
    st.integers(0, 10**15).map(lambda k: k / 1e9),
    st.integers(0, 10**12).map(lambda k: (k + 0.5) / 1e9),  # near ties
    st.decimals(min_value=0, max_value=10**4, places=10, allow_nan=False).map(float),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
)


# ------------------------------------------------------------------------------ money


@given(money_floats)
@example(1.5e-9)
@example(2.5e-9)
@example(0.1)
@example(0.30000000000000004)
def test_scalar_money_matches_decimal_oracle(x):
    assert C.dollars_to_nanos(x) == oracle_nanos(x)


@given(st.lists(money_floats, max_size=60))
def test_vector_money_equals_scalar(xs):
    got = C.dollars_to_nanos_array(np.array(xs, dtype=np.float64))
    assert got.tolist() == [C.dollars_to_nanos(x) for x in xs]
    # the same through an object array of mixed floats, text and Decimals
    mixed = [repr(x) if i % 3 == 0 else Decimal(repr(x)) if i % 3 == 1 else x
             for i, x in enumerate(xs)]
    assert C.dollars_to_nanos_array(mixed).tolist() == got.tolist()


def test_vector_money_equals_scalar_on_many_random_costs():
    """The issue's 1 in 2,000: float rint disagreed with Decimal; the fast path must not."""
    rng = np.random.default_rng(7)
    raw = rng.lognormal(-6, 2, 200_000)
    places = rng.integers(4, 13, 200_000)
    x = np.array([round(float(v), int(k)) for v, k in zip(raw, places)])
    got = C.dollars_to_nanos_array(x)
    naive = np.rint(x * 1e9).astype(np.int64)
    diff = np.flatnonzero(got != naive)
    for i in diff.tolist():
        assert got[i] == oracle_nanos(float(x[i]))
    sample = rng.choice(x.size, 2000, replace=False)
    assert [int(got[i]) for i in sample] == [oracle_nanos(float(x[i])) for i in sample]


@pytest.mark.parametrize("bad", ["1e30", 1e30, float("inf"), float("nan"), "abc", True, None,
                                 [1], "1e400"])
def test_money_refusals_name_the_field(bad):
    with pytest.raises(CoerceError) as ei:
        C.dollars_to_nanos(bad, "response_cost")
    assert ei.value.field == "response_cost"
    assert str(ei.value).startswith("response_cost: ")
    assert isinstance(ei.value, TagcoreError) and isinstance(ei.value, ValueError)


def test_money_array_refusal_names_the_row():
    with pytest.raises(CoerceError, match=r"row 2, column cost: .*too large"):
        C.dollars_to_nanos_array([0.1, 0.2, 1e30])
    with pytest.raises(CoerceError, match=r"row 1, column cost: missing value"):
        C.dollars_to_nanos_array([0.1, None])
    n, miss, bad = C.dollars_to_nanos_masked(np.array([1, 2**62], dtype=np.int64))
    assert bad.tolist() == [False, True] and n.tolist() == [10**9, 0]


# ------------------------------------------------------------------------------ time


instants = st.integers(-(2**62), 2**62)
offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59)


def iso_of(ns: int, frac_digits: int, offset_min: int | None, sep: str = "T") -> str:
    secs, sub = divmod(ns, 10**9)
    local = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=secs + (offset_min or 0) * 60)
    text = local.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    if frac_digits:
        text += "." + f"{sub:09d}"[:frac_digits]
    if offset_min is None:
        return text
    if offset_min == 0 and frac_digits % 2:
        return text + "Z"
    sign = "-" if offset_min < 0 else "+"
    h, m = divmod(abs(offset_min), 60)
    return text + f"{sign}{h:02d}:{m:02d}"


@given(instants, st.integers(0, 9), st.one_of(st.none(), offsets), st.sampled_from("T "))
def test_iso_scalar_and_vector_match_pandas(ns, k, off, sep):
    text = iso_of(ns, k, off, sep)
    assume(1678 <= int(text[:4]) <= 2261)
    want = oracle_time(text)
    assert C.time_to_nanos(text) == want
    assert C.times_to_nanos([text, text.lower() if "Z" in text else text]).tolist() == [want] * 2


@given(st.lists(st.tuples(instants, st.integers(0, 9), st.one_of(st.none(), offsets)),
                max_size=40))
def test_vector_time_equals_scalar(rows):
    texts = [iso_of(ns, k, off) for ns, k, off in rows]
    texts = [t for t in texts if 1678 <= int(t[:4]) <= 2261]
    got = C.times_to_nanos(texts)
    assert got.tolist() == [C.time_to_nanos(t) for t in texts]


@given(st.integers(-9 * 10**9, 9 * 10**9), st.sampled_from(["s", "ms", "us", "ns"]))
def test_epoch_numbers_in_every_unit(v, unit):
    f = C.TIME_UNITS[unit]
    assert C.time_to_nanos(v, unit=unit) == v * f
    assert C.time_to_nanos(str(v), unit=unit) == v * f
    assert C.times_to_nanos(np.array([v]), unit=unit).tolist() == [v * f]


@given(st.floats(-9e9, 9e9, allow_nan=False))
def test_epoch_float_seconds_shortest_decimal(x):
    want = int((Decimal(repr(x)) * 10**9).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    assert C.time_to_nanos(x) == want
    assert C.times_to_nanos(np.array([x])).tolist() == [want]


def test_time_doors_agree():
    ns = C.time_to_nanos("2023-11-14T22:13:20.123456789Z")
    assert ns == 1700000000123456789
    ts = pd.Timestamp(ns, unit="ns", tz="UTC")
    assert C.time_to_nanos(ts) == ns
    assert C.time_to_nanos(ts.tz_convert("Asia/Kolkata")) == ns
    assert C.time_to_nanos(np.datetime64(ns, "ns")) == ns
    assert C.time_to_nanos(ts.to_pydatetime(warn=False)) == ns - 789
    assert C.time_to_nanos("1700000000") == C.time_to_nanos(1700000000) == 1700000000 * 10**9
    s = pd.Series(pd.to_datetime([ns], utc=True))
    assert C.times_to_nanos(s).tolist() == [ns]
    assert C.times_to_nanos(s.dt.tz_convert("America/New_York")).tolist() == [ns]


def test_naive_time_in_a_zone_is_dst_correct():
    # London: 2026-03-29 01:00 local does not exist (clocks go to 02:00), 2026-10-25 01:30
    # happens twice: the first (BST) is taken, as zoneinfo's fold=0 does
    assert C.time_to_nanos("2026-07-01T12:00", tz="Europe/London") == \
        C.time_to_nanos("2026-07-01T11:00Z")
    assert C.time_to_nanos("2026-10-25T01:30", tz="Europe/London") == \
        C.time_to_nanos("2026-10-25T00:30Z")
    assert C.times_to_nanos(["2026-07-01T12:00:00"], tz="Europe/London").tolist() == \
        [C.time_to_nanos("2026-07-01T11:00Z")]
    # an explicit offset wins over tz
    assert C.time_to_nanos("2026-07-01T12:00+00:00", tz="Europe/London") == \
        C.time_to_nanos("2026-07-01T12:00Z")


@pytest.mark.parametrize("bad, match", [
    ("2026-02-30", "day is out of range"),
    ("2026-01-01T24:00:00", "out of range"),
    ("tomorrow", "ISO 8601"),
    ("2026-01-01T00:00:00.1234567891Z", "ISO 8601"),
    (1767225600000, "looks like epoch milliseconds"),
    (1767225600000000, "looks like epoch microseconds"),
    (1767225600000000000, "looks like epoch nanoseconds"),
    ("9999-01-01", "int64 nanosecond range"),
    (float("inf"), "expected a time"),
    (True, "expected a time"),
    (None, "missing"),
])
def test_time_refusals(bad, match):
    with pytest.raises(CoerceError, match=match) as ei:
        C.time_to_nanos(bad, field="startTime")
    assert ei.value.field == "startTime"
    out, miss, badm = C.times_to_nanos_masked([bad], field="startTime")
    assert (miss | badm).tolist() == [True]


def test_unit_is_checked():
    with pytest.raises(CoerceError, match="ts_unit"):
        C.time_to_nanos(1, unit="h")


# ------------------------------------------------------------------------------ counts, usage


@given(st.integers(0, 2**63 - 1))
def test_counts(v):
    assert C.to_count(v, "x") == v
    assert C.to_count(str(v), "x") == v
    vals, miss, bad = C.counts_masked([v, None, str(v)])
    assert vals.tolist() == [v, 0, v] and miss.tolist() == [False, True, False]
    assert not bad.any()


@pytest.mark.parametrize("bad", [-1, 1.5, "1.5", True, "x", 2**63, float("inf"), [1]])
def test_count_refusals(bad):
    with pytest.raises(CoerceError):
        C.to_count(bad, "prompt_tokens")


@st.composite
def usages(draw):
    p = draw(st.integers(0, 10**6))
    cached = draw(st.integers(0, p))
    write = draw(st.integers(0, p - cached))
    c = draw(st.integers(0, 10**6))
    return p, c, cached, write, draw(st.integers(0, c))


@given(usages())
def test_chat_and_responses_usage_agree(u):
    p, c, cached, write, reasoning = u
    chat = {"prompt_tokens": p, "completion_tokens": c,
            "prompt_tokens_details": {"cached_tokens": cached, "cache_write_tokens": write},
            "completion_tokens_details": {"reasoning_tokens": reasoning}}
    resp = {"input_tokens": p, "output_tokens": c,
            "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": write},
            "output_tokens_details": {"reasoning_tokens": reasoning}}
    anthropic = {"input_tokens": p - cached - write, "output_tokens": c,
                 "cache_read_input_tokens": cached, "cache_creation_input_tokens": write}
    want = C.Usage(p, c, cached, write, reasoning, True)
    assert C.parse_usage(chat) == C.parse_usage(resp) == want
    if reasoning == 0:
        assert C.parse_usage(anthropic) == want


def test_usage_from_sdk_like_objects_and_unknowns():
    class Obj:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    u = Obj(prompt_tokens=5, completion_tokens=1, prompt_tokens_details=Obj(cached_tokens=2),
            completion_tokens_details=None)
    assert C.parse_usage(u) == C.Usage(5, 1, 2, 0, 0, True)
    assert C.parse_usage(None).known is False
    assert C.parse_usage({"total_tokens": 3}).known is False
    with pytest.raises(CoerceError, match="exceed"):
        C.parse_usage({"prompt_tokens": 1, "completion_tokens": 0,
                       "prompt_tokens_details": {"cached_tokens": 2}})
    with pytest.raises(CoerceError, match=r"usage.prompt_tokens"):
        C.parse_usage({"prompt_tokens": 2**64, "completion_tokens": 0})
    with pytest.raises(CoerceError, match=r"usage"):
        C.parse_usage(42)


def test_status():
    assert [C.parse_status(v) for v in (200, "404", "success", "failure", 0)] == \
        [200, 404, 200, 500, 0]
    for bad in (1000, -1, "ok", True, 2.5):
        with pytest.raises(CoerceError):
            C.parse_status(bad)


def test_missing_detection():
    assert C.is_missing(pd.NaT) and C.is_missing(np.datetime64("NaT"))
    assert C.is_missing(np.float64("nan")) and not C.is_missing(math.pi)


@pytest.mark.parametrize("text", ["1e767225600", "-1e999999", "9" * 400])
def test_huge_epoch_text_is_refused_not_a_decimal_overflow(text):
    with pytest.raises(CoerceError, match="out of range"):
        C.time_to_nanos(text)
