"""Arrow: a pyarrow ``Table``/``RecordBatch`` to a log (:func:`from_arrow`, the column readers
that :func:`~tagcore.io.read_parquet` uses too) and the table a log becomes
(:func:`log_to_arrow`, written by :func:`~tagcore.io.to_parquet`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tagcore.io._common import (
    ReadOptions,
    _check_on_error,
    _error,
    _finish,
    _Problems,
    _pyarrow,
    _select,
)
from tagcore.io._native import (
    _NULL,
    _compact,
    _finish_tags,
    _TagMapper,
    _tags_from_objects,
)
from tagcore.io._values import _obj_dollars, _obj_floats, _obj_ints, _obj_ts
from tagcore.log import INT_EXTRAS, NANOS_PER_DOLLAR, STR_EXTRAS, RequestLog
from tagcore.tags import TagPolicy
from tagcore.trie import TagTrie

__all__ = ["from_arrow", "log_to_arrow"]


def _np(col) -> np.ndarray:
    """A chunked Arrow column (no nulls) as one numpy array that owns its memory: each chunk
    is viewed without a copy and copied once into the result."""
    chunks = [np.asarray(ch.to_numpy(zero_copy_only=False)) for ch in col.chunks]
    if not chunks:
        return np.zeros(0, dtype=col.type.to_pandas_dtype())
    return np.concatenate(chunks) if len(chunks) > 1 else chunks[0].copy()


def _undictionary(pa, col):
    """A dictionary-encoded column as its plain values, and its type."""
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    return col, col.type


def _arrow_int(col, column: str, probs: _Problems, source: str, *, default: int | None = None,
               limit: int = 2**63 - 1) -> np.ndarray:
    pa, pc, _ = _pyarrow()
    t = col.type
    if pa.types.is_null(t):
        if default is None:
            probs.add(column, np.ones(len(col), dtype=bool), lambda r: "missing value")
        return np.zeros(len(col), dtype=np.int64)
    col, t = _undictionary(pa, col)
    if pa.types.is_floating(t) or pa.types.is_decimal(t):  # whole numbers only (NaN = null)
        return _obj_ints(_np(pc.cast(col, pa.float64())), column, probs, default=default,
                         limit=limit)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _obj_ints(col.to_pylist(), column, probs, default=default, limit=limit)
    if not (pa.types.is_integer(t) or pa.types.is_boolean(t)):
        raise _error(source, column, f"expected integers, the file has type {t}")
    if pa.types.is_boolean(t):
        col = pc.cast(col, pa.int8())
    # nulls: None in a list (rare); otherwise the integers as they are, checked by coerce
    vals = col.to_pylist() if col.null_count else _np(col)
    return _obj_ints(vals, column, probs, default=default, limit=limit)


def _arrow_float(col, column: str, probs: _Problems, source: str) -> np.ndarray:
    pa, pc, _ = _pyarrow()
    t = col.type
    if pa.types.is_null(t):
        return np.full(len(col), np.nan)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _obj_floats(col.to_pylist(), column, probs)
    if not (pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t)):
        raise _error(source, column, f"expected numbers, the file has type {t}")
    return _obj_floats(_np(pc.cast(col, pa.float64())), column, probs)  # nulls: NaN


def _arrow_dollars(col, column: str, probs: _Problems, source: str) -> np.ndarray:
    """int64 nano-dollars of a dollar column, by :func:`tagcore.coerce.dollars_to_nanos`'s
    one rule: floats through their shortest decimal, decimals and text exactly."""
    pa, pc, _ = _pyarrow()
    t = col.type
    col, t = _undictionary(pa, col)
    if pa.types.is_floating(t) or pa.types.is_integer(t):
        vals = _np(pc.cast(col, pa.float64()) if pa.types.is_floating(t) or col.null_count
                   else col)
    elif pa.types.is_decimal(t) or pa.types.is_string(t) or pa.types.is_large_string(t) \
            or pa.types.is_null(t):
        vals = col.to_pylist()
    else:
        raise _error(source, column, f"expected dollar amounts, the file has type {t}")
    return _obj_dollars(vals, column, probs)


def _arrow_ts(col, probs: _Problems, source: str, unit: str = "s") -> np.ndarray:
    pa, pc, _ = _pyarrow()
    t = col.type
    col, t = _undictionary(pa, col)
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        unit = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[t.unit] if pa.types.is_timestamp(t) \
            else None
        if pa.types.is_date32(t):
            raw = pc.cast(col, pa.int32()).cast(pa.int64())
            unit = 86_400 * 10**9
        elif pa.types.is_date64(t):
            raw = pc.cast(col, pa.int64())
            unit = 10**6
        else:
            raw = pc.cast(col, pa.int64())  # UTC instants (naive: wall time read as UTC)
        nulls = raw.is_null().to_numpy(zero_copy_only=False) if raw.null_count else None
        a = _np(pc.fill_null(raw, 0) if raw.null_count else raw).astype(np.int64, copy=False)
        if unit != 1:
            lim = (2**63 - 1) // unit
            over = (a > lim) | (a < -lim)
            probs.add("ts", over, lambda r, a=a: f"{int(a[r])} does not fit in int64 nanoseconds")
            a = np.where(over, 0, a) * unit
        if nulls is not None:
            probs.add("ts", nulls, lambda r: "missing value")
        return a
    if pa.types.is_integer(t) or pa.types.is_floating(t):  # epoch numbers in ``unit``
        return _obj_ts(col.to_pylist() if col.null_count else _np(col), "ts", probs, unit=unit)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _obj_ts(col.to_pylist(), "ts", probs, unit=unit)
    raise _error(source, "ts", f"expected timestamps, the file has type {t}")


def _arrow_strings(col, column: str, probs: _Problems, source: str, *, required: bool
                   ) -> tuple[np.ndarray, tuple[str, ...]]:
    """Dictionary codes (-1 = null) and values of a string or dictionary column."""
    pa, pc, _ = _pyarrow()
    t = col.type
    if pa.types.is_null(t):
        if required:
            probs.add(column, np.ones(len(col), dtype=bool), lambda r: "missing value")
            return np.zeros(len(col), dtype=np.int32), ("",)
        return np.full(len(col), -1, dtype=np.int32), ()
    if pa.types.is_dictionary(t):
        vt = t.value_type
    else:
        vt = t
        if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
            raise _error(source, column, f"expected strings, the file has type {t}")
        col = pc.dictionary_encode(col)
    if not (pa.types.is_string(vt) or pa.types.is_large_string(vt)):
        raise _error(source, column, f"expected strings, the file has type {t}")
    index: dict[str, int] = {}
    parts = []
    for ch in col.chunks:
        dvals = ch.dictionary.to_pylist()
        remap = np.array([index.setdefault(v, len(index)) if v is not None else -1
                          for v in dvals] + [-1], dtype=np.int32)
        idx = ch.indices
        if idx.null_count:
            idx = pc.fill_null(idx, len(dvals))
        parts.append(remap[np.asarray(idx.to_numpy(zero_copy_only=False), dtype=np.int64)])
    codes = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
    values = tuple(index)
    if required:
        miss = codes < 0
        if miss.any():
            probs.add(column, miss, lambda r: "missing value")
            codes = np.where(miss, 0, codes).astype(np.int32)
            if not values:
                values = ("",)
    return codes, values


def _arrow_tags(col, trie: TagTrie, policy: TagPolicy | None, probs: _Problems, source: str,
                sep: str | None = None):
    """CSR tags from a list<string> / list<dictionary<string>> column without a Python object
    per tag: distinct strings normalized once, codes mapped to node ids with numpy."""
    pa, pc, _ = _pyarrow()
    t = col.type
    n = len(col)
    if pa.types.is_null(t):
        return np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int32), 0
    if not (pa.types.is_list(t) or pa.types.is_large_list(t)):
        if pa.types.is_dictionary(t):
            col, t = _undictionary(pa, col)
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return _tags_from_objects(col.to_pylist(), trie, policy, probs, sep=sep)
        raise _error(source, "request_tags", f"expected a list of strings, the file has type {t}")
    vt = t.value_type
    if not (pa.types.is_string(vt) or pa.types.is_large_string(vt) or pa.types.is_null(vt)
            or (pa.types.is_dictionary(vt) and (pa.types.is_string(vt.value_type)
                                                or pa.types.is_large_string(vt.value_type)
                                                or pa.types.is_null(vt.value_type)))):
        raise _error(source, "request_tags", f"expected a list of strings, the file has type {t}")
    mapper = _TagMapper(trie, policy)
    known_keys = None  # arrow array of the raw strings seen so far, and their node ids
    known_ids = np.zeros(0, dtype=np.int32)
    prev_dict, prev_table = None, None
    offs_parts: list[np.ndarray] = []
    elem_parts: list[np.ndarray] = []
    chunk_raw: list[tuple[int, Any, Any]] = []  # (first element index, codes, dictionary)
    base = 0
    for ch in col.chunks:
        offs = np.asarray(ch.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
        lo, hi = int(offs[0]), int(offs[-1])
        values = ch.values.slice(lo, hi - lo)
        offs = offs - lo
        if pa.types.is_null(values.type) or (pa.types.is_dictionary(values.type)
                                             and pa.types.is_null(values.type.value_type)):
            codes_np = np.full(len(values), -1, dtype=np.int64)
            dictarr = None
            table = np.array([_NULL], dtype=np.int32)
        else:
            if not pa.types.is_dictionary(values.type):
                values = pc.dictionary_encode(values)
            dictarr = values.dictionary
            idx = values.indices
            if idx.null_count:
                idx = pc.fill_null(idx, -1)
            codes_np = np.asarray(idx.to_numpy(zero_copy_only=False))
            if prev_dict is not None and (dictarr is prev_dict or dictarr.equals(prev_dict)):
                table = prev_table  # batches of one row group share its dictionary
            else:
                # distinct strings: look the known ones up in C, normalize only the new ones
                if known_keys is None:
                    pos = np.full(len(dictarr), -1, dtype=np.int64)
                else:
                    pos = np.asarray(pc.fill_null(pc.index_in(dictarr, value_set=known_keys),
                                                  -1).to_numpy(zero_copy_only=False))
                new = np.flatnonzero(pos < 0)
                ids = np.empty(len(dictarr), dtype=np.int32)
                ids[pos >= 0] = known_ids[pos[pos >= 0]]
                if new.size:
                    new_keys = dictarr.take(pa.array(new))
                    new_ids = mapper.map(new_keys.to_pylist())
                    ids[new] = new_ids
                    known_keys = (new_keys.cast(pa.large_string()) if known_keys is None else
                                  pa.concat_arrays([known_keys,
                                                    new_keys.cast(pa.large_string())]))
                    known_ids = np.concatenate([known_ids, new_ids])
                table = np.append(ids, np.int32(_NULL))
            prev_dict, prev_table = dictarr, table
        if ch.null_count:  # a null list is no tags; drop any elements it spans
            valid = ch.is_valid().to_numpy(zero_copy_only=False)
            lens = np.diff(offs)
            if (lens[~valid] > 0).any():
                codes_np, offs = _compact(codes_np, offs, np.repeat(valid, lens))
        chunk_raw.append((base, codes_np, dictarr))
        offs_parts.append(offs[1:] + base)
        elem_parts.append((codes_np, table))
        base += codes_np.size
    offsets = np.concatenate([np.zeros(1, dtype=np.int64), *offs_parts])
    elem = np.empty(base, dtype=np.int32)
    for (b, _, _), (codes_np, table) in zip(chunk_raw, elem_parts):
        # node id of every tag; code -1 (a null element) wraps to the _NULL slot at the end
        np.take(table, codes_np, out=elem[b:b + codes_np.size], mode="wrap")

    def raw_of(j: int) -> Any:
        for b, codes_np, dictarr in reversed(chunk_raw):
            if j >= b:
                c = int(codes_np[j - b])
                return None if c < 0 or dictarr is None else dictarr[c].as_py()
        return None

    return _finish_tags(offsets, elem, policy, raw_of, probs, "request_tags", mapper)


def _from_table(table, source: str, *, columns=None, policy: TagPolicy | None = None,
                on_error: str = "raise", trie: TagTrie | None = None, ts_unit: str = "s",
                tags_sep: str | None = None, prices: Any = None) -> RequestLog:
    """The log of an Arrow table with the native columns (``columns`` renames or selects
    them); a native column the table lacks is unknown to the log, never zero."""
    on_error = _check_on_error(on_error)
    table = _plain(_pyarrow()[0], table)
    present = _select(columns, table.column_names, source)
    n = table.num_rows
    probs = _Problems(n)
    trie = TagTrie() if trie is None else trie
    has = present.__contains__

    def col(name: str):
        return table.column(present[name])

    ts = _arrow_ts(col("ts"), probs, source, ts_unit) if has("ts") else None
    codes, models = (_arrow_strings(col("model"), "model", probs, source, required=True)
                     if has("model") else (None, None))
    prompt = (_arrow_int(col("prompt_tokens"), "prompt_tokens", probs, source)
              if has("prompt_tokens") else None)
    completion = (_arrow_int(col("completion_tokens"), "completion_tokens", probs, source)
                  if has("completion_tokens") else None)
    cost = None
    if has("cost_nanos"):
        cost = _arrow_int(col("cost_nanos"), "cost_nanos", probs, source)
    elif has("cost"):
        cost = _arrow_dollars(col("cost"), "cost", probs, source)
    latency = (_arrow_float(col("latency_ms"), "latency_ms", probs, source)
               if has("latency_ms") else None)
    status = (_arrow_int(col("status"), "status", probs, source, limit=999)
              if has("status") else None)
    extras: dict[str, Any] = {}
    for k in INT_EXTRAS:
        if k in present:
            extras[k] = _arrow_int(col(k), k, probs, source, default=0)
    for k in STR_EXTRAS:
        if k in present:
            extras[k] = _arrow_strings(col(k), k, probs, source, required=False)
    off, ids, dropped = _arrow_tags(col("request_tags"), trie, policy, probs, source, tags_sep)
    args = dict(ts=ts, model=codes, models=models, prompt_tokens=prompt,
                completion_tokens=completion, cost_nanos=cost, latency_ms=latency,
                status=None if status is None else status.astype(np.int32), tag_offsets=off,
                tag_ids=ids, trie=trie, extras=extras)
    return _finish(args, probs, on_error, source, lambda r: (f"row {r}", None), dropped,
                   prices)


def from_arrow(data: Any, *, columns=None, policy: TagPolicy | None = None,
               on_error: str = "raise", trie: TagTrie | None = None, ts_unit: str = "s",
               tags_sep: str | None = None, prices: Any = None) -> RequestLog:
    """Build a :class:`RequestLog` from Arrow data with the native columns (see the module
    doc): a pyarrow ``Table``, ``RecordBatch`` or ``RecordBatchReader``, or anything that
    speaks the Arrow PyCapsule stream interface (``__arrow_c_stream__``): a Polars
    ``DataFrame``, a DuckDB relation, a pandas frame on pyarrow, another ``RequestLog``.
    ``request_tags`` is a list of strings (plain or dictionary), or text (see
    :func:`~tagcore.tags.tags_from_text`); ``columns``, ``ts_unit``, ``tags_sep`` and
    ``prices`` as for :func:`~tagcore.io.read_parquet`. Only ``request_tags`` is required: a
    column the data lacks is unknown to the log, never zero.

    >>> import pyarrow as pa
    >>> t = pa.table({"ts": pa.array([0], pa.timestamp("us")), "model": ["m"],
    ...     "prompt_tokens": [1], "completion_tokens": [2], "cost_nanos": [7],
    ...     "latency_ms": [None], "status": [200], "request_tags": [["x/y", "x/y "]]})
    >>> log = from_arrow(t)
    >>> log.tags_of(0), log.cost.tolist(), bool(np.isnan(log.latency_ms[0]))
    (['x/y'], [7], True)
    >>> from_arrow(pa.table({"ts": [1767225600000], "request_tags": ["a,b"]}),
    ...            ts_unit="ms", tags_sep=",").tags_of(0)
    ['a', 'b']
    """
    opts = ReadOptions(columns, ts_unit, tags_sep, prices).checked()
    pa, _, _ = _pyarrow()
    table = _as_table(pa, data)
    return _from_table(table, "<arrow>", columns=opts.columns, policy=policy,
                       on_error=on_error, trie=trie, ts_unit=opts.ts_unit,
                       tags_sep=opts.tags_sep, prices=opts.prices)


def _plain_type(pa: Any, t: Any) -> Any:
    """``t`` with the view types Polars and DuckDB export (``string_view``, ``list_view``)
    and unsigned dictionary indices replaced by the types the column readers take."""
    if t == pa.string_view():
        return pa.string()
    if t == pa.binary_view():
        return pa.binary()
    if pa.types.is_dictionary(t):
        idx = t.index_type
        if pa.types.is_unsigned_integer(idx):
            idx = pa.int64() if idx.bit_width >= 32 else pa.int32()
        return pa.dictionary(idx, _plain_type(pa, t.value_type))
    if pa.types.is_list_view(t) or pa.types.is_list(t) or pa.types.is_fixed_size_list(t):
        return pa.list_(_plain_type(pa, t.value_type))
    if pa.types.is_large_list_view(t) or pa.types.is_large_list(t):
        return pa.large_list(_plain_type(pa, t.value_type))
    return t


def _plain(pa: Any, table: Any) -> Any:
    """The table with :func:`_plain_type` columns (cast only where a type differs)."""
    for i, f in enumerate(table.schema):
        t = _plain_type(pa, f.type)
        if t != f.type:
            table = table.set_column(i, f.name, table.column(i).cast(t))
    return table


def _as_table(pa: Any, data: Any) -> Any:
    """A pyarrow Table of Arrow data of any kind (Table, RecordBatch, RecordBatchReader, an
    object with ``__arrow_c_stream__`` or ``__arrow_c_array__``)."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    if hasattr(data, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(data).read_all()
    if hasattr(data, "__arrow_c_array__"):
        return pa.Table.from_batches([pa.record_batch(data)])
    if hasattr(data, "arrow") and callable(data.arrow):  # DuckDB relations of older releases
        return _as_table(pa, data.arrow())
    raise TypeError(f"expected Arrow data (a pyarrow Table, RecordBatch or RecordBatchReader, "
                    f"or an object with __arrow_c_stream__ such as a Polars DataFrame or a "
                    f"DuckDB relation), got {type(data).__name__}")


def log_to_arrow(log: RequestLog):
    """The pyarrow Table of a log: the columns :func:`~tagcore.io.to_parquet` writes.

    >>> log_to_arrow(RequestLog.empty()).column_names[:3]
    ['ts', 'model', 'prompt_tokens']
    """
    pa, _, _ = _pyarrow()
    n = len(log)
    paths = pa.array(log.trie.paths, pa.string())
    tags = pa.ListArray.from_arrays(
        pa.array(log.tag_offsets, pa.int64()).cast(pa.int32()) if log.tag_ids.size < 2**31
        else pa.array(log.tag_offsets, pa.int64()),
        paths.take(pa.array(log.tag_ids, pa.int32())))
    lat = np.asarray(log.latency_ms)
    cols = {
        "ts": pa.array(np.asarray(log.ts).view("M8[ns]"), pa.timestamp("ns", tz="UTC")),
        "model": pa.DictionaryArray.from_arrays(pa.array(log.model_codes, pa.int32()),
                                                pa.array(log.models, pa.string())),
        "prompt_tokens": pa.array(log.prompt_tokens, pa.int64()),
        "completion_tokens": pa.array(log.completion_tokens, pa.int64()),
        "cost": pa.array(np.asarray(log.cost) / NANOS_PER_DOLLAR, pa.float64()),
        "cost_nanos": pa.array(log.cost, pa.int64()),
        "latency_ms": pa.array(lat, pa.float64(), mask=np.isnan(lat)),
        "status": pa.array(log.status, pa.int32()),
        "request_tags": tags,
    }
    for k in INT_EXTRAS:
        if k in log.extras:
            cols[k] = pa.array(log.extras[k], pa.int64())
    for k in STR_EXTRAS:
        if k in log.extras:
            codes, vals = log.extras[k]
            cols[k] = pa.DictionaryArray.from_arrays(
                pa.array(codes, pa.int32(), mask=np.asarray(codes) < 0),
                pa.array(vals, pa.string()))
    for c in log.unknown:  # left out, so that reading the file back knows as little
        del cols[c]
    assert all(len(c) == n for c in cols.values())
    return pa.table(cols)
