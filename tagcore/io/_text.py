"""The compiled text decoder of the native JSONL and CSV readers (:func:`~tagcore.io.read_jsonl`,
:func:`~tagcore.io.read_csv`).

A file is read in chunks of whole records (16 MiB of JSONL, 4 MiB of CSV; a path is streamed,
gzip through pyarrow's compressed input stream; ``"-"`` and file objects are read whole, as
before). Each chunk is checked and parsed by pyarrow's compiled reader (``pyarrow.json`` with
an explicit schema taken from the first 1000 records, ``pyarrow.csv`` with every column read as
text) on a worker thread (:func:`_ahead`, when :func:`tagcore.kernels.get_threads` allows two),
while the caller's thread brings the chunk before to compact typed Arrow columns
(:func:`_compact_jsonl`, :func:`_compact_csv`: times to ``timestamp[ns]``, text to dictionary
codes, tags to ``list<dictionary<string>>``). The table of all chunks goes through the same
Arrow column readers as :func:`~tagcore.io.read_parquet` (:func:`tagcore.io.arrow._from_table`),
which read every value through :mod:`tagcore.coerce`; only the distinct tag strings are
normalized (the ``_TagMapper`` of :mod:`tagcore.io._native`). Peak memory stays near the compact
columns plus the log: the text of one chunk at a time, never the whole file (for a path).
:func:`compact_tables` gives the compact table of each chunk, :func:`text_chunks` (and
:func:`jsonl_chunks`, :func:`csv_chunks`) a chunk log per chunk, which is how a scan streams
a file (:mod:`tagcore.scan`); the readers concatenate the compact tables and build one log
(one pass of tag normalization over the file's distinct strings). ``progress`` hears the
rows decoded after each chunk (:meth:`TextInput.report`).

**The compiled path answers only when it can vouch for the answer.** The exact Python path
(``json.loads`` per line, :mod:`csv` with ``strict=True``) is the definition; the compiled path
raises :class:`_Refused` (and the reader runs its Python path, which gives the answer or the
precise error with its line number) whenever the two could differ:

- any value that :mod:`tagcore.coerce` would report (missing, bad, negative) or any problem
  of the log (a bad tag, too many tags): the compiled path never reports, it refuses;
- text pyarrow refuses (invalid JSON, a type that changes inside a column, a bad CSV row);
- JSONL: a line that is not exactly one object (every line must start with ``{`` and end with
  ``}``, and pyarrow must find as many records as there are lines: no blank lines, no object
  over two lines, no two objects on a line), a value nested deeper than Python's decoder
  could follow (judged from the line's length and brackets), bytes that are not UTF-8, a
  native key first seen after the first 1000 lines (the Python path looks for those too);
- CSV: a quote that :mod:`csv`'s strict mode refuses or reads differently (the quotes of
  every chunk are checked: a field is quoted from its first byte, and a closing quote is
  followed by a delimiter, a line end or a doubled quote), a record longer than
  :func:`csv.field_size_limit`, duplicate header names, bytes that are not UTF-8.

Numbers: pyarrow parses decimal text to the same float64 as Python's ``float()`` (correctly
rounded; a ``NaN`` it reads is checked against the text). Money read as text (CSV, or JSON
strings) goes through a float only when the text has at most 15 significant digits, where the
float's shortest decimal is the text's value; longer text is read exactly, by
:func:`tagcore.coerce.dollars_to_nanos_masked` on the strings. Times: ISO text of the shapes
``YYYY-MM-DD[T ]hh:mm:ss[.f]{Z|±hh:mm|}`` (years 1678..2261, checked byte by byte on the
fixed-width text) is cast by pyarrow, which refuses the same impossible dates, hours and
offsets as :func:`tagcore.coerce.time_to_nanos`; every other shape is read by
:func:`tagcore.coerce.times_to_nanos_masked` itself.
"""

from __future__ import annotations

import csv as _csv
import io as _io
import json
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from tagcore._threads import get_threads
from tagcore.coerce import (
    counts_masked,
    dollars_to_nanos_masked,
    floats_masked,
    is_missing,
    times_to_nanos_masked,
)
from tagcore.io._common import (
    _ORDER,
    DEFAULTS,
    Progress,
    ReadOptions,
    Source,
    _name_of,
    _read_bytes,
    _select,
)
from tagcore.log import INT_EXTRAS, STR_EXTRAS, LogError, RequestLog
from tagcore.tags import TagPolicy, TagTextError, tags_from_text
from tagcore.trie import TagTrie

JSONL_CHUNK = 1 << 24  # bytes of text per chunk handed to pyarrow (whole records)
CSV_CHUNK = 1 << 22  # (smaller: CSV's compact columns are large next to its text)
BLOCK = 1 << 20  # pyarrow's block size inside a chunk (its unit of parallel parsing)
KEY_LINES = 1000  # the Python path decides the columns from the first 1000 records

_STR_COLUMNS = ("model", *STR_EXTRAS)


class _Refused(Exception):
    """The compiled path cannot vouch for this input: read it with the exact Python path."""


class _Late(_Refused):
    """A native key first seen after the first lines: the Python path knows that column for
    every line, so the chunks given before it would be wrong; a streaming caller starts the
    file again, whole (:meth:`tagcore.scan._source.Source._decode_text`)."""


def _arrow():
    """pyarrow and its compute, json and csv modules, or None when pyarrow is missing (JSONL
    and CSV do not need it: the Python path reads them)."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pcsv
        import pyarrow.json as pj
    except ImportError:
        return None
    if pa is None or pc is None or pj is None or pcsv is None:  # blocked in sys.modules
        return None
    return pa, pc, pj, pcsv


# ===================================================================== input


class TextInput:
    """The bytes of a reader's source: a path is streamed in blocks (decompressed when it is
    gzip, by its magic bytes; a UTF-8 byte-order mark dropped); ``"-"`` and file objects are
    read whole, as :func:`~tagcore.io._common._read_bytes` always did, so that the Python path
    can read them again.

    ``progress(rows_done, rows_total)`` hears the rows decoded after each chunk (see
    :meth:`report`), not the bytes read."""

    def __init__(self, source: Source, progress: Progress | None = None):
        self.progress = progress
        self.done: tuple[int, int] | None = None  # bytes read of the file so far, and all
        self._told: tuple[int, int] | None = None
        self.name = _name_of(source)
        self.path: str | os.PathLike | None = None
        self.data: bytes | None = None
        if isinstance(source, (str, os.PathLike)) and os.fspath(source) != "-":
            self.path = source
        else:
            self.data, self.name = _read_bytes(source)

    def blocks(self, size: int) -> Iterator[bytes]:
        """The (decompressed) content in blocks of about ``size`` bytes."""
        if self.data is not None:
            data = self.data
            for i in range(0, len(data), size):
                self.done = (min(i + size, len(data)), len(data))
                yield data[i:i + size]
            return
        assert self.path is not None
        total = os.path.getsize(self.path)
        with open(self.path, "rb") as fh:
            gz = fh.read(2) == b"\x1f\x8b"
            fh.seek(0)
            stream = None
            if gz:
                mods = _arrow()
                if mods is None:
                    raise _Refused("gzip is streamed by pyarrow")
                stream = mods[0].CompressedInputStream(mods[0].PythonFile(fh, mode="r"), "gzip")
            read = stream.read if stream is not None else fh.read
            first = True
            while True:
                try:
                    b = read(size)
                except (OSError, ValueError) as exc:  # a corrupt gzip: the Python path says so
                    raise _Refused(str(exc)) from None
                if not b:
                    break
                if first:
                    first = False
                    if b[:3] == b"\xef\xbb\xbf":
                        b = b[3:]
                self.done = (fh.tell(), total)
                yield b
            self.done = (total, total)

    def report(self, rows: int, final: bool = False) -> None:
        """Tell ``progress`` the rows decoded so far (on the caller's thread: the blocks may
        be read on another one) and how many the source likely holds: ``final``, the rows
        are all (``progress(rows, rows)``); else an estimate from the bytes read so far
        (rows per byte of the file, at least ``rows``), which firms up as reading goes on."""
        if self.progress is None:
            return
        if final:
            told = (rows, rows)
        else:
            pos, total = self.done if self.done is not None else (0, 0)
            told = (rows, max(rows, rows * total // pos) if pos > 0 else rows)
        if told != self._told:
            self._told = told
            self.progress(*told)

    def whole(self) -> tuple[bytes, str]:
        """All bytes and the name, for the Python path."""
        if self.data is not None:
            return self.data, self.name
        return _read_bytes(self.path)


# ========================================================= column conversion


def _utf8_ok(chunk: bytes) -> bool:
    if chunk.isascii():
        return True
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _one(col):
    """One contiguous array of a column (a ChunkedArray of one chunk of text)."""
    return col.combine_chunks() if hasattr(col, "combine_chunks") else col


def _string_buffers(arr) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, bytes) of a string array, as numpy views."""
    pa = _arrow()[0]  # type: ignore[index]
    n = len(arr)
    if not n:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.uint8)
    width = 8 if pa.types.is_large_string(arr.type) else 4
    offs = np.frombuffer(arr.buffers()[1], dtype=np.int64 if width == 8 else np.int32,
                         count=n + 1, offset=arr.offset * width)
    data_buf = arr.buffers()[2]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else \
        np.zeros(0, dtype=np.uint8)
    return offs.astype(np.int64), data


# ISO shapes read by pyarrow's cast: (fraction digits, zone) -> template; "d" a digit,
# "T" a 'T' or a space, "s" a '+' or '-', other characters as they are
def _template(frac: int, zone: str) -> str:
    t = "dddd-dd-ddTdd:dd:dd"
    if frac:
        t += "." + "d" * frac
    return t + {"": "", "Z": "Z", "off": "sdd:dd"}[zone]


_SHAPES: dict[int, list[tuple[str, str]]] = {}
for _f in range(10):
    for _z in ("", "Z", "off"):
        _t = _template(_f, _z)
        _SHAPES.setdefault(len(_t), []).append((_t, _z))


def _shape_rows(M: np.ndarray, template: str) -> np.ndarray:
    """Rows of the fixed-width byte matrix ``M`` that have the shape ``template`` and a year
    in 1678..2261 (inside int64 nanoseconds)."""
    ok = np.ones(M.shape[0], dtype=bool)
    for i, ch in enumerate(template):
        col = M[:, i]
        if ch == "d":
            ok &= (col - np.uint8(48)) <= 9
        elif ch == "T":
            ok &= (col == 84) | (col == 32)
        elif ch == "s":
            ok &= (col == 43) | (col == 45)
        else:
            ok &= col == ord(ch)
    y = ((M[:, 0].astype(np.int16) - 48) * 1000 + (M[:, 1].astype(np.int16) - 48) * 100
         + (M[:, 2].astype(np.int16) - 48) * 10 + (M[:, 3].astype(np.int16) - 48))
    return ok & (y >= 1678) & (y <= 2261)


def _ts_text(arr, unit: str = "s") -> Any:
    """``timestamp[ns, UTC]`` of a column of time text; refuses when a value is missing or
    bad (the Python path reports it)."""
    pa, pc, _, _ = _arrow()  # type: ignore[misc]
    arr = _one(arr)
    n = len(arr)
    if arr.null_count:
        raise _Refused("missing time")
    if not n:
        return pa.array([], pa.timestamp("ns", "UTC"))
    out = np.zeros(n, dtype=np.int64)
    done = np.zeros(n, dtype=bool)
    offs, data = _string_buffers(arr)
    lens = np.diff(offs)
    same = int(lens.min()) == int(lens.max())
    for L in ([int(lens[0])] if same else np.unique(lens).tolist()[:8]):
        shapes = _SHAPES.get(L)
        if not shapes:
            continue
        if same:
            rows = None
            start = int(offs[0])
            M = data[start:start + n * L].reshape(n, L)
        else:
            rows = np.flatnonzero(lens == L)
            M = data[offs[:-1][rows][:, None] + np.arange(L)]
        for template, zone in shapes:
            ok = _shape_rows(M, template)
            if not ok.any():
                continue
            every = rows is None and bool(ok.all())
            idx = None if every else (np.flatnonzero(ok) if rows is None else rows[ok])
            sub = arr if idx is None else arr.take(pa.array(idx))
            try:
                ts = pc.cast(sub, pa.timestamp("ns", "UTC" if zone else None))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue  # left to coerce, value by value
            if idx is None:
                return ts.cast(pa.timestamp("ns", "UTC")) if not zone else ts
            out[idx] = np.asarray(ts.cast(pa.int64()).to_numpy(zero_copy_only=False))
            done[idx] = True
    rest = np.flatnonzero(~done)
    if rest.size:
        sub = arr if rest.size == n else arr.take(pa.array(rest))
        vals: Any = None
        if pc.all(pc.ascii_is_decimal(sub)).as_py():  # epoch seconds as digits
            try:
                vals = np.asarray(pc.cast(sub, pa.int64()).to_numpy(zero_copy_only=False))
            except pa.ArrowInvalid:
                vals = None
        ns, miss, bad = times_to_nanos_masked(sub.to_pylist() if vals is None else vals,
                                              unit=unit)
        if miss.any() or bad.any():
            raise _Refused("bad time")
        out[rest] = ns
    return pa.Array.from_buffers(pa.timestamp("ns", "UTC"), n, [None, pa.py_buffer(out)])


def _dict_text(arr, unprefix: bool) -> Any:
    """A text column dictionary-encoded; CSV cells lose one leading ``'`` (only the distinct
    values are looked at)."""
    pa, pc, _, _ = _arrow()  # type: ignore[misc]
    arr = _one(arr)
    if pa.types.is_null(arr.type):
        arr = arr.cast(pa.string())
    enc = pc.dictionary_encode(arr)
    if not unprefix:
        return enc
    d = enc.dictionary
    starts = pc.starts_with(d, "'")
    if not pc.any(starts).as_py():
        return enc
    d = pc.if_else(starts, pc.utf8_slice_codeunits(d, 1), d)
    return pa.DictionaryArray.from_arrays(enc.indices, d)


def _int_text(arr) -> Any:
    """int64 counts of a text column (missing = null); refuses a bad value."""
    pa, pc, _, _ = _arrow()  # type: ignore[misc]
    arr = _one(arr)
    if pc.all(pc.ascii_is_decimal(arr)).as_py() is not False:
        try:
            return pc.cast(arr, pa.int64())
        except pa.ArrowInvalid:  # beyond int64: coerce says so
            pass
    out, miss, bad = counts_masked(arr.to_pylist())
    if bad.any():
        raise _Refused("bad count")
    return pa.array(out, pa.int64(), mask=miss)


def _float_text(arr) -> Any:
    """float64 of a text column of latencies (missing = null or NaN); refuses a bad value."""
    pa, pc, _, _ = _arrow()  # type: ignore[misc]
    arr = _one(arr)
    try:
        x = pc.cast(arr, pa.float64())
    except pa.ArrowInvalid:
        x = None
    if x is not None:
        v = np.asarray(x.to_numpy(zero_copy_only=False))
        nan = np.isnan(v)
        if x.null_count:
            nan &= np.asarray(x.is_valid().to_numpy(zero_copy_only=False))
        if not nan.any():
            return x
        texts = arr.take(pa.array(np.flatnonzero(nan))).to_pylist()
        if all(is_missing(t) for t in texts):  # "nan", "NaN": missing, as in Python
            return x
    out, miss, bad = floats_masked(arr.to_pylist())
    if bad.any():
        raise _Refused("bad number")
    return pa.array(out, pa.float64())


_PLAIN_NUMBER = r"^(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d{1,2})?$"


def _dollars_text(arr) -> Any:
    """int64 nano-dollars of a column of dollar text (:func:`dollars_to_nanos_masked`):
    through a float64 when every text has at most 15 significant digits (its shortest
    decimal is then the text's value), else on the strings themselves; refuses a missing,
    bad or negative amount."""
    pa, pc, _, _ = _arrow()  # type: ignore[misc]
    arr = _one(arr)
    vals: Any = None
    if not arr.null_count and pc.all(pc.match_substring_regex(arr, _PLAIN_NUMBER)).as_py():
        mant = pc.replace_substring_regex(arr, r"[eE].*$", "")
        digits = pc.subtract(pc.utf8_length(mant), pc.count_substring(mant, "."))
        if pc.max(digits).as_py() <= 15:
            vals = np.asarray(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False))
    if vals is None:
        vals = arr.to_pylist()
    out, miss, bad = dollars_to_nanos_masked(vals)
    if miss.any() or bad.any() or (out < 0).any():
        raise _Refused("bad dollars")
    return pa.array(out, pa.int64())


def _encode_list_values(lists) -> Any:
    """``list<dictionary<string>>`` of a ``list<string>`` array (nulls kept)."""
    pa, pc, _, _ = _arrow()  # type: ignore[misc]
    lists = _one(lists)
    if lists.offset or (len(lists) and lists.offsets[0].as_py() != 0):
        lists = pa.concat_arrays([lists])  # a fresh, unsliced copy
    values = lists.values
    if pa.types.is_null(values.type):
        values = values.cast(pa.string())
    mask = lists.is_null() if lists.null_count else None
    return pa.ListArray.from_arrays(lists.offsets, pc.dictionary_encode(values), mask=mask)


def _tags_json_cells(arr, sep: str | None = None) -> Any:
    """Tags of CSV cells holding JSON arrays, as ``list<dictionary<string>>``. Cells written
    as ``["a","b"]`` (no escapes, no control characters) are split by pyarrow; any other
    cell is read by ``json.loads``, once per distinct cell. Refuses a cell the Python path
    would report (not JSON, not a list of strings)."""
    pa, pc, _, _ = _arrow()  # type: ignore[misc]
    arr = _one(arr)
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.list_(pa.dictionary(pa.int32(), pa.string())))
    starts = pc.starts_with(arr, "'")
    if pc.any(starts).as_py():
        arr = pc.if_else(starts, pc.utf8_slice_codeunits(arr, 1), arr)
    cells = pc.if_else(pc.equal(arr, "[]"), pa.scalar(None, pa.string()), arr)
    simple = pc.and_(pc.and_(pc.starts_with(cells, '["'), pc.ends_with(cells, '"]')),
                     pc.greater_equal(pc.binary_length(cells), 4))
    lists = None
    if pc.all(simple).as_py() is not False:
        split = pc.split_pattern(pc.utf8_slice_codeunits(cells, 2, -2), '","')
        voffs, vdata = _string_buffers(split.values)
        b = vdata[int(voffs[0]):int(voffs[-1])]
        if not ((b == 34).any() or (b == 92).any() or (b < 32).any()):
            lists = split
    if lists is None:
        enc = pc.dictionary_encode(arr)
        decoded = []
        for cell in enc.dictionary.to_pylist():
            try:
                v = tags_from_text(cell, sep)
            except TagTextError:
                raise _Refused("tags cell is not a list") from None
            if v is not None and not (type(v) is list
                                      and all(type(t) is str or t is None for t in v)):
                raise _Refused("tags cell is not a list of strings")
            decoded.append(v)
        try:
            lists = pa.array(decoded, pa.list_(pa.string())).take(enc.indices)
        except (pa.ArrowException, UnicodeError, ValueError):
            raise _Refused("tags not UTF-8") from None
    return _encode_list_values(lists)


# ================================================================= pipeline


def _ahead(produce: Callable[[], Iterator[Any]], threads: int) -> Iterator[Any]:
    """The items of ``produce()``, made one ahead in a worker thread when ``threads`` > 1:
    the worker reads, checks and parses (numpy and pyarrow let go of the GIL) while the
    caller converts the chunk before. An exception of the worker is raised here; when the
    caller stops early, the worker stops too (and is waited for)."""
    if threads < 2:
        yield from produce()
        return
    box: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        it = produce()
        try:
            for item in it:
                if not put((True, item)):
                    return
        except BaseException as exc:  # handed to the caller, raised there
            put((False, exc))
            return
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()
        put((False, None))

    worker = threading.Thread(target=work, name="tagcore-text-decoder", daemon=True)
    worker.start()
    try:
        while True:
            ok, item = box.get()
            if ok:
                yield item
            elif item is None:
                return
            else:
                raise item
    finally:
        stop.set()
        worker.join()


# ===================================================================== JSONL


def _safe_depth() -> int:
    """Nesting that Python's JSON decoder surely follows from here (the Python path refuses
    deeper values as "nested too deeply")."""
    depth = 0
    f: Any = sys._getframe()
    while f is not None:
        depth += 1
        f = f.f_back
    return max(0, min(500, sys.getrecursionlimit() - depth - 100))


def _record_chunks(inp: TextInput, cut_at: Any, first_lines: int = 0
                   ) -> Iterator[tuple[bytes, bool]]:
    """(chunk of whole records, whether it is the last): ``cut_at(buf)`` is the end of the
    last whole record in ``buf`` (0: none yet); the first chunk holds at least
    ``first_lines`` lines when the file has them. The last chunk loses trailing JSON
    whitespace."""
    carry = b""
    pending: bytes | None = None
    for block in inp.blocks(JSONL_CHUNK):
        if pending is None and first_lines and (carry.count(b"\n") + block.count(b"\n")
                                                < first_lines):
            carry += block
            continue
        cut = cut_at(block)
        if cut <= 0:
            carry += block
            continue
        # one copy: the carried part of a record and this block up to its last record end
        chunk = block if not carry and cut == len(block) else \
            carry + memoryview(block)[:cut]
        carry = block[cut:]
        if pending is not None:
            yield pending, False
        pending = chunk
    last = (pending or b"") + carry
    last = last.rstrip(b" \t\r\n")
    if last:
        yield last, True


def _line_cut(buf: bytes) -> int:
    return buf.rfind(b"\n") + 1


def _check_lines(chunk: bytes, safe_depth: int) -> int:
    """Number of records of a JSONL chunk whose every line is blank (spaces, tabs) or one JSON
    object by its bytes (starts with ``{``, ends with ``}`` or ``}\\r``, no other carriage
    return, none nested deeper than ``safe_depth``); refuses otherwise."""
    a = np.frombuffer(chunk, dtype=np.uint8)
    nl = np.flatnonzero(a == 10)
    if not nl.size or nl[-1] != a.size - 1:
        nl = np.append(nl, a.size)  # the last line, without its newline
    starts = np.empty(nl.size, dtype=np.int64)
    starts[0] = 0
    starts[1:] = nl[:-1] + 1
    empty = starts >= nl
    odd = ~empty & (a[np.minimum(starts, a.size - 1)] != 123)
    blank_cr = 0
    for i in np.flatnonzero(odd).tolist():  # blank lines, skipped by both paths; or refuse
        line = chunk[int(starts[i]):int(nl[i])]
        if line.strip(b" \t\r"):
            raise _Refused("a line does not start with '{'")
        blank_cr += line.count(b"\r")
    keep = ~(empty | odd)
    starts, nl = starts[keep], nl[keep]
    if not nl.size:
        return 0
    last = a[nl - 1]
    cr = last == 13
    n_cr = int(cr.sum())
    if n_cr:
        if ((nl - 2)[cr] < starts[cr]).any():
            raise _Refused("a line is a lone '{'")
        last = np.where(cr, a[np.maximum(nl - 2, 0)], last)
    if (last != 125).any():
        raise _Refused("a line does not end with '}'")
    if (n_cr or chunk.find(b"\r") >= 0) and np.count_nonzero(a == 13) != n_cr + blank_cr:
        raise _Refused("a carriage return inside a line")
    lengths = nl - starts
    for i in np.flatnonzero(lengths > 2 * safe_depth).tolist():
        s, e = int(starts[i]), int(nl[i])
        if chunk.count(b"[", s, e) + chunk.count(b"{", s, e) > safe_depth:
            raise _Refused("possibly nested too deeply")
    return int(nl.size)


def _json_type(pa: Any, col: str, values: list[Any]) -> Any:
    """The Arrow type of a native column in the file, from the Python values of its first
    lines (refuses a column whose values are of kinds Arrow cannot hold in one column)."""
    kinds = {type(v) for v in values if v is not None}
    if col == "request_tags":
        for v in values:
            if v is not None and (type(v) is not list
                                  or any(t is not None and type(t) is not str for t in v)):
                raise _Refused("tags are not lists of strings")
        return pa.list_(pa.string())
    if kinds <= {str}:
        if not kinds and col == "ts":
            raise _Refused("no times")
        if not kinds and col not in _STR_COLUMNS:
            return pa.float64() if col in ("cost", "latency_ms") else pa.int64()
        return pa.string()
    if col in _STR_COLUMNS:
        raise _Refused("text column of numbers")
    if kinds == {int} and col not in ("cost", "latency_ms"):
        return pa.int64()
    if kinds <= {int, float}:
        return pa.float64()
    raise _Refused("mixed kinds in a column")


def _jsonl_plan(chunk: bytes, name: str, pa: Any, last: bool, columns: Any = None
                ) -> tuple[dict[str, str], Any, set[str]]:
    """From the first 1000 records (decoded by ``json.loads``, as the Python path does): the
    native columns and their keys in the file, the explicit schema, and the native keys the
    Python path would still look for further on."""
    recs: list[dict] = []
    pos = 0
    while len(recs) < KEY_LINES and pos < len(chunk):
        end = chunk.find(b"\n", pos)
        end = len(chunk) if end < 0 else end
        raw, pos = chunk[pos:end], end + 1
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except (ValueError, RecursionError):
            raise _Refused("invalid JSON") from None
        if type(obj) is not dict:
            raise _Refused("not an object")
        recs.append(obj)
    if len(recs) < KEY_LINES and not last:
        raise _Refused("the first chunk holds fewer than 1000 records")
    keys: set[str] = set()
    for r in recs:
        keys.update(r)
    try:
        present = _select(columns, sorted(keys), name)
    except LogError:
        raise _Refused("missing column") from None
    if "cost_nanos" in present:
        present.pop("cost", None)
    fields = [pa.field(key, _json_type(pa, col, [r.get(key) for r in recs]))
              for col, key in present.items()]
    late = {c for c in _ORDER if c not in keys}
    return present, pa.schema(fields), late


def _late_native_bytes(chunk: bytes, late: set[str]) -> bool:
    """Whether a chunk may hold one of the ``late`` keys (as written, or with a ``\\u``
    escape for a letter or ``_``)."""
    if any(b'"' + c.encode() + b'"' in chunk for c in late):
        return True
    low = chunk.lower()
    return any(p in low for p in (b"\\u005f", b"\\u006", b"\\u007"))


def _compact_jsonl(table, present: dict[str, str], unit: str = "s") -> dict[str, Any]:
    """The typed columns of one chunk of JSONL, under their native names."""
    pa = _arrow()[0]  # type: ignore[index]
    cols: dict[str, Any] = {}
    for col, key in present.items():
        c = table.column(key)
        t = c.type
        if col == "ts" and pa.types.is_string(t):
            cols[col] = _ts_text(c, unit)
        elif col in _STR_COLUMNS:
            cols[col] = _dict_text(c, unprefix=False)
        elif col == "request_tags":
            cols[col] = _encode_list_values(c)
        elif col == "cost" and pa.types.is_string(t):
            cols["cost_nanos"] = _dollars_text(c)
        else:
            cols[col] = c  # numbers (or text, read by coerce later) as pyarrow made them
    return cols


def _jsonl_tables(inp: TextInput, pa: Any, pj: Any, use_threads: bool, safe: int,
                  columns: Any = None
                  ) -> Iterator[tuple[dict[str, str], Any]]:
    """(native columns and their keys, the parsed table) of every chunk of a JSONL source,
    every chunk checked first (see the module doc); ``safe`` is the nesting the Python path
    surely decodes on the caller's thread. A native key first seen further on (which the
    Python path reads for every line) raises :class:`_Late`: it changes the answer of the
    chunks before it too."""
    plan = None
    ro = pj.ReadOptions(use_threads=use_threads, block_size=BLOCK)
    for chunk, last in _record_chunks(inp, _line_cut, 2 * KEY_LINES):
        if not _utf8_ok(chunk):
            raise _Refused("not UTF-8")
        lines = _check_lines(chunk, safe)
        if plan is None:
            plan = _jsonl_plan(chunk, inp.name, pa, last, columns)
        present, schema, late = plan
        _release(pa)  # what the caller freed of the chunks before (this thread's pages)
        try:
            table = _read_json(pa, pj, chunk, ro, schema, "infer")
        except pa.ArrowInvalid:
            # other fields of varying kinds: leave them out, and look for late keys
            if late and _late_native_bytes(chunk, late):
                raise _Late("a native key may appear late") from None
            try:
                table = _read_json(pa, pj, chunk, ro, schema, "ignore")
            except pa.ArrowInvalid:
                raise _Refused("pyarrow refuses the text") from None
        if late & set(table.column_names):
            raise _Late("a native key first seen after the first lines")
        if table.num_rows != lines:
            raise _Refused("not one object per non-blank line")
        yield present, table


def _release(pa: Any) -> None:
    """Hand the memory of a parsed chunk back (pyarrow's allocator keeps freed pages, which
    would count against the reader's peak memory)."""
    release = getattr(pa.default_memory_pool(), "release_unused", None)
    if release is not None:
        release()


_NARROW_INTS = ("prompt_tokens", "completion_tokens", "status", *INT_EXTRAS)


def _narrow(pa: Any, table: Any) -> Any:
    """The table with counts in int32 and dictionary codes in int16 where every value fits:
    the same values in less memory, which the log's columns are made next to."""
    pc = _arrow()[1]  # type: ignore[index]
    for i, name in enumerate(table.column_names):
        col = table.column(i)
        t = col.type
        new = None
        if name in _NARROW_INTS and pa.types.is_int64(t) and len(col):
            mm = pc.min_max(col)
            lo, hi = mm["min"].as_py(), mm["max"].as_py()
            if lo is not None and lo >= -(2**31) and hi < 2**31:
                new = pc.cast(col, pa.int16() if lo >= -(2**15) and hi < 2**15 else pa.int32())
        elif pa.types.is_dictionary(t) and t.index_type == pa.int32():
            if all(len(ch.dictionary) < 2**15 for ch in col.chunks):
                new = pa.chunked_array(
                    [pa.DictionaryArray.from_arrays(ch.indices.cast(pa.int16()), ch.dictionary)
                     for ch in col.chunks], pa.dictionary(pa.int16(), t.value_type))
        elif (pa.types.is_list(t) and pa.types.is_dictionary(t.value_type)
              and t.value_type.index_type == pa.int32()):
            if all(len(ch.values.dictionary) < 2**15 for ch in col.chunks):
                vt = pa.dictionary(pa.int16(), t.value_type.value_type)
                new = pa.chunked_array(
                    [pa.ListArray.from_arrays(
                        ch.offsets, pa.DictionaryArray.from_arrays(
                            ch.values.indices.cast(pa.int16()), ch.values.dictionary),
                        mask=ch.is_null() if ch.null_count else None) for ch in col.chunks],
                    pa.list_(vt))
        if new is not None:
            table = table.set_column(i, name, new)
            del col
    return table


def _read_json(pa: Any, pj: Any, chunk: Any, ro: Any, schema: Any, other_fields: str) -> Any:
    """One chunk of JSONL with the native columns' schema; ``other_fields`` is pyarrow's
    ``unexpected_field_behavior`` for the rest ("infer" or "ignore")."""
    return pj.read_json(pa.BufferReader(chunk), read_options=ro,
                        parse_options=pj.ParseOptions(explicit_schema=schema,
                                                      newlines_in_values=False,
                                                      unexpected_field_behavior=other_fields))


def _log_of(pa: Any, parts: list, name: str, policy: TagPolicy | None,
            trie: TagTrie | None, opts: ReadOptions = DEFAULTS) -> RequestLog:
    """One log of the compact tables of several chunks (``parts`` is emptied), or
    :class:`_Refused`."""
    from tagcore.io.arrow import _from_table

    try:
        table = pa.concat_tables(parts)
    except pa.ArrowInvalid:  # a column of another type in one chunk
        raise _Refused("chunks disagree") from None
    del parts[:]
    table = _narrow(pa, table)
    _release(pa)  # the wide columns _narrow replaced
    try:
        return _from_table(table, name, policy=policy, on_error="raise", trie=trie,
                           ts_unit=opts.ts_unit, tags_sep=opts.tags_sep, prices=opts.prices)
    except LogError:
        raise _Refused("a problem the Python path reports") from None


# ======================================================================= CSV


def _quote_cut(buf: bytes, q: np.ndarray) -> int:
    """End of the last whole record in ``buf``: after its last newline outside quotes."""
    p = buf.rfind(b"\n")
    while p >= 0:
        k = int(np.searchsorted(q, p))
        if k % 2 == 0:
            return p + 1
        p = buf.rfind(b"\n", 0, int(q[k - 1]))
    return 0


def _check_quotes(chunk: bytes, a: np.ndarray, q: np.ndarray, final: bool) -> None:
    """Refuses a chunk of whole records unless every quote is one that :mod:`csv` (strict)
    and pyarrow read the same way (a field quoted from its first byte; a closing quote
    followed by a delimiter, a line end, a doubled quote or the end of the file), and every
    field is shorter than :func:`csv.field_size_limit` (the Python path refuses longer
    ones): every line, and every quoted field, is."""
    limit = _csv.field_size_limit()
    if q.size % 2:
        raise _Refused("a quoted field is not closed")
    if q.size:
        opens, closes = q[0::2], q[1::2]
        prev = a[np.maximum(opens - 1, 0)]
        first = (prev == 44) | (prev == 10) | (prev == 13) | (opens == 0)
        ok = first.copy()
        ok[1:] |= opens[1:] == closes[:-1] + 1  # "" inside a quoted field
        if not ok.all():
            raise _Refused("a quote inside an unquoted field")
        nxt = a[np.minimum(closes + 1, a.size - 1)]
        ok = (nxt == 44) | (nxt == 10) | (nxt == 13) | (nxt == 34)
        if final:
            ok |= closes == a.size - 1
        if not ok.all():
            raise _Refused("text after a closing quote")
        starts = np.flatnonzero(first)  # quoted fields, from their opening quote
        ends = closes[np.append(starts[1:] - 1, closes.size - 1)]
        if (ends - opens[starts]).max() >= limit:
            raise _Refused("a quoted field longer than the field size limit")
    p, n = 0, len(chunk)
    while n - p >= limit:
        r = chunk.rfind(b"\n", p, p + limit)
        if r < 0:
            raise _Refused("a line longer than the field size limit")
        p = r + 1


def _csv_header(buf: bytes, q: np.ndarray) -> tuple[list[str], int] | None:
    """The header (read by :mod:`csv`, strict) and where the records start; None when
    ``buf`` holds no whole header line yet."""
    p = buf.find(b"\n")
    while p >= 0:
        k = int(np.searchsorted(q, p))
        if k % 2 == 0:
            break
        if k == q.size:  # inside a quoted field that goes on
            return None
        p = buf.find(b"\n", int(q[k]))
    if p < 0:
        return None
    head = buf[:p + 1]
    if b"\r" in head[:-2] or (b"\r" in head[-2:] and head[-2:] != b"\r\n"):
        raise _Refused("a carriage return in the header")
    try:
        rows = list(_csv.reader(_io.StringIO(head.decode("utf-8"), newline=""), strict=True))
    except (UnicodeDecodeError, _csv.Error):
        raise _Refused("bad header") from None
    if len(rows) != 1 or not rows[0]:
        raise _Refused("bad header")
    return rows[0], p + 1


def _csv_chunks(inp: TextInput) -> Iterator[tuple[list[str] | None, bytes]]:
    """(the header with the first chunk, a chunk of whole records), every chunk checked
    (UTF-8, quotes, field length)."""
    carry = b""
    header: list[str] | None = None
    pending_header: list[str] | None = None

    def checked(chunk: bytes, a: np.ndarray, q: np.ndarray, final: bool) -> None:
        if not _utf8_ok(chunk):
            raise _Refused("not UTF-8")
        _check_quotes(chunk, a, q, final)

    for block in inp.blocks(CSV_CHUNK):
        buf = carry + block if carry else block
        a = np.frombuffer(buf, dtype=np.uint8)
        q = np.flatnonzero(a == 34)
        if header is None:
            found = _csv_header(buf, q)
            if found is None:
                carry = buf
                continue
            header, start = found
            pending_header = header
            buf, a = buf[start:], a[start:]
            q = q[int(np.searchsorted(q, start)):] - start
        cut = _quote_cut(buf, q)
        if cut <= 0:
            carry = buf
            continue
        chunk, carry = buf[:cut], buf[cut:]
        if _has_content(chunk):
            checked(chunk, a[:cut], q[:int(np.searchsorted(q, cut))], False)
            yield pending_header, chunk
            pending_header = None
    if header is None:
        if carry:
            raise _Refused("no whole header line")
        return
    if _has_content(carry):
        a = np.frombuffer(carry, dtype=np.uint8)
        checked(carry, a, np.flatnonzero(a == 34), True)
        yield pending_header, carry


def _has_content(chunk: bytes) -> bool:
    """Whether a chunk holds more than line ends (pyarrow refuses a chunk of blank lines)."""
    return bool(chunk[:4096].strip(b"\r\n")) or bool(chunk.strip(b"\r\n"))


def _compact_csv(table, present: dict[str, str], opts: ReadOptions) -> dict[str, Any]:
    """The typed columns of one chunk of CSV text, under their native names."""
    cols: dict[str, Any] = {}
    for col, key in present.items():
        c = table.column(key)
        if col == "ts":
            cols[col] = _ts_text(c, opts.ts_unit)
        elif col in _STR_COLUMNS:
            cols[col] = _dict_text(c, unprefix=True)
        elif col == "request_tags":
            cols[col] = _tags_json_cells(c, opts.tags_sep)
        elif col == "cost":
            cols["cost_nanos"] = _dollars_text(c)
        elif col == "latency_ms":
            cols[col] = _float_text(c)
        else:
            cols[col] = _int_text(c)
    return cols


def _csv_tables(inp: TextInput, pa: Any, pcsv: Any, use_threads: bool, columns: Any = None
                ) -> Iterator[tuple[dict[str, str], Any]]:
    """(native columns and their names in the header, the parsed table of text) of every
    chunk of a CSV source, every chunk checked first (see the module doc)."""
    names: list[str] | None = None
    present: dict[str, str] = {}
    for header, chunk in _csv_chunks(inp):
        if header is not None:
            if len(set(header)) != len(header):
                raise _Refused("duplicate header names")
            try:
                present = _select(columns, header, inp.name)
            except LogError:
                raise _Refused("missing column") from None
            if "cost_nanos" in present:
                present.pop("cost", None)
            names = header
        assert names is not None
        _release(pa)  # what the caller freed of the chunks before (this thread's pages)
        try:
            table = pcsv.read_csv(
                pa.BufferReader(chunk),
                read_options=pcsv.ReadOptions(  # one block: one chunk per column
                    column_names=names, use_threads=use_threads,
                    block_size=BLOCK if use_threads else len(chunk) + 1),
                parse_options=pcsv.ParseOptions(newlines_in_values=True,
                                                ignore_empty_lines=True),
                convert_options=pcsv.ConvertOptions(
                    column_types={k: pa.string() for k in present.values()},
                    include_columns=list(present.values()), null_values=[""],
                    strings_can_be_null=True, quoted_strings_can_be_null=True,
                    check_utf8=True))
        except pa.ArrowInvalid:
            raise _Refused("pyarrow refuses the text") from None
        yield present, table


# ================================================================ the chunk decoder


def compact_tables(fmt: str, inp: TextInput, opts: ReadOptions = DEFAULTS) -> Iterator[Any]:
    """The compact typed Arrow table (native column names; ``cost_nanos`` for dollars) of
    each chunk of a JSONL (``fmt="jsonl"``) or CSV source, in row order; raises
    :class:`_Refused` (possibly after some chunks) when the compiled path cannot vouch for
    the file. Only chunks with rows are given; a source without any row is refused (the
    Python path words it)."""
    mods = _arrow()
    if mods is None:
        raise _Refused("no pyarrow")
    pa, _, pj, pcsv = mods
    threads = get_threads()
    produce: Callable[[], Iterator[Any]]
    if fmt == "jsonl":
        safe = _safe_depth()  # here: the Python path decodes on this thread, not the worker's
        produce = lambda: _jsonl_tables(inp, pa, pj, threads > 1, safe,  # noqa: E731
                                        opts.columns)
    else:
        produce = lambda: _csv_tables(inp, pa, pcsv, False, opts.columns)  # noqa: E731
    rows = 0
    for present, table in _ahead(produce, threads):
        part = pa.table(_compact_jsonl(table, present, opts.ts_unit) if fmt == "jsonl"
                        else _compact_csv(table, present, opts))
        del table
        _release(pa)
        if part.num_rows:
            rows += part.num_rows
            yield part
    if not rows:
        raise _Refused("no rows")


def _chunk_log(pa: Any, table: Any, name: str, policy: TagPolicy | None, trie: TagTrie,
               opts: ReadOptions) -> RequestLog:
    """The log of one chunk's compact table over ``trie`` (or :class:`_Refused`)."""
    return _log_of(pa, [table], name, policy, trie, opts)


def text_chunks(fmt: str, inp: TextInput, *, policy: TagPolicy | None = None,
                trie: TagTrie | None = None, opts: ReadOptions = DEFAULTS,
                build: Callable[[Any], RequestLog] | None = None
                ) -> Iterator[tuple[int, RequestLog]]:
    """``(first row, chunk log)`` of each chunk of a JSONL or CSV source by the compiled
    path, one chunk in memory at a time, every chunk log over one trie (``trie``, or a new
    one); ``build(table)`` makes a chunk's log from its compact table (default: the Arrow
    column readers of :func:`~tagcore.io.read_parquet` over ``trie``). Raises
    :class:`_Refused` when the compiled path cannot vouch for the file, possibly after
    some chunks were given: the caller then reads the file by the exact Python path. The
    rows of the chunks given are the first rows of that path's log, unless the refusal is
    :class:`_Late` (a native key first seen further on: the file must be read again, whole).
    ``inp``'s progress hears the rows decoded after each chunk.

    >>> import io
    >>> data = b"".join(b'{"ts": %d, "cost": 0.5, "request_tags": ["t/%d"]}\\n' % (i, i % 3)
    ...                 for i in range(5))
    >>> [(start, len(log)) for start, log in text_chunks("jsonl", TextInput(io.BytesIO(data)))]
    [(0, 5)]
    """
    mods = _arrow()
    if mods is None:
        raise _Refused("no pyarrow")
    pa = mods[0]
    trie = TagTrie() if trie is None else trie
    start = 0
    for table in compact_tables(fmt, inp, opts):
        log = build(table) if build is not None else \
            _chunk_log(pa, table, inp.name, policy, trie, opts)
        del table
        yield start, log
        start += len(log)
        inp.report(start)
    inp.report(start, final=True)


def jsonl_chunks(inp: TextInput, *, policy: TagPolicy | None = None,
                 trie: TagTrie | None = None, opts: ReadOptions = DEFAULTS,
                 build: Callable[[Any], RequestLog] | None = None
                 ) -> Iterator[tuple[int, RequestLog]]:
    """:func:`text_chunks` of a JSONL source."""
    return text_chunks("jsonl", inp, policy=policy, trie=trie, opts=opts, build=build)


def csv_chunks(inp: TextInput, *, policy: TagPolicy | None = None,
               trie: TagTrie | None = None, opts: ReadOptions = DEFAULTS,
               build: Callable[[Any], RequestLog] | None = None
               ) -> Iterator[tuple[int, RequestLog]]:
    """:func:`text_chunks` of a CSV source (no refusal of a CSV chunk changes the rows
    before it: the header decides the columns)."""
    return text_chunks("csv", inp, policy=policy, trie=trie, opts=opts, build=build)


def _whole_log(fmt: str, inp: TextInput, policy: TagPolicy | None, trie: TagTrie | None,
               opts: ReadOptions) -> RequestLog | None:
    """The log of a whole JSONL or CSV source by the compiled path (the chunks' compact
    tables concatenated, then one log), or None when it refuses."""
    mods = _arrow()
    if mods is None:
        return None
    pa = mods[0]
    try:
        parts = []
        rows = 0
        for table in compact_tables(fmt, inp, opts):
            rows += table.num_rows
            parts.append(table)
            inp.report(rows)
        log = _log_of(pa, parts, inp.name, policy, trie, opts)
    except _Refused:
        return None
    inp.report(len(log), final=True)
    return log


def jsonl_log(inp: TextInput, *, policy: TagPolicy | None = None,
              trie: TagTrie | None = None, opts: ReadOptions = DEFAULTS
              ) -> RequestLog | None:
    """The log of a JSONL source by the compiled path, or None when it refuses (see the
    module doc)."""
    return _whole_log("jsonl", inp, policy, trie, opts)


def csv_log(inp: TextInput, *, policy: TagPolicy | None = None,
            trie: TagTrie | None = None, opts: ReadOptions = DEFAULTS
            ) -> RequestLog | None:
    """The log of a CSV source by the compiled path, or None when it refuses (see the module
    doc)."""
    return _whole_log("csv", inp, policy, trie, opts)


def read_text(fmt: str, source: Source, python_path: Callable[..., RequestLog], *,
              policy: TagPolicy | None, on_error: str, trie: TagTrie | None,
              progress: Progress | None, opts: ReadOptions) -> RequestLog:
    """What :func:`~tagcore.io.read_jsonl` and :func:`~tagcore.io.read_csv` do once their
    arguments are checked: the compiled path (:func:`jsonl_log`, :func:`csv_log`), and when
    it refuses, the exact ``python_path(data, name, policy=, on_error=, trie=, opts=)`` over
    the whole file; ``progress`` hears the rows decoded (by the Python path: once, at the
    end)."""
    inp = TextInput(source, progress)
    log = _whole_log(fmt, inp, policy, trie, opts)
    if log is None:
        data, name = inp.whole()
        log = python_path(data, name, policy=policy, on_error=on_error, trie=trie, opts=opts)
        inp.report(len(log), final=True)
    return log
