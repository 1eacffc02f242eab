"""A metric per time bucket and tag: fixed-width and calendar buckets, DST-correct."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tagcore import kernels

if TYPE_CHECKING:  # pragma: no cover
    from tagcore.log import RequestLog

from tagcore.query._common import (  # noqa: F401
    _ATTRIBUTIONS,
    NANOS,
    _check_level,
    _empty_frame,
    _frame,
    _latency_layout,
    _log_mod,
    _max_tags,
    _node,
    _node_slots,
    _select_nodes,
    _set_nodes,
    _sort,
    _wants,
)
from tagcore.query.window import window

# ------------------------------------------------------------------------------- time


_CALENDAR = {"D", "W", "MS", "ME", "M", "QS", "YS", "AS"}


def _buckets(self: RequestLog, freq: str, w: tuple[int, int] | None, tz: str):
    """Bucket index of each row (-1 outside) and the tz-aware bucket starts."""
    off = pd.tseries.frequencies.to_offset(freq)
    n = len(self)
    if w is None:
        if n == 0:
            return np.zeros(0, dtype=np.int32), pd.DatetimeIndex([], tz=tz)
        lo, hi = int(self.ts.min()) - 1, int(self.ts.max())
    else:
        lo, hi = w
        if n:
            hi = min(hi, max(int(self.ts.max()), lo + 1)) if w[1] == np.iinfo(np.int64).max else hi
            lo = max(lo, int(self.ts.min()) - 1) if w[0] == np.iinfo(np.int64).min else lo
    first = pd.Timestamp(lo + 1, unit="ns", tz="UTC").tz_convert(tz)
    name = getattr(off, "rule_code", None) or str(off)
    is_tick = isinstance(off, pd.offsets.Tick) and not (name == "D" or name.endswith("D"))
    if is_tick:
        width = int(pd.Timedelta(off).value)
        # aligned to the local day start of the window (pandas' origin="start_day"), so
        # hours are local hours in zones with half-hour offsets too
        d0 = int(first.normalize().tz_convert("UTC").value)
        origin = d0 + (lo + 1 - d0) // width * width
        nb = (hi - origin) // width + 1
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
    edges_ns = _calendar.edges(lo + 1, hi, unit, mult, tz)
    nb = len(edges_ns) - 1
    b = np.searchsorted(edges_ns, self.ts, side="right").astype(np.int64) - 1
    inside = (self.ts > lo) & (self.ts <= hi) & (b >= 0) & (b < nb)
    b = np.where(inside, b, -1).astype(np.int32)
    return b, pd.to_datetime(edges_ns[:-1], unit="ns", utc=True).tz_convert(tz)


_TS_METRICS = {"cost": 4, "requests": 0, "errors": 1, "prompt_tokens": 2,
               "completion_tokens": 3, "total_tokens": None}


def timeseries(self: RequestLog, freq: str, level: int | None = None, under: str | None = None,
               metric: str = "cost", last: Any = None, since: Any = None, until: Any = None,
               now: Any = None, tz: str = "UTC", attribution: str = "full") -> pd.DataFrame:
    """A metric per time bucket and tag: index of tz-aware bucket starts, one column per tag
    path of the set (default: level 1), zeros for empty buckets inside the window.

    ``freq`` is a pandas alias: ``"1h"``, ``"15min"`` (absolute), ``"1D"``, ``"1W"`` (weeks
    starting Monday), ``"1MS"`` (calendar, in ``tz``, DST-correct).

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
    iacc, facc = kernels.rollup_slots(self.tag_offsets, self.tag_ids, slot, ns, self.status,
                                      self.prompt_tokens, self.completion_tokens, self.cost,
                                      self.latency_ms, self.ts, mode=attribution, group=b,
                                      n_groups=nb, trusted=self)
    split = attribution == "split"
    if metric == "cost":
        vals = iacc[:, :, 4] / NANOS
    elif metric == "total_tokens":
        vals = (facc[:, :, 2] + facc[:, :, 3]) if split else (iacc[:, :, 2] + iacc[:, :, 3])
    else:
        c = _TS_METRICS[metric]
        vals = facc[:, :, c] if split else iacc[:, :, c]
    paths = self.trie.paths
    labels = [paths[v] for v in nodes.tolist()]
    if attribution != "full":
        labels.append(_log_mod().UNTAGGED)
    else:
        vals = vals[:, :ns]
    df = pd.DataFrame(vals, index=pd.DatetimeIndex(starts, name="ts"),
                      columns=pd.Index(labels, dtype=object, name="tag"))
    return df
