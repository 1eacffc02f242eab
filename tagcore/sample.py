"""A bundled, deterministic sample log: the data behind ``tagcore report`` with no file.

:func:`load_sample` builds a realistic log of a few thousand LLM requests over five weeks
ending at a fixed time (``2026-11-20T18:00Z``), so that every command on it prints the same
numbers on every machine. It uses only :class:`random.Random` (stable across numpy versions)
and integer nano-dollar prices per token, so costs are exact.

What is in it:

- customers ``customer/acme`` (the largest), ``customer/globex``, ``customer/initech``,
  ``customer/umbrella``, ``customer/hooli`` and a Zipf-like tail;
- features (``feature/summary-widget``, ``feature/chat``, ``feature/search``,
  ``feature/code-review`` (launched in week 3, tagged ``beta`` at first), ``feature/translate``,
  ``feature/extraction``); some chat requests also carry ``feature/search`` (retrieval);
- ``env/production`` (most) and ``env/staging``; geo tags (``UK/London``, ``UK/Manchester``,
  ``Europe``, ``Europe/France/Paris``, ``US/California/SF``, flat ``asia``); owning teams as
  ``org/<org>/<team>/<project>`` paths; flat tags ``beta`` and ``batch``;
- six models with their list prices per token; lognormal token counts and latencies; daily and
  weekly seasonality with growth; about 3% errors (429 and 5xx, billed nothing); a few
  untagged requests; the API ``key`` each request used (``acme-prod``, ``acme-staging``, ...,
  ``ci-smoke-tests``) as an extra column, for ``rollup(by="key")``.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import math
import random
from typing import Any

import numpy as np

from tagcore.coerce import time_to_nanos
from tagcore.log import RequestLog
from tagcore.trie import TagTrie

__all__ = ["load_sample", "SAMPLE_END", "SAMPLE_DAYS", "PRICES_NANOS"]

SAMPLE_END = _dt.datetime(2026, 11, 20, 18, 0, tzinfo=_dt.timezone.utc)
SAMPLE_DAYS = 35

#: Model list prices in integer nano-dollars per token: (input, output).
#: ($2.50 per million input tokens = 2,500 nano-dollars per token.)
PRICES_NANOS: dict[str, tuple[int, int]] = {
    "gpt-4o": (2_500, 10_000),
    "gpt-4o-mini": (150, 600),
    "claude-3-5-sonnet": (3_000, 15_000),
    "claude-3-5-haiku": (800, 4_000),
    "gemini-1.5-flash": (75, 300),
    "o3-mini": (1_100, 4_400),
}
# Milliseconds to first token (median) and per generated token, per model.
_SPEED = {
    "gpt-4o": (450.0, 14.0), "gpt-4o-mini": (300.0, 7.0), "claude-3-5-sonnet": (600.0, 16.0),
    "claude-3-5-haiku": (380.0, 9.0), "gemini-1.5-flash": (250.0, 5.0),
    "o3-mini": (1500.0, 11.0),
}

# customer: (weight, home geo tags and their odds)
_CUSTOMERS: list[tuple[str, float, list[tuple[tuple[str, ...], float]]]] = [
    ("acme", 1.00, [(("UK/London",), 0.7), (("US/California/SF",), 0.3)]),
    ("globex", 0.52, [(("US/California/SF",), 1.0)]),
    ("initech", 0.36, [(("Europe/France/Paris",), 0.8), (("Europe",), 0.2)]),
    ("umbrella", 0.27, [(("UK/Manchester",), 1.0)]),
    ("hooli", 0.22, [(("US/California/SF",), 0.6), (("asia",), 0.4)]),
    ("stark", 0.18, [(("US/California/SF",), 1.0)]),
    ("wayne", 0.15, [(("Europe",), 1.0)]),
    ("wonka", 0.13, [(("UK/London",), 1.0)]),
    ("soylent", 0.11, [(("asia",), 1.0)]),
    ("cyberdyne", 0.10, [(("asia",), 0.5), (("US/California/SF",), 0.5)]),
    ("tyrell", 0.09, [(("Europe/France/Paris",), 1.0)]),
    ("massive-dynamic", 0.08, [(("Europe",), 1.0)]),
]

# feature: (weight, org path, prompt median, completion median, {model: weight})
_FEATURES: list[tuple[str, float, str, float, float, dict[str, float]]] = [
    ("summary-widget", 0.26, "org/product/assistant/summary", 3200, 260,
     {"gpt-4o": 0.35, "gpt-4o-mini": 0.40, "claude-3-5-sonnet": 0.25}),
    ("chat", 0.30, "org/product/assistant/chat", 900, 320,
     {"gpt-4o-mini": 0.50, "gpt-4o": 0.30, "claude-3-5-haiku": 0.20}),
    ("search", 0.18, "org/platform/search/ranker", 420, 60,
     {"gemini-1.5-flash": 0.55, "gpt-4o-mini": 0.45}),
    ("code-review", 0.12, "org/product/devtools/code-review", 6500, 750,
     {"claude-3-5-sonnet": 0.60, "gpt-4o": 0.28, "o3-mini": 0.12}),
    ("translate", 0.08, "org/platform/i18n/translate", 650, 520,
     {"gpt-4o-mini": 0.60, "claude-3-5-haiku": 0.40}),
    ("extraction", 0.06, "org/data/pipelines/extraction", 2200, 180,
     {"gpt-4o": 0.40, "gpt-4o-mini": 0.40, "gemini-1.5-flash": 0.20}),
]
_CODE_REVIEW_LAUNCH_DAY = 14  # days after the start of the sample
_BETA_DAYS = 10               # code review carries the flat tag "beta" this long


def _cum(weights: list[float]) -> list[float]:
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out


def _pick(rng: random.Random, cum: list[float]) -> int:
    return bisect.bisect_right(cum, rng.random() * cum[-1])


def _end_ns(now: Any) -> int:
    if now is None:
        return time_to_nanos(SAMPLE_END)
    if isinstance(now, (int, np.integer)) and not isinstance(now, bool):
        return int(now)  # nanoseconds since the epoch
    return time_to_nanos(now)


def load_sample(n: int = 4000, seed: int = 7, *, now: Any = None) -> RequestLog:
    """A deterministic, realistic sample log of ``n`` requests over the five weeks ending at
    ``now`` (default ``2026-11-20T18:00Z``; a datetime, ISO string or int nanoseconds).

    The same ``(n, seed, now)`` always gives the same log (pure-Python ``random.Random``).

    >>> log = load_sample()
    >>> len(log), str(log.totals()["last_seen"]) <= "2026-11-20 18:00:00+00:00"
    (4000, True)
    >>> log.top(1, under="customer").index[0]
    'customer/acme'
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n: expected an integer >= 0, got {n!r}")
    rng = random.Random(seed)
    end = _end_ns(now)
    hour_ns = 3_600 * 10**9
    hours = SAMPLE_DAYS * 24
    start = end - hours * hour_ns
    start_wd = _dt.datetime.fromtimestamp(start / 1e9, tz=_dt.timezone.utc).weekday()
    start_hour = _dt.datetime.fromtimestamp(start / 1e9, tz=_dt.timezone.utc).hour

    # --- when: hourly weights with a daily curve (UTC, Europe + US working hours), quiet
    # weekends and a steady growth over the five weeks
    weights = []
    for h in range(hours):
        hod = (start_hour + h) % 24
        day = (start_hour + h) // 24
        wd = (start_wd + day) % 7
        daily = 0.15 + math.exp(-(((hod - 11.0) / 3.5) ** 2)) + 0.8 * math.exp(
            -(((hod - 18.0) / 3.0) ** 2))
        weekly = 1.0 if wd < 5 else (0.42 if wd == 5 else 0.33)
        growth = 1.0 + 0.6 * h / hours
        weights.append(daily * weekly * growth)
    hour_cum = _cum(weights)
    ts = sorted(start + _pick(rng, hour_cum) * hour_ns + rng.randrange(1, hour_ns + 1)
                for _ in range(n))

    cust_cum = _cum([w for _, w, _ in _CUSTOMERS])
    geo_cums = [_cum([p for _, p in geos]) for _, _, geos in _CUSTOMERS]
    feat_w = [w for _, w, *_ in _FEATURES]
    feat_cum_all = _cum(feat_w)
    feat_cum_pre = _cum([0.0 if f[0] == "code-review" else w for f, w in zip(_FEATURES, feat_w)])
    model_names = list(PRICES_NANOS)
    model_cums = []
    for f in _FEATURES:
        model_cums.append((list(f[5]), _cum(list(f[5].values()))))
    launch_ns = start + _CODE_REVIEW_LAUNCH_DAY * 24 * hour_ns
    beta_end_ns = launch_ns + _BETA_DAYS * 24 * hour_ns

    vocab: dict[str, int] = {}
    trie = TagTrie()

    def tid(path: str) -> int:
        i = vocab.get(path)
        if i is None:
            i = vocab[path] = trie.add(path)
        return i

    model = np.empty(n, dtype=np.int32)
    prompt = np.empty(n, dtype=np.int64)
    completion = np.empty(n, dtype=np.int64)
    cost = np.empty(n, dtype=np.int64)
    latency = np.empty(n, dtype=np.float64)
    status = np.empty(n, dtype=np.int32)
    offsets = np.zeros(n + 1, dtype=np.int64)
    ids: list[int] = []
    keys: list[str] = []

    for i, t in enumerate(ts):
        u = rng.random()
        tags: list[str] = []
        if u < 0.012:  # untagged: scripts and tests that forgot their tags
            fi = _pick(rng, feat_cum_all if t >= launch_ns else feat_cum_pre)
            staging = rng.random() < 0.5
            key = "ci-smoke-tests"
        else:
            fi = _pick(rng, feat_cum_all if t >= launch_ns else feat_cum_pre)
            fname, _, org, *_ = _FEATURES[fi]
            internal = rng.random() < 0.04  # internal traffic, no customer
            if not internal:
                ci = _pick(rng, cust_cum)
                cname, _, geos = _CUSTOMERS[ci]
                tags.append(f"customer/{cname}")
            tags.append(f"feature/{fname}")
            if fname == "chat" and rng.random() < 0.15:
                tags.append("feature/search")  # retrieval-augmented chat: two features
            staging = rng.random() < (0.35 if internal else 0.09)
            tags.append("env/staging" if staging else "env/production")
            owner = "internal" if internal else cname
            key = f"{owner}-{'staging' if staging else 'prod'}"
            if not internal:
                tags.extend(geos[_pick(rng, geo_cums[ci])][0])
            if rng.random() < 0.7:
                tags.append(org)
            if fname == "code-review" and t < beta_end_ns:
                tags.append("beta")
            elif rng.random() < 0.03:
                tags.append("beta")
            if fname == "extraction" and rng.random() < 0.6:
                tags.append("batch")
        names, mcum = model_cums[fi]
        m = names[_pick(rng, mcum)]
        if staging and rng.random() < 0.6:
            m = "gpt-4o-mini"
        _, _, _, p_med, c_med, _ = _FEATURES[fi]
        p = max(1, int(rng.lognormvariate(math.log(p_med), 0.75)))
        c = max(1, int(rng.lognormvariate(math.log(c_med), 0.65)))
        p, c = min(p, 120_000), min(c, 16_000)
        r = rng.random()
        st = 429 if r < 0.018 else (500 if r < 0.027 else (503 if r < 0.031 else 200))
        ttft, per_tok = _SPEED[m]
        if st == 200:
            lat = ttft * rng.lognormvariate(0.0, 0.35) + per_tok * c * rng.lognormvariate(0.0, 0.2)
            pin, pout = PRICES_NANOS[m]
            money = p * pin + c * pout
        elif st == 429:
            lat, p, c, money = rng.uniform(20.0, 120.0), 0, 0, 0
        else:
            lat, p, c, money = rng.uniform(800.0, 30_000.0), 0, 0, 0
        model[i] = model_names.index(m)
        prompt[i], completion[i], cost[i], status[i] = p, c, money, st
        latency[i] = round(lat, 1) if rng.random() > 0.004 else math.nan  # a few unknown
        ids.extend(tid(x) for x in tags)
        offsets[i + 1] = len(ids)
        keys.append(key)

    return RequestLog.from_arrays(
        ts=np.asarray(ts, dtype=np.int64), model=model, models=tuple(model_names),
        prompt_tokens=prompt, completion_tokens=completion, cost_nanos=cost,
        latency_ms=latency, status=status, tag_offsets=offsets,
        tag_ids=np.asarray(ids, dtype=np.int32), trie=trie, extras={"key": keys})
