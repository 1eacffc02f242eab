"""The fast chunk decoder of a scan: an Arrow table of one chunk to a chunk
:class:`~tagcore.log.RequestLog`, for the common, well-formed case.

The tag lists (``list<dictionary<string>>``, as Parquet gives them with ``read_dictionary``)
are mapped to node ids through the source's :class:`~tagcore.scan._source._TagIndex`: the raw
strings of earlier chunks are found in C and only new ones are normalized, so a chunk costs a
hash lookup of its dictionary and one ``take`` of its codes, not a normalization of every
distinct tag. The other columns go through the same column readers as
:func:`tagcore.io.arrow.from_arrow` (one rule for money, time and counts).

Anything unusual, and every problem, returns None: the caller then builds the chunk with
:func:`tagcore.io.arrow._from_table`, which gives the same log or the precise error (null tags,
invalid tags, too many tags in a request, a bad value, a file without a cost column).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tagcore._kernels import _partial
from tagcore._validate import as_array
from tagcore.log import INT_EXTRAS, STR_EXTRAS, RequestLog
from tagcore.scan._source import DROP
from tagcore.tags import TagPolicy

__all__ = ["dollars_fast", "fast_log", "map_tags"]


def map_tags(offsets: np.ndarray, codes: np.ndarray, table: np.ndarray, n_nodes: int
             ) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Codes of a dictionary-encoded tag list column through ``table`` (code -> node id, or
    :data:`~tagcore.scan._source.DROP`: left out), each row's repeats dropped:
    ``(offsets, ids, longest row)``, or None for a code outside the table (the exact reader
    words it).

    >>> o, i, k = map_tags(np.array([0, 3, 4]), np.array([1, 0, 1, 2], np.int32),
    ...                    np.array([5, 7, 5], np.int32), 8)
    >>> o.tolist(), i.tolist(), k
    ([0, 2, 3], [7, 5, 5], 2)
    """
    off = as_array(offsets, np.int64, "offsets")
    cd = as_array(codes, np.int32, "codes")
    tb = as_array(table, np.int32, "table")
    if off.size == 0 or off[0] != 0 or off[-1] != cd.size or off.min() < 0 or \
            off.max() > cd.size:
        raise ValueError("offsets: not the offsets of the codes")
    if tb.size and (((tb < 0) & (tb != DROP)).any() or tb.max() >= n_nodes):
        raise ValueError(f"table: node ids must be in [0, {n_nodes}) (or DROP)")
    out_off = np.empty(off.size, dtype=np.int64)
    out_ids = np.empty(cd.size, dtype=np.int32)
    stamp = np.full(max(n_nodes, 1), -1, dtype=np.int64)
    w, longest = _partial.map_tags(off, cd, tb, stamp, out_off, out_ids)
    if w < 0:
        return None
    return out_off, out_ids[:w] if w < cd.size else out_ids, int(longest)


def dollars_fast(dollars: np.ndarray) -> np.ndarray | None:
    """Exact nano-dollars of float dollars (the rule of :func:`tagcore.coerce.dollars_to_nanos`)
    in one compiled pass, or None when some value needs the exact path (negative, $2**22 or
    more, more than 9 decimals).

    >>> dollars_fast(np.array([0.1, 3.0, 4.5e-7])).tolist()
    [100000000, 3000000000, 450]
    >>> dollars_fast(np.array([2.5e-10])) is None
    True
    """
    x = as_array(dollars, np.float64, "cost")
    out = np.empty(x.size, dtype=np.int64)
    return out if _partial.dollars_to_nanos(x, out) == 0 else None


def _same_dictionary(src: Any, dictionary: Any, anchors: Any) -> np.ndarray | None:
    """The node ids of this thread's last dictionary when ``dictionary`` equals it (the
    batches of one row group each carry a copy of its dictionary)."""
    last = getattr(src._local, "dictionary", None)
    if last is not None and last[2] == anchors and len(last[0]) == len(dictionary) and \
            last[0].equals(dictionary):
        return last[1]
    return None


def _tags(pa: Any, pc: Any, col: Any, src: Any, anchors: Any = None
          ) -> tuple[np.ndarray, np.ndarray, int] | None:
    """CSR ``(offsets, node ids, longest row)`` of a clean tag column, repeats in a row
    dropped (tags cut or left out as ``anchors`` say, see
    :class:`~tagcore.scan._source._TagIndex`; the longest row is then counted before); None
    when the column needs the exact reader."""
    t = col.type
    if not (pa.types.is_list(t) or pa.types.is_large_list(t)):
        return None
    parts = []
    for ch in col.chunks:
        if ch.null_count:
            return None
        offs = np.asarray(ch.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
        lo, hi = int(offs[0]), int(offs[-1])
        values = ch.values.slice(lo, hi - lo)
        if values.null_count:
            return None
        if not pa.types.is_dictionary(values.type):
            if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
                return None
            values = pc.dictionary_encode(values)
        dictionary = values.dictionary
        if dictionary.null_count:
            return None
        table = _same_dictionary(src, dictionary, anchors)
        with src.lock:
            if table is None:
                table = src._tag_index(anchors).lookup(dictionary)
                src._local.dictionary = (dictionary, table, anchors)
            n_nodes = len(src.trie)
        if table.size and ((table < 0) & (table != DROP)).any():
            return None  # an invalid tag: the exact reader says which and where
        codes = np.asarray(values.indices.to_numpy(zero_copy_only=False))
        got = map_tags(offs - lo, codes, table, n_nodes)
        if got is None:
            return None
        if anchors is not None and offs.size > 1:  # the policy counts the tags, not their cut
            got = (got[0], got[1], max(got[2], int(np.diff(offs).max())))
        parts.append(got)
    if len(parts) == 1:
        return parts[0]
    lens = [np.diff(o) for o, _, _ in parts]
    offsets = np.zeros(sum(x.size for x in lens) + 1, dtype=np.int64)
    if lens:
        np.cumsum(np.concatenate(lens), out=offsets[1:])
    ids = np.concatenate([i for _, i, _ in parts]) if parts else np.zeros(0, np.int32)
    return offsets, ids, max((k for _, _, k in parts), default=0)


def fast_log(table: Any, mapping: dict[str, str], src: Any, name: str,
             anchors: Any = None) -> RequestLog | None:
    """The chunk log of ``table`` (native -> column ``mapping``; a ``__tagcore_fill_`` column
    is a placeholder), tags cut or left out as ``anchors`` say (see
    :class:`~tagcore.scan._source._TagIndex`), or None when the exact reader must decide."""
    from tagcore.io._common import _Problems, _pyarrow
    from tagcore.io.arrow import (
        _arrow_dollars,
        _arrow_float,
        _arrow_int,
        _arrow_strings,
        _arrow_ts,
    )

    opts = src.opts
    if src.on_error != "raise" or "request_tags" not in mapping:
        return None
    if "cost" not in mapping and "cost_nanos" not in mapping:
        return None  # no cost column: every request unpriced, as the exact reader says
    pa, pc, _ = _pyarrow()
    names = set(table.column_names)
    if any(v not in names for v in mapping.values()):
        return None
    if mapping["request_tags"].startswith("__tagcore_fill_"):
        got: Any = (np.zeros(table.num_rows + 1, dtype=np.int64), np.zeros(0, dtype=np.int32), 0)
    else:
        got = _tags(pa, pc, table.column(mapping["request_tags"]), src, anchors)
    if got is None:
        return None
    offsets, ids, longest = got
    pol = src.policy or TagPolicy()
    if longest > pol.max_tags:
        return None
    n = table.num_rows
    probs = _Problems(n)

    def col(native: str) -> Any:
        return table.column(mapping[native])

    has = mapping.__contains__
    args: dict[str, Any] = {}
    if has("ts"):
        args["ts"] = _arrow_ts(col("ts"), probs, name, opts.ts_unit)
    if has("model"):
        args["model"], args["models"] = _arrow_strings(col("model"), "model", probs, name,
                                                       required=True)
    for c in ("prompt_tokens", "completion_tokens"):
        if has(c):
            args[c] = _arrow_int(col(c), c, probs, name)
    if has("cost_nanos"):
        args["cost_nanos"] = _arrow_int(col("cost_nanos"), "cost_nanos", probs, name)
    else:
        c = col("cost")
        nanos = None
        if pa.types.is_float64(c.type) and not c.null_count:
            nanos = dollars_fast(c.to_numpy())
        args["cost_nanos"] = nanos if nanos is not None else \
            _arrow_dollars(c, "cost", probs, name)
    if has("latency_ms"):
        args["latency_ms"] = _arrow_float(col("latency_ms"), "latency_ms", probs, name)
    if has("status"):
        args["status"] = _arrow_int(col("status"), "status", probs, name,
                                    limit=999).astype(np.int32)
    extras: dict[str, Any] = {}
    for k in INT_EXTRAS:
        if has(k):
            extras[k] = _arrow_int(col(k), k, probs, name, default=0)
    for k in STR_EXTRAS:
        if has(k):
            extras[k] = _arrow_strings(col(k), k, probs, name, required=False)
    if probs.bad_rows() is not None:
        return None
    try:
        return RequestLog.from_arrays(tag_offsets=offsets, tag_ids=ids, trie=src.trie,
                                      extras=extras, copy=False, **args)
    except ValueError:
        return None  # the exact reader words it
