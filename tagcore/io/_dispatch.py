"""``read_any``: one reader for every format tagcore reads, tagcore's own logs and the vendors'
exports alike: the layout by name (the suffix table of :mod:`tagcore.io._common`) or by
content, the format by its fields (:mod:`tagcore.io._shapes`)."""

from __future__ import annotations

import gzip
import inspect
import io as _io
import json
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tagcore.io._common import (
    FORMATS,
    Progress,
    ReadOptions,
    Source,
    _error,
    _read_bytes,
    format_of,
    json_layout,
    sniff,
)
from tagcore.io._shapes import Shape, recognise, sample_fields
from tagcore.io.csv import read_csv
from tagcore.io.jsonl import read_jsonl
from tagcore.io.parquet import read_parquet
from tagcore.log import RequestLog
from tagcore.tags import TagPolicy
from tagcore.trie import TagTrie

if TYPE_CHECKING:
    from tagcore.prices import PriceTable

__all__ = ["read_any"]

_HEAD = 1 << 20  # bytes of (decompressed) content whose records decide the format


def _vendor_readers() -> dict[str, Callable[..., RequestLog]]:
    from tagcore.io.helicone import read_helicone_export
    from tagcore.io.langfuse import read_langfuse_observations, read_langfuse_traces
    from tagcore.io.litellm import read_litellm_payloads, read_litellm_spend_logs
    from tagcore.io.openai import read_openai_log
    from tagcore.io.openrouter import read_openrouter_activity

    return {
        "openai_log": read_openai_log,
        "litellm_spend_logs": read_litellm_spend_logs,
        "litellm_payloads": read_litellm_payloads,
        "helicone": read_helicone_export,
        "langfuse_traces": read_langfuse_traces,
        "langfuse_observations": read_langfuse_observations,
        "openrouter": read_openrouter_activity,
    }


def read_any(source: Source, format: str | None = None, *, policy: TagPolicy | None = None,
             on_error: str = "raise", progress: Progress | None = None,
             trie: TagTrie | None = None, prices: PriceTable | None = None,
             columns: Sequence[str] | Mapping[str, str] | None = None, ts_unit: str = "s",
             tags_sep: str | None = None) -> RequestLog:
    """Read a log file of any format tagcore knows into a :class:`RequestLog`: tagcore's own
    logs (Parquet, JSONL, JSON, CSV) and the vendor exports (OpenAI logs, LiteLLM SpendLogs and
    ``StandardLoggingPayload`` records, Helicone, Langfuse traces and observations,
    OpenRouter activity).

    ``format`` is the layout: ``"parquet"``, ``"jsonl"`` (also ``"ndjson"``), ``"json"`` (an
    array of records, or JSONL), ``"csv"``; default: from the extension (``.parquet``,
    ``.jsonl``, ``.ndjson``, ``.json``, ``.csv``, each optionally ``.gz``), else sniffed from
    the content. ``source`` may be ``"-"`` for stdin. ``progress(rows_done, rows_total)`` is
    called as rows are decoded (see :func:`source_size` to decide whether to show a bar); a
    file read whole (a vendor export, a JSON array, stdin) reports its rows once, at the end.

    **Which format** a JSON or CSV file is, is decided by its fields, never guessed: the keys
    of its first 100 records (or its CSV header) must be those of exactly one format (the
    table in :mod:`tagcore.io._shapes`: tagcore's own ``request_tags`` with ``ts``/``cost``/
    ``latency_ms``, LiteLLM's ``spend`` or ``response_cost``, OpenAI's ``request``/
    ``response``, ...). A file that matches none, or more than one, is refused with a
    :class:`FormatError` that lists what was looked for; the vendor's own reader (named in
    the message) reads it with its options. Parquet files are tagcore's own. ``prices`` (a
    :class:`~tagcore.prices.PriceTable`) prices what a file does not price itself, in every
    format that has tokens; without it a cost the file does not give is unknown, flagged and
    counted, never zero. ``trie``, ``columns``, ``ts_unit`` and ``tags_sep`` are for
    tagcore's own logs (see :func:`~tagcore.io.read_parquet`); given ``columns``, a JSON or
    CSV file is read as one (its fields renamed), not recognised by its fields.

    >>> import io
    >>> read_any(io.BytesIO(b"ts,model,prompt_tokens,completion_tokens,cost,latency_ms,"
    ...     b"status,request_tags\\n0,m,1,1,0.5,,200,[]\\n"), format="csv").cost.tolist()
    [500000000]
    >>> read_any(io.BytesIO(b'[{"request_id": "r1", "model": "gpt-4o", "spend": 0.000225, '
    ...     b'"prompt_tokens": 10, "completion_tokens": 20, "startTime": 1766000068.2, '
    ...     b'"endTime": 1766000070.1, "request_tags": ["env:prod"]}]')).tags_of(0)
    ['env/prod']
    """
    opts = ReadOptions(columns, ts_unit, tags_sep, prices).checked()
    kw: dict[str, Any] = dict(policy=policy, on_error=on_error, trie=trie, prices=prices,
                              columns=columns, ts_unit=ts_unit, tags_sep=tags_sep)
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
    data: bytes | None = None
    if is_path and _regular(source):  # type: ignore[arg-type]
        head, name, whole = _head(source)  # type: ignore[arg-type]
    else:  # a stream, stdin, or a pipe named by a path (<(zcat x)): read once
        data, name = _read_bytes(source)
        head, whole = data[:_HEAD], len(data) <= _HEAD
    if fmt is None:
        fmt = sniff(head)
    if fmt == "parquet":
        return _told(progress, read_parquet(
            _named(_read_bytes(source)[0] if data is None else data, name), **kw))
    layout = "csv" if fmt == "csv" else "json"
    shape = None if isinstance(opts.columns, Mapping) else _shape_of(head, layout, name)
    if shape is None and not whole and not isinstance(opts.columns, Mapping):  # a first record longer than the head
        if data is None:
            data = _read_bytes(source)[0]
        shape = _shape_of(data, layout, name)
    if shape is not None and shape.name != "native":
        own = {"trie": trie is not None, "columns": columns is not None,
               "ts_unit": ts_unit != "s", "tags_sep": tags_sep is not None}
        for arg, given in own.items():
            if given:
                raise ValueError(f"{arg}: applies to tagcore's own logs; {name} is "
                                 f"{shape.title} (read by {shape.reader})")
        if data is None:
            data = _read_bytes(source)[0]
        reader = _vendor_readers()[shape.name]
        extra = {"prices": prices} if "prices" in inspect.signature(reader).parameters else {}
        return _told(progress, reader(_named(data, name), policy=policy, on_error=on_error,
                                      **extra))
    # tagcore's own log (or no record could be read: its reader says why)
    if fmt == "json" and json_layout(head) == "json":
        if data is None:
            data = _read_bytes(source)[0]
        return _told(progress, _read_json_array(data, name, **kw))
    if data is not None:  # read already: its rows are told at the end
        read = read_csv if fmt == "csv" else read_jsonl
        return _told(progress, read(_named(data, name), **kw))
    if fmt == "csv":
        return read_csv(source, progress=progress, **kw)
    return read_jsonl(source, progress=progress, **kw)


def _told(progress: Progress | None, log: RequestLog) -> RequestLog:
    """``log``, its rows told to ``progress`` (a reader that reported nothing as it went)."""
    if progress is not None:
        progress(len(log), len(log))
    return log


def _named(data: bytes, name: str) -> _io.BytesIO:
    buf = _io.BytesIO(data)
    buf.name = name  # type: ignore[attr-defined]
    return buf


def _regular(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a regular file, which can be read twice (a FIFO cannot)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True  # the reader says what is wrong with it


def _head(path: str | os.PathLike) -> tuple[bytes, str, bool]:
    """The first :data:`_HEAD` bytes of a file's content (gzip decompressed, a UTF-8
    byte-order mark dropped), its name, and whether that is the whole content."""
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
        fh.seek(0)
        stream: Any = gzip.GzipFile(fileobj=fh) if gz else fh
        try:
            head = stream.read(_HEAD + 1)
        except (OSError, EOFError):  # a corrupt gzip: the reader says so
            head = b""
    if head[:3] == b"\xef\xbb\xbf":
        head = head[3:]
    return head[:_HEAD], os.fspath(path), len(head) <= _HEAD


def _shape_of(data: bytes, layout: str, name: str) -> Shape | None:
    """The format of content whose start is ``data``; ``None`` when no record can be read
    from it (the reader of tagcore's own logs then reports why)."""
    got = sample_fields(data, layout)
    if got is None:
        return None
    return recognise(got[0], name)


def _read_json_array(data: bytes, name: str, **kw: Any) -> RequestLog:
    try:
        recs = json.loads(data)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        raise _error(name, "(json)", f"invalid JSON ({getattr(exc, 'msg', exc)})",
                     line=line) from None
    except RecursionError:
        raise _error(name, "(json)", "invalid JSON (nested too deeply to read)") from None
    if not isinstance(recs, list):
        raise _error(name, "(json)", "expected an array of records")
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in recs).encode("utf-8")
    return read_jsonl(_named(lines, name), **kw)

