"""Totals, roll-ups (full, split, primary, by a column) and top-n."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tagcore import kernels
from tagcore._validate import CHECKED

if TYPE_CHECKING:  # pragma: no cover
    from tagcore.log import RequestLog

from tagcore.query._common import (  # noqa: F401
    _ATTRIBUTIONS,
    _I64_MAX,
    _SUMMED,
    NANOS,
    UNPRICED,
    _check_level,
    _empty_frame,
    _frame,
    _latency_layout,
    _log_mod,
    _max_tags,
    _node,
    _node_slots,
    _select_nodes,
    _set_nodes,
    _sort,
    _wants,
    col_total,
    overflow_error,
    unpriced_log,
    unpriced_mask,
)

# ------------------------------------------------------------------------------- totals


def totals(self: RequestLog, metrics: Sequence[str] | None = None) -> pd.Series:
    """The grand total of the log, each request once: requests, errors, tokens, cost
    (dollars and exact nanos), latency mean and quantiles, first and last seen; and, when
    the log has requests whose cost is unknown, ``unpriced``: how many (their cost counts 0).

    >>> from tagcore import RequestLog
    >>> t = RequestLog.empty().totals()
    >>> int(t["requests"]), float(t["cost"])
    (0, 0.0)
    """
    L = _log_mod()
    metrics = [m for m in L._check_metrics(metrics, self.unknown) if m != "share"]
    n = len(self)
    lat = self.latency_ms
    known = ~np.isnan(lat)
    out: dict[str, Any] = {}
    for m in metrics:
        if m == "requests":
            out[m] = n
        elif m == "errors":
            out[m] = int((self.status >= 400).sum())
        elif m in _SUMMED:
            out[m] = _exact_total(self, m)
            if out[m] > _I64_MAX:
                raise overflow_error(self, m, out[m], "all rows")
            if m == "cost":
                out[m] /= NANOS
        elif m == "latency_mean":
            out[m] = float(lat[known].mean()) if known.any() else float("nan")
        elif m in L._QUANTILES:
            out[m] = float(np.quantile(lat[known], L._QUANTILES[m])) if known.any() else float("nan")
        elif m == "first_seen":
            out[m] = pd.Timestamp(int(self.ts.min()), unit="ns", tz="UTC") if n else pd.NaT
        elif m == "last_seen":
            out[m] = pd.Timestamp(int(self.ts.max()), unit="ns", tz="UTC") if n else pd.NaT
    mask = unpriced_mask(self)
    if mask is not None:  # requests whose cost is unknown (0 in the cost above)
        out[UNPRICED] = int(mask.sum())
    flags = self.extras.get("usage_unknown")
    if flags is not None and not {"prompt_tokens", "completion_tokens"} <= self.unknown:
        k = int(np.count_nonzero(flags))
        if k:  # requests whose tokens are unknown (0 in the token sums above)
            out["usage_unknown"] = k
    ser = pd.Series(out, dtype=object, name="total")
    kinds = {type(v) for v in out.values()}
    # ints stay Python ints next to floats (a float64 Series would round nanos past 2**53)
    return ser if int in kinds and kinds - {int} else ser.infer_objects()


def _exact_total(self: RequestLog, metric: str) -> int:
    """The exact total of a summed metric (a Python int, beyond int64 too; cached)."""
    return sum(col_total(self, c) for c in _SUMMED[metric])


# ------------------------------------------------------------------------------- rollup


def rollup(self: RequestLog, under: str | None = None, level: int | None = None,
           attribution: str = "full", by: str | None = None, sort: str = "cost",
           metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Usage per tag node.

    ``attribution="full"`` (default): each node gets every request that carries its path or
    a path under it, once. ``"split"``: each request's metrics are divided equally among the
    distinct nodes of the set it hits (money in whole nano-dollars, remainder to the first in
    path order); ``"primary"``: each request goes wholly to the node of its first tag in the
    set. Split and primary add an ``(untagged)`` row and their rows add up to the total.
    ``by`` (``"model"``, ``"status"``, ``"user"``, ``"key"``) adds that level to the index.
    When the log has requests whose cost is unknown, a last column ``unpriced`` counts them
    (split shares under split attribution): a node's ``cost`` leaves them out. An ``under``
    the log has never seen raises :class:`~tagcore.query.UnknownPathError`.

    >>> from tagcore import RequestLog
    >>> log = RequestLog.from_records([
    ...     {"ts": 0, "model": "m", "prompt_tokens": 1, "completion_tokens": 0, "cost": 0.3,
    ...      "latency_ms": 1, "status": 200, "request_tags": ["customer/a", "customer/b"]},
    ...     {"ts": 1, "model": "m", "prompt_tokens": 1, "completion_tokens": 0, "cost": 0.1,
    ...      "latency_ms": 1, "status": 200, "request_tags": []}])
    >>> log.rollup(under="customer", attribution="split", metrics=["requests", "cost"])
                depth    parent  requests  cost
    tag
    customer/a      2  customer       0.5  0.15
    customer/b      2  customer       0.5  0.15
    (untagged)      0      None       1.0  0.10
    """
    L = _log_mod()
    if attribution not in _ATTRIBUTIONS:
        raise ValueError(f"attribution: expected one of {_ATTRIBUTIONS}, got {attribution!r}")
    metrics = L._check_metrics(metrics, self.unknown)
    if by is not None:
        return _rollup_by(self, by, under=under, level=level, attribution=attribution,
                          sort=sort, metrics=metrics)
    return _rollup(self, under, level, attribution, sort, metrics,
                   unpriced_mask(self) is not None)


def _rollup(self: RequestLog, under: str | None, level: int | None, attribution: str,
            sort: str, metrics: Sequence[str], mark: bool) -> pd.DataFrame:
    """:func:`rollup` without ``by``; ``mark`` adds the ``unpriced`` column."""
    L = _log_mod()
    grand = col_total(self, "cost")
    trie = self.trie
    want_lat, want_time, qnames = _wants(metrics)
    if attribution == "full":
        nodes = _select_nodes(self, under, level)
        if nodes.size == 0 or len(self) == 0:
            return _marked(_empty_frame(metrics, False), mark, False)
        key = ("nodes", want_lat, want_time, len(trie))  # a shared trie may grow
        res = self._cache.get(key)
        if res is None:
            res = kernels.rollup_nodes(trie.parents, self.tag_offsets, self.tag_ids,
                                       self.status, self.prompt_tokens,
                                       self.completion_tokens, self.cost, self.latency_ms,
                                       self.ts, tree=(trie.roots, trie.depths, trie.preorder), want_latency=want_lat,
                                       want_time=want_time, trusted=self,
                                       max_tags=_max_tags(self))
            self._cache[key] = res
        _, total, _, lat_total = res
        keep = nodes[total[nodes, 0] > 0]
        if keep.size == 0:
            return _marked(_empty_frame(metrics, False), mark, False)
        quant = {}
        if qnames:
            q = kernels.group_quantiles(
                self.tag_offsets, self.tag_ids, self.latency_ms,
                [L._QUANTILES[m] for m in qnames], parents=trie.parents,
                layout=_latency_layout(self), counts=total[:, 5], trusted=self)
            quant = {m: q[keep, i] for i, m in enumerate(qnames)}
        paths = trie.paths
        parents = trie.parents
        depths = trie.depths
        labels = [paths[i] for i in keep.tolist()]
        par = [paths[p] if p >= 0 else None for p in parents[keep].tolist()]
        df = _frame(self, labels, depths[keep], par, total[keep], None, lat_total[keep], quant,
                    metrics, False, grand)
        if mark:
            df[UNPRICED] = _unpriced_per_node(self)[keep]
        return _sort(df, sort, trie.preorder[keep], total[keep, 4])
    # split / primary: one set of sibling nodes plus (untagged)
    nodes = _set_nodes(self, under, level, attribution)
    return _set_rollup(self, nodes, attribution, metrics, sort, grand, mark)


def _marked(df: pd.DataFrame, mark: bool, split: bool) -> pd.DataFrame:
    """An empty frame with the ``unpriced`` column when ``mark``."""
    if mark:
        df[UNPRICED] = pd.Series([], dtype=np.float64 if split else np.int64, index=df.index)
    return df


def _unpriced_per_node(self: RequestLog) -> np.ndarray:
    """Per node of the trie: the requests whose cost is unknown that it covers, each once
    (full attribution; cached, like the roll-up itself, per size of a shared trie)."""
    if unpriced_mask(self) is None:  # a part of a log that has some (rollup by=)
        return np.zeros(len(self.trie), dtype=np.int64)
    key = ("unpriced_nodes", len(self.trie))
    got = self._cache.get(key)
    if got is None:
        sub = unpriced_log(self)
        trie = self.trie
        _, total, _, _ = kernels.rollup_nodes(
            trie.parents, sub.tag_offsets, sub.tag_ids, sub.status, sub.prompt_tokens,
            sub.completion_tokens, sub.cost, sub.latency_ms, sub.ts,
            tree=(trie.roots, trie.depths, trie.preorder), want_latency=False,
            want_time=False, trusted=sub, max_tags=_max_tags(sub))
        got = self._cache[key] = np.ascontiguousarray(total[:, 0])
    return got


def _set_rollup(self: RequestLog, nodes: np.ndarray, attribution: str,
                metrics: Sequence[str], sort: str, grand: int, mark: bool) -> pd.DataFrame:
    L = _log_mod()
    trie = self.trie
    split = attribution == "split"
    if len(self) == 0:
        return _marked(_empty_frame(metrics, split), mark, split)
    want_lat, _, qnames = _wants(metrics)
    slot = _node_slots(self, nodes)
    ns = nodes.size
    iacc, facc = kernels.rollup_slots(self.tag_offsets, self.tag_ids, slot, ns, self.status,
                                      self.prompt_tokens, self.completion_tokens, self.cost,
                                      self.latency_ms, self.ts, mode=attribution, trusted=self)
    iacc, facc = iacc[0], facc[0]
    keep = np.flatnonzero(iacc[:, 0] > 0)
    if keep.size == 0:
        return _marked(_empty_frame(metrics, split), mark, split)
    quant = {}
    if qnames:
        qv = [L._QUANTILES[m] for m in qnames]
        if attribution == "primary":
            off, ids = _primary_csr(self, slot, ns)
            q = kernels.group_quantiles(off, ids, self.latency_ms, qv,
                                        key_of_node=np.arange(ns + 1, dtype=np.int32),
                                        n_keys=ns + 1, layout=_primary_layout(self, ids),
                                        counts=iacc[:, 5], trusted=CHECKED)
        else:
            q = kernels.group_quantiles(self.tag_offsets, self.tag_ids, self.latency_ms, qv,
                                        key_of_node=slot, n_keys=ns + 1, untagged_key=ns,
                                        layout=_latency_layout(self), counts=iacc[:, 5],
                                        trusted=self)
        quant = {m: q[keep, i] for i, m in enumerate(qnames)}
    labels, depth, par = _slot_rows(trie, nodes, keep)
    df = _frame(self, labels, np.array(depth), par, iacc[keep], facc[keep], facc[keep, 4],
                quant, metrics, split, grand)
    if mark:
        if unpriced_mask(self) is None:
            df[UNPRICED] = np.zeros(len(df), dtype=np.float64 if split else np.int64)
        else:
            sub = unpriced_log(self)
            ui, uf = kernels.rollup_slots(sub.tag_offsets, sub.tag_ids, slot, ns, sub.status,
                                          sub.prompt_tokens, sub.completion_tokens, sub.cost,
                                          sub.latency_ms, sub.ts, mode=attribution, trusted=sub)
            df[UNPRICED] = uf[0][keep, 0] if split else ui[0][keep, 0]
    return _sort(df, sort, keep.astype(np.int64), iacc[keep, 4])  # slots are in path order


def _slot_rows(trie: Any, nodes: np.ndarray, keep: np.ndarray
               ) -> tuple[list[str], list[int], list[str | None]]:
    """Labels, depths and parents of the kept slots of a set roll-up (``keep`` indexes
    ``nodes``; an index past them is the (untagged) slot, always the last one)."""
    paths = trie.paths
    real = keep[keep < nodes.size]
    v = nodes[real]
    labels = [paths[i] for i in v.tolist()]
    depth = trie.depths[v].astype(np.int64).tolist()
    par = [paths[p] if p >= 0 else None for p in trie.parents[v].tolist()]
    if keep.size > real.size:
        labels.append(_log_mod().UNTAGGED)
        depth.append(0)
        par.append(None)
    return labels, depth, par


def _primary_layout(self: RequestLog, first: np.ndarray):
    """The latency layout of a one-key-per-row CSR (``first[r]`` is row r's key)."""
    order, lat, _, _ = _latency_layout(self)
    return order, lat, np.arange(order.size + 1, dtype=np.int64), first[order]


def _primary_csr(self: RequestLog, slot: np.ndarray, ns: int) -> tuple[np.ndarray, np.ndarray]:
    """One key per row: the slot of its first tag that has one, else the untagged slot."""
    n = len(self)
    tag_slot = slot[self.tag_ids] if self.tag_ids.size else np.zeros(0, dtype=np.int32)
    pos = np.flatnonzero(tag_slot >= 0)
    row_of = np.searchsorted(self.tag_offsets, pos, side="right") - 1
    first = np.full(n, ns, dtype=np.int32)
    uniq, idx = np.unique(row_of, return_index=True)
    first[uniq] = tag_slot[pos[idx]]
    return np.arange(n + 1, dtype=np.int64), first


def _group_column(self: RequestLog, by: str) -> tuple[np.ndarray, list[Any]]:
    if by == "model":
        return self.model_codes, list(self.models)
    if by == "status":
        vals, codes = np.unique(self.status, return_inverse=True)
        return codes.astype(np.int32), [int(v) for v in vals]
    if by in self.extras and isinstance(self.extras[by], tuple):
        codes, vals = self.extras[by]
        return np.where(codes < 0, len(vals), codes).astype(np.int32), [*vals, None]
    raise ValueError(f"by: expected 'model', 'status' or a string column {sorted(self.extras)}, "
                     f"got {by!r}")


def _rollup_by(self: RequestLog, by: str, **kw) -> pd.DataFrame:
    _log_mod().check_known(self.unknown, [by], "by")
    codes, labels = _group_column(self, by)
    _node(self, kw["under"], "under")  # an unknown path is refused even with no group
    frames, keys = [], []
    metrics = list(kw["metrics"])
    # shares are of this log's grand total, not of the group's: they need the exact nanos
    inner = [*metrics, "cost_nanos"] if "share" in metrics and "cost_nanos" not in metrics \
        else metrics
    grand = col_total(self, "cost")
    mark = unpriced_mask(self) is not None
    for g, label in enumerate(labels):
        rows = codes == g
        if not rows.any():
            continue
        part = _rollup(self[rows], kw["under"], kw["level"], kw["attribution"], kw["sort"],
                       inner, mark)
        if "share" in part:
            part["share"] = (part["cost_nanos"] / (grand if grand <= _I64_MAX else float(grand))
                             if grand else part["share"] * 0)
            part = part[["depth", "parent", *metrics, *([UNPRICED] if mark else [])]]
        frames.append(part)
        keys.append(label)
    if not frames:
        split = kw["attribution"] == "split"
        empty = _marked(_empty_frame(kw["metrics"], split), mark, split)
        empty.index = pd.MultiIndex.from_arrays([[], []], names=[by, "tag"])
        return empty
    return pd.concat(frames, keys=keys, names=[by, "tag"])


#: the metrics :func:`top` sums (and can rank by); the others are left out of its frame
TOP_SUMMED = ("requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens", "cost",
              "cost_nanos", "share")


def top(self: RequestLog, n: int = 10, under: str | None = None, level: int | None = None,
        attribution: str = "split", metric: str = "cost",
        metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """The ``n`` largest nodes of a set by ``metric``, plus an ``(other)`` row holding the
    rest, so that the rows add up to the total (split or primary attribution; with full
    attribution nodes overlap and ``(other)`` is what the top n do not cover). The
    ``unpriced`` column is added as by :func:`rollup`.

    >>> from tagcore import RequestLog
    >>> log = RequestLog.from_records([
    ...     {"ts": 0, "model": "m", "prompt_tokens": 1, "completion_tokens": 0, "cost": c,
    ...      "latency_ms": 1, "status": 200, "request_tags": [f"customer/{k}"]}
    ...     for k, c in [("a", 3), ("b", 2), ("c", 1)]])
    >>> log.top(1, under="customer", metrics=["requests", "cost"])
                depth    parent  requests  cost
    tag
    customer/a      2  customer       1.0   3.0
    (other)         0      None       2.0   3.0
    """
    L = _log_mod()
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n: expected an integer >= 0, got {n!r}")
    metrics = list(L._check_metrics(metrics, self.unknown))
    sum_metrics = [m for m in metrics if m in TOP_SUMMED]
    if metric not in sum_metrics:
        raise ValueError(f"metric: {metric!r} must be one of the summed metrics {sum_metrics}")
    inner = list(dict.fromkeys([*sum_metrics, "cost_nanos"]))  # exact money inside
    flags = unpriced_mask(self)
    mark = flags is not None
    if attribution == "full":
        nodes = _set_nodes(self, under, level, attribution, what="top")
        df = rollup(self, under=under, level=level if level is not None else
                    (self.trie.depth(nodes[0]) if nodes.size else None),
                    metrics=inner) if nodes.size else _marked(_empty_frame(inner, False), mark,
                                                              False)
    else:
        df = rollup(self, under=under, level=level, attribution=attribution, metrics=inner)
    df = df[df.index != L.UNTAGGED]
    df = df.sort_values(metric, ascending=False, kind="stable")
    head = df.iloc[:n]
    counted = [m for m in inner if m not in ("share", "cost")]
    if attribution == "full":
        # nodes overlap: (other) holds the requests that none of the top n covers
        top_ids = np.array([self.trie.id(p) for p in head.index], dtype=np.int32)
        covered = (_node_slots(self, top_ids) >= 0).astype(np.uint64)
        rest = kernels.row_bits(self.tag_offsets, self.tag_ids, covered, trusted=self) == 0
        tot = totals(self[rest], counted) if len(self) else totals(self, counted)
        other: dict[str, Any] = {m: tot[m] for m in counted}
        if flags is not None:
            other[UNPRICED] = int(flags[rest].sum())
    else:
        # the rows add up to the total: (other) is the total less the top n, in exact ints
        plain = [m for m in counted if m not in _SUMMED]
        tot = dict(totals(self, plain)) if plain else {}
        tot.update({m: _exact_total(self, m) for m in counted if m in _SUMMED})
        other = {}
        for m in counted:
            h = head[m]
            other[m] = tot[m] - (sum(h.tolist()) if h.dtype.kind in "iu" else h.sum())
            if m in _SUMMED and isinstance(other[m], int) and other[m] > _I64_MAX:
                raise overflow_error(self, m, other[m], L.OTHER)
        if flags is not None:
            h = head[UNPRICED]
            other[UNPRICED] = int(flags.sum()) - (sum(h.tolist()) if h.dtype.kind in "iu"
                                                  else h.sum())
    out = with_other(head, df, other, col_total(self, "cost"))
    return out[["depth", "parent", *metrics_order(sum_metrics, metrics),
                *([UNPRICED] if mark else [])]]


def with_other(head: pd.DataFrame, df: pd.DataFrame, other: dict[str, Any],
               grand: int) -> pd.DataFrame:
    """``head`` (the top rows of the roll-up ``df``) and the ``(other)`` row of the sums
    ``other`` holds, its cost and share of the ``grand`` total in nano-dollars filled in,
    in ``df``'s dtypes (for :func:`top` and a scan's ``top``)."""
    L = _log_mod()
    other["cost"] = int(other["cost_nanos"]) / NANOS
    other["share"] = int(other["cost_nanos"]) / grand if grand else 0.0
    other.update(depth=0, parent=None)
    row = pd.DataFrame([other], index=pd.Index([L.OTHER], name="tag"))
    out = pd.concat([head, row[[c for c in head.columns]]]) if len(head) else \
        row[[c for c in df.columns]]
    out = out.astype({c: df[c].dtype for c in df.columns if c != "parent"})
    out.index.name = "tag"
    return out


def metrics_order(have: Sequence[str], want: Sequence[str]) -> list[str]:
    return [m for m in want if m in have]
