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
    is a **rolling** window: spend in the last n units (at most 100 years). Units are
    case-sensitive, as in pandas: ``"1d"``, ``"1H"``, ``"1w"`` are refused with a hint;
  - ``"period": "1D" | "1W" | "1MS" | "1YS"`` (or ``"window"`` with ``"calendar": True``) is a
    **calendar** period: day, week starting Monday, month, year, in the rule's time zone
    (``"tz"``, default the ``tz`` of :class:`Budgets`), DST-correct via :mod:`zoneinfo`, with
    the same boundaries as ``log.timeseries`` (:mod:`tagcore._calendar`: a midnight in a DST
    gap moves forward, a repeated one is its second occurrence); the counter resets at the
    start of each period. ``"window": "1MS"`` / ``"1YS"`` are calendar
    periods without further ado (a month has no fixed length).

* optional ``"resolution"`` (rolling only, default window / 60), ``"tz"``, ``"name"`` (a
  string).

A rule that cannot be used raises :class:`BudgetRuleError` when :class:`Budgets` is made,
naming the rule (index and match), the field and the reason; so does a ``rules`` that is not a
list of dicts (``None``, one dict, a string).

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
* **Reservations**: ``check(..., reserve=True)`` returns a :class:`Reservation` that holds
  each counter's need (the estimate, at least one unit) until the request is settled
  (``record(..., reservation=r)``, or a ``Recorder.record`` inside ``with
  budgets.settling(r):``), released (``r.release()``, ``with r:``) or expired
  (``reservation_ttl``, default 900 s). A check refuses when ``spent + reserved + need >
  limit``, so concurrent requests cannot all pass on the same headroom.
  :class:`~tagcore.gateway.TagcoreProxy` reserves, settles and releases by itself.

  **Overshoot bound.** Say request *k* is the last one admitted to a counter, and *F* is the set
  of requests in flight when it was admitted (*k* included). Admitting it needed ``S + R +
  e_k <= limit``, where ``S`` is the settled spend and ``R`` the estimates that *F* held. Each
  request *i* then settles at its actual cost ``a_i`` instead of ``e_i``, so the final spend is
  ``S + sum(a_i) = S + R + e_k + sum(a_i - e_i) <= limit + sum over F of max(0, a_i - e_i)``.
  The overshoot is bounded by the under-estimates of the requests in flight together, never by
  how many clients race: zero with estimates that never fall short (say ``max_tokens`` priced
  at the output rate), and without reservations (or with zero estimates) at most the full cost
  of the requests in flight, as before.
* **Unpriced models** (cost rules only): a ``check(..., model=...)`` for a model the price
  table (``prices=``, else the recorder's) cannot price raises :class:`UnpricedModel` (a 400)
  by default, ``unpriced="refuse"``: such a request would otherwise count as free against the
  budget (fail open). ``unpriced=<dollars>`` admits it with at least that estimate, and a
  record the recorder marks ``unpriced`` (unknown model or unknown usage) then counts that
  amount instead of 0, live and when rebuilt from the log. A record that settles a reservation
  counts at least the reservation's cost estimate when it is unpriced, in both modes.
  ``check`` without ``model`` does not look at prices.
* **Bounded counters**: glob rules make one counter per matching node, so tags a client
  controls could make unbounded counters. At most ``max_counters`` (default 100,000, about
  1.5 KB each) are kept: when a check needs a new one beyond that, idle counters (nothing spent
  in their window, nothing reserved: a fresh counter says the same) are evicted, and if none is
  idle the check raises :class:`TooManyCounters` (a 503 with ``retry-after``). Accrual never
  refuses: a request that was admitted is always counted. ``evicted`` counts evictions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import heapq
import math
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np

from tagcore import _calendar
from tagcore.coerce import (
    I64_MAX,
    dollars_to_nanos,
    parse_usage,
    time_to_nanos,
    to_count,
    to_decimal,
)
from tagcore.errors import CoerceError, TagcoreError
from tagcore.gateway.recorder import Recorder, _nonneg_nanos
from tagcore.tags import DEFAULT_POLICY, NormalizedTags, TagError, TagPolicy, normalize_tags
from tagcore.tags import normalize_tag as _normalize_tag
from tagcore.trie import _Pattern

if TYPE_CHECKING:
    import pandas as pd

    from tagcore.log import RequestLog

__all__ = ["BudgetExceeded", "BudgetRuleError", "Budgets", "Reservation", "TooManyCounters",
           "UnpricedModel"]

_NS = 10**9
_NANOS_PER_DOLLAR = 10**9  # tagcore.log.NANOS_PER_DOLLAR, without importing the log
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
# units are case-sensitive, as in pandas: "1d", "1H", "1S", "1w" are refused with a hint
_ROLLING_UNITS = {"s": _NS, "min": 60 * _NS, "T": 60 * _NS, "h": 3600 * _NS, "D": 86400 * _NS,
                  "W": 7 * 86400 * _NS}
_CALENDAR_UNITS = {"D": "D", "W": "W", "MS": "MS", "YS": "YS"}
_UNIT_HINTS = {"d": "D", "w": "W", "H": "h", "S": "s", "ms": "MS", "ys": "YS", "Min": "min",
               "MIN": "min", "t": "T", "M": "MS", "m": "MS", "ME": "MS", "Y": "YS", "y": "YS",
               "YE": "YS", "A": "YS", "AS": "YS"}
_DURATION = re.compile(r"^\s*(\d+)\s*([A-Za-z]+)\s*$")
_METRICS = ("cost", "total_tokens", "requests")
_KEYS = {"match", "limit", "window", "period", "calendar", "metric", "tz", "resolution", "name"}
_EXACT, _SUBTREE, _GLOB, _EXACT_GLOB = range(4)
_CACHE_MAX = 16384  # cached tag sets (tag tuple -> counters); cleared when full
_CACHE_MAX_CHARS = 1024  # a longer tag set is resolved each time, never cached (bounded memory)
_MAX_COUNTERS = 100_000  # default cap on glob counters (about 1.5 KB each)
_UNPRICED = ("refuse",)


class BudgetExceeded(TagcoreError):
    """A request refused because a budget counter would go over its limit (HTTP 429).

    Attributes: ``rule`` (the rule dict), ``rule_index``, ``node`` (the counter's tag path),
    ``metric``, ``limit`` and ``spent`` (dollars for cost, else tokens or requests),
    ``estimate`` (same unit), ``window`` (as written), ``calendar`` (bool), ``resets_at``
    (a tz-aware UTC :class:`datetime.datetime` when the counter next goes down, or None; the
    message gives it to the nanosecond), ``retry_after``
    (seconds until the request would fit, or None if it never will), ``reserved`` (what
    requests in flight hold on the counter, same unit; see :class:`Reservation`),
    ``status_code`` (429).

    >>> err = BudgetExceeded({"match": "team/a", "limit": 5.0, "window": "1h"}, 0, "team/a",
    ...                      "cost", 5.0, 5.2, 0.0, "1h", False, None, None)
    >>> err.to_openai_error()["error"]["code"], err.status_code
    ('budget_exceeded', 429)
    """

    status_code = 429

    def __init__(self, rule: Mapping[str, Any], rule_index: int, node: str, metric: str,
                 limit: float, spent: float, estimate: float, window: str, calendar: bool,
                 resets_at: _dt.datetime | int | None, retry_after: float | None,
                 reserved: float = 0) -> None:
        self.rule = dict(rule)
        self.reserved = reserved
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
        held = ""
        if self.reserved:
            held = (f" (+ ${self.reserved:.10g}" if self.metric == "cost"
                    else f" (+ {self.reserved:,}") + " reserved by requests in flight)"
        msg = (f"budget exceeded for {self.node!r}: {amount} spent {when}{held} "
               f"(rule {self.rule_index}: {self.rule.get('match')!r})")
        if self._resets_ns is not None:
            msg += f"; resets at {_isoformat(self._resets_ns)}"
        return msg

    def __reduce__(self):
        return (BudgetExceeded, (self.rule, self.rule_index, self.node, self.metric, self.limit,
                                 self.spent, self.estimate, self.window, self.calendar,
                                 self._resets_ns, self.retry_after, self.reserved))

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


class BudgetRuleError(TagcoreError, ValueError, TypeError):
    """A budget rule (or the rule list) that cannot be used: names the rule, the field and why.

    Attributes: ``rule_index`` (None for the list itself), ``field`` (``"match"``,
    ``"window"``, ...; ``"rules"`` for the list), ``reason``. Subclasses ``ValueError`` and
    ``TypeError``, what these errors were before.

    >>> Budgets([{"match": "a", "limit": 1, "window": "1d"}])
    Traceback (most recent call last):
    ...
    tagcore.gateway.budgets.BudgetRuleError: rule 0 ('a'), field 'window': unknown unit 'd' in '1d' (units are case-sensitive: did you mean '1D'?); rolling units: s, min, h, D, W; calendar: D, W, MS, YS
    >>> Budgets(None)
    Traceback (most recent call last):
    ...
    tagcore.gateway.budgets.BudgetRuleError: rules: expected a list of rule dicts, got None
    """

    def __init__(self, rule_index: int | None, field: str, reason: str,
                 match: Any = None) -> None:
        self.rule_index, self.field, self.reason = rule_index, field, reason
        if rule_index is None:
            text = f"{field}: {reason}"
        elif isinstance(match, str):
            text = f"rule {rule_index} ({_short(match)}), field {field!r}: {reason}"
        else:
            text = f"rule {rule_index}, field {field!r}: {reason}"
        super().__init__(text)

    def __reduce__(self):
        return (_rule_error, (self.rule_index, self.field, self.reason, str(self)))


def _rule_error(index: int | None, field: str, reason: str, text: str) -> BudgetRuleError:
    err = BudgetRuleError(index, field, reason)
    err.args = (text,)
    return err


class UnpricedModel(TagcoreError, ValueError):
    """A request for a model the price table cannot price, under a cost budget that would then
    count it as free (HTTP 400; see ``unpriced`` in :class:`Budgets`).

    Attributes: ``model``, ``rule_index``, ``node``, ``status_code`` (400), ``param``
    (``"model"``), ``code`` (``"model_not_priced"``).

    >>> err = UnpricedModel("my-model", 0, "customer/acme")
    >>> err.status_code, err.to_openai_error()["error"]["code"]
    (400, 'model_not_priced')
    """

    status_code = 400
    param = "model"
    code = "model_not_priced"

    def __init__(self, model: str | None, rule_index: int, node: str) -> None:
        self.model, self.rule_index, self.node = model, rule_index, node
        super().__init__(
            f"model: {model!r} has no price in the gateway's price table, and the cost budget of "
            f"rule {rule_index} applies to {node!r}; refused rather than counted as free "
            f"(Budgets(unpriced=<dollars>) counts such requests with an estimate)")

    def __reduce__(self):
        return (UnpricedModel, (self.model, self.rule_index, self.node))

    def to_openai_error(self) -> dict[str, dict[str, Any]]:
        """The JSON body of the 400 response, in OpenAI's error format.

        >>> UnpricedModel("m", 0, "a").to_openai_error()["error"]["param"]
        'model'
        """
        return {"error": {"message": str(self), "type": "invalid_request_error",
                          "param": self.param, "code": self.code}}


class TooManyCounters(TagcoreError, RuntimeError):
    """A request that would start a new glob budget counter when ``max_counters`` are live and
    none is idle (HTTP 503, ``retry-after: 1``): refused rather than grow without bound.

    >>> err = TooManyCounters(0, "customer/x", 10)
    >>> err.status_code, err.to_openai_error()["error"]["code"], err.headers
    (503, 'budget_counters_full', {'retry-after': '1'})
    """

    status_code = 503
    headers = {"retry-after": "1"}

    def __init__(self, rule_index: int, node: str, limit: int) -> None:
        self.rule_index, self.node, self.limit = rule_index, node, limit
        super().__init__(
            f"max_counters: {limit} budget counters are live and none is idle, so no counter "
            f"can start for {node!r} (rule {rule_index}); refused")

    def __reduce__(self):
        return (TooManyCounters, (self.rule_index, self.node, self.limit))

    def to_openai_error(self) -> dict[str, dict[str, Any]]:
        """The JSON body of the 503 response, in OpenAI's error format.

        >>> TooManyCounters(0, "a", 1).to_openai_error()["error"]["type"]
        'server_error'
        """
        return {"error": {"message": str(self), "type": "server_error", "param": None,
                          "code": "budget_counters_full"}}


# ------------------------------------------------------------------------------------------------
# rules


_MAX_SPAN = 100 * 366 * 86400 * _NS  # a rolling window longer than a century is a typo


def _duration(text: Any, index: int, field: str, match: Any) -> tuple[int, str]:
    def bad(reason: str) -> BudgetRuleError:
        return BudgetRuleError(index, field, reason, match)

    if not isinstance(text, str):
        raise bad(f"expected a string like '7D', '1h' or '1MS', got {_short(text)}")
    m = _DURATION.match(text)
    if m is None:
        raise bad(f"cannot read {_short(text)}; expected '<n><unit>', e.g. '7D', '1h', "
                  "'30min', '1MS'")
    digits, unit = m.group(1), m.group(2)
    n = int(digits) if len(digits) <= 12 else 10**12
    if n < 1:
        raise bad(f"{text!r} must be at least 1 unit")
    if unit not in _ROLLING_UNITS and unit not in _CALENDAR_UNITS:
        fix = _UNIT_HINTS.get(unit)
        hint = ""
        if fix is not None:
            hint = f" (units are case-sensitive: did you mean '{digits}{fix}'?)"
            if unit in ("M", "m", "ME", "Y", "y", "YE", "A", "AS"):
                hint = f" (calendar months and years are '1MS' and '1YS': did you mean '1{fix}'?)"
        raise bad(f"unknown unit {unit!r} in {text!r}{hint}; rolling units: s, min, h, D, W; "
                  "calendar: D, W, MS, YS")
    return n, unit


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, (str, int, float, type(None))) else \
        f"a {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


def _zone(tz: Any) -> ZoneInfo:
    return _calendar.zone(tz)


class _Rule:
    __slots__ = ("index", "spec", "match", "kind", "path", "pattern", "first", "metric",
                 "metric_code", "limit", "window", "calendar", "span", "res", "unit", "tz",
                 "name")

    def __init__(self, index: int, spec: Mapping[str, Any], tz: ZoneInfo, policy: TagPolicy):
        if not isinstance(spec, Mapping):
            raise BudgetRuleError(index, "rule", f"expected a dict, got {_short(spec)}")
        match = spec.get("match")

        def bad(field: str, reason: str) -> BudgetRuleError:
            return BudgetRuleError(index, field, reason, match)

        unknown = [k for k in spec if k not in _KEYS]
        if unknown:
            raise bad("rule", f"unknown keys {sorted(map(str, unknown))}; allowed "
                              f"{sorted(_KEYS)}")
        self.index = index
        self.spec = dict(spec)
        name = spec.get("name")
        if name is not None and not isinstance(name, str):
            raise bad("name", f"expected a string, got {_short(name)}")
        self.name = name
        if not isinstance(match, str):
            raise bad("match", f"expected a tag path or glob, got {_short(match)}")
        self.match = match
        exact = match.startswith("=")
        try:
            path = _normalize_tag(match[1:] if exact else match, policy)
        except TagError as exc:
            raise bad("match", f"bad 'match' {_short(match)}: {exc.reason}") from None
        segs = path.split("/")
        is_glob = any("*" in s or "?" in s for s in segs)
        self.kind = (_EXACT_GLOB if exact else _GLOB) if is_glob else (_EXACT if exact else _SUBTREE)
        self.path = path
        self.pattern = _Pattern(path) if is_glob else None  # TagTrie.match's semantics
        self.first = None if ("*" in segs[0] or "?" in segs[0]) else segs[0]
        metric = spec.get("metric", "cost")
        if not isinstance(metric, str) or metric not in _METRICS:
            raise bad("metric", f"must be one of {_METRICS}, got {_short(metric)}")
        self.metric = metric
        self.metric_code = _METRICS.index(metric)
        limit = spec.get("limit")
        if isinstance(limit, bool) or not isinstance(limit, (int, float, str)) and \
                not hasattr(limit, "as_tuple"):
            raise bad("limit", f"must be a number, got {_short(limit)}")
        if metric == "cost":
            try:
                self.limit = dollars_to_nanos(limit, "limit")
            except (ValueError, ArithmeticError) as exc:
                raise bad("limit", getattr(exc, "reason", str(exc))) from None
        else:
            try:
                d = to_decimal(limit, "limit")
                whole = d.is_finite() and d == d.to_integral_value() and abs(d) <= I64_MAX
            except (ValueError, ArithmeticError) as exc:
                raise bad("limit", getattr(exc, "reason", str(exc))) from None
            if not whole:
                raise bad("limit", f"a {metric} limit must be a whole number below 2**63, got "
                                   f"{_short(limit)}")
            self.limit = int(d)
        if self.limit < 0:
            raise bad("limit", f"must be >= 0, got {_short(limit)}")
        if ("window" in spec) == ("period" in spec):
            raise bad("window", "give exactly one of 'window' (rolling, or with 'calendar': "
                                "True) and 'period' (calendar)")
        field = "window" if "window" in spec else "period"
        text = spec[field]
        n, unit = _duration(text, index, field, match)
        cal = spec.get("calendar", False)
        if type(cal) is not bool:
            raise bad("calendar", f"expected True or False, got {_short(cal)}")
        calendar = field == "period" or cal or unit in ("MS", "YS")
        self.window = text.strip()
        self.calendar = calendar
        if "tz" in spec:
            try:
                self.tz = _zone(spec["tz"])
            except (ValueError, TypeError, KeyError) as exc:
                raise bad("tz", f"unknown time zone {_short(spec['tz'])} ({exc})") from None
        else:
            self.tz = tz
        self.span = self.res = 0
        self.unit = ""
        if calendar:
            if unit not in _CALENDAR_UNITS or n != 1:
                raise bad(field, f"calendar periods are '1D', '1W', '1MS' or '1YS', got "
                                 f"{text!r}")
            self.unit = _CALENDAR_UNITS[unit]
            if "resolution" in spec:
                raise bad("resolution", "'resolution' applies to rolling windows only")
        else:
            self.span = n * _ROLLING_UNITS[unit]
            if self.span > _MAX_SPAN:
                raise bad(field, f"{text!r} is longer than 100 years")
            if "resolution" in spec:
                rn, ru = _duration(spec["resolution"], index, "resolution", match)
                if ru not in _ROLLING_UNITS:
                    raise bad("resolution", f"resolution must be a duration, got "
                                            f"{spec['resolution']!r}")
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
    __slots__ = ("rule", "node", "buckets", "total", "reserved")

    def __init__(self, rule: _Rule, node: str) -> None:
        self.rule, self.node = rule, node
        self.buckets: deque[list[int]] = deque()
        self.total = 0
        self.reserved = 0  # what open reservations hold on this counter

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
    __slots__ = ("rule", "node", "start", "end", "total", "reserved")

    def __init__(self, rule: _Rule, node: str) -> None:
        self.rule, self.node = rule, node
        self.start = self.end = -(2**62)
        self.total = 0
        self.reserved = 0

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


class Reservation:
    """What one request holds on its budget counters between :meth:`Budgets.check` and the
    accrual of what it really cost: ``Budgets.check(..., reserve=True)`` returns one.

    While it is open, every counter the request touches counts its estimate (``need``: the
    estimate, or one unit without one) as if spent, so concurrent checks see it and cannot all
    pass on the same headroom. It closes exactly once, whichever comes first:

    * **settled** by ``Budgets.record(..., reservation=r)``, or by a ``Recorder.record`` made
      inside ``with budgets.settling(r):`` (what :class:`~tagcore.gateway.TagcoreProxy` does):
      the hold is released in the same locked step as the real spend accrues;
    * **released** by :meth:`release` (or leaving ``with r:``): the request failed, nothing to
      count;
    * **expired** after its ``ttl`` (seconds, monotonic clock): a caller that forgot it.

    Attributes: ``cost_nanos`` and ``tokens`` (the estimates held, for cost and token rules),
    ``is_open``.

    >>> b = Budgets([{"match": "a", "limit": 1.0, "window": "1h"}])
    >>> r = b.check(["a"], estimated_cost=0.6, now=0, reserve=True)
    >>> b.check(["a"], estimated_cost=0.6, now=0)       # the first request's 0.6 is held
    Traceback (most recent call last):
    ...
    tagcore.gateway.budgets.BudgetExceeded: budget exceeded for 'a': $0 of $1 spent in the last 1h (+ $0.6 reserved by requests in flight) (rule 0: 'a')
    >>> b.record(["a"], cost=0.25, ts=0, reservation=r)  # settled: 0.25 spent, 0.6 released
    >>> r.is_open, b.check(["a"], estimated_cost=0.75, now=0)
    (False, None)
    """

    __slots__ = ("_budgets", "_held", "cost_nanos", "tokens", "expires")

    def __init__(self, budgets: Budgets, held: list[tuple[_Rolling | _Calendar, int]],
                 cost_nanos: int, tokens: int, expires: int | None) -> None:
        self._budgets = budgets
        self._held: list[tuple[_Rolling | _Calendar, int]] | None = held
        self.cost_nanos = cost_nanos
        self.tokens = tokens
        self.expires = expires  # time.monotonic_ns() deadline, or None

    @property
    def is_open(self) -> bool:
        """True until the reservation is settled, released or expired."""
        return self._held is not None

    def release(self) -> None:
        """Give the held amounts back (idempotent); nothing is counted.

        >>> b = Budgets([{"match": "a", "limit": 1, "metric": "requests", "window": "1h"}])
        >>> r = b.check(["a"], now=0, reserve=True); r.release(); r.release()
        >>> b.check(["a"], now=0, reserve=True).is_open
        True
        """
        with self._budgets._lock:
            self._close()

    def _close(self) -> None:  # under the budgets' lock
        held, self._held = self._held, None
        if held:
            for c, amount in held:
                c.reserved -= amount

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "open" if self._held is not None else "closed"
        return (f"Reservation({state}, {len(self._held or ())} counters, "
                f"cost_nanos={self.cost_nanos}, tokens={self.tokens})")


_DEFAULT: Any = object()


class Budgets:
    """Spending limits on tags, checked before a request and accrued after it.

    ``rules``: a list of rule dicts (see the module docstring). ``recorder``: a
    :class:`~tagcore.gateway.recorder.Recorder` to accrue from (every ``record`` counts) and to rebuild
    the counters from at start. ``tz``: default time zone of calendar periods. ``policy``: the
    tag policy (always applied as ``on_invalid="raise"``). ``now``: the time of the rebuild.
    ``prices``: the :class:`~tagcore.prices.PriceTable` that says which models can be priced
    (default: the recorder's). ``unpriced``: what a cost rule does with a request whose model
    cannot be priced, ``"refuse"`` (default, :class:`UnpricedModel`) or a number of dollars to
    count it with. ``max_counters``: the most glob counters kept (idle ones are evicted first,
    then :class:`TooManyCounters`). ``reservation_ttl``: seconds before a forgotten
    :class:`Reservation` expires (``None``: never).

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
                 now: Any = None, *, prices: Any = None, unpriced: str | float = "refuse",
                 max_counters: int = _MAX_COUNTERS,
                 reservation_ttl: float | None = 900.0) -> None:
        if rules is None or isinstance(rules, (str, bytes, Mapping)) or \
                not isinstance(rules, Iterable):
            got = "one dict" if isinstance(rules, Mapping) else _short(rules)
            raise BudgetRuleError(None, "rules", f"expected a list of rule dicts, got {got}")
        self.tz = _zone(tz)
        self.policy = dataclasses.replace(policy or DEFAULT_POLICY, on_invalid="raise")
        self.rules = [_Rule(i, spec, self.tz, self.policy) for i, spec in enumerate(rules)]
        if prices is not None and not callable(getattr(prices, "resolve", None)):
            raise TypeError(f"prices: expected a PriceTable, got {type(prices).__name__}")
        self.prices = prices
        if isinstance(unpriced, str) and unpriced == "refuse":
            self._unpriced_nanos: int | None = None
        else:
            try:
                self._unpriced_nanos = _nonneg_nanos(unpriced, "unpriced")
            except (ValueError, TypeError, ArithmeticError) as exc:
                raise BudgetRuleError(None, "unpriced", f"expected 'refuse' or a number of "
                                      f"dollars >= 0, got {_short(unpriced)} ({exc})") from None
            if not self._unpriced_nanos:
                raise BudgetRuleError(None, "unpriced", "0 dollars would count unpriced "
                                      "requests as free; give a positive estimate or 'refuse'")
        self.unpriced = unpriced
        if type(max_counters) is not int or max_counters < 1:
            raise BudgetRuleError(None, "max_counters", f"expected a positive int, got "
                                  f"{_short(max_counters)}")
        self.max_counters = max_counters
        if reservation_ttl is not None and not (
                isinstance(reservation_ttl, (int, float)) and not isinstance(reservation_ttl, bool)
                and 0 < reservation_ttl < math.inf):
            raise BudgetRuleError(None, "reservation_ttl", f"expected seconds > 0 or None, got "
                                  f"{_short(reservation_ttl)}")
        self.reservation_ttl = reservation_ttl
        self._by_first: dict[str, list[_Rule]] = {}
        self._wild: list[_Rule] = []
        for r in self.rules:
            if r.first is None:
                self._wild.append(r)
            else:
                self._by_first.setdefault(r.first, []).append(r)
        self._counters: dict[tuple[int, str], _Rolling | _Calendar] = {}
        self._n_glob = 0
        self._evict_after = 0  # monotonic ns: no eviction scan before (after a fruitless one)
        self.evicted = 0  # idle glob counters evicted so far
        for r in self.rules:
            if r.kind in (_EXACT, _SUBTREE):
                self._counter(r, r.path)
        self._cache: dict[tuple, tuple[_Rolling | _Calendar, ...]] = {}
        self._lock = threading.RLock()
        self._local = threading.local()  # .settling: the Reservation a record settles
        self._expiry: list[tuple[int, int, Reservation]] = []  # heap by deadline
        self._seq = 0
        self.recorder = recorder
        if recorder is not None:
            if not isinstance(recorder, Recorder):
                raise TypeError(f"recorder: expected a Recorder, got {type(recorder).__name__}")
            t = _now_ns(now)
            with self._lock:  # accruals from the recorder wait until the rebuild is done
                log = recorder.subscribe(self._on_record)
                self._rebuild(log, t)

    # ------------------------------------------------------------------------ matching

    def _counter(self, rule: _Rule, node: str, now: int | None = None) -> _Rolling | _Calendar:
        """The counter of ``(rule, node)``, made if new; with ``now`` (a check), a new glob
        counter beyond ``max_counters`` first evicts idle ones, else raises TooManyCounters."""
        key = (rule.index, node)
        c = self._counters.get(key)
        if c is None:
            glob = rule.kind in (_GLOB, _EXACT_GLOB)
            if glob:
                if now is not None and self._n_glob >= self.max_counters:
                    self._evict(now)
                    if self._n_glob >= self.max_counters:
                        raise TooManyCounters(rule.index, node, self.max_counters)
                self._n_glob += 1
            c = self._counters[key] = (_Calendar if rule.calendar else _Rolling)(rule, node)
        return c

    def _evict(self, now: int) -> None:
        """Drop glob counters with nothing spent in their window at ``now`` and nothing held:
        a fresh counter would say the same. At most one fruitless scan a second."""
        mono = time.monotonic_ns()
        if mono < self._evict_after:
            return
        idle = [key for key, c in self._counters.items()
                if c.rule.kind in (_GLOB, _EXACT_GLOB) and not c.reserved and not c.spent(now)]
        for key in idle:
            del self._counters[key]
        self._n_glob -= len(idle)
        self.evicted += len(idle)
        if idle:
            self._cache.clear()  # cached tag sets may name evicted counters
        if len(idle) < max(1, self.max_counters // 8):
            self._evict_after = mono + _NS

    def _live(self, c: _Rolling | _Calendar) -> _Rolling | _Calendar:
        """``c``, or the counter that replaced it if it was evicted meanwhile (under the lock)."""
        key = (c.rule.index, c.node)
        got = self._counters.get(key)
        if got is c:
            return c
        if got is None:
            if c.rule.kind in (_GLOB, _EXACT_GLOB):
                self._n_glob += 1
            self._counters[key] = c
            return c
        return got

    def _resolve(self, tags: Any, key: tuple | None, now: int | None
                 ) -> tuple[_Rolling | _Calendar, ...]:
        norm = [] if tags is None else normalize_tags(tags, self.policy)
        firsts = {t.split("/", 1)[0] for t in norm}
        cands = list(self._wild)
        for f in firsts:
            cands.extend(self._by_first.get(f, ()))
        cands.sort(key=lambda r: r.index)
        with self._lock:
            out = tuple(self._counter(r, node, now) for r in cands for node in r.covers(norm))
            if key is not None and sum(map(len, key)) <= _CACHE_MAX_CHARS:
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.clear()
                self._cache[key] = out
        return out

    def _lookup(self, tags: Any, now: int | None = None) -> tuple[_Rolling | _Calendar, ...]:
        cls = type(tags)
        if cls is tuple:
            k = tags
        elif cls is list or cls is NormalizedTags:
            k = tuple(tags)
        else:
            return self._resolve(tags, None, now)
        try:
            got = self._cache.get(k)
        except TypeError:  # unhashable element: normalization names it
            return self._resolve(tags, None, now)
        return got if got is not None else self._resolve(tags, k, now)

    def counters_for(self, tags: Iterable[str] | None) -> list[tuple[int, str]]:
        """``(rule index, node)`` of every counter a request with ``tags`` touches.

        >>> Budgets([{"match": "customer/*", "limit": 1, "window": "1h"},
        ...          {"match": "=env/prod", "limit": 1, "window": "1h"}]
        ...        ).counters_for(["customer/acme/eu", "env/prod/x", "customer/b"])
        [(0, 'customer/acme'), (0, 'customer/b')]
        """
        return [(c.rule.index, c.node) for c in self._lookup(tags)]

    # ------------------------------------------------------------------------ pricing

    def _prices(self) -> Any:
        if self.prices is not None:
            return self.prices
        return getattr(self.recorder, "prices", None)

    def can_price(self, model: Any) -> bool:
        """Whether the price table (``prices``, else the recorder's) knows ``model``.

        >>> from tagcore.prices import PriceTable
        >>> b = Budgets([], prices=PriceTable({"m": {"input_cost_per_token": 1e-6}}))
        >>> b.can_price("m"), b.can_price("openai/m"), b.can_price("other"), b.can_price(None)
        (True, True, False, False)
        """
        prices = self._prices()
        if prices is None or type(model) is not str or not model or len(model) > 256:
            return False
        return prices.resolve(model) is not None

    # ------------------------------------------------------------------------ check / accrue

    def check(self, tags: Iterable[str] | None, estimated_cost: float = 0.0, now: Any = None,
              *, estimated_tokens: int = 0, estimated_cost_nanos: int | None = None,
              model: str | None = None, reserve: bool = False, ttl: Any = _DEFAULT
              ) -> Reservation | None:
        """Raise :class:`BudgetExceeded` if the request would take any of its counters over its
        limit, :class:`TagError` if its tags cannot be validated; return None otherwise, or
        with ``reserve=True`` a :class:`Reservation` that holds the estimate on every counter
        until it is settled, released or expires (``ttl`` seconds, default
        ``reservation_ttl``; ``None``: never).

        ``estimated_cost`` in dollars (or ``estimated_cost_nanos``) for cost rules,
        ``estimated_tokens`` for token rules; a counter needs ``max(estimate, 1 unit)`` of
        headroom beyond what is spent and held. ``model``: the model asked for; when a cost rule
        applies and the price table cannot price it, :class:`UnpricedModel` (``unpriced=
        "refuse"``) or the estimate becomes at least the ``unpriced`` dollars.

        >>> b = Budgets([{"match": "a", "limit": 1.0, "window": "1D"}])
        >>> b.check(["a/b"], estimated_cost=1.0, now=0)
        >>> b.check(["a/b"], estimated_cost=1.01, now=0)
        Traceback (most recent call last):
        ...
        tagcore.gateway.budgets.BudgetExceeded: budget exceeded for 'a': $0 of $1 spent in the last 1D (rule 0: 'a')
        >>> b.check(["a/b"], estimated_cost=0.1, now=0, model="gpt-x")   # no price table
        Traceback (most recent call last):
        ...
        tagcore.gateway.budgets.UnpricedModel: model: 'gpt-x' has no price in the gateway's price table, and the cost budget of rule 0 applies to 'a'; refused rather than counted as free (Budgets(unpriced=<dollars>) counts such requests with an estimate)
        >>> b.check(["bad\\x00tag"])
        Traceback (most recent call last):
        ...
        tagcore.tags.TagError: request_tags[0] = 'bad\\x00tag': contains control character U+0000
        """
        t = time.time_ns() if now is None else _now_ns(now)
        if estimated_cost_nanos is not None:
            est_cost = to_count(estimated_cost_nanos, "estimated_cost_nanos")
        else:
            est_cost = 0 if not estimated_cost else _nonneg_nanos(estimated_cost,
                                                                  "estimated_cost")
        if estimated_tokens:
            if isinstance(estimated_tokens, bool) or not isinstance(estimated_tokens, int) \
                    or estimated_tokens < 0:
                raise CoerceError("estimated_tokens",
                                  f"expected an int >= 0, got {estimated_tokens!r}")
        counters = self._lookup(tags, t)
        if not counters:
            return Reservation(self, [], est_cost, estimated_tokens, None) if reserve else None
        if model is not None and any(c.rule.metric_code == 0 for c in counters) \
                and not self.can_price(model):
            if self._unpriced_nanos is None:
                c = next(c for c in counters if c.rule.metric_code == 0)
                raise UnpricedModel(model, c.rule.index, c.node)
            est_cost = max(est_cost, self._unpriced_nanos)
        need_by_metric = (est_cost or 1, estimated_tokens or 1, 1)
        with self._lock:
            if self._expiry:
                self._expire()
            if self.evicted:  # a counter resolved before an eviction is registered again
                counters = tuple([self._live(c) for c in counters])
            for c in counters:
                r = c.rule
                need = need_by_metric[r.metric_code]
                spent = c.spent(t)
                if spent + c.reserved + need > r.limit:
                    est = (est_cost, estimated_tokens, 1)[r.metric_code]
                    raise self._exceeded(c, spent, need, est, t)
            if not reserve:
                return None
            held = []
            for c in counters:
                amount = need_by_metric[c.rule.metric_code]
                c.reserved += amount
                held.append((c, amount))
            expires = None
            if ttl is _DEFAULT:
                ttl = self.reservation_ttl
            if ttl is not None:
                expires = time.monotonic_ns() + int(float(ttl) * _NS)
            res = Reservation(self, held, est_cost, estimated_tokens, expires)
            if expires is not None:
                self._seq += 1
                heapq.heappush(self._expiry, (expires, self._seq, res))
            return res

    def _expire(self) -> None:  # under the lock
        mono = time.monotonic_ns()
        heap = self._expiry
        while heap and heap[0][0] <= mono:
            heapq.heappop(heap)[2]._close()

    def _exceeded(self, c: _Rolling | _Calendar, spent: int, need: int, est: int, now: int
                  ) -> BudgetExceeded:
        r = c.rule
        fits = c.fits_at(need + c.reserved)
        return BudgetExceeded(
            r.spec, r.index, c.node, r.metric, r.to_units(r.limit), r.to_units(spent),
            r.to_units(est), r.window, r.calendar, c.next_change(),
            None if fits is None else max(0.0, (fits - now) / _NS), r.to_units(c.reserved))

    @contextlib.contextmanager
    def settling(self, reservation: Reservation | None) -> Iterator[Reservation | None]:
        """Within the block, the first ``Recorder.record`` of the budgets' recorder on this
        thread settles ``reservation`` (its hold is released in the same step as the record's
        spend accrues; a record that could not be priced, or whose usage is unknown, counts the
        reservation's cost estimate instead of 0). On leaving, a reservation still open is
        released.

        >>> from tagcore.gateway.recorder import Recorder
        >>> rec = Recorder()
        >>> b = Budgets([{"match": "a", "limit": 1.0, "window": "1h"}], recorder=rec,
        ...             unpriced=0.5)
        >>> r = b.check(["a"], now=0, model="m", reserve=True)   # unpriced: holds $0.5
        >>> with b.settling(r):
        ...     rec.record(["a"], model="m", usage=None, latency_ms=1.0, ts=0)
        >>> float(b.status(now=0)["spent"].iloc[0]), r.is_open
        (0.5, False)
        """
        local = self._local
        before = getattr(local, "settling", None)
        local.settling = reservation
        try:
            yield reservation
        finally:
            local.settling = before
            if reservation is not None:
                reservation.release()

    def record(self, tags: Iterable[str] | None, *, cost: float | None = None,
               cost_nanos: int | None = None, total_tokens: int | None = None,
               usage: Any = None, ts: Any = None, reservation: Reservation | None = None
               ) -> None:
        """Accrue one finished request (not needed with ``recorder=``: it accrues itself).

        ``cost`` in dollars (or ``cost_nanos``); tokens from ``total_tokens`` or an OpenAI
        ``usage`` object; ``ts`` defaults to now. ``reservation``: the request's
        :class:`Reservation`, settled in the same step.

        >>> b = Budgets([{"match": "a", "limit": 100, "metric": "total_tokens", "window": "1h"}])
        >>> b.record(["a"], usage={"prompt_tokens": 60, "completion_tokens": 30}, ts=0)
        >>> float(b.status(now=0)["spent"].iloc[0])
        90.0
        """
        counters = self._lookup(tags)
        if cost_nanos is not None:
            nanos = to_count(cost_nanos, "cost_nanos")
        else:
            nanos = 0 if cost is None else _nonneg_nanos(cost)
        if total_tokens is None:
            u = parse_usage(usage)
            tokens = u.prompt_tokens + u.completion_tokens
        else:
            tokens = to_count(total_tokens, "total_tokens")
        t = time.time_ns() if ts is None else _now_ns(ts)
        self._accrue(counters, t, nanos, tokens, reservation)

    def _accrue(self, counters: Sequence[_Rolling | _Calendar], t: int, nanos: int,
                tokens: int, reservation: Reservation | None = None) -> None:
        if not counters and reservation is None:
            return
        amounts = (nanos, tokens, 1)
        with self._lock:
            if reservation is not None:
                reservation._close()
            for c in counters:
                self._live(c).add(t, amounts[c.rule.metric_code])

    def _on_record(self, tags: tuple[str, ...], ts: int, nanos: int, tokens: int,
                   unpriced: bool) -> None:
        res = getattr(self._local, "settling", None)
        if res is not None and res._held is None:
            res = None  # already settled: a second record in the block counts as it is
        try:
            counters = self._lookup(tags)
        except TagError:  # recorded under another policy: nothing this budget can match
            counters = ()
        if unpriced:
            if res is not None:
                nanos = max(nanos, res.cost_nanos)
            elif self._unpriced_nanos is not None:
                nanos = max(nanos, self._unpriced_nanos)
        self._accrue(counters, ts, nanos, tokens, res)

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
        cost = log.cost[sel]
        floor = self._unpriced_nanos
        flags = log.extras.get("unpriced")
        if floor is not None and flags is not None:  # as live accrual counts them
            cost = np.where(np.asarray(flags)[sel] != 0, np.maximum(cost, floor), cost)
        amounts = (cost, log.prompt_tokens[sel] + log.completion_tokens[sel],
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
