"""Native log files: read and write a :class:`RequestLog` as Parquet, JSONL or CSV.

**Columns** are the record fields of :meth:`RequestLog.from_records`, matched by name (exact,
else case-insensitive): ``ts``, ``model``, ``prompt_tokens``, ``completion_tokens``, ``cost``
(dollars) and/or ``cost_nanos`` (exact integer nano-dollars; preferred when both are present),
``latency_ms`` (empty/null/NaN = unknown), ``status``, ``request_tags``, and the optional
``cached_tokens``, ``reasoning_tokens`` (missing = 0), ``request_id``, ``user``, ``key``
(missing = none). A missing required column raises :class:`~tagcore.log.LogError` naming the
file and the column; unknown columns are ignored. Writers emit all of them, ``cost`` *and*
``cost_nanos``, so every format round-trips exactly (money to the nano-dollar, times to the
nanosecond).

- **Parquet** (needs ``pyarrow``, ``pip install 'tagcore[parquet]'``): ``ts`` as
  ``timestamp[ns, UTC]`` (any unit and zone is read; naive = UTC; integer or float = epoch
  seconds; strings = ISO 8601), ``request_tags`` as ``list<string>``. The reader never makes a
  Python object per tag: the tag lists are read dictionary-encoded, only the *distinct* strings
  are normalized with :func:`~tagcore.tags.normalize_tag` and interned, and numpy maps codes to
  node ids; duplicates inside a request (also two strings that normalize to the same tag) are
  dropped with a vectorised pass.
- **JSONL** (``.jsonl``/``.ndjson``; one JSON object per line, blank lines skipped):
  ``request_tags`` a JSON array, ``ts`` an ISO string (naive = UTC) or epoch seconds.
- **CSV**: a header line, one request per row, ``request_tags`` a JSON array in one cell, empty
  cell = missing.

**Errors** name the file, the place (Parquet: ``row R``, 0-based; JSONL and CSV: ``line N``,
1-based, the line where the record starts, as a text editor shows it) and the column; the
:class:`LogError` also carries ``.row`` (0-based record index) and ``.line``. A truncated last
line or invalid JSON is reported the same way. With ``on_error="skip"`` bad rows are left out
and counted (``log.dropped_rows``) and described (``log.problems``, the first 20). Invalid tags
follow the :class:`~tagcore.tags.TagPolicy`: they make the row bad, or with
``on_invalid="drop"`` are dropped and counted (``log.dropped_tags``).

**Writing is atomic**: the file is written to a temporary file in the same folder, flushed,
``fsync``-ed, then renamed over the target; on any error the temporary file is removed and a
previous file of that name is left untouched.

**CSV is safe to open in a spreadsheet.** The text columns are ``model``, ``request_id``,
``user``, ``key`` and the ``request_tags`` cell. A text cell that starts with ``=``, ``+``,
``-``, ``@``, a tab, a carriage return or ``'`` is written with one extra leading ``'``, and
:func:`read_csv` removes exactly one leading ``'`` from every text cell that starts with one,
so round trips are identical (``'x`` is written ``''x``). An empty string is written as a lone
``'`` (a spreadsheet shows an empty text cell), so that an empty cell can mean *missing*. The
``request_tags`` cell is a JSON array and always starts with ``[``: a spreadsheet judges a cell
by its first character, so tags inside the array (``["=cmd", "-x"]``) are harmless and are
written as they are (prefixing them would change the tags other tools read from the JSON).
Numeric cells are never negative, and ``ts`` starts with a digit.
"""

from __future__ import annotations

import contextlib
import gzip
import io as _io
import itertools
import json
import math
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from tagcore import kernels
from tagcore.log import INT_EXTRAS, NANOS_PER_DOLLAR, STR_EXTRAS, LogError, RequestLog
from tagcore.tags import TagError, TagPolicy, normalize_tag
from tagcore.trie import TagTrie

__all__ = ["from_arrow", "read_any", "read_csv", "read_jsonl", "read_parquet", "source_size",
           "to_csv", "to_jsonl", "to_parquet"]

Source = str | os.PathLike | IO[bytes] | IO[str]
Progress = Callable[[int, int], None]

REQUIRED = ("ts", "model", "prompt_tokens", "completion_tokens", "cost", "latency_ms", "status",
            "request_tags")
TEXT_COLUMNS = ("model", "request_tags", *STR_EXTRAS)
_ORDER = ("ts", "model", "prompt_tokens", "completion_tokens", "cost", "cost_nanos",
          "latency_ms", "status", "request_tags", *INT_EXTRAS, *STR_EXTRAS)
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "'")
_MAX_PROBLEMS = 20
_NULL = -3  # element code of a null tag
_BAD = -2  # element code of an invalid tag


# ============================================================================== helpers


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


def _error(source: str, column: str, reason: str, *, row: int | None = None,
           line: int | None = None) -> LogError:
    """A LogError naming the file, the place (line N or row R) and the column."""
    exc = LogError(column, reason, row=row, source=source)
    exc.line = line  # type: ignore[attr-defined]
    if line is not None:
        exc.args = (f"{source}: line {line}, column {column}: {reason}",)
    return exc


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
        found = {k: v for k, v in columns.items() if v in names}
        found.update(_match_columns(names, [c for c in _ORDER if c not in columns]))
    else:
        found = _match_columns(names, _ORDER)
        if columns is not None:
            keep = set(columns) | set(REQUIRED) | {"cost_nanos"}
            unknown = set(columns) - set(_ORDER)
            if unknown:
                raise ValueError(f"columns: unknown {sorted(unknown)}; choose from {list(_ORDER)}")
            found = {k: v for k, v in found.items() if k in keep}
    for c in REQUIRED:
        if c == "cost" and ("cost" in found or "cost_nanos" in found):
            continue
        if c not in found:
            what = "cost or cost_nanos" if c == "cost" else c
            raise _error(source, "cost" if c == "cost" else c,
                         f"missing column {what!r} (the file has {list(names)})")
    return found


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
            where: Callable[[int], tuple[str, int | None]], dropped_tags: int) -> RequestLog:
    """Raise on the first problem, or build the log and drop the bad rows (counted)."""
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
            _, col, reason = probs.first(r)
            place, _ = where(r)
            problems.append(f"{source}: {place}, column {col}: {reason}")
        log = log[~bad]
    log.dropped_rows = dropped
    log.dropped_tags = dropped_tags
    log.problems = tuple(problems)
    return log


def _check_on_error(on_error: str) -> None:
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error: expected 'raise' or 'skip', got {on_error!r}")


# ============================================================================== tags


class _Opaque:
    """Stands for an unhashable tag element (a list, a dict) so that it can be factorized."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __repr__(self) -> str:
        return repr(self.value)


class _TagMapper:
    """Raw tag string -> node id (or _BAD), normalizing each distinct string once."""

    def __init__(self, trie: TagTrie, policy: TagPolicy | None):
        self.trie, self.policy = trie, policy
        self.cache: dict[Any, int] = {}
        self.why: dict[Any, str] = {}

    def map(self, values: list[Any]) -> np.ndarray:
        """int32 node ids of ``values`` (distinct raw tags), _BAD for invalid ones."""
        cache = self.cache
        new = [v for v in dict.fromkeys(values) if v not in cache] if len(cache) else list(values)
        if new:
            norm: list[str] = []
            keys: list[Any] = []
            for v in new:
                if type(v) is not str:
                    cache[v] = _BAD
                    inner = v.value if isinstance(v, _Opaque) else v
                    self.why[v] = f"must be a string, got {type(inner).__name__}"
                    continue
                try:
                    t = normalize_tag(v, self.policy)
                except TagError as exc:
                    cache[v] = _BAD
                    self.why[v] = exc.reason
                    continue
                norm.append(t)
                keys.append(v)
            if norm:
                for k, i in zip(keys, self.trie.add_many(norm).tolist()):
                    cache[k] = i
        return np.fromiter((cache[v] for v in values), dtype=np.int32, count=len(values))


def _row_of(offsets: np.ndarray, j: int) -> int:
    return int(np.searchsorted(offsets, j, side="right")) - 1


def _finish_tags(offsets: np.ndarray, elem: np.ndarray, policy: TagPolicy | None,
                 raw_of: Callable[[int], Any], probs: _Problems, column: str,
                 mapper: _TagMapper) -> tuple[np.ndarray, np.ndarray, int]:
    """Invalid/null tags, duplicates in a row and the per-request limit, vectorised.

    ``elem`` holds node ids, ``_BAD`` or ``_NULL``. Returns clean CSR and the dropped count.
    """
    pol = policy or TagPolicy()
    n = offsets.size - 1
    dropped = 0
    keep = None
    invalid = elem < 0
    if invalid.any():
        if pol.on_invalid == "drop":
            dropped += int(invalid.sum())
        else:
            jbad = np.flatnonzero(invalid)
            rows = np.searchsorted(offsets, jbad, side="right") - 1
            bad = np.zeros(n, dtype=bool)
            bad[rows] = True

            def reason(r: int, jbad=jbad, rows=rows, elem=elem, offsets=offsets) -> str:
                j = int(jbad[np.searchsorted(rows, r)])
                k = j - int(offsets[r])
                if elem[j] == _NULL:
                    return f"request_tags[{k}] is null (expected a tag string)"
                v = raw_of(j)
                why = mapper.why.get(v, "invalid tag")
                return f"request_tags[{k}] = {v!r}: {why}"

            probs.add(column, bad, reason)
        keep = ~invalid
    if keep is not None:
        elem, offsets = _compact(elem, offsets, keep)
    # duplicates inside a request (two raw strings may normalize to one tag): one compiled
    # pass, no temporaries, and no copy when there are none
    offsets, elem, _ = kernels.drop_row_duplicates(offsets, elem,
                                                   n_nodes=len(mapper.trie))
    lengths = np.diff(offsets)
    over = lengths > pol.max_tags
    if over.any():
        if pol.on_invalid == "drop":
            pos = np.arange(elem.size, dtype=np.int64) - np.repeat(offsets[:-1], lengths)
            keepm = pos < pol.max_tags
            dropped += int((~keepm).sum())
            elem, offsets = _compact(elem, offsets, keepm)
        else:
            probs.add(column, over, lambda r, lengths=lengths: (
                f"{int(lengths[r])} distinct tags, more than the limit of {pol.max_tags} per "
                "request"))
    return offsets, elem, dropped


def _compact(elem: np.ndarray, offsets: np.ndarray, keep: np.ndarray):
    cum = np.zeros(elem.size + 1, dtype=np.int64)
    np.cumsum(keep, out=cum[1:])
    return np.ascontiguousarray(elem[keep]), cum[offsets]


def _tags_from_objects(cells: list[Any], trie: TagTrie, policy: TagPolicy | None,
                       probs: _Problems, column: str = "request_tags"):
    """Tags from Python lists (one per row, None = no tags): distinct strings normalized once."""
    n = len(cells)
    lengths = np.zeros(n, dtype=np.int64)
    flat: list[Any] = []
    notlist = []
    for i, c in enumerate(cells):
        if type(c) is list:
            lengths[i] = len(c)
            flat.extend(c)
        elif c is not None:
            notlist.append(i)
    if notlist:
        bad = np.zeros(n, dtype=bool)
        bad[notlist] = True
        probs.add(column, bad, lambda r: f"expected a list of tags, got {cells[r]!r}"[:200])
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    mapper = _TagMapper(trie, policy)
    if flat:
        hashable = [v if type(v) is str or v is None or isinstance(v, (int, float))
                    else _Opaque(v) for v in flat]
        codes, uniques = pd.factorize(pd.Series(hashable, dtype=object), use_na_sentinel=True)
        table = np.append(mapper.map(list(uniques)), np.int32(_NULL))
        elem = table[codes]  # code -1 -> the _NULL slot
    else:
        elem = np.zeros(0, dtype=np.int32)
    return _finish_tags(offsets, elem, policy, lambda j: flat[j], probs, column, mapper)


# ============================================================================== Python columns


def _missing(v: Any) -> bool:
    return v is None or (type(v) is float and math.isnan(v)) or (type(v) is str and v == "")


def _int_value(v: Any) -> int | None:
    """An integer >= 0 from a JSON/CSV value, or None if it is not one."""
    if type(v) is int:
        return v if v >= 0 else None
    if type(v) is float:
        return int(v) if v.is_integer() and v >= 0 else None
    if type(v) is str:
        s = v.strip()
        try:
            x = int(s)
        except ValueError:
            try:
                f = float(s)
            except ValueError:
                return None
            return int(f) if f.is_integer() and f >= 0 else None
        return x if x >= 0 else None
    return None


def _obj_ints(vals: list[Any], column: str, probs: _Problems, *, default: int | None = None,
              limit: int = 2**63 - 1) -> np.ndarray:
    """int64 column from JSON/CSV values; missing -> ``default`` (or a problem)."""
    if not vals:
        return np.zeros(0, dtype=np.int64)
    if all(type(v) is int for v in vals):
        try:
            a = np.array(vals, dtype=np.int64)
        except OverflowError:
            a = None
        if a is not None:
            bad = (a < 0) | (a > limit)
            if bad.any():
                probs.add(column, bad, lambda r: f"expected an integer >= 0, got {vals[r]!r}")
                a[bad] = 0
            return a
    if all(type(v) is str for v in vals):  # CSV: parse the digits in C when all are plain
        try:
            a = np.array(vals, dtype=str).astype(np.int64)
        except (ValueError, OverflowError):
            a = None
        if a is not None and not ((a < 0) | (a > limit)).any():
            return a
    out = np.zeros(len(vals), dtype=np.int64)
    bad = np.zeros(len(vals), dtype=bool)
    for i, v in enumerate(vals):
        x = default if _missing(v) else _int_value(v)
        if x is None or x > limit:
            bad[i] = True
        else:
            out[i] = x
    probs.add(column, bad, lambda r: "missing value" if _missing(vals[r])
              else f"expected an integer >= 0, got {vals[r]!r}")
    return out


def _to_float(v: Any) -> float:
    if type(v) is bool or v is None:
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _obj_floats(vals: list[Any], column: str, probs: _Problems, *, required: bool = False
                ) -> np.ndarray:
    """float64 column (latency, dollars); missing -> NaN (or a problem when ``required``);
    must be finite and >= 0."""
    miss = np.fromiter((_missing(v) for v in vals), dtype=bool, count=len(vals))
    # Python's float() reads decimal text exactly (shortest round trip); pandas' fast parsers
    # do not always (pandas 2.x), and a float must come back identical
    a = np.fromiter((_to_float(v) for v in vals), dtype=np.float64, count=len(vals))
    bad = (np.isnan(a) & ~miss) | np.isinf(a) | (a < 0)
    probs.add(column, bad, lambda r: f"expected a number >= 0, got {vals[r]!r}")
    if required:
        probs.add(column, miss, lambda r: "missing value")
    a[bad | miss] = np.nan
    return a


def _obj_ts(vals: list[Any], column: str, probs: _Problems) -> np.ndarray:
    """int64 ns UTC from ISO strings (naive = UTC) or epoch seconds."""
    n = len(vals)
    out = np.zeros(n, dtype=np.int64)
    bad = np.zeros(n, dtype=bool)
    is_str = np.fromiter((type(v) is str and v != "" for v in vals), dtype=bool, count=n)
    if is_str.any():
        idx = np.flatnonzero(is_str)
        strs = pd.Series([vals[i].strip() for i in idx.tolist()], dtype=object)
        # ISO 8601 first (vectorised); what is not ISO may be epoch seconds written as text
        parsed = pd.to_datetime(strs, utc=True, format="ISO8601", errors="coerce")
        ns = parsed.dt.as_unit("ns").array.asi8
        nat = parsed.isna().to_numpy()
        out[idx[~nat]] = ns[~nat]
        for k in np.flatnonzero(nat).tolist():
            text = strs.iloc[k]
            f = float(text) if _NUMBER.fullmatch(text) else math.nan
            if math.isfinite(f) and abs(f) < 9.2e9:
                out[idx[k]] = _seconds_to_ns(text, f)
            else:
                bad[idx[k]] = True
    rest = np.flatnonzero(~is_str)
    for i in rest.tolist():
        v = vals[i]
        if type(v) is int and abs(v) < 9_200_000_000:
            out[i] = v * 10**9
        elif type(v) is float and math.isfinite(v) and abs(v) < 9.2e9:
            out[i] = round(v * 1e9)
        else:
            bad[i] = True
    probs.add(column, bad, lambda r: "missing value" if _missing(vals[r])
              else f"cannot read {vals[r]!r} as a time")
    return out


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _seconds_to_ns(text: str, f: float) -> int:
    try:
        return int(text) * 10**9
    except ValueError:
        return round(f * 1e9)


def _obj_strings(vals: list[Any], column: str, probs: _Problems, *, required: bool
                 ) -> tuple[np.ndarray, tuple[str, ...]]:
    """Dictionary-encode strings: (int32 codes, -1 = missing; values)."""
    codes, uniques = pd.factorize(pd.Series(vals, dtype=object), use_na_sentinel=True)
    codes = codes.astype(np.int32)
    ok = np.array([type(u) is str for u in uniques], dtype=bool)
    values = tuple(u if type(u) is str else "" for u in uniques)
    bad = None
    if not ok.all():
        bad = ~np.append(ok, True)[codes]
        probs.add(column, bad, lambda r: f"expected a string, got {vals[r]!r}")
    if required:
        miss = codes < 0
        probs.add(column, miss, lambda r: "missing value")
        if miss.any() or bad is not None:
            codes = np.where(miss | (bad if bad is not None else False), 0, codes).astype(np.int32)
            if not values:
                values = ("",)
    elif bad is not None:
        codes = np.where(bad, -1, codes).astype(np.int32)
    return codes, values


def _from_objects(get: Callable[[str], list[Any] | None], n: int, present: Mapping[str, str],
                  source: str, where: Callable[[int], tuple[str, int | None]], *,
                  policy: TagPolicy | None, on_error: str, trie: TagTrie | None,
                  pre_bad: Mapping[int, tuple[str, str]] | None = None,
                  tags_cells: list[Any] | None = None) -> RequestLog:
    """Shared by JSONL and CSV: Python values per column -> validated, vectorised log."""
    probs = _Problems(n)
    if pre_bad:
        m = np.zeros(n, dtype=bool)
        m[list(pre_bad)] = True
        for col in {c for c, _ in pre_bad.values()}:
            mc = np.zeros(n, dtype=bool)
            mc[[r for r, (c, _) in pre_bad.items() if c == col]] = True
            probs.add(col, mc, lambda r: pre_bad[r][1])
    trie = TagTrie() if trie is None else trie
    ts = _obj_ts(get("ts"), "ts", probs)
    codes, models = _obj_strings(get("model"), "model", probs, required=True)
    prompt = _obj_ints(get("prompt_tokens"), "prompt_tokens", probs)
    completion = _obj_ints(get("completion_tokens"), "completion_tokens", probs)
    if "cost_nanos" in present:
        cost = _obj_ints(get("cost_nanos"), "cost_nanos", probs)
    else:
        dollars = _obj_floats(get("cost"), "cost", probs, required=True)
        miss = np.isnan(dollars)
        big = dollars > 9e9
        probs.add("cost", big, lambda r: "does not fit in int64 nano-dollars")
        cost = np.rint(np.where(miss | big, 0.0, dollars) * NANOS_PER_DOLLAR).astype(np.int64)
    latency = _obj_floats(get("latency_ms"), "latency_ms", probs)
    status = _obj_ints(get("status"), "status", probs, limit=999)
    extras: dict[str, Any] = {}
    for k in INT_EXTRAS:
        if k in present:
            extras[k] = _obj_ints(get(k), k, probs, default=0)
    for k in STR_EXTRAS:
        if k in present:
            extras[k] = _obj_strings(get(k), k, probs, required=False)
    off, ids, dropped = _tags_from_objects(get("request_tags") if tags_cells is None
                                           else tags_cells, trie, policy, probs)
    args = dict(ts=ts, model=codes, models=models, prompt_tokens=prompt,
                completion_tokens=completion, cost_nanos=cost, latency_ms=latency,
                status=status.astype(np.int32), tag_offsets=off, tag_ids=ids, trie=trie,
                extras=extras)
    return _finish(args, probs, on_error, source, where, dropped)


# ============================================================================== sources


def _read_bytes(source: Any, progress: Progress | None = None) -> tuple[bytes, str]:
    """All bytes of a path, ``"-"`` (stdin) or a file object; ``.gz`` paths are decompressed."""
    name = _name_of(source)
    if isinstance(source, (str, os.PathLike)):
        if os.fspath(source) == "-":
            data = sys.stdin.buffer.read()
            name = "<stdin>"
        else:
            total = os.path.getsize(source)
            chunks = []
            done = 0
            with open(source, "rb") as fh:
                while True:
                    b = fh.read(1 << 24)
                    if not b:
                        break
                    chunks.append(b)
                    done += len(b)
                    if progress is not None:
                        progress(done, total)
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


# ============================================================================== JSONL


def read_jsonl(path_or_file: Source, *, policy: TagPolicy | None = None,
               on_error: str = "raise", trie: TagTrie | None = None,
               progress: Progress | None = None) -> RequestLog:
    """Read a JSONL file (one JSON object per line, native columns) into a :class:`RequestLog`.

    Errors name the file, the 1-based line and the column; ``on_error="skip"`` leaves bad lines
    out and counts them (``dropped_rows``, ``problems``). ``.gz`` files are decompressed.

    >>> import io
    >>> f = io.BytesIO(b'{"ts": "2026-01-01T00:00:00", "model": "m", "prompt_tokens": 3, '
    ...     b'"completion_tokens": 1, "cost": 0.5, "latency_ms": null, "status": 200, '
    ...     b'"request_tags": ["a/b", " a / b ", "c"]}\\n')
    >>> log = read_jsonl(f)
    >>> log.tags_of(0), log.cost.tolist(), log.ts.tolist()
    (['a/b', 'c'], [500000000], [1767225600000000000])
    >>> read_jsonl(io.BytesIO(b'{"ts": 0, "model": "m"')) # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tagcore.log.LogError: <stream>: line 1, column (json): invalid JSON (...); truncated line?
    """
    _check_on_error(on_error)
    data, name = _read_bytes(path_or_file, progress)
    recs: list[dict] = []
    lines: list[int] = []
    pre_bad: dict[int, tuple[str, str]] = {}
    loads = json.loads
    raw_lines = data.split(b"\n")
    last = len(raw_lines)
    for lineno, raw in enumerate(raw_lines, 1):
        if not raw.strip():
            continue
        try:
            obj = loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            msg = getattr(exc, "msg", None) or str(exc)
            hint = "; truncated line?" if lineno >= last - 1 else ""
            reason = f"invalid JSON ({msg}{', at char ' + str(exc.pos) if hasattr(exc, 'pos') else ''}){hint}"
            if on_error == "raise":
                raise _error(name, "(json)", reason, row=len(recs), line=lineno) from None
            pre_bad[len(recs)] = ("(json)", reason)
            obj = {}
        if type(obj) is not dict:
            reason = f"expected a JSON object, got {type(obj).__name__}"
            if on_error == "raise":
                raise _error(name, "(json)", reason, row=len(recs), line=lineno)
            pre_bad[len(recs)] = ("(json)", reason)
            obj = {}
        recs.append(obj)
        lines.append(lineno)
    keys: set[str] = set()
    for r in recs[:1000]:
        keys.update(r)
    if len(recs) > 1000:
        missing_any = [c for c in _ORDER if c not in keys]
        if missing_any:
            for r in recs:
                keys.update(k for k in missing_any if k in r)
    present = _select(None, sorted(keys), name) if recs else {c: c for c in REQUIRED}

    def get(col: str) -> list[Any]:
        key = present[col]
        return [r.get(key) for r in recs]

    def where(row: int) -> tuple[str, int | None]:
        return f"line {lines[row]}", lines[row]

    return _from_objects(get, len(recs), present, name, where, policy=policy,
                         on_error=on_error, trie=trie, pre_bad=pre_bad)


# ============================================================================== CSV


def _unprefix(v: str) -> str:
    return v[1:] if v[:1] == "'" else v


def read_csv(path_or_file: Source, *, policy: TagPolicy | None = None, on_error: str = "raise",
             trie: TagTrie | None = None, progress: Progress | None = None) -> RequestLog:
    """Read a CSV file (header line, native columns, ``request_tags`` a JSON array in one cell).

    An empty cell is a missing value. Text cells (``model``, ``request_tags``, ``request_id``,
    ``user``, ``key``) that start with ``'`` lose exactly one ``'`` (the spreadsheet-safety
    prefix of :func:`to_csv`). Errors name the file, the line where the row starts and the column.

    >>> import io
    >>> f = io.StringIO('ts,model,prompt_tokens,completion_tokens,cost,latency_ms,status,request_tags\\n'
    ...     '2026-01-01,\\'-m,1,2,0.25,,200,"[""=x"",""a/b""]"\\n')
    >>> log = read_csv(f)
    >>> log.models, log.tags_of(0), log.cost.tolist()
    (('-m',), ['=x', 'a/b'], [250000000])
    """
    import csv

    _check_on_error(on_error)
    data, name = _read_bytes(path_or_file, progress)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise _error(name, "(file)", f"not UTF-8 text ({exc.reason})", line=line) from None
    reader = csv.reader(_io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise _error(name, "(file)", "empty file (no header line)") from None
    except csv.Error as exc:
        raise _error(name, "(file)", f"malformed header ({exc})", line=1) from None
    width = len(header)
    present = _select(None, header, name)
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
                got = json.loads(cell)
            except ValueError:
                got = _BadCell(cell)
            memo[cell] = got
        if isinstance(got, _BadCell):
            tag_bad[i] = ("request_tags", f"expected a JSON array of tags, got {cell[:80]!r}")
            got = None
        elif type(got) is list:
            got = list(got)  # rows must not share one list object
        tag_cells.append(got)
    for r, v in tag_bad.items():
        pre_bad.setdefault(r, v)

    def where(row: int) -> tuple[str, int | None]:
        return f"line {lines[row]}", lines[row]

    return _from_objects(get, n, present, name, where, policy=policy, on_error=on_error,
                         trie=trie, pre_bad=pre_bad, tags_cells=tag_cells)


class _BadCell:
    __slots__ = ("cell",)

    def __init__(self, cell: str):
        self.cell = cell


# ============================================================================== Arrow / Parquet


def _np(col) -> np.ndarray:
    """A chunked Arrow column (no nulls) as one numpy array that owns its memory: each chunk
    is viewed without a copy and copied once into the result."""
    chunks = [np.asarray(ch.to_numpy(zero_copy_only=False)) for ch in col.chunks]
    if not chunks:
        return np.zeros(0, dtype=col.type.to_pandas_dtype())
    return np.concatenate(chunks) if len(chunks) > 1 else chunks[0].copy()


def _arrow_int(col, column: str, probs: _Problems, source: str, *, default: int | None = None,
               limit: int = 2**63 - 1) -> np.ndarray:
    pa, pc, _ = _pyarrow()
    t = col.type
    if pa.types.is_null(t):
        if default is None:
            probs.add(column, np.ones(len(col), dtype=bool), lambda r: "missing value")
        return np.zeros(len(col), dtype=np.int64)
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        f = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
        nul = np.isnan(f) if default is None else np.zeros(len(f), dtype=bool)
        f = np.where(np.isnan(f), 0 if default is None else default, f)
        bad = (f != np.floor(f)) | (f < 0) | (f > min(limit, 2**53))
        probs.add(column, bad, lambda r: f"expected an integer >= 0, got {col[r].as_py()!r}")
        probs.add(column, nul, lambda r: "missing value")
        return np.where(bad, 0, f).astype(np.int64)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _obj_ints(col.to_pylist(), column, probs, default=default, limit=limit)
    if not (pa.types.is_integer(t) or pa.types.is_boolean(t)):
        raise _error(source, column, f"expected integers, the file has type {t}")
    nulls = None
    if col.null_count:
        nulls = col.is_null().to_numpy(zero_copy_only=False)
        col = pc.fill_null(col, 0)
    a = _np(col)
    if a.dtype == np.uint64 and a.size and a.max() > 2**63 - 1:
        bad = a > limit
        probs.add(column, bad, lambda r, a=a: f"{int(a[r])} is too large")
        a = np.where(bad, 0, a)
    a = a.astype(np.int64, copy=False)
    bad = (a < 0) | (a > limit)
    if bad.any():
        probs.add(column, bad, lambda r, a=a: f"expected an integer >= 0, got {int(a[r])}"
                  + (" (an HTTP status 0..999)" if limit == 999 else ""))
        a = np.where(bad, 0, a)
    if nulls is not None and default is None:
        probs.add(column, nulls, lambda r: "missing value")
    return a


def _arrow_float(col, column: str, probs: _Problems, source: str) -> np.ndarray:
    pa, pc, _ = _pyarrow()
    t = col.type
    if pa.types.is_null(t):
        return np.full(len(col), np.nan)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _obj_floats(col.to_pylist(), column, probs)
    if not (pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t)):
        raise _error(source, column, f"expected numbers, the file has type {t}")
    f = _np(pc.cast(col, pa.float64()))  # nulls arrive as NaN
    bad = np.isinf(f) | (f < 0)
    if bad.any():
        orig = f.copy()
        probs.add(column, bad, lambda r: f"expected a number >= 0, got {float(orig[r])!r}")
        f[bad] = np.nan
    return f


def _arrow_ts(col, probs: _Problems, source: str) -> np.ndarray:
    pa, pc, _ = _pyarrow()
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
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
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t) \
            or pa.types.is_floating(t):
        return _obj_ts(col.to_pylist(), "ts", probs)
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


def _arrow_tags(col, trie: TagTrie, policy: TagPolicy | None, probs: _Problems, source: str):
    """CSR tags from a list<string> / list<dictionary<string>> column without a Python object
    per tag: distinct strings normalized once, codes mapped to node ids with numpy."""
    pa, pc, _ = _pyarrow()
    t = col.type
    n = len(col)
    if pa.types.is_null(t):
        return np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int32), 0
    if not (pa.types.is_list(t) or pa.types.is_large_list(t)):
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            cells = [None if c is None else _json_list(c) for c in col.to_pylist()]
            return _tags_from_objects(cells, trie, policy, probs)
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


def _json_list(cell: str) -> Any:
    try:
        return json.loads(cell)
    except ValueError:
        return cell


def _from_table(table, source: str, *, columns=None, policy: TagPolicy | None = None,
                on_error: str = "raise", trie: TagTrie | None = None) -> RequestLog:
    _check_on_error(on_error)
    present = _select(columns, table.column_names, source)
    n = table.num_rows
    probs = _Problems(n)
    trie = TagTrie() if trie is None else trie

    def col(name: str):
        return table.column(present[name])

    ts = _arrow_ts(col("ts"), probs, source)
    codes, models = _arrow_strings(col("model"), "model", probs, source, required=True)
    prompt = _arrow_int(col("prompt_tokens"), "prompt_tokens", probs, source)
    completion = _arrow_int(col("completion_tokens"), "completion_tokens", probs, source)
    if "cost_nanos" in present:
        cost = _arrow_int(col("cost_nanos"), "cost_nanos", probs, source)
    else:
        dollars = _arrow_float(col("cost"), "cost", probs, source)
        miss = np.isnan(dollars)
        probs.add("cost", miss, lambda r: "missing value")
        big = dollars > 9e9
        probs.add("cost", big, lambda r: "does not fit in int64 nano-dollars")
        cost = np.rint(np.where(miss | big, 0.0, dollars) * NANOS_PER_DOLLAR).astype(np.int64)
    latency = _arrow_float(col("latency_ms"), "latency_ms", probs, source)
    status = _arrow_int(col("status"), "status", probs, source, limit=999)
    extras: dict[str, Any] = {}
    for k in INT_EXTRAS:
        if k in present:
            extras[k] = _arrow_int(col(k), k, probs, source, default=0)
    for k in STR_EXTRAS:
        if k in present:
            extras[k] = _arrow_strings(col(k), k, probs, source, required=False)
    off, ids, dropped = _arrow_tags(col("request_tags"), trie, policy, probs, source)
    args = dict(ts=ts, model=codes, models=models, prompt_tokens=prompt,
                completion_tokens=completion, cost_nanos=cost, latency_ms=latency,
                status=status.astype(np.int32), tag_offsets=off, tag_ids=ids, trie=trie,
                extras=extras)
    return _finish(args, probs, on_error, source, lambda r: (f"row {r}", None), dropped)


def from_arrow(table_or_batch: Any, *, columns=None, policy: TagPolicy | None = None,
               on_error: str = "raise", trie: TagTrie | None = None) -> RequestLog:
    """Build a :class:`RequestLog` from a pyarrow ``Table`` or ``RecordBatch`` with the native
    columns (see the module doc); ``request_tags`` a list of strings (plain or dictionary).

    >>> import pyarrow as pa
    >>> t = pa.table({"ts": pa.array([0], pa.timestamp("us")), "model": ["m"],
    ...     "prompt_tokens": [1], "completion_tokens": [2], "cost_nanos": [7],
    ...     "latency_ms": [None], "status": [200], "request_tags": [["x/y", "x/y "]]})
    >>> log = from_arrow(t)
    >>> log.tags_of(0), log.cost.tolist(), bool(np.isnan(log.latency_ms[0]))
    (['x/y'], [7], True)
    """
    pa, _, _ = _pyarrow()
    if isinstance(table_or_batch, pa.RecordBatch):
        table_or_batch = pa.Table.from_batches([table_or_batch])
    if not isinstance(table_or_batch, pa.Table):
        raise TypeError(f"expected a pyarrow Table or RecordBatch, got "
                        f"{type(table_or_batch).__name__}")
    return _from_table(table_or_batch, "<arrow>", columns=columns, policy=policy,
                       on_error=on_error, trie=trie)


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
                 trie: TagTrie | None = None, progress: Progress | None = None) -> RequestLog:
    """Read a Parquet file with the native columns into a :class:`RequestLog` (needs pyarrow).

    ``columns``: ``None`` reads every native column present; a list of native names restricts
    the optional ones read (required columns are always read); a mapping ``{native: name in the
    file}`` renames. Bad values raise :class:`LogError` naming file, row (0-based) and column, or
    with ``on_error="skip"`` are dropped and counted. ``progress(done_bytes, total_bytes)`` is
    called after each row group.

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
    present = _select(columns, names, name)
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
            total = sum(md.row_group(i).total_byte_size for i in range(md.num_row_groups))
            parts, done = [], 0
            progress(0, total)
            for i in range(md.num_row_groups):
                parts.append(pf.read_row_group(i, columns=file_cols))
                done += md.row_group(i).total_byte_size
                progress(done, total)
            table = (pa.concat_tables(parts) if parts
                     else pf.schema_arrow.empty_table().select(file_cols))
    except (OSError, pa.ArrowException) as exc:
        raise _error(name, "(file)", f"cannot read Parquet data ({exc})") from None
    renamed = {k: v for k, v in present.items()}
    return _from_table(table, name, columns=renamed, policy=policy, on_error=on_error, trie=trie)


# ============================================================================== read_any

_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl",
            ".json": "json", ".csv": "csv"}


def _sniff(data: bytes) -> str:
    if data[:4] == b"PAR1":
        return "parquet"
    head = data[:4096].lstrip()
    if head[:1] == b"{":
        return "jsonl"
    if head[:1] == b"[":
        return "json"
    return "csv"


def read_any(source: Source, format: str | None = None, *, policy: TagPolicy | None = None,
             on_error: str = "raise", progress: Progress | None = None,
             trie: TagTrie | None = None) -> RequestLog:
    """Read a native log file of any supported format into a :class:`RequestLog`.

    ``format``: ``"parquet"``, ``"jsonl"`` (also ``"ndjson"``), ``"json"`` (an array of
    records, or JSONL), ``"csv"``; default: from the extension (``.parquet``, ``.jsonl``,
    ``.ndjson``, ``.json``, ``.csv``, each optionally ``.gz``), else sniffed from the content.
    ``source`` may be ``"-"`` for stdin. ``progress(done_bytes, total_bytes)`` is called while
    reading (see :func:`source_size` to decide whether to show a bar).

    >>> import io
    >>> read_any(io.BytesIO(b"ts,model,prompt_tokens,completion_tokens,cost,latency_ms,"
    ...     b"status,request_tags\\n0,m,1,1,0.5,,200,[]\\n"), format="csv").cost.tolist()
    [500000000]
    """
    kw = dict(policy=policy, on_error=on_error, trie=trie)
    fmt = None if format is None else format.lower().lstrip(".")
    if fmt == "ndjson":
        fmt = "jsonl"
    if fmt is not None and fmt not in ("parquet", "jsonl", "json", "csv"):
        raise ValueError(f"format: expected parquet, jsonl, json or csv, got {format!r}")
    is_path = isinstance(source, (str, os.PathLike)) and os.fspath(source) != "-"
    if fmt is None and is_path:
        suffixes = [s.lower() for s in Path(source).suffixes]
        if suffixes and suffixes[-1] == ".gz":
            suffixes = suffixes[:-1]
        if suffixes:
            fmt = _FORMATS.get(suffixes[-1])
    if fmt == "parquet" and is_path and not os.fspath(source).lower().endswith(".gz"):
        return read_parquet(source, progress=progress, **kw)
    data, name = _read_bytes(source, progress if is_path else None)
    if fmt is None:
        fmt = _sniff(data)
    buf = _io.BytesIO(data)
    buf.name = name  # type: ignore[attr-defined]
    if fmt == "parquet":
        return read_parquet(buf, **kw)
    if fmt == "csv":
        return read_csv(buf, **kw)
    if fmt == "json" and data.lstrip()[:1] == b"[":
        return _read_json_array(data, name, **kw)
    return read_jsonl(buf, **kw)


def _read_json_array(data: bytes, name: str, *, policy, on_error, trie) -> RequestLog:
    try:
        recs = json.loads(data)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        raise _error(name, "(json)", f"invalid JSON ({getattr(exc, 'msg', exc)})",
                     line=line) from None
    if not isinstance(recs, list):
        raise _error(name, "(json)", "expected an array of records")
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in recs).encode("utf-8")
    buf = _io.BytesIO(lines)
    buf.name = name  # type: ignore[attr-defined]
    return read_jsonl(buf, policy=policy, on_error=on_error, trie=trie)


# ============================================================================== writing


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


def _iso(ts: np.ndarray) -> np.ndarray:
    """ISO 8601 UTC strings with a ``Z``, at the coarsest unit that keeps every time exact."""
    if not ts.size:
        return np.zeros(0, dtype=object)
    unit = "ns"
    for u, k in (("s", 10**9), ("ms", 10**6), ("us", 10**3)):
        if not (ts % k).any():
            unit = u
            break
    return np.char.add(np.datetime_as_string(ts.view("M8[ns]"), unit=unit), "Z")


def _columns_py(log: RequestLog) -> dict[str, list]:
    """The native columns as Python lists (tags as lists of paths), for JSONL and CSV."""
    if (log.ts == np.iinfo(np.int64).min).any():
        raise ValueError("ts: -2**63 ns (numpy's NaT) cannot be written")
    models = np.array(log.models, dtype=object)
    paths = np.array(log.trie.paths, dtype=object)
    flat = paths[log.tag_ids].tolist() if log.tag_ids.size else []
    off = log.tag_offsets.tolist()
    cols: dict[str, list] = {
        "ts": _iso(log.ts).tolist(),
        "model": models[log.model_codes].tolist() if len(log) else [],
        "prompt_tokens": log.prompt_tokens.tolist(),
        "completion_tokens": log.completion_tokens.tolist(),
        "cost": (log.cost / NANOS_PER_DOLLAR).tolist(),
        "cost_nanos": log.cost.tolist(),
        "latency_ms": [None if v != v else v for v in log.latency_ms.tolist()],
        "status": log.status.tolist(),
        "request_tags": [flat[a:b] for a, b in zip(off[:-1], off[1:])],
    }
    for k in INT_EXTRAS:
        if k in log.extras:
            cols[k] = log.extras[k].tolist()
    for k in STR_EXTRAS:
        if k in log.extras:
            cols[k] = log.extra_strings(k).tolist()
    return cols


def _write_jsonl_lines(fh: IO[bytes], log: RequestLog) -> None:
    cols = _columns_py(log)
    names = list(cols)
    dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(", ", ": ")).encode
    batch: list[str] = []
    for row in zip(*cols.values()):
        batch.append(dumps(dict(zip(names, row))))
        if len(batch) >= 65536:
            fh.write(("\n".join(batch) + "\n").encode("utf-8"))
            batch.clear()
    if batch:
        fh.write(("\n".join(batch) + "\n").encode("utf-8"))


def _safe_cell(v: str | None) -> str:
    """The spreadsheet-safe text of a cell: one ``'`` before a dangerous first character."""
    if v is None:
        return ""
    if v == "" or v[0] in _DANGEROUS:
        return "'" + v
    return v


def _write_csv_rows(fh: IO[bytes], log: RequestLog) -> None:
    import csv

    cols = _columns_py(log)
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


def _arrow_table(log: RequestLog):
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
    assert all(len(c) == n for c in cols.values())
    return pa.table(cols)


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
    table = _arrow_table(log)
    with _atomic(path) as fh:
        _write_parquet_table(fh, table, compression=compression, row_group_size=row_group_size)


def to_jsonl(log: RequestLog, path: str | os.PathLike | IO[bytes]) -> None:
    """Write the log as JSONL, one object per request (atomically when given a path):
    ``ts`` ISO 8601 UTC, ``cost`` dollars and ``cost_nanos`` exact, ``latency_ms`` null when
    unknown, ``request_tags`` an array.

    >>> import io
    >>> buf = io.BytesIO()
    >>> RequestLog.from_records([{"ts": 1.5, "model": "m", "prompt_tokens": 1,
    ...     "completion_tokens": 0, "cost": 0.1, "latency_ms": None, "status": 200,
    ...     "request_tags": ["a"]}]).to_jsonl(buf)
    >>> buf.getvalue().decode()
    '{"ts": "1970-01-01T00:00:01.500Z", "model": "m", "prompt_tokens": 1, "completion_tokens": 0, "cost": 0.1, "cost_nanos": 100000000, "latency_ms": null, "status": 200, "request_tags": ["a"]}\\n'
    """
    if hasattr(path, "write"):
        _write_jsonl_lines(_binary(path), log)
        return
    with _atomic(path) as fh:  # type: ignore[arg-type]
        _write_jsonl_lines(fh, log)


def to_csv(log: RequestLog, path: str | os.PathLike | IO[bytes]) -> None:
    """Write the log as spreadsheet-safe CSV (atomically when given a path): ``request_tags``
    a JSON array in one cell; text cells starting with ``= + - @``, tab, CR or ``'`` get one
    leading ``'`` (see the module doc).

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


RequestLog.to_parquet = to_parquet  # type: ignore[attr-defined]
RequestLog.to_jsonl = to_jsonl  # type: ignore[attr-defined]
RequestLog.to_csv = to_csv  # type: ignore[attr-defined]
