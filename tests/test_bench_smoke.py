"""Smoke tests of the benchmark kit: the generator, and every peer against the slow reference."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pc = pytest.importorskip("pyarrow.compute")
pq = pytest.importorskip("pyarrow.parquet")

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import datagen  # noqa: E402
import reference  # noqa: E402

N = 5000


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "log.parquet"
    datagen.write_parquet(N, 7, path)
    return path, {q: reference.answer(path, q) for q in reference.QUESTIONS}


def test_generator_shape_and_realism():
    t = datagen.generate(20_000, seed=3)
    assert t.schema.field("ts").type == pa.timestamp("ns", tz="UTC")
    assert t.schema.field("request_tags").type == pa.list_(pa.string())
    assert t.equals(datagen.generate(20_000, seed=3))
    assert not t.equals(datagen.generate(20_000, seed=4))
    lens = pc.list_value_length(t["request_tags"]).to_numpy()
    assert lens.max() <= 8 and 2.6 < lens.mean() < 3.4
    assert 0.03 < (lens == 0).mean() < 0.07
    cost = t["cost"].to_numpy()
    assert (cost > 0).all() and (np.round(cost * 1e9) / 1e9 == cost).all()
    assert 0.01 < (t["status"].to_numpy() >= 400).mean() < 0.03
    ts = t["ts"].cast(pa.int64()).to_numpy()
    assert (np.diff(ts) >= 0).all() and ts[-1] - ts[0] < datagen.DAYS * reference.NS_PER_DAY
    rows = t["request_tags"].to_pylist()
    assert all(len(set(r)) == len(r) for r in rows)
    tags = {x for r in rows for x in r}
    for prefix in ("customer/c", "feature/", "env/", "org/", "US", "asia"):
        assert any(x.startswith(prefix) for x in tags), prefix
    # a tag together with one of its own ancestors occurs (dedup per node matters)
    assert any(any(a != b and b.startswith(a + "/") for a in r for b in r) for r in rows)


def test_reference_invariants(data):
    path, ref = data
    total = pc.sum(pq.read_table(path)["cost"]).as_py()
    assert ref["Q4"]["cost"].sum() == pytest.approx(total, rel=1e-12)
    q1 = ref["Q1"]
    assert (q1.loc["customer", "requests"] >= q1.loc["customer/c00001", "requests"])
    assert reference.compare_answers(q1, q1.iloc[::-1], "Q1")
    with pytest.raises(AssertionError):
        bad = q1.copy()
        bad.iloc[0, 0] += 1
        reference.compare_answers(bad, q1, "Q1")


@pytest.mark.parametrize("engine", ["pandas", "polars", "duckdb", "chdb", "tagcore",
                                    "tagcore-scan"])
def test_engine_matches_reference(engine, data):
    path, ref = data
    if engine.startswith("tagcore"):
        import engine_tagcore

        reason = engine_tagcore.unavailable_reason()
        if reason:
            pytest.skip(reason)
        eng = (engine_tagcore.TagcorePeer() if engine == "tagcore"
               else engine_tagcore.TagcoreScan())
    else:
        pytest.importorskip(engine)
        import peers

        eng = peers.PEERS[engine]()
    state = eng.prepare(path)
    for q in reference.QUESTIONS:
        reference.compare_answers(eng.e2e(path, q), ref[q], q)
        reference.compare_answers(eng.query(state, q), ref[q], q)


def test_compare_script_runs(tmp_path):
    pytest.importorskip("duckdb")
    import compare

    out = tmp_path / "RESULTS.md"
    compare.main(["--n", "2000", "--engines", "duckdb,pandas", "--questions", "Q1,Q4",
                  "--repeat", "1", "--output", str(out)])
    text = out.read_text()
    assert "### Q1" in text and "| pandas |" in text and "wrong" not in text
