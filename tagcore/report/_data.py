"""The data an HTML report embeds: the window's requests as compact columnar JSON.

The page (``page.js``) evaluates filters and computes every view from these arrays, so what it
shows is what the library computes on the same requests. The JSON (inside a
``<script type="application/json" id="tagcore-data">``) holds:

- ``trie``: the nodes the embedded requests use (their tags and every prefix), **in path order**
  (depth first, children by segment, the order of :meth:`tagcore.trie.TagTrie.tree_order`), as
  ``segments`` and ``parents`` (-1 for a root); the page rebuilds the full ``paths``. A node's id
  is its index, so comparing ids compares path order (split attribution gives its remainder
  nano-dollars to the first hit nodes in that order);
- ``requests``: the latest ``cap`` requests of the window, oldest first, one array per column:
  ``ts_delta_ms`` (epoch milliseconds, the first relative to ``ts0_ms``, the others to the one
  before), ``model`` (codes into ``models``), ``prompt``, ``completion``, ``cost_nanos`` (exact
  integers, each below 2**53), ``latency_f64`` (base64 of little-endian float64, NaN when
  unknown: exact, and shorter than decimal text), the status as ``status_mode`` plus the
  ``status_rows`` that differ and their ``status_vals``, and the tags as ``tag_counts`` plus
  ``tag_ids``, codes into ``tag_codes`` (node ids, the most frequent tag first, so that the
  common tags take few digits); the page rebuilds the columns ``latency_ms``, ``status``, CSR
  ``tag_offsets`` and node ``tag_ids``;
- ``rest``: totals of the window's older requests that are not embedded;
- ``buckets``: the time grid of the cost chart (bucket starts in epoch ms, for the report's time
  zone: calendar days or hours, computed by :meth:`RequestLog.timeseries`);
- ``dims``: the dimensions of the chargeback tables (``customer``, ``feature`` when present);
- ``expected``: the library's own numbers for the embedded requests (totals, the roll-up at
  level 1, the chargeback tables, per model, the daily series), which the page checks itself
  against when no filter is set.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
from typing import Any

import numpy as np
import pandas as pd

from tagcore.log import UNTAGGED, RequestLog
from tagcore.query._common import col_total

__all__ = ["build_data", "embedded_rows", "window_label", "pick_freq", "chargeback_dims"]

_MS = 1_000_000
_DAY_NS = 86_400 * 10**9
_EXPECTED_ROWS = 60  # rows of each expected table (largest first)


def window_label(last: Any, since: Any, until: Any) -> str:
    """The window in words, as the text report says it.

    >>> window_label("7D", None, None), window_label("24h", None, None), window_label(None, None, None)
    ('last 7 days', 'last 24h', 'all time')
    >>> window_label(None, "2026-11-01", None)
    'since 2026-11-01'
    """
    if last is None and since is None and until is None:
        return "all time"
    parts = []
    if last is not None:
        try:
            days = pd.Timedelta(last) / pd.Timedelta(days=1)
            parts.append(f"last {int(days)} days" if days.is_integer() and days > 1 else
                         f"last {last}")
        except ValueError:
            parts.append(f"last {last}")
    for word, t in (("since", since), ("until", until)):
        if t is not None:
            parts.append(f"{word} {t.strftime('%Y-%m-%d %H:%M') if hasattr(t, 'strftime') else t}")
    return ", ".join(parts)


def pick_freq(lo_ns: int, hi_ns: int) -> str:
    """The cost chart's bucket for a window of ``(lo, hi]``: hours up to two days, then days,
    weeks beyond half a year, months beyond three years.

    >>> pick_freq(0, 2 * 86_400 * 10**9), pick_freq(0, 7 * 86_400 * 10**9)
    ('1h', '1D')
    """
    span = hi_ns - lo_ns
    if span <= 2 * _DAY_NS:
        return "1h"
    if span <= 183 * _DAY_NS:
        return "1D"
    if span <= 3 * 366 * _DAY_NS:
        return "1W"
    return "1MS"


def chargeback_dims(log: RequestLog) -> list[str]:
    """The dimensions of the chargeback tables: ``customer`` and ``feature`` when the log has
    them, else the costliest top-level tags with at least two children (at most two).

    >>> from tagcore import load_sample
    >>> chargeback_dims(load_sample())
    ['customer', 'feature']
    """
    if len(log) == 0:
        return []
    lvl1 = log.rollup(level=1, metrics=["cost_nanos"])
    have = [str(t) for t in lvl1.index]
    trie = log.trie
    parents = np.asarray(trie.parents)
    used = np.zeros(len(trie), dtype=bool)
    used[_closure(log)] = True

    def n_children(p: str) -> int:
        return int((used & (parents == trie.id(p))).sum())

    dims = [d for d in ("customer", "feature") if d in have and n_children(d) >= 1]
    for d in have:  # by cost
        if len(dims) >= 2:
            break
        if d not in dims and n_children(d) >= 2:
            dims.append(d)
    return dims


def embedded_rows(window: RequestLog, cap: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers of the window's latest ``cap`` requests (oldest first) and of the rest.

    >>> from tagcore import load_sample
    >>> keep, rest = embedded_rows(load_sample(), 10)
    >>> keep.size, rest.size
    (10, 3990)
    """
    order = np.argsort(window.ts, kind="stable")
    if cap is None or order.size <= cap:
        return order, order[:0]
    return order[order.size - cap:], order[:order.size - cap]


def _closure(log: RequestLog) -> np.ndarray:
    """Ids of the nodes the log's requests carry and of all their ancestors."""
    trie = log.trie
    n = len(trie)
    used = np.zeros(n, dtype=bool)
    if log.tag_ids.size:
        used[log.tag_ids] = True
    parents = np.asarray(trie.parents)
    depths = np.asarray(trie.depths)
    if n:
        for d in range(int(depths.max()), 1, -1):
            at = np.flatnonzero(used & (depths == d))
            used[parents[at]] = True
    return np.flatnonzero(used)


def _ints(a: Any) -> str:
    return "[" + ",".join(map(str, np.asarray(a).tolist())) + "]"


def _totals(log: RequestLog) -> dict[str, Any]:
    """The headline numbers, as the text report computes them."""
    lat = log.latency_ms[~np.isnan(log.latency_ms)]
    return {
        "requests": len(log),
        "errors": int((log.status >= 400).sum()),
        "prompt": col_total(log, "prompt_tokens"),
        "completion": col_total(log, "completion_tokens"),
        "cost_nanos": str(col_total(log, "cost")),
        "p50": float(np.quantile(lat, 0.5)) if lat.size else None,
        "p95": float(np.quantile(lat, 0.95)) if lat.size else None,
    }


def _table(df: pd.DataFrame) -> list[list[Any]]:
    """[tag, requests, cost_nanos as str] of a roll-up frame's first rows."""
    df = df.iloc[:_EXPECTED_ROWS]
    return [[str(t), float(r), str(int(c))]
            for t, r, c in zip(df.index, df["requests"], df["cost_nanos"])]


def _by_model(log: RequestLog) -> list[list[Any]]:
    """[model, requests, cost_nanos as str], costliest first (ties by model order)."""
    m = len(log.models)
    req = np.bincount(log.model_codes, minlength=m)
    nanos = [0] * m
    for code, c in zip(log.model_codes.tolist(), log.cost.tolist()):
        nanos[code] += c
    rows = [[log.models[i], int(req[i]), str(nanos[i])] for i in range(m) if req[i]]
    rows.sort(key=lambda r: -int(r[2]))
    return rows


def _buckets(full: RequestLog, last: Any, since: Any, until: Any, tz: str,
             first_ns: int | None) -> dict[str, Any]:
    """The chart's time grid over the window, from the library's own time series; trimmed to
    the bucket of the first embedded request when older ones are left out."""
    inside = full.filter(last=last, since=since, until=until)
    if len(inside) == 0:
        return {"freq": "1D", "starts_ms": [], "end_ms": None}
    w = full.window(since=since, until=until, last=last)
    lo, hi = int(inside.ts.min()) - 1, int(inside.ts.max())
    if w is not None:
        lo, hi = min(max(w[0], lo - 400 * _DAY_NS), lo), max(min(w[1], hi + 400 * _DAY_NS), hi)
    freq = pick_freq(lo, hi)
    ts = full.timeseries(freq, level=1, metric="requests", last=last, since=since, until=until,
                         tz=tz, attribution="split")  # split: an (untagged) column, never empty
    idx = ts.index
    if len(idx) == 0:
        return {"freq": freq, "starts_ms": [], "end_ms": None}
    starts = [int(t.value) for t in idx]
    nxt = idx[-1] + pd.tseries.frequencies.to_offset(freq)
    end = int(nxt.value)
    if first_ns is not None:
        k = int(np.searchsorted(np.asarray(starts), first_ns, side="right")) - 1
        starts = starts[max(k, 0):]
    return {"freq": freq, "starts_ms": [s // _MS for s in starts], "end_ms": end // _MS}


def build_data(full: RequestLog, *, last: Any = "7D", since: Any = None, until: Any = None,
               title: str | None = None, cap: int | None = 100_000, tz: str = "UTC",
               source: str | None = None, initial_filter: str | None = None,
               ) -> tuple[str, dict[str, Any], RequestLog, RequestLog]:
    """The report's JSON text, a summary of it, the window and the embedded requests.

    >>> from tagcore import load_sample
    >>> text, info, window, emb = build_data(load_sample(), cap=100)
    >>> info["embedded"], info["window_requests"], len(emb)
    (100, 983, 100)
    """
    if isinstance(last, str) and last.strip().lower() in ("all", "none", "0"):
        last = None
    window = full.filter(last=last, since=since, until=until)
    keep, rest_rows = embedded_rows(window, cap)
    emb = window[keep]
    rest = window[rest_rows]
    trie = full.trie
    nodes = np.asarray(trie.tree_order(_closure(emb)), dtype=np.int64)
    local = np.full(len(trie), -1, dtype=np.int64)
    local[nodes] = np.arange(nodes.size)
    gpar = np.asarray(trie.parents)[nodes] if nodes.size else np.zeros(0, np.int64)
    parents = np.where(gpar >= 0, local[np.maximum(gpar, 0)], -1)
    segments = [trie.segment(int(v)) for v in nodes.tolist()]
    n = len(emb)
    ts_ms = emb.ts // _MS  # floor: bucket starts are whole ms, so floor keeps every comparison
    ts0 = int(ts_ms[0]) if n else 0
    deltas = np.diff(ts_ms, prepend=ts0) if n else ts_ms
    used_models = sorted(set(emb.model_codes.tolist()))
    mcode = np.full(max(len(full.models), 1), -1, dtype=np.int64)
    mcode[used_models] = np.arange(len(used_models))
    models = [full.models[i] for i in used_models]
    counts = np.diff(emb.tag_offsets)
    # tags as codes, the most frequent first (short numbers); tag_codes maps a code to its node
    tids = local[emb.tag_ids] if emb.tag_ids.size else np.zeros(0, np.int64)
    freq = np.bincount(tids, minlength=nodes.size)
    codes = np.flatnonzero(freq)
    codes = codes[np.argsort(-freq[codes], kind="stable")]
    code_of = np.zeros(nodes.size, dtype=np.int64)
    code_of[codes] = np.arange(codes.size)
    tag_code = code_of[tids]
    # status: the most common one, and the rows that differ
    vals, nval = np.unique(emb.status, return_counts=True) if n else (np.array([200]), [1])
    mode = int(vals[int(np.argmax(nval))])
    odd = np.flatnonzero(emb.status != mode)
    first_ns = int(emb.ts.min()) if n and len(rest) else None
    buckets = _buckets(full, last, since, until, tz, first_ns)
    dims = chargeback_dims(emb)
    span = full.window(since=since, until=until, last=last)
    fsum = _totals(full)
    wtot = _totals(window)
    meta: dict[str, Any] = {
        "version": 1,
        "title": title or "tagcore report",
        "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "source": source,
        "tz": tz,
        "window": {
            "label": window_label(last, since, until),
            "since_ms": None if span is None or span[0] < -(2**62) else (span[0] + 1) // _MS,
            "until_ms": None if span is None or span[1] > 2**62 else span[1] // _MS,
        },
        "log": {"requests": len(full), "cost_nanos": fsum["cost_nanos"],
                "first_ms": int(full.ts.min()) // _MS if len(full) else None,
                "last_ms": int(full.ts.max()) // _MS if len(full) else None},
        "window_totals": wtot,
        "cap": cap,
        "initial_filter": initial_filter or "",
        "models": models,
        "dims": dims,
        "buckets": buckets,
        "untagged": UNTAGGED,
        "rest": {
            "n": len(rest), "cost_nanos": str(col_total(rest, "cost")) if len(rest) else "0",
            "prompt": col_total(rest, "prompt_tokens") if len(rest) else 0,
            "completion": col_total(rest, "completion_tokens") if len(rest) else 0,
            "errors": int((rest.status >= 400).sum()),
            "first_ms": int(rest.ts.min()) // _MS if len(rest) else None,
            "last_ms": int(rest.ts.max()) // _MS if len(rest) else None,
        },
        "expected": _expected(emb, dims, buckets, tz),
    }
    head = json.dumps(meta, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    big = (
        '"trie":{"segments":' + json.dumps(segments, ensure_ascii=False, separators=(",", ":"))
        + ',"parents":' + _ints(parents) + "},"
        + '"requests":{"n":' + str(n) + ',"ts0_ms":' + str(ts0)
        + ',"ts_delta_ms":' + _ints(deltas)
        + ',"model":' + _ints(mcode[emb.model_codes] if n else [])
        + ',"prompt":' + _ints(emb.prompt_tokens)
        + ',"completion":' + _ints(emb.completion_tokens)
        + ',"cost_nanos":' + _ints(emb.cost)
        + ',"latency_f64":"' + base64.b64encode(emb.latency_ms.astype("<f8").tobytes()).decode()
        + '","status_mode":' + str(mode)
        + ',"status_rows":' + _ints(odd) + ',"status_vals":' + _ints(emb.status[odd])
        + ',"tag_counts":' + _ints(counts)
        + ',"tag_codes":' + _ints(codes) + ',"tag_ids":' + _ints(tag_code)
        + "}"
    )
    text = head[:-1] + "," + big + "}"
    # inside <script>: no "</script" or "<!--"; "<" only ever appears inside JSON strings
    text = text.replace("<", "\\u003c")
    info = {"embedded": n, "window_requests": len(window), "rest": len(rest),
            "nodes": int(nodes.size), "json_bytes": len(text.encode("utf-8"))}
    return text, info, window, emb


def _expected(emb: RequestLog, dims: list[str], buckets: dict[str, Any],
              tz: str) -> dict[str, Any]:
    """The library's numbers for the embedded requests, for the page's self-check."""
    out: dict[str, Any] = {"totals": _totals(emb)}
    if len(emb) == 0:
        return out
    lvl1 = emb.rollup(level=1, metrics=["requests", "cost_nanos"])
    out["level1"] = _table(lvl1)
    out["chargeback"] = {d: _table(emb.rollup(under=d, attribution="split",
                                              metrics=["requests", "cost_nanos"]))
                         for d in dims}
    out["models"] = _by_model(emb)
    if buckets["starts_ms"]:
        ts = emb.timeseries(buckets["freq"], level=1, attribution="split", metric="cost", tz=tz)
        out["series"] = {"starts_ms": [int(t.value) // _MS for t in ts.index],
                         "cost": [float(v) for v in ts.sum(axis=1).tolist()]}
    return out
