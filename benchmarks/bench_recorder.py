"""Gateway recorder and budgets: record, check, snapshot, memory.

Run: ``python -m pytest benchmarks/bench_recorder.py --benchmark-only -q``.
Goals (issue 6): ``Recorder.record`` with 3 tags under 3 microseconds on one thread;
``Budgets.check`` against 100 rules under 10 microseconds; a snapshot of 1M recorded requests;
memory per recorded request under 100 bytes + tags. Tags repeat, as they do at a gateway, so the
tag cache is warm. Per-call figures of the multi-threaded and memory runs are put in
``extra_info`` (see ``--benchmark-json``) and printed.
"""

from __future__ import annotations

import threading
import time
import tracemalloc

import pytest

from tagcore.budgets import Budgets
from tagcore.prices import PriceTable
from tagcore.recorder import Recorder

TAGS = ["customer/acme", "env/production", "feature/chat"]
USAGE = {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
         "prompt_tokens_details": {"cached_tokens": 128, "audio_tokens": 0}}
PRICES = PriceTable({"gpt-4o-mini": {"input_cost_per_token": 1.5e-07,
                                     "output_cost_per_token": 6e-07,
                                     "cache_read_input_token_cost": 7.5e-08}})


def _record(rec: Recorder) -> None:
    rec.record(TAGS, model="gpt-4o-mini", usage=USAGE, cost=0.000285, latency_ms=812.5,
               status=200)


@pytest.mark.benchmark(group="record")
def test_record_3_tags(benchmark):
    rec = Recorder()
    benchmark(_record, rec)
    assert len(rec) > 0


@pytest.mark.benchmark(group="record")
def test_record_3_tags_priced(benchmark):
    """Cost from the price table (PriceTable.cost_nanos runs per call)."""
    rec = Recorder(prices=PRICES)
    benchmark(lambda: rec.record(TAGS, model="gpt-4o-mini", usage=USAGE, latency_ms=812.5))
    assert rec.snapshot().cost[0] == PRICES.cost_nanos("gpt-4o-mini", 1200, 300, 128)


@pytest.mark.benchmark(group="record")
def test_record_3_tags_durable_batch(benchmark, tmp_path):
    """With a folder, durability="batch": a write + fsync every 1000 records, amortised."""
    rec = Recorder(tmp_path / "usage", durability="batch", flush_every=1000)
    benchmark(_record, rec)
    rec.close()


@pytest.mark.benchmark(group="record")
def test_record_8_threads_total_throughput(benchmark):
    """8 threads recording 50,000 requests each; the figure is wall time for all 400,000."""
    n_threads, per = 8, 50_000

    def run():
        rec = Recorder()
        barrier = threading.Barrier(n_threads)

        def work():
            barrier.wait()
            for _ in range(per):
                _record(rec)

        threads = [threading.Thread(target=work) for _ in range(n_threads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert len(rec) == n_threads * per

    benchmark.pedantic(run, rounds=3, iterations=1)
    per_call = benchmark.stats.stats.mean / (n_threads * per) * 1e6
    benchmark.extra_info["microseconds_per_record_all_threads"] = round(per_call, 3)
    print(f"\n8 threads: {per_call:.3f} us per record overall "
          f"({1 / per_call:.2f} M records/s)")


def _rules_100() -> list[dict]:
    rules = []
    for i in range(40):
        rules.append({"match": f"customer/c{i:03d}", "limit": 1000.0, "window": "7D"})
    for i in range(20):
        rules.append({"match": f"=team/t{i:02d}", "limit": 500.0, "period": "1D"})
    for i in range(20):
        rules.append({"match": f"feature/f{i:02d}", "limit": 10**9, "metric": "total_tokens",
                      "window": "1h"})
    rules += [{"match": "customer/*", "limit": 100.0, "window": "1D", "calendar": True},
              {"match": "env/*", "limit": 10**6, "metric": "requests", "window": "1h"},
              {"match": "**/eu", "limit": 50.0, "window": "1D"},
              {"match": "customer/*/project/*", "limit": 20.0, "period": "1MS"}]
    for i in range(16):
        rules.append({"match": f"org/o{i:02d}/*", "limit": 70.0, "window": "30min"})
    assert len(rules) == 100
    return rules


@pytest.mark.benchmark(group="budgets")
def test_check_100_rules(benchmark):
    """A request with 3 tags touching 5 counters (subtree, globs, exact), 100 rules."""
    b = Budgets(_rules_100())
    tags = ["customer/c007/eu", "env/production", "feature/f03"]
    for _ in range(50):
        b.record(tags, cost=0.01, total_tokens=100)
    assert len(b.counters_for(tags)) == 5
    benchmark(b.check, tags, 0.01)


@pytest.mark.benchmark(group="budgets")
def test_check_100_rules_with_now(benchmark):
    b = Budgets(_rules_100())
    tags = ["customer/c007/eu", "env/production", "feature/f03"]
    now = time.time()
    benchmark(b.check, tags, 0.01, now)


@pytest.mark.benchmark(group="snapshot")
def test_snapshot_1m(benchmark):
    rec = Recorder()
    tagsets = [[f"customer/c{i % 50}", f"env/e{i % 3}", f"feature/f{i % 7}"] for i in range(64)]
    for i in range(1_000_000):
        rec.record(tagsets[i & 63], model="gpt-4o-mini", prompt_tokens=i & 1023,
                   completion_tokens=7, cost_nanos=i, latency_ms=1.0)
    log = benchmark.pedantic(rec.snapshot, rounds=5, iterations=1)
    assert len(log) == 1_000_000


@pytest.mark.benchmark(group="memory")
def test_memory_per_request(benchmark):
    """tracemalloc bytes per recorded request (3 tags), after 4 chunks of 65,536."""
    n = 4 * 65536

    def run():
        rec = Recorder()
        _record(rec)
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for i in range(n):
                rec.record(TAGS, model="gpt-4o-mini", prompt_tokens=i, completion_tokens=3,
                           cost_nanos=i, latency_ms=1.0)
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        return (after - before) / n, rec

    per, rec = benchmark.pedantic(run, rounds=1, iterations=1)
    sealed = sum(len(c.rows) + len(c.tags) + len(c.heap) for c in rec._sealed)
    sealed_rows = sum(c.n for c in rec._sealed)
    benchmark.extra_info["bytes_per_request_tracemalloc"] = round(per, 1)
    benchmark.extra_info["bytes_per_request_sealed"] = sealed / sealed_rows
    print(f"\nmemory: {per:.1f} B/request by tracemalloc (incl. the preallocated current chunk), "
          f"{sealed / sealed_rows:.1f} B/request in sealed chunks (77 + 3 x 4 tag ids)")
    assert sealed / sealed_rows == 77 + 12
