"""``read_any``: one reader for every native format, by name (the suffix table of
:mod:`tagcore.io._common`) or by content."""

from __future__ import annotations

import io as _io
import json
import os

from tagcore.io._common import (
    FORMATS,
    Progress,
    Source,
    _error,
    _read_bytes,
    format_of,
    json_layout,
    sniff,
)
from tagcore.io.csv import read_csv
from tagcore.io.jsonl import read_jsonl
from tagcore.io.parquet import read_parquet
from tagcore.log import RequestLog
from tagcore.tags import TagPolicy
from tagcore.trie import TagTrie

__all__ = ["read_any"]


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
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"format: expected parquet, jsonl, json or csv, got {format!r}")
    is_path = isinstance(source, (str, os.PathLike)) and os.fspath(source) != "-"
    if fmt is None and is_path:
        fmt = format_of(source)  # type: ignore[arg-type]
    if fmt == "parquet" and is_path and not os.fspath(source).lower().endswith(".gz"):
        return read_parquet(source, progress=progress, **kw)
    data, name = _read_bytes(source, progress if is_path else None)
    if fmt is None:
        fmt = sniff(data)
    buf = _io.BytesIO(data)
    buf.name = name  # type: ignore[attr-defined]
    if fmt == "parquet":
        return read_parquet(buf, **kw)
    if fmt == "csv":
        return read_csv(buf, **kw)
    if fmt == "json" and json_layout(data) == "json":
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
