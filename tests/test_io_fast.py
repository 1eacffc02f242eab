"""The compiled path of read_jsonl and read_csv (tagcore/io/_text.py) against the exact Python
path: the same log, bit for bit (trie order and meta included), whenever the compiled path
answers; and a refusal (so the Python path's answer or error) whenever it cannot vouch for it.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tagcore as tc
from tagcore.io import _text
from tagcore.io import csv as io_csv
from tagcore.io import jsonl as io_jsonl
from tagcore.log import LogError, RequestLog
from tagcore.tags import TagError, TagPolicy, normalize_tag
from tagcore.trie import TagTrie

pytest.importorskip("pyarrow")

REQ = dict(ts="2026-01-01T00:00:00Z", model="m", prompt_tokens=1, completion_tokens=2,
           cost=0.5, latency_ms=3.0, status=200, request_tags=["a"])


# ------------------------------------------------------------------------------ helpers


def python_path(fmt: str, data: bytes, **kw) -> RequestLog:
    """The exact Python path on the same (decompressed) bytes."""
    kw.setdefault("policy", None)
    kw.setdefault("on_error", "raise")
    kw.setdefault("trie", None)
    if fmt == "jsonl":
        return io_jsonl._read_jsonl_lines(data, "<stream>", **kw)
    return io_csv._read_csv_rows(data, "<stream>", **kw)


def compiled(fmt: str, source, **kw) -> RequestLog | None:
    """The compiled path alone (None: it refused)."""
    inp = _text.TextInput(source)
    return (_text.jsonl_log if fmt == "jsonl" else _text.csv_log)(inp, **kw)


def read(fmt: str, source, **kw) -> RequestLog:
    return (tc.read_jsonl if fmt == "jsonl" else tc.read_csv)(source, **kw)


def same(a: RequestLog, b: RequestLog) -> None:
    """Two logs are the same: every column, the models and trie in the same order, extras
    and what was dropped."""
    for k in ("ts", "model_codes", "prompt_tokens", "completion_tokens", "cost", "status",
              "tag_offsets", "tag_ids"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=k)
    np.testing.assert_array_equal(a.latency_ms, b.latency_ms)  # NaN == NaN here
    assert a.models == b.models
    assert a.trie.paths == b.trie.paths
    assert sorted(a.extras) == sorted(b.extras)
    for k, v in a.extras.items():
        w = b.extras[k]
        if isinstance(v, tuple):
            assert a.extra_strings(k).tolist() == b.extra_strings(k).tolist(), k
        else:
            np.testing.assert_array_equal(v, w, err_msg=k)
    assert (a.dropped_rows, a.dropped_tags, tuple(a.problems)) == \
        (b.dropped_rows, b.dropped_tags, tuple(b.problems))


@pytest.fixture
def no_python_path(monkeypatch):
    """Make the Python paths fail loudly: whatever reads now went the compiled way."""
    def boom(*a, **kw):
        raise AssertionError("the Python path was used")
    monkeypatch.setattr(io_jsonl, "_read_jsonl_lines", boom)
    monkeypatch.setattr(io_csv, "_read_csv_rows", boom)


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of a few hundred bytes, so that small files cross many chunk boundaries."""
    monkeypatch.setattr(_text, "JSONL_CHUNK", 300)
    monkeypatch.setattr(_text, "CSV_CHUNK", 300)


def write(log: RequestLog, fmt: str) -> bytes:
    buf = io.BytesIO()
    getattr(log, f"to_{fmt}")(buf)
    return buf.getvalue()


# ------------------------------------------------------------------------------ strategies

_seg = st.one_of(
    st.sampled_from(["acme", "env", "prod", "UK", "日本", "Straße", "a b", "q\"t", "b\\s",
                     "=x", "-y", "@z", "'w", "é"]),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=5),
)


def _ok_tag(t: str) -> str:
    try:
        return normalize_tag(t)
    except TagError:
        return "x"


tags_st = st.builds("/".join, st.lists(_seg, min_size=1, max_size=3)).map(_ok_tag)
text_st = st.one_of(st.sampled_from(["", "'", "''", "=cmd", "\t1", "\rx", "-1", "a,b",
                                     'q"uote', "line\nbreak", "ü", " ", "null", "[]"]),
                    st.text(max_size=6))


@st.composite
def logs(draw, min_size=1):
    n = draw(st.integers(min_size, 12))
    unit = draw(st.sampled_from([1, 10**3, 10**6, 10**9]))  # the unit to_* writes times in
    rows = draw(st.lists(st.fixed_dictionaries({
        "ts": st.integers(-(2**62) // unit, 2**62 // unit).map(lambda v: v * unit),
        "model": st.one_of(st.sampled_from(["gpt-4o", "=evil", "'q", "模型"]), text_st),
        "prompt_tokens": st.integers(0, 2**62),
        "completion_tokens": st.integers(0, 10**9),
        "cost": st.one_of(st.integers(0, 10**15), st.sampled_from([1, 10**8, 123456789])),
        "latency_ms": st.one_of(st.just(math.nan), st.floats(0, 1e7, allow_nan=False),
                                st.sampled_from([0.0, 1e-9, 812.5, 5e-324])),
        "status": st.integers(0, 999),
        "tags": st.lists(tags_st, max_size=4, unique=True),
    }), min_size=n, max_size=n))
    extra_int = draw(st.sets(st.sampled_from(["cached_tokens", "reasoning_tokens"])))
    extra_str = draw(st.sets(st.sampled_from(["request_id", "user", "key"])))
    trie = TagTrie()
    off, ids = [0], []
    for r in rows:
        ids.extend(trie.add(t) for t in r["tags"])
        off.append(len(ids))
    extras: dict = {k: np.array(draw(st.lists(st.integers(0, 2**62), min_size=n, max_size=n)),
                                dtype=np.int64) for k in extra_int}
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


# ------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(log=logs(), chunked=st.booleans())
def test_round_trip_equals_the_python_path(fmt, log, chunked, monkeypatch):
    """What tagcore writes is read by the compiled path alone, and gives the Python path's
    log (and the written one)."""
    data = write(log, fmt)
    want = python_path(fmt, data)
    if chunked:
        monkeypatch.setattr(_text, "JSONL_CHUNK", 97)
        monkeypatch.setattr(_text, "CSV_CHUNK", 97)
    got = compiled(fmt, io.BytesIO(data))
    assert got is not None, "the compiled path refused a file tagcore wrote"
    same(got, want)
    same(read(fmt, io.BytesIO(data)), want)
    np.testing.assert_array_equal(got.cost, log.cost)
    np.testing.assert_array_equal(got.ts, log.ts)
    assert [got.tags_of(i) for i in range(len(got))] == [log.tags_of(i) for i in range(len(log))]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_well_formed_files_take_the_compiled_path(fmt, tmp_path, no_python_path):
    log = tc.load_sample()
    path = tmp_path / f"s.{fmt}"
    getattr(log, f"to_{fmt}")(path)
    back = read(fmt, path)
    assert len(back) == len(log) and back.cost.tolist() == log.cost.tolist()
    assert back.ts.tolist() == log.ts.tolist()
    assert [back.tags_of(i) for i in range(50)] == [log.tags_of(i) for i in range(50)]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_gzip_paths_and_streams(fmt, tmp_path, no_python_path, small_chunks):
    log = tc.load_sample()[:400]
    data = write(log, fmt)
    gz = tmp_path / f"x.{fmt}.gz"
    half = len(data) // 2
    gz.write_bytes(gzip.compress(data[:half]) + gzip.compress(data[half:]))  # two members
    seen: list = []
    a = read(fmt, gz, progress=lambda done, total: seen.append(
        (done, total, threading.current_thread() is threading.main_thread())))
    b = read(fmt, io.BytesIO(gzip.compress(data)))
    c = read(fmt, io.BytesIO(data))
    same(a, c)
    same(b, c)
    assert len(a) == 400
    assert seen and seen[-1][:2] == (400, 400)  # rows decoded, not bytes read
    assert all(on_main for _, _, on_main in seen)  # the callback runs on the caller's thread
    assert [d for d, _, _ in seen] == sorted(d for d, _, _ in seen)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_stdin_and_text_streams(fmt, monkeypatch, no_python_path):
    log = tc.load_sample()[:50]
    data = write(log, fmt)

    class Stdin:
        buffer = io.BytesIO(data)

    monkeypatch.setattr(sys, "stdin", Stdin)
    a = read(fmt, "-")
    b = read(fmt, io.StringIO(data.decode("utf-8")))
    c = read(fmt, io.BytesIO(data))
    same(a, c)
    same(b, c)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_bom_and_line_ends(fmt, eol, no_python_path):
    log = tc.load_sample()[:30]
    data = write(log, fmt).replace(b"\r\n", b"\n").replace(b"\n", eol)
    a = read(fmt, io.BytesIO(b"\xef\xbb\xbf" + data))
    b = read(fmt, io.BytesIO(data + eol + eol))  # blank lines at the end are skipped
    same(a, b)
    assert len(a) == 30


# ------------------------------------------------------------------------------ values

ONE_TENTH_JSONL = [b"0.1", b'"0.1"', b"1e-1", b'"1E-1"', b'"0.10000000000000000000"',
                   b'"$0.1"', b'" 0.1 "']
ONE_TENTH_CSV = ["0.1", "0.10", ".1", "1e-1", "1E-1", "0.100000000000000000000", "$0.1", " 0.1"]


def _jsonl_line(**over) -> bytes:
    rec = json.dumps(dict(REQ, **{k: "@" + k for k in over}))
    for k, raw in over.items():
        rec = rec.replace(json.dumps("@" + k), raw.decode() if isinstance(raw, bytes) else raw)
    return rec.encode() + b"\n"


@pytest.mark.parametrize("raw", ONE_TENTH_JSONL)
def test_a_tenth_of_a_dollar_is_exact_however_written_jsonl(raw):
    data = _jsonl_line(cost=raw) * 3
    assert read("jsonl", io.BytesIO(data)).cost.tolist() == [100_000_000] * 3
    same(read("jsonl", io.BytesIO(data)), python_path("jsonl", data))


HEADER = "ts,model,prompt_tokens,completion_tokens,cost,latency_ms,status,request_tags\n"


def _csv(rows: list[str], header: str = HEADER) -> bytes:
    return (header + "".join(r + "\n" for r in rows)).encode()


def _row(ts="2026-01-01T00:00:00Z", model="m", p="1", c="2", cost="0.5", lat="3.0",
         status="200", tags='"[""a""]"') -> str:
    return ",".join([ts, model, p, c, cost, lat, status, tags])


@pytest.mark.parametrize("cost", ONE_TENTH_CSV)
def test_a_tenth_of_a_dollar_is_exact_however_written_csv(cost):
    data = _csv([_row(cost=f'"{cost}"' if " " in cost else cost)] * 3)
    assert read("csv", io.BytesIO(data)).cost.tolist() == [100_000_000] * 3
    same(read("csv", io.BytesIO(data)), python_path("csv", data))


def test_long_dollar_text_stays_exact():
    """More digits than a float holds: read as text, never through a float64."""
    costs = ["0.1234567890123456789", "12345678.987654321", "0.0000000015", "1.0000000005",
             "2.0343163825", "0.000000002500000000000001"]
    want = [123456789, 12345678987654321, 2, 1000000000, 2034316382, 3]
    data = _csv([_row(cost=c) for c in costs])
    assert read("csv", io.BytesIO(data)).cost.tolist() == want
    lines = b"".join(_jsonl_line(cost=json.dumps(c)) for c in costs)
    assert read("jsonl", io.BytesIO(lines)).cost.tolist() == want
    assert compiled("csv", io.BytesIO(data)) is not None  # the compiled path, exactly
    assert compiled("jsonl", io.BytesIO(lines)) is not None


@pytest.mark.parametrize("fields", [
    dict(cost=b"1"), dict(cost=b"0"), dict(cost=b"2.5e-9"), dict(prompt_tokens=b"3.0"),
    dict(latency_ms=b"120"), dict(latency_ms=b"null"), dict(latency_ms=b'"1.5"'),
    dict(latency_ms=b"NaN"), dict(ts=b"1767225600"), dict(ts=b"1767225600.5"),
    dict(ts=b'"1767225600"'), dict(ts=b'"2026-01-01 00:00:00.5"'),
    dict(ts=b'"2026-01-01T00:00:00+05:30"'), dict(ts=b'"2026-01-01"'),
    dict(ts=b'"2026-01-01T10:00:00.123456789-02:00"'), dict(status=b'"201"'),
    dict(prompt_tokens=b'"7"'), dict(request_tags=b"null"), dict(request_tags=b"[]"),
    dict(request_tags=b'["a", null]'), dict(model=b'"\\u00e9\\ud83d\\ude00"'),
])
def test_jsonl_value_kinds_equal_the_python_path(fields):
    """One kind per column, several kinds across columns; and columns mixing kinds."""
    data = _jsonl_line(**fields) * 2 + _jsonl_line() * 2
    for policy in (None, TagPolicy(on_invalid="drop")):
        try:
            want = python_path("jsonl", data, policy=policy)
        except LogError as exc:
            with pytest.raises(LogError) as ei:
                read("jsonl", io.BytesIO(data), policy=policy)
            assert str(ei.value) == str(exc)
            continue
        same(read("jsonl", io.BytesIO(data), policy=policy), want)


@pytest.mark.parametrize("row", [
    _row(p="+5"), _row(p=" 7 "), _row(p="007"), _row(p="-0"), _row(p="0x5"),
    _row(lat="nan"), _row(lat="NaN"), _row(lat=""), _row(lat="null"), _row(lat="1_0"),
    _row(lat="nan(1)"), _row(lat="inf"), _row(lat=" 2.5"), _row(lat="1E3"),
    _row(status="success"), _row(ts="1767225600"), _row(ts="2026-01-01"),
    _row(ts="2026-01-01 10:00:00.5"), _row(ts="2026-01-01T10:00:00.5+01:00"),
    _row(ts="2026-01-01t10:00:00z"), _row(ts="2026-02-30T00:00:00Z"),
    _row(ts="2300-01-01T00:00:00Z"), _row(tags=""), _row(tags="[]"), _row(tags="'[]"),
    _row(tags='"[""a"", ""b""]"'), _row(tags='"[""caf\\u00e9""]"'), _row(tags="null"),
    _row(tags='"[""a"",1]"'), _row(tags='"[""a"",null]"'), _row(tags='"[""a\\""b""]"'),
    _row(tags='"{""a"":1}"'), _row(tags='"[""a"""'), _row(model="'=x"), _row(model="''"),
    _row(model="'"), _row(model='""'), _row(cost="$1.5"), _row(cost="1e400"),
    _row(cost="-0.5"),
])
def test_csv_cells_equal_the_python_path(row):
    data = _csv([_row(), row, _row(model="n")])
    for on_error in ("raise", "skip"):
        try:
            want = python_path("csv", data, on_error=on_error)
        except LogError as exc:
            with pytest.raises(LogError) as ei:
                read("csv", io.BytesIO(data), on_error=on_error)
            assert str(ei.value) == str(exc)
            continue
        same(read("csv", io.BytesIO(data), on_error=on_error), want)


def test_tag_cells_json_strings_and_distinct_cells(no_python_path):
    cells = ['"[""a/b"",""c""]"', '"[""a/b"", ""c""]"', '"[""\\u00e9/x""]"', "[]", "",
             '"[""=1+1"",""-x""]"', "'[]", '" [""a/b""] "']
    data = _csv([_row(tags=c) for c in cells * 5])
    log = read("csv", io.BytesIO(data))
    assert [log.tags_of(i) for i in range(len(cells))] == [
        ["a/b", "c"], ["a/b", "c"], ["é/x"], [], [], ["=1+1", "-x"], [], ["a/b"]]


# ------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize("lines", [
    [b'{"a": 1} {"b": 2}'],  # two objects on a line
    [b'{"ts": 0,', b'"model": "m"}'],  # an object over two lines
    [b"null"],  # pyarrow would crash on a record that is null
    [b"[1, 2]"],
    [b"  " + _jsonl_line().rstrip()],
    [_jsonl_line().rstrip() + b"  "],
    [_jsonl_line().rstrip()[:-1] + b', "x": ' + b"[" * 3000 + b"]" * 3000 + b"}"],
    [_jsonl_line().rstrip()[:-1] + b', "x": "\xff"}'],  # not UTF-8 in another field
    [_jsonl_line().rstrip()[:-1] + b', "x": "\xed\xa0\x80"}'],  # a surrogate in UTF-8
    [_jsonl_line().rstrip()[:-1] + b', "model": "n"}'],  # a duplicate key: the last wins
    [_jsonl_line().rstrip()[:-1] + b', "x": 1e400}'],
    [_jsonl_line().rstrip()[:-1] + b', "x": "\\ud800"}'],  # a lone surrogate escape
    [_jsonl_line().rstrip().replace(b"}", b"}\r{}")],
])
def test_jsonl_lines_pyarrow_would_misread_take_the_python_path(lines):
    """Each of these must not be answered by the compiled path (pyarrow reads them
    differently from json.loads, or not at all); the reader gives the Python path's answer or
    error, in a fresh process (a crash of pyarrow would end it)."""
    data = _jsonl_line() + b"\n".join(lines) + b"\n" + _jsonl_line()
    code = textwrap.dedent(f"""
        import io, sys
        from tagcore.io import _text
        log = _text.jsonl_log(_text.TextInput(io.BytesIO({data!r})))
        sys.exit(0 if log is None else 3)
    """)
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0
    for on_error in ("skip", "raise"):
        try:
            want = python_path("jsonl", data, on_error=on_error)
        except LogError as exc:
            with pytest.raises(LogError) as ei:
                read("jsonl", io.BytesIO(data), on_error=on_error)
            assert str(ei.value) == str(exc)
            continue
        same(read("jsonl", io.BytesIO(data), on_error=on_error), want)


def test_nesting_is_judged_from_the_callers_stack():
    """How deep Python's decoder follows depends on the stack of the thread that reads (the
    caller's, not the decoder's worker thread): the same answer at any depth."""
    nested = _jsonl_line().rstrip()[:-1] + b', "x": ' + b"[" * 300 + b"]" * 300 + b"}\n"
    data = _jsonl_line() + nested + _jsonl_line()

    def at_depth(k, f):
        if k:
            return at_depth(k - 1, f)
        try:
            log = f()
            return "ok", len(log), log.dropped_rows
        except LogError as exc:
            return "error", str(exc)

    for depth in (0, 400, 750):
        want = at_depth(depth, lambda: python_path("jsonl", data, on_error="skip"))
        got = at_depth(depth, lambda: read("jsonl", io.BytesIO(data), on_error="skip"))
        assert got == want, depth


@pytest.mark.parametrize("blank", [b"", b"  ", b"\t", b"\r"])
def test_jsonl_blank_lines_are_skipped(blank, no_python_path):
    data = b"\n".join([blank, _jsonl_line().rstrip(), blank, blank, _jsonl_line().rstrip(),
                       blank]) + b"\n"
    assert len(read("jsonl", io.BytesIO(data))) == 2


@pytest.mark.parametrize("blanks", [200, 1500])
def test_jsonl_columns_come_from_the_first_thousand_records(blanks, monkeypatch):
    """Blank lines do not count: a key spelled ``User`` in record 1000 names the ``user``
    column, as in the Python path, however the file falls into chunks."""
    data = (b"\n" * blanks + _jsonl_line() * 999 + _jsonl_line().rstrip()[:-1]
            + b', "User": "u"}\n' + _jsonl_line() * 2000)
    want = python_path("jsonl", data)
    assert want.extra_strings("user").tolist()[998:1001] == [None, "u", None]
    for chunk in (4096, 1 << 24):
        monkeypatch.setattr(_text, "JSONL_CHUNK", chunk)
        same(read("jsonl", io.BytesIO(data)), want)


def test_jsonl_native_key_after_the_first_thousand_lines(monkeypatch):
    """The Python path looks for native keys beyond its first 1000 records: a ``user``
    first seen on line 1500 is a column; the compiled path refuses such a file."""
    lines = [_jsonl_line()] * 1500 + [_jsonl_line().rstrip()[:-1] + b', "user": "u"}\n']
    data = b"".join(lines)
    assert compiled("jsonl", io.BytesIO(data)) is None
    log = read("jsonl", io.BytesIO(data))
    assert "user" in log.extras and log.extra_strings("user").tolist()[-2:] == [None, "u"]
    # and when other fields of varying kinds hide it from pyarrow's inference
    lines[3] = _jsonl_line().rstrip()[:-1] + b', "junk": 1}\n'
    lines[4] = _jsonl_line().rstrip()[:-1] + b', "junk": "x"}\n'
    lines[1499] = _jsonl_line().rstrip()[:-1] + b', "us\\u0065r": "v"}\n'
    data = b"".join(lines[:1500])
    assert compiled("jsonl", io.BytesIO(data)) is None
    assert read("jsonl", io.BytesIO(data)).extra_strings("user").tolist()[-1] == "v"


def test_jsonl_unknown_fields_of_varying_kinds_are_ignored(no_python_path):
    a = _jsonl_line().rstrip()[:-1] + b', "meta": {"k": [1, "x"]}}\n'
    b = _jsonl_line().rstrip()[:-1] + b', "meta": "text"}\n'
    log = read("jsonl", io.BytesIO(a + b + a))
    assert len(log) == 3


@pytest.mark.parametrize("body", [
    _row(model='"abc"def'),  # text after a closing quote: csv's strict mode refuses it
    _row(model='"x" '),
    _row(model='"a,"b'),
    _row(model='"a"""b'),
    _row(model='ab"c'),  # a quote inside an unquoted field: csv reads it as it is
    _row(model='"two\nlines"'),
    _row(model='"cr\rinside"'),
    _row(model="cr\rrow"),
    _row(model='"x' + "y" * 10 + '"'),
    _row()[:-4],  # truncated inside quotes
    _row() + ",extra",
    _row()[: _row().index(",2,")],
    _row(model="\x00"),
    _row(model="\xe9"),
])
def test_csv_text_the_python_path_decides(body):
    data = _csv([_row(), body, _row()])
    for on_error in ("raise", "skip"):
        try:
            want = python_path("csv", data, on_error=on_error)
        except LogError as exc:
            with pytest.raises(LogError) as ei:
                read("csv", io.BytesIO(data), on_error=on_error)
            assert str(ei.value) == str(exc)
            continue
        same(read("csv", io.BytesIO(data), on_error=on_error), want)


def test_csv_not_utf8_and_long_fields(monkeypatch):
    import csv as pycsv

    header = HEADER.rstrip("\n") + ",notes\n"
    data = (header + _row() + ",ok\n").encode() + (_row() + ",").encode() + b"\xff\n"
    assert compiled("csv", io.BytesIO(data)) is None  # an unread column is checked too
    with pytest.raises(LogError, match="line 3, column \\(file\\): not UTF-8"):
        read("csv", io.BytesIO(data))
    monkeypatch.setattr(pycsv, "field_size_limit", lambda *a: 40)
    data = _csv([_row(model="m" * 50)])
    assert compiled("csv", io.BytesIO(data)) is None


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_errors_name_the_line_across_chunks(fmt, small_chunks):
    """A bad value far into the file: the compiled path refuses, and the error names the
    line and column as it always did."""
    log = RequestLog.from_records([dict(REQ, prompt_tokens=i) for i in range(60)])
    lines = write(log, fmt).split(b"\n")
    k = 40  # line 41 of the file
    old, new = (b'"status": 200', b'"status": 2000') if fmt == "jsonl" else (b",200,", b",2000,")
    lines[k] = lines[k].replace(old, new)
    bad = b"\n".join(lines)
    with pytest.raises(LogError) as want:
        python_path(fmt, bad)
    with pytest.raises(LogError) as got:
        read(fmt, io.BytesIO(bad))
    assert str(got.value) == str(want.value) and "line 41, column status" in str(got.value)
    skipped = read(fmt, io.BytesIO(bad), on_error="skip")
    assert skipped.dropped_rows == 1 and len(skipped) == 59
    same(skipped, python_path(fmt, bad, on_error="skip"))


# ------------------------------------------------------------------------------ options


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_policy_and_trie(fmt, monkeypatch):
    data = write(tc.load_sample()[:100], fmt)
    policy = TagPolicy(case="lower")
    want = python_path(fmt, data, policy=policy, trie=TagTrie(["pre/existing"]))
    monkeypatch.setattr(io_jsonl, "_read_jsonl_lines", None)
    monkeypatch.setattr(io_csv, "_read_csv_rows", None)
    trie = TagTrie(["pre/existing"])
    back = read(fmt, io.BytesIO(data), trie=trie, policy=policy)
    assert back.trie is trie and trie.paths[:2] == ("pre", "pre/existing")
    same(back, want)


def test_too_many_tags_and_invalid_tags_fall_back_with_the_same_answer():
    bad = _jsonl_line(request_tags=json.dumps(["a", "", "b\x00", "a "]).encode())
    many = _jsonl_line(request_tags=json.dumps([f"t{i}" for i in range(5)]).encode())
    for data in (bad * 3, many * 3):
        for policy in (TagPolicy(on_invalid="drop"), TagPolicy(max_tags=4, on_invalid="drop")):
            same(read("jsonl", io.BytesIO(data), policy=policy),
                 python_path("jsonl", data, policy=policy))
    with pytest.raises(LogError, match="line 1, column request_tags"):
        read("jsonl", io.BytesIO(bad))


def test_without_pyarrow_the_python_path_reads(monkeypatch):
    for mod in ("pyarrow", "pyarrow.compute", "pyarrow.json", "pyarrow.csv"):
        monkeypatch.setitem(sys.modules, mod, None)
    log = RequestLog.from_records([REQ, REQ])
    assert len(tc.read_jsonl(io.BytesIO(write(log, "jsonl")))) == 2
    assert len(tc.read_csv(io.BytesIO(write(log, "csv")))) == 2


# ------------------------------------------------------------------------------ converters


def _iso_text(y, mo, d, h, mi, s, frac, zone, sep):
    text = f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}:{s:02d}"
    if frac:
        text += "." + frac
    return text + zone


iso_like = st.builds(
    _iso_text, st.integers(1600, 2300), st.integers(0, 13), st.integers(0, 32),
    st.integers(0, 25), st.integers(0, 61), st.integers(0, 61),
    st.text("0123456789", max_size=10), st.one_of(
        st.sampled_from(["", "Z", "z", "+00:00", "-23:59", "+24:00", "+05:60", "+0530", " Z"]),
        st.builds(lambda sg, hh, mm: f"{sg}{hh:02d}:{mm:02d}", st.sampled_from("+-"),
                  st.integers(0, 25), st.integers(0, 61))),
    st.sampled_from(["T", " ", "t"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(iso_like, st.sampled_from(["2026-01-01", "1767225600", "1.5"])),
                min_size=1, max_size=8))
def test_time_text_is_what_coerce_says(texts):
    import pyarrow as pa

    from tagcore.coerce import times_to_nanos_masked

    ns, miss, bad = times_to_nanos_masked(texts)
    try:
        got = _text._ts_text(pa.array(texts))
    except _text._Refused:
        assert miss.any() or bad.any()
        return
    assert not (miss.any() or bad.any())
    assert got.cast(pa.int64()).to_pylist() == ns.tolist()


dollar_text = st.one_of(
    st.builds(lambda n, k: str(n) if k == 0 else f"{n // 10**k}.{n % 10**k:0{k}d}",
              st.integers(0, 10**22), st.integers(0, 20)),
    st.builds(lambda m, e: f"{m}e{e}", st.floats(0, 1e6, allow_nan=False).map(repr),
              st.integers(-25, 5)),
    st.floats(0, 1e9, allow_nan=False).map(repr),
    st.sampled_from(["0.1", ".5", "5.", "$2.50", " 1", "1e400", "-0.0", "1e-99", "0e0"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(dollar_text, min_size=1, max_size=6))
def test_dollar_text_is_what_coerce_says(texts):
    import pyarrow as pa

    from tagcore.coerce import dollars_to_nanos_masked

    want, miss, bad = dollars_to_nanos_masked(texts)
    try:
        got = _text._dollars_text(pa.array(texts))
    except _text._Refused:
        assert miss.any() or bad.any() or (want < 0).any()
        return
    assert got.to_pylist() == want.tolist()


number_text = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: repr(abs(f))),
    st.builds(lambda n, k: f"{n}e{k}", st.integers(0, 10**20), st.integers(-330, 310)),
    st.sampled_from(["nan", "NaN", "-nan", "inf", "nan(1)", "+1.5", "1.", ".5", "1_0", " 1",
                     "null", "", "0x10", "1e", "-0"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(number_text, min_size=1, max_size=6))
def test_latency_and_count_text_is_what_coerce_says(texts):
    import pyarrow as pa

    from tagcore.coerce import counts_masked, floats_masked

    want, miss, bad = floats_masked(texts)
    try:
        got = _text._float_text(pa.array(texts))
    except _text._Refused:
        assert bad.any()
    else:  # the same floats: the log's reader then says the same of them
        g = np.array([np.nan if v is None else v for v in got.to_pylist()], dtype=np.float64)
        out2, miss2, bad2 = floats_masked(g)
        np.testing.assert_array_equal(out2, want)
        assert miss2.tolist() == miss.tolist() and bad2.tolist() == bad.tolist()
    want, miss, bad = counts_masked(texts)
    try:
        got = _text._int_text(pa.array(texts))
    except _text._Refused:
        assert bad.any()
    else:
        assert not bad.any()
        assert [0 if v is None else v for v in got.to_pylist()] == want.tolist()
        assert [v is None for v in got.to_pylist()] == miss.tolist()
