"""Partials: what one chunk of requests contributes to one question, small, picklable and
mergeable in any order.

A :class:`Partial` holds

- a :class:`Summary` of the requests it covers (count, errors, exact column totals and maxima,
  first and last time, the latency sum, the unpriced count): what totals and the overflow and
  unpriced rules need;
- one :class:`Part` per group (a single group ``None``, or one per model/status/user/key with
  ``rollup(by=)``), each with its own summary and the sums of the question: per node
  (:class:`NodeSums`, full roll-ups), per slot of a set and per time bucket (:class:`SlotSums`,
  split/primary roll-ups and time series), per pair of slots (:class:`PairSums`, pivots), and the
  latencies that exact quantiles need (:class:`Latencies`), or, in a cluster's partials, their
  mergeable KLL sketches (:class:`LatencySketches`, :meth:`Partial.sketched`);
- the :class:`~tagcore.trie.TagTrie` whose node ids key its arrays, and the labels of the
  groups in the order the chunk saw them.

Node ids are those of the partial's trie. Partials of one local scan share one trie, so their
ids agree and a merge adds arrays (padding the shorter ones, as the trie only grows). Partials
built over different tries (other processes, other machines) are merged by path: the other
trie's paths are added to a copy of this one (:meth:`TagTrie.merge`) and its ids remapped.

Requests are disjoint between chunks, so every integer sum adds exactly (int64 sums wrap modulo
2**64 exactly as one pass over all rows would, which the overflow rule of
:mod:`tagcore.query._common` then detects); first/last times take min/max; the split of a
request's cost (remainder to its first hit slots in path order) is decided within the request, so
split sums add exactly too. Float sums (split shares of counts and tokens, latency sums) add in
another order than one pass over the rows, so they may differ from the in-memory ones in the last
bits.

>>> from tagcore.trie import TagTrie
>>> t = TagTrie(["a/b"])
>>> s = Summary(rows=2, errors=1)
>>> s.merge(Summary(rows=3)).rows
5
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np

from tagcore.trie import TagTrie

__all__ = ["Latencies", "LatencySketches", "NodeSums", "PairSums", "Part", "Partial",
           "SlotSums", "Summary", "SKETCH_K", "shown_nodes"]

#: the KLL parameter of :class:`LatencySketches` by default: a normalized rank error of
#: about 0.14% (99% confidence), about 40 KB a sketch once it holds more than ~2k values
SKETCH_K = 2000

_I64_MAX = int(np.iinfo(np.int64).max)
_I64_MIN = int(np.iinfo(np.int64).min)


def _remap_keys(keys: np.ndarray, remap: np.ndarray | None) -> np.ndarray:
    """Node ids through ``remap`` (-1, the untagged key, stays -1)."""
    if remap is None or keys.size == 0:
        return keys
    return np.where(keys >= 0, remap[np.maximum(keys, 0)], keys).astype(np.int64)


def _union(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted union of two unique key arrays and the positions of each in it."""
    if a.size == b.size and np.array_equal(a, b):
        pos = np.arange(a.size)
        return a, pos, pos
    keys = np.union1d(a, b)
    return keys, np.searchsorted(keys, a), np.searchsorted(keys, b)


def _empty_iacc(shape: tuple[int, ...]) -> np.ndarray:
    """Integer accumulator rows (columns of kernels.ICOLS) as the kernels start them."""
    out = np.zeros((*shape, 8), dtype=np.int64)
    out[..., 6] = _I64_MAX
    out[..., 7] = _I64_MIN
    return out


def _add_iacc(dst: np.ndarray, src: np.ndarray) -> None:
    dst[..., :6] += src[..., :6]
    np.minimum(dst[..., 6], src[..., 6], out=dst[..., 6])
    np.maximum(dst[..., 7], src[..., 7], out=dst[..., 7])


_SMALL_INTS = tuple(np.dtype(t) for t in (np.int8, np.int16, np.int32))


def _pack_col(c: np.ndarray) -> Any:
    """A column as it pickles small and comes back equal, bit for bit: a constant as
    ``(value,)``, integers in the smallest integer dtype that holds them, else itself."""
    if c.size == 0:
        return c
    bits = c.view(np.int64) if c.dtype == np.float64 else c
    if (bits == bits.flat[0]).all():
        return (c.flat[0].item(),)
    if c.dtype.kind == "i":
        lo, hi = int(c.min()), int(c.max())
        for dt in _SMALL_INTS:
            info = np.iinfo(dt)
            if info.min <= lo and hi <= info.max:
                return c.astype(dt)
    return np.ascontiguousarray(c)


def _pack(a: np.ndarray | None) -> Any:
    """An array of sums as it pickles (see :func:`_pack_col`): column by column of its last
    axis (a 1-d array is one column). Sums a question does not read hold the kernels'
    starting values only (time columns, latency sums of a cost question) and cost a few
    bytes; counts and tokens fit in 8 to 32 bits."""
    if a is None:
        return None
    if a.ndim == 1:
        return (a.shape, a.dtype.str, [_pack_col(a)])
    return (a.shape, a.dtype.str, [_pack_col(a[..., j]) for j in range(a.shape[-1])])


def _unpack(packed: Any) -> np.ndarray | None:
    if packed is None:
        return None
    shape, dtype, cols = packed
    out = np.empty(shape, dtype=np.dtype(dtype))
    if len(shape) == 1:
        c = cols[0]
        out[:] = c[0] if isinstance(c, tuple) else c
        return out
    for j, c in enumerate(cols):
        out[..., j] = c[0] if isinstance(c, tuple) else c
    return out


class Summary:
    """Facts about the requests of a partial: ``rows``, ``errors`` (status >= 400),
    ``totals`` (exact Python-int sums) and ``maxima`` of the integer columns read, ``ts_min`` /
    ``ts_max`` (None when no time was read or no row), ``lat_sum``/``lat_count`` of the known
    latencies, ``unpriced`` (requests whose cost is unknown), ``usage_unknown`` (requests
    whose tokens are unknown), ``columns``, the columns these facts cover, and ``unknown``, the
    columns the requests' sources lacked.

    >>> a = Summary(rows=1, totals={"cost": 5}, maxima={"cost": 5}, ts_min=3, ts_max=3)
    >>> b = Summary(rows=2, totals={"cost": 2**63}, maxima={"cost": 2**62}, ts_min=1, ts_max=2)
    >>> m = a.merge(b)
    >>> m.rows, m.totals["cost"] == 2**63 + 5, m.ts_min, m.ts_max
    (3, True, 1, 3)
    """

    __slots__ = ("rows", "errors", "totals", "maxima", "ts_min", "ts_max", "lat_sum",
                 "lat_count", "unpriced", "usage_unknown", "columns", "unknown")

    def __init__(self, rows: int = 0, errors: int = 0, totals: dict[str, int] | None = None,
                 maxima: dict[str, int] | None = None, ts_min: int | None = None,
                 ts_max: int | None = None, lat_sum: float = 0.0, lat_count: int = 0,
                 unpriced: int = 0, columns: frozenset[str] = frozenset(),
                 usage_unknown: int = 0, unknown: frozenset[str] = frozenset()):
        self.rows, self.errors = rows, errors
        self.totals = dict(totals or {})
        self.maxima = dict(maxima or {})
        self.ts_min, self.ts_max = ts_min, ts_max
        self.lat_sum, self.lat_count, self.unpriced = lat_sum, lat_count, unpriced
        self.usage_unknown = usage_unknown
        self.columns = frozenset(columns)
        self.unknown = frozenset(unknown)

    @classmethod
    def of_log(cls, log: Any, columns: frozenset[str],
               unknown: frozenset[str] = frozenset()) -> Summary:
        """The summary of a (chunk) log, for the native ``columns`` that were read from the
        source (the others hold placeholders and are left out); ``unknown`` the columns its
        source lacks."""
        from tagcore.query._common import exact_sum

        n = len(log)
        s = cls(rows=n, columns=columns, unknown=unknown)
        if "status" in columns:
            s.errors = int(np.count_nonzero(log.status >= 400))
        for name in ("prompt_tokens", "completion_tokens", "cost"):
            if name in columns:
                col = getattr(log, name)
                top = log._cache.get(("col_max", name))
                if top is None:
                    top = int(col.max()) if n else 0
                s.maxima[name] = int(top)
                s.totals[name] = exact_sum(col, int(top))
        if "ts" in columns and n:
            s.ts_min, s.ts_max = int(log.ts.min()), int(log.ts.max())
        if "latency_ms" in columns and n:
            lat = log.latency_ms
            known = lat[~np.isnan(lat)]
            s.lat_sum, s.lat_count = float(known.sum()), int(known.size)
        flags = log.extras.get("unpriced")
        if flags is not None and n:
            s.unpriced = int(np.count_nonzero(flags))
        flags = log.extras.get("usage_unknown")
        if flags is not None and n:
            s.usage_unknown = int(np.count_nonzero(flags))
        return s

    def merge(self, other: Summary) -> Summary:
        """The summary of both sets of requests (a new object)."""
        out = Summary(self.rows + other.rows, self.errors + other.errors,
                      columns=self.columns | other.columns,
                      usage_unknown=self.usage_unknown + other.usage_unknown,
                      unknown=self.unknown | other.unknown)
        for name in set(self.totals) | set(other.totals):
            out.totals[name] = self.totals.get(name, 0) + other.totals.get(name, 0)
        for name in set(self.maxima) | set(other.maxima):
            out.maxima[name] = max(self.maxima.get(name, 0), other.maxima.get(name, 0))
        mins = [t for t in (self.ts_min, other.ts_min) if t is not None]
        maxs = [t for t in (self.ts_max, other.ts_max) if t is not None]
        out.ts_min = min(mins) if mins else None
        out.ts_max = max(maxs) if maxs else None
        out.lat_sum = self.lat_sum + other.lat_sum
        out.lat_count = self.lat_count + other.lat_count
        out.unpriced = self.unpriced + other.unpriced
        return out

    def __repr__(self) -> str:
        return f"Summary(rows={self.rows}, errors={self.errors}, totals={self.totals})"


class NodeSums:
    """Per node of the trie (dense by id): ``total`` (n_nodes x 8, kernels.ICOLS, each request
    once per node), ``lat`` (latency sums) and ``unpriced`` (requests with an unknown cost).

    >>> a = NodeSums(np.ones((1, 8), np.int64), np.ones(1), None)
    >>> b = NodeSums(np.ones((2, 8), np.int64), np.ones(2), None)
    >>> a.merge(b, None).total[:, 0].tolist()
    [2, 1]
    """

    __slots__ = ("total", "lat", "unpriced")

    def __init__(self, total: np.ndarray, lat: np.ndarray, unpriced: np.ndarray | None):
        self.total, self.lat, self.unpriced = total, lat, unpriced

    def __len__(self) -> int:
        return int(self.total.shape[0])

    def __getstate__(self) -> tuple:
        return _pack(self.total), _pack(self.lat), _pack(self.unpriced)

    def __setstate__(self, state: tuple) -> None:
        self.total, self.lat, self.unpriced = (_unpack(x) for x in state)

    def padded(self, n: int) -> NodeSums:
        """The same sums over ``n >= len(self)`` nodes (new nodes reached no request)."""
        k = len(self)
        if k == n:
            return self
        total = _empty_iacc((n,))
        total[:k] = self.total
        lat = np.zeros(n)
        lat[:k] = self.lat
        unp = None
        if self.unpriced is not None:
            unp = np.zeros(n, dtype=np.int64)
            unp[:k] = self.unpriced
        return NodeSums(total, lat, unp)

    def remapped(self, remap: np.ndarray, n: int) -> NodeSums:
        """The sums with node ``i`` moved to ``remap[i]`` in a trie of ``n`` nodes (the trie
        may have grown since these sums were made: its newer nodes have none)."""
        remap = remap[:len(self)]
        out = NodeSums(_empty_iacc((n,)), np.zeros(n), None)
        out.total[remap] = self.total
        out.lat[remap] = self.lat
        if self.unpriced is not None:
            out.unpriced = np.zeros(n, dtype=np.int64)
            out.unpriced[remap] = self.unpriced
        return out

    def merge(self, other: NodeSums, remap: np.ndarray | None, n: int | None = None
              ) -> NodeSums:
        n = max(len(self), len(other)) if n is None else n
        a = self.padded(n)
        b = other.padded(n) if remap is None else other.remapped(remap, n)
        total = a.total.copy()
        _add_iacc(total, b.total)
        unp = None
        if a.unpriced is not None or b.unpriced is not None:
            unp = np.zeros(n, dtype=np.int64)
            for x in (a.unpriced, b.unpriced):
                if x is not None:
                    unp += x
        return NodeSums(total, a.lat + b.lat, unp)


class SlotSums:
    """Sums per (group, slot) of a set: ``keys`` are the slots' node ids, ascending, with -1
    for ``(untagged)``; ``iacc`` (groups x slots x 8, kernels.ICOLS), ``facc`` (groups x slots
    x 5: split shares and the latency sum) and ``unpriced`` (groups x slots, or None).

    >>> a = SlotSums(np.array([-1, 3]), np.zeros((1, 2, 8), np.int64), np.zeros((1, 2, 5)), None)
    >>> b = SlotSums(np.array([2]), np.ones((1, 1, 8), np.int64), np.ones((1, 1, 5)), None)
    >>> a.merge(b, None).keys.tolist()
    [-1, 2, 3]
    """

    __slots__ = ("keys", "iacc", "facc", "unpriced")

    def __init__(self, keys: np.ndarray, iacc: np.ndarray, facc: np.ndarray,
                 unpriced: np.ndarray | None):
        self.keys, self.iacc, self.facc, self.unpriced = keys, iacc, facc, unpriced

    def __getstate__(self) -> tuple:
        return (_pack(self.keys), _pack(self.iacc), _pack(self.facc),
                _pack(self.unpriced))

    def __setstate__(self, state: tuple) -> None:
        self.keys, self.iacc, self.facc, self.unpriced = (_unpack(x) for x in state)

    def merge(self, other: SlotSums, remap: np.ndarray | None) -> SlotSums:
        ob = _remap_keys(other.keys, remap)
        order = None
        if remap is not None and ob.size > 1:
            order = np.argsort(ob, kind="stable")
            ob = ob[order]
        keys, ia, ib = _union(self.keys, ob)
        g = self.iacc.shape[0]
        if keys is self.keys and order is None:
            iacc, facc = self.iacc.copy(), self.facc.copy()
        else:
            iacc = _empty_iacc((g, keys.size))
            facc = np.zeros((g, keys.size, self.facc.shape[2]))
            iacc[:, ia] = self.iacc
            facc[:, ia] = self.facc
        oi, of, ou = other.iacc, other.facc, other.unpriced
        if order is not None:
            oi, of = oi[:, order], of[:, order]
            ou = None if ou is None else ou[:, order]
        sub = iacc[:, ib]
        _add_iacc(sub, oi)
        iacc[:, ib] = sub
        facc[:, ib] += of
        unp = None
        if self.unpriced is not None or ou is not None:
            dt = (self.unpriced if self.unpriced is not None else ou).dtype  # type: ignore[union-attr]
            unp = np.zeros((g, keys.size), dtype=dt)
            if self.unpriced is not None:
                unp[:, ia] += self.unpriced
            if ou is not None:
                unp[:, ib] += ou
        return SlotSums(keys, iacc, facc, unp)

    def at(self, keys: np.ndarray) -> SlotSums:
        """The sums of ``keys`` (any order; a key with no sums gets the empty row)."""
        keys = np.asarray(keys, dtype=np.int64)
        g = self.iacc.shape[0]
        out = SlotSums(keys, _empty_iacc((g, keys.size)),
                       np.zeros((g, keys.size, self.facc.shape[2])),
                       None if self.unpriced is None else
                       np.zeros((g, keys.size), dtype=self.unpriced.dtype))
        if self.keys.size and keys.size:
            pos = np.searchsorted(self.keys, keys)
            pos_c = np.minimum(pos, self.keys.size - 1)
            ok = self.keys[pos_c] == keys
            out.iacc[:, ok] = self.iacc[:, pos_c[ok]]
            out.facc[:, ok] = self.facc[:, pos_c[ok]]
            if out.unpriced is not None and self.unpriced is not None:
                out.unpriced[:, ok] = self.unpriced[:, pos_c[ok]]
        return out


class PairSums:
    """Sums per pair of slots of two sets (a pivot): ``keys_a``/``keys_b`` (node ids,
    ascending) and ``out`` (len(keys_a) x len(keys_b), int64), plus ``unpriced``: requests
    with an unknown cost that hit a node of each set.

    >>> a = PairSums(np.array([1]), np.array([5]), np.array([[2]]), 0)
    >>> a.merge(PairSums(np.array([1, 2]), np.array([5]), np.array([[1], [4]]), 1), None).out.tolist()
    [[3], [4]]
    """

    __slots__ = ("keys_a", "keys_b", "out", "unpriced")

    def __init__(self, keys_a: np.ndarray, keys_b: np.ndarray, out: np.ndarray, unpriced: int):
        self.keys_a, self.keys_b, self.out, self.unpriced = keys_a, keys_b, out, unpriced

    def merge(self, other: PairSums, remap: np.ndarray | None) -> PairSums:
        oa, ob, oo = _remap_keys(other.keys_a, remap), _remap_keys(other.keys_b, remap), other.out
        if remap is not None:
            sa, sb = np.argsort(oa, kind="stable"), np.argsort(ob, kind="stable")
            oa, ob, oo = oa[sa], ob[sb], oo[np.ix_(sa, sb)]
        ka, ia, ja = _union(self.keys_a, oa)
        kb, ib, jb = _union(self.keys_b, ob)
        out = np.zeros((ka.size, kb.size), dtype=np.int64)
        out[np.ix_(ia, ib)] += self.out
        out[np.ix_(ja, jb)] += oo
        return PairSums(ka, kb, out, self.unpriced + other.unpriced)

    def at(self, keys_a: np.ndarray, keys_b: np.ndarray) -> np.ndarray:
        """The sums of the pairs of ``keys_a`` x ``keys_b`` (zeros where none)."""
        out = np.zeros((keys_a.size, keys_b.size), dtype=np.int64)
        if not (self.keys_a.size and self.keys_b.size and keys_a.size and keys_b.size):
            return out
        pa = np.searchsorted(self.keys_a, keys_a)
        pb = np.searchsorted(self.keys_b, keys_b)
        pa_c, pb_c = np.minimum(pa, self.keys_a.size - 1), np.minimum(pb, self.keys_b.size - 1)
        oka, okb = self.keys_a[pa_c] == keys_a, self.keys_b[pb_c] == keys_b
        out[np.ix_(oka, okb)] = self.out[np.ix_(pa_c[oka], pb_c[okb])]
        return out


class Latencies:
    """The known latencies that exact quantiles need: ``runs`` of ``(keys, ptr, values)``
    (each key's values at ``values[ptr[i]:ptr[i+1]]``; keys are node ids, -1 for
    ``(untagged)``), and, for the grand total, ``rows``: each chunk's latencies in row order,
    by chunk position. 8 bytes per (request, key shown).

    >>> a = Latencies([(np.array([0]), np.array([0, 1]), np.array([1.0]))], {})
    >>> len(a.merge(a, None).runs)
    2
    """

    __slots__ = ("runs", "rows")

    def __init__(self, runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                 rows: dict[Any, np.ndarray]):
        self.runs, self.rows = runs, rows

    def merge(self, other: Latencies, remap: np.ndarray | None) -> Latencies:
        runs = list(self.runs)
        for keys, ptr, vals in other.runs:
            if remap is not None:
                keys = _remap_keys(keys, remap)
                order = np.argsort(keys, kind="stable")
                if not np.array_equal(order, np.arange(order.size)):
                    lens = np.diff(ptr)[order]
                    starts = ptr[:-1][order]
                    idx = np.concatenate([np.arange(s, s + n) for s, n in zip(starts, lens)]
                                         ) if lens.size else np.zeros(0, dtype=np.int64)
                    vals = vals[idx.astype(np.int64)]
                    keys = keys[order]
                    ptr = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
            runs.append((keys, ptr, vals))
        rows = dict(self.rows)
        rows.update(other.rows)
        return Latencies(runs, rows)

    def nbytes(self) -> int:
        return sum(v.nbytes + p.nbytes + k.nbytes for k, p, v in self.runs) + \
            sum(v.nbytes for v in self.rows.values())


def _kll() -> Any:
    try:
        from datasketches import kll_doubles_sketch
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("quantile sketches need Apache DataSketches: pip install "
                          "'tagcore[dask]' (or: pip install datasketches)") from None
    return kll_doubles_sketch


class LatencySketches:
    """Mergeable quantile sketches of the known latencies, per key: what a cluster's tasks
    ship instead of every latency (:class:`Latencies`, 8 bytes per (request, key)). Each
    sketch is Apache DataSketches' KLL over doubles with parameter ``k``; ``sketches`` maps a
    key (a node id, -1 for ``(untagged)``, ``None`` for the grand total) to its sketch.

    A KLL sketch answers a quantile with a **rank** error: at most
    :meth:`rank_error` (``k=2000``: 0.14% of the requests, 99% confidence, for one quantile).
    While a key holds at most about ``k`` values its sketch keeps every one of them (not in
    *estimation mode*), and its quantiles are the exact ones. The error in the value follows
    from the distribution's density: for a lognormal latency of shape ``sigma`` it is about
    ``2.5 x sigma x rank error`` at p50 and ``9.7 x sigma x rank error`` at p95 (p95 of
    ``sigma <= 1.4`` within 2% at ``k=2000``; see SCALE.md for measurements).

    >>> import numpy as np
    >>> a = LatencySketches.of(Latencies([(np.array([3]), np.array([0, 2]), np.array([1., 2.]))], {}), 200)
    >>> b = LatencySketches.of(Latencies([(np.array([3]), np.array([0, 1]), np.array([4.]))], {}), 200)
    >>> m = a.merge(b, None)
    >>> m.sketches[3].n, sorted(m.values(3).tolist())
    (3, [1.0, 2.0, 4.0])
    """

    __slots__ = ("k", "sketches")

    def __init__(self, k: int = SKETCH_K, sketches: dict[Any, Any] | None = None):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 8 <= k <= 65535:
            raise ValueError(f"sketch k: expected an integer in [8, 65535], got {k!r}")
        self.k = int(k)
        self.sketches: dict[Any, Any] = dict(sketches or {})

    @classmethod
    def of(cls, lats: Latencies, k: int = SKETCH_K) -> LatencySketches:
        """The sketches of exact latencies: each run's keys, and the grand total's rows
        (key ``None``)."""
        kll = _kll()
        out = cls(k)
        acc: dict[Any, list[np.ndarray]] = {}
        for keys, ptr, vals in lats.runs:
            for i, key in enumerate(np.asarray(keys).tolist()):
                seg = vals[ptr[i]:ptr[i + 1]]
                if seg.size:
                    acc.setdefault(key, []).append(seg)
        if lats.rows:
            rows = [v for v in lats.rows.values() if v.size]
            if rows:
                acc[None] = rows
        for key, segs in acc.items():
            sk = kll(out.k)
            for seg in segs:
                sk.update(np.ascontiguousarray(seg, dtype=np.float64))
            out.sketches[key] = sk
        return out

    def rank_error(self) -> float:
        """The normalized rank error of one quantile (99% confidence) of these sketches."""
        return float(_kll().get_normalized_rank_error(self.k, False))

    def merge(self, other: LatencySketches, remap: np.ndarray | None) -> LatencySketches:
        """Both sketches per key (neither is changed), the other's node ids through
        ``remap``."""
        if other.k != self.k:
            raise ValueError(f"cannot merge quantile sketches of k={self.k} and k={other.k}")
        kll = _kll()
        out = LatencySketches(self.k, self.sketches)
        for key, sk in other.sketches.items():
            if remap is not None and key is not None and key >= 0:
                key = int(remap[key])
            mine = out.sketches.get(key)
            if mine is None:
                out.sketches[key] = sk
            else:
                both = kll.deserialize(mine.serialize())  # a copy: inputs stay as they are
                both.merge(sk)
                out.sketches[key] = both
        return out

    def count(self, key: Any) -> int:
        """The values the sketch of ``key`` has seen (0 without one)."""
        sk = self.sketches.get(key)
        return 0 if sk is None else int(sk.n)

    def values(self, key: Any) -> np.ndarray | None:
        """Every value of ``key``, when its sketch still holds them all (None in estimation
        mode): exact quantiles come from these."""
        sk = self.sketches.get(key)
        if sk is None:
            return np.zeros(0, dtype=np.float64)
        if sk.is_estimation_mode():
            return None
        return np.fromiter((x for x, _ in sk), dtype=np.float64, count=int(sk.num_retained))

    def estimate(self, key: Any, qs: Any) -> np.ndarray:
        """The sketch's quantiles ``qs`` of ``key`` (NaN without values)."""
        sk = self.sketches.get(key)
        if sk is None or sk.is_empty():
            return np.full(len(qs), np.nan)
        return np.array([sk.get_quantile(float(q), True) for q in qs], dtype=np.float64)

    def nbytes(self) -> int:
        return sum(len(sk.serialize()) for sk in self.sketches.values())

    def __getstate__(self) -> tuple[int, dict[Any, bytes]]:
        return self.k, {key: sk.serialize() for key, sk in self.sketches.items()}

    def __setstate__(self, state: tuple[int, dict[Any, bytes]]) -> None:
        kll = _kll()
        self.k = state[0]
        self.sketches = {key: kll.deserialize(b) for key, b in state[1].items()}


class Part:
    """The sums of one group of requests: its :class:`Summary` and whichever of
    :class:`NodeSums`, :class:`SlotSums`, :class:`PairSums` and :class:`Latencies` the
    question needs, and ``counts``: named integers that add (e.g. the unpriced requests a
    time series shows)."""

    __slots__ = ("summary", "nodes", "slots", "pairs", "lats", "counts")

    def __init__(self, summary: Summary, nodes: NodeSums | None = None,
                 slots: SlotSums | None = None, pairs: PairSums | None = None,
                 lats: Latencies | LatencySketches | None = None, counts: dict[str, int] | None = None):
        self.summary, self.nodes, self.slots, self.pairs, self.lats = (summary, nodes, slots,
                                                                       pairs, lats)
        self.counts = dict(counts or {})

    def merge(self, other: Part, remap: np.ndarray | None, n_nodes: int) -> Part:
        def both(a, b, fn):
            if a is None:
                return b if remap is None or b is None else fn(_zero_like(b), b)
            if b is None:
                return a
            return fn(a, b)

        nodes = both(self.nodes, other.nodes, lambda a, b: a.merge(b, remap, n_nodes))
        slots = both(self.slots, other.slots, lambda a, b: a.merge(b, remap))
        pairs = both(self.pairs, other.pairs, lambda a, b: a.merge(b, remap))
        lats = both(self.lats, other.lats, lambda a, b: a.merge(b, remap))
        counts = dict(self.counts)
        for k, v in other.counts.items():
            counts[k] = counts.get(k, 0) + v
        return Part(self.summary.merge(other.summary), nodes, slots, pairs, lats, counts)


def _zero_like(x: Any) -> Any:
    """An empty component of the same kind as ``x`` (what a merge with nothing starts from)."""
    if isinstance(x, NodeSums):
        return NodeSums(_empty_iacc((0,)), np.zeros(0), None)
    if isinstance(x, SlotSums):
        g, _, f = x.facc.shape
        return SlotSums(np.zeros(0, np.int64), _empty_iacc((g, 0)), np.zeros((g, 0, f)), None)
    if isinstance(x, PairSums):
        return PairSums(np.zeros(0, np.int64), np.zeros(0, np.int64),
                        np.zeros((0, 0), np.int64), 0)
    if isinstance(x, LatencySketches):
        return LatencySketches(x.k)
    return Latencies([], {})


def _empty_rows(ns: NodeSums) -> np.ndarray:
    """Which rows of ``ns`` hold nothing: no request, no sum, no latency, no unpriced
    request (the first/last time columns of such a row hold the kernels' starting values,
    or zeros when the question reads no time)."""
    t = ns.total
    empty = ~t[:, :6].any(axis=1) & (ns.lat == 0)
    if ns.unpriced is not None:
        empty &= ns.unpriced == 0
    return empty


def _part_named(p: Part) -> list[np.ndarray]:
    """The node ids (maybe -1 and repeats) the sums of ``p`` name."""
    out = []
    if p.nodes is not None and len(p.nodes):
        out.append(np.flatnonzero(~_empty_rows(p.nodes)).astype(np.int64))
    if p.slots is not None:
        out.append(np.asarray(p.slots.keys, dtype=np.int64))
    if p.pairs is not None:
        out += [np.asarray(p.pairs.keys_a, dtype=np.int64),
                np.asarray(p.pairs.keys_b, dtype=np.int64)]
    if isinstance(p.lats, Latencies):  # a key without a latency names nothing
        out += [np.asarray(k, dtype=np.int64)[np.diff(ptr) > 0] for k, ptr, _ in p.lats.runs]
    elif isinstance(p.lats, LatencySketches):
        out.append(np.array([k for k in p.lats.sketches if k is not None], dtype=np.int64))
    return out


def _part_remapped(p: Part, remap: np.ndarray, kept: np.ndarray) -> Part:
    """``p`` with node ``i`` renamed ``remap[i]`` (increasing; -1: dropped, never named),
    ``kept`` the old ids of the new nodes, ascending."""
    nodes = p.nodes
    if nodes is not None:
        sel = kept[:np.searchsorted(kept, len(nodes))]  # newer nodes than the sums: none
        nodes = NodeSums(nodes.total[sel], nodes.lat[sel],
                         None if nodes.unpriced is None else nodes.unpriced[sel])
    slots = p.slots
    if slots is not None:
        slots = SlotSums(_remap_keys(slots.keys, remap), slots.iacc, slots.facc,
                         slots.unpriced)
    pairs = p.pairs
    if pairs is not None:
        pairs = PairSums(_remap_keys(pairs.keys_a, remap), _remap_keys(pairs.keys_b, remap),
                         pairs.out, pairs.unpriced)
    lats = p.lats
    if isinstance(lats, Latencies):
        runs = []
        for k, ptr, v in lats.runs:
            k = np.asarray(k, dtype=np.int64)
            some = np.diff(ptr) > 0
            if not some.all():  # keys without a latency (maybe left out of the trie)
                k = k[some]
                ptr = np.concatenate([ptr[:1], ptr[0] + np.cumsum(np.diff(ptr)[some])]
                                     ).astype(ptr.dtype)
            runs.append((_remap_keys(k, remap), ptr, v))
        lats = Latencies(runs, lats.rows)
    elif isinstance(lats, LatencySketches):
        lats = LatencySketches(lats.k, {
            (int(remap[k]) if k is not None and k >= 0 else k): sk
            for k, sk in lats.sketches.items()})
    return Part(p.summary, nodes, slots, pairs, lats, p.counts)


def shown_nodes(trie: TagTrie, anchors: Any, vocab: bool) -> np.ndarray | None:
    """The ids of ``trie`` an answer may show, or resolve by path, without any sums: the
    nodes the question's ``anchors`` see (see :data:`tagcore.scan._plans.Anchors`: the
    anchors' own paths, and the nodes under each down to its depth), what
    :meth:`Partial.compact` must keep besides the named nodes. ``None``: every node (a
    question that lists every node of the whole trie).

    >>> t = TagTrie(["a/b/c", "x/y"])
    >>> shown_nodes(t, (("a", 2),), False).tolist(), shown_nodes(t, (("", 1),), True).tolist()
    ([0, 1], [0, 3])
    >>> shown_nodes(t, None, True), shown_nodes(t, None, False).tolist()
    (None, [])
    """
    if anchors is None:
        return None if vocab else np.zeros(0, dtype=np.int64)
    n = len(trie)
    if n == 0 or not anchors:
        return np.zeros(0, dtype=np.int64)
    depths = trie.depths.astype(np.int64)
    order, rank, size = trie._preorder()
    mark = np.zeros(n, dtype=bool)
    for prefix, depth in anchors:
        if prefix == "":
            sub = np.arange(n)
        else:
            node = trie.get(prefix)
            if node < 0:
                continue
            sub = order[rank[node]:rank[node] + size[node]].astype(np.int64)
        if depth is not None:
            sub = sub[depths[sub] <= depth]
        mark[sub] = True
    return np.flatnonzero(mark)


def _prefix(a: TagTrie, b: TagTrie) -> bool:
    """Whether ``a``'s ids are ``b``'s (``a`` is ``b`` before it grew)."""
    return len(a) <= len(b) and a.paths == b.paths[:len(a)]


class Partial:
    """What some chunks of a scan contribute to one question (see the module doc).

    ``question`` identifies the question (partials of different questions refuse to merge),
    ``trie`` keys the node ids, ``summary`` covers all the requests, ``parts`` maps a group
    label (``None`` without ``by=``) to its :class:`Part`, and ``labels`` lists, per chunk
    position, the group labels in the order the chunk's dictionaries gave them.

    >>> from tagcore.trie import TagTrie
    >>> t = TagTrie(["x"])
    >>> a = Partial(("q",), t, Summary(rows=1), {None: Part(Summary(rows=1))})
    >>> b = Partial(("q",), TagTrie(["y"]), Summary(rows=2), {None: Part(Summary(rows=2))})
    >>> m = a.merge(b)
    >>> m.summary.rows, list(m.trie)
    (3, ['x', 'y'])
    """

    __slots__ = ("question", "trie", "summary", "parts", "labels", "chunks")

    def __init__(self, question: Hashable, trie: TagTrie, summary: Summary,
                 parts: dict[Any, Part], labels: dict[Any, tuple] | None = None,
                 chunks: int = 1):
        self.question, self.trie, self.summary, self.parts = question, trie, summary, parts
        self.labels = dict(labels or {})
        self.chunks = chunks

    def merge(self, other: Partial) -> Partial:
        """Both partials as one (neither is changed): ids through the paths when the tries
        differ."""
        if other.question != self.question:
            raise ValueError(f"cannot merge partials of different questions: "
                             f"{self.question!r} and {other.question!r}")
        remap = None
        trie = self.trie
        if other.trie is not self.trie:
            if _prefix(other.trie, self.trie):
                pass  # the same ids (an earlier state of a grown trie)
            elif _prefix(self.trie, other.trie):
                trie = other.trie
            else:
                trie = self.trie.copy()
                remap = trie.merge(other.trie).astype(np.int64)
        n = len(trie)
        parts = dict(self.parts)
        for label, p in other.parts.items():
            mine = parts.get(label)
            if mine is None:
                mine = Part(Summary())
            parts[label] = mine.merge(p, remap, n)
        labels = dict(self.labels)
        labels.update(other.labels)
        return Partial(self.question, trie, self.summary.merge(other.summary), parts, labels,
                       self.chunks + other.chunks)

    def named(self) -> np.ndarray:
        """The node ids this partial's sums name (ascending): nodes with any sum in a
        :class:`NodeSums` (a node no request reached holds only the empty row), and every key
        of a :class:`SlotSums`, :class:`PairSums`, :class:`Latencies` run or sketch."""
        got = [np.zeros(0, dtype=np.int64)]
        for p in self.parts.values():
            got.extend(_part_named(p))
        ids = np.unique(np.concatenate(got))
        return ids[ids >= 0]

    def compact(self, keep: np.ndarray | None = None) -> Partial:
        """This partial over a trie of only the paths it names (:meth:`named`), the nodes
        ``keep`` (ids of this trie: nodes an answer lists even without requests) and their
        ancestors, every node id remapped (a new partial; this one is not changed). The ids
        keep their relative order, so sorted keys stay sorted, and paths are what a merge
        goes by: merging compacted partials gives the answer of merging the originals. What a
        cluster's task ships (the worker's trie also holds the paths of other questions)."""
        ids = self.named()
        if keep is not None and keep.size:
            ids = np.union1d(ids, np.asarray(keep, dtype=np.int64))
        if ids.size == len(self.trie) or len(self.trie) == 0:
            return self  # every node named: nothing to drop
        trie, remap = self.trie.subset(ids)
        if len(trie) == len(self.trie):
            return self
        kept = np.flatnonzero(remap >= 0)
        parts = {label: _part_remapped(p, remap, kept) for label, p in self.parts.items()}
        return Partial(self.question, trie, self.summary, parts, self.labels, self.chunks)

    def sketched(self, k: int = SKETCH_K) -> Partial:
        """This partial with every group's exact latencies turned into quantile sketches
        (:class:`LatencySketches`; a new partial, this one is not changed): what a cluster's
        task ships for a quantile question."""
        parts = {}
        for label, p in self.parts.items():
            lats = p.lats
            if isinstance(lats, Latencies):
                lats = LatencySketches.of(lats, k)
            parts[label] = Part(p.summary, p.nodes, p.slots, p.pairs, lats, p.counts)
        return Partial(self.question, self.trie, self.summary, parts, self.labels, self.chunks)

    def nbytes(self) -> int:
        """The bytes of the partial's arrays (its trie and small objects left out)."""
        total = 0
        for p in self.parts.values():
            for comp in (p.nodes, p.slots, p.pairs):
                if comp is not None:
                    total += sum(getattr(comp, s).nbytes for s in comp.__slots__
                                 if isinstance(getattr(comp, s), np.ndarray))
            if p.lats is not None:
                total += p.lats.nbytes()
        return total

    def __repr__(self) -> str:
        return (f"<Partial of {self.question[0] if isinstance(self.question, tuple) else self.question}: "
                f"{self.summary.rows} requests from {self.chunks} chunk(s), "
                f"{len(self.parts)} group(s), {self.nbytes():,} bytes>")
