"""The streaming scan answers every question as the in-memory log does.

Hypothesis generates logs (hierarchical and flat tags, a tag with its own ancestor, untagged
requests, unknown latencies, errors, unpriced requests), writes them as several Parquet files
with tiny row groups (so tag dictionaries differ between chunks and files) and as JSONL, and
every question of :func:`tagcore.scan` must equal the in-memory answer on the same files
(``read_*`` of each file, concatenated): same frame, index, order, dtypes and exact integers.
Float sums (split shares of counts and tokens, the latency sums behind ``latency_mean``) add in
another order and are compared to 1e-12, relative.
"""

from __future__ import annotations

import os
import random

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import tagcore as tc
from tagcore.log import LogError, RequestLog, SumOverflowError
from tagcore.query import BucketLimitError, UnknownPathError

pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

DAY = 86_400
T0 = 1_767_225_600  # 2026-01-01, epoch seconds
TAGS = ["customer/acme", "customer/globex", "customer/acme/eu", "customer/initech",
        "env/prod", "env/dev", "asia", "org/team/project", "org/team", "feature/chat",
        "feature/search", "geo/US/CA", "geo/US", " customer / acme "]
MODELS = ["m1", "m2", "m3"]
SPLIT_FLOATS = ["requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens",
                "latency_mean", "unpriced"]


# ================================================================== data


@st.composite
def records(draw, min_size: int = 1, max_size: int = 60, sorted_ts: bool = False):
    n = draw(st.integers(min_size, max_size))
    out = []
    for _ in range(n):
        rec = {
            "ts": T0 + draw(st.integers(0, 20 * DAY)),
            "model": draw(st.sampled_from(MODELS)),
            "prompt_tokens": draw(st.integers(0, 5000)),
            "completion_tokens": draw(st.integers(0, 2000)),
            "latency_ms": draw(st.one_of(st.none(), st.floats(0, 5000, allow_nan=False),
                                         st.sampled_from([1.5, 250.0, 250.0]))),
            "status": draw(st.sampled_from([200, 200, 200, 404, 500])),
            "request_tags": draw(st.lists(st.sampled_from(TAGS), max_size=4)),
        }
        if draw(st.integers(0, 9)):
            rec["cost_nanos"] = draw(st.integers(0, 10**10))
        out.append(rec)
    if sorted_ts:
        out.sort(key=lambda r: r["ts"])
    return out


def write_parts(log: RequestLog, folder: str, n_files: int, fmt: str = "parquet",
                row_group_size: int = 7) -> list[str]:
    """``log`` cut into ``n_files`` consecutive files (their tag dictionaries differ), none
    of them empty (an empty file knows no column)."""
    n_files = max(1, min(n_files, len(log)))
    cuts = np.linspace(0, len(log), n_files + 1).astype(int)
    paths = []
    for i in range(n_files):
        part = log[np.arange(cuts[i], cuts[i + 1])]
        p = os.path.join(folder, f"part-{i:02d}.{fmt}")
        if fmt == "parquet":
            part.to_parquet(p, row_group_size=row_group_size)
        else:
            part.to_jsonl(p)
        paths.append(p)
    return paths


def read_all(paths: list[str]) -> RequestLog:
    """The in-memory log of the files: each read, then concatenated."""
    logs = [tc.read_any(p) for p in paths]
    return logs[0] if len(logs) == 1 else RequestLog.concat(logs)


# ================================================================== comparing


def assert_same(got, want, approx=()) -> None:
    """Equal frames or series; ``approx`` columns (float sums) to 1e-12, relative."""
    if isinstance(want, pd.Series):
        assert isinstance(got, pd.Series)
        assert list(got.index) == list(want.index)
        assert got.dtype == want.dtype and got.name == want.name
        for k in want.index:
            a, b = got[k], want[k]
            assert type(a) is type(b), (k, type(a), type(b))
            if k in approx:
                np.testing.assert_allclose(a, b, rtol=1e-12)
            elif isinstance(b, float) and np.isnan(b):
                assert np.isnan(a), k
            elif b is pd.NaT:
                assert a is pd.NaT, k
            else:
                assert a == b, (k, a, b)
        return
    assert isinstance(got, pd.DataFrame)
    cols = [c for c in want.columns if c in approx]
    if cols:
        pd.testing.assert_frame_equal(got[cols], want[cols], check_exact=False, rtol=1e-12,
                                      atol=0)
        rest = [c for c in want.columns if c not in cols]
        pd.testing.assert_frame_equal(got[rest], want[rest], check_exact=True)
        assert list(got.columns) == list(want.columns)
    else:
        pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got.attrs == want.attrs


def same_answer(s, log, method: str, *args, approx=(), **kw) -> None:
    """``s.method(...)`` equals ``log.method(...)``, or both raise the same error."""
    try:
        want = getattr(log, method)(*args, **kw)
    except (ValueError, TypeError) as exc:
        with pytest.raises(type(exc)) as info:
            getattr(s, method)(*args, **kw)
        assert str(info.value) == str(exc)
        return
    assert_same(getattr(s, method)(*args, **kw), want, approx)


def every_question(s, log) -> None:
    """Every question of the scan ``s`` against the in-memory ``log``."""
    same_answer(s, log, "totals")
    same_answer(s, log, "totals", ["requests", "cost_nanos", "latency_mean", "first_seen"],
                approx=["latency_mean"])
    same_answer(s, log, "rollup", approx=["latency_mean"])
    same_answer(s, log, "rollup", level=1, approx=["latency_mean"])
    same_answer(s, log, "rollup", under="customer",
                metrics=["requests", "cost", "latency_p50", "latency_p99", "share"])
    same_answer(s, log, "rollup", level=2, sort="path", metrics=["requests", "errors",
                                                                 "total_tokens", "last_seen"])
    same_answer(s, log, "rollup", under="org", sort="requests",
                metrics=["requests", "latency_p90"])
    for att in ("split", "primary"):
        same_answer(s, log, "rollup", under="customer", attribution=att, approx=SPLIT_FLOATS)
        same_answer(s, log, "rollup", level=1, attribution=att, approx=SPLIT_FLOATS)
    same_answer(s, log, "rollup", level=1, by="model", approx=["latency_mean"])
    same_answer(s, log, "rollup", under="customer", attribution="split", by="status",
                metrics=["requests", "cost_nanos", "share"], approx=SPLIT_FLOATS)
    same_answer(s, log, "top", 2, under="customer", approx=SPLIT_FLOATS)
    same_answer(s, log, "top", 2, level=1, attribution="full")
    same_answer(s, log, "top", 1, under="env", attribution="primary", metric="requests",
                metrics=["requests", "errors", "cost"])
    same_answer(s, log, "timeseries", "1D")
    same_answer(s, log, "timeseries", "1D", under="customer", attribution="split",
                last="7D")
    same_answer(s, log, "timeseries", "6h", level=2, metric="requests", since=T0 + 3 * DAY,
                until=T0 + 9 * DAY)
    same_answer(s, log, "timeseries", "1W", under="customer", metric="unpriced",
                attribution="primary")
    same_answer(s, log, "pivot", "customer", "env")
    same_answer(s, log, "pivot", "customer", "feature", metric="requests")


def every_filter(s, log) -> None:
    for args, kw in [(("customer & ~env/dev",), {}), (("customer/*",), {"last": "5D"}),
                     ((), {"since": T0 + 2 * DAY, "until": T0 + 11 * DAY}),
                     (("org/** | asia",), {"model": ["m1", "m3"]}),
                     ((), {"status": "error"}), (("=customer/acme",), {})]:
        fs, fl = s.filter(*args, **kw), log.filter(*args, **kw)
        same_answer(fs, fl, "totals")
        same_answer(fs, fl, "rollup", level=2, approx=["latency_mean"])
        same_answer(fs, fl, "rollup", under="customer", attribution="split",
                    approx=SPLIT_FLOATS)
        same_answer(fs, fl, "timeseries", "1D", level=1, last="3D")
    # chained: the second window's "now" is the last request the first filter keeps
    fs = s.filter("customer").filter(last="2D")
    fl = log.filter("customer").filter(last="2D")
    same_answer(fs, fl, "totals")
    same_answer(fs, fl, "pivot", "customer", "env")
    assert s.filter("env").window(last="1D") == log.filter("env").window(last="1D")


# ================================================================== properties

# no shrinking: a failure prints its example at once (shrinking these took minutes)
PHASES = [Phase.explicit, Phase.reuse, Phase.generate]
SETTINGS = settings(max_examples=12, deadline=None, phases=PHASES,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


@SETTINGS
@given(recs=records(), n_files=st.integers(1, 3), threads=st.sampled_from([1, 2]),
       batch=st.sampled_from([3, 1 << 18]))
def test_parquet_parts_every_question(tmp_path_factory, monkeypatch, recs, n_files, threads,
                                      batch):
    """Files of row groups of 7 rows, decoded in batches of 3 rows or whole."""
    from tagcore.scan import _source

    monkeypatch.setattr(_source, "PARQUET_BATCH", batch)
    folder = str(tmp_path_factory.mktemp("pq"))
    paths = write_parts(RequestLog.from_records(recs), folder, n_files)
    log = read_all(paths)
    s = tc.scan(folder, threads=threads)
    every_question(s, log)
    every_filter(s, log)
    back = s.collect()
    assert len(back) == len(log)
    assert [back.tags_of(i) for i in range(len(log))] == [log.tags_of(i) for i in range(len(log))]
    a, b = back.to_pandas(), log.to_pandas()
    pd.testing.assert_frame_equal(a, b)


@settings(max_examples=6, deadline=None, phases=PHASES,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(recs=records(max_size=40), n_files=st.integers(1, 3))
def test_jsonl_parts_every_question(tmp_path_factory, recs, n_files):
    folder = str(tmp_path_factory.mktemp("jl"))
    paths = write_parts(RequestLog.from_records(recs), folder, n_files, fmt="jsonl")
    log = read_all(paths)
    s = tc.scan(folder)
    every_question(s, log)
    same_answer(s.filter("customer", last="4D"), log.filter("customer", last="4D"), "totals")


@settings(max_examples=8, deadline=None, phases=PHASES,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(recs=records(min_size=5), seed=st.integers(0, 2**16))
def test_partials_merge_in_any_order_and_across_tries(tmp_path_factory, recs, seed):
    """Partials of separately built scans (their own tries, ids in other orders) merge by
    path, in any order, into the same answer."""
    from tagcore.scan import _plans as P

    folder = str(tmp_path_factory.mktemp("mg"))
    paths = write_parts(RequestLog.from_records(recs), folder, 3)
    log = read_all(paths)
    whole = tc.scan(folder)
    plans = {
        "full": lambda: P.RollupPlan(None, None, "full", None, "cost", None),
        "split": lambda: P.RollupPlan("customer", None, "split", None, "cost", None),
        "pivot": lambda: P.PivotPlan("customer", "env", "cost"),
        "totals": lambda: P.TotalsPlan(None, frozenset()),
    }
    rng = random.Random(seed)
    for name, make in plans.items():
        plan = make()
        parts = []
        for i, p in reversed(list(enumerate(paths))):  # other ids in each trie
            one = tc.scan(p)
            one._src.order_prefix = (i,)  # its place in the whole log
            parts += one._partials(plan)
        rng.shuffle(parts)
        merged = parts[0]
        for q in parts[1:]:
            merged = merged.merge(q) if rng.random() < 0.5 else q.merge(merged)
        want = {"full": lambda: log.rollup(), "totals": lambda: log.totals(),
                "split": lambda: log.rollup(under="customer", attribution="split"),
                "pivot": lambda: log.pivot("customer", "env")}[name]
        try:
            expected = want()
        except UnknownPathError as exc:
            with pytest.raises(UnknownPathError) as info:
                whole._finish(plan, merged, (), None, [])
            assert str(info.value) == str(exc)
            continue
        assert_same(whole._finish(plan, merged, (), None, []), expected, approx=SPLIT_FLOATS)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(recs=records(min_size=1, max_size=40), seed=st.integers(0, 2**16))
def test_compacted_partials_merge_to_the_same_answer(tmp_path_factory, recs, seed):
    """What a cluster's task ships (:meth:`Partial.compact`: only the paths the partial
    names and those the answer may show, ids remapped) merges, in any order and pickled, to
    the answer of the uncompacted partials, and to the in-memory log's. Each file's trie
    also holds paths no question here names (as a worker's does after other questions)."""
    import pickle

    from tagcore.scan import _plans as P
    from tagcore.scan.partial import shown_nodes

    folder = str(tmp_path_factory.mktemp("cp"))
    paths = write_parts(RequestLog.from_records(recs), folder, 3)
    log = read_all(paths)
    whole = tc.scan(folder)
    lat = ["requests", "cost", "latency_p50", "latency_p95"]
    plans = {
        "full": (lambda: P.RollupPlan(None, None, "full", None, "cost", None),
                 lambda: log.rollup(), False),
        "level": (lambda: P.RollupPlan(None, 1, "full", None, "cost", lat),
                  lambda: log.rollup(level=1, metrics=lat), False),
        "sketched": (lambda: P.RollupPlan(None, 1, "full", None, "cost", lat),
                     lambda: log.rollup(level=1, metrics=lat), True),
        "under": (lambda: P.RollupPlan("customer/acme", None, "full", None, "cost", None),
                  lambda: log.rollup(under="customer/acme"), False),
        "split": (lambda: P.RollupPlan("customer", None, "split", "model", "cost", lat),
                  lambda: log.rollup(under="customer", attribution="split", by="model",
                                     metrics=lat), False),
        "pivot": (lambda: P.PivotPlan("customer", "env", "cost"),
                  lambda: log.pivot("customer", "env"), False),
        "totals": (lambda: P.TotalsPlan(None, frozenset()), lambda: log.totals(), False),
    }
    rng = random.Random(seed)
    shown = rng.random() < 0.3  # a path the answer lists (pivot), or names (under)
    for make, want, sketch in plans.values():
        plan = make()
        parts = []
        for i, p in enumerate(paths):
            one = tc.scan(p)  # scans of one file share its trie
            one._src.order_prefix = (i,)
            with one._src.lock:  # paths that only an earlier question would have interned
                one._src.trie.add_many(["zz/extra/deep", *(["customer/zz/x"] if shown else [])])
            parts += [x.sketched(200) if sketch else x for x in one._partials(plan)]
        small = []
        for x in parts:
            keep = shown_nodes(x.trie, plan.anchors, plan.vocab)
            c = x if keep is None else x.compact(keep)
            assert len(c.trie) <= len(x.trie)
            assert set(c.trie) <= set(x.trie) and "zz/extra/deep" not in c.trie
            small.append(pickle.loads(pickle.dumps(c)))
        order = list(range(len(parts)))
        rng.shuffle(order)

        def merged(ps, order=order):
            out = ps[order[0]]
            for j in order[1:]:
                out = out.merge(ps[j]) if rng.random() < 0.5 else ps[j].merge(out)
            return out

        def answer(m, plan=plan):
            try:
                return whole._finish(plan, m, (), None, [])
            except UnknownPathError as exc:
                return ("unknown", str(exc))

        big_answer, small_answer = answer(merged(parts)), answer(merged(small))
        if isinstance(big_answer, tuple):
            assert small_answer == big_answer
            if not shown:
                with pytest.raises(UnknownPathError):
                    want()
            continue
        assert_same(small_answer, big_answer, approx=SPLIT_FLOATS)
        if not shown:
            assert_same(small_answer, want(), approx=SPLIT_FLOATS)


def test_compact_drops_unnamed_paths_and_keeps_shown_ones():
    from tagcore.scan import _plans as P
    from tagcore.scan.partial import shown_nodes

    log = RequestLog.from_records([
        {"ts": T0, "cost": 5.0, "request_tags": ["customer/acme/eu", "env/prod"]},
        {"ts": T0 + 1, "cost": 1.0, "request_tags": ["customer/globex"]}])
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "x.parquet")
        log.to_parquet(path)
        s = tc.scan(path)
        s._src.trie.add_many(["other/a/b", "customer/initech"])
        plan = P.RollupPlan(None, 1, "full", None, "cost", None)
        (x,) = s._partials(plan)
        c = x.compact(shown_nodes(x.trie, plan.anchors, plan.vocab))
        assert list(c.trie) == ["other", "customer", "env"]  # level 1 may be shown, in order
        c = x.compact(np.zeros(0, dtype=np.int64))
        assert list(c.trie) == ["customer", "env"]  # the nodes with requests
        assert c.parts[None].nodes.total[:, 0].tolist() == [2, 1]
        plan = P.RollupPlan("customer", None, "split", None, "cost", None)
        (x,) = s._partials(plan)
        c = x.compact(shown_nodes(x.trie, plan.anchors, plan.vocab))
        assert set(c.trie) == {"customer", "customer/acme", "customer/globex",
                               "customer/initech"}  # the slots: customer's children
        assert [c.trie.path(k) for k in c.parts[None].slots.keys if k >= 0] == \
            [x.trie.path(k) for k in x.parts[None].slots.keys if k >= 0]


def test_partials_pickle(tmp_path):
    import pickle

    from tagcore.scan import _plans as P

    log = tc.load_sample()
    p = str(tmp_path / "s.parquet")
    log.to_parquet(p, row_group_size=1000)
    s = tc.scan(p)
    plan = P.RollupPlan("customer", None, "split", None, "cost", None)
    parts = [pickle.loads(pickle.dumps(x)) for x in s._partials(plan)]
    merged = parts[0]
    for q in parts[1:]:
        merged = merged.merge(q)
    assert_same(s._finish(plan, merged, (), None, []),
                log.rollup(under="customer", attribution="split"), approx=SPLIT_FLOATS)
    assert merged.nbytes() < 200_000


# ================================================================== pruning, projection


@pytest.fixture(scope="module")
def sorted_file(tmp_path_factory):
    """The sample log sorted by time in row groups of 200, and its in-memory twin."""
    log = tc.load_sample()
    log = log[np.argsort(log.ts, kind="stable")]
    p = str(tmp_path_factory.mktemp("sorted") / "s.parquet")
    log.to_parquet(p, row_group_size=200)
    return p, tc.read_parquet(p)


def test_time_pruning_skips_row_groups(sorted_file):
    path, log = sorted_file
    s = tc.scan(path)
    f = s.filter(last="3D")
    assert_same(f.totals(), log.filter(last="3D").totals())
    assert f.stats["pruned_time"] >= 15 and f.stats["decoded"] <= 3
    got = s.timeseries("1D", level=1, last="2D")
    assert_same(got, log.timeseries("1D", level=1, last="2D"))
    assert s.stats["pruned_time"] >= 15
    # a node only seen in pruned row groups is still a known path (an empty frame)
    same_answer(f, log.filter(last="3D"), "rollup", under="customer/initech/x")


def test_tag_pruning_skips_row_groups(tmp_path):
    recs = [{"ts": T0 + i, "model": "m", "prompt_tokens": 1, "completion_tokens": 1,
             "cost_nanos": i, "latency_ms": 1.0, "status": 200,
             "request_tags": [f"customer/c{i // 50}", "env/prod" if i % 2 else "env/dev"]}
            for i in range(500)]
    log = RequestLog.from_records(recs)
    p = str(tmp_path / "t.parquet")
    log.to_parquet(p, row_group_size=50)
    mem = tc.read_parquet(p)
    s = tc.scan(p)
    for expr in ("customer/c3", "customer/c3 & ~env/dev", "customer/c3 | customer/c7",
                 "customer/c3*", "~customer/c3 & customer/c4"):
        f = s.filter(expr)
        assert_same(f.rollup(), mem.filter(expr).rollup(), approx=["latency_mean"])
        assert f.stats["pruned_tags"] >= 8, (expr, f.stats)
    f = s.filter("~customer/c3")  # a negation alone cannot prune
    assert_same(f.totals(), mem.filter("~customer/c3").totals())
    assert f.stats["pruned_tags"] == 0


def test_projection_reads_only_needed_columns(sorted_file):
    path, log = sorted_file
    s = tc.scan(path)
    s.rollup(level=1, metrics=["cost"])
    assert s.stats["columns"] == ["cost", "request_tags"]
    s.rollup(level=1, metrics=["requests"], sort="path")
    assert s.stats["columns"] == ["request_tags"]
    s.totals(["latency_p50"])
    assert s.stats["columns"] == ["latency_ms"]  # totals need no tag
    s.timeseries("1D", level=1, metric="requests")
    # every tag counts as its top-level ancestor: only those are interned
    assert s.stats["columns"] == ["request_tags", "ts"] and s.stats["anchors"] == (("", 1),)
    f = s.filter("customer/acme/eu")
    f.rollup(under="env", attribution="split")
    # only tags under customer/acme/eu or env matter (the rest are left out of each request)
    assert f.stats["anchors"] == (("customer/acme/eu", 3), ("env", 2))


def test_projection_never_reads_placeholders(tmp_path):
    """Columns a question does not read hold placeholders: answers that would read them
    differ from the in-memory ones, so every metric is checked on its own."""
    log = tc.load_sample()
    p = str(tmp_path / "s.parquet")
    log.to_parquet(p, row_group_size=333)
    mem = tc.read_parquet(p)
    s = tc.scan(p)
    for m in ("requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens",
              "cost", "cost_nanos", "share", "latency_mean", "latency_p95", "first_seen",
              "last_seen"):
        for sort in ("path", m):
            same_answer(s, mem, "rollup", level=2, metrics=[m], sort=sort,
                        approx=["latency_mean"])
        same_answer(s, mem, "rollup", under="customer", attribution="split", metrics=[m],
                    sort="path", approx=SPLIT_FLOATS)
        same_answer(s, mem, "totals", [m] if m != "share" else ["cost"],
                    approx=["latency_mean"])
    for m in ("cost", "requests", "errors", "prompt_tokens", "total_tokens", "unpriced"):
        same_answer(s, mem, "timeseries", "1D", metric=m)
        same_answer(s, mem, "pivot", "customer", "feature", metric=m)


# ================================================================== errors


def test_errors_equal_the_in_memory_ones(sorted_file):
    path, log = sorted_file
    s = tc.scan(path)
    with pytest.raises(UnknownPathError) as a:
        s.rollup(under="custmer")
    with pytest.raises(UnknownPathError) as b:
        log.rollup(under="custmer")
    assert str(a.value) == str(b.value)
    for bad in [dict(metrics=["bogus"]), dict(attribution="even"), dict(level=0),
                dict(attribution="split"), dict(by="colour")]:
        same_answer(s, log, "rollup", **bad)
    same_answer(s, log, "rollup", level=1, sort="bogus")
    same_answer(s, log, "timeseries", "1D", metric="latency")
    same_answer(s, log, "timeseries", "1fortnight")
    same_answer(s, log, "pivot", "customer", "model")
    same_answer(s, log, "top", -1)
    with pytest.raises(TypeError):
        s.filter(3)


def test_bucket_limit_names_the_row(tmp_path):
    recs = [{"ts": T0 + i * 60, "model": "m", "prompt_tokens": 1, "completion_tokens": 1,
             "cost_nanos": 5, "latency_ms": 1.0, "status": 200, "request_tags": ["a"]}
            for i in range(30)] + [{"ts": 0, "model": "m", "prompt_tokens": 1,
                                    "completion_tokens": 1, "cost_nanos": 5, "latency_ms": 1.0,
                                    "status": 200, "request_tags": ["a"]}]
    p = str(tmp_path / "b.parquet")
    RequestLog.from_records(recs).to_parquet(p, row_group_size=4)
    mem = tc.read_parquet(p)
    with pytest.raises(BucketLimitError) as a:
        tc.scan(p).timeseries("1h")
    with pytest.raises(BucketLimitError) as b:
        mem.timeseries("1h")
    assert str(a.value) == str(b.value) and a.value.row == b.value.row


def test_sum_overflow_names_the_row(tmp_path):
    big = 2**62
    recs = [{"ts": T0 + i, "model": "m", "prompt_tokens": 1, "completion_tokens": 1,
             "cost_nanos": big if i in (5, 17) else i, "latency_ms": 1.0, "status": 200,
             "request_tags": ["a/b"] if i % 2 else ["c"]} for i in range(30)]
    p = str(tmp_path / "o.parquet")
    RequestLog.from_records(recs + recs[5:6]).to_parquet(p, row_group_size=4)
    mem = tc.read_parquet(p)
    s = tc.scan(p)
    for method, args in (("totals", ()), ("rollup", ())):
        with pytest.raises(SumOverflowError) as a:
            getattr(s, method)(*args)
        with pytest.raises(SumOverflowError) as b:
            getattr(mem, method)(*args)
        assert str(a.value) == str(b.value)


def test_corrupt_file_names_file_and_row_group(tmp_path):
    log = tc.load_sample()
    p = tmp_path / "c.parquet"
    log.to_parquet(str(p), row_group_size=500)
    data = bytearray(p.read_bytes())
    pf = pq.ParquetFile(str(p))
    rg = pf.metadata.row_group(3).column(0)
    start = rg.data_page_offset
    data[start + 16:start + 400] = os.urandom(384)
    p.write_bytes(bytes(data))
    with pytest.raises(LogError) as info:
        tc.scan(str(p)).rollup(metrics=["first_seen"], sort="path")
    assert str(p) in str(info.value) and "row group 3" in str(info.value)


def test_bad_value_names_file_row_group_and_row(tmp_path):
    import pyarrow as pa

    t = pa.table({"ts": pa.array(np.arange(40) * 10**9, pa.timestamp("ns")),
                  "prompt_tokens": pa.array([1] * 33 + [-4] + [1] * 6),
                  "request_tags": [["a"]] * 40})
    p = str(tmp_path / "v.parquet")
    pq.write_table(t, p, row_group_size=10)
    with pytest.raises(LogError) as a:
        tc.scan(p).totals()
    with pytest.raises(LogError) as b:
        tc.read_parquet(p)
    assert "row group 3" in str(a.value) and "row 33" in str(a.value)
    assert a.value.row == b.value.row == 33 and a.value.column == b.value.column


# ================================================================== sources


def test_sources_arrow_glob_list_and_recorder(tmp_path):
    import pyarrow as pa
    import pyarrow.dataset as pds

    log = tc.load_sample()
    table = log.to_arrow()
    for src in (table, pa.RecordBatchReader.from_batches(table.schema, table.to_batches(700)),
                log):
        assert_same(tc.scan(src, batch_rows=512).rollup(level=1), log.rollup(level=1),
                    approx=["latency_mean"])
    paths = write_parts(log, str(tmp_path), 3, row_group_size=400)
    mem = read_all(paths)
    for src in (str(tmp_path / "part-*.parquet"), paths, pds.dataset(paths)):
        assert_same(tc.scan(src).rollup(level=2), mem.rollup(level=2), approx=["latency_mean"])
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(700))
    s = tc.scan(reader)
    s.totals()
    with pytest.raises(ValueError, match="read only once"):
        s.totals()
    from tagcore.gateway import Recorder

    rec_dir = tmp_path / "rec"
    with Recorder(rec_dir, durability="none") as rec:
        for i in range(50):
            rec.record([f"team/t{i % 3}"], model="m", usage={"prompt_tokens": i}, cost=0.01 * i,
                       latency_ms=float(i))
    assert_same(tc.scan(str(rec_dir)).rollup(), tc.read_recorded(str(rec_dir)).rollup(),
                approx=["latency_mean"])


def test_threads_and_progress(sorted_file):
    path, log = sorted_file
    seen: list[tuple[int, int]] = []
    s = tc.scan(path, threads=2, progress=lambda done, total: seen.append((done, total)))
    assert_same(s.rollup(level=1), log.rollup(level=1), approx=["latency_mean"])
    assert seen[-1] == (len(log), len(log)) and len(seen) == 20
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    seen.clear()
    f = s.filter(last="2D")
    f.totals()
    kept = len(log.filter(last="2D"))
    assert f.stats["pruned_time"] and seen[-1][1] == seen[-1][0] >= kept
    pytest.importorskip("tqdm")
    assert_same(tc.scan(path, progress=True).totals(), log.totals())  # a bar, if tqdm is there


def test_columns_the_file_lacks_are_unknown(tmp_path):
    import pyarrow as pa

    t = pa.table({"ts": pa.array(np.arange(30) * 3600 * 10**9, pa.timestamp("ns")),
                  "cost_nanos": pa.array(np.arange(30)),
                  "request_tags": [["a/b"], ["c"], []] * 10})
    p = str(tmp_path / "u.parquet")
    pq.write_table(t, p, row_group_size=8)
    mem = tc.read_parquet(p)
    s = tc.scan(p)
    same_answer(s, mem, "totals")
    same_answer(s, mem, "rollup")
    same_answer(s, mem, "rollup", metrics=["latency_p50"])
    same_answer(s, mem, "timeseries", "1D", metric="prompt_tokens")
    same_answer(s, mem, "timeseries", "6h")


# ================================================================== kernels and their twins


@settings(max_examples=60, deadline=None, phases=PHASES)
@given(rows=st.lists(st.lists(st.integers(0, 6), max_size=5), max_size=30),
       lat=st.lists(st.one_of(st.just(float("nan")), st.floats(0, 100)), min_size=30,
                    max_size=30),
       mode=st.sampled_from(["any", "primary"]), walk=st.booleans(),
       keys=st.lists(st.integers(-1, 3), min_size=7, max_size=7),
       untagged=st.booleans(), masked=st.booleans())
def test_latency_pairs_equals_its_twin(rows, lat, mode, walk, keys, untagged, masked):
    from tagcore.scan._pairs import latency_pairs, latency_pairs_slow

    parents = np.array([-1, 0, 1, -1, 3, 0, 5], dtype=np.int32)
    off = np.zeros(len(rows) + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(r) for r in rows])
    ids = np.array([v for r in rows for v in r], dtype=np.int32)
    latency = np.array(lat[:len(rows)])
    kon = np.array(keys, dtype=np.int32)
    keep = np.arange(len(rows)) % 2 == 0 if masked else None
    kw = dict(parents=parents if walk else None, mode=mode, untagged_key=3 if untagged else -1,
              keep=keep)
    got = latency_pairs(off, ids, latency, kon, 4, **kw)
    want = latency_pairs_slow(off, ids, latency, kon, 4, **kw)
    assert got[0].tolist() == want[0].tolist()
    assert got[1].tolist() == want[1].tolist()
    again = latency_pairs(off, ids, latency, kon, 4, counts=np.diff(want[0]), **kw)
    assert again[1].tolist() == want[1].tolist()
    if want[1].size:  # wrong counts are refused, never written past
        bad = np.diff(want[0]).copy()
        bad[np.argmax(bad)] -= 1
        with pytest.raises(ValueError, match="counts"):
            latency_pairs(off, ids, latency, kon, 4, counts=bad, **kw)


@settings(max_examples=60, deadline=None, phases=PHASES)
@given(values=st.lists(st.one_of(st.floats(0, 5e6, allow_nan=False),
                                 st.integers(0, 10**15).map(lambda n: n / 1e9),
                                 st.integers(0, 10**6).map(lambda n: n / 100)), max_size=50))
def test_dollars_fast_is_the_exact_rule(values):
    from tagcore.coerce import dollars_to_nanos_array
    from tagcore.scan._decode import dollars_fast

    x = np.array(values, dtype=np.float64)
    for i in range(x.size):  # each value alone: the fast path or None, never a wrong nano
        got = dollars_fast(x[i:i + 1])
        if got is not None:
            assert got.tolist() == dollars_to_nanos_array(x[i:i + 1], "cost").tolist()


@settings(max_examples=60, deadline=None, phases=PHASES)
@given(rows=st.lists(st.lists(st.integers(0, 4), max_size=6), max_size=20),
       table=st.lists(st.integers(0, 9), min_size=5, max_size=5))
def test_map_tags_maps_and_drops_repeats(rows, table):
    from tagcore.scan._decode import map_tags

    off = np.zeros(len(rows) + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(r) for r in rows])
    codes = np.array([v for r in rows for v in r], dtype=np.int32)
    o, i, longest = map_tags(off, codes, np.array(table, dtype=np.int32), 10)
    want = [list(dict.fromkeys(table[c] for c in r)) for r in rows]
    assert [i[o[k]:o[k + 1]].tolist() for k in range(len(rows))] == want
    assert longest == max((len(w) for w in want), default=0)
    if codes.size:
        assert map_tags(off, np.where(codes == codes[0], 7, codes).astype(np.int32),
                        np.array(table, dtype=np.int32), 10) is None


@settings(max_examples=40, deadline=None, phases=PHASES)
@given(groups=st.lists(st.lists(st.floats(0, 1e3, allow_nan=False), max_size=40), min_size=1,
                       max_size=5), qs=st.lists(st.floats(0, 1), min_size=1, max_size=4),
       seed=st.integers(0, 100))
def test_gathered_quantiles_are_numpys(groups, qs, seed):
    from tagcore.scan._pairs import gather, quantiles_of

    rng = random.Random(seed)
    runs = []
    for _ in range(3):  # each group's values spread over three runs, keys in any order
        keys = list(range(len(groups)))
        rng.shuffle(keys)
        vals, ptr = [], [0]
        for k in keys:
            part = [v for v in groups[k] if rng.random() < 0.4]
            vals += part
            ptr.append(len(vals))
        runs.append((np.array(keys), np.array(ptr), np.array(vals, dtype=np.float64)))
    ptr, values = gather(runs, np.arange(len(groups)))
    got = quantiles_of(ptr, values, qs, threads=2)
    for k in range(len(groups)):
        seg = np.concatenate([v[p[list(r).index(k)]:p[list(r).index(k) + 1]] for r, p, v in runs])
        if seg.size:
            assert got[k].tolist() == [float(np.quantile(seg, q)) for q in qs]
        else:
            assert np.isnan(got[k]).all()


def test_csv_and_skipped_rows(tmp_path):
    log = tc.load_sample()
    paths = []
    for i, part in enumerate((log[:1500], log[1500:])):
        p = str(tmp_path / f"p{i}.csv")
        part.to_csv(p)
        paths.append(p)
    mem = read_all(paths)
    s = tc.scan(str(tmp_path))
    assert_same(s.rollup(level=2), mem.rollup(level=2), approx=["latency_mean"])
    assert_same(s.filter("customer", last="3D").totals(),
                mem.filter("customer", last="3D").totals())
    # rows a reader skips (on_error="skip") are left out alike; "now" then comes from the data
    import pyarrow as pa

    t = pa.table({"ts": pa.array(np.arange(40) * 3600 * 10**9, pa.timestamp("ns")),
                  "prompt_tokens": pa.array([1] * 33 + [-4] + [1] * 6),
                  "cost_nanos": pa.array(np.arange(40)), "request_tags": [["a/b"], ["c"]] * 20})
    p = str(tmp_path / "skip.parquet")
    pq.write_table(t, p, row_group_size=10)
    mem = tc.read_parquet(p, on_error="skip")
    s = tc.scan(p, on_error="skip")
    assert_same(s.totals(), mem.totals())
    assert_same(s.filter(last="5h").rollup(), mem.filter(last="5h").rollup(),
                approx=["latency_mean"])
    back = s.collect()
    assert len(back) == 39 and back.dropped_rows == mem.dropped_rows == 1


def test_lower_case_policy_and_invalid_tags(tmp_path):
    from tagcore.tags import TagPolicy

    recs = [{"ts": T0 + i, "model": "m", "prompt_tokens": 1, "completion_tokens": 1,
             "cost_nanos": i, "latency_ms": 1.0, "status": 200,
             "request_tags": ["Org/Team", "org/team/X", " ENV / Prod "][: 1 + i % 3]}
            for i in range(30)]
    p = str(tmp_path / "c.parquet")
    RequestLog.from_records(recs).to_parquet(p, row_group_size=4)
    pol = TagPolicy(case="lower")
    mem = tc.read_parquet(p, policy=pol)
    s = tc.scan(p, policy=pol)
    assert_same(s.rollup(), mem.rollup(), approx=["latency_mean"])
    assert_same(s.rollup(level=2, attribution="split"), mem.rollup(level=2, attribution="split"),
                approx=SPLIT_FLOATS)
    import pyarrow as pa

    t = pa.table({"request_tags": [["a"], ["b\x00c"], ["d"]] * 5,
                  "cost_nanos": pa.array(np.arange(15))})
    p = str(tmp_path / "bad.parquet")
    pq.write_table(t, p, row_group_size=4)
    with pytest.raises(LogError) as a:
        tc.scan(p).rollup(level=1)
    with pytest.raises(LogError) as b:
        tc.read_parquet(p)
    assert a.value.row == b.value.row == 1 and "row group 0" in str(a.value)
    drop = TagPolicy(on_invalid="drop")
    assert_same(tc.scan(p, policy=drop).rollup(level=1),
                tc.read_parquet(p, policy=drop).rollup(level=1), approx=["latency_mean"])
