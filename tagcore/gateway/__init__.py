"""The gateway side of tagcore: what a gateway imports on its hot path.

* :func:`extract_tags`, :func:`parse_tags_header`, :data:`HEADER` (:mod:`.extract`): take the
  tags out of a request body and the ``X-Request-Tags`` header;
* :class:`Recorder`, :func:`read_recorded`, :class:`RecorderWarning` (:mod:`.recorder`, over
  the on-disk format of :mod:`.segments`): record finished requests in microseconds, crash-safe;
* :class:`Budgets`, :class:`BudgetExceeded`, :class:`Reservation`, :class:`BudgetRuleError`,
  :class:`UnpricedModel`, :class:`TooManyCounters` (:mod:`.budgets`): refuse a request whose
  tags are over their limits, holding its estimate while it runs;
* :class:`TagcoreProxy`, :class:`UpstreamStreamError`, :class:`RequestRefused`,
  :func:`canonical_path`, :data:`DEFAULT_PATHS`, :data:`DEFAULT_PASSTHROUGH` (:mod:`.proxy`):
  the OpenAI-compatible ASGI proxy that does all of the above (loaded on first use).

Importing this package loads neither pandas nor pyarrow: a gateway worker starts fast. Reports
(``Recorder.snapshot()``, ``Budgets.status()``) load pandas when they are called.

>>> from tagcore.gateway import Budgets, Recorder, extract_tags
>>> tags, body = extract_tags({"model": "m", "request_tags": ["customer/acme"]})
>>> rec = Recorder()
>>> rec.record(tags, model=body["model"], prompt_tokens=10, completion_tokens=2, cost=0.001,
...            latency_ms=120.0)
>>> len(rec)
1
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tagcore.gateway.budgets import (
    BudgetExceeded,
    BudgetRuleError,
    Budgets,
    Reservation,
    TooManyCounters,
    UnpricedModel,
)
from tagcore.gateway.extract import HEADER, extract_tags, parse_tags_header
from tagcore.gateway.recorder import Recorder, RecorderWarning, read_recorded

if TYPE_CHECKING:
    from tagcore.gateway.proxy import (
        DEFAULT_PASSTHROUGH,
        DEFAULT_PATHS,
        RequestRefused,
        TagcoreProxy,
        UpstreamStreamError,
        canonical_path,
    )

__all__ = [
    "HEADER",
    "extract_tags",
    "parse_tags_header",
    "Recorder",
    "RecorderWarning",
    "read_recorded",
    "Budgets",
    "BudgetExceeded",
    "BudgetRuleError",
    "Reservation",
    "TooManyCounters",
    "UnpricedModel",
    "TagcoreProxy",
    "UpstreamStreamError",
    "RequestRefused",
    "canonical_path",
    "DEFAULT_PATHS",
    "DEFAULT_PASSTHROUGH",
]

_LAZY = {  # asyncio costs ~30 ms
    "TagcoreProxy",
    "UpstreamStreamError",
    "RequestRefused",
    "canonical_path",
    "DEFAULT_PATHS",
    "DEFAULT_PASSTHROUGH",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from tagcore.gateway import proxy

        value = getattr(proxy, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)
