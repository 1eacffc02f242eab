"""OpenAI-style JSONL logs: Chat Completions and Responses API request/response pairs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tagcore.io._common import Source
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
    return _to_log(
        source, parse_openai_log(source, prices, policy=policy, on_error=on_error), policy, on_error
    )
