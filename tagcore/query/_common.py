"""What the query modules share: resolving paths and sets to nodes, the cached layouts of a
log, and shaping frames."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tagcore import kernels
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
