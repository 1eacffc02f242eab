"""A metric per time bucket and tag: fixed-width and calendar buckets, DST-correct."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tagcore import kernels
from tagcore.errors import TagcoreError

if TYPE_CHECKING:  # pragma: no cover
    from tagcore.log import RequestLog

from tagcore.query._common import (  # noqa: F401
    _ATTRIBUTIONS,
    NANOS,
    _check_level,
    _empty_frame,
    _frame,
    _int_sums,
    _latency_layout,
    _log_mod,
    _max_tags,
    _node,
    _node_slots,
    _select_nodes,
    _set_nodes,
    _sort,
    _wants,
    check_sums,
    unpriced_log,
    unpriced_mask,
)
from tagcore.query.window import window

# ------------------------------------------------------------------------------- time


_CALENDAR = {"D", "W", "MS", "ME", "M", "QS", "YS", "AS"}
_I64_MIN, _I64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)

#: The most time buckets one ``timeseries`` lays out: 100,000 is 11 years of hours, 69 days of
#: minutes or 273 years of days. One stray timestamp (a request at the epoch in a 2026 log)
#: would otherwise stretch the grid over decades; the error names it and says how to leave it
#: out. For a deliberate longer grid raise it on this module
#: (``importlib.import_module("tagcore.query.timeseries").MAX_BUCKETS = ...``).
MAX_BUCKETS = 100_000
#: The most (bucket, tag) cells: each holds about 100 bytes of accumulators while it is built.
MAX_CELLS = 10_000_000


class BucketLimitError(TagcoreError, ValueError):
    """A time series that would need more buckets (or cells) than the limit allows.

    ``row`` and ``ts`` name the request whose timestamp stretched the grid, when one did.
    """

    def __init__(self, message: str, row: int | None = None, ts: int | None = None):
        self.row, self.ts = row, ts
        super().__init__(message)


def _stamp(ns: int, tz: str) -> str:
    return pd.Timestamp(ns, unit="ns", tz="UTC").tz_convert(tz).isoformat()


def _too_many(self: RequestLog, freq: str, nb: int, lo: int, hi: int, open_lo: bool,
              open_hi: bool, tz: str) -> BucketLimitError:
    """The error for a grid of ``nb`` buckets over ``(lo, hi]``. When the grid's start (or
    end) comes from the data and the earliest (or latest) requests lie apart from the rest,
    farther from them than the rest spans, it names that row and its time and suggests
    ``since=`` (or ``until=``) to leave it out; otherwise it says that the window is too wide
    for ``freq``."""
    head = (f"timeseries: freq {freq!r} needs {nb:,} buckets from {_stamp(lo + 1, tz)} to "
            f"{_stamp(hi, tz)}, more than the limit of {MAX_BUCKETS:,}")
    ts = self.ts
    inside = np.flatnonzero((ts > lo) & (ts <= hi)) if len(self) else np.zeros(0, np.int64)
    t = ts[inside]
    best = None  # (gap, row, time, neighbour, side)
    if t.size >= 2:
        t_min, t_max = int(t.min()), int(t.max())
        if open_lo and t_max > t_min:
            nxt = int(t[t > t_min].min())
            if nxt - t_min > hi - nxt:
                best = (nxt - t_min, int(inside[np.argmin(t)]), t_min, nxt, "before")
        if open_hi and t_max > t_min:
            prev = int(t[t < t_max].max())
            if t_max - prev > prev - lo and (best is None or t_max - prev > best[0]):
                best = (t_max - prev, int(inside[np.argmax(t)]), t_max, prev, "after")
    if best is None:
        return BucketLimitError(f"{head}: narrow the window (since=, until=, last=) or use a "
                                "coarser freq")
    gap, row, at, near, side = best
    more = int((t == at).sum()) - 1
    who = f"row {row}" + (f" (and {more} more at the same time)" if more else "")
    # a bound that keeps ``near`` and leaves ``at`` out: a UTC date (how since/until read a
    # naive date) when one lies between them, else the exact instant
    if side == "before":  # since= is inclusive
        day = pd.Timestamp(near, unit="ns", tz="UTC").floor("D")
        bound = day.strftime("%Y-%m-%d") if day.value > at else _stamp(near, "UTC")
        hint = f"give since='{bound}' to leave it out"
    else:  # until= is exclusive
        day = pd.Timestamp(near, unit="ns", tz="UTC").floor("D") + pd.Timedelta(days=1)
        bound = day.strftime("%Y-%m-%d") if day.value <= at else _stamp(near + 1, "UTC")
        hint = f"give until='{bound}' to leave it out"
    return BucketLimitError(
        f"{head}: {who} at {_stamp(at, tz)} lies {pd.Timedelta(gap, unit='ns')} {side} the "
        f"{'next' if side == 'before' else 'previous'} request ({_stamp(near, tz)}); {hint}, "
        "or use a coarser freq", row=row, ts=at)


def _buckets(self: RequestLog, freq: str, w: tuple[int, int] | None, tz: str):
    """Bucket index of each row (-1 outside) and the tz-aware bucket starts."""
    try:
        off = pd.tseries.frequencies.to_offset(freq)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"freq: cannot read {freq!r} as a frequency like '1h', '1D' or "
                         f"'1MS' ({exc})") from None
    n = len(self)
    if w is None:
        if n == 0:
            return np.zeros(0, dtype=np.int32), pd.DatetimeIndex([], tz=tz)
        lo, hi = int(self.ts.min()) - 1, int(self.ts.max())
        open_lo = open_hi = True
    else:
        lo, hi = w
        open_lo, open_hi = w[0] == _I64_MIN, w[1] == _I64_MAX
        if n == 0 and (open_lo or open_hi):  # no data to end an open window: no buckets
            return np.zeros(0, dtype=np.int32), pd.DatetimeIndex([], tz=tz)
        if n:
            hi = min(hi, max(int(self.ts.max()), lo + 1)) if open_hi else hi
            lo = max(lo, int(self.ts.min()) - 1) if open_lo else lo
    first = pd.Timestamp(lo + 1, unit="ns", tz="UTC").tz_convert(tz)
    name = getattr(off, "rule_code", None) or str(off)
    is_tick = isinstance(off, pd.offsets.Tick) and not (name == "D" or name.endswith("D"))
    if is_tick:
        width = int(pd.Timedelta(off).value)
        if width <= 0:
            raise ValueError(f"freq: {freq!r} must be a positive duration, e.g. '1h' or "
                             "'15min'")
        # aligned to the local day start of the window (pandas' origin="start_day"), so
        # hours are local hours in zones with half-hour offsets too
        d0 = int(first.normalize().tz_convert("UTC").value)
        origin = d0 + (lo + 1 - d0) // width * width
        nb = max((hi - origin) // width + 1, 0)
        if nb > MAX_BUCKETS:
            raise _too_many(self, freq, nb, lo, hi, open_lo, open_hi, tz)
        starts = pd.date_range(pd.Timestamp(origin, unit="ns", tz="UTC"), periods=int(nb),
                               freq=pd.Timedelta(width, unit="ns")).tz_convert(tz)
        b = kernels.bucket_fixed(self.ts, origin, width, int(nb), lo, hi)
        return b, starts
    # calendar buckets in wall time of ``tz``, DST-correct: boundaries from tagcore._calendar
    # (a midnight in a DST gap shifts forward, a repeated one is its second occurrence)
    from tagcore import _calendar

    mult = getattr(off, "n", 1)
    base = name.split("-")[0]
    if base in ("W",) or isinstance(off, pd.offsets.Week):
        unit = "W"
    elif isinstance(off, (pd.offsets.MonthBegin, pd.offsets.MonthEnd)):
        unit = "MS"
    elif isinstance(off, (pd.offsets.QuarterBegin, pd.offsets.QuarterEnd)):
        unit = "QS"
    elif isinstance(off, (pd.offsets.YearBegin, pd.offsets.YearEnd)):
        unit = "YS"
    elif base == "D" or isinstance(off, pd.offsets.Day):
        unit = "D"
    else:
        raise ValueError(f"freq: unsupported frequency {freq!r}; use e.g. '1h', '15min', '1D', "
                         "'1W' (weeks from Monday), '1MS', 'QS', 'YS'")
    if mult < 1:
        raise ValueError(f"freq: {freq!r} must be a positive number of periods, e.g. '1D'")
    if hi < lo + 1:
        return np.full(n, -1, dtype=np.int32), pd.DatetimeIndex([], tz=tz)
    nb = _calendar.count(lo + 1, hi, unit, mult, tz)
    if nb > MAX_BUCKETS:
        raise _too_many(self, freq, nb, lo, hi, open_lo, open_hi, tz)
    edges_ns = _calendar.edges(lo + 1, hi, unit, mult, tz, limit=MAX_BUCKETS + 1)
    nb = len(edges_ns) - 1
    b = np.searchsorted(edges_ns, self.ts, side="right").astype(np.int64) - 1
    inside = (self.ts > lo) & (self.ts <= hi) & (b >= 0) & (b < nb)
    b = np.where(inside, b, -1).astype(np.int32)
    return b, pd.to_datetime(edges_ns[:-1], unit="ns", utc=True).tz_convert(tz)


_TS_METRICS = {"cost": 4, "requests": 0, "errors": 1, "prompt_tokens": 2,
               "completion_tokens": 3, "total_tokens": None, "unpriced": None}


def cell_values(iacc: np.ndarray, facc: np.ndarray, metric: str, split: bool) -> np.ndarray:
    """A time series' cells of ``metric`` (any but ``unpriced``) from the slot accumulators
    of ``kernels.rollup_slots`` (``bucket x slot x column``): dollars for cost, float
    shares under split attribution (for :func:`timeseries` and a scan's time series)."""
    if metric == "cost":
        return iacc[:, :, 4] / NANOS
    if metric == "total_tokens":
        return (facc[:, :, 2] + facc[:, :, 3]) if split else (iacc[:, :, 2] + iacc[:, :, 3])
    c = _TS_METRICS[metric]
    return facc[:, :, c] if split else iacc[:, :, c]


def _unpriced_cells(self: RequestLog, slot: np.ndarray, ns: int, group: np.ndarray | None,
                    n_groups: int, attribution: str) -> np.ndarray:
    """Requests whose cost is unknown per (group, slot) (split shares under split)."""
    split = attribution == "split"
    mask = unpriced_mask(self)
    if mask is None:
        return np.zeros((n_groups, ns + 1), dtype=np.float64 if split else np.int64)
    sub = unpriced_log(self)
    iacc, facc = kernels.rollup_slots(sub.tag_offsets, sub.tag_ids, slot, ns, sub.status,
                                      sub.prompt_tokens, sub.completion_tokens, sub.cost,
                                      sub.latency_ms, sub.ts, mode=attribution,
                                      group=None if group is None else group[mask],
                                      n_groups=n_groups, trusted=sub)
    return facc[:, :, 0] if split else iacc[:, :, 0]


def timeseries(self: RequestLog, freq: str, level: int | None = None, under: str | None = None,
               metric: str = "cost", last: Any = None, since: Any = None, until: Any = None,
               now: Any = None, tz: str = "UTC", attribution: str = "full") -> pd.DataFrame:
    """A metric per time bucket and tag: index of tz-aware bucket starts, one column per tag
    path of the set (default: level 1), zeros for empty buckets inside the window.

    ``freq`` is a pandas alias: ``"1h"``, ``"15min"`` (absolute), ``"1D"``, ``"1W"`` (weeks
    starting Monday), ``"1MS"`` (calendar, in ``tz``, DST-correct).

    ``metric="unpriced"`` counts the requests whose cost is unknown (their cost counts 0). A
    cost series of a log that has such requests says how many it counts in
    ``df.attrs["unpriced"]``; the cells are the same metric, so no count column is mixed in.

    >>> from tagcore import RequestLog
    >>> log = RequestLog.from_records([
    ...     {"ts": "2026-03-01T10:00", "model": "m", "prompt_tokens": 1, "completion_tokens": 0,
    ...      "cost": 2, "latency_ms": 1, "status": 200, "request_tags": ["env/prod"]},
    ...     {"ts": "2026-03-03T10:00", "model": "m", "prompt_tokens": 1, "completion_tokens": 0,
    ...      "cost": 1, "latency_ms": 1, "status": 200, "request_tags": ["env/dev"]}])
    >>> log.timeseries("1D", under="env")
    tag                        env/dev  env/prod
    ts
    2026-03-01 00:00:00+00:00      0.0       2.0
    2026-03-02 00:00:00+00:00      0.0       0.0
    2026-03-03 00:00:00+00:00      1.0       0.0
    """
    if metric not in _TS_METRICS:
        raise ValueError(f"metric: expected one of {list(_TS_METRICS)}, got {metric!r}")
    _log_mod().check_known(self.unknown, [metric], "metric")
    _log_mod().check_known(self.unknown, ["ts"], "timeseries")
    if attribution not in _ATTRIBUTIONS:
        raise ValueError(f"attribution: expected one of {_ATTRIBUTIONS}, got {attribution!r}")
    if level is None and under is None:
        level = 1
    nodes = _set_nodes(self, under, level, attribution, what="timeseries")
    w = window(self, since, until, last, now)
    if len(self) == 0 and now is None:
        w = None  # no data and no "now": no window to lay buckets in
    b, starts = _buckets(self, freq, w, tz)
    nb = len(starts)
    slot = _node_slots(self, nodes)
    ns = nodes.size
    if nb * (ns + 1) > MAX_CELLS:
        raise BucketLimitError(
            f"timeseries: {nb:,} buckets x {ns + 1:,} columns is {nb * (ns + 1):,} cells, more "
            f"than the limit of {MAX_CELLS:,}: choose fewer tags (level=, under=), a narrower "
            "window (since=, until=, last=) or a coarser freq")
    iacc, facc = kernels.rollup_slots(self.tag_offsets, self.tag_ids, slot, ns, self.status,
                                      self.prompt_tokens, self.completion_tokens, self.cost,
                                      self.latency_ms, self.ts, mode=attribution, group=b,
                                      n_groups=nb, trusted=self)
    split = attribution == "split"
    if metric == "unpriced":
        vals = _unpriced_cells(self, slot, ns, b, nb, attribution)
    else:
        vals = cell_values(iacc, facc, metric, split)
    paths = self.trie.paths
    labels = [paths[v] for v in nodes.tolist()]
    if attribution != "full":
        labels.append(_log_mod().UNTAGGED)
    else:
        vals = vals[:, :ns]
    shown = len(labels)

    def cells(fam: str):
        got = _int_sums(iacc, fam, split)
        return None if got is None else got[:, :shown]

    check_sums(self, [metric], cells,
               lambda i: f"{labels[i % shown]} in the bucket of {starts[i // shown].isoformat()}")
    df = pd.DataFrame(vals, index=pd.DatetimeIndex(starts, name="ts"),
                      columns=pd.Index(labels, dtype=object, name="tag"))
    if metric == "cost" and unpriced_mask(self) is not None:
        df.attrs["unpriced"] = _unpriced_shown(self, slot, ns, b, nb, attribution)
    return df


def _unpriced_shown(self: RequestLog, slot: np.ndarray, ns: int, group: np.ndarray,
                    n_groups: int, attribution: str) -> int:
    """How many requests with an unknown cost a frame of the set counts in its buckets: any
    in a bucket for split and primary (every request lands in a column), those that carry a
    node of the set for full attribution."""
    mask = unpriced_mask(self)
    if mask is None or n_groups == 0:
        return 0
    g = group[mask]
    if attribution != "full":
        return int((g >= 0).sum())
    one = np.where(slot >= 0, 0, -1).astype(np.int32)  # every node of the set: one slot
    return int(_unpriced_cells(self, one, 1, group, n_groups, "full")[:, 0].sum())
