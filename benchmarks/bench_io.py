"""Benchmarks of the native readers: Parquet, and JSONL and CSV against their peers.

Run: ``python -m pytest benchmarks/bench_io.py --benchmark-only --benchmark-group-by=group``
(1e7 only with ``TAGCORE_BENCH_BIG=1``). The data is ``benchmarks/datagen.py``'s seeded log (about
3 tags per request, ~20k distinct tags), cached as Parquet on first use; the JSONL and CSV files
are that log written by tagcore's own writers, cached beside it.

- ``test_read_parquet``: ``tc.read_parquet``, 1e6 (and 1e7).
- ``test_read_text``: one group per format and size (1e5, 1e6), where ``tc.read_jsonl`` /
  ``tc.read_csv`` and the peers parse the same file in the same run: pyarrow
  (``pyarrow.json.read_json`` / ``pyarrow.csv.read_csv``), Polars (``read_ndjson`` /
  ``read_csv``) and DuckDB (``read_json`` / ``read_csv`` into an Arrow table), each with its
  default options and threads. A peer that is not installed is skipped (they are in the
  ``bench`` extra).

``python benchmarks/bench_io.py --n 1e7`` prints where the time of one ``read_parquet`` goes;
``python benchmarks/bench_io.py --text --n 1e6`` times the text readers against the peers
(medians, interleaved in one process), prints the ratio to the fastest peer, each reader's peak
memory (a fresh process per reader, ``VmHWM``, imports included) and the phases of tagcore's
compiled path (parse, column conversion, tags).

Vendor readers: ``python benchmarks/bench_io.py --vendor --n 1e6`` generates (seeded, cached
beside the Parquet data) 1M records of each vendor format of :data:`VENDOR_FILES` (LiteLLM
SpendLogs as JSONL in the DB payload's style and as a JSON array in the API's, LiteLLM
``StandardLoggingPayload`` JSONL, OpenAI log JSONL), and prints medians of 3 (interleaved, one
process) of the reader's compiled path, its exact Python path (the compiled path switched
off) and DuckDB's ``read_json`` of the same file (all columns, its own schema detection: the
peer that parses the same text), with the ratios. ``--files`` picks files, ``--no-python``
leaves out the slow Python path.

Writing: ``test_write_text`` (one group per format and size) times ``log.to_jsonl`` /
``log.to_csv`` to a path (atomic: temporary file, fsync, rename), the same writers into an open
file (``tagcore-file``, no fsync, as the peers write), the row-by-row Python writer (the old path
and the oracle, 1e5 only), Polars (``write_ndjson`` / ``write_csv``), pyarrow
(``pyarrow.csv.write_csv``) and DuckDB (``COPY ... TO``), on the same log made once. Polars and
pyarrow cannot write a list column to CSV: their CSV table carries ``request_tags`` as the JSON
text of the array, made before the timing. ``python benchmarks/bench_io.py --write --n 1e6``
prints medians of 3 (interleaved, one process) and the ratios to Polars and to the Python
writer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
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

BIG = os.environ.get("TAGCORE_BENCH_BIG") == "1"
SIZES = [10**6] + ([10**7] if BIG else [])
TEXT_SIZES = [10**5, 10**6] + ([10**7] if BIG else [])
FORMATS = ("jsonl", "csv")


@pytest.mark.parametrize("n", SIZES, ids=lambda n: f"n={n:.0e}")
def test_read_parquet(benchmark, n):
    path = datagen.dataset(n)
    log = benchmark.pedantic(tc.read_parquet, args=(path,), rounds=5 if n <= 10**6 else 3,
                             iterations=1, warmup_rounds=1)
    assert len(log) == n
    assert log.tag_ids.size > 2.5 * n  # ~3 tags per request, none lost
    benchmark.extra_info["tags"] = int(log.tag_ids.size)
    benchmark.extra_info["nodes"] = len(log.trie)


# ================================================================ JSONL and CSV


def text_dataset(n: int, fmt: str, seed: int = 0) -> Path:
    """Path of the cached JSONL or CSV file of datagen's log of ``n`` requests, written by
    tagcore's own writer on first use (atomically, beside the Parquet cache)."""
    parquet = datagen.dataset(n, seed)
    path = parquet.with_suffix(f".{fmt}")
    if not path.exists():
        log = tc.read_parquet(parquet)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        getattr(log, f"to_{fmt}")(tmp)
        os.replace(tmp, path)
    return path


def _tagcore(fmt: str):
    return tc.read_jsonl if fmt == "jsonl" else tc.read_csv


def _pyarrow(fmt: str):
    if fmt == "jsonl":
        import pyarrow.json as pj

        return pj.read_json
    import pyarrow.csv as pcsv

    return pcsv.read_csv


def _polars(fmt: str):
    import polars as pl

    return pl.read_ndjson if fmt == "jsonl" else pl.read_csv


def _duckdb(fmt: str):
    fn = "read_json" if fmt == "jsonl" else "read_csv"
    return lambda path: _duckdb_arrow(fn, path)


def _duckdb_arrow(fn: str, path, options: str = ""):
    """DuckDB's ``fn`` (``read_json``, ``read_csv``) of the whole file at ``path`` into an
    Arrow table (``options``: more arguments of ``fn``, SQL)."""
    import duckdb
    import pyarrow as pa

    con = duckdb.connect()
    try:
        literal = "'" + str(path).replace("'", "''") + "'"
        rel = con.sql(f"SELECT * FROM {fn}({literal}{options})")
        for method in ("to_arrow_table", "fetch_arrow_table", "arrow"):
            if hasattr(rel, method):
                out = getattr(rel, method)()
                break
        return out.read_all() if isinstance(out, pa.RecordBatchReader) else out
    finally:
        con.close()


READERS = {"tagcore": _tagcore, "pyarrow": _pyarrow, "polars": _polars, "duckdb": _duckdb}
PEERS = ("pyarrow", "polars", "duckdb")


def reader(name: str, fmt: str):
    """The read function of ``name`` for ``fmt``, or None when its package is missing."""
    try:
        return READERS[name](fmt)
    except ImportError:
        return None


def _rows(out) -> int:
    return len(out) if not hasattr(out, "num_rows") else out.num_rows


@pytest.mark.parametrize("n", TEXT_SIZES, ids=lambda n: f"n={n:.0e}")
@pytest.mark.parametrize("engine", list(READERS))
@pytest.mark.parametrize("fmt", FORMATS)
def test_read_text(benchmark, fmt, engine, n):
    read = reader(engine, fmt)
    if read is None:
        pytest.skip(f"{engine} is not installed (pip install 'tagcore[bench]')")
    path = text_dataset(n, fmt)
    benchmark.group = f"read_{fmt} n={n:.0e}"
    benchmark.extra_info.update(engine=engine, n=n, mib=round(path.stat().st_size / 2**20, 1))
    out = benchmark.pedantic(read, args=(path,), rounds=5 if n <= 10**6 else 3, iterations=1,
                             warmup_rounds=1)
    assert _rows(out) == n


def peak_memory(name: str, fmt: str, path: str | os.PathLike) -> dict:
    """Seconds and peak RSS (``VmHWM``, imports included) of one read in a fresh process."""
    code = f"""
import json, sys, time
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
import bench_io
read = bench_io.reader({name!r}, {fmt!r})
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
base = hwm()
t0 = time.perf_counter()
out = read({str(path)!r})
print(json.dumps({{"seconds": time.perf_counter() - t0, "rows": bench_io._rows(out),
                  "peak_mib": hwm(), "imports_mib": base}}))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def text_phases(fmt: str, path: str | os.PathLike) -> dict[str, float]:
    """Seconds of each phase of tagcore's compiled path, run one after the other (the reader
    overlaps the first with the others on a second thread)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.json as pj

    from tagcore.io import _text

    out: dict[str, float] = {}
    t0 = time.perf_counter()
    if fmt == "jsonl":
        safe = _text._safe_depth()
        for chunk, _ in _text._record_chunks(_text.TextInput(path), _text._line_cut,
                                             2 * _text.KEY_LINES):
            _text._utf8_ok(chunk)
            _text._check_lines(chunk, safe)
    else:
        for _ in _text._csv_chunks(_text.TextInput(path)):
            pass
    out["read + checks of the text"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    inp = _text.TextInput(path)
    parts = (list(_text._jsonl_tables(inp, pa, pj, True, _text._safe_depth())) if fmt == "jsonl"
             else list(_text._csv_tables(inp, pa, pcsv, False)))
    out["parse (pyarrow)"] = time.perf_counter() - t0 - out["read + checks of the text"]
    tag_fns = ("_tags_json_cells", "_encode_list_values")
    real = {k: getattr(_text, k) for k in tag_fns}
    spent = {"tags": 0.0}

    def timed(f):
        def g(*a, **kw):
            t = time.perf_counter()
            try:
                return f(*a, **kw)
            finally:
                spent["tags"] += time.perf_counter() - t
        return g

    compact = _text._compact_jsonl if fmt == "jsonl" else _text._compact_csv
    try:
        for k in tag_fns:
            setattr(_text, k, timed(real[k]))
        t0 = time.perf_counter()
        tables = [pa.table(compact(t, p)) for p, t in parts]
        conv = time.perf_counter() - t0
    finally:
        for k in tag_fns:
            setattr(_text, k, real[k])
    del parts
    out["column conversion (no tags)"] = conv - spent["tags"]
    out["tags: cells -> dictionary codes"] = spent["tags"]
    real_tags = tio._arrow_tags
    took = {"t": 0.0}

    def tags(*a, **kw):
        t = time.perf_counter()
        try:
            return real_tags(*a, **kw)
        finally:
            took["t"] += time.perf_counter() - t

    tio._arrow_tags = tags
    try:
        t0 = time.perf_counter()
        _text._log_of(pa, tables, str(path), None, None)
        total = time.perf_counter() - t0
    finally:
        tio._arrow_tags = real_tags
    out["tags: codes -> node ids (_from_table)"] = took["t"]
    out["other columns (_from_table)"] = total - took["t"]
    out["(sum of phases)"] = sum(out.values())
    return out


def text_main(n: int, repeat: int) -> None:
    for fmt in FORMATS:
        path = text_dataset(n, fmt)
        size = path.stat().st_size / 2**20
        reads = {name: reader(name, fmt) for name in READERS}
        times: dict[str, list[float]] = {k: [] for k, v in reads.items() if v is not None}
        for _ in range(repeat):  # interleaved, so that a busy moment hits every reader
            for name in times:
                t0 = time.perf_counter()
                reads[name](path)
                times[name].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        peers = [k for k in PEERS if k in med]
        best = min(peers, key=med.__getitem__) if peers else None
        print(f"\n### read_{fmt}, n={n:,} ({size:.0f} MiB), median of {repeat}, load "
              f"{os.getloadavg()[0]:.2f}\n")
        print("| reader | seconds | vs fastest peer | peak MiB (fresh process) | peak / file |")
        print("|---|---|---|---|---|")
        for name in med:
            mem = peak_memory(name, fmt, path)
            ratio = f"{med[name] / med[best]:.2f}x" if best else "-"
            print(f"| {name} | {med[name]:.3f} | {ratio} | {mem['peak_mib']:,.0f} "
                  f"(imports {mem['imports_mib']:,.0f}) | {mem['peak_mib'] / size:.2f} |")
        print(f"\nphases of tc.read_{fmt} (one after the other):")
        for k, v in text_phases(fmt, path).items():
            print(f"  {k:<40} {v:7.3f} s")

# ================================================================ writing JSONL and CSV


WRITE_SIZES = [10**5, 10**6] + ([10**7] if BIG else [])
WRITERS = ("tagcore", "tagcore-file", "tagcore-python", "polars", "pyarrow", "duckdb")


class WriteSubjects:
    """One log of ``n`` requests and the same data as the peers take it, made once (outside
    the timings): the tagcore log, its Arrow table (``log_to_arrow``), a Polars frame of it,
    and for CSV a table whose ``request_tags`` is the JSON text of the array (Polars and
    pyarrow cannot write a list column to CSV)."""

    def __init__(self, n: int, seed: int = 0):
        import pyarrow as pa
        import pyarrow.compute as pc

        from tagcore.io.arrow import log_to_arrow

        self.n = n
        self.log = tc.read_parquet(datagen.dataset(n, seed))
        self.table = log_to_arrow(self.log)
        tags = self.table.column("request_tags").combine_chunks()
        values = tags.values
        assert not pc.any(pc.match_substring_regex(values, r'["\\\x00-\x1f]')).as_py()
        quoted = pc.binary_join_element_wise('"', values, '"', "")  # no escapes needed here
        joined = pc.binary_join(pa.ListArray.from_arrays(tags.offsets, quoted), ",")
        cell = pc.binary_join_element_wise("[", joined, "]", "")
        i = self.table.column_names.index("request_tags")
        self.csv_table = self.table.set_column(i, "request_tags", cell)
        self._polars: dict[str, object] = {}

    def polars(self, fmt: str):
        import polars as pl

        if fmt not in self._polars:
            self._polars[fmt] = pl.from_arrow(self.table if fmt == "jsonl" else self.csv_table)
        return self._polars[fmt]


def writer(name: str, fmt: str, subj: WriteSubjects):
    """The write function (``f(path)``) of ``name`` for ``fmt``, or None when its package is
    missing or it has no writer of that format."""
    log = subj.log
    if name == "tagcore":  # what a user calls: atomic (temporary file, fsync, rename)
        return getattr(log, f"to_{fmt}")
    if name == "tagcore-file":  # the same writer into an open file: no fsync, as the peers

        def to_file(path):
            with open(path, "wb") as fh:
                getattr(log, f"to_{fmt}")(fh)

        return to_file
    if name == "tagcore-python":  # the row-by-row Python writer (the old path, the oracle)
        from tagcore.io import _common
        from tagcore.io import csv as tio_csv
        from tagcore.io import jsonl as tio_jsonl

        slow = tio_jsonl._write_jsonl_py if fmt == "jsonl" else tio_csv._write_csv_py

        def python(path):
            with _common._atomic(path) as fh:
                slow(fh, log)

        return python
    try:
        if name == "polars":
            frame = subj.polars(fmt)
            return frame.write_ndjson if fmt == "jsonl" else frame.write_csv
        if name == "pyarrow":
            if fmt != "csv":
                return None  # pyarrow has no JSON writer
            import pyarrow.csv as pcsv

            return lambda path: pcsv.write_csv(subj.csv_table, path)
        if name == "duckdb":
            import duckdb

            table = subj.table  # DuckDB writes the list column itself (JSON array / text)

            def copy(path):
                con = duckdb.connect()
                try:
                    con.register("t", table)
                    literal = "'" + str(path).replace("'", "''") + "'"
                    con.execute(f"COPY t TO {literal} (FORMAT {'json' if fmt == 'jsonl' else 'csv'})")
                finally:
                    con.close()

            return copy
    except ImportError:
        return None
    raise ValueError(name)


_SUBJECTS: dict[int, WriteSubjects] = {}


def write_subjects(n: int) -> WriteSubjects:
    if n not in _SUBJECTS:
        _SUBJECTS.clear()
        _SUBJECTS[n] = WriteSubjects(n)
    return _SUBJECTS[n]


@pytest.mark.parametrize("n", WRITE_SIZES, ids=lambda n: f"n={n:.0e}")
@pytest.mark.parametrize("engine", WRITERS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_write_text(benchmark, tmp_path, fmt, engine, n):
    if engine == "tagcore-python" and n > 10**5:
        pytest.skip("the Python writer takes ~10 s per 1e6 rows; timed at 1e5 only")
    subj = write_subjects(n)
    write = writer(engine, fmt, subj)
    if write is None:
        pytest.skip(f"{engine} is not installed or has no {fmt} writer")
    path = tmp_path / f"out.{fmt}"
    benchmark.group = f"write_{fmt} n={n:.0e}"
    benchmark.extra_info.update(engine=engine, n=n)
    benchmark.pedantic(write, args=(path,), rounds=5 if n <= 10**6 else 3, iterations=1,
                       warmup_rounds=1)
    benchmark.extra_info["mib"] = round(path.stat().st_size / 2**20, 1)


def write_main(n: int, repeat: int) -> None:
    """Medians of ``repeat`` writes of each writer, interleaved in one process, and ratios."""
    import tempfile

    subj = WriteSubjects(n)
    folder = Path(tempfile.mkdtemp(prefix="tagcore-bench-write-"))
    try:
        for fmt in FORMATS:
            writes = {k: writer(k, fmt, subj) for k in WRITERS}
            writes = {k: v for k, v in writes.items() if v is not None}
            times: dict[str, list[float]] = {k: [] for k in writes}
            sizes: dict[str, float] = {}
            for _ in range(repeat):  # interleaved, so that a busy moment hits every writer
                for name, write in writes.items():
                    path = folder / f"{name}.{fmt}"
                    t0 = time.perf_counter()
                    write(path)
                    times[name].append(time.perf_counter() - t0)
                    sizes[name] = path.stat().st_size / 2**20
                    path.unlink()
            med = {k: statistics.median(v) for k, v in times.items()}
            print(f"\n### write {fmt}, n={n:,}, median of {repeat} (threads: "
                  f"{tc.get_threads()}), load {os.getloadavg()[0]:.2f}\n")
            print("| writer | seconds | all runs | MiB | vs polars | vs tagcore-python |")
            print("|---|---|---|---|---|---|")
            for name, m in med.items():
                vp = f"{m / med['polars']:.2f}x" if "polars" in med else "-"
                vo = (f"{m / med['tagcore-python']:.3f}x" if "tagcore-python" in med
                      else "-")
                runs = " ".join(f"{t:.2f}" for t in times[name])
                print(f"| {name} | {m:.3f} | {runs} | {sizes[name]:.0f} | {vp} | {vo} |")
    finally:
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()


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


# ================================================================ vendor readers

VENDOR_VERSION = 1  # bump when the generator changes, so cached files are rebuilt
_MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "claude-3-5-sonnet-20241022", "o3-mini",
           "gemini-1.5-pro", "gpt-4o-2024-08-06", "llama-3.1-70b")
_UA = ("User-Agent: OpenAI", "User-Agent: OpenAI/Python 1.40.0")


def _vendor_draws(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    start = 1_735_689_600.0 + np.sort(rng.random(n)) * 90 * 86_400
    return {
        "start": start, "dur": rng.gamma(2.0, 0.6, n), "model": rng.integers(0, len(_MODELS), n),
        "prompt": rng.integers(5, 4000, n), "completion": rng.integers(1, 800, n),
        "cached": rng.integers(0, 5, n), "customer": rng.zipf(1.3, n) % 2000,
        "feature": rng.integers(0, 30, n), "env": rng.integers(0, 3, n),
        "team": rng.integers(0, 50, n), "fail": rng.random(n) < 0.02,
        "user": rng.integers(0, 5000, n), "key": rng.integers(0, 40, n),
        "ua": rng.random(n) < 0.5,
    }


def _iso(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def _spend_record(d: dict, i: int, api_style: bool) -> dict:
    """A LiteLLM_SpendLogs row: DB payload style (``request_tags`` and ``metadata`` as JSON
    text, as LiteLLM writes them to Postgres and GCS) or API style (real JSON)."""
    p, c, k = int(d["prompt"][i]), int(d["completion"][i]), int(d["cached"][i])
    tags = [f"customer:c{d['customer'][i]}", f"feature:f{d['feature'][i]}",
            f"env/{('prod', 'staging', 'dev')[d['env'][i]]}"] + (list(_UA) if d["ua"][i] else [])
    meta = {"user_api_key_alias": f"key-{d['key'][i]}", "user_api_key_team_id": f"t{d['team'][i]}",
            "usage_object": {"completion_tokens": c, "prompt_tokens": p, "total_tokens": p + c,
                             "prompt_tokens_details": {"cached_tokens": k},
                             "completion_tokens_details": None}}
    start = float(d["start"][i])
    return {
        "request_id": f"chatcmpl-{i:012d}", "call_type": "acompletion",
        "api_key": f"{d['key'][i]:064x}", "cache_hit": "None",
        "startTime": _iso(start), "endTime": _iso(start + float(d["dur"][i])),
        "model": _MODELS[d["model"][i]], "user": f"u{d['user'][i]}",
        "metadata": meta if api_style else json.dumps(meta),
        "cache_key": "Cache OFF", "spend": round(p * 2.5e-06 + c * 1e-05, 12),
        "total_tokens": p + c, "prompt_tokens": p, "completion_tokens": c,
        "request_tags": tags if api_style else json.dumps(tags), "end_user": "",
        "status": "failure" if d["fail"][i] else "success",
    }


def _payload_record(d: dict, i: int) -> dict:
    """A StandardLoggingPayload the way litellm 1.110's callbacks receive it (trimmed of
    the bulky model map)."""
    p, c, k = int(d["prompt"][i]), int(d["completion"][i]), int(d["cached"][i])
    start = float(d["start"][i])
    model = _MODELS[d["model"][i]]
    fail = bool(d["fail"][i])
    usage = {} if fail else {"completion_tokens": c, "prompt_tokens": p, "total_tokens": p + c,
                             "completion_tokens_details": None,
                             "prompt_tokens_details": {"cached_tokens": k}}
    return {
        "id": f"chatcmpl-{i:012d}", "trace_id": f"tr-{i:012d}", "litellm_call_id": f"c-{i}",
        "call_type": "acompletion", "stream": False, "status": "failure" if fail else "success",
        "custom_llm_provider": "openai", "saved_cache_cost": 0.0,
        "startTime": start, "endTime": start + float(d["dur"][i]),
        "completionStartTime": start + float(d["dur"][i]), "response_time": float(d["dur"][i]),
        "model": model, "model_id": "", "model_group": "", "api_base": "",
        "metadata": {"user_api_key_hash": f"{d['key'][i]:064x}",
                     "user_api_key_alias": f"key-{d['key'][i]}",
                     "user_api_key_user_id": f"u{d['user'][i]}", "usage_object": usage,
                     "tags": [f"team/t{d['team'][i]}"], "applied_guardrails": []},
        "cache_hit": None, "cache_key": None,
        "response_cost": 0.0 if fail else round(p * 2.5e-06 + c * 1e-05, 12),
        "total_tokens": 0 if fail else p + c, "prompt_tokens": 0 if fail else p,
        "completion_tokens": 0 if fail else c,
        "request_tags": [f"customer:c{d['customer'][i]}", f"feature:f{d['feature'][i]}"]
        + (list(_UA) if d["ua"][i] else []),
        "end_user": "", "requester_ip_address": None,
        "messages": [{"role": "user", "content": "Summarize the attached report."}],
        "response": {} if fail else {
            "id": f"chatcmpl-{i:012d}", "created": int(start), "model": model,
            "object": "chat.completion",
            "choices": [{"finish_reason": "stop", "index": 0,
                         "message": {"content": "Here is the summary.", "role": "assistant"}}],
            "usage": {"completion_tokens": c, "prompt_tokens": p, "total_tokens": p + c}},
        "model_parameters": {}, "hidden_params": {"model_id": None, "response_cost": None},
        "model_map_information": {"model_map_key": model},
        "error_str": "InternalServerError" if fail else None,
        "error_information": {"error_code": "500" if fail else "", "error_class": ""},
    }


def _openai_record(d: dict, i: int) -> dict:
    """An OpenAI-style log line: the Chat Completions request and its response."""
    p, c, k = int(d["prompt"][i]), int(d["completion"][i]), int(d["cached"][i])
    model = _MODELS[d["model"][i]]
    fail = bool(d["fail"][i])
    return {
        "request": {"model": model, "messages": [{"role": "user", "content": "hi"}],
                    "request_tags": [f"customer/c{d['customer'][i]}",
                                     f"feature/f{d['feature'][i]}"],
                    "metadata": {"team": f"t{d['team'][i]}",
                                 "env": ("prod", "staging", "dev")[d["env"][i]]},
                    "user": f"u{d['user'][i]}"},
        "response": None if fail else {
            "id": f"chatcmpl-{i:012d}", "object": "chat.completion",
            "created": int(d["start"][i]), "model": model + "-2024-08-06",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "Hello!"}}],
            "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
                      "prompt_tokens_details": {"cached_tokens": k, "audio_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": 0}}},
        "latency_ms": round(float(d["dur"][i]) * 1000, 3),
        "status": 500 if fail else 200,
        "ts": _iso(float(d["start"][i])) if fail else None,
    }


def _helicone_record(d: dict, i: int) -> dict:
    """A Helicone API record (``HeliconeRequest``) with custom properties."""
    p, c = int(d["prompt"][i]), int(d["completion"][i])
    start = float(d["start"][i])
    model = _MODELS[d["model"][i]]
    props = {"Customer": f"c{d['customer'][i]}", "Feature": f"f{d['feature'][i]}"}
    return {
        "response_id": f"resp-{i}", "response_created_at": _iso(start + float(d["dur"][i])),
        "response_status": 500 if d["fail"][i] else 200, "request_id": f"req-{i:012d}",
        "request_created_at": _iso(start),
        "request_body": {"model": model, "messages": [{"role": "user", "content": "hi"}]},
        "request_path": "https://api.openai.com/v1/chat/completions",
        "request_user_id": f"u{d['user'][i]}", "request_properties": props,
        "request_model": model, "response_model": model, "provider": "OPENAI",
        "delay_ms": int(float(d["dur"][i]) * 1000), "time_to_first_token": 120,
        "total_tokens": p + c, "prompt_tokens": p, "prompt_cache_read_tokens": 0,
        "prompt_cache_write_tokens": 0, "completion_tokens": c,
        "cost": round(p * 2.5e-06 + c * 1e-05, 12), "properties": props,
    }


def _observation_record(d: dict, i: int) -> dict:
    """A Langfuse ObservationV2 generation (every tenth observation a span)."""
    p, c = int(d["prompt"][i]), int(d["completion"][i])
    start = float(d["start"][i])
    return {
        "id": f"o-{i:012d}", "traceId": f"t-{i // 3}", "type": "SPAN" if i % 10 == 9
        else "GENERATION", "name": "chat", "startTime": _iso(start) + "Z",
        "endTime": _iso(start + float(d["dur"][i])) + "Z", "model": _MODELS[d["model"][i]],
        "usageDetails": {"input": p, "output": c, "total": p + c},
        "costDetails": {"input": p * 2.5e-06, "total": round(p * 2.5e-06 + c * 1e-05, 12)},
        "totalCost": round(p * 2.5e-06 + c * 1e-05, 12), "level": "DEFAULT",
        "userId": f"u{d['user'][i]}", "metadata": {"team": f"t{d['team'][i]}",
                                                   "env": ("prod", "staging", "dev")[d["env"][i]]},
        "tags": [f"customer:c{d['customer'][i]}", f"feature:f{d['feature'][i]}"],
        "input": {"messages": [{"role": "user", "content": "hi"}]}, "output": "Hello!",
    }


_OPENROUTER_COLUMNS = (
    "generation_id,created_at,cost_total,cost_web_search,cost_cache,cost_file_processing,"
    "byok_usage_inference,tokens_prompt,tokens_completion,tokens_reasoning,tokens_cached,"
    "model_permaslug,provider_name,variant,cancelled,streamed,user,finish_reason_raw,"
    "finish_reason_normalized,generation_time_ms,time_to_first_token_ms,api_key_disabled,"
    "api_key_name,app_name")


def _openrouter_row(d: dict, i: int) -> str:
    """A row of OpenRouter's activity export CSV (the 24-column header)."""
    p, c = int(d["prompt"][i]), int(d["completion"][i])
    cost = round(p * 2.5e-07 + c * 1e-06, 12)
    finish = "error" if d["fail"][i] else "stop"
    return (f"gen-{i:012d},{_iso(float(d['start'][i]))[:23]},{cost},0,0,0,0,{p},{c},0,"
            f"{int(d['cached'][i])},openai/{_MODELS[d['model'][i]]},OpenAI,,false,true,"
            f"u{d['user'][i]},{finish},{finish},{int(float(d['dur'][i]) * 1000)},120,false,"
            f"key-{d['key'][i]},app-{d['team'][i] % 7}")


VENDOR_FILES = {
    # name: (reader, record maker, layout)
    "spend_logs.jsonl": ("read_litellm_spend_logs", lambda d, i: _spend_record(d, i, False),
                         "jsonl"),
    "spend_logs.json": ("read_litellm_spend_logs", lambda d, i: _spend_record(d, i, True),
                        "json"),
    "payloads.jsonl": ("read_litellm_payloads", _payload_record, "jsonl"),
    "openai.jsonl": ("read_openai_log", _openai_record, "jsonl"),
    "helicone.jsonl": ("read_helicone_export", _helicone_record, "jsonl"),
    "observations.jsonl": ("read_langfuse_observations", _observation_record, "jsonl"),
    "openrouter.csv": ("read_openrouter_activity", _openrouter_row, "csv"),
}


def vendor_dataset(n: int, name: str, seed: int = 0) -> Path:
    """Path of the cached vendor file ``name`` (see :data:`VENDOR_FILES`) of ``n`` seeded
    requests, generated on first use."""
    path = datagen.CACHE_DIR / f"vendor_n{n}_s{seed}_v{VENDOR_VERSION}_{name}"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    _, make, layout = VENDOR_FILES[name]
    d = _vendor_draws(n, seed)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        if layout == "json":
            fh.write("[")
            for i in range(n):
                fh.write((", " if i else "") + json.dumps(make(d, i)))
            fh.write("]\n")
        elif layout == "csv":
            fh.write(_OPENROUTER_COLUMNS + "\n")
            for i in range(n):
                fh.write(make(d, i) + "\n")
        else:
            for i in range(n):
                fh.write(json.dumps(make(d, i)) + "\n")
    os.replace(tmp, path)
    return path


def _duckdb_json(path: str | os.PathLike):
    """DuckDB's ``read_json`` (``read_csv`` for a CSV) of the whole file into an Arrow table
    (its own schema detection, all columns: the peer that parses the same text)."""
    if str(path).endswith(".csv"):
        return _duckdb_arrow("read_csv", path)
    return _duckdb_arrow("read_json", path, ", maximum_object_size=1e8")


def _python_path(read):
    """``read`` with the compiled path off: the exact per-row Python path."""
    from tagcore.io import _vendor_fast

    def run(path):
        old = _vendor_fast._arrow
        _vendor_fast._arrow = lambda: None
        try:
            return read(path)
        finally:
            _vendor_fast._arrow = old

    return run


def vendor_main(n: int, repeat: int, names: list[str] | None = None,
                python: bool = True) -> None:
    """Medians of ``repeat`` reads of each vendor file (interleaved, one process): the
    compiled path, the Python path and DuckDB's ``read_json`` of the same file."""
    from tagcore.io import _vendor_fast

    for name in names or list(VENDOR_FILES):
        path = vendor_dataset(n, name)
        size = path.stat().st_size / 2**20
        read = getattr(tc, VENDOR_FILES[name][0])
        runs = {"tagcore": read, "tagcore-python": _python_path(read), "duckdb": _duckdb_json}
        if not python:
            del runs["tagcore-python"]
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(repeat):  # interleaved, so that a busy moment hits every reader
            rows = {}
            for k, f in runs.items():
                t0 = time.perf_counter()
                out = f(path)
                times[k].append(time.perf_counter() - t0)
                if k == "tagcore":
                    assert _vendor_fast.LAST[0] == "fast", _vendor_fast.LAST[0]
                rows[k] = _rows(out)
            # (Langfuse observations: the log holds the generations, DuckDB every record)
            assert rows["tagcore"] == rows.get("tagcore-python", rows["tagcore"]), rows
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"\n### tc.{VENDOR_FILES[name][0]}, {name}, n={n:,} ({size:.0f} MiB), median "
              f"of {repeat}, load {os.getloadavg()[0]:.2f}\n", flush=True)
        print("| reader | seconds | all runs | vs duckdb | vs tagcore |")
        print("|---|---|---|---|---|")
        for k, m in med.items():
            runs_txt = " ".join(f"{t:.2f}" for t in times[k])
            print(f"| {k} | {m:.3f} | {runs_txt} | {m / med['duckdb']:.2f}x | "
                  f"{m / med['tagcore']:.2f}x |", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="time the phases of read_parquet, the text "
                                 "readers against their peers (--text), the text writers "
                                 "against theirs (--write), or the vendor readers' compiled "
                                 "path against their Python path and DuckDB (--vendor)")
    ap.add_argument("--n", type=float, default=1e6)
    ap.add_argument("--repeat", type=int, default=None, help="5 by default (--write: 3)")
    ap.add_argument("--text", action="store_true", help="JSONL and CSV against the peers")
    ap.add_argument("--write", action="store_true",
                    help="to_jsonl and to_csv against the peers' writers (median of --repeat, "
                    "3 by default here)")
    ap.add_argument("--vendor", action="store_true",
                    help="the vendor readers: compiled path, Python path and DuckDB's "
                    "read_json on generated files (median of --repeat, 3 by default here)")
    ap.add_argument("--files", default=None,
                    help="--vendor: comma-separated file names of VENDOR_FILES (default all)")
    ap.add_argument("--no-python", action="store_true",
                    help="--vendor: leave out the Python path (about 40 s per 1M rows)")
    a = ap.parse_args(argv)
    if a.vendor:
        vendor_main(int(a.n), a.repeat or 3, a.files.split(",") if a.files else None,
                    python=not a.no_python)
        return
    if a.text:
        text_main(int(a.n), a.repeat or 5)
        return
    if a.write:
        write_main(int(a.n), a.repeat or 3)
        return
    path = datagen.dataset(int(a.n))
    times = []
    a.repeat = a.repeat or 5
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
