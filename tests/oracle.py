"""A slow, obviously correct model of the request log and its queries.

Written from DESIGN.md ("Aggregation semantics", "Filters") and issue 3, not from tagcore's
code. It works on plain lists of dicts, one per request::

    {"ts": int ns UTC, "model": str, "prompt_tokens": int, "completion_tokens": int,
     "cost_nanos": int, "latency_ms": float (NaN = unknown), "status": int,
     "tags": [normalized paths, distinct, in request order]}

Tags are path strings, coverage is segment-aware string logic, dedup uses sets, money is ints,
quantiles are numpy's linear method written out on a sorted list, and calendar buckets use
``zoneinfo`` with plain ``datetime`` arithmetic.
"""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from collections.abc import Callable, Iterable
from zoneinfo import ZoneInfo

UNTAGGED = "(untagged)"
OTHER = "(other)"
NS = 10**9
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
QUANTILES = {"latency_p50": 0.5, "latency_p90": 0.9, "latency_p95": 0.95, "latency_p99": 0.99}

# ------------------------------------------------------------------------------ tags


def normalize_tag(raw: str) -> str:
    """NFC, strip the tag and every segment, drop empty segments (DESIGN.md, Tags)."""
    s = unicodedata.normalize("NFC", raw).strip()
    return "/".join(seg.strip() for seg in s.split("/") if seg.strip())


def normalize_tags(raws: Iterable[str]) -> list[str]:
    """Normalize each tag and drop later duplicates, keeping first-seen order."""
    out: list[str] = []
    seen: set[str] = set()
    for r in raws:
        t = normalize_tag(r)
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def prefixes(path: str) -> list[str]:
    """``a/b/c`` -> ``["a", "a/b", "a/b/c"]``."""
    segs = path.split("/")
    return ["/".join(segs[: i + 1]) for i in range(len(segs))]


def covers(node: str, path: str) -> bool:
    """Does ``node`` cover ``path`` (the path itself or anything under it)?"""
    return path == node or path.startswith(node + "/")


def depth(path: str) -> int:
    return path.count("/") + 1


def parent(path: str) -> str | None:
    return path.rsplit("/", 1)[0] if "/" in path else None


def path_key(path: str) -> tuple[str, ...]:
    """Sort key of path order: depth first, children by segment string."""
    return tuple(path.split("/"))


def all_nodes(records: list[dict]) -> set[str]:
    return {p for r in records for t in r["tags"] for p in prefixes(t)}


# ------------------------------------------------------------------------------ metrics


def quantile(values: list[float], q: float) -> float:
    """numpy's default (linear) quantile of ``values``, NaN for none."""
    xs = sorted(values)
    n = len(xs)
    if n == 0:
        return math.nan
    h = (n - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, n - 1)
    g = h - lo
    a, b = xs[lo], xs[hi]
    if a == b:
        return a
    # numpy's _lerp: the two-sided formula, so the result is monotone in g
    return a + (b - a) * g if g < 0.5 else b - (b - a) * (1 - g)


def _latencies(rows: list[dict]) -> list[float]:
    return [r["latency_ms"] for r in rows if not math.isnan(r["latency_ms"])]


def whole_metrics(rows: list[dict]) -> dict:
    """Metrics of requests that each count wholly (full attribution, totals)."""
    lat = _latencies(rows)
    out = {
        "requests": len(rows),
        "errors": sum(1 for r in rows if r["status"] >= 400),
        "prompt_tokens": sum(r["prompt_tokens"] for r in rows),
        "completion_tokens": sum(r["completion_tokens"] for r in rows),
        "cost_nanos": sum(r["cost_nanos"] for r in rows),
        "latency_values": lat,
        "latency_mean": sum(lat) / len(lat) if lat else math.nan,
        "first_seen": min((r["ts"] for r in rows), default=None),
        "last_seen": max((r["ts"] for r in rows), default=None),
    }
    out["total_tokens"] = out["prompt_tokens"] + out["completion_tokens"]
    out["cost"] = out["cost_nanos"] / NS
    for name, q in QUANTILES.items():
        out[name] = quantile(lat, q)
    return out


def totals(records: list[dict]) -> dict:
    return whole_metrics(records)


def grand_cost(records: list[dict]) -> int:
    return sum(r["cost_nanos"] for r in records)


def _with_node_info(path: str, m: dict, grand: int) -> dict:
    m = dict(m)
    if path == UNTAGGED:
        m["depth"], m["parent"] = 0, None
    else:
        m["depth"], m["parent"] = depth(path), parent(path)
    m["share"] = m["cost_nanos"] / grand if grand else 0.0
    return m


# ------------------------------------------------------------------------------ roll-ups


def select_nodes(nodes: Iterable[str], under: str | None, level: int | None) -> list[str]:
    """``under=P``: P's strict descendants; ``level``: that absolute depth; in path order."""
    out = []
    for v in nodes:
        if under is not None and not (v != under and covers(under, v)):
            continue
        if level is not None and depth(v) != level:
            continue
        out.append(v)
    return sorted(out, key=path_key)


def rollup_full(records: list[dict], under: str | None = None,
                level: int | None = None) -> dict[str, dict]:
    """Every selected node that some request reaches: each covering request counted once."""
    grand = grand_cost(records)
    out = {}
    for v in select_nodes(all_nodes(records), under, level):
        rows = [r for r in records if any(covers(v, t) for t in r["tags"])]
        if rows:
            out[v] = _with_node_info(v, whole_metrics(rows), grand)
    return out


def self_counts(records: list[dict]) -> dict[str, int]:
    """Requests that carry exactly each path."""
    out: dict[str, int] = {}
    for r in records:
        for t in set(r["tags"]):
            out[t] = out.get(t, 0) + 1
    return out


def set_of(records: list[dict], under: str | None, level: int | None) -> list[str]:
    """The set for split/primary: nodes at ``level`` (default: depth(under) + 1) under
    ``under``, in path order."""
    if under is None and level is None:
        raise ValueError("a set needs under= and/or level=")
    if under is not None and level is None:
        level = depth(under) + 1
    return select_nodes(all_nodes(records), under, level)


def _hits(rec: dict, nodes: list[str]) -> list[str]:
    """Distinct set nodes a request hits, in path order."""
    return [v for v in nodes if any(covers(v, t) for t in rec["tags"])]


def _set_frame(records: list[dict], assign: Callable[[dict], list[tuple[str, int]]],
               split: bool) -> dict[str, dict]:
    """Roll-up where ``assign(rec)`` gives ``[(label, cost_nanos_share)]``; other metrics are
    divided by the number of labels (split) or go wholly to the one label (primary)."""
    grand = grand_cost(records)
    acc: dict[str, dict] = {}
    for r in records:
        parts = assign(r)
        k = len(parts)
        for label, nanos in parts:
            a = acc.setdefault(label, {"requests": 0.0, "errors": 0.0, "prompt_tokens": 0.0,
                                       "completion_tokens": 0.0, "cost_nanos": 0, "rows": []})
            a["requests"] += 1 / k
            a["errors"] += (1 / k) if r["status"] >= 400 else 0.0
            a["prompt_tokens"] += r["prompt_tokens"] / k
            a["completion_tokens"] += r["completion_tokens"] / k
            a["cost_nanos"] += nanos
            a["rows"].append(r)
    out = {}
    for label, a in acc.items():
        whole = whole_metrics(a.pop("rows"))
        m = dict(whole)
        if split:
            m.update(a)
            m["total_tokens"] = a["prompt_tokens"] + a["completion_tokens"]
        else:
            assert whole["cost_nanos"] == a["cost_nanos"]
        m["cost_nanos"] = a["cost_nanos"]
        m["cost"] = a["cost_nanos"] / NS
        out[label] = _with_node_info(label, m, grand)
    return out


def split_cost(cost: int, k: int) -> list[int]:
    """``cost`` in k integer shares: the floor each, remainder one by one to the first."""
    base, rem = divmod(cost, k)
    return [base + (1 if i < rem else 0) for i in range(k)]


def rollup_split(records: list[dict], under: str | None = None,
                 level: int | None = None) -> dict[str, dict]:
    nodes = set_of(records, under, level)

    def assign(r):
        hits = _hits(r, nodes)
        if not hits:
            return [(UNTAGGED, r["cost_nanos"])]
        return list(zip(hits, split_cost(r["cost_nanos"], len(hits))))

    return _set_frame(records, assign, split=True)


def rollup_primary(records: list[dict], under: str | None = None,
                   level: int | None = None) -> dict[str, dict]:
    nodes = set_of(records, under, level)

    def assign(r):
        for t in r["tags"]:  # request order
            for v in nodes:
                if covers(v, t):
                    return [(v, r["cost_nanos"])]
        return [(UNTAGGED, r["cost_nanos"])]

    return _set_frame(records, assign, split=False)


def rollup(records: list[dict], under: str | None = None, level: int | None = None,
           attribution: str = "full") -> dict[str, dict]:
    if attribution == "full":
        return rollup_full(records, under, level)
    if attribution == "split":
        return rollup_split(records, under, level)
    return rollup_primary(records, under, level)


def cost_order(frame: dict[str, dict]) -> list[str]:
    """Labels by cost descending, ties in path order ((untagged) after real tags)."""
    return sorted(frame, key=lambda v: (-frame[v]["cost_nanos"], v == UNTAGGED, path_key(v)))


def top(records: list[dict], n: int, under: str | None = None, level: int | None = None,
        attribution: str = "split", metric: str = "cost_nanos") -> dict[str, dict]:
    """The n largest real nodes by ``metric`` (ties in path order) plus ``(other)``."""
    frame = rollup(records, under, level, attribution)
    real = [v for v in frame if v != UNTAGGED]
    real.sort(key=lambda v: (-frame[v][metric], path_key(v)))
    out = {v: frame[v] for v in real[:n]}
    tot = totals(records)
    other = {}
    for m in ("requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens",
              "cost_nanos"):
        other[m] = tot[m] - sum(frame[v][m] for v in out)
    other["cost"] = other["cost_nanos"] / NS
    out[OTHER] = other
    return out


# ------------------------------------------------------------------------------ filters
# A filter is a tuple tree: ("tag", path) | ("exact", path) | ("glob", pattern)
# | ("and", a, b) | ("or", a, b) | ("not", a).


def glob_match(pattern: str, path: str) -> bool:
    """Whole-segment glob: ``*`` one segment, ``**`` zero or more, others literal."""

    def go(ps: list[str], xs: list[str]) -> bool:
        if not ps:
            return not xs
        if ps[0] == "**":
            return any(go(ps[1:], xs[i:]) for i in range(len(xs) + 1))
        if not xs:
            return False
        return (ps[0] == "*" or ps[0] == xs[0]) and go(ps[1:], xs[1:])

    return go(pattern.split("/"), path.split("/"))


def matches(f: tuple, rec: dict) -> bool:
    kind = f[0]
    tags = rec["tags"]
    if kind == "tag":
        return any(covers(f[1], t) for t in tags)
    if kind == "exact":
        return f[1] in tags
    if kind == "glob":
        return any(glob_match(f[1], p) for t in tags for p in prefixes(t))
    if kind == "and":
        return matches(f[1], rec) and matches(f[2], rec)
    if kind == "or":
        return matches(f[1], rec) or matches(f[2], rec)
    if kind == "not":
        return not matches(f[1], rec)
    raise ValueError(kind)


def window(records: list[dict], last: int | None = None, since: int | None = None,
           until: int | None = None, now: int | None = None) -> Callable[[int], bool]:
    """Time predicate: ``now - last < ts <= now``, ``ts >= since``, ``ts < until`` (ns)."""
    if now is None:
        now = max((r["ts"] for r in records), default=0)

    def ok(ts: int) -> bool:
        if last is not None and not (now - last < ts <= now):
            return False
        if since is not None and ts < since:
            return False
        return not (until is not None and ts >= until)

    return ok


def filter_records(records: list[dict], f: tuple | None = None, *, last: int | None = None,
                   since: int | None = None, until: int | None = None, now: int | None = None,
                   model: str | list[str] | None = None, status=None) -> list[dict]:
    ok = window(records, last, since, until, now)
    models = None if model is None else ({model} if isinstance(model, str) else set(model))
    out = []
    for r in records:
        if f is not None and not matches(f, r):
            continue
        if not ok(r["ts"]):
            continue
        if models is not None and r["model"] not in models:
            continue
        if status is not None:
            if status == "error" and r["status"] < 400:
                continue
            if status == "ok" and r["status"] >= 400:
                continue
            if isinstance(status, int) and r["status"] != status:
                continue
            if isinstance(status, (list, tuple, set)) and r["status"] not in status:
                continue
        out.append(r)
    return out


# ------------------------------------------------------------------------------ time


def to_dt(ns: int, tz: str) -> dt.datetime:
    """Aware datetime (to the microsecond, floored) of ``ns`` in ``tz``."""
    return (EPOCH + dt.timedelta(microseconds=ns // 1000)).astimezone(ZoneInfo(tz))


def to_ns(d: dt.datetime) -> int:
    return (d - EPOCH) // dt.timedelta(microseconds=1) * 1000


def bucket_start(ns: int, freq: str, tz: str) -> dt.datetime:
    """Start (aware, in ``tz``) of the bucket holding ``ns``: hours are absolute (on whole
    UTC hours); days, Monday weeks and months start at local midnight."""
    if freq == "1h":
        return (EPOCH + dt.timedelta(hours=ns // (3600 * NS))).astimezone(ZoneInfo(tz))
    local = to_dt(ns, tz)
    day = local.date()
    if freq == "1D":
        start = day
    elif freq == "1W":
        start = day - dt.timedelta(days=day.weekday())
    elif freq == "1MS":
        start = day.replace(day=1)
    else:
        raise ValueError(freq)
    return dt.datetime(start.year, start.month, start.day, tzinfo=ZoneInfo(tz))


def next_start(start: dt.datetime, freq: str, tz: str) -> dt.datetime:
    if freq == "1h":
        return (start.astimezone(dt.timezone.utc) + dt.timedelta(hours=1)).astimezone(ZoneInfo(tz))
    day = start.date()
    if freq == "1D":
        nxt = day + dt.timedelta(days=1)
    elif freq == "1W":
        nxt = day + dt.timedelta(days=7)
    else:
        nxt = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=ZoneInfo(tz))


def _value(rec: dict, metric: str):
    if metric == "requests":
        return 1
    if metric == "errors":
        return 1 if rec["status"] >= 400 else 0
    if metric == "total_tokens":
        return rec["prompt_tokens"] + rec["completion_tokens"]
    return rec[metric]


def timeseries(records: list[dict], freq: str, nodes: list[str], tz: str = "UTC",
               lo: int | None = None, hi: int | None = None, metric: str = "cost_nanos",
               attribution: str = "full") -> tuple[list[int], dict[str, list]]:
    """Buckets (start ns) from the one holding ``lo + 1`` to the one holding ``hi`` (default:
    the log's first and last times) and, per node of the set ``nodes`` (plus ``(untagged)``
    for split/primary), the metric of the requests in the window ``lo < ts <= hi``, summed per
    bucket (split: cost by the nano-dollar rule, other metrics divided by the hits)."""
    if lo is None:
        if not records:
            return [], {v: [] for v in nodes}
        lo = min(r["ts"] for r in records) - 1
    if hi is None:
        hi = max(r["ts"] for r in records)
    starts: list[dt.datetime] = [bucket_start(lo + 1, freq, tz)]
    last = bucket_start(hi, freq, tz)
    # compare as instants: aware datetimes of one zone compare by wall time (fold ignored)
    while to_ns(starts[-1]) < to_ns(last):
        starts.append(next_start(starts[-1], freq, tz))
    assert to_ns(starts[-1]) == to_ns(last)
    starts_ns = [to_ns(s) for s in starts]
    index = {s: i for i, s in enumerate(starts_ns)}
    labels = list(nodes) + ([] if attribution == "full" else [UNTAGGED])
    out = {v: [0] * len(starts) for v in labels}
    for r in records:
        if not lo < r["ts"] <= hi:
            continue
        b = index[to_ns(bucket_start(r["ts"], freq, tz))]
        value = _value(r, metric)
        hits = _hits(r, list(nodes))
        if attribution == "full":
            for v in hits:
                out[v][b] += value
        elif attribution == "primary":
            first = next((v for t in r["tags"] for v in nodes if covers(v, t)), UNTAGGED)
            out[first][b] += value
        elif not hits:
            out[UNTAGGED][b] += value
        elif metric == "cost_nanos":
            for v, share in zip(hits, split_cost(value, len(hits))):
                out[v][b] += share
        else:
            for v in hits:
                out[v][b] += value / len(hits)
    return starts_ns, out


# ------------------------------------------------------------------------------ pivot


def children(records: list[dict], node: str) -> list[str]:
    return select_nodes(all_nodes(records), node, depth(node) + 1)


def pivot(records: list[dict], dim_a: str, dim_b: str,
          metric: str = "cost_nanos") -> dict[tuple[str, str], int]:
    """For each (child of dim_a, child of dim_b): the metric over requests covering both."""
    out = {}
    for a in children(records, dim_a):
        for b in children(records, dim_b):
            total = 0
            for r in records:
                if any(covers(a, t) for t in r["tags"]) and any(covers(b, t) for t in r["tags"]):
                    total += _value(r, metric)
            out[a, b] = total
    return out


# ------------------------------------------------------------------------------ generators
# Hypothesis strategies that draw oracle records, and the conversion to tagcore's input.

try:  # the oracle itself does not need hypothesis
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    st = None

SEGMENTS = ("a", "b", "c", "ab", "x", "y", "Z9")
MODELS = ("m1", "m2", "m3")
STATUSES = (200, 201, 204, 400, 404, 429, 500, 503)
T0 = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z

if st is not None:
    paths = st.one_of(
        st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3),
        st.lists(st.sampled_from(SEGMENTS), min_size=16, max_size=16),
    ).map("/".join)
    latencies = st.one_of(st.just(math.nan), st.sampled_from([1.0, 2.0, 5.0]),
                          st.floats(0, 1e4, allow_nan=False))
    costs = st.one_of(st.integers(0, 10), st.integers(0, 10**12))

    @st.composite
    def records(draw, min_rows: int = 0, max_rows: int = 12, t0: int = T0,
                span: int = 40 * 86400 * NS) -> list[dict]:
        """A random log: a small pool of paths plus all their prefixes (so a request can carry
        a tag with its own ancestor, and several tags under one root); untagged rows."""
        pool = sorted({p for path in draw(st.lists(paths, min_size=1, max_size=5))
                       for p in prefixes(path)})
        n = draw(st.integers(min_rows, max_rows))
        out = []
        for _ in range(n):
            out.append({
                "ts": t0 + draw(st.integers(0, span)),
                "model": draw(st.sampled_from(MODELS)),
                "prompt_tokens": draw(st.integers(0, 10**6)),
                "completion_tokens": draw(st.integers(0, 10**6)),
                "cost_nanos": draw(costs),
                "latency_ms": draw(latencies),
                "status": draw(st.sampled_from(STATUSES)),
                "tags": draw(st.lists(st.sampled_from(pool), max_size=4, unique=True)),
            })
        return out


def iso_ns(ns: int) -> str:
    """``ns`` as an ISO string with nine fraction digits, written by hand."""
    sec, frac = divmod(ns, NS)
    d = EPOCH + dt.timedelta(seconds=sec)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def to_input(rec: dict, ts_style: int = 0) -> dict:
    """An oracle record as a tagcore input record (cost as exact ``cost_nanos``)."""
    ns = rec["ts"]
    if ts_style == 1 and ns % NS == 0:
        ts: object = ns // NS  # epoch seconds
    elif ts_style == 2 and ns % 1000 == 0:
        ts = EPOCH + dt.timedelta(microseconds=ns // 1000)  # aware datetime
    else:
        ts = iso_ns(ns)
    lat = rec["latency_ms"]
    return {"ts": ts, "model": rec["model"], "prompt_tokens": rec["prompt_tokens"],
            "completion_tokens": rec["completion_tokens"], "cost_nanos": rec["cost_nanos"],
            "latency_ms": None if math.isnan(lat) else lat, "status": rec["status"],
            "request_tags": list(rec["tags"])}
