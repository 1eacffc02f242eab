"""Query benchmarks of issue 3 on a seeded realistic log (see ``datagen.py``).

Run: ``python -m pytest benchmarks/bench_query.py --benchmark-only``; add
``TAGCORE_BENCH_BIG=1`` for the 1e7 size. The log is built once per size (untimed) and each
benchmark times one query; the latency order used by quantiles is cached on the log, as in
real use, and built once before timing.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tagcore as tc  # noqa: E402

SIZES = [100_000, 1_000_000] + ([10_000_000] if os.environ.get("TAGCORE_BENCH_BIG") else [])
COUNTS = ["requests", "errors", "prompt_tokens", "completion_tokens", "cost_nanos"]


def log_from_table(table) -> tc.RequestLog:
    """A RequestLog from the generator's Arrow table, without a Python object per tag."""
    import pyarrow as pa
    import pyarrow.compute as pc

    tags = table.column("request_tags").combine_chunks()
    enc = pc.dictionary_encode(tags.values)
    trie = tc.TagTrie()
    node_of = trie.add_many(enc.dictionary.to_pylist())
    ids = node_of[enc.indices.to_numpy(zero_copy_only=False)].astype(np.int32)
    model = pc.dictionary_encode(table.column("model").combine_chunks())
    return tc.RequestLog.from_arrays(
        ts=table.column("ts").combine_chunks().cast(pa.int64()).to_numpy(),
        model=model.indices.to_numpy(zero_copy_only=False).astype(np.int32),
        models=model.dictionary.to_pylist(),
        prompt_tokens=table.column("prompt_tokens").to_numpy(),
        completion_tokens=table.column("completion_tokens").to_numpy(),
        cost=table.column("cost").to_numpy(), latency_ms=table.column("latency_ms").to_numpy(),
        status=table.column("status").to_numpy(),
        tag_offsets=tags.offsets.to_numpy().astype(np.int64), tag_ids=ids, trie=trie)


@lru_cache(maxsize=1)
def make_log(n: int) -> tc.RequestLog:
    import datagen

    log = log_from_table(datagen.generate(n, seed=0))
    log.rollup(level=1, metrics=["latency_p50"])  # warm the cached latency order
    return log


def _fresh(log):
    """Drop cached roll-ups (not the latency order) so each round does the work."""
    for k in [k for k in log._cache if isinstance(k, tuple)]:  # cached roll-up results
        del log._cache[k]
    return log


@pytest.mark.parametrize("n", SIZES)
def test_full_rollup(benchmark, n):
    log = make_log(n)
    benchmark.group = f"issue3 n={n:.0e}"
    df = benchmark(lambda: _fresh(log).rollup(metrics=COUNTS, sort="path"))
    assert df["requests"].max() <= n


@pytest.mark.parametrize("n", SIZES)
def test_filter_then_breakdown(benchmark, n):
    log = make_log(n)
    benchmark.group = f"issue3 n={n:.0e}"
    benchmark(lambda: log.filter("customer/c00001 & ~env/staging").rollup(under="feature",
                                                                          metrics=COUNTS))


@pytest.mark.parametrize("n", SIZES)
def test_daily_series_7d(benchmark, n):
    log = make_log(n)
    benchmark.group = f"issue3 n={n:.0e}"
    benchmark(lambda: log.timeseries("1D", level=1, last="7D"))


@pytest.mark.parametrize("n", SIZES)
def test_split_by_customer(benchmark, n):
    log = make_log(n)
    benchmark.group = f"issue3 n={n:.0e}"
    df = benchmark(lambda: log.rollup(under="customer", attribution="split",
                                      metrics=["cost_nanos"]))
    assert int(df["cost_nanos"].sum()) == int(log.cost.sum())


@pytest.mark.parametrize("n", SIZES)
def test_latency_quantiles_all_nodes(benchmark, n):
    log = make_log(n)
    benchmark.group = f"issue3 n={n:.0e}"
    benchmark(lambda: _fresh(log).rollup(metrics=["latency_p50", "latency_p95"]))
