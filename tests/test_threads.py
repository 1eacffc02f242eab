"""Threads: one process-wide default (set_threads), a per-context override (with threads(n)),
a default that respects the CPU affinity and TAGCORE_THREADS, and results that do not depend
on the number of threads."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from tagcore import RequestLog, TagTrie, _threads, kernels
from tagcore._threads import get_threads, set_threads, threads


@pytest.fixture(autouse=True)
def _keep_default():
    before = get_threads()
    yield
    set_threads(before)


def test_kernels_module_reexports_the_same_helpers():
    assert kernels.set_threads is set_threads
    assert kernels.get_threads is get_threads
    assert kernels.threads is threads


def test_context_manager_nests_and_restores():
    set_threads(5)
    with threads(3) as k:
        assert k == 3 and get_threads() == 3
        with threads(1):
            assert get_threads() == 1
            with threads(7):
                assert get_threads() == 7
            assert get_threads() == 1
        assert get_threads() == 3
    assert get_threads() == 5


def test_context_manager_restores_on_exception():
    set_threads(4)
    with pytest.raises(KeyError):
        with threads(2):
            with threads(1):
                raise KeyError("boom")
    assert get_threads() == 4
    with pytest.raises(ZeroDivisionError), threads(3):
        1 / 0  # noqa: B018
    assert get_threads() == 4


def test_set_threads_inside_a_block_changes_the_default_not_the_block():
    set_threads(2)
    with threads(3):
        set_threads(6)
        assert get_threads() == 3
    assert get_threads() == 6


@pytest.mark.parametrize("bad", [0, -1, 1.5, 2.0, "2", None, True, False, [2]])
def test_set_threads_and_threads_validate(bad):
    before = get_threads()
    with pytest.raises(ValueError, match="integer >= 1"):
        set_threads(bad)
    with pytest.raises(ValueError, match="integer >= 1"):
        with threads(bad):
            pass
    assert get_threads() == before


def test_numpy_integers_are_integers():
    set_threads(np.int64(2))
    assert get_threads() == 2 and type(get_threads()) is int
    with threads(np.int32(3)):
        assert get_threads() == 3


def test_other_threads_see_the_default_not_the_block():
    set_threads(5)
    seen: dict[str, int] = {}
    with threads(2):
        t = threading.Thread(target=lambda: seen.__setitem__("thread", get_threads()))
        t.start()
        t.join(60)
        with ThreadPoolExecutor(2) as ex:
            seen["pool"] = ex.submit(get_threads).result()
        seen["here"] = get_threads()
    assert seen == {"thread": 5, "pool": 5, "here": 2}


def test_set_threads_from_another_thread_is_process_wide():
    set_threads(5)
    t = threading.Thread(target=set_threads, args=(3,))
    t.start()
    t.join()
    assert get_threads() == 3


def test_blocks_in_two_threads_do_not_mix():
    set_threads(9)
    barrier = threading.Barrier(2, timeout=60)  # a broken side fails the test, never hangs it
    seen: dict[int, list[int]] = {}

    def work(n: int) -> None:
        with threads(n):
            barrier.wait()  # both blocks are open now
            seen[n] = [get_threads()]
            barrier.wait()
        seen[n].append(get_threads())

    ts = [threading.Thread(target=work, args=(n,)) for n in (1, 2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert seen == {1: [1, 9], 2: [2, 9]}


def test_asyncio_tasks_have_their_own_blocks():
    set_threads(9)

    async def task(n: int) -> tuple[int, int]:
        with threads(n):
            await asyncio.sleep(0.01)
            inside = get_threads()
        return inside, get_threads()

    async def main():
        return await asyncio.gather(task(1), task(2), task(3))

    assert asyncio.run(main()) == [(1, 9), (2, 9), (3, 9)]


# ------------------------------------------------------------------------------ the default


def test_default_respects_the_affinity_mask(monkeypatch):
    monkeypatch.delenv("TAGCORE_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)
    assert _threads._default_threads() == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
    assert _threads._default_threads() == 3


def test_default_without_an_affinity_api_is_the_cpu_count(monkeypatch):
    monkeypatch.delenv("TAGCORE_THREADS", raising=False)
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert _threads._default_threads() == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert _threads._default_threads() == 1


def test_tagcore_threads_overrides_the_affinity(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.setenv("TAGCORE_THREADS", " 7 ")
    assert _threads._default_threads() == 7
    for bad in ("0", "-2", "many", "1.5"):
        monkeypatch.setenv("TAGCORE_THREADS", bad)
        with pytest.warns(RuntimeWarning, match="TAGCORE_THREADS"):
            assert _threads._default_threads() == 1


def _threads_in_child(env_threads: str | None, cpus: set[int] | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "TAGCORE_THREADS"}
    if env_threads is not None:
        env["TAGCORE_THREADS"] = env_threads
    code = "from tagcore._threads import get_threads; print(get_threads())"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return int(r.stdout.strip())


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity API here")
def test_a_process_pinned_to_one_cpu_defaults_to_one_thread():
    one = {min(os.sched_getaffinity(0))}
    assert _threads_in_child(None, one) == 1
    assert _threads_in_child("3", one) == 3
    assert _threads_in_child(None, None) == len(os.sched_getaffinity(0))


# ------------------------------------------------------------------------------ same results


@pytest.fixture(scope="module")
def big_log():
    """A maker of one random log just large enough that the row kernels split it over three
    threads; each call builds it afresh, so no query result is cached from an earlier run."""
    rng = np.random.default_rng(20261203)
    n = 3 * kernels.PARALLEL_MIN_ROWS + 1000
    paths = [f"customer/c{i}" for i in range(40)] + [f"feature/f{i}/v{j}" for i in range(6)
                                                     for j in range(4)] + ["env/prod", "asia"]
    trie = TagTrie(paths)
    leaf_ids = np.array([trie.id(p) for p in paths], dtype=np.int32)
    lens = rng.integers(0, 5, n)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    ids = leaf_ids[rng.integers(0, leaf_ids.size, int(offsets[-1]))]
    latency = rng.integers(1, 4000, n) * 0.25  # sums stay exact in any order
    latency[rng.random(n) < 0.05] = np.nan
    t0 = 1_700_000_000 * 10**9
    cols = dict(
        ts=np.sort(rng.integers(t0, t0 + 30 * 86400 * 10**9, n)),
        model=rng.integers(0, 3, n).astype(np.int32), models=["a", "b", "c"],
        prompt_tokens=rng.integers(0, 5000, n), completion_tokens=rng.integers(0, 2000, n),
        cost_nanos=rng.integers(0, 10**9, n), latency_ms=latency,
        status=rng.choice(np.array([200, 200, 200, 429, 500], dtype=np.int32), n),
        tag_offsets=offsets, tag_ids=ids, trie=trie)
    return lambda: RequestLog.from_arrays(**cols)


@pytest.mark.slow
def test_results_identical_across_thread_counts(big_log, monkeypatch):
    used: list[int] = []
    real_map = kernels._map

    def spy(fn, ranges):
        used.append(len(ranges))
        return real_map(fn, ranges)

    monkeypatch.setattr(kernels, "_map", spy)

    def run():
        log = big_log()
        return (log.rollup(), log.rollup(under="customer", attribution="primary"),
                log.totals(), log.top(5, under="customer", attribution="full"),
                log.rollup(under="feature", level=2, attribution="split"))

    with threads(1):
        expected = run()
    assert set(used) == {1}
    for k in (2, 3):
        used.clear()
        with threads(k):
            got = run()
        # every query above ran its row kernels over k row ranges
        assert used.count(k) >= 4 and max(used) == k, used
        *same, split = got
        for a, b in zip(same, expected):
            if isinstance(a, pd.DataFrame):
                pd.testing.assert_frame_equal(a, b, check_exact=True)
            else:
                pd.testing.assert_series_equal(a, b, check_exact=True)
        # split shares are floats summed per thread, then merged: the same up to rounding;
        # the money (whole nano-dollars) is exact
        pd.testing.assert_frame_equal(split, expected[-1], rtol=1e-12)
        assert split["cost_nanos"].tolist() == expected[-1]["cost_nanos"].tolist()
    used.clear()
    set_threads(3)
    with ThreadPoolExecutor(1) as ex:  # another thread: the process-wide default
        got = ex.submit(big_log().rollup).result()
    pd.testing.assert_frame_equal(got, expected[0], check_exact=True)
    assert max(used) == 3
