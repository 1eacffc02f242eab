"""tagcore._calendar against pandas as the oracle: period edges in a zone, DST-correct."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tagcore import _calendar

ZONES = ["UTC", "Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe",
         "America/Havana", "America/Santiago", "Asia/Tehran", "Africa/Cairo"]
UNITS = list(_calendar.UNITS)
NS = 10**9
DAY = 86400 * NS
LO = int(pd.Timestamp("1950-01-01", tz="UTC").value)
# pandas 2.x reads zone names with pytz, whose rules stop in 2037 (no DST after it), while
# tagcore uses zoneinfo: the pandas oracle is only right before then on pandas < 3
HI = int(pd.Timestamp("2060-01-01" if int(pd.__version__.split(".")[0]) >= 3 else "2036-06-01",
                      tz="UTC").value)

zones = st.sampled_from(ZONES)
units = st.sampled_from(UNITS)


def _next_transition(t: int, tz: str) -> int | None:
    """The first instant (ns) after ``t`` within a year where ``tz``'s UTC offset changes."""
    import datetime as dt

    z = _calendar.zone(tz)

    def off(sec: int) -> dt.timedelta | None:
        return dt.datetime.fromtimestamp(sec, z).utcoffset()

    sec = t // NS
    o = off(sec)
    for day in range(1, 367):
        if off(sec + day * 86400) != o:
            lo, hi = sec + (day - 1) * 86400, sec + day * 86400
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if off(mid) == o:
                    lo = mid
                else:
                    hi = mid
            return hi * NS
    return None


@st.composite
def _near_transitions(draw: st.DrawFn) -> tuple[int, str]:
    tz = draw(zones)
    t = draw(st.integers(LO, HI))
    tr = _next_transition(t, tz)
    if tr is not None:
        t = tr + draw(st.integers(-3 * 3600, 3 * 3600)) * NS + draw(st.integers(-1, 1))
    return t, tz


# instants anywhere, or within three hours of one of the zone's offset changes
placed = st.one_of(st.tuples(st.integers(LO, HI), zones), _near_transitions())


def _localize(walls: list[pd.Timestamp], tz: str) -> np.ndarray:
    """pandas' reading of wall times, as timeseries always did it."""
    idx = pd.DatetimeIndex(walls).as_unit("ns")
    out = idx.tz_localize(tz, ambiguous=np.zeros(len(idx), dtype=bool),
                          nonexistent="shift_forward")
    return out.tz_convert("UTC").as_unit("ns").asi8


def _floor_wall(ns: int, unit: str, tz: str) -> pd.Timestamp:
    w = pd.Timestamp(ns, unit="ns", tz="UTC").tz_convert(tz).tz_localize(None).normalize()
    if unit == "W":
        return w - pd.Timedelta(days=w.weekday())
    if unit == "MS":
        return w.replace(day=1)
    if unit == "QS":
        return w.replace(day=1, month=(w.month - 1) // 3 * 3 + 1)
    if unit == "YS":
        return w.replace(day=1, month=1)
    return w


def _step(unit: str, n: int) -> pd.DateOffset:
    return {"D": pd.DateOffset(days=n), "W": pd.DateOffset(weeks=n),
            "MS": pd.DateOffset(months=n), "QS": pd.DateOffset(months=3 * n),
            "YS": pd.DateOffset(years=n)}[unit]


def oracle_edges(lo: int, hi: int, unit: str, n: int, tz: str) -> np.ndarray:
    """The pandas DateOffset loop query.py's _buckets ran before tagcore._calendar."""
    step = _step(unit, n)
    wall_last = pd.Timestamp(hi, unit="ns", tz="UTC").tz_convert(tz).tz_localize(None)
    starts = [_floor_wall(lo, unit, tz)]
    while True:
        nxt = starts[-1] + step
        if nxt > wall_last:
            break
        starts.append(nxt)
    return _localize(starts + [starts[-1] + step], tz)


@settings(max_examples=300, deadline=None)
@given(placed, st.integers(0, 400 * DAY), units, st.integers(1, 4))
@example((int(pd.Timestamp("2026-03-29T00:30Z").value), "Europe/London"), 2 * DAY, "D", 1)
@example((int(pd.Timestamp("2024-11-03T04:30Z").value), "America/Havana"), DAY, "D", 1)
@example((int(pd.Timestamp("2024-03-10T05:00Z").value), "America/Havana"), DAY, "D", 1)
@example((int(pd.Timestamp("2024-04-06T14:50Z").value), "Australia/Lord_Howe"), DAY, "D", 1)
def test_edges_match_the_pandas_loop(lo_tz, span, unit, n):
    lo, tz = lo_tz
    hi = min(lo + span, HI + 400 * DAY)
    got = _calendar.edges(lo, hi, unit, n, tz)
    want = oracle_edges(lo, hi, unit, n, tz)
    assert got.dtype == np.int64
    if want[0] > lo:
        # lo lies in the first pass of a repeated midnight hour: the old loop left lo outside
        # every bucket; _calendar adds the period before, the rest is the same
        assert got[1:].tolist() == want.tolist() and got[0] <= lo < got[1]
    else:
        assert got.tolist() == want.tolist()
    assert (np.diff(got) > 0).all()
    assert got[0] <= lo and got[-1] > hi


def oracle_start(ns: int, unit: str, tz: str) -> tuple[int, int]:
    wall = _floor_wall(ns, unit, tz)
    start, end = _localize([wall, wall + _step(unit, 1)], tz)
    if start > ns:
        start = _localize([wall - _step(unit, 1)], tz)[0]
        end = _localize([wall], tz)[0]
    return int(start), int(end)


@settings(max_examples=400, deadline=None)
@given(placed, units)
@example((int(pd.Timestamp("2024-11-03T04:30Z").value), "America/Havana"), "D")
@example((int(pd.Timestamp("2024-11-03T05:30Z").value), "America/Havana"), "D")
@example((int(pd.Timestamp("2026-03-29T00:59:59Z").value), "Europe/London"), "D")
@example((int(pd.Timestamp("2026-10-25T00:30Z").value), "Europe/London"), "MS")
def test_period_start_and_next_start_match_pandas(ns_tz, unit):
    ns, tz = ns_tz
    start = _calendar.period_start(ns, unit, 1, tz)
    end = _calendar.next_start(ns, unit, 1, tz)
    assert (start, end) == oracle_start(ns, unit, tz)
    assert start <= ns < end


@settings(max_examples=200, deadline=None)
@given(placed, units, st.integers(2, 5))
def test_multiples_are_counted_from_the_epoch(ns_tz, unit, n):
    ns, tz = ns_tz
    start = _calendar.period_start(ns, unit, n, tz)
    end = _calendar.next_start(ns, unit, n, tz)
    assert start <= ns < end
    # the period is n single periods long and starts on a multiple of n since 1970
    singles = [_calendar.period_start(start, unit, 1, tz)]
    for _ in range(n):
        singles.append(_calendar.next_start(singles[-1], unit, 1, tz))
    assert singles[0] == start and singles[-1] == end
    wall = pd.Timestamp(start, unit="ns", tz="UTC").tz_convert(tz).tz_localize(None)
    if wall.hour == 0 and wall.minute == 0:  # not a shifted or back-stepped midnight
        if unit == "D":
            idx = (wall.normalize() - pd.Timestamp("1970-01-01")).days
        elif unit == "W":
            idx = (wall.normalize() - pd.Timestamp("1969-12-29")).days // 7
        else:
            months = (wall.year - 1970) * 12 + wall.month - 1
            idx = {"MS": months, "QS": months // 3, "YS": months // 12}[unit]
        assert idx % n == 0


def test_a_skipped_day_starts_where_the_gap_ends():
    # Samoa skipped 2011-12-30: 2011-12-29 24:00 (-10) was 2011-12-31 00:00 (+14). The day
    # after the 29th starts at the transition; pandas' shift_forward moves a nonexistent time
    # to the next whole wall-clock hour (01:00 on the 31st, an hour late) and is not the
    # oracle for gaps longer than an hour, the only place the two differ.
    t = int(pd.Timestamp("2011-12-30T10:00Z").value)
    assert _calendar.next_start(t - 1, "D", 1, "Pacific/Apia") == t
    assert _calendar.period_start(t, "D", 1, "Pacific/Apia") == t
    e = _calendar.edges(t - DAY, t + DAY, "D", 1, "Pacific/Apia")
    # days 29 (from its midnight), 30 (skipped: empty), 31, up to the end of Jan 1 2012 (the
    # window's end, Dec 31 10:00Z, is Jan 1 00:00 local)
    assert e.tolist() == [int(pd.Timestamp(x).value) for x in
                          ("2011-12-29T10:00Z", "2011-12-30T10:00Z", "2011-12-30T10:00Z",
                           "2011-12-31T10:00Z", "2012-01-01T10:00Z")]


def test_examples():
    london = int(pd.Timestamp("2026-03-29T12:00Z").value)
    assert _calendar.period_start(london, "D", 1, "Europe/London") == \
        int(pd.Timestamp("2026-03-29T00:00Z").value)         # GMT midnight, before the jump
    assert _calendar.next_start(london, "D", 1, "Europe/London") == \
        int(pd.Timestamp("2026-03-29T23:00Z").value)         # BST midnight
    kolkata = _calendar.period_start(0, "D", tz="Asia/Kolkata")
    assert kolkata == int(pd.Timestamp("1969-12-31T18:30Z").value)


@pytest.mark.parametrize("n", [0, -1, 1.5, True, None])
def test_non_positive_or_odd_multiplier_is_refused(n):
    for fn in (_calendar.period_start, _calendar.next_start):
        with pytest.raises(ValueError, match="multiplier must be a positive integer"):
            fn(0, "D", n)
    with pytest.raises(ValueError, match="multiplier must be a positive integer"):
        _calendar.edges(0, DAY, "MS", n)


def test_bad_unit_zone_and_window():
    with pytest.raises(ValueError, match="unit"):
        _calendar.period_start(0, "h")
    with pytest.raises(ValueError, match="unknown time zone"):
        _calendar.period_start(0, "D", 1, "Mars/Olympus")
    with pytest.raises(ValueError, match="before"):
        _calendar.edges(DAY, 0, "D")


def test_timeseries_refuses_a_non_positive_calendar_frequency():
    import tagcore as tc

    log = tc.RequestLog.from_records([{"ts": 0, "model": "m", "prompt_tokens": 1,
                                       "completion_tokens": 1, "cost": 0.1, "latency_ms": 1,
                                       "status": 200, "request_tags": ["a"]}])
    for freq in ("0D", "-1D", "0W", "0MS"):
        with pytest.raises(ValueError, match="positive"):
            log.timeseries(freq)
