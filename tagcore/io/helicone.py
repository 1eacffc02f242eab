"""Helicone exports: the ``@helicone/export`` CSV, or JSON/JSONL of API records."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tagcore.io import _vendor_fast as fast
from tagcore.io._common import Source, _check_on_error
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
    _check_on_error(on_error)
    log, loaded = fast.vendor_log(source, lambda ld: _helicone_fast(ld, prices, policy))
    if log is not None:
        return log
    return _to_log(
        source,
        parse_helicone_export(fast.fallback_source(source, loaded), prices, policy=policy,
                              on_error=on_error),
        policy,
        on_error,
    )


# ============================================================ the compiled path
# (tagcore.io._vendor_fast): the same log as the Python path above, or a refusal

_PROPS = fast.F("obj", {}, json=True)
_HELICONE_FIELDS = {
    "request_created_at": fast.NUM, "response_status": fast.STATUS,
    "request_body": fast.F("obj", {"model": fast.TEXT}, json=True),
    "model": fast.TEXT, "response_model": fast.TEXT, "request_model": fast.TEXT,
    "model_override": fast.TEXT, "prompt_tokens": fast.COUNT,
    "completion_tokens": fast.COUNT, "prompt_cache_read_tokens": fast.COUNT,
    "prompt_cache_write_tokens": fast.COUNT, "reasoning_tokens": fast.COUNT,
    "delay_ms": fast.NUM, "latency": fast.NUM, "response_created_at": fast.NUM,
    "request_properties": _PROPS, "properties": _PROPS,
    "cost_usd": fast.NUM, "costusd": fast.NUM, "cost": fast.NUM,
    "request_id": fast.TEXT, "response_id": fast.TEXT, "request_user_id": fast.TEXT,
    "helicone_user": fast.TEXT,
}


def _helicone_status(v: Any) -> int:
    """The Python path's reading of one ``response_status`` text (None: missing, 500)."""
    if v is None or _is_missing(v):
        return 500
    if not re.fullmatch(r"\s*-?\d+\s*", v):
        raise fast._Refused("a bad status")
    try:
        status = int(v.strip())
    except ValueError:  # digits int() does not read: the Python path fails there
        raise fast._Refused("a bad status") from None
    return status if 100 <= status <= 599 else 500


def _helicone_fast(loaded: fast.Loaded, prices: PriceTable | None, policy: TagPolicy | None
                   ) -> RequestLog:
    """:func:`read_helicone_export` by the compiled path (or :class:`fast._Refused`)."""
    import numpy as np

    pa, pc = fast._pa()
    cols = fast.decode(loaded, _HELICONE_FIELDS, lower=True, required=_HELICONE_REQUIRED,
                       shape=SHAPES["helicone"])
    n = cols.n
    ts, t_ok = fast.times(cols("request_created_at"), n)
    if not t_ok.all():
        raise fast._Refused("request_created_at is missing")
    raw = cols("response_status")
    if raw is None:
        status = np.full(n, 500, dtype=np.int64)
    elif pa.types.is_integer(raw.type):
        st = fast._np(raw, 500).astype(np.int64)
        status = np.where(fast._valid(raw, n) & (st >= 100) & (st <= 599), st, 500)
    elif pa.types.is_string(raw.type):
        status = fast.per_distinct_text(raw, _helicone_status, np.int64)
    else:
        raise fast._Refused("a status of another type")
    body = fast.obj(cols("request_body"), _HELICONE_FIELDS["request_body"], "request_body",
                    cols)
    codes, models = fast.model_codes(fast.coalesce_text(
        *(fast.texts(cols(c)) for c in ("model", "response_model", "request_model",
                                        "model_override")),
        fast.texts(fast.child(body, "model"))))
    tok = {}
    given = {}
    for out, col in (("prompt_tokens", "prompt_tokens"), ("completion_tokens",
                                                          "completion_tokens"),
                     ("cached_tokens", "prompt_cache_read_tokens"),
                     ("cache_creation_tokens", "prompt_cache_write_tokens"),
                     ("reasoning_tokens", "reasoning_tokens")):
        tok[out], given[out] = fast.counts(cols(col), n, default=0)
    no_usage = ~given["prompt_tokens"] & ~given["completion_tokens"]
    delay, d_ok = fast.floats(cols("delay_ms"), n)
    lat, l_ok = fast.floats(cols("latency"), n)
    latency = np.where(d_ok, delay, np.where(l_ok, lat, np.nan))
    between = ~d_ok & ~l_ok
    if between.any():
        end, e_ok = fast.times(cols("response_created_at"), n)
        use = between & e_ok
        if use.any():
            latency[use] = fast.latency_between(ts[use], end[use])
    tags = fast.Tags(n, policy)
    chosen = None
    for field in ("request_properties", "properties"):
        # (properties: read only where request_properties is empty, as the Python path)
        cells = fast.object_texts(cols, field, only=None if chosen is None else ~chosen)
        if cells is None:
            continue
        truthy, lists = fast.mapping_of(cells, field, policy)
        if chosen is None:
            chosen, tag_lists = truthy, lists
        else:
            tag_lists = pc.if_else(pa.array(chosen), tag_lists, lists)
            chosen = chosen | truthy
    if chosen is not None:
        tags.add(tag_lists)
    cost = np.zeros(n, dtype=np.int64)
    has_cost = np.zeros(n, dtype=bool)
    for col in ("cost_usd", "costusd", "cost"):
        c, c_ok = fast.dollars(cols(col), n)
        take = c_ok & ~has_cost
        cost[take] = c[take]
        has_cost |= take
    todo = ~has_cost & ~no_usage
    tags.csr()  # refuses before the table counts anything
    if prices is None:
        unpriced = ~has_cost
        why: dict[str, str] = {}
    else:
        if ((tok["cached_tokens"] + tok["cache_creation_tokens"] > tok["prompt_tokens"])
                | (tok["reasoning_tokens"] > tok["completion_tokens"]))[todo].any():
            raise fast._Refused("cached or reasoning tokens beyond their total")
        got, bad, why = fast.price(prices, todo, codes, models, tok)
        cost = np.where(todo, got, cost)
        unpriced = (~has_cost & no_usage) | bad
    unknown = frozenset(("prompt_tokens", "completion_tokens")) if no_usage.all() else \
        frozenset()
    return fast.build_log(
        n=n, ts=ts, codes=codes, models=models,
        prompt=np.where(no_usage, 0, tok["prompt_tokens"]),
        completion=np.where(no_usage, 0, tok["completion_tokens"]), cost=cost,
        unpriced=unpriced, why=why, latency=latency, status=status, tags=tags,
        int_extras={"cached_tokens": tok["cached_tokens"],
                    "reasoning_tokens": tok["reasoning_tokens"]},
        usage_unknown=no_usage, unknown=unknown,
        str_extras={
            "request_id": fast.str_extra(fast.coalesce_text(
                fast.texts(cols("request_id")), fast.texts(cols("response_id")))),
            "user": fast.str_extra(fast.coalesce_text(
                fast.texts(cols("request_user_id")), fast.texts(cols("helicone_user")))),
        })
