"""What every reader and writer of ``tagcore.io`` shares, native and vendor alike.

- **sources**: a path, ``"-"`` (stdin) or a file object (text or binary); gzip is recognised
  by its magic bytes and a UTF-8 byte-order mark is dropped (:func:`_read_bytes`,
  :func:`source_size`);
- **the suffix table** (:data:`SUFFIXES`, :func:`format_of`, :func:`sniff`,
  :func:`json_layout`), the one the command line uses too;
- **the atomic writer** (:func:`_atomic`: temporary file, fsync, rename, folder fsync;
  symlinks followed, devices and FIFOs written in place);
- **spreadsheet-safe cells** (:func:`spreadsheet_safe` on write, :func:`_unprefix` on read);
- **problem collection**: one ``on_error`` vocabulary and checker (:func:`_check_on_error`),
  row problems of the native readers (:class:`_Problems`, :func:`_finish`), what a log
  records of them (:func:`_note_problems`);
- **column matching** of the native columns (:func:`_match_columns`, :func:`_select`).
"""

from __future__ import annotations

import contextlib
import gzip
import io as _io
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np

from tagcore.errors import check_on_error
from tagcore.log import (
    INT_EXTRAS,
    STR_EXTRAS,
    LogError,
    RequestLog,
    _priced,
    unpriced_line,
)

Source = str | os.PathLike | IO[bytes] | IO[str]
Progress = Callable[[int, int], None]


#: the one column a native file must have; a column it lacks is unknown, never zero
#: (``RequestLog.unknown``; a missing cost makes every request unpriced)
REQUIRED = ("request_tags",)


TEXT_COLUMNS = ("model", "request_tags", *STR_EXTRAS)


_ORDER = ("ts", "model", "prompt_tokens", "completion_tokens", "cost", "cost_nanos",
          "latency_ms", "status", "request_tags", *INT_EXTRAS, *STR_EXTRAS)


_DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "'")


_MAX_PROBLEMS = 20


class ReadOptions(NamedTuple):
    """What every native reader and constructor takes besides the source: ``columns``
    (a list of native names to read, or ``{native: name in the file}``), ``ts_unit`` of
    epoch numbers (``s``, ``ms``, ``us``, ``ns``), ``tags_sep`` for delimited tag text and
    ``prices`` (a :class:`~tagcore.prices.PriceTable`) to price a file without a cost
    column from its tokens."""

    columns: Sequence[str] | Mapping[str, str] | None = None
    ts_unit: str = "s"
    tags_sep: str | None = None
    prices: Any = None

    def checked(self) -> ReadOptions:
        """The options, validated (a bad unit or separator raises ValueError at once).

        >>> ReadOptions(ts_unit="h").checked()
        Traceback (most recent call last):
        ...
        ValueError: ts_unit: expected 's', 'ms', 'us' or 'ns', got 'h'
        """
        if self.ts_unit not in ("s", "ms", "us", "ns"):
            raise ValueError(f"ts_unit: expected 's', 'ms', 'us' or 'ns', got {self.ts_unit!r}")
        if self.tags_sep is not None and (not isinstance(self.tags_sep, str) or not self.tags_sep):
            raise ValueError(f"tags_sep: expected a non-empty string, got {self.tags_sep!r}")
        if isinstance(self.columns, str):
            raise TypeError("columns: expected a list of native names or a mapping, got a string")
        return self


DEFAULTS = ReadOptions()


# =================================================================== sources


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("reading or writing Parquet/Arrow needs pyarrow: "
                          "pip install 'tagcore[parquet]'") from None
    return pa, pc, pq


def _name_of(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return str(getattr(source, "name", "<stream>"))


def _read_bytes(source: Any) -> tuple[bytes, str]:
    """All bytes of a path, ``"-"`` (stdin) or a file object; ``.gz`` paths are decompressed.
    (Progress is told by the readers, in rows decoded: :class:`tagcore._progress.Progress`.)"""
    name = _name_of(source)
    if isinstance(source, (str, os.PathLike)):
        if os.fspath(source) == "-":
            data = sys.stdin.buffer.read()
            name = "<stdin>"
        else:
            chunks = []
            with open(source, "rb") as fh:
                while True:
                    b = fh.read(1 << 24)
                    if not b:
                        break
                    chunks.append(b)
            data = b"".join(chunks)
    else:
        data = source.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    return data, name


def _decode(data: bytes, fail: Callable[[int, str], Exception]) -> str:
    """UTF-8 text of ``data``; ``fail(line, reason)`` makes the error of a reader."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise fail(line, f"not UTF-8 text ({exc.reason})") from None


def source_size(source: Any) -> int | None:
    """Size in bytes of a file path (``None`` for stdin or a stream), so a caller can decide
    whether to show a progress bar.

    >>> source_size("-") is None
    True
    """
    if isinstance(source, (str, os.PathLike)) and os.fspath(source) != "-":
        try:
            return os.path.getsize(source)
        except OSError:
            return None
    return None


# ================================================================== suffixes


# one table for every door (read_any, the vendor readers, the CLI): suffix -> format; a final
# ``.gz`` is looked through. ``json`` means JSON records: an array of records when the content
# starts with ``[``, else JSONL (one object per line), decided by :func:`json_layout`.
SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl",
            ".json": "json", ".csv": "csv"}
COMPRESSED = (".gz",)
FORMATS = ("parquet", "jsonl", "json", "csv")


def format_of(path: str | os.PathLike) -> str | None:
    """The format a file name says (``"parquet"``, ``"jsonl"``, ``"json"``, ``"csv"``), looking
    through a final ``.gz``; ``None`` when the name says nothing.

    >>> format_of("a.parquet"), format_of("logs.JSONL.gz"), format_of("x.json"), format_of("x")
    ('parquet', 'jsonl', 'json', None)
    """
    suffixes = [s.lower() for s in Path(os.fspath(path)).suffixes]
    if suffixes and suffixes[-1] in COMPRESSED:
        suffixes = suffixes[:-1]
    return SUFFIXES.get(suffixes[-1]) if suffixes else None


def write_format_of(path: str | os.PathLike) -> str | None:
    """The native format a writer uses for a file name: ``parquet``, ``jsonl`` or ``csv``.
    ``.json`` is written as JSONL (one object per line), which every reader of ``.json`` reads
    back by its content; a compressed name (``.gz``) says nothing, as writers do not compress.

    >>> write_format_of("out.parquet"), write_format_of("out.json"), write_format_of("o.csv.gz")
    ('parquet', 'jsonl', None)
    """
    if Path(os.fspath(path)).suffix.lower() in COMPRESSED:
        return None
    fmt = format_of(path)
    return "jsonl" if fmt == "json" else fmt


def json_layout(data: bytes | str) -> str:
    """``"json"`` (an array of records) when the content starts with ``[``, else ``"jsonl"``.

    >>> json_layout(b' [{"a": 1}]'), json_layout('{"a": 1}\\n{"a": 2}\\n')
    ('json', 'jsonl')
    """
    if isinstance(data, bytes):
        return "json" if re.match(rb"\s*\[", data) else "jsonl"
    return "json" if re.match(r"\s*\[", data) else "jsonl"


def sniff(data: bytes) -> str:
    """The format of decompressed file content: ``parquet`` (``PAR1``), ``json`` (an array),
    ``jsonl`` (an object per line) or ``csv``.

    >>> sniff(b"PAR1..."), sniff(b"[]"), sniff(b'{"a": 1}'), sniff(b"ts,model")
    ('parquet', 'json', 'jsonl', 'csv')
    """
    if data[:4] == b"PAR1":
        return "parquet"
    head = data[:4096].lstrip()
    if head[:1] == b"{":
        return "jsonl"
    if head[:1] == b"[":
        return "json"
    return "csv"


# ================================================================== problems


def _check_on_error(on_error: str) -> str:
    """The canonical ``on_error`` of every reader, native and vendor (``"raise"`` or
    ``"skip"``; ``"drop"`` means ``"skip"``): :func:`tagcore.errors.check_on_error`.

    >>> _check_on_error("drop")
    'skip'
    """
    return check_on_error(on_error)


def _error(source: str, column: str, reason: str, *, row: int | None = None,
           line: int | None = None) -> LogError:
    """A LogError naming the file, the place (line N or row R) and the column."""
    exc = LogError(column, reason, row=row, source=source)
    exc.line = line  # type: ignore[attr-defined]
    if line is not None:
        exc.args = (f"{source}: line {line}, column {column}: {reason}",)
    return exc


class _Problems:
    """Row-level problems found by the column converters: masks and reasons, per column."""

    def __init__(self, n: int):
        self.n = n
        self.items: list[tuple[str, np.ndarray, Callable[[int], str]]] = []

    def add(self, column: str, bad: np.ndarray | None, reason: Callable[[int], str]) -> None:
        if bad is not None and bad.any():
            self.items.append((column, bad, reason))

    def bad_rows(self) -> np.ndarray | None:
        if not self.items:
            return None
        out = np.zeros(self.n, dtype=bool)
        for _, m, _ in self.items:
            out |= m
        return out

    def first(self, row: int | None = None) -> tuple[int, str, str]:
        """(row, column, reason) of the first problem (of ``row`` when given)."""
        best = None
        for col, m, why in self.items:
            r = int(np.argmax(m)) if row is None else row
            if m[r] and (best is None or r < best[0]):
                best = (r, col, why)
        assert best is not None
        return best[0], best[1], best[2](best[0])


def _finish(log_args: dict[str, Any], probs: _Problems, on_error: str, source: str,
            where: Callable[[int], tuple[str, int | None]], dropped_tags: int,
            prices: Any = None) -> RequestLog:
    """Raise on the first problem, or build the log and drop the bad rows (counted). A log
    without a cost column is priced from its tokens by ``prices`` (a PriceTable) when given;
    what it cannot price stays unpriced."""
    bad = probs.bad_rows()
    if bad is not None and on_error == "raise":
        row, col, reason = probs.first()
        _, line = where(row)
        raise _error(source, col, reason, row=row, line=line)
    log = RequestLog.from_arrays(**log_args, copy=False)  # the arrays were made for it
    problems: list[str] = []
    dropped = 0
    if bad is not None:
        rows = np.flatnonzero(bad)
        dropped = int(rows.size)
        for r in rows[:_MAX_PROBLEMS].tolist():
            _, col, why = probs.first(r)
            place, _ = where(r)
            problems.append(f"{source}: {place}, column {col}: {why}")
        log = log[~bad]
    if log_args.get("cost") is None and log_args.get("cost_nanos") is None:
        reasons: Any = "no cost column"
        if prices is not None:
            log, reasons = _priced(log, prices)
        line = unpriced_line(log, reasons)  # the requests still unpriced, if any
        problems += [line] if line else []
    log._set_meta(dropped_rows=dropped, dropped_tags=dropped_tags, problems=problems)
    return log


def _note_problems(log: RequestLog, dropped: int, problems: Sequence[str]) -> RequestLog:
    """Add rows a reader left out before building ``log`` (and their first reasons) to what
    the log already counts."""
    return log._set_meta(dropped_rows=log.dropped_rows + dropped,
                         problems=(tuple(problems[:_MAX_PROBLEMS]) + tuple(log.problems)))


# =================================================================== columns


def _match_columns(names: Sequence[str], wanted: Iterable[str]) -> dict[str, str]:
    """native name -> file column name: exact match first, else case-insensitive."""
    exact = set(names)
    lower: dict[str, str] = {}
    for nm in names:
        lower.setdefault(str(nm).strip().lower(), nm)
    out = {}
    for w in wanted:
        if w in exact:
            out[w] = w
        elif w in lower:
            out[w] = lower[w]
    return out


def _select(columns: Sequence[str] | Mapping[str, str] | None, names: Sequence[str],
            source: str) -> dict[str, str]:
    """Which native columns to read, and their names in the file; checks required ones."""
    if isinstance(columns, Mapping):
        unknown = set(columns) - set(_ORDER)
        if unknown:
            raise ValueError(f"columns: unknown {sorted(unknown)}; choose from {list(_ORDER)}")
        absent = [f"{k}={v!r}" for k, v in columns.items() if v not in names]
        if absent:  # a name the caller gave and the file lacks is a mistake, not an unknown
            raise _error(source, next(iter(columns)) if len(absent) == len(columns) else
                         absent[0].split("=")[0],
                         f"columns: {', '.join(absent)} not in the file (it has {list(names)})")
        found = dict(columns)
        found.update(_match_columns(names, [c for c in _ORDER if c not in columns]))
    else:
        found = _match_columns(names, _ORDER)
        if columns is not None:
            keep = set(columns) | set(REQUIRED) | ({"cost_nanos"} if "cost" in columns else set())
            unknown = set(columns) - set(_ORDER)
            if unknown:
                raise ValueError(f"columns: unknown {sorted(unknown)}; choose from {list(_ORDER)}")
            found = {k: v for k, v in found.items() if k in keep}
    for c in REQUIRED:
        if c not in found:
            raise _error(source, c, f"missing column {c!r} (the file has {list(names)})")
    return found


# ==================================================== spreadsheet-safe cells


def spreadsheet_safe(value: Any) -> Any:
    """Guard one text cell against spreadsheet formula injection (the one rule of every CSV
    tagcore writes, logs and CLI frames): a string that starts with ``=``, ``+``, ``-``, ``@``,
    a tab, a carriage return or ``'`` gets one extra leading ``'``, and an empty string becomes
    a lone ``'`` (so that an empty cell can mean missing); other values are returned as they are.

    >>> spreadsheet_safe("=SUM(A1)"), spreadsheet_safe("acme"), spreadsheet_safe(""), spreadsheet_safe(-1)
    ("'=SUM(A1)", 'acme', "'", -1)
    """
    if isinstance(value, str) and (value == "" or value[0] in _DANGEROUS):
        return "'" + value
    return value


def _safe_cell(v: str | None) -> str:
    """The spreadsheet-safe text of a cell: ``None`` is an empty (missing) cell."""
    return "" if v is None else spreadsheet_safe(v)


def _unprefix(v: str) -> str:
    """Undo :func:`spreadsheet_safe` on a text cell read back: one leading ``'`` goes."""
    return v[1:] if v[:1] == "'" else v


# ============================================================= atomic writer


class _TextSink:
    def __init__(self, fh: IO[str]):
        self.fh = fh

    def write(self, b: bytes) -> None:
        self.fh.write(b.decode("utf-8"))


def _binary(fh: Any) -> Any:
    """A file object that takes bytes: ``fh`` itself, or a text stream behind an adapter."""
    if isinstance(fh, _io.TextIOBase):
        return _TextSink(fh)
    return fh


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


@contextlib.contextmanager
def _atomic(path: str | os.PathLike):
    """Yield a binary temp file next to ``path``; on success fsync and rename it over ``path``.

    Symlinks are followed (the link stays, its target is replaced), and a target that is not
    a regular file (``/dev/null``, a FIFO, ``/dev/stdout``) is written in place, never
    replaced.
    """
    path = Path(os.path.realpath(path))
    try:
        special = not stat.S_ISREG(path.stat().st_mode)
    except FileNotFoundError:
        special = False
    if special:
        with open(path, "wb") as fh:
            yield fh
        return
    folder = path.parent if str(path.parent) else Path(".")
    tmp = tempfile.NamedTemporaryFile(dir=folder, prefix=f".{path.name}.", suffix=".tmp",
                                      delete=False)
    try:
        yield tmp
        tmp.flush()
        os.fsync(tmp.fileno())
        tmp.close()
        try:
            mode = path.stat().st_mode & 0o7777
        except OSError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp.name, mode)
        os.replace(tmp.name, path)
    except BaseException:
        tmp.close()
        with contextlib.suppress(OSError):
            os.unlink(tmp.name)
        raise
    with contextlib.suppress(OSError):  # make the rename durable too (POSIX)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
