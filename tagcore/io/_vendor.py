"""What the vendor readers share: OpenAI-style JSONL, LiteLLM SpendLogs, Helicone, Langfuse, OpenRouter.

Each format has two layers:

* a pure **parser** ``parse_<format>(source, ...) -> (records, skipped)`` that yields the record
  dicts of ``RequestLog.from_records`` (``ts``, ``model``, ``prompt_tokens``,
  ``completion_tokens``, ``cost`` or ``cost_nanos``, ``latency_ms``, ``status``,
  ``request_tags`` and the optional ``cached_tokens``, ``reasoning_tokens``, ``request_id``,
  ``user``, ``key``) and the list of messages of the rows it skipped;
* a public **reader** ``read_<format>(source, ...) -> RequestLog`` that passes them on.

Every reader takes a path, ``"-"`` (stdin) or a text/binary file object (gzip and a
UTF-8 byte-order mark are recognised, as by the native readers), and ``on_error="raise"`` (the first bad
row raises a :class:`FormatError`) or ``"skip"`` (bad rows are left out and counted; a warning
gives the count and the first few reasons). Messages name the file, the line (JSONL, CSV: the
line where the row starts) or record (JSON arrays: ``record 3``, 1-based), the field and the
reason::

    requests.jsonl:17: response.usage.prompt_tokens: expected a non-negative integer, got 'abc'

**Two paths, one answer.** Each ``read_<format>`` first tries its compiled path
(:mod:`tagcore.io._vendor_fast`: pyarrow parses the file with an explicit schema of only the
fields the reader uses, every column is computed with Arrow and numpy through
:mod:`tagcore.coerce`, distinct tag strings and metadata mappings are read once), which
answers only when it gives the log of the exact per-row Python path below, bit for bit; at
any doubt (a bad or missing value, a type it does not read, a key spelled another way) it
refuses and the Python path reads the file, so errors, warnings and skipped rows are always
the Python path's. ``parse_<format>`` is always the Python path.

A reader refuses input that is not its format before reading any row: when none of its
format's key fields is in the CSV header or the first 100 records (or a field of another
format that shares one of them is), it raises a :class:`FormatError` that names the fields it
looked for and, when they are those of another format, the reader of that one (the table of
:mod:`tagcore.io._shapes`, which :func:`~tagcore.io.read_any` recognises formats by). A
billing tool never reads a file it does not understand as zeros.

The layout comes from the suffix table of :mod:`tagcore.io._common` (``.csv``, ``.jsonl``,
``.ndjson``; any other name, ``.json`` too, is decided by the content: ``[`` or ``{`` is JSON,
an array, one object, an API page ``{"data": [...]}`` or JSONL; anything else is CSV).

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
import itertools
import json
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any, Literal

from tagcore.errors import TagcoreError
from tagcore.io._common import (
    Source,
    _check_on_error,
    _decode,
    _name_of,
    _note_problems,
    _read_bytes,
    format_of,
)
from tagcore.io._shapes import SAMPLE, Shape, hint, refusal
from tagcore.io._values import _is_missing, _RowError, _short
from tagcore.tags import (  # map_key_value_tag: defined with the tags, exported here
    TagError,
    TagPolicy,
    map_key_value_tag,
    normalize_tags,
    tags_from_mapping,
)

if TYPE_CHECKING:
    from tagcore.log import RequestLog
    from tagcore.prices import PriceTable

__all__ = ["FormatError", "map_key_value_tag"]

OnError = Literal["raise", "skip"]
KeyValue = Literal["path", "keep"]
Record = dict[str, Any]
Parsed = tuple[list[Record], list[str]]

_MAX_REASONS = 5
UNKNOWN_MODEL = "(unknown)"


class FormatError(TagcoreError, ValueError):
    """A malformed input file: the message names the file, line/row, field and reason."""


# ==================================================================== values


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


# ====================================================================== tags


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


# ====================================================================== rows


Row = tuple[str, Any]  # (location, dict-with-lower-case-keys | _RowError)


def _lower_keys(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k).strip().lower(): v for k, v in obj.items()}


def _rows_jsonl(fh: IO[str], name: str) -> Iterator[Row]:
    for lineno, line in enumerate(fh, 1):
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


def _rows_json(fh: IO[str], name: str) -> Iterator[Row]:
    text = fh.read()
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


def _rows_csv(fh: IO[str], name: str, required: tuple[str, ...],
              shape: Shape | None = None) -> Iterator[Row]:
    reader = csv.reader(fh)
    try:
        header = next(reader)
    except StopIteration:
        raise FormatError(f"{name}: empty file (no header)") from None
    cols = [h.strip().lower() for h in header]
    missing = [c for c in required if c.lower() not in cols]
    if missing:
        msg = (f"{name}:1: missing required column{'s' if len(missing) > 1 else ''} "
               + ", ".join(repr(c) for c in missing))
        if shape is not None and not shape.matches(cols):
            msg += hint(shape, set(cols))
        raise FormatError(msg)
    if shape is not None:
        wrong = refusal(shape, set(cols), name, None)
        if wrong is not None:
            raise wrong
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


def _kind_of(name: str, text: str) -> str:
    """'csv', 'jsonl' or 'json' from the file name (the one suffix table), else from the first
    characters: ``[`` or ``{`` is 'json' (an array, one object, an API page ``{"data": [...]}``
    or JSONL, decided by :func:`_rows_json`), anything else 'csv'."""
    kind = format_of(name)
    if kind in ("csv", "jsonl"):
        return kind
    return "json" if re.match(r"\s*[\[{]", text) else "csv"


def _rows(source: Source, required_csv: tuple[str, ...] = (),
          shape: Shape | None = None) -> Iterator[Row]:
    """The rows of a vendor file. With ``shape`` (the reader's format, :mod:`tagcore.io._shapes`)
    input that is not of that format is refused before any row is parsed: the CSV header,
    or the fields of the first :data:`~tagcore.io._shapes.SAMPLE` JSON records."""
    data, name = _read_bytes(source)
    text = _decode(data, lambda line, reason: FormatError(f"{name}:{line}: {reason}"))
    del data
    fh = io.StringIO(text, newline="")
    kind = _kind_of(name, text)
    if kind == "csv":
        yield from _rows_csv(fh, name, required_csv, shape)
        return
    rows = _rows_jsonl(fh, name) if kind == "jsonl" else _rows_json(fh, name)
    if shape is None:
        yield from rows
        return
    first = list(itertools.islice(rows, SAMPLE))
    records = [r for _, r in first if isinstance(r, Mapping)]
    if records:
        found = {str(k).strip().lower() for r in records for k in r}
        wrong = refusal(shape, found, name, len(records))
        if wrong is not None:
            raise wrong
    yield from first
    yield from rows


def _collect(
    rows: Iterator[Row], parse: Callable[[dict[str, Any]], Record | None], on_error: OnError
) -> Parsed:
    """Run ``parse`` on every row; raise on the first error or collect the skipped ones."""
    on_error = _check_on_error(on_error)
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


# ========================================================== records to a log


def _to_log(
    source: Source, parsed: Parsed, policy: TagPolicy | None, on_error: OnError
) -> RequestLog:
    """Records -> ``RequestLog``; skipped rows are warned about and added to the log's
    ``dropped_rows`` count and ``problems`` list. A record without a cost (a source that
    gives none, or a model the price table could not price) is unpriced: 0 in the sums,
    flagged in the log's ``unpriced`` column and counted per model in ``problems`` (with the
    table's reason, e.g. ``unknown model``)."""
    from tagcore.log import RequestLog

    on_error = _check_on_error(on_error)  # type: ignore[assignment]
    records, skipped = parsed
    if skipped:
        first = "; ".join(skipped[:_MAX_REASONS])
        more = "" if len(skipped) <= _MAX_REASONS else f"; ... ({len(skipped) - _MAX_REASONS} more)"
        warnings.warn(f"skipped {len(skipped)} bad row(s): {first}{more}", stacklevel=3)
    reasons: dict[str, str] = {}
    for r in records:
        why = r.pop(_UNPRICED_WHY, None)
        if why is not None:
            reasons.setdefault(r["model"], why)
    log = RequestLog._from_records(
        records,
        policy=policy,
        on_error="drop" if on_error == "skip" else "raise",
        source=_name_of(source),
        unpriced_reasons=reasons,
    )
    if skipped:
        _note_problems(log, len(skipped), skipped)
    return log


_PENDING = "_price_tokens"
_UNPRICED_WHY = "_unpriced_reason"  # why the table could not price a record (for problems)


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
    ``cost_nanos`` when priced; otherwise ``cost=None`` and ``unpriced=1`` (unknown, never
    zero), with the table's reason kept for the log's ``problems`` (:func:`_to_log`).
    Dated and provider-prefixed names resolve as :meth:`PriceTable.resolve` says."""
    records, skipped = parsed
    todo = [r for r in records if _PENDING in r]
    if prices is None or not todo:
        return parsed
    import numpy as np

    tokens = np.array([r[_PENDING] for r in todo], dtype=np.int64).reshape(len(todo), 5)
    nanos, unpriced = prices.price_many([r["model"] for r in todo], *tokens.T)
    reasons = prices.unpriced_reasons if unpriced.any() else {}
    for r, n, bad in zip(todo, nanos.tolist(), unpriced.tolist()):
        del r[_PENDING]
        if bad:
            r["cost"] = None
            r["unpriced"] = 1
            r[_UNPRICED_WHY] = reasons.get(r["model"], "unknown model")
        else:
            r["cost_nanos"] = n
    return records, skipped
