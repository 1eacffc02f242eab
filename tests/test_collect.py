"""``read_parquet`` of a path reads through the scan's chunk decoder
(:mod:`tagcore.scan._collect`) and gives the log the reader's own path gives (the oracle:
``tagcore.io.parquet._read_classic``): same rows, columns, tags (numbered in the same row
order), money, times, extras and what the log does not know. Whatever the scan cannot
vouch for (a bad value, unpriced requests, ``on_error="skip"``, a caller's trie) is read by the
reader's own path, error for error.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tagcore as tc
from tagcore.log import LogError, RequestLog

pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from test_scan import records  # noqa: E402

from tagcore.io.parquet import _read_classic  # noqa: E402
from tagcore.scan._collect import read_whole  # noqa: E402

COLUMNS = ("ts", "model_codes", "prompt_tokens", "completion_tokens", "cost", "latency_ms",
           "status")


def same_log(got: RequestLog, want: RequestLog) -> None:
    """Equal as a reader's answer: every column and extra, the models, what the log does not
    know, and each row's tags (by path: ids may differ)."""
    assert len(got) == len(want)
    assert got.unknown == want.unknown
    assert got.models == want.models
    for c in COLUMNS:
        assert np.array_equal(getattr(got, c), getattr(want, c), equal_nan=True), c
    assert sorted(got.extras) == sorted(want.extras)
    pd.testing.assert_frame_equal(got.to_pandas(), want.to_pandas())
    assert list(got.trie) == list(want.trie)  # numbered in row order: the same hints
    assert [got.tags_of(i) for i in range(len(got))] == \
        [want.tags_of(i) for i in range(len(want))]
    assert (got.problems, got.dropped_rows, got.dropped_tags) == \
        (want.problems, want.dropped_rows, want.dropped_tags)
    needs = {"errors": "status", "cost_nanos": "cost", "latency_p50": "latency_ms",
             "first_seen": "ts"}
    m = ["requests", *(k for k, c in needs.items() if c not in want.unknown)]
    assert got.rollup(metrics=m).equals(want.rollup(metrics=m))


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(recs=records(max_size=80), rg=st.integers(1, 20),
       drop=st.sets(st.sampled_from(["model", "latency_ms", "status", "prompt_tokens"])),
       extras=st.booleans())
def test_the_scan_reads_what_the_reader_reads(tmp_path_factory, recs, rg, drop, extras):
    for r in recs:
        r.setdefault("cost_nanos", 0)  # unpriced files are left to the reader (tested below)
        if extras:
            r["user"] = f"u{r['prompt_tokens'] % 3}"
    log = RequestLog.from_records(recs)
    path = str(tmp_path_factory.mktemp("c") / "x.parquet")
    table = log.to_arrow()
    table = table.drop_columns([c for c in drop if c in table.column_names])
    pq.write_table(table, path, row_group_size=rg)
    want = _read_classic(path)
    got = read_whole(path)
    if pq.ParquetFile(path).metadata.num_row_groups < 2:
        assert got is None  # one row group: the reader's own path
    else:
        assert got is not None
        same_log(got, want)
    same_log(tc.read_parquet(path), want)
    cols = ["cost", "prompt_tokens"]
    same_log(tc.read_parquet(path, columns=cols), _read_classic(path, columns=cols))


def test_what_the_scan_cannot_vouch_for_is_read_by_the_reader(tmp_path):
    recs = [{"ts": 1_767_225_600 + i, "model": "m", "prompt_tokens": i, "completion_tokens": 1,
             "latency_ms": 1.0, "status": 200, "request_tags": ["a/b"]} for i in range(30)]
    log = RequestLog.from_records([{**r, "cost": "0.5"} for r in recs])
    good = str(tmp_path / "good.parquet")
    log.to_parquet(good, row_group_size=4)
    # unpriced: the reader words the problem line once for the file
    unpriced = str(tmp_path / "unpriced.parquet")
    t = log.to_arrow()
    pq.write_table(t.drop_columns([c for c in ("cost", "cost_nanos") if c in t.column_names]),
                   unpriced, row_group_size=4)
    assert read_whole(unpriced) is None
    same_log(tc.read_parquet(unpriced), _read_classic(unpriced))
    # a bad tag in the fifth row group: the reader's error, row for row
    import pyarrow as pa

    t = log.to_arrow()
    tags = t.column("request_tags").to_pylist()
    tags[17] = ["a\x00b"]
    bad = str(tmp_path / "bad.parquet")
    pq.write_table(t.set_column(t.column_names.index("request_tags"), "request_tags",
                                pa.array(tags)), bad, row_group_size=4)
    assert read_whole(bad) is None
    with pytest.raises(LogError) as want:
        _read_classic(bad)
    with pytest.raises(LogError) as got:
        tc.read_parquet(bad)
    assert str(got.value) == str(want.value) and "row 17" in str(got.value)
    # skip, a caller's trie, a file object and an empty file: the reader's own path
    same_log(tc.read_parquet(bad, on_error="skip"), _read_classic(bad, on_error="skip"))
    trie = tc.TagTrie(["z"])
    back = tc.read_parquet(good, trie=trie)
    assert back.trie is trie
    same_log(back, _read_classic(good, trie=tc.TagTrie(["z"])))
    with open(good, "rb") as fh:
        assert read_whole(fh) is None
    empty = str(tmp_path / "empty.parquet")
    pq.write_table(log.to_arrow().slice(0, 0), empty)
    assert read_whole(empty) is None
    same_log(tc.read_parquet(empty), _read_classic(empty))
    assert read_whole(os.fspath(tmp_path)) is None  # a folder is for tc.scan
