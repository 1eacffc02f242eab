"""Latencies per quantile key, as a CSR by key: the validated entry to
``tagcore._kernels._partial.latency_pairs`` (with its slow twin, the tests' oracle), and the exact
quantiles of merged runs.

A partial of a quantile question keeps, for each key it shows (a node, a slot of a set, or
``(untagged)``), the latencies of the requests that key covers: 8 bytes per (request, key)
pair. The final step puts each key's values side by side and picks numpy's linear-method ranks
with :func:`numpy.partition`, then interpolates with :func:`tagcore.kernels.lerp`, so the
quantiles are the in-memory ones to the bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tagcore import kernels
from tagcore._kernels import _partial
from tagcore._validate import as_array, check_csr, check_length, check_parents

__all__ = ["latency_pairs", "latency_pairs_slow", "gather", "quantiles_of", "sketch_quantiles"]

_MODES = {"any": 0, "primary": 1}


def _check(offsets, ids, latency, key_of_node, n_keys: int, parents, untagged_key: int,
           keep, trusted: Any):
    kon = as_array(key_of_node, np.int32, "key_of_node")
    nn = kon.size
    if n_keys < 0:
        raise ValueError(f"n_keys: must be >= 0, got {n_keys}")
    if kon.size and ((kon < -1) | (kon >= n_keys)).any():
        raise ValueError(f"key_of_node: keys must be in [-1, {n_keys})")
    if not -1 <= untagged_key < n_keys:
        raise ValueError(f"untagged_key: must be -1 or in [0, {n_keys}), got {untagged_key}")
    if parents is not None:
        p = check_parents(parents)
        check_length(p, nn, "parents")
    else:
        p = np.full(max(nn, 1), -1, dtype=np.int32)
    off, idv = check_csr(offsets, ids, nn, trusted=trusted)
    n = off.size - 1
    lat = as_array(latency, np.float64, "latency_ms")
    check_length(lat, n, "latency_ms")
    if keep is None:
        k = np.zeros(1, dtype=np.uint8)
    else:
        k = np.ascontiguousarray(np.asarray(keep, dtype=bool)).view(np.uint8)
        check_length(k, n, "keep")
    return off, idv, lat, kon, p, k


def latency_pairs(offsets, ids, latency, key_of_node, n_keys: int, *, parents=None,
                  mode: str = "any", untagged_key: int = -1, keep=None, counts=None,
                  trusted: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """The known latencies of each key, in row order: ``(ptr, values)`` with key ``k``'s values
    at ``values[ptr[k]:ptr[k + 1]]``.

    ``key_of_node[v]`` is node ``v``'s key or -1. ``mode="any"``: a row counts once for every
    distinct key its tags reach (and, with ``parents``, their ancestors); ``"primary"``: once,
    for the key of its first tag that has one. A row that reaches no key goes to
    ``untagged_key`` (when >= 0). NaN latencies and rows with ``keep[r]`` false are left out.
    ``counts`` (values per key), when the caller knows them from a roll-up, saves the
    counting pass (they are checked). ``trusted`` is the log whose own tag arrays these are
    (see :mod:`tagcore.kernels`).

    >>> ptr, vals = latency_pairs([0, 1, 3, 3], [1, 0, 1], [5.0, 2.0, 9.0], [-1, 0], 2,
    ...                           parents=[-1, 0], untagged_key=1)
    >>> ptr.tolist(), vals.tolist()
    ([0, 2, 3], [5.0, 2.0, 9.0])
    """
    if mode not in _MODES:
        raise ValueError(f"mode: expected one of {sorted(_MODES)}, got {mode!r}")
    off, idv, lat, kon, p, k = _check(offsets, ids, latency, key_of_node, n_keys, parents,
                                      untagged_key, keep, trusted)
    walk = parents is not None
    m = _MODES[mode]
    masked = keep is not None
    stamp = np.full(max(n_keys, 1), -1, dtype=np.int64)
    nstamp = np.full(max(kon.size, 1) if walk else 1, -1, dtype=np.int64)
    ptr = np.zeros(n_keys + 1, dtype=np.int64)
    if counts is None:
        cnt = np.zeros(max(n_keys, 1), dtype=np.int64)
        _partial.latency_pairs(off, idv, p, walk, kon, m, untagged_key, lat, k, masked, cnt,
                               np.zeros(0), False, stamp, cnt, nstamp)
        np.cumsum(cnt[:n_keys], out=ptr[1:])
        stamp[:] = -1
        nstamp[:] = -1
    else:
        cnt = as_array(counts, np.int64, "counts")
        check_length(cnt, n_keys, "counts")
        if cnt.size and cnt.min() < 0:
            raise ValueError("counts: must be >= 0")
        np.cumsum(cnt, out=ptr[1:])
    out = np.empty(int(ptr[-1]), dtype=np.float64)
    pos = ptr[:-1].copy() if n_keys else np.zeros(1, dtype=np.int64)
    end = ptr[1:].copy() if n_keys else np.zeros(1, dtype=np.int64)
    got = _partial.latency_pairs(off, idv, p, walk, kon, m, untagged_key, lat, k, masked, pos,
                                 out, True, stamp, end, nstamp)
    if got < 0 or (n_keys and not np.array_equal(pos, end)):
        raise ValueError("counts: do not match the values each key holds")
    return ptr, out


def latency_pairs_slow(offsets, ids, latency, key_of_node, n_keys: int, *, parents=None,
                       mode: str = "any", untagged_key: int = -1,
                       keep=None) -> tuple[np.ndarray, np.ndarray]:
    """The pure-Python twin of :func:`latency_pairs` (the tests' oracle).

    >>> ptr, vals = latency_pairs_slow([0, 1, 3, 3], [1, 0, 1], [5.0, 2.0, 9.0], [-1, 0], 2,
    ...                                parents=[-1, 0], untagged_key=1)
    >>> ptr.tolist(), vals.tolist()
    ([0, 2, 3], [5.0, 2.0, 9.0])
    """
    off = [int(x) for x in np.asarray(offsets)]
    idv = [int(x) for x in np.asarray(ids)]
    kon = [int(x) for x in np.asarray(key_of_node)]
    par = None if parents is None else [int(x) for x in np.asarray(parents)]
    per: list[list[float]] = [[] for _ in range(n_keys)]
    for r in range(len(off) - 1):
        lat = float(np.asarray(latency)[r])
        if lat != lat or (keep is not None and not bool(np.asarray(keep)[r])):
            continue
        hits: list[int] = []
        for j in range(off[r], off[r + 1]):
            v = idv[j]
            chain = [v]
            while par is not None and par[chain[-1]] >= 0:
                chain.append(par[chain[-1]])
            for u in chain:
                if kon[u] >= 0 and kon[u] not in hits:
                    hits.append(kon[u])
                    if mode == "primary":
                        break
            if mode == "primary" and hits:
                break
        if not hits and untagged_key >= 0:
            hits = [untagged_key]
        for h in hits:
            per[h].append(lat)
    ptr = np.zeros(n_keys + 1, dtype=np.int64)
    np.cumsum([len(x) for x in per], out=ptr[1:])
    vals = np.array([v for x in per for v in x], dtype=np.float64)
    return ptr, vals


def gather(runs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], keys: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Put the values of each of ``keys`` side by side, from runs ``(run_keys, ptr, values)``
    (key ``run_keys[i]``'s values at ``values[ptr[i]:ptr[i+1]]``; keys unique in a run).
    Returns ``(ptr, values)`` over ``keys`` (sorted ascending); one copy of each value.

    >>> ptr, v = gather([(np.array([1, 4]), np.array([0, 1, 3]), np.array([7., 8., 9.])),
    ...                  (np.array([4]), np.array([0, 1]), np.array([5.]))], np.array([4]))
    >>> ptr.tolist(), v.tolist()
    ([0, 3], [8.0, 9.0, 5.0])
    """
    keys = np.asarray(keys, dtype=np.int64)
    nk = keys.size
    counts = np.zeros(nk, dtype=np.int64)
    located = []
    for rk, ptr, vals in runs:
        rk = np.asarray(rk, dtype=np.int64)
        ptr = np.asarray(ptr, dtype=np.int64)
        if ptr.size != rk.size + 1 or (ptr.size and (ptr[0] != 0 or ptr[-1] != vals.size)) or \
                (ptr.size > 1 and (np.diff(ptr) < 0).any()):
            raise ValueError("runs: ptr must be the offsets of the values of each key")
        if nk:
            pos = np.minimum(np.searchsorted(keys, rk), nk - 1)
            ok = keys[pos] == rk
        else:
            pos, ok = np.zeros(rk.size, dtype=np.int64), np.zeros(rk.size, dtype=bool)
        c = np.diff(ptr)
        np.add.at(counts, pos[ok], c[ok])
        located.append((pos, ok, ptr, vals, c))
    out_ptr = np.zeros(nk + 1, dtype=np.int64)
    np.cumsum(counts, out=out_ptr[1:])
    out = np.empty(int(out_ptr[-1]), dtype=np.float64)
    fill = out_ptr[:-1].copy()
    for pos, ok, ptr, vals, c in located:
        sel = np.flatnonzero(ok & (c > 0))
        if not sel.size:
            continue
        lens = c[sel]
        dst = fill[pos[sel]]
        _partial.copy_segments(np.ascontiguousarray(vals, dtype=np.float64),
                               np.ascontiguousarray(ptr[sel]), np.ascontiguousarray(lens),
                               out, np.ascontiguousarray(dst))
        fill[pos[sel]] += lens
    return out_ptr, out


def quantiles_of(ptr: np.ndarray, values: np.ndarray, qs: Sequence[float],
                 threads: int = 1) -> np.ndarray:
    """numpy's linear-method quantiles ``qs`` of each key's values (``values[ptr[k]:ptr[k+1]]``,
    any order; reordered in place), NaN for a key without values: ``(n_keys, len(qs))``, equal
    to the bit to :func:`tagcore.kernels.group_quantiles` over the same values. Keys are
    partitioned on ``threads`` threads (:func:`numpy.partition` runs without the GIL).

    >>> quantiles_of(np.array([0, 3, 3]), np.array([3., 1., 2.]), [0.5, 0.95]).tolist()
    [[2.0, 2.9], [nan, nan]]
    """
    counts = np.diff(ptr)
    qv = np.asarray(qs, dtype=np.float64)
    lo, hi, gamma = kernels.quantile_ranks(counts, qv)
    a = np.full(lo.shape, np.nan)
    b = np.full(lo.shape, np.nan)

    def pick(k: int) -> None:
        seg = values[ptr[k]:ptr[k + 1]]
        kth = np.unique(np.concatenate([lo[k], hi[k]]))
        seg.partition(kth)
        a[k] = seg[lo[k]]
        b[k] = seg[hi[k]]

    todo = np.flatnonzero(counts > 0).tolist()
    big = [k for k in todo if counts[k] >= 1 << 16]
    if threads > 1 and len(big) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=threads) as ex:
            list(ex.map(pick, sorted(big, key=lambda k: -counts[k])))
        todo = [k for k in todo if counts[k] < 1 << 16]
    for k in todo:
        pick(k)
    out = kernels.lerp(a, b, gamma)
    out[counts == 0] = np.nan
    return out


def sketch_quantiles(sketches: Any, keys: np.ndarray, counts: np.ndarray,
                     qs: Sequence[float]) -> np.ndarray:
    """Quantiles ``qs`` of each of ``keys`` (any order) from mergeable sketches
    (:class:`~tagcore.scan.partial.LatencySketches`): a key whose sketch still holds every
    value gets the exact quantiles (:func:`quantiles_of` over those values, so the in-memory
    ones to the bit); a key in estimation mode the sketch's, within its stated rank error.
    ``counts`` (values per key, from the roll-up) must agree with the sketches.

    >>> from tagcore.scan.partial import Latencies, LatencySketches
    >>> sk = LatencySketches.of(Latencies([(np.array([0]), np.array([0, 3]), np.array([3., 1., 2.]))], {}), 100)
    >>> sketch_quantiles(sk, np.array([0, 5]), np.array([3, 0]), [0.5, 0.95]).tolist()
    [[2.0, 2.9], [nan, nan]]
    """
    keys = np.asarray(keys, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.int64)
    out = np.full((keys.size, len(qs)), np.nan)
    exact_pos, segs = [], []
    for i, key in enumerate(keys.tolist()):
        if sketches.count(key) != counts[i]:
            raise AssertionError("scan: the latencies sketched do not match the counts")  # a bug
        vals = sketches.values(key)
        if vals is None:
            out[i] = sketches.estimate(key, qs)
        elif vals.size:
            exact_pos.append(i)
            segs.append(vals)
    if exact_pos:
        ptr = np.zeros(len(segs) + 1, dtype=np.int64)
        np.cumsum([v.size for v in segs], out=ptr[1:])
        out[exact_pos] = quantiles_of(ptr, np.concatenate(segs), qs)
    return out
