"""The compiled text writers (:mod:`tagcore.io._write`) against their oracles, the Python
writers ``_write_jsonl_py`` and ``_write_csv_py``: the same bytes on generated logs, across
chunk boundaries, for empty logs, paths and file objects, and the same errors; the files read
back to the same log; a float prints as ``repr`` prints it."""

from __future__ import annotations

import io
import json
import math
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import tagcore as tc
from tagcore.io import _write
from tagcore.io import csv as tcsv
from tagcore.io import jsonl as tjsonl
from tagcore.log import NANOS_PER_DOLLAR, RequestLog
from tagcore.tags import TagError, normalize_tag
from tagcore.trie import TagTrie

pa = pytest.importorskip("pyarrow")
pc = pytest.importorskip("pyarrow.compute")

FORMATS = ("jsonl", "csv")
SLOW = {"jsonl": tjsonl._write_jsonl_py, "csv": tcsv._write_csv_py}
WRITE = {"jsonl": tc.io.to_jsonl, "csv": tc.io.to_csv}
READ = {"jsonl": tc.read_jsonl, "csv": tc.read_csv}


def slow_bytes(log: RequestLog, fmt: str) -> bytes:
    buf = io.BytesIO()
    SLOW[fmt](buf, log)
    return buf.getvalue()


def fast_bytes(log: RequestLog, fmt: str) -> bytes:
    p = _write.plan(log, fmt)
    assert p is not None
    buf = io.BytesIO()
    p.write(buf)
    return buf.getvalue()


def rows_of(log: RequestLog) -> list[tuple]:
    """Every request as plain values (the columns the log knows), to compare two logs."""
    unknown = getattr(log, "unknown", frozenset())
    paths = log.trie.paths
    out = []
    for i in range(len(log)):
        lat = float(log.latency_ms[i])
        ex = []
        for k in sorted(log.extras):
            v = log.extras[k]
            if isinstance(v, tuple):
                c = int(v[0][i])
                ex.append((k, None if c < 0 else v[1][c]))
            else:
                ex.append((k, int(v[i])))
        row = {"ts": int(log.ts[i]), "model": log.models[int(log.model_codes[i])],
               "prompt_tokens": int(log.prompt_tokens[i]),
               "completion_tokens": int(log.completion_tokens[i]),
               "latency_ms": "nan" if math.isnan(lat) else lat, "status": int(log.status[i])}
        out.append((tuple(v for k, v in row.items() if k not in unknown), int(log.cost[i]),
                    [paths[j] for j in log.tag_ids[log.tag_offsets[i]:log.tag_offsets[i + 1]]],
                    ex))
    return out


# ----------------------------------------------------------------------------- strategies

DANGER = ["=", "+", "-", "@", "'", "''", "=1+2", "-x", "@SUM(A1)", "\t", "\r"]
TRICKY = ["", " ", "'", "''", "=cmd", "\t1", "\rx", "-1", "+1", "@a", "a,b", 'q"uote',
          "line\nbreak", "cr\rlf\r\n", "back\\slash", '\\"', "ü", "日本", "😀", "\x00", "\x1f",
          "\x7f", "\u2028", "\x85", ",", '"', '""', "[", "null"]
text_st = st.one_of(st.sampled_from(TRICKY), st.text(max_size=8),
                    st.text(st.characters(blacklist_categories=("Cs",)), max_size=8))


def _tag_or_none(t: str) -> str | None:
    try:
        return normalize_tag(t)
    except TagError:
        return None


_seg = st.one_of(
    st.sampled_from(["acme", "env", "UK", "日本", "Straße", "a b", 'q"x', "b\\s", "a,b",
                     "😀", "[x]", "null"]),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=6),
    st.builds(lambda a, b: a + b, st.sampled_from(DANGER), st.text("abc/\"\\", max_size=3)),
)
tags_st = st.builds("/".join, st.lists(_seg, min_size=1, max_size=3)).map(_tag_or_none).filter(
    lambda t: t is not None)

UNITS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_I64 = 2**63 - 1


def _ts_st(unit: str):
    k = UNITS[unit]
    return st.integers(-(_I64 // k), _I64 // k).map(lambda v: v * k)


cost_st = st.one_of(
    st.integers(0, 200_000), st.integers(0, 10**15 + 10), st.integers(0, _I64),
    st.sampled_from([0, 1, 9, 10, 99_999, 100_000, 100_001, 10**9, 10**15 - 1, 10**15,
                     10**15 + 1, 2**53, 2**53 + 1, 2**53 + 3, _I64, 5 * 10**9 + 1]),
    st.integers(0, 10**6).map(lambda k: k * NANOS_PER_DOLLAR),
)
latency_st = st.one_of(
    st.just(math.nan), st.floats(0, 1e7, allow_nan=False),
    st.floats(0, allow_nan=False, allow_infinity=False),
    st.integers(0, 2**60).map(float),
    st.sampled_from([0.0, -0.0, 1e-9, 812.5, 5e-324, 1e-4, 9.999e-5, 1e10, 1e16, 1e15, 2.0,
                     123456789012.5, 9999999999.5, 1.7976931348623157e308, 1e-300, 0.1]),
)


@st.composite
def logs(draw, max_rows: int = 12):
    n = draw(st.integers(0, max_rows))
    unit = draw(st.sampled_from(list(UNITS)))
    rows = draw(st.lists(st.fixed_dictionaries({
        "ts": st.one_of(_ts_st(unit), st.sampled_from([0, -(10**9), -(2**63) + 10**9])
                        .map(lambda v: v // UNITS[unit] * UNITS[unit])),
        "model": st.one_of(st.sampled_from(["gpt-4o", "=evil", "-m", "'q", "模型"]), text_st),
        "prompt_tokens": st.integers(0, _I64),
        "completion_tokens": st.integers(0, 10**9),
        "cost": cost_st,
        "latency_ms": latency_st,
        "status": st.integers(0, 999),
        "tags": st.lists(tags_st, max_size=5, unique=True),
    }), min_size=n, max_size=n))
    extra_int = draw(st.sets(st.sampled_from(["cached_tokens", "reasoning_tokens",
                                              "usage_unknown"])))
    extra_str = draw(st.sets(st.sampled_from(["request_id", "user", "key"])))
    trie = TagTrie()
    off = [0]
    ids: list[int] = []
    for r in rows:
        ids.extend(trie.add(t) for t in r["tags"])
        off.append(len(ids))
    extras = {}
    for k in extra_int:
        extras[k] = np.array(draw(st.lists(st.integers(0, _I64), min_size=n, max_size=n)),
                             dtype=np.int64)
    for k in extra_str:
        extras[k] = draw(st.lists(st.one_of(st.none(), text_st), min_size=n, max_size=n))
    return RequestLog.from_arrays(
        ts=np.array([r["ts"] for r in rows], dtype=np.int64),
        model=[r["model"] for r in rows], prompt_tokens=[r["prompt_tokens"] for r in rows],
        completion_tokens=[r["completion_tokens"] for r in rows],
        cost_nanos=np.array([r["cost"] for r in rows], dtype=np.int64),
        latency_ms=np.array([r["latency_ms"] for r in rows], dtype=np.float64),
        status=[r["status"] for r in rows], tag_offsets=off, tag_ids=ids, trie=trie,
        extras=extras)


def _log(n: int = 3, **over) -> RequestLog:
    trie = TagTrie()
    tags = [["a/b", '=x"y', "c"], [], ["日本/東京"]] * n
    tags = tags[:n]
    off = np.cumsum([0] + [len(t) for t in tags])
    ids = [trie.add(t) for row in tags for t in row]
    cols = dict(ts=np.arange(n, dtype=np.int64) * 1_500_000_000 + 1_767_225_600 * 10**9,
                model=["=m", "gpt", "a,b"] * n, prompt_tokens=list(range(n)),
                completion_tokens=[1] * n, cost_nanos=[80025, 10**9, 123456789] * n,
                latency_ms=[math.nan, 2.0, 812.5] * n, status=[200] * n)
    cols = {k: (v[:n] if isinstance(v, list) else v) for k, v in cols.items()}
    cols.update(over)
    return RequestLog.from_arrays(tag_offsets=off, tag_ids=ids, trie=trie, **cols)


# ----------------------------------------------------------------------------- same bytes


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(log=logs(), chunk=st.sampled_from([1, 2, 3, 1 << 16]))
def test_fast_writer_writes_the_python_writers_bytes(monkeypatch, fmt, log, chunk):
    monkeypatch.setattr(_write, "CHUNK_ROWS", chunk)
    slow = slow_bytes(log, fmt)
    assert fast_bytes(log, fmt) == slow
    back = READ[fmt](io.BytesIO(slow))
    assert rows_of(back) == rows_of(log)


@pytest.mark.parametrize("fmt", FORMATS)
def test_edge_values(fmt):
    trie = TagTrie()
    tags = [["=1+2", "-x/y", "@a", "+b", "'q", "''qq", "日本/東京", 'q"t', "b\\s"], [], ["a/b/c"]]
    off = np.cumsum([0] + [len(t) for t in tags])
    ids = [trie.add(t) for row in tags for t in row]
    log = RequestLog.from_arrays(
        ts=[-(2**63) + 1, 1, 2**63 - 1], model=["=m\x00\n\"", "", "'"],
        prompt_tokens=[0, 2**63 - 1, 3], completion_tokens=[0, 0, 1],
        cost_nanos=[10**15, 1, 2**63 - 1], latency_ms=[math.nan, -0.0, 1e-300],
        status=[0, 999, 200], tag_offsets=off, tag_ids=ids, trie=trie,
        extras={"user": [None, "", "\t"], "key": ["'", "=A1", None],
                "request_id": ["\u2028", "a\r\nb", '"'], "cached_tokens": [0, 5, 2**40]})
    assert fast_bytes(log, fmt) == slow_bytes(log, fmt)
    assert rows_of(READ[fmt](io.BytesIO(fast_bytes(log, fmt)))) == rows_of(log)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_time_unit(fmt):
    base = 1_767_225_600 * 10**9
    for step, unit in ((10**9, "00Z"), (10**6, ".001Z"), (10**3, ".000001Z"), (1, ".000000001Z")):
        log = _log(3, ts=np.array([base, base + step, -(10**12) - step], dtype=np.int64))
        out = fast_bytes(log, fmt)
        assert out == slow_bytes(log, fmt)
        assert unit in out.decode()


@pytest.mark.parametrize("fmt", FORMATS)
def test_chunk_boundaries(monkeypatch, fmt):
    log = _log(1000)
    want = slow_bytes(log, fmt)
    for rows in (1, 7, 333, 1000, 5000):
        monkeypatch.setattr(_write, "CHUNK_ROWS", rows)
        assert fast_bytes(log, fmt) == want
    monkeypatch.setattr(_write, "CHUNK_ROWS", 1 << 16)
    monkeypatch.setattr(_write, "CHUNK_BYTES", 2000)  # cut by the size of the text
    p = _write.plan(log, fmt)
    bounds = list(p.bounds())
    assert len(bounds) > 10 and bounds[0][0] == 0 and bounds[-1][1] == len(log)
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    assert fast_bytes(log, fmt) == want


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threads_write_in_order(monkeypatch, fmt, threads):
    log = _log(500)
    want = slow_bytes(log, fmt)
    monkeypatch.setattr(_write, "CHUNK_ROWS", 17)
    with tc.threads(threads):
        assert fast_bytes(log, fmt) == want


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_log(fmt, tmp_path):
    log = RequestLog.empty()
    assert fast_bytes(log, fmt) == slow_bytes(log, fmt)
    WRITE[fmt](log, tmp_path / f"e.{fmt}")
    data = (tmp_path / f"e.{fmt}").read_bytes()
    assert data == (b"" if fmt == "jsonl" else
                    b"ts,model,prompt_tokens,completion_tokens,cost,cost_nanos,latency_ms,"
                    b"status,request_tags\r\n")


@pytest.mark.parametrize("fmt", FORMATS)
def test_path_binary_and_text_file_objects_agree(fmt, tmp_path):
    log = _log(5, model=["é\"", "=x", "a\nb", "", "'"])
    want = slow_bytes(log, fmt)
    path = tmp_path / f"x.{fmt}"
    WRITE[fmt](log, path)
    assert path.read_bytes() == want
    WRITE[fmt](log, str(path))
    assert path.read_bytes() == want
    buf = io.BytesIO()
    WRITE[fmt](log, buf)
    assert buf.getvalue() == want
    text = io.StringIO(newline="")
    WRITE[fmt](log, text)
    assert text.getvalue() == want.decode("utf-8")
    with open(tmp_path / "raw", "wb", buffering=0) as raw:  # an unbuffered io.FileIO
        WRITE[fmt](log, raw)
    assert (tmp_path / "raw").read_bytes() == want

    class Collect:  # any object with a write method that takes bytes
        def __init__(self):
            self.parts: list[bytes] = []

        def write(self, b):
            assert type(b) is bytes
            self.parts.append(b)

    c = Collect()
    WRITE[fmt](log, c)
    assert b"".join(c.parts) == want


# ----------------------------------------------------------------------------- errors, atomicity


@pytest.mark.parametrize("fmt", FORMATS)
def test_nat_time_raises_before_anything_is_written(fmt, tmp_path):
    good = _log(3)
    # the constructors refuse it; a log unpickled from elsewhere may still hold it
    state = good.__getstate__()
    state["ts"] = np.array([0, -(2**63), 5], dtype=np.int64)
    bad = RequestLog.__new__(RequestLog)
    bad.__setstate__(state)
    path = tmp_path / f"x.{fmt}"
    WRITE[fmt](good, path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="NaT"):
        WRITE[fmt](bad, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [path.name]
    buf = io.BytesIO()
    with pytest.raises(ValueError, match="NaT"):
        WRITE[fmt](bad, buf)
    assert buf.getvalue() == b""
    with pytest.raises(ValueError, match="NaT"):  # the oracle says the same
        SLOW[fmt](io.BytesIO(), bad)


@pytest.mark.parametrize("fmt", FORMATS)
def test_failure_mid_write_leaves_the_previous_file(monkeypatch, fmt, tmp_path):
    log = _log(50)
    path = tmp_path / f"x.{fmt}"
    WRITE[fmt](_log(2), path)
    before = path.read_bytes()
    monkeypatch.setattr(_write, "CHUNK_ROWS", 5)
    real = _write.Plan.chunk
    calls = {"n": 0}

    def chunk(self, r0, r1):
        calls["n"] += 1
        if r0 >= 20:
            raise RuntimeError("disk on fire")
        return real(self, r0, r1)

    monkeypatch.setattr(_write.Plan, "chunk", chunk)
    for threads in (1, 2):
        with tc.threads(threads), pytest.raises(RuntimeError, match="disk on fire"):
            WRITE[fmt](log, path)
        assert path.read_bytes() == before
        assert os.listdir(tmp_path) == [path.name]  # no temporary file left behind
    assert calls["n"] >= 5


@pytest.mark.parametrize("fmt", FORMATS)
def test_without_pyarrow_the_python_writer_writes(monkeypatch, fmt):
    log = _log(7)
    want = fast_bytes(log, fmt)
    monkeypatch.setattr(_write, "_pyarrow", lambda: None)
    assert _write.plan(log, fmt) is None
    buf = io.BytesIO()
    WRITE[fmt](log, buf)
    assert buf.getvalue() == want


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_lone_surrogate_goes_to_the_python_writer(fmt):
    log = _log(3, model=["ok", "\ud800", "ok"])
    assert _write.plan(log, fmt) is None
    with pytest.raises(UnicodeEncodeError):
        WRITE[fmt](log, io.BytesIO())
    unused = RequestLog.from_arrays(  # in the dictionary, but no row uses it
        ts=[0], model=[0], models=("ok", "\udfff"), prompt_tokens=[1], completion_tokens=[1],
        cost_nanos=[1], latency_ms=[1.0], status=[200], tag_offsets=[0, 0], tag_ids=[],
        trie=TagTrie())
    buf = io.BytesIO()
    WRITE[fmt](unused, buf)
    assert buf.getvalue() == slow_bytes(unused, fmt)


# ----------------------------------------------------------------------------- unknown columns


UNKNOWN_CASES = {
    "ts, prompt_tokens, latency_ms, status": (
        dict(ts=None, model=["m", "n", "m"], prompt_tokens=None, completion_tokens=[1, 2, 3],
             latency_ms=None, status=None),
        ["model", "completion_tokens", "cost", "cost_nanos", "request_tags", "user"]),
    "model, completion_tokens": (
        dict(ts=[0, 10**9, 2 * 10**9], model=None, prompt_tokens=[1, 2, 3],
             completion_tokens=None, latency_ms=[1.5, float("nan"), 3.0], status=[200, 500, 0]),
        ["ts", "prompt_tokens", "cost", "cost_nanos", "latency_ms", "status", "request_tags",
         "user"]),
}


def _unknown_log(cols: dict) -> RequestLog:
    if not hasattr(_log(1), "unknown"):
        pytest.skip("RequestLog.unknown does not exist yet (the lead engineer is adding it)")
    trie = TagTrie()
    ids = [trie.add("a"), trie.add("b/c")]
    try:
        return RequestLog.from_arrays(cost_nanos=[1, 2, 3], tag_offsets=[0, 1, 2, 2],
                                      tag_ids=ids, trie=trie,
                                      extras={"user": ["u", None, "=v"]}, **cols)
    except (TypeError, ValueError) as exc:  # pragma: no cover - depends on the lead's API
        pytest.skip(f"from_arrays cannot leave columns out yet: {exc}")


@pytest.mark.parametrize("case", list(UNKNOWN_CASES))
@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_columns_are_left_out(fmt, case):
    cols, written = UNKNOWN_CASES[case]
    log = _unknown_log(cols)
    assert log.unknown == set(case.split(", "))
    out = fast_bytes(log, fmt)
    assert out == slow_bytes(log, fmt)
    text = out.decode()
    if fmt == "jsonl":
        assert list(json.loads(text.splitlines()[0])) == written
    else:
        assert text.splitlines()[0] == ",".join(written)
    back = READ[fmt](io.BytesIO(out))
    assert back.unknown == log.unknown
    assert rows_of(back) == rows_of(log)


# ----------------------------------------------------------------------------- floats


def _arrow_repr(f, x):
    return f(pa, pc, x).to_pylist()


def test_float_strings_are_repr():
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 0x7FF0000000000000, 400_000, dtype=np.int64)  # finite, >= 0
    samples = [
        bits.view(np.float64),
        rng.lognormal(6, 2, 200_000),  # latencies
        np.round(rng.lognormal(6, 2, 100_000) * 10.0 ** (d := rng.integers(0, 6, 100_000)))
        / 10.0 ** d,  # latencies measured to 0-5 decimals
        rng.integers(0, 10**7, 50_000) / 10.0,
        rng.integers(0, 2**60, 20_000).astype(np.float64),
        np.array([0.0, -0.0, 1e-4, np.nextafter(1e-4, 0), 1e10, np.nextafter(1e10, 0), 1e16,
                  np.nextafter(1e16, 0), 2.0**53, 2.0**53 + 2, 5e-324, 1.7976931348623157e308,
                  0.1, 0.2, 0.30000000000000004, 1e-7, 1e-6, 1e15, 1e22, 123456789012.5]),
    ]
    for x in samples:
        got = _arrow_repr(lambda pa, pc, v: _write._float_strings(pa, pc, v, "null"), x)
        want = [repr(v) for v in x.tolist()]
        bad = [(w, g) for w, g in zip(want, got) if w != g]
        assert not bad, bad[:5]
    got = _write._float_strings(pa, pc, np.array([np.nan, 1.5, np.nan]), "").to_pylist()
    assert got == ["", "1.5", ""]


def test_cost_strings_are_what_json_dumps_printed():
    rng = np.random.default_rng(11)
    samples = [
        np.arange(0, 300_000),
        rng.integers(0, 10**15, 300_000),
        rng.integers(0, 2**63 - 1, 100_000),
        rng.integers(0, 10**6, 50_000) * 10 ** rng.integers(0, 10, 50_000),
        np.array([99_999, 100_000, 10**15 - 1, 10**15, 10**15 + 1, 2**53, 2**53 + 1,
                  2**63 - 1, 10**18, 999_999_999_999_999]),
    ]
    for nanos in samples:
        nanos = nanos.astype(np.int64)
        got = _write._cost_strings(pa, pc, nanos).to_pylist()
        want = [json.dumps(v) for v in (nanos / NANOS_PER_DOLLAR).tolist()]
        bad = [(int(n), w, g) for n, w, g in zip(nanos, want, got) if w != g]
        assert not bad, bad[:5]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0, allow_nan=False, allow_infinity=False), min_size=1, max_size=20))
@example([0.0, 1.0, 1e16, 1e-5, 3.0e-4])
def test_float_strings_property(xs):
    got = _write._float_strings(pa, pc, np.array(xs), "null").to_pylist()
    assert got == [repr(v) for v in xs]


def test_cells_are_what_csv_and_json_write():
    """Every code point below U+3000 (and a few above), alone, inside and leading a value."""
    import csv

    from tagcore.io._common import _safe_cell

    chars = [chr(i) for i in range(0x3000)] + ["\u2028", "\ufeff", "\U0001f600", "\uffff"]
    values = [v for c in chars for v in (c, f"a{c}b", f"{c}x")] + ["", "'", "''", " "]
    p = _write.plan(_log(1), "csv")
    got = p._csv_cells(values, none="").to_pylist()
    want = []
    for v in values:
        b = io.StringIO(newline="")
        csv.writer(b, lineterminator="\r\n").writerow(["x", _safe_cell(v)])
        want.append(b.getvalue()[2:-2])
    assert got[:-1] == want and got[-1] == ""
    p = _write.plan(_log(1), "jsonl")
    got = p._json_strings(values, none=None).to_pylist()
    assert got == [json.dumps(v, ensure_ascii=False) for v in values]


def test_large_string_id_is_pyarrows():
    assert pa.large_string().id == _write._LARGE_STRING_ID


def test_fixed_width_times_equal_numpy():
    rng = np.random.default_rng(5)
    ts = np.concatenate([rng.integers(-(2**63) + 1, 2**63 - 1, 50_000),
                         [-(2**63) + 1, 2**63 - 1, -1, 0, 1, -(10**9), 86_400 * 10**9 - 1]])
    log = _log(ts.size, ts=ts.astype(np.int64), model=["m"] * ts.size,
               prompt_tokens=[0] * ts.size, completion_tokens=[0] * ts.size,
               cost_nanos=[0] * ts.size, latency_ms=[1.0] * ts.size, status=[0] * ts.size)
    p = _write.plan(log, "csv")
    arr = p._ts(0, ts.size, "", "").to_pylist()
    want = np.char.add(np.datetime_as_string(ts.astype(np.int64).view("M8[ns]"), unit="ns"),
                       "Z").tolist()
    assert arr == want


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
