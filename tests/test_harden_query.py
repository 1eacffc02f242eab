"""Issue 12, items 5 and 6, on the query side: no hang, no silent wrap.

Item 5: ``timeseries`` refuses non-positive frequencies at once, and a grid of more buckets
than ``MAX_BUCKETS`` (one request at the epoch in a 2026 log) with an error that names the
outlier's row and time and suggests ``since=``; on every calendar unit too.

Item 6: int64 sums wrap around. Every sum a query shows is either exact or refused with
:class:`~tagcore.log.SumOverflowError` naming the column: totals, roll-ups (full, split,
primary, by a column), top, time series, pivots, filtered logs.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time

import numpy as np
import oracle as O
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagcore import RequestLog, TagcoreError, _calendar
from tagcore.log import LogError, SumOverflowError
from tagcore.query import BucketLimitError, _common

ts_mod = importlib.import_module("tagcore.query.timeseries")  # the package's name is the function

I64 = 2**63 - 1
NS = 10**9
DAY = 86400 * NS
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def rec(ts, tags, prompt=1, completion=0, cost_nanos=1, **extra):
    return {"ts": ts, "model": "m", "prompt_tokens": prompt, "completion_tokens": completion,
            "cost_nanos": cost_nanos, "latency_ms": 1.0, "status": 200, "request_tags": tags,
            **extra}


# ================================================================================== item 5


def test_non_positive_frequencies_are_refused_at_once():
    """Run in a child process with a timeout, so a hang fails the test instead of hanging it;
    every non-positive frequency, calendar or fixed-width, must be a clear ValueError."""
    freqs = ["0D", "-1D", "0W", "-2W", "0MS", "0QS", "0YS", "0h", "-1h", "0min", "0s",
             "-15min", "0ms"]
    code = f"""
import json
from tagcore import RequestLog
log = RequestLog.from_records([{{"ts": "2026-03-01T10:00Z", "model": "m", "prompt_tokens": 1,
    "completion_tokens": 0, "cost": 1, "latency_ms": 1, "status": 200,
    "request_tags": ["a/b"]}}])
out = {{}}
for f in {freqs!r}:
    try:
        log.timeseries(f)
        out[f] = "no error"
    except Exception as exc:
        out[f] = [type(exc).__name__, isinstance(exc, ValueError), str(exc)]
print(json.dumps(out))
"""
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert got.returncode == 0, got.stderr
    out = json.loads(got.stdout.strip().splitlines()[-1])
    for f in freqs:
        name, is_value_error, msg = out[f]
        assert is_value_error, (f, name, msg)
        assert "freq" in msg and "positive" in msg and repr(f) in msg, (f, msg)


def _epoch_outlier_log():
    recs = [rec(f"2026-03-0{d}T1{h}:00Z", ["env/prod"]) for d in range(1, 8) for h in range(3)]
    recs.insert(5, rec(0, ["env/prod"]))  # row 5: a request at the epoch
    return RequestLog.from_records(recs)


def test_an_epoch_outlier_is_refused_quickly_naming_its_row_and_time():
    log = _epoch_outlier_log()
    t0 = time.perf_counter()
    with pytest.raises(BucketLimitError) as got:
        log.timeseries("1h")
    assert time.perf_counter() - t0 < 5
    exc = got.value
    assert isinstance(exc, ValueError) and isinstance(exc, TagcoreError)
    msg = str(exc)
    assert exc.row == 5 and exc.ts == 0
    assert "row 5" in msg and "1970-01-01T00:00:00+00:00" in msg
    assert "since='2026-03-01'" in msg and f"{ts_mod.MAX_BUCKETS:,}" in msg
    # the suggestion works
    df = log.timeseries("1h", since="2026-03-01")
    assert df.shape[0] == 6 * 24 + 13 and (df.to_numpy() > 0).sum() == 21  # 03-01 00:00..


def test_a_future_outlier_suggests_until():
    recs = [rec(f"2026-03-0{d}T10:00Z", ["a"]) for d in range(1, 6)]
    recs.append(rec("2260-01-01T00:00Z", ["a"]))
    log = RequestLog.from_records(recs)
    with pytest.raises(BucketLimitError, match=r"row 5 at 2260-01-01.*until='2026-03-06'"):
        log.timeseries("1h")
    assert log.timeseries("1h", until="2026-03-06").shape[0] == 14 + 4 * 24  # 03-01 10:00..


def test_a_window_too_wide_for_the_freq_says_so():
    log = _epoch_outlier_log()
    with pytest.raises(BucketLimitError, match="narrow the window") as got:
        log.timeseries("1min", last="400D")
    assert got.value.row is None
    # an empty log with an explicit, huge window: no grid is laid out either
    with pytest.raises(BucketLimitError, match="narrow the window"):
        RequestLog.empty().timeseries("1s", last="10000D", now="2026-01-01")


@pytest.mark.parametrize("freq, unit_days", [("1D", 1), ("2D", 2), ("1W", 7), ("1MS", 31),
                                             ("QS", 92), ("YS", 366)])
@pytest.mark.parametrize("tz", ["UTC", "America/New_York"])
def test_every_calendar_unit_is_bounded(monkeypatch, freq, unit_days, tz):
    monkeypatch.setattr(ts_mod, "MAX_BUCKETS", 20)
    recs = [rec("2026-03-01T10:00Z", ["a"]), rec("2026-03-02T10:00Z", ["a"])]
    recs.append(rec(pd.Timestamp("2026-03-01T10:00Z").value // NS - 40 * unit_days * 86400,
                    ["a"]))
    log = RequestLog.from_records(recs)
    with pytest.raises(BucketLimitError, match="row 2 at") as got:
        log.timeseries(freq, tz=tz)
    assert got.value.row == 2 and "since='2026-03-01'" in str(got.value)
    assert log.timeseries(freq, tz=tz, since="2026-03-01").shape[0] <= 3


def test_the_cell_count_is_bounded_too(monkeypatch):
    monkeypatch.setattr(ts_mod, "MAX_CELLS", 100)
    log = RequestLog.from_records([rec(f"2026-03-01T{h:02d}:00Z", [f"c/{h}"])
                                   for h in range(20)])
    with pytest.raises(BucketLimitError, match="cells"):
        log.timeseries("1h", under="c")
    assert log.timeseries("1D", under="c").shape == (1, 20)


def test_an_empty_window_is_an_empty_frame():
    log = RequestLog.from_records([rec(f"2026-03-0{d}T10:00Z", ["a"]) for d in (1, 2, 3)])
    for freq in ("1h", "1D"):
        assert log.timeseries(freq, since="2026-03-03", until="2026-03-02").shape == (0, 1)
        assert log.timeseries(freq, until="2020-01-01").shape == (0, 1)
        # no data and a window open on one side: no grid to the end of time either
        empty = RequestLog.empty()
        assert empty.timeseries(freq, until="2026-01-01", now="2026-01-01").shape[0] == 0
        assert empty.timeseries(freq, since="2026-01-01", now="2026-01-01").shape[0] == 0


@SETTINGS
@given(st.integers(-(2**62), 2**62), st.integers(0, 3000 * DAY),
       st.sampled_from(_calendar.UNITS), st.integers(1, 5),
       st.sampled_from(["UTC", "Europe/London", "Asia/Kolkata", "Pacific/Apia"]))
def test_calendar_count_is_the_number_of_edges(lo, span, unit, n, tz):
    lo = max(lo, -(2**62))
    hi = min(lo + span, 2**62)
    e = _calendar.edges(lo, hi, unit, n, tz)
    k = _calendar.count(lo, hi, unit, n, tz)
    assert len(e) - 1 in (k, k + 1)  # one more when lo is in a repeated midnight hour
    with pytest.raises(ValueError, match="more than the limit"):
        _calendar.edges(lo, hi, unit, n, tz, limit=k - 1) if k > 1 else \
            _calendar.edges(lo, hi + 400 * DAY, unit, 1, tz, limit=1)


def test_calendar_periods_past_year_9999_are_a_clear_error():
    with pytest.raises(ValueError, match="past the year 9999"):
        _calendar.edges(0, DAY, "MS", 10**6)


# ================================================================================== item 6

BIG = 2**62 + 5


def _big_log():
    """Three rows of 2**62 + 5 in every summed column: each sum of two or more wraps."""
    return RequestLog.from_records([
        rec(i, ["customer/a" if i % 2 else "customer/b", "env/x"], prompt=BIG, completion=BIG,
            cost_nanos=BIG, cached_tokens=BIG, reasoning_tokens=BIG) for i in range(3)])


QUERIES = {
    "totals": lambda lg: lg.totals(),
    "rollup": lambda lg: lg.rollup(metrics=["prompt_tokens"]),
    "rollup_children_cost": lambda lg: lg.rollup(under="customer", metrics=["cost_nanos"]),
    "split": lambda lg: lg.rollup(under="customer", attribution="split", metrics=["cost"]),
    "primary": lambda lg: lg.rollup(under="customer", attribution="primary",
                                    metrics=["completion_tokens"]),
    "by_model": lambda lg: lg.rollup(by="model", metrics=["cost_nanos"]),
    "timeseries": lambda lg: lg.timeseries("1D", under="customer"),
    "timeseries_tokens": lambda lg: lg.timeseries("1D", level=1, metric="prompt_tokens"),
    "pivot": lambda lg: lg.pivot("customer", "env"),
    "top_split": lambda lg: lg.top(1, under="customer"),
    "top_full": lambda lg: lg.top(1, under="customer", attribution="full"),
    "filter_totals": lambda lg: lg.filter("customer/b").totals(["cost_nanos"]),
}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_wrapped_sums_are_refused_naming_the_column(name):
    with pytest.raises(SumOverflowError) as got:
        QUERIES[name](_big_log())
    exc = got.value
    assert isinstance(exc, LogError) and isinstance(exc, ValueError)
    assert isinstance(exc, TagcoreError)
    assert exc.column in ("cost", "prompt_tokens", "completion_tokens",
                          "total_tokens (prompt_tokens + completion_tokens)")
    assert str(exc).startswith(f"column {exc.column}: ") and "int64" in str(exc)
    assert exc.total > I64 and exc.value == BIG or exc.column.startswith("total_tokens")


@pytest.mark.parametrize("column", ["prompt_tokens", "completion_tokens", "total_tokens",
                                    "cost_nanos", "cost"])
def test_totals_name_each_column(column):
    if column == "total_tokens":  # each column fits; their sum, even per row, does not
        kw = dict(prompt=2**62 + 1, completion=2**62)
    else:
        kw = {"prompt": 2**62 + 1} if column == "prompt_tokens" else \
            {"completion": 2**62 + 1} if column == "completion_tokens" else \
            {"cost_nanos": 2**62 + 1}
    log = RequestLog.from_records([rec(i, ["a"], **kw) for i in range(2 if column !=
                                                                       "total_tokens" else 1)])
    fam = {"cost_nanos": "cost"}.get(column, column)
    with pytest.raises(SumOverflowError, match=f"column {fam}") as got:
        log.totals([column])
    assert got.value.total == (2**63 + 2 if column != "total_tokens" else 2**63 + 1)
    with pytest.raises(SumOverflowError):
        log.rollup(metrics=[column])
    with pytest.raises(SumOverflowError):
        log.timeseries("1D", metric="cost" if column == "cost_nanos" else column)
    assert int(log.totals(["requests"])["requests"]) == len(log)  # counts still answer


def test_sums_that_fit_are_exact_while_the_column_total_does_not():
    """No over-refusal: each customer's sums fit int64 (exactly at the limit, too), only
    their parent's does not."""
    big = 2**62
    log = RequestLog.from_records([
        rec(0, ["customer/a"], cost_nanos=I64 - 7, prompt=big, completion=3),
        rec(1, ["customer/b"], cost_nanos=big, prompt=big),
        rec(2, ["customer/b"], cost_nanos=big - 1, prompt=big - 1),
        rec(3, ["customer/a"], cost_nanos=7, prompt=5),
    ])
    df = log.rollup(under="customer", metrics=["prompt_tokens", "cost_nanos", "share"],
                    sort="path")
    assert df["cost_nanos"].tolist() == [I64, 2 * big - 1]
    assert df["prompt_tokens"].tolist() == [big + 5, 2 * big - 1]
    grand = I64 + 2 * big - 1
    assert df["share"].tolist() == [I64 / grand, (2 * big - 1) / grand]
    sp = log.rollup(under="customer", attribution="split", metrics=["cost_nanos"], sort="path")
    assert sp["cost_nanos"].tolist() == [I64, 2 * big - 1]
    ts = log.timeseries("1D", under="customer", metric="prompt_tokens")
    assert ts.iloc[0].tolist() == [big + 5, 2 * big - 1]
    assert log.filter("customer/a").totals(["cost_nanos"])["cost_nanos"] == I64
    top = log.top(1, under="customer", metric="cost_nanos", metrics=["cost_nanos"])
    assert top["cost_nanos"].tolist() == [I64, 2 * big - 1]
    by = log.rollup(by="model", under="customer", metrics=["share"], sort="path")
    assert by["share"].tolist() == [I64 / grand, (2 * big - 1) / grand]
    with pytest.raises(SumOverflowError, match="the sum for customer is"):
        log.rollup(level=1, metrics=["cost_nanos"])
    with pytest.raises(SumOverflowError, match="column cost: the sum for all rows"):
        log.totals(["cost"])


def test_split_tokens_are_float_shares_and_never_wrap():
    log = _big_log()
    df = log.rollup(under="customer", attribution="split",
                    metrics=["prompt_tokens", "total_tokens"], sort="path")
    assert df["prompt_tokens"].tolist() == [float(BIG), float(2 * BIG)]
    assert df["total_tokens"].tolist() == [float(2 * BIG), float(4 * BIG)]
    for metric in ("prompt_tokens", "total_tokens"):
        ts = log.timeseries("1D", under="customer", attribution="split", metric=metric)
        assert ts.iloc[0, :2].tolist() == df[metric].tolist()
    with pytest.raises(SumOverflowError, match="column cost"):
        log.timeseries("1D", under="customer", attribution="split")


def test_the_suggested_bound_leaves_the_outlier_out_in_any_zone():
    """The hint is a UTC date (how since= reads a naive date) that keeps the next request,
    or that request's exact time when no date lies between them."""
    for tz in ("UTC", "Asia/Kolkata", "America/New_York"):
        log = RequestLog.from_records([rec("2026-03-01T20:00Z", ["a"]),
                                       rec("2026-03-03T20:00Z", ["a"]),
                                       rec("2026-02-20T23:00Z", ["a"])])
        with pytest.raises(BucketLimitError) as got:
            log.timeseries("1s", tz=tz)
        assert got.value.row == 2 and "since='2026-03-01'" in str(got.value)
        close = RequestLog.from_records([rec("2026-03-01T20:00Z", ["a"]),
                                         rec("2026-03-01T20:30Z", ["a"]),
                                         rec("2026-03-01T01:00Z", ["a"])])
        with pytest.raises(BucketLimitError) as got:
            close.timeseries("1ms", tz=tz)
        assert "since='2026-03-01T20:00:00+00:00'" in str(got.value)
        assert len(close.filter(since="2026-03-01T20:00:00+00:00")) == 2


def test_beyond_2_64_every_sum_of_the_column_is_refused():
    log = RequestLog.from_records([rec(i, [f"c/{i}"], cost_nanos=I64) for i in range(3)])
    with pytest.raises(SumOverflowError, match="2\\*\\*64 or more"):
        log.rollup(under="c", metrics=["cost_nanos"])
    assert log.rollup(under="c", metrics=["requests"])["requests"].tolist() == [1, 1, 1]


def test_share_by_a_column_without_cost_nanos():
    log = RequestLog.from_records([
        {**rec(i, ["a/b"], cost_nanos=1 + i), "model": f"m{i % 2}"} for i in range(3)])
    df = log.rollup(by="model", metrics=["share"], sort="path")
    assert list(df.columns) == ["depth", "parent", "share"]
    assert df["share"].tolist() == [4 / 6, 4 / 6, 2 / 6, 2 / 6]


def test_normal_logs_take_no_checked_path():
    """The overflow check of a normal log reads each column's max once (cached) and never
    computes an exact sum beyond the one it shows."""
    log = RequestLog.from_records([rec(i, ["a"], prompt=10**12, cost_nanos=10**15)
                                   for i in range(50)])
    log.rollup(metrics=["prompt_tokens", "total_tokens", "cost_nanos"])
    keys = set(log._cache)
    assert ("col_max", "prompt_tokens") in keys and ("col_max", "cost") in keys
    assert ("col_total", "prompt_tokens") not in keys


@SETTINGS
@given(st.lists(st.integers(0, I64), max_size=40), st.integers(1, 3))
def test_exact_sum(values, reps):
    a = np.array(values * reps, dtype=np.int64)
    assert _common.exact_sum(a) == sum(values) * reps


def test_exact_sum_of_extra_columns():
    log = _big_log()
    assert _common.col_total(log, "cached_tokens") == 3 * BIG
    assert _common.col_total(log, "reasoning_tokens") == 3 * BIG


# --------------------------------------------------------------- property: exact or refused

huge = st.one_of(st.integers(0, 1000), st.integers(2**61, I64), st.just(I64))


@st.composite
def big_records(draw):
    recs = draw(O.records(max_rows=8))
    for r in recs:
        r["prompt_tokens"] = draw(huge)
        r["completion_tokens"] = draw(huge)
        r["cost_nanos"] = draw(huge)
    return recs


def _fam_value(w: dict, fam: str) -> int:
    return w["cost_nanos"] if fam == "cost" else w[fam]


def _must_refuse(recs, want: dict, fams) -> bool:
    if not want:
        return False
    for fam in fams:
        total = sum(_fam_value(O.whole_metrics([r]), fam) for r in recs)
        if total > I64 and (total >= 2**64 or any(_fam_value(w, fam) > I64
                                                  for w in want.values())):
            return True
    return False


INT_METRICS = ["prompt_tokens", "completion_tokens", "total_tokens", "cost_nanos"]


@SETTINGS
@given(big_records(), st.sampled_from(["full", "split", "primary"]), st.data())
def test_rollups_are_exact_or_refused(recs, attribution, data):
    log = RequestLog.from_records([O.to_input(r) for r in recs])
    nodes = sorted(O.all_nodes(recs))
    if attribution == "full":
        under = data.draw(st.sampled_from([None, *nodes]))
        level = None
    else:
        under = data.draw(st.sampled_from(nodes)) if nodes else None
        level = None if under is not None else 1
    want = O.rollup(recs, under, level, attribution)
    fams = ["cost"] if attribution == "split" else \
        ["prompt_tokens", "completion_tokens", "total_tokens", "cost"]
    if _must_refuse(recs, want, fams):
        with pytest.raises(SumOverflowError):
            log.rollup(under=under, level=level, attribution=attribution,
                       metrics=INT_METRICS)
        return
    df = log.rollup(under=under, level=level, attribution=attribution, metrics=INT_METRICS)
    assert set(df.index) == set(want)
    for label, w in want.items():
        assert int(df.loc[label, "cost_nanos"]) == w["cost_nanos"]
        if attribution != "split":
            for m in ("prompt_tokens", "completion_tokens", "total_tokens"):
                assert int(df.loc[label, m]) == w[m], (label, m)


@SETTINGS
@given(big_records())
def test_totals_are_exact_or_refused(recs):
    log = RequestLog.from_records([O.to_input(r) for r in recs])
    want = O.totals(recs)
    for m in INT_METRICS:
        if want[m] > I64:
            with pytest.raises(SumOverflowError):
                log.totals([m])
        else:
            assert int(log.totals([m])[m]) == want[m]
