"""Queries of a :class:`~tagcore.log.RequestLog` that return pandas objects.

The words are DESIGN.md's: ``level`` is an absolute depth (1 = top level); ``under=P`` means
P's strict descendants (all depths unless ``level`` narrows them); a *set* (for split and
primary attribution, time series and pivots) is the nodes at one ``level`` under one ``under``
(default: P's children). Frames name tags by their full path; ``(untagged)`` (depth 0) holds
requests that hit no node of a set. Shares are of the log's grand total cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tagcore import kernels
from tagcore._validate import CHECKED
from tagcore.tags import TagError, normalize_tag

if TYPE_CHECKING:  # pragma: no cover
    from tagcore.log import RequestLog

NANOS = 10**9
_ATTRIBUTIONS = ("full", "split", "primary")


def _log_mod():
    from tagcore import log as _log

    return _log


# ------------------------------------------------------------------------------- helpers


def _node(log: RequestLog, path: str | None, what: str) -> int | None:
    """Normalized id of ``path`` in the log's trie; -1 when unknown; None for None."""
    if path is None:
        return None
    if not isinstance(path, str):
        raise TypeError(f"{what}: expected a tag path, got {path!r}")
    try:
        norm = normalize_tag(path)
    except TagError as exc:
        raise ValueError(f"{what}: {exc}") from None
    return log.trie.get(norm, -1)


def _check_level(level: int | None) -> None:
    if level is not None and (isinstance(level, bool) or not isinstance(level, (int, np.integer))
                              or level < 1):
        raise ValueError(f"level: expected an integer >= 1, got {level!r}")


def _select_nodes(log: RequestLog, under: str | None, level: int | None) -> np.ndarray:
    """Node ids for (under, level) as DESIGN.md defines them, ascending."""
    _check_level(level)
    trie = log.trie
    u = _node(log, under, "under")
    if u is not None:
        if u < 0:
            return np.zeros(0, dtype=np.int32)
        return trie.under(u, level=level)
    if level is not None:
        return trie.at_level(level)
    return np.arange(len(trie), dtype=np.int32)


def _set_nodes(log: RequestLog, under: str | None, level: int | None, attribution: str,
               what: str = "attribution") -> np.ndarray:
    """The nodes of one set (disjoint: one level under one node), in path order."""
    _check_level(level)
    if under is None and level is None:
        raise ValueError(
            f"{what}={attribution!r} needs a set of sibling nodes: give under= (its children) "
            "and/or level= (an absolute depth)")
    u = _node(log, under, "under")
    trie = log.trie
    if u is not None and u < 0:
        nodes = np.zeros(0, dtype=np.int32)
    elif u is not None:
        lvl = trie.depth(u) + 1 if level is None else level
        nodes = trie.under(u, level=lvl) if lvl > trie.depth(u) else np.zeros(0, dtype=np.int32)
    else:
        nodes = trie.at_level(level)
    return np.asarray(trie.tree_order(nodes), dtype=np.int32)


def _node_slots(log: RequestLog, nodes: np.ndarray) -> np.ndarray:
    """``slot[v]`` = position in ``nodes`` of the set node whose subtree holds v, else -1."""
    trie = log.trie
    nn = len(trie)
    slot = np.full(nn, -1, dtype=np.int32)
    slot[nodes] = np.arange(nodes.size, dtype=np.int32)
    if nodes.size == 0 or nn == 0:
        return slot
    depths = np.asarray(trie.depths)
    parents = np.asarray(trie.parents)
    top = int(depths[nodes].min())
    for d in range(top + 1, int(depths.max()) + 1):
        at = np.flatnonzero(depths == d)
        s = slot[at]
        slot[at] = np.where(s >= 0, s, slot[parents[at]])
    return slot


def _max_tags(log: RequestLog) -> int:
    """The most tags one request of the log carries (cached)."""
    got = log._cache.get("max_tags")
    if got is None:
        got = log._cache["max_tags"] = int(np.diff(log.tag_offsets).max()) if len(log) else 0
    return got


def _latency_layout(log: RequestLog):
    """The log's rows by ascending latency (see ``kernels.latency_layout``); built on the first
    quantile query and cached on the immutable log."""
    layout = log._cache.get("latency_layout")
    if layout is None:
        layout = kernels.latency_layout(log.tag_offsets, log.tag_ids, log.latency_ms,
                                        trusted=log)
        log._cache["latency_layout"] = layout
    return layout


def _empty_frame(columns: Sequence[str], split: bool, index_name: Any = "tag") -> pd.DataFrame:
    dt = _log_mod()._metric_dtypes(split)
    data = {"depth": pd.Series([], dtype=np.int64), "parent": pd.Series([], dtype=object)}
    for c in columns:
        data[c] = pd.Series([], dtype=dt[c])
    df = pd.DataFrame(data)
    df.index = pd.Index([], dtype=object, name=index_name)
    return df


def _frame(log: RequestLog, labels: list[str], depth: np.ndarray, parent: list[Any],
           iacc: np.ndarray, facc: np.ndarray | None, lat_sum: np.ndarray,
           quant: dict[str, np.ndarray], metrics: Sequence[str], split: bool,
           grand_cost: int) -> pd.DataFrame:
    """Assemble a roll-up frame from accumulator rows (columns of kernels.ICOLS)."""
    data: dict[str, Any] = {"depth": np.asarray(depth, dtype=np.int64),
                            "parent": pd.Series(parent, dtype=object)}
    req = facc[:, 0] if split else iacc[:, 0]
    for m in metrics:
        if m == "requests":
            data[m] = req
        elif m == "errors":
            data[m] = facc[:, 1] if split else iacc[:, 1]
        elif m == "prompt_tokens":
            data[m] = facc[:, 2] if split else iacc[:, 2]
        elif m == "completion_tokens":
            data[m] = facc[:, 3] if split else iacc[:, 3]
        elif m == "total_tokens":
            data[m] = (facc[:, 2] + facc[:, 3]) if split else (iacc[:, 2] + iacc[:, 3])
        elif m == "cost":
            data[m] = iacc[:, 4] / NANOS
        elif m == "cost_nanos":
            data[m] = iacc[:, 4].copy()
        elif m == "share":
            data[m] = iacc[:, 4] / grand_cost if grand_cost else np.zeros(len(labels))
        elif m == "latency_mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                data[m] = np.where(iacc[:, 5] > 0, lat_sum / np.maximum(iacc[:, 5], 1), np.nan)
        elif m in quant:
            data[m] = quant[m]
        elif m == "first_seen":
            data[m] = _log_mod()._times(iacc[:, 6], iacc[:, 0] > 0).to_numpy()
        elif m == "last_seen":
            data[m] = _log_mod()._times(iacc[:, 7], iacc[:, 0] > 0).to_numpy()
    df = pd.DataFrame(data)
    df.index = pd.Index(labels, dtype=object, name="tag")
    if "first_seen" in df:
        for c in ("first_seen", "last_seen"):
            if c in df:
                df[c] = pd.to_datetime(df[c], utc=True)
    return df


def _sort(df: pd.DataFrame, sort: str, tree_pos: np.ndarray, cost: np.ndarray) -> pd.DataFrame:
    """Rows by ``cost`` (nano-dollars per row) descending, ties in path order; or in path
    (tree) order; or by a metric column descending."""
    if sort == "path":
        return df.iloc[np.argsort(tree_pos, kind="stable")]
    if sort == "cost":
        return df.iloc[np.lexsort((tree_pos, -np.asarray(cost, dtype=np.int64)))]
    if sort in df.columns and sort not in ("depth", "parent"):
        return df.iloc[np.lexsort((tree_pos, -df[sort].to_numpy(dtype=np.float64)))]
    raise ValueError(f"sort: expected 'cost', 'path' or a metric column of the frame, "
                     f"got {sort!r}")


def _wants(metrics: Sequence[str]) -> tuple[bool, bool, list[str]]:
    lat = any(m.startswith("latency") for m in metrics)
    time = any(m in ("first_seen", "last_seen") for m in metrics)
    qs = [m for m in metrics if m in _log_mod()._QUANTILES]
    return lat, time, qs


# ------------------------------------------------------------------------------- totals


def totals(self: RequestLog, metrics: Sequence[str] | None = None) -> pd.Series:
    """The grand total of the log, each request once: requests, errors, tokens, cost
    (dollars and exact nanos), latency mean and quantiles, first and last seen.

    >>> from tagcore import RequestLog
    >>> t = RequestLog.empty().totals()
    >>> int(t["requests"]), float(t["cost"])
    (0, 0.0)
    """
    L = _log_mod()
    metrics = [m for m in L._check_metrics(metrics) if m != "share"]
    n = len(self)
    lat = self.latency_ms
    known = ~np.isnan(lat)
    out: dict[str, Any] = {}
    for m in metrics:
        if m == "requests":
            out[m] = n
        elif m == "errors":
            out[m] = int((self.status >= 400).sum())
        elif m == "prompt_tokens":
            out[m] = int(self.prompt_tokens.sum())
        elif m == "completion_tokens":
            out[m] = int(self.completion_tokens.sum())
        elif m == "total_tokens":
            out[m] = int(self.prompt_tokens.sum() + self.completion_tokens.sum())
        elif m == "cost":
            out[m] = int(self.cost.sum()) / NANOS
        elif m == "cost_nanos":
            out[m] = int(self.cost.sum())
        elif m == "latency_mean":
            out[m] = float(lat[known].mean()) if known.any() else float("nan")
        elif m in L._QUANTILES:
            out[m] = float(np.quantile(lat[known], L._QUANTILES[m])) if known.any() else float("nan")
        elif m == "first_seen":
            out[m] = pd.Timestamp(int(self.ts.min()), unit="ns", tz="UTC") if n else pd.NaT
        elif m == "last_seen":
            out[m] = pd.Timestamp(int(self.ts.max()), unit="ns", tz="UTC") if n else pd.NaT
    return pd.Series(out, dtype=object, name="total").infer_objects()


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
    metrics = L._check_metrics(metrics)
    if by is not None:
        return _rollup_by(self, by, under=under, level=level, attribution=attribution,
                          sort=sort, metrics=metrics)
    grand = int(self.cost.sum())
    trie = self.trie
    want_lat, want_time, qnames = _wants(metrics)
    if attribution == "full":
        nodes = _select_nodes(self, under, level)
        if nodes.size == 0 or len(self) == 0:
            return _empty_frame(metrics, False)
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
            return _empty_frame(metrics, False)
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
        return _sort(df, sort, trie.preorder[keep], total[keep, 4])
    # split / primary: one set of sibling nodes plus (untagged)
    nodes = _set_nodes(self, under, level, attribution)
    return _set_rollup(self, nodes, attribution, metrics, sort, grand)


def _set_rollup(self: RequestLog, nodes: np.ndarray, attribution: str,
                metrics: Sequence[str], sort: str, grand: int) -> pd.DataFrame:
    L = _log_mod()
    trie = self.trie
    split = attribution == "split"
    if len(self) == 0:
        return _empty_frame(metrics, split)
    want_lat, _, qnames = _wants(metrics)
    slot = _node_slots(self, nodes)
    ns = nodes.size
    iacc, facc = kernels.rollup_slots(self.tag_offsets, self.tag_ids, slot, ns, self.status,
                                      self.prompt_tokens, self.completion_tokens, self.cost,
                                      self.latency_ms, self.ts, mode=attribution, trusted=self)
    iacc, facc = iacc[0], facc[0]
    keep = np.flatnonzero(iacc[:, 0] > 0)
    if keep.size == 0:
        return _empty_frame(metrics, split)
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
    paths = trie.paths
    real = keep[keep < ns]
    v = nodes[real]
    pv = trie.parents[v]
    labels = [paths[i] for i in v.tolist()]
    depth = trie.depths[v].astype(np.int64).tolist()
    par = [paths[p] if p >= 0 else None for p in pv.tolist()]
    if keep.size > real.size:  # the (untagged) slot is the last one
        labels.append(L.UNTAGGED)
        depth.append(0)
        par.append(None)
    df = _frame(self, labels, np.array(depth), par, iacc[keep], facc[keep], facc[keep, 4],
                quant, metrics, split, grand)
    return _sort(df, sort, keep.astype(np.int64), iacc[keep, 4])  # slots are in path order


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
    codes, labels = _group_column(self, by)
    frames, keys = [], []
    for g, label in enumerate(labels):
        rows = codes == g
        if not rows.any():
            continue
        part = rollup(self[rows], **kw)
        if "share" in part:
            grand = int(self.cost.sum())
            part["share"] = part["cost_nanos"] / grand if grand and "cost_nanos" in part else \
                part["share"] * 0
        frames.append(part)
        keys.append(label)
    if not frames:
        empty = _empty_frame(kw["metrics"], kw["attribution"] == "split")
        empty.index = pd.MultiIndex.from_arrays([[], []], names=[by, "tag"])
        return empty
    return pd.concat(frames, keys=keys, names=[by, "tag"])


# ------------------------------------------------------------------------------- filter


def _parse_time(value: Any, what: str) -> int:
    """A time argument (datetime, ISO string, epoch seconds; naive = UTC) as int ns, read the
    same way as the ``ts`` of records."""
    from tagcore.coerce import time_to_nanos

    return time_to_nanos(value, field=what)


def _parse_delta(value: Any, what: str = "last") -> int:
    try:
        d = pd.Timedelta(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: cannot read {value!r} as a duration like '7D' or '1h' "
                         f"({exc})") from None
    if d is pd.NaT or d.value <= 0:
        raise ValueError(f"{what}: expected a positive duration, got {value!r}")
    return int(d.value)


def window(self: RequestLog, since: Any = None, until: Any = None, last: Any = None,
           now: Any = None) -> tuple[int, int] | None:
    """The time window as (exclusive low, inclusive high) nanoseconds, or None for all time.

    ``last="7D"`` keeps ``now - 7D < ts <= now``; ``since`` is inclusive and ``until``
    exclusive. ``now`` defaults to the log's last timestamp.
    """
    if since is None and until is None and last is None:
        return None
    lo, hi = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    if last is not None:
        if now is None:
            now_ns = int(self.ts.max()) if len(self) else 0
        else:
            now_ns = _parse_time(now, "now")
        lo, hi = now_ns - _parse_delta(last), now_ns
    if since is not None:
        lo = max(lo, _parse_time(since, "since") - 1)
    if until is not None:
        hi = min(hi, _parse_time(until, "until") - 1)
    return lo, hi


def filter(self: RequestLog, expr: Any = None, *, since: Any = None, until: Any = None,
           last: Any = None, now: Any = None, model: str | Sequence[str] | None = None,
           status: Any = None) -> RequestLog:
    """The requests matching a tag filter and keyword filters, as a new log.

    ``expr`` is a filter string (``"customer/acme & ~env/staging"``) or a
    :class:`~tagcore.filters.Filter`; ``last``/``since``/``until``/``now`` select time
    (``last`` is relative to ``now``, by default the log's last timestamp); ``model`` a name or
    names; ``status`` an int, a list of ints, ``"error"`` (>= 400) or ``"ok"`` (< 400).

    >>> from tagcore import RequestLog
    >>> log = RequestLog.from_records([
    ...     {"ts": 0, "model": "m", "prompt_tokens": 1, "completion_tokens": 0, "cost": 1,
    ...      "latency_ms": 1, "status": 200, "request_tags": ["customer/acme", "env/prod"]},
    ...     {"ts": 86400 * 9, "model": "m", "prompt_tokens": 1, "completion_tokens": 0,
    ...      "cost": 1, "latency_ms": 1, "status": 200, "request_tags": ["customer/acme"]}])
    >>> len(log.filter("customer/acme & ~env/prod")), len(log.filter("customer", last="7D"))
    (1, 1)
    """
    n = len(self)
    mask = np.ones(n, dtype=bool)
    if expr is not None:
        from tagcore.filters import Filter, parse_filter

        f = parse_filter(expr) if isinstance(expr, str) else expr
        if not isinstance(f, Filter):
            raise TypeError(f"expr: expected a filter string or Filter, got {type(expr).__name__}")
        mask &= f.mask(self.tag_offsets, self.tag_ids, self.trie, trusted=self)
    w = window(self, since, until, last, now)
    if w is not None:
        mask &= (self.ts > w[0]) & (self.ts <= w[1])
    if model is not None:
        names = [model] if isinstance(model, str) else list(model)
        codes = [i for i, m in enumerate(self.models) if m in set(names)]
        mask &= np.isin(self.model_codes, codes)
    if status is not None:
        if status == "error":
            mask &= self.status >= 400
        elif status == "ok":
            mask &= self.status < 400
        elif isinstance(status, (int, np.integer)) and not isinstance(status, bool):
            mask &= self.status == status
        elif isinstance(status, (list, tuple, set, np.ndarray)):
            mask &= np.isin(self.status, np.asarray(list(status), dtype=np.int64))
        else:
            raise ValueError(f"status: expected an int, a list of ints, 'error' or 'ok', "
                             f"got {status!r}")
    if mask.all():
        return self
    return self[mask]


# ------------------------------------------------------------------------------- time


_CALENDAR = {"D", "W", "MS", "ME", "M", "QS", "YS", "AS"}


def _buckets(self: RequestLog, freq: str, w: tuple[int, int] | None, tz: str):
    """Bucket index of each row (-1 outside) and the tz-aware bucket starts."""
    off = pd.tseries.frequencies.to_offset(freq)
    n = len(self)
    if w is None:
        if n == 0:
            return np.zeros(0, dtype=np.int32), pd.DatetimeIndex([], tz=tz)
        lo, hi = int(self.ts.min()) - 1, int(self.ts.max())
    else:
        lo, hi = w
        if n:
            hi = min(hi, max(int(self.ts.max()), lo + 1)) if w[1] == np.iinfo(np.int64).max else hi
            lo = max(lo, int(self.ts.min()) - 1) if w[0] == np.iinfo(np.int64).min else lo
    first = pd.Timestamp(lo + 1, unit="ns", tz="UTC").tz_convert(tz)
    name = getattr(off, "rule_code", None) or str(off)
    is_tick = isinstance(off, pd.offsets.Tick) and not (name == "D" or name.endswith("D"))
    if is_tick:
        width = int(pd.Timedelta(off).value)
        # aligned to the local day start of the window (pandas' origin="start_day"), so
        # hours are local hours in zones with half-hour offsets too
        d0 = int(first.normalize().tz_convert("UTC").value)
        origin = d0 + (lo + 1 - d0) // width * width
        nb = (hi - origin) // width + 1
        starts = pd.date_range(pd.Timestamp(origin, unit="ns", tz="UTC"), periods=int(nb),
                               freq=pd.Timedelta(width, unit="ns")).tz_convert(tz)
        b = kernels.bucket_fixed(self.ts, origin, width, int(nb), lo, hi)
        return b, starts
    # calendar buckets in wall time of ``tz``, DST-correct: boundaries from tagcore._calendar
    # (a midnight in a DST gap shifts forward, a repeated one is its second occurrence)
    from tagcore import _calendar

    mult = getattr(off, "n", 1)
    base = name.split("-")[0]
    if base in ("W",) or isinstance(off, pd.offsets.Week):
        unit = "W"
    elif isinstance(off, (pd.offsets.MonthBegin, pd.offsets.MonthEnd)):
        unit = "MS"
    elif isinstance(off, (pd.offsets.QuarterBegin, pd.offsets.QuarterEnd)):
        unit = "QS"
    elif isinstance(off, (pd.offsets.YearBegin, pd.offsets.YearEnd)):
        unit = "YS"
    elif base == "D" or isinstance(off, pd.offsets.Day):
        unit = "D"
    else:
        raise ValueError(f"freq: unsupported frequency {freq!r}; use e.g. '1h', '15min', '1D', "
                         "'1W' (weeks from Monday), '1MS', 'QS', 'YS'")
    if mult < 1:
        raise ValueError(f"freq: {freq!r} must be a positive number of periods, e.g. '1D'")
    edges_ns = _calendar.edges(lo + 1, hi, unit, mult, tz)
    nb = len(edges_ns) - 1
    b = np.searchsorted(edges_ns, self.ts, side="right").astype(np.int64) - 1
    inside = (self.ts > lo) & (self.ts <= hi) & (b >= 0) & (b < nb)
    b = np.where(inside, b, -1).astype(np.int32)
    return b, pd.to_datetime(edges_ns[:-1], unit="ns", utc=True).tz_convert(tz)


_TS_METRICS = {"cost": 4, "requests": 0, "errors": 1, "prompt_tokens": 2,
               "completion_tokens": 3, "total_tokens": None}


def timeseries(self: RequestLog, freq: str, level: int | None = None, under: str | None = None,
               metric: str = "cost", last: Any = None, since: Any = None, until: Any = None,
               now: Any = None, tz: str = "UTC", attribution: str = "full") -> pd.DataFrame:
    """A metric per time bucket and tag: index of tz-aware bucket starts, one column per tag
    path of the set (default: level 1), zeros for empty buckets inside the window.

    ``freq`` is a pandas alias: ``"1h"``, ``"15min"`` (absolute), ``"1D"``, ``"1W"`` (weeks
    starting Monday), ``"1MS"`` (calendar, in ``tz``, DST-correct).

    >>> from tagcore import RequestLog
    >>> log = RequestLog.from_records([
    ...     {"ts": "2026-03-01T10:00", "model": "m", "prompt_tokens": 1, "completion_tokens": 0,
    ...      "cost": 2, "latency_ms": 1, "status": 200, "request_tags": ["env/prod"]},
    ...     {"ts": "2026-03-03T10:00", "model": "m", "prompt_tokens": 1, "completion_tokens": 0,
    ...      "cost": 1, "latency_ms": 1, "status": 200, "request_tags": ["env/dev"]}])
    >>> log.timeseries("1D", under="env")
    tag                        env/dev  env/prod
    ts
    2026-03-01 00:00:00+00:00      0.0       2.0
    2026-03-02 00:00:00+00:00      0.0       0.0
    2026-03-03 00:00:00+00:00      1.0       0.0
    """
    if metric not in _TS_METRICS:
        raise ValueError(f"metric: expected one of {list(_TS_METRICS)}, got {metric!r}")
    if attribution not in _ATTRIBUTIONS:
        raise ValueError(f"attribution: expected one of {_ATTRIBUTIONS}, got {attribution!r}")
    if level is None and under is None:
        level = 1
    nodes = _set_nodes(self, under, level, attribution, what="timeseries")
    w = window(self, since, until, last, now)
    if len(self) == 0 and now is None:
        w = None  # no data and no "now": no window to lay buckets in
    b, starts = _buckets(self, freq, w, tz)
    nb = len(starts)
    slot = _node_slots(self, nodes)
    ns = nodes.size
    iacc, facc = kernels.rollup_slots(self.tag_offsets, self.tag_ids, slot, ns, self.status,
                                      self.prompt_tokens, self.completion_tokens, self.cost,
                                      self.latency_ms, self.ts, mode=attribution, group=b,
                                      n_groups=nb, trusted=self)
    split = attribution == "split"
    if metric == "cost":
        vals = iacc[:, :, 4] / NANOS
    elif metric == "total_tokens":
        vals = (facc[:, :, 2] + facc[:, :, 3]) if split else (iacc[:, :, 2] + iacc[:, :, 3])
    else:
        c = _TS_METRICS[metric]
        vals = facc[:, :, c] if split else iacc[:, :, c]
    paths = self.trie.paths
    labels = [paths[v] for v in nodes.tolist()]
    if attribution != "full":
        labels.append(_log_mod().UNTAGGED)
    else:
        vals = vals[:, :ns]
    df = pd.DataFrame(vals, index=pd.DatetimeIndex(starts, name="ts"),
                      columns=pd.Index(labels, dtype=object, name="tag"))
    return df


# ------------------------------------------------------------------------------- pivot, top


def pivot(self: RequestLog, dim_a: str, dim_b: str, metric: str = "cost") -> pd.DataFrame:
    """``metric`` for each pair (a child of ``dim_a``, a child of ``dim_b``) that some
    request carries together; full paths as labels, full attribution.

    >>> from tagcore import RequestLog
    >>> log = RequestLog.from_records([
    ...     {"ts": 0, "model": "m", "prompt_tokens": 1, "completion_tokens": 0, "cost": 2,
    ...      "latency_ms": 1, "status": 200, "request_tags": ["customer/a", "feature/x"]}])
    >>> log.pivot("customer", "feature")
    feature     feature/x
    customer
    customer/a        2.0
    """
    if metric not in _TS_METRICS:
        raise ValueError(f"metric: expected one of {list(_TS_METRICS)}, got {metric!r}")
    na = _set_nodes(self, dim_a, None, "full", what="pivot")
    nb = _set_nodes(self, dim_b, None, "full", what="pivot")
    sa, sb = _node_slots(self, na), _node_slots(self, nb)
    if metric == "cost":
        values = self.cost
    elif metric == "requests":
        values = np.ones(len(self), dtype=np.int64)
    elif metric == "errors":
        values = (self.status >= 400).astype(np.int64)
    elif metric == "total_tokens":
        values = self.prompt_tokens + self.completion_tokens
    else:
        values = getattr(self, metric)
    out, _ = kernels.rollup_pairs(self.tag_offsets, self.tag_ids, sa, na.size, sb, nb.size,
                                  values, trusted=self)
    paths = self.trie.paths
    data = out / NANOS if metric == "cost" else out
    df = pd.DataFrame(data, index=pd.Index([paths[v] for v in na.tolist()], dtype=object),
                      columns=pd.Index([paths[v] for v in nb.tolist()], dtype=object))
    df.index.name = dim_a
    df.columns.name = dim_b
    return df


def top(self: RequestLog, n: int = 10, under: str | None = None, level: int | None = None,
        attribution: str = "split", metric: str = "cost",
        metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """The ``n`` largest nodes of a set by ``metric``, plus an ``(other)`` row holding the
    rest, so that the rows add up to the total (split or primary attribution; with full
    attribution nodes overlap and ``(other)`` is what the top n do not cover).

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
    metrics = list(L._check_metrics(metrics))
    sum_metrics = [m for m in metrics if m in ("requests", "errors", "prompt_tokens",
                                                "completion_tokens", "total_tokens", "cost",
                                                "cost_nanos", "share")]
    if metric not in sum_metrics:
        raise ValueError(f"metric: {metric!r} must be one of the summed metrics {sum_metrics}")
    inner = list(dict.fromkeys([*sum_metrics, "cost_nanos"]))  # exact money inside
    if attribution == "full":
        nodes = _set_nodes(self, under, level, attribution, what="top")
        df = rollup(self, under=under, level=level if level is not None else
                    (self.trie.depth(nodes[0]) if nodes.size else None),
                    metrics=inner) if nodes.size else _empty_frame(inner, False)
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
    else:
        tot = totals(self, counted)
        other = {m: tot[m] - head[m].sum() for m in counted}
    other["cost"] = int(other["cost_nanos"]) / NANOS
    grand = int(self.cost.sum())
    other["share"] = int(other["cost_nanos"]) / grand if grand else 0.0
    other.update(depth=0, parent=None)
    row = pd.DataFrame([other], index=pd.Index([L.OTHER], name="tag"))
    out = pd.concat([head, row[[c for c in head.columns]]]) if len(head) else \
        row[[c for c in df.columns]]
    out = out.astype({c: df[c].dtype for c in df.columns if c != "parent"})
    out.index.name = "tag"
    return out[["depth", "parent", *metrics_order(sum_metrics, metrics)]]


def metrics_order(have: Sequence[str], want: Sequence[str]) -> list[str]:
    return [m for m in want if m in have]
