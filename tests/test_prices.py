"""PriceTable: exact nano-dollar costs against a Fraction oracle, tiers, lookup, reports."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tagcore as tc
from tagcore.prices import PriceTable

#: LiteLLM's price map, in the shared data (conftest.py's shared_file fixture)
LITELLM_PRICES = ("formats", "litellm", "pricing", "model_prices_and_context_window_backup.json")


# ----------------------------------------------------------------------------- the oracle


def _frac(x) -> Fraction | None:
    if x is None:
        return None
    return Fraction(Decimal(repr(x)) if isinstance(x, float) else Decimal(x))


def oracle(entry: dict, prompt, completion, cached=0, creation=0, reasoning=0, cache_fallback=True):
    """Exact cost in nano-dollars (half-even), written independently from the rules in the
    PriceTable docstring (LiteLLM's _get_token_base_cost / select_tier_for_input); None when
    the request cannot be priced."""
    keys = {
        "input": "input_cost_per_token",
        "output": "output_cost_per_token",
        "cache_read": "cache_read_input_token_cost",
        "cache_creation": "cache_creation_input_token_cost",
        "reasoning": "output_cost_per_reasoning_token",
    }
    rates = {k: _frac(entry.get(v)) for k, v in keys.items()}
    tiered = entry.get("tiered_pricing")
    if rates["input"] is None and tiered:
        tiers = sorted(tiered, key=lambda t: t["range"][0])
        chosen = tiers[-1]
        if prompt == 0:
            chosen = tiers[0]
        else:
            for t in tiers:
                if t["range"][0] < prompt <= t["range"][1]:
                    chosen = t
                    break
        out = _frac(chosen.get("output_cost_per_token"))
        rates = {
            "input": _frac(chosen.get("input_cost_per_token")),
            "output": out if out is not None else rates["output"],
            "cache_read": _frac(chosen.get("cache_read_input_token_cost")),
            "cache_creation": _frac(chosen.get("cache_creation_input_token_cost")),
            "reasoning": _frac(chosen.get("output_cost_per_reasoning_token")),
        }
    else:
        best = None
        for key, value in entry.items():
            m = re.fullmatch(r"input_cost_per_token_above_(\d+)(k?)_tokens", key)
            if m and value is not None:
                n = int(m.group(1)) * (1000 if m.group(2) else 1)
                if prompt > n and (best is None or n > best[0]):
                    best = (n, m.group(1) + m.group(2))
        if best is not None:
            for kind in ("input", "output", "cache_read", "cache_creation"):
                v = _frac(entry.get(f"{keys[kind]}_above_{best[1]}_tokens"))
                if v is not None:
                    rates[kind] = v
    if rates["reasoning"] is None:
        rates["reasoning"] = rates["output"]
    for kind, n in (("cache_read", cached), ("cache_creation", creation)):
        if n and rates[kind] is None:
            if not cache_fallback or rates["input"] is None:
                return None
            rates[kind] = rates["input"]
    tokens = {
        "input": prompt - cached - creation,
        "cache_read": cached,
        "cache_creation": creation,
        "output": completion - reasoning,
        "reasoning": reasoning,
    }
    total = Fraction(0)
    for kind, n in tokens.items():
        if n:
            if rates[kind] is None:
                return None
            total += n * rates[kind] * 10**9
    return round(total)  # Fraction rounds half to even


# ----------------------------------------------------------------------------- basics

GPT4O = {
    "input_cost_per_token": 2.5e-06,
    "output_cost_per_token": 1e-05,
    "cache_read_input_token_cost": 1.25e-06,
}


def test_spend_log_example_is_reproduced_exactly():
    # LiteLLM's spend_logs_payload.json: spend 0.00022500000000000002 for 10 + 20 tokens of gpt-4o
    t = PriceTable({"gpt-4o": GPT4O})
    assert t.cost_nanos("gpt-4o", 10, 20) == 225_000
    assert t.cost_nanos("gpt-4o", 1000, 0, cached_tokens=400) == 600 * 2500 + 400 * 1250


def test_float_prices_are_read_through_repr_not_binary():
    # 0.1 + 0.2 style noise must not leak into prices: 3e-07 is exactly 300 nanos per token
    t = PriceTable({"m": {"input_cost_per_token": 3e-07, "output_cost_per_token": 0}})
    assert t.cost_nanos("m", 10**9, 0) == 300 * 10**9
    assert t.rates("m")["input"] == Decimal("3E-7")


def test_string_and_decimal_prices():
    t = PriceTable(
        {"a": {"input_cost_per_token": "1.5e-9"}, "b": {"input_cost_per_token": Decimal("1.5e-9")}}
    )
    # 1.5 nanos per token: rounding is once per request, half to even
    assert [t.cost_nanos("a", n, 0) for n in (1, 2, 3, 5)] == [2, 3, 4, 8]
    assert t.cost_nanos("b", 3, 0) == 4


def test_rounding_once_per_request_not_per_kind():
    # 0.4 nano input + 0.4 nano output = 0.8 -> 1 (per-kind rounding would give 0)
    t = PriceTable({"m": {"input_cost_per_token": "4e-10", "output_cost_per_token": "4e-10"}})
    assert t.cost_nanos("m", 1, 1) == 1


@pytest.mark.parametrize(
    "bad, exc",
    [
        (-1e-6, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        ("abc", ValueError),
        (True, TypeError),
        ([1], TypeError),
    ],
)
def test_invalid_prices_name_model_and_field(bad, exc):
    with pytest.raises(exc, match=r"'m' field 'input_cost_per_token'"):
        PriceTable({"m": {"input_cost_per_token": bad}})


def test_invalid_table_shapes():
    with pytest.raises(TypeError):
        PriceTable([("m", {})])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'m'"):
        PriceTable({"m": 3})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="missing_cache_rate"):
        PriceTable({}, missing_cache_rate="zero")  # type: ignore[arg-type]


def test_token_count_validation():
    t = PriceTable({"gpt-4o": GPT4O})
    with pytest.raises(ValueError, match="prompt_tokens"):
        t.cost_nanos("gpt-4o", -1, 0)
    with pytest.raises(ValueError, match="exceed prompt_tokens"):
        t.cost_nanos("gpt-4o", 5, 0, cached_tokens=6)
    with pytest.raises(ValueError, match="reasoning_tokens"):
        t.cost_nanos("gpt-4o", 5, 1, reasoning_tokens=2)
    with pytest.raises(ValueError, match="row 1"):
        t.price_many(["gpt-4o"] * 2, [5, 5], [0, 0], cached_tokens=[0, 6])
    with pytest.raises(ValueError, match="not a whole number"):
        t.price_many(["gpt-4o"], [1.5], [0])
    with pytest.raises(ValueError, match="expected 2 values"):
        t.price_many(["gpt-4o"] * 2, [1], [0, 0])


# ----------------------------------------------------------------------------- tiers


def test_above_128k_tier_is_strictly_above_and_applies_to_every_kind():
    entry = {
        "input_cost_per_token": "1e-6",
        "output_cost_per_token": "2e-6",
        "cache_read_input_token_cost": "1e-7",
        "input_cost_per_token_above_128k_tokens": "3e-6",
        "output_cost_per_token_above_128k_tokens": "4e-6",
    }
    t = PriceTable({"m": entry})
    assert t.cost_nanos("m", 128_000, 10) == 128_000 * 1000 + 10 * 2000
    # 128_001 > 128k: input and output at the tier rates; cache read has no tier rate -> base
    assert t.cost_nanos("m", 128_001, 10, cached_tokens=1) == 128_000 * 3000 + 10 * 4000 + 100


def test_highest_exceeded_threshold_wins_and_null_tiers_are_ignored():
    entry = {
        "input_cost_per_token": "1e-6",
        "output_cost_per_token": "1e-6",
        "input_cost_per_token_above_128k_tokens": "2e-6",
        "input_cost_per_token_above_200k_tokens": "3e-6",
        "input_cost_per_token_above_272k_tokens": None,
        "input_cost_per_token_above_1000_tokens": "1.5e-6",  # `_above_<N>_tokens` without k
    }
    t = PriceTable({"m": entry})
    assert t.cost_nanos("m", 1000, 0) == 1000 * 1000
    assert t.cost_nanos("m", 1001, 0) == 1001 * 1500
    assert t.cost_nanos("m", 150_000, 0) == 150_000 * 2000
    assert t.cost_nanos("m", 300_000, 0) == 300_000 * 3000


def test_tiered_pricing_list_is_all_or_nothing():
    entry = {
        "tiered_pricing": [
            {
                "input_cost_per_token": 2.5e-07,
                "output_cost_per_token": 2e-06,
                "range": [256000.0, 1000000.0],
            },
            {"input_cost_per_token": 5e-08, "output_cost_per_token": 4e-07, "range": [0, 256000.0]},
        ]
    }
    t = PriceTable({"q": entry})
    assert t.cost_nanos("q", 0, 10) == 10 * 400  # prompt 0: first tier
    assert t.cost_nanos("q", 256_000, 10) == 256_000 * 50 + 10 * 400  # hi is inclusive
    assert t.cost_nanos("q", 256_001, 10) == 256_001 * 250 + 10 * 2000
    assert t.cost_nanos("q", 2_000_000, 0) == 2_000_000 * 250  # above the last range: last tier
    # no cache rate in the tier: input rate of the tier, reported as a fallback
    assert t.cost_nanos("q", 100, 0, cached_tokens=40) == 100 * 50
    assert t.fallbacks == {"q": 1}


def test_non_token_tiered_pricing_is_ignored():
    # search tools use tiered_pricing with per-query prices: not token prices
    t = PriceTable(
        {"s": {"tiered_pricing": [{"input_cost_per_query": 0.005, "max_results_range": [0, 25]}]}}
    )
    assert t.cost_nanos("s", 10, 0) is None
    assert t.unpriced_reasons == {"s": "no input_cost_per_token"}


# ----------------------------------------------------------------------------- lookup & report


def test_model_lookup_prefixed_and_unprefixed():
    t = PriceTable(
        {
            "gpt-4o-mini": {"input_cost_per_token": 1.5e-07},
            "deepseek/deepseek-chat": {"input_cost_per_token": 2.8e-07},
            "azure/m": {"input_cost_per_token": 1e-6},
            "bedrock/m": {"input_cost_per_token": 2e-6},
        }
    )
    assert t.resolve("gpt-4o-mini") == "gpt-4o-mini"
    assert t.resolve("openai/gpt-4o-mini") == "gpt-4o-mini"
    assert t.resolve("deepseek-chat") == "deepseek/deepseek-chat"
    assert t.resolve("m") is None  # ambiguous: never guessed
    assert t.resolve("GPT-4O-MINI") is None  # case-sensitive
    # a dated snapshot the table lacks falls back to its alias (issue 11; tests/test_unpriced.py)
    assert t.resolve("gpt-4o-mini-2024-07-18") == "gpt-4o-mini"
    assert t.resolve("gpt-4o-mini-0718") is None  # other suffixes are not stripped
    assert "openai/gpt-4o-mini" in t and "m" not in t


def test_unknown_models_and_missing_fields_are_reported_never_zero():
    t = PriceTable({"gpt-4o": GPT4O, "embed": {"input_cost_per_token": 1e-7}})
    assert t.cost_nanos("mystery", 10, 10) is None
    assert t.cost_nanos("mystery", 1, 1) is None
    assert t.cost_nanos("embed", 10, 0) == 1000
    assert t.cost_nanos("embed", 10, 5) is None  # needs an output price it lacks
    assert t.unpriced == {"mystery": 2, "embed": 1}
    assert t.unpriced_reasons == {"mystery": "unknown model", "embed": "no output_cost_per_token"}
    nanos, bad = t.price_many(["mystery", "gpt-4o", "embed"], [1, 10, 10], [1, 20, 5])
    assert nanos.tolist() == [0, 225_000, 0] and bad.tolist() == [True, False, True]
    assert t.unpriced == {"mystery": 3, "embed": 2}
    t.reset_report()
    assert t.unpriced == {} and t.fallbacks == {}


def test_cache_tokens_without_cache_rate():
    entry = {"input_cost_per_token": "1e-6", "output_cost_per_token": "2e-6"}
    t = PriceTable({"m": entry})
    assert t.cost_nanos("m", 10, 0, cached_tokens=4) == 10_000
    assert t.cost_nanos("m", 10, 0, cache_creation_tokens=4) == 10_000
    assert t.fallbacks == {"m": 2} and t.unpriced == {}
    strict = PriceTable({"m": entry}, missing_cache_rate="unpriced")
    assert strict.cost_nanos("m", 10, 0, cached_tokens=4) is None
    assert strict.cost_nanos("m", 10, 0) == 10_000
    assert strict.unpriced_reasons == {"m": "no cache_read_input_token_cost"}
    nanos, bad = strict.price_many(["m", "m"], [10, 10], [0, 0], cache_creation_tokens=[0, 3])
    assert nanos.tolist() == [10_000, 0] and bad.tolist() == [False, True]


def test_reasoning_tokens_use_the_reasoning_rate_when_there_is_one():
    t = PriceTable(
        {
            "r": {
                "input_cost_per_token": "1e-6",
                "output_cost_per_token": "2e-6",
                "output_cost_per_reasoning_token": "5e-6",
            },
            "o": {"input_cost_per_token": "1e-6", "output_cost_per_token": "2e-6"},
        }
    )
    assert t.cost_nanos("r", 0, 10, reasoning_tokens=4) == 6 * 2000 + 4 * 5000
    assert t.cost_nanos("o", 0, 10, reasoning_tokens=4) == 10 * 2000


def test_from_litellm_skips_sample_spec_and_non_objects(tmp_path):
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps({"sample_spec": {"input_cost_per_token": 0.0}, "gpt-4o": GPT4O, "note": "x"})
    )
    for source in (path, str(path), path.open(), json.loads(path.read_text())):
        t = PriceTable.from_litellm(source)
        assert t.models == ["gpt-4o"]
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ValueError, match="JSON object"):
        PriceTable.from_litellm(tmp_path / "list.json")


# ----------------------------------------------------------------------------- vectorised


def test_price_many_matches_scalar_and_accepts_categoricals():
    t = PriceTable(
        {
            "gpt-4o": GPT4O,
            "x": {"input_cost_per_token": "1.3333333333333334e-06", "output_cost_per_token": 0},
        }
    )
    models = pd.Categorical(["gpt-4o", "x", "gpt-4o", "nope"])
    prompt = np.array([10, 7, 1000, 3])
    completion = np.array([20, 0, 1, 0])
    cached = np.array([0, 0, 400, 0])
    before = [a.copy() for a in (prompt, completion, cached)]
    nanos, bad = t.price_many(models, prompt, completion, cached)
    assert nanos.dtype == np.int64 and bad.dtype == bool
    expect = [
        t.cost_nanos(str(m), int(p), int(c), int(k))
        for m, p, c, k in zip(models, prompt, completion, cached)
    ]
    assert [None if b else int(v) for v, b in zip(nanos, bad)] == expect
    for a, b in zip((prompt, completion, cached), before):  # inputs untouched
        np.testing.assert_array_equal(a, b)


def test_price_many_empty_and_read_only_inputs():
    t = PriceTable({"gpt-4o": GPT4O})
    nanos, bad = t.price_many([], [], [])
    assert nanos.shape == (0,) and bad.shape == (0,)
    p = np.array([10, 20])
    p.setflags(write=False)
    nanos, _ = t.price_many(np.array(["gpt-4o", "gpt-4o"], dtype=object), p, p[::-1].copy())
    assert nanos.tolist() == [10 * 2500 + 20 * 10_000, 20 * 2500 + 10 * 10_000]
    with pytest.raises(TypeError, match="row 1"):
        t.price_many(["gpt-4o", 3], [1, 1], [1, 1])
    with pytest.raises(ValueError, match="row 0"):
        t.price_many([None], [1], [1])


def test_int64_overflow_is_checked_and_python_ints_take_over():
    # a 17-digit price makes the scaled rate ~5e16: tokens * rate overflows int64
    entry = {"input_cost_per_token": 5.0000000000000004e-08, "output_cost_per_token": 1.3e-05}
    t = PriceTable({"m": entry})
    prompt = np.array([10**6, 3, 10**9])
    completion = np.array([10**6, 0, 10**6])
    nanos, bad = t.price_many(["m"] * 3, prompt, completion)
    assert not bad.any()
    assert nanos.tolist() == [oracle(entry, int(p), int(c)) for p, c in zip(prompt, completion)]
    with pytest.raises(tc.CoerceError, match="int64 nano-dollar"):
        PriceTable({"big": {"input_cost_per_token": 1e6}}).price_many(["big"], [10**13], [0])
    with pytest.raises(tc.CoerceError, match="int64"):
        PriceTable({"big": {"input_cost_per_token": 1e6}}).cost_nanos("big", 10**13, 0)
    with pytest.raises(ValueError, match="too large"):
        PriceTable({"big": {"input_cost_per_token": "1e400"}})


prices_st = st.one_of(
    st.none(),
    st.floats(min_value=0, max_value=1e-3, allow_nan=False, allow_subnormal=False),
    st.sampled_from([0, 2.5e-06, 1e-05, 1.25e-07, 1.41953125e-07, 3.0001999999999996e-07, 1.5e-10]),
)


@st.composite
def entries(draw):
    entry = {
        "input_cost_per_token": draw(st.one_of(prices_st.filter(lambda x: x is not None))),
        "output_cost_per_token": draw(prices_st),
        "cache_read_input_token_cost": draw(prices_st),
        "cache_creation_input_token_cost": draw(prices_st),
        "output_cost_per_reasoning_token": draw(prices_st),
    }
    if draw(st.booleans()):
        label = draw(st.sampled_from(["128k", "200k", "1000"]))
        entry[f"input_cost_per_token_above_{label}_tokens"] = draw(prices_st)
        entry[f"output_cost_per_token_above_{label}_tokens"] = draw(prices_st)
        entry[f"cache_read_input_token_cost_above_{label}_tokens"] = draw(prices_st)
    return entry


@st.composite
def requests(draw):
    prompt = draw(
        st.one_of(st.integers(0, 2000), st.integers(0, 400_000), st.just(128_000), st.just(128_001))
    )
    cached = draw(st.integers(0, prompt))
    creation = draw(st.integers(0, prompt - cached))
    completion = draw(st.integers(0, 100_000))
    reasoning = draw(st.integers(0, completion))
    return prompt, completion, cached, creation, reasoning


@settings(max_examples=300, deadline=None)
@given(entries(), st.lists(requests(), min_size=1, max_size=20), st.booleans())
def test_cost_matches_fraction_oracle(entry, reqs, fallback):
    t = PriceTable({"m": entry}, missing_cache_rate="input" if fallback else "unpriced")
    expect = [oracle(entry, *r, cache_fallback=fallback) for r in reqs]
    assert [t.cost_nanos("m", *r) for r in reqs] == expect
    cols = list(zip(*reqs))
    nanos, bad = t.price_many(["m"] * len(reqs), *cols)
    assert bad.tolist() == [e is None for e in expect]
    assert [0 if e is None else e for e in expect] == nanos.tolist()


# ----------------------------------------------------------------------------- the real file


@pytest.fixture(scope="module")
def litellm_prices(shared_file):
    return shared_file(*LITELLM_PRICES)


@pytest.fixture(scope="module")
def litellm_map(litellm_prices):
    with litellm_prices.open() as fh:
        return json.load(fh)


def test_real_litellm_file_loads_and_prices_known_models(litellm_map, litellm_prices):
    t = PriceTable.from_litellm(litellm_prices)
    assert len(t) == len(litellm_map) - 1  # every entry but sample_spec
    assert "sample_spec" not in t.models
    assert t.cost_nanos("gpt-4o", 10, 20) == 225_000  # = the spend of LiteLLM's spend log example
    assert t.cost_nanos("openai/gpt-4o-mini", 1000, 100) == 1000 * 150 + 100 * 600
    # gemini-2.5-pro: 200k tier on input, output and cache read
    assert t.cost_nanos("gemini/gemini-2.5-pro", 200_000, 10) == 200_000 * 1250 + 10 * 10_000
    assert t.cost_nanos("gemini/gemini-2.5-pro", 200_001, 10, cached_tokens=1) == (
        200_000 * 2500 + 1 * 250 + 10 * 15_000
    )
    # dashscope tiered_pricing
    assert t.cost_nanos("dashscope/qwen-flash", 300_000, 1) == 300_000 * 250 + 2000


def test_real_litellm_file_all_chat_models_match_oracle(litellm_map):
    t = PriceTable.from_litellm(litellm_map)
    chat = sorted(
        k for k, v in litellm_map.items() if isinstance(v, dict) and v.get("mode") == "chat"
    )
    rng = np.random.default_rng(7)
    n = len(chat) * 3
    models = [chat[i % len(chat)] for i in range(n)]
    prompt = rng.integers(0, 400_000, n)
    cached = (prompt * rng.random(n) * 0.5).astype(np.int64)
    completion = rng.integers(0, 20_000, n)
    nanos, bad = t.price_many(models, prompt, completion, cached)
    for i in range(n):
        e = oracle(litellm_map[models[i]], int(prompt[i]), int(completion[i]), int(cached[i]))
        assert (None if bad[i] else int(nanos[i])) == e, models[i]
    assert sum(t.unpriced.values()) == int(bad.sum())
