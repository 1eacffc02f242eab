"""Benchmarks of the native Parquet reader: file -> RequestLog, at 1e6 and 1e7 requests.

Run: ``python -m pytest benchmarks/bench_io.py --benchmark-only`` (1e7 only with
``TAGCORE_BENCH_BIG=1``). The data is ``benchmarks/datagen.py``'s seeded log (about 3 tags per
request, ~20k distinct tags), cached as Parquet on first use.

``python benchmarks/bench_io.py --n 1e7`` prints where the time of one read goes (phases
timed by re-running the reader's steps one by one).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import datagen  # noqa: E402

import tagcore as tc  # noqa: E402
from tagcore.io import arrow as tio  # noqa: E402  (the Arrow column readers)
from tagcore.io import parquet as tio_pq  # noqa: E402

SIZES = [10**6] + ([10**7] if os.environ.get("TAGCORE_BENCH_BIG") == "1" else [])


@pytest.mark.parametrize("n", SIZES, ids=lambda n: f"n={n:.0e}")
def test_read_parquet(benchmark, n):
    path = datagen.dataset(n)
    log = benchmark.pedantic(tc.read_parquet, args=(path,), rounds=5 if n <= 10**6 else 3,
                             iterations=1, warmup_rounds=1)
    assert len(log) == n
    assert log.tag_ids.size > 2.5 * n  # ~3 tags per request, none lost
    benchmark.extra_info["tags"] = int(log.tag_ids.size)
    benchmark.extra_info["nodes"] = len(log.trie)


def phases(path: str | os.PathLike) -> dict[str, float]:
    """Seconds spent in each step of ``read_parquet`` on ``path``."""
    import pyarrow.parquet as pq

    out: dict[str, float] = {}

    def timed(name, f, *a, **kw):
        t0 = time.perf_counter()
        r = f(*a, **kw)
        out[name] = out.get(name, 0.0) + time.perf_counter() - t0
        return r

    t_all = time.perf_counter()
    pf = pq.ParquetFile(path)
    present = tio._select(None, pf.schema_arrow.names, str(path))
    leaves = tio_pq._dict_leaves(pf, ["model", "request_tags"])
    table = timed("parquet decode (pyarrow, threads)", pq.read_table, path,
                  columns=list(present.values()), read_dictionary=leaves)
    probs = tio._Problems(table.num_rows)
    trie = tc.TagTrie()
    timed("ts", tio._arrow_ts, table.column("ts"), probs, "")
    timed("model codes", tio._arrow_strings, table.column("model"), "model", probs, "",
          required=True)
    for c in ("prompt_tokens", "completion_tokens", "status"):
        timed("ints (tokens, status)", tio._arrow_int, table.column(c), c, probs, "")
    timed("floats (cost, latency)", tio._arrow_float, table.column("cost"), "cost", probs, "")
    timed("floats (cost, latency)", tio._arrow_float, table.column("latency_ms"), "latency_ms",
          probs, "")
    real_finish = tio._finish_tags

    def finish(*a, **kw):
        return timed("tags: dedup/limits pass", real_finish, *a, **kw)

    tio._finish_tags = finish
    try:
        timed("tags total", tio._arrow_tags, table.column("request_tags"), trie, None, probs, "")
    finally:
        tio._finish_tags = real_finish
    out["tags: codes -> node ids"] = out.pop("tags total") - out["tags: dedup/limits pass"]
    del table
    t0 = time.perf_counter()
    log = tc.read_parquet(path)
    total = time.perf_counter() - t0
    out["(sum of steps above)"] = sum(v for v in out.values())
    out["read_parquet end to end"] = total
    out["(phases run)"] = time.perf_counter() - t_all
    del log
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="time the phases of read_parquet")
    ap.add_argument("--n", type=float, default=1e6)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args(argv)
    path = datagen.dataset(int(a.n))
    times = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        tc.read_parquet(path)
        times.append(time.perf_counter() - t0)
    print(f"read_parquet n={int(a.n):,}: median {np.median(times):.3f} s, "
          f"min {min(times):.3f} s over {a.repeat}")
    for k, v in phases(path).items():
        if not k.startswith("(phases"):
            print(f"  {k:<36} {v:7.3f} s")


if __name__ == "__main__":
    main()
