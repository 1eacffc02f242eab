"""LiteLLM: ``LiteLLM_SpendLogs`` exports and ``StandardLoggingPayload`` records (what
LiteLLM's callbacks receive), as CSV, a JSON array (or ``{"data": [...]}``) or JSONL.

:func:`_payload_record` is the one reading of a ``StandardLoggingPayload``: the file reader
(:func:`read_litellm_payloads`) and the live logger (:mod:`tagcore.integrations.litellm`) both
use it, so a request recorded live and the same request read from a file are the same row."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tagcore.io import _vendor_fast as fast
from tagcore.io._common import Source, _check_on_error
from tagcore.io._shapes import SHAPES
from tagcore.io._values import (
    _dollars,
    _int,
    _is_missing,
    _latency_between,
    _RowError,
    _seconds_to_ms,
    _short,
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
    map_key_value_tag,
)
from tagcore.tags import TagPolicy

if TYPE_CHECKING:
    from tagcore.log import RequestLog

__all__ = ['parse_litellm_payloads', 'parse_litellm_spend_logs', 'read_litellm_payloads',
           'read_litellm_spend_logs']


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

    return _collect(_rows(source, _LITELLM_REQUIRED, SHAPES["litellm_spend_logs"]), parse,
                    on_error)


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
    _check_key_value(key_value)
    _check_on_error(on_error)
    log, loaded = fast.vendor_log(source, lambda ld: _spend_logs_fast(ld, key_value, policy))
    if log is not None:
        return log
    return _to_log(
        source,
        parse_litellm_spend_logs(fast.fallback_source(source, loaded), key_value=key_value,
                                 policy=policy, on_error=on_error),
        policy,
        on_error,
    )


# ================================================================ StandardLoggingPayload


_PAYLOAD_REQUIRED_CSV = ("model", "startTime")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _payload_tags(row: Mapping[str, Any], metadata: Mapping[str, Any],
                  key_value: KeyValue) -> list[str]:
    """``request_tags`` then ``metadata.tags`` (a list of strings; a JSON string too),
    ``key:value`` mapped to ``key/value`` when ``key_value="path"``; not yet normalized."""
    out: list[str] = []
    for field, listed in (("request_tags", row.get("request_tags")),
                          ("metadata.tags", metadata.get("tags"))):
        listed = _json_value(listed, field, list)
        for i, t in enumerate(listed or ()):
            if not isinstance(t, str):
                raise _RowError(f"{field}[{i}]", f"expected a string, got {_short(t)}")
            out.append(map_key_value_tag(t) if key_value == "path" else t)
    return out


def _payload_status(row: Mapping[str, Any]) -> int:
    """``status`` (``success`` 200, ``failure`` 500, or an HTTP status); a failure with an
    HTTP ``error_information.error_code`` (``"429"``) gets that code."""
    status = _status_of_litellm(row.get("status"), "status")
    if status >= 400:
        code = _text(_mapping(row.get("error_information")).get("error_code"))
        if code and code.isdigit() and 400 <= int(code) <= 599:
            return int(code)
    return status


def _payload_usage(row: Mapping[str, Any], metadata: Mapping[str, Any]
                   ) -> tuple[dict[str, int] | None, str]:
    """The first usage object of ``metadata.usage_object``, ``hidden_params.usage_object``,
    ``response.usage``, read by :func:`tagcore.coerce.parse_usage`, and its field."""
    response = row.get("response")
    for field, usage in (
        ("metadata.usage_object", metadata.get("usage_object")),
        ("hidden_params.usage_object", _mapping(row.get("hidden_params")).get("usage_object")),
        ("response.usage", _mapping(response).get("usage")),
    ):
        if isinstance(usage, Mapping) and usage:
            return _usage(usage, field), field
    return None, ""


def _payload_record(row: Mapping[str, Any], policy: TagPolicy | None, key_value: KeyValue,
                    *, normalize: bool = True) -> Record:
    """One ``StandardLoggingPayload`` as a record of :meth:`RequestLog.from_records`
    (``normalize=False``: the tags as read, for a :class:`~tagcore.Recorder` to normalize
    with its own policy); a bad field raises :class:`_RowError`."""
    row = _lower_keys(row)
    start = _time(row.get("starttime"), "startTime")
    latency: float | None
    if not _is_missing(row.get("endtime")):
        latency = _latency_between(start, _time(row["endtime"], "endTime"), "endTime")
    else:
        latency = _seconds_to_ms(row.get("response_time"), "response_time")
    model = _text(row.get("model"))
    if not model:
        raise _RowError("model", "missing")
    status = _payload_status(row)
    metadata = _json_value(row.get("metadata"), "metadata", dict) or {}
    usage, usage_field = _payload_usage(row, metadata)
    tokens = {}
    for col in ("prompt_tokens", "completion_tokens"):
        if not _is_missing(row.get(col)):
            tokens[col] = _int(row[col], col)
        elif usage is not None:
            tokens[col] = usage[col]
        elif status >= 400:  # a failed request may report no usage: it used none
            tokens[col] = 0
        else:
            raise _RowError(col, "missing (and no metadata.usage_object)")
    cached = usage["cached_tokens"] if usage else 0
    reasoning = usage["reasoning_tokens"] if usage else 0
    if cached > tokens["prompt_tokens"]:
        raise _RowError(usage_field, f"{cached} cached tokens exceed prompt_tokens "
                                     f"{tokens['prompt_tokens']}")
    if reasoning > tokens["completion_tokens"]:
        raise _RowError(usage_field, f"{reasoning} reasoning tokens exceed completion_tokens "
                                     f"{tokens['completion_tokens']}")
    tags = _payload_tags(row, metadata, key_value)
    if normalize:
        tags = _tags(tags, "request_tags", policy)
    rec: Record = {
        "ts": start,
        "model": model,
        "prompt_tokens": tokens["prompt_tokens"],
        "completion_tokens": tokens["completion_tokens"],
        "cached_tokens": cached,
        "reasoning_tokens": reasoning,
        "cost": _dollars(row.get("response_cost"), "response_cost"),  # None: unknown
        "latency_ms": latency,
        "status": status,
        "request_tags": tags,
    }
    for out, value in (
        ("request_id", _text(row.get("id")) or _text(row.get("litellm_call_id"))),
        ("user", _text(metadata.get("user_api_key_user_id")) or _text(row.get("end_user"))),
        ("key", _text(metadata.get("user_api_key_alias"))
         or _text(metadata.get("user_api_key_hash"))),
    ):
        if value:
            rec[out] = value
    return rec


def parse_litellm_payloads(
    source: Source,
    *,
    key_value: KeyValue = "path",
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> Parsed:
    """Parse LiteLLM ``StandardLoggingPayload`` records; see :func:`read_litellm_payloads`.

    >>> import io, json
    >>> p = {"id": "chatcmpl-1", "status": "success", "model": "gpt-4o",
    ...      "startTime": 1766000068.28466, "endTime": 1766000070.07935,
    ...      "prompt_tokens": 10, "completion_tokens": 20, "response_cost": 0.000225,
    ...      "request_tags": ["product:chat-bot"], "metadata": {"tags": ["customer/acme"],
    ...      "usage_object": {"prompt_tokens": 10, "completion_tokens": 20,
    ...                       "prompt_tokens_details": {"cached_tokens": 4}}}}
    >>> (r,), _ = parse_litellm_payloads(io.StringIO(json.dumps([p])))
    >>> r["request_tags"], r["cached_tokens"], r["cost"], round(r["latency_ms"], 2)
    (['product/chat-bot', 'customer/acme'], 4, Decimal('0.000225'), 1794.69)
    """
    _check_key_value(key_value)

    def parse(row: dict[str, Any]) -> Record:
        return _payload_record(row, policy, key_value)

    return _collect(_rows(source, _PAYLOAD_REQUIRED_CSV, SHAPES["litellm_payloads"]), parse,
                    on_error)


def read_litellm_payloads(
    source: Source,
    *,
    key_value: KeyValue = "path",
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> RequestLog:
    """Read LiteLLM ``StandardLoggingPayload`` records (what LiteLLM's callbacks and its
    logging integrations receive: ``kwargs["standard_logging_object"]``): a JSON array (or
    ``{"data": [...]}``, or one object) or JSONL, one payload per record.

    * time ``startTime`` (epoch seconds, as LiteLLM writes it; ISO text too), latency
      ``endTime - startTime`` (else ``response_time`` seconds);
    * model ``model``; tokens ``prompt_tokens`` and ``completion_tokens``, else those of
      ``metadata.usage_object``; cached and reasoning tokens from the first of
      ``metadata.usage_object``, ``hidden_params.usage_object`` and ``response.usage``
      (``prompt_tokens_details.cached_tokens``, ``completion_tokens_details.reasoning_tokens``;
      none: 0). A success without tokens is a bad row; a failure without them used none;
    * cost ``response_cost`` (dollars, exactly as LiteLLM computed it; missing: unknown,
      never zero);
    * status ``status``: ``success`` is 200, ``failure`` the HTTP code of
      ``error_information.error_code`` when it is one (``"429"``), else 500;
    * tags ``request_tags`` then ``metadata.tags`` (``key:value`` to ``key/value`` as in
      :func:`read_litellm_spend_logs`; ``key_value="keep"`` keeps them);
    * request id ``id`` (else ``litellm_call_id``); user ``metadata.user_api_key_user_id``
      else ``end_user``; key ``metadata.user_api_key_alias`` else
      ``metadata.user_api_key_hash``.

    Records without LiteLLM's payload fields (``response_cost``, ``hidden_params``,
    ``model_map_information``, ``saved_cache_cost``) are refused as a whole
    (:class:`FormatError`), never read as zeros.

    >>> import io, json
    >>> p = {"id": "r1", "status": "failure", "model": "gpt-4o", "startTime": 1766000068.0,
    ...      "endTime": 1766000068.5, "prompt_tokens": 0, "completion_tokens": 0,
    ...      "response_cost": 0.0, "request_tags": ["env:prod"],
    ...      "error_information": {"error_code": "429"}}
    >>> log = read_litellm_payloads(io.StringIO(json.dumps(p)))
    >>> int(log.status[0]), log.tags_of(0), float(log.latency_ms[0])
    (429, ['env/prod'], 500.0)
    """
    _check_key_value(key_value)
    _check_on_error(on_error)
    log, loaded = fast.vendor_log(source, lambda ld: _payloads_fast(ld, key_value, policy))
    if log is not None:
        return log
    return _to_log(
        source,
        parse_litellm_payloads(fast.fallback_source(source, loaded), key_value=key_value,
                               policy=policy, on_error=on_error),
        policy,
        on_error,
    )


# ============================================================ the compiled path
# (tagcore.io._vendor_fast): the same log as the Python path above, or a refusal


_USAGE_MAP = fast.usage_field("map")
_TAGS_JSON = fast.F("list", json=True)

_SPEND_FIELDS = {
    "model": fast.TEXT, "spend": fast.NUM, "prompt_tokens": fast.COUNT,
    "completion_tokens": fast.COUNT, "starttime": fast.NUM, "endtime": fast.NUM,
    "metadata": fast.F("obj", {"usage_object": _USAGE_MAP, "user_api_key_alias": fast.TEXT},
                       json=True),
    "request_tags": _TAGS_JSON, "status": fast.STATUS, "request_id": fast.TEXT,
    "user": fast.TEXT, "end_user": fast.TEXT, "api_key": fast.TEXT,
}

_PAYLOAD_FIELDS: dict[str, fast.F] = {
    "starttime": fast.NUM, "endtime": fast.NUM, "response_time": fast.NUM,
    "model": fast.TEXT, "status": fast.STATUS,
    "error_information": fast.F("map", {"error_code": fast.TEXT}),
    "metadata": fast.F("obj", {"usage_object": _USAGE_MAP, "tags": _TAGS_JSON,
                               "user_api_key_user_id": fast.TEXT,
                               "user_api_key_alias": fast.TEXT,
                               "user_api_key_hash": fast.TEXT}, json=True),
    "hidden_params": fast.F("map", {"usage_object": _USAGE_MAP}),
    "response": fast.F("map", {"usage": _USAGE_MAP}),
    "prompt_tokens": fast.COUNT, "completion_tokens": fast.COUNT, "request_tags": _TAGS_JSON,
    "response_cost": fast.NUM, "id": fast.TEXT, "litellm_call_id": fast.TEXT,
    "end_user": fast.TEXT,
}


# hidden_params and response: read only for the records whose metadata has no usage
_PAYLOAD_LATER = {k: _PAYLOAD_FIELDS[k] for k in ("hidden_params", "response")}
_PAYLOAD_FIRST = {k: v for k, v in _PAYLOAD_FIELDS.items() if k not in _PAYLOAD_LATER}


def _litellm_status(col: Any, n: int) -> Any:
    """:func:`_status_of_litellm` of a column: missing 200, else an HTTP status 100..599."""
    import numpy as np

    status, given = fast.statuses(col, n)
    status = np.where(given, status, 200)
    if ((status < 100) | (status > 599)).any():
        raise fast._Refused("a status out of range")
    return status


def _spend_logs_fast(loaded: fast.Loaded, key_value: KeyValue, policy: TagPolicy | None
                     ) -> RequestLog:
    """:func:`read_litellm_spend_logs` by the compiled path (or :class:`fast._Refused`)."""
    import numpy as np

    cols = fast.decode(loaded, _SPEND_FIELDS, lower=True, required=_LITELLM_REQUIRED,
                       shape=SHAPES["litellm_spend_logs"])
    n = cols.n
    start, s_ok = fast.times(cols("starttime"), n)
    end, e_ok = fast.times(cols("endtime"), n)
    if not (s_ok.all() and e_ok.all()):
        raise fast._Refused("a time is missing")
    latency = fast.latency_between(start, end)
    codes, models = fast.model_codes(cols("model"))
    meta = fast.obj(cols("metadata"), _SPEND_FIELDS["metadata"], "metadata", cols)
    usage = fast.obj(fast.child(meta, "usage_object"), _USAGE_MAP, "metadata.usage_object")
    u = fast.usage_tokens(usage, n)
    empty = u["given"] & ~u["known"]  # {} (no usage) or an unknown usage: the text says
    fast.empty_objects(cols, "metadata", empty, "usage_object")
    u["given"] &= ~empty
    tags = fast.Tags(n, policy)
    tags.add(fast.lists(cols("request_tags"), "request_tags", json_text=True),
             kv=key_value == "path")
    prompt, _ = fast.counts(cols("prompt_tokens"), n, default=None)
    completion, _ = fast.counts(cols("completion_tokens"), n, default=None)
    cost, c_ok = fast.dollars(cols("spend"), n)
    if not c_ok.all():
        raise fast._Refused("spend is missing")
    status = _litellm_status(cols("status"), n)
    return fast.build_log(
        n=n, ts=start, codes=codes, models=models, prompt=prompt, completion=completion,
        cost=cost, unpriced=None, why={}, latency=latency, status=status, tags=tags,
        int_extras={"cached_tokens": np.where(u["given"], u["cached_tokens"], 0),
                    "reasoning_tokens": np.where(u["given"], u["reasoning_tokens"], 0)},
        str_extras={
            "request_id": fast.str_extra(fast.texts(cols("request_id"))),
            "user": fast.str_extra(fast.coalesce_text(fast.texts(cols("user")),
                                                      fast.texts(cols("end_user")))),
            "key": fast.str_extra(fast.coalesce_text(
                fast.texts(fast.child(meta, "user_api_key_alias")),
                fast.texts(cols("api_key")))),
        })


def _payloads_fast(loaded: fast.Loaded, key_value: KeyValue, policy: TagPolicy | None
                   ) -> RequestLog:
    """:func:`read_litellm_payloads` by the compiled path (or :class:`fast._Refused`)."""
    import numpy as np

    cols = fast.decode(loaded, _PAYLOAD_FIRST, lower=True, required=_PAYLOAD_REQUIRED_CSV,
                       shape=SHAPES["litellm_payloads"], later=_PAYLOAD_LATER)
    n = cols.n
    start, s_ok = fast.times(cols("starttime"), n)
    if not s_ok.all():
        raise fast._Refused("startTime is missing")
    end, e_ok = fast.times(cols("endtime"), n)
    latency = np.full(n, np.nan)
    if e_ok.any():
        latency[e_ok] = fast.latency_between(start[e_ok], end[e_ok])
    if not e_ok.all():
        secs, r_ok = fast.floats(cols("response_time"), n)
        use = ~e_ok & r_ok
        latency[use] = secs[use] * 1000.0
    codes, models = fast.model_codes(cols("model"))
    status = _litellm_status(cols("status"), n)
    failed = status >= 400
    if failed.any():
        status = _error_codes(status, failed, fast.child(
            fast.obj(cols("error_information"), _PAYLOAD_FIELDS["error_information"],
                     "error_information"), "error_code"))
    meta = fast.obj(cols("metadata"), _PAYLOAD_FIELDS["metadata"], "metadata", cols)
    chosen = np.zeros(n, dtype=bool)
    u: dict[str, Any] = {k: np.zeros(n, dtype=np.int64) for k in
                         ("prompt_tokens", "completion_tokens", "cached_tokens",
                          "reasoning_tokens")}
    later: dict[str, Any] | None = None
    for field, name in (("metadata", "usage_object"), ("hidden_params", "usage_object"),
                        ("response", "usage")):
        if field == "metadata":
            obj_col = meta
        else:  # only the records without a usage yet are parsed for these
            if later is None:
                later = fast.reparse(cols, ~chosen, _PAYLOAD_LATER)
            obj_col = fast.obj(later[field], _PAYLOAD_LATER[field], field)
        cand = fast.obj(fast.child(obj_col, name), _USAGE_MAP, name)
        got = fast.usage_tokens(cand, n)
        take = got["given"] & ~chosen
        empty = take & ~got["known"]  # {} (skipped) or an unknown usage: the text says
        fast.empty_objects(cols, field, empty, name)
        take &= ~empty
        for k in u:
            u[k] = np.where(take, got[k], u[k])
        chosen |= take
    tokens = {}
    for col in ("prompt_tokens", "completion_tokens"):
        vals, given = fast.counts(cols(col), n, default=0)
        if (~given & ~chosen & ~failed).any():
            raise fast._Refused(f"{col} is missing")
        tokens[col] = np.where(given, vals, np.where(chosen, u[col], 0))
    if (u["cached_tokens"] > tokens["prompt_tokens"]).any() or \
            (u["reasoning_tokens"] > tokens["completion_tokens"]).any():
        raise fast._Refused("cached or reasoning tokens beyond their total")
    tags = fast.Tags(n, policy)
    tags.add(fast.lists(cols("request_tags"), "request_tags", json_text=True),
             kv=key_value == "path")
    tags.add(fast.lists(fast.child(meta, "tags"), "metadata.tags", json_text=True),
             kv=key_value == "path")
    cost, c_ok = fast.dollars(cols("response_cost"), n)
    return fast.build_log(
        n=n, ts=start, codes=codes, models=models, prompt=tokens["prompt_tokens"],
        completion=tokens["completion_tokens"], cost=cost, unpriced=~c_ok, why={},
        latency=latency, status=status, tags=tags,
        int_extras={"cached_tokens": u["cached_tokens"],
                    "reasoning_tokens": u["reasoning_tokens"]},
        str_extras={
            "request_id": fast.str_extra(fast.coalesce_text(
                fast.texts(cols("id")), fast.texts(cols("litellm_call_id")))),
            "user": fast.str_extra(fast.coalesce_text(
                fast.texts(fast.child(meta, "user_api_key_user_id")),
                fast.texts(cols("end_user")))),
            "key": fast.str_extra(fast.coalesce_text(
                fast.texts(fast.child(meta, "user_api_key_alias")),
                fast.texts(fast.child(meta, "user_api_key_hash")))),
        })


def _error_codes(status: Any, failed: Any, codes_col: Any) -> Any:
    """:func:`_payload_status` for the failed rows: the HTTP code of
    ``error_information.error_code`` when it is one (each distinct code read once)."""
    import numpy as np

    if codes_col is None:
        return status
    pa, pc = fast._pa()
    if not (pa.types.is_string(codes_col.type) or pa.types.is_large_string(codes_col.type)):
        raise fast._Refused("an error code of another type")
    enc = pc.dictionary_encode(codes_col)
    table = []
    for v in enc.dictionary.to_pylist():
        code = _text(v)
        try:
            table.append(int(code) if code and code.isdigit() and 400 <= int(code) <= 599
                         else 0)
        except ValueError:  # digits int() does not read: the Python path fails there
            raise fast._Refused("an error code") from None
    got = np.asarray(table + [0], dtype=np.int64)[fast._np(enc.indices, len(table))]
    return np.where(failed & (got > 0), got, status)
