"""JSONL (``.jsonl``/``.ndjson``): one JSON object per line, native columns; see :mod:`tagcore.io`."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

from tagcore.io import _text, _write
from tagcore.io._common import (
    _ORDER,
    DEFAULTS,
    REQUIRED,
    Progress,
    ReadOptions,
    Source,
    _atomic,
    _binary,
    _check_on_error,
    _error,
    _select,
)
from tagcore.io._native import _columns_py, _from_objects
from tagcore.log import RequestLog
from tagcore.tags import TagPolicy
from tagcore.trie import TagTrie

if TYPE_CHECKING:
    from tagcore.prices import PriceTable

__all__ = ["read_jsonl", "to_jsonl"]


def read_jsonl(path_or_file: Source, *, policy: TagPolicy | None = None,
               on_error: str = "raise", trie: TagTrie | None = None,
               progress: Progress | None = None,
               columns: Sequence[str] | Mapping[str, str] | None = None, ts_unit: str = "s",
               tags_sep: str | None = None, prices: PriceTable | None = None) -> RequestLog:
    """Read a JSONL file (one JSON object per line, native columns) into a :class:`RequestLog`.

    Errors name the file, the 1-based line and the column; ``on_error="skip"`` leaves bad lines
    out and counts them (``dropped_rows``, ``problems``). ``.gz`` files are decompressed. A line
    nested too deeply to decode is a bad line (column ``(json)``), never a ``RecursionError``.

    A well-formed file is parsed by pyarrow's compiled JSON reader in chunks and read by the
    same column readers as :func:`~tagcore.io.read_parquet` (:mod:`tagcore.io._text`); any
    doubt (a bad value, a line that is not one object, no pyarrow) and the file is read line
    by line with ``json.loads``, which gives the same log or the precise error.

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
    on_error = _check_on_error(on_error)
    opts = ReadOptions(columns, ts_unit, tags_sep, prices).checked()
    return _text.read_text("jsonl", path_or_file, _read_jsonl_lines, policy=policy, on_error=on_error,
                           trie=trie, progress=progress, opts=opts)


def _read_jsonl_lines(data: bytes, name: str, *, policy: TagPolicy | None, on_error: str,
                      trie: TagTrie | None, opts: ReadOptions = DEFAULTS) -> RequestLog:
    """The exact Python path: ``json.loads`` per line, every problem with its line number
    (the definition the compiled path of :mod:`tagcore.io._text` answers for)."""
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
        except RecursionError:  # thousands of '[' or '{': the decoder's stack guard
            if on_error == "raise":
                raise _error(name, "(json)", _TOO_DEEP, row=len(recs), line=lineno) from None
            pre_bad[len(recs)] = ("(json)", _TOO_DEEP)
            obj = {}
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
    present = _select(opts.columns, sorted(keys), name) if recs else {c: c for c in REQUIRED}

    def get(col: str) -> list[Any]:
        key = present[col]
        return [r.get(key) for r in recs]

    def where(row: int) -> tuple[str, int | None]:
        return f"line {lines[row]}", lines[row]

    try:
        return _from_objects(get, len(recs), present, name, where, policy=policy,
                             on_error=on_error, trie=trie, pre_bad=pre_bad,
                             ts_unit=opts.ts_unit, tags_sep=opts.tags_sep,
                             prices=opts.prices)
    except RecursionError:
        pass
    # a value nested nearly as deep as the decoder allows overflowed the stack further on (in
    # printing it for an error, say): such rows are bad, "(json)" nested too deeply; again
    for row, r in enumerate(recs):
        if any(_deeper_than(r.get(key), _MAX_DEPTH) for key in present.values()):
            pre_bad[row] = ("(json)", _TOO_DEEP)
            recs[row] = {}
    try:
        return _from_objects(get, len(recs), present, name, where, policy=policy,
                             on_error=on_error, trie=trie, pre_bad=pre_bad,
                             ts_unit=opts.ts_unit, tags_sep=opts.tags_sep,
                             prices=opts.prices)
    except RecursionError:  # called from a stack already nearly full
        raise _error(name, "(json)", _TOO_DEEP) from None


_MAX_DEPTH = 64  # levels of a value a row may nest once it overflowed the stack
_TOO_DEEP = "JSON nested too deeply"


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and objects nest more than ``limit`` levels in ``value`` (no recursion)."""
    stack = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if type(v) is dict:
            v = list(v.values())
        elif type(v) is not list:
            continue
        if d >= limit:
            return True
        stack.extend((x, d + 1) for x in v if type(x) in (list, dict))
    return False


def _write_jsonl_lines(fh: IO[bytes], log: RequestLog) -> None:
    """Write ``log`` as JSONL lines to the binary file object ``fh``: the vectorised writer of
    :mod:`tagcore.io._write` when it can, else :func:`_write_jsonl_py` (the same bytes)."""
    fast = _write.plan(log, "jsonl")
    if fast is None:
        _write_jsonl_py(fh, log)
    else:
        fast.write(fh)


def _write_jsonl_py(fh: IO[bytes], log: RequestLog) -> None:
    """The exact Python writer: ``json`` per row, the definition :mod:`tagcore.io._write`
    answers for (and the writer without pyarrow)."""
    cols = _columns_py(log)
    for k in set(cols) - set(_write.columns(log)):  # the columns the log does not know
        del cols[k]
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


def to_jsonl(log: RequestLog, path: str | os.PathLike | IO[bytes]) -> None:
    """Write the log as JSONL, one object per request (atomically when given a path):
    ``ts`` ISO 8601 UTC, ``cost`` dollars and ``cost_nanos`` exact, ``latency_ms`` null when
    unknown, ``request_tags`` an array, then the extras the log has. A column the log does not
    know (``log.unknown``) is left out. Strings are escaped as ``json.dumps`` escapes them
    (``ensure_ascii=False``: only quotes, backslashes and control characters). With pyarrow
    the lines are made a chunk of rows at a time by Arrow's string kernels
    (:mod:`tagcore.io._write`); without it, row by row with the same bytes.

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
