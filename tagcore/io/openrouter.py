"""OpenRouter's activity export: the Activity page's CSV (JSON/JSONL with the same names too)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tagcore.io import _vendor_fast as fast
from tagcore.io._common import Source, _check_on_error
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
    _check_on_error(on_error)
    log, loaded = fast.vendor_log(source, lambda ld: _openrouter_fast(ld, policy))
    if log is not None:
        return log
    return _to_log(
        source,
        parse_openrouter_activity(fast.fallback_source(source, loaded), policy=policy,
                                  on_error=on_error),
        policy,
        on_error,
    )


# ============================================================ the compiled path
# (tagcore.io._vendor_fast): the same log as the Python path above, or a refusal

_OPENROUTER_FIELDS = {
    "model_permaslug": fast.TEXT, "tokens_completion": fast.COUNT,
    "tokens_reasoning": fast.COUNT, "api_key_name": fast.TEXT, "app_name": fast.TEXT,
    "user": fast.TEXT, "cost_total": fast.NUM, "finish_reason_normalized": fast.TEXT,
    "created_at": fast.NUM, "tokens_prompt": fast.COUNT, "tokens_cached": fast.COUNT,
    "generation_time_ms": fast.NUM, "generation_id": fast.TEXT,
}


def _openrouter_fast(loaded: fast.Loaded, policy: TagPolicy | None) -> RequestLog:
    """:func:`read_openrouter_activity` by the compiled path (or :class:`fast._Refused`)."""
    import numpy as np

    if (policy or TagPolicy()).max_tags < 3:  # the label tags of a row may be trimmed
        raise fast._Refused("a policy of fewer than three tags")
    cols = fast.decode(loaded, _OPENROUTER_FIELDS, lower=True, required=_OPENROUTER_REQUIRED,
                       shape=SHAPES["openrouter"])
    n = cols.n
    codes, models = fast.model_codes(cols("model_permaslug"))
    completion, _ = fast.counts(cols("tokens_completion"), n, default=None)
    reasoning, _ = fast.counts(cols("tokens_reasoning"), n, default=0)
    if (reasoning > completion).any():
        raise fast._Refused("reasoning tokens beyond the completion")
    labels = {k: fast.texts(cols(c)) for k, c in
              (("key", "api_key_name"), ("app", "app_name"), ("user", "user"))}
    tags = fast.Tags(n, policy)
    for k, v in labels.items():
        tags.add(fast.label_tags(v, k, policy))
    cost, c_ok = fast.dollars(cols("cost_total"), n)
    if not c_ok.all():
        raise fast._Refused("cost_total is missing")
    finish = cols("finish_reason_normalized")
    status = np.full(n, 200, dtype=np.int64) if finish is None else fast.per_distinct_text(
        fast.texts(finish), lambda v: 500 if (v or "").lower() == "error" else 200, np.int64)
    ts, t_ok = fast.times(cols("created_at"), n)
    if not t_ok.all():
        raise fast._Refused("created_at is missing")
    prompt, _ = fast.counts(cols("tokens_prompt"), n, default=None)
    cached, _ = fast.counts(cols("tokens_cached"), n, default=0)
    latency, _ = fast.floats(cols("generation_time_ms"), n)
    return fast.build_log(
        n=n, ts=ts, codes=codes, models=models, prompt=prompt, completion=completion,
        cost=cost, unpriced=None, why={}, latency=latency, status=status, tags=tags,
        int_extras={"cached_tokens": cached, "reasoning_tokens": reasoning},
        str_extras={"request_id": fast.str_extra(fast.texts(cols("generation_id"))),
                    "user": fast.str_extra(labels["user"]),
                    "key": fast.str_extra(labels["key"])})
