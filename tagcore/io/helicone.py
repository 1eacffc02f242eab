"""Helicone exports: the ``@helicone/export`` CSV, or JSON/JSONL of API records."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tagcore.io._common import Source
from tagcore.io._shapes import SHAPES
from tagcore.io._values import (
    _dollars,
    _float,
    _int,
    _is_missing,
    _latency_between,
    _RowError,
    _short,
    _time,
)
from tagcore.io._vendor import (
    OnError,
    Parsed,
    Record,
    _collect,
    _json_value,
    _lower_keys,
    _price,
    _price_all,
    _rows,
    _tags,
    _text,
    _to_log,
)
from tagcore.tags import TagPolicy

if TYPE_CHECKING:
    from tagcore.log import RequestLog
    from tagcore.prices import PriceTable

__all__ = ['parse_helicone_export', 'read_helicone_export']


_HELICONE_REQUIRED = ("request_created_at", "response_status", "prompt_tokens", "completion_tokens")


def parse_helicone_export(
    source: Source,
    prices: PriceTable | None = None,
    *,
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> Parsed:
    """Parse a Helicone export into records; see :func:`read_helicone_export`.

    >>> import io, json
    >>> rec = {"request_id": "q1", "request_created_at": "2024-08-01T10:00:00.000Z",
    ...        "response_status": 200, "request_model": "gpt-4o-mini", "prompt_tokens": 12,
    ...        "completion_tokens": 5, "delay_ms": 640, "cost": 0.0000048,
    ...        "request_properties": {"Customer": "acme", "Env": "prod"}}
    >>> (r,), _ = parse_helicone_export(io.StringIO(json.dumps(rec)))
    >>> r["request_tags"], r["cost"], r["latency_ms"]
    (['Customer/acme', 'Env/prod'], Decimal('0.0000048'), 640.0)
    """

    def parse(row: dict[str, Any]) -> Record:
        row = _lower_keys(row)
        ts = _time(row.get("request_created_at"), "request_created_at")
        raw_status = row.get("response_status")
        status = 500 if _is_missing(raw_status) else None
        if status is None:
            if isinstance(raw_status, (int, float, str)) and re.fullmatch(
                r"\s*-?\d+\s*", str(raw_status)
            ):
                status = int(str(raw_status).strip())
            else:
                raise _RowError(
                    "response_status", f"expected an HTTP status, got {_short(raw_status)}"
                )
            if not 100 <= status <= 599:  # Helicone uses -1/0 for pending/failed-before-response
                status = 500
        body = _json_value(row.get("request_body"), "request_body", dict) or {}
        model = None
        for col in ("model", "response_model", "request_model", "model_override"):
            model = _text(row.get(col))
            if model:
                break
        model = model or _text(body.get("model"))
        if not model:
            raise _RowError(
                "model", "missing (no model, response_model, request_model or request_body.model)"
            )
        t = {
            "prompt_tokens": _int(row.get("prompt_tokens"), "prompt_tokens", 0),
            "completion_tokens": _int(row.get("completion_tokens"), "completion_tokens", 0),
            "cached_tokens": _int(
                row.get("prompt_cache_read_tokens"), "prompt_cache_read_tokens", 0
            ),
            "cache_creation_tokens": _int(
                row.get("prompt_cache_write_tokens"), "prompt_cache_write_tokens", 0
            ),
            "reasoning_tokens": _int(row.get("reasoning_tokens"), "reasoning_tokens", 0),
        }
        if not _is_missing(row.get("delay_ms")):
            latency = _float(row.get("delay_ms"), "delay_ms")
        elif not _is_missing(row.get("latency")):
            latency = _float(row.get("latency"), "latency")
        elif not _is_missing(row.get("response_created_at")):
            latency = _latency_between(
                ts, _time(row["response_created_at"], "response_created_at"), "response_created_at"
            )
        else:
            latency = None
        props, field = None, "request_properties"
        for col in ("request_properties", "properties"):
            props, field = _json_value(row.get(col), col, dict), col
            if props:
                break
        tags = _tags(None, field, policy, mapping=props, mapping_field=field)
        no_usage = _is_missing(row.get("prompt_tokens")) and _is_missing(
            row.get("completion_tokens"))
        rec: Record = {
            "ts": ts,
            "model": model,
            "cached_tokens": t["cached_tokens"],
            "reasoning_tokens": t["reasoning_tokens"],
            "latency_ms": latency,
            "status": status,
            "request_tags": tags,
        }
        if no_usage:  # unknown, never zero (see RequestLog.from_records)
            rec["usage_unknown"] = 1
        else:
            rec["prompt_tokens"] = t["prompt_tokens"]
            rec["completion_tokens"] = t["completion_tokens"]
        cost = None
        for col in ("cost_usd", "costusd", "cost"):
            cost = _dollars(row.get(col), col)
            if cost is not None:
                break
        if cost is not None:
            rec["cost"] = cost
        elif no_usage:  # no tokens to price by: unpriced
            rec["cost"] = None
        else:
            k, v = _price(prices, model, t, "prompt_cache_read_tokens")
            rec[k] = v
        rid = _text(row.get("request_id")) or _text(row.get("response_id"))
        if rid:
            rec["request_id"] = rid
        user = _text(row.get("request_user_id")) or _text(row.get("helicone_user"))
        if user:
            rec["user"] = user
        return rec

    rows = _rows(source, _HELICONE_REQUIRED, SHAPES["helicone"])
    return _price_all(_collect(rows, parse, on_error), prices)


def read_helicone_export(
    source: Source,
    prices: PriceTable | None = None,
    *,
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> RequestLog:
    """Read a Helicone export: the ``@helicone/export`` CSV, or JSON/JSONL of API records
    (``HeliconeRequest`` of ``POST /v1/request/query-clickhouse``; ``{"data": [...]}`` too).

    * time ``request_created_at``; status ``response_status`` (Helicone's -1/0 for requests
      that never got a response count as 500);
    * model: ``model``, else ``response_model``, ``request_model``, ``model_override``, else
      ``request_body.model``;
    * tokens ``prompt_tokens``, ``completion_tokens`` (both empty: the usage is unknown,
      flagged ``usage_unknown``, never read as 0; in no row: the log has no token columns), cached
      ``prompt_cache_read_tokens``, reasoning ``reasoning_tokens``;
    * latency ``delay_ms``, else ``latency``, else ``response_created_at - request_created_at``,
      else unknown;
    * cost in dollars from ``cost_usd``, ``costUSD`` or ``cost`` (the API divides its stored
      integer by its precision multiplier, so it is dollars); when empty, from ``prices`` if
      given, else unknown;
    * tags: ``request_properties`` (custom properties sent as ``Helicone-Property-<Name>``
      headers; a flat map) as ``key/value`` tags; user ``request_user_id``.

    JSON cells of the CSV (``request_body``, ``request_properties``) are read whether their
    quotes are doubled once (standard CSV) or twice (what the export tool writes).

    >>> import io
    >>> csv_text = ('response_id,response_created_at,response_status,request_created_at,'
    ...   'request_body,request_properties,request_user_id,model,prompt_tokens,'
    ...   'completion_tokens,latency,cost_usd\\n'
    ...   '"r1","2024-08-01T10:00:00.640Z","200","2024-08-01T10:00:00.000Z",'
    ...   '"{""model"":""gpt-4o-mini""}","{""Customer"":""acme""}","u1","","12","5","",""\\n')
    >>> log = read_helicone_export(io.StringIO(csv_text))
    """
    return _to_log(
        source,
        parse_helicone_export(source, prices, policy=policy, on_error=on_error),
        policy,
        on_error,
    )
