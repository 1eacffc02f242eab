"""Budgets by tag: refuse a request when its customer, team or feature is over its limit.

>>> b = Budgets([{"match": "customer/*", "limit": 1.0, "window": "1D", "calendar": True}])
>>> t0 = "2026-03-01T10:00:00Z"
>>> b.record(["customer/acme/eu", "env/prod"], cost=0.75, ts=t0)
>>> b.check(["customer/globex"], estimated_cost=0.5, now=t0)      # its own counter: fine
>>> b.check(["customer/acme"], estimated_cost=0.5, now=t0)
Traceback (most recent call last):
...
tagcore.gateway.budgets.BudgetExceeded: budget exceeded for 'customer/acme': $0.75 of $1 spent this 1D period (rule 0: 'customer/*'); resets at 2026-03-02T00:00:00+00:00
>>> b.check(["customer/acme"], estimated_cost=0.5, now="2026-03-02T00:00:00Z")  # a new day

Rules
-----
A rule is a dict:

* ``"match"``: what it applies to, normalized like a tag (case folded under ``policy``):

  - ``"customer/acme"``: the path *and everything under it* (segment-aware: not
    ``customer/acmecorp``); one counter, a request counts once however many of its tags fall
    under the path;
  - ``"=customer/acme"``: requests carrying exactly that tag;
  - a glob (``*`` one segment, ``**`` zero or more, ``*``/``?`` inside a segment, as in
    :meth:`TagTrie.match`): **one counter per matching node**; a request counts for a node when
    it carries the node or anything under it (``customer/acme/eu`` counts for ``customer/acme``
    under ``customer/*``); ``=`` + glob counts only tags that match themselves.

* ``"limit"``: dollars for ``"metric": "cost"`` (default, kept as exact integer nano-dollars),
  tokens for ``"total_tokens"`` (prompt + completion), requests for ``"requests"``.
* the window, **rolling** or **calendar**:

  - ``"window": "<n><unit>"`` with unit ``s``, ``min`` (or ``T``), ``h``, ``D``, ``W`` (7 days)
    is a **rolling** window: spend in the last n units;
  - ``"period": "1D" | "1W" | "1MS" | "1YS"`` (or ``"window"`` with ``"calendar": True``) is a
    **calendar** period: day, week starting Monday, month, year, in the rule's time zone
    (``"tz"``, default the ``tz`` of :class:`Budgets`), DST-correct via :mod:`zoneinfo`, with
    the same boundaries as ``log.timeseries`` (:mod:`tagcore._calendar`: a midnight in a DST
    gap moves forward, a repeated one is its second occurrence); the counter resets at the
    start of each period. ``"window": "1MS"`` / ``"1YS"`` are calendar
    periods without further ado (a month has no fixed length).

* optional ``"resolution"`` (rolling only, default window / 60), ``"tz"``, ``"name"``.

Semantics
---------
* **Refusal**: :meth:`Budgets.check` raises :class:`BudgetExceeded` for the first counter (rules
  in order) where ``spent + max(estimate, 1 unit) > limit``, the unit being one nano-dollar, one
  token or one request (``requests`` rules always use 1). So a request passes while it fits
  within the limit, and once a counter has reached its limit exactly nothing more passes, even
  with no estimate. ``estimated_cost`` is in dollars (``estimated_tokens`` for token rules).
* **Rolling windows** keep per-counter time buckets of ``resolution`` (a deque of non-empty
  buckets with a running total, so a check is O(1) amortised). A spend at time ``t`` counts from
  ``t`` until at least ``t + window`` and at most ``t + window + resolution``: the bucketing only
  ever errs on the side of refusing.
* **Fail closed**: tags are validated with the policy but always as ``on_invalid="raise"``, so a
  tag that cannot be validated raises :class:`~tagcore.tags.TagError` (a 400) instead of being
  dropped and letting the request through. ``None`` means no tags.
* **Accrual**: :meth:`Budgets.record`, or, with ``recorder=``, automatically for every
  ``Recorder.record`` (do not call both for one request). ``now`` and ``ts`` default to the
  clock; they accept a datetime, an ISO string or epoch seconds.
* **Restart**: ``Budgets(rules, recorder=rec)`` rebuilds the counters from ``rec``'s data (a
  Recorder on a folder loads its history) for the longest window or current period, in the same
  step as it subscribes to new records, so no request is counted twice or missed.
* Requests the recorder could not price count with cost 0 (see ``unpriced`` in the log).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np

from tagcore import _calendar
from tagcore.coerce import I64_MAX, dollars_to_nanos, parse_usage, time_to_nanos, to_decimal
from tagcore.errors import TagcoreError
from tagcore.gateway.recorder import Recorder, _nonneg_nanos
from tagcore.tags import DEFAULT_POLICY, NormalizedTags, TagError, TagPolicy, normalize_tags
from tagcore.tags import normalize_tag as _normalize_tag
from tagcore.trie import _Pattern

if TYPE_CHECKING:
    import pandas as pd

    from tagcore.log import RequestLog

__all__ = ["BudgetExceeded", "Budgets"]

_NS = 10**9
_NANOS_PER_DOLLAR = 10**9  # tagcore.log.NANOS_PER_DOLLAR, without importing the log
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_ROLLING_UNITS = {"s": _NS, "S": _NS, "min": 60 * _NS, "T": 60 * _NS, "h": 3600 * _NS,
                  "H": 3600 * _NS, "D": 86400 * _NS, "d": 86400 * _NS, "W": 7 * 86400 * _NS,
                  "w": 7 * 86400 * _NS}
_CALENDAR_UNITS = {"D": "D", "d": "D", "W": "W", "w": "W", "MS": "MS", "YS": "YS"}
_DURATION = re.compile(r"^\s*(\d+)\s*([A-Za-z]+)\s*$")
_METRICS = ("cost", "total_tokens", "requests")
_KEYS = {"match", "limit", "window", "period", "calendar", "metric", "tz", "resolution", "name"}
_EXACT, _SUBTREE, _GLOB, _EXACT_GLOB = range(4)
_CACHE_MAX = 65536


class BudgetExceeded(TagcoreError):
    """A request refused because a budget counter would go over its limit (HTTP 429).

    Attributes: ``rule`` (the rule dict), ``rule_index``, ``node`` (the counter's tag path),
    ``metric``, ``limit`` and ``spent`` (dollars for cost, else tokens or requests),
    ``estimate`` (same unit), ``window`` (as written), ``calendar`` (bool), ``resets_at``
    (a tz-aware UTC :class:`datetime.datetime` when the counter next goes down, or None; the
    message gives it to the nanosecond), ``retry_after``
    (seconds until the request would fit, or None if it never will), ``status_code`` (429).

    >>> err = BudgetExceeded({"match": "team/a", "limit": 5.0, "window": "1h"}, 0, "team/a",
    ...                      "cost", 5.0, 5.2, 0.0, "1h", False, None, None)
    >>> err.to_openai_error()["error"]["code"], err.status_code
    ('budget_exceeded', 429)
    """

    status_code = 429

    def __init__(self, rule: Mapping[str, Any], rule_index: int, node: str, metric: str,
                 limit: float, spent: float, estimate: float, window: str, calendar: bool,
                 resets_at: _dt.datetime | int | None, retry_after: float | None) -> None:
        self.rule = dict(rule)
        self.rule_index = rule_index
        self.node = node
        self.metric = metric
        self.limit = limit
        self.spent = spent
        self.estimate = estimate
        self.window = window
        self.calendar = calendar
        # int ns UTC (how Budgets passes it) or a datetime (a pandas Timestamp keeps its ns)
        self._resets_ns = None if resets_at is None else (
            int(resets_at) if isinstance(resets_at, (int, np.integer)) else _dt_to_ns(resets_at))
        self.resets_at = None if self._resets_ns is None else _utc_datetime(self._resets_ns)
        self.retry_after = retry_after
        super().__init__(self._message())

    def _message(self) -> str:
        if self.metric == "cost":
            amount = f"${self.spent:.10g} of ${self.limit:.10g}"
        else:
            unit = "tokens" if self.metric == "total_tokens" else "requests"
            amount = f"{self.spent:,} of {self.limit:,} {unit}"
        when = (f"this {self.window} period" if self.calendar
                else f"in the last {self.window}")
        msg = (f"budget exceeded for {self.node!r}: {amount} spent {when} "
               f"(rule {self.rule_index}: {self.rule.get('match')!r})")
        if self._resets_ns is not None:
            msg += f"; resets at {_isoformat(self._resets_ns)}"
        return msg

    def __reduce__(self):
        return (BudgetExceeded, (self.rule, self.rule_index, self.node, self.metric, self.limit,
                                 self.spent, self.estimate, self.window, self.calendar,
                                 self._resets_ns, self.retry_after))

    @property
    def headers(self) -> dict[str, str]:
        """``{"retry-after": seconds}`` when known, for the 429 response.

        >>> BudgetExceeded({}, 0, "a", "requests", 1, 1, 1, "1h", False, None, 12.2).headers
        {'retry-after': '13'}
        """
        if self.retry_after is None:
            return {}
        return {"retry-after": str(max(0, math.ceil(self.retry_after)))}

    def to_openai_error(self) -> dict[str, dict[str, Any]]:
        """The JSON body of the 429 response, in OpenAI's error format.

        >>> BudgetExceeded({"match": "a"}, 0, "a", "requests", 1, 1, 1, "1h", False, None,
        ...                None).to_openai_error()["error"]["type"]
        'insufficient_quota'
        """
        return {"error": {"message": str(self), "type": "insufficient_quota", "param": None,
                          "code": "budget_exceeded"}}


# ------------------------------------------------------------------------------------------------
# rules


def _duration(text: Any, what: str) -> tuple[int, str]:
    if not isinstance(text, str):
        raise ValueError(f"{what}: expected a string like '7D', '1h' or '1MS', got {text!r}")
    m = _DURATION.match(text)
    if m is None:
        raise ValueError(f"{what}: cannot read {text!r}; expected '<n><unit>', e.g. '7D', "
                         f"'1h', '30min', '1MS'")
    n, unit = int(m.group(1)), m.group(2)
    if n < 1:
        raise ValueError(f"{what}: {text!r} must be at least 1 unit")
    if unit not in _ROLLING_UNITS and unit not in _CALENDAR_UNITS:
        hint = " (use '1MS' for calendar months)" if unit in ("M", "m", "ME") else ""
        raise ValueError(f"{what}: unknown unit {unit!r} in {text!r}{hint}; rolling units: s, "
                         f"min, h, D, W; calendar: D, W, MS, YS")
    return n, unit


def _zone(tz: Any) -> ZoneInfo:
    return _calendar.zone(tz)


class _Rule:
    __slots__ = ("index", "spec", "match", "kind", "path", "pattern", "first", "metric",
                 "metric_code", "limit", "window", "calendar", "span", "res", "unit", "tz",
                 "name")

    def __init__(self, index: int, spec: Mapping[str, Any], tz: ZoneInfo, policy: TagPolicy):
        if not isinstance(spec, Mapping):
            raise TypeError(f"rule {index}: expected a dict, got {type(spec).__name__}")
        unknown = set(spec) - _KEYS
        if unknown:
            raise ValueError(f"rule {index}: unknown keys {sorted(unknown)}; allowed {sorted(_KEYS)}")
        self.index = index
        self.spec = dict(spec)
        self.name = spec.get("name")
        match = spec.get("match")
        if not isinstance(match, str):
            raise ValueError(f"rule {index}: 'match' must be a tag path or glob, got {match!r}")
        self.match = match
        exact = match.startswith("=")
        try:
            path = _normalize_tag(match[1:] if exact else match, policy)
        except TagError as exc:
            raise ValueError(f"rule {index}: bad 'match' {match!r}: {exc.reason}") from None
        segs = path.split("/")
        is_glob = any("*" in s or "?" in s for s in segs)
        self.kind = (_EXACT_GLOB if exact else _GLOB) if is_glob else (_EXACT if exact else _SUBTREE)
        self.path = path
        self.pattern = _Pattern(path) if is_glob else None  # TagTrie.match's semantics
        self.first = None if ("*" in segs[0] or "?" in segs[0]) else segs[0]
        metric = spec.get("metric", "cost")
        if metric not in _METRICS:
            raise ValueError(f"rule {index}: metric must be one of {_METRICS}, got {metric!r}")
        self.metric = metric
        self.metric_code = _METRICS.index(metric)
        limit = spec.get("limit")
        if isinstance(limit, bool) or not isinstance(limit, (int, float, str)) and \
                not hasattr(limit, "as_tuple"):
            raise ValueError(f"rule {index}: 'limit' must be a number, got {limit!r}")
        if metric == "cost":
            try:
                self.limit = dollars_to_nanos(limit)
            except ValueError as exc:
                raise ValueError(f"rule {index}: 'limit': {exc}") from None
        else:
            try:
                d = to_decimal(limit, "limit")
            except ValueError as exc:
                raise ValueError(f"rule {index}: 'limit': {exc}") from None
            if d != d.to_integral_value() or abs(d) > I64_MAX:
                raise ValueError(f"rule {index}: a {metric} limit must be a whole number "
                                 f"below 2**63, got {limit!r}")
            self.limit = int(d)
        if self.limit < 0:
            raise ValueError(f"rule {index}: 'limit' must be >= 0, got {limit!r}")
        if ("window" in spec) == ("period" in spec):
            raise ValueError(f"rule {index}: give exactly one of 'window' (rolling, or with "
                             f"'calendar': True) and 'period' (calendar)")
        text = spec.get("window", spec.get("period"))
        n, unit = _duration(text, f"rule {index}: window")
        calendar = "period" in spec or bool(spec.get("calendar", False)) or unit in ("MS", "YS")
        self.window = text.strip()
        self.calendar = calendar
        self.tz = _zone(spec["tz"]) if "tz" in spec else tz
        self.span = self.res = 0
        self.unit = ""
        if calendar:
            if unit not in _CALENDAR_UNITS or n != 1:
                raise ValueError(f"rule {index}: calendar periods are '1D', '1W', '1MS' or "
                                 f"'1YS', got {text!r}")
            self.unit = _CALENDAR_UNITS[unit]
            if "resolution" in spec:
                raise ValueError(f"rule {index}: 'resolution' applies to rolling windows only")
        else:
            self.span = n * _ROLLING_UNITS[unit]
            if "resolution" in spec:
                rn, ru = _duration(spec["resolution"], f"rule {index}: resolution")
                if ru not in _ROLLING_UNITS:
                    raise ValueError(f"rule {index}: resolution must be a duration")
                self.res = min(rn * _ROLLING_UNITS[ru], self.span)
            else:
                self.res = max(self.span // 60, 1)

    def covers(self, norm: Sequence[str]) -> list[str]:
        """The counter nodes this rule has for a request with normalized tags ``norm``."""
        kind = self.kind
        if kind == _EXACT:
            return [self.path] if self.path in norm else []
        if kind == _SUBTREE:
            p = self.path
            q = p + "/"
            return [p] if any(t == p or t.startswith(q) for t in norm) else []
        match = self.pattern.matches  # type: ignore[union-attr]
        out: list[str] = []
        for t in norm:
            if kind == _EXACT_GLOB:
                if match(t) and t not in out:
                    out.append(t)
                continue
            pos = -1
            while True:
                pos = t.find("/", pos + 1)
                prefix = t if pos < 0 else t[:pos]
                if match(prefix) and prefix not in out:
                    out.append(prefix)
                if pos < 0:
                    break
        return out

    def period(self, now: int) -> tuple[int, int]:
        """Start and end (ns) of the calendar period that contains ``now``."""
        return (_calendar.period_start(now, self.unit, 1, self.tz),
                _calendar.next_start(now, self.unit, 1, self.tz))

    def lookback(self, now: int) -> int:
        """The earliest time whose spend can still count at ``now``."""
        if self.calendar:
            return self.period(now)[0]
        return ((now - self.span) // self.res) * self.res

    def to_units(self, value: int) -> float | int:
        return value / _NANOS_PER_DOLLAR if self.metric_code == 0 else value


class _Rolling:
    __slots__ = ("rule", "node", "buckets", "total")

    def __init__(self, rule: _Rule, node: str) -> None:
        self.rule, self.node = rule, node
        self.buckets: deque[list[int]] = deque()
        self.total = 0

    def spent(self, now: int) -> int:
        r = self.rule
        lo = (now - r.span) // r.res
        dq = self.buckets
        while dq and dq[0][0] < lo:
            self.total -= dq.popleft()[1]
        return self.total

    def add(self, t: int, amount: int) -> None:
        k = t // self.rule.res
        dq = self.buckets
        if dq and dq[-1][0] == k:
            dq[-1][1] += amount
        elif not dq or dq[-1][0] < k:
            dq.append([k, amount])
        else:  # late arrival: keep the buckets in order
            for i in range(len(dq) - 1, -1, -1):
                if dq[i][0] == k:
                    dq[i][1] += amount
                    break
                if dq[i][0] < k:
                    dq.insert(i + 1, [k, amount])
                    break
            else:
                dq.appendleft([k, amount])
        self.total += amount

    def bulk(self, ts: np.ndarray, amounts: np.ndarray, now: int) -> None:
        r = self.rule
        k = ts // r.res
        keep = k >= (now - r.span) // r.res
        k, a = k[keep], amounts[keep]
        if not k.size:
            return
        order = np.argsort(k, kind="stable")
        k, a = k[order], a[order]
        starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
        sums = np.add.reduceat(a, starts)
        for kk, s in zip(k[starts].tolist(), sums.tolist()):
            self.add(kk * r.res, s)

    def next_change(self) -> int | None:
        if not self.buckets:
            return None
        r = self.rule
        return (self.buckets[0][0] + 1) * r.res + r.span

    def fits_at(self, need: int) -> int | None:
        """When the spend will have expired enough for ``need`` more units to fit."""
        r = self.rule
        if need > r.limit:
            return None
        left = self.total
        for k, amount in self.buckets:
            left -= amount
            if left + need <= r.limit:
                return (k + 1) * r.res + r.span
        return None


class _Calendar:
    __slots__ = ("rule", "node", "start", "end", "total")

    def __init__(self, rule: _Rule, node: str) -> None:
        self.rule, self.node = rule, node
        self.start = self.end = -(2**62)
        self.total = 0

    def spent(self, now: int) -> int:
        if now >= self.end:
            self.start, self.end = self.rule.period(now)
            self.total = 0
        return self.total

    def add(self, t: int, amount: int) -> None:
        if t >= self.end:
            self.start, self.end = self.rule.period(t)
            self.total = amount
        elif t >= self.start:
            self.total += amount

    def bulk(self, ts: np.ndarray, amounts: np.ndarray, now: int) -> None:
        self.spent(now)
        self.total += int(amounts[ts >= self.start].sum())

    def next_change(self) -> int | None:
        return self.end

    def fits_at(self, need: int) -> int | None:
        return self.end if need <= self.rule.limit else None


def _now_ns(now: Any) -> int:
    if now is None:
        return time.time_ns()
    return time_to_nanos(now, field="now")


def _utc_datetime(ns: int) -> _dt.datetime:
    """ns UTC as a tz-aware UTC datetime (to the microsecond, floored)."""
    return _EPOCH + _dt.timedelta(microseconds=ns // 1000)


def _dt_to_ns(t: _dt.datetime) -> int:
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return (t - _EPOCH) // _dt.timedelta(microseconds=1) * 1000 + getattr(t, "nanosecond", 0)


def _isoformat(ns: int) -> str:
    """ISO 8601 of ns UTC as pandas writes a Timestamp: 6 fraction digits when there are
    microseconds, 9 when there are nanoseconds, none for whole seconds."""
    text = _utc_datetime(ns).isoformat(timespec="seconds")
    frac = ns % _NS
    if frac:
        digits = f"{frac:09d}" if frac % 1000 else f"{frac // 1000:06d}"
        text = f"{text[:-6]}.{digits}{text[-6:]}"
    return text


class Budgets:
    """Spending limits on tags, checked before a request and accrued after it.

    ``rules``: a list of rule dicts (see the module docstring). ``recorder``: a
    :class:`~tagcore.gateway.recorder.Recorder` to accrue from (every ``record`` counts) and to rebuild
    the counters from at start. ``tz``: default time zone of calendar periods. ``policy``: the
    tag policy (always applied as ``on_invalid="raise"``). ``now``: the time of the rebuild.

    >>> b = Budgets([{"match": "team/search", "limit": 2, "metric": "requests", "window": "1h"}])
    >>> for _ in range(2):
    ...     b.check(["team/search/api"], now=0); b.record(["team/search/api"], ts=0)
    >>> b.check(["team/search"], now=60)
    Traceback (most recent call last):
    ...
    tagcore.gateway.budgets.BudgetExceeded: budget exceeded for 'team/search': 2 of 2 requests spent in the last 1h (rule 0: 'team/search'); resets at 1970-01-01T01:01:00+00:00
    >>> b.check(["team/search"], now=3660)   # the window rolled over
    """

    def __init__(self, rules: Iterable[Mapping[str, Any]], recorder: Recorder | None = None,
                 tz: str | ZoneInfo = "UTC", policy: TagPolicy | None = None,
                 now: Any = None) -> None:
        if isinstance(rules, Mapping):
            raise TypeError("rules: expected a list of rule dicts, got one dict")
        self.tz = _zone(tz)
        self.policy = dataclasses.replace(policy or DEFAULT_POLICY, on_invalid="raise")
        self.rules = [_Rule(i, spec, self.tz, self.policy) for i, spec in enumerate(rules)]
        self._by_first: dict[str, list[_Rule]] = {}
        self._wild: list[_Rule] = []
        for r in self.rules:
            if r.first is None:
                self._wild.append(r)
            else:
                self._by_first.setdefault(r.first, []).append(r)
        self._counters: dict[tuple[int, str], _Rolling | _Calendar] = {}
        for r in self.rules:
            if r.kind in (_EXACT, _SUBTREE):
                self._counter(r, r.path)
        self._cache: dict[tuple, tuple[_Rolling | _Calendar, ...]] = {}
        self._lock = threading.RLock()
        self.recorder = recorder
        if recorder is not None:
            if not isinstance(recorder, Recorder):
                raise TypeError(f"recorder: expected a Recorder, got {type(recorder).__name__}")
            t = _now_ns(now)
            with self._lock:  # accruals from the recorder wait until the rebuild is done
                log = recorder.subscribe(self._on_record)
                self._rebuild(log, t)

    # ------------------------------------------------------------------------ matching

    def _counter(self, rule: _Rule, node: str) -> _Rolling | _Calendar:
        key = (rule.index, node)
        c = self._counters.get(key)
        if c is None:
            c = self._counters[key] = (_Calendar if rule.calendar else _Rolling)(rule, node)
        return c

    def _resolve(self, tags: Any, key: tuple | None) -> tuple[_Rolling | _Calendar, ...]:
        norm = [] if tags is None else normalize_tags(tags, self.policy)
        firsts = {t.split("/", 1)[0] for t in norm}
        cands = list(self._wild)
        for f in firsts:
            cands.extend(self._by_first.get(f, ()))
        cands.sort(key=lambda r: r.index)
        with self._lock:
            out = tuple(self._counter(r, node) for r in cands for node in r.covers(norm))
            if key is not None:
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.clear()
                self._cache[key] = out
        return out

    def _lookup(self, tags: Any) -> tuple[_Rolling | _Calendar, ...]:
        cls = type(tags)
        if cls is tuple:
            k = tags
        elif cls is list or cls is NormalizedTags:
            k = tuple(tags)
        else:
            return self._resolve(tags, None)
        try:
            got = self._cache.get(k)
        except TypeError:  # unhashable element: normalization names it
            return self._resolve(tags, None)
        return got if got is not None else self._resolve(tags, k)

    def counters_for(self, tags: Iterable[str] | None) -> list[tuple[int, str]]:
        """``(rule index, node)`` of every counter a request with ``tags`` touches.

        >>> Budgets([{"match": "customer/*", "limit": 1, "window": "1h"},
        ...          {"match": "=env/prod", "limit": 1, "window": "1h"}]
        ...        ).counters_for(["customer/acme/eu", "env/prod/x", "customer/b"])
        [(0, 'customer/acme'), (0, 'customer/b')]
        """
        return [(c.rule.index, c.node) for c in self._lookup(tags)]

    # ------------------------------------------------------------------------ check / accrue

    def check(self, tags: Iterable[str] | None, estimated_cost: float = 0.0, now: Any = None,
              *, estimated_tokens: int = 0) -> None:
        """Raise :class:`BudgetExceeded` if the request would take any of its counters over its
        limit, :class:`TagError` if its tags cannot be validated; return None otherwise.

        ``estimated_cost`` in dollars (cost rules), ``estimated_tokens`` (token rules).

        >>> b = Budgets([{"match": "a", "limit": 1.0, "window": "1D"}])
        >>> b.check(["a/b"], estimated_cost=1.0, now=0)
        >>> b.check(["a/b"], estimated_cost=1.01, now=0)
        Traceback (most recent call last):
        ...
        tagcore.gateway.budgets.BudgetExceeded: budget exceeded for 'a': $0 of $1 spent in the last 1D (rule 0: 'a')
        >>> b.check(["bad\\x00tag"])
        Traceback (most recent call last):
        ...
        tagcore.tags.TagError: request_tags[0] = 'bad\\x00tag': contains control character U+0000
        """
        counters = self._lookup(tags)
        if not counters:
            return
        t = time.time_ns() if now is None else _now_ns(now)
        est_cost = 0 if not estimated_cost else _nonneg_nanos(estimated_cost, "estimated_cost")
        if estimated_tokens:
            if isinstance(estimated_tokens, bool) or not isinstance(estimated_tokens, int) \
                    or estimated_tokens < 0:
                raise ValueError(f"estimated_tokens: expected an int >= 0, got {estimated_tokens!r}")
        need_by_metric = (est_cost or 1, estimated_tokens or 1, 1)
        with self._lock:
            for c in counters:
                r = c.rule
                need = need_by_metric[r.metric_code]
                spent = c.spent(t)
                if spent + need > r.limit:
                    est = (est_cost, estimated_tokens, 1)[r.metric_code]
                    raise self._exceeded(c, spent, need, est, t)

    def _exceeded(self, c: _Rolling | _Calendar, spent: int, need: int, est: int, now: int
                  ) -> BudgetExceeded:
        r = c.rule
        fits = c.fits_at(need)
        return BudgetExceeded(
            r.spec, r.index, c.node, r.metric, r.to_units(r.limit), r.to_units(spent),
            r.to_units(est), r.window, r.calendar, c.next_change(),
            None if fits is None else max(0.0, (fits - now) / _NS))

    def record(self, tags: Iterable[str] | None, *, cost: float | None = None,
               cost_nanos: int | None = None, total_tokens: int | None = None,
               usage: Any = None, ts: Any = None) -> None:
        """Accrue one finished request (not needed with ``recorder=``: it accrues itself).

        ``cost`` in dollars (or ``cost_nanos``); tokens from ``total_tokens`` or an OpenAI
        ``usage`` object; ``ts`` defaults to now.

        >>> b = Budgets([{"match": "a", "limit": 100, "metric": "total_tokens", "window": "1h"}])
        >>> b.record(["a"], usage={"prompt_tokens": 60, "completion_tokens": 30}, ts=0)
        >>> float(b.status(now=0)["spent"].iloc[0])
        90.0
        """
        counters = self._lookup(tags)
        if cost_nanos is not None:
            nanos = int(cost_nanos)
        else:
            nanos = 0 if cost is None else _nonneg_nanos(cost)
        if total_tokens is None:
            u = parse_usage(usage)
            tokens = u.prompt_tokens + u.completion_tokens
        else:
            tokens = int(total_tokens)
        if nanos < 0 or tokens < 0:
            raise ValueError("cost and tokens must be >= 0")
        t = time.time_ns() if ts is None else _now_ns(ts)
        self._accrue(counters, t, nanos, tokens)

    def _accrue(self, counters: Sequence[_Rolling | _Calendar], t: int, nanos: int,
                tokens: int) -> None:
        if not counters:
            return
        amounts = (nanos, tokens, 1)
        with self._lock:
            for c in counters:
                c.add(t, amounts[c.rule.metric_code])

    def _on_record(self, tags: tuple[str, ...], ts: int, nanos: int, tokens: int,
                   unpriced: bool) -> None:
        try:
            counters = self._lookup(tags)
        except TagError:  # recorded under another policy: nothing this budget can match
            return
        self._accrue(counters, ts, nanos, tokens)

    def detach(self) -> None:
        """Stop accruing from the recorder.

        >>> Budgets([]).detach()
        """
        if self.recorder is not None:
            self.recorder.unsubscribe(self._on_record)
            self.recorder = None

    # ------------------------------------------------------------------------ rebuild

    def rebuild(self, log: RequestLog, now: Any = None) -> None:
        """Add the spend of ``log``'s requests that still count at ``now`` to the counters
        (done automatically from ``recorder=``).

        >>> from tagcore.log import RequestLog
        >>> log = RequestLog.from_records([{"ts": 0, "model": "m", "prompt_tokens": 0,
        ...     "completion_tokens": 0, "cost": 0.4, "latency_ms": 1, "status": 200,
        ...     "request_tags": ["a/x"]}])
        >>> b = Budgets([{"match": "a", "limit": 1.0, "window": "1h"}]); b.rebuild(log, now=10)
        >>> float(b.status(now=10)["spent"].iloc[0])
        0.4
        """
        with self._lock:
            self._rebuild(log, _now_ns(now))

    def _rebuild(self, log: RequestLog, now: int) -> None:
        if not len(log) or not self.rules:
            return
        horizon = min(r.lookback(now) for r in self.rules)
        sel = np.flatnonzero(log.ts >= horizon)
        m = sel.size
        if not m:
            return
        off = log.tag_offsets
        starts = off[sel]
        lens = off[sel + 1] - starts
        width = int(lens.max()) if m else 0
        if width:
            total = int(lens.sum())
            first = np.zeros(m, dtype=np.int64)
            np.cumsum(lens[:-1], out=first[1:])
            pos = np.repeat(starts - first, lens) + np.arange(total)
            rows = np.repeat(np.arange(m), lens)
            cols = np.arange(total) - np.repeat(first, lens)
            mat = np.full((m, width), -1, dtype=np.int32)
            mat[rows, cols] = log.tag_ids[pos]
            uniq, inv = np.unique(mat, axis=0, return_inverse=True)
            inv = inv.reshape(-1)
        else:
            uniq, inv = np.full((1, 0), -1, dtype=np.int32), np.zeros(m, dtype=np.int64)
        ts = log.ts[sel]
        amounts = (log.cost[sel], log.prompt_tokens[sel] + log.completion_tokens[sel],
                   np.ones(m, dtype=np.int64))
        order = np.argsort(inv, kind="stable")
        bounds = np.zeros(uniq.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(inv, minlength=uniq.shape[0]), out=bounds[1:])
        paths = log.trie.paths
        per: dict[int, tuple[_Rolling | _Calendar, list[np.ndarray]]] = {}
        for g in range(uniq.shape[0]):
            key = tuple(paths[i] for i in uniq[g].tolist() if i >= 0)
            try:
                counters = self._lookup(key)
            except TagError:
                continue
            rows_g = order[bounds[g]:bounds[g + 1]]
            for c in counters:
                per.setdefault(id(c), (c, []))[1].append(rows_g)
        for c, parts in per.values():
            idx = np.sort(np.concatenate(parts))
            c.bulk(ts[idx], amounts[c.rule.metric_code][idx], now)

    # ------------------------------------------------------------------------ reporting

    def status(self, now: Any = None) -> pd.DataFrame:
        """One row per counter: rule, match, node, metric, window, calendar, limit, spent,
        remaining (dollars for cost, else tokens/requests) and resets_at (UTC; calendar: the
        period's end; rolling: when the oldest spend in the window expires).

        >>> Budgets([{"match": "a", "limit": 5.0, "period": "1MS", "tz": "Europe/London"}]
        ...        ).status(now="2026-03-15T12:00:00Z")[["node", "limit", "spent", "resets_at"]]
          node  limit  spent                 resets_at
        0    a    5.0    0.0 2026-03-31 23:00:00+00:00
        """
        import pandas as pd

        t = _now_ns(now)
        recs = []
        with self._lock:
            for (_i, node), c in sorted(self._counters.items()):
                r = c.rule
                spent = c.spent(t)
                recs.append({
                    "rule": r.index, "match": r.match, "node": node, "metric": r.metric,
                    "window": r.window, "calendar": r.calendar,
                    "limit": float(r.to_units(r.limit)), "spent": float(r.to_units(spent)),
                    "remaining": float(r.to_units(r.limit - spent)),
                    "resets_at": _stamp(pd, c.next_change()),
                })
        cols = ["rule", "match", "node", "metric", "window", "calendar", "limit", "spent",
                "remaining", "resets_at"]
        df = pd.DataFrame(recs, columns=cols)
        df["resets_at"] = pd.to_datetime(df["resets_at"], utc=True)
        return df

    def __repr__(self) -> str:
        return f"Budgets({len(self.rules)} rules, {len(self._counters)} counters)"


def _stamp(pd: Any, ns: int | None) -> Any:
    return None if ns is None else pd.Timestamp(ns, unit="ns", tz="UTC")
