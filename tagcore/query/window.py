"""Time windows and filters: which requests a question is about."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

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

# ------------------------------------------------------------------------------- filter


def _parse_time(value: Any, what: str) -> int:
    """A time argument (datetime, ISO string, epoch seconds; naive = UTC) as int ns, read the
    same way as the ``ts`` of records."""
    from tagcore.coerce import time_to_nanos

    return time_to_nanos(value, field=what)


def _parse_delta(value: Any, what: str = "last") -> int:
    try:
        d = pd.Timedelta(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: cannot read {value!r} as a duration like '7D' or '1h' "
                         f"({exc})") from None
    if d is pd.NaT or d.value <= 0:
        raise ValueError(f"{what}: expected a positive duration, got {value!r}")
    return int(d.value)


def window(self: RequestLog, since: Any = None, until: Any = None, last: Any = None,
           now: Any = None) -> tuple[int, int] | None:
    """The time window as (exclusive low, inclusive high) nanoseconds, or None for all time.

    ``last="7D"`` keeps ``now - 7D < ts <= now``; ``since`` is inclusive and ``until``
    exclusive. ``now`` defaults to the log's last timestamp.
    """
    if since is None and until is None and last is None:
        return None
    _log_mod().check_known(self.unknown, ["ts"], "since/until/last")
    lo, hi = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    if last is not None:
        if now is None:
            now_ns = int(self.ts.max()) if len(self) else 0
        else:
            now_ns = _parse_time(now, "now")
        lo, hi = now_ns - _parse_delta(last), now_ns
    if since is not None:
        lo = max(lo, _parse_time(since, "since") - 1)
    if until is not None:
        hi = min(hi, _parse_time(until, "until") - 1)
    return lo, hi


def filter(self: RequestLog, expr: Any = None, *, since: Any = None, until: Any = None,
           last: Any = None, now: Any = None, model: str | Sequence[str] | None = None,
           status: Any = None) -> RequestLog:
    """The requests matching a tag filter and keyword filters, as a new log.

    ``expr`` is a filter string (``"customer/acme & ~env/staging"``) or a
    :class:`~tagcore.filters.Filter`; ``last``/``since``/``until``/``now`` select time
    (``last`` is relative to ``now``, by default the log's last timestamp); ``model`` a name or
    names; ``status`` an int, a list of ints, ``"error"`` (>= 400) or ``"ok"`` (< 400).

    >>> from tagcore import RequestLog
    >>> log = RequestLog.from_records([
    ...     {"ts": 0, "model": "m", "prompt_tokens": 1, "completion_tokens": 0, "cost": 1,
    ...      "latency_ms": 1, "status": 200, "request_tags": ["customer/acme", "env/prod"]},
    ...     {"ts": 86400 * 9, "model": "m", "prompt_tokens": 1, "completion_tokens": 0,
    ...      "cost": 1, "latency_ms": 1, "status": 200, "request_tags": ["customer/acme"]}])
    >>> len(log.filter("customer/acme & ~env/prod")), len(log.filter("customer", last="7D"))
    (1, 1)
    """
    n = len(self)
    mask = np.ones(n, dtype=bool)
    if expr is not None:
        from tagcore.filters import Filter, parse_filter

        f = parse_filter(expr) if isinstance(expr, str) else expr
        if not isinstance(f, Filter):
            raise TypeError(f"expr: expected a filter string or Filter, got {type(expr).__name__}")
        mask &= f.mask(self.tag_offsets, self.tag_ids, self.trie, trusted=self)
    w = window(self, since, until, last, now)
    if w is not None:
        mask &= (self.ts > w[0]) & (self.ts <= w[1])
    if model is not None:
        _log_mod().check_known(self.unknown, ["model"], "model")
        names = [model] if isinstance(model, str) else list(model)
        codes = [i for i, m in enumerate(self.models) if m in set(names)]
        mask &= np.isin(self.model_codes, codes)
    if status is not None:
        _log_mod().check_known(self.unknown, ["status"], "status")
        if status == "error":
            mask &= self.status >= 400
        elif status == "ok":
            mask &= self.status < 400
        elif isinstance(status, (int, np.integer)) and not isinstance(status, bool):
            mask &= self.status == status
        elif isinstance(status, (list, tuple, set, np.ndarray)):
            mask &= np.isin(self.status, np.asarray(list(status), dtype=np.int64))
        else:
            raise ValueError(f"status: expected an int, a list of ints, 'error' or 'ok', "
                             f"got {status!r}")
    if mask.all():
        return self
    return self[mask]
