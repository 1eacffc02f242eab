"""Benchmarks of the tag trie: interning 100k distinct realistic paths, and a glob match.

Run: ``pytest benchmarks/bench_trie.py --benchmark-only`` (not part of the test suite).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from tagcore.trie import TagTrie

N_PATHS = 100_000


@functools.cache
def realistic_paths(n: int = N_PATHS, seed: int = 0) -> tuple[str, ...]:
    """``n`` distinct, seeded tag paths from the customer/org/geo/feature/env/model families."""
    rng = np.random.default_rng(seed)
    countries = ["US", "UK", "DE", "FR", "JP", "IN", "BR", "CA", "AU", "ES"]
    out: set[str] = set()
    # flat-ish families first, always present
    out.update(f"env/{e}" for e in ("production", "staging", "dev", "canary"))
    out.update(f"feature/{f}/{v}" for f in ("chat", "search", "summarize", "agent", "embed")
               for v in ("v1", "v2", "beta"))
    out.update(("asia", "europe", "americas", "batch", "interactive"))
    while len(out) < n:
        r = rng.random()
        if r < 0.55:
            out.add(f"customer/c{rng.integers(0, 10**6):06d}")
        elif r < 0.80:
            out.add(f"org/o{rng.integers(0, 200):03d}/team{rng.integers(0, 40):02d}/"
                    f"project{rng.integers(0, 50):02d}")
        else:
            c = countries[rng.integers(0, len(countries))]
            out.add(f"geo/{c}/region{rng.integers(0, 50):02d}/city{rng.integers(0, 400):03d}")
    paths = sorted(out)
    order = rng.permutation(len(paths))
    return tuple(paths[i] for i in order[:n])


@pytest.fixture(scope="module")
def paths() -> list[str]:
    return list(realistic_paths())


@pytest.fixture(scope="module")
def trie(paths) -> TagTrie:
    return TagTrie(paths)


@pytest.mark.benchmark(group="trie-intern")
def test_intern_100k_add_many(benchmark, paths):
    t = benchmark(lambda: TagTrie().add_many(paths))
    assert t.size == N_PATHS


@pytest.mark.benchmark(group="trie-intern")
def test_intern_100k_known_paths(benchmark, trie, paths):
    ids = benchmark(trie.add_many, paths)
    assert ids.size == N_PATHS


@pytest.mark.benchmark(group="trie-query")
def test_match_customer_star(benchmark, trie):
    ids = benchmark(trie.match, "customer/*")
    assert ids.size > 50_000


@pytest.mark.benchmark(group="trie-query")
def test_match_star_region_city(benchmark, trie):
    ids = benchmark(trie.match, "geo/UK/*/city00?")
    assert ids.size > 0


@pytest.mark.benchmark(group="trie-query")
def test_under_customer(benchmark, trie):
    benchmark(trie.under, "customer")  # preorder cached after the first round
