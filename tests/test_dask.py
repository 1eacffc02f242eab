"""tagcore.dask answers every question of the local scan, on a real two-process cluster.

One module-scoped :class:`distributed.LocalCluster` (two worker processes, one thread each)
runs every test. The oracle is the local :func:`tagcore.scan` (itself tested against the
in-memory log in test_scan.py) on the same files: frames must be equal, exactly for integers,
nano-dollars and times, to 1e-12 (relative) for float sums that add in another order (split
shares, the latency sum behind ``latency_mean``). Latency quantiles are exact while a tag holds
at most ``sketch_k`` latencies (the sketch keeps them all), and within 2% of numpy's exact
quantiles (relative, of the value) beyond, on realistic and heavy-tailed latencies.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

pytest.importorskip("distributed")
pytest.importorskip("datasketches")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import tagcore as tc  # noqa: E402
import tagcore.dask as tcd  # noqa: E402
from tagcore.log import LogError, RequestLog  # noqa: E402
from tagcore.query import UnknownPathError  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from test_scan import (  # noqa: E402
    DAY,
    SPLIT_FLOATS,
    T0,
    TAGS,
    assert_same,
    read_all,
    records,
    write_parts,
)

NOTE = "latency_quantiles"
QUANTILE_COLUMNS = ("latency_p50", "latency_p90", "latency_p95", "latency_p99")


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=40)
    c = Client(cluster)
    c.wait_for_workers(2)
    yield c
    c.close()
    cluster.close()


# ================================================================== data


def _records(rng: np.random.Generator, n: int, tags: list[str], t0: int) -> list[dict]:
    out = []
    for i in range(n):
        k = int(rng.integers(0, 5))
        rec = {
            "ts": t0 + int(rng.integers(0, 6 * DAY)) + i,
            "model": str(rng.choice(["m1", "m2", "m3"])),
            "prompt_tokens": int(rng.integers(0, 5000)),
            "completion_tokens": int(rng.integers(0, 2000)),
            "latency_ms": None if rng.random() < 0.1 else float(rng.lognormal(6, 1)),
            "status": int(rng.choice([200, 200, 200, 404, 500])),
            "request_tags": [str(t) for t in rng.choice(tags, size=k, replace=False)],
        }
        if rng.random() < 0.9:  # the rest unpriced; costs with remainders when split
            rec["cost_nanos"] = int(rng.choice([7, 10, 11, int(rng.integers(0, 10**10))]))
        out.append(rec)
    return out


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Three Parquet files, consecutive in time, each with its own tag vocabulary (some tags in
    one file only; customers that a request splits between, in other interning orders), row
    groups of 50 rows, and the local scan of the folder."""
    rng = np.random.default_rng(13)
    d = tmp_path_factory.mktemp("dask_parts")
    vocab = [
        ["customer/zeta", "customer/acme", "env/prod", "geo/US/CA", "feature/chat", "asia"],
        ["customer/acme", "customer/beta", "customer/acme/eu", "env/dev", "org/team/project",
         "feature/search", "org/team"],
        ["customer/beta", "customer/zeta", "customer/gamma", "env/prod", "env/dev", "geo/US",
         "feature/chat", " customer / acme "],
    ]
    for i, tags in enumerate(vocab):
        log = RequestLog.from_records(_records(rng, 600, tags, T0 + i * 7 * DAY))
        log.to_parquet(str(d / f"part-{i:02d}.parquet"), row_group_size=50)
    return str(d)


# ================================================================== comparing


def same(ds, ls, method: str, *args, approx=(), **kw) -> None:
    """``ds.method(...)`` on the cluster equals the local scan's ``ls.method(...)``, or both
    raise the same error. Quantiles carry the sketch's note and nothing else differs."""
    try:
        want = getattr(ls, method)(*args, **kw)
    except (ValueError, TypeError) as exc:
        with pytest.raises(type(exc)) as info:
            getattr(ds, method)(*args, **kw)
        assert str(info.value) == str(exc)
        return
    got = getattr(ds, method)(*args, **kw)
    index = want.index if isinstance(want, pd.Series) else want.columns
    if any(c in QUANTILE_COLUMNS for c in index):
        assert got.attrs.pop(NOTE).startswith("KLL sketch (Apache DataSketches), k=2000")
    else:
        assert NOTE not in got.attrs
    assert_same(got, want, approx=[*approx, "latency_mean"])


def questions(ds, ls) -> None:
    """Every question, the cluster scan ``ds`` against the local scan ``ls``."""
    same(ds, ls, "totals")
    same(ds, ls, "totals", ["requests", "cost_nanos", "latency_mean", "first_seen"])
    same(ds, ls, "rollup")
    same(ds, ls, "rollup", level=1, metrics=["requests", "cost", "latency_p50", "latency_p95",
                                              "share", "first_seen", "last_seen"])
    same(ds, ls, "rollup", under="customer", metrics=["requests", "cost", "latency_p99"])
    same(ds, ls, "rollup", level=2, sort="path", metrics=["requests", "errors", "total_tokens"])
    same(ds, ls, "rollup", under="nosuch")
    for att in ("split", "primary"):
        same(ds, ls, "rollup", under="customer", attribution=att, approx=SPLIT_FLOATS)
        same(ds, ls, "rollup", level=1, attribution=att, approx=SPLIT_FLOATS)
    same(ds, ls, "rollup", level=1, by="model")
    same(ds, ls, "rollup", under="customer", attribution="split", by="status",
         metrics=["requests", "cost_nanos", "share"], approx=SPLIT_FLOATS)
    same(ds, ls, "top", 2, under="customer", approx=SPLIT_FLOATS)
    same(ds, ls, "top", 2, level=1, attribution="full")
    same(ds, ls, "timeseries", "1D")
    same(ds, ls, "timeseries", "1D", under="customer", attribution="split", last="7D")
    same(ds, ls, "timeseries", "6h", level=2, metric="requests", since=T0 + 3 * DAY,
         until=T0 + 9 * DAY)
    same(ds, ls, "pivot", "customer", "env")
    same(ds, ls, "pivot", "customer", "feature", metric="requests")


def filters(ds, ls) -> None:
    for args, kw in [(("customer & ~env/dev",), {}), (("customer/*",), {"last": "5D"}),
                     ((), {"since": T0 + 2 * DAY, "until": T0 + 11 * DAY}),
                     (("org/** | asia",), {"model": ["m1", "m3"]}), ((), {"status": "error"})]:
        fd, fl = ds.filter(*args, **kw), ls.filter(*args, **kw)
        same(fd, fl, "totals")
        same(fd, fl, "rollup", under="customer", attribution="split", approx=SPLIT_FLOATS)
        same(fd, fl, "timeseries", "1D", level=1, last="3D")
    # chained: the second window's "now" is the last request the first filter keeps, counted
    # on the cluster
    fd, fl = ds.filter("customer/beta").filter(last="2D"), ls.filter("customer/beta").filter(
        last="2D")
    same(fd, fl, "totals")
    same(fd, fl, "pivot", "customer", "env")
    assert ds.filter("env").window(last="1D") == ls.filter("env").window(last="1D")


# ================================================================== tests


def test_every_question_equals_the_local_scan(client, folder):
    s = tcd.scan(folder, client, task_rows=150)
    local = tc.scan(folder)
    questions(s, local)
    filters(s, local)
    # 3 files of 600 rows in row groups of 50, tasks of at most 150 rows: 12 tasks, on both
    # worker processes
    s.rollup(level=1)
    assert s.stats["tasks"] == 12 and s.stats["decoded"] == 36 and s.stats["rows"] == 1800
    assert s.stats["workers"] == set(client.scheduler_info()["workers"])
    assert len(s.stats["workers"]) == 2


def test_split_remainders_are_those_of_one_process(client, tmp_path):
    """Costs of 10 nano-dollars split over 3 customers: the one left over goes to the first
    hit in path order, whatever order each file interned its tags in."""
    tags = ["customer/c", "customer/a", "customer/b"]
    for i in range(3):
        order = tags[i:] + tags[:i]  # each file meets the customers in another order
        recs = [{"ts": T0 + 10 * i + j, "request_tags": order[: 1 + j % 3],
                 "cost_nanos": 10 + j % 2} for j in range(9)]
        RequestLog.from_records(recs).to_parquet(str(tmp_path / f"p{i}.parquet"),
                                                 row_group_size=2)
    s, local = tcd.scan(str(tmp_path), client, task_rows=2), tc.scan(str(tmp_path))
    got = s.rollup(under="customer", attribution="split", metrics=["cost_nanos"])
    want = local.rollup(under="customer", attribution="split", metrics=["cost_nanos"])
    assert_same(got, want)
    assert got["cost_nanos"].sum() == int(s.totals(["cost_nanos"])["cost_nanos"])
    log = read_all(sorted(str(p) for p in tmp_path.iterdir()))
    assert_same(got, log.rollup(under="customer", attribution="split", metrics=["cost_nanos"]))


def test_last_takes_now_from_every_file(client, folder):
    """``last=`` is relative to the largest ts of all files (from the Parquet statistics),
    pushed to every task; filters prune row groups on the workers."""
    s, local = tcd.scan(folder, client, task_rows=150), tc.scan(folder)
    assert s.window(last="1D") == local.window(last="1D")
    f = s.filter(last="2D")
    same(f, local.filter(last="2D"), "rollup", level=1)
    assert f.stats["pruned_time"] >= 24  # the two older files' row groups, never decoded
    assert f.stats["decoded"] <= 12


@settings(max_examples=3, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(recs=records(min_size=5, max_size=50), n_files=st.integers(2, 3))
def test_generated_parts_equal_the_local_scan(client, tmp_path_factory, recs, n_files):
    folder = str(tmp_path_factory.mktemp("dask_gen"))
    write_parts(RequestLog.from_records(recs), folder, n_files)
    s, local = tcd.scan(folder, client, task_rows=7), tc.scan(folder)
    same(s, local, "totals")
    same(s, local, "rollup", level=1, metrics=["requests", "cost_nanos", "latency_p50",
                                               "latency_p95", "last_seen"])
    same(s, local, "rollup", under="customer", attribution="split", approx=SPLIT_FLOATS)
    same(s.filter("customer", last="4D"), local.filter("customer", last="4D"), "totals")
    same(s, local, "timeseries", "1D", under="customer", attribution="primary")
    same(s, local, "pivot", "customer", "env")


# ------------------------------------------------------------------ quantiles


def _lognormal_parts(folder: Path, n: int, parts: int, sigma: float, seed: int) -> None:
    """``parts`` files of ``n`` requests, lognormal latencies (median 800 ms), over a few
    top-level tags (each file its own mix)."""
    rng = np.random.default_rng(seed)
    names = ["a", "b", "c", "d/x", "d/y"]
    for i in range(parts):
        k = rng.integers(0, len(names), size=n)
        tags = pa.array([[names[j], f"file{i}"] for j in k.tolist()], pa.list_(pa.string()))
        t = pa.table({"ts": pa.array(np.arange(n, dtype=np.int64) * 10**9 + i * n * 10**9,
                                     pa.timestamp("ns", tz="UTC")),
                      "cost_nanos": rng.integers(0, 10**6, size=n),
                      "latency_ms": rng.lognormal(np.log(800.0), sigma, size=n),
                      "request_tags": tags})
        pq.write_table(t, folder / f"part-{i}.parquet", row_group_size=1 << 16)


def _within(got: pd.DataFrame, want: pd.DataFrame, rel: float) -> float:
    assert list(got.index) == list(want.index)
    worst = 0.0
    for c in ("latency_p50", "latency_p95"):
        err = np.abs(got[c].to_numpy() / want[c].to_numpy() - 1)
        worst = max(worst, float(err.max()))
    assert worst <= rel, worst
    assert worst > 0  # the sketch did estimate
    return worst


@pytest.mark.parametrize("kind", ["lognormal", "datagen"])
def test_quantiles_within_the_stated_error(client, tmp_path, kind):
    """p50 and p95 from merged KLL sketches within 2% of the exact ones (the local scan's),
    over 6 parts of 50k requests; every other column exact."""
    if kind == "lognormal":
        _lognormal_parts(tmp_path, 50_000, 6, sigma=1.0, seed=5)
    else:  # the benchmark's latency model: a lognormal base plus time per generated token
        import datagen

        for i in range(6):
            pq.write_table(datagen.generate(50_000, seed=20 + i),
                           tmp_path / f"part-{i}.parquet", row_group_size=1 << 16)
    s, local = tcd.scan(str(tmp_path), client, task_rows=1 << 16), tc.scan(str(tmp_path))
    m = ["requests", "cost_nanos", "latency_p50", "latency_p95"]
    got, want = s.rollup(level=1, metrics=m), local.rollup(level=1, metrics=m)
    assert "normalized rank error of 0.142%" in got.attrs.pop(NOTE)
    assert_same(got[["depth", "requests", "cost_nanos"]], want[["depth", "requests",
                                                                  "cost_nanos"]])
    big = want["requests"] > 2 * s.sketch_k  # past the sketch's exact range
    assert big.sum() >= 4
    _within(got[big], want[big], 0.02)
    # a tag with at most k latencies: its sketch keeps them all, the quantiles are exact
    small = want["requests"] <= s.sketch_k
    assert_same(got[small], want[small])
    tg, tw = s.totals(["latency_p50", "latency_p95"]), local.totals(["latency_p50",
                                                                      "latency_p95"])
    assert tg.attrs[NOTE]
    for q in ("latency_p50", "latency_p95"):
        assert abs(tg[q] / tw[q] - 1) <= 0.02, (q, tg[q], tw[q])


def test_partials_ship_sketches_not_latencies(client, tmp_path):
    """A task's partial of a quantile question holds sketches (bounded, mergeable, picklable);
    the local scan keeps the exact latencies."""
    import pickle

    from tagcore.scan import _plans as P
    from tagcore.scan.partial import Latencies, LatencySketches

    _lognormal_parts(tmp_path, 30_000, 2, sigma=1.0, seed=9)
    s = tcd.scan(str(tmp_path), client)
    plan = P.RollupPlan(None, 1, "full", None, "cost", ["requests", "latency_p95"])
    parts = s._partials(plan)
    assert len(parts) == 2
    for p in parts:
        assert isinstance(p.parts[None].lats, LatencySketches)
        assert p.nbytes() < 30_000 * 8  # less than the latencies themselves
    one = pickle.loads(pickle.dumps(parts[1])).merge(parts[0])
    assert one.parts[None].lats.count(one.trie.get("a")) == int(
        s.rollup(level=1, metrics=["requests"]).loc["a", "requests"])
    local = tc.scan(str(tmp_path))._partials(plan)
    assert all(isinstance(p.parts[None].lats, Latencies) for p in local)


# ------------------------------------------------------------------ other doors, errors


def test_fsspec_urls(client, folder):
    """A glob or a folder named by an fsspec URL, opened through pyarrow on every worker."""
    local = tc.scan(folder)
    for url in (f"file://{folder}/part-*.parquet", f"file://{folder}"):
        s = tcd.scan(url, client, task_rows=300)
        same(s, local, "rollup", under="customer", attribution="split", approx=SPLIT_FLOATS)
        same(s.filter("env/prod", last="3D"), local.filter("env/prod", last="3D"), "totals")
        assert s.stats["tasks"] == 6
    with pytest.raises(FileNotFoundError, match="no Parquet file"):
        tcd.scan(f"file://{folder}/nothing-*.parquet", client)


def test_from_dask_dataframe(client, folder):
    dd = pytest.importorskip("dask.dataframe")
    ddf = dd.read_parquet(folder)
    s, local = tcd.from_dask_dataframe(ddf, tags="request_tags"), tc.scan(folder)
    same(s, local, "rollup", level=1, metrics=["requests", "cost_nanos", "errors", "last_seen"])
    same(s, local, "rollup", under="customer", attribution="split", approx=SPLIT_FLOATS)
    same(s.filter("customer", last="3D"), local.filter("customer", last="3D"), "totals")
    assert s.stats["tasks"] == ddf.npartitions
    renamed = ddf.rename(columns={"request_tags": "labels"})
    same(tcd.from_dask_dataframe(renamed, tags="labels"), local, "pivot", "customer", "env")
    with pytest.raises(ValueError, match="no column 'tags'"):
        tcd.from_dask_dataframe(ddf, tags="tags")


def test_errors_name_the_file_and_refusals(client, folder, tmp_path):
    s = tcd.scan(folder, client)
    with pytest.raises(NotImplementedError, match="collect"):
        s.collect()
    with pytest.raises(TypeError, match="must be files"):
        tcd.scan(pa.table({"request_tags": [["a"]]}), client)
    with pytest.raises(ValueError, match="task_rows"):
        tcd.scan(folder, client, task_rows=0)
    with pytest.raises(ValueError, match="sketch k"):
        tcd.scan(folder, client, sketch_k=1)
    with pytest.raises(UnknownPathError) as a:
        s.rollup(under="customer/nobody")
    with pytest.raises(UnknownPathError) as b:
        tc.scan(folder).rollup(under="customer/nobody")
    assert str(a.value) == str(b.value)
    # a bad tag in one file, read on a worker: the same error as the local scan's
    bad = tmp_path / "bad"
    bad.mkdir()
    recs = [{"ts": T0 + j, "request_tags": [TAGS[j % 3]]} for j in range(20)]
    RequestLog.from_records(recs).to_parquet(str(bad / "a.parquet"), row_group_size=5)
    t = pa.table({"ts": pa.array([T0 + 30, T0 + 31], pa.int64()),
                  "request_tags": [["ok"], ["x\u200b"]]})
    pq.write_table(t, bad / "b.parquet")
    with pytest.raises(LogError) as a:
        tcd.scan(str(bad), client).rollup(level=1)
    with pytest.raises(LogError) as b:
        tc.scan(str(bad)).rollup(level=1)
    assert str(a.value) == str(b.value) and "b.parquet" in str(a.value)


def test_error_paths_that_read_a_column_again(client, tmp_path):
    """A sum past int64 and a bucket limit name the row, as the local scan does: the column
    they name a row of is fetched through the cluster once more."""
    from tagcore.log import SumOverflowError
    from tagcore.query import BucketLimitError

    recs = [{"ts": T0 + i * 60, "cost_nanos": 2**62 if i in (5, 17) else i,
             "request_tags": ["a/b"] if i % 2 else ["c"]} for i in range(30)]
    recs += [dict(recs[5], ts=0)]  # a third 2**62, and a time far before the others
    RequestLog.from_records(recs[:16]).to_parquet(str(tmp_path / "p0.parquet"),
                                                  row_group_size=4)
    RequestLog.from_records(recs[16:]).to_parquet(str(tmp_path / "p1.parquet"),
                                                  row_group_size=4)
    s, local = tcd.scan(str(tmp_path), client), tc.scan(str(tmp_path))
    for err, method, args in ((SumOverflowError, "totals", ()), (SumOverflowError, "rollup", ()),
                              (BucketLimitError, "timeseries", ("1min",))):
        with pytest.raises(err) as a:
            getattr(s, method)(*args)
        with pytest.raises(err) as b:
            getattr(local, method)(*args)
        assert str(a.value) == str(b.value)


def test_import_error_names_the_extra(monkeypatch):
    import importlib

    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.delitem(sys.modules, "tagcore.dask", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'tagcore\[dask\]'"):
        importlib.import_module("tagcore.dask")
    monkeypatch.undo()
    assert importlib.import_module("tagcore.dask") is tcd
