"""The one gate between Python values and the compiled kernels.

Every array a kernel reads passes through here once: dtype (range-checked before narrowing),
C-contiguity, lengths that agree, CSR offsets that start at 0, never decrease and end at the
number of ids, ids inside ``[0, n_nodes)`` and parents that point to smaller ids. A failure raises
:class:`ValueError` (or :class:`TypeError`) naming the array, the position and the reason, so no
kernel ever sees an array that could make it read out of bounds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CHECKED = object()
"""Private: ``trusted=CHECKED`` says "this module validated these very arrays a moment ago".
Only :mod:`tagcore.kernels` passes it, for arrays it has just checked or made itself."""


def _trust(trusted: Any, offsets: Any, ids: Any, n_nodes: int) -> bool:
    """Whether the O(n) CSR checks may be skipped. ``trusted`` is falsy (check in full),
    :data:`CHECKED` (internal), or the :class:`~tagcore.log.RequestLog` whose own arrays
    ``offsets`` and ``ids`` are, validated when it was built and immutable since; its ids are
    below the size its trie had then, which ``n_nodes`` must cover. Anything else is refused:
    ``trusted=True`` no longer skips checks for arrays of unknown origin."""
    if trusted is None or trusted is False:
        return False
    if trusted is CHECKED:
        return True
    from tagcore.log import RequestLog

    if not isinstance(trusted, RequestLog):
        raise TypeError("trusted: expected the RequestLog whose tag arrays these are, got "
                        f"{type(trusted).__name__} (pass nothing to have the arrays checked)")
    if offsets is not trusted.tag_offsets or ids is not trusted.tag_ids:
        raise ValueError("trusted: these tag arrays are not the log's own; pass nothing to "
                         "have them checked")
    if n_nodes < trusted._n_nodes:
        raise ValueError(f"n_nodes: {n_nodes} is less than the {trusted._n_nodes} nodes the "
                         "log's ids were checked against")
    return True

_INT_LIMITS = {
    np.dtype(np.int8): (-(2**7), 2**7 - 1),
    np.dtype(np.int16): (-(2**15), 2**15 - 1),
    np.dtype(np.int32): (-(2**31), 2**31 - 1),
    np.dtype(np.int64): (-(2**63), 2**63 - 1),
}


def as_array(values, dtype, name: str, *, ndim: int = 1) -> np.ndarray:
    """Return ``values`` as a C-contiguous array of ``dtype``, checking range and shape.

    Integers are range-checked before narrowing; floats are refused where integers are asked
    for unless they are whole numbers. Bools are accepted for integer targets.

    >>> as_array([1, 2], np.int32, "ids").dtype
    dtype('int32')
    >>> as_array([2**40], np.int32, "ids")
    Traceback (most recent call last):
    ...
    ValueError: ids: value 1099511627776 at position 0 does not fit in int32
    """
    dtype = np.dtype(dtype)
    arr = np.asarray(values)
    if arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d array, got {arr.ndim}-d")
    if dtype.kind == "i":
        if arr.dtype.kind == "f":
            bad = ~np.isfinite(arr) | (arr != np.floor(arr))
            if bad.any():
                pos = int(np.flatnonzero(bad.ravel())[0])
                raise ValueError(f"{name}: value {arr.ravel()[pos].item()!r} at position {pos} is not a whole number")
        elif arr.dtype.kind not in "iub" and arr.size:
            raise TypeError(f"{name}: expected integers, got dtype {arr.dtype}")
        if arr.size and arr.dtype != dtype and arr.dtype.kind != "b":
            lo, hi = _INT_LIMITS[dtype]
            amin, amax = arr.min(), arr.max()
            if amin < lo or amax > hi:
                flat = arr.ravel()
                pos = int(np.flatnonzero((flat < lo) | (flat > hi))[0])
                raise ValueError(f"{name}: value {flat[pos].item()!r} at position {pos} does not fit in {dtype}")
    elif dtype.kind == "f" and arr.dtype.kind not in "fiub" and arr.size:
        raise TypeError(f"{name}: expected numbers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=dtype)


def check_parents(parents, *, trusted: Any = None) -> np.ndarray:
    """Validate a parent array: int32, ``-1 <= parents[i] < i`` so walks up always end.

    >>> check_parents([-1, 0, 1]).tolist()
    [-1, 0, 1]
    >>> check_parents([-1, 2, 1])
    Traceback (most recent call last):
    ...
    ValueError: parents: parent 2 of node 1 is not smaller than the node (must be -1 or < 1)
    """
    p = as_array(parents, np.int32, "parents")
    if p.size:  # O(nodes): always checked, whoever calls
        idx = np.arange(p.size, dtype=np.int64)
        bad = (p < -1) | (p >= idx)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"parents: parent {int(p[i])} of node {i} is not smaller than the node "
                f"(must be -1 or < {i})"
            )
    return p


def check_csr(offsets, ids, n_nodes: int, *, n_rows: int | None = None,
              names: tuple[str, str] = ("tag_offsets", "tag_ids"),
              trusted: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate CSR arrays: offsets int64 from 0, non-decreasing, ending at ``len(ids)``;
    ids int32 in ``[0, n_nodes)``.

    ``trusted=log`` is for the arrays of a built :class:`~tagcore.log.RequestLog`, which
    were checked in full when it was built and are immutable since (its trie only grows):
    then only the O(1) checks run, after checking that these are that log's very arrays.

    >>> o, i = check_csr([0, 2, 3], [0, 1, 1], 2)
    >>> check_csr([0, 2, 3], [0, 1, 5], 2)
    Traceback (most recent call last):
    ...
    ValueError: tag_ids: id 5 at position 2 is outside [0, 2)
    """
    on, iname = names
    off = as_array(offsets, np.int64, on)
    idv = as_array(ids, np.int32, iname)
    if off.size == 0:
        raise ValueError(f"{on}: must hold n_rows + 1 entries, got an empty array")
    if n_rows is not None and off.size != n_rows + 1:
        raise ValueError(f"{on}: expected {n_rows + 1} entries (n_rows + 1), got {off.size}")
    if off[0] != 0:
        raise ValueError(f"{on}: must start at 0, starts at {int(off[0])}")
    if _trust(trusted, offsets, ids, n_nodes):
        if off[-1] != idv.size:
            raise ValueError(f"{on}: ends at {int(off[-1])} but {iname} holds {idv.size} ids")
        return off, idv
    if off.size > 1:
        d = np.diff(off)
        if (d < 0).any():
            i = int(np.flatnonzero(d < 0)[0])
            raise ValueError(f"{on}: decreases at position {i + 1} ({int(off[i])} -> {int(off[i + 1])})")
    if off[-1] != idv.size:
        raise ValueError(f"{on}: ends at {int(off[-1])} but {iname} holds {idv.size} ids")
    if idv.size:
        bad = (idv < 0) | (idv >= n_nodes)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{iname}: id {int(idv[i])} at position {i} is outside [0, {n_nodes})")
    return off, idv


def check_length(arr: np.ndarray, n: int, name: str) -> None:
    """Raise unless ``len(arr) == n``."""
    if arr.shape[0] != n:
        raise ValueError(f"{name}: expected {n} rows, got {arr.shape[0]}")
