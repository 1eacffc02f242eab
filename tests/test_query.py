"""The query layer (totals, rollup, filter, timeseries, pivot, top) against the oracle.

Logs come from tests/oracle.py's generator: random tries with 1- and 16-segment paths, a tag
together with its own ancestor in one request, several tags under one root, untagged rows, NaN
latencies, errors, empty logs and costs as random nano-dollars.
"""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

import numpy as np
import oracle as O
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tagcore import RequestLog
from tagcore import TagTrie as TrieType
from tagcore import filters as F
from tagcore.query import UnknownPathError

NS = 10**9
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ALL_METRICS = ["requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens",
               "cost", "cost_nanos", "share", "latency_mean", "latency_p50", "latency_p90",
               "latency_p95", "latency_p99", "first_seen", "last_seen"]
QUANTS = {"latency_p50": 0.5, "latency_p90": 0.9, "latency_p95": 0.95, "latency_p99": 0.99}
SUMMED = ["requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens"]


def build(recs: list[dict]) -> RequestLog:
    return RequestLog.from_records([O.to_input(r) for r in recs])


def refused(log: RequestLog, under: str | None, query) -> bool:
    """A path the log has never seen is refused with the nearest names, never answered with
    an empty frame (issue 11); True when ``under`` is such a path and ``query()`` refused it.
    A log with neither requests nor tags answers everything with an empty frame."""
    if under is None or log.trie.get(under, -1) >= 0 or not (len(log) or len(log.trie)):
        return False
    with pytest.raises(UnknownPathError, match=f"under: '{under}' is not a tag path"):
        query()
    return True


def same_float(a, b) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def close(a, b) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def ts_of(ns):
    return pd.NaT if ns is None else pd.Timestamp(ns, unit="ns", tz="UTC")


def expected_dtypes(metrics, split: bool) -> dict:
    f, i = np.dtype("float64"), np.dtype("int64")
    out = {"depth": i, "parent": np.dtype(object)}
    for m in metrics:
        if m in SUMMED:
            out[m] = f if split else i
        elif m == "cost_nanos":
            out[m] = i
        elif m in ("first_seen", "last_seen"):
            out[m] = pd.DatetimeTZDtype("ns", "UTC")
        else:
            out[m] = f
    return out


def check_metrics(row, want: dict, metrics, split: bool, what: str) -> None:
    """One frame row (or totals Series) against an oracle metrics dict."""
    for m in metrics:
        got = row[m]
        if m in SUMMED:
            if split:
                assert close(float(got), float(want[m])), (what, m, got, want[m])
            else:
                assert int(got) == want[m], (what, m, got, want[m])
        elif m == "cost_nanos":
            assert int(got) == want[m], (what, m, got, want[m])
        elif m == "cost":
            assert float(got) == want["cost_nanos"] / NS, (what, m, got)
        elif m == "share":
            assert close(float(got), want[m]), (what, m, got, want[m])
        elif m == "latency_mean":
            assert close(float(got), want[m]), (what, m, got, want[m])
        elif m in QUANTS:
            vals = want["latency_values"]
            exp = float(np.quantile(vals, QUANTS[m])) if vals else math.nan
            assert same_float(float(got), exp), (what, m, got, exp)  # exactly numpy's
            assert close(exp, want[m])  # and the oracle agrees with numpy
        elif m in ("first_seen", "last_seen"):
            exp = ts_of(want[m])
            assert (pd.isna(got) and pd.isna(exp)) or got == exp, (what, m, got, exp)


def check_frame(df: pd.DataFrame, want: dict[str, dict], metrics, split: bool) -> None:
    assert list(df.columns) == ["depth", "parent", *metrics]
    assert df.index.name == "tag"
    assert df.dtypes.to_dict() == expected_dtypes(metrics, split)
    assert list(df.index).count(O.UNTAGGED) <= 1 and not df.index.duplicated().any()
    assert set(df.index) == set(want), (sorted(df.index), sorted(want))
    for label, w in want.items():
        row = df.loc[label]
        assert row["depth"] == w["depth"] and row["parent"] == w["parent"], label
        check_metrics(row, w, metrics, split, label)


# ------------------------------------------------------------------------------ totals


@SETTINGS
@given(O.records())
def test_totals_equal_per_request_sums(recs):
    log = build(recs)
    metrics = [m for m in ALL_METRICS if m != "share"]
    t = log.totals(metrics)
    assert list(t.index) == metrics
    check_metrics(t, O.totals(recs), metrics, False, "totals")
    d = log.totals()
    assert "share" not in d.index and "depth" not in d.index and "parent" not in d.index
    assert int(d["cost_nanos"]) == sum(r["cost_nanos"] for r in recs)


# ------------------------------------------------------------------------------ rollup, full


@st.composite
def log_and_place(draw, max_rows=12):
    """Records plus an (under, level) pair drawn from its nodes (or unknown ones)."""
    recs = draw(O.records(max_rows=max_rows))
    nodes = sorted(O.all_nodes(recs))
    under = draw(st.one_of(st.none(), st.sampled_from(nodes or ["nowhere"]),
                           st.just("nowhere/else"), st.just("a/b")))
    level = draw(st.one_of(st.none(), st.integers(1, 4), st.just(16)))
    return recs, under, level


@SETTINGS
@given(log_and_place(), st.sampled_from([None, ["requests", "cost", "latency_p99"]]))
def test_rollup_full_vs_oracle(data, metrics):
    recs, under, level = data
    log = build(recs)
    if refused(log, under, lambda: log.rollup(under=under, level=level, metrics=metrics)):
        return
    want = O.rollup_full(recs, under, level)
    df = log.rollup(under=under, level=level, metrics=metrics)
    ms = metrics or [m for m in ALL_METRICS if m not in ("latency_p90", "latency_p99")]
    check_frame(df, want, ms, split=False)
    # rows by cost descending, ties in path order; sort="path" is tree order
    assert list(df.index) == O.cost_order(want)
    by_path = log.rollup(under=under, level=level, metrics=metrics, sort="path")
    assert list(by_path.index) == sorted(want, key=O.path_key)
    pd.testing.assert_frame_equal(by_path, df.loc[list(by_path.index)])


@SETTINGS
@given(log_and_place(), st.lists(st.sampled_from(ALL_METRICS), min_size=1, unique=True))
def test_rollup_metrics_subset_any_order(data, metrics):
    """``metrics=`` picks and orders the columns; rows stay by cost descending (DESIGN: "rows
    by cost descending unless sort='path'") even when cost is not among the columns."""
    recs, under, level = data
    log = build(recs)
    if refused(log, under, lambda: log.rollup(under=under, level=level, metrics=metrics)):
        return
    want = O.rollup_full(recs, under, level)
    df = log.rollup(under=under, level=level, metrics=metrics)
    check_frame(df, want, metrics, split=False)
    assert list(df.index) == O.cost_order(want)


def test_rows_by_cost_even_without_a_cost_column():
    recs = [_rec(["x/a"], 0), _rec(["x/b"], 1)]
    assert list(build(recs).rollup(metrics=["requests"]).index) == ["x", "x/b", "x/a"]


def test_quantiles_are_numpys_to_the_bit():
    """np.quantile([1, 1, 2], 0.95) is 1.9; the roll-up must give the same float."""
    recs = [_rec(["a"], 0, lat=x) for x in (1.0, 1.0, 2.0)]
    log = build(recs)
    want = float(np.quantile([1.0, 1.0, 2.0], 0.95))
    assert log.totals(["latency_p95"])["latency_p95"] == want
    assert log.rollup(metrics=["latency_p95"]).loc["a", "latency_p95"] == want
    split = log.rollup(level=1, attribution="split", metrics=["latency_p95"])
    assert split.loc["a", "latency_p95"] == want


@SETTINGS
@given(O.records())
def test_rollup_invariants(recs):
    log = build(recs)
    df = log.rollup(metrics=["requests", "errors", "prompt_tokens", "cost_nanos"])
    selfs = O.self_counts(recs)
    n = len(recs)
    for tag, row in df.iterrows():
        assert row["requests"] >= selfs.get(tag, 0)  # total >= self
        assert row["requests"] <= n
        if row["parent"] is not None:
            p = df.loc[row["parent"]]
            for m in ("requests", "errors", "prompt_tokens", "cost_nanos"):
                assert p[m] >= row[m], (tag, m)
    # the roots' requests add up to at least the tagged requests (overlap allowed)
    tagged = sum(1 for r in recs if r["tags"])
    assert df.loc[df["depth"] == 1, "requests"].sum() >= tagged


# ------------------------------------------------------------------------------ split, primary


@st.composite
def log_and_set(draw, max_rows=12):
    """Records plus a set: under a node (default its children) and/or an absolute level."""
    recs = draw(O.records(max_rows=max_rows))
    nodes = sorted(O.all_nodes(recs))
    under = draw(st.one_of(st.none(), st.sampled_from(nodes or ["nowhere"]), st.just("zz")))
    if under is None:
        level = draw(st.integers(1, 4))
    else:
        level = draw(st.one_of(st.none(), st.integers(1, 4)))
    return recs, under, level


@SETTINGS
@given(log_and_set(), st.sampled_from(["split", "primary"]))
def test_rollup_split_and_primary_vs_oracle(data, attribution):
    recs, under, level = data
    log = build(recs)
    split = attribution == "split"
    metrics = [m for m in ALL_METRICS]
    if refused(log, under, lambda: log.rollup(under=under, level=level,
                                              attribution=attribution)):
        return
    df = log.rollup(under=under, level=level, attribution=attribution, metrics=metrics)
    want = O.rollup(recs, under, level, attribution)
    check_frame(df, want, metrics, split)
    # chargeback: the rows add up to the total, exactly to the nano-dollar
    assert int(df["cost_nanos"].sum()) == sum(r["cost_nanos"] for r in recs)
    if split:
        assert math.isclose(df["requests"].sum(), len(recs), abs_tol=1e-9)
        assert math.isclose(df["prompt_tokens"].sum(), sum(r["prompt_tokens"] for r in recs),
                            rel_tol=1e-12, abs_tol=1e-6)
    else:
        assert df["requests"].sum() == len(recs)
    assert list(df.index) == O.cost_order(want)
    by_path = log.rollup(under=under, level=level, attribution=attribution, sort="path")
    real = [v for v in want if v != O.UNTAGGED]
    assert list(by_path.index) == sorted(real, key=O.path_key) + (
        [O.UNTAGGED] if O.UNTAGGED in want else [])


def _rec(tags, cost, ts=0, lat=1.0, status=200, model="m"):
    return {"ts": O.T0 + ts, "model": model, "prompt_tokens": 1, "completion_tokens": 2,
            "cost_nanos": cost, "latency_ms": lat, "status": status, "tags": tags}


def test_split_remainder_goes_to_first_hits_in_path_order():
    # request order z, a, m but path order a, m, z: 11 nanos over 3 -> 4, 4, 3
    recs = [_rec(["c/z", "c/a/deep", "c/m", "c/a", "other"], 11), _rec(["c/m/x"], 2)]
    df = build(recs).rollup(under="c", attribution="split", metrics=["cost_nanos", "requests"])
    assert df["cost_nanos"].to_dict() == {"c/a": 4, "c/m": 4 + 2, "c/z": 3}
    assert df["requests"].to_dict() == pytest.approx({"c/a": 1 / 3, "c/m": 4 / 3, "c/z": 1 / 3})
    assert O.split_cost(11, 3) == [4, 4, 3]


def test_primary_takes_the_first_tag_in_request_order():
    recs = [_rec(["x", "c/z", "c/a"], 5), _rec(["c/a/q", "c/z"], 7), _rec(["c"], 1)]
    df = build(recs).rollup(under="c", attribution="primary", metrics=["cost_nanos"])
    assert df["cost_nanos"].to_dict() == {"c/z": 5, "c/a": 7, O.UNTAGGED: 1}


@pytest.mark.parametrize("attribution", ["split", "primary"])
def test_split_without_a_set_is_an_error(attribution):
    log = build([_rec(["a/b"], 1)])
    with pytest.raises(ValueError, match="under|level"):
        log.rollup(attribution=attribution)
    with pytest.raises(ValueError):
        log.top(3, attribution=attribution)
    with pytest.raises(ValueError):
        log.rollup(attribution="spilt", under="a")


@SETTINGS
@given(log_and_set(), st.sampled_from(["full", "split", "primary"]))
def test_rollup_by_model(data, attribution):
    recs, under, level = data
    log = build(recs)
    metrics = ["requests", "cost_nanos", "cost", "share", "latency_p50", "first_seen"]
    if refused(log, under, lambda: log.rollup(under=under, level=level,
                                              attribution=attribution, by="model")):
        return
    df = log.rollup(under=under, level=level, attribution=attribution, by="model",
                    metrics=metrics)
    assert df.index.names == ["model", "tag"]
    grand = sum(r["cost_nanos"] for r in recs)
    seen = set()
    for model in sorted({r["model"] for r in recs}):
        sub = [r for r in recs if r["model"] == model]
        want = O.rollup(sub, under, level, attribution)
        for w in want.values():  # shares stay of the whole log's cost
            w["share"] = w["cost_nanos"] / grand if grand else 0.0
        if not want:
            continue
        seen.add(model)
        part = df.xs(model, level="model")
        check_frame(part, want, metrics, attribution == "split")
    assert set(df.index.get_level_values("model")) == seen


@pytest.mark.parametrize("by", ["status", "user"])
def test_rollup_by_other_columns(by):
    recs = [_rec(["a/b"], 3, status=500), _rec(["a/c", "b"], 4), _rec(["a/b"], 5)]
    inputs = [O.to_input(r) for r in recs]
    inputs[0]["user"], inputs[2]["user"] = "u1", "u2"
    log = RequestLog.from_records(inputs)
    df = log.rollup(level=1, by=by, metrics=["requests", "cost_nanos", "share"])
    assert df.index.names == [by, "tag"]
    keys = {"status": [500, 200, 200], "user": ["u1", None, "u2"]}[by]
    for key in dict.fromkeys(keys):
        sub = [r for r, k in zip(recs, keys) if k == key]
        want = O.rollup_full(sub, None, 1)
        part = df.xs(key, level=by) if key is not None else df.loc[
            [i for i in df.index if i[0] is None or (isinstance(i[0], float) and math.isnan(i[0]))]
        ].droplevel(0)
        assert part["requests"].to_dict() == {v: w["requests"] for v, w in want.items()}
        assert part["cost_nanos"].to_dict() == {v: w["cost_nanos"] for v, w in want.items()}
        assert part["share"].to_dict() == pytest.approx(
            {v: w["cost_nanos"] / 12 for v, w in want.items()})


def test_rollup_after_the_shared_trie_grew():
    """from_records(trie=T) lets logs share a vocabulary; a later log adding nodes to T must
    not break queries of an earlier log (whose roll-up is cached)."""
    trie = TrieType()
    a = RequestLog.from_records([O.to_input(_rec(["a/b"], 5))], trie=trie)
    before = a.rollup(metrics=["requests", "cost_nanos"])
    RequestLog.from_records([O.to_input(_rec(["z/y/x"], 1))], trie=trie)  # grows the trie
    after = a.rollup(metrics=["requests", "cost_nanos"])
    pd.testing.assert_frame_equal(before, after)
    pd.testing.assert_frame_equal(a.rollup(level=1, metrics=["requests", "latency_p50"]),
                                  a.rollup(level=1, metrics=["requests", "latency_p50"]))
    assert a.rollup(under="z").empty


# ------------------------------------------------------------------------------ filter

LEAF_PATHS = ["a", "b", "ab", "a/b", "a/ab", "b/a/x", "Z9", "x/y", "nowhere", "a/b/c/zz"]
GLOBS = ["a/*", "*/a", "**/b", "a/**", "*", "*/*/x", "**", "x/**/y", "*/Z9/**"]


def leaves():
    return st.one_of(st.tuples(st.just("tag"), st.sampled_from(LEAF_PATHS)),
                     st.tuples(st.just("exact"), st.sampled_from(LEAF_PATHS)),
                     st.tuples(st.just("glob"), st.sampled_from(GLOBS)))


filters_tree = st.recursive(
    leaves(),
    lambda kids: st.one_of(st.tuples(st.just("and"), kids, kids),
                           st.tuples(st.just("or"), kids, kids),
                           st.tuples(st.just("not"), kids)),
    max_leaves=6)


def render(f: tuple, words: bool) -> str:
    kind = f[0]
    if kind == "tag" or kind == "glob":
        return f[1]
    if kind == "exact":
        return "=" + f[1]
    if kind == "not":
        return ("not " if words else "~") + "(" + render(f[1], words) + ")"
    op = {"and": " and " if words else " & ", "or": " or " if words else " | "}[kind]
    return "(" + render(f[1], words) + op + render(f[2], words) + ")"


def combinator(f: tuple) -> F.Filter:
    kind = f[0]
    if kind == "tag":
        return F.tag(f[1])
    if kind == "exact":
        return F.exact(f[1])
    if kind == "glob":
        return F.glob(f[1])
    if kind == "not":
        return ~combinator(f[1])
    if kind == "and":
        return combinator(f[1]) & combinator(f[2])
    return combinator(f[1]) | combinator(f[2])


def rows_key(df: pd.DataFrame) -> list:
    return list(zip(df["ts"].astype("int64").tolist(), df["cost_nanos"].tolist(),
                    map(tuple, df["request_tags"].tolist())))


def recs_key(recs: list[dict]) -> list:
    return [(r["ts"], r["cost_nanos"], tuple(r["tags"])) for r in recs]


@SETTINGS
@given(O.records(), filters_tree, st.booleans())
def test_filter_expressions_vs_oracle(recs, f, words):
    log = build(recs)
    want = recs_key(O.filter_records(recs, f))
    text = render(f, words)
    assert rows_key(log.filter(text).to_pandas()) == want, text
    assert rows_key(log.filter(combinator(f)).to_pandas()) == want, text


def test_filter_is_segment_aware():
    recs = [_rec(["customer/acme"], 1), _rec(["customers/x"], 2), _rec(["customer"], 3),
            _rec(["customer/acme/eu", "env/staging"], 4), _rec([], 5)]
    log = build(recs)

    def costs(expr):
        return log.filter(expr).cost.tolist()

    assert costs("customer") == [1, 3, 4]
    assert costs("=customer") == [3]
    assert costs("customer/acme & ~env/staging") == [1]
    assert costs("customer/*") == [1, 4]
    assert costs("customer/**") == [1, 3, 4]
    assert costs("not customer") == [2, 5]
    assert costs("unknown/tag") == []
    assert costs("~unknown/tag") == [1, 2, 3, 4, 5]


LASTS = {"1h": 3600 * NS, "7D": 7 * 86400 * NS, "36h": 36 * 3600 * NS, "90min": 5400 * NS}


@SETTINGS
@given(O.records(), st.data())
def test_filter_time_model_status_vs_oracle(recs, data):
    log = build(recs)
    times = [r["ts"] for r in recs] or [O.T0]
    anytime = st.one_of(st.sampled_from(times), st.integers(O.T0 - NS, O.T0 + 41 * 86400 * NS))
    last = data.draw(st.one_of(st.none(), st.sampled_from(sorted(LASTS))))
    now = data.draw(st.one_of(st.none(), anytime))
    since = data.draw(st.one_of(st.none(), anytime))
    until = data.draw(st.one_of(st.none(), anytime))
    model = data.draw(st.one_of(st.none(), st.sampled_from(["m1", "nope"]),
                                st.just(["m2", "m3"])))
    status = data.draw(st.one_of(st.none(), st.sampled_from(["error", "ok", 200, 429]),
                                 st.just([500, 503])))
    as_text = data.draw(st.booleans())

    def t(ns):
        return None if ns is None else (O.iso_ns(ns) if as_text else ts_of(ns))

    got = log.filter(last=last, now=t(now) if last else None, since=t(since), until=t(until),
                     model=model, status=status)
    want = O.filter_records(recs, last=LASTS.get(last), now=now if last else None,
                            since=since, until=until, model=model, status=status)
    assert rows_key(got.to_pandas()) == recs_key(want)


def test_last_window_edges():
    day = 86400 * NS
    recs = [_rec(["a"], c, ts=ts) for c, ts in
            [(1, 0), (2, 1), (3, 7 * day), (4, 7 * day + 1), (5, 3 * day)]]
    log = build(recs)
    # now = the last ts (7 days + 1 ns): keeps now - 7D < ts <= now, so not ts = 1 ns
    assert log.filter(last="7D").cost.tolist() == [3, 4, 5]
    assert log.filter(last="7D", now=O.iso_ns(O.T0 + 7 * day)).cost.tolist() == [2, 3, 5]
    assert log.filter(since=O.iso_ns(O.T0 + 1), until=O.iso_ns(O.T0 + 7 * day)).cost.tolist() \
        == [2, 5]


# ------------------------------------------------------------------------------ timeseries

# (tz, start, span): DST changes in London on 2026-03-29 and 2026-10-25, New York on
# 2026-03-08 and 2026-11-01
SPANS = {
    "1h": [("UTC", "2026-03-28T20:00Z", 3), ("Europe/London", "2026-03-28T22:00Z", 1),
           ("Europe/London", "2026-10-24T22:00Z", 1), ("America/New_York", "2026-11-01T02:00Z", 1)],
    "1D": [("UTC", "2026-01-01T00:00Z", 9), ("Europe/London", "2026-03-26T00:00Z", 7),
           ("Europe/London", "2026-10-22T00:00Z", 7), ("America/New_York", "2026-03-05T00:00Z", 7)],
    "1W": [("UTC", "2026-01-01T00:00Z", 40), ("Europe/London", "2026-03-15T00:00Z", 30),
           ("America/New_York", "2026-10-20T00:00Z", 30)],
    "1MS": [("UTC", "2026-01-10T00:00Z", 150), ("Europe/London", "2026-02-20T00:00Z", 300),
            ("America/New_York", "2026-09-15T00:00Z", 120)],
}
CASES = [(freq, tz, start, span) for freq, rows in SPANS.items() for tz, start, span in rows]


def check_series(df: pd.DataFrame, tz: str, starts: list[int], values: dict[str, list],
                 scale: float = NS) -> None:
    assert isinstance(df.index, pd.DatetimeIndex) and str(df.index.tz) == tz
    assert df.index.as_unit("ns").asi8.tolist() == starts
    assert list(df.columns) == list(values)
    for col, vals in values.items():
        assert df[col].tolist() == [v / scale for v in vals], col


@pytest.mark.parametrize("freq, tz, start, span_days", CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2][:10]}" for c in CASES])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_timeseries_vs_oracle(freq, tz, start, span_days, data):
    t0 = int(pd.Timestamp(start).value)
    recs = data.draw(O.records(min_rows=1, max_rows=10, t0=t0, span=span_days * 86400 * NS))
    log = build(recs)
    roots = O.select_nodes(O.all_nodes(recs), None, 1)
    starts, vals = O.timeseries(recs, freq, roots, tz)
    df = log.timeseries(freq, tz=tz)
    check_series(df, tz, starts, vals)
    # every request lands in the bucket holding its local time
    for r in recs:
        i = int(np.searchsorted(df.index.as_unit("ns").asi8, r["ts"], side="right")) - 1
        b = df.index[i].to_pydatetime()
        want = O.bucket_start(r["ts"], freq, tz)
        # same instant (aware datetimes in a repeated hour never compare equal across tzinfo
        # kinds, pytz under pandas 2 vs zoneinfo, so compare timestamps) and same wall time
        assert want.timestamp() == b.timestamp()
        assert want.replace(tzinfo=None) == b.replace(tzinfo=None)
        assert O.to_ns(b) <= r["ts"] < O.to_ns(O.next_start(b, freq, tz))  # ...and instant
    # under a root, and with a last= window relative to the log's last ts
    if roots:
        under = data.draw(st.sampled_from(roots))
        kids = O.children(recs, under)
        starts, vals = O.timeseries(recs, freq, kids, tz)
        check_series(log.timeseries(freq, under=under, tz=tz), tz, starts, vals)
    last = data.draw(st.sampled_from(["1h", "36h", "7D"]))
    hi = max(r["ts"] for r in recs)
    starts, vals = O.timeseries(recs, freq, roots, tz, lo=hi - LASTS[last], hi=hi)
    check_series(log.timeseries(freq, tz=tz, last=last), tz, starts, vals)


def test_timeseries_london_days_across_dst():
    # London: GMT until 2026-03-29T01:00Z, then BST (UTC+1)
    recs = [_rec(["a"], 1, ts=0), _rec(["a"], 2, ts=0)]
    recs[0]["ts"] = int(pd.Timestamp("2026-03-28T23:30Z").value)  # 23:30 GMT on the 28th
    recs[1]["ts"] = int(pd.Timestamp("2026-03-29T23:30Z").value)  # 00:30 BST on the 30th
    df = build(recs).timeseries("1D", tz="Europe/London")
    zi = ZoneInfo("Europe/London")
    assert list(df.index) == [pd.Timestamp(dt.datetime(2026, 3, d, tzinfo=zi)) for d in (28, 29, 30)]
    assert df.index.as_unit("ns").asi8.tolist() == [
        int(pd.Timestamp(s).value) for s in
        ("2026-03-28T00:00Z", "2026-03-29T00:00Z", "2026-03-29T23:00Z")]
    assert df["a"].tolist() == [1e-9, 0.0, 2e-9]


def test_timeseries_weeks_start_monday_and_zeros():
    # 2026-01-01 is a Thursday
    recs = [_rec(["a"], 5, ts=0), _rec(["b"], 7, ts=20 * 86400 * NS)]
    df = build(recs).timeseries("1W", metric="requests")
    assert [d.weekday() for d in df.index] == [0, 0, 0, 0]
    assert df.index[0] == pd.Timestamp("2025-12-29", tz="UTC")
    assert df.to_dict("list") == {"a": [1, 0, 0, 0], "b": [0, 0, 0, 1]}


TS_METRICS = {"cost": "cost_nanos", "requests": "requests", "errors": "errors",
              "prompt_tokens": "prompt_tokens", "total_tokens": "total_tokens"}


@SETTINGS
@given(log_and_set(), st.sampled_from(["full", "split", "primary"]),
       st.sampled_from(sorted(TS_METRICS)), st.sampled_from(["1D", "1W"]), st.data())
def test_timeseries_sets_metrics_windows_vs_oracle(data, attribution, metric, freq, more):
    recs, under, level = data
    assume(recs)
    log = build(recs)
    if refused(log, under, lambda: log.timeseries(freq, under=under, level=level,
                                                  attribution=attribution)):
        return
    nodes = O.set_of(recs, under, level)
    times = [r["ts"] for r in recs]
    anytime = st.integers(min(times) - 86400 * NS, max(times) + 86400 * NS)
    kind = more.draw(st.sampled_from(["all", "last-now", "since-until"]))
    if kind == "all":
        lo = hi = None
        kw = {}
    elif kind == "last-now":
        now = more.draw(anytime)
        lo, hi = now - LASTS["7D"], now
        kw = {"last": "7D", "now": ts_of(now)}
    else:
        since = more.draw(anytime)
        until = more.draw(st.integers(since + 1, since + 30 * 86400 * NS))
        lo, hi = since - 1, until - 1
        kw = {"since": O.iso_ns(since), "until": O.iso_ns(until)}
    df = log.timeseries(freq, under=under, level=level, metric=metric, attribution=attribution,
                        tz="America/New_York", **kw)
    starts, vals = O.timeseries(recs, freq, nodes, "America/New_York", lo=lo, hi=hi,
                                metric=TS_METRICS[metric], attribution=attribution)
    assert df.index.as_unit("ns").asi8.tolist() == starts
    assert list(df.columns) == list(vals)
    scale = NS if metric == "cost" else 1
    for col, want in vals.items():
        got = df[col].tolist()
        assert all(close(g, w / scale) for g, w in zip(got, want)), (col, got, want)
    if attribution != "full" and metric == "cost":  # chargeback per bucket, to the nano
        inside = [r for r in recs if (lo is None or r["ts"] > lo) and (hi is None or r["ts"] <= hi)]
        assert sum(sum(v) for v in vals.values()) == sum(r["cost_nanos"] for r in inside)


def test_timeseries_hours_are_local_hours_in_a_half_hour_zone():
    """Asia/Kolkata is UTC+05:30: an hourly bucket should be a local clock hour."""
    recs = [_rec(["a"], 1), _rec(["a"], 2)]
    recs[0]["ts"] = int(pd.Timestamp("2026-01-01T10:15Z").value)  # 15:45 IST
    recs[1]["ts"] = int(pd.Timestamp("2026-01-01T10:45Z").value)  # 16:15 IST
    df = build(recs).timeseries("1h", tz="Asia/Kolkata")
    assert [t.strftime("%H:%M") for t in df.index] == ["15:00", "16:00"]
    assert df["a"].tolist() == [1e-9, 2e-9]


# ------------------------------------------------------------------------------ pivot, top


@SETTINGS
@given(O.records(), st.data())
def test_pivot_vs_oracle(recs, data):
    log = build(recs)
    roots = O.select_nodes(O.all_nodes(recs), None, 1) or ["a"]
    dim_a = data.draw(st.sampled_from(roots))
    dim_b = data.draw(st.sampled_from(roots))
    assume(dim_a != dim_b)
    df = log.pivot(dim_a, dim_b)
    want = O.pivot(recs, dim_a, dim_b)
    assert list(df.index) == O.children(recs, dim_a)
    assert list(df.columns) == O.children(recs, dim_b)
    for (a, b), v in want.items():
        assert df.loc[a, b] == v / NS
    req = log.pivot(dim_a, dim_b, metric="requests")
    for (a, b), v in O.pivot(recs, dim_a, dim_b, "requests").items():
        assert req.loc[a, b] == v


@SETTINGS
@given(log_and_set(), st.integers(0, 4), st.sampled_from(["split", "primary"]))
def test_top_adds_up_vs_oracle(data, n, attribution):
    recs, under, level = data
    log = build(recs)
    metrics = ["requests", "errors", "prompt_tokens", "total_tokens", "cost", "cost_nanos"]
    if refused(log, under, lambda: log.top(n, under=under, level=level,
                                           attribution=attribution)):
        return
    df = log.top(n, under=under, level=level, attribution=attribution, metrics=metrics)
    want = O.top(recs, n, under, level, attribution)
    assert list(df.index) == list(want)
    assert list(df.columns) == ["depth", "parent", *metrics]
    for label, w in want.items():
        for m in metrics:
            assert close(float(df.loc[label, m]), float(w[m])), (label, m)
    assert int(df["cost_nanos"].sum()) == sum(r["cost_nanos"] for r in recs)
    assert math.isclose(df["requests"].sum(), len(recs), abs_tol=1e-9)


def test_top_full_other_is_what_the_top_n_do_not_cover():
    """With full attribution, the docstring says (other) is what the top n do not cover."""
    recs = [_rec(["customer/a", "customer/b"], 10), _rec(["customer/c"], 1), _rec([], 2)]
    df = build(recs).top(2, under="customer", attribution="full",
                         metrics=["requests", "cost", "cost_nanos"])
    assert list(df.index) == ["customer/a", "customer/b", O.OTHER]
    # the first request is covered by the top 2; the other two are not
    assert df.loc[O.OTHER, "requests"] == 2
    assert df.loc[O.OTHER, "cost_nanos"] == 3
    assert (df[["requests", "cost_nanos"]] >= 0).all().all()


# ------------------------------------------------------------------------------ empty


def _queries():
    return {
        "totals": lambda lg: lg.totals(),
        "rollup": lambda lg: lg.rollup(),
        "rollup-under-level": lambda lg: lg.rollup(under="a", level=2),
        "rollup-split": lambda lg: lg.rollup(level=1, attribution="split"),
        "rollup-primary": lambda lg: lg.rollup(under="a", attribution="primary"),
        "rollup-by": lambda lg: lg.rollup(level=1, by="model"),
        "rollup-by-split": lambda lg: lg.rollup(level=1, by="model", attribution="split"),
        "timeseries": lambda lg: lg.timeseries("1D"),
        "timeseries-last": lambda lg: lg.timeseries("1h", last="7D", tz="Europe/London"),
        "timeseries-split": lambda lg: lg.timeseries("1MS", under="a", attribution="split"),
        "pivot": lambda lg: lg.pivot("a", "b"),
        "top": lambda lg: lg.top(3, level=1),
        "filter": lambda lg: lg.filter("a/b", last="7D").to_pandas(),
    }


FULL = [_rec(["a/b", "b/x"], 5, status=500), _rec(["a/c"], 3, lat=float("nan")),
        _rec([], 1, ts=86400 * NS)]


@pytest.mark.parametrize("query", list(_queries()))
@pytest.mark.parametrize("how", ["empty", "from-records", "filtered-away", "sliced"])
def test_empty_results_have_columns_and_dtypes(query, how):
    q = _queries()[query]
    full = build(FULL)
    empty = {"empty": RequestLog.empty(), "from-records": RequestLog.from_records([]),
             "filtered-away": full.filter("nowhere"), "sliced": full[:0]}[how]
    assert len(empty) == 0
    ref = q(full)
    got = q(empty)  # never an exception
    if isinstance(ref, pd.Series):
        assert list(got.index) == list(ref.index)
        return
    if query.startswith("timeseries"):
        # no requests and no now=: there is no window, so no buckets (not days of 1969)
        assert len(got.index) == 0, got.index
    if query.startswith("timeseries") or query == "pivot":
        assert got.to_numpy().sum() == 0
        assert got.dtypes.isin([ref.dtypes.iloc[0]]).all() if len(got.columns) else True
        assert isinstance(got.index, type(ref.index))
        return
    if query == "top":
        assert (got.drop(index=O.OTHER, errors="ignore").shape[0]) == 0
        assert list(got.columns) == list(ref.columns)
        assert got.dtypes.to_dict() == ref.dtypes.to_dict()
        return
    assert len(got) == 0
    assert list(got.columns) == list(ref.columns)
    assert got.dtypes.to_dict() == ref.dtypes.to_dict()
    assert got.index.names == ref.index.names
