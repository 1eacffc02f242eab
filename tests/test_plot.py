"""Jupyter plots (``log.plot``) and the log's HTML summary (``log._repr_html_``).

The figures' numbers are the frames' numbers (exactly: the same floats, the same ints), titles
say the metric and the window, tag names are shown literally (never read as HTML), plotly stays
optional, and the sunburst renders when children overlap. With Debian's ``chromium`` present,
figures are rendered headless and their DOM is checked (skipped with the reason otherwise).
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tagcore as tc
from tagcore.plot import CENTER_ID, INSTALL_HINT, _ptext, dollars, hierarchy

go = pytest.importorskip("plotly.graph_objects")

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)

HOSTILE = ["<script>alert(1)</script>", "<b>bold</b>", "a&amp;b", "<img src=x onerror=alert(2)>",
           "team/<i>x</i>", 'q"uote', "team/plain"]


@pytest.fixture(scope="module")
def log() -> tc.RequestLog:
    return tc.load_sample()


def _rec(i: int, tags: list[str], cost: float = 1.0, ts: int | None = None) -> dict:
    return {"ts": 1_700_000_000 + 3600 * i if ts is None else ts, "model": "m",
            "prompt_tokens": 10 + i, "completion_tokens": 5, "cost": cost, "latency_ms": 10.0 + i,
            "status": 200, "request_tags": tags}


@pytest.fixture(scope="module")
def overlap_log() -> tc.RequestLog:
    """Children that overlap (a request carries f/a and f/b; g/x and g/x/y/z) and a parent
    whose children do not (h), plus an untagged request."""
    return tc.RequestLog.from_records([
        _rec(0, ["f/a", "f/b"], 2.0), _rec(1, ["f/a"], 1.0), _rec(2, ["f/b", "g/x"], 4.0),
        _rec(3, ["g/x", "g/x/y/z", "f"], 0.5), _rec(4, ["h/p"], 0.25), _rec(5, ["h/q"], 0.75),
        _rec(6, [], 3.0), _rec(7, ["f/a", "f/b", "f/c"], 0.125)])


@pytest.fixture(scope="module")
def hostile_log() -> tc.RequestLog:
    return tc.RequestLog.from_records(
        [_rec(i, [t, "team/plain"] if i % 2 else [t], 0.5 + i) for i, t in enumerate(HOSTILE)])


def _arr(values) -> np.ndarray:
    return np.asarray(values)


def _times(values) -> list[pd.Timestamp]:
    """A figure's x dates as Timestamps (plotly 5 keeps datetimes, later ones datetime64)."""
    return pd.DatetimeIndex(list(values)).tolist()


# ------------------------------------------------------------------------------- rollup


@pytest.mark.parametrize("kw", [
    {"level": 1},
    {"under": "customer", "attribution": "split"},
    {"under": "feature", "attribution": "primary", "metric": "requests"},
    {"under": "customer", "level": 2, "metric": "total_tokens"},
    {"level": 1, "metric": "latency_p95"},
    {"under": "org", "metric": "errors", "sort": "path"},
])
def test_rollup_bars_are_the_frame(log, kw):
    metric = kw.get("metric", "cost")
    fig = log.plot.rollup(**kw)
    frame_kw = {k: v for k, v in kw.items() if k != "metric"}
    frame_kw.setdefault("sort", metric)
    frame = log.rollup(**frame_kw, metrics=[metric])
    (bar,) = fig.data
    assert bar.orientation == "h"
    assert list(bar.y) == frame.index.tolist()
    got, want = _arr(bar.x), frame[metric].to_numpy()
    assert got.dtype == want.dtype
    assert np.array_equal(got, want, equal_nan=want.dtype.kind == "f")
    # the largest first, on top; labels shown literally
    assert fig.layout.yaxis.autorange == "reversed"
    assert list(fig.layout.yaxis.tickvals) == frame.index.tolist()
    assert fig.layout.xaxis.title.text == tc.plot._LABELS[metric]


def test_rollup_cost_in_dollars_with_shares(log):
    fig = log.plot.rollup(level=1)
    frame = log.rollup(level=1)
    bar = fig.data[0]
    assert _arr(bar.x).tolist() == frame["cost"].tolist()
    # to the nano-dollar: the dollars are the exact nanos over 1e9
    assert (_arr(bar.x) * 10**9).round().astype(np.int64).tolist() == frame["cost_nanos"].tolist()
    assert [row[1] for row in bar.customdata] == frame["share"].tolist()
    assert fig.layout.xaxis.tickprefix == "$"
    assert "$" in bar.texttemplate and "$" in bar.hovertemplate
    title = fig.layout.title.text
    assert title.startswith("Cost per tag at level 1")
    assert "full attribution" in title and "4,000 requests, $24.15" in title
    assert "all requests: 2026-10-16 18:06 – 2026-11-20 17:56 UTC" in title


def test_rollup_window_and_cap(log):
    fig = log.plot.rollup(last="7D")  # every node, the first 30 shown
    frame = log.filter(last="7D").rollup()
    assert len(frame) > 30
    assert list(fig.data[0].y) == frame.index[:30].tolist()
    assert _arr(fig.data[0].x).tolist() == frame["cost"].iloc[:30].tolist()
    title = fig.layout.title.text
    assert "last 7 days: 2026-11-13 17:56 – 2026-11-20 17:56 UTC" in title
    assert f"the first 30 of {len(frame)} tags" in title
    n = len(log.filter(last="7D"))
    assert f"{n:,} requests" in title
    fig = log.plot.rollup(level=1, since="2026-11-01", until="2026-11-08")
    assert "window: 2026-11-01 00:00 – 2026-11-08 00:00 UTC" in fig.layout.title.text
    frame = log.filter(since="2026-11-01", until="2026-11-08").rollup(level=1)
    assert _arr(fig.data[0].x).tolist() == frame["cost"].tolist()


def test_rollup_by_model_stacks_the_frame(log):
    fig = log.plot.rollup(level=1, by="model")
    frame = log.rollup(level=1, by="model", metrics=["cost"])
    assert fig.layout.barmode == "stack"
    assert {t.name for t in fig.data} == set(log.models)
    for trace in fig.data:
        part = frame.xs(trace.name, level="model")
        assert _arr(trace.x).tolist() == part.loc[list(trace.y), "cost"].tolist()
    # each request has one model: the stacks are the full-attribution totals
    full = log.rollup(level=1, metrics=["cost_nanos"])["cost_nanos"]
    stacked = {}
    for trace in fig.data:
        for tag, x in zip(trace.y, trace.x):
            stacked[tag] = stacked.get(tag, 0) + round(x * 10**9)
    assert stacked == full.to_dict()
    assert list(fig.layout.yaxis.tickvals) == full.index.tolist()
    # a metric that does not add up is drawn side by side
    assert log.plot.rollup(level=1, by="model", metric="latency_p50").layout.barmode == "group"


def test_rollup_bad_arguments(log):
    with pytest.raises(ValueError, match="metric"):
        log.plot.rollup(metric="first_seen")
    with pytest.raises(ValueError, match="attribution"):
        log.plot.rollup(attribution="split")  # needs a set, as log.rollup says


# ------------------------------------------------------------------------------- top


@pytest.mark.parametrize("kw", [
    {"n": 3, "under": "customer"},
    {"n": 5, "level": 1, "attribution": "full", "metric": "requests"},
    {"n": 4, "under": "feature", "attribution": "primary", "metric": "total_tokens"},
])
def test_top_bars_are_the_frame(log, kw):
    fig = log.plot.top(**kw)
    metric = kw.get("metric", "cost")
    frame = log.top(**kw)
    bar = fig.data[0]
    assert list(bar.y) == frame.index.tolist() and bar.y[-1] == "(other)"
    got, want = _arr(bar.x), frame[metric].to_numpy()
    assert got.dtype == want.dtype and got.tolist() == want.tolist()
    assert [row[1] for row in bar.customdata] == frame["share"].tolist()
    assert list(bar.marker.color)[-1] == tc.plot._GREY
    assert f"Top {kw['n']}" in fig.layout.title.text and "(other)" in fig.layout.title.text


def test_top_split_adds_up(log):
    fig = log.plot.top(3, under="customer", last="7D")
    frame = log.filter(last="7D").top(3, under="customer", metrics=["cost", "cost_nanos"])
    assert _arr(fig.data[0].x).tolist() == frame["cost"].tolist()
    week = log.filter(last="7D")
    assert frame["cost_nanos"].sum() == week.totals()["cost_nanos"]
    assert "bars add up to the total" in fig.layout.title.text
    assert dollars(int(week.totals()["cost_nanos"])) in fig.layout.title.text


# ------------------------------------------------------------------------------- timeseries


def test_timeseries_lines_are_the_frame(log):
    fig = log.plot.timeseries("1D", level=1, last="7D", metric="requests")
    frame = log.timeseries("1D", level=1, last="7D", metric="requests")
    assert all(t.type == "scatter" for t in fig.data)  # full attribution: lines
    assert len(fig.data) == 10 == frame.shape[1]
    for trace in fig.data:
        col = html.unescape(trace.name)
        y = _arr(trace.y)
        assert y.dtype == frame[col].dtype and y.tolist() == frame[col].tolist()
        assert _times(trace.x) == frame.index.tz_localize(None).tolist()
    names = [t.name for t in fig.data]
    sums = frame.sum()
    assert names == sorted(names, key=lambda c: -sums[c])  # largest first
    assert fig.layout.yaxis.title.text == "Requests"
    assert fig.layout.xaxis.title.text == "day starting (UTC)"
    assert "last 7 days" in fig.layout.title.text


def test_timeseries_split_stacks_with_other(log):
    fig = log.plot.timeseries("1D", under="customer", attribution="split", last="14D",
                              max_series=4, tz="Europe/London")
    frame = log.timeseries("1D", under="customer", attribution="split", last="14D",
                           tz="Europe/London")
    assert fig.layout.barmode == "stack" and all(t.type == "bar" for t in fig.data)
    names = [t.name for t in fig.data]
    assert names[-2:] == ["(other)", "(untagged)"] and len(names) == 6
    shown = names[:4]
    for trace in fig.data[:4]:
        assert _arr(trace.y).tolist() == frame[trace.name].tolist()
    rest = [c for c in frame.columns if c not in shown and c != "(untagged)"]
    # (other) to the nano-dollar: the rest's exact nanos, summed as integers, in dollars
    nanos = np.rint(frame[rest].to_numpy() * 1e9).astype(np.int64)
    assert (nanos / 1e9 == frame[rest].to_numpy()).all()
    assert _arr(fig.data[4].y).tolist() == (nanos.sum(axis=1) / 1e9).tolist()
    assert _arr(fig.data[5].y).tolist() == frame["(untagged)"].tolist()
    # the stacks add up to each day's cost; x is the wall time of the zone
    stack = np.sum([_arr(t.y) for t in fig.data], axis=0)
    assert np.allclose(stack, frame.sum(axis=1).to_numpy(), rtol=1e-12, atol=0)
    assert _times(fig.data[0].x) == frame.index.tz_localize(None).tolist()
    assert fig.layout.xaxis.title.text == "day starting (Europe/London)"
    assert fig.layout.yaxis.tickprefix == "$"
    assert "4 largest" not in fig.layout.title.text and "summed in (other)" in fig.layout.title.text


def test_timeseries_kinds_and_empty():
    empty = tc.RequestLog.empty()
    fig = empty.plot.timeseries("1D")
    assert len(fig.data) == 0 and "no requests" in fig.layout.annotations[0].text
    with pytest.raises(ValueError, match="kind"):
        empty.plot.timeseries("1D", kind="pie")
    log = tc.load_sample()
    assert log.plot.timeseries("1W", level=1, kind="bar").layout.barmode == "group"
    assert all(t.type == "scatter" for t in
               log.plot.timeseries("1D", under="env", attribution="split", kind="line").data)


# ------------------------------------------------------------------------------- hierarchy


def _children(ids, parents):
    kids: dict[str, list[int]] = {}
    for k, p in enumerate(parents):
        kids.setdefault(p, []).append(k)
    return kids


def _plotly_would_draw(ids, parents, values) -> bool:
    """plotly.js's check for branchvalues="total": no node smaller than the sum of its
    children (within its ALMOST_EQUAL tolerance of 1e-6); failing it, nothing is drawn."""
    kids = _children(ids, parents)
    for k, node in enumerate(ids):
        s = sum(values[c] for c in kids.get(node, []))
        if values[k] < s * (1 - 1e-6):
            return False
    return True


def test_sunburst_with_overlapping_children(overlap_log):
    fig = overlap_log.plot.sunburst()
    tr = fig.data[0]
    frame = overlap_log.rollup(sort="path", metrics=["cost", "cost_nanos"])
    ids, parents, values = list(tr.ids), list(tr.parents), _arr(tr.values).tolist()
    assert ids == [CENTER_ID] + frame.index.tolist()
    assert parents == [""] + [p or CENTER_ID for p in frame["parent"]]
    totals = [row[0] for row in tr.customdata]
    # each node's total is the full-attribution roll-up: a request counted once per node
    assert totals[1:] == frame["cost"].tolist()
    assert totals[0] == overlap_log.totals()["cost"] == 11.625
    assert frame.loc["f", "cost"] == 7.625  # f/a 3.125 + f/b 6.125 + f/c 0.125 overlap
    assert tr.branchvalues == "total"
    # the data really overlap: the totals as sizes would not be drawn at all...
    assert not _plotly_would_draw(ids, parents, totals)
    # ...the sizes are, and they are the totals wherever children do not overlap
    assert _plotly_would_draw(ids, parents, values)
    by = dict(zip(ids, values))
    exact = dict(zip(ids, totals))
    assert by[CENTER_ID] == exact[CENTER_ID]
    # the roots overlap (f, g and h hold 13.125 of 11.625): scaled by one factor, so they
    # fill the centre and keep their proportions
    assert np.isclose(by["f"] + by["g"] + by["h"], by[CENTER_ID], rtol=1e-12)
    assert np.isclose(by["f"] / by["g"], exact["f"] / exact["g"], rtol=1e-12)
    # below, a parent whose children do not overlap passes its factor on unchanged...
    assert np.isclose(by["h/p"] + by["h/q"], by["h"], rtol=1e-12)
    assert by["g/x"] == by["g"] and by["g/x/y/z"] == by["g/x/y"]
    assert np.isclose(by["g/x/y"] / by["g/x"], exact["g/x/y"] / exact["g/x"], rtol=1e-12)
    # ...and overlapping siblings are scaled again to fit their parent
    fa, fb, fc = by["f/a"], by["f/b"], by["f/c"]
    assert np.isclose(fa + fb + fc, by["f"], rtol=1e-12)
    assert np.isclose(fa / fb, exact["f/a"] / exact["f/b"], rtol=1e-12)
    # where nothing above overlaps the sizes are the exact totals
    sub = overlap_log.plot.sunburst(under="g").data[0]
    assert _arr(sub.values).tolist() == [row[0] for row in sub.customdata] == [4.5, 4.5, .5, .5]
    shares = [row[1] for row in tr.customdata]
    assert shares[ids.index("f")] == frame.loc["f", "cost_nanos"] / 11_625_000_000
    assert [row[2] for row in tr.customdata][1:] == frame.index.tolist()
    assert tr.labels[ids.index("g/x/y/z")] == "z"
    assert "counts a request once" in fig.layout.title.text


def test_hierarchy_counts_are_exact_ints(overlap_log, log):
    h = hierarchy(overlap_log, metric="requests")
    frame = overlap_log.rollup(sort="path", metrics=["requests"])
    assert h["totals"][1:] == frame["requests"].astype(float).tolist()
    assert h["totals"][0] == len(overlap_log)
    assert _plotly_would_draw(h["ids"], h["parents"], h["sizes"])
    for metric in ("requests", "errors", "total_tokens", "cost"):
        h = hierarchy(log, metric=metric)
        assert _plotly_would_draw(h["ids"], h["parents"], h["sizes"]), metric


def test_sunburst_under_and_depth(log):
    fig = log.plot.sunburst(under="org", metric="requests", max_depth=2)
    tr = fig.data[0]
    frame = log.rollup(sort="path", metrics=["requests"])
    want = [p for p in frame.index if p == "org" or
            (p.startswith("org/") and frame.loc[p, "depth"] <= 3)]
    assert list(tr.ids) == want and tr.parents[0] == ""
    assert [row[0] for row in tr.customdata] == frame.loc[want, "requests"].astype(float).tolist()
    assert tr.customdata[0][1] == 1.0  # shares are of the centre
    assert "under org" in fig.layout.title.text and "Requests" in fig.layout.title.text
    unknown = log.plot.sunburst(under="nosuch")
    assert list(unknown.data[0].ids) == ["nosuch"]
    with pytest.raises(ValueError, match="max_depth"):
        log.plot.sunburst(max_depth=0)
    with pytest.raises(ValueError, match="metric"):
        log.plot.sunburst(metric="latency_p50")


def test_treemap_is_the_same_hierarchy(overlap_log):
    sb, tm = overlap_log.plot.sunburst(), overlap_log.plot.treemap()
    assert tm.data[0].type == "treemap" and tm.data[0].branchvalues == "total"
    for attr in ("ids", "parents", "labels"):
        assert list(getattr(sb.data[0], attr)) == list(getattr(tm.data[0], attr))
    assert _arr(sb.data[0].values).tolist() == _arr(tm.data[0].values).tolist()


def test_sunburst_window(log):
    fig = log.plot.sunburst(last="7D")
    week = log.filter(last="7D")
    frame = week.rollup(sort="path", metrics=["cost"])
    assert [row[0] for row in fig.data[0].customdata][1:] == frame["cost"].tolist()
    assert "last 7 days" in fig.layout.title.text


# ------------------------------------------------------------------------------- escaping


def test_tag_names_are_shown_literally(hostile_log):
    fig = hostile_log.plot.rollup()
    frame = hostile_log.rollup()
    assert list(fig.data[0].y) == frame.index.tolist()  # the data are the raw paths
    assert list(fig.layout.yaxis.ticktext) == [_ptext(t) for t in frame.index]
    assert "&lt;script&gt;" in fig.layout.yaxis.ticktext[-1]
    assert all("<" not in row[0] for row in fig.data[0].customdata)
    sb = hostile_log.plot.sunburst()
    assert all("<" not in x for x in sb.data[0].labels)
    assert all("<" not in row[2] for row in sb.data[0].customdata)
    ts = hostile_log.plot.timeseries("1h", level=1)
    assert all("<" not in t.name for t in ts.data)
    assert {html.unescape(t.name) for t in ts.data} == set(hostile_log.timeseries("1h").columns)
    top = hostile_log.plot.top(2, level=1)
    assert "<img" not in str(top.layout.yaxis.ticktext)
    # a title holding a path from the caller is escaped too
    assert "&lt;b&gt;" in hostile_log.plot.rollup(under="<b>bold</b>").layout.title.text


# ------------------------------------------------------------------------------- optional plotly


def test_import_does_not_load_plotly():
    code = ("import sys, tagcore, tagcore.plot\n"
            "log = tagcore.load_sample()\n"
            "log._repr_html_(); log.plot; repr(log.plot)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'plotly'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("call", [
    lambda p: p.rollup(level=1), lambda p: p.top(3, level=1),
    lambda p: p.timeseries("1D"), lambda p: p.sunburst(), lambda p: p.treemap()])
def test_no_plotly_says_how_to_install(log, monkeypatch, call):
    for name in [m for m in sys.modules if m.split(".")[0] == "plotly"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "plotly", None)  # import plotly -> ImportError
    with pytest.raises(ImportError, match=re.escape(INSTALL_HINT)):
        call(log.plot)
    assert "<b>RequestLog</b>" in log[:10]._repr_html_()  # the summary needs no plotly


# ------------------------------------------------------------------------------- _repr_html_


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.cells: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.cells.append(data)


def _parse(text: str) -> _Tags:
    p = _Tags()
    p.feed(text)
    return p


def test_repr_html_summary(log):
    text = log._repr_html_()
    assert "4,000 requests" in text and "$24.15" in text
    assert "2026-10-16 18:06 – 2026-11-20 17:56 UTC" in text
    assert "11,358,349 tokens" in text and "109 errors" in text
    top5 = log.rollup(level=1, metrics=["requests", "cost_nanos", "share"]).iloc[:5]
    p = _parse(text)
    assert set(p.tags) <= {"div", "b", "table", "thead", "tbody", "tr", "th", "td"}
    rows = [c for c in p.cells if c.strip()]
    start = rows.index("share") + 1
    want = []
    for tag, r in top5.iterrows():
        want += [tag, f"{int(r['requests']):,}", dollars(int(r["cost_nanos"])),
                 f"{r['share']:.1%}"]
    assert rows[start:start + 20] == want
    assert rows[start:start + 4] == ["env", "3,952", "$23.95", "99.2%"]
    assert "overlap" in text and "5 more top-level tags" in text
    assert log._repr_html_() is text  # cached on the immutable log
    assert repr(log).startswith("RequestLog(4000 requests")


def test_repr_html_escapes(hostile_log):
    text = hostile_log._repr_html_()
    p = _parse(text)
    assert "script" not in p.tags and "img" not in p.tags and "i" not in p.tags
    assert "<script" not in text and "<img" not in text
    assert "&lt;img src=x onerror=alert(2)&gt;" in text
    assert "a&amp;amp;b" in text and "q&quot;uote" in text
    assert "<img src=x onerror=alert(2)>" in p.cells  # shown literally


def test_repr_html_small_logs():
    assert "0 requests" in tc.RequestLog.empty()._repr_html_()
    untagged = tc.RequestLog.from_records([_rec(0, []), _rec(1, ["a"], 0.004)])
    text = untagged._repr_html_()
    assert "1 request carries no tag" in text and "$1.00" in text
    IPython = pytest.importorskip("IPython.core.formatters")
    assert IPython.HTMLFormatter()(untagged) == text


def test_repr_html_fast_on_a_big_log():
    n = 2_000_000
    rng = np.random.default_rng(7)
    trie = tc.TagTrie([f"customer/c{i}" for i in range(200)] + ["env/prod", "env/dev"])
    k = 3
    ids = np.empty(n * k, dtype=np.int32)
    customers = np.array([trie.id(f"customer/c{i}") for i in range(200)], dtype=np.int32)
    ids[0::3] = customers[rng.integers(0, 200, n)]
    ids[1::3] = trie.id("env/prod")
    ids[2::3] = trie.id("env/dev")
    big = tc.RequestLog.from_arrays(
        ts=np.arange(n, dtype=np.int64) * 10**9, model=np.zeros(n, np.int32), models=["m"],
        prompt_tokens=np.ones(n, np.int64), completion_tokens=np.ones(n, np.int64),
        cost_nanos=np.full(n, 1_000_000, np.int64), latency_ms=np.ones(n),
        status=np.full(n, 200, np.int32), tag_offsets=np.arange(n + 1, dtype=np.int64) * k,
        tag_ids=ids, trie=trie, copy=False)
    t0 = time.perf_counter()
    text = big._repr_html_()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    assert big._repr_html_() is text
    again = time.perf_counter() - t0
    assert "2,000,000 requests" in text and "$2,000.00" in text
    assert first < 5.0 and again < 0.01, (first, again)


# ------------------------------------------------------------------------------- a browser


def _render(tmp_path: Path, figs: dict) -> tuple[dict[str, str], str]:
    """Render figures, each in its own div of one self-contained page (plotly.js inlined
    once), in headless chromium: (each figure's DOM, the console's lines)."""
    parts = [fig.to_html(include_plotlyjs=(i == 0), full_html=False, div_id=name)
             for i, (name, fig) in enumerate(figs.items())]
    page = tmp_path / "figures.html"
    page.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>"
                    + "".join(parts) + "</body></html>", encoding="utf-8")
    out = subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", "--dump-dom", "--virtual-time-budget=5000", "--window-size=1200,800",
         page.as_uri()], capture_output=True, text=True, timeout=120)
    dom = out.stdout
    starts = [dom.index(f'id="{name}"') for name in figs]
    ends = starts[1:] + [len(dom)]
    console = [ln for ln in out.stderr.splitlines() if ":CONSOLE" in ln]
    return {name: dom[a:b] for name, a, b in zip(figs, starts, ends)}, "\n".join(console)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                    "(apt-get install chromium): the figures are not rendered")
def test_figures_render_in_chromium(tmp_path, log, overlap_log, hostile_log):
    cases = {
        "rollup": (log.plot.rollup(level=1), 'class="point"', 10),
        "sunburst": (overlap_log.plot.sunburst(), None, len(overlap_log.trie) + 1),
        "treemap": (log.plot.treemap(), None, len(log.trie) + 1),
        "hostile": (hostile_log.plot.sunburst(), None, len(hostile_log.trie) + 1),
        "timeseries": (log.plot.timeseries("1D", under="env", attribution="split", last="7D"),
                       'class="point"', 3 * 8),
    }
    doms, console = _render(tmp_path, {k: v[0] for k, v in cases.items()})
    assert console == ""
    for name, (_fig, marker, count) in cases.items():
        dom = doms[name]
        if marker is None:  # sunburst/treemap sectors: one per node and the centre
            got = len(re.findall(r'<g class="slice(?: cursor-pointer)?"', dom))
        else:
            got = dom.count(marker)
        assert got == count, name
        assert '<img src="x"' not in dom and "<b>bold" not in dom  # no tag name became HTML
