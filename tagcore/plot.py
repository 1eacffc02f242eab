"""Plots of a :class:`~tagcore.log.RequestLog` for Jupyter: ``log.plot.rollup()``, ``.top()``,
``.timeseries()``, ``.sunburst()`` and ``.treemap()``, and the log's own HTML summary.

Each plot method runs the query of the same name (same arguments) and returns a
``plotly.graph_objects.Figure`` drawn from that frame's numbers, unchanged: a notebook shows
it, ``fig.write_html(path)`` saves it, ``fig.data`` holds the values. Plotly is the charting
library because it works offline (its JavaScript ships inside the Python package), draws
sunbursts and treemaps that drill down on a click, and its figures are interactive in
Jupyter with hover values to the cent; the same library draws the ``report --html`` page.
It is an optional extra (``pip install 'tagcore[viz]'``): ``import tagcore.plot`` does not
load it, and a plot method without it raises ``ImportError`` saying what to install.

Titles say what is measured, over which requests (the window) and how requests with several
tags are counted; money is in dollars. ``last=``, ``since=``, ``until=`` (and ``now=``) choose
the window of every method, as :meth:`RequestLog.filter` reads them.

>>> import tagcore as tc
>>> log = tc.load_sample()
>>> fig = log.plot.top(3, under="customer", last="7D")  # a plotly Figure; a cell shows it
>>> frame = log.filter(last="7D").top(3, under="customer")
>>> list(fig.data[0].y) == frame.index.tolist(), list(fig.data[0].x) == frame["cost"].tolist()
(True, True)
>>> print(fig.layout.title.text)
Top 3 under customer by cost, plus (other)<br><sup>split attribution: the bars add up to
the total · last 7 days: 2026-11-13 17:56 – 2026-11-20 17:56 UTC · 983 requests,
$7.76</sup>
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import plotly.graph_objects as go

    from tagcore.log import RequestLog

__all__ = ["PlotAccessor", "dollars", "hierarchy", "summary_html"]

INSTALL_HINT = "pip install 'tagcore[viz]'"

#: The id of the sunburst's and treemap's centre (all requests, or the ``under`` node): a
#: tag path never starts with "/", so no node of a log can have it.
CENTER_ID = "/"

_LABELS = {
    "requests": "Requests", "errors": "Errors", "prompt_tokens": "Prompt tokens",
    "completion_tokens": "Completion tokens", "total_tokens": "Total tokens",
    "cost": "Cost (USD)", "share": "Share of total cost", "latency_mean": "Mean latency (ms)",
    "latency_p50": "p50 latency (ms)", "latency_p90": "p90 latency (ms)",
    "latency_p95": "p95 latency (ms)", "latency_p99": "p99 latency (ms)",
}
_WORDS = {"cost": "cost", "requests": "requests", "errors": "errors",
          "prompt_tokens": "prompt tokens", "completion_tokens": "completion tokens",
          "total_tokens": "total tokens", "share": "share of cost"}
#: metrics whose values add up over disjoint sets of requests (bars of them may be stacked)
_ADDITIVE = ("requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens", "cost",
             "share")
_SIZE_METRICS = ("requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens",
                 "cost")
_GREY = "#9e9e9e"  # (other)
_DARK_GREY = "#616161"  # (untagged)
_BLUE = "#636efa"
_ATTR_NOTE = {
    "full": "full attribution: a request counts under each of its tags",
    "split": "split attribution: the bars add up to the total",
    "primary": "primary attribution (first tag): the bars add up to the total",
}
_TS_ATTR_NOTE = {
    "full": "full attribution: a request counts under each of its tags, lines overlap",
    "split": "split attribution: the stacks add up to the total",
    "primary": "primary attribution (first tag): the stacks add up to the total",
}


# ------------------------------------------------------------------------------- helpers


def _go() -> Any:
    """``plotly.graph_objects``, or an ImportError that says how to install it."""
    try:
        import plotly.graph_objects as go
    except ImportError as exc:
        raise ImportError(
            f"tagcore's plots need plotly, an optional extra: {INSTALL_HINT} "
            f"(or pip install plotly); the import failed with: {exc}") from exc
    return go


def _ptext(text: Any) -> str:
    """``text`` shown literally by Plotly, which reads a few HTML tags and entities in labels:
    ``&``, ``<`` and ``>`` become entities, so a tag named ``<b>x</b>`` is not drawn bold.

    >>> _ptext("<script>a&b</script>")
    '&lt;script&gt;a&amp;b&lt;/script&gt;'
    """
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def dollars(nanos: int) -> str:
    """Exact nano-dollars as dollars to the cent (half-even), with thousands separators.

    >>> dollars(24_153_937_225), dollars(5_000_000), dollars(15_000_000), dollars(0)
    ('$24.15', '$0.00', '$0.02', '$0.00')
    """
    cents = (Decimal(int(nanos)) / Decimal(10**9)).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
    return f"${cents:,.2f}"


def _stamp(ns: int) -> str:
    import pandas as pd

    return pd.Timestamp(int(ns), unit="ns", tz="UTC").strftime("%Y-%m-%d %H:%M")


def _duration(last: Any) -> str:
    """``"7D"`` as ``"7 days"``, ``"1h"`` as ``"1 hour"``; anything else as pandas prints it."""
    import pandas as pd

    try:
        td = pd.Timedelta(last)
    except (TypeError, ValueError):
        return str(last)
    for unit, size in (("week", 7 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60)):
        secs = td.total_seconds()
        if secs >= size and secs % size == 0 and (unit != "week" or secs > 7 * 86400):
            k = int(secs // size)
            return f"{k} {unit}{'s' if k != 1 else ''}"
    return str(td)


def _window(log: RequestLog, since: Any, until: Any, last: Any, now: Any, *,
            subset: bool = True) -> tuple[Any, str, str]:
    """The log restricted to the window (as ``log.filter`` reads it; None unless ``subset``),
    the window's words (``"last 7 days: 2026-11-13 17:56 – 2026-11-20 17:56 UTC"``) and what
    it holds (``"983 requests, $7.76"``, from the exact nano-dollars)."""
    from tagcore.query._common import col_total, exact_sum

    w = log.window(since=since, until=until, last=last, now=now)
    if w is None:
        sub = log
        inside = log.ts
        head = "all requests"
        count, nanos = len(log), col_total(log, "cost")
    elif subset:
        sub = log.filter(since=since, until=until, last=last, now=now)
        inside = sub.ts
        count, nanos = len(sub), col_total(sub, "cost")
    else:  # the count and the money alone: no new log
        sub = None
        mask = (log.ts > w[0]) & (log.ts <= w[1])
        inside = log.ts[mask]
        count, nanos = int(inside.size), exact_sum(log.cost[mask])
    if w is not None:
        head = f"last {_duration(last)}" if last is not None else "window"
    i64 = np.iinfo(np.int64)
    lo = hi = None
    if w is None or w[0] == i64.min:
        lo = int(inside.min()) if inside.size else None
    else:
        lo = w[0] + 1
    if w is None or w[1] == i64.max:
        hi = int(inside.max()) if inside.size else None
    else:
        hi = w[1]
        if until is not None and hi == log.window(until=until)[1]:
            hi += 1  # until= is exclusive: say "– 2026-11-08 00:00", not "– 11-07 23:59"
    what = f"{count:,} request{'' if count == 1 else 's'}, {dollars(nanos)}"
    if lo is None or hi is None:
        return sub, f"{head}: no requests", what
    return sub, f"{head}: {_stamp(lo)} – {_stamp(hi)} UTC", what


def _scope(under: str | None, level: int | None) -> str:
    parts = []
    if under is not None:
        parts.append(f" under {under}")
    if level is not None:
        parts.append(f" at level {level}")
    return ",".join(parts)


def _title(main: str, notes: Sequence[str]) -> dict[str, Any]:
    sub = " · ".join(n for n in notes if n)
    text = _ptext(main) + (f"<br><sup>{_ptext(sub)}</sup>" if sub else "")
    return {"text": text, "x": 0.01, "xanchor": "left"}


def _value_format(metric: str, values: Any) -> tuple[str, str]:
    """(d3 number format, prefix) for hover and bar text of a metric's values."""
    if metric == "cost":
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v) & (v > 0)]
        small = v.size and float(v.max()) < 1.0
        return (",.4f" if small else ",.2f"), "$"
    if metric == "share":
        return ".1%", ""
    if metric.startswith("latency"):
        return ",.1f", ""
    return ",.4~f", ""


def _axis_format(metric: str) -> dict[str, Any]:
    if metric == "cost":
        return {"tickprefix": "$", "tickformat": ",.2f"}
    if metric == "share":
        return {"tickformat": ".0%"}
    return {"tickformat": ",~s"}


def _check_metric(metric: str, allowed: Sequence[str], what: str) -> None:
    if metric not in allowed:
        raise ValueError(f"metric: {what} plots one of {list(allowed)}, got {metric!r}")


def _empty_note(fig: Any, text: str = "no requests in the window") -> None:
    fig.add_annotation(text=text, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
                       font={"size": 14, "color": _GREY})


def _color(tag: str) -> str:
    """Bar colour: greys for the frames' own rows ``(other)`` and ``(untagged)``."""
    return {"(other)": _GREY, "(untagged)": _DARK_GREY}.get(tag, _BLUE)


def _bar_height(n: int) -> int:
    return int(max(320, min(2400, 150 + 26 * n)))


# ------------------------------------------------------------------------------- accessor


class PlotAccessor:
    """The plots of one log: ``log.plot.rollup()``, ``log.plot.top()``,
    ``log.plot.timeseries()``, ``log.plot.sunburst()``, ``log.plot.treemap()``.

    Each returns a ``plotly.graph_objects.Figure`` of the frame the log's method of the same
    name returns (same arguments), numbers unchanged.

    >>> import tagcore as tc
    >>> tc.load_sample().plot
    <PlotAccessor of RequestLog(4000 requests, 18821 tags, 50 nodes, 6 models)>
    """

    __slots__ = ("_log",)

    def __init__(self, log: RequestLog) -> None:
        self._log = log

    def __repr__(self) -> str:
        return f"<PlotAccessor of {self._log!r}>"

    # --------------------------------------------------------------------------- rollup

    def rollup(self, under: str | None = None, level: int | None = None,
               attribution: str = "full", by: str | None = None, sort: str | None = None,
               metric: str = "cost", *, max_bars: int = 30, last: Any = None,
               since: Any = None, until: Any = None, now: Any = None) -> go.Figure:
        """Horizontal bars of ``metric`` per tag node: :meth:`RequestLog.rollup` with the same
        ``under``, ``level``, ``attribution`` and ``by``, sorted by ``sort`` (default: the
        metric), the first ``max_bars`` rows shown, largest on top. ``by`` (``"model"``,
        ``"status"``, ``"user"``, ``"key"``) draws one bar segment per value, stacked when the
        metric adds up (requests, tokens, cost), side by side otherwise (latency).

        >>> import tagcore as tc
        >>> log = tc.load_sample()
        >>> fig = log.plot.rollup(under="feature", attribution="split")
        >>> frame = log.rollup(under="feature", attribution="split")
        >>> list(fig.data[0].y) == frame.index.tolist()
        True
        >>> fig.data[0].x.tolist() == frame["cost"].tolist()
        True
        >>> fig.layout.xaxis.title.text
        'Cost (USD)'
        """
        _check_metric(metric, list(_LABELS), "rollup")
        go = _go()
        sub, when, what = _window(self._log, since, until, last, now)
        order = metric if sort is None else sort
        want = [metric] + (["share"] if metric == "cost" else []) + (
            [order] if order in _LABELS else [])
        df = sub.rollup(under=under, level=level, attribution=attribution, by=by, sort=order,
                        metrics=list(dict.fromkeys(want)))
        notes = [_ATTR_NOTE.get(attribution, attribution), when, what]
        fmt, pre = _value_format(metric, df[metric].to_numpy() if len(df) else [])
        fig = go.Figure()
        if by is None:
            shown = df.iloc[:max_bars]
            if len(df) > len(shown):
                notes.append(f"the first {len(shown)} of {len(df)} tags")
            tags = shown.index.tolist()
            custom = np.empty((len(shown), 2), dtype=object)
            custom[:, 0] = [_ptext(t) for t in tags]
            custom[:, 1] = shown["share"].to_numpy() if "share" in shown else 0.0
            extra = "  (%{customdata[1]:.1%})" if "share" in shown else ""
            fig.add_trace(go.Bar(
                x=shown[metric].to_numpy(), y=tags, orientation="h", customdata=custom,
                marker={"color": [_color(t) for t in tags]},
                texttemplate=f"{pre}%{{x:{fmt}}}{extra}", textposition="outside",
                cliponaxis=False,
                hovertemplate=(f"<b>%{{customdata[0]}}</b><br>{_ptext(_LABELS[metric])}: "
                               f"{pre}%{{x:{fmt}}}{extra}<extra></extra>"),
                name=_ptext(_LABELS[metric])))
            self._tag_axis(fig, tags)
        else:
            tags = self._by_bars(fig, go, df, by, metric, fmt, pre, max_bars, notes)
        if not len(df):
            _empty_note(fig, "no tags in the window" if len(sub) else "no requests in the window")
        scope = _scope(under, level) or " (every node of every path)"
        if by is not None:
            scope += f", by {by}"
        fig.update_layout(
            title=_title(f"{_LABELS[metric].split(' (')[0]} per tag{scope}", notes),
            template="plotly_white", height=_bar_height(len(tags)), showlegend=by is not None,
            margin={"l": 10, "r": 80, "t": 90, "b": 50},
            xaxis={"title": {"text": _ptext(_LABELS[metric])}, **_axis_format(metric)})
        return fig

    @staticmethod
    def _tag_axis(fig: Any, tags: Sequence[str]) -> None:
        """A category y axis of tag paths, first on top, labels shown literally."""
        fig.update_yaxes(type="category", autorange="reversed", tickmode="array",
                         tickvals=list(tags), ticktext=[_ptext(t) for t in tags],
                         title={"text": "tag"}, automargin=True)

    def _by_bars(self, fig: Any, go: Any, df: pd.DataFrame, by: str, metric: str, fmt: str,
                 pre: str, max_bars: int, notes: list[str]) -> list[str]:
        """One trace per value of ``by`` (a level of the frame's index), over the tags with
        the largest sums (or maxima, for a metric that does not add up)."""
        lv = df.index.get_level_values(0).tolist()
        tag_of = df.index.get_level_values(1).tolist()
        vals = df[metric].to_numpy(dtype=np.float64)
        additive = metric in _ADDITIVE
        per_tag: dict[str, float] = {}
        for t, v in zip(tag_of, vals):
            if np.isnan(v):
                continue
            per_tag[t] = per_tag.get(t, 0.0) + v if additive else max(per_tag.get(t, v), v)
        first = dict.fromkeys(tag_of)  # the frame's own order breaks ties
        rank = {t: i for i, t in enumerate(first)}
        tags = sorted(first, key=lambda t: (-per_tag.get(t, 0.0), rank[t]))
        if len(tags) > max_bars:
            notes.append(f"the {max_bars} largest of {len(tags)} tags")
            tags = tags[:max_bars]
        keep = set(tags)
        groups: dict[Any, float] = {}
        for g, v in zip(lv, vals):
            groups[g] = groups.get(g, 0.0) + (0.0 if np.isnan(v) else v)
        for g in sorted(groups, key=lambda g: -groups[g]):
            rows = [i for i, (gg, t) in enumerate(zip(lv, tag_of))
                    if (gg is g or gg == g) and t in keep]
            if not rows:
                continue
            name = "(none)" if g is None else str(g)
            ys = [tag_of[i] for i in rows]
            fig.add_trace(go.Bar(
                x=df[metric].to_numpy()[rows], y=ys, orientation="h", name=_ptext(name),
                customdata=[[_ptext(t)] for t in ys],
                hovertemplate=(f"<b>%{{customdata[0]}}</b><br>{_ptext(by)} {_ptext(name)}: "
                               f"{pre}%{{x:{fmt}}}<extra></extra>")))
        fig.update_layout(barmode="stack" if additive else "group",
                          legend={"title": {"text": _ptext(by)}, "traceorder": "normal"})
        self._tag_axis(fig, tags)
        return tags

    # --------------------------------------------------------------------------- top

    def top(self, n: int = 10, under: str | None = None, level: int | None = None,
            attribution: str = "split", metric: str = "cost", *, last: Any = None,
            since: Any = None, until: Any = None, now: Any = None) -> go.Figure:
        """Horizontal bars of :meth:`RequestLog.top`: the ``n`` largest nodes of a set by
        ``metric`` and the ``(other)`` row (grey), in the frame's order. With split or primary
        attribution the bars add up to the total; with full attribution ``(other)`` holds the
        requests none of the top ``n`` covers.

        >>> import tagcore as tc
        >>> log = tc.load_sample()
        >>> fig = log.plot.top(5, level=1, attribution="full", metric="requests")
        >>> frame = log.top(5, level=1, attribution="full", metric="requests")
        >>> list(fig.data[0].y), fig.data[0].x.tolist() == frame["requests"].tolist()
        (['env', 'feature', 'customer', 'org', 'US', '(other)'], True)
        """
        _check_metric(metric, _SIZE_METRICS, "top")
        go = _go()
        sub, when, what = _window(self._log, since, until, last, now)
        want = list(dict.fromkeys([metric, "cost", "share"]))
        df = sub.top(n, under=under, level=level, attribution=attribution, metric=metric,
                     metrics=want)
        notes = [_ATTR_NOTE.get(attribution, attribution)
                 if attribution != "full" else
                 "full attribution: (other) is the requests none of these covers",
                 when, what]
        tags = df.index.tolist()
        fmt, pre = _value_format(metric, df[metric].to_numpy())
        custom = np.empty((len(df), 2), dtype=object)
        custom[:, 0] = [_ptext(t) for t in tags]
        custom[:, 1] = df["share"].to_numpy()
        fig = go.Figure(go.Bar(
            x=df[metric].to_numpy(), y=tags, orientation="h", customdata=custom,
            marker={"color": [_color(t) for t in tags]},
            texttemplate=f"{pre}%{{x:{fmt}}}", textposition="outside", cliponaxis=False,
            hovertemplate=(f"<b>%{{customdata[0]}}</b><br>{_ptext(_LABELS[metric])}: "
                           f"{pre}%{{x:{fmt}}}<br>share of cost: %{{customdata[1]:.1%}}"
                           "<extra></extra>"),
            name=_ptext(_LABELS[metric])))
        self._tag_axis(fig, tags)
        if not len(sub):
            _empty_note(fig)
        fig.update_layout(
            title=_title(f"Top {n}{_scope(under, level)} by {_WORDS[metric]}, plus (other)",
                         notes),
            template="plotly_white", height=_bar_height(len(tags)), showlegend=False,
            margin={"l": 10, "r": 80, "t": 90, "b": 50},
            xaxis={"title": {"text": _ptext(_LABELS[metric])}, **_axis_format(metric)})
        return fig

    # --------------------------------------------------------------------------- timeseries

    def timeseries(self, freq: str = "1D", level: int | None = None, under: str | None = None,
                   metric: str = "cost", last: Any = None, since: Any = None,
                   until: Any = None, now: Any = None, tz: str = "UTC",
                   attribution: str = "full", *, kind: str | None = None,
                   max_series: int = 10) -> go.Figure:
        """``metric`` per time bucket and tag: :meth:`RequestLog.timeseries` with the same
        arguments, one trace per column. ``kind="bar"`` stacks the bars with split or primary
        attribution (each stack is the bucket's total) and sets them side by side with full
        attribution (tags overlap); ``kind="line"`` draws lines. The default is lines for full
        attribution, stacked bars otherwise. The ``max_series`` largest columns are drawn; with
        split or primary attribution the rest are summed into an ``(other)`` trace. The x axis
        is the bucket start in wall time of ``tz``.

        >>> import tagcore as tc
        >>> log = tc.load_sample()
        >>> fig = log.plot.timeseries("1D", under="env", last="7D", attribution="split")
        >>> frame = log.timeseries("1D", under="env", last="7D", attribution="split")
        >>> [t.name for t in fig.data]
        ['env/production', 'env/staging', '(untagged)']
        >>> all(t.y.tolist() == frame[t.name].tolist() for t in fig.data)
        True
        >>> fig.layout.barmode, fig.layout.yaxis.title.text
        ('stack', 'Cost (USD)')
        """
        _check_metric(metric, _SIZE_METRICS, "timeseries")
        if kind not in (None, "bar", "line"):
            raise ValueError(f"kind: expected 'bar' or 'line', got {kind!r}")
        go = _go()
        log = self._log
        df = log.timeseries(freq, level=level, under=under, metric=metric, last=last,
                            since=since, until=until, now=now, tz=tz, attribution=attribution)
        _, when, what = _window(log, since, until, last, now, subset=False)
        kind = kind or ("line" if attribution == "full" else "bar")
        notes = [_TS_ATTR_NOTE.get(attribution, attribution), when, what]
        fig = go.Figure()
        x = df.index.tz_localize(None) if len(df.index) else []
        cols = list(df.columns)
        sums = {c: float(np.nansum(df[c].to_numpy(dtype=np.float64))) for c in cols}
        pinned = [c for c in cols if c == "(untagged)"]
        ranked = sorted((c for c in cols if c not in pinned), key=lambda c: -sums[c])
        shown, rest = ranked[:max_series], ranked[max_series:]
        fmt, pre = _value_format(metric, df.to_numpy().ravel() if df.size else [])
        hover = f"%{{x|%Y-%m-%d %H:%M}}: {pre}%{{y:{fmt}}}"
        series: list[tuple[str, Any, str | None]] = [(c, df[c].to_numpy(), None) for c in shown]
        if rest and attribution != "full":
            series.append(("(other)", _sum_columns(df, rest, metric), _GREY))
            notes.append(f"{len(rest)} smaller tags summed in (other)")
        elif rest:
            notes.append(f"the {len(shown)} largest of {len(cols)} tags")
        series += [(c, df[c].to_numpy(), _DARK_GREY) for c in pinned]
        for name, y, color in series:
            common = {"x": x, "y": y, "name": _ptext(name),
                      "hovertemplate": f"{_ptext(name)}<br>{hover}<extra></extra>"}
            if kind == "bar":
                fig.add_trace(go.Bar(**common, marker={"color": color} if color else None))
            else:
                fig.add_trace(go.Scatter(**common, mode="lines+markers",
                                         line={"color": color} if color else None))
        if not df.size:
            _empty_note(fig)
        scope = _scope(under, level if (level is not None or under is not None) else 1)
        fig.update_layout(
            title=_title(f"{_LABELS[metric].split(' (')[0]} per {_bucket_word(freq)} and "
                         f"tag{scope}", notes),
            template="plotly_white", height=480, hovermode="x unified",
            barmode="stack" if attribution != "full" else "group",
            margin={"l": 10, "r": 10, "t": 90, "b": 50},
            legend={"title": {"text": "tag"}},
            xaxis={"title": {"text": f"{_bucket_word(freq)} starting ({_ptext(tz)})"}},
            yaxis={"title": {"text": _ptext(_LABELS[metric])}, **_axis_format(metric)})
        return fig

    # --------------------------------------------------------------------------- hierarchy

    def sunburst(self, under: str | None = None, metric: str = "cost", *,
                 max_depth: int | None = None, last: Any = None, since: Any = None,
                 until: Any = None, now: Any = None) -> go.Figure:
        """The path hierarchy as a Plotly sunburst, drillable by clicking: each node's value
        is its total, each request counted once however many of its tags fall under the node
        (the full-attribution :meth:`RequestLog.rollup`), shown in its label and hover.

        The centre is all requests (or the ``under`` node); ``max_depth`` limits how many
        levels below it are drawn. A request often carries several tags, so the children of a
        node can add up to more than the node (``customer`` and ``env`` both hold nearly every
        request). Plotly draws a sector no smaller than the sum of its children, so the sector
        *sizes* (``fig.data[0].values``, with ``branchvalues="total"``) are the totals scaled
        down where children overlap, by one factor per parent: siblings keep their
        proportions and a parent whose children do not overlap keeps its exact total. The
        exact totals are ``fig.data[0].customdata[:, 0]``.

        >>> import tagcore as tc
        >>> log = tc.load_sample()
        >>> fig = log.plot.sunburst(under="customer")
        >>> frame = log.rollup(under="customer", sort="path")
        >>> list(fig.data[0].ids[1:]) == frame.index.tolist()
        True
        >>> fig.data[0].customdata[1:, 0].tolist() == frame["cost"].tolist()
        True
        >>> fig.data[0].branchvalues
        'total'
        """
        return self._hierarchy("sunburst", under, metric, max_depth, last, since, until, now)

    def treemap(self, under: str | None = None, metric: str = "cost", *,
                max_depth: int | None = None, last: Any = None, since: Any = None,
                until: Any = None, now: Any = None) -> go.Figure:
        """The path hierarchy as a Plotly treemap: the same nodes, totals and sizes as
        :meth:`sunburst`.

        >>> import tagcore as tc
        >>> fig = tc.load_sample().plot.treemap(under="org", metric="requests")
        >>> fig.data[0].type, fig.data[0].ids[0], int(fig.data[0].customdata[0, 0])
        ('treemap', 'org', 2756)
        """
        return self._hierarchy("treemap", under, metric, max_depth, last, since, until, now)

    def _hierarchy(self, kind: str, under: str | None, metric: str, max_depth: int | None,
                   last: Any, since: Any, until: Any, now: Any) -> go.Figure:
        _check_metric(metric, _SIZE_METRICS, kind)
        if max_depth is not None and (isinstance(max_depth, bool) or max_depth < 1):
            raise ValueError(f"max_depth: expected an integer >= 1, got {max_depth!r}")
        go = _go()
        sub, when, what = _window(self._log, since, until, last, now)
        h = hierarchy(sub, under=under, metric=metric, max_depth=max_depth)
        fmt, pre = _value_format(metric, h["totals"])
        custom = np.empty((len(h["ids"]), 3), dtype=object)
        custom[:, 0] = h["totals"]
        custom[:, 1] = h["shares"]
        custom[:, 2] = [_ptext(p) for p in h["paths"]]
        trace = (go.Sunburst if kind == "sunburst" else go.Treemap)(
            ids=h["ids"], parents=h["parents"], labels=[_ptext(x) for x in h["labels"]],
            values=h["sizes"], branchvalues="total", customdata=custom,
            texttemplate=f"%{{label}}<br>{pre}%{{customdata[0]:{fmt}}}",
            hovertemplate=(f"<b>%{{customdata[2]}}</b><br>{_ptext(_LABELS[metric])}: "
                           f"{pre}%{{customdata[0]:{fmt}}}<br>%{{customdata[1]:.1%}} of the "
                           f"{'requests' if metric == 'requests' else _WORDS[metric]} "
                           "in the window<extra></extra>"),
            **({"insidetextorientation": "radial"} if kind == "sunburst" else {}))
        fig = go.Figure(trace)
        if not len(sub) or len(h["ids"]) <= 1:
            _empty_note(fig, "no requests in the window" if not len(sub) else "no tags")
        where = f"under {under}" if under is not None else "every tag path"
        notes = ["each node's total counts a request once; overlapping children are scaled "
                 "to fit (hover for exact totals)", when, what]
        fig.update_layout(
            title=_title(f"{_LABELS[metric].split(' (')[0]} by tag path, {where}", notes),
            template="plotly_white", height=640 if kind == "sunburst" else 560,
            margin={"l": 10, "r": 10, "t": 90, "b": 10})
        return fig


def _sum_columns(df: pd.DataFrame, cols: Sequence[str], metric: str) -> np.ndarray:
    """The sum of some columns of a time series frame, in the frame's column order; dollars
    exactly (each cell is whole nano-dollars over 1e9: added as integers)."""
    keep = [c for c in df.columns if c in set(cols)]
    if metric == "cost":
        nanos = np.rint(df[keep].to_numpy(dtype=np.float64) * 1e9).astype(np.int64)
        return nanos.sum(axis=1) / 1e9
    return df[keep].sum(axis=1).to_numpy()


def _bucket_word(freq: str) -> str:
    return {"1D": "day", "D": "day", "1h": "hour", "h": "hour", "1H": "hour", "H": "hour",
            "1W": "week", "W": "week", "1MS": "month", "MS": "month", "1min": "minute",
            "min": "minute", "QS": "quarter", "1QS": "quarter", "YS": "year",
            "1YS": "year"}.get(freq, f"{freq} bucket")


def hierarchy(log: RequestLog, under: str | None = None, metric: str = "cost",
              max_depth: int | None = None) -> dict[str, list[Any]]:
    """The nodes of a sunburst or treemap, in path order after the centre: ``ids`` (paths;
    the centre is ``"/"``), ``parents``, ``labels`` (last segments), ``paths``, ``totals``
    (each node's ``metric`` counted once per request: the full-attribution roll-up),
    ``shares`` (of the centre's total) and ``sizes`` (the totals where children do not
    overlap, scaled down to fit their parent where they do: ``branchvalues="total"``).

    >>> from tagcore import RequestLog
    >>> log = RequestLog.from_records([
    ...     {"ts": 0, "model": "m", "prompt_tokens": 1, "completion_tokens": 0, "cost": 2,
    ...      "latency_ms": 1, "status": 200, "request_tags": ["f/a", "f/b"]},
    ...     {"ts": 1, "model": "m", "prompt_tokens": 1, "completion_tokens": 0, "cost": 1,
    ...      "latency_ms": 1, "status": 200, "request_tags": ["f/a"]}])
    >>> h = hierarchy(log)
    >>> h["ids"], h["totals"], h["sizes"]
    (['/', 'f', 'f/a', 'f/b'], [3.0, 3.0, 3.0, 2.0], [3.0, 3.0, 1.8, 1.2])
    """
    from tagcore.query._common import col_total
    from tagcore.tags import TagError, normalize_tag

    exact = "cost_nanos" if metric == "cost" else metric
    df = log.rollup(sort="path", metrics=list(dict.fromkeys([metric, exact])))
    found = False
    if under is not None:
        try:
            root = normalize_tag(under)
        except TagError as exc:
            raise ValueError(f"under: {exc}") from None
        inside = [p == root or p.startswith(root + "/") for p in df.index.tolist()]
        df = df[np.asarray(inside, dtype=bool)] if len(df) else df
        found = bool(len(df)) and df.index[0] == root
    if max_depth is not None and len(df):
        top = int(df["depth"].iloc[0]) if under is not None and found else 0
        df = df[df["depth"].to_numpy() <= top + max_depth]
    paths: list[str] = df.index.tolist()
    totals_f = df[metric].to_numpy(dtype=np.float64).tolist()
    totals_i = [int(v) for v in df[exact].tolist()]
    if under is None:
        center_i = col_total(log, "cost") if metric == "cost" else _grand(log, metric)
        center_f = center_i / 10**9 if metric == "cost" else float(center_i)
        ids = [CENTER_ID] + paths
        parents = [""] + [CENTER_ID if p is None else p
                          for p in df["parent"].tolist()]
        labels = ["all requests"] + [p.rsplit("/", 1)[-1] for p in paths]
        show_paths = ["all requests"] + paths
        tot_f = [center_f] + totals_f
        tot_i = [center_i] + totals_i
    else:
        if not found:  # an unknown node: only the centre, empty
            return {"ids": [under], "parents": [""], "labels": [under], "paths": [under],
                    "totals": [0.0], "shares": [0.0], "sizes": [0.0]}
        ids = list(paths)
        parents = [""] + df["parent"].tolist()[1:]
        labels = [paths[0]] + [p.rsplit("/", 1)[-1] for p in paths[1:]]
        show_paths = list(paths)
        tot_f, tot_i = totals_f, totals_i
    pos = {i: k for k, i in enumerate(ids)}
    kids_i = [0] * len(ids)
    for k in range(1, len(ids)):
        kids_i[pos[parents[k]]] += tot_i[k]
    # sizes in path order (a parent before its children): scaled where children overlap
    sizes = [0.0] * len(ids)
    sizes[0] = tot_f[0]
    for k in range(1, len(ids)):
        p = pos[parents[k]]
        if kids_i[p] <= tot_i[p] and sizes[p] == tot_f[p]:
            sizes[k] = tot_f[k]  # nothing scaled on the way down: the exact total
        else:
            base = max(tot_i[p], kids_i[p])
            sizes[k] = sizes[p] * (tot_i[k] / base) if base else 0.0
    c = tot_i[0]
    shares = [(t / c if c else 0.0) for t in tot_i]
    return {"ids": ids, "parents": parents, "labels": labels, "paths": show_paths,
            "totals": tot_f, "shares": shares, "sizes": sizes}


def _grand(log: RequestLog, metric: str) -> int:
    """The log's exact total of a countable metric."""
    from tagcore.query._common import col_total

    if metric == "requests":
        return len(log)
    if metric == "errors":
        return int(np.count_nonzero(log.status >= 400))
    if metric == "total_tokens":
        return col_total(log, "prompt_tokens") + col_total(log, "completion_tokens")
    return col_total(log, metric)


# ------------------------------------------------------------------------------- _repr_html_


def summary_html(log: RequestLog, top: int = 5) -> str:
    """A small HTML summary of a log (what a bare ``log`` shows in a Jupyter cell): rows, time
    window, total cost to the cent, tokens, errors and the ``top`` top-level tags by cost
    with their shares. Every name is escaped. It reads cached totals and the cached
    full-attribution roll-up, so a 10M-row log answers in about the time of one roll-up once,
    then at once (the HTML is cached on the immutable log).

    >>> import tagcore as tc
    >>> text = summary_html(tc.load_sample())
    >>> "4,000 requests" in text, "$24.15" in text, "customer" in text
    (True, True, True)
    """
    key = ("summary_html", top, len(log.trie))  # a shared trie may grow
    got = log._cache.get(key)
    if got is None:
        got = log._cache[key] = _summary_html(log, top)
    return got


def _summary_html(log: RequestLog, top: int) -> str:
    from tagcore.errors import TagcoreError
    from tagcore.query._common import col_total

    esc = html.escape
    n = len(log)
    grand = col_total(log, "cost")
    if n:
        window = f"{_stamp(int(log.ts.min()))} – {_stamp(int(log.ts.max()))} UTC"
        tokens = col_total(log, "prompt_tokens") + col_total(log, "completion_tokens")
        errors = int(np.count_nonzero(log.status >= 400))
        untagged = int(np.count_nonzero(log.tag_offsets[1:] == log.tag_offsets[:-1]))
    else:
        window, tokens, errors, untagged = "no requests", 0, 0, 0
    head = (f"<b>RequestLog</b>: {n:,} requests · {esc(window)} · <b>{esc(dollars(grand))}</b>"
            f" · {tokens:,} tokens · {errors:,} errors · {len(log.models):,} models · "
            f"{len(log.trie):,} tag nodes")
    rows = []
    note = ""
    try:
        df = log.rollup(level=1, metrics=["requests", "cost_nanos"]) if n else None
    except TagcoreError as exc:  # a sum beyond int64: say so, never fail to display
        df = None
        note = f"top-level tags not shown: {exc}"
    if df is not None and len(df):
        for tag, req, nanos in zip(df.index.tolist()[:top], df["requests"].tolist()[:top],
                                   df["cost_nanos"].tolist()[:top]):
            share = f"{nanos / grand:.1%}" if grand else "–"
            rows.append(f"<tr><td style='text-align:left'>{esc(tag)}</td>"
                        f"<td style='text-align:right'>{int(req):,}</td>"
                        f"<td style='text-align:right'>{esc(dollars(nanos))}</td>"
                        f"<td style='text-align:right'>{share}</td></tr>")
        more = len(df) - min(top, len(df))
        note = ("Shares of the total cost overlap: a request counts under each of its tags."
                + (f" {more:,} more top-level tag{'s' if more > 1 else ''}." if more else ""))
    if untagged:
        note += (f" {untagged:,} request{'s carry' if untagged > 1 else ' carries'} no tag.")
    table = ""
    if rows:
        right = "<th style='text-align:right'>"
        table = ("<table><thead><tr><th style='text-align:left'>top-level tag</th>"
                 f"{right}requests</th>{right}cost</th>{right}share</th></tr></thead><tbody>"
                 + "".join(rows) + "</tbody></table>")
    small = f"<div style='font-size:smaller;opacity:0.8'>{esc(note.strip())}</div>" if note else ""
    return f"<div class='tagcore-log'><div>{head}</div>{table}{small}</div>"
