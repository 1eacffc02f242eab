"""The request log: immutable columns, one row per request, tags as CSR over a :class:`TagTrie`.

Columns (numpy, read-only once built):

- ``ts`` int64 nanoseconds since the epoch, UTC;
- ``model_codes`` int32 codes into ``models`` (a tuple of names);
- ``prompt_tokens``, ``completion_tokens`` int64;
- ``cost`` int64 nano-dollars (exact; frames show dollars);
- ``latency_ms`` float64 (NaN = unknown);
- ``status`` int32 (HTTP status; >= 400 is an error);
- ``tag_offsets`` int64 (n + 1) and ``tag_ids`` int32: the node ids of each request's tags;
- optional ``extras``: ``cached_tokens``, ``reasoning_tokens`` (int64) and string columns
  ``request_id``, ``user``, ``key`` (dictionary-encoded: int32 codes, -1 for missing, plus a
  tuple of values).

A log is validated once when it is built; the kernels then trust its arrays.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from tagcore import kernels
from tagcore._validate import as_array, check_csr, check_length
from tagcore.coerce import (
    NANOS_PER_DOLLAR,
    dollars_to_nanos,
    dollars_to_nanos_array,
    parse_status,
    time_to_nanos,
    times_to_nanos,
    to_count,
    to_latency_ms,
)
from tagcore.errors import CoerceError, TagcoreError, check_on_error
from tagcore.tags import TagError, TagPolicy, normalize_tags
from tagcore.trie import TagTrie

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from tagcore.plot import PlotAccessor

__all__ = ["LogError", "RequestLog", "SumOverflowError", "UnknownColumnError", "dollars_to_nanos"]

_I64 = 2**63 - 1
INT_EXTRAS = ("cached_tokens", "reasoning_tokens", "usage_unknown", "unpriced")  # last two: 0/1 flags (recorder)
STR_EXTRAS = ("request_id", "user", "key")
#: the columns a source may lack: the log then does not know them (``RequestLog.unknown``)
KNOWABLE = ("ts", "model", "prompt_tokens", "completion_tokens", "latency_ms", "status")
#: the model name of every request of a log whose source had no model column
UNKNOWN_MODEL = "(unknown)"


class LogError(TagcoreError, ValueError):
    """A bad value while building a log; names the row and the column.

    >>> str(LogError("prompt_tokens", "must be >= 0, got -3", row=7))
    'row 7, column prompt_tokens: must be >= 0, got -3'
    """

    def __init__(self, column: str, reason: str, row: int | None = None, source: str | None = None):
        self.column, self.reason, self.row, self.source = column, reason, row, source
        where = f"row {row}, " if row is not None else ""
        prefix = f"{source}: " if source else ""
        super().__init__(f"{prefix}{where}column {column}: {reason}")

    @classmethod
    def of(cls, exc: CoerceError, row: int | None = None, column: str | None = None
           ) -> LogError:
        """The log's error for a value the coercion module refused."""
        return cls(column or exc.field, exc.reason, exc.row if row is None else row)


class SumOverflowError(LogError):
    """A sum of a column beyond int64 (2**63 - 1): tagcore refuses it rather than return a
    wrapped number. ``column`` names the summed column, ``total`` is the exact sum (a Python
    int), ``where`` the tag, bucket or total whose sum it is, and ``row`` the row holding the
    column's largest value (``value``), which is usually the one to look at.

    >>> str(SumOverflowError("cost", 2**63, where="customer/acme", row=7, value=2**62))
    "column cost: the sum for customer/acme is 9223372036854775808, more than int64 holds (at most 9223372036854775807), so it is refused rather than wrapped; the column's largest value is 4611686018427387904 at row 7: leave out such rows (filter or mask the log) or fix the source"
    """

    def __init__(self, column: str, total: int, where: str | None = None,
                 row: int | None = None, value: int | None = None):
        self.total, self.where, self.value = total, where, value
        what = f"the sum for {where}" if where else "the sum"
        if total < 2**64:
            reason = (f"{what} is {total}, more than int64 holds (at most {_I64}), so it is "
                      "refused rather than wrapped")
        else:
            reason = (f"{what} is {total}, 2**64 or more, so no sum over this column can be "
                      "told from a wrapped one: each is refused")
        if row is not None:
            reason += (f"; the column's largest value is {value} at row {row}: leave out such "
                       "rows (filter or mask the log) or fix the source")
        super().__init__(column, reason)
        self.row = row


class UnknownColumnError(TagcoreError, ValueError):
    """A question needs a column the log's source did not have (a file without token
    columns asked for ``prompt_tokens``, a log without ``ts`` asked for a time window):
    the log does not know it, and an answer would be a made-up zero. ``column`` is the
    column, ``what`` the argument or metric that needed it.

    >>> str(UnknownColumnError("prompt_tokens", "metrics"))
    "metrics: this log does not know 'prompt_tokens' (its source had no such column); log.unknown lists what it lacks"
    """

    def __init__(self, column: str, what: str):
        self.column, self.what = column, what
        super().__init__(f"{what}: this log does not know {column!r} (its source had no such "
                         "column); log.unknown lists what it lacks")


def _unknown_set(unknown: Iterable[str]) -> frozenset[str]:
    got = frozenset(unknown)
    bad = got - set(KNOWABLE)
    if bad:
        raise ValueError(f"unknown: {sorted(bad)} cannot be unknown; choose from {list(KNOWABLE)}")
    return got


def _dollars_array_to_nanos(values: Any) -> np.ndarray:
    try:
        return dollars_to_nanos_array(values, "cost")
    except CoerceError as exc:
        raise LogError.of(exc) from None


_ts_to_nanos = time_to_nanos  # old private name; callers move to tagcore.coerce


def _ts_array(values: Any, unit: str = "ns") -> np.ndarray:
    try:
        return times_to_nanos(values, unit=unit)
    except CoerceError as exc:
        raise LogError.of(exc) from None


def _dict_encode(values: Any, name: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Strings to (int32 codes, values); None/NaN become -1."""
    import pandas as pd

    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    for _i, u in enumerate(uniques):
        if not isinstance(u, str):
            raise LogError(name, f"expected a string, got {u!r}")
    return codes.astype(np.int32), tuple(str(u) for u in uniques)


def _tags_to_csr(tag_lists: Iterable[Any], trie: TagTrie, policy: TagPolicy | None,
                 column: str = "request_tags", sep: str | None = None
                 ) -> tuple[np.ndarray, np.ndarray, int]:
    """Normalize each row's tags, intern them, and return CSR arrays plus dropped-tag count.
    A text cell is read by :func:`tagcore.tags.tags_from_text` (JSON array, Python list,
    or ``sep``-delimited)."""
    from tagcore.tags import TagTextError, tags_from_text

    offsets = [0]
    ids: list[int] = []
    cache: dict[tuple[str, ...], list[int]] = {}
    dropped = 0
    for row, tags in enumerate(tag_lists):
        if tags is None or (isinstance(tags, float) and math.isnan(tags)):
            offsets.append(len(ids))
            continue
        if isinstance(tags, np.ndarray):
            tags = tags.tolist()
        elif isinstance(tags, str):
            try:
                tags = tags_from_text(tags, sep)
            except TagTextError as exc:
                raise LogError(column, str(exc), row=row) from None
        key = tuple(tags) if isinstance(tags, (list, tuple)) else None
        got = cache.get(key) if key is not None else None
        if got is None:
            try:
                norm = normalize_tags(tags, policy)
            except TagError as exc:
                raise LogError(column, str(exc), row=row) from None
            dropped_here = len(norm.dropped)
            got = [trie.add(t) for t in norm]
            if key is not None and not dropped_here:
                cache[key] = got
            dropped += dropped_here
        ids.extend(got)
        offsets.append(len(ids))
    return np.asarray(offsets, dtype=np.int64), np.asarray(ids, dtype=np.int32), dropped


USAGE_UNKNOWN_HEAD = "without usage (tokens unknown: counted as 0 in the sums and flagged in " \
    "the 'usage_unknown' column)"
UNPRICED_HEAD = "unpriced (cost unknown: counted as $0 in the sums and flagged in the " \
    "'unpriced' column)"
_MAX_UNPRICED_MODELS = 10


def _unpriced_problem(codes: np.ndarray, models: Sequence[str], flags: np.ndarray,
                      reasons: Mapping[str, str]) -> str | None:
    """The ``problems`` line of a log's unpriced requests, per model (most first), or None.

    >>> _unpriced_problem(np.array([0, 1, 1, 0]), ("a", "b"), np.array([0, 1, 1, 1]),
    ...                   {"b": "unknown model"})
    "3 requests unpriced (cost unknown: counted as $0 in the sums and flagged in the 'unpriced' column): b (2): unknown model; a (1)"
    """
    bad = np.asarray(flags) != 0
    n = int(bad.sum())
    if not n:
        return None
    per = np.bincount(np.asarray(codes)[bad], minlength=len(models))
    order = sorted((int(i) for i in np.flatnonzero(per)), key=lambda i: (-int(per[i]), models[i]))
    parts = []
    for i in order[:_MAX_UNPRICED_MODELS]:
        why = reasons.get(models[i])
        parts.append(f"{models[i]} ({int(per[i]):,})" + (f": {why}" if why else ""))
    if len(order) > _MAX_UNPRICED_MODELS:
        parts.append(f"... and {len(order) - _MAX_UNPRICED_MODELS} more models")
    return f"{n:,} request{'s' if n != 1 else ''} {UNPRICED_HEAD}: " + "; ".join(parts)


def unpriced_line(log: RequestLog, reason: str | Mapping[str, str]) -> str | None:
    """The ``problems`` line of ``log``'s unpriced requests (None if none), each model with
    ``reason`` (one for all, or per model)."""
    if "unpriced" not in log.extras:
        return None
    why = reason if isinstance(reason, Mapping) else {m: reason for m in log.models}
    return _unpriced_problem(log.model_codes, log.models, log.extras["unpriced"], why)


def _priced(log: RequestLog, prices: Any) -> tuple[RequestLog, Any]:
    """``log`` (no cost column) with the costs ``prices`` (a PriceTable) gives from its
    models and tokens, and why its other requests stay unpriced (per model)."""
    need = {"model", "prompt_tokens", "completion_tokens"} & log.unknown
    if need:
        return log, f"no cost column, and no {' or '.join(sorted(need))} column to price by"
    models = np.asarray(log.models, dtype=object)[log.model_codes] if len(log) else []
    nanos, bad = prices.price_many(models, log.prompt_tokens, log.completion_tokens,
                                   cached_tokens=log.extras.get("cached_tokens"),
                                   reasoning_tokens=log.extras.get("reasoning_tokens"))
    extras = dict(log.extras)
    extras["unpriced"] = bad.astype(np.int64)
    why = prices.unpriced_reasons
    return (log._replace(cost=nanos, extras=extras),
            {m: why.get(m, "not in the price table") for m in log.models})


def _readonly(a: np.ndarray, fresh: bool = False) -> np.ndarray:
    """``a`` frozen; a writable array that may belong to the caller is copied first, so the
    log never shares mutable memory (and never freezes the caller's array)."""
    if a.flags.writeable:
        if not fresh:
            a = a.copy()
        a.setflags(write=False)
        a = a.view()  # a view of a read-only base cannot be made writeable again
    return a


METRICS = ("requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens", "cost",
           "cost_nanos", "share", "latency_mean", "latency_p50", "latency_p90", "latency_p95",
           "latency_p99", "first_seen", "last_seen")
DEFAULT_METRICS = ("requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens",
                   "cost", "cost_nanos", "share", "latency_mean", "latency_p50", "latency_p95",
                   "first_seen", "last_seen")
_QUANTILES = {"latency_p50": 0.5, "latency_p90": 0.9, "latency_p95": 0.95, "latency_p99": 0.99}
UNTAGGED = "(untagged)"
OTHER = "(other)"


def _metric_dtypes(split: bool) -> dict[str, Any]:
    f, i = np.float64, np.int64
    return {
        "requests": f if split else i, "errors": f if split else i,
        "prompt_tokens": f if split else i, "completion_tokens": f if split else i,
        "total_tokens": f if split else i, "cost": f, "cost_nanos": i, "share": f,
        "latency_mean": f, "latency_p50": f, "latency_p90": f, "latency_p95": f,
        "latency_p99": f, "first_seen": "datetime64[ns, UTC]", "last_seen": "datetime64[ns, UTC]",
    }


#: metric -> the columns it is computed from (a metric of a column the log does not know is
#: left out of the default frames, and refused when asked for by name)
NEEDS = {"errors": ("status",), "prompt_tokens": ("prompt_tokens",),
         "completion_tokens": ("completion_tokens",),
         "total_tokens": ("prompt_tokens", "completion_tokens"),
         "latency_mean": ("latency_ms",), "latency_p50": ("latency_ms",),
         "latency_p90": ("latency_ms",), "latency_p95": ("latency_ms",),
         "latency_p99": ("latency_ms",), "first_seen": ("ts",), "last_seen": ("ts",)}


def _check_metrics(metrics: Sequence[str] | None,
                   unknown: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """The metrics to show: the defaults the log can answer, or the ones named (each a known
    metric of a column the log knows, else an error)."""
    if metrics is None:
        if not unknown:
            return DEFAULT_METRICS
        return tuple(m for m in DEFAULT_METRICS if not unknown.intersection(NEEDS.get(m, ())))
    if isinstance(metrics, str):
        metrics = [metrics]
    bad = [m for m in metrics if m not in METRICS]
    if bad:
        raise ValueError(f"metrics: unknown {bad}; choose from {list(METRICS)}")
    check_known(unknown, metrics, "metrics")
    return tuple(metrics)


def check_known(unknown: frozenset[str], metrics: Iterable[str], what: str) -> None:
    """Raise :class:`UnknownColumnError` when one of ``metrics`` (or column names) needs a
    column in ``unknown``."""
    if unknown:
        for m in metrics:
            for c in NEEDS.get(m, (m,)):
                if c in unknown:
                    raise UnknownColumnError(c, what if m == c else f"{what} {m!r}")


def _times(col: np.ndarray, mask: np.ndarray) -> pd.Series:
    import pandas as pd

    out = pd.Series(pd.to_datetime(np.where(mask, col, 0), unit="ns", utc=True))
    out[~mask] = pd.NaT
    return out


def _frame_columns(df: Any, tags: str, columns: Mapping[str, str] | None) -> dict[str, str]:
    """native column -> the frame's column: ``columns`` first, then the native names (the
    tag column is ``tags``); only the ones the frame has."""
    native = (*KNOWABLE, "cost", "cost_nanos", "request_tags", *INT_EXTRAS, *STR_EXTRAS)
    wanted = {c: c for c in native}
    wanted["request_tags"] = tags
    if columns is not None:
        if not isinstance(columns, Mapping):
            raise TypeError("columns: expected a mapping {native name: column name}")
        bad = set(columns) - set(native)
        if bad:
            raise ValueError(f"columns: unknown {sorted(bad)}; choose from {list(native)}")
        wanted.update(columns)
    have = set(df.columns)
    absent = [f"{k}={v!r}" for k, v in (columns or {}).items() if v not in have]
    if absent:  # a name the caller gave and the frame lacks is a mistake, not an unknown
        raise LogError(absent[0].split("=")[0],
                       f"columns: {', '.join(absent)} not in the frame (have {list(df.columns)})")
    if wanted["request_tags"] not in have:
        raise LogError(wanted["request_tags"], f"missing column (have {list(df.columns)})")
    return {k: v for k, v in wanted.items() if v in have}


def _first_status_error(value: Any) -> CoerceError:
    try:
        parse_status(value)
    except CoerceError as exc:
        return exc
    return CoerceError("status", f"cannot read {value!r}", value)  # pragma: no cover


class RequestLog:
    """An immutable, columnar log of LLM requests with their tags.

    Build one with :meth:`from_records`, :meth:`from_pandas` or :meth:`from_arrays`; query it
    with :meth:`totals`, :meth:`rollup`, :meth:`filter`, :meth:`timeseries`, :meth:`pivot` and
    :meth:`top`, which return pandas objects.

    >>> log = RequestLog.from_records([
    ...     {"ts": "2026-01-01T10:00:00Z", "model": "gpt-4o-mini", "prompt_tokens": 10,
    ...      "completion_tokens": 5, "cost": 0.25, "latency_ms": 120.0, "status": 200,
    ...      "request_tags": ["customer/acme", "env/production"]},
    ...     {"ts": "2026-01-01T11:00:00Z", "model": "gpt-4o", "prompt_tokens": 20,
    ...      "completion_tokens": 1, "cost": 0.5, "latency_ms": 300.0, "status": 500,
    ...      "request_tags": ["customer/globex"]},
    ... ])
    >>> len(log), int(log.totals()["requests"]), float(log.totals()["cost"])
    (2, 2, 0.75)
    >>> log.rollup(level=1, metrics=["requests", "cost"])
                  depth parent  requests  cost
    tag
    customer          1   None         2  0.75
    env               1   None         1  0.25
    """

    __slots__ = ("ts", "model_codes", "models", "prompt_tokens", "completion_tokens", "cost",
                 "latency_ms", "status", "tag_offsets", "tag_ids", "trie", "extras",
                 "dropped_rows", "dropped_tags", "problems", "unknown", "_cache", "_n_nodes")

    ts: np.ndarray
    model_codes: np.ndarray
    models: tuple[str, ...]
    prompt_tokens: np.ndarray
    completion_tokens: np.ndarray
    cost: np.ndarray
    latency_ms: np.ndarray
    status: np.ndarray
    tag_offsets: np.ndarray
    tag_ids: np.ndarray
    trie: TagTrie
    extras: dict[str, Any]
    dropped_rows: int
    dropped_tags: int
    problems: tuple[str, ...]
    unknown: frozenset[str]
    _cache: dict[Any, Any]
    _n_nodes: int

    def __init__(self, *, ts, model_codes, models, prompt_tokens, completion_tokens, cost,
                 latency_ms, status, tag_offsets, tag_ids, trie: TagTrie,
                 extras: Mapping[str, Any] | None = None, dropped_rows: int = 0,
                 dropped_tags: int = 0, problems: Sequence[str] = (),
                 unknown: Iterable[str] = (), _fresh: bool = False):
        """Validate the columns and freeze them (copying writable arrays unless ``_fresh``
        says they were made for this log). ``unknown`` names the columns (of
        :data:`KNOWABLE`) the source did not have: their arrays hold placeholders that no
        answer reads. Prefer the ``from_*`` constructors."""
        if not isinstance(trie, TagTrie):
            raise TypeError(f"trie: expected a TagTrie, got {type(trie).__name__}")
        ts = as_array(ts, np.int64, "ts")
        n = ts.shape[0]
        models = tuple(models)
        codes = as_array(model_codes, np.int32, "model_codes")
        check_length(codes, n, "model_codes")
        if n and ((codes < 0) | (codes >= len(models))).any():
            i = int(np.flatnonzero((codes < 0) | (codes >= len(models)))[0])
            raise LogError("model", f"code {int(codes[i])} is not in [0, {len(models)})", row=i)
        cols = {}
        # the summed columns' maxima, read in the pass that checks their signs (as uint64 a
        # negative value is above 2**63 - 1): queries bound every sum by max * n from them
        # (tagcore.query._common) without another pass
        maxima: dict[tuple[str, str], int] = {}
        for name, val in (("prompt_tokens", prompt_tokens), ("completion_tokens", completion_tokens),
                          ("cost", cost)):
            a = as_array(val, np.int64, name)
            check_length(a, n, name)
            top = int(a.view(np.uint64).max()) if n else 0
            if top > _I64:
                i = int(np.flatnonzero(a < 0)[0])
                raise LogError(name, f"must be >= 0, got {int(a[i])}", row=i)
            maxima[("col_max", name)] = top
            cols[name] = a
        lat = as_array(latency_ms, np.float64, "latency_ms")
        check_length(lat, n, "latency_ms")
        badlat = np.isinf(lat) | (lat < 0)
        if badlat.any():
            i = int(np.flatnonzero(badlat)[0])
            raise LogError("latency_ms", f"must be a finite number >= 0 or NaN, got {lat[i]!r}", row=i)
        st = as_array(status, np.int32, "status")
        check_length(st, n, "status")
        if n and ((st < 0) | (st > 999)).any():
            i = int(np.flatnonzero((st < 0) | (st > 999))[0])
            raise LogError("status", f"expected an HTTP status 0..999, got {int(st[i])}", row=i)
        off, ids = check_csr(tag_offsets, tag_ids, len(trie), n_rows=n)
        ex: dict[str, Any] = {}
        for name, val in (extras or {}).items():
            if name in INT_EXTRAS:
                a = as_array(val, np.int64, name)
                check_length(a, n, name)
                top = int(a.view(np.uint64).max()) if n else 0
                if top > _I64:
                    i = int(np.flatnonzero(a < 0)[0])
                    raise LogError(name, f"must be >= 0, got {int(a[i])}", row=i)
                maxima[("col_max", name)] = top
                ex[name] = _readonly(a, _fresh)
            else:
                c, vals = val if isinstance(val, tuple) else _dict_encode(val, name)
                c = as_array(c, np.int32, name)
                check_length(c, n, name)
                if n and ((c < -1) | (c >= len(vals))).any():
                    raise LogError(name, "dictionary code out of range")
                ex[name] = (_readonly(c, _fresh), tuple(vals))
        put = object.__setattr__
        put(self, "ts", _readonly(ts, _fresh))
        put(self, "model_codes", _readonly(codes, _fresh))
        put(self, "models", models)
        put(self, "prompt_tokens", _readonly(cols["prompt_tokens"], _fresh))
        put(self, "completion_tokens", _readonly(cols["completion_tokens"], _fresh))
        put(self, "cost", _readonly(cols["cost"], _fresh))
        put(self, "latency_ms", _readonly(lat, _fresh))
        put(self, "status", _readonly(st, _fresh))
        put(self, "tag_offsets", _readonly(off, _fresh))
        put(self, "tag_ids", _readonly(ids, _fresh))
        put(self, "trie", trie)
        put(self, "extras", ex)
        put(self, "dropped_rows", int(dropped_rows))
        put(self, "dropped_tags", int(dropped_tags))
        put(self, "problems", tuple(problems))
        put(self, "unknown", _unknown_set(unknown))
        put(self, "_cache", maxima)
        put(self, "_n_nodes", len(trie))  # the tag ids were checked against this many nodes

    def __setattr__(self, name: str, value: Any) -> None:
        """A built log cannot be changed: the kernels trust the arrays it validated.

        >>> RequestLog.empty().tag_ids = None
        Traceback (most recent call last):
        ...
        AttributeError: a RequestLog is immutable: cannot set 'tag_ids' (build a new log: log[mask], RequestLog.from_arrays(...))
        """
        raise AttributeError(f"a RequestLog is immutable: cannot set {name!r} (build a new "
                             "log: log[mask], RequestLog.from_arrays(...))")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a RequestLog is immutable: cannot delete {name!r}")

    def __getstate__(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__ if k != "_cache"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, _readonly(v) if isinstance(v, np.ndarray) else v)
        object.__setattr__(self, "_cache", {})
        if "unknown" not in state:
            object.__setattr__(self, "unknown", frozenset())
        if "_n_nodes" not in state:
            object.__setattr__(self, "_n_nodes", len(state["trie"]))

    def _set_meta(self, *, dropped_rows: int | None = None, dropped_tags: int | None = None,
                  problems: Sequence[str] | None = None) -> RequestLog:
        """Set what a reader counted while building this log (its own, fresh log only)."""
        if dropped_rows is not None:
            object.__setattr__(self, "dropped_rows", int(dropped_rows))
        if dropped_tags is not None:
            object.__setattr__(self, "dropped_tags", int(dropped_tags))
        if problems is not None:
            object.__setattr__(self, "problems", tuple(problems))
        return self

    # ---------------------------------------------------------------------------- building

    @classmethod
    def from_arrays(cls, *, tag_offsets, tag_ids, trie: TagTrie, ts=None, model=None,
                    prompt_tokens=None, completion_tokens=None, latency_ms=None, status=None,
                    cost=None, cost_nanos=None, models: Sequence[str] | None = None,
                    extras: Mapping[str, Any] | None = None, copy: bool = True,
                    ts_unit: str = "ns", problems: Sequence[str] = ()) -> RequestLog:
        """Build from columns: ``ts`` as datetime64, or epoch numbers in ``ts_unit``
        (nanoseconds by default: the log's own column); ``model`` as strings, or as
        int codes with ``models`` naming them; ``cost`` in float dollars or ``cost_nanos``
        exact; tags as CSR (``tag_offsets``, ``tag_ids``) over ``trie``. With ``copy=False``
        the log takes over writable arrays that already have the right dtype and freezes them
        in place (a reader that made them for the log saves a copy); by default it copies.

        A column left out (None) is **unknown**, never zero: it is listed in
        :attr:`unknown`, the frames leave out its metrics and a question that needs it raises
        :class:`UnknownColumnError`. Without ``cost`` and ``cost_nanos`` every request is
        unpriced (flagged and counted in an ``unpriced`` column; see :meth:`from_records`).

        >>> trie = TagTrie(["a/b"])
        >>> log = RequestLog.from_arrays(ts=[0, 1], model=["m", "m"], prompt_tokens=[1, 2],
        ...     completion_tokens=[0, 0], cost=[0.5, 0.25], latency_ms=[1.0, 2.0],
        ...     status=[200, 200], tag_offsets=[0, 1, 1], tag_ids=[trie.id("a/b")], trie=trie)
        >>> log.cost.tolist()
        [500000000, 250000000]
        """
        if cost is not None and cost_nanos is not None:
            raise ValueError("give one of cost (dollars) and cost_nanos, not both")
        off = np.asarray(tag_offsets)
        n = max(int(off.shape[0]) - 1, 0) if off.ndim == 1 else 0
        given = dict(ts=ts, model=model, prompt_tokens=prompt_tokens,
                     completion_tokens=completion_tokens, latency_ms=latency_ms, status=status)
        unknown = [c for c in KNOWABLE if given[c] is None]
        zeros = np.zeros(n, dtype=np.int64)
        if model is None:
            codes, models = np.zeros(n, dtype=np.int32), ((UNKNOWN_MODEL,) if n else ())
        elif models is None:
            codes, models = _dict_encode(model, "model")
            if (codes < 0).any():
                raise LogError("model", "missing model name", row=int(np.flatnonzero(codes < 0)[0]))
        else:
            codes = model
        extras = dict(extras or {})
        problems = list(problems)
        if cost is None and cost_nanos is None:  # unknown, never zero: flagged unpriced
            nanos = zeros
            extras["unpriced"] = np.ones(n, dtype=np.int64)
            line = _unpriced_problem(np.asarray(codes), tuple(models), extras["unpriced"],
                                     {m: "no cost column" for m in models})
            if line:
                problems.append(line)
        else:
            nanos = (as_array(cost_nanos, np.int64, "cost_nanos") if cost is None
                     else _dollars_array_to_nanos(np.asarray(cost)))
        return cls(ts=zeros if ts is None else _ts_array(ts, ts_unit), model_codes=codes,
                   models=models,
                   prompt_tokens=zeros if prompt_tokens is None else prompt_tokens,
                   completion_tokens=zeros if completion_tokens is None else completion_tokens,
                   cost=nanos,
                   latency_ms=np.full(n, np.nan) if latency_ms is None else latency_ms,
                   status=np.zeros(n, dtype=np.int32) if status is None else status,
                   tag_offsets=tag_offsets, tag_ids=tag_ids, trie=trie, extras=extras,
                   problems=problems, unknown=unknown, _fresh=not copy)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]], *,
                     policy: TagPolicy | None = None, on_error: str = "raise",
                     trie: TagTrie | None = None, source: str | None = None,
                     ts_unit: str = "s") -> RequestLog:
        """Build from dicts with ``ts`` (datetime, ISO string or epoch seconds; naive = UTC),
        ``model``, ``prompt_tokens``, ``completion_tokens``, ``cost`` (dollars: float, str or
        Decimal) or ``cost_nanos``, ``latency_ms`` (None = unknown), ``status`` and
        ``request_tags``; optional ``cached_tokens``, ``reasoning_tokens``, ``request_id``,
        ``user``, ``key`` and the 0/1 flags ``usage_unknown`` and ``unpriced``.

        A bad value raises :class:`LogError` naming the row and column; with
        ``on_error="skip"`` (or ``"drop"``) the row is left out and counted (``dropped_rows``,
        ``problems``). Epoch numbers in ``ts`` are in ``ts_unit`` (seconds by default; see
        :mod:`tagcore.coerce` for every rule of money, time and usage).
        Invalid tags follow ``policy`` (``on_invalid="drop"`` drops the tag, not the row).

        A record without a cost (no ``cost`` and no ``cost_nanos``, or None) is *unpriced*:
        its cost is unknown, never zero. It is kept at 0 nano-dollars in the sums, its
        ``unpriced`` flag (an int extra column) is set, the frames count such requests in an
        ``unpriced`` column, and ``problems`` says how many there are, per model.

        >>> log = RequestLog.from_records([{"ts": 0, "model": "m", "prompt_tokens": -1,
        ...     "completion_tokens": 0, "cost": 0, "latency_ms": 1, "status": 200}])
        Traceback (most recent call last):
        ...
        tagcore.log.LogError: row 0, column prompt_tokens: expected an integer in [0, 2**63), got -1
        >>> log = RequestLog.from_records([{"ts": 0, "model": "m", "prompt_tokens": 1,
        ...     "completion_tokens": 0, "latency_ms": 1, "status": 200}])
        >>> log.extras["unpriced"].tolist(), log.problems
        ([1], ("1 request unpriced (cost unknown: counted as $0 in the sums and flagged in the 'unpriced' column): m (1): no cost",))
        """
        return cls._from_records(records, policy=policy, on_error=on_error, trie=trie,
                                 source=source, ts_unit=ts_unit)

    @classmethod
    def _from_records(cls, records: Iterable[Mapping[str, Any]], *,
                      policy: TagPolicy | None = None, on_error: str = "raise",
                      trie: TagTrie | None = None, source: str | None = None,
                      ts_unit: str = "s",
                      unpriced_reasons: Mapping[str, str] | None = None) -> RequestLog:
        """:meth:`from_records`; ``unpriced_reasons`` (model -> why a reader could not price
        it) words the ``problems`` line of unpriced requests."""
        on_error = check_on_error(on_error)
        trie = TagTrie() if trie is None else trie
        cols: dict[str, list] = {k: [] for k in ("ts", "model", "prompt_tokens",
                                                 "completion_tokens", "cost", "latency_ms",
                                                 "status", *INT_EXTRAS, *STR_EXTRAS)}
        tag_lists: list[Any] = []
        seen_extra: set[str] = set()
        dropped = 0
        problems: list[str] = []
        why: dict[str, str] = dict(unpriced_reasons or {})  # model -> first reason
        records = records if isinstance(records, list) else list(records)
        seen: set[str] = set()
        for rec in records:
            if isinstance(rec, Mapping):
                seen.update(rec)
        # a column no record gives is unknown to the log (never zero); one that some records
        # give is required of all of them
        unknown = frozenset(c for c in KNOWABLE if c not in seen) if records else frozenset()
        for row, rec in enumerate(records):
            try:
                vals = cls._parse_record(row, rec, policy, ts_unit, unknown)
            except LogError as exc:
                if source:
                    exc = LogError(exc.column, exc.reason, exc.row, source)
                if on_error == "raise":
                    raise exc from None
                dropped += 1
                if len(problems) < 20:
                    problems.append(str(exc))
                continue
            reason = vals.pop("unpriced_reason", None)
            if reason is not None and vals["model"] not in why:
                why[vals["model"]] = reason
            for k, v in vals.items():
                if k == "request_tags":
                    tag_lists.append(v)
                else:
                    cols[k].append(v)
                    if k in INT_EXTRAS or k in STR_EXTRAS:
                        if v is not None:
                            seen_extra.add(k)
        offsets = [0]
        ids: list[int] = []
        dropped_tags = 0
        for norm in tag_lists:
            dropped_tags += len(norm.dropped)
            ids.extend(trie.add(t) for t in norm)
            offsets.append(len(ids))
        extras: dict[str, Any] = {}
        for k in INT_EXTRAS:
            if k in seen_extra:
                extras[k] = np.array([0 if v is None else v for v in cols[k]], dtype=np.int64)
        for k in STR_EXTRAS:
            if k in seen_extra:
                extras[k] = cols[k]
        codes, models = _dict_encode(cols["model"], "model")
        if "unpriced" in extras:
            line = _unpriced_problem(codes, models, extras["unpriced"], why)
            if line:
                problems.append(line)
        if "usage_unknown" in extras and not unknown >= {"prompt_tokens", "completion_tokens"}:
            k = int(extras["usage_unknown"].sum())
            if k:
                problems.append(f"{k:,} request{'s' if k != 1 else ''} {USAGE_UNKNOWN_HEAD}")
        return cls(ts=np.array(cols["ts"], dtype=np.int64), model_codes=codes, models=models,
                   prompt_tokens=np.array([v or 0 for v in cols["prompt_tokens"]], dtype=np.int64),
                   completion_tokens=np.array([v or 0 for v in cols["completion_tokens"]],
                                              dtype=np.int64),
                   cost=np.array(cols["cost"], dtype=np.int64),
                   latency_ms=np.array(cols["latency_ms"], dtype=np.float64),
                   status=np.array(cols["status"], dtype=np.int32),
                   tag_offsets=np.array(offsets, dtype=np.int64),
                   tag_ids=np.array(ids, dtype=np.int32), trie=trie, extras=extras,
                   dropped_rows=dropped, dropped_tags=dropped_tags, problems=problems,
                   unknown=unknown, _fresh=True)

    @staticmethod
    def _parse_record(row: int, rec: Mapping[str, Any], policy: TagPolicy | None,
                      ts_unit: str = "s", unknown: frozenset[str] = frozenset()) -> dict:
        if not isinstance(rec, Mapping):
            raise LogError("record", f"expected a mapping, got {type(rec).__name__}", row=row)
        out: dict[str, Any] = {}
        no_usage = bool(rec.get("usage_unknown"))  # tokens not reported: 0, flagged
        for k in ("ts", "model", "prompt_tokens", "completion_tokens", "status"):
            if rec.get(k) is None and k not in unknown and not (
                    no_usage and k in ("prompt_tokens", "completion_tokens")):
                raise LogError(k, "missing", row=row)
        if "model" in unknown:
            out["model"] = UNKNOWN_MODEL
        elif not isinstance(rec["model"], str) or not rec["model"]:
            raise LogError("model", f"expected a model name, got {rec['model']!r}", row=row)
        else:
            out["model"] = rec["model"]
        try:
            out["ts"] = 0 if "ts" in unknown else time_to_nanos(rec["ts"], unit=ts_unit)
            for k in ("prompt_tokens", "completion_tokens", *INT_EXTRAS):
                v = rec.get(k)
                out[k] = None if v is None else to_count(v, k)
            if rec.get("cost_nanos") is not None:
                out["cost"] = to_count(rec["cost_nanos"], "cost_nanos")
            elif rec.get("cost") is None:  # unknown, never zero: 0 in the sums, flagged
                out["cost"] = 0
                out["unpriced"] = 1
                out["unpriced_reason"] = "no cost"
            else:
                v = rec["cost"]
                out["cost"] = dollars_to_nanos(v, "cost")
                if out["cost"] < 0:
                    raise CoerceError("cost", f"must be >= 0, got {v!r}", v)
            if out.get("unpriced") and "unpriced_reason" not in out:
                out["unpriced_reason"] = "flagged unpriced"
            out["latency_ms"] = to_latency_ms(rec.get("latency_ms"))
            out["status"] = 0 if "status" in unknown else parse_status(rec["status"])
        except CoerceError as exc:
            raise LogError.of(exc, row=row) from None
        for k in STR_EXTRAS:
            v = rec.get(k)
            if v is not None and not isinstance(v, str):
                raise LogError(k, f"expected a string, got {v!r}", row=row)
            out[k] = v
        tags = rec.get("request_tags")
        try:
            out["request_tags"] = normalize_tags([] if tags is None else tags, policy)
        except TagError as exc:
            raise LogError("request_tags", str(exc), row=row) from None
        return out

    @classmethod
    def from_pandas(cls, df: pd.DataFrame, *, tags: str = "request_tags",
                    policy: TagPolicy | None = None, trie: TagTrie | None = None,
                    ts_unit: str = "s", tags_sep: str | None = None,
                    columns: Mapping[str, str] | None = None, prices: Any = None) -> RequestLog:
        """Build from a DataFrame with the record columns and a tag column (``cost`` in
        dollars, or ``cost_nanos``). ``ts`` may be datetimes, ISO text or epoch numbers in
        ``ts_unit`` (seconds by default), read by :mod:`tagcore.coerce` as every other door
        reads them; ``status`` an HTTP code or LiteLLM's ``"success"``/``"failure"``.

        Only the tag column is required. A column the frame lacks is unknown, never zero
        (see :attr:`unknown`); without ``cost``/``cost_nanos`` every request is unpriced,
        unless ``prices`` (a :class:`~tagcore.prices.PriceTable`) prices it from its tokens.
        Tag cells are lists, or text: a JSON array, a Python list as pandas writes it to CSV,
        or ``tags_sep``-delimited text. ``columns={native: name}`` reads a native column
        under another name (``{"ts": "created_at", "request_tags": "labels"}``).

        >>> import pandas as pd
        >>> df = pd.DataFrame({"ts": pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True),
        ...     "model": ["m", "m"], "prompt_tokens": [1, 2], "completion_tokens": [3, 4],
        ...     "cost": [0.1, 0.2], "latency_ms": [5.0, 6.0], "status": [200, 404],
        ...     "request_tags": [["a/b"], ["a", "c"]]})
        >>> RequestLog.from_pandas(df).rollup(metrics=["requests"], sort="path")
             depth parent  requests
        tag
        a        1   None         2
        a/b      2      a         1
        c        1   None         1
        >>> few = pd.DataFrame({"when": [1767225600], "spend": [0.5], "labels": ["a, b"]})
        >>> log = RequestLog.from_pandas(few, tags_sep=",",
        ...     columns={"ts": "when", "cost": "spend", "request_tags": "labels"})
        >>> sorted(log.unknown), list(log.totals().index)
        (['completion_tokens', 'latency_ms', 'model', 'prompt_tokens', 'status'], ['requests', 'cost', 'cost_nanos', 'first_seen', 'last_seen'])
        """
        from tagcore.coerce import statuses_masked

        names = _frame_columns(df, tags, columns)
        trie = TagTrie() if trie is None else trie
        off, ids, dropped = _tags_to_csr(df[names["request_tags"]].tolist(), trie, policy,
                                         names["request_tags"], sep=tags_sep)

        def col(c: str) -> Any:
            return df[names[c]] if c in names else None

        for c in ("prompt_tokens", "completion_tokens", "status"):
            v = col(c)
            if v is not None and v.isna().any():
                raise LogError(c, "missing value", row=int(np.flatnonzero(v.isna())[0]))
        status = col("status")
        if status is not None:
            st, _, bad = statuses_masked(status.to_numpy(), "status")
            if bad.any():
                r = int(np.flatnonzero(bad)[0])
                raise LogError.of(_first_status_error(status.iloc[r]), row=r)
            status = st
        extras = {}
        for k in INT_EXTRAS:
            if k in names:
                extras[k] = df[names[k]].fillna(0).to_numpy()
        for k in STR_EXTRAS:
            if k in names:
                extras[k] = df[names[k]].tolist()
        costkw = ({"cost_nanos": col("cost_nanos").to_numpy()} if "cost_nanos" in names
                  else {"cost": col("cost")} if "cost" in names else {})
        lat = col("latency_ms")
        model = col("model")
        log = cls.from_arrays(
            ts=col("ts"), ts_unit=ts_unit, model=None if model is None else model.tolist(),
            prompt_tokens=None if col("prompt_tokens") is None else col("prompt_tokens").to_numpy(),
            completion_tokens=(None if col("completion_tokens") is None
                               else col("completion_tokens").to_numpy()),
            latency_ms=None if lat is None else lat.to_numpy(dtype=np.float64, na_value=np.nan),
            status=status, tag_offsets=off, tag_ids=ids, trie=trie, extras=extras, **costkw)
        if prices is not None and not costkw:
            log, why = _priced(log, prices)
            line = unpriced_line(log, why)
            log._set_meta(problems=[line] if line else [])
        log._set_meta(dropped_tags=dropped)
        return log

    @classmethod
    def empty(cls) -> RequestLog:
        """A log with no rows.

        >>> len(RequestLog.empty())
        0
        """
        z = np.zeros(0, dtype=np.int64)
        return cls(ts=z, model_codes=z, models=(), prompt_tokens=z, completion_tokens=z,
                   cost=z, latency_ms=np.zeros(0), status=z, tag_offsets=[0], tag_ids=z,
                   trie=TagTrie())

    # ---------------------------------------------------------------------------- basics

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def __repr__(self) -> str:
        return (f"RequestLog({len(self)} requests, {self.tag_ids.size} tags, "
                f"{len(self.trie)} nodes, {len(self.models)} models)")

    def _repr_html_(self) -> str:
        """What a bare ``log`` shows in Jupyter: rows, window, cost to the cent and the top
        top-level tags by cost, escaped (see :func:`tagcore.plot.summary_html`).

        >>> "0 requests" in RequestLog.empty()._repr_html_()
        True
        """
        from tagcore.plot import summary_html

        return summary_html(self)

    @property
    def plot(self) -> PlotAccessor:
        """Plotly figures of this log's frames: ``log.plot.rollup()``, ``.top()``,
        ``.timeseries()``, ``.sunburst()``, ``.treemap()`` (see :mod:`tagcore.plot`; needs
        ``pip install 'tagcore[viz]'``).

        >>> RequestLog.empty().plot
        <PlotAccessor of RequestLog(0 requests, 0 tags, 0 nodes, 0 models)>
        """
        from tagcore.plot import PlotAccessor

        return PlotAccessor(self)

    def _replace(self, **cols) -> RequestLog:
        base: dict[str, Any] = dict(ts=self.ts, model_codes=self.model_codes, models=self.models,
                    prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens,
                    cost=self.cost, latency_ms=self.latency_ms, status=self.status,
                    tag_offsets=self.tag_offsets, tag_ids=self.tag_ids, trie=self.trie,
                    extras=self.extras, unknown=self.unknown)
        base.update(cols)
        return RequestLog(**base, _fresh=True)

    def __getitem__(self, sel: Any) -> RequestLog:
        """Rows selected by a boolean mask, a slice or an array of row numbers.

        >>> log = RequestLog.empty()
        >>> len(log[np.zeros(0, dtype=bool)])
        0
        """
        n = len(self)
        if isinstance(sel, slice):
            rows = np.arange(n)[sel]
        else:
            arr = np.asarray(sel)
            if arr.dtype == bool:
                if arr.shape != (n,):
                    raise IndexError(f"boolean mask of length {arr.shape} for a log of {n} rows")
                rows = np.flatnonzero(arr)
            elif arr.dtype.kind in "iu":
                rows = arr.astype(np.int64)
                if rows.size and (rows.min() < -n or rows.max() >= n):
                    raise IndexError(f"row numbers outside [-{n}, {n})")
                rows = np.where(rows < 0, rows + n, rows)
            else:
                raise TypeError(f"cannot select rows with {type(sel).__name__}")
        if rows.size == n and (rows.size == 0 or (rows == np.arange(n)).all()):
            off, ids = self.tag_offsets, self.tag_ids
        else:
            off, ids = kernels.take_rows(self.tag_offsets, self.tag_ids, rows,
                                         n_nodes=len(self.trie), trusted=self)
        extras = {k: (v[0][rows], v[1]) if isinstance(v, tuple) else v[rows]
                  for k, v in self.extras.items()}
        out = self._replace(ts=self.ts[rows], model_codes=self.model_codes[rows],
                            prompt_tokens=self.prompt_tokens[rows],
                            completion_tokens=self.completion_tokens[rows],
                            cost=self.cost[rows], latency_ms=self.latency_ms[rows],
                            status=self.status[rows], tag_offsets=off, tag_ids=ids,
                            extras=extras)
        # its ids are some of this log's, all below the node count this log was checked
        # against (a shared trie may have grown since: kernels may pass its arrays as they were)
        object.__setattr__(out, "_n_nodes", min(out._n_nodes, self._n_nodes))
        return out

    @staticmethod
    def concat(logs: Sequence[RequestLog]) -> RequestLog:
        """Concatenate logs; tags of logs with other tries are remapped to one new trie.

        >>> a = RequestLog.from_records([{"ts": 0, "model": "m", "prompt_tokens": 1,
        ...     "completion_tokens": 0, "cost": 1, "latency_ms": 1, "status": 200,
        ...     "request_tags": ["x/y"]}])
        >>> b = RequestLog.from_records([{"ts": 1, "model": "n", "prompt_tokens": 1,
        ...     "completion_tokens": 0, "cost": 1, "latency_ms": 1, "status": 200,
        ...     "request_tags": ["z"]}])
        >>> both = RequestLog.concat([a, b])
        >>> len(both), both.to_pandas()["request_tags"].tolist()
        (2, [['x/y'], ['z']])
        """
        logs = list(logs)
        if not logs:
            return RequestLog.empty()
        trie = logs[0].trie.copy()
        models: dict[str, int] = {}
        parts: dict[str, list] = {k: [] for k in ("ts", "codes", "prompt", "completion", "cost",
                                                  "lat", "status", "lens", "ids")}
        extra_names = set().union(*(lg.extras for lg in logs))
        ex_parts: dict[str, list] = {k: [] for k in extra_names}
        for lg in logs:
            remap = trie.merge(lg.trie) if lg.trie is not logs[0].trie else None
            mmap = np.array([models.setdefault(m, len(models)) for m in lg.models],
                            dtype=np.int32)
            parts["ts"].append(lg.ts)
            parts["codes"].append(mmap[lg.model_codes] if mmap.size else lg.model_codes)
            parts["prompt"].append(lg.prompt_tokens)
            parts["completion"].append(lg.completion_tokens)
            parts["cost"].append(lg.cost)
            parts["lat"].append(lg.latency_ms)
            parts["status"].append(lg.status)
            parts["lens"].append(np.diff(lg.tag_offsets))
            parts["ids"].append(lg.tag_ids if remap is None else remap[lg.tag_ids])
            for k in extra_names:
                v = lg.extras.get(k)
                if k in INT_EXTRAS:
                    ex_parts[k].append(np.zeros(len(lg), np.int64) if v is None else v)
                elif v is None:
                    ex_parts[k].extend([None] * len(lg))
                else:
                    codes, vals = v
                    ex_parts[k].extend(vals[c] if c >= 0 else None for c in codes.tolist())
        lens = np.concatenate(parts["lens"])
        off = np.zeros(lens.size + 1, dtype=np.int64)
        np.cumsum(lens, out=off[1:])
        extras = {k: (np.concatenate(v) if k in INT_EXTRAS else v) for k, v in ex_parts.items()}
        return RequestLog(ts=np.concatenate(parts["ts"]),
                          model_codes=np.concatenate(parts["codes"]), models=tuple(models),
                          prompt_tokens=np.concatenate(parts["prompt"]),
                          completion_tokens=np.concatenate(parts["completion"]),
                          cost=np.concatenate(parts["cost"]),
                          latency_ms=np.concatenate(parts["lat"]),
                          status=np.concatenate(parts["status"]), tag_offsets=off,
                          tag_ids=np.concatenate(parts["ids"]).astype(np.int32), trie=trie,
                          extras=extras, unknown=frozenset().union(*(lg.unknown for lg in logs)),
                          _fresh=True)

    def tags_of(self, row: int) -> list[str]:
        """The tags of one request, as paths.

        >>> RequestLog.empty().tags_of(0)
        Traceback (most recent call last):
        ...
        IndexError: row 0 outside a log of 0 rows
        """
        if not -len(self) <= row < len(self):
            raise IndexError(f"row {row} outside a log of {len(self)} rows")
        row %= len(self)
        paths = self.trie.paths
        return [paths[i] for i in self.tag_ids[self.tag_offsets[row]:self.tag_offsets[row + 1]]]

    def to_pandas(self) -> pd.DataFrame:
        """One row per request; ``request_tags`` as lists of paths, ``cost`` in dollars and
        ``cost_nanos`` exact; the columns in :attr:`unknown` are left out.

        >>> list(RequestLog.empty().to_pandas().columns)[:4]
        ['ts', 'model', 'prompt_tokens', 'completion_tokens']
        """
        import pandas as pd

        paths = np.array(self.trie.paths, dtype=object)
        tag_paths = paths[self.tag_ids] if self.tag_ids.size else np.zeros(0, dtype=object)
        tag_lists = [tag_paths[a:b].tolist() for a, b in
                     zip(self.tag_offsets[:-1].tolist(), self.tag_offsets[1:].tolist())]
        models = np.array(self.models, dtype=object)
        df = pd.DataFrame({
            "ts": pd.to_datetime(self.ts, unit="ns", utc=True),
            "model": pd.Series(models[self.model_codes] if len(self) else [], dtype=object),
            "prompt_tokens": self.prompt_tokens.copy(),
            "completion_tokens": self.completion_tokens.copy(),
            "cost": self.cost / NANOS_PER_DOLLAR,
            "cost_nanos": self.cost.copy(),
            "latency_ms": self.latency_ms.copy(),
            "status": self.status.copy(),
            "request_tags": pd.Series(tag_lists, dtype=object),
        })
        for k, v in self.extras.items():
            if isinstance(v, tuple):
                vals = np.array(v[1] + (None,), dtype=object)
                df[k] = pd.Series(vals[v[0]], dtype=object)
            else:
                df[k] = v.copy()
        if self.unknown:  # what the source did not have is left out, never shown as zeros
            df = df.drop(columns=[c for c in df.columns if c in self.unknown])
        return df

    def extra_strings(self, name: str) -> np.ndarray:
        """A dictionary-encoded extra column (``request_id``, ``user``, ``key``) as strings.

        >>> RequestLog.empty().extra_strings("user").tolist()
        []
        """
        if name not in self.extras:
            return np.full(len(self), None, dtype=object)
        codes, vals = self.extras[name]
        return np.array(vals + (None,), dtype=object)[codes]

    # ---------------------------------------------------------------------------- queries
    # Each is a short delegate to its job's module (tagcore.query), as pandas'
    # DataFrame.to_parquet is to pandas.io; the module loads (with pandas) on first use.

    def totals(self, metrics: Sequence[str] | None = None) -> pd.Series:
        """The grand total, each request once (see :func:`tagcore.query.totals`).

        >>> int(RequestLog.empty().totals()["requests"])
        0
        """
        from tagcore.query import totals

        return totals(self, metrics)

    def rollup(self, under: str | None = None, level: int | None = None,
               attribution: str = "full", by: str | None = None, sort: str = "cost",
               metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """Usage per tag node, full, split or primary (see :func:`tagcore.query.rollup`).

        >>> RequestLog.empty().rollup().shape[0]
        0
        """
        from tagcore.query import rollup

        return rollup(self, under=under, level=level, attribution=attribution, by=by,
                      sort=sort, metrics=metrics)

    def window(self, since: Any = None, until: Any = None, last: Any = None,
               now: Any = None) -> tuple[int, int] | None:
        """The time window as (exclusive low, inclusive high) ns (see
        :func:`tagcore.query.window`).

        >>> RequestLog.empty().window() is None
        True
        """
        from tagcore.query import window

        return window(self, since=since, until=until, last=last, now=now)

    def filter(self, expr: Any = None, *, since: Any = None, until: Any = None,
               last: Any = None, now: Any = None, model: str | Sequence[str] | None = None,
               status: Any = None) -> RequestLog:
        """The requests matching a tag filter and keyword filters, as a new log (see
        :func:`tagcore.query.filter`).

        >>> len(RequestLog.empty().filter("customer/acme & ~env/staging"))
        0
        """
        from tagcore.query import filter as _filter

        return _filter(self, expr, since=since, until=until, last=last, now=now, model=model,
                       status=status)

    def timeseries(self, freq: str, level: int | None = None, under: str | None = None,
                   metric: str = "cost", last: Any = None, since: Any = None,
                   until: Any = None, now: Any = None, tz: str = "UTC",
                   attribution: str = "full") -> pd.DataFrame:
        """A metric per time bucket and tag (see :func:`tagcore.query.timeseries`).

        >>> RequestLog.empty().timeseries("1D").shape
        (0, 0)
        """
        from tagcore.query import timeseries

        return timeseries(self, freq, level=level, under=under, metric=metric, last=last,
                          since=since, until=until, now=now, tz=tz, attribution=attribution)

    def pivot(self, dim_a: str, dim_b: str, metric: str = "cost") -> pd.DataFrame:
        """``metric`` for each pair of a child of ``dim_a`` and a child of ``dim_b`` (see
        :func:`tagcore.query.pivot`).

        >>> RequestLog.empty().pivot("customer", "feature").shape
        (0, 0)
        """
        from tagcore.query import pivot

        return pivot(self, dim_a, dim_b, metric=metric)

    def top(self, n: int = 10, under: str | None = None, level: int | None = None,
            attribution: str = "split", metric: str = "cost",
            metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """The ``n`` largest nodes of a set plus an ``(other)`` row (see
        :func:`tagcore.query.top`).

        >>> RequestLog.empty().top(3, level=1).index.tolist()
        ['(other)']
        """
        from tagcore.query import top

        return top(self, n=n, under=under, level=level, attribution=attribution,
                   metric=metric, metrics=metrics)

    # ---------------------------------------------------------------------------- writers

    def to_parquet(self, path: str | os.PathLike[str], *, compression: str = "zstd",
                   row_group_size: int = 1 << 20) -> None:
        """Write the log to a Parquet file, atomically (see :func:`tagcore.io.to_parquet`).

        >>> import os, tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     RequestLog.empty().to_parquet(os.path.join(d, "e.parquet"))
        """
        from tagcore.io import to_parquet

        to_parquet(self, path, compression=compression, row_group_size=row_group_size)

    def to_jsonl(self, path: str | os.PathLike[str] | IO[bytes]) -> None:
        """Write the log as JSONL (see :func:`tagcore.io.to_jsonl`).

        >>> import io
        >>> RequestLog.empty().to_jsonl(io.BytesIO())
        """
        from tagcore.io import to_jsonl

        to_jsonl(self, path)

    def to_csv(self, path: str | os.PathLike[str] | IO[bytes]) -> None:
        """Write the log as spreadsheet-safe CSV (see :func:`tagcore.io.to_csv`).

        >>> import io
        >>> RequestLog.empty().to_csv(io.BytesIO())
        """
        from tagcore.io import to_csv

        to_csv(self, path)

    def to_html(self, path: str | os.PathLike[str], **kw: Any) -> str:
        """Write the HTML report of this log to ``path``: one self-contained page that opens
        offline (see :func:`tagcore.report.report` for ``last``, ``since``, ``until``,
        ``title``, ``cap``, ``tz`` and ``filter``; needs ``pip install 'tagcore[viz]'``).
        Returns the path written.

        >>> import os, tempfile
        >>> from tagcore import load_sample
        >>> with tempfile.TemporaryDirectory() as d:
        ...     os.path.basename(load_sample().to_html(os.path.join(d, "report.html")))
        'report.html'
        """
        from tagcore.report import report

        return os.fspath(report(self, **kw).save(path))

    def to_arrow(self) -> pa.Table:
        """The log as a pyarrow Table (the columns :meth:`to_parquet` writes), so Polars,
        DuckDB and pyarrow read it without a copy of the numeric columns.

        >>> RequestLog.empty().to_arrow().num_rows
        0
        """
        from tagcore.io.arrow import log_to_arrow

        return log_to_arrow(self)

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        """The Arrow PyCapsule stream interface: ``polars.DataFrame(log)``,
        ``duckdb.sql("select ... from log")`` and ``pyarrow.table(log)`` read the log.

        >>> import pyarrow as pa
        >>> pa.table(RequestLog.empty()).num_rows
        0
        """
        return self.to_arrow().__arrow_c_stream__(requested_schema)
