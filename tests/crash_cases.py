"""Hostile calls of every public entry that reaches the compiled kernels (run by
``test_crash.py`` in a subprocess, so that a segmentation fault fails a test instead of
killing the test run).

Each case prints its name before it runs; an exception is the right answer, a signal is a bug.
Run directly: ``python tests/crash_cases.py`` prints ``done N`` at the end.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import tagcore as tc
from tagcore import filters, kernels

BIG = 2**30


def _log() -> tc.RequestLog:
    recs = [
        {"ts": i, "model": "m", "prompt_tokens": 1, "completion_tokens": 2, "cost": 0.5,
         "latency_ms": float(i), "status": 200 + 100 * (i % 4),
         "request_tags": [["a/b/c", "a/d"], ["x"], [], ["a/b", "x/y"]][i % 4]}
        for i in range(8)
    ]
    return tc.RequestLog.from_records(recs)


LOG = _log()
OTHER = _log()
P = LOG.trie.parents
NN = len(LOG.trie)
OFF = np.asarray(LOG.tag_offsets)
IDS = np.asarray(LOG.tag_ids)
N = len(LOG)
COLS = (LOG.status, LOG.prompt_tokens, LOG.completion_tokens, LOG.cost, LOG.latency_ms, LOG.ts)


def _hostile_csr() -> Iterator[tuple[str, Any, Any]]:
    yield "ids out of range", OFF, np.full_like(IDS, BIG)
    yield "negative ids", OFF, np.full_like(IDS, -5)
    yield "ids int64 huge", OFF, IDS.astype(np.int64) + 2**40
    yield "offsets past the end", np.where(OFF > 2, OFF + 1000, OFF), IDS
    yield "offsets decrease", OFF[::-1].copy(), IDS
    yield "offsets start at 3", OFF + 3, IDS
    yield "offsets empty", np.zeros(0, np.int64), IDS
    yield "offsets floats", OFF.astype(float) + 0.5, IDS
    yield "ids strings", OFF, np.array(["a"] * IDS.size)
    yield "2-d ids", OFF, np.stack([IDS, IDS])
    yield "non-contiguous", np.repeat(OFF, 2)[::2], np.repeat(IDS, 2)[::2]
    yield "ids as objects", OFF, np.array([object()] * IDS.size)
    yield "huge offsets", np.array([0, 2**62], np.int64), IDS


def _hostile_parents() -> Iterator[tuple[str, Any]]:
    yield "parent cycle", np.array([1, 0] + [0] * (NN - 2), np.int32)
    yield "parent not smaller", np.arange(NN, dtype=np.int32)
    yield "parent huge", np.full(NN, BIG, np.int32)
    yield "parent -7", np.full(NN, -7, np.int32)
    yield "parents too short", P[:1].copy()
    yield "parents empty", np.zeros(0, np.int32)


def _hostile_trusted() -> Iterator[tuple[str, Any]]:
    yield "trusted=True", True
    yield "trusted=other log", OTHER
    yield "trusted=1", 1
    yield "trusted=str", "yes"


def _rows(n: int) -> list[tuple[str, Any]]:
    return [("rows out of range", np.array([0, n + 5])), ("rows negative", np.array([-1])),
            ("rows huge", np.array([2**62])), ("rows float", np.array([0.5]))]


def cases() -> Iterator[tuple[str, Callable[[], Any]]]:
    """(name, thunk) pairs; every public kernel entry has some."""
    K = kernels
    slot = np.full(NN, -1, np.int32)
    slot[LOG.trie.id("a")] = 0
    slot[LOG.trie.id("x")] = 1
    bits = np.ones(NN, np.uint64)
    for name, off, ids in _hostile_csr():
        yield f"expand_ancestors {name}", lambda o=off, i=ids: K.expand_ancestors(P, o, i)
        yield f"rollup_nodes {name}", lambda o=off, i=ids: K.rollup_nodes(P, o, i, *COLS)
        yield f"rollup_slots {name}", lambda o=off, i=ids: K.rollup_slots(o, i, slot, 2, *COLS,
                                                                          mode="split")
        yield f"rollup_pairs {name}", lambda o=off, i=ids: K.rollup_pairs(
            o, i, slot, 2, slot, 2, LOG.cost)
        yield f"row_bits {name}", lambda o=off, i=ids: K.row_bits(o, i, bits)
        yield f"take_rows {name}", lambda o=off, i=ids: K.take_rows(o, i, [0, 1], n_nodes=NN)
        yield f"drop_row_duplicates {name}", lambda o=off, i=ids: K.drop_row_duplicates(
            o, i, n_nodes=NN)
        yield f"latency_layout {name}", lambda o=off, i=ids: K.latency_layout(o, i, LOG.latency_ms)
        yield f"group_quantiles {name}", lambda o=off, i=ids: K.group_quantiles(
            o, i, LOG.latency_ms, [0.5], parents=P)
        yield f"Filter.mask {name}", lambda o=off, i=ids: filters.parse_filter("a | x").mask(
            o, i, LOG.trie)
        for tname, t in _hostile_trusted():
            yield f"row_bits {name} {tname}", lambda o=off, i=ids, t=t: K.row_bits(
                o, i, bits, trusted=t)
            yield f"rollup_nodes {name} {tname}", lambda o=off, i=ids, t=t: K.rollup_nodes(
                P, o, i, *COLS, trusted=t, max_tags=0)
            yield f"Filter.mask {name} {tname}", lambda o=off, i=ids, t=t: filters.parse_filter(
                "a").mask(o, i, LOG.trie, trusted=t)
    for tname, t in _hostile_trusted():
        yield f"take_rows log arrays {tname}", lambda t=t: K.take_rows(
            OFF, IDS, [0], n_nodes=1, trusted=t)
    # a trusted log with arrays that are not its own, or too few nodes
    yield "trusted log, smaller bits", lambda: K.row_bits(LOG.tag_offsets, LOG.tag_ids,
                                                          bits[:1], trusted=LOG)
    yield "trusted log, max_tags 0", lambda: K.rollup_nodes(P, LOG.tag_offsets, LOG.tag_ids,
                                                            *COLS, trusted=LOG, max_tags=0)
    yield "trusted log, small trie", lambda: filters.parse_filter("a").mask(
        LOG.tag_offsets, LOG.tag_ids, tc.TagTrie(["a"]), trusted=LOG)
    for name, par in _hostile_parents():
        yield f"expand_ancestors {name}", lambda p=par: K.expand_ancestors(p, OFF, IDS)
        yield f"rollup_nodes {name}", lambda p=par: K.rollup_nodes(p, OFF, IDS, *COLS)
        yield f"tree_arrays {name}", lambda p=par: K.tree_arrays(p)
        yield f"group_quantiles {name}", lambda p=par: K.group_quantiles(
            OFF, IDS, LOG.latency_ms, [0.5], parents=p)
    rt, dep, pre = K.tree_arrays(P)
    for name, tree in [("roots huge", (np.full(NN, BIG), dep, pre)),
                       ("depths wrong", (rt, np.full(NN, 9), pre)),
                       ("preorder huge", (rt, dep, np.full(NN, BIG))),
                       ("preorder repeats", (rt, dep, np.zeros(NN))),
                       ("tree short", (rt[:1], dep[:1], pre[:1]))]:
        yield f"rollup_nodes tree {name}", lambda t=tree: K.rollup_nodes(P, OFF, IDS, *COLS,
                                                                         tree=t)
    for name, col in [("short", LOG.cost[:2]), ("2-d", np.zeros((N, 2), np.int64)),
                      ("strings", np.array(["x"] * N)), ("huge", np.full(N, 2.0**80))]:
        yield f"rollup_nodes cost {name}", lambda c=col: K.rollup_nodes(
            P, OFF, IDS, COLS[0], COLS[1], COLS[2], c, COLS[4], COLS[5])
        yield f"rollup_slots cost {name}", lambda c=col: K.rollup_slots(
            OFF, IDS, slot, 2, COLS[0], COLS[1], COLS[2], c, COLS[4], COLS[5])
        yield f"rollup_pairs values {name}", lambda c=col: K.rollup_pairs(
            OFF, IDS, slot, 2, slot, 2, c)
        yield f"latency_layout latency {name}", lambda c=col: K.latency_layout(OFF, IDS, c)
        yield f"bucket_fixed ts {name}", lambda c=col: K.bucket_fixed(c, 0, 1, 4, -1, 10)
        yield f"latency_order {name}", lambda c=col: K.latency_order(c)
        yield f"radix_argsort {name}", lambda c=col: K.radix_argsort(c)
    for name, s in [("slot huge", np.full(NN, BIG, np.int32)), ("slot short", slot[:1]),
                    ("slot -9", np.full(NN, -9, np.int32))]:
        yield f"rollup_slots {name}", lambda s=s: K.rollup_slots(OFF, IDS, s, 2, *COLS)
        yield f"rollup_pairs {name}", lambda s=s: K.rollup_pairs(OFF, IDS, s, 2, slot, 2,
                                                                 LOG.cost)
        yield f"group_quantiles key_of_node {name}", lambda s=s: K.group_quantiles(
            OFF, IDS, LOG.latency_ms, [0.5], key_of_node=s, n_keys=2)
    for name, kw in [("n_slots -1", {"n_slots": -1}), ("n_slots huge", {"n_slots": 2**40}),
                     ("n_groups huge", {"n_groups": 2**40, "group": np.zeros(N)}),
                     ("group huge", {"group": np.full(N, BIG), "n_groups": 2}),
                     ("group short", {"group": np.zeros(2), "n_groups": 1}),
                     ("mode bad", {"mode": "zzz"}), ("threads 0", {"threads": 0}),
                     ("threads -3", {"threads": -3}), ("min_rows 0", {"min_rows": 0,
                                                                      "threads": 2})]:
        args = {"n_slots": 2, **kw}
        ns = args.pop("n_slots")
        yield f"rollup_slots {name}", lambda ns=ns, a=args: K.rollup_slots(
            OFF, IDS, slot, ns, *COLS, **a)
    for name, off_, b in [("n_a huge", 2**40, 2), ("n_b -1", 2, -1)]:
        yield f"rollup_pairs {name}", lambda a=off_, b=b: K.rollup_pairs(
            OFF, IDS, slot, a, slot, b, LOG.cost)
    for name, rows in _rows(N):
        yield f"take_rows {name}", lambda r=rows: K.take_rows(OFF, IDS, r)
    yield "take_rows n_nodes too small", lambda: K.take_rows(OFF, IDS, [0], n_nodes=1)
    yield "drop_row_duplicates n_nodes too small", lambda: K.drop_row_duplicates(OFF, IDS,
                                                                                 n_nodes=1)
    for name, args in [("width 0", (0, 0, 4, -1, 10)), ("width -5", (0, -5, 4, -1, 10)),
                       ("n_buckets huge", (0, 1, 2**40, -1, 10)),
                       ("n_buckets -1", (0, 1, -1, -1, 10)),
                       ("origin huge", (2**63 - 1, 1, 4, -(2**63), 2**63 - 1))]:
        yield f"bucket_fixed {name}", lambda a=args: K.bucket_fixed(LOG.ts, *a)
    lay = K.latency_layout(OFF, IDS, LOG.latency_ms)
    order, lat, s_off, s_ids = lay
    for name, layout in [
        ("ids huge", (order, lat, s_off, np.full_like(s_ids, BIG))),
        ("order huge", (np.full_like(order, BIG), lat, s_off, s_ids)),
        ("offsets past the end", (order, lat, s_off + 5, s_ids)),
        ("unsorted", (order, lat[::-1].copy(), s_off, s_ids)),
        ("not a tuple", 5), ("short", (order, lat)),
    ]:
        yield f"group_quantiles layout {name}", lambda lo=layout: K.group_quantiles(
            OFF, IDS, LOG.latency_ms, [0.5], parents=P, layout=lo)
        yield f"group_quantiles layout {name} trusted log", lambda lo=layout: K.group_quantiles(
            LOG.tag_offsets, LOG.tag_ids, LOG.latency_ms, [0.5], parents=P, layout=lo,
            trusted=LOG)
    for name, counts in [("counts huge", np.full(NN, 2**40)), ("counts negative",
                                                                np.full(NN, -3)),
                         ("counts short", np.zeros(1))]:
        yield f"group_quantiles {name}", lambda c=counts: K.group_quantiles(
            OFF, IDS, LOG.latency_ms, [0.5], parents=P, counts=c)
    yield "group_quantiles qs bad", lambda: K.group_quantiles(OFF, IDS, LOG.latency_ms, [7],
                                                              parents=P)
    yield "group_quantiles untagged_key huge", lambda: K.group_quantiles(
        OFF, IDS, LOG.latency_ms, [0.5], key_of_node=slot, n_keys=2, untagged_key=BIG)
    yield "quantile_ranks negative", lambda: K.quantile_ranks([-5], [0.5])
    yield "lerp mismatched", lambda: K.lerp(np.zeros(2), np.zeros(3), np.zeros(2))
    yield "set_threads 0", lambda: K.set_threads(0)
    yield "set_threads str", lambda: K.set_threads("2")
    yield "threads -1", lambda: K.threads(-1).__enter__()
    yield "get_threads", K.get_threads
    # a built log cannot be changed, so its trusted arrays stay what it validated
    for col in ("tag_ids", "tag_offsets", "ts", "cost", "trie", "extras", "_n_nodes"):
        yield f"log.{col} = hostile", lambda c=col: setattr(LOG, c, np.full(8, BIG))
    yield "log.tag_ids[:] = hostile", lambda: LOG.tag_ids.__setitem__(slice(None), BIG)
    yield "log.tag_ids writeable", lambda: LOG.tag_ids.setflags(write=True)
    yield "log.filter after hostile attempts", lambda: LOG.filter("a/b | x").totals()
    yield "log.rollup after hostile attempts", lambda: LOG.rollup()
    for name, off, ids in _hostile_csr():
        yield f"from_arrays {name}", lambda o=off, i=ids: tc.RequestLog.from_arrays(
            ts=LOG.ts, model=["m"] * N, prompt_tokens=LOG.prompt_tokens,
            completion_tokens=LOG.completion_tokens, latency_ms=LOG.latency_ms,
            status=LOG.status, tag_offsets=o, tag_ids=i, trie=LOG.trie, cost_nanos=LOG.cost)


def covered_kernels() -> set[str]:
    """Public functions of tagcore.kernels that the cases call."""
    names = {n for n, f in inspect.getmembers(kernels, inspect.isfunction)
             if not n.startswith("_")}
    seen = {c.split()[0] for c, _ in cases()}
    return names & seen


def main() -> int:
    k = 0
    for name, thunk in cases():
        print(name, flush=True)
        try:
            thunk()
        except Exception:  # noqa: BLE001  (a clean refusal is what we want)
            pass
        k += 1
    # the log still answers as it did: nothing above changed it
    assert LOG.totals()["requests"] == 8
    print(f"done {k}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
