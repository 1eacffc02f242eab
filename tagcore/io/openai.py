"""OpenAI-style JSONL logs: Chat Completions and Responses API request/response pairs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tagcore.io import _vendor_fast as fast
from tagcore.io._common import Source, _check_on_error
from tagcore.io._shapes import SHAPES
from tagcore.io._values import (
    _int,
    _is_missing,
    _opt_float,
    _RowError,
    _short,
    _time,
    _usage,
)
from tagcore.io._vendor import (
    OnError,
    Parsed,
    Record,
    _collect,
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

__all__ = ['parse_openai_log', 'read_openai_log']


def parse_openai_log(
    source: Source,
    prices: PriceTable | None = None,
    *,
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> Parsed:
    """Parse OpenAI-style JSONL logs into records; see :func:`read_openai_log`.

    >>> import io
    >>> line = ('{"request": {"model": "gpt-4o", "request_tags": ["env/prod"], '
    ...         '"metadata": {"customer": "acme"}}, "response": {"object": "chat.completion", '
    ...         '"created": 1727346142, "model": "gpt-4o-2024-08-06", "usage": {"prompt_tokens": 14, '
    ...         '"completion_tokens": 37}}, "latency_ms": 812.5, "status": 200}')
    >>> (rec,), skipped = parse_openai_log(io.StringIO(line))
    >>> rec["model"], rec["prompt_tokens"], rec["request_tags"], rec["cost"], skipped
    ('gpt-4o-2024-08-06', 14, ['env/prod', 'customer/acme'], None, [])
    """

    def parse(row: dict[str, Any]) -> Record:
        request = row.get("request")
        response = row.get("response")
        if request is not None and not isinstance(request, Mapping):
            raise _RowError("request", f"expected an object, got {_short(request)}")
        if response is not None and not isinstance(response, Mapping):
            raise _RowError("response", f"expected an object, got {_short(response)}")
        request = request or {}
        status = (
            200
            if _is_missing(row.get("status")) and response
            else _int(row.get("status"), "status")
        )
        if not 100 <= status <= 599:
            raise _RowError("status", f"expected an HTTP status, got {_short(row.get('status'))}")
        if response is None and status < 400:
            raise _RowError(
                "response", "missing (only a failed request, status >= 400, may omit it)"
            )
        responses_api = bool(response) and (
            response.get("object") == "response"
            or (isinstance(response.get("usage"), Mapping) and "input_tokens" in response["usage"])
        )
        if not _is_missing(row.get("ts")):
            ts = _time(row["ts"], "ts")
        elif response:
            key = "created_at" if responses_api else "created"
            ts = _time(response.get(key), f"response.{key}")
        else:
            raise _RowError("ts", "missing (a request without a response needs 'ts')")
        model = _text(response.get("model")) if response else None
        model = model or _text(request.get("model"))
        if not model:
            raise _RowError("response.model", "missing (and no request.model)")
        usage = response.get("usage") if response else None
        if usage is None:
            if status < 400:
                raise _RowError("response.usage", "missing")
            t = dict.fromkeys(
                (
                    "prompt_tokens",
                    "completion_tokens",
                    "cached_tokens",
                    "cache_creation_tokens",
                    "reasoning_tokens",
                ),
                0,
            )
        else:
            t = _usage(usage, "response.usage")
        metadata = request.get("metadata")
        if metadata is not None and not isinstance(metadata, Mapping):
            raise _RowError("request.metadata", f"expected an object, got {_short(metadata)}")
        tags = _tags(
            request.get("request_tags"),
            "request.request_tags",
            policy,
            mapping=metadata,
            mapping_field="request.metadata",
        )
        rec: Record = {
            "ts": ts,
            "model": model,
            "prompt_tokens": t["prompt_tokens"],
            "completion_tokens": t["completion_tokens"],
            "cached_tokens": t["cached_tokens"],
            "reasoning_tokens": t["reasoning_tokens"],
            "latency_ms": _opt_float(row.get("latency_ms"), "latency_ms"),
            "status": status,
            "request_tags": tags,
        }
        if usage is None:
            rec["cost_nanos"] = 0
        else:
            k, v = _price(prices, model, t, "response.usage")
            rec[k] = v
        if response and _text(response.get("id")):
            rec["request_id"] = _text(response.get("id"))
        if _text(request.get("user")):
            rec["user"] = _text(request.get("user"))
        return rec

    return _price_all(_collect(_rows(source, shape=SHAPES["openai_log"]), parse, on_error),
                      prices)


def read_openai_log(
    source: Source,
    prices: PriceTable | None = None,
    *,
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> RequestLog:
    """Read OpenAI-style logs: one JSON object per line.

    Each line is ``{"request": <chat completion or responses body>, "response": <its
    response>, "latency_ms": 812.5 (optional: unknown when absent), "status": 200, "ts":
    optional}``.

    * time: ``ts`` (ISO or epoch seconds; naive = UTC), else the response's ``created``
      (Chat Completions) or ``created_at`` (Responses API);
    * model: the response's ``model`` (the dated snapshot actually served, e.g.
      ``gpt-4o-2024-08-06``), else the request's;
    * tokens: Chat ``usage.prompt_tokens``, ``completion_tokens``,
      ``prompt_tokens_details.cached_tokens``, ``completion_tokens_details.reasoning_tokens``
      (details may be absent or null), or, for a Responses API object (``"object":
      "response"``), ``usage.input_tokens``, ``output_tokens``,
      ``input_tokens_details.cached_tokens`` (and ``cache_write_tokens``, for pricing),
      ``output_tokens_details.reasoning_tokens``;
    * a failed request (``status`` >= 400) may have no response or no usage: 0 tokens, cost 0,
      model from the request;
    * tags: the body's ``request_tags`` then its ``metadata`` as ``key/value`` tags;
    * cost: from ``prices`` (a :class:`~tagcore.prices.PriceTable`; requests it cannot price
      are counted in its ``unpriced`` report and have an unknown cost). Without ``prices``
      every cost is unknown: stored as 0 and flagged by the log as unknown.

    >>> import io
    >>> from tagcore.prices import PriceTable
    >>> table = PriceTable({"gpt-4o": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05}})
    >>> line = ('{"request": {"model": "gpt-4o", "request_tags": ["customer/acme"]}, '
    ...         '"response": {"created": 1727346142, "model": "gpt-4o", '
    ...         '"usage": {"prompt_tokens": 10, "completion_tokens": 20}}, "latency_ms": 812.5, "status": 200}')
    >>> log = read_openai_log(io.StringIO(line), prices=table)
    >>> len(log), log.cost.tolist()
    (1, [225000])
    >>> len(log)
    1
    """
    _check_on_error(on_error)
    log, loaded = fast.vendor_log(source, lambda ld: _openai_fast(ld, prices, policy))
    if log is not None:
        return log
    return _to_log(
        source,
        parse_openai_log(fast.fallback_source(source, loaded), prices, policy=policy,
                         on_error=on_error),
        policy,
        on_error,
    )


# ============================================================ the compiled path
# (tagcore.io._vendor_fast): the same log as the Python path above, or a refusal

_OPENAI_FIELDS = {
    "request": fast.F("obj", {"model": fast.TEXT, "request_tags": fast.F("list"),
                              "user": fast.TEXT, "metadata": fast.F("obj", {})}),
    "response": fast.F("obj", {"object": fast.TEXT, "usage": fast.usage_field("obj"),
                               "created": fast.NUM, "created_at": fast.NUM,
                               "model": fast.TEXT, "id": fast.TEXT,
                               "metadata": fast.F("obj", {})}),
    "status": fast.COUNT, "ts": fast.NUM, "latency_ms": fast.NUM,
}
# a usage naming input_tokens with null (present for the Python path, absent for pyarrow);
# and the keys the metadata search looks for must not hide behind escapes
_OPENAI_GUARD = r'"input_tokens"\s*:\s*null'
_OPENAI_KEYS = ("metadata", "request", "response")


def _openai_fast(loaded: fast.Loaded, prices: PriceTable | None, policy: TagPolicy | None
                 ) -> RequestLog:
    """:func:`read_openai_log` by the compiled path (or :class:`fast._Refused`)."""
    import numpy as np

    cols = fast.decode(loaded, _OPENAI_FIELDS, lower=False, shape=SHAPES["openai_log"],
                       extra_guard=_OPENAI_GUARD, guard_keys=_OPENAI_KEYS, csv=False)
    n = cols.n
    req, resp = cols("request"), cols("response")
    has_resp = fast._valid(resp, n)
    st, st_given = fast.counts(cols("status"), n, default=0)
    if (~st_given & ~has_resp).any():
        raise fast._Refused("status is missing")
    status = np.where(st_given, st, 200)
    if ((status < 100) | (status > 599)).any() or (~has_resp & (status < 400)).any():
        raise fast._Refused("a status the Python path reports")
    usage = fast.child(resp, "usage")
    u = fast.usage_tokens(usage, n)
    if (u["given"] & ~u["known"]).any() or (~u["given"] & (status < 400)).any():
        raise fast._Refused("usage the Python path reports")
    obj = fast.child(resp, "object")
    pa, pc = fast._pa()
    is_resp = np.zeros(n, dtype=bool) if obj is None else \
        fast._np(pc.equal(obj, "response"), False)
    responses_api = has_resp & (is_resp | fast._valid(fast.child(usage, "input_tokens"), n))
    ts, ts_given = fast.times(cols("ts"), n)
    if not ts_given.all():
        created, c_given = fast.times(fast.child(resp, "created"), n)
        created_at, a_given = fast.times(fast.child(resp, "created_at"), n)
        alt = np.where(responses_api, created_at, created)
        alt_given = np.where(responses_api, a_given, c_given)
        if (~ts_given & ~alt_given).any():
            raise fast._Refused("a time is missing")
        ts = np.where(ts_given, ts, alt)
    codes, models = fast.model_codes(fast.coalesce_text(
        fast.texts(fast.child(resp, "model")), fast.texts(fast.child(req, "model"))))
    tags = fast.Tags(n, policy)
    tags.add(fast.lists(fast.child(req, "request_tags"), "request.request_tags",
                        json_text=False))
    has_meta = fast._valid(fast.child(req, "metadata"), n)
    if has_meta.any():
        cells = fast.metadata_cells(cols, has_meta,
                                    fast._valid(fast.child(resp, "metadata"), n))
        tags.add(fast.full_rows(fast.mapping_tags(cells, policy), has_meta))
    latency, _ = fast.floats(cols("latency_ms"), n)
    tok = {k: np.where(u["given"], u[k], 0) for k in
           ("prompt_tokens", "completion_tokens", "cached_tokens", "cache_creation_tokens",
            "reasoning_tokens")}
    tags.csr()  # refuses before the table counts anything
    if prices is None:
        cost, unpriced, why = np.zeros(n, dtype=np.int64), u["given"].copy(), {}
    else:
        cost, unpriced, why = fast.price(prices, u["given"], codes, models, tok)
    return fast.build_log(
        n=n, ts=ts, codes=codes, models=models, prompt=tok["prompt_tokens"],
        completion=tok["completion_tokens"], cost=cost, unpriced=unpriced, why=why,
        latency=latency, status=status, tags=tags,
        int_extras={"cached_tokens": tok["cached_tokens"],
                    "reasoning_tokens": tok["reasoning_tokens"]},
        str_extras={"request_id": fast.str_extra(fast.texts(fast.child(resp, "id"))),
                    "user": fast.str_extra(fast.texts(fast.child(req, "user")))})
