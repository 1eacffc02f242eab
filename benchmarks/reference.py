"""The five benchmark questions: their parameters, canonical answer shapes, a slow pure-Python
reference, and ``compare_answers``.

Semantics follow DESIGN.md: a *node* is every prefix of every tag path (``US/California/SF``
makes ``US``, ``US/California`` and ``US/California/SF``); a request counts **once** per node,
however many of its tags fall under it.

Canonical answer shapes (every engine returns exactly these, ``canonical`` enforces them):

- **Q1** every node; **Q2** requests under ``customer/c00001`` broken down by the nodes strictly
  under ``feature``: index ``tag`` (str, sorted), columns ``requests`` (int64), ``cost`` (float64
  dollars), ``prompt_tokens`` (int64), ``completion_tokens`` (int64).
- **Q3** daily (UTC day) cost per level-1 node over ``max_ts - 7 days < ts <= max_ts``: long
  format, columns ``day`` (datetime64[ns, UTC], the day start), ``tag`` (str), ``cost``
  (float64), one row per (day, tag) with at least one request, sorted by (day, tag).
- **Q4** each request's cost split equally over its distinct depth-2 ``customer/*`` nodes
  (``(untagged)`` for requests with none): index ``tag``, column ``cost``; rows sum to the total.
- **Q5** exact latency p50 and p95 (numpy's linear interpolation) per level-1 node: index ``tag``,
  columns ``latency_p50``, ``latency_p95`` (float64).

>>> import datagen
>>> t = datagen.generate(300, seed=2)
>>> compare_answers(q1(t), q1(t), "Q1")
True
>>> abs(q4(t)["cost"].sum() - sum(t["cost"].to_pylist())) < 1e-9
True
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

QUESTIONS = ("Q1", "Q2", "Q3", "Q4", "Q5")
Q2_FILTER = "customer/c00001"
Q2_UNDER = "feature"
Q3_DAYS = 7
Q4_UNDER = "customer"
UNTAGGED = "(untagged)"
NS_PER_DAY = 86_400 * 10**9

METRIC_COLUMNS = {
    "Q1": ["requests", "cost", "prompt_tokens", "completion_tokens"],
    "Q2": ["requests", "cost", "prompt_tokens", "completion_tokens"],
    "Q3": ["day", "tag", "cost"],
    "Q4": ["cost"],
    "Q5": ["latency_p50", "latency_p95"],
}
_INT = ("requests", "prompt_tokens", "completion_tokens")
_MONEY = ("cost",)
_QUANT = ("latency_p50", "latency_p95")

__all__ = ["QUESTIONS", "Q2_FILTER", "Q2_UNDER", "Q3_DAYS", "Q4_UNDER", "UNTAGGED", "canonical",
           "compare_answers", "answer", "q1", "q2", "q3", "q4", "q5"]


# --------------------------------------------------------------------------- canonical shapes

def canonical(df: pd.DataFrame, question: str) -> pd.DataFrame:
    """Coerce an engine's answer to the canonical shape of ``question`` (a new frame)."""
    cols = METRIC_COLUMNS[question]
    if question == "Q3":
        out = pd.DataFrame({
            "day": pd.to_datetime(pd.Series(df["day"]).to_numpy(), utc=True).as_unit("ns"),
            "tag": pd.Series(df["tag"]).astype(object).to_numpy(),
            "cost": pd.Series(df["cost"]).astype("float64").to_numpy(),
        })
        out = out[out["cost"] != 0]
        return out.sort_values(["day", "tag"], kind="stable").reset_index(drop=True)
    df = df.copy()
    if "tag" in df.columns:
        df = df.set_index("tag")
    out = pd.DataFrame(index=pd.Index([str(x) for x in df.index], dtype=object, name="tag"))
    for c in cols:
        v = pd.Series(df[c]).to_numpy()
        out[c] = v.astype("int64") if c in _INT else v.astype("float64")
    return out.sort_index(kind="stable")


def compare_answers(a: pd.DataFrame, b: pd.DataFrame, question: str) -> bool:
    """Check two answers to ``question`` are equal; raise AssertionError naming the differences.

    Tags, counts and tokens must match exactly; money within 1e-6 relative or 1e-9 absolute;
    quantiles within 1e-9 relative.
    """
    a, b = canonical(a, question), canonical(b, question)
    if question == "Q3":
        ka = list(zip(a["day"], a["tag"]))
        kb = list(zip(b["day"], b["tag"]))
        if ka != kb:
            sa, sb = set(ka), set(kb)
            raise AssertionError(f"{question}: (day, tag) rows differ: only left {sorted(sa - sb)[:5]}, "
                                 f"only right {sorted(sb - sa)[:5]} ({len(ka)} vs {len(kb)} rows)")
        keys = [f"{d:%Y-%m-%d} {t}" for d, t in ka]
    else:
        if not a.index.equals(b.index):
            sa, sb = set(a.index), set(b.index)
            raise AssertionError(f"{question}: tags differ: only left {sorted(sa - sb)[:5]}, "
                                 f"only right {sorted(sb - sa)[:5]} ({len(a)} vs {len(b)} rows)")
        keys = list(a.index)
    problems = []
    for c in METRIC_COLUMNS[question]:
        if c in ("day", "tag"):
            continue
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if c in _INT:
            bad = x != y
        elif c in _MONEY:
            diff = np.abs(x - y)
            bad = (diff > 1e-9) & (diff > 1e-6 * np.maximum(np.abs(x), np.abs(y)))
        else:
            bad = ~np.isclose(x, y, rtol=1e-9, atol=0.0)
        for i in np.flatnonzero(bad)[:5]:
            problems.append(f"{c}[{keys[i]}]: {x[i]!r} != {y[i]!r}")
        if bad.any():
            problems.append(f"{c}: {int(bad.sum())} of {len(x)} rows differ")
    if problems:
        raise AssertionError(f"{question}: " + "; ".join(problems))
    return True


# --------------------------------------------------------------------------- the slow reference

def _rows(data):
    """Plain Python rows from a Parquet path or a pyarrow Table."""
    t = data if isinstance(data, pa.Table) else pq.read_table(data)
    ts = t["ts"].cast(pa.int64()).to_pylist()
    cost = t["cost"].to_pylist()
    return (ts, [round(c * 1e9) for c in cost], t["prompt_tokens"].to_pylist(),
            t["completion_tokens"].to_pylist(), t["latency_ms"].to_pylist(),
            [tags or [] for tags in t["request_tags"].to_pylist()])


def _prefixes(tag):
    parts = tag.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _rollup_frame(acc):
    tags = sorted(acc)
    return pd.DataFrame({
        "requests": [acc[t][0] for t in tags],
        "cost": [acc[t][1] / 1e9 for t in tags],
        "prompt_tokens": [acc[t][2] for t in tags],
        "completion_tokens": [acc[t][3] for t in tags],
    }, index=pd.Index(tags, dtype=object, name="tag"))


def q1(data) -> pd.DataFrame:
    """Every node: distinct requests, cost, prompt and completion tokens."""
    _, nanos, pt, ct, _, tags = _rows(data)
    acc = defaultdict(lambda: [0, 0, 0, 0])
    for i, row_tags in enumerate(tags):
        nodes = set()
        for tag in row_tags:
            nodes.update(_prefixes(tag))
        for node in nodes:
            a = acc[node]
            a[0] += 1
            a[1] += nanos[i]
            a[2] += pt[i]
            a[3] += ct[i]
    return canonical(_rollup_frame(acc), "Q1")


def _under(tag, path):
    return tag == path or tag.startswith(path + "/")


def q2(data) -> pd.DataFrame:
    """Requests under customer/c00001, by the nodes strictly under feature."""
    _, nanos, pt, ct, _, tags = _rows(data)
    acc = defaultdict(lambda: [0, 0, 0, 0])
    for i, row_tags in enumerate(tags):
        if not any(_under(t, Q2_FILTER) for t in row_tags):
            continue
        nodes = {p for t in row_tags for p in _prefixes(t) if p.startswith(Q2_UNDER + "/")}
        for node in nodes:
            a = acc[node]
            a[0] += 1
            a[1] += nanos[i]
            a[2] += pt[i]
            a[3] += ct[i]
    return canonical(_rollup_frame(acc), "Q2")


def q3(data) -> pd.DataFrame:
    """Daily (UTC) cost per level-1 node over max_ts - 7 days < ts <= max_ts."""
    ts, nanos, _, _, _, tags = _rows(data)
    acc = defaultdict(int)
    if ts:
        now = max(ts)
        lo = now - Q3_DAYS * NS_PER_DAY
        for i, row_tags in enumerate(tags):
            if lo < ts[i] <= now:
                day = ts[i] // NS_PER_DAY * NS_PER_DAY
                for node in {t.split("/")[0] for t in row_tags}:
                    acc[(day, node)] += nanos[i]
    keys = sorted(acc)
    return canonical(pd.DataFrame({
        "day": pd.to_datetime([k[0] for k in keys], unit="ns", utc=True),
        "tag": [k[1] for k in keys],
        "cost": [acc[k] / 1e9 for k in keys],
    }), "Q3")


def q4(data) -> pd.DataFrame:
    """Cost split equally over each request's distinct customer/* nodes, in exact nano-dollars."""
    _, nanos, _, _, _, tags = _rows(data)
    acc = defaultdict(int)
    for i, row_tags in enumerate(tags):
        nodes = sorted({"/".join(t.split("/")[:2]) for t in row_tags
                        if t.startswith(Q4_UNDER + "/")})
        if not nodes:
            acc[UNTAGGED] += nanos[i]
            continue
        share, rem = divmod(nanos[i], len(nodes))
        for j, node in enumerate(nodes):  # remainder one nano-dollar at a time, in path order
            acc[node] += share + (1 if j < rem else 0)
    tags_ = sorted(acc)
    return canonical(pd.DataFrame({"cost": [acc[t] / 1e9 for t in tags_]},
                                  index=pd.Index(tags_, name="tag")), "Q4")


def _quantile(sorted_values, q):
    h = (len(sorted_values) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


def q5(data) -> pd.DataFrame:
    """Exact latency p50 and p95 per level-1 node (linear interpolation)."""
    _, _, _, _, lat, tags = _rows(data)
    acc = defaultdict(list)
    for i, row_tags in enumerate(tags):
        for node in {t.split("/")[0] for t in row_tags}:
            acc[node].append(lat[i])
    tags_ = sorted(acc)
    vals = [sorted(acc[t]) for t in tags_]
    return canonical(pd.DataFrame({
        "latency_p50": [_quantile(v, 0.5) for v in vals],
        "latency_p95": [_quantile(v, 0.95) for v in vals],
    }, index=pd.Index(tags_, name="tag")), "Q5")


def answer(data, question: str) -> pd.DataFrame:
    """The reference answer to ``question`` for a Parquet path or a pyarrow Table."""
    return {"Q1": q1, "Q2": q2, "Q3": q3, "Q4": q4, "Q5": q5}[question](data)
