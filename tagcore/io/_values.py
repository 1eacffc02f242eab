"""The readers' face of :mod:`tagcore.coerce`: the same rules of money, time, counts, status
and usage, shaped for the two ways readers report a bad value.

* **native columns** (JSONL, CSV, Arrow): vectorised over a column; bad and missing values are
  collected per row in a :class:`~tagcore.io._common._Problems` (the reason is what
  :mod:`tagcore.coerce` says of that one value);
* **vendor values** (one field of one record): a bad value raises :class:`_RowError` with the
  dotted path of the field.

Nothing here parses a number or a time itself: every value goes through :mod:`tagcore.coerce`,
so a record gives the same nano-dollars, instant and tokens through every door.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from tagcore.coerce import (
    I64_MAX,
    counts_masked,
    dollars_to_nanos,
    dollars_to_nanos_masked,
    floats_masked,
    is_missing,
    parse_status,
    parse_usage,
    statuses_masked,
    time_to_nanos,
    times_to_nanos_masked,
    to_count,
    to_decimal,
    to_latency_ms,
)
from tagcore.coerce import _short as _short
from tagcore.errors import CoerceError
from tagcore.io._common import _Problems

if TYPE_CHECKING:
    import pandas as pd

# ============================================================ native columns


def _why(fn: Callable[..., Any], value: Any, field: str, **kw: Any) -> str:
    """What :mod:`tagcore.coerce` says of one bad value (its reason, without the field)."""
    try:
        fn(value, field=field, **kw)
    except CoerceError as exc:
        return exc.reason
    return f"cannot read {_short(value)}"


def _item(vals: Any, r: int) -> Any:
    v = vals[r]
    return v.item() if isinstance(v, np.generic) and not isinstance(v, np.datetime64) else v


def _obj_ints(vals: Any, column: str, probs: _Problems, *, default: int | None = None,
              limit: int = I64_MAX) -> np.ndarray:
    """int64 column of counts (:func:`tagcore.coerce.to_count`, at most ``limit``); a
    missing value is ``default``, or a problem when there is none."""
    if limit == 999:  # a status: also LiteLLM's "success" / "failure"
        out, miss, bad = statuses_masked(vals, column)
    else:
        out, miss, bad = counts_masked(vals, column, limit=limit)
    if default is None:
        probs.add(column, miss, lambda r: "missing value")
    elif miss.any():
        out[miss] = default
    what = " (an HTTP status 0..999)" if limit == 999 else ""

    def reason(r: int) -> str:
        v = _item(vals, r)
        if limit == 999:
            return _why(parse_status, v, column)
        why = _why(to_count, v, column)
        return (why if why != f"cannot read {_short(v)}" else f"{_short(v)} is above {limit}"
                ) + what

    probs.add(column, bad, reason)
    return out


def _obj_floats(vals: Any, column: str, probs: _Problems, *, required: bool = False
                ) -> np.ndarray:
    """float64 column (latency): finite and >= 0; missing -> NaN (unknown), or a problem
    when ``required``."""
    out, miss, bad = floats_masked(vals, column)
    probs.add(column, bad, lambda r: _why(to_latency_ms, _item(vals, r), column))
    if required:
        probs.add(column, miss, lambda r: "missing value")
    return out


def _obj_dollars(vals: Any, column: str, probs: _Problems) -> np.ndarray:
    """int64 nano-dollars of a dollar column (:func:`tagcore.coerce.dollars_to_nanos`, one
    rule for floats, text and decimals); missing, negative and unreadable values are
    problems, never zeros."""
    out, miss, bad = dollars_to_nanos_masked(vals, column)
    neg = out < 0
    probs.add(column, miss, lambda r: "missing value")
    probs.add(column, bad, lambda r: _why(dollars_to_nanos, _item(vals, r), column))
    probs.add(column, neg, lambda r: f"must be >= 0, got {_short(_item(vals, r))}")
    if neg.any():
        out[neg] = 0
    return out


def _obj_ts(vals: Any, column: str, probs: _Problems, *, unit: str = "s", tz: Any = None
            ) -> np.ndarray:
    """int64 ns UTC (:func:`tagcore.coerce.time_to_nanos`: ISO text, naive = UTC or ``tz``;
    epoch numbers in ``unit``)."""
    out, miss, bad = times_to_nanos_masked(vals, unit=unit, tz=tz, field=column)
    probs.add(column, miss, lambda r: "missing value")
    probs.add(column, bad, lambda r: _why(time_to_nanos, _item(vals, r), column, unit=unit,
                                          tz=tz))
    return out


# ============================================================= vendor values


class _RowError(Exception):
    """A bad value in one row; ``field`` is the dotted path of the value."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _is_missing(value: Any) -> bool:
    return is_missing(value)


def _row_error(exc: CoerceError, field: str) -> _RowError:
    return _RowError(field, exc.reason)


def _int(value: Any, field: str, default: int | None = None) -> int:
    """A count (:func:`tagcore.coerce.to_count`); missing -> ``default`` or an error."""
    if is_missing(value):
        if default is None:
            raise _RowError(field, "missing")
        return default
    try:
        return to_count(value, field)
    except CoerceError as exc:
        raise _row_error(exc, field) from None


def _float(value: Any, field: str, default: float | None = None) -> float:
    """A finite number >= 0 (:func:`tagcore.coerce.to_latency_ms`'s rule)."""
    if is_missing(value):
        if default is None:
            raise _RowError(field, "missing")
        return default
    try:
        return to_latency_ms(value, field)
    except CoerceError as exc:
        raise _row_error(exc, field) from None


def _opt_float(value: Any, field: str) -> float | None:
    return None if is_missing(value) else _float(value, field)


def _seconds_to_ms(value: Any, field: str) -> float | None:
    return None if is_missing(value) else _float(value, field) * 1000.0


def _dollars(value: Any, field: str) -> Any:
    """An exact dollar amount (:func:`tagcore.coerce.to_decimal`; checked to fit the
    nano-dollar column), or None when missing."""
    if is_missing(value):
        return None
    try:
        d = to_decimal(value, field)
        dollars_to_nanos(d, field)
    except CoerceError as exc:
        raise _row_error(exc, field) from None
    if d < 0:
        raise _RowError(field, f"expected a non-negative dollar amount, got {_short(value)}")
    return d


def _time(value: Any, field: str) -> pd.Timestamp:
    """An instant (:func:`tagcore.coerce.time_to_nanos`: ISO text with up to nine fraction
    digits, naive = UTC; epoch seconds) as an aware UTC ``pandas.Timestamp``: a ``datetime``
    that keeps the nanoseconds, which every constructor reads back as the same instant."""
    if is_missing(value):
        raise _RowError(field, "missing")
    try:
        ns = time_to_nanos(value, field=field)
    except CoerceError as exc:
        raise _row_error(exc, field) from None
    import pandas as pd

    return pd.Timestamp(ns, unit="ns", tz="UTC")


def _latency_between(start: pd.Timestamp, end: pd.Timestamp, field: str) -> float:
    ns = end.value - start.value
    if ns < 0:
        raise _RowError(field, "ends before it starts")
    return ns / 1e6


def _status_of_litellm(value: Any, field: str) -> int:
    """``success``/``failure`` or an HTTP status (:func:`tagcore.coerce.parse_status`);
    missing = 200."""
    if is_missing(value):
        return 200
    try:
        status = parse_status(value, field)
    except CoerceError as exc:
        raise _row_error(exc, field) from None
    if not 100 <= status <= 599:
        raise _RowError(
            field, f"expected 'success', 'failure' or an HTTP status, got {_short(value)}"
        )
    return status


def _get(obj: Any, path: str) -> Any:
    """``a.b.c`` lookup through dicts; None when any step is missing or not a dict."""
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _usage(usage: Any, field: str) -> dict[str, int]:
    """Tokens of a usage object (:func:`tagcore.coerce.parse_usage`: Chat Completions,
    Responses API, Anthropic, LiteLLM) as the dict :func:`_price` takes; a usage without
    prompt or input tokens is refused, never read as zero."""
    if not isinstance(usage, Mapping):
        raise _RowError(field, f"expected an object, got {_short(usage)}")
    try:
        u = parse_usage(usage, field)
    except CoerceError as exc:
        raise _RowError(exc.field, exc.reason) from None
    if not u.known:
        raise _RowError(field + ".prompt_tokens", "missing (no prompt_tokens or input_tokens)")
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "cached_tokens": u.cached_tokens,
        "cache_creation_tokens": u.cache_write_tokens,
        "reasoning_tokens": u.reasoning_tokens,
    }
