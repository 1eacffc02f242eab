"""The questions of a scan. A plan names the columns it reads (projection), turns one chunk
log into a :class:`~tagcore.scan.partial.Partial` with the same kernels as the in-memory path,
and builds the answer once from the merged partial with the in-memory frame builders
(:mod:`tagcore.query`), so that answers equal the in-memory ones by construction.

The frame builders read a few facts of "the log": its length, its trie, the maxima and exact
totals of its summed columns (for the overflow rule) and, only on the error paths, whole columns
(the row of the largest value a :class:`~tagcore.log.SumOverflowError` names, the times a
:class:`~tagcore.query.BucketLimitError` names). :class:`View` stands for that log: the facts
come from the merged summary, and a whole column, when one is asked for, from one more pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tagcore import kernels
from tagcore.query import _common as C
from tagcore.query.pivot import pair_values
from tagcore.query.rollup import _group_column, _marked, _slot_rows
from tagcore.scan._pairs import gather, latency_pairs, quantiles_of, sketch_quantiles
from tagcore.scan.partial import (
    Latencies,
    LatencySketches,
    NodeSums,
    PairSums,
    Part,
    Partial,
    SlotSums,
    Summary,
    _empty_iacc,
)
from tagcore.tags import TagError, normalize_tag
from tagcore.trie import TagTrie

_I64_MAX = int(np.iinfo(np.int64).max)


def _log_mod():
    from tagcore import log as _log

    return _log


class Ctx:
    """What a plan's chunk step may use: the shared ``trie`` and its ``lock`` (hold it to read
    the trie: other chunks may grow it), the chunk's ``order``, the native ``columns`` read
    from the source, ``threads`` for the kernels and ``unknown``, the columns the chunk's
    source lacks."""

    __slots__ = ("trie", "lock", "order", "columns", "threads", "unknown")

    def __init__(self, trie: TagTrie, lock: Any, order: Any, columns: frozenset[str],
                 threads: int = 1, unknown: frozenset[str] = frozenset()):
        self.trie, self.lock, self.order, self.columns, self.threads = (trie, lock, order,
                                                                        columns, threads)
        self.unknown = unknown


class _TrieOnly:
    """A log as :func:`tagcore.query._common._set_nodes` and ``_node_slots`` read it: its trie
    (and a length that is not 0)."""

    __slots__ = ("trie",)

    def __init__(self, trie: TagTrie):
        self.trie = trie

    def __len__(self) -> int:
        return 1


class View:
    """The log a scan's question is about, as the in-memory frame builders read it (see the
    module doc): ``trie``, ``len()``, ``unknown``, the cached column maxima and totals of
    ``summary``, and
    ``ts``/``prompt_tokens``/``completion_tokens``/``cost`` fetched by ``fetch(name)`` (one
    more pass) when an error path asks for them."""

    __slots__ = ("trie", "_n", "_cache", "extras", "_fetch", "unknown")

    def __init__(self, trie: TagTrie, summary: Summary,
                 fetch: Callable[[str], np.ndarray] | None, prefill: bool = True,
                 unknown: frozenset[str] = frozenset()):
        self.trie = trie
        self.unknown = frozenset(unknown) | summary.unknown
        self._n = summary.rows
        self.extras: dict[str, Any] = {}
        self._cache: dict[Any, Any] = {}
        if prefill:
            for c, v in summary.maxima.items():
                self._cache[("col_max", c)] = v
            for c, v in summary.totals.items():
                self._cache[("col_total", c)] = v
        if summary.rows == 0:  # no request: nothing to read
            for c in ("prompt_tokens", "completion_tokens", "cost"):
                self._cache[("col_max", c)] = self._cache[("col_total", c)] = 0
        self._fetch = fetch

    def __len__(self) -> int:
        return self._n

    def _col(self, name: str) -> np.ndarray:
        key = ("column", name)
        got = self._cache.get(key)
        if got is None:
            if self._fetch is None:
                raise RuntimeError(f"the scan cannot read column {name!r} again")
            got = self._cache[key] = self._fetch(name)
        return got

    @property
    def ts(self) -> np.ndarray:
        return self._col("ts")

    @property
    def prompt_tokens(self) -> np.ndarray:
        return self._col("prompt_tokens")

    @property
    def completion_tokens(self) -> np.ndarray:
        return self._col("completion_tokens")

    @property
    def cost(self) -> np.ndarray:
        return self._col("cost")


class TimesView:
    """A log as the bucketing of :mod:`tagcore.query.timeseries` reads it: ``ts`` and its
    length."""

    __slots__ = ("ts",)

    def __init__(self, ts: np.ndarray):
        self.ts = ts

    def __len__(self) -> int:
        return int(self.ts.shape[0])


ViewOf = Callable[..., View]


def norm_path(path: str | None, what: str) -> str | None:
    """``path`` normalized as :func:`tagcore.query._common._node` reads it (same errors)."""
    if path is None:
        return None
    if not isinstance(path, str):
        raise TypeError(f"{what}: expected a tag path, got {path!r}")
    try:
        return normalize_tag(path)
    except TagError as exc:
        raise ValueError(f"{what}: {exc}") from None


def _chunk_set(trie: TagTrie, under: str | None, level: int | None, attribution: str
               ) -> np.ndarray:
    """The nodes of a set in a chunk's trie, in path order (none while ``under`` is unknown)."""
    if under is not None and trie.get(under) < 0:
        return np.zeros(0, dtype=np.int32)
    return C._set_nodes(_TrieOnly(trie), under, level, attribution)  # type: ignore[arg-type]


def _chunk_select(trie: TagTrie, under: str | None, level: int | None) -> np.ndarray:
    """The nodes ``(under, level)`` selects in a chunk's trie, ascending."""
    if under is not None and trie.get(under) < 0:
        return np.zeros(0, dtype=np.int32)
    return C._select_nodes(_TrieOnly(trie), under, level)  # type: ignore[arg-type]


def _flags(log: Any) -> np.ndarray | None:
    """The chunk's rows whose cost is unknown, or None when it has none."""
    flags = log.extras.get("unpriced")
    if flags is None or not len(log):
        return None
    mask = flags != 0
    return mask if mask.any() else None


def _slot_sums(nodes: np.ndarray, iacc: np.ndarray, facc: np.ndarray,
               unpriced: np.ndarray | None) -> SlotSums:
    """Kernel output over slots (``nodes`` in path order, then ``(untagged)``) as SlotSums
    keyed by node id (-1 untagged), ascending."""
    keys = np.concatenate([nodes.astype(np.int64), np.array([-1], dtype=np.int64)])
    order = np.argsort(keys, kind="stable")
    return SlotSums(keys[order], np.ascontiguousarray(iacc[:, order]),
                    np.ascontiguousarray(facc[:, order]),
                    None if unpriced is None else np.ascontiguousarray(unpriced[:, order]))


def _quantiles(lats: Latencies | LatencySketches | None, keys: np.ndarray,
               counts: np.ndarray, qv: Sequence[float]) -> np.ndarray:
    """Exact quantiles per key (any order) from the kept latencies (from sketches: see
    :func:`~tagcore.scan._pairs.sketch_quantiles`); counts must agree."""
    keys = np.asarray(keys, dtype=np.int64)
    if isinstance(lats, LatencySketches):
        return sketch_quantiles(lats, keys, counts, qv)
    order = np.argsort(keys, kind="stable")
    ptr, vals = gather(lats.runs if lats is not None else [], keys[order])
    got = np.diff(ptr)
    if not np.array_equal(got, np.asarray(counts, dtype=np.int64)[order]):
        raise AssertionError("scan: the latencies kept do not match the counts")  # a bug
    from tagcore._threads import get_threads

    q = quantiles_of(ptr, vals, qv, threads=get_threads())
    out = np.empty_like(q)
    out[order] = q
    return out


# =============================================================================== plans


class Plan:
    """A question over chunks (see the module doc)."""

    #: native columns the question reads
    need: frozenset[str] = frozenset()
    #: a time window (exclusive low, inclusive high ns) outside which rows do not matter
    window: tuple[int, int] | None = None
    #: the answer lists every node of a set, so pruned pieces' tags must be interned too
    vocab: bool = False
    #: the part of the trie the answer can see (see :data:`Anchors`); None: all of it
    anchors: Anchors = None

    #: the latencies of this question's partials may be turned into mergeable sketches
    #: (:meth:`Partial.sketched`): a cluster's tasks do, a local scan never does
    sketchable: bool = False

    def question(self) -> tuple:
        """What identifies this question's partials: fixed at the first call, and kept when
        the plan is pickled to another process (whose partials then merge with this one's)."""
        got = self.__dict__.get("_question")
        if got is None:
            import os

            got = self._question = (type(self).__name__, id(self), os.getpid())
        return got

    def chunk(self, log: Any, ctx: Ctx) -> Partial:
        raise NotImplementedError

    def finish(self, p: Partial, view_of: ViewOf) -> Any:
        raise NotImplementedError

    def row_mask(self, log: Any, ctx: Ctx) -> np.ndarray | None:
        """Rows of a chunk (after the filters) that the question covers; None: all."""
        return None

    def forget(self, order: tuple) -> None:
        """Drop what the chunks of the piece at ``order`` left in the plan (the piece is
        decoded again: :class:`tagcore.scan._source.RestartPiece`); a plan that keeps
        nothing but its partials has nothing to drop."""


def _needs(metrics: Sequence[str]) -> set[str]:
    need: set[str] = set()
    for m in metrics:
        if m == "errors":
            need.add("status")
        elif m in C._SUMMED:
            need.update(C._SUMMED[m])
        elif m.startswith("latency"):
            need.add("latency_ms")
        elif m in ("first_seen", "last_seen"):
            need.add("ts")
    return need


def _depth(path: str | None) -> int:
    return 0 if path is None else path.count("/") + 1


#: The part of the trie an answer can see: ``(prefix, depth)`` pairs. A tag under ``prefix``
#: (or equal to it; ``""`` is every tag) counts as its ancestor at ``depth`` (itself when not
#: deeper; None: itself), the deepest cut its anchors allow; a tag under no anchor is left
#: out. The answer is the same (each node the answer reads keeps the requests that reach it),
#: and a question about a few nodes interns far fewer distinct tags. ``()``: no tag at all;
#: None: every tag as it is. See :class:`tagcore.scan._source._TagIndex`.
Anchors = tuple[tuple[str, int | None], ...] | None


def set_anchors(under: str | None, level: int | None) -> Anchors:
    """What a question about the nodes ``(under, level)`` reads: the nodes at ``level`` (or
    all depths) under ``under``, and ``under`` itself, which must be known."""
    if under is None:
        return None if level is None else (("", level),)
    return ((under, None if level is None else max(level, _depth(under))),)


def filter_anchors(f: Any) -> Anchors:
    """What a tag filter reads: each tag leaf (an exact one also tells its descendants apart);
    globs read every tag."""
    from tagcore.filters import And, Everything, Glob, Not, Nothing, Or, Tag

    if isinstance(f, Tag):
        return ((f.path, _depth(f.path) + (1 if f.exact else 0)),)
    if isinstance(f, Glob):
        return None
    if isinstance(f, (Everything, Nothing)):
        return ()
    if isinstance(f, Not):
        return filter_anchors(f.item)
    if isinstance(f, (And, Or)):
        return union(filter_anchors(it) for it in f.items)
    return None


def union(parts: Any) -> Anchors:
    """All the anchors of some parts (None when one reads every tag)."""
    out: list[tuple[str, int | None]] = []
    for a in parts:
        if a is None:
            return None
        out.extend(x for x in a if x not in out)
    return tuple(sorted(out, key=lambda x: (x[0], -1 if x[1] is None else x[1])))


class BoundsPlan(Plan):
    """How many requests pass the filters, and their first and last time."""

    need = frozenset({"ts"})
    anchors: Anchors = ()

    def chunk(self, log: Any, ctx: Ctx) -> Partial:
        s = Summary.of_log(log, frozenset({"ts"}), ctx.unknown)
        return Partial(self.question(), ctx.trie, s, {})

    def finish(self, p: Partial, view_of: ViewOf
               ) -> tuple[int, int | None, int | None, int]:
        s = p.summary
        return s.rows, s.ts_min, s.ts_max, s.unpriced


class ColumnPlan(Plan):
    """One column of the requests, in row order (the error paths' full column)."""

    def __init__(self, name: str, mask: Callable[[Any, Ctx], np.ndarray | None] | None = None,
                 anchors: Anchors = ()):
        self.name = name
        self.need = frozenset({name})
        self._mask = mask
        self.anchors = anchors

    def row_mask(self, log: Any, ctx: Ctx) -> np.ndarray | None:
        return None if self._mask is None else self._mask(log, ctx)

    def chunk(self, log: Any, ctx: Ctx) -> Partial:
        col = np.asarray(getattr(log, self.name))
        lats = Latencies([], {ctx.order: col.copy()})
        return Partial(self.question(), ctx.trie, Summary(rows=len(log)), {None: Part(
            Summary(rows=len(log)), lats=lats)})

    def finish(self, p: Partial, view_of: ViewOf) -> np.ndarray:
        part = p.parts.get(None)
        rows = {} if part is None or part.lats is None else part.lats.rows
        dt = np.float64 if self.name == "latency_ms" else np.int64
        if not rows:
            return np.zeros(0, dtype=dt)
        return np.concatenate([rows[k] for k in sorted(rows)])


class CollectPlan(Plan):
    """The requests themselves: every column, each chunk's log kept (``collect()``)."""

    need = frozenset()
    vocab = True

    def __init__(self):
        self.logs: dict[Any, Any] = {}

    def chunk(self, log: Any, ctx: Ctx) -> Partial:
        self.logs[ctx.order] = log
        return Partial(self.question(), ctx.trie, Summary(rows=len(log)), {})

    def forget(self, order: tuple) -> None:
        for k in [k for k in list(self.logs) if k[:len(order)] == order]:
            del self.logs[k]


# ------------------------------------------------------------------------------- totals


class TotalsPlan(Plan):
    """:func:`tagcore.query.totals` of the requests."""

    def __init__(self, metrics: Sequence[str] | None, unknown: frozenset[str] | None):
        L = _log_mod()
        self.asked = metrics
        self.metrics = [m for m in L._check_metrics(metrics, unknown or frozenset())
                        if m != "share"]
        self.qnames = [m for m in self.metrics if m in L._QUANTILES]
        self.need = frozenset(_needs(self.metrics))
        self.anchors = ()
        self.sketchable = bool(self.qnames)

    def chunk(self, log: Any, ctx: Ctx) -> Partial:
        s = Summary.of_log(log, ctx.columns, ctx.unknown)
        lats = None
        if self.qnames:
            lat = log.latency_ms
            lats = Latencies([], {ctx.order: lat[~np.isnan(lat)]})
        return Partial(self.question(), ctx.trie, s, {None: Part(s, lats=lats)})

    def finish(self, p: Partial, view_of: ViewOf) -> pd.Series:
        part = p.parts.get(None)
        view = view_of(p.summary)
        metrics = [m for m in _log_mod()._check_metrics(self.asked, view.unknown)
                   if m != "share"]
        lats = None if part is None else part.lats
        if lats is None and self.qnames:  # no chunk had a request
            lats = Latencies([], {})
        return totals_series(metrics, p.summary, view, lats)


def exact_total(view: View, metric: str) -> int:
    """The exact total of a summed metric (a Python int, beyond int64 too)."""
    total = 0
    for c in C._SUMMED[metric]:
        total += int(C.col_total(view, c))  # type: ignore[arg-type]
    return total


def totals_series(metrics: Sequence[str], s: Summary, view: View,
                  lats: Latencies | LatencySketches | None) -> pd.Series:
    """The series :func:`tagcore.query.totals` returns, from a summary (and, for quantiles,
    every known latency in row order, or their sketch)."""
    L = _log_mod()
    n = s.rows
    allv = None
    sketch = None
    if isinstance(lats, LatencySketches):
        allv = lats.values(None)
        if allv is None:  # estimation mode: the sketch's quantiles
            sketch = lats
        if lats.count(None) != s.lat_count:
            raise AssertionError("scan: the latencies sketched do not match the count")  # a bug
    elif lats is not None:
        rows = lats.rows
        allv = (np.concatenate([rows[k] for k in sorted(rows)]) if rows
                else np.zeros(0, dtype=np.float64))
    out: dict[str, Any] = {}
    for m in metrics:
        if m == "requests":
            out[m] = n
        elif m == "errors":
            out[m] = s.errors
        elif m in C._SUMMED:
            out[m] = exact_total(view, m)
            if out[m] > _I64_MAX:
                raise C.overflow_error(view, m, out[m], "all rows")  # type: ignore[arg-type]
            if m == "cost":
                out[m] /= C.NANOS
        elif m == "latency_mean":
            if allv is not None and not isinstance(lats, LatencySketches):
                out[m] = float(allv.mean()) if allv.size else float("nan")
            else:
                out[m] = s.lat_sum / s.lat_count if s.lat_count else float("nan")
        elif m in L._QUANTILES and sketch is not None:
            out[m] = float(sketch.estimate(None, [L._QUANTILES[m]])[0])
        elif m in L._QUANTILES:
            assert allv is not None
            out[m] = float(np.quantile(allv, L._QUANTILES[m])) if allv.size else float("nan")
        elif m == "first_seen":
            out[m] = pd.Timestamp(s.ts_min, unit="ns", tz="UTC") if n and s.ts_min is not None \
                else pd.NaT
        elif m == "last_seen":
            out[m] = pd.Timestamp(s.ts_max, unit="ns", tz="UTC") if n and s.ts_max is not None \
                else pd.NaT
    if s.unpriced:
        out[C.UNPRICED] = s.unpriced
    if s.usage_unknown and not {"prompt_tokens", "completion_tokens"} <= view.unknown:
        out["usage_unknown"] = s.usage_unknown
    ser = pd.Series(out, dtype=object, name="total")
    kinds = {type(v) for v in out.values()}
    # ints stay Python ints next to floats (a float64 Series would round nanos past 2**53)
    return ser if int in kinds and kinds - {int} else ser.infer_objects()


# ------------------------------------------------------------------------------- rollup


class RollupPlan(Plan):
    """:func:`tagcore.query.rollup`: full, split or primary attribution, ``by`` a column."""

    def __init__(self, under: str | None, level: int | None, attribution: str,
                 by: str | None, sort: str, metrics: Sequence[str] | None,
                 extras: Sequence[str] = (), unknown: frozenset[str] | None = frozenset()):
        L = _log_mod()
        if attribution not in C._ATTRIBUTIONS:
            raise ValueError(f"attribution: expected one of {C._ATTRIBUTIONS}, "
                             f"got {attribution!r}")
        self.asked = metrics
        self.metrics = tuple(L._check_metrics(metrics, unknown or frozenset()))
        if by is not None:
            L.check_known(unknown or frozenset(), [by], "by")
        if by is not None and by not in ("model", "status") and \
                not (by in extras and by in L.STR_EXTRAS):
            raise ValueError(f"by: expected 'model', 'status' or a string column "
                             f"{sorted(extras)}, got {by!r}")
        C._check_level(level)
        self.under, self.level, self.attribution, self.by, self.sort = (
            under, level, attribution, by, sort)
        self.under_norm = norm_path(under, "under")
        if attribution != "full" and under is None and level is None:
            C._set_nodes(_TrieOnly(TagTrie()), None, None, attribution)  # type: ignore[arg-type]
        self.want_lat, self.want_time, self.qnames = C._wants(self.metrics)
        self.sketchable = bool(self.qnames)
        need = _needs(self.metrics)
        if sort == "cost":
            need.add("cost")
        if by is not None:
            need.add(by)
        self.need = frozenset(need)
        if attribution == "full":
            self.anchors = set_anchors(self.under_norm, level)
        else:
            lvl = level if level is not None else _depth(self.under_norm) + 1
            self.anchors = set_anchors(self.under_norm, lvl)

    # ---------------------------------------------------------------- chunk

    def chunk(self, log: Any, ctx: Ctx) -> Partial:
        s = Summary.of_log(log, ctx.columns, ctx.unknown)
        labels = None
        if self.by is None:
            parts = {None: self._part(log, ctx, s)}
        else:
            codes, labs = _group_column(log, self.by)
            parts = {}
            if len(log):
                present = np.bincount(codes, minlength=len(labs))
                for g, lab in enumerate(labs):
                    if present[g]:
                        sub = log[codes == g]
                        parts[lab] = self._part(sub, ctx, Summary.of_log(sub, ctx.columns, ctx.unknown))
            labels = {ctx.order: tuple(labs)}
        return Partial(self.question(), ctx.trie, s, parts, labels)

    def _part(self, log: Any, ctx: Ctx, s: Summary) -> Part:
        if len(log) == 0:
            return Part(s)
        if self.attribution == "full":
            return self._part_full(log, ctx, s)
        return self._part_set(log, ctx, s)

    def _part_full(self, log: Any, ctx: Ctx, s: Summary) -> Part:
        # the unpriced rows are sliced before the trie's arrays are taken: a slice checks its
        # ids against the trie as it is then, and other threads may grow the trie meanwhile
        flags = _flags(log)
        u = log[flags] if flags is not None else None
        with ctx.lock:
            trie = ctx.trie
            tree = (trie.roots, trie.depths, trie.preorder)
            parents = trie.parents
            sel = _chunk_select(trie, self.under_norm, self.level) if self.qnames else None
        _, total, _, lat_total = kernels.rollup_nodes(
            parents, log.tag_offsets, log.tag_ids, log.status, log.prompt_tokens,
            log.completion_tokens, log.cost, log.latency_ms, log.ts, tree=tree,
            want_latency=self.want_lat, want_time=self.want_time, trusted=log,
            threads=ctx.threads)
        unp = None
        if u is not None:
            unp = np.ascontiguousarray(kernels.rollup_nodes(
                parents, u.tag_offsets, u.tag_ids, u.status, u.prompt_tokens,
                u.completion_tokens, u.cost, u.latency_ms, u.ts, tree=tree,
                want_latency=False, want_time=False, trusted=u, threads=ctx.threads)[1][:, 0])
        lats = None
        if sel is not None and sel.size:
            if self.level is not None:
                # nodes of one depth are disjoint subtrees: a tag's key is its ancestor's at
                # that depth, found without walking up
                with ctx.lock:
                    kon = C._node_slots(_TrieOnly(ctx.trie), sel)  # type: ignore[arg-type]
                kon = np.ascontiguousarray(kon[:parents.size])
                walk = None
            else:
                kon = np.full(parents.size, -1, dtype=np.int32)
                kon[sel] = np.arange(sel.size, dtype=np.int32)
                walk = parents
            ptr, vals = latency_pairs(log.tag_offsets, log.tag_ids, log.latency_ms, kon,
                                      int(sel.size), parents=walk, counts=total[sel, 5],
                                      trusted=log)
            lats = Latencies([(sel.astype(np.int64), ptr, vals)], {})
        return Part(s, nodes=NodeSums(total, lat_total, unp), lats=lats)

    def _part_set(self, log: Any, ctx: Ctx, s: Summary) -> Part:
        split = self.attribution == "split"
        flags = _flags(log)  # sliced before the trie's arrays are taken (see _part_full)
        u = log[flags] if flags is not None else None
        with ctx.lock:
            nodes = _chunk_set(ctx.trie, self.under_norm, self.level, self.attribution)
            slot = C._node_slots(_TrieOnly(ctx.trie), nodes)  # type: ignore[arg-type]
        ns = int(nodes.size)
        iacc, facc = kernels.rollup_slots(
            log.tag_offsets, log.tag_ids, slot, ns, log.status, log.prompt_tokens,
            log.completion_tokens, log.cost, log.latency_ms, log.ts, mode=self.attribution,
            trusted=log, threads=ctx.threads)
        unp = None
        if u is not None:
            ui, uf = kernels.rollup_slots(
                u.tag_offsets, u.tag_ids, slot, ns, u.status, u.prompt_tokens,
                u.completion_tokens, u.cost, u.latency_ms, u.ts, mode=self.attribution,
                trusted=u, threads=ctx.threads)
            unp = uf[:, :, 0] if split else ui[:, :, 0]
        lats = None
        if self.qnames:
            ptr, vals = latency_pairs(log.tag_offsets, log.tag_ids, log.latency_ms, slot,
                                      ns + 1, mode="primary" if self.attribution == "primary"
                                      else "any", untagged_key=ns, counts=iacc[0, :, 5],
                                      trusted=log)
            keys = np.concatenate([nodes.astype(np.int64), np.array([-1], dtype=np.int64)])
            lats = Latencies([(keys, ptr, vals)], {})
        return Part(s, slots=_slot_sums(nodes, iacc, facc, unp), lats=lats)

    # ---------------------------------------------------------------- finish

    def finish(self, p: Partial, view_of: ViewOf) -> pd.DataFrame:
        mark = p.summary.unpriced > 0
        view = view_of(p.summary)
        L = _log_mod()
        self.metrics = tuple(L._check_metrics(self.asked, view.unknown))
        if self.by is None:
            part = p.parts.get(None) or Part(Summary())
            return self.frame(part, view, self.metrics, mark)
        L.check_known(view.unknown, [self.by], "by")
        return self._by(p, view_of, mark)

    def frame(self, part: Part, view: View, metrics: Sequence[str], mark: bool
              ) -> pd.DataFrame:
        """``_rollup`` of :mod:`tagcore.query.rollup` over the sums of ``part``."""
        grand = C.col_total(view, "cost") if "share" in metrics else 0  # type: ignore[arg-type]
        if self.attribution == "full":
            return self._full_frame(part, view, metrics, mark, grand)
        nodes = C._set_nodes(view, self.under, self.level, self.attribution)  # type: ignore[arg-type]
        return self._set_frame(part, view, nodes, metrics, mark, grand)

    def _full_frame(self, part: Part, view: View, metrics: Sequence[str], mark: bool,
                    grand: int) -> pd.DataFrame:
        L = _log_mod()
        trie = view.trie
        _, _, qnames = C._wants(metrics)
        nodes = C._select_nodes(view, self.under, self.level)  # type: ignore[arg-type]
        if nodes.size == 0 or len(view) == 0 or part.nodes is None:
            return _marked(C._empty_frame(metrics, False), mark, False)
        sums = part.nodes.padded(len(trie))
        total, lat_total = sums.total, sums.lat
        keep = nodes[total[nodes, 0] > 0]
        if keep.size == 0:
            return _marked(C._empty_frame(metrics, False), mark, False)
        quant = {}
        if qnames:
            q = _quantiles(part.lats, keep, total[keep, 5], [L._QUANTILES[m] for m in qnames])
            quant = {m: q[:, i] for i, m in enumerate(qnames)}
        paths = trie.paths
        parents = trie.parents
        labels = [paths[i] for i in keep.tolist()]
        par = [paths[q] if q >= 0 else None for q in parents[keep].tolist()]
        df = C._frame(view, labels, trie.depths[keep], par, total[keep], None,  # type: ignore[arg-type]
                      lat_total[keep], quant, metrics, False, grand)
        if mark:
            unp = sums.unpriced if sums.unpriced is not None else \
                np.zeros(len(trie), dtype=np.int64)
            df[C.UNPRICED] = unp[keep]
        return C._sort(df, self.sort, trie.preorder[keep], total[keep, 4])

    def _set_frame(self, part: Part, view: View, nodes: np.ndarray, metrics: Sequence[str],
                   mark: bool, grand: int) -> pd.DataFrame:
        L = _log_mod()
        trie = view.trie
        split = self.attribution == "split"
        if len(view) == 0 or part.slots is None:
            return _marked(C._empty_frame(metrics, split), mark, split)
        _, _, qnames = C._wants(metrics)
        keys = np.concatenate([nodes.astype(np.int64), np.array([-1], dtype=np.int64)])
        sums = part.slots.at(keys)
        iacc, facc = sums.iacc[0], sums.facc[0]
        keep = np.flatnonzero(iacc[:, 0] > 0)
        if keep.size == 0:
            return _marked(C._empty_frame(metrics, split), mark, split)
        quant = {}
        if qnames:
            q = _quantiles(part.lats, keys[keep], iacc[keep, 5],
                           [L._QUANTILES[m] for m in qnames])
            quant = {m: q[:, i] for i, m in enumerate(qnames)}
        labels, depth, par = _slot_rows(trie, nodes, keep)
        df = C._frame(view, labels, np.array(depth), par, iacc[keep], facc[keep],  # type: ignore[arg-type]
                      facc[keep, 4], quant, metrics, split, grand)
        if mark:
            if part.summary.unpriced == 0 or sums.unpriced is None:
                df[C.UNPRICED] = np.zeros(len(df), dtype=np.float64 if split else np.int64)
            else:
                df[C.UNPRICED] = sums.unpriced[0][keep]
        return C._sort(df, self.sort, keep.astype(np.int64), iacc[keep, 4])

    def labels(self, p: Partial) -> list[Any]:
        """The group labels in the order of the log's own codes (see ``_group_column``)."""
        seen: dict[Any, None] = {}
        for k in sorted(p.labels):
            for lab in p.labels[k]:
                seen.setdefault(lab, None)
        labs = list(seen)
        if self.by == "status":
            return sorted(labs)
        if self.by != "model" and None in seen:
            labs = [x for x in labs if x is not None] + [None]
        return labs

    def _by(self, p: Partial, view_of: ViewOf, mark: bool) -> pd.DataFrame:
        view = view_of(p.summary)
        C._node(view, self.under, "under")  # type: ignore[arg-type]
        metrics = list(self.metrics)
        inner = [*metrics, "cost_nanos"] if "share" in metrics and "cost_nanos" not in metrics \
            else metrics
        grand = C.col_total(view, "cost") if "share" in metrics else 0  # type: ignore[arg-type]
        frames, keys = [], []
        assert self.by is not None
        for label in self.labels(p):
            part = p.parts.get(label)
            if part is None or part.summary.rows == 0:
                continue
            df = self.frame(part, view_of(part.summary, (self.by, label)), inner, mark)
            if "share" in df:
                df["share"] = (df["cost_nanos"] / (grand if grand <= _I64_MAX else float(grand))
                               if grand else df["share"] * 0)
                df = df[["depth", "parent", *metrics, *([C.UNPRICED] if mark else [])]]
            frames.append(df)
            keys.append(label)
        if not frames:
            split = self.attribution == "split"
            empty = _marked(C._empty_frame(self.metrics, split), mark, split)
            empty.index = pd.MultiIndex.from_arrays([[], []], names=[self.by, "tag"])
            return empty
        return pd.concat(frames, keys=keys, names=[self.by, "tag"])


class CoveredPlan(Plan):
    """Totals of the requests that none of ``nodes`` covers (``top`` under full
    attribution: its ``(other)`` row)."""

    def __init__(self, metrics: Sequence[str], paths: Sequence[str]):
        self.metrics = list(metrics)
        self.paths = list(paths)
        self.need = frozenset(_needs(self.metrics))
        self.anchors = union([((q, _depth(q)),) for q in self.paths])

    def row_mask(self, log: Any, ctx: Ctx) -> np.ndarray | None:
        if not self.paths or not len(log):
            return None
        with ctx.lock:
            ids = np.array([ctx.trie.get(q) for q in self.paths], dtype=np.int32)
            ids = ids[ids >= 0]
            covered = (C._node_slots(_TrieOnly(ctx.trie), ids) >= 0).astype(np.uint64)  # type: ignore[arg-type]
        return kernels.row_bits(log.tag_offsets, log.tag_ids, covered, trusted=log,
                                threads=ctx.threads) == 0

    def chunk(self, log: Any, ctx: Ctx) -> Partial:
        s = Summary.of_log(log, ctx.columns, ctx.unknown)
        return Partial(self.question(), ctx.trie, s, {None: Part(s)})

    def finish(self, p: Partial, view_of: ViewOf) -> tuple[pd.Series, Summary]:
        return totals_series(self.metrics, p.summary, view_of(p.summary), None), p.summary


# ------------------------------------------------------------------------------- time


class TimeseriesPlan(Plan):
    """:func:`tagcore.query.timeseries` over a bucket grid fixed before the pass."""

    vocab = True

    def __init__(self, freq: str, under: str | None, level: int | None, metric: str,
                 attribution: str, tz: str, lohi: tuple[int, int] | None, n_buckets: int):
        self.freq, self.under, self.level, self.metric = freq, under, level, metric
        self.attribution, self.tz, self.lohi, self.nb = attribution, tz, lohi, n_buckets
        self.window = lohi
        self.anchors = set_anchors(under, level if level is not None else _depth(under) + 1)
        self.need = frozenset({"ts", *_needs([metric])})

    def chunk(self, log: Any, ctx: Ctx) -> Partial:
        from tagcore.query.timeseries import _buckets

        s = Summary.of_log(log, ctx.columns, ctx.unknown)
        if not len(log) or self.lohi is None:
            return Partial(self.question(), ctx.trie, s, {None: Part(s)})
        b, _ = _buckets(TimesView(log.ts), self.freq, self.lohi, self.tz)  # type: ignore[arg-type]
        nb = self.nb
        split = self.attribution == "split"
        flags = _flags(log)  # sliced before the trie's arrays are taken (see _part_full)
        if flags is not None and self.metric not in ("cost", "unpriced"):
            flags = None
        u = log[flags] if flags is not None else None
        with ctx.lock:
            nodes = _chunk_set(ctx.trie, self.under, self.level, self.attribution)
            slot = C._node_slots(_TrieOnly(ctx.trie), nodes)  # type: ignore[arg-type]
        ns = int(nodes.size)
        iacc, facc = kernels.rollup_slots(
            log.tag_offsets, log.tag_ids, slot, ns, log.status, log.prompt_tokens,
            log.completion_tokens, log.cost, log.latency_ms, log.ts, mode=self.attribution,
            group=b, n_groups=nb, trusted=log, threads=ctx.threads)
        unp = None
        counts = {}
        if u is not None and flags is not None:
            g = b[flags]
            ui, uf = kernels.rollup_slots(
                u.tag_offsets, u.tag_ids, slot, ns, u.status, u.prompt_tokens,
                u.completion_tokens, u.cost, u.latency_ms, u.ts, mode=self.attribution,
                group=g, n_groups=nb, trusted=u, threads=ctx.threads)
            unp = uf[:, :, 0] if split else ui[:, :, 0]
            if self.attribution != "full":
                counts["shown"] = int((g >= 0).sum())
            else:
                one = np.where(slot >= 0, 0, -1).astype(np.int32)
                ci, _ = kernels.rollup_slots(
                    u.tag_offsets, u.tag_ids, one, 1, u.status, u.prompt_tokens,
                    u.completion_tokens, u.cost, u.latency_ms, u.ts, mode="full", group=g,
                    n_groups=nb, trusted=u, threads=ctx.threads)
                counts["shown"] = int(ci[:, 0, 0].sum())
        part = Part(s, slots=_slot_sums(nodes, iacc, facc, unp), counts=counts)
        return Partial(self.question(), ctx.trie, s, {None: part})

    def finish(self, p: Partial, view_of: ViewOf, starts: Any = None) -> pd.DataFrame:
        from tagcore.query.timeseries import MAX_CELLS, BucketLimitError, cell_values

        view = view_of(p.summary)
        nodes = C._set_nodes(view, self.under, self.level, self.attribution,  # type: ignore[arg-type]
                             what="timeseries")
        nb = self.nb
        ns = int(nodes.size)
        if nb * (ns + 1) > MAX_CELLS:
            raise BucketLimitError(
                f"timeseries: {nb:,} buckets x {ns + 1:,} columns is {nb * (ns + 1):,} cells, "
                f"more than the limit of {MAX_CELLS:,}: choose fewer tags (level=, under=), a "
                "narrower window (since=, until=, last=) or a coarser freq")
        split = self.attribution == "split"
        part = p.parts.get(None) or Part(Summary())
        keys = np.concatenate([nodes.astype(np.int64), np.array([-1], dtype=np.int64)])
        slots = part.slots or SlotSums(np.zeros(0, np.int64), _empty_iacc((nb, 0)),
                                       np.zeros((nb, 0, 5)), None)
        sums = slots.at(keys)
        iacc, facc = sums.iacc, sums.facc
        metric = self.metric
        if metric == "unpriced":
            vals = sums.unpriced if sums.unpriced is not None else \
                np.zeros((nb, ns + 1), dtype=np.float64 if split else np.int64)
        else:
            vals = cell_values(iacc, facc, metric, split)
        paths = view.trie.paths
        labels = [paths[v] for v in nodes.tolist()]
        if self.attribution != "full":
            labels.append(_log_mod().UNTAGGED)
        else:
            vals = vals[:, :ns]
        shown = len(labels)

        def cells(fam: str):
            got = C._int_sums(iacc, fam, split)
            return None if got is None else got[:, :shown]

        C.check_sums(view, [metric], cells,  # type: ignore[arg-type]
                     lambda i: f"{labels[i % shown]} in the bucket of "
                               f"{starts[i // shown].isoformat()}")
        df = pd.DataFrame(vals, index=pd.DatetimeIndex(starts, name="ts"),
                          columns=pd.Index(labels, dtype=object, name="tag"))
        if metric == "cost" and p.summary.unpriced > 0:
            df.attrs["unpriced"] = part.counts.get("shown", 0) if nb else 0
        return df


class PivotPlan(Plan):
    """:func:`tagcore.query.pivot`: ``metric`` per pair of children of two dimensions."""

    vocab = True

    def __init__(self, dim_a: str, dim_b: str, metric: str):
        self.dim_a, self.dim_b, self.metric = dim_a, dim_b, metric
        self.a_norm = norm_path(dim_a, "dim_a")
        self.b_norm = norm_path(dim_b, "dim_b")
        self.anchors = union([set_anchors(self.a_norm, _depth(self.a_norm) + 1),
                              set_anchors(self.b_norm, _depth(self.b_norm) + 1)])
        self.need = frozenset(_needs([metric]))

    def chunk(self, log: Any, ctx: Ctx) -> Partial:
        s = Summary.of_log(log, ctx.columns, ctx.unknown)
        if not len(log):
            return Partial(self.question(), ctx.trie, s, {None: Part(s)})
        with ctx.lock:
            na = _chunk_set(ctx.trie, self.a_norm, None, "full")
            nb = _chunk_set(ctx.trie, self.b_norm, None, "full")
            sa = C._node_slots(_TrieOnly(ctx.trie), na)  # type: ignore[arg-type]
            sb = C._node_slots(_TrieOnly(ctx.trie), nb)  # type: ignore[arg-type]
        metric = self.metric
        flags = _flags(log)
        values = pair_values(log, metric, flags)
        out, _ = kernels.rollup_pairs(log.tag_offsets, log.tag_ids, sa, na.size, sb, nb.size,
                                      values, trusted=log)
        unp = 0
        if metric == "cost" and flags is not None and na.size and nb.size:
            one_a = np.where(sa >= 0, 0, -1).astype(np.int32)
            one_b = np.where(sb >= 0, 0, -1).astype(np.int32)
            unp = int(kernels.rollup_pairs(log.tag_offsets, log.tag_ids, one_a, 1, one_b, 1,
                                           flags.astype(np.int64), trusted=log)[0][0, 0])
        oa, ob = np.argsort(na, kind="stable"), np.argsort(nb, kind="stable")
        pairs = PairSums(na[oa].astype(np.int64), nb[ob].astype(np.int64),
                         out[np.ix_(oa, ob)], unp)
        return Partial(self.question(), ctx.trie, s, {None: Part(s, pairs=pairs)})

    def finish(self, p: Partial, view_of: ViewOf) -> pd.DataFrame:
        view = view_of(p.summary)
        na = C._set_nodes(view, self.dim_a, None, "full", what="pivot", arg="dim_a")  # type: ignore[arg-type]
        nb = C._set_nodes(view, self.dim_b, None, "full", what="pivot", arg="dim_b")  # type: ignore[arg-type]
        part = p.parts.get(None)
        pairs = None if part is None else part.pairs
        out = np.zeros((na.size, nb.size), dtype=np.int64) if pairs is None else \
            pairs.at(na.astype(np.int64), nb.astype(np.int64))
        paths = view.trie.paths
        C.check_sums(view, [self.metric], lambda fam: out,  # type: ignore[arg-type]
                     lambda i: f"the pair ({paths[na[i // nb.size]]}, {paths[nb[i % nb.size]]})")
        data = out / C.NANOS if self.metric == "cost" else out
        df = pd.DataFrame(data, index=pd.Index([paths[v] for v in na.tolist()], dtype=object),
                          columns=pd.Index([paths[v] for v in nb.tolist()], dtype=object))
        df.index.name = self.dim_a
        df.columns.name = self.dim_b
        if self.metric == "cost" and p.summary.unpriced > 0:
            df.attrs["unpriced"] = pairs.unpriced if pairs is not None and na.size and \
                nb.size else 0
        return df
