"""Calendar periods in a time zone: where days, weeks, months, quarters and years begin.

One module for every calendar boundary the library draws (``log.timeseries("1D", tz=...)``
buckets and budgets' calendar periods), standard library and numpy only.

Units: ``"D"`` (day), ``"W"`` (week starting Monday), ``"MS"`` (month), ``"QS"`` (quarter,
starting January, April, July, October), ``"YS"`` (year), each with a positive multiplier ``n``.
A boundary is local midnight of its first day, turned into an instant (int64 ns since the
epoch, UTC) by the zone's rules (:mod:`zoneinfo`), as pandas' ``tz_localize`` does it:

* a midnight that does not exist (a DST gap, the clocks jump from 00:00 to 01:00) moves forward
  to the first instant after the gap (pandas' ``nonexistent="shift_forward"``);
* a midnight that happens twice (the clocks go back from 01:00 to 00:00) is its **second**
  occurrence (pandas' ``ambiguous=False``, which is what ``timeseries`` always used).

A day a zone skipped altogether (Samoa's 2011-12-30) is an empty period: it starts where the
next day starts. (pandas moves a nonexistent time to the next whole wall-clock hour, which is
the first instant after the gap for gaps of up to an hour, but an hour late for Samoa's 24-hour
gap; this module always takes the first instant after the gap.)

So a period may start after some instants of its first wall-clock day (those in the first pass
of a repeated midnight hour); :func:`period_start` then gives the previous period, so that
``period_start(t) <= t < next_start(t)`` holds for every instant.

>>> ns = 1_774_828_800 * 10**9             # 2026-03-30T00:00:00Z, 01:00 BST in London
>>> period_start(ns, "D", tz="Europe/London") // 10**9    # 2026-03-29T23:00:00Z
1774825200
>>> next_start(ns, "MS", tz="Europe/London") // 10**9     # 2026-03-31T23:00:00Z
1774998000
>>> [int(e) // 10**9 for e in edges(ns, ns + 86400 * 10**9, "D", 1, "Europe/London")]
[1774825200, 1774911600, 1774998000]
"""

from __future__ import annotations

import datetime as _dt
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

__all__ = ["UNITS", "count", "edges", "next_start", "period_start", "zone"]

UNITS = ("D", "W", "MS", "QS", "YS")
_NS = 10**9
_EPOCH = _dt.datetime(1970, 1, 1)
_EPOCH_MONDAY = _dt.date(1969, 12, 29)
_ONE_S = _dt.timedelta(seconds=1)


@lru_cache(maxsize=256)
def _zone_named(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone(tz: object) -> ZoneInfo:
    """``tz`` (a zone name, a :class:`~zoneinfo.ZoneInfo` or ``datetime.timezone.utc``) as a
    :class:`~zoneinfo.ZoneInfo`; an unknown zone is a ``ValueError``.

    >>> zone("Asia/Kolkata"), zone(_dt.timezone.utc)
    (zoneinfo.ZoneInfo(key='Asia/Kolkata'), zoneinfo.ZoneInfo(key='UTC'))
    """
    if isinstance(tz, ZoneInfo):
        return tz
    if tz is _dt.timezone.utc:
        return _zone_named("UTC")
    try:
        return _zone_named(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"tz: unknown time zone {tz!r}") from None


def _check(unit: str, n: int) -> None:
    if unit not in UNITS:
        raise ValueError(f"unit: expected one of {UNITS}, got {unit!r}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: the multiplier must be a positive integer, got {n!r}")


def _floor(d: _dt.date, unit: str) -> _dt.date:
    """The first day of the (single) unit period that contains day ``d``."""
    if unit == "W":
        return d - _dt.timedelta(days=d.weekday())
    if unit == "MS":
        return d.replace(day=1)
    if unit == "QS":
        return d.replace(day=1, month=(d.month - 1) // 3 * 3 + 1)
    if unit == "YS":
        return d.replace(day=1, month=1)
    return d


def _add(d: _dt.date, unit: str, k: int) -> _dt.date:
    """Day ``d`` (a period's first day) moved by ``k`` units."""
    if unit == "D":
        return d + _dt.timedelta(days=k)
    if unit == "W":
        return d + _dt.timedelta(days=7 * k)
    months = k * (3 if unit == "QS" else 12 if unit == "YS" else 1)
    m = d.year * 12 + d.month - 1 + months
    return d.replace(year=m // 12, month=m % 12 + 1)


def _index(d: _dt.date, unit: str) -> int:
    """How many units the period starting on ``d`` lies after the one containing 1970-01-01."""
    if unit == "D":
        return (d - _EPOCH.date()).days
    if unit == "W":
        return (d - _EPOCH_MONDAY).days // 7
    months = (d.year - 1970) * 12 + d.month - 1
    return months // 3 if unit == "QS" else months // 12 if unit == "YS" else months


def _wall_date(ns: int, tz: ZoneInfo) -> _dt.date:
    return _dt.datetime.fromtimestamp(ns // _NS, tz).date()


def _ns_of(naive_utc: _dt.datetime) -> int:
    return (naive_utc - _EPOCH) // _ONE_S * _NS


def _offset_at(seconds: int, tz: ZoneInfo) -> _dt.timedelta:
    off = _dt.datetime.fromtimestamp(seconds, tz).utcoffset()
    assert off is not None
    return off


def _midnight_ns(d: _dt.date, tz: ZoneInfo) -> int:
    """Local midnight of day ``d`` as ns UTC: a gap shifts forward, a repeat takes its second
    occurrence (pandas ``tz_localize(ambiguous=False, nonexistent="shift_forward")``)."""
    wall = _dt.datetime(d.year, d.month, d.day)
    before = wall.replace(tzinfo=tz, fold=0).utcoffset()
    after = wall.replace(tzinfo=tz, fold=1).utcoffset()
    assert before is not None and after is not None
    if before == after:
        return _ns_of(wall - before)
    if before > after:  # the wall time happens twice: its second occurrence
        return _ns_of(wall - after)
    # a gap: the transition instant T lies in (wall - after, wall - before]; find it
    lo = (wall - after - _EPOCH) // _ONE_S  # still the old offset here
    hi = (wall - before - _EPOCH) // _ONE_S  # already the new one
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset_at(mid, tz) == before:
            lo = mid
        else:
            hi = mid
    return hi * _NS


def _start_day(ns: int, unit: str, n: int, tz: ZoneInfo) -> _dt.date:
    """First day of the n-unit period (counted from the epoch's) that contains instant ns."""
    d = _floor(_wall_date(ns, tz), unit)
    if n > 1:
        d = _add(d, unit, -(_index(d, unit) % n))
    if _midnight_ns(d, tz) > ns:  # ns is in the first pass of a repeated midnight hour
        d = _add(d, unit, -n)
    return d


def period_start(ns: int, unit: str, n: int = 1, tz: object = "UTC") -> int:
    """Start (ns UTC) of the calendar period that contains instant ``ns`` (ns UTC).

    With ``n > 1`` periods are counted from the one containing 1970-01-01 (weeks from Monday
    1969-12-29): ``"2MS"`` periods start in January, March, May, ...

    >>> t = 1_767_225_600 * 10**9 + 1      # 2026-01-01T00:00:00.000000001Z
    >>> period_start(t, "YS") // 10**9, period_start(t, "W") // 10**9   # Mon 2025-12-29
    (1767225600, 1766966400)
    >>> period_start(t, "D", 0)
    Traceback (most recent call last):
    ...
    ValueError: n: the multiplier must be a positive integer, got 0
    """
    _check(unit, n)
    tz = zone(tz)
    return _midnight_ns(_start_day(int(ns), unit, n, tz), tz)


def next_start(ns: int, unit: str, n: int = 1, tz: object = "UTC") -> int:
    """Start (ns UTC) of the period after the one that contains ``ns``: when it resets.

    >>> next_start(0, "MS") // 10**9, next_start(0, "QS", tz="Asia/Kolkata") // 10**9
    (2678400, 7756200)
    """
    _check(unit, n)
    tz = zone(tz)
    return _midnight_ns(_add(_start_day(int(ns), unit, n, tz), unit, n), tz)


def _span(lo_ns: int, hi_ns: int, unit: str, n: int, tz: ZoneInfo) -> tuple[_dt.date, int]:
    """First day of the grid and how many ``n``-unit steps after it still start no later than
    ``hi_ns``'s wall time: O(1), whatever the span."""
    first = _floor(_wall_date(lo_ns, tz), unit)
    last = _floor(_wall_date(hi_ns, tz), unit)  # a step starts at a midnight <= hi's wall time
    return first, max(_index(last, unit) - _index(first, unit), 0) // n


def count(lo_ns: int, hi_ns: int, unit: str, n: int = 1, tz: object = "UTC") -> int:
    """How many periods :func:`edges` lays over ``lo_ns..hi_ns`` (one more when ``lo_ns`` is
    in the first pass of a repeated midnight hour), in O(1): callers bound it before asking
    for the edges.

    >>> d = 86400 * 10**9
    >>> count(0, 3 * d, "D", 2), count(0, 56 * 365 * d, "D"), count(0, 56 * 365 * d, "MS")
    (2, 20441, 672)
    """
    _check(unit, n)
    lo_ns, hi_ns = int(lo_ns), int(hi_ns)
    if hi_ns < lo_ns:
        raise ValueError(f"count: hi_ns {hi_ns} is before lo_ns {lo_ns}")
    return _span(lo_ns, hi_ns, unit, n, zone(tz))[1] + 1


def edges(lo_ns: int, hi_ns: int, unit: str, n: int = 1, tz: object = "UTC", *,
          limit: int | None = None) -> np.ndarray:
    """Boundaries (int64 ns UTC) of consecutive ``n``-unit periods covering ``lo_ns..hi_ns``.

    The first period is the single unit period containing ``lo_ns`` (the grid is anchored at
    the window, not at the epoch); periods follow every ``n`` units while their start's wall
    time is at most ``hi_ns``'s; the last element is the end of the last period, so there are
    ``len(result) - 1`` periods. These are ``log.timeseries``'s calendar buckets. With
    ``limit``, more than ``limit`` periods (see :func:`count`) is a ``ValueError`` raised before
    any is built.

    >>> d = 86400 * 10**9
    >>> (edges(0, 3 * d, "D", 2) // d).tolist()
    [0, 2, 4]
    >>> (edges(d, d, "W", 1, "UTC") // d).tolist()        # 1970-01-02 is in the week of Mon 12-29
    [-3, 4]
    >>> edges(0, 365 * d, "D", limit=100)
    Traceback (most recent call last):
    ...
    ValueError: edges: 366 periods of 1D, more than the limit of 100
    """
    _check(unit, n)
    tz = zone(tz)
    lo_ns, hi_ns = int(lo_ns), int(hi_ns)
    if hi_ns < lo_ns:
        raise ValueError(f"edges: hi_ns {hi_ns} is before lo_ns {lo_ns}")
    first, steps = _span(lo_ns, hi_ns, unit, n, tz)
    if limit is not None and steps + 1 > limit:
        raise ValueError(f"edges: {steps + 1} periods of {n}{unit}, more than the limit of {limit}")
    try:
        days = [_add(first, unit, n * k) for k in range(steps + 2)]
    except (ValueError, OverflowError):
        raise ValueError(f"edges: periods of {n}{unit} from {first} run past the year 9999"
                         ) from None
    out = np.array([_midnight_ns(d, tz) for d in days], dtype=np.int64)
    if out[0] > lo_ns:  # lo_ns is in the first pass of a repeated midnight hour
        out = np.concatenate([[_midnight_ns(_add(first, unit, -n), tz)], out])
    return out
