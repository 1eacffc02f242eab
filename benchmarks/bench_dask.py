"""Benchmarks of ``tagcore.dask`` (issue 13): the figures of SCALE.md.

    python benchmarks/bench_dask.py --n 1e6 --repeat 3     # every figure of SCALE.md
    pytest benchmarks/bench_dask.py --benchmark-group-by=group

``main()`` measures, on the datagen files (``datagen.dataset``):

1. **one task on one core**: a question's task (the work a worker does for one file: decode
   the columns, chunk kernels, merge, sketch) run in this process on one thread, from a cold
   trie; requests per second per core for Q1 (every node), Q3 (daily cost per top-level tag,
   last 7 days), Q4 (split over customers) and Q5 (p50/p95 per top-level tag, sketched);
2. **partials**: the pickled size of one task's partial of each question, on a cold worker
   and on one that answered Q1 over the same file first (its trie holds every path), and the
   time to merge two partials of two different files (tries that differ: the merge goes by
   path); ``--sizes ''`` stops here;
3. **the tree reduction** at 8, 64 and 512 partitions on a two-process LocalCluster: the
   whole question end to end (the file cut into that many tasks), and the reduction alone
   (partials already on the workers, merged by ``dask.bag``'s tree with ``split_every=8``).

Medians over ``--repeat`` runs; the machine is shared, so ratios side by side matter more than
absolute times.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import datagen  # noqa: E402

QUESTIONS = {
    "Q1": lambda s: s.rollup(metrics=["requests", "cost", "prompt_tokens", "completion_tokens"]),
    "Q3": lambda s: s.timeseries("1D", level=1, last="7D"),
    "Q4": lambda s: s.rollup(under="customer", attribution="split", metrics=["cost"]),
    "Q5": lambda s: s.rollup(level=1, metrics=["latency_p50", "latency_p95"]),
}


def _task_scan(path: str, sketch_k: int = 2000, src: Any = None) -> Any:
    """A scan whose pass runs one cluster task (``_run_source``) over the whole file, in this
    process, and records its time, rows and partial. ``src``: run it on this open source (a
    warm worker, whose trie earlier questions grew); None: a cold worker."""
    from tagcore.dask._cluster import _run_source
    from tagcore.scan import _source
    from tagcore.scan._scan import Scan

    class TaskScan(Scan):
        record: dict[str, Any] = {}

        def _pass(self, plan, steps, group=None, keep=None):
            spec = self.pass_spec(plan, steps, group)
            if src is None:
                _source._SHARED.clear()  # a cold worker: no trie from an earlier question
            source = _source.Source(path) if src is None else src
            t = time.perf_counter()
            part, stats = _run_source(source, spec, 0, None, sketch_k)
            TaskScan.record = {"s": time.perf_counter() - t, "rows": stats["rows"],
                               "partial": part}
            return part, []

    return TaskScan(path, threads=1)


def task_figures(path: str, repeat: int) -> dict[str, dict[str, float]]:
    """Per question: seconds of one task, rows, requests/s/core, pickled partial bytes."""
    import tagcore as tc

    out = {}
    with tc.threads(1):
        for q, ask in QUESTIONS.items():
            times = []
            for _ in range(repeat):
                s = _task_scan(path)
                ask(s)
                times.append(type(s).record["s"])
            rec = type(s).record
            med = statistics.median(times)
            out[q] = {"s": med, "rows": rec["rows"], "rate": rec["rows"] / med,
                      "bytes": len(pickle.dumps(rec["partial"])),
                      "partial": rec["partial"]}
    return out


def warm_sizes(path: str) -> dict[str, int]:
    """Per question: the pickled bytes of its task's partial on a worker that answered Q1 over
    the same file first (its trie holds every path of the file)."""
    import tagcore as tc
    from tagcore.scan import _source

    out = {}
    with tc.threads(1):
        for q, ask in QUESTIONS.items():
            _source._SHARED.clear()
            src = _source.Source(path)
            QUESTIONS["Q1"](_task_scan(path, src=src))
            s = _task_scan(path, src=src)
            ask(s)
            out[q] = len(pickle.dumps(type(s).record["partial"]))
    return out


def merge_figures(a: dict, b: dict, repeat: int) -> dict[str, float]:
    """Seconds to merge two partials of two files (median of ``repeat * 5``)."""
    out = {}
    for q in QUESTIONS:
        pa_, pb = a[q]["partial"], b[q]["partial"]
        pb = pickle.loads(pickle.dumps(pb))  # as it arrives from another worker
        pb.question = pa_.question  # the same question, asked of two files
        times = []
        for _ in range(repeat * 5):
            t = time.perf_counter()
            pa_.merge(pb)
            times.append(time.perf_counter() - t)
        out[q] = statistics.median(times)
    return out


def tree_figures(path: str, client: Any, sizes: tuple[int, ...], repeat: int
                 ) -> dict[tuple[str, int], dict[str, float]]:
    """End to end on the cluster with the file cut into N tasks, and the reduction alone."""
    import pyarrow.parquet as pq

    import tagcore.dask as tcd
    from tagcore.dask._cluster import _merge_all

    n_rows = pq.ParquetFile(path).metadata.num_rows
    out = {}
    for n in sizes:
        cut = Path(tempfile.mkdtemp()) / f"cut{n}.parquet"
        pq.write_table(pq.read_table(path), cut, row_group_size=-(-n_rows // n))
        for q in ("Q1", "Q5"):
            s = tcd.scan(str(cut), client, task_rows=1, progress=False)
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                QUESTIONS[q](s)
                times.append(time.perf_counter() - t)
            assert s.stats["tasks"] == n
            # the reduction alone: the tasks' partials, kept on the workers, merged again
            from tagcore.scan import _plans as P

            plan = (P.RollupPlan(None, None, "full", None, "cost",
                                 ["requests", "cost", "prompt_tokens", "completion_tokens"])
                    if q == "Q1" else
                    P.RollupPlan(None, 1, "full", None, "cost", ["latency_p50", "latency_p95"]))
            bag, _ = s._bag(s.pass_spec(plan, ()))
            parts = client.persist(bag)
            from distributed import wait

            wait(parts)
            red = []
            for _ in range(repeat):
                t = time.perf_counter()
                client.compute(parts.reduction(_merge_all, _merge_all, split_every=8)).result()
                red.append(time.perf_counter() - t)
            first = client.compute(parts.to_delayed()[0]).result()
            del parts
            out[(q, n)] = r = {"e2e": statistics.median(times),
                               "reduce": statistics.median(red),
                               "partial": len(pickle.dumps(first[0][0]))}
            print(f"| {q} | {n} | {r['e2e']:.2f} | {r['reduce']:.3f} | {r['partial']:,.0f} |",
                  flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=float, default=1e6, help="requests per file")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", default="8,64,512",
                    help="partitions of the tree reduction ('' or 0: no cluster run)")
    ap.add_argument("--cluster-only", action="store_true", help="only the tree reduction")
    args = ap.parse_args(argv)
    n = int(args.n)
    a, b = str(datagen.dataset(n, 0)), str(datagen.dataset(n, 1))
    if not args.cluster_only:
        _local_figures(a, b, n, args.repeat)
    from distributed import Client, LocalCluster

    sizes = tuple(int(x) for x in args.sizes.split(",") if x.strip() and int(x))
    if not sizes:
        return
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=40) as cl, Client(cl) as client:
        print(f"\n# the LocalCluster (2 workers x 1 thread), {n:,} requests cut in N tasks")
        print("| question | N | end to end s | tree reduction alone s | partial bytes |")
        print("|---|---|---|---|---|", flush=True)
        tree_figures(a, client, sizes, args.repeat)


def _local_figures(a: str, b: str, n: int, repeat: int) -> None:
    args = argparse.Namespace(repeat=repeat)
    print(f"# one task on one core ({n:,} requests, datagen seed 0; medians of {args.repeat})")
    ta, tb = task_figures(a, args.repeat), task_figures(b, 1)
    warm = warm_sizes(a)
    print("| question | task s | requests/s/core | partial bytes (pickled) | after a Q1 |")
    print("|---|---|---|---|---|")
    for q, r in ta.items():
        print(f"| {q} | {r['s']:.3f} | {r['rate']:,.0f} | {r['bytes']:,} | {warm[q]:,} |")
    print("\n# merging two partials of two files (different tries)")
    mf = merge_figures(ta, tb, args.repeat)
    for q, sec in mf.items():
        print(f"| {q} | {sec * 1e3:.2f} ms |", flush=True)


# ============================================================================== pytest-benchmark


@pytest.fixture(scope="module")
def data_path() -> str:
    return str(datagen.dataset(100_000))


@pytest.mark.parametrize("q", list(QUESTIONS))
def test_dask_task(benchmark, data_path, q):
    """One cluster task of ``q`` over the 1e5 file, in this process, on one thread."""
    import tagcore as tc

    benchmark.group = f"dask-task-{q}"

    def run():
        with tc.threads(1):
            QUESTIONS[q](_task_scan(data_path))

    benchmark(run)


@pytest.mark.parametrize("q", list(QUESTIONS))
def test_dask_merge(benchmark, data_path, q):
    """Merging two partials of ``q`` from two different tries."""
    a = task_figures(data_path, 1)[q]["partial"]
    b = pickle.loads(pickle.dumps(a))
    b.trie = b.trie.copy()
    benchmark.group = f"dask-merge-{q}"
    benchmark(a.merge, b)


if __name__ == "__main__":
    main()
