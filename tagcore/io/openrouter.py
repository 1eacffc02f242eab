"""OpenRouter's activity export: the Activity page's CSV (JSON/JSONL with the same names too)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tagcore.io._common import Source
from tagcore.io._shapes import SHAPES
from tagcore.io._values import (
    _dollars,
    _int,
    _opt_float,
    _RowError,
    _time,
)
from tagcore.io._vendor import (
    OnError,
    Parsed,
    Record,
    _collect,
    _lower_keys,
    _rows,
    _tags,
    _text,
    _to_log,
)
from tagcore.tags import TagPolicy

if TYPE_CHECKING:
    from tagcore.log import RequestLog

__all__ = ['parse_openrouter_activity', 'read_openrouter_activity']


_OPENROUTER_REQUIRED = (
    "created_at",
    "cost_total",
    "tokens_prompt",
    "tokens_completion",
    "model_permaslug",
)


def parse_openrouter_activity(
    source: Source,
    *,
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> Parsed:
    """Parse OpenRouter's activity CSV into records; see :func:`read_openrouter_activity`.

    >>> import io
    >>> csv_text = ('generation_id,created_at,cost_total,tokens_prompt,tokens_completion,'
    ...             'tokens_reasoning,tokens_cached,model_permaslug,generation_time_ms,'
    ...             'api_key_name,app_name,user\\n'
    ...             'gen-1,2026-02-06 18:54:30.040,0.00012,100,20,5,0,openai/gpt-oss-120b,812,'
    ...             'prod-key,My App,u-42\\n')
    >>> (r,), _ = parse_openrouter_activity(io.StringIO(csv_text))
    >>> r["request_tags"], r["reasoning_tokens"], r["latency_ms"], r["key"]
    (['key/prod-key', 'app/My App', 'user/u-42'], 5, 812.0, 'prod-key')
    """

    def parse(row: dict[str, Any]) -> Record:
        row = _lower_keys(row)
        model = _text(row.get("model_permaslug"))
        if not model:
            raise _RowError("model_permaslug", "missing")
        completion = _int(row.get("tokens_completion"), "tokens_completion")
        reasoning = _int(row.get("tokens_reasoning"), "tokens_reasoning", 0)
        if reasoning > completion:  # reasoning is part of completion for billing (OpenRouter docs)
            raise _RowError(
                "tokens_reasoning", f"{reasoning} exceeds tokens_completion {completion}"
            )
        labels = {
            "key": _text(row.get("api_key_name")),
            "app": _text(row.get("app_name")),
            "user": _text(row.get("user")),
        }
        tags = _tags(
            None,
            "api_key_name",
            policy,
            mapping={k: v for k, v in labels.items() if v},
            mapping_field="api_key_name/app_name/user",
        )
        cost = _dollars(row.get("cost_total"), "cost_total")
        if cost is None:
            raise _RowError("cost_total", "missing")
        finish = _text(row.get("finish_reason_normalized")) or ""
        rec: Record = {
            "ts": _time(row.get("created_at"), "created_at"),
            "model": model,
            "prompt_tokens": _int(row.get("tokens_prompt"), "tokens_prompt"),
            "completion_tokens": completion,
            "cached_tokens": _int(row.get("tokens_cached"), "tokens_cached", 0),
            "reasoning_tokens": reasoning,
            "cost": cost,
            "latency_ms": _opt_float(row.get("generation_time_ms"), "generation_time_ms"),
            "status": 500 if finish.lower() == "error" else 200,
            "request_tags": tags,
        }
        for out, v in (
            ("request_id", _text(row.get("generation_id"))),
            ("user", labels["user"]),
            ("key", labels["key"]),
        ):
            if v:
                rec[out] = v
        return rec

    return _collect(_rows(source, _OPENROUTER_REQUIRED, SHAPES["openrouter"]), parse,
                    on_error)


def read_openrouter_activity(
    source: Source,
    *,
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> RequestLog:
    """Read OpenRouter's activity export (the Activity page's "export CSV", one generation per
    row; JSON/JSONL with the same names work too). Columns are matched by name, since older
    exports have one column fewer.

    Time ``created_at`` (naive = UTC); model ``model_permaslug``; tokens ``tokens_prompt``,
    ``tokens_completion``, ``tokens_cached``, ``tokens_reasoning`` (part of the completion);
    cost ``cost_total`` (dollars); latency ``generation_time_ms`` (empty: unknown); status 500 when
    ``finish_reason_normalized`` is ``error``, else 200. The export has no tags: the API key
    name, app and user become the tags ``key/<api_key_name>``, ``app/<app_name>`` and
    ``user/<user>`` (each when not empty); the key name and user also fill ``key`` and
    ``user``.

    >>> import io
    >>> csv_text = ('generation_id,created_at,cost_total,tokens_prompt,tokens_completion,'
    ...             'model_permaslug,api_key_name\\n'
    ...             'gen-1,2026-02-06 18:54:30.040,0.00012,100,20,openai/gpt-oss-120b,prod-key\\n')
    >>> log = read_openrouter_activity(io.StringIO(csv_text))
    >>> len(log), log.cost.tolist()
    (1, [120000])
    """
    return _to_log(
        source,
        parse_openrouter_activity(source, policy=policy, on_error=on_error),
        policy,
        on_error,
    )
