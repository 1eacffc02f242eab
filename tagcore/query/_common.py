"""What the query modules share: resolving paths and sets to nodes, the cached layouts of a
log, and shaping frames."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tagcore import kernels
from tagcore.errors import TagcoreError
from tagcore.tags import TagError, normalize_tag

if TYPE_CHECKING:  # pragma: no cover
    from tagcore.log import RequestLog

NANOS = 10**9
_ATTRIBUTIONS = ("full", "split", "primary")


def _log_mod():
    from tagcore import log as _log

    return _log


# ------------------------------------------------------------------------------- helpers


class UnknownPathError(TagcoreError, ValueError):
    """A query named a tag path that the log has never seen (``rollup(under="custmer")``):
    an empty frame would read as "no spend", so it is refused. ``path`` is the path as
    normalized, ``nearest`` the closest existing paths at its depth (maybe none).

    >>> str(UnknownPathError("under", "custmer", ["customer"]))
    "under: 'custmer' is not a tag path of this log; did you mean 'customer'?"
    """

    def __init__(self, what: str, path: str, nearest: Sequence[str] = (), hint: str = ""):
        self.what, self.path, self.nearest = what, path, list(nearest)
        msg = f"{what}: {path!r} is not a tag path of this log"
        if self.nearest:
            msg += "; did you mean " + " or ".join(repr(p) for p in self.nearest) + "?"
        super().__init__(msg + hint)


#: names of request columns that are no tag dimension: a hint points at ``by=``
_COLUMNS = ("model", "status", "user", "key")


def _unknown_path(log: RequestLog, path: str, what: str) -> UnknownPathError:
    """The error for ``path`` (normalized) missing from the log's trie, with the nearest
    paths of the same depth (difflib), else the first few paths at that depth."""
    import difflib

    trie = log.trie
    depth = path.count("/") + 1
    at = [trie.path(int(i)) for i in np.asarray(trie.at_level(depth))] if len(trie) else []
    nearest = difflib.get_close_matches(path, at, n=3, cutoff=0.6)
    hint = ""
    if not nearest:
        if not len(trie):
            hint = "; the log has no tags"
        elif at:
            more = f" and {len(at) - 8:,} more" if len(at) > 8 else ""
            hint = f"; its tags at depth {depth}: {', '.join(at[:8])}{more}"
        else:
            hint = f"; it has no tags at depth {depth}"
    if path in _COLUMNS:
        hint += f" ({path!r} is a column of the log: rollup(by={path!r}) groups by it)"
    return UnknownPathError(what, path, nearest, hint)


def _node(log: RequestLog, path: str | None, what: str) -> int | None:
    """Normalized id of ``path`` in the log's trie; None for None. A path the trie lacks
    raises :class:`UnknownPathError` (naming the nearest paths), except in a log that has
    neither requests nor tags, whose every answer is empty (-1)."""
    if path is None:
        return None
    if not isinstance(path, str):
        raise TypeError(f"{what}: expected a tag path, got {path!r}")
    try:
        norm = normalize_tag(path)
    except TagError as exc:
        raise ValueError(f"{what}: {exc}") from None
    got = log.trie.get(norm, -1)
    if got < 0 and (len(log) or len(log.trie)):
        raise _unknown_path(log, norm, what)
    return got


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
               what: str = "attribution", arg: str = "under") -> np.ndarray:
    """The nodes of one set (disjoint: one level under one node), in path order; ``arg``
    names the argument that gave ``under`` in errors."""
    _check_level(level)
    if under is None and level is None:
        raise ValueError(
            f"{what}={attribution!r} needs a set of sibling nodes: give under= (its children) "
            "and/or level= (an absolute depth)")
    u = _node(log, under, arg)
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


# ------------------------------------------------------------------------------- exact sums
# Integer sums (tokens, nano-dollars) are int64 in the kernels, and int64 addition wraps
# around: exact modulo 2**64. Every sum a query shows (a node, a slot, a bucket, a pair, a
# total) adds each row's non-negative value at most once, so it lies between 0 and its column's
# total. A column whose total fits int64 (checked once per log, from its max, in O(n)) can
# therefore not wrap anywhere: the normal path. Otherwise a shown sum is exact as uint64 while
# the column total is below 2**64, and it wrapped exactly when it reads negative: that sum is
# refused (SumOverflowError names the column and where); beyond 2**64 every sum of the column
# is refused.

_I64_MAX = 2**63 - 1
_U64 = 2**64
#: metric -> the int64 columns it sums (tokens split as float64 are not integer sums)
_SUMMED = {"prompt_tokens": ("prompt_tokens",), "completion_tokens": ("completion_tokens",),
           "total_tokens": ("prompt_tokens", "completion_tokens"), "cost": ("cost",),
           "cost_nanos": ("cost",), "share": ("cost",), "cached_tokens": ("cached_tokens",),
           "reasoning_tokens": ("reasoning_tokens",)}
#: the column (family) a metric's sums are checked and named under
_FAMILY = {"cost_nanos": "cost", "share": "cost"}


def _int_column(log: RequestLog, name: str) -> np.ndarray:
    if name in ("prompt_tokens", "completion_tokens", "cost"):
        return getattr(log, name)
    col = log.extras.get(name)
    return np.zeros(len(log), dtype=np.int64) if col is None else col


def exact_sum(a: np.ndarray, largest: int | None = None) -> int:
    """The exact sum (a Python int) of non-negative int64 values, whatever its size;
    ``largest`` may pass ``a.max()`` when known.

    >>> exact_sum(np.array([2**62, 2**62, 2**62], dtype=np.int64)) == 3 * 2**62
    True
    """
    n = a.size
    if n == 0:
        return 0
    bound = (int(a.max()) if largest is None else largest) * n
    if bound <= _I64_MAX:
        return int(a.sum())
    if bound < _U64:
        return int(a.sum(dtype=np.uint64))
    total = 0
    for i in range(0, n, 2**31):  # 32-bit halves: each half's sum of 2**31 rows fits uint64
        part = a[i:i + 2**31]
        total += (int((part >> 32).sum(dtype=np.uint64)) << 32) + \
            int((part & 0xFFFFFFFF).sum(dtype=np.uint64))
    return total


def _col_max(log: RequestLog, name: str) -> int:
    key = ("col_max", name)
    got = log._cache.get(key)
    if got is None:
        col = _int_column(log, name)
        got = log._cache[key] = int(col.max()) if col.size else 0
    return got


def col_total(log: RequestLog, name: str) -> int:
    """The exact total of an integer column of the log (a Python int; cached on the log)."""
    key = ("col_total", name)
    got = log._cache.get(key)
    if got is None:
        got = log._cache[key] = exact_sum(_int_column(log, name), _col_max(log, name))
    return got


def _over(log: RequestLog, metric: str) -> int | None:
    """The exact total of ``metric``'s columns when it is beyond int64, else None (the
    normal case, decided from the columns' maxima)."""
    cols = _SUMMED.get(metric)
    if cols is None:
        return None
    if sum(_col_max(log, c) for c in cols) * len(log) <= _I64_MAX:
        return None
    total = sum(col_total(log, c) for c in cols)
    return total if total > _I64_MAX else None


def _largest(log: RequestLog, metric: str) -> tuple[int | None, int | None]:
    """The row holding ``metric``'s largest per-row value, and that value."""
    if len(log) == 0:
        return None, None
    cols = [_int_column(log, c) for c in _SUMMED[metric]]
    row = int(np.argmax(sum(c.astype(np.float64) for c in cols)))
    return row, sum(int(c[row]) for c in cols)


def overflow_error(log: RequestLog, metric: str, total: int, where: str | None):
    """The :class:`~tagcore.log.SumOverflowError` for a sum of ``metric`` beyond int64."""
    fam = _FAMILY.get(metric, metric)
    row, value = _largest(log, fam)
    name = "total_tokens (prompt_tokens + completion_tokens)" if fam == "total_tokens" else fam
    return _log_mod().SumOverflowError(name, total, where=where, row=row, value=value)


def check_sums(log: RequestLog, metrics: Sequence[str], cells: Any, where: Any) -> None:
    """Refuse (raise SumOverflowError) if a sum about to be shown wrapped around.

    ``cells(family)`` gives the int64 sums of ``"cost"``, ``"prompt_tokens"``,
    ``"completion_tokens"`` or ``"total_tokens"`` that will be shown (None when they are not
    integer sums), ``where(i)`` names the i-th (flat) cell. Costs one cached look-up per metric
    on a log whose columns cannot overflow.
    """
    for fam in dict.fromkeys(_FAMILY.get(m, m) for m in metrics if m in _SUMMED):
        total = _over(log, fam)
        if total is None:
            continue
        c = cells(fam)
        if c is None:
            continue
        if total >= _U64:  # the wrapped sums cannot be told apart from true ones
            raise overflow_error(log, fam, total, "all rows")
        flat = np.asarray(c).ravel()
        bad = np.flatnonzero(flat < 0)
        if bad.size:
            i = int(bad[0])
            raise overflow_error(log, fam, int(flat[i]) % _U64, where(i))


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


def _int_sums(iacc: np.ndarray, fam: str, split: bool) -> np.ndarray | None:
    """The int64 sums of one column family in accumulator rows (``...`` x kernels.ICOLS);
    None for split tokens, which are float shares."""
    if fam == "cost":
        return iacc[..., 4]
    if split:
        return None
    if fam == "total_tokens":
        return iacc[..., 2] + iacc[..., 3]  # wraps like the sums it adds: checked alike
    return iacc[..., 2 if fam == "prompt_tokens" else 3]


def _frame(log: RequestLog, labels: list[str], depth: np.ndarray, parent: list[Any],
           iacc: np.ndarray, facc: np.ndarray | None, lat_sum: np.ndarray,
           quant: dict[str, np.ndarray], metrics: Sequence[str], split: bool,
           grand_cost: int) -> pd.DataFrame:
    """Assemble a roll-up frame from accumulator rows (columns of kernels.ICOLS)."""
    check_sums(log, metrics, lambda fam: _int_sums(iacc, fam, split), labels.__getitem__)
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
            data[m] = (iacc[:, 4] / (grand_cost if grand_cost <= _I64_MAX else float(grand_cost))
                       if grand_cost else np.zeros(len(labels)))
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


# ------------------------------------------------------------------------------- unpriced
# A request whose cost is unknown (a model the price table could not price, a record without a
# cost) is kept at 0 nano-dollars and flagged in the log's ``unpriced`` int extra. When a log
# has any such row, the frames add an ``unpriced`` column: how many of the requests they count
# have an unknown cost (split shares under split attribution), so a cost is never read as
# complete when it is not. A log without one pays one cached look-up.

UNPRICED = "unpriced"


def unpriced_mask(log: RequestLog) -> np.ndarray | None:
    """The rows of ``log`` whose cost is unknown, as a bool mask, or None when there are none
    (decided from the column's maximum, which the log computed when it was built; cached)."""
    if UNPRICED not in log.extras or _col_max(log, UNPRICED) == 0:
        return None
    got = log._cache.get("unpriced_mask")
    if got is None:
        got = log._cache["unpriced_mask"] = log.extras[UNPRICED] != 0
    return got


def unpriced_log(log: RequestLog) -> RequestLog:
    """The unpriced rows of ``log`` as a log over the same trie (cached); only for a log
    with some (:func:`unpriced_mask`)."""
    got = log._cache.get("unpriced_log")
    if got is None:
        mask = unpriced_mask(log)
        assert mask is not None
        got = log._cache["unpriced_log"] = log[mask]
    return got
