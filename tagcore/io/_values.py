"""Every parser of money, time, counts and missing values that the readers use, in one place.

Two families, kept as they were so that results stay identical: the **native** column
converters (JSONL, CSV, Arrow string columns; vectorised, problems collected per row in a
:class:`~tagcore.io._common._Problems`) and the **vendor** scalar parsers (one value of one
record; a bad value raises :class:`_RowError`). Both are to become calls of
:mod:`tagcore.coerce`, here and nowhere else.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd

from tagcore.io._common import _Problems
from tagcore.log import NANOS_PER_DOLLAR

# ============================================================ native columns


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


def _float_dollars_to_nanos(dollars: np.ndarray, probs: _Problems) -> np.ndarray:
    """int64 nano-dollars of a float64 dollar column (NaN = missing, already reported): 0 for
    missing and for amounts that do not fit, which are reported."""
    miss = np.isnan(dollars)
    big = dollars > 9e9
    probs.add("cost", big, lambda r: "does not fit in int64 nano-dollars")
    return np.rint(np.where(miss | big, 0.0, dollars) * NANOS_PER_DOLLAR).astype(np.int64)


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


# ============================================================= vendor values


class _RowError(Exception):
    """A bad value in one row; ``field`` is the dotted path of the value."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


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


def _latency_between(start: datetime, end: datetime, field: str) -> float:
    ms = (end - start).total_seconds() * 1000.0
    if ms < 0:
        raise _RowError(field, "ends before it starts")
    return ms


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


def _get(obj: Any, path: str) -> Any:
    """``a.b.c`` lookup through dicts; None when any step is missing or not a dict."""
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


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
