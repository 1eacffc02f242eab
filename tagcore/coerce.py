"""One way to read money, time and usage: every constructor, reader, the recorder, the budgets
and the command line go through this module, so one value gives the same nano-dollars, the
same instant and the same tokens whichever door it came in by.

Money
    Dollars become integer **nano-dollars** (int64). A float is read through its shortest
    decimal form (``repr``: ``0.1`` is exactly ``100_000_000``), a string or ``Decimal`` as
    written (a leading ``$`` is allowed), an int exactly; the one rounding rule is half-even
    to the nano-dollar. The vectorised :func:`dollars_to_nanos_array` gives exactly what the
    scalar :func:`dollars_to_nanos` gives, element for element.

Time
    An instant becomes int64 **nanoseconds since the epoch, UTC**. ISO 8601 text
    (``2026-01-01T10:00:00.123456789Z``, a space for the ``T``, offsets ``Z``, ``±HH``,
    ``±HHMM``, ``±HH:MM``; a date alone is its midnight) keeps all nine fraction digits;
    naive text is UTC unless a ``tz`` is given. Epoch **numbers** (ints, floats, or numeric
    text) are in ``unit``: seconds by default, or ``"ms"``, ``"us"``, ``"ns"``; a float is read
    through its shortest decimal form and rounded half-even to the nanosecond. A number that
    does not fit the unit (say milliseconds read as seconds) is refused with a hint.
    ``datetime``, ``date``, pandas ``Timestamp`` and ``numpy.datetime64`` values are instants
    already (naive ones are UTC, or in ``tz``).

Usage
    :func:`parse_usage` reads an OpenAI Chat Completions or Responses API usage object (and
    Anthropic's, and LiteLLM's cache fields) into :class:`Usage`: prompt, completion, cached
    (cache read), cache-write and reasoning tokens, and whether usage was known at all.

Every refusal is a :class:`~tagcore.errors.CoerceError` that names the field and the reason
(and the row, from the array functions).

>>> dollars_to_nanos(0.1), dollars_to_nanos("$1.5e-9"), dollars_to_nanos(2)
(100000000, 2, 2000000000)
>>> time_to_nanos("2026-01-01T00:00:00.000000001Z")
1767225600000000001
>>> time_to_nanos(1767225600) == time_to_nanos("2026-01-01") == time_to_nanos(1767225600000, unit="ms")
True
>>> parse_usage({"input_tokens": 1000, "output_tokens": 200,
...              "input_tokens_details": {"cached_tokens": 400, "cache_write_tokens": 100}})
Usage(prompt_tokens=1000, completion_tokens=200, cached_tokens=400, cache_write_tokens=100, reasoning_tokens=0, known=True)
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any, NamedTuple

import numpy as np

from tagcore.errors import CoerceError

__all__ = [
    "NANOS_PER_DOLLAR",
    "TIME_UNITS",
    "Usage",
    "dollars_to_nanos",
    "dollars_to_nanos_array",
    "dollars_to_nanos_masked",
    "to_decimal",
    "time_to_nanos",
    "times_to_nanos",
    "times_to_nanos_masked",
    "to_count",
    "counts_masked",
    "parse_usage",
    "parse_status",
    "to_latency_ms",
    "floats_masked",
    "is_missing",
]

NANOS_PER_DOLLAR = 10**9
I64_MAX = 2**63 - 1
TIME_UNITS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_CTX = Context(prec=80, Emax=10**6, Emin=-(10**6))
_MISSING_TEXT = ("", "none", "null", "nan", "nat")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_missing(value: Any) -> bool:
    """True for what files write for "no value": None, NaN, NaT and empty or null text.

    >>> [is_missing(v) for v in (None, float("nan"), "", " null ", 0, "0")]
    [True, True, True, True, False, False]
    """
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    if isinstance(value, str):
        return value.strip().lower() in _MISSING_TEXT
    if isinstance(value, np.floating):
        return bool(np.isnan(value))
    if isinstance(value, np.datetime64):
        return bool(np.isnat(value))
    return type(value).__name__ == "NaTType"


# ============================================================================== money


def to_decimal(value: Any, field: str = "cost") -> Decimal:
    """The exact decimal a number means: a float through its shortest ``repr``, text and
    ``Decimal`` as written (a leading ``$`` allowed), an int exactly. Refuses booleans,
    NaN and infinities.

    >>> to_decimal(0.1), to_decimal(" $2.50 "), to_decimal(3)
    (Decimal('0.1'), Decimal('2.50'), Decimal('3'))
    """
    if isinstance(value, bool) or value is None:
        raise CoerceError(field, f"expected a number, got {_short(value)}", value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CoerceError(field, f"expected a finite number, got {_short(value)}", value)
        return Decimal(float.__repr__(value))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("$"):
            text = text[1:].lstrip()
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise CoerceError(field, f"expected a number, got {_short(value)}", value) from None
    elif isinstance(value, np.integer):
        return Decimal(int(value))
    elif isinstance(value, np.floating):
        return to_decimal(float(value), field)
    else:
        raise CoerceError(field, f"expected a number, got {type(value).__name__} "
                          f"{_short(value)}", value)
    if not d.is_finite():
        raise CoerceError(field, f"expected a finite number, got {_short(value)}", value)
    return d


def _scale(d: Decimal, scale: int, field: str, value: Any, what: str) -> int:
    """``d * scale`` rounded half-even to an integer that fits int64."""
    if d.adjusted() > 30:
        raise CoerceError(field, f"{_short(value)} is too large: {what} must fit in int64",
                          value)
    n = int(_CTX.multiply(d, Decimal(scale)).to_integral_value(rounding=ROUND_HALF_EVEN,
                                                               context=_CTX))
    if not -I64_MAX <= n <= I64_MAX:
        raise CoerceError(field, f"{_short(value)} is too large: {what} must fit in int64",
                          value)
    return n


def dollars_to_nanos(value: Any, field: str = "cost") -> int:
    """Dollars (float, int, str or Decimal) to integer nano-dollars, half-even.

    >>> dollars_to_nanos(0.1), dollars_to_nanos("1.5e-9"), dollars_to_nanos(2.5e-9)
    (100000000, 2, 2)
    >>> dollars_to_nanos("1e30")
    Traceback (most recent call last):
    ...
    tagcore.errors.CoerceError: cost: '1e30' is too large: nano-dollars must fit in int64
    """
    if type(value) is float:
        # the rule of _scale_floats, one value at a time (the recorder's hot path): below
        # 2**40 nanos ($1,099) ulp(y) <= 2**-12, so y within 0.499 of an integer r means the
        # exact decimal product (within 1.5 ulp of y) also rounds to r
        y = value * 1e9
        if -1.0995e12 < y < 1.0995e12:
            r = round(y)
            if -0.499 < y - r < 0.499:
                return r
    elif type(value) is int:
        n = value * NANOS_PER_DOLLAR
        if -I64_MAX <= n <= I64_MAX:
            return n
    return _scale(to_decimal(value, field), NANOS_PER_DOLLAR, field, value, "nano-dollars")


def _scale_floats(x: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """``round_half_even(shortest_decimal(x) * scale)`` for a float64 array, vectorised.

    ``y = x * scale`` in floating point is within 1.5 ulp(y) of the exact decimal product
    (0.5 ulp from reading x's shortest decimal as x, scaled, and 0.5 ulp from the product),
    so wherever y is more than 4 ulp away from a half-integer, ``rint(y)`` is the exact
    answer. The rest (ties and near-ties, and |y| >= 2**51) take the scalar path.
    Returns (values, not-finite mask); out-of-range values are left to the caller's scalar
    path too (marked in the mask of the second return value as bad)."""
    n = x.shape[0]
    finite = np.isfinite(x)
    with np.errstate(invalid="ignore", over="ignore"):
        y = x * float(scale)
        fast = finite & (np.abs(y) < 2.0**51)
        yy = np.where(fast, y, 0.0)
        frac = yy - np.floor(yy)
        near = np.abs(frac - 0.5) <= 4.0 * np.spacing(np.abs(yy))
    out = np.rint(yy).astype(np.int64)
    slow = np.flatnonzero(finite & (~fast | near))
    bad = ~finite
    if slow.size:
        for i in slow.tolist():
            try:
                out[i] = _scale(Decimal(float.__repr__(float(x[i]))), scale, "", None, "")
            except CoerceError:
                bad[i] = True
                out[i] = 0
    if n and bad.any():
        out[bad] = 0
    return out, bad


def _as_1d(values: Any) -> np.ndarray:
    """A 1-d numpy view of a column: numeric and datetime arrays stay typed; a pandas
    Series' missing values become None; mixed lists become object arrays."""
    if not isinstance(values, np.ndarray) and type(values).__module__.startswith("pandas"):
        import pandas as pd

        if isinstance(values, (pd.Series, pd.Index)):
            if isinstance(values.dtype, pd.DatetimeTZDtype) or values.dtype.kind == "M":
                return _pandas_times(pd.Series(values), pd)
            if values.dtype.kind in "fiub" and not isinstance(values.dtype, pd.api.extensions
                                                               .ExtensionDtype):
                return values.to_numpy()
            return values.to_numpy(dtype=object, na_value=None)
    if isinstance(values, (list, tuple)):
        try:
            arr = np.array(values)
        except (ValueError, OverflowError, TypeError):
            arr = None
        if arr is None or arr.dtype.kind not in "fiu" or arr.ndim != 1:
            arr = np.empty(len(values), dtype=object)
            arr[:] = list(values)
        return arr
    arr = np.asarray(values)
    return arr.reshape(-1) if arr.ndim != 1 else arr


def _pandas_times(s: Any, pd: Any) -> np.ndarray:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    return s.to_numpy("datetime64[ns]")


def dollars_to_nanos_masked(values: Any, field: str = "cost"
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised :func:`dollars_to_nanos`: ``(nanos, missing, bad)``; missing values
    (None, NaN, empty text) and bad ones come out as 0 with their masks set.

    >>> n, miss, bad = dollars_to_nanos_masked([0.1, None, "x", "2"])
    >>> n.tolist(), miss.tolist(), bad.tolist()
    ([100000000, 0, 0, 2000000000], [False, True, False, False], [False, False, True, False])
    """
    arr = _as_1d(values)
    n = arr.shape[0]
    if arr.dtype.kind == "f":
        x = arr.astype(np.float64, copy=False)
        miss = np.isnan(x)
        out, bad = _scale_floats(x, NANOS_PER_DOLLAR)
        bad &= ~miss
        return out, miss, bad
    if arr.dtype.kind in "iu":
        a = arr.astype(np.int64) if arr.dtype != np.uint64 else arr
        lim = I64_MAX // NANOS_PER_DOLLAR
        bad = (a > lim) | (a < -lim) if a.dtype != np.uint64 else a > lim
        out = np.where(bad, 0, a).astype(np.int64) * NANOS_PER_DOLLAR
        return out, np.zeros(n, dtype=bool), np.asarray(bad)
    if arr.dtype.kind == "b":
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool), np.ones(n, dtype=bool)
    out = np.zeros(n, dtype=np.int64)
    miss = np.zeros(n, dtype=bool)
    bad = np.zeros(n, dtype=bool)
    floats = np.zeros(n, dtype=bool)
    fv = np.zeros(n, dtype=np.float64)
    objs = arr.tolist()
    for i, v in enumerate(objs):
        if type(v) is float:
            if v != v:
                miss[i] = True
            else:
                floats[i] = True
                fv[i] = v
            continue
        if is_missing(v):
            miss[i] = True
            continue
        try:
            out[i] = dollars_to_nanos(v, field)
        except CoerceError:
            bad[i] = True
    if floats.any():
        idx = np.flatnonzero(floats)
        o, b = _scale_floats(fv[idx], NANOS_PER_DOLLAR)
        out[idx] = o
        bad[idx] = b
    return out, miss, bad


def _first_error(values: Any, idx: int, field: str, fn: Any, **kw: Any) -> CoerceError:
    arr = _as_1d(values)
    v = arr[idx]
    v = v.item() if isinstance(v, np.generic) and not isinstance(v, np.datetime64) else v
    try:
        fn(v, field=field, **kw)
    except CoerceError as exc:
        return CoerceError(field, exc.reason, v, row=idx)
    return CoerceError(field, f"cannot read {_short(v)}", v, row=idx)  # pragma: no cover


def dollars_to_nanos_array(values: Any, field: str = "cost", *, missing: str = "raise"
                           ) -> np.ndarray:
    """Vectorised :func:`dollars_to_nanos` that refuses: the error names the first bad row
    (``missing="zero"`` would be a silent wrong answer, so there is none: missing values
    raise too).

    >>> dollars_to_nanos_array([0.1, 0.2, 1e-9]).tolist()
    [100000000, 200000000, 1]
    >>> dollars_to_nanos_array([0.5, float("nan")])
    Traceback (most recent call last):
    ...
    tagcore.errors.CoerceError: row 1, column cost: missing value
    """
    out, miss, bad = dollars_to_nanos_masked(values, field)
    if miss.any():
        i = int(np.flatnonzero(miss)[0])
        raise CoerceError(field, "missing value", None, row=i)
    if bad.any():
        raise _first_error(values, int(np.flatnonzero(bad)[0]), field, dollars_to_nanos)
    return out


# ============================================================================== time

_ISO = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})"
    r"(?:[Tt ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?"
    r"\s*(?P<z>[Zz]|UTC|[+-]\d{2}(?::?\d{2})?)?"
)
_EPOCH_NUM = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_EPOCH_ORD = _dt.date(1970, 1, 1).toordinal()
_UTC = _dt.timezone.utc


def _unit_factor(unit: str) -> int:
    try:
        return TIME_UNITS[unit]
    except (KeyError, TypeError):
        raise CoerceError("ts_unit", f"expected one of 's', 'ms', 'us', 'ns', got {unit!r}",
                          unit) from None


def _zone(tz: Any) -> _dt.tzinfo | None:
    if tz is None or isinstance(tz, _dt.tzinfo):
        return tz
    if isinstance(tz, str):
        if tz.upper() == "UTC":
            return _UTC
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            return ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise CoerceError("tz", f"unknown time zone {tz!r}", tz) from None
    raise CoerceError("tz", f"expected a time zone name or tzinfo, got {_short(tz)}", tz)


def _unit_hint(d: Decimal, factor: int) -> str:
    """A hint when a number read in a coarse unit would be a plausible instant (1973..2128)
    in a finer one."""
    if d.adjusted() > 30:  # far beyond any unit (and beyond the default context's range)
        return ""
    for name, f in (("ms", 10**6), ("us", 10**3), ("ns", 1)):
        as_secs = abs(d) * f / Decimal(10**9)
        if f < factor and Decimal(10**8) <= as_secs <= Decimal(5 * 10**9):
            return f" (it looks like epoch {_UNIT_WORDS[name]}: pass ts_unit={name!r})"
    return ""


_UNIT_WORDS = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}


def _epoch(d: Decimal, factor: int, field: str, value: Any, unit: str) -> int:
    try:
        return _scale(d, factor, field, value, "nanoseconds")
    except CoerceError:
        raise CoerceError(field, f"{_short(value)} is out of range for epoch "
                          f"{_UNIT_WORDS[unit]} (int64 nanoseconds reach 1677..2262)"
                          f"{_unit_hint(d, factor)}", value) from None


def _civil_ns(y: int, mo: int, d: int, h: int, mi: int, s: int, ns: int,
              tz: _dt.tzinfo | None, offset_s: int | None) -> int:
    """ns of a wall time; ``offset_s`` given (text offset) or the zone's offset (fold=0)."""
    days = _dt.date(y, mo, d).toordinal() - _EPOCH_ORD
    secs = days * 86400 + h * 3600 + mi * 60 + s
    if offset_s is None and tz is not None and tz is not _UTC:
        off = _dt.datetime(y, mo, d, h, mi, s, tzinfo=tz).utcoffset()
        offset_s = int(off.total_seconds()) if off is not None else 0
    return (secs - (offset_s or 0)) * 10**9 + ns


def _parse_iso(text: str, tz: _dt.tzinfo | None, field: str, value: Any) -> int:
    m = _ISO.fullmatch(text)
    if m is None:
        raise CoerceError(field, f"cannot read {_short(value)} as a time (ISO 8601 or epoch "
                          "number expected)", value)
    g = m.groupdict()
    frac = g["f"] or ""
    ns = int(frac.ljust(9, "0")) if frac else 0
    z = g["z"]
    offset = None
    if z is not None:
        if z in ("Z", "z", "UTC"):
            offset = 0
        else:
            sign = -1 if z[0] == "-" else 1
            digits = z[1:].replace(":", "")
            hh, mm = int(digits[:2]), int(digits[2:] or 0)
            if hh > 23 or mm > 59:
                raise CoerceError(field, f"bad UTC offset in {_short(value)}", value)
            offset = sign * (hh * 3600 + mm * 60)
    try:
        h, mi, s = int(g["h"] or 0), int(g["mi"] or 0), int(g["s"] or 0)
        if h > 23 or mi > 59 or s > 59:
            raise ValueError("hour, minute or second out of range")
        out = _civil_ns(int(g["y"]), int(g["mo"]), int(g["d"]), h, mi, s, ns, tz, offset)
    except ValueError as exc:
        raise CoerceError(field, f"cannot read {_short(value)} as a time ({exc})",
                          value) from None
    if not -I64_MAX <= out <= I64_MAX:
        raise CoerceError(field, f"{_short(value)} is outside the int64 nanosecond range "
                          "(1677..2262)", value)
    return out


def time_to_nanos(value: Any, *, unit: str = "s", tz: Any = None, field: str = "ts") -> int:
    """One instant as int64 nanoseconds since the epoch, UTC (see the module's rules).

    >>> time_to_nanos("2026-03-29 01:30", tz="Europe/London") - time_to_nanos("2026-03-29T01:30Z")
    0
    >>> time_to_nanos("2026-06-01 12:00", tz="Europe/London") == time_to_nanos("2026-06-01T11:00Z")
    True
    >>> time_to_nanos(1.5), time_to_nanos("1700000000")
    (1500000000, 1700000000000000000)
    >>> time_to_nanos(1767225600000)
    Traceback (most recent call last):
    ...
    tagcore.errors.CoerceError: ts: 1767225600000 is out of range for epoch seconds (int64 nanoseconds reach 1677..2262) (it looks like epoch milliseconds: pass ts_unit='ms')
    """
    factor = _unit_factor(unit)
    if isinstance(value, bool) or is_missing(value):
        raise CoerceError(field, "missing value" if not isinstance(value, bool)
                          else f"expected a time, got {value!r}", value)
    if isinstance(value, (int, np.integer)):
        v = int(value)
        n = v * factor
        if -I64_MAX <= n <= I64_MAX:
            return n
        return _epoch(Decimal(v), factor, field, value, unit)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise CoerceError(field, f"expected a time, got {_short(value)}", value)
        return _epoch(Decimal(float.__repr__(float(value))), factor, field, value, unit)
    if isinstance(value, str):
        text = value.strip()
        if _EPOCH_NUM.fullmatch(text):
            return _epoch(Decimal(text), factor, field, value, unit)
        return _parse_iso(text, _zone(tz), field, value)
    if isinstance(value, np.datetime64):
        n = int(value.astype("datetime64[ns]").astype(np.int64))
        if value.astype("datetime64[ns]") != value:
            raise CoerceError(field, f"{_short(value)} is outside the int64 nanosecond range",
                              value)
        return n
    if isinstance(value, _dt.datetime):
        extra = int(getattr(value, "nanosecond", 0) or 0)  # pandas Timestamp
        offset = None
        if value.tzinfo is not None:
            off = value.utcoffset()
            offset = int(off.total_seconds()) if off is not None else 0
        out = _civil_ns(value.year, value.month, value.day, value.hour, value.minute,
                        value.second, value.microsecond * 1000 + extra,
                        _zone(tz), offset)
        if not -I64_MAX <= out <= I64_MAX:
            raise CoerceError(field, f"{_short(value)} is outside the int64 nanosecond range",
                              value)
        return out
    if isinstance(value, _dt.date):
        return _civil_ns(value.year, value.month, value.day, 0, 0, 0, 0, _zone(tz), None)
    raise CoerceError(field, f"expected a time, got {type(value).__name__} {_short(value)}",
                      value)


_DIGIT0 = ord("0")


def _iso_fast(strs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised reading of ``YYYY-MM-DD[T ]HH:MM:SS[.f{1,9}][Z|±HH:MM]`` (the common
    shapes); rows of any other shape, or that need a zone's rules, are left (ok=False) to
    the scalar parser, which is the definition."""
    n = len(strs)
    out = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=bool)
    if n == 0:
        return out, ok
    try:
        a = np.array(strs, dtype=np.str_)
    except (ValueError, TypeError):
        return out, ok
    width = a.dtype.itemsize // 4
    if width < 19 or width > 35:
        return out, ok
    c = a.view(np.uint32).reshape(n, width).astype(np.int64)
    lens = (c != 0).sum(axis=1)
    d = c - _DIGIT0
    isd = (d >= 0) & (d <= 9)

    def digits(lo: int, hi: int, rows: Any = slice(None)) -> np.ndarray:
        v = np.zeros(d.shape[0] if isinstance(rows, slice) else len(rows), dtype=np.int64)
        for k in range(lo, hi):
            v = v * 10 + d[rows, k]
        return v

    base = (isd[:, [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]].all(axis=1)
            & (c[:, 4] == 45) & (c[:, 7] == 45) & ((c[:, 10] == 84) | (c[:, 10] == 32))
            & (c[:, 13] == 58) & (c[:, 16] == 58))
    frac_ns = np.zeros(n, dtype=np.int64)
    offset = np.zeros(n, dtype=np.int64)
    matched = np.zeros(n, dtype=bool)
    for L in np.unique(lens[base]).tolist():
        for suf in (0, 1, 6):
            rest = L - 19 - suf
            if rest < 0 or rest == 1 or rest > 10:
                continue
            k = rest - 1 if rest else 0
            m = base & (lens == L) & ~matched
            if k:
                m &= (c[:, 19] == 46) & isd[:, 20:20 + k].all(axis=1)
            p = 19 + rest
            if suf == 1:
                m &= c[:, p] == 90
            elif suf == 6:
                m &= (((c[:, p] == 43) | (c[:, p] == 45)) & isd[:, p + 1] & isd[:, p + 2]
                      & (c[:, p + 3] == 58) & isd[:, p + 4] & isd[:, p + 5])
            rows = np.flatnonzero(m)
            if not rows.size:
                continue
            if k:
                frac_ns[rows] = digits(20, 20 + k, rows) * 10 ** (9 - k)
            if suf == 6:
                hh = d[rows, p + 1] * 10 + d[rows, p + 2]
                mm = d[rows, p + 4] * 10 + d[rows, p + 5]
                sign = np.where(c[rows, p] == 45, -1, 1)
                good = (hh <= 23) & (mm <= 59)
                offset[rows] = sign * (hh * 3600 + mm * 60)
                rows = rows[good]
            matched[rows] = True
    rows = np.flatnonzero(matched)
    if not rows.size:
        return out, ok
    y = digits(0, 4, rows)
    mo = digits(5, 7, rows)
    dd = digits(8, 10, rows)
    h = digits(11, 13, rows)
    mi = digits(14, 16, rows)
    s = digits(17, 19, rows)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    mdays = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
    dim = mdays[np.clip(mo, 0, 12)] + ((mo == 2) & leap)
    valid = ((mo >= 1) & (mo <= 12) & (dd >= 1) & (dd <= dim) & (h <= 23) & (mi <= 59)
             & (s <= 59) & (y >= 1678) & (y <= 2261))
    # days from civil (H. Hinnant), proleptic Gregorian
    yy = y - (mo <= 2)
    era = yy // 400
    yoe = yy - era * 400
    mp = (mo + 9) % 12
    doy = (153 * mp + 2) // 5 + dd - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    secs = days * 86400 + h * 3600 + mi * 60 + s - offset[rows]
    ns = secs * 10**9 + frac_ns[rows]
    rows = rows[valid]
    out[rows] = ns[valid]
    ok[rows] = True
    return out, ok


def times_to_nanos_masked(values: Any, *, unit: str = "s", tz: Any = None, field: str = "ts"
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised :func:`time_to_nanos`: ``(ns, missing, bad)``, element for element what
    the scalar function gives (0 where missing or bad).

    >>> ns, miss, bad = times_to_nanos_masked(["2026-01-01T00:00:00Z", None, "soon", 0])
    >>> ns.tolist(), miss.tolist(), bad.tolist()
    ([1767225600000000000, 0, 0, 0], [False, True, False, False], [False, False, True, False])
    """
    factor = _unit_factor(unit)
    zone = _zone(tz)
    arr = _as_1d(values)
    n = arr.shape[0]
    if arr.dtype.kind == "M":
        ns_arr = arr.astype("datetime64[ns]")
        miss = np.isnat(ns_arr)
        back = ns_arr.astype(arr.dtype)
        bad = ~miss & (back != arr)
        out = np.where(miss | bad, 0, ns_arr.view(np.int64))
        return out.astype(np.int64), miss, bad
    if arr.dtype.kind in "iu":
        lim = I64_MAX // factor
        a = arr
        bad = (a > lim) if a.dtype.kind == "u" else (a > lim) | (a < -lim)
        out = np.where(bad, 0, a).astype(np.int64) * factor
        return out, np.zeros(n, dtype=bool), np.asarray(bad)
    if arr.dtype.kind == "f":
        x = arr.astype(np.float64, copy=False)
        miss = np.isnan(x)
        out, bad = _scale_floats(x, factor)
        return out, miss, bad & ~miss
    if arr.dtype.kind == "b":
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool), np.ones(n, dtype=bool)
    objs = arr.tolist()
    out = np.zeros(n, dtype=np.int64)
    miss = np.zeros(n, dtype=bool)
    bad = np.zeros(n, dtype=bool)
    done = np.zeros(n, dtype=bool)
    if zone is None or zone is _UTC:
        sidx = [i for i, v in enumerate(objs) if type(v) is str and len(v) >= 19]
        if sidx:
            fast, fok = _iso_fast([objs[i] for i in sidx])
            idx = np.asarray(sidx, dtype=np.int64)
            out[idx[fok]] = fast[fok]
            done[idx[fok]] = True
    for i in np.flatnonzero(~done).tolist():
        v = objs[i]
        if is_missing(v):
            miss[i] = True
            continue
        try:
            out[i] = time_to_nanos(v, unit=unit, tz=zone, field=field)
        except CoerceError:
            bad[i] = True
    return out, miss, bad


def times_to_nanos(values: Any, *, unit: str = "s", tz: Any = None, field: str = "ts"
                   ) -> np.ndarray:
    """Vectorised :func:`time_to_nanos` that refuses, naming the first bad or missing row.

    >>> times_to_nanos(["2026-01-01", "2026-01-01T00:00:01.5Z"]).tolist()
    [1767225600000000000, 1767225601500000000]
    """
    out, miss, bad = times_to_nanos_masked(values, unit=unit, tz=tz, field=field)
    if miss.any():
        i = int(np.flatnonzero(miss)[0])
        raise CoerceError(field, "missing value", None, row=i)
    if bad.any():
        raise _first_error(values, int(np.flatnonzero(bad)[0]), field, time_to_nanos,
                           unit=unit, tz=tz)
    return out


# ============================================================================== counts


def to_count(value: Any, field: str) -> int:
    """A token (or other) count: an integer in ``[0, 2**63)``; whole floats and integer text
    are read, anything else is refused.

    >>> to_count(12, "prompt_tokens"), to_count(3.0, "x"), to_count(" 7 ", "x")
    (12, 3, 7)
    >>> to_count(2**70, "prompt_tokens")
    Traceback (most recent call last):
    ...
    tagcore.errors.CoerceError: prompt_tokens: expected an integer in [0, 2**63), got 1180591620717411303424
    """
    if type(value) is int:
        if 0 <= value <= I64_MAX:
            return value
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, (int, np.integer)):
        v = int(value)
        if 0 <= v <= I64_MAX:
            return v
    elif isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isfinite(f) and f.is_integer() and 0 <= f < 2.0**63:
            return int(f)
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\+?\d+(?:\.0*)?", text):
            v = int(text.lstrip("+").split(".")[0])
            if v <= I64_MAX:
                return v
    raise CoerceError(field, f"expected an integer in [0, 2**63), got {_short(value)}", value)


def counts_masked(values: Any, field: str = "count", *, limit: int = I64_MAX
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised :func:`to_count` with an upper ``limit``: ``(int64, missing, bad)``.

    >>> v, miss, bad = counts_masked([1, None, -2, "3"])
    >>> v.tolist(), miss.tolist(), bad.tolist()
    ([1, 0, 0, 3], [False, True, False, False], [False, False, True, False])
    """
    arr = _as_1d(values)
    n = arr.shape[0]
    if arr.dtype.kind in "iu":
        a = arr
        bad = (a > limit) if a.dtype.kind == "u" else (a < 0) | (a > limit)
        return (np.where(bad, 0, a).astype(np.int64), np.zeros(n, dtype=bool),
                np.asarray(bad))
    if arr.dtype.kind == "f":
        x = arr.astype(np.float64, copy=False)
        miss = np.isnan(x)
        with np.errstate(invalid="ignore"):
            good = ~miss & (x >= 0) & (x == np.floor(x)) & (x <= min(float(limit), 2.0**63))
            good &= x < 2.0**63
        out = np.where(good, x, 0).astype(np.int64)
        return out, miss, ~good & ~miss
    if arr.dtype.kind == "b":
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool), np.ones(n, dtype=bool)
    out = np.zeros(n, dtype=np.int64)
    miss = np.zeros(n, dtype=bool)
    bad = np.zeros(n, dtype=bool)
    for i, v in enumerate(arr.tolist()):
        if is_missing(v):
            miss[i] = True
            continue
        try:
            c = to_count(v, field)
        except CoerceError:
            bad[i] = True
            continue
        if c > limit:
            bad[i] = True
        else:
            out[i] = c
    return out, miss, bad


# ============================================================================== usage


class Usage(NamedTuple):
    """Tokens of one request. ``cached_tokens`` (cache reads) and ``cache_write_tokens``
    are part of ``prompt_tokens``; ``reasoning_tokens`` part of ``completion_tokens``.
    ``known`` is False when the response carried no usage (all counts are then 0 and the
    log marks the row ``usage_unknown``)."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    known: bool = True


UNKNOWN_USAGE = Usage(0, 0, 0, 0, 0, False)
_new_tuple = tuple.__new__


def _mapping(obj: Any, field: str) -> Mapping[str, Any] | None:
    if obj is None or isinstance(obj, Mapping):
        return obj
    dump = getattr(obj, "model_dump", None)  # OpenAI SDK (pydantic) objects
    if callable(dump):
        return dump()
    if hasattr(obj, "__dict__"):
        return vars(obj)
    raise CoerceError(field, f"expected an object, got {type(obj).__name__}", obj)


def _opt_count(m: Mapping[str, Any] | None, key: str, field: str) -> int:
    if m is None:
        return 0
    v = m.get(key)
    return 0 if v is None else to_count(v, f"{field}.{key}")


def parse_usage(usage: Any, field: str = "usage") -> Usage:
    """Tokens from an OpenAI usage object (Chat Completions or Responses API), Anthropic's
    ``/v1/messages`` usage, or LiteLLM's; a dict or an SDK object. ``None``, or a usage with
    no prompt/input tokens, is unknown usage (``known=False``).

    Chat: ``prompt_tokens``, ``completion_tokens``, ``prompt_tokens_details.cached_tokens``
    (or LiteLLM's ``cache_read_input_tokens``) and ``.cache_write_tokens`` (or
    ``cache_creation_input_tokens``), ``completion_tokens_details.reasoning_tokens``.
    Responses: ``input_tokens``, ``output_tokens``, ``input_tokens_details.cached_tokens`` and
    ``.cache_write_tokens``, ``output_tokens_details.reasoning_tokens``. Anthropic's
    ``input_tokens`` leave out its ``cache_read_input_tokens`` and
    ``cache_creation_input_tokens``, which are added to the prompt here.

    >>> parse_usage({"prompt_tokens": 10, "completion_tokens": 5,
    ...              "prompt_tokens_details": {"cached_tokens": 4}})
    Usage(prompt_tokens=10, completion_tokens=5, cached_tokens=4, cache_write_tokens=0, reasoning_tokens=0, known=True)
    >>> parse_usage({"input_tokens": 3, "output_tokens": 2, "cache_read_input_tokens": 100})
    Usage(prompt_tokens=103, completion_tokens=2, cached_tokens=100, cache_write_tokens=0, reasoning_tokens=0, known=True)
    >>> parse_usage(None).known
    False
    """
    if usage is None:
        return UNKNOWN_USAGE
    if type(usage) is dict:  # fast path: plain chat usage without details (the gateway's)
        p, c = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if (type(p) is int and type(c) is int and 0 <= p <= I64_MAX and 0 <= c <= I64_MAX
                and (len(usage) == 2 or (len(usage) == 3 and "total_tokens" in usage))):
            return _new_tuple(Usage, (p, c, 0, 0, 0, True))
    u = _mapping(usage, field)
    assert u is not None
    get = u.get
    p = get("prompt_tokens")
    if p is not None:
        prompt = to_count(p, f"{field}.prompt_tokens")
        c = get("completion_tokens")
        completion = 0 if c is None else to_count(c, f"{field}.completion_tokens")
        d1 = _mapping(get("prompt_tokens_details"), f"{field}.prompt_tokens_details")
        d2 = _mapping(get("completion_tokens_details"), f"{field}.completion_tokens_details")
        f1, f2 = f"{field}.prompt_tokens_details", f"{field}.completion_tokens_details"
        names = ("prompt_tokens", "completion_tokens")
        cached = _opt_count(d1, "cached_tokens", f1)
        write = _opt_count(d1, "cache_write_tokens", f1) or _opt_count(
            d1, "cache_creation_tokens", f1)
        if not cached:
            cached = _opt_count(u, "cache_read_input_tokens", field)
        if not write:
            write = _opt_count(u, "cache_creation_input_tokens", field)
    else:
        p = get("input_tokens")
        if p is None:
            return UNKNOWN_USAGE
        prompt = to_count(p, f"{field}.input_tokens")
        c = get("output_tokens")
        completion = 0 if c is None else to_count(c, f"{field}.output_tokens")
        d1 = _mapping(get("input_tokens_details"), f"{field}.input_tokens_details")
        d2 = _mapping(get("output_tokens_details"), f"{field}.output_tokens_details")
        f1, f2 = f"{field}.input_tokens_details", f"{field}.output_tokens_details"
        names = ("input_tokens", "output_tokens")
        cached = _opt_count(d1, "cached_tokens", f1)
        write = _opt_count(d1, "cache_write_tokens", f1)
        if d1 is None and ("cache_read_input_tokens" in u or "cache_creation_input_tokens" in u):
            # Anthropic: input_tokens exclude the cache reads and writes
            cached = _opt_count(u, "cache_read_input_tokens", field)
            write = _opt_count(u, "cache_creation_input_tokens", field)
            prompt += cached + write
            if prompt > I64_MAX:
                raise CoerceError(f"{field}.input_tokens", "token counts overflow int64")
    reasoning = _opt_count(d2, "reasoning_tokens", f2)
    if cached + write > prompt:
        raise CoerceError(field, f"cached ({cached}) and cache-write ({write}) tokens exceed "
                          f"{names[0]} ({prompt})")
    if reasoning > completion:
        raise CoerceError(field, f"reasoning_tokens ({reasoning}) exceed {names[1]} "
                          f"({completion})")
    return Usage(prompt, completion, cached, write, reasoning, True)


# ============================================================================== status


def parse_status(value: Any, field: str = "status") -> int:
    """An HTTP status 0..999 from an int, integer text, or LiteLLM's ``"success"`` (200) /
    ``"failure"`` (500).

    >>> parse_status(404), parse_status("200"), parse_status("success"), parse_status("failure")
    (404, 200, 200, 500)
    """
    if isinstance(value, str):
        t = value.strip().lower()
        if t == "success":
            return 200
        if t in ("failure", "error", "failed"):
            return 500
    try:
        v = to_count(value, field)
    except CoerceError:
        v = -1
    if not 0 <= v <= 999:
        raise CoerceError(field, f"expected an HTTP status 0..999 or 'success'/'failure', "
                          f"got {_short(value)}", value)
    return v


def statuses_masked(values: Any, field: str = "status"
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised :func:`parse_status`: ``(int64, missing, bad)``; HTTP codes 0..999 and
    LiteLLM's words, each distinct word read once.

    >>> v, miss, bad = statuses_masked(["success", 404, None, "failure", "nope"])
    >>> v.tolist(), miss.tolist(), bad.tolist()
    ([200, 404, 0, 500, 0], [False, False, True, False, False], [False, False, False, False, True])
    """
    out, miss, bad = counts_masked(values, field, limit=999)
    if bad.any():
        arr = _as_1d(values)
        if arr.dtype.kind in "OUT":
            words: dict[Any, int] = {}
            for i in np.flatnonzero(bad).tolist():
                v = arr[i]
                if isinstance(v, str):
                    if v not in words:
                        try:
                            words[v] = parse_status(v, field)
                        except CoerceError:
                            words[v] = -1
                    if words[v] >= 0:
                        out[i] = words[v]
                        bad[i] = False
    return out, miss, bad


# ============================================================================== latency


def to_latency_ms(value: Any, field: str = "latency_ms") -> float:
    """Milliseconds: a finite number >= 0; a missing value is unknown (NaN), never 0.

    >>> to_latency_ms(120), to_latency_ms("1.5"), to_latency_ms(None)
    (120.0, 1.5, nan)
    """
    if is_missing(value):
        return math.nan
    if isinstance(value, bool):
        raise CoerceError(field, f"expected a number >= 0, got {value!r}", value)
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):
        raise CoerceError(field, f"expected a number >= 0, got {_short(value)}",
                          value) from None
    if not math.isfinite(f) or f < 0:
        raise CoerceError(field, f"expected a number >= 0, got {_short(value)}", value)
    return f


def floats_masked(values: Any, field: str = "latency_ms"
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised :func:`to_latency_ms`: ``(float64, missing, bad)``, NaN where missing or
    bad.

    >>> v, miss, bad = floats_masked([1, None, -1, "2.5"])
    >>> v.tolist()[::3], miss.tolist(), bad.tolist()
    ([1.0, 2.5], [False, True, False, False], [False, False, True, False])
    """
    arr = _as_1d(values)
    n = arr.shape[0]
    if arr.dtype.kind in "fiu":
        x = arr.astype(np.float64)
        miss = np.isnan(x)
        bad = ~miss & (np.isinf(x) | (x < 0))
        x[bad] = np.nan
        return x, miss, bad
    out = np.full(n, np.nan)
    miss = np.zeros(n, dtype=bool)
    bad = np.zeros(n, dtype=bool)
    for i, v in enumerate(arr.tolist()):
        if is_missing(v):
            miss[i] = True
            continue
        try:
            out[i] = to_latency_ms(v, field)
        except CoerceError:
            bad[i] = True
    return out, miss, bad
