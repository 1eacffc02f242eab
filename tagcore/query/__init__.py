"""Queries of a :class:`~tagcore.log.RequestLog` that return pandas objects.

The words are DESIGN.md's: ``level`` is an absolute depth (1 = top level); ``under=P`` means
P's strict descendants (all depths unless ``level`` narrows them); a *set* (for split and
primary attribution, time series and pivots) is the nodes at one ``level`` under one ``under``
(default: P's children). Frames name tags by their full path; ``(untagged)`` (depth 0) holds
requests that hit no node of a set. Shares are of the log's grand total cost.

A path the log has never seen (``rollup(under="custmer")``, ``pivot("customer", "model")``
when ``model`` is no tag) raises :class:`UnknownPathError` with the nearest existing paths,
never an empty frame; a known path with no requests in a window is an empty frame. When the
log has requests whose cost is unknown (flag ``unpriced``: their cost counts 0), ``totals``,
``rollup`` and ``top`` add an ``unpriced`` column counting them (split shares under split
attribution); ``timeseries`` and ``pivot`` take ``metric="unpriced"`` and say the count of a
cost frame in ``df.attrs["unpriced"]``.

The package is split by job: :mod:`~tagcore.query.rollup` (totals, roll-ups, top),
:mod:`~tagcore.query.window` (windows and filters), :mod:`~tagcore.query.timeseries`,
:mod:`~tagcore.query.pivot`, over :mod:`~tagcore.query._common`. ``RequestLog``'s methods of
the same names delegate here.
"""

from tagcore.query._common import UnknownPathError
from tagcore.query.pivot import pivot
from tagcore.query.rollup import metrics_order, rollup, top, totals
from tagcore.query.timeseries import BucketLimitError, timeseries
from tagcore.query.window import filter, window

__all__ = ["BucketLimitError", "UnknownPathError", "filter", "metrics_order", "pivot", "rollup",
           "timeseries", "top", "totals", "window"]
