"""Side-by-side comparison of tagcore with pandas, Polars, DuckDB and chDB on the five questions.

    python benchmarks/compare.py --n 1000000 [--engines tagcore,duckdb] [--repeat 5] [--timeout 120]

For each question and engine:

- **end-to-end**: a fresh subprocess per (engine, question) imports the engine, then times
  read + all string work + answer from the Parquet file, and reports the time and its peak memory
  (``ru_maxrss``); ``--e2e-repeat`` fresh processes give the median;
- **query-only**: one subprocess per engine prepares its preferred representation once (untimed),
  then times each question ``--repeat`` times (median); peak memory is that process's.

A peer that fails, runs out of memory or exceeds ``--timeout`` is recorded as such. Every answer is
checked against the baseline engine's (tagcore once it runs, else DuckDB) before its time is shown.
The Markdown table is printed and written to ``benchmarks/RESULTS.md`` with the machine, the
library versions and the exact command.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pickle
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# name -> "module:Class"; the class has .modules, .e2e(path, q), .prepare(path), .query(state, q)
ENGINES = {
    "tagcore": "engine_tagcore:TagcorePeer",
    "tagcore-1t": "engine_tagcore:TagcoreOneThread",
    "tagcore-scan": "engine_tagcore:TagcoreScan",  # the streaming scan (issue 10)
    "pandas": "peers:PandasPeer",
    "polars": "peers:PolarsPeer",
    "duckdb": "peers:DuckDBPeer",
    "chdb": "peers:ChDBPeer",
}
QUESTIONS = ("Q1", "Q2", "Q3", "Q4", "Q5")
LIBS = ("numpy", "pandas", "pyarrow", "polars", "duckdb", "chdb", "tagcore")


def load_engine(name):
    mod, cls = ENGINES[name].split(":")
    klass = getattr(importlib.import_module(mod), cls)
    for m in klass.modules:
        importlib.import_module(m)
    return klass()


def engine_unavailable(name) -> str | None:
    """A reason not to run ``name`` here (not installed, not built yet), or None."""
    if name.startswith("tagcore"):
        from engine_tagcore import unavailable_reason

        return unavailable_reason()
    mod = {"pandas": "pandas", "polars": "polars", "duckdb": "duckdb", "chdb": "chdb"}[name]
    try:
        importlib.import_module(mod)
    except ImportError as e:
        return f"{mod} is not installed ({e})"
    return None


def _maxrss_bytes():
    """Peak resident memory of this process.

    ``getrusage(RUSAGE_SELF).ru_maxrss`` survives ``exec``: a worker started by a parent that once
    held 1 GiB reports at least 1 GiB (measured here: 789 MiB reported for a 10 MiB child). So on
    Linux we read ``VmHWM`` from /proc/self/status, the high-water mark of this process's own
    address space, which is what ``ru_maxrss`` means for a process started from a small parent.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


# ----------------------------------------------------------------------------- worker processes

def worker(args):
    out = Path(args.out)
    eng = load_engine(args.engine)  # imports are not timed
    result = {"engine": args.engine}
    if args.worker == "e2e":
        t0 = time.perf_counter()
        ans = eng.e2e(args.path, args.question)
        result["times"] = [time.perf_counter() - t0]
        pickle.dump(ans, open(out / f"{args.engine}_{args.question}_e2e.pkl", "wb"))
    else:
        t0 = time.perf_counter()
        state = eng.prepare(args.path)
        result["prepare"] = time.perf_counter() - t0
        result["times"] = {}
        for q in args.questions.split(","):
            ts = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                ans = eng.query(state, q)
                ts.append(time.perf_counter() - t0)
            result["times"][q] = ts
            pickle.dump(ans, open(out / f"{args.engine}_{q}_query.pkl", "wb"))
    result["maxrss"] = _maxrss_bytes()
    print("RESULT " + json.dumps(result), flush=True)


def run_worker(cmd, timeout):
    """Run a worker; return (status, result dict or None, message)."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=HERE)
    except subprocess.TimeoutExpired:
        return "timeout", None, f"> {timeout:g} s"
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return "ok", json.loads(line[7:]), ""
    err = (p.stderr or "").strip().splitlines()
    tail = err[-1] if err else f"exit code {p.returncode}"
    if p.returncode in (-9, 137) or "MemoryError" in p.stderr or "std::bad_alloc" in p.stderr \
            or "Memory limit" in p.stderr or "Out of Memory" in p.stderr:
        return "OOM", None, tail
    return "failed", None, tail


# ----------------------------------------------------------------------------- the run

def machine_info():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(ram, 1),
            "os": platform.platform(), "python": platform.python_version()}


def versions():
    out = {}
    for lib in LIBS:
        try:
            out[lib] = importlib.import_module(lib).__version__
        except Exception:  # noqa: BLE001  (not installed, or no build yet)
            out[lib] = "not available"
    return out


def _fmt_t(t):
    return "—" if t is None else (f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s")


def _fmt_mem(b):
    return "—" if b is None else f"{b / 2**20:,.0f} MiB"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=float, default=1e6, help="requests in the generated log")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma-separated, from: " + ", ".join(ENGINES))
    ap.add_argument("--questions", default=",".join(QUESTIONS))
    ap.add_argument("--repeat", type=int, default=5, help="query-only repetitions (median)")
    ap.add_argument("--e2e-repeat", type=int, default=1, help="fresh end-to-end processes (median)")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds per worker process (default: 60 + 60 s per million requests)")
    ap.add_argument("--modes", default="e2e,query")
    ap.add_argument("--baseline", default=None, help="engine whose answers the others must match "
                    "(default: tagcore if it runs, else duckdb)")
    ap.add_argument("--output", default=str(HERE / "RESULTS.md"))
    # worker mode (internal)
    ap.add_argument("--worker", choices=["e2e", "query"], help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    ap.add_argument("--question", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args)

    import datagen
    import pandas as pd
    from reference import compare_answers

    args.load_start = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    n = int(args.n)
    timeout = args.timeout or 60 + 60 * n / 1e6
    questions = args.questions.split(",")
    modes = args.modes.split(",")
    engines, skipped = [], {}
    for e in args.engines.split(","):
        if e not in ENGINES:
            ap.error(f"unknown engine {e!r}")
        reason = engine_unavailable(e)
        (skipped.__setitem__(e, reason) if reason else engines.append(e))
    for e, why in skipped.items():
        print(f"skipping {e}: {why}", file=sys.stderr)

    t0 = time.perf_counter()
    path = datagen.dataset(n, args.seed)
    print(f"data: {path} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)

    tmp = Path(tempfile.mkdtemp(prefix="tagbench_"))
    py = [sys.executable, str(HERE / "compare.py")]
    res = {}  # (mode, engine, q) -> dict(status, time, mem, msg)
    prep = {}
    for e in engines:
        if "e2e" in modes:
            for q in questions:
                times, mems, status, msg = [], [], "ok", ""
                for _ in range(args.e2e_repeat):
                    st, r, m = run_worker(py + ["--worker", "e2e", "--engine", e, "--question", q,
                                                "--path", str(path), "--out", str(tmp)], timeout)
                    if st != "ok":
                        status, msg = st, m
                        break
                    times += r["times"]
                    mems.append(r["maxrss"])
                res[("e2e", e, q)] = {"status": status, "msg": msg,
                                      "time": statistics.median(times) if status == "ok" else None,
                                      "mem": max(mems) if status == "ok" else None}
                print(f"e2e   {e:8s} {q}: {status} {_fmt_t(res[('e2e', e, q)]['time'])} {msg}",
                      file=sys.stderr, flush=True)
        if "query" in modes:
            st, r, m = run_worker(py + ["--worker", "query", "--engine", e, "--questions", ",".join(questions),
                                        "--repeat", str(args.repeat), "--path", str(path), "--out", str(tmp)],
                                  timeout * (1 + len(questions) * args.repeat / 4))
            prep[e] = r["prepare"] if r else None
            for q in questions:
                res[("query", e, q)] = {"status": st, "msg": m,
                                        "time": statistics.median(r["times"][q]) if r else None,
                                        "mem": r["maxrss"] if r else None}
                print(f"query {e:8s} {q}: {st} {_fmt_t(res[('query', e, q)]['time'])} {m}",
                      file=sys.stderr, flush=True)

    # check every answer against the baseline engine's
    base = args.baseline or ("tagcore" if "tagcore" in engines else "duckdb")
    for (mode, e, q), r in res.items():
        if r["status"] != "ok":
            continue
        ref = None
        for m2 in (mode, "query", "e2e"):
            f = tmp / f"{base}_{q}_{m2}.pkl"
            if res.get((m2, base, q), {}).get("status") == "ok" and f.exists():
                ref = pd.read_pickle(f)
                break
        if ref is None:
            r["status"], r["msg"] = "unchecked", f"no {base} answer to check against"
            continue
        try:
            compare_answers(pd.read_pickle(tmp / f"{e}_{q}_{mode}.pkl"), ref, q)
        except AssertionError as err:
            r["status"], r["msg"] = "wrong", str(err)[:300]
            print(f"WRONG {mode} {e} {q}: {err}", file=sys.stderr)

    table = render(res, engines, questions, modes, base, prep)
    head = header(n, args, engines, skipped, base, argv)
    print(table)
    Path(args.output).write_text(head + table)
    print(f"written to {args.output}", file=sys.stderr)


def render(res, engines, questions, modes, base, prep):
    ratio_base = "tagcore" if "tagcore" in engines else base
    lines = []
    for q in questions:
        lines.append(f"\n### {q}\n")
        cols = ["engine"]
        if "e2e" in modes:
            cols += ["end-to-end", f"ratio vs {ratio_base}", "peak memory"]
        if "query" in modes:
            cols += ["query-only", f"ratio vs {ratio_base}", "peak memory (query process)"]
        lines.append("| " + " | ".join(cols) + " |")
        lines.append("|" + "---|" * len(cols))
        for e in engines:
            row = [e]
            for mode in ("e2e", "query"):
                if mode not in modes:
                    continue
                r = res.get((mode, e, q))
                rb = res.get((mode, ratio_base, q))
                if r is None or r["status"] not in ("ok", "unchecked"):
                    row += [r["status"] if r else "—", "—", "—"]
                    continue
                t = _fmt_t(r["time"]) + (" (unchecked)" if r["status"] == "unchecked" else "")
                ok_b = rb and rb["status"] in ("ok", "unchecked") and rb["time"]
                row += [t, f"{r['time'] / rb['time']:.2f}x" if ok_b else "—", _fmt_mem(r["mem"])]
            lines.append("| " + " | ".join(row) + " |")
    notes = [f"- {m} {e} {q}: {r['status']}: {r['msg']}" for (m, e, q), r in res.items()
             if r["status"] not in ("ok",) and r["msg"]]
    if prep:
        lines.append("\nQuery-only preparation (untimed above): "
                     + ", ".join(f"{e} {_fmt_t(t)}" for e, t in prep.items()) + ".")
    if notes:
        lines.append("\nNotes:\n" + "\n".join(notes))
    return "\n".join(lines) + "\n"


def header(n, args, engines, skipped, base, argv):
    mi = machine_info()
    cmd = "python benchmarks/compare.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    vs = versions()
    s = [f"# tagcore vs pandas, Polars, DuckDB, chDB: {n:,} requests\n",
         f"Command: `{cmd}`  ",
         f"Date: {time.strftime('%Y-%m-%d %H:%M %Z')}; load average at start "
         f"{args.load_start}, at end {', '.join(f'{x:.2f}' for x in os.getloadavg())}  ",
         f"Machine: {mi['cpu']}, {mi['cores']} cores, {mi['ram_gib']} GiB RAM, {mi['os']}, Python {mi['python']}  ",
         "Versions: " + ", ".join(f"{k} {v}" for k, v in vs.items()) + "  ",
         f"Data: `benchmarks/datagen.py`, n={n:,}, seed={args.seed}; answers checked against **{base}**; "
         f"query-only: median of {args.repeat}; end-to-end: median of {args.e2e_repeat} fresh process(es), "
         "peak memory = the worker's peak RSS (`VmHWM`; `ru_maxrss` would include the parent's, as it "
         "survives exec), imports included. Peers use their default threads.  "]
    if skipped:
        s.append("Skipped: " + "; ".join(f"{e} ({why})" for e, why in skipped.items()) + "  ")
    s.append("Definitions: see `benchmarks/reference.py` (a node is every prefix of every tag path; a "
             "request counts once per node).\n")
    return "\n".join(s)


if __name__ == "__main__":
    main()
