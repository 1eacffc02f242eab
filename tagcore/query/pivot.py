"""Cross roll-up of two tag dimensions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tagcore import kernels

if TYPE_CHECKING:  # pragma: no cover
    from tagcore.log import RequestLog

from tagcore.query._common import (  # noqa: F401
    _ATTRIBUTIONS,
    NANOS,
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
    check_sums,
    unpriced_mask,
)
from tagcore.query.timeseries import _TS_METRICS

# ------------------------------------------------------------------------------- pivot, top


def pair_values(log: RequestLog, metric: str, unpriced: np.ndarray | None) -> np.ndarray:
    """The value each request adds to its pivot cells for ``metric`` (``unpriced``: the
    rows whose cost is unknown, or None when there are none), for :func:`pivot` and a
    scan's pivot chunk alike.

    >>> from tagcore import RequestLog
    >>> log = RequestLog.from_records([
    ...     {"ts": 0, "model": "m", "prompt_tokens": 1, "completion_tokens": 2, "cost": 2,
    ...      "latency_ms": 1, "status": 500, "request_tags": ["a"]}])
    >>> [pair_values(log, m, None).tolist() for m in ("requests", "errors", "total_tokens")]
    [[1], [1], [3]]
    """
    if metric == "cost":
        return log.cost
    if metric == "requests":
        return np.ones(len(log), dtype=np.int64)
    if metric == "errors":
        return (log.status >= 400).astype(np.int64)
    if metric == "total_tokens":
        return log.prompt_tokens + log.completion_tokens
    if metric == "unpriced":
        return (np.zeros(len(log), dtype=np.int64) if unpriced is None
                else unpriced.astype(np.int64))
    return getattr(log, metric)


def pivot(self: RequestLog, dim_a: str, dim_b: str, metric: str = "cost") -> pd.DataFrame:
    """``metric`` for each pair (a child of ``dim_a``, a child of ``dim_b``) that some
    request carries together; full paths as labels, full attribution. A dimension the log
    has never seen raises :class:`~tagcore.query.UnknownPathError` naming the nearest ones.
    ``metric="unpriced"`` counts the requests whose cost is unknown; a cost pivot of a log
    that has such requests says how many it counts in ``df.attrs["unpriced"]``.

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
    _log_mod().check_known(self.unknown, [metric], "metric")
    na = _set_nodes(self, dim_a, None, "full", what="pivot", arg="dim_a")
    nb = _set_nodes(self, dim_b, None, "full", what="pivot", arg="dim_b")
    sa, sb = _node_slots(self, na), _node_slots(self, nb)
    values = pair_values(self, metric, unpriced_mask(self) if metric == "unpriced" else None)
    out, _ = kernels.rollup_pairs(self.tag_offsets, self.tag_ids, sa, na.size, sb, nb.size,
                                  values, trusted=self)
    paths = self.trie.paths
    check_sums(self, [metric], lambda fam: out,
               lambda i: f"the pair ({paths[na[i // nb.size]]}, {paths[nb[i % nb.size]]})")
    data = out / NANOS if metric == "cost" else out
    df = pd.DataFrame(data, index=pd.Index([paths[v] for v in na.tolist()], dtype=object),
                      columns=pd.Index([paths[v] for v in nb.tolist()], dtype=object))
    df.index.name = dim_a
    df.columns.name = dim_b
    flags = unpriced_mask(self)
    if metric == "cost" and flags is not None:
        # requests with an unknown cost that carry a node of each dimension
        one_a = np.where(sa >= 0, 0, -1).astype(np.int32)
        one_b = np.where(sb >= 0, 0, -1).astype(np.int32)
        got = 0
        if na.size and nb.size:
            got = int(kernels.rollup_pairs(self.tag_offsets, self.tag_ids, one_a, 1, one_b, 1,
                                           flags.astype(np.int64), trusted=self)[0][0, 0])
        df.attrs["unpriced"] = got
    return df
