"""The compiled path of the vendor readers (LiteLLM SpendLogs and ``StandardLoggingPayload``
records, OpenAI logs, OpenRouter, Helicone, Langfuse): the file is parsed by pyarrow's
compiled readers and every column is computed with Arrow compute and numpy, so that no
Python object is made per row. The exact per-row Python path of each reader
(``parse_<format>``) stays the definition and the fallback.

How a file is read:

1. **Bytes.** The source is read as the Python path reads it (:func:`_load`: a path, ``"-"``
   or a file object; gzip and a byte-order mark as :func:`~tagcore.io._common._read_bytes`
   says). A stream is read once: when the compiled path refuses, the Python path reads the
   same bytes again from memory.
2. **Layout**, as :func:`tagcore.io._vendor._kind_of` decides it: JSONL (checked line by line
   by :func:`tagcore.io._text._check_lines`: one object per line), a JSON array (its records
   found by one scan of the brackets and quotes outside strings, then laid out one per line
   for pyarrow), or CSV (:func:`tagcore.io._text._csv_chunks`: the quotes checked; every
   column read as text).
3. **Schema.** The first 1000 records, decoded by ``json.loads`` as the Python path decodes
   them, give the type of every field the reader uses (a count read as ``int64`` or
   ``float64``, a JSON object as a ``struct`` of only the fields used, tags as
   ``list<string>`` or as JSON text, ...). pyarrow then parses the whole file with that
   explicit schema; any value of another type makes it refuse.
4. **Columns**: times, money, counts and statuses through :mod:`tagcore.coerce`'s vectorised
   functions (float epoch seconds through their shortest decimal, :func:`_epoch_floats`);
   text (``model``, ids) by Arrow kernels, with Python only for the distinct values that are
   not plain; JSON text cells (LiteLLM's ``metadata`` and ``request_tags`` strings) parsed
   once more by pyarrow (objects) or once per distinct cell (tag lists); every distinct tag
   string normalized once (``key:value`` mapped), metadata mappings turned into tags once per
   distinct mapping.
5. **The log** is built as :meth:`RequestLog._from_records` builds it from the Python path's
   records: the same columns, models and trie in the same order, extras, ``problems``.

**It answers only when it can vouch for the answer**: it raises :class:`_Refused` (and the
reader runs its Python path, which gives the same log or the precise error) whenever the
two could differ, for example

- a value the Python path would report (missing, bad, negative, a bad tag, too many tags),
  or that a policy would drop: the compiled path never reports and never drops;
- text pyarrow refuses or reads otherwise (a value of another type than the first records',
  invalid JSON, ``-NaN``, a line that is not one object, nesting deeper than Python's
  decoder follows, bytes that are not UTF-8, a JSON page ``{"data": [...]}``);
- keys the Python path would match and pyarrow would not: the readers that match keys
  case-insensitively (all but OpenAI's) refuse a file with a key that differs from the one
  they read only in case or surrounding white space, or that is written with an escape
  (:func:`_key_guard`);
- an object that may be empty or may hold only fields the reader does not read (a usage
  object without prompt or input tokens), which pyarrow cannot tell apart.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from tagcore._threads import get_threads
from tagcore.coerce import (
    I64_MAX,
    counts_masked,
    dollars_to_nanos_masked,
    floats_masked,
    is_missing,
    parse_status,
    statuses_masked,
    times_to_nanos_masked,
)
from tagcore.errors import CoerceError
from tagcore.io._common import _name_of, _read_bytes, format_of
from tagcore.io._text import (
    BLOCK,
    _ahead,
    _arrow,
    _check_lines,
    _csv_chunks,
    _float_text,
    _Refused,
    _safe_depth,
    _string_buffers,
    _ts_text,
    _utf8_ok,
)
from tagcore.tags import TagError, TagPolicy, map_key_value_tag, normalize_tag, tags_from_mapping
from tagcore.trie import TagTrie

__all__ = ["_Refused", "vendor_log"]

CHUNK = 1 << 24  # bytes of JSON text per pyarrow call
SAMPLE_RECORDS = 1000  # records whose values decide the schema


# ===================================================================== bytes


class Loaded(NamedTuple):
    """The decompressed bytes of a source, its name, and what the Python path reads
    (the path itself, or a fresh stream of the same bytes)."""

    data: bytes
    name: str
    fallback: Any


def _load(source: Any) -> Loaded:
    """The bytes of ``source`` as :func:`~tagcore.io._common._read_bytes` gives them; a
    stream is read once and handed to the Python path as a new stream of the same bytes."""
    if isinstance(source, (str, os.PathLike)) and os.fspath(source) != "-":
        with open(source, "rb") as fh:  # one read, one buffer (no join of blocks)
            data = fh.read()
        if data[:2] == b"\x1f\x8b" or data[:3] == b"\xef\xbb\xbf":
            data, _ = _read_bytes(io.BytesIO(data))  # gzip and the byte-order mark as ever
        return Loaded(data, os.fspath(source), source)
    if isinstance(source, (str, os.PathLike)):
        raw = sys.stdin.buffer.read()
        name = "<stdin>"
    else:
        raw = source.read()
        name = _name_of(source)
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
    data, _ = _read_bytes(io.BytesIO(raw))
    again = io.BytesIO(raw)
    again.name = name  # type: ignore[misc,attr-defined]
    return Loaded(data, name, again)


_WS = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # ASCII white space of Python's ``\s``


def _layout(name: str, data: bytes) -> str:
    """``"csv"``, ``"jsonl"`` or ``"array"``, as :func:`tagcore.io._vendor._kind_of` and
    :func:`tagcore.io._vendor._rows_json` decide; refuses a single JSON object (a record or
    an API page) and what it cannot tell without decoding the text."""
    kind = format_of(name)
    if kind in ("csv", "jsonl"):
        return kind
    head = data[:65536].lstrip(_WS)
    if not head:
        raise _Refused("empty or white space")
    first = head[0]
    if first >= 0x80:  # Unicode white space, maybe
        raise _Refused("non-ASCII text first")
    if first == 0x5B:  # [
        return "array"
    if first == 0x7B:  # {: JSONL when it has two objects or more, else one object
        return "json-lines"
    return "csv"


# ===================================================================== schema


class F(NamedTuple):
    """What a reader reads of one field: ``kind`` is ``text``, ``count``, ``num`` (dollars,
    times, latencies), ``status``, ``list`` (of tag strings), ``obj`` (an object; with
    ``json``, also a JSON text cell) or ``map`` (an object, anything else being ignored);
    ``children`` the fields read of an object."""

    kind: str
    children: Mapping[str, F] | None = None
    json: bool = False


TEXT, COUNT, NUM, STATUS = F("text"), F("count"), F("num"), F("status")


def _kinds(values: list[Any]) -> set[type]:
    return {type(v) for v in values if v is not None}


def _type(pa: Any, f: F, values: list[Any]) -> Any:
    """The Arrow type of a field from its values in the first records (refuses values of
    kinds the compiled path does not read like the Python path)."""
    kinds = _kinds(values)
    if f.kind == "text":
        if kinds <= {str}:
            return pa.string()
        raise _Refused("text field of other values")
    if f.kind == "count":
        if not kinds or kinds == {int}:
            return pa.int64()
        if kinds <= {int, float}:
            return pa.float64()
        if kinds == {str}:
            return pa.string()
        raise _Refused("count of mixed kinds")
    if f.kind == "num":
        if kinds <= {int, float}:
            return pa.float64()
        if kinds == {str}:
            return pa.string()
        raise _Refused("number of mixed kinds")
    if f.kind == "status":
        if kinds == {int}:
            return pa.int64()
        if kinds <= {str}:
            return pa.string()
        raise _Refused("status of mixed kinds")
    if f.kind == "list":
        if kinds == {str} and f.json:
            return pa.string()
        if kinds <= {list} and all(type(t) is str for v in values if v is not None for t in v):
            return pa.list_(pa.string())
        raise _Refused("tags of mixed kinds")
    assert f.children is not None
    if kinds <= {dict}:
        return _struct(pa, f.children, [v for v in values if v is not None])
    if kinds == {str} and (f.json or f.kind == "map"):
        return pa.string()
    raise _Refused("object of mixed kinds")


def _struct(pa: Any, children: Mapping[str, F], dicts: list[dict]) -> Any:
    return pa.struct([pa.field(k, _type(pa, c, [d.get(k) for d in dicts]))
                      for k, c in children.items()])


# ================================================================ JSON layout


def _json_lines(data: bytes, safe: int) -> Iterator[tuple[bytes, int, int, int]]:
    """(chunk of whole lines, its number of records, where it starts and ends in ``data``)
    of JSONL text, every line checked to be one object
    (:func:`tagcore.io._text._check_lines`)."""
    pos, n = 0, len(data)
    while pos < n:
        end = min(pos + CHUNK, n)
        if end < n:
            cut = data.rfind(b"\n", pos, end) + 1
            if cut <= pos:
                cut = data.find(b"\n", end)
                end = n if cut < 0 else cut + 1
            else:
                end = cut
        chunk, start = data[pos:end], pos
        pos = end
        if pos >= n:
            chunk = chunk.rstrip(b" \t\r\n")
        if not chunk:
            continue
        count = _check_lines(chunk, 1 << 40)  # nesting: judged below, for every line at once
        _shallow(chunk, safe)
        yield chunk, count, start, start + len(chunk)


def _shallow(chunk: bytes, safe: int) -> None:
    """Refuses a chunk of JSON lines where a line has more opening brackets than ``safe``
    (nesting Python's decoder may not follow, as :func:`tagcore.io._text._check_lines`
    judges it, for all lines at once)."""
    if len(chunk) <= 2 * safe:
        return
    a = np.frombuffer(chunk, dtype=np.uint8)
    nl = np.flatnonzero(a == 10)
    if np.diff(nl, prepend=-1).max(initial=0) <= 2 * safe and a.size - 1 - (
            nl[-1] if nl.size else -1) <= 2 * safe:
        return  # no line long enough to nest that deep
    m = a == 123
    m |= a == 91
    opens = np.flatnonzero(m)
    del m
    if opens.size <= safe:
        return
    bounds = np.searchsorted(opens, np.concatenate([[0], nl + 1, [a.size]]))
    if np.diff(bounds).max(initial=0) > safe:
        raise _Refused("possibly nested too deeply")


def _array_records(data: bytes, safe: int) -> tuple[bytearray, np.ndarray, np.ndarray]:
    """A JSON array of objects laid out one object per line (a copy: white space stands for
    the brackets and commas between records and for the line ends inside them), and the
    start and end offsets of the records in ``data``. One pass over the quotes and brackets
    outside strings checks what ``json.loads`` would: only objects between the brackets,
    one comma between two, nothing after the array, nesting within ``safe``."""
    a = np.frombuffer(data, dtype=np.uint8)
    n = a.size
    found: dict[int, list[np.ndarray]] = {1: [], 2: [], 3: [], 4: []}
    step = 1 << 24
    for lo in range(0, n, step):
        m = _STRUCTURE[a[lo:lo + step]]
        pos = np.flatnonzero(m.view(bool))
        kind = m[pos]
        del m
        for k, got in found.items():
            got.append(pos[kind == k] + lo)
        del pos, kind
    q, b, back, ends_of_lines = (np.concatenate(found[k]) for k in (1, 2, 3, 4))
    del found
    if q.size and back.size:  # quotes after an odd run of backslashes are inside strings
        cand = np.intersect1d(q, back + 1, assume_unique=True)
        if cand.size:
            run = np.zeros(cand.size, dtype=np.int64)
            alive = np.ones(cand.size, dtype=bool)
            k = 1
            while alive.any():
                pos = cand - k
                alive &= pos >= 0
                alive[alive] = a[pos[alive]] == 92
                run += alive
                k += 1
            q = np.setdiff1d(q, cand[run % 2 == 1], assume_unique=True)
    if q.size % 2:
        raise _Refused("a string is not closed")
    if (np.searchsorted(q, ends_of_lines) % 2).any():  # invalid JSON: json.loads refuses it
        raise _Refused("a line end inside a string")
    outside = np.searchsorted(q, b) % 2 == 0
    b = b[outside]
    ch = a[b]
    step_d = np.where((ch == 123) | (ch == 91), 1, -1).astype(np.int64)
    depth = np.cumsum(step_d)  # depth after each bracket
    if not b.size or ch[0] != 91 or depth.min() < 0 or int(depth.max()) > safe:
        raise _Refused("not an array, or nested too deeply")
    closes = np.flatnonzero(depth == 0)
    if closes.size != 1 or closes[0] != b.size - 1:
        raise _Refused("not one array")
    before = depth - step_d
    opening = step_d > 0
    top = opening & (before == 1)
    if (ch[top] != 123).any():
        raise _Refused("an element is not an object")
    starts = b[top]
    ends = b[~opening & (depth == 1)]
    if not starts.size:
        raise _Refused("an empty array")
    first, last = int(b[0]), int(b[-1])
    if a[:first].size and not _only_ws(a[:first]) or not _only_ws(a[last + 1:]):
        raise _Refused("text around the array")
    # the gaps: '[' .. first record, between records, last record .. ']'
    g0 = np.concatenate([[first + 1], ends + 1])
    g1 = np.concatenate([starts, [last]])
    lens = g1 - g0
    if (lens < 0).any():
        raise _Refused("records overlap")
    total = int(lens.sum())
    idx = np.repeat(g0 - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + \
        np.arange(total, dtype=np.int64)
    gb = a[idx]
    comma = gb == 44
    if not ((gb == 32) | (gb == 9) | (gb == 10) | (gb == 13) | comma).all():
        raise _Refused("a value between the records that is not an object")
    cum = np.concatenate([[0], np.cumsum(comma, dtype=np.int64)])
    bounds = np.concatenate([[0], np.cumsum(lens)])
    per = cum[bounds[1:]] - cum[bounds[:-1]]
    if per[0] != 0 or per[-1] != 0 or (per[1:-1] != 1).any():
        raise _Refused("commas between the records")
    out = bytearray(data)
    o = np.frombuffer(out, dtype=np.uint8)
    o[ends_of_lines] = 32  # white space in JSON (a string holds none): lines are records
    o[idx] = 32
    o[first] = 32
    o[last] = 32
    o[ends + 1] = 10  # the byte after a record (its comma, or ']') ends its line
    del o
    del out[int(ends[-1]) + 2:]  # nothing after the last record's line
    return out, starts, ends


_STRUCTURE = np.zeros(256, dtype=np.uint8)  # 1 quote, 2 bracket, 3 backslash, 4 line end
_STRUCTURE[34] = 1
_STRUCTURE[[91, 93, 123, 125]] = 2
_STRUCTURE[92] = 3
_STRUCTURE[[10, 13]] = 4


def _only_ws(a: np.ndarray) -> bool:
    return bool(((a == 32) | (a == 9) | (a == 10) | (a == 13)).all())


def _line_chunks(buf: Any) -> Iterator[tuple[Any, int, int, int]]:
    """(memoryview of whole lines, number of lines, where they start and end in ``buf``) of
    a buffer laid out one record per line, in pieces of about :data:`CHUNK` bytes."""
    mv = memoryview(buf)
    n = len(buf)
    pos = 0
    while pos < n:
        end = min(pos + CHUNK, n)
        if end < n:
            cut = buf.rfind(b"\n", pos, end) + 1
            end = cut if cut > pos else (buf.find(b"\n", end) + 1 or n)
        yield mv[pos:end], buf.count(b"\n", pos, end), pos, end
        pos = end


# ============================================================ key spellings


_PAD = (r"(?:[ \t\r\n]|\x{85}|\x{A0}|\x{1680}|[\x{2000}-\x{200A}]|\x{2028}|\x{2029}|\x{202F}"
        r"|\x{205F}|\x{3000})")  # white space Python's str.strip() removes (raw)
# an escape that may spell a letter, "_" or white space of a key (or the Kelvin sign, which
# Python lower-cases to "k"), in a string followed by ":": a key pyarrow and the Python
# path read unescaped, which the compiled path's text searches and key guard would not see
_ESCAPED_KEY = (r'(?:\\u(?:00(?:20|4[1-9a-fA-F]|5[0-9aAfF]|6[1-9a-fA-F]|7[0-9aA]'
                r'|0[9a-dA-D]|1[c-fC-F]|[aA]0|85)|1680|200[0-9aA]|202[89fF]|205[fF]|3000'
                r'|212[aA])|\\[tnrf]|\x{212A})[^"]*"\s*:')


def _key_guard(spellings: Mapping[str, str], fold: bool = True) -> str:
    """An RE2 pattern that finds a key the Python path would read as one of ``spellings``
    (field -> the key the schema reads) but pyarrow would not, or that the compiled path's
    text searches would not see: written with an escape, or (``fold``: the readers that
    match keys case-insensitively, after stripping white space) in another case or with
    white space around it. The spelled key itself is not matched."""
    if not fold:
        return _ESCAPED_KEY
    alts = []
    for low, spelt in spellings.items():
        if len(spelt) != len(low) or not spelt or spelt.strip() != spelt:
            return r'"'  # a padded spelling: refuse outright
        classes, differs = [], []
        for c in spelt:
            chars = sorted({c.lower(), c.upper()})
            kelvin = [r"\x{212A}"] if c.lower() == "k" else []
            classes.append("(?:" + "|".join([re.escape(x) for x in chars] + kelvin) + ")")
            other = [re.escape(x) for x in chars if x != c] + kelvin
            differs.append("(?:" + "|".join(other) + ")" if other else "(?!)")
        # at least one character in another case: (E0 (E1 (...) | D1 T1') | D0 T0')
        tail = ""
        body = None
        for k in range(len(spelt) - 1, -1, -1):
            here = (differs[k] + tail) if differs[k] != "(?!)" else None
            if body is None:
                body = here
            elif here is None:
                body = f"{re.escape(spelt[k])}{body}"
            else:
                body = f"(?:{re.escape(spelt[k])}{body}|{here})"
            tail = classes[k] + tail
        if body is not None:
            alts.append(body)
        alts.append(f"{_PAD}+{tail}{_PAD}*")
        alts.append(f"{tail}{_PAD}+")
    return '"(?:' + "|".join(alts) + r')"\s*:|' + _ESCAPED_KEY


def _whole(pa: Any, chunk: Any) -> Any:
    """A one-element string array over the bytes of ``chunk`` (no copy)."""
    buf = pa.py_buffer(chunk)
    offs = pa.py_buffer(np.array([0, len(buf)], dtype=np.int64))
    return pa.Array.from_buffers(pa.large_string(), 1, [None, offs, buf])


# ============================================================ decoding


class Decoded(NamedTuple):
    """The table of the fields a reader uses (columns named by their lower-case names for
    the case-insensitive readers), and the layout it came from."""

    table: Any
    layout: str
    lines: list[Any]  # JSON: (buffer, start, end) of every chunk's text, else []
    spelt: Mapping[str, str]  # field -> its key in the file
    sample: list[dict]  # the first records (keys lower-cased for a case-insensitive reader)


def _sample_records(pieces: list[bytes]) -> list[dict]:
    out = []
    for p in pieces:
        try:
            obj = json.loads(p)
        except (ValueError, RecursionError):
            raise _Refused("invalid JSON") from None
        if type(obj) is not dict:
            raise _Refused("not an object")
        out.append(obj)
    return out


def _first_lines(chunk: bytes, k: int) -> list[bytes]:
    out = []
    pos = 0
    while len(out) < k and pos < len(chunk):
        end = chunk.find(b"\n", pos)
        end = len(chunk) if end < 0 else end
        line = chunk[pos:end]
        pos = end + 1
        if line.strip():
            out.append(line)
    return out


def _spellings(records: list[dict], fields: Mapping[str, F], lower: bool) -> dict[str, str]:
    """The key each field has in the file (the first records say; a field written two ways
    there is refused); the lower-case names of the case-insensitive readers."""
    out: dict[str, str] = {}
    if not lower:
        return {k: k for k in fields}
    seen: dict[str, set[str]] = {}
    for r in records:
        for k in r:
            low = str(k).strip().lower()
            if low in fields:
                seen.setdefault(low, set()).add(k)
    for low in fields:
        got = seen.get(low, set())
        if len(got) > 1:
            raise _Refused("a field written two ways")
        out[low] = next(iter(got)) if got else _CANONICAL.get(low, low)
    return out


_CANONICAL = {"starttime": "startTime", "endtime": "endTime", "userid": "userId",
              "totalcost": "totalCost", "usagedetails": "usageDetails",
              "costdetails": "costDetails", "calculatedtotalcost": "calculatedTotalCost",
              "costusd": "costUSD"}


def _lowered(rec: dict) -> dict:
    return {str(k).strip().lower(): v for k, v in rec.items()}


def decode_json(data: bytes, layout: str, fields: Mapping[str, F], *, lower: bool,
                shape: Any, name: str, extra_guard: str | None = None,
                guard_keys: tuple[str, ...] = (), later: Mapping[str, F] | None = None
) -> tuple[Decoded, list[dict]]:
    """The table of a JSONL text or JSON array with the fields the reader uses, and the
    first records (lower-cased keys for a case-insensitive reader)."""
    mods = _arrow()
    if mods is None:
        raise _Refused("no pyarrow")
    pa, pc, pj, _ = mods
    if not _utf8_ok(data):
        raise _Refused("not UTF-8")
    safe = _safe_depth()
    if layout == "array":
        buf, starts, ends = _array_records(data, safe)
        k = min(SAMPLE_RECORDS, starts.size)
        sample = _sample_records([data[int(s):int(e) + 1] for s, e in zip(starts[:k], ends[:k])])
        pieces: Iterator[tuple[Any, int, int, int]] = _line_chunks(buf)
        base: Any = buf
    else:
        it = _json_lines(data, safe)
        head = next(it, None)
        if head is None:
            raise _Refused("no records")
        sample = _sample_records(_first_lines(head[0], SAMPLE_RECORDS))
        pieces = itertools.chain([head], it)
        base = data
    from tagcore.io._shapes import SAMPLE

    found = {str(k).strip().lower() for r in sample[:SAMPLE] for k in r}
    if shape is not None and not shape.matches(found):
        raise _Refused("not the reader's format")
    spelt = _spellings(sample, {**fields, **(later or {})}, lower)
    src = [_lowered(r) for r in sample] if lower else sample
    schema = pa.schema([pa.field(spelt[k], _type(pa, f, [r.get(k) for r in src]))
                        for k, f in fields.items()])
    for k, f in (later or {}).items():
        _type(pa, f, [r.get(k) for r in src])  # refuses what the later parse would
    guard = _key_guard(spelt, fold=lower) + "|-NaN"  # -NaN: pyarrow reads it, json does not
    if guard_keys:
        guard += "|" + _key_guard({k: k for k in guard_keys}, fold=False)
    if extra_guard:
        guard += "|" + extra_guard
    ro = pj.ReadOptions(use_threads=True, block_size=BLOCK)
    po = pj.ParseOptions(explicit_schema=schema, newlines_in_values=False,
                         unexpected_field_behavior="ignore")
    parts = []
    lines = []

    def checked() -> Iterator[tuple[Any, int, int, int]]:
        # on a worker thread, one chunk ahead of pyarrow's parse (both let go of the GIL)
        for piece, count, lo, hi in pieces:
            if pc.match_substring_regex(_whole(pa, piece), guard)[0].as_py():
                raise _Refused("a key the Python path reads otherwise, or -NaN")
            yield piece, count, lo, hi

    for piece, count, lo, hi in _ahead(checked, get_threads()):
        try:
            t = pj.read_json(pa.BufferReader(piece), read_options=ro, parse_options=po)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise _Refused("pyarrow refuses the text") from None
        if t.num_rows != count:
            raise _Refused("not one object per line")
        parts.append(t)
        lines.append((base, lo, hi))
    total = sum(p.num_rows for p in parts)
    if not total or (layout == "json-lines" and total < 2):
        raise _Refused("no records, or one JSON object")
    try:
        table = pa.concat_tables(parts)
    except pa.ArrowInvalid:
        raise _Refused("chunks disagree") from None
    if lower:
        table = table.rename_columns(list(fields))
    return Decoded(table, layout, lines, spelt, src), src


def decode_csv(data: bytes, fields: Mapping[str, F], *, required: tuple[str, ...],
               shape: Any, name: str) -> Decoded:
    """The table (every used column as text, named by its lower-case name) of a CSV text."""
    mods = _arrow()
    if mods is None:
        raise _Refused("no pyarrow")
    pa, pc, _, pcsv = mods
    if b"-NaN" in data:  # in a JSON cell, pyarrow reads it and Python's json does not
        raise _Refused("-NaN")

    class Mem:
        def __init__(self) -> None:
            self.name = name

        def blocks(self, size: int) -> Iterator[bytes]:
            for i in range(0, len(data), size):
                yield data[i:i + size]

    names: list[str] | None = None
    present: dict[str, str] = {}
    parts = []
    for header, chunk in _csv_chunks(Mem()):  # type: ignore[arg-type]
        if header is not None:
            cols = [h.strip().lower() for h in header]
            if len(set(cols)) != len(cols):
                raise _Refused("duplicate header names")
            if any(c.lower() not in cols for c in required):
                raise _Refused("a required column is missing")
            if shape is not None and not shape.matches(cols):
                raise _Refused("not the reader's format")
            names = [f"c{i}" for i in range(len(cols))]
            present = {c: names[i] for i, c in enumerate(cols) if c in fields}
        assert names is not None
        try:
            t = pcsv.read_csv(
                pa.BufferReader(chunk),
                read_options=pcsv.ReadOptions(column_names=names, use_threads=True,
                                              block_size=BLOCK),
                parse_options=pcsv.ParseOptions(newlines_in_values=True,
                                                ignore_empty_lines=True),
                convert_options=pcsv.ConvertOptions(
                    column_types={v: pa.string() for v in present.values()},
                    include_columns=list(present.values()), null_values=[""],
                    strings_can_be_null=True, quoted_strings_can_be_null=True,
                    check_utf8=True))
        except pa.ArrowInvalid:
            raise _Refused("pyarrow refuses the text") from None
        parts.append(t.rename_columns(list(present)))
    if not parts or not sum(p.num_rows for p in parts):
        raise _Refused("no rows")
    try:
        table = pa.concat_tables(parts)
    except pa.ArrowInvalid:
        raise _Refused("chunks disagree") from None
    return Decoded(table, "csv", [], {k: k for k in present}, [])


# ================================================================ columns


class Cols:
    """The columns of a decoded table by field name, as single arrays (None: the file does
    not have the field, or it is null everywhere)."""

    def __init__(self, table: Any):
        self.pa, self.pc = _arrow()[:2]  # type: ignore[index]
        self.n = table.num_rows
        self._t = table
        self.lines: list[Any] = []
        self.layout = ""
        self.cells: dict[str, Any] = {}  # object field -> its JSON text cells (full rows)
        self.spelt: Mapping[str, str] = {}
        self.sample: list[dict] = []
        self._all = table  # the table before keep()
        self._records: Any = None
        self._every: Any = None
        self._kept: np.ndarray | None = None

    def records(self) -> Any:
        """The text of every record of a JSON file (a string array, one element per row):
        the lines of a JSONL file without its blank ones, or the records of a JSON array as
        the compiled path laid them out."""
        if self._records is None:
            every = self.all_records()
            self._records = every if self._kept is None else every.filter(
                self.pa.array(self._kept))
        return self._records

    def all_records(self) -> Any:
        """:meth:`records` of every row, those :meth:`keep` left out too (no copy)."""
        if self._every is None:
            self._every = _record_lines(self.lines, len(self._all), self.layout == "array")
        return self._every

    def original(self, rows: np.ndarray) -> np.ndarray:
        """A mask of rows as a mask of the rows before :meth:`keep`."""
        if self._kept is None:
            return rows
        out = np.zeros(self._kept.size, dtype=bool)
        out[np.flatnonzero(self._kept)[rows]] = True
        return out

    def keep(self, rows: np.ndarray) -> None:
        """Keep only ``rows`` (a mask): the rows the Python path reads (the others it
        leaves out without looking at them)."""
        pa = self.pa
        if rows.all():
            return
        self._kept = rows
        self._records = None
        self._t = self._t.filter(pa.array(rows))
        self.n = self._t.num_rows
        if not self.n:
            raise _Refused("no rows left")

    def text_of(self, field: str) -> Any:
        """The text an object field was read from: its JSON text cells, or the records."""
        got = self.cells.get(field)
        return got if got is not None else self.records()

    def __call__(self, name: str) -> Any:
        if name not in self._t.column_names:
            return None
        col = self._t.column(name)
        arr = col.combine_chunks() if hasattr(col, "combine_chunks") else col
        return None if self.pa.types.is_null(arr.type) else arr


def decode(loaded: Loaded, fields: Mapping[str, F], *, lower: bool,
           required: tuple[str, ...] = (), shape: Any = None, extra_guard: str | None = None,
           guard_keys: tuple[str, ...] = (), later: Mapping[str, F] | None = None,
           csv: bool = True) -> Cols:
    """The columns of the fields a reader uses, whatever the layout of the file (see the
    module doc); refuses what the compiled path cannot vouch for."""
    layout = _layout(loaded.name, loaded.data)
    if layout == "csv":
        if not csv:
            raise _Refused("CSV")
        dec = decode_csv(loaded.data, fields, required=required, shape=shape,
                         name=loaded.name)
    else:
        dec, _ = decode_json(loaded.data, layout, fields, lower=lower, shape=shape,
                             name=loaded.name, extra_guard=extra_guard,
                             guard_keys=guard_keys, later=later)
    cols = Cols(dec.table)
    cols.lines = dec.lines
    cols.layout = dec.layout
    cols.spelt = dec.spelt
    cols.sample = dec.sample
    return cols


def latency_between(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Milliseconds from ``start`` to ``end`` (ns) as :func:`tagcore.io._values._latency_between`
    computes them; refuses an end before its start, or a difference beyond int64."""
    with np.errstate(over="ignore"):
        d = end - start
    if ((end >= 0) != (start >= 0)).any() and (((end >= 0) & (d < 0)) |
                                               ((end < 0) & (d >= 0) & (start >= 0))).any():
        raise _Refused("a time difference beyond int64")
    if (d < 0).any():
        raise _Refused("ends before it starts")
    return d.astype(np.float64) / 1e6


def _pa() -> tuple[Any, Any]:
    return _arrow()[:2]  # type: ignore[index,return-value]


def child(arr: Any, name: str) -> Any:
    """A field of a struct array, null where the struct is (None when ``arr`` is None or
    not a struct: a value the Python path ignores)."""
    pa, _ = _pa()
    if arr is None or not pa.types.is_struct(arr.type):
        return None
    i = arr.type.get_field_index(name)
    if i < 0:
        return None
    out = arr.flatten()[i]
    return None if pa.types.is_null(out.type) else out


def _valid(arr: Any, n: int) -> np.ndarray:
    if arr is None:
        return np.zeros(n, dtype=bool)
    if not arr.null_count:
        return np.ones(n, dtype=bool)
    return np.asarray(arr.is_valid().to_numpy(zero_copy_only=False))


def _np(arr: Any, fill: Any) -> np.ndarray:
    pa, pc = _pa()
    if arr.null_count:
        arr = pc.fill_null(arr, pa.scalar(fill, arr.type))
    return np.asarray(arr.to_numpy(zero_copy_only=False))


def _ends(arr: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(valid, odd, n-first) masks of a string array: ``odd`` strings are empty or have a
    byte at either end that is not printable ASCII (white space, maybe: Python strips it);
    ``n-first`` ones start with ``n`` or ``N`` (``none``, ``null``, ``nan``, ``nat``)."""
    n = len(arr)
    valid = _valid(arr, n)
    offs, data = _string_buffers(arr)
    lens = np.diff(offs)
    full = lens > 0
    odd = ~full.copy()
    nfirst = np.zeros(n, dtype=bool)
    if full.any():
        first = data[offs[:-1][full]]
        last = data[offs[1:][full] - 1]
        odd[full] = (first <= 32) | (first >= 127) | (last <= 32) | (last >= 127)
        nfirst[full] = (first == 110) | (first == 78)
    return valid, odd & valid, nfirst & valid


def _per_distinct(arr: Any, rows: np.ndarray, fn: Callable[[str], Any]) -> tuple[list, Any]:
    """``fn`` of each distinct string at ``rows`` (a mask): (results, codes of the rows)."""
    pa, pc = _pa()
    enc = pc.dictionary_encode(arr.filter(pa.array(rows)))
    return [fn(v) for v in enc.dictionary.to_pylist()], _np(enc.indices, 0)


def _missing_text(arr: Any) -> np.ndarray:
    """Where a text column is missing as :func:`tagcore.coerce.is_missing` says (null, empty
    or white space, ``none``, ``null``, ``nan``, ``nat`` in any case); only strings with
    white space or other than ASCII at an end, or that start with ``n``, are looked at, once
    per distinct value."""
    valid, odd, nfirst = _ends(arr)
    miss = ~valid
    cand = odd | nfirst
    if cand.any():
        flags, codes = _per_distinct(arr, cand, is_missing)
        miss[cand] = np.asarray(flags, dtype=bool)[codes]
    return miss


def texts(arr: Any) -> Any:
    """A text field as :func:`tagcore.io._vendor._text` reads it: the stripped string, null
    where missing. Strings with white space or other than ASCII at an end (or that start
    with ``n``) are read by Python, once per distinct value."""
    pa, pc = _pa()
    if arr is None:
        return None
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        raise _Refused("text of another type")
    valid, odd, nfirst = _ends(arr)
    cand = odd | nfirst
    if cand.any():
        got, codes = _per_distinct(arr, cand, lambda v: None if is_missing(v) else v.strip())
        arr = pc.replace_with_mask(arr, pa.array(cand), pa.array(got, arr.type).take(
            pa.array(codes)))
    return arr


def coalesce_text(*arrs: Any) -> Any:
    """The first non-missing of text columns (``a or b``), or None when all are absent."""
    pa, pc = _pa()
    got = [a for a in arrs if a is not None]
    if not got:
        return None
    if len(got) == 1:
        return got[0]
    return pc.coalesce(*[a.cast(pa.large_string()) for a in got])


def str_extra(arr: Any) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """(codes, values) of a text extra as ``RequestLog`` keeps it (first-seen order, -1 where
    missing), or None when no row has one."""
    pa, pc = _pa()
    if arr is None or arr.null_count == len(arr):
        return None
    enc = pc.dictionary_encode(arr)
    codes = _np(enc.indices, -1).astype(np.int32)
    return codes, tuple(enc.dictionary.to_pylist())


def model_codes(arr: Any) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes and names of a required model column (``_text`` of it, first-seen order)."""
    pa, pc = _pa()
    if arr is None:
        raise _Refused("no model")
    vals = texts(arr)
    if vals.null_count:
        raise _Refused("a model is missing")
    enc = pc.dictionary_encode(vals)
    return _np(enc.indices, 0).astype(np.int32), tuple(enc.dictionary.to_pylist())


def counts(arr: Any, n: int, *, default: int | None) -> tuple[np.ndarray, np.ndarray]:
    """int64 counts (:func:`tagcore.coerce.counts_masked`) and where they are given; a
    missing value is ``default`` (None: refuses), a bad one refuses."""
    pa, pc = _pa()
    if arr is None:
        if default is None:
            raise _Refused("a count is missing")
        return np.full(n, default, dtype=np.int64), np.zeros(n, dtype=bool)
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        miss = _missing_text(arr)
        plain = _np(pc.match_substring_regex(arr, r"^[0-9]{1,18}$"), False)
        if not (plain | miss).all():
            raise _Refused("count text that is not plain digits")
        vals = pc.cast(pc.if_else(pa.array(plain), arr, "0"), pa.int64())
        out = _np(vals, 0).astype(np.int64)
    elif pa.types.is_integer(t) or pa.types.is_floating(t):
        x = _np(arr, np.nan if pa.types.is_floating(t) else 0)
        miss = ~_valid(arr, n)
        if pa.types.is_floating(t):
            miss |= np.isnan(x)
            if (np.abs(np.where(miss, 0, x)) >= 2.0**53).any():
                raise _Refused("a count too large for a float")
        out, m2, bad = counts_masked(np.where(miss, 0, x))
        if bad.any():
            raise _Refused("a bad count")
    else:
        raise _Refused("count of another type")
    if miss.any():
        if default is None:
            raise _Refused("a count is missing")
        out[miss] = default
    return out, ~miss


def dollars(arr: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nano-dollars (:func:`tagcore.coerce.dollars_to_nanos_masked`) and where an amount is
    given; refuses a bad or negative amount."""
    pa, pc = _pa()
    if arr is None:
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    t = arr.type
    if pa.types.is_floating(t) or pa.types.is_integer(t):
        x = _np(arr.cast(pa.float64()), np.nan)
        miss = np.isnan(x)
        if (x[~miss] < 0).any():
            raise _Refused("a negative amount")
        out, _, bad = dollars_to_nanos_masked(x)
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        miss = _missing_text(arr)
        out = np.zeros(n, dtype=np.int64)
        idx = np.flatnonzero(~miss)
        if idx.size:
            sub = texts(arr.take(pa.array(idx)))
            if pc.any(pc.starts_with(sub, "-")).as_py():
                raise _Refused("a negative amount")
            out[idx] = _dollar_text(sub)
        bad = np.zeros(n, dtype=bool)
    else:
        raise _Refused("dollars of another type")
    if bad.any():
        raise _Refused("a bad amount")
    return out, ~miss


_DECIMAL = r"^-?[0-9]{1,19}(?:\.[0-9]{1,9})?$"
_PLAIN_NUMBER = r"^(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d{1,2})?$"


def _unscaled(dec: Any) -> tuple[np.ndarray, np.ndarray]:
    """The unscaled integers of a ``decimal128`` array as int64, and where they fit."""
    words = np.frombuffer(dec.buffers()[1], dtype=np.int64, count=2 * len(dec),
                          offset=dec.offset * 16).reshape(-1, 2)
    lo, hi = words[:, 0], words[:, 1]
    return lo.copy(), hi == (lo >> 63)


def _dollar_text(sub: Any) -> np.ndarray:
    """Nano-dollars of non-missing, stripped, non-negative dollar text, element for element
    :func:`tagcore.coerce.dollars_to_nanos`: a plain number of at most 15 significant
    digits through its float (whose shortest decimal is the text's value), a longer one as
    an exact decimal rounded half-even to the nano-dollar by Arrow, anything else (``$``,
    exponents beyond two digits) by coerce itself; refuses a bad amount."""
    pa, pc = _pa()
    m = len(sub)
    out = np.zeros(m, dtype=np.int64)
    plain = _np(pc.match_substring_regex(sub, _PLAIN_NUMBER), False)
    done = np.zeros(m, dtype=bool)
    if plain.any():
        p = sub.filter(pa.array(plain))
        mant = pc.replace_substring_regex(p, r"[eE].*$", "")
        digits = _np(pc.subtract(pc.utf8_length(mant), pc.count_substring(mant, ".")), 99)
        short = digits <= 15
        rows = np.flatnonzero(plain)
        if short.any():
            x = _np(pc.cast(p.filter(pa.array(short)), pa.float64()), np.nan)
            o, miss, bad = dollars_to_nanos_masked(x)
            if miss.any() or bad.any():
                raise _Refused("a bad amount")
            out[rows[short]] = o
            done[rows[short]] = True
        # at most 10 integer and 28 fraction digits: within decimal128(38, 28), and below
        # the int64 nano-dollar limit's 19 digits once rounded to nine
        exact = ~short & _np(pc.match_substring_regex(p, r"^\d{1,10}(?:\.\d{0,28})?$"), False)
        if exact.any():
            try:
                d = pc.round(pc.cast(p.filter(pa.array(exact)), pa.decimal128(38, 28)),
                             ndigits=9, round_mode="half_to_even")
                lo, fits = _unscaled(pc.cast(d, pa.decimal128(38, 9)))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                lo, fits = None, None
            if lo is not None and fits.all():
                out[rows[exact]] = lo
                done[rows[exact]] = True
    if not done.all():
        rest = np.flatnonzero(~done)
        o, miss, bad = dollars_to_nanos_masked(sub.take(pa.array(rest)).to_pylist())
        if miss.any() or bad.any():
            raise _Refused("a bad amount")
        out[rest] = o
    if (out < 0).any():
        raise _Refused("a negative amount")
    return out


def _epoch_floats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`tagcore.coerce.times_to_nanos_masked` of float epoch seconds, element for
    element: ``round_half_even(shortest_decimal(x) * 10**9)``. Arrow writes each float's
    shortest decimal (as ``repr`` does) and reads it back as a ``decimal128`` with nine
    fraction digits, whose unscaled integer is the nanoseconds, exactly; the few values
    with more digits or an exponent go to coerce itself."""
    pa, pc = _pa()
    n = x.size
    miss = np.isnan(x)
    out = np.zeros(n, dtype=np.int64)
    bad = ~np.isfinite(x) & ~miss
    ok = ~miss & ~bad
    if not ok.any():
        return out, miss, bad
    idx = np.flatnonzero(ok)
    s = pc.cast(pa.array(x[idx]), pa.string())
    simple = _np(pc.match_substring_regex(s, _DECIMAL), False)
    if simple.any():
        sub = s.filter(pa.array(simple)) if not simple.all() else s
        lo, fits = _unscaled(pc.cast(sub, pa.decimal128(38, 9)))
        where = idx[simple]
        out[where] = np.where(fits, lo, 0)
        bad[where[~fits]] = True
    rest = idx[~simple]
    if rest.size:
        o, m, b = times_to_nanos_masked(x[rest])
        out[rest] = o
        bad[rest] = b
    return out, miss, bad


def times(arr: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """int64 ns UTC of a time field (:func:`tagcore.coerce.time_to_nanos`: ISO text, naive =
    UTC; epoch seconds) and where it is given; refuses a bad time."""
    pa, pc = _pa()
    if arr is None:
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    t = arr.type
    if pa.types.is_floating(t) or pa.types.is_integer(t):
        x = _np(arr.cast(pa.float64()), np.nan)
        out, miss, bad = _epoch_floats(x)
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        miss = _missing_text(arr)
        out = np.zeros(n, dtype=np.int64)
        bad = np.zeros(n, dtype=bool)
        idx = np.flatnonzero(~miss)
        if idx.size:
            sub = texts(arr.take(pa.array(idx)))
            simple = _np(pc.match_substring_regex(sub, _DECIMAL), False)
            o = np.zeros(idx.size, dtype=np.int64)
            if simple.any():  # epoch seconds as decimal text: exactly as Decimal(text)
                lo, fits = _unscaled(pc.cast(sub.filter(pa.array(simple)),
                                             pa.decimal128(38, 9)))
                if not fits.all():
                    raise _Refused("a time out of range")
                o[simple] = lo
            if not simple.all():
                rest = sub.filter(pa.array(~simple)) if simple.any() else sub
                ts = _ts_text(rest)  # ISO text by pyarrow's cast, the rest by coerce
                o[~simple] = np.asarray(ts.cast(pa.int64()).to_numpy(zero_copy_only=False))
            out[idx] = o
    else:
        raise _Refused("time of another type")
    if bad.any():
        raise _Refused("a bad time")
    return out, ~miss


def floats(arr: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """float64 of a latency-like field (:func:`tagcore.coerce.floats_masked`: finite,
    >= 0), NaN and False where missing; refuses a bad value."""
    pa, pc = _pa()
    if arr is None:
        return np.full(n, np.nan), np.zeros(n, dtype=bool)
    t = arr.type
    if pa.types.is_floating(t) or pa.types.is_integer(t):
        x = _np(arr.cast(pa.float64()), np.nan)
        out, miss, bad = floats_masked(x)
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        miss = _missing_text(arr)
        x = np.full(n, np.nan)
        idx = np.flatnonzero(~miss)
        if idx.size:
            x[idx] = np.asarray(_float_text(arr.take(pa.array(idx))).to_numpy(
                zero_copy_only=False))
        out, bad = x, np.zeros(n, dtype=bool)
    else:
        raise _Refused("number of another type")
    if bad.any():
        raise _Refused("a bad number")
    return out, ~miss


def statuses(arr: Any, n: int, *, words: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """HTTP statuses (:func:`tagcore.coerce.parse_status`; with ``words`` LiteLLM's
    ``success``/``failure`` too, else counts only) and where given; refuses a bad one."""
    pa, pc = _pa()
    if arr is None:
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        miss = _missing_text(arr)
        enc = pc.dictionary_encode(arr)
        table = []
        for v in enc.dictionary.to_pylist():
            if is_missing(v):
                table.append(0)
                continue
            try:
                if words:
                    table.append(parse_status(v))
                else:
                    c, _, b = counts_masked([v], limit=I64_MAX)
                    if b.any():
                        raise CoerceError("status", "bad", v)
                    table.append(int(c[0]))
            except CoerceError:
                raise _Refused("a bad status") from None
        out = np.asarray(table + [0], dtype=np.int64)[_np(enc.indices, len(table))]
    elif pa.types.is_integer(t) or pa.types.is_floating(t):
        x = _np(arr.cast(pa.float64()) if pa.types.is_floating(t) else arr,
                np.nan if pa.types.is_floating(t) else 0)
        miss = ~_valid(arr, n)
        if pa.types.is_floating(t):
            miss |= np.isnan(x)
        out, _, bad = (statuses_masked if words else counts_masked)(np.where(miss, 0, x))
        if bad.any():
            raise _Refused("a bad status")
    else:
        raise _Refused("status of another type")
    return out, ~miss


# =================================================================== objects


def obj(arr: Any, f: F, field: str, cols: Cols | None = None) -> Any:
    """An object field as a struct array (null where there is none): a struct as pyarrow
    read it, or JSON text cells parsed once more by pyarrow (``f.json``, their text kept in
    ``cols.cells``); None where the Python path sees no mapping anywhere."""
    pa, pc = _pa()
    if arr is None:
        return None
    if pa.types.is_struct(arr.type):
        return arr
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        raise _Refused("object of another type")
    if f.kind == "map":
        return None  # text is no mapping: the Python path ignores it
    if not f.json:
        raise _Refused("object as text")
    st = json_objects(arr, f, field)
    if cols is not None:
        cols.cells[field] = texts(arr)
    return st


def json_objects(arr: Any, f: F, field: str) -> Any:
    """Struct array of JSON object text cells (:func:`tagcore.io._vendor._json_value` with
    ``dict``: missing cells are no object; a cell must be exactly one object)."""
    pa, pc = _pa()
    _, _, pj, _ = _arrow()  # type: ignore[misc]
    assert f.children is not None
    n = len(arr)
    miss = _missing_text(arr)
    if miss.all():
        return None
    idx = np.flatnonzero(~miss)
    cells = texts(arr.take(pa.array(idx)) if miss.any() else arr)
    if not pc.all(pc.and_(pc.starts_with(cells, "{"), pc.ends_with(cells, "}"))).as_py():
        raise _Refused("a JSON cell that is not an object")
    doubled = pc.match_substring_regex(cells, r'^\{""[^":\s]')
    if pc.any(doubled).as_py():
        # Helicone's export doubles the quotes of its JSON cells: such a cell is no JSON
        # as it is (an empty key and no colon), and the Python path reads it undoubled
        cells = pc.if_else(doubled, pc.replace_substring(cells, '""', '"'), cells)
    safe = _safe_depth()
    long = np.flatnonzero(np.diff(_string_buffers(cells)[0]) > 2 * safe)
    if long.size:  # as _check_lines judges nesting that Python's decoder may not follow
        for cell in cells.take(pa.array(long)).to_pylist():
            if cell.count("[") + cell.count("{") > safe:
                raise _Refused("possibly nested too deeply")
    schema = pa.schema(list(_struct(pa, f.children, _sample_records(
        cells.slice(0, SAMPLE_RECORDS).to_pylist()))))
    t = _parse_cells(pa, pc, pj, cells, schema)
    if t is None:
        # line ends inside a cell are white space of its JSON: one line per cell for pyarrow
        if not pc.any(pc.match_substring_regex(cells, "[\r\n]")).as_py():
            raise _Refused("pyarrow refuses a JSON cell")
        cells = pc.replace_substring_regex(cells, "[\r\n]", " ")
        t = _parse_cells(pa, pc, pj, cells, schema)
        if t is None:
            raise _Refused("pyarrow refuses a JSON cell")
    st = t.to_struct_array() if hasattr(t, "to_struct_array") else \
        pa.StructArray.from_arrays([c.combine_chunks() for c in t.columns], names=t.column_names)
    if isinstance(st, pa.ChunkedArray):
        st = st.combine_chunks()
    if not miss.any():
        return st
    where = np.full(n, -1, dtype=np.int64)
    where[idx] = np.arange(idx.size)
    return st.take(pa.array(where, mask=where < 0))


def _parse_cells(pa: Any, pc: Any, pj: Any, cells: Any, schema: Any) -> Any:
    """The table pyarrow parses of the cells, one per line (None: it refuses, or finds
    another number of objects: a cell that is not exactly one object)."""
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(cells)], pa.int32()),
                                                     cells.cast(pa.string())), "\n")
    try:
        t = pj.read_json(pa.BufferReader(joined[0].as_buffer()),
                         read_options=pj.ReadOptions(use_threads=True, block_size=BLOCK),
                         parse_options=pj.ParseOptions(
                             explicit_schema=schema, newlines_in_values=False,
                             unexpected_field_behavior="ignore"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return t if t.num_rows == len(cells) else None


def lists(arr: Any, field: str, *, json_text: bool) -> Any:
    """A tag list field as ``list<string>`` (null: no tags): lists as pyarrow read them, or
    JSON text cells (:func:`tagcore.io._vendor._json_value` with ``list``) decoded once per
    distinct cell; refuses an element that is not a string."""
    pa, pc = _pa()
    if arr is None:
        return None
    t = arr.type
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        if arr.values.null_count:
            raise _Refused("a tag that is not a string")
        return arr
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)) or not json_text:
        raise _Refused("tags of another type")
    return json_lists(arr, field)


def json_lists(arr: Any, field: str) -> Any:
    """``list<string>`` of JSON text cells of tag lists. Cells written ``["a", "b"]`` (or
    ``["a","b"]``, ``[]``; no escape, no control character: every quote is a delimiter) are
    split by Arrow; any other cell is read by :func:`tagcore.io._vendor._json_value`, once
    per distinct cell."""
    pa, pc = _pa()
    from tagcore.io._values import _RowError
    from tagcore.io._vendor import _json_value

    n = len(arr)
    miss = _missing_text(arr)
    offs, data = _string_buffers(arr)
    plain = np.ones(n, dtype=bool)
    odd = np.flatnonzero((data == 92) | (data < 32))  # escapes, control characters
    if odd.size:
        plain[np.searchsorted(offs, odd, side="right") - 1] = False
    lens = np.diff(offs)
    simple = ~miss & plain & (
        (_np(pc.equal(arr, "[]"), False))
        | ((lens >= 4) & _np(pc.and_(pc.starts_with(arr, '["'), pc.ends_with(arr, '"]')),
                             False)))
    parts = []
    pos = np.full(n, -1, dtype=np.int64)
    base = 0
    if simple.any():
        rows = np.flatnonzero(simple)
        cells = arr if rows.size == n else arr.take(pa.array(rows))
        empty = _np(pc.equal(cells, "[]"), False)
        if empty.any():
            parts.append(pa.array([[]] * int(empty.sum()), pa.list_(pa.string())))
            pos[rows[empty]] = np.arange(int(empty.sum()))
            base = int(empty.sum())
        todo = np.flatnonzero(~empty)
        inner = pc.utf8_slice_codeunits(cells, 2, -2)
        for sep in ('", "', '","'):  # json.dumps' separators, then the compact ones
            if not todo.size:
                break
            split = pc.split_pattern(inner if todo.size == len(inner) else
                                     inner.take(pa.array(todo)), sep)
            loffs = np.asarray(split.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
            voffs, vdata = _string_buffers(split.values)
            lo, hi = int(voffs[loffs[0]]), int(voffs[loffs[-1]])
            quotes = np.flatnonzero(vdata[lo:hi] == 34) + lo  # a quote inside an element
            ok = np.ones(todo.size, dtype=bool)
            if quotes.size:
                element = np.searchsorted(voffs, quotes, side="right") - 1
                ok[np.searchsorted(loffs, element, side="right") - 1] = False
            if ok.any():
                got = split if ok.all() else split.filter(pa.array(ok))
                parts.append(got.cast(pa.list_(pa.string())))
                pos[rows[todo[ok]]] = base + np.arange(int(ok.sum()))
                base += int(ok.sum())
            todo = todo[~ok]
        simple[rows[todo]] = False  # not the simple shape after all: read by json.loads
    other = ~miss & ~simple
    if other.any():

        def decode(cell: str) -> Any:
            try:
                v = _json_value(cell, field, list)
            except _RowError:
                raise _Refused("a tags cell the Python path reports") from None
            if v is not None and not all(type(x) is str for x in v):
                raise _Refused("a tag that is not a string")
            return v

        got, codes = _per_distinct(arr, other, decode)
        decoded = pa.array(got, pa.list_(pa.string()))
        parts.append(decoded)
        pos[other] = base + codes
    if not parts:
        return None
    whole = pa.concat_arrays(parts)
    return whole.take(pa.array(pos, mask=pos < 0))


# ===================================================================== usage


def usage_field(kind: str) -> F:
    """A usage object as :func:`tagcore.coerce.parse_usage` reads it (its detail objects
    must be objects); ``kind`` "map": any other value in its place is ignored, "obj": it
    is refused."""
    c = COUNT
    return F(kind, {
        "prompt_tokens": c, "completion_tokens": c, "input_tokens": c, "output_tokens": c,
        "cache_read_input_tokens": c, "cache_creation_input_tokens": c,
        "prompt_tokens_details": F("obj", {"cached_tokens": c, "cache_write_tokens": c,
                                           "cache_creation_tokens": c}),
        "completion_tokens_details": F("obj", {"reasoning_tokens": c}),
        "input_tokens_details": F("obj", {"cached_tokens": c, "cache_write_tokens": c}),
        "output_tokens_details": F("obj", {"reasoning_tokens": c}),
    })


def usage_tokens(u: Any, n: int) -> dict[str, Any]:
    """:func:`tagcore.coerce.parse_usage` over a struct column of usage objects: prompt,
    completion, cached, cache-write and reasoning tokens (int64), ``known`` (a prompt or
    input count), ``given`` (an object), ``responses`` (Responses API names). Refuses what
    ``parse_usage`` refuses (bad counts, cached or reasoning tokens beyond their total)."""
    given = _valid(u, n)

    def c(*path: str) -> tuple[np.ndarray, np.ndarray]:
        a = u
        for p in path:
            a = child(a, p)
        return counts(a, n, default=0) if a is not None else (
            np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool))

    p, has_p = c("prompt_tokens")
    i, has_i = c("input_tokens")
    chat = has_p
    resp = ~has_p & has_i
    known = chat | resp
    comp_c, _ = c("completion_tokens")
    comp_r, _ = c("output_tokens")
    d1c = child(u, "prompt_tokens_details")
    d1r = child(u, "input_tokens_details")
    cached_c, _ = c("prompt_tokens_details", "cached_tokens")
    w1, _ = c("prompt_tokens_details", "cache_write_tokens")
    w2, _ = c("prompt_tokens_details", "cache_creation_tokens")
    write_c = np.where(w1 != 0, w1, w2)
    cread, _ = c("cache_read_input_tokens")
    ccreate, _ = c("cache_creation_input_tokens")
    cached_c = np.where(cached_c != 0, cached_c, cread)
    write_c = np.where(write_c != 0, write_c, ccreate)
    cached_r, _ = c("input_tokens_details", "cached_tokens")
    write_r, _ = c("input_tokens_details", "cache_write_tokens")
    anthropic = resp & ~_valid(d1r, n)  # no details: cache reads and writes come on top
    cached_r = np.where(anthropic, cread, cached_r)
    write_r = np.where(anthropic, ccreate, write_r)
    prompt_r = i + np.where(anthropic, cread + ccreate, 0)
    if (prompt_r < i).any() or (prompt_r > I64_MAX).any():
        raise _Refused("token counts overflow")
    reason_c, _ = c("completion_tokens_details", "reasoning_tokens")
    reason_r, _ = c("output_tokens_details", "reasoning_tokens")
    del d1c
    prompt = np.where(chat, p, np.where(resp, prompt_r, 0))
    completion = np.where(chat, comp_c, np.where(resp, comp_r, 0))
    cached = np.where(chat, cached_c, np.where(resp, cached_r, 0))
    write = np.where(chat, write_c, np.where(resp, write_r, 0))
    reasoning = np.where(chat, reason_c, np.where(resp, reason_r, 0))
    with np.errstate(over="ignore"):
        over = (cached + write < cached) | (cached + write > prompt) | (reasoning > completion)
    if (over & known).any():
        raise _Refused("cached or reasoning tokens beyond their total")
    z = ~known
    for a in (prompt, completion, cached, write, reasoning):
        a[z] = 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "cached_tokens": cached,
            "cache_creation_tokens": write, "reasoning_tokens": reasoning, "known": known,
            "given": given, "responses": resp}


# ====================================================================== tags


class Tags:
    """The tags of every row, from parts taken in order (a tag list field, mapping tags...):
    each distinct string mapped (``key:value``), normalized and checked once, the trie filled
    in the order the Python path fills it, duplicates in a row dropped. Refuses a tag the
    Python path would report or drop, and a row over the policy's limit."""

    def __init__(self, n: int, policy: TagPolicy | None):
        self.n, self.policy = n, policy
        self.parts: list[tuple[np.ndarray, Any, bool]] = []
        self._csr: tuple[np.ndarray, np.ndarray, TagTrie] | None = None

    def csr(self) -> tuple[np.ndarray, np.ndarray, TagTrie]:
        """(offsets, node ids, trie), made once: build them before anything that must not
        happen when the tags refuse (pricing counts in its table)."""
        if self._csr is None:
            trie = TagTrie()
            offsets, ids = self.build(trie)
            self._csr = offsets, ids, trie
        return self._csr

    def add(self, lists_arr: Any, *, kv: bool = False) -> None:
        """A ``list<string>`` column (null: none) as the next source of each row's tags."""
        pa, pc = _pa()
        if lists_arr is None:
            return
        if lists_arr.null_count:
            lists_arr = pc.if_else(lists_arr.is_valid(), lists_arr,
                                   pa.scalar([], lists_arr.type))
        lists_arr = pa.concat_arrays([lists_arr]) if lists_arr.offset else lists_arr
        offs = np.asarray(lists_arr.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
        values = lists_arr.values.slice(int(offs[0]), int(offs[-1] - offs[0]))
        self.parts.append((offs - offs[0], values, kv))

    def build(self, trie: TagTrie) -> tuple[np.ndarray, np.ndarray]:
        """CSR (offsets, node ids) over ``trie``."""
        from tagcore import kernels

        pa, pc = _pa()
        n = self.n
        policy = self.policy
        norm_index: dict[str, int] = {}
        norm_list: list[str] = []
        lens = np.zeros(n, dtype=np.int64)
        coded = []
        for offs, values, kv in self.parts:
            L = np.diff(offs)
            lens += L
            if not len(values):
                coded.append((L, np.zeros(0, dtype=np.int64)))
                continue
            enc = pc.dictionary_encode(values)
            table = np.empty(len(enc.dictionary), dtype=np.int64)
            for j, raw in enumerate(enc.dictionary.to_pylist()):
                t = map_key_value_tag(raw) if kv else raw
                try:
                    v = normalize_tag(t, policy)
                    if normalize_tag(v, policy) != v:
                        raise _Refused("a tag that normalizes twice")
                except TagError:
                    raise _Refused("a bad tag") from None
                g = norm_index.get(v)
                if g is None:
                    g = norm_index[v] = len(norm_list)
                    norm_list.append(v)
                table[j] = g
            coded.append((L, table[_np(enc.indices, 0)]))
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        total = int(offsets[-1])
        gids = np.empty(total, dtype=np.int64)
        before = np.zeros(n, dtype=np.int64)
        for L, g in coded:
            if g.size:
                start = np.repeat(offsets[:-1] + before, L)
                within = np.arange(g.size, dtype=np.int64) - np.repeat(
                    np.concatenate([[0], np.cumsum(L)[:-1]]), L)
                gids[start + within] = g
            before += L
        if total:
            # the trie is filled in the order tags first appear, row by row (as the Python
            # path adds them): one part's dictionary is in that order already
            if len(self.parts) == 1:
                order = np.arange(len(norm_list))
            else:
                first = np.full(len(norm_list), total, dtype=np.int64)
                np.minimum.at(first, gids, np.arange(total, dtype=np.int64))
                order = np.argsort(first, kind="stable")
                order = order[first[order] < total]
            node = np.zeros(len(norm_list), dtype=np.int32)
            node[order] = trie.add_many([norm_list[i] for i in order.tolist()])
            ids = node[gids]
        else:
            ids = np.zeros(0, dtype=np.int32)
        offsets, ids, _ = kernels.drop_row_duplicates(offsets, ids, n_nodes=len(trie))
        limit = (policy or TagPolicy()).max_tags
        if (np.diff(offsets) > limit).any():
            raise _Refused("more tags than the policy allows")
        return offsets, ids


def label_tags(values: Any, key: str, policy: TagPolicy | None) -> Any:
    """``list<string>`` of the one tag :func:`tagcore.tags.tags_from_mapping` makes of
    ``{key: value}`` for each non-null value (once per distinct value; null: none)."""
    pa, pc = _pa()
    if values is None:
        return None
    enc = pc.dictionary_encode(values)
    out = []
    for v in enc.dictionary.to_pylist():
        try:
            got = tags_from_mapping({key: v}, policy)
        except TagError:
            raise _Refused("a bad label tag") from None
        if got.dropped:
            raise _Refused("a label tag the policy drops")
        out.append(list(got))
    return pa.array(out, pa.list_(pa.string())).take(enc.indices)


def per_distinct_text(values: Any, fn: Callable[[str], Any], dtype: Any) -> np.ndarray:
    """``fn`` of each distinct non-null value of a text column, as a numpy array (``fn``
    of None where null)."""
    pa, pc = _pa()
    enc = pc.dictionary_encode(values)
    table = [fn(v) for v in enc.dictionary.to_pylist()] + [fn(None)]
    return np.asarray(table, dtype=dtype)[_np(enc.indices, len(table) - 1)]


_FLAT = r"\{[^{}]*\}"
_NESTED = r"\{(?:[^{}]|\{(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*\})*\}"  # four levels


def object_texts(cols: Cols, name: str, nested: bool = False,
                 only: np.ndarray | None = None) -> Any:
    """The JSON text of an object field of each row (of the rows ``only``, a mask; null
    where it has none): its text cells, or, when pyarrow read it as an object, the object cut
    out of the record's text (which must name the field once; no braces inside the object,
    or with ``nested`` up to four levels of objects). A cut that is not the whole object is
    no JSON (an object is no prefix of a longer one), which the caller's ``json.loads``
    refuses."""
    pa, pc = _pa()
    col = cols(name)
    if col is None:
        return None
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return texts(col)
    given = _valid(col, cols.n)
    rows = given if only is None else given & only
    if not rows.any():
        return None
    spelt = cols.spelt.get(name, name)
    key = re.escape(spelt)
    # every record's text (no copy), the rows of ``rows`` picked out of the results
    lines = cols.all_records()
    orig = cols.original(rows)
    named = sum(buf.count(b'"' + spelt.encode() + b'"', lo, hi) for buf, lo, hi in cols.lines)
    everywhere = cols._all.column(name)
    if named != len(everywhere) - everywhere.null_count:
        # else: named once in each record that has it (before keep()), nowhere else
        if (_np(pc.count_substring_regex(lines, f'"{key}"\\s*:'), 0)[orig] != 1).any():
            raise _Refused(f"{name} named more than once in a record")
    got = pc.struct_field(pc.extract_regex(lines, f'"{key}"\\s*:\\s*(?P<m>{_FLAT})'), [0])
    if hasattr(got, "combine_chunks"):
        got = got.combine_chunks()
    if not orig.all():
        got = got.filter(pa.array(orig))
        lines = lines.filter(pa.array(orig)) if got.null_count and nested else lines
    if got.null_count and nested:  # objects inside: the slower pattern, for those only
        deep = _np(got.is_null(), False)
        more = pc.struct_field(pc.extract_regex(lines.filter(pa.array(deep)),
                                                f'"{key}"\\s*:\\s*(?P<m>{_NESTED})'), [0])
        got = pc.replace_with_mask(got, pa.array(deep), more)
    if got.null_count:
        raise _Refused(f"a {name} object with braces inside, or nested deeper")
    return full_rows(got, rows)


def mapping_of(cells: Any, field: str, policy: TagPolicy | None
               ) -> tuple[np.ndarray, Any]:
    """(whether each row's mapping is non-empty, ``list<string>`` of its key/value tags) of
    JSON text cells (:func:`tagcore.io._vendor._json_value` with ``dict``, then
    :func:`tagcore.tags.tags_from_mapping`), once per distinct cell; refuses a cell the
    Python path reports, or tags a policy would trim."""
    pa, pc = _pa()
    from tagcore.io._values import _RowError
    from tagcore.io._vendor import _json_value

    n = len(cells)
    enc = pc.dictionary_encode(cells)
    truthy, lists = [], []
    limit = (policy or TagPolicy()).max_tags
    for cell in enc.dictionary.to_pylist():
        try:
            m = _json_value(cell, field, dict)
        except _RowError:
            raise _Refused(f"a {field} the Python path reports") from None
        got = _mapping_tags(m, policy, limit, "mapping")
        truthy.append(got is not None)
        lists.append(got)
    codes = _np(enc.indices, len(truthy))
    flags = np.asarray(truthy + [False], dtype=bool)[codes]
    out = pa.array(lists + [None], pa.list_(pa.string())).take(pa.array(codes))
    assert len(out) == n
    return flags, out


def _mapping_tags(m: dict, policy: TagPolicy | None, limit: int, what: str) -> list | None:
    """The tags of one mapping as :func:`tagcore.tags.tags_from_mapping` gives them (None for
    an empty one); refuses one the Python path reports, drops or trims."""
    if not m:
        return None
    try:
        got = tags_from_mapping(m, policy)
    except TagError:
        raise _Refused(f"a bad {what} tag") from None
    if got.dropped or len(got) >= limit:
        raise _Refused(f"{what} tags the policy drops or limits")
    return list(got)


def mapping_tags(texts_arr: Any, policy: TagPolicy | None) -> Any:
    """``list<string>`` of :func:`tagcore.tags.tags_from_mapping` of JSON object text cells
    (null: none), once per distinct cell; refuses one the Python path reports or trims."""
    pa, pc = _pa()
    enc = pc.dictionary_encode(texts_arr)
    out = []
    limit = (policy or TagPolicy()).max_tags
    for cell in enc.dictionary.to_pylist():
        m = json.loads(cell)
        if not isinstance(m, dict):
            raise _Refused("metadata that is not an object")
        out.append(_mapping_tags(m, policy, limit, "metadata"))
    return pa.array(out, pa.list_(pa.string())).take(enc.indices)


def _record_lines(pieces: list[Any], n: int, every_line: bool) -> Any:
    """One string per record (see :meth:`Cols.records`), over the file's buffer (no copy)."""
    pa, _ = _pa()
    if not pieces:
        raise _Refused("no record text")
    parts = []
    base = pieces[0][0]
    a = np.frombuffer(base, dtype=np.uint8)
    for buf, lo, hi in pieces:
        assert buf is base
        seg = a[lo:hi]
        starts = np.concatenate([[0], np.flatnonzero(seg == 10) + 1])
        starts = starts[starts < seg.size]
        parts.append((starts if every_line else starts[seg[starts] == 123]) + lo)
    # each element runs from a record's first byte to the next record's (blank lines and
    # line ends included), the last to the end of the text
    offs = np.append(np.concatenate(parts), pieces[-1][2]).astype(np.int64)
    if offs.size - 1 != n:
        raise _Refused("records and lines disagree")
    return pa.Array.from_buffers(pa.large_string(), n,
                                 [None, pa.py_buffer(offs), pa.py_buffer(base)])


_METADATA_KEY = r'"metadata"\s*:'
_METADATA_OBJECT = r'"metadata"\s*:\s*(?P<m>\{[^{}]*\})'
_METADATA_SECOND = r'(?s)"metadata"\s*:.*?"metadata"\s*:\s*(?P<m>\{[^{}]*\})'
_REQUEST_FIRST = r'(?s)"request"\s*:.*"metadata"\s*:.*"response"\s*:.*"metadata"\s*:'
_RESPONSE_FIRST = r'(?s)"response"\s*:.*"metadata"\s*:.*"request"\s*:.*"metadata"\s*:'


def metadata_cells(cols: Cols, rows: np.ndarray, response_too: np.ndarray) -> Any:
    """The JSON text of the ``request.metadata`` object of each of ``rows`` (a mask; a flat
    object: no braces inside), cut out of the record's text: the record names
    ``"metadata"`` once, or twice when its response has one too (``response_too``) and the
    order of ``request``, ``response`` and the two says which is the request's. Refuses any
    other record. (The escape guard of the reader keeps keys from hiding behind escapes.)"""
    pa, pc = _pa()
    idx = np.flatnonzero(rows)
    both = response_too[idx]
    named = sum(buf.count(b'"metadata"', lo, hi) for buf, lo, hi in cols.lines)
    if named == int(rows.sum() + (response_too & rows).sum()) and not (
            response_too & ~rows).any():
        # the text names "metadata" nowhere but as the key of these objects (not even as
        # a value, or with null): each record names it once, or twice with its response's
        lines = cols.records()
        lines = lines if idx.size == cols.n else lines.take(pa.array(idx))
    else:
        lines = cols.records().take(pa.array(idx))
        count = _np(pc.count_substring_regex(lines, _METADATA_KEY), 0)
        if not (((count == 1) & ~both) | ((count == 2) & both)).all():
            raise _Refused("metadata named where the compiled path cannot tell whose it is")
    two = both
    first = pc.extract_regex(lines, _METADATA_OBJECT)
    out = pc.struct_field(first, [0])
    if two.any():
        sub = lines.filter(pa.array(two))
        for key in ('"request"\\s*:', '"response"\\s*:'):
            if (_np(pc.count_substring_regex(sub, key), 0) != 1).any():
                raise _Refused("request or response named twice")
        req_first = _np(pc.match_substring_regex(sub, _REQUEST_FIRST), False)
        resp_first = _np(pc.match_substring_regex(sub, _RESPONSE_FIRST), False)
        if not (req_first ^ resp_first).all():
            raise _Refused("metadata in an order the compiled path cannot tell")
        second = pc.struct_field(pc.extract_regex(sub, _METADATA_SECOND), [0])
        take_second = np.zeros(len(lines), dtype=bool)
        take_second[np.flatnonzero(two)[resp_first]] = True
        if take_second.any():
            where = np.arange(len(lines))
            where[take_second] = len(lines) + np.flatnonzero(resp_first)
            out = pa.concat_arrays([out, second]).take(pa.array(where))
    if out.null_count:
        raise _Refused("a metadata object with braces inside")
    return out


def empty_objects(cols: Cols, field: str, rows: np.ndarray, key: str) -> None:
    """Refuses unless, in the text of each of ``rows`` (a mask) that ``field`` was read from
    (:meth:`Cols.text_of`), every object named ``key`` is ``{}`` or null: then an object
    pyarrow read without any field the reader reads was empty (the Python path skips an
    empty object, and reports one with other fields)."""
    pa, pc = _pa()
    if not rows.any():
        return
    sub = cols.text_of(field).take(pa.array(np.flatnonzero(rows)))
    if sub.null_count or pc.any(pc.match_substring(sub, "\\u")).as_py():
        raise _Refused("an object that may be empty")
    name = re.escape(key)
    total = pc.count_substring_regex(sub, f'"{name}"\\s*:')
    empty = pc.count_substring_regex(sub, f'"{name}"\\s*:\\s*(?:\\{{\\s*\\}}|null)')
    if not pc.all(pc.equal(total, empty)).as_py():
        raise _Refused("an object that may hold fields the reader does not read")


def reparse(cols: Cols, rows: np.ndarray, fields: Mapping[str, F]) -> dict[str, Any]:
    """Fields left out of the first parse (``decode(..., later=...)``), parsed by pyarrow
    from the text of only the records ``rows`` (a mask) that need them: one array per
    field, of all rows (null elsewhere). The guard of the first parse covered their keys."""
    pa, pc = _pa()
    pj = _arrow()[2]  # type: ignore[index]
    out: dict[str, Any] = dict.fromkeys(fields)
    if not rows.any() or cols.layout == "csv":
        return out  # (CSV: text cells, which these object fields ignore)
    recs = cols.records()
    recs = recs if rows.all() else recs.filter(pa.array(rows))
    schema = pa.schema([pa.field(cols.spelt[k], _type(pa, f, [r.get(k) for r in cols.sample]))
                        for k, f in fields.items()])
    joined = pc.binary_join(pa.LargeListArray.from_arrays(pa.array([0, len(recs)], pa.int64()),
                                                          recs),
                            pa.scalar("\n", pa.large_string()))
    try:
        t = pj.read_json(pa.BufferReader(joined[0].as_buffer()),
                         read_options=pj.ReadOptions(use_threads=True, block_size=BLOCK),
                         parse_options=pj.ParseOptions(explicit_schema=schema,
                                                       newlines_in_values=False,
                                                       unexpected_field_behavior="ignore"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise _Refused("pyarrow refuses the text") from None
    if t.num_rows != len(recs):
        raise _Refused("records disagree")
    for k in fields:
        col = t.column(cols.spelt[k]).combine_chunks()
        out[k] = None if pa.types.is_null(col.type) else full_rows(col, rows)
    return out


def full_rows(cells: Any, rows: np.ndarray) -> Any:
    """An array of one value per row: ``cells`` at ``rows`` (a mask), null elsewhere."""
    pa, _ = _pa()
    where = np.full(rows.size, -1, dtype=np.int64)
    where[rows] = np.arange(int(rows.sum()))
    return cells.take(pa.array(where, mask=where < 0))


# ======================================================================= log


def build_log(*, n: int, ts: np.ndarray, codes: np.ndarray, models: tuple[str, ...],
              prompt: np.ndarray, completion: np.ndarray, cost: np.ndarray,
              unpriced: np.ndarray | None, why: Mapping[str, str], latency: np.ndarray,
              status: np.ndarray, tags: Tags, int_extras: Mapping[str, np.ndarray],
              str_extras: Mapping[str, Any], usage_unknown: np.ndarray | None = None,
              unknown: frozenset[str] = frozenset()) -> Any:
    """The log :meth:`RequestLog._from_records` makes of the Python path's records with
    these values (``unpriced``: rows without a cost, ``why``: the price table's reason per
    model, before ``"no cost"``)."""
    from tagcore.log import STR_EXTRAS, USAGE_UNKNOWN_HEAD, RequestLog, _unpriced_problem

    offsets, ids, trie = tags.csr()
    extras: dict[str, Any] = {}
    for k, v in int_extras.items():
        extras[k] = np.ascontiguousarray(v, dtype=np.int64)
    if usage_unknown is not None and usage_unknown.any():
        extras["usage_unknown"] = usage_unknown.astype(np.int64)
    problems: list[str] = []
    if unpriced is not None and unpriced.any():
        extras["unpriced"] = unpriced.astype(np.int64)
        reasons = dict(why)
        per = np.bincount(codes[unpriced], minlength=len(models))
        for i in np.flatnonzero(per).tolist():
            reasons.setdefault(models[i], "no cost")
        line = _unpriced_problem(codes, models, extras["unpriced"], reasons)
        if line:
            problems.append(line)
    if "usage_unknown" in extras and not unknown >= {"prompt_tokens", "completion_tokens"}:
        k = int(extras["usage_unknown"].sum())
        problems.append(f"{k:,} request{'s' if k != 1 else ''} {USAGE_UNKNOWN_HEAD}")
    for k in STR_EXTRAS:
        if str_extras.get(k) is not None:
            extras[k] = str_extras[k]
    ordered = {k: extras[k] for k in (*int_extras, "usage_unknown", "unpriced", *STR_EXTRAS)
               if k in extras}
    return RequestLog(ts=np.ascontiguousarray(ts, dtype=np.int64), model_codes=codes,
                      models=models, prompt_tokens=np.ascontiguousarray(prompt, np.int64),
                      completion_tokens=np.ascontiguousarray(completion, np.int64),
                      cost=np.ascontiguousarray(cost, np.int64),
                      latency_ms=np.ascontiguousarray(latency, np.float64),
                      status=np.ascontiguousarray(status, np.int32), tag_offsets=offsets,
                      tag_ids=ids, trie=trie, extras=ordered, problems=problems,
                      unknown=unknown, _fresh=True)


def price(prices: Any, todo: np.ndarray, codes: np.ndarray, models: tuple[str, ...],
          tok: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """:func:`tagcore.io._vendor._price_all` over the rows ``todo``: nano-dollars, the rows
    the table could not price, and its reason per model (one ``price_many`` call over the
    same rows in the same order, so the table counts what it counted)."""
    import pandas as pd

    n = codes.size
    nanos = np.zeros(n, dtype=np.int64)
    bad = np.zeros(n, dtype=bool)
    rows = np.flatnonzero(todo)
    if not rows.size:
        return nanos, bad, {}
    sub = codes[rows]
    uniq, first = np.unique(sub, return_index=True)
    order = uniq[np.argsort(first, kind="stable")]
    remap = np.zeros(len(models), dtype=np.int64)
    remap[order] = np.arange(order.size)
    cat = pd.Categorical.from_codes(remap[sub], categories=[models[i] for i in order.tolist()])
    got, miss = prices.price_many(cat, tok["prompt_tokens"][rows],
                                  tok["completion_tokens"][rows], tok["cached_tokens"][rows],
                                  tok["cache_creation_tokens"][rows],
                                  tok["reasoning_tokens"][rows])
    nanos[rows] = np.where(miss, 0, got)
    bad[rows] = miss
    why: dict[str, str] = {}
    if miss.any():
        reasons = prices.unpriced_reasons
        for i in np.unique(sub[miss]).tolist():
            why[models[i]] = reasons.get(models[i], "unknown model")
    return nanos, bad, why


# ==================================================================== entry


#: set by the tests: an error of the compiled path other than a refusal is raised, not
#: answered by the Python path
STRICT = False
#: what the last call of :func:`vendor_log` did: "fast", or why it refused
LAST: list[str] = [""]


def vendor_log(source: Any, read: Callable[[Loaded], Any]) -> tuple[Any, Loaded | None]:
    """``(log, None)`` when the compiled path ``read`` answers for ``source``, else ``(None,
    loaded)``: the bytes it read, for the Python path (a stream is read only once). An
    unexpected error of the compiled path is a refusal too: the Python path is the
    definition."""
    if _arrow() is None:
        LAST[0] = "no pyarrow"
        return None, None
    loaded = _load(source)
    try:
        log = read(loaded)
    except _Refused as exc:
        LAST[0] = f"refused: {exc}"
        return None, loaded
    except Exception as exc:  # noqa: BLE001 - a bug of the compiled path: the definition answers
        if STRICT:
            raise
        LAST[0] = f"error: {type(exc).__name__}: {exc}"
        return None, loaded
    LAST[0] = "fast"
    return log, None


def fallback_source(source: Any, loaded: Loaded | None) -> Any:
    """What the Python path reads after a refusal: the path again, or the same bytes."""
    return source if loaded is None else loaded.fallback
