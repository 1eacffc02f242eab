"""Readers of real log formats: OpenAI-style JSONL, LiteLLM SpendLogs, Helicone, Langfuse, OpenRouter.

Each format has two layers:

* a pure **parser** ``parse_<format>(source, ...) -> (records, skipped)`` that yields the record
  dicts of ``RequestLog.from_records`` (``ts``, ``model``, ``prompt_tokens``,
  ``completion_tokens``, ``cost`` or ``cost_nanos``, ``latency_ms``, ``status``,
  ``request_tags`` and the optional ``cached_tokens``, ``reasoning_tokens``, ``request_id``,
  ``user``, ``key``) and the list of messages of the rows it skipped;
* a public **reader** ``read_<format>(source, ...) -> RequestLog`` that passes them on.

Every reader takes a path or a text/binary file object, and ``on_error="raise"`` (the first bad
row raises a :class:`FormatError`) or ``"skip"`` (bad rows are left out and counted; a warning
gives the count and the first few reasons). Messages name the file, the line (JSONL, CSV: the
line where the row starts) or record (JSON arrays: ``record 3``, 1-based), the field and the
reason::

    requests.jsonl:17: response.usage.prompt_tokens: expected a non-negative integer, got 'abc'

Columns and keys are matched by name, case-insensitively, in any order; unknown columns are
ignored. Shared conventions: naive times are UTC; numbers may be JSON numbers or strings (CSV);
``""``, ``null`` and the string ``"None"`` mean missing; dollar amounts are read exactly (floats
through ``repr``); a latency that the source does not give is unknown (``None``;
NaN in the log).

**key:value tags** (LiteLLM, Langfuse): users write ``product:chat-bot`` and LiteLLM adds
``User-Agent: OpenAI/Python 1.40.0``. With ``key_value="path"`` (default) a tag
``key:value`` or ``key: value`` becomes the path ``key/value`` (so it rolls up under ``key``);
only the first ``:`` splits, the key must start with a letter or ``_`` and hold only letters,
digits, ``_``, ``.``, ``-`` and inner spaces, and the value must be non-empty; a ``/`` in the
value stays a path separator (``User-Agent/OpenAI/Python 1.40.0``). A URL is a ``key:value``
tag too: ``https://example.com/a`` becomes ``https/example.com/a`` (scheme, host, path
segments), never ``https:/example.com/a``. Tags that do not match (``12:30``, ``a/b:c``,
``plain``) are kept as written. ``key_value="keep"`` keeps every tag as written (``/`` is still
the path separator of tagcore, so ``User-Agent: OpenAI/Python 1.40.0`` is then the path
``User-Agent: OpenAI`` / ``Python 1.40.0``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from tagcore.tags import TagError, TagPolicy, normalize_tags, tags_from_mapping

if TYPE_CHECKING:
    from tagcore.log import RequestLog
    from tagcore.prices import PriceTable

__all__ = [
    "FormatError",
    "map_key_value_tag",
    "parse_helicone_export",
    "parse_langfuse_observations",
    "parse_langfuse_traces",
    "parse_litellm_spend_logs",
    "parse_openai_log",
    "parse_openrouter_activity",
    "read_helicone_export",
    "read_langfuse_observations",
    "read_langfuse_traces",
    "read_litellm_spend_logs",
    "read_openai_log",
    "read_openrouter_activity",
]

Source = str | os.PathLike[str] | IO[str] | IO[bytes]
OnError = Literal["raise", "skip"]
KeyValue = Literal["path", "keep"]
Record = dict[str, Any]
Parsed = tuple[list[Record], list[str]]

_MAX_REASONS = 5
UNKNOWN_MODEL = "(unknown)"


class FormatError(ValueError):
    """A malformed input file: the message names the file, line/row, field and reason."""


class _RowError(Exception):
    """A bad value in one row; ``field`` is the dotted path of the value."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


# --------------------------------------------------------------------------- values


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() in ("", "None", "null"))


def _int(value: Any, field: str, default: int | None = None) -> int:
    """A non-negative integer from an int, a whole float or a decimal string."""
    if _is_missing(value):
        if default is None:
            raise _RowError(field, "missing")
        return default
    if isinstance(value, bool):
        raise _RowError(field, f"expected a non-negative integer, got {_short(value)}")
    if isinstance(value, int):
        n = value
    elif isinstance(value, float) and value.is_integer():
        n = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*\d+(\.0*)?\s*", value):
        n = int(value.strip().split(".")[0])
    else:
        raise _RowError(field, f"expected a non-negative integer, got {_short(value)}")
    if n < 0:
        raise _RowError(field, f"expected a non-negative integer, got {_short(value)}")
    return n


def _float(value: Any, field: str, default: float | None = None) -> float:
    """A finite non-negative float."""
    if _is_missing(value):
        if default is None:
            raise _RowError(field, "missing")
        return default
    if isinstance(value, bool):
        raise _RowError(field, f"expected a non-negative number, got {_short(value)}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise _RowError(field, f"expected a non-negative number, got {_short(value)}") from None
    if not math.isfinite(x) or x < 0:
        raise _RowError(field, f"expected a non-negative number, got {_short(value)}")
    return x


def _opt_float(value: Any, field: str) -> float | None:
    return None if _is_missing(value) else _float(value, field)


def _seconds_to_ms(value: Any, field: str) -> float | None:
    return None if _is_missing(value) else _float(value, field) * 1000.0


def _dollars(value: Any, field: str) -> Decimal | None:
    """An exact dollar amount (float through repr), or None when missing."""
    if _is_missing(value):
        return None
    if isinstance(value, bool):
        raise _RowError(field, f"expected a dollar amount, got {_short(value)}")
    try:
        if isinstance(value, float):
            d = Decimal(repr(value))
        elif isinstance(value, (int, Decimal)):
            d = Decimal(value)
        elif isinstance(value, str):
            d = Decimal(value.strip().lstrip("$"))
        else:
            raise InvalidOperation
    except InvalidOperation:
        raise _RowError(field, f"expected a dollar amount, got {_short(value)}") from None
    if not d.is_finite() or d < 0:
        raise _RowError(field, f"expected a non-negative dollar amount, got {_short(value)}")
    return d


_EPOCH_RE = re.compile(r"\s*\d+(\.\d*)?\s*")


def _time(value: Any, field: str) -> datetime:
    """An aware UTC datetime from an ISO string (naive = UTC) or epoch seconds."""
    if _is_missing(value):
        raise _RowError(field, "missing")
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, bool):
        raise _RowError(field, f"expected a time, got {_short(value)}")
    elif isinstance(value, (int, float)) or (isinstance(value, str) and _EPOCH_RE.fullmatch(value)):
        try:
            x = float(value)
            if not math.isfinite(x):
                raise ValueError
            return datetime.fromtimestamp(x, timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise _RowError(field, f"expected a time, got {_short(value)}") from None
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            try:
                import pandas as pd

                dt = pd.Timestamp(text).to_pydatetime()
            except (ValueError, TypeError):
                raise _RowError(field, f"expected an ISO time, got {_short(value)}") from None
    else:
        raise _RowError(field, f"expected a time, got {_short(value)}")
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def _text(value: Any) -> str | None:
    if _is_missing(value):
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _json_value(value: Any, field: str, kind: type) -> Any:
    """A JSON object/array that may arrive encoded as a string (also with doubled quotes)."""
    if _is_missing(value):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            # Helicone's export CSV doubles the quotes of JSON cells twice
            if '""' in text:
                try:
                    value = json.loads(text.replace('""', '"'))
                except json.JSONDecodeError:
                    raise _RowError(field, f"invalid JSON: {exc.msg}") from None
            else:
                raise _RowError(field, f"invalid JSON: {exc.msg}") from None
    if value is None:
        return None
    if not isinstance(value, kind):
        want = "an object" if kind is dict else "a list"
        raise _RowError(field, f"expected {want}, got {type(value).__name__}")
    return value


def _get(obj: Any, path: str) -> Any:
    """``a.b.c`` lookup through dicts; None when any step is missing or not a dict."""
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


# --------------------------------------------------------------------------- tags

_KV_RE = re.compile(r"^\s*([A-Za-z_](?:[A-Za-z0-9_.\- ]*[A-Za-z0-9_.\-])?)\s*:(.*)$", re.S)


def map_key_value_tag(tag: str) -> str:
    """``key:value`` / ``key: value`` -> ``key/value``; other tags unchanged (see module doc).

    >>> map_key_value_tag("product:chat-bot")
    'product/chat-bot'
    >>> map_key_value_tag("User-Agent: OpenAI/Python 1.40.0")
    'User-Agent/OpenAI/Python 1.40.0'
    >>> map_key_value_tag("https://example.com/a")
    'https/example.com/a'
    >>> [map_key_value_tag(t) for t in ["12:30", "org/team:x", "plain", "key:"]]
    ['12:30', 'org/team:x', 'plain', 'key:']
    """
    m = _KV_RE.match(tag)
    if m is None:
        return tag
    value = m.group(2).strip().lstrip("/").strip()
    if not value:
        return tag
    return f"{m.group(1)}/{value}"


def _tags(
    listed: Any,
    field: str,
    policy: TagPolicy | None,
    *,
    key_value: KeyValue = "keep",
    mapping: Mapping[str, Any] | None = None,
    mapping_field: str = "metadata",
    prefix: str = "",
) -> list[str]:
    """Listed tags (optionally key:value-mapped) then key/value tags of ``mapping``, normalized."""
    tags: list[str] = []
    if listed is not None:
        if not isinstance(listed, (list, tuple)):
            raise _RowError(field, f"expected a list of strings, got {type(listed).__name__}")
        for i, t in enumerate(listed):
            if not isinstance(t, str):
                raise _RowError(f"{field}[{i}]", f"expected a string, got {_short(t)}")
            tags.append(map_key_value_tag(t) if key_value == "path" else t)
    if mapping:
        try:
            tags.extend(tags_from_mapping(mapping, policy, prefix=prefix))
        except TagError as exc:
            raise _RowError(mapping_field, str(exc)) from None
    try:
        return list(normalize_tags(tags, policy))
    except TagError as exc:
        raise _RowError(field, str(exc)) from None


def _check_key_value(key_value: str) -> None:
    if key_value not in ("path", "keep"):
        raise ValueError(f"key_value must be 'path' or 'keep', got {key_value!r}")


def _check_on_error(on_error: str) -> None:
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")


# --------------------------------------------------------------------------- sources


@contextmanager
def _open(source: Source) -> Iterator[tuple[IO[str], str]]:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        with path.open(encoding="utf-8-sig", newline="") as fh:
            yield fh, str(source)
        return
    name = str(getattr(source, "name", "<stream>"))
    if isinstance(source, (io.RawIOBase, io.BufferedIOBase)) or "b" in getattr(source, "mode", ""):
        text = io.TextIOWrapper(source, encoding="utf-8-sig", newline="")  # type: ignore[arg-type]
        try:
            yield text, name
        finally:
            text.detach()
        return
    yield source, name  # type: ignore[misc]


def _kind_of(name: str, head: str) -> str:
    """'csv', 'jsonl' or 'json' from the file name, else from the first characters."""
    lower = name.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    stripped = head.lstrip()
    if stripped.startswith("["):
        return "json"
    if stripped.startswith("{"):
        return "json"  # a single object, an API page {"data": [...]}, or JSONL (decided later)
    return "csv"


Row = tuple[str, Any]  # (location, dict-with-lower-case-keys | _RowError)


def _lower_keys(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k).strip().lower(): v for k, v in obj.items()}


def _rows_jsonl(fh: IO[str], name: str, first: str = "") -> Iterator[Row]:
    lines = _chain_lines(first, fh)
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        loc = f"{name}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield loc, _RowError("line", f"invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            yield loc, _RowError("line", f"expected a JSON object, got {type(obj).__name__}")
            continue
        yield loc, obj


def _chain_lines(first: str, fh: IO[str]) -> Iterator[str]:
    """The lines of ``first`` (text already read, no full line yet) then the rest of ``fh``."""
    if first:
        yield from (first + fh.readline()).splitlines(keepends=True)
    yield from fh


def _rows_json(fh: IO[str], name: str, first: str = "") -> Iterator[Row]:
    text = first + fh.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith("{") and "\n" in text.strip():  # one object per line
            yield from _rows_jsonl(io.StringIO(text), name)
            return
        raise FormatError(
            f"{name}:{exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno})"
        ) from None
    if isinstance(data, dict):
        for key in ("data", "records", "items", "logs"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
        else:
            data = [data]
    if not isinstance(data, list):
        raise FormatError(f"{name}: expected a JSON array of records, got {type(data).__name__}")
    for i, obj in enumerate(data, 1):
        loc = f"{name}: record {i}"
        if not isinstance(obj, dict):
            yield loc, _RowError("record", f"expected a JSON object, got {type(obj).__name__}")
        else:
            yield loc, obj


def _rows_csv(fh: IO[str], name: str, first: str, required: tuple[str, ...]) -> Iterator[Row]:
    reader = csv.reader(_chain_lines(first, fh))
    try:
        header = next(reader)
    except StopIteration:
        raise FormatError(f"{name}: empty file (no header)") from None
    cols = [h.strip().lower() for h in header]
    missing = [c for c in required if c.lower() not in cols]
    if missing:
        raise FormatError(
            f"{name}:1: missing required column{'s' if len(missing) > 1 else ''} "
            + ", ".join(repr(c) for c in missing)
        )
    prev = reader.line_num
    for row in reader:
        loc = f"{name}:{prev + 1}"
        prev = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(cols):
            yield (
                loc,
                _RowError(
                    "row",
                    f"expected {len(cols)} columns, got {len(row)} (truncated or misquoted row?)",
                ),
            )
            continue
        yield loc, dict(zip(cols, row))


def _rows(source: Source, required_csv: tuple[str, ...] = ()) -> Iterator[Row]:
    with _open(source) as (fh, name):
        head = fh.read(1)
        while head and head.isspace():
            head += fh.read(1)
            if len(head) > 4096:
                break
        kind = _kind_of(name, head)
        if kind == "csv":
            yield from _rows_csv(fh, name, head, required_csv)
        elif kind == "jsonl":
            yield from _rows_jsonl(fh, name, head)
        else:
            yield from _rows_json(fh, name, head)


def _collect(
    rows: Iterator[Row], parse: Callable[[dict[str, Any]], Record | None], on_error: OnError
) -> Parsed:
    """Run ``parse`` on every row; raise on the first error or collect the skipped ones."""
    _check_on_error(on_error)
    records: list[Record] = []
    skipped: list[str] = []
    for loc, row in rows:
        try:
            if isinstance(row, _RowError):
                raise row
            rec = parse(row)
        except _RowError as exc:
            msg = f"{loc}: {exc.field}: {exc.reason}"
            if on_error == "raise":
                raise FormatError(msg) from None
            skipped.append(msg)
            continue
        if rec is not None:
            records.append(rec)
    return records, skipped


# --------------------------------------------------------------------------- to RequestLog


def _source_name(source: Source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return str(getattr(source, "name", "<stream>"))


def _to_log(
    source: Source, parsed: Parsed, policy: TagPolicy | None, on_error: OnError
) -> RequestLog:
    """Records -> ``RequestLog``; skipped rows are warned about and added to the log's
    ``dropped_rows`` count and ``problems`` list."""
    from tagcore.log import RequestLog

    records, skipped = parsed
    if skipped:
        first = "; ".join(skipped[:_MAX_REASONS])
        more = "" if len(skipped) <= _MAX_REASONS else f"; ... ({len(skipped) - _MAX_REASONS} more)"
        warnings.warn(f"skipped {len(skipped)} bad row(s): {first}{more}", stacklevel=3)
    log = RequestLog.from_records(
        records,
        policy=policy,
        on_error="drop" if on_error == "skip" else "raise",
        source=_source_name(source),
    )
    if skipped:
        log.dropped_rows += len(skipped)
        log.problems = tuple(skipped[:20]) + tuple(log.problems)
    return log


def _status_of_litellm(value: Any, field: str) -> int:
    if _is_missing(value):
        return 200
    if isinstance(value, str):
        s = value.strip().lower()
        if s == "success":
            return 200
        if s == "failure":
            return 500
    status = _int(value, field)
    if not 100 <= status <= 599:
        raise _RowError(
            field, f"expected 'success', 'failure' or an HTTP status, got {_short(value)}"
        )
    return status


def _latency_between(start: datetime, end: datetime, field: str) -> float:
    ms = (end - start).total_seconds() * 1000.0
    if ms < 0:
        raise _RowError(field, "ends before it starts")
    return ms


# --------------------------------------------------------------------------- OpenAI


def _openai_usage(usage: Any, responses_api: bool) -> dict[str, int]:
    base = "response.usage"
    if not isinstance(usage, Mapping):
        raise _RowError(base, f"expected an object, got {_short(usage)}")
    if responses_api:
        return {
            "prompt_tokens": _int(usage.get("input_tokens"), base + ".input_tokens"),
            "completion_tokens": _int(usage.get("output_tokens"), base + ".output_tokens"),
            "cached_tokens": _int(
                _get(usage, "input_tokens_details.cached_tokens"),
                base + ".input_tokens_details.cached_tokens",
                0,
            ),
            "cache_creation_tokens": _int(
                _get(usage, "input_tokens_details.cache_write_tokens"),
                base + ".input_tokens_details.cache_write_tokens",
                0,
            ),
            "reasoning_tokens": _int(
                _get(usage, "output_tokens_details.reasoning_tokens"),
                base + ".output_tokens_details.reasoning_tokens",
                0,
            ),
        }
    return {
        "prompt_tokens": _int(usage.get("prompt_tokens"), base + ".prompt_tokens"),
        "completion_tokens": _int(usage.get("completion_tokens"), base + ".completion_tokens"),
        "cached_tokens": _int(
            _get(usage, "prompt_tokens_details.cached_tokens"),
            base + ".prompt_tokens_details.cached_tokens",
            0,
        ),
        "cache_creation_tokens": 0,
        "reasoning_tokens": _int(
            _get(usage, "completion_tokens_details.reasoning_tokens"),
            base + ".completion_tokens_details.reasoning_tokens",
            0,
        ),
    }


_PENDING = "_price_tokens"


def _price(
    prices: PriceTable | None, model: str, t: Mapping[str, int], field: str
) -> tuple[str, Any]:
    """Check the token counts and mark the record for pricing in one batch (:func:`_price_all`);
    ("cost", None) without a table."""
    if prices is None:
        return "cost", None
    if t["cached_tokens"] + t["cache_creation_tokens"] > t["prompt_tokens"]:
        raise _RowError(field, "cached tokens exceed prompt tokens")
    if t["reasoning_tokens"] > t["completion_tokens"]:
        raise _RowError(field, "reasoning tokens exceed completion tokens")
    return _PENDING, (
        t["prompt_tokens"],
        t["completion_tokens"],
        t["cached_tokens"],
        t["cache_creation_tokens"],
        t["reasoning_tokens"],
    )


def _price_all(parsed: Parsed, prices: PriceTable | None) -> Parsed:
    """Price the marked records with one vectorised :meth:`PriceTable.price_many` call:
    ``cost_nanos`` when priced, ``cost=None`` (unknown, reported by the table) otherwise."""
    records, skipped = parsed
    todo = [r for r in records if _PENDING in r]
    if prices is None or not todo:
        return parsed
    import numpy as np

    tokens = np.array([r[_PENDING] for r in todo], dtype=np.int64).reshape(len(todo), 5)
    nanos, unpriced = prices.price_many([r["model"] for r in todo], *tokens.T)
    for r, n, bad in zip(todo, nanos.tolist(), unpriced.tolist()):
        del r[_PENDING]
        if bad:
            r["cost"] = None
        else:
            r["cost_nanos"] = n
    return records, skipped


def parse_openai_log(
    source: Source,
    prices: PriceTable | None = None,
    *,
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> Parsed:
    """Parse OpenAI-style JSONL logs into records; see :func:`read_openai_log`.

    >>> import io
    >>> line = ('{"request": {"model": "gpt-4o", "request_tags": ["env/prod"], '
    ...         '"metadata": {"customer": "acme"}}, "response": {"object": "chat.completion", '
    ...         '"created": 1727346142, "model": "gpt-4o-2024-08-06", "usage": {"prompt_tokens": 14, '
    ...         '"completion_tokens": 37}}, "latency_ms": 812.5, "status": 200}')
    >>> (rec,), skipped = parse_openai_log(io.StringIO(line))
    >>> rec["model"], rec["prompt_tokens"], rec["request_tags"], rec["cost"], skipped
    ('gpt-4o-2024-08-06', 14, ['env/prod', 'customer/acme'], None, [])
    """

    def parse(row: dict[str, Any]) -> Record:
        request = row.get("request")
        response = row.get("response")
        if request is not None and not isinstance(request, Mapping):
            raise _RowError("request", f"expected an object, got {_short(request)}")
        if response is not None and not isinstance(response, Mapping):
            raise _RowError("response", f"expected an object, got {_short(response)}")
        request = request or {}
        status = (
            200
            if _is_missing(row.get("status")) and response
            else _int(row.get("status"), "status")
        )
        if not 100 <= status <= 599:
            raise _RowError("status", f"expected an HTTP status, got {_short(row.get('status'))}")
        if response is None and status < 400:
            raise _RowError(
                "response", "missing (only a failed request, status >= 400, may omit it)"
            )
        responses_api = bool(response) and (
            response.get("object") == "response"
            or (isinstance(response.get("usage"), Mapping) and "input_tokens" in response["usage"])
        )
        if not _is_missing(row.get("ts")):
            ts = _time(row["ts"], "ts")
        elif response:
            key = "created_at" if responses_api else "created"
            ts = _time(response.get(key), f"response.{key}")
        else:
            raise _RowError("ts", "missing (a request without a response needs 'ts')")
        model = _text(response.get("model")) if response else None
        model = model or _text(request.get("model"))
        if not model:
            raise _RowError("response.model", "missing (and no request.model)")
        usage = response.get("usage") if response else None
        if usage is None:
            if status < 400:
                raise _RowError("response.usage", "missing")
            t = dict.fromkeys(
                (
                    "prompt_tokens",
                    "completion_tokens",
                    "cached_tokens",
                    "cache_creation_tokens",
                    "reasoning_tokens",
                ),
                0,
            )
        else:
            t = _openai_usage(usage, responses_api)
        metadata = request.get("metadata")
        if metadata is not None and not isinstance(metadata, Mapping):
            raise _RowError("request.metadata", f"expected an object, got {_short(metadata)}")
        tags = _tags(
            request.get("request_tags"),
            "request.request_tags",
            policy,
            mapping=metadata,
            mapping_field="request.metadata",
        )
        rec: Record = {
            "ts": ts,
            "model": model,
            "prompt_tokens": t["prompt_tokens"],
            "completion_tokens": t["completion_tokens"],
            "cached_tokens": t["cached_tokens"],
            "reasoning_tokens": t["reasoning_tokens"],
            "latency_ms": _float(row.get("latency_ms"), "latency_ms"),
            "status": status,
            "request_tags": tags,
        }
        if usage is None:
            rec["cost_nanos"] = 0
        else:
            k, v = _price(prices, model, t, "response.usage")
            rec[k] = v
        if response and _text(response.get("id")):
            rec["request_id"] = _text(response.get("id"))
        if _text(request.get("user")):
            rec["user"] = _text(request.get("user"))
        return rec

    return _price_all(_collect(_rows(source), parse, on_error), prices)


def read_openai_log(
    source: Source,
    prices: PriceTable | None = None,
    *,
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> RequestLog:
    """Read OpenAI-style logs: one JSON object per line.

    Each line is ``{"request": <chat completion or responses body>, "response": <its
    response>, "latency_ms": 812.5, "status": 200, "ts": optional}``.

    * time: ``ts`` (ISO or epoch seconds; naive = UTC), else the response's ``created``
      (Chat Completions) or ``created_at`` (Responses API);
    * model: the response's ``model`` (the dated snapshot actually served, e.g.
      ``gpt-4o-2024-08-06``), else the request's;
    * tokens: Chat ``usage.prompt_tokens``, ``completion_tokens``,
      ``prompt_tokens_details.cached_tokens``, ``completion_tokens_details.reasoning_tokens``
      (details may be absent or null), or, for a Responses API object (``"object":
      "response"``), ``usage.input_tokens``, ``output_tokens``,
      ``input_tokens_details.cached_tokens`` (and ``cache_write_tokens``, for pricing),
      ``output_tokens_details.reasoning_tokens``;
    * a failed request (``status`` >= 400) may have no response or no usage: 0 tokens, cost 0,
      model from the request;
    * tags: the body's ``request_tags`` then its ``metadata`` as ``key/value`` tags;
    * cost: from ``prices`` (a :class:`~tagcore.prices.PriceTable`; requests it cannot price
      are counted in its ``unpriced`` report and have an unknown cost). Without ``prices``
      every cost is unknown: stored as 0 and flagged by the log as unknown.

    >>> import io
    >>> from tagcore.prices import PriceTable
    >>> table = PriceTable({"gpt-4o": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05}})
    >>> line = ('{"request": {"model": "gpt-4o", "request_tags": ["customer/acme"]}, '
    ...         '"response": {"created": 1727346142, "model": "gpt-4o", '
    ...         '"usage": {"prompt_tokens": 10, "completion_tokens": 20}}, "latency_ms": 812.5, "status": 200}')
    >>> log = read_openai_log(io.StringIO(line), prices=table)
    >>> len(log), log.cost.tolist()
    (1, [225000])
    >>> len(log)
    1
    """
    return _to_log(
        source, parse_openai_log(source, prices, policy=policy, on_error=on_error), policy, on_error
    )


# --------------------------------------------------------------------------- LiteLLM

_LITELLM_REQUIRED = ("model", "spend", "prompt_tokens", "completion_tokens", "startTime", "endTime")


def parse_litellm_spend_logs(
    source: Source,
    *,
    key_value: KeyValue = "path",
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> Parsed:
    """Parse a LiteLLM SpendLogs export into records; see :func:`read_litellm_spend_logs`.

    >>> import io
    >>> csv_text = ('request_id,model,spend,prompt_tokens,completion_tokens,startTime,endTime,'
    ...             'request_tags,status\\n'
    ...             'r1,gpt-4o,0.000225,10,20,2025-01-24 09:20:46.847371,2025-01-24 09:20:46.851954,'
    ...             '"[""product:chat-bot"", ""User-Agent: OpenAI/Python 1.40.0""]",success\\n')
    >>> (rec,), _ = parse_litellm_spend_logs(io.StringIO(csv_text))
    >>> rec["request_tags"], rec["cost"], round(rec["latency_ms"], 3), rec["status"]
    (['product/chat-bot', 'User-Agent/OpenAI/Python 1.40.0'], Decimal('0.000225'), 4.583, 200)
    """
    _check_key_value(key_value)

    def parse(row: dict[str, Any]) -> Record:
        row = _lower_keys(row)
        for col in _LITELLM_REQUIRED:
            if col.lower() not in row:
                raise _RowError(col, "missing")
        start = _time(row["starttime"], "startTime")
        end = _time(row["endtime"], "endTime")
        model = _text(row["model"])
        if not model:
            raise _RowError("model", "missing")
        metadata = _json_value(row.get("metadata"), "metadata", dict) or {}
        usage = metadata.get("usage_object") if isinstance(metadata, Mapping) else None
        tags = _tags(
            _json_value(row.get("request_tags"), "request_tags", list),
            "request_tags",
            policy,
            key_value=key_value,
        )
        rec: Record = {
            "ts": start,
            "model": model,
            "prompt_tokens": _int(row["prompt_tokens"], "prompt_tokens"),
            "completion_tokens": _int(row["completion_tokens"], "completion_tokens"),
            "cost": _dollars(row["spend"], "spend"),
            "latency_ms": _latency_between(start, end, "endTime"),
            "status": _status_of_litellm(row.get("status"), "status"),
            "request_tags": tags,
            "cached_tokens": _int(
                _get(usage, "prompt_tokens_details.cached_tokens"),
                "metadata.usage_object.prompt_tokens_details.cached_tokens",
                0,
            ),
            "reasoning_tokens": _int(
                _get(usage, "completion_tokens_details.reasoning_tokens"),
                "metadata.usage_object.completion_tokens_details.reasoning_tokens",
                0,
            ),
        }
        if rec["cost"] is None:
            raise _RowError("spend", "missing")
        for out, cols in (
            ("request_id", ("request_id",)),
            ("user", ("user", "end_user")),
            ("key", ("api_key",)),
        ):
            for col in cols:
                v = _text(row.get(col))
                if v:
                    rec[out] = v
                    break
        alias = _text(metadata.get("user_api_key_alias")) if isinstance(metadata, Mapping) else None
        if alias:
            rec["key"] = alias
        return rec

    return _collect(_rows(source, _LITELLM_REQUIRED), parse, on_error)


def read_litellm_spend_logs(
    source: Source,
    *,
    key_value: KeyValue = "path",
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> RequestLog:
    """Read a LiteLLM ``LiteLLM_SpendLogs`` export: CSV, a JSON array (or ``{"data": [...]}``)
    or JSONL, by extension or by sniffing the first character.

    Columns (``schema.prisma`` of BerriAI/litellm, any order and case): required ``model``,
    ``spend`` (dollars), ``prompt_tokens``, ``completion_tokens``, ``startTime``, ``endTime``;
    used when present ``request_id``, ``request_tags``, ``metadata``, ``status``, ``user``,
    ``end_user``, ``api_key``. ``request_tags`` and ``metadata`` may be JSON strings (as in
    the DB payload) or real JSON. Times are naive strings (UTC) or epoch floats; the request's
    time is ``startTime`` and its latency ``endTime - startTime``. ``status`` ``"success"`` is
    200, ``"failure"`` 500, missing 200. ``"None"`` strings are missing values. The key is
    ``metadata.user_api_key_alias`` when set, else the hashed ``api_key``; the user is ``user``
    else ``end_user``; cached and reasoning tokens come from ``metadata.usage_object``.
    Only ``request_tags`` become tags (``metadata`` holds LiteLLM internals, not labels).

    Tags written ``key:value`` or ``key: value`` (``product:chat-bot``,
    ``User-Agent: OpenAI/Python 1.40.0``) become the path ``key/value`` by default, so they
    roll up under ``product`` and ``User-Agent``; ``key_value="keep"`` keeps them as written.
    A ``/`` in the value stays a path separator; a URL ``https://x.io/a`` becomes
    ``https/x.io/a`` (see the module docstring for the exact rule).

    >>> import io, json
    >>> rows = [{"request_id": "r1", "model": "gpt-4o", "spend": 0.00022500000000000002,
    ...          "prompt_tokens": 10, "completion_tokens": 20, "startTime": 1766000068.28466,
    ...          "endTime": 1766000070.07935, "request_tags": '["product:chat-bot"]',
    ...          "status": "success"}]
    >>> log = read_litellm_spend_logs(io.StringIO(json.dumps(rows)))
    >>> len(log), log.cost.tolist()
    (1, [225000])
    """
    return _to_log(
        source,
        parse_litellm_spend_logs(source, key_value=key_value, policy=policy, on_error=on_error),
        policy,
        on_error,
    )


# --------------------------------------------------------------------------- Helicone

_HELICONE_REQUIRED = ("request_created_at", "response_status", "prompt_tokens", "completion_tokens")


def parse_helicone_export(
    source: Source,
    prices: PriceTable | None = None,
    *,
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> Parsed:
    """Parse a Helicone export into records; see :func:`read_helicone_export`.

    >>> import io
    >>> rec = {"request_id": "q1", "request_created_at": "2024-08-01T10:00:00.000Z",
    ...        "response_status": 200, "request_model": "gpt-4o-mini", "prompt_tokens": 12,
    ...        "completion_tokens": 5, "delay_ms": 640, "cost": 0.0000048,
    ...        "request_properties": {"Customer": "acme", "Env": "prod"}}
    >>> (r,), _ = parse_helicone_export(io.StringIO(json.dumps(rec)))
    >>> r["request_tags"], r["cost"], r["latency_ms"]
    (['Customer/acme', 'Env/prod'], Decimal('0.0000048'), 640.0)
    """

    def parse(row: dict[str, Any]) -> Record:
        row = _lower_keys(row)
        ts = _time(row.get("request_created_at"), "request_created_at")
        raw_status = row.get("response_status")
        status = 500 if _is_missing(raw_status) else None
        if status is None:
            if isinstance(raw_status, (int, float, str)) and re.fullmatch(
                r"\s*-?\d+\s*", str(raw_status)
            ):
                status = int(str(raw_status).strip())
            else:
                raise _RowError(
                    "response_status", f"expected an HTTP status, got {_short(raw_status)}"
                )
            if not 100 <= status <= 599:  # Helicone uses -1/0 for pending/failed-before-response
                status = 500
        body = _json_value(row.get("request_body"), "request_body", dict) or {}
        model = None
        for col in ("model", "response_model", "request_model", "model_override"):
            model = _text(row.get(col))
            if model:
                break
        model = model or _text(body.get("model"))
        if not model:
            raise _RowError(
                "model", "missing (no model, response_model, request_model or request_body.model)"
            )
        t = {
            "prompt_tokens": _int(row.get("prompt_tokens"), "prompt_tokens", 0),
            "completion_tokens": _int(row.get("completion_tokens"), "completion_tokens", 0),
            "cached_tokens": _int(
                row.get("prompt_cache_read_tokens"), "prompt_cache_read_tokens", 0
            ),
            "cache_creation_tokens": _int(
                row.get("prompt_cache_write_tokens"), "prompt_cache_write_tokens", 0
            ),
            "reasoning_tokens": _int(row.get("reasoning_tokens"), "reasoning_tokens", 0),
        }
        if not _is_missing(row.get("delay_ms")):
            latency = _float(row.get("delay_ms"), "delay_ms")
        elif not _is_missing(row.get("latency")):
            latency = _float(row.get("latency"), "latency")
        elif not _is_missing(row.get("response_created_at")):
            latency = _latency_between(
                ts, _time(row["response_created_at"], "response_created_at"), "response_created_at"
            )
        else:
            latency = None
        props, field = None, "request_properties"
        for col in ("request_properties", "properties"):
            props, field = _json_value(row.get(col), col, dict), col
            if props:
                break
        tags = _tags(None, field, policy, mapping=props, mapping_field=field)
        rec: Record = {
            "ts": ts,
            "model": model,
            "prompt_tokens": t["prompt_tokens"],
            "completion_tokens": t["completion_tokens"],
            "cached_tokens": t["cached_tokens"],
            "reasoning_tokens": t["reasoning_tokens"],
            "latency_ms": latency,
            "status": status,
            "request_tags": tags,
        }
        cost = None
        for col in ("cost_usd", "costusd", "cost"):
            cost = _dollars(row.get(col), col)
            if cost is not None:
                break
        if cost is not None:
            rec["cost"] = cost
        else:
            k, v = _price(prices, model, t, "prompt_cache_read_tokens")
            rec[k] = v
        rid = _text(row.get("request_id")) or _text(row.get("response_id"))
        if rid:
            rec["request_id"] = rid
        user = _text(row.get("request_user_id")) or _text(row.get("helicone_user"))
        if user:
            rec["user"] = user
        return rec

    return _price_all(_collect(_rows(source, _HELICONE_REQUIRED), parse, on_error), prices)


def read_helicone_export(
    source: Source,
    prices: PriceTable | None = None,
    *,
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> RequestLog:
    """Read a Helicone export: the ``@helicone/export`` CSV, or JSON/JSONL of API records
    (``HeliconeRequest`` of ``POST /v1/request/query-clickhouse``; ``{"data": [...]}`` too).

    * time ``request_created_at``; status ``response_status`` (Helicone's -1/0 for requests
      that never got a response count as 500);
    * model: ``model``, else ``response_model``, ``request_model``, ``model_override``, else
      ``request_body.model``;
    * tokens ``prompt_tokens``, ``completion_tokens`` (empty: 0), cached
      ``prompt_cache_read_tokens``, reasoning ``reasoning_tokens``;
    * latency ``delay_ms``, else ``latency``, else ``response_created_at - request_created_at``,
      else unknown;
    * cost in dollars from ``cost_usd``, ``costUSD`` or ``cost`` (the API divides its stored
      integer by its precision multiplier, so it is dollars); when empty, from ``prices`` if
      given, else unknown;
    * tags: ``request_properties`` (custom properties sent as ``Helicone-Property-<Name>``
      headers; a flat map) as ``key/value`` tags; user ``request_user_id``.

    JSON cells of the CSV (``request_body``, ``request_properties``) are read whether their
    quotes are doubled once (standard CSV) or twice (what the export tool writes).

    >>> import io
    >>> csv_text = ('response_id,response_created_at,response_status,request_created_at,'
    ...   'request_body,request_properties,request_user_id,model,prompt_tokens,'
    ...   'completion_tokens,latency,cost_usd\\n'
    ...   '"r1","2024-08-01T10:00:00.640Z","200","2024-08-01T10:00:00.000Z",'
    ...   '"{""model"":""gpt-4o-mini""}","{""Customer"":""acme""}","u1","","12","5","",""\\n')
    >>> log = read_helicone_export(io.StringIO(csv_text))
    """
    return _to_log(
        source,
        parse_helicone_export(source, prices, policy=policy, on_error=on_error),
        policy,
        on_error,
    )


# --------------------------------------------------------------------------- Langfuse


def _langfuse_status(row: Mapping[str, Any]) -> int:
    level = _text(row.get("level"))
    return 500 if level and level.upper() == "ERROR" else 200


def _loose_json(value: Any) -> Any:
    """Langfuse metadata is any JSON, maybe encoded as a string (CSV): decode if possible."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _scalar_metadata(meta: Any) -> dict[str, Any] | None:
    if not isinstance(meta, Mapping):
        return None
    return {
        str(k): v
        for k, v in meta.items()
        if isinstance(v, (str, int, float, bool)) and not (isinstance(v, str) and not v.strip())
    }


def _langfuse_tags(row: dict[str, Any], policy: TagPolicy | None, key_value: KeyValue,
                   metadata_tags: bool) -> list[str]:
    """A Langfuse trace's or observation's ``tags`` (``key:value`` mapped per ``key_value``)
    plus, with ``metadata_tags``, its scalar top-level ``metadata`` as key/value tags."""
    meta = _loose_json(row.get("metadata"))
    return _tags(
        _json_value(row.get("tags"), "tags", list),
        "tags",
        policy,
        key_value=key_value,
        mapping=_scalar_metadata(meta) if metadata_tags else None,
    )


def _first_dollars(row: dict[str, Any], columns: tuple[str, ...]) -> Decimal | None:
    """The first of ``columns`` that holds a dollar amount, else None."""
    for col in columns:
        cost = _dollars(row.get(col), col)
        if cost is not None:
            return cost
    return None


def _langfuse_ids(rec: Record, row: dict[str, Any]) -> Record:
    """Add the request id and user of a Langfuse row to its record."""
    if _text(row.get("id")):
        rec["request_id"] = _text(row.get("id"))
    if _text(row.get("userid")):
        rec["user"] = _text(row.get("userid"))
    return rec


def parse_langfuse_traces(
    source: Source,
    *,
    key_value: KeyValue = "path",
    metadata_tags: bool = True,
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> Parsed:
    """Parse Langfuse traces into records; see :func:`read_langfuse_traces`.

    >>> import io
    >>> trace = {"id": "t1", "timestamp": "2025-01-15T10:30:45.000Z", "name": "chat",
    ...          "userId": "user-123", "tags": ["env:production"], "metadata": {"team": "search"},
    ...          "latency": 1.234, "totalCost": 0.015}
    >>> (r,), _ = parse_langfuse_traces(io.StringIO(json.dumps({"data": [trace]})))
    >>> r["request_tags"], r["latency_ms"], r["cost"], r["model"]
    (['env/production', 'team/search'], 1234.0, Decimal('0.015'), '(unknown)')
    """
    _check_key_value(key_value)

    def parse(row: dict[str, Any]) -> Record:
        row = _lower_keys(row)
        ts = _time(row.get("timestamp"), "timestamp")
        usage = _json_value(row.get("usage"), "usage", dict) or {}
        tags = _langfuse_tags(row, policy, key_value, metadata_tags)
        cost = _first_dollars(row, ("totalcost", "total_cost", "calculatedtotalcost"))
        rec: Record = {
            "ts": ts,
            "model": _text(row.get("model")) or UNKNOWN_MODEL,
            "prompt_tokens": _int(
                usage.get("promptTokens", usage.get("input")), "usage.promptTokens", 0
            ),
            "completion_tokens": _int(
                usage.get("completionTokens", usage.get("output")), "usage.completionTokens", 0
            ),
            "cost": cost,
            "latency_ms": _seconds_to_ms(row.get("latency"), "latency"),
            "status": _langfuse_status(row),
            "request_tags": tags,
        }
        return _langfuse_ids(rec, row)

    return _collect(_rows(source, ("timestamp",)), parse, on_error)


def read_langfuse_traces(
    source: Source,
    *,
    key_value: KeyValue = "path",
    metadata_tags: bool = True,
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> RequestLog:
    """Read Langfuse traces: ``GET /api/public/traces`` pages (``{"data": [...]}``), JSON
    arrays, JSONL, or the UI's CSV/JSON batch export of the traces table.

    One trace is one request: time ``timestamp``, latency ``latency`` (seconds), cost
    ``totalCost`` (dollars), tokens from ``usage.promptTokens`` / ``completionTokens`` when
    the export has them (else 0), status 500 when ``level`` is ``ERROR`` else 200, user
    ``userId``. A trace has no model: the model is ``"(unknown)"`` unless the record has a
    ``model``. Read :func:`read_langfuse_observations` for per-generation models and tokens.

    Tags: the ``tags`` list (``key:value`` tags mapped to ``key/value`` as in
    :func:`read_litellm_spend_logs`, ``key_value="keep"`` keeps them), then, with
    ``metadata_tags=True``, the scalar top-level entries of ``metadata`` as ``key/value``
    tags (nested objects and lists are not tags and are ignored).

    >>> import io
    >>> page = '{"data": [{"id": "t1", "timestamp": "2025-01-15T10:30:45Z", "tags": ["env:production"]}]}'
    >>> log = read_langfuse_traces(io.StringIO(page))
    """
    return _to_log(
        source,
        parse_langfuse_traces(
            source,
            key_value=key_value,
            metadata_tags=metadata_tags,
            policy=policy,
            on_error=on_error,
        ),
        policy,
        on_error,
    )


def parse_langfuse_observations(
    source: Source,
    *,
    key_value: KeyValue = "path",
    metadata_tags: bool = True,
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> Parsed:
    """Parse Langfuse observations (generations only); see :func:`read_langfuse_observations`.

    >>> import io
    >>> obs = {"id": "o1", "traceId": "t1", "type": "GENERATION", "startTime": "2025-01-15T10:30:46Z",
    ...        "endTime": "2025-01-15T10:30:47.5Z", "model": "gpt-4o",
    ...        "usageDetails": {"input": "94", "output": "11", "total": "105"},
    ...        "totalCost": 0.0000141, "tags": ["no-context"]}
    >>> span = {"id": "o2", "type": "SPAN", "startTime": "2025-01-15T10:30:46Z"}
    >>> recs, _ = parse_langfuse_observations(io.StringIO(json.dumps([obs, span])))
    >>> [(r["model"], r["prompt_tokens"], r["completion_tokens"], r["latency_ms"]) for r in recs]
    [('gpt-4o', 94, 11, 1500.0)]
    """
    _check_key_value(key_value)

    def parse(row: dict[str, Any]) -> Record | None:
        row = _lower_keys(row)
        kind = _text(row.get("type"))
        if kind and kind.upper() not in ("GENERATION", "EMBEDDING"):
            return None  # spans, events, tools... are not model requests
        start = _time(row.get("starttime"), "startTime")
        usage = _json_value(row.get("usagedetails"), "usageDetails", dict)
        base = "usageDetails"
        if usage is None:
            usage = _json_value(row.get("usage"), "usage", dict) or {}
            base = "usage"
        tags = _langfuse_tags(row, policy, key_value, metadata_tags)
        if not _is_missing(row.get("endtime")):
            latency = _latency_between(start, _time(row["endtime"], "endTime"), "endTime")
        else:
            latency = _seconds_to_ms(row.get("latency"), "latency")
        cost = _first_dollars(row, ("totalcost", "calculatedtotalcost"))
        if cost is None:
            cost = _dollars(
                _get(_json_value(row.get("costdetails"), "costDetails", dict), "total"),
                "costDetails.total",
            )
        rec: Record = {
            "ts": start,
            "model": _text(row.get("model")) or UNKNOWN_MODEL,
            "prompt_tokens": _int(usage.get("input"), f"{base}.input", 0),
            "completion_tokens": _int(usage.get("output"), f"{base}.output", 0),
            "cost": cost,
            "latency_ms": latency,
            "status": _langfuse_status(row),
            "request_tags": tags,
        }
        return _langfuse_ids(rec, row)

    return _collect(_rows(source, ("startTime",)), parse, on_error)


def read_langfuse_observations(
    source: Source,
    *,
    key_value: KeyValue = "path",
    metadata_tags: bool = True,
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> RequestLog:
    """Read Langfuse observations (``GET /api/public/v2/observations``, ``ObservationV2``):
    one ``GENERATION`` (or ``EMBEDDING``: the observation types that carry usage and cost) is
    one request; spans, events and other types are left out (not counted as errors).

    Time ``startTime``; latency ``endTime - startTime`` (else ``latency`` in seconds); model
    ``model``; tokens ``usageDetails.input`` / ``output`` (numbers or numeric strings; the
    older ``usage`` object too); cost ``totalCost`` (else ``costDetails.total``), dollars;
    status 500 when ``level`` is ``ERROR``; user ``userId``. Tags as in
    :func:`read_langfuse_traces` (``tags`` carries the trace's tags).

    >>> import io
    >>> obs = ('[{"type": "GENERATION", "startTime": "2025-01-15T10:30:46Z", "model": "gpt-4o",'
    ...        ' "usageDetails": {"input": 94, "output": 11}, "tags": ["env:prod"]}]')
    >>> log = read_langfuse_observations(io.StringIO(obs))
    """
    return _to_log(
        source,
        parse_langfuse_observations(
            source,
            key_value=key_value,
            metadata_tags=metadata_tags,
            policy=policy,
            on_error=on_error,
        ),
        policy,
        on_error,
    )


# --------------------------------------------------------------------------- OpenRouter

_OPENROUTER_REQUIRED = (
    "created_at",
    "cost_total",
    "tokens_prompt",
    "tokens_completion",
    "model_permaslug",
)


def parse_openrouter_activity(
    source: Source,
    *,
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> Parsed:
    """Parse OpenRouter's activity CSV into records; see :func:`read_openrouter_activity`.

    >>> import io
    >>> csv_text = ('generation_id,created_at,cost_total,tokens_prompt,tokens_completion,'
    ...             'tokens_reasoning,tokens_cached,model_permaslug,generation_time_ms,'
    ...             'api_key_name,app_name,user\\n'
    ...             'gen-1,2026-02-06 18:54:30.040,0.00012,100,20,5,0,openai/gpt-oss-120b,812,'
    ...             'prod-key,My App,u-42\\n')
    >>> (r,), _ = parse_openrouter_activity(io.StringIO(csv_text))
    >>> r["request_tags"], r["reasoning_tokens"], r["latency_ms"], r["key"]
    (['key/prod-key', 'app/My App', 'user/u-42'], 5, 812.0, 'prod-key')
    """

    def parse(row: dict[str, Any]) -> Record:
        row = _lower_keys(row)
        model = _text(row.get("model_permaslug"))
        if not model:
            raise _RowError("model_permaslug", "missing")
        completion = _int(row.get("tokens_completion"), "tokens_completion")
        reasoning = _int(row.get("tokens_reasoning"), "tokens_reasoning", 0)
        if reasoning > completion:  # reasoning is part of completion for billing (OpenRouter docs)
            raise _RowError(
                "tokens_reasoning", f"{reasoning} exceeds tokens_completion {completion}"
            )
        labels = {
            "key": _text(row.get("api_key_name")),
            "app": _text(row.get("app_name")),
            "user": _text(row.get("user")),
        }
        tags = _tags(
            None,
            "api_key_name",
            policy,
            mapping={k: v for k, v in labels.items() if v},
            mapping_field="api_key_name/app_name/user",
        )
        cost = _dollars(row.get("cost_total"), "cost_total")
        if cost is None:
            raise _RowError("cost_total", "missing")
        finish = _text(row.get("finish_reason_normalized")) or ""
        rec: Record = {
            "ts": _time(row.get("created_at"), "created_at"),
            "model": model,
            "prompt_tokens": _int(row.get("tokens_prompt"), "tokens_prompt"),
            "completion_tokens": completion,
            "cached_tokens": _int(row.get("tokens_cached"), "tokens_cached", 0),
            "reasoning_tokens": reasoning,
            "cost": cost,
            "latency_ms": _opt_float(row.get("generation_time_ms"), "generation_time_ms"),
            "status": 500 if finish.lower() == "error" else 200,
            "request_tags": tags,
        }
        for out, v in (
            ("request_id", _text(row.get("generation_id"))),
            ("user", labels["user"]),
            ("key", labels["key"]),
        ):
            if v:
                rec[out] = v
        return rec

    return _collect(_rows(source, _OPENROUTER_REQUIRED), parse, on_error)


def read_openrouter_activity(
    source: Source,
    *,
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> RequestLog:
    """Read OpenRouter's activity export (the Activity page's "export CSV", one generation per
    row; JSON/JSONL with the same names work too). Columns are matched by name, since older
    exports have one column fewer.

    Time ``created_at`` (naive = UTC); model ``model_permaslug``; tokens ``tokens_prompt``,
    ``tokens_completion``, ``tokens_cached``, ``tokens_reasoning`` (part of the completion);
    cost ``cost_total`` (dollars); latency ``generation_time_ms`` (empty: unknown); status 500 when
    ``finish_reason_normalized`` is ``error``, else 200. The export has no tags: the API key
    name, app and user become the tags ``key/<api_key_name>``, ``app/<app_name>`` and
    ``user/<user>`` (each when not empty); the key name and user also fill ``key`` and
    ``user``.

    >>> import io
    >>> csv_text = ('generation_id,created_at,cost_total,tokens_prompt,tokens_completion,'
    ...             'model_permaslug,api_key_name\\n'
    ...             'gen-1,2026-02-06 18:54:30.040,0.00012,100,20,openai/gpt-oss-120b,prod-key\\n')
    >>> log = read_openrouter_activity(io.StringIO(csv_text))
    >>> len(log), log.cost.tolist()
    (1, [120000])
    """
    return _to_log(
        source,
        parse_openrouter_activity(source, policy=policy, on_error=on_error),
        policy,
        on_error,
    )
