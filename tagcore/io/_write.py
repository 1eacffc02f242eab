"""The fast path of :func:`~tagcore.io.to_jsonl` and :func:`~tagcore.io.to_csv`: a log to
JSONL or CSV bytes with pyarrow's string kernels and numpy, a chunk of rows at a time, never a
Python object per row.

The definition is the pure-Python writer of each format (``_write_jsonl_py`` in
:mod:`tagcore.io.jsonl`, ``_write_csv_py`` in :mod:`tagcore.io.csv`): this path writes the same
bytes, and the tests compare the two on generated logs. How each column becomes text:

- ``ts``: fixed-width ISO 8601 bytes gathered in numpy from a table of the log's days, a table
  of the 86,400 times of a day and a table of the 1,000 three-digit groups of the fraction, at
  the one unit (s, ms, us, ns) that keeps every time of the log exact (as ``_native._iso``);
- integers: Arrow's cast to string, or, when a column holds few values (token counts, status),
  a dictionary of their digits made once and taken by the values;
- ``latency_ms`` and ``cost`` (float dollars): Python's ``repr`` (the shortest text that reads
  back to the same float, as ``json.dumps`` and :mod:`csv` print a float). Arrow's cast gives
  the same shortest digits, but lays them out its own way (``2`` for ``2.0``, ``0.00001`` for
  ``1e-05``, ``1e+15`` for ``1000000000000000.0``); so only the rows where the two layouts agree
  keep Arrow's text: non-integral values in ``[1e-4, 1e10)``. Integral values below ``1e16``
  are the integer's digits and ``.0``; a cost below ``1e-4`` dollars (under 100,000
  nano-dollars) is made from its exact integer nanos (``8.0025e-05``); the rare rest (a latency
  below 1e-4 ms or from 1e10 ms, ``-0.0``, a cost of a million dollars or more) is ``repr`` of
  that row's float;
- strings (models, tags, the text extras): each *distinct* string is encoded once (JSON: quoted,
  and escaped by :func:`json.encoder.encode_basestring` only when it holds a quote, a backslash
  or a control character; CSV: :func:`~tagcore.io._common.spreadsheet_safe`, then quoted as
  :mod:`csv` quotes, only when it holds ``,``, ``"``, CR or LF), then taken by the rows' codes;
  a row's tags are joined with Arrow's ``binary_join`` over a list view of the CSR arrays;
- a line is ``binary_join_element_wise`` of its pieces and the constant text between them (the
  dictionaries and the time take in the constants next to them, so that there are fewer pieces
  to join); the data buffer of that string array is written as it is.

A chunk holds at most :data:`CHUNK_ROWS` rows and about :data:`CHUNK_BYTES` bytes of text
(Arrow's string offsets are 32-bit); chunks are made on up to :func:`~tagcore.get_threads`
threads and written in order. :func:`plan` returns ``None`` when pyarrow is missing or a string
cannot be encoded as UTF-8 (a lone surrogate): the caller then runs the Python writer, which
writes the same bytes or raises the same error.
"""

from __future__ import annotations

import io as _io
import itertools
import json
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from tagcore._threads import get_threads
from tagcore.log import INT_EXTRAS, NANOS_PER_DOLLAR, STR_EXTRAS, RequestLog

CHUNK_ROWS = 1 << 16  # rows per chunk (tests make it small to cross chunk boundaries)
CHUNK_BYTES = 1 << 30  # most text one chunk may make, well below Arrow's 2 GiB string limit
_INT_VOCAB = 1 << 20  # an integer column below this (and below half the rows) is a dictionary
MAX_THREADS = 4  # chunk makers at most (the disk and the joins in order bound the rest)

NATIVE = ("ts", "model", "prompt_tokens", "completion_tokens", "cost", "cost_nanos",
          "latency_ms", "status", "request_tags")

_TEMP_WRAPPER = getattr(tempfile, "_TemporaryFileWrapper", ())  # what _atomic yields
_NS_PER_DAY = 86_400 * 10**9
_NAT = np.iinfo(np.int64).min
_JSON_SPECIAL = r'["\\\x00-\x1f]'  # what json.dumps(ensure_ascii=False) escapes in a string
_CSV_SPECIAL = r'[,"\r\n]'  # what makes csv.writer (QUOTE_MINIMAL, CRLF) quote a cell
_CSV_DANGER = r"^(?:[=+\-@\t\r']|$)"  # spreadsheet_safe prefixes these with one "'"
_LARGE_STRING_ID = 34  # pyarrow.large_string().id (checked by the tests)
_SCI_EXP = ("e-09", "e-08", "e-07", "e-06", "e-05")  # repr of n * 1e-9 for n of 1..5 digits


def columns(log: RequestLog) -> list[str]:
    """The columns a text writer writes for ``log``, in order: the native columns the log
    knows (the ones in ``log.unknown``, when a log has that, are left out), then its extras.

    >>> columns(RequestLog.empty())[:4]
    ['ts', 'model', 'prompt_tokens', 'completion_tokens']
    """
    unknown = getattr(log, "unknown", frozenset())
    out = [c for c in NATIVE if c not in unknown]
    out += [k for k in INT_EXTRAS if k in log.extras]
    out += [k for k in STR_EXTRAS if k in log.extras]
    return out


def check_ts(log: RequestLog) -> None:
    """Refuse a log with numpy's NaT time (``-2**63`` ns), before anything is written.

    >>> check_ts(RequestLog.empty())
    """
    if (np.asarray(log.ts) == _NAT).any():
        raise ValueError("ts: -2**63 ns (numpy's NaT) cannot be written")


def _pyarrow() -> tuple[Any, Any] | None:
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return pa, pc


# ===================================================================== plans


class _Slot:
    """A column's text in a line, with the constant text around it that it took in (a
    dictionary column or the fixed-width time takes its neighbours: fewer pieces to join)."""

    __slots__ = ("kind", "name", "pre", "post")

    def __init__(self, kind: str, name: str):
        self.kind, self.name, self.pre, self.post = kind, name, "", ""

    @property
    def absorbs(self) -> bool:
        return self.kind in ("ts", "vocab")


class Plan:
    """What the writer of one log in one format needs, made once: the layout of a line, the
    encoded dictionaries and the time tables; :meth:`write` then makes and writes the
    chunks."""

    def __init__(self, log: RequestLog, fmt: str, pa: Any, pc: Any):
        self.log, self.fmt, self.pa, self.pc = log, fmt, pa, pc
        self.cols = columns(log)
        self.json = fmt == "jsonl"
        n = len(log)
        self.n = n
        ts = np.asarray(log.ts)
        self.ts_digits = 9
        for digits, k in ((0, 10**9), (3, 10**6), (6, 10**3)):
            if not (ts % k).any():
                self.ts_digits = digits
                break
        if "ts" in self.cols and n:
            d0, d1 = int(ts.min() // _NS_PER_DAY), int(ts.max() // _NS_PER_DAY)
            days = np.char.add(np.datetime_as_string(np.arange(d0, d1 + 1).astype("M8[D]")), "T")
            self.day0 = d0
            self.days = _table(days.astype("S11").view(np.uint8).reshape(-1, 11))  # "YYYY-MM-DDT"
            self.times = _TIMES_DOT if self.ts_digits else _TIMES  # "HH:MM:SS[.]"
        self.layout = self._layout()
        enc = self._json_strings if self.json else self._csv_cells
        # the dictionaries (with the constant text their slot took in), each with a last
        # entry for a missing value (code -1)
        self.vocab: dict[str, Any] = {}
        for slot in self.layout:
            if not isinstance(slot, _Slot) or slot.kind != "vocab":
                continue
            c = slot.name
            if c == "model":
                v = enc(list(log.models), none=None)
            elif c in STR_EXTRAS:
                v = enc(list(log.extras[c][1]), none="null" if self.json else "")
            elif c in ("(", ")"):  # the CSV tag cell opens and closes quoted, but for "[]"
                v = pa.array(['"[', "["] if c == "(" else [']"', "]"], pa.string())
            else:  # an integer column's values 0..max
                v = pa.array(np.arange(int(self._ints(c).max()) + 1)).cast(pa.string())
            if slot.pre or slot.post:
                v = pc.binary_join_element_wise(slot.pre, v, slot.post, "")
            self.vocab[c] = v
        if "request_tags" in self.cols:
            self.tags = (self._json_strings(log.trie.paths, none=None) if self.json
                         else self._csv_tags(log.trie.paths))

    def _layout(self) -> list[Any]:
        """A line: constant text (``str``) and slots, the constants taken in where they can."""
        items: list[Any] = []
        for i, c in enumerate(self.cols):
            if self.json:
                items.append(("{" if not i else ", ") + f'"{c}": ')
            elif i:
                items.append(",")
            if c == "ts":
                items.append(_Slot("ts", c))
            elif c == "model" or c in STR_EXTRAS:
                items.append(_Slot("vocab", c))
            elif c == "cost":
                items.append(_Slot("cost", c))
            elif c == "latency_ms":
                items.append(_Slot("float", c))
            elif c == "request_tags":
                if self.json:
                    items += ["[", _Slot("tags", c), "]"]
                else:
                    items += [_Slot("vocab", "("), _Slot("tags", c), _Slot("vocab", ")")]
            else:  # an integer: its digits by a dictionary of them when the values are few
                top = int(self._ints(c).max()) if self.n else 0
                few = top < min(_INT_VOCAB, self.n // 2)
                items.append(_Slot("vocab" if few else "int", c))
        items.append("}\n" if self.json else "\r\n")
        merged: list[Any] = []
        for it in items:
            if isinstance(it, str) and merged and isinstance(merged[-1], str):
                merged[-1] += it
            else:
                merged.append(it)
        out: list[Any] = []
        for i, it in enumerate(merged):
            if isinstance(it, str):
                if out and isinstance(out[-1], _Slot) and out[-1].absorbs:
                    out[-1].post += it
                    continue
                nxt = merged[i + 1] if i + 1 < len(merged) else None
                if isinstance(nxt, _Slot) and nxt.absorbs:
                    nxt.pre = it + nxt.pre
                    continue
            out.append(it)
        return out

    def _ints(self, c: str) -> np.ndarray:
        log = self.log
        return np.asarray(log.cost if c == "cost_nanos" else log.extras[c] if c in INT_EXTRAS
                          else getattr(log, c))

    # ------------------------------------------------------------ dictionaries

    def _strings(self, values: Sequence[str]) -> Any:
        return self.pa.array(values, self.pa.string())  # UnicodeEncodeError: Python writer

    def _json_strings(self, values: Sequence[str], none: str | None) -> Any:
        """Each value as a JSON string literal (as ``json.dumps(v, ensure_ascii=False)``)."""
        pa, pc = self.pa, self.pc
        arr = self._strings(values)
        out = pc.binary_join_element_wise('"', arr, '"', "")
        out = _fix(pa, pc, out, pc.match_substring_regex(arr, _JSON_SPECIAL),
                   lambda i: json.encoder.encode_basestring(values[i]))
        return _with_missing(pa, out, none)

    def _csv_cells(self, values: Sequence[str], none: str | None) -> Any:
        """Each value as a spreadsheet-safe CSV cell, quoted as :mod:`csv` quotes."""
        pa, pc = self.pa, self.pc
        arr = self._strings(values)
        danger = pc.match_substring_regex(arr, _CSV_DANGER)
        if danger.true_count:
            arr = pc.if_else(danger, pc.binary_join_element_wise("'", arr, ""), arr)
        quote = pc.match_substring_regex(arr, _CSV_SPECIAL)
        if quote.true_count:
            quoted = pc.binary_join_element_wise('"', pc.replace_substring(arr, '"', '""'),
                                                 '"', "")
            arr = pc.if_else(quote, quoted, arr)
        return _with_missing(pa, arr, none)

    def _csv_tags(self, paths: Sequence[str]) -> Any:
        """Each tag as it stands inside the quoted CSV cell of a JSON array: the JSON string
        literal with its quotes doubled."""
        pa, pc = self.pa, self.pc
        arr = self._strings(paths)
        out = pc.binary_join_element_wise('""', arr, '""', "")
        return _fix(pa, pc, out, pc.match_substring_regex(arr, _JSON_SPECIAL),
                    lambda i: json.encoder.encode_basestring(paths[i]).replace('"', '""'))

    # ------------------------------------------------------------------ chunks

    def header(self) -> bytes:
        return b"" if self.json else (",".join(self.cols) + "\r\n").encode()

    def bounds(self) -> Iterator[tuple[int, int]]:
        """Row ranges of the chunks: at most CHUNK_ROWS rows and about CHUNK_BYTES of text
        (bounded from above: the longest text of each column and the row's own tags)."""
        n, log, pc = self.n, self.log, self.pc
        per_row = 64 * len(self.cols) + 64  # numbers, times, keys and separators, generously
        for v in self.vocab.values():
            lens = pc.binary_length(v).to_numpy(zero_copy_only=False)
            per_row += int(lens.max()) if lens.size else 0
        tag_bytes = None
        if "request_tags" in self.cols and log.tag_ids.size:
            tag_bytes = pc.binary_length(self.tags).to_numpy(zero_copy_only=False) + 2
        off = np.asarray(log.tag_offsets)
        r0 = 0
        while r0 < n:
            r1 = min(n, r0 + max(1, CHUNK_ROWS))
            ends = np.arange(1, r1 - r0 + 1, dtype=np.int64) * per_row
            if tag_bytes is not None:
                a, b = int(off[r0]), int(off[r1])
                cum = np.zeros(b - a + 1, dtype=np.int64)
                np.cumsum(tag_bytes[log.tag_ids[a:b]], out=cum[1:])
                ends += cum[off[r0 + 1:r1 + 1] - a]
            r1 = r0 + max(1, int(np.searchsorted(ends, CHUNK_BYTES, side="right")))
            yield r0, r1
            r0 = r1

    def chunk(self, r0: int, r1: int) -> Any:
        """The text of rows ``[r0, r1)`` as one Arrow string array (a line per row)."""
        pa, pc, log = self.pa, self.pc, self.log
        args: list[Any] = []
        for slot in self.layout:
            if isinstance(slot, str):
                args.append(slot)
                continue
            kind, c = slot.kind, slot.name
            if kind == "ts":
                args.append(self._ts(r0, r1, slot.pre, slot.post))
            elif kind == "int":
                args.append(pa.array(self._ints(c)[r0:r1]).cast(pa.string()))
            elif kind == "cost":
                args.append(_cost_strings(pa, pc, np.asarray(log.cost[r0:r1])))
            elif kind == "float":
                args.append(_float_strings(pa, pc, np.asarray(log.latency_ms[r0:r1]),
                                           "null" if self.json else ""))
            elif kind == "tags":
                args.append(self._tags(r0, r1))
            elif c == "model":
                args.append(self.vocab[c].take(pa.array(log.model_codes[r0:r1])))
            elif c in STR_EXTRAS:
                codes = np.asarray(log.extras[c][0][r0:r1])
                vocab = self.vocab[c]
                args.append(vocab.take(pa.array(np.where(codes < 0, len(vocab) - 1, codes))))
            elif c in ("(", ")"):  # of the CSV tag cell: 1 for an empty array
                off = np.asarray(log.tag_offsets[r0:r1 + 1])
                args.append(self.vocab[c].take(pa.array((off[1:] == off[:-1]).view(np.int8))))
            else:  # an integer with few values
                args.append(self.vocab[c].take(pa.array(self._ints(c)[r0:r1])))
        return pc.binary_join_element_wise(*args, "")

    def _ts(self, r0: int, r1: int, pre: str, post: str) -> Any:
        """ISO 8601 UTC times with a ``Z`` (JSON: quoted) and the constant text around them,
        fixed width, as a string array."""
        ts = np.asarray(self.log.ts[r0:r1])
        q = '"' if self.json else ""
        day = ts // _NS_PER_DAY
        ns = ts - day * _NS_PER_DAY
        sec = ns // 10**9
        times, k = self.times
        pieces = [(pre + q).encode(), (self.days[day - self.day0], 11), (times[sec], k)]
        if self.ts_digits:
            frac = ns - sec * 10**9
            for j in range(self.ts_digits // 3):
                pieces.append((_THREE[(frac // 10**(6 - 3 * j)) % 1000], 3))
        pieces.append(("Z" + q + post).encode())
        return _fixed_text(self.pa, pieces, ts.size)

    def _tags(self, r0: int, r1: int) -> Any:
        """The tags of each row, encoded and joined (the array's inside)."""
        pa, log = self.pa, self.log
        off = np.asarray(log.tag_offsets[r0:r1 + 1])
        a, b = int(off[0]), int(off[-1])
        vals = self.tags.take(pa.array(log.tag_ids[a:b]))
        lists = pa.ListArray.from_arrays(pa.array((off - a).astype(np.int32)), vals)
        return self.pc.binary_join(lists, ", " if self.json else ",")

    def write(self, fh: Any) -> None:
        """Write the whole log to the binary file object ``fh``: chunks are made by up to
        :func:`~tagcore.get_threads` threads (Arrow's kernels and numpy release the GIL) and
        written in order, at most two per thread in memory at a time."""
        put = _sink(fh)
        head = self.header()
        if head:
            put(memoryview(head))
        bounds = list(self.bounds())
        workers = min(get_threads(), MAX_THREADS, len(bounds))
        if workers <= 1:
            for r0, r1 in bounds:
                put(_data(self.chunk(r0, r1)))
            return
        ex = ThreadPoolExecutor(workers, thread_name_prefix="tagcore-write")
        try:
            todo = iter(bounds)
            pending = deque(ex.submit(self.chunk, *b) for b in itertools.islice(todo, 2 * workers))
            while pending:
                arr = pending.popleft().result()
                nxt = next(todo, None)
                if nxt is not None:
                    pending.append(ex.submit(self.chunk, *nxt))
                put(_data(arr))
                del arr
        finally:
            ex.shutdown(wait=True, cancel_futures=True)


def plan(log: RequestLog, fmt: str) -> Plan | None:
    """The fast writer of ``log`` in ``fmt`` (``"jsonl"`` or ``"csv"``), or ``None`` when
    only the Python writer can write it (no pyarrow; a string that is not valid Unicode).
    Refuses a NaT time first (``ValueError``), before anything is written.

    >>> import io
    >>> log = RequestLog.from_records([{"ts": 0, "model": "=m", "prompt_tokens": 1,
    ...     "completion_tokens": 0, "cost": 0.00005, "latency_ms": 2.0, "status": 200,
    ...     "request_tags": ["a", "b"]}])
    >>> buf = io.BytesIO()
    >>> plan(log, "csv").write(buf)
    >>> buf.getvalue().decode().splitlines()[1]
    '1970-01-01T00:00:00Z,\\'=m,1,0,5e-05,50000,2.0,200,"[""a"",""b""]"'
    """
    check_ts(log)
    mods = _pyarrow()
    if mods is None:
        return None
    try:
        return Plan(log, fmt, *mods)
    except UnicodeEncodeError:
        return None


# =================================================================== helpers


def _fixed_text(pa: Any, pieces: list[Any], n: int) -> Any:
    """A string array of ``n`` rows of the same width: row ``i`` is the concatenation of the
    pieces, ``bytes`` (the same in every row) or ``(items, k)``: a void array of ``n`` items
    (one per row) of which the first ``k`` bytes count (tables are padded to 4 or 16 bytes:
    numpy gathers such items much faster than 3- or 11-byte ones)."""
    fields = []
    for i, p in enumerate(pieces):
        k = len(p) if isinstance(p, bytes) else p[1]
        if k:
            fields.append((f"f{i}", f"V{k}"))
    out = np.empty(n, dtype=np.dtype(fields))  # packed: one row is one item
    for i, p in enumerate(pieces):
        if isinstance(p, bytes):
            if p:
                out[f"f{i}"] = np.void(p)
        else:
            items, k = p
            out[f"f{i}"] = items.view(np.dtype({"names": ["v"], "formats": [f"V{k}"],
                                                "offsets": [0],
                                                "itemsize": items.dtype.itemsize}))["v"]
    w = out.dtype.itemsize
    large = (n + 1) * w >= 2**31
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int64 if large else np.int32)
    return pa.Array.from_buffers(pa.large_string() if large else pa.string(), n,
                                 [None, pa.py_buffer(offsets), pa.py_buffer(out)])


def _table(rows: np.ndarray) -> np.ndarray:
    """An ``(m, k)`` uint8 table of ASCII rows as void items padded to 4 or 16 bytes."""
    m, k = rows.shape
    width = 4 if k <= 4 else 16
    out = np.zeros((m, width), dtype=np.uint8)
    out[:, :k] = rows
    return out.view(f"V{width}").ravel()


def _times_of_day(dot: bool) -> np.ndarray:
    sec = np.arange(86_400)
    cols = [sec // 36000, sec // 3600 % 10, None, sec // 600 % 6, sec // 60 % 10, None,
            sec % 60 // 10, sec % 10]
    out = np.full((86_400, 8 + dot), ord(":"), dtype=np.uint8)
    for j, c in enumerate(cols):
        if c is not None:
            out[:, j] = c + 48
    if dot:
        out[:, 8] = ord(".")
    return _table(out)


_TIMES = (_times_of_day(False), 8)  # "HH:MM:SS" of every second of a day
_TIMES_DOT = (_times_of_day(True), 9)  # "HH:MM:SS."
_THREE = _table(np.array([[48 + i // 100, 48 + i // 10 % 10, 48 + i % 10]
                          for i in range(1000)], dtype=np.uint8))  # "000".."999"


def _with_missing(pa: Any, arr: Any, none: str | None) -> Any:
    if none is None:
        return arr
    return pa.concat_arrays([arr, pa.array([none], arr.type)])


def _fix(pa: Any, pc: Any, arr: Any, mask: Any, make: Callable[[int], str]) -> Any:
    """``arr`` with the rows of ``mask`` replaced by ``make(row)`` (few rows, Python)."""
    if not mask.true_count:
        return arr
    rows = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
    return pc.replace_with_mask(arr, mask, pa.array([make(int(i)) for i in rows], pa.string()))


def _replace(pa: Any, pc: Any, arr: Any, mask: np.ndarray, values: Any) -> Any:
    if not mask.any():
        return arr
    return pc.replace_with_mask(arr, pa.array(mask), values)


def _float_strings(pa: Any, pc: Any, x: np.ndarray, null: str) -> Any:
    """``repr`` of each float (``null`` for NaN): Arrow's shortest digits where its layout is
    Python's, the integer's digits and ``.0`` for integral values, ``repr`` for the rare rest."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    nan = np.isnan(x)
    if nan.all():
        return pa.repeat(pa.scalar(null), x.size)
    with np.errstate(invalid="ignore"):
        whole = (x == np.floor(x)) & (np.abs(x) < 1e16) & ~np.signbit(x)
        rest = ~nan & ~whole & ((x < 1e-4) | (x >= 1e10) | np.signbit(x) | np.isinf(x))
    if whole.all():  # say latencies measured in whole milliseconds
        ints = pa.array(x.astype(np.int64)).cast(pa.string())
        return pc.binary_join_element_wise(ints, ".0", "")
    out = pa.array(x).cast(pa.string())
    if whole.any():
        ints = pa.array(x[whole].astype(np.int64)).cast(pa.string())
        out = _replace(pa, pc, out, whole, pc.binary_join_element_wise(ints, ".0", ""))
    if rest.any():
        out = _replace(pa, pc, out, rest, pa.array([repr(v) for v in x[rest].tolist()],
                                                   pa.string()))
    if nan.any():
        out = pc.if_else(pa.array(nan), pa.scalar(null), out)
    return out


def _cost_strings(pa: Any, pc: Any, nanos: np.ndarray) -> Any:
    """``repr(nanos / 1e9)`` of each cost, as the Python writer prints the dollars: Arrow's
    shortest digits for non-integral costs from 1e-4 dollars (their decimal has at most 15
    significant digits below a million dollars, so that it is its own shortest form), the
    integer's digits and ``.0`` for whole dollars, the exact nanos in scientific notation below
    1e-4 dollars, ``repr`` from a million dollars (above 2**53 nanos the float is rounded)."""
    nanos = np.ascontiguousarray(nanos, dtype=np.int64)
    out = pa.array(nanos / NANOS_PER_DOLLAR).cast(pa.string())
    frac = nanos % NANOS_PER_DOLLAR
    whole = frac == 0
    small = (nanos > 0) & (nanos < 100_000)
    big = (nanos >= 10**15) & ~whole
    if whole.any():
        ints = pa.array(nanos[whole] // NANOS_PER_DOLLAR).cast(pa.string())
        out = _replace(pa, pc, out, whole, pc.binary_join_element_wise(ints, ".0", ""))
    if small.any():
        v = nanos[small]
        ndig = 1 + (v >= 10).astype(np.int8) + (v >= 100) + (v >= 1000) + (v >= 10_000)
        d = v
        for _ in range(4):  # strip the trailing zeros
            d = np.where(d % 10 == 0, d // 10, d)
        ds = pa.array(d).cast(pa.string())
        one = d < 10
        sci = pc.binary_join_element_wise(
            pc.utf8_slice_codeunits(ds, 0, 1),
            pa.array([".", ""]).take(pa.array(one.astype(np.int8))),
            pc.utf8_slice_codeunits(ds, 1),
            pa.array(_SCI_EXP).take(pa.array(ndig - 1)), "")
        out = _replace(pa, pc, out, small, sci)
    if big.any():
        out = _replace(pa, pc, out, big, pa.array(
            [repr(v) for v in (nanos[big] / NANOS_PER_DOLLAR).tolist()], pa.string()))
    return out


def _data(arr: Any) -> memoryview:
    """The bytes of all the strings of ``arr`` (no nulls), without a copy."""
    assert arr.null_count == 0
    data = arr.buffers()[2]
    if data is None or not len(arr):
        return memoryview(b"")
    large = arr.type.id == _LARGE_STRING_ID
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64 if large else np.int32,
                            count=len(arr) + 1, offset=arr.offset * (8 if large else 4))
    return memoryview(data)[int(offsets[0]):int(offsets[-1])]


def _sink(fh: Any) -> Callable[[memoryview], Any]:
    """How to write a buffer to ``fh``: as it is to a file object of :mod:`io` (and the
    atomic writer's temporary file), as ``bytes`` to anything else."""
    if isinstance(fh, (_io.BufferedIOBase, _TEMP_WRAPPER)):
        return fh.write
    return lambda b: fh.write(bytes(b))
