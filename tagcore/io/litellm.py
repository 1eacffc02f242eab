"""LiteLLM ``LiteLLM_SpendLogs`` exports: CSV, a JSON array (or ``{"data": [...]}``) or JSONL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tagcore.io._common import Source
from tagcore.io._values import (
    _dollars,
    _int,
    _latency_between,
    _RowError,
    _status_of_litellm,
    _time,
    _usage,
)
from tagcore.io._vendor import (
    KeyValue,
    OnError,
    Parsed,
    Record,
    _check_key_value,
    _collect,
    _json_value,
    _lower_keys,
    _rows,
    _tags,
    _text,
    _to_log,
)
from tagcore.tags import TagPolicy

if TYPE_CHECKING:
    from tagcore.log import RequestLog

__all__ = ['parse_litellm_spend_logs', 'read_litellm_spend_logs']


_LITELLM_REQUIRED = ("model", "spend", "prompt_tokens", "completion_tokens", "startTime", "endTime")


def parse_litellm_spend_logs(
    source: Source,
    *,
    key_value: KeyValue = "path",
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> Parsed:
    """Parse a LiteLLM SpendLogs export into records; see :func:`read_litellm_spend_logs`.

    >>> import io
    >>> csv_text = ('request_id,model,spend,prompt_tokens,completion_tokens,startTime,endTime,'
    ...             'request_tags,status\\n'
    ...             'r1,gpt-4o,0.000225,10,20,2025-01-24 09:20:46.847371,2025-01-24 09:20:46.851954,'
    ...             '"[""product:chat-bot"", ""User-Agent: OpenAI/Python 1.40.0""]",success\\n')
    >>> (rec,), _ = parse_litellm_spend_logs(io.StringIO(csv_text))
    >>> rec["request_tags"], rec["cost"], round(rec["latency_ms"], 3), rec["status"]
    (['product/chat-bot', 'User-Agent/OpenAI/Python 1.40.0'], Decimal('0.000225'), 4.583, 200)
    """
    _check_key_value(key_value)

    def parse(row: dict[str, Any]) -> Record:
        row = _lower_keys(row)
        for col in _LITELLM_REQUIRED:
            if col.lower() not in row:
                raise _RowError(col, "missing")
        start = _time(row["starttime"], "startTime")
        end = _time(row["endtime"], "endTime")
        model = _text(row["model"])
        if not model:
            raise _RowError("model", "missing")
        metadata = _json_value(row.get("metadata"), "metadata", dict) or {}
        usage = metadata.get("usage_object") if isinstance(metadata, Mapping) else None
        tags = _tags(
            _json_value(row.get("request_tags"), "request_tags", list),
            "request_tags",
            policy,
            key_value=key_value,
        )
        rec: Record = {
            "ts": start,
            "model": model,
            "prompt_tokens": _int(row["prompt_tokens"], "prompt_tokens"),
            "completion_tokens": _int(row["completion_tokens"], "completion_tokens"),
            "cost": _dollars(row["spend"], "spend"),
            "latency_ms": _latency_between(start, end, "endTime"),
            "status": _status_of_litellm(row.get("status"), "status"),
            "request_tags": tags,
        }
        if isinstance(usage, Mapping) and usage:
            u = _usage(usage, "metadata.usage_object")
            rec["cached_tokens"] = u["cached_tokens"]
            rec["reasoning_tokens"] = u["reasoning_tokens"]
        else:
            rec["cached_tokens"] = rec["reasoning_tokens"] = 0
        if rec["cost"] is None:
            raise _RowError("spend", "missing")
        for out, cols in (
            ("request_id", ("request_id",)),
            ("user", ("user", "end_user")),
            ("key", ("api_key",)),
        ):
            for col in cols:
                v = _text(row.get(col))
                if v:
                    rec[out] = v
                    break
        alias = _text(metadata.get("user_api_key_alias")) if isinstance(metadata, Mapping) else None
        if alias:
            rec["key"] = alias
        return rec

    return _collect(_rows(source, _LITELLM_REQUIRED), parse, on_error)


def read_litellm_spend_logs(
    source: Source,
    *,
    key_value: KeyValue = "path",
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> RequestLog:
    """Read a LiteLLM ``LiteLLM_SpendLogs`` export: CSV, a JSON array (or ``{"data": [...]}``)
    or JSONL, by extension or by sniffing the first character.

    Columns (``schema.prisma`` of BerriAI/litellm, any order and case): required ``model``,
    ``spend`` (dollars), ``prompt_tokens``, ``completion_tokens``, ``startTime``, ``endTime``;
    used when present ``request_id``, ``request_tags``, ``metadata``, ``status``, ``user``,
    ``end_user``, ``api_key``. ``request_tags`` and ``metadata`` may be JSON strings (as in
    the DB payload) or real JSON. Times are naive strings (UTC) or epoch floats; the request's
    time is ``startTime`` and its latency ``endTime - startTime``. ``status`` ``"success"`` is
    200, ``"failure"`` 500, missing 200. ``"None"`` strings are missing values. The key is
    ``metadata.user_api_key_alias`` when set, else the hashed ``api_key``; the user is ``user``
    else ``end_user``; cached and reasoning tokens come from ``metadata.usage_object``.
    Only ``request_tags`` become tags (``metadata`` holds LiteLLM internals, not labels).

    Tags written ``key:value`` or ``key: value`` (``product:chat-bot``,
    ``User-Agent: OpenAI/Python 1.40.0``) become the path ``key/value`` by default, so they
    roll up under ``product`` and ``User-Agent``; ``key_value="keep"`` keeps them as written.
    A ``/`` in the value stays a path separator; a URL ``https://x.io/a`` becomes
    ``https/x.io/a`` (see the module docstring for the exact rule).

    >>> import io, json
    >>> rows = [{"request_id": "r1", "model": "gpt-4o", "spend": 0.00022500000000000002,
    ...          "prompt_tokens": 10, "completion_tokens": 20, "startTime": 1766000068.28466,
    ...          "endTime": 1766000070.07935, "request_tags": '["product:chat-bot"]',
    ...          "status": "success"}]
    >>> log = read_litellm_spend_logs(io.StringIO(json.dumps(rows)))
    >>> len(log), log.cost.tolist()
    (1, [225000])
    """
    return _to_log(
        source,
        parse_litellm_spend_logs(source, key_value=key_value, policy=policy, on_error=on_error),
        policy,
        on_error,
    )
