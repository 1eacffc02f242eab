"""Benchmarks of the streaming scan (``tagcore.scan``, issue 10), run on demand.

    python benchmarks/bench_scan.py --n 1e6,1e7 --repeat 3          # the table of RESULTS.md
    python benchmarks/bench_scan.py --n 1e7 --phases                 # what bounds Q1
    python benchmarks/bench_scan.py --scaling 1e6,1e7,3e7            # Q1 time and memory by size
    pytest benchmarks/bench_scan.py --benchmark-group-by=group,param:n

``main()`` answers the five questions of ``reference.py`` end to end from the datagen Parquet
file (1M-row row groups), one fresh process per (engine, question) through
``compare.py --worker e2e`` (imports untimed, peak RSS from ``VmHWM``), engines interleaved
within each repetition (their order rotates), medians over the repetitions; every answer is
checked against the scan's. It prints, per size and question, each engine's median, the ratio
fastest peer / scan, and peak memory. ``--phases`` times one pass of Q1 on one thread, piece
by piece: the decode of each column, the chunk build, the kernel and the merge.

The pytest-benchmark part times one scan question per benchmark (the scan keeps nothing
between questions, so a warm process measures read + answer).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import compare  # noqa: E402
import datagen  # noqa: E402
from reference import QUESTIONS, compare_answers  # noqa: E402

SCAN = "tagcore-scan"
PEERS = ("chdb", "polars", "duckdb")
GOALS = {"Q1": 6.0, "Q2": 3.0, "Q3": 3.0, "Q4": 3.0, "Q5": 3.0}


# ============================================================================== pytest-benchmark

SIZES = (100_000, 1_000_000)


@pytest.mark.parametrize("n", SIZES, ids=lambda n: f"{n:.0e}".replace("+0", ""))
@pytest.mark.parametrize("q", QUESTIONS)
def test_scan_question(benchmark, q, n):
    eng = compare.load_engine(SCAN)
    path = datagen.dataset(n)
    benchmark.group = q
    benchmark.extra_info.update(engine=SCAN, n=n)
    benchmark(eng.query, str(path), q)


# ============================================================================== the table


def _fmt(t):
    return "—" if t is None else (f"{t * 1e3:.0f} ms" if t < 1 else f"{t:.2f} s")


def _mib(b):
    return "—" if b is None else f"{b / 2**20:,.0f} MiB"


def run_table(n: int, engines: list[str], questions: list[str], repeat: int,
              timeout: float) -> dict:
    """``{(engine, q): {"times": [...], "mem": [...], "status": str}}`` for one size."""
    path = datagen.dataset(n)
    tmp = Path(tempfile.mkdtemp(prefix="tagscan_"))
    py = [sys.executable, str(HERE / "compare.py")]
    res: dict = {(e, q): {"times": [], "mem": [], "status": "ok", "msg": ""}
                 for e in engines for q in questions}
    for rep in range(repeat):
        for q in questions:
            order = engines[rep % len(engines):] + engines[:rep % len(engines)]
            for e in order:
                r = res[(e, q)]
                if r["status"] != "ok":
                    continue
                st, out, msg = compare.run_worker(py + ["--worker", "e2e", "--engine", e,
                                                        "--question", q, "--path", str(path),
                                                        "--out", str(tmp)], timeout)
                if st != "ok":
                    r["status"], r["msg"] = st, msg
                    continue
                r["times"] += out["times"]
                r["mem"].append(out["maxrss"])
                print(f"n={n:.0e} rep {rep} {q} {e:13s} {out['times'][0]:7.3f} s "
                      f"{out['maxrss'] / 2**20:7.0f} MiB", file=sys.stderr, flush=True)
    import pandas as pd

    for (e, q), r in res.items():
        if r["status"] != "ok" or e == SCAN or res[(SCAN, q)]["status"] != "ok":
            continue
        try:
            compare_answers(pd.read_pickle(tmp / f"{e}_{q}_e2e.pkl"),
                            pd.read_pickle(tmp / f"{SCAN}_{q}_e2e.pkl"), q)
        except AssertionError as err:
            r["status"], r["msg"] = "wrong", str(err)[:200]
    return res


def render(n: int, res: dict, engines: list[str], questions: list[str]) -> str:
    lines = [f"\n#### {n:,} requests\n",
             "| question | " + " | ".join(engines) + " | fastest peer ÷ scan (goal) | "
             "peak RSS scan / chDB |",
             "|---|" + "---|" * (len(engines) + 2)]
    for q in questions:
        cells, med = [], {}
        for e in engines:
            r = res[(e, q)]
            if r["status"] != "ok":
                cells.append(r["status"])
                continue
            med[e] = statistics.median(r["times"])
            cells.append(f"{_fmt(med[e])}, {_mib(max(r['mem']))}")
        peers = [med[e] for e in engines if e != SCAN and e in med]
        ratio = (f"{min(peers) / med[SCAN]:.2f}x ({GOALS[q]:g}x)" if peers and SCAN in med
                 else "—")
        mem = "—"
        if res.get((SCAN, q), {}).get("mem") and res.get(("chdb", q), {}).get("mem"):
            mem = f"{max(res[(SCAN, q)]['mem']) / max(res[('chdb', q)]['mem']):.2f}"
        lines.append(f"| {q} | " + " | ".join(cells) + f" | {ratio} | {mem} |")
    notes = [f"- {e} {q}: {r['status']}: {r['msg']}" for (e, q), r in res.items()
             if r["status"] != "ok"]
    return "\n".join(lines + notes) + "\n"


# ============================================================================== phases


def phases(n: int) -> str:
    """One pass of Q1 (full roll-up, requests/cost/tokens) on one thread, piece by piece:
    the decode of each column read, the chunk build, the kernel, the merge."""
    import pyarrow.parquet as pq

    import tagcore as tc
    from tagcore.scan import _plans as P

    path = str(datagen.dataset(n))
    metrics = ["requests", "cost", "prompt_tokens", "completion_tokens"]
    s = tc.scan(path, threads=1)
    src = s._src
    plan = P.RollupPlan(None, None, "full", None, "cost", metrics)
    need = frozenset(plan.need | {"request_tags"})
    cols_t: dict[str, float] = {}
    t = {"read (all columns at once)": 0.0, "chunk build": 0.0, "kernel": 0.0, "merge": 0.0}
    merged = None
    pieces = list(src.pieces())
    pf_one = pq.ParquetFile(path, read_dictionary=["request_tags.list.element"])
    for piece in pieces:
        info = piece.file
        cols, mapping = src._plan(info.present, need)
        for c in cols:
            a = time.perf_counter()
            pf_one.read_row_group(piece.rg, columns=[c], use_threads=False)
            cols_t[c] = cols_t.get(c, 0.0) + time.perf_counter() - a
        a = time.perf_counter()
        table = src._pf(info).read_row_group(piece.rg, columns=cols, use_threads=False)
        t["read (all columns at once)"] += time.perf_counter() - a
        a = time.perf_counter()
        log = src._build(src._fill(table, mapping), mapping, piece)
        t["chunk build"] += time.perf_counter() - a
        del table
        ctx = P.Ctx(src.trie, src.lock, piece.order, need, 1, frozenset())
        a = time.perf_counter()
        part = plan.chunk(log, ctx)
        t["kernel"] += time.perf_counter() - a
        a = time.perf_counter()
        merged = part if merged is None else merged.merge(part)
        t["merge"] += time.perf_counter() - a
    a = time.perf_counter()
    s._finish(plan, merged, (), None, [])
    t["frame"] = time.perf_counter() - a
    lines = [f"\n#### Q1 phases, {n:,} requests, {len(pieces)} row groups, one thread\n",
             "| phase | seconds | per 1M requests |", "|---|---|---|"]
    for c, v in cols_t.items():
        lines.append(f"| decode `{c}` alone | {v:.3f} | {v / n * 1e6 * 1e3:.1f} ms |")
    for k, v in t.items():
        lines.append(f"| {k} | {v:.3f} | {v / n * 1e6 * 1e3:.1f} ms |")
    lines.append(f"| partial size | {merged.nbytes():,} bytes | |")
    return "\n".join(lines) + "\n"


# ============================================================================== scaling


def scaling(sizes: list[int], repeat: int, timeout: float) -> str:
    lines = ["\n#### Q1 by scan: time and peak memory by size (fresh process, median)\n",
             "| requests | file | time | per 1M requests | peak RSS |", "|---|---|---|---|---|"]
    for n in sizes:
        res = run_table(n, [SCAN], ["Q1"], repeat, timeout)[(SCAN, "Q1")]
        if res["status"] != "ok":
            lines.append(f"| {n:,} | | {res['status']} | | |")
            continue
        med = statistics.median(res["times"])
        size = os.path.getsize(datagen.dataset(n)) / 2**20
        lines.append(f"| {n:,} | {size:,.0f} MiB | {_fmt(med)} | {med / n * 1e6 * 1e3:.0f} ms | "
                     f"{_mib(max(res['mem']))} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", default="1e6,1e7", help="sizes, comma-separated")
    ap.add_argument("--engines", default=",".join((SCAN, *PEERS)))
    ap.add_argument("--questions", default=",".join(QUESTIONS))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--phases", action="store_true", help="only the Q1 phase breakdown")
    ap.add_argument("--scaling", default=None, help="sizes for the Q1 scaling table")
    args = ap.parse_args(argv)
    sizes = [int(float(x)) for x in args.n.split(",")]
    out = []
    if args.phases:
        for n in sizes:
            out.append(phases(n))
        print("".join(out))
        return
    if args.scaling:
        print(scaling([int(float(x)) for x in args.scaling.split(",")], args.repeat,
                      args.timeout))
        return
    engines = [e for e in args.engines.split(",") if compare.engine_unavailable(e) is None]
    questions = args.questions.split(",")
    head = (f"Command: `python benchmarks/bench_scan.py {' '.join(argv or sys.argv[1:])}`; "
            f"{time.strftime('%Y-%m-%d %H:%M')}, load average "
            f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; versions "
            + ", ".join(f"{k} {v}" for k, v in compare.versions().items()))
    for n in sizes:
        res = run_table(n, engines, questions, args.repeat, args.timeout)
        out.append(render(n, res, engines, questions))
    print(head + "\n" + "".join(out))


if __name__ == "__main__":
    main()
