"""RequestLog.to_arrow and the Arrow PyCapsule stream: other engines read a log directly."""

from __future__ import annotations

import numpy as np
import pytest

import tagcore as tc

pa = pytest.importorskip("pyarrow")


def test_to_arrow_and_the_capsule_give_the_log_back():
    log = tc.load_sample()
    table = log.to_arrow()
    assert table.num_rows == len(log)
    via_capsule = pa.table(log)  # __arrow_c_stream__
    assert via_capsule.equals(table)
    back = tc.from_arrow(via_capsule)
    for col in ("ts", "cost", "prompt_tokens", "completion_tokens", "status"):
        assert np.array_equal(getattr(back, col), getattr(log, col)), col
    assert np.array_equal(back.latency_ms, log.latency_ms, equal_nan=True)
    assert [back.tags_of(i) for i in range(50)] == [log.tags_of(i) for i in range(50)]
    assert table.column("cost_nanos").to_pylist()[:5] == log.cost[:5].tolist()


def test_polars_and_duckdb_read_a_log_without_tagcore_glue():
    pl = pytest.importorskip("polars", reason="polars is in the bench extra")
    log = tc.load_sample()
    df = pl.DataFrame(log)
    assert df.height == len(log) and df["cost_nanos"].sum() == int(log.cost.sum())
    duckdb = pytest.importorskip("duckdb", reason="duckdb is in the bench extra")
    got = duckdb.sql("select sum(cost_nanos) from log").fetchall()[0][0]
    assert got == int(log.cost.sum())
