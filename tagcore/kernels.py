"""Validated entry points to the compiled kernels.

Each function here checks its inputs through :mod:`tagcore._validate`, allocates the outputs and
calls the compiled kernel of the same name; :mod:`tagcore._slow` holds the pure-Python twin with
the same signature and result, which the tests use as the oracle.
"""

from __future__ import annotations

import numpy as np

from tagcore._kernels import _closure
from tagcore._validate import check_csr, check_parents


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
