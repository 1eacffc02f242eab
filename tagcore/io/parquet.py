"""Parquet (needs pyarrow): read with the column readers of :mod:`tagcore.io.arrow`, tag lists
dictionary-encoded; write the table of :func:`~tagcore.io.arrow.log_to_arrow`, atomically."""

from __future__ import annotations

import io as _io
import os
import sys
from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING

from tagcore.io._common import (
    Progress,
    ReadOptions,
    Source,
    _atomic,
    _error,
    _name_of,
    _pyarrow,
    _select,
)
from tagcore.io.arrow import _from_table, log_to_arrow
from tagcore.log import STR_EXTRAS, RequestLog
from tagcore.tags import TagPolicy
from tagcore.trie import TagTrie

if TYPE_CHECKING:
    from tagcore.prices import PriceTable

__all__ = ["read_parquet", "to_parquet"]


def _dict_leaves(pf, names: Sequence[str]) -> list[str]:
    """Parquet column paths of the string leaves of ``names`` (to read dictionary-encoded)."""
    out = []
    schema = pf.schema
    for i in range(len(schema)):
        c = schema.column(i)
        top = c.path.split(".", 1)[0]
        if top in names and c.physical_type == "BYTE_ARRAY":
            out.append(c.path)
    return out


def read_parquet(path: Source, *, columns: Sequence[str] | Mapping[str, str] | None = None,
                 policy: TagPolicy | None = None, on_error: str = "raise",
                 trie: TagTrie | None = None, progress: Progress | None = None,
                 ts_unit: str = "s", tags_sep: str | None = None,
                 prices: PriceTable | None = None) -> RequestLog:
    """Read a Parquet file with the native columns into a :class:`RequestLog` (needs pyarrow).

    ``columns``: ``None`` reads every native column present; a list of native names reads
    only those (and ``request_tags``; ``cost`` means ``cost_nanos`` too): the others are not
    decoded and the log does not know them (:attr:`RequestLog.unknown`); a mapping
    ``{native: name in the file}`` renames. Only ``request_tags`` is required: a column the
    file lacks is unknown too, never zero. ``ts_unit`` is the unit of epoch numbers in
    ``ts``, ``tags_sep`` splits tags written as delimited text, and ``prices`` (a
    :class:`~tagcore.prices.PriceTable`) prices a file without a cost column from its tokens.
    Bad values raise :class:`LogError` naming file, row (0-based) and column, or with
    ``on_error="skip"`` are dropped and counted. ``progress(rows_done, rows_total)`` is
    called after each row group is decoded (rows of the file, from its metadata).

    >>> import tempfile, os
    >>> log = RequestLog.from_records([{"ts": "2026-01-01T00:00:00.000000001Z", "model": "m",
    ...     "prompt_tokens": 1, "completion_tokens": 2, "cost": "0.000000003",
    ...     "latency_ms": 4.5, "status": 200, "request_tags": ["a/b", "c"]}])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     log.to_parquet(os.path.join(d, "x.parquet"))
    ...     back = read_parquet(os.path.join(d, "x.parquet"))
    >>> back.ts.tolist(), back.cost.tolist(), back.tags_of(0)
    ([1767225600000000001], [3], ['a/b', 'c'])
    """
    opts = ReadOptions(columns, ts_unit, tags_sep, prices).checked()
    _pyarrow()
    if on_error == "raise" and trie is None:
        # a file's row groups through the scan's chunk decoder, side by side on threads (the
        # same log; what it cannot vouch for is read below: tagcore.scan._collect)
        from tagcore.scan._collect import read_whole

        got = read_whole(path, columns=opts.columns, policy=policy, ts_unit=opts.ts_unit,
                         tags_sep=opts.tags_sep, prices=opts.prices, progress=progress)
        if got is not None:
            return got
    return _read_classic(path, columns=opts.columns, policy=policy, on_error=on_error,
                         trie=trie, progress=progress, ts_unit=opts.ts_unit,
                         tags_sep=opts.tags_sep, prices=opts.prices)


def _read_classic(path: Source, *, columns: Sequence[str] | Mapping[str, str] | None = None,
                  policy: TagPolicy | None = None, on_error: str = "raise",
                  trie: TagTrie | None = None, progress: Progress | None = None,
                  ts_unit: str = "s", tags_sep: str | None = None,
                  prices: PriceTable | None = None) -> RequestLog:
    """:func:`read_parquet` by one table of the whole file on one thread: the definition the
    scan's path (:mod:`tagcore.scan._collect`) answers for, and the reader of everything it
    leaves (a file object, stdin, ``on_error="skip"``, a caller's trie, a bad value)."""
    opts = ReadOptions(columns, ts_unit, tags_sep, prices).checked()
    pa, _, pq = _pyarrow()
    if isinstance(path, (str, os.PathLike)) and os.fspath(path) == "-":
        path = _io.BytesIO(sys.stdin.buffer.read())
        name = "<stdin>"
    else:
        name = _name_of(path)
    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise _error(name, "(file)", f"not a readable Parquet file ({exc})") from None
    names = pf.schema_arrow.names
    present = _select(opts.columns, names, name)
    if "cost_nanos" in present:
        present.pop("cost", None)  # exact nanos win; no need to decode the dollars
    file_cols = list(dict.fromkeys(present.values()))
    leaves = _dict_leaves(pf, [present[k] for k in ("model", "request_tags", *STR_EXTRAS)
                               if k in present])
    try:
        if progress is None:
            table = pq.read_table(path, columns=file_cols, read_dictionary=leaves)
        else:
            pf = pq.ParquetFile(path, read_dictionary=leaves)
            md = pf.metadata
            total = md.num_rows
            parts, done = [], 0
            progress(0, total)
            for i in range(md.num_row_groups):
                parts.append(pf.read_row_group(i, columns=file_cols))
                done += md.row_group(i).num_rows
                progress(done, total)
            table = (pa.concat_tables(parts) if parts
                     else pf.schema_arrow.empty_table().select(file_cols))
    except (OSError, pa.ArrowException) as exc:
        raise _error(name, "(file)", f"cannot read Parquet data ({exc})") from None
    renamed = {k: v for k, v in present.items()}
    return _from_table(table, name, columns=renamed, policy=policy, on_error=on_error, trie=trie,
                       ts_unit=opts.ts_unit, tags_sep=opts.tags_sep, prices=opts.prices)


def _write_parquet_table(fh: IO[bytes], table, **kw) -> None:
    _, _, pq = _pyarrow()
    pq.write_table(table, fh.name, **kw)  # pyarrow's own file; the caller fsyncs ``fh``


def to_parquet(log: RequestLog, path: str | os.PathLike, *, compression: str = "zstd",
               row_group_size: int = 1 << 20) -> None:
    """Write the log to a Parquet file, atomically (needs pyarrow): ``ts`` as
    ``timestamp[ns, UTC]``, ``model`` dictionary-encoded, ``cost`` (dollars) and ``cost_nanos``,
    ``request_tags`` as ``list<string>``, extras when present.

    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     RequestLog.empty().to_parquet(os.path.join(d, "e.parquet"))
    ...     len(read_parquet(os.path.join(d, "e.parquet")))
    0
    """
    table = log_to_arrow(log)
    with _atomic(path) as fh:
        _write_parquet_table(fh, table, compression=compression, row_group_size=row_group_size)
