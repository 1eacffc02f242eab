"""Slow, obviously correct pure-Python twins of the compiled kernels.

Each function has the name of the public wrapper in :mod:`tagcore.kernels` that it mirrors and
returns the same values. They exist to be read and to serve as test oracles, never to run in
production.
"""

from __future__ import annotations

import numpy as np


def expand_ancestors(parents, offsets, ids):
    """Each row's distinct tags and their ancestors, in first-reached order, as CSR."""
    out_offsets = [0]
    out_ids: list[int] = []
    for r in range(len(offsets) - 1):
        seen: set[int] = set()
        for j in range(int(offsets[r]), int(offsets[r + 1])):
            node = int(ids[j])
            while node >= 0 and node not in seen:
                seen.add(node)
                out_ids.append(node)
                node = int(parents[node])
        out_offsets.append(len(out_ids))
    return np.asarray(out_offsets, dtype=np.int64), np.asarray(out_ids, dtype=np.int32)
