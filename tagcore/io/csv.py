"""CSV: a header line, one request per row, ``request_tags`` a JSON array in one cell; safe to
open in a spreadsheet (see :mod:`tagcore.io`)."""

from __future__ import annotations

import io as _io
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

from tagcore.io import _text, _write
from tagcore.io._common import (
    DEFAULTS,
    TEXT_COLUMNS,
    Progress,
    ReadOptions,
    Source,
    _atomic,
    _binary,
    _check_on_error,
    _decode,
    _error,
    _safe_cell,
    _select,
    _unprefix,
)
from tagcore.io._native import _columns_py, _from_objects
from tagcore.log import STR_EXTRAS, RequestLog
from tagcore.tags import TagPolicy, TagTextError, tags_from_text
from tagcore.trie import TagTrie

if TYPE_CHECKING:
    from tagcore.prices import PriceTable

__all__ = ["read_csv", "to_csv"]


def read_csv(path_or_file: Source, *, policy: TagPolicy | None = None, on_error: str = "raise",
             trie: TagTrie | None = None, progress: Progress | None = None,
             columns: Sequence[str] | Mapping[str, str] | None = None, ts_unit: str = "s",
             tags_sep: str | None = None, prices: PriceTable | None = None) -> RequestLog:
    """Read a CSV file (header line, native columns, ``request_tags`` a JSON array in one cell).

    An empty cell is a missing value. Text cells (``model``, ``request_tags``, ``request_id``,
    ``user``, ``key``) that start with ``'`` lose exactly one ``'`` (the spreadsheet-safety
    prefix of :func:`to_csv`). Errors name the file, the line where the row starts and the column.

    A well-formed file is parsed by pyarrow's compiled CSV reader in chunks (every cell as
    text), and read by the same column readers as :func:`~tagcore.io.read_parquet`
    (:mod:`tagcore.io._text`); any doubt (a bad value, a quote :mod:`csv` would refuse, no
    pyarrow) and the file is read row by row by :mod:`csv`, which gives the same log or the
    precise error.

    >>> import io
    >>> f = io.StringIO('ts,model,prompt_tokens,completion_tokens,cost,latency_ms,status,request_tags\\n'
    ...     '2026-01-01,\\'-m,1,2,0.25,,200,"[""=x"",""a/b""]"\\n')
    >>> log = read_csv(f)
    >>> log.models, log.tags_of(0), log.cost.tolist()
    (('-m',), ['=x', 'a/b'], [250000000])
    """
    on_error = _check_on_error(on_error)
    opts = ReadOptions(columns, ts_unit, tags_sep, prices).checked()
    return _text.read_text("csv", path_or_file, _read_csv_rows, policy=policy, on_error=on_error,
                           trie=trie, progress=progress, opts=opts)


def _read_csv_rows(data: bytes, name: str, *, policy: TagPolicy | None, on_error: str,
                   trie: TagTrie | None, opts: ReadOptions = DEFAULTS) -> RequestLog:
    """The exact Python path: :mod:`csv` (strict) row by row, every problem with the line
    where its record starts (the definition the compiled path of :mod:`tagcore.io._text`
    answers for)."""
    import csv

    text = _decode(data, lambda line, reason: _error(name, "(file)", reason, line=line))
    reader = csv.reader(_io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise _error(name, "(file)", "empty file (no header line)") from None
    except csv.Error as exc:
        raise _error(name, "(file)", f"malformed header ({exc})", line=1) from None
    width = len(header)
    present = _select(opts.columns, header, name)
    pos = {k: header.index(v) for k, v in present.items()}
    rows: list[list[str]] = []
    lines: list[int] = []
    pre_bad: dict[int, tuple[str, str]] = {}
    start = reader.line_num + 1
    append_row, append_line = rows.append, lines.append
    while True:
        try:
            for row in reader:
                if len(row) != width:
                    if not row:
                        start = reader.line_num + 1
                        continue
                    reason = (f"expected {width} cells, got {len(row)}"
                              + ("; truncated row?" if len(row) < width else ""))
                    if on_error == "raise":
                        raise _error(name, "(row)", reason, row=len(rows), line=start)
                    pre_bad[len(rows)] = ("(row)", reason)
                    row = [""] * width
                append_row(row)
                append_line(start)
                start = reader.line_num + 1
            break
        except csv.Error as exc:
            reason = f"malformed CSV ({exc}); truncated row?"
            if on_error == "raise":
                raise _error(name, "(row)", reason, row=len(rows), line=start) from None
            pre_bad[len(rows)] = ("(row)", reason)
            rows.append([""] * width)
            lines.append(start)
            start = reader.line_num + 1
    cols = list(zip(*rows)) if rows else [()] * width
    n = len(rows)

    def get(col: str) -> list[Any]:
        vals = list(cols[pos[col]])
        if col in TEXT_COLUMNS:
            vals = [None if v == "" else _unprefix(v) for v in vals]
        return vals

    tag_cells: list[Any] = []
    tag_bad: dict[int, tuple[str, str]] = {}
    raw_tags = get("request_tags")
    memo: dict[str, Any] = {}
    for i, cell in enumerate(raw_tags):
        if cell is None:
            tag_cells.append(None)
            continue
        got = memo.get(cell)
        if got is None:
            try:
                got = tags_from_text(cell, opts.tags_sep)
            except TagTextError as exc:
                got = exc
            memo[cell] = got
        if isinstance(got, TagTextError):
            tag_bad[i] = ("request_tags", str(got))
            got = None
        elif type(got) is list:
            got = list(got)  # rows must not share one list object
        tag_cells.append(got)
    for r, v in tag_bad.items():
        pre_bad.setdefault(r, v)

    def where(row: int) -> tuple[str, int | None]:
        return f"line {lines[row]}", lines[row]

    return _from_objects(get, n, present, name, where, policy=policy, on_error=on_error,
                         trie=trie, pre_bad=pre_bad, tags_cells=tag_cells,
                         ts_unit=opts.ts_unit, tags_sep=opts.tags_sep, prices=opts.prices)


def _write_csv_rows(fh: IO[bytes], log: RequestLog) -> None:
    """Write ``log`` as CSV (header and rows) to the binary file object ``fh``: the vectorised
    writer of :mod:`tagcore.io._write` when it can, else :func:`_write_csv_py` (the same
    bytes)."""
    fast = _write.plan(log, "csv")
    if fast is None:
        _write_csv_py(fh, log)
    else:
        fast.write(fh)


def _write_csv_py(fh: IO[bytes], log: RequestLog) -> None:
    """The exact Python writer: :mod:`csv` row by row, the definition :mod:`tagcore.io._write`
    answers for (and the writer without pyarrow)."""
    import csv

    cols = _columns_py(log)
    for k in set(cols) - set(_write.columns(log)):  # the columns the log does not know
        del cols[k]
    if "latency_ms" in cols:
        cols["latency_ms"] = ["" if v is None else repr(v) for v in cols["latency_ms"]]
    cols["cost"] = [repr(v) for v in cols["cost"]]
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    cols["request_tags"] = [_safe_cell(dumps(t)) for t in cols["request_tags"]]
    for k in ("model", *STR_EXTRAS):
        if k in cols:
            memo: dict[Any, str] = {}
            cols[k] = [memo[v] if v in memo else memo.setdefault(v, _safe_cell(v))
                       for v in cols[k]]
    buf = _io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(list(cols))
    rows = zip(*cols.values())
    while True:
        batch = list(itertools.islice(rows, 65536))
        if not batch:
            break
        w.writerows(batch)
        fh.write(buf.getvalue().encode("utf-8"))
        buf.seek(0)
        buf.truncate()
    if buf.tell():
        fh.write(buf.getvalue().encode("utf-8"))


def to_csv(log: RequestLog, path: str | os.PathLike | IO[bytes]) -> None:
    """Write the log as spreadsheet-safe CSV (atomically when given a path): ``request_tags``
    a JSON array in one cell; text cells starting with ``= + - @``, tab, CR or ``'`` get one
    leading ``'`` (see the module doc). Cells are quoted as :mod:`csv` quotes (only when they
    hold a comma, a quote, CR or LF), lines end with CRLF. A column the log does not know
    (``log.unknown``) is left out. With pyarrow the rows are made a chunk at a time by Arrow's
    string kernels (:mod:`tagcore.io._write`); without it, row by row with the same bytes.

    >>> import io
    >>> buf = io.BytesIO()
    >>> RequestLog.from_records([{"ts": 0, "model": "=cmd", "prompt_tokens": 1,
    ...     "completion_tokens": 0, "cost": 0, "latency_ms": 2.5, "status": 200,
    ...     "request_tags": ["-x"]}]).to_csv(buf)
    >>> print(buf.getvalue().decode().splitlines()[1])
    1970-01-01T00:00:00Z,'=cmd,1,0,0.0,0,2.5,200,"[""-x""]"
    """
    if hasattr(path, "write"):
        _write_csv_rows(_binary(path), log)
        return
    with _atomic(path) as fh:  # type: ignore[arg-type]
        _write_csv_rows(fh, log)
