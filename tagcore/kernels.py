"""Validated entry points to the compiled kernels.

Each function here checks its inputs through :mod:`tagcore._validate`, allocates the outputs and
calls the compiled kernel of the same name; :mod:`tagcore._slow` holds the pure-Python twin with
the same signature and result, which the tests use as the oracle.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from tagcore._kernels import _closure, _quantile, _rollup, _select, _sets, _sort, _time
from tagcore._threads import get_threads as get_threads  # re-exported, with the two below
from tagcore._threads import set_threads as set_threads
from tagcore._threads import threads as threads
from tagcore._validate import CHECKED, as_array, check_csr, check_length, check_parents

# ``trusted=`` of the functions below is ``None`` (check the CSR arrays in full, the default)
# or the RequestLog whose own ``tag_offsets``/``tag_ids`` are passed: a built log was checked
# once and is immutable, so only O(1) and O(nodes) checks run then (see _validate._trust).
# Parents, trees, slots, groups and layouts are always checked: they are O(nodes) or come
# with the log's cache.


def _is_log(trusted: Any) -> bool:
    return trusted is not None and trusted is not False and trusted is not CHECKED


def _n_nodes_of(trusted: Any, idv: np.ndarray, n_nodes: int | None) -> int:
    if n_nodes is not None:
        return n_nodes
    if _is_log(trusted):
        return int(trusted._n_nodes)
    return int(idv.max()) + 1 if idv.size else 0


def expand_ancestors(parents, offsets, ids) -> tuple[np.ndarray, np.ndarray]:
    """Each row's distinct tags and all their ancestors, as CSR ``(offsets, ids)``.

    Within a row, tags are taken in order and each is walked up to its root; a node appears
    once, where it is first reached.

    >>> off, ids = expand_ancestors([-1, 0, 1, 0], [0, 1, 3], [2, 3, 0])
    >>> off.tolist(), ids.tolist()
    ([0, 3, 5], [2, 1, 0, 3, 0])
    """
    p = check_parents(parents)
    off, idv = check_csr(offsets, ids, p.size)
    n_rows = off.size - 1
    # upper bound of the output: the depth of every tag (chains before dedup)
    depth = np.zeros(p.size, dtype=np.int64)
    for i in range(p.size):  # n_nodes, not per row
        depth[i] = 1 if p[i] < 0 else depth[p[i]] + 1
    cap = int(depth[idv].sum()) if idv.size else 0
    out_off = np.empty(n_rows + 1, dtype=np.int64)
    out_ids = np.empty(cap, dtype=np.int32)
    stamp = np.full(p.size, -1, dtype=np.int64)
    w = _closure.expand_ancestors(p, off, idv, stamp, out_off, out_ids)
    return out_off, out_ids[:w].copy()


# --------------------------------------------------------------------------------------------
# threads: the kernels run without the GIL, so row ranges can be rolled up side by side into
# per-thread accumulators that are merged afterwards (no OpenMP needed). A call without
# ``threads=`` uses get_threads() of the calling context (see tagcore._threads).

_POOL: list[ThreadPoolExecutor] = []
#: below this many rows a kernel runs on one thread (splitting costs more than it saves)
PARALLEL_MIN_ROWS = 200_000


def _chunks(off: np.ndarray, threads: int | None, min_rows: int) -> list[tuple[int, int]]:
    """Row ranges with about equal numbers of tags, one per thread."""
    n = off.size - 1
    k = get_threads() if threads is None else threads
    k = max(1, min(k, n // max(min_rows, 1)))
    if k == 1:
        return [(0, n)]
    cuts = np.searchsorted(off, np.linspace(0, off[-1], k + 1)[1:-1])
    bounds = [0, *sorted(set(int(c) for c in cuts) - {0, n}), n]
    return list(zip(bounds[:-1], bounds[1:]))


def _map(fn, ranges):
    if len(ranges) == 1:
        return [fn(*ranges[0])]
    if not _POOL or _POOL[0]._max_workers < len(ranges):
        _POOL[:] = [ThreadPoolExecutor(max_workers=len(ranges), thread_name_prefix="tagcore")]
    return list(_POOL[0].map(lambda ab: fn(*ab), ranges))


# --------------------------------------------------------------------------------------------
# metric columns shared by the roll-up kernels

#: Integer accumulator columns of the roll-up kernels.
ICOLS = ("requests", "errors", "prompt_tokens", "completion_tokens", "cost_nanos",
         "latency_count", "first_ts", "last_ts")
_I64_MAX = np.iinfo(np.int64).max
_I64_MIN = np.iinfo(np.int64).min


def _metric_columns(n_rows: int, status, prompt, completion, cost, latency, ts):
    cols = (
        as_array(status, np.int32, "status"),
        as_array(prompt, np.int64, "prompt_tokens"),
        as_array(completion, np.int64, "completion_tokens"),
        as_array(cost, np.int64, "cost"),
        as_array(latency, np.float64, "latency_ms"),
        as_array(ts, np.int64, "ts"),
    )
    for c, name in zip(cols, ("status", "prompt_tokens", "completion_tokens", "cost",
                              "latency_ms", "ts")):
        check_length(c, n_rows, name)
    return cols


def tree_arrays(parents) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(roots, depths, preorder)`` of a validated parent array (``TagTrie`` caches these).

    >>> [a.tolist() for a in tree_arrays(np.array([-1, 0, -1, 1], dtype=np.int32))]
    [[0, 0, 2, 0], [1, 2, 1, 3], [0, 1, 3, 2]]
    """
    n = parents.size
    roots = np.arange(n, dtype=np.int32)
    depths = np.ones(n, dtype=np.int32)
    children: list[list[int]] = [[] for _ in range(n)]
    top: list[int] = []
    for i in range(n):  # per node; parent < child, so the parent's values are final
        p = int(parents[i])
        if p >= 0:
            roots[i] = roots[p]
            depths[i] = depths[p] + 1
            children[p].append(i)
        else:
            top.append(i)
    pre = np.empty(n, dtype=np.int32)
    stack = top[::-1]
    k = 0
    while stack:
        v = stack.pop()
        pre[v] = k
        k += 1
        stack.extend(children[v][::-1])
    return roots, depths, pre


def _check_tree(tree, parents: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(roots, depths, preorder)`` given by a caller must belong to ``parents`` (the walks
    up the tree and the sort into tree order index with them): O(nodes), vectorised."""
    n = parents.size
    roots, depths, pre = (as_array(a, np.int32, name)
                          for a, name in zip(tree, ("roots", "depths", "preorder")))
    for a, name in ((roots, "roots"), (depths, "depths"), (pre, "preorder")):
        check_length(a, n, name)
    if n:
        top = parents < 0
        pp = np.where(top, 0, parents)
        ok = (np.where(top, roots == np.arange(n), roots == roots[pp]).all()
              and np.where(top, depths == 1, depths == depths[pp] + 1).all()
              and ((pre >= 0) & (pre < n)).all()
              and np.bincount(pre, minlength=n).max() == 1)
        if not ok:
            raise ValueError("tree: roots, depths and preorder do not belong to parents "
                             "(use tree_arrays)")
    return roots, depths, pre


def _longest(trusted: Any, off: np.ndarray, a: int, b: int, max_tags: int | None) -> int:
    """The most tags a row in ``[a, b)`` holds (it sizes the kernel's scratch space): taken
    from an internal caller, from a log's cache, or counted."""
    if trusted is CHECKED and max_tags is not None:
        return max_tags
    if _is_log(trusted):
        got = trusted._cache.get("max_tags")
        if got is None:
            got = trusted._cache["max_tags"] = (int(np.diff(trusted.tag_offsets).max())
                                                if len(trusted) else 0)
        return got
    return int(np.diff(off[a:b + 1]).max()) if b > a else 0


def rollup_nodes(parents, offsets, ids, status, prompt, completion, cost, latency, ts, *,
                 tree=None, want_latency: bool = True, want_time: bool = True,
                 trusted: Any = None, threads: int | None = None,
                 min_rows: int = PARALLEL_MIN_ROWS, max_tags: int | None = None):
    """Per-node totals (each request once per node it or its tags' ancestors cover) and
    exact-tag ``self`` sums.

    Returns ``(self_acc, total, lat_self, lat_total)``: int64 arrays ``(n_nodes, 8)`` with the
    columns :data:`ICOLS` and float64 latency sums. ``first_ts``/``last_ts`` of a node that no
    request reached are INT64_MAX/INT64_MIN. ``tree`` may pass ``(roots, depths, preorder)``
    when known (see :func:`tree_arrays`; they must belong to ``parents``). Logs of at least
    ``min_rows`` rows are split over ``threads`` threads (default :func:`get_threads`).
    ``max_tags``, the most tags any row holds, sizes scratch space; it is only taken from
    tagcore's own callers, and counted (or read from the trusted log's cache) otherwise.

    >>> s, t, _, _ = rollup_nodes([-1, 0, 0], [0, 2], [1, 2], [200], [10], [5], [7], [1.0], [0])
    >>> t[:, 0].tolist(), s[:, 0].tolist(), t[:, 4].tolist()
    ([1, 1, 1], [0, 1, 1], [7, 7, 7])
    """
    p = check_parents(parents, trusted=trusted)
    off, idv = check_csr(offsets, ids, p.size, trusted=trusted)
    n = off.size - 1
    st, pt, ct, cs, lat, tsv = _metric_columns(n, status, prompt, completion, cost, latency, ts)
    rt, dep, pre = tree_arrays(p) if tree is None else _check_tree(tree, p)
    nn = p.size

    def run(a: int, b: int):
        self_acc = np.zeros((nn, 8), dtype=np.int64)
        self_acc[:, 6] = _I64_MAX
        self_acc[:, 7] = _I64_MIN
        fix = np.zeros((nn, 6), dtype=np.int64)
        lat_self = np.zeros(nn, dtype=np.float64)
        lat_fix = np.zeros(nn, dtype=np.float64)
        o = off[a:b + 1]
        longest = _longest(trusted, off, a, b, max_tags)
        _rollup.rollup_nodes(p, rt, dep, pre, o, idv, st[a:b], pt[a:b], ct[a:b], cs[a:b],
                             lat[a:b], tsv[a:b], want_latency, want_time, self_acc, fix,
                             lat_self, lat_fix, np.full(nn, -1, dtype=np.int64),
                             np.zeros(nn, dtype=np.int32), np.zeros(nn, dtype=np.int32),
                             np.zeros(max(3 * longest, 1), dtype=np.int32))
        return self_acc, fix, lat_self, lat_fix

    parts = _map(run, _chunks(off, threads, min_rows))
    self_acc, fix, lat_self, lat_fix = parts[0]
    for sa, fx, ls, lf in parts[1:]:
        self_acc[:, :6] += sa[:, :6]
        np.minimum(self_acc[:, 6], sa[:, 6], out=self_acc[:, 6])
        np.maximum(self_acc[:, 7], sa[:, 7], out=self_acc[:, 7])
        fix += fx
        lat_self += ls
        lat_fix += lf
    total = self_acc.copy()
    total[:, :6] += fix
    lat_total = lat_self + lat_fix
    _rollup.propagate_up(p, total, lat_total, 6)
    return self_acc, total, lat_self, lat_total


def _check_slots(node_slot, n_nodes: int, n_slots: int, name: str) -> np.ndarray:
    s = as_array(node_slot, np.int32, name)
    check_length(s, n_nodes, name)
    if s.size and ((s < -1) | (s >= n_slots)).any():
        i = int(np.flatnonzero((s < -1) | (s >= n_slots))[0])
        raise ValueError(f"{name}: slot {int(s[i])} of node {i} is outside [-1, {n_slots})")
    return s


def _check_groups(group, n_rows: int, n_groups: int) -> np.ndarray:
    if group is None:
        return np.zeros(n_rows, dtype=np.int32)
    g = as_array(group, np.int32, "group")
    check_length(g, n_rows, "group")
    if g.size and (g >= n_groups).any():
        i = int(np.flatnonzero(g >= n_groups)[0])
        raise ValueError(f"group: group {int(g[i])} of row {i} is not below n_groups={n_groups}")
    return g


_MODES = {"full": 0, "split": 1, "primary": 2}


def rollup_slots(offsets, ids, node_slot, n_slots: int, status, prompt, completion, cost,
                 latency, ts, *, mode: str = "full", group=None, n_groups: int = 1,
                 trusted: Any = None, threads: int | None = None,
                 min_rows: int = PARALLEL_MIN_ROWS):
    """Roll-up onto a set of disjoint nodes ("slots"; slot ``n_slots`` is ``(untagged)``).

    ``node_slot[v]`` is the slot whose subtree holds node ``v`` or -1; ``group[r]`` puts row
    ``r`` in a group (< 0 skips it). Returns ``(iacc, facc)`` shaped
    ``(n_groups, n_slots + 1, 8)`` int64 (columns :data:`ICOLS`) and
    ``(n_groups, n_slots + 1, 5)`` float64 (split shares of requests, errors, prompt and
    completion tokens, then the latency sum). ``mode`` is ``"full"``, ``"split"`` (cost split in
    whole nano-dollars, remainder to the first hit slots) or ``"primary"``.

    >>> i, f = rollup_slots([0, 2], [0, 1], [0, 1], 2, [200], [3], [0], [5], [1.0], [0],
    ...                     mode="split")
    >>> i[0, :, 4].tolist(), f[0, :, 0].tolist()
    ([3, 2, 0], [0.5, 0.5, 0.0])
    """
    if mode not in _MODES:
        raise ValueError(f"mode: expected one of {sorted(_MODES)}, got {mode!r}")
    if n_slots < 0 or n_groups < 0:
        raise ValueError("n_slots and n_groups must be >= 0")
    off = as_array(offsets, np.int64, "tag_offsets")
    idv = as_array(ids, np.int32, "tag_ids")
    s = as_array(node_slot, np.int32, "node_slot")
    off, idv = check_csr(off, idv, s.size, trusted=trusted)
    s = _check_slots(s, s.size, n_slots, "node_slot")
    n = off.size - 1
    st, pt, ct, cs, lat, tsv = _metric_columns(n, status, prompt, completion, cost, latency, ts)
    if mode == "split" and cs.size and cs.min() < 0:
        raise ValueError("cost: split attribution needs non-negative costs")
    g = _check_groups(group, n, n_groups)
    width = n_slots + 1

    def run(a: int, b: int):
        iacc = np.zeros((n_groups * width, 8), dtype=np.int64)
        iacc[:, 6] = _I64_MAX
        iacc[:, 7] = _I64_MIN
        facc = np.zeros((n_groups * width, 5), dtype=np.float64)
        _sets.rollup_slots(off[a:b + 1], idv, s, g[a:b], _MODES[mode], n_slots, st[a:b],
                           pt[a:b], ct[a:b], cs[a:b], lat[a:b], tsv[a:b], iacc, facc,
                           np.full(width, -1, dtype=np.int64), np.zeros(width, dtype=np.int32))
        return iacc, facc

    parts = _map(run, _chunks(off, threads, min_rows))
    iacc, facc = parts[0]
    for ia, fa in parts[1:]:
        iacc[:, :6] += ia[:, :6]
        np.minimum(iacc[:, 6], ia[:, 6], out=iacc[:, 6])
        np.maximum(iacc[:, 7], ia[:, 7], out=iacc[:, 7])
        facc += fa
    return iacc.reshape(n_groups, width, 8), facc.reshape(n_groups, width, 5)


def rollup_pairs(offsets, ids, slot_a, n_a: int, slot_b, n_b: int, values, *,
                 trusted: Any = None):
    """Cross roll-up of two sets: ``out[a, b]`` sums ``values`` of the requests that hit both
    slot ``a`` of set A and slot ``b`` of set B (each request once per pair); ``count`` counts
    them.

    >>> out, cnt = rollup_pairs([0, 2], [0, 1], [0, -1], 1, [-1, 0], 1, [7])
    >>> out.tolist(), cnt.tolist()
    ([[7]], [[1]])
    """
    sa = as_array(slot_a, np.int32, "slot_a")
    off, idv = check_csr(offsets, ids, sa.size, trusted=trusted)
    sa = _check_slots(sa, sa.size, n_a, "slot_a")
    sb = _check_slots(slot_b, sa.size, n_b, "slot_b")
    vals = as_array(values, np.int64, "values")
    check_length(vals, off.size - 1, "values")
    out = np.zeros(n_a * n_b, dtype=np.int64)
    cnt = np.zeros(n_a * n_b, dtype=np.int64)
    _sets.rollup_pairs(off, idv, sa, sb, n_b, vals, out, cnt,
                       np.full(max(n_a, 1), -1, dtype=np.int64),
                       np.full(max(n_b, 1), -1, dtype=np.int64),
                       np.zeros(max(n_a, 1), dtype=np.int32), np.zeros(max(n_b, 1), dtype=np.int32))
    return out.reshape(n_a, n_b), cnt.reshape(n_a, n_b)


def row_bits(offsets, ids, node_bits, *, trusted: Any = None, threads: int | None = None,
             min_rows: int = PARALLEL_MIN_ROWS) -> np.ndarray:
    """OR of ``node_bits`` (uint64 per node) over each row's tags: one uint64 per row.

    >>> row_bits([0, 2, 2, 3], [0, 1, 1], np.array([1, 4], dtype=np.uint64)).tolist()
    [5, 0, 4]
    """
    bits = np.ascontiguousarray(node_bits, dtype=np.uint64)
    off, idv = check_csr(offsets, ids, bits.size, trusted=trusted)
    out = np.empty(off.size - 1, dtype=np.uint64)

    def run(a: int, b: int):
        _select.row_bits(off[a:b + 1], idv, bits, out[a:b])

    _map(run, _chunks(off, threads, min_rows))
    return out


def bucket_fixed(ts, origin: int, width: int, n_buckets: int, lo: int, hi: int) -> np.ndarray:
    """Bucket index ``floor((ts - origin) / width)`` of each time with ``lo < ts <= hi`` and a
    bucket in ``[0, n_buckets)``; -1 elsewhere.

    >>> bucket_fixed([-1, 0, 9, 10, 25], 0, 10, 2, -100, 100).tolist()
    [-1, 0, 0, 1, -1]
    """
    if width <= 0:
        raise ValueError(f"width: must be a positive number of nanoseconds, got {width}")
    if not 0 <= n_buckets < 2**31:
        raise ValueError(f"n_buckets: must be in [0, 2**31), got {n_buckets}")
    t = as_array(ts, np.int64, "ts")
    out = np.empty(t.size, dtype=np.int32)
    _time.bucket_fixed(t, int(origin), int(width), int(n_buckets), int(lo), int(hi), out)
    return out


def latency_order(latency, *, with_sorted: bool = False) -> Any:
    """Row numbers with a known (non-NaN) latency, by ascending latency, int64 (and, with
    ``with_sorted``, those latencies in that order: the sort's keys, no second gather).

    Equal latencies keep their row order (a stable radix sort on the floats' bits).

    >>> latency_order([3.0, float("nan"), 1.0]).tolist()
    [2, 0]
    >>> [a.tolist() for a in latency_order([3.0, 1.0], with_sorted=True)]
    [[1, 0], [1.0, 3.0]]
    """
    lat = as_array(latency, np.float64, "latency_ms")
    known = ~np.isnan(lat)
    if known.all():  # the usual case: no row to leave out, no gather
        finite = None
        vals = lat + 0.0  # + 0.0 turns -0.0 into 0.0 (and copies)
    else:
        finite = np.flatnonzero(known)
        vals = lat[finite] + 0.0
    del known
    if vals.size and vals.min() < 0:  # negative floats do not sort by their bits
        o = np.argsort(vals, kind="stable")
        order = (o if finite is None else finite[o]).astype(np.int64)
        return (order, vals[o]) if with_sorted else order
    o, keys = _radix(vals.view(np.uint64))
    order = o if finite is None else finite[o]
    if not with_sorted:
        return order
    srt = keys.view(np.float64)
    if srt.size and srt[0] == 0:  # zeros come first; a -0.0 among them stays -0.0
        srt = lat[order]
    return order, srt


def _radix(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(stable argsort, the keys sorted) of uint64 ``keys`` by the radix kernel."""
    n = keys.size
    out = np.empty(n, dtype=np.int64)
    a, b = np.empty(n, np.uint64), np.empty(n, np.uint64)
    where = _sort.radix_argsort_u64(keys, out, a, b, np.empty(n, np.int64),
                                    np.zeros(8 * 256, np.int64))
    return out, (keys, a, b)[where]


def radix_argsort(values) -> np.ndarray:
    """Stable argsort of non-negative floats or of unsigned 64-bit integers (LSD radix).

    >>> radix_argsort(np.array([3.5, 0.0, 2.0, 0.0])).tolist()
    [1, 3, 2, 0]
    """
    v = np.ascontiguousarray(values)
    if v.dtype == np.float64:
        if v.size and not (v >= 0).all():  # also refuses NaN
            raise ValueError("values: floats must be >= 0 (and not NaN) to sort by their bits")
        keys = (v + 0.0).view(np.uint64)
    elif v.dtype == np.uint64:
        keys = v
    else:
        raise TypeError(f"values: expected float64 or uint64, got {v.dtype}")
    return _radix(keys)[0]


def take_rows(offsets, ids, rows, *, n_nodes: int | None = None, trusted: Any = None,
              threads: int | None = None,
              min_rows: int = PARALLEL_MIN_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """The CSR tag runs of ``rows`` (row numbers, any order, repeats allowed), as new CSR.

    >>> o, i = take_rows([0, 2, 3], [5, 6, 7], [1, 0])
    >>> o.tolist(), i.tolist()
    ([0, 1, 3], [7, 5, 6])
    """
    idv0 = as_array(ids, np.int32, "tag_ids")
    nn = _n_nodes_of(trusted, idv0, n_nodes)
    off, idv = check_csr(offsets, ids if _is_log(trusted) else idv0, nn, trusted=trusted)
    r = as_array(rows, np.int64, "rows")
    n = off.size - 1
    if r.size and (r.min() < 0 or r.max() >= n):
        raise ValueError(f"rows: row numbers must be in [0, {n})")
    out_off = np.zeros(r.size + 1, dtype=np.int64)
    np.cumsum(off[r + 1] - off[r], out=out_off[1:])
    out_ids = np.empty(int(out_off[-1]), dtype=np.int32)

    def run(a: int, b: int):
        base = int(out_off[a])
        o = np.empty(b - a + 1, dtype=np.int64)
        _select.take_rows(off, idv, r[a:b], o, out_ids[base:int(out_off[b])])

    _map(run, _chunks(out_off, threads, min_rows))
    return out_off, out_ids


def drop_row_duplicates(offsets, ids, *, n_nodes: int | None = None,
                        trusted: Any = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Each row's ids without repeats (first occurrences kept, order kept), as CSR, and the
    number of repeats dropped; the input arrays come back as they are when there are none.

    >>> o, i, k = drop_row_duplicates([0, 3, 4], [2, 1, 2, 2])
    >>> o.tolist(), i.tolist(), k
    ([0, 2, 3], [2, 1, 2], 1)
    """
    idv0 = as_array(ids, np.int32, "tag_ids")
    nn = _n_nodes_of(trusted, idv0, n_nodes)
    off, idv = check_csr(offsets, ids if _is_log(trusted) else idv0, nn, trusted=trusted)
    stamp = np.full(max(nn, 1), -1, dtype=np.int64)
    none = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
    dups = _select.row_duplicates(off, idv, stamp, none[0], none[1], False)
    if dups == 0:
        return off, idv, 0
    out_off = np.empty(off.size, dtype=np.int64)
    out_ids = np.empty(idv.size - dups, dtype=np.int32)
    stamp[:] = -1
    _select.row_duplicates(off, idv, stamp, out_off, out_ids, True)
    return out_off, out_ids, int(dups)


def latency_layout(offsets, ids, latency, *, trusted: Any = None):
    """The rows with a known latency laid out by ascending latency, for :func:`group_quantiles`:
    ``(order, sorted_latency, offsets, ids)`` where row ``i`` of the new CSR is row
    ``order[i]`` of the input.

    >>> order, lat, o, i = latency_layout([0, 1, 2], [0, 1], [5.0, 1.0])
    >>> order.tolist(), lat.tolist(), i.tolist()
    ([1, 0], [1.0, 5.0], [1, 0])
    """
    lat = as_array(latency, np.float64, "latency_ms")
    order, sorted_lat = latency_order(lat, with_sorted=True)
    off, idv = take_rows(offsets, ids, order, trusted=trusted)
    return order, sorted_lat, off, idv


def _check_layout(layout, n_rows: int, n_nodes: int):
    """A caller's layout: rows in range, latencies sorted, CSR ids below ``n_nodes``."""
    try:
        order, sorted_lat, s_off, s_ids = layout
    except (TypeError, ValueError):
        raise ValueError("layout: expected (order, sorted_latency, offsets, ids) from "
                         "latency_layout") from None
    order = as_array(order, np.int64, "layout order")
    sorted_lat = as_array(sorted_lat, np.float64, "layout latency")
    s_off, s_ids = check_csr(s_off, s_ids, n_nodes, n_rows=order.size,
                             names=("layout offsets", "layout ids"))
    if order.size and (order.min() < 0 or order.max() >= n_rows):
        raise ValueError(f"layout: row numbers must be in [0, {n_rows})")
    if sorted_lat.size != order.size or (sorted_lat.size > 1
                                         and not (np.diff(sorted_lat) >= 0).all()):
        raise ValueError("layout: latencies must be sorted, one per row (use latency_layout)")
    return order, sorted_lat, s_off, s_ids


def quantile_ranks(counts, qs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """numpy's linear-method positions for quantiles ``qs`` over groups of ``counts`` values:
    ``(lower_rank, upper_rank, gamma)``, each shaped ``(len(counts), len(qs))``."""
    n = np.asarray(counts, dtype=np.float64)[:, None]
    q = np.asarray(qs, dtype=np.float64)[None, :]
    # numpy's "linear" method: virtual index (n - 1) * q, neighbours floor and floor + 1,
    # both clamped to the last value at or past the end
    virtual = (n - 1) * q
    lo = np.floor(virtual)
    gamma = virtual - lo
    last = np.maximum(n - 1, 0)
    above = virtual >= n - 1
    lo_i = np.where(above, last, np.clip(lo, 0, last)).astype(np.int64)
    hi_i = np.where(above, last, np.clip(lo + 1, 0, last)).astype(np.int64)
    return lo_i, hi_i, gamma


def lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """numpy's ``_lerp`` (the linear method's interpolation, exact to the bit)."""
    diff = b - a
    out = a + diff * t
    upper = t >= 0.5
    out[upper] = (b - diff * (1 - t))[upper]
    same = a == b
    out[same] = a[same]
    return out


def group_quantiles(offsets, ids, latency, qs, *, parents=None, key_of_node=None,
                    n_keys: int | None = None, group=None, n_groups: int = 1,
                    untagged_key: int = -1, layout=None, counts=None,
                    trusted: Any = None) -> np.ndarray:
    """Exact quantiles ``qs`` of ``latency`` per key (numpy's linear method), NaN where a key
    has no value.

    With ``parents`` given, every tag's ancestors count too (each request once per key);
    ``key_of_node`` maps nodes to keys (identity by default, -1 to ignore a node). Rows with
    NaN latency or ``group < 0`` are left out; a row that hits no key goes to
    ``untagged_key`` if that is >= 0. ``layout`` (from :func:`latency_layout` on the same
    arrays) and ``counts`` (values per key) may be passed when already known. Returns
    ``(n_groups * n_keys, len(qs))``.

    >>> group_quantiles([0, 1, 2, 3], [0, 0, 1], [1.0, 3.0, 10.0], [0.5], parents=[-1, 0]).tolist()
    [[3.0], [10.0]]
    """
    lat = as_array(latency, np.float64, "latency_ms")
    qv = np.asarray(qs, dtype=np.float64)
    if qv.ndim != 1 or ((qv < 0) | (qv > 1)).any():
        raise ValueError("qs: quantiles must be a 1-d sequence of numbers in [0, 1]")
    walk = parents is not None
    if key_of_node is None:
        if parents is None:
            raise ValueError("key_of_node or parents is required")
        p = check_parents(parents, trusted=trusted)
        nn = p.size
        kon = np.arange(nn, dtype=np.int32)
        n_keys = nn if n_keys is None else n_keys
    else:
        kon = as_array(key_of_node, np.int32, "key_of_node")
        nn = kon.size
        p = check_parents(parents, trusted=trusted) if walk else np.full(nn, -1, dtype=np.int32)
        check_length(p, nn, "parents")
        if n_keys is None:
            n_keys = int(kon.max()) + 1 if kon.size else 0
    if kon.size and ((kon < -1) | (kon >= n_keys)).any():
        raise ValueError(f"key_of_node: keys must be in [-1, {n_keys})")
    if untagged_key >= n_keys:
        raise ValueError(f"untagged_key: must be < n_keys={n_keys}")
    off, idv = check_csr(offsets, ids, nn, trusted=trusted)
    n = off.size - 1
    check_length(lat, n, "latency_ms")
    g = _check_groups(group, n, n_groups)
    nk = n_groups * n_keys
    if layout is None:
        layout = latency_layout(off, idv, lat, trusted=CHECKED)
    elif not (trusted is CHECKED or (_is_log(trusted)
                                     and layout is trusted._cache.get("latency_layout"))):
        layout = _check_layout(layout, n, nn)
    order, sorted_lat, s_off, s_ids = layout
    if s_off.size != order.size + 1 or sorted_lat.size != order.size or \
            (s_off.size and s_off[-1] != s_ids.size):
        raise ValueError("layout: does not belong to these arrays (use latency_layout)")
    grouped = group is not None
    s_group = g[order] if grouped else np.zeros(0, dtype=np.int32)
    seen = np.zeros(nk, dtype=np.int64)
    ptr = np.zeros(nk, dtype=np.int32)
    stamp = np.full(nk, -1, dtype=np.int64)
    if counts is None:
        targets0 = np.zeros((nk, 0), dtype=np.int64)
        _quantile.quantile_pick(sorted_lat, s_off, s_ids, p, walk, kon, s_group, grouped,
                                n_keys, untagged_key, targets0, np.zeros((nk, 0)), seen, ptr,
                                stamp)
        counts = seen.copy()
        seen[:] = 0
        stamp[:] = -1
    else:
        counts = as_array(counts, np.int64, "counts")
        check_length(counts, nk, "counts")
    lo, hi, gamma = quantile_ranks(counts, qv)
    cat = np.concatenate([lo, hi], axis=1)
    idx = np.argsort(cat, axis=1, kind="stable")
    targets = np.ascontiguousarray(np.take_along_axis(cat, idx, axis=1))
    picked = np.full(targets.shape, np.nan)
    _quantile.quantile_pick(sorted_lat, s_off, s_ids, p, walk, kon, s_group, grouped, n_keys,
                            untagged_key, targets, picked, seen, ptr, stamp)
    if not np.array_equal(seen, counts):
        raise ValueError("counts: do not match the number of values each key holds")
    values = np.empty_like(picked)
    np.put_along_axis(values, idx, picked, axis=1)
    a, b = values[:, : qv.size], values[:, qv.size :]
    out = lerp(a, b, gamma)
    out[counts == 0] = np.nan
    return out
