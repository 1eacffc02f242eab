"""Scans of JSONL and CSV files, streamed chunk by chunk (issue 10): every question equals the
in-memory answer of ``tc.read_jsonl`` / ``tc.read_csv`` on the same file, a refusal after some
chunks gives the reader's exact error or answer, and the memory is a chunk's, not the file's.

Chunks are made tiny (``_text.JSONL_CHUNK`` / ``CSV_CHUNK``) so that small files have many.
A JSONL file's first chunk holds at least 2000 lines (the Python path decides the columns from
the first 1000 records), so JSONL files here have a few thousand lines.
"""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_scan import assert_same, same_answer

import tagcore as tc
from tagcore.io import _text
from tagcore.log import LogError, RequestLog

pytest.importorskip("pyarrow")

FORMATS = ("jsonl", "csv")
READ = {"jsonl": tc.read_jsonl, "csv": tc.read_csv}
T0 = 1_767_225_600  # 2026-01-01, seconds


@pytest.fixture
def tiny_chunks(monkeypatch):
    monkeypatch.setattr(_text, "JSONL_CHUNK", 4096)
    monkeypatch.setattr(_text, "CSV_CHUNK", 4096)


def n_chunks(fmt: str, path) -> int:
    """Chunks of the compiled decoder over the file (it must not refuse)."""
    return sum(1 for _ in _text.text_chunks(fmt, _text.TextInput(path)))


def record(i: int, tags: list[str], model: str = "m", cost: float = 0.001,
           latency: float | None = 10.0, status: int = 200, **extra) -> dict:
    return {"ts": T0 + 37 * i, "model": model, "prompt_tokens": i % 97,
            "completion_tokens": (3 * i) % 41, "cost": cost, "latency_ms": latency,
            "status": status, "request_tags": tags, **extra}


def write_jsonl(path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


TAGS = ["customer/acme", "customer/acme/eu", "customer/globex", "env/prod", "env/staging",
        "feature/chat", "feature/search/beta", "solo", " customer / acme ", "Asia"]

row = st.fixed_dictionaries({
    "tags": st.lists(st.sampled_from(TAGS), max_size=4),
    "model": st.sampled_from(["a/x", "b/y", "c"]),
    "cost": st.one_of(st.just(0.0), st.floats(1e-6, 5.0, allow_nan=False).map(
        lambda x: round(x, 9))),
    "latency": st.one_of(st.none(), st.floats(0.0, 1e5, allow_nan=False)),
    "status": st.sampled_from([200, 200, 429, 500]),
})


def build_log(rows: list[dict], n: int) -> RequestLog:
    """A log of ``n`` requests cycling through ``rows`` (so that JSONL files pass the first
    chunk's 2000 lines), written and read back by tagcore's own writer and reader."""
    return RequestLog.from_records(
        [record(i, **rows[i % len(rows)]) for i in range(n)])


def questions(s, log) -> None:
    """Every scan question equals the in-memory one (or both raise the same error)."""
    lat = ["latency_mean"]
    same_answer(s, log, "totals", approx=lat)
    same_answer(s, log, "rollup", approx=lat)
    same_answer(s, log, "rollup", level=1,
                metrics=["requests", "cost", "latency_p50", "errors"])
    split = ["requests", "prompt_tokens", "completion_tokens", "total_tokens", "latency_mean",
             "errors"]  # float shares, summed chunk by chunk
    for att in ("split", "primary"):
        same_answer(s, log, "rollup", under="customer", attribution=att, approx=split)
    same_answer(s.filter("customer & ~env/staging"), log.filter("customer & ~env/staging"),
                "rollup", level=2, approx=lat)
    same_answer(s, log, "timeseries", "hour", level=1)
    same_answer(s, log, "pivot", "customer", "env")
    got, want = s.top(3, level=1), log.top(3, level=1)
    assert list(got.index) == list(want.index) and list(got.columns) == list(want.columns)
    assert_same(got.drop(columns=split, errors="ignore"), want.drop(columns=split,
                                                                     errors="ignore"))
    # "(other)" is the grand total less the rows shown: a float residue near zero
    pd.testing.assert_frame_equal(got[[c for c in split if c in want]],
                                  want[[c for c in split if c in want]],
                                  check_exact=False, rtol=1e-12, atol=1e-8)
    back = s.collect()
    assert len(back) == len(log)
    assert back.ts.tolist() == log.ts.tolist() and back.cost.tolist() == log.cost.tolist()
    assert back.models == log.models
    assert [back.tags_of(i) for i in range(len(log))] == [log.tags_of(i)
                                                            for i in range(len(log))]
    np.testing.assert_array_equal(back.latency_ms, log.latency_ms)


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=6, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(rows=st.lists(row, min_size=1, max_size=30), extra=st.integers(0, 400))
def test_every_question_equals_the_reader(fmt, rows, extra, tmp_path, tiny_chunks):
    path = tmp_path / f"x.{fmt}"
    n = (2100 if fmt == "jsonl" else 400) + extra  # JSONL: past the first chunk's 2000 lines
    getattr(build_log(rows, n), f"to_{fmt}")(path)
    assert n_chunks(fmt, path) > 3
    log = READ[fmt](path)
    questions(tc.scan(path), log)
    questions(tc.scan(path, threads=1), log)


def good_records(n: int) -> list[dict]:
    return [record(i, [TAGS[i % len(TAGS)], "env/prod"], model=f"m{i % 3}",
                   cost=0.001 * (i % 7)) for i in range(n)]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("bad", ["cost", "tag", "json"])
def test_a_bad_line_after_some_chunks(fmt, bad, tmp_path, tiny_chunks):
    recs = good_records(3000)
    path = tmp_path / f"x.{fmt}"
    if fmt == "jsonl":
        write_jsonl(path, recs)
    else:
        RequestLog.from_records(recs).to_csv(path)
    lines = path.read_text().splitlines(keepends=True)
    k = 2700  # past the first chunks
    if bad == "cost" and fmt == "csv":
        cells = lines[k].split(",", 6)  # ts,model,prompt,completion,cost,cost_nanos,...
        lines[k] = ",".join([*cells[:5], "lots", cells[6]])
    elif bad == "cost":
        lines[k] = json.dumps({**recs[k], "cost": "lots"}) + "\n"
    elif bad == "tag":  # a control character: an invalid tag
        lines[k] = lines[k].replace("env/prod", "env/\\u0001x" if fmt == "jsonl" else
                                    "env/\x01x", 1)
    else:
        lines[k] = lines[k][:len(lines[k]) // 2] + "\n"
    path.write_text("".join(lines))
    # the compiled path gives chunks before it refuses
    got = 0
    with pytest.raises(_text._Refused):
        for _, chunk in _text.text_chunks(fmt, _text.TextInput(path)):
            got += len(chunk)
    assert got >= 2000
    with pytest.raises(LogError) as want:
        READ[fmt](path)
    assert "line" in str(want.value)
    for q in (lambda s: s.totals(), lambda s: s.rollup(level=1), lambda s: s.collect()):
        with pytest.raises(LogError) as info:
            q(tc.scan(path))
        assert str(info.value) == str(want.value)
    log = READ[fmt](path, on_error="skip")
    assert log.dropped_rows == 1 and len(log) == 2999
    s = tc.scan(path, on_error="skip")
    assert_same(s.totals(), log.totals(), approx=["latency_mean"])
    assert_same(s.rollup(level=1), log.rollup(level=1), approx=["latency_mean"])
    back = s.collect()
    assert back.dropped_rows == 1 and back.problems == log.problems
    assert back.cost.tolist() == log.cost.tolist()
    assert [back.tags_of(i) for i in range(len(log))] == [log.tags_of(i)
                                                            for i in range(len(log))]


def test_a_native_key_first_seen_late(tmp_path, tiny_chunks):
    """``latency_ms`` and ``user`` first appear at line 2800: the Python path knows them for
    every line, so the scan must too: the chunks it gave are forgotten and the file is read
    again, whole (``RestartPiece``), for every question, ``collect`` too (no row twice)."""
    recs = [{k: v for k, v in r.items() if k != "latency_ms"} for r in good_records(3000)]
    recs[2800] = {**recs[2800], "latency_ms": 5.5, "user": "ann"}
    path = tmp_path / "late.jsonl"
    write_jsonl(path, recs)
    log = tc.read_jsonl(path)
    assert "latency_ms" not in log.unknown and "user" in log.extras
    assert path.stat().st_size > 3 * _text.JSONL_CHUNK  # chunks are given before line 2800
    for threads in (1, 2):
        s = tc.scan(path, threads=threads)
        assert_same(s.totals(), log.totals(), approx=["latency_mean"])
        assert_same(s.rollup(level=1, metrics=["requests", "latency_p50"]),
                    log.rollup(level=1, metrics=["requests", "latency_p50"]))
        back = s.collect()
        assert len(back) == len(log)
        assert back.to_pandas()["user"].tolist() == log.to_pandas()["user"].tolist()
    # without the late key, the file is streamed, and latency is unknown to both
    recs[2800].pop("latency_ms")
    recs[2800].pop("user")
    write_jsonl(path, recs)
    log = tc.read_jsonl(path)
    assert "latency_ms" in log.unknown
    assert_same(tc.scan(path).totals(), log.totals())


def test_gzip_and_json_are_read_whole(tmp_path, tiny_chunks):
    import gzip

    log = RequestLog.from_records(good_records(300))
    plain = tmp_path / "x.jsonl"
    log.to_jsonl(plain)
    gz = tmp_path / "x.jsonl.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    js = tmp_path / "x.json"
    js.write_text(json.dumps(good_records(300)))
    for p in (gz, js):
        assert_same(tc.scan(p).rollup(level=1), tc.read_any(p).rollup(level=1),
                    approx=["latency_mean"])


def test_memory_is_a_chunks_not_the_files(tmp_path, monkeypatch):
    """tracemalloc sees the numpy arrays and Python objects (not pyarrow's pool): a scan's
    peak stays well below the whole-file reader's."""
    monkeypatch.setattr(_text, "JSONL_CHUNK", 1 << 18)
    recs = good_records(150_000)
    path = tmp_path / "big.jsonl"
    write_jsonl(path, recs)
    del recs
    assert n_chunks("jsonl", path) > 10

    def peak(fn) -> int:
        tracemalloc.start()
        try:
            fn()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small = tmp_path / "small.jsonl"
    write_jsonl(small, good_records(3000))
    for _ in range(2):  # imports and caches first
        tc.read_jsonl(small)
        tc.scan(small, threads=1).rollup(level=2, metrics=["requests", "cost"])
    reader = peak(lambda: tc.read_jsonl(path))
    # (no latency quantile: exact quantiles keep every latency, see tagcore.scan)
    scan = peak(lambda: tc.scan(path, threads=1).rollup(level=2, metrics=["requests", "cost"]))
    assert scan < reader / 5, (scan, reader)
