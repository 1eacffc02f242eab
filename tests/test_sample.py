"""The bundled sample: deterministic and realistic; checked with plain pandas over to_pandas()."""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tagcore as tc
from tagcore.sample import PRICES_NANOS, SAMPLE_END, load_sample


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return load_sample().to_pandas()


def _arrays(log: tc.RequestLog) -> dict[str, object]:
    return {"ts": log.ts.tolist(), "models": log.models, "codes": log.model_codes.tolist(),
            "p": log.prompt_tokens.tolist(), "c": log.completion_tokens.tolist(),
            "cost": log.cost.tolist(), "lat": np.nan_to_num(log.latency_ms, nan=-1).tolist(),
            "status": log.status.tolist(), "off": log.tag_offsets.tolist(),
            "tags": [log.trie.path(int(i)) for i in log.tag_ids],
            "key": log.extra_strings("key").tolist()}


def test_deterministic():
    a, b = load_sample(), load_sample()
    assert _arrays(a) == _arrays(b)
    pd.testing.assert_frame_equal(a.to_pandas(), b.to_pandas())
    assert _arrays(load_sample(seed=8)) != _arrays(a)


def test_public_api_and_size():
    assert tc.load_sample is load_sample
    assert len(load_sample()) == 4000
    assert len(load_sample(250, seed=1)) == 250
    assert len(load_sample(0)) == 0
    with pytest.raises(ValueError, match="n:"):
        load_sample(-1)


def test_fast():
    best = min(_timed(load_sample) for _ in range(3))
    assert best < 0.3, f"load_sample took {best:.3f} s"


def _timed(f) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def test_time_range_five_weeks_ending_at_fixed_date(df):
    end = pd.Timestamp(SAMPLE_END)
    assert end == pd.Timestamp("2026-11-20T18:00Z")
    assert df["ts"].max() <= end
    assert df["ts"].min() > end - pd.Timedelta(days=35)
    assert df["ts"].max() - df["ts"].min() > pd.Timedelta(days=34)
    assert df["ts"].is_monotonic_increasing


def test_now_moves_the_window():
    d = load_sample(300, now="2030-01-01T00:00Z").to_pandas()
    assert d["ts"].max() <= pd.Timestamp("2030-01-01T00:00Z")
    assert d["ts"].min() > pd.Timestamp("2030-01-01T00:00Z") - pd.Timedelta(days=35)


def test_errors_about_three_percent_and_free(df):
    share = (df["status"] >= 400).mean()
    assert 0.015 < share < 0.045
    assert set(df["status"]) <= {200, 429, 500, 503}
    assert {429, 500} <= set(df["status"])
    assert (df.loc[df["status"] >= 400, "cost_nanos"] == 0).all()


def test_untagged_rows_exist(df):
    n_untagged = (df["request_tags"].map(len) == 0).sum()
    assert 0 < n_untagged < 0.05 * len(df)


def test_vocabulary(df):
    tags = {t for ts in df["request_tags"] for t in ts}
    for t in ("customer/acme", "customer/globex", "customer/initech", "customer/umbrella",
              "customer/hooli", "feature/summary-widget", "feature/chat", "feature/search",
              "feature/code-review", "env/production", "env/staging", "UK/London",
              "UK/Manchester", "Europe", "Europe/France/Paris", "US/California/SF", "asia",
              "beta", "org/platform/search/ranker"):
        assert t in tags, t
    prod = df["request_tags"].map(lambda ts: "env/production" in ts).mean()
    staging = df["request_tags"].map(lambda ts: "env/staging" in ts).mean()
    assert prod > 0.8 and 0.03 < staging < 0.2
    assert df["model"].nunique() >= 5
    assert {"acme-prod", "acme-staging", "ci-smoke-tests"} <= set(df["key"])
    untagged = df[df["request_tags"].map(len) == 0]
    assert set(untagged["key"]) == {"ci-smoke-tests"}


def _split_by_customer(df: pd.DataFrame) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for tags, cost in zip(df["request_tags"], df["cost_nanos"]):
        cs = sorted({"/".join(t.split("/")[:2]) for t in tags if t.startswith("customer/")})
        for c in cs:
            out[c] += cost / len(cs)
    return out


def test_acme_is_the_top_customer(df):
    split = _split_by_customer(df)
    ranked = sorted(split, key=split.get, reverse=True)
    assert ranked[0] == "customer/acme"
    assert split["customer/acme"] > 1.3 * split[ranked[1]]  # clearly the biggest
    reqs = df["request_tags"].map(lambda ts: "customer/acme" in ts).sum()
    assert reqs == max(df["request_tags"].map(lambda ts, c=c: c in ts).sum() for c in split)
    # and the API agrees
    assert load_sample().top(1, under="customer").index[0] == "customer/acme"


def test_costs_are_list_prices(df):
    ok = df[df["status"] == 200]
    prices = ok["model"].map(PRICES_NANOS)
    expected = [p * i + c * o for p, c, (i, o) in
                zip(ok["prompt_tokens"], ok["completion_tokens"], prices)]
    assert ok["cost_nanos"].tolist() == expected
    assert PRICES_NANOS["gpt-4o"] == (2_500, 10_000)  # $2.50 / $10 per million tokens


def test_seasonality(df):
    days = df.groupby(df["ts"].dt.floor("D")).size()
    weekday = days[days.index.day_of_week < 5].iloc[1:-1].mean()
    weekend = days[days.index.day_of_week >= 5].mean()
    assert weekend < 0.7 * weekday
    hours = df.groupby(df["ts"].dt.hour).size()
    assert hours.loc[9:18].mean() > 3 * hours.loc[0:5].mean()


def test_tokens_and_latency_are_spread(df):
    ok = df[df["status"] == 200]
    p = ok["prompt_tokens"]
    assert p.min() >= 1 and p.quantile(0.99) > 10 * p.quantile(0.1)  # long-tailed
    lat = df["latency_ms"].dropna()
    assert (lat > 0).all() and lat.median() > 100
    assert df["latency_ms"].isna().sum() < 0.02 * len(df)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(0, 60), seed=st.integers(0, 2**31))
def test_any_seed_gives_a_valid_log(n, seed):
    log = load_sample(n, seed)
    assert len(log) == n
    assert (np.diff(log.ts) >= 0).all()
    assert int(log.cost.sum()) == sum(log.cost.tolist())
    assert _arrays(log) == _arrays(load_sample(n, seed))
