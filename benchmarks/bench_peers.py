"""pytest-benchmark: the five questions, query-only, tagcore and its peers side by side.

    pytest benchmarks/bench_peers.py --benchmark-group-by=group,param:n
    pytest benchmarks/bench_peers.py -k "Q1 and 1e5"             # a quick subset

One group per question (``Q1`` ... ``Q5``); each engine prepares its preferred representation
once per size (untimed, cached at module level), then one query is timed per benchmark. Answers
are checked against DuckDB's before timing. Engines that are not installed (or tagcore before
``tagcore.read_parquet`` exists) are skipped with the reason. The full end-to-end comparison with
peak memory is ``benchmarks/compare.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compare  # noqa: E402
import datagen  # noqa: E402
from reference import QUESTIONS, compare_answers  # noqa: E402

SIZES = (100_000, 1_000_000)
ENGINE_NAMES = tuple(compare.ENGINES)
_prepared: dict = {}
_answers: dict = {}


def _state(engine: str, n: int):
    key = (engine, n)
    if key not in _prepared:
        reason = compare.engine_unavailable(engine)
        if reason:
            _prepared[key] = reason
        else:
            eng = compare.load_engine(engine)
            _prepared[key] = (eng, eng.prepare(datagen.dataset(n)))
    if isinstance(_prepared[key], str):
        pytest.skip(_prepared[key])
    return _prepared[key]


def _baseline(n: int, q: str):
    if (n, q) not in _answers:
        eng, st = _state("duckdb", n)
        _answers[(n, q)] = eng.query(st, q)
    return _answers[(n, q)]


@pytest.mark.parametrize("n", SIZES, ids=lambda n: f"{n:.0e}".replace("+0", ""))
@pytest.mark.parametrize("engine", ENGINE_NAMES)
@pytest.mark.parametrize("q", QUESTIONS)
def test_query(benchmark, q, engine, n):
    eng, st = _state(engine, n)
    benchmark.group = q
    benchmark.extra_info.update(engine=engine, n=n)
    ans = eng.query(st, q)  # warm-up, and the answer to check
    if compare.engine_unavailable("duckdb") is None:
        compare_answers(ans, _baseline(n, q), q)
    benchmark(eng.query, st, q)
