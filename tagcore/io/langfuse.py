"""Langfuse traces and observations: API pages, JSON arrays, JSONL, or the UI's CSV/JSON export."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tagcore.io._common import Source
from tagcore.io._shapes import SHAPES
from tagcore.io._values import (
    _dollars,
    _get,
    _int,
    _is_missing,
    _latency_between,
    _seconds_to_ms,
    _time,
)
from tagcore.io._vendor import (
    UNKNOWN_MODEL,
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

__all__ = ['parse_langfuse_observations', 'parse_langfuse_traces', 'read_langfuse_observations', 'read_langfuse_traces']


def _langfuse_status(row: Mapping[str, Any]) -> int:
    level = _text(row.get("level"))
    return 500 if level and level.upper() == "ERROR" else 200


def _loose_json(value: Any) -> Any:
    """Langfuse metadata is any JSON, maybe encoded as a string (CSV): decode if possible."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _scalar_metadata(meta: Any) -> dict[str, Any] | None:
    if not isinstance(meta, Mapping):
        return None
    return {
        str(k): v
        for k, v in meta.items()
        if isinstance(v, (str, int, float, bool)) and not (isinstance(v, str) and not v.strip())
    }


def _langfuse_tags(row: dict[str, Any], policy: TagPolicy | None, key_value: KeyValue,
                   metadata_tags: bool) -> list[str]:
    """A Langfuse trace's or observation's ``tags`` (``key:value`` mapped per ``key_value``)
    plus, with ``metadata_tags``, its scalar top-level ``metadata`` as key/value tags."""
    meta = _loose_json(row.get("metadata"))
    return _tags(
        _json_value(row.get("tags"), "tags", list),
        "tags",
        policy,
        key_value=key_value,
        mapping=_scalar_metadata(meta) if metadata_tags else None,
    )


def _tokens(prompt: Any, completion: Any, pfield: str, cfield: str) -> dict[str, Any]:
    """The token fields of a record: the counts, or, when the row gives neither, none at all
    and the ``usage_unknown`` flag (unknown, never zero: a file none of whose rows give usage
    has no token columns; see :meth:`RequestLog.from_records`)."""
    if _is_missing(prompt) and _is_missing(completion):
        return {"usage_unknown": 1}
    return {"prompt_tokens": _int(prompt, pfield, 0), "completion_tokens": _int(completion, cfield, 0)}


def _first_dollars(row: dict[str, Any], columns: tuple[str, ...]) -> Decimal | None:
    """The first of ``columns`` that holds a dollar amount, else None."""
    for col in columns:
        cost = _dollars(row.get(col), col)
        if cost is not None:
            return cost
    return None


def _langfuse_ids(rec: Record, row: dict[str, Any]) -> Record:
    """Add the request id and user of a Langfuse row to its record."""
    if _text(row.get("id")):
        rec["request_id"] = _text(row.get("id"))
    if _text(row.get("userid")):
        rec["user"] = _text(row.get("userid"))
    return rec


def parse_langfuse_traces(
    source: Source,
    *,
    key_value: KeyValue = "path",
    metadata_tags: bool = True,
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> Parsed:
    """Parse Langfuse traces into records; see :func:`read_langfuse_traces`.

    >>> import io
    >>> trace = {"id": "t1", "timestamp": "2025-01-15T10:30:45.000Z", "name": "chat",
    ...          "userId": "user-123", "tags": ["env:production"], "metadata": {"team": "search"},
    ...          "latency": 1.234, "totalCost": 0.015}
    >>> (r,), _ = parse_langfuse_traces(io.StringIO(json.dumps({"data": [trace]})))
    >>> r["request_tags"], r["latency_ms"], r["cost"], r["model"]
    (['env/production', 'team/search'], 1234.0, Decimal('0.015'), '(unknown)')
    """
    _check_key_value(key_value)

    def parse(row: dict[str, Any]) -> Record:
        row = _lower_keys(row)
        ts = _time(row.get("timestamp"), "timestamp")
        usage = _json_value(row.get("usage"), "usage", dict) or {}
        tags = _langfuse_tags(row, policy, key_value, metadata_tags)
        cost = _first_dollars(row, ("totalcost", "total_cost", "calculatedtotalcost"))
        rec: Record = {
            "ts": ts,
            "model": _text(row.get("model")) or UNKNOWN_MODEL,
            **_tokens(usage.get("promptTokens", usage.get("input")),
                      usage.get("completionTokens", usage.get("output")),
                      "usage.promptTokens", "usage.completionTokens"),
            "cost": cost,
            "latency_ms": _seconds_to_ms(row.get("latency"), "latency"),
            "status": _langfuse_status(row),
            "request_tags": tags,
        }
        return _langfuse_ids(rec, row)

    return _collect(_rows(source, ("timestamp",), SHAPES["langfuse_traces"]), parse,
                    on_error)


def read_langfuse_traces(
    source: Source,
    *,
    key_value: KeyValue = "path",
    metadata_tags: bool = True,
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> RequestLog:
    """Read Langfuse traces: ``GET /api/public/traces`` pages (``{"data": [...]}``), JSON
    arrays, JSONL, or the UI's CSV/JSON batch export of the traces table.

    One trace is one request: time ``timestamp``, latency ``latency`` (seconds), cost
    ``totalCost`` (dollars), tokens from ``usage.promptTokens`` / ``completionTokens`` when
    the export has them (else 0), status 500 when ``level`` is ``ERROR`` else 200, user
    ``userId``. A trace has no model: the model is ``"(unknown)"`` unless the record has a
    ``model``. Read :func:`read_langfuse_observations` for per-generation models and tokens.

    Tags: the ``tags`` list (``key:value`` tags mapped to ``key/value`` as in
    :func:`read_litellm_spend_logs`, ``key_value="keep"`` keeps them), then, with
    ``metadata_tags=True``, the scalar top-level entries of ``metadata`` as ``key/value``
    tags (nested objects and lists are not tags and are ignored).

    >>> import io
    >>> page = '{"data": [{"id": "t1", "timestamp": "2025-01-15T10:30:45Z", "tags": ["env:production"]}]}'
    >>> log = read_langfuse_traces(io.StringIO(page))
    """
    return _to_log(
        source,
        parse_langfuse_traces(
            source,
            key_value=key_value,
            metadata_tags=metadata_tags,
            policy=policy,
            on_error=on_error,
        ),
        policy,
        on_error,
    )


def parse_langfuse_observations(
    source: Source,
    *,
    key_value: KeyValue = "path",
    metadata_tags: bool = True,
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> Parsed:
    """Parse Langfuse observations (generations only); see :func:`read_langfuse_observations`.

    >>> import io
    >>> obs = {"id": "o1", "traceId": "t1", "type": "GENERATION", "startTime": "2025-01-15T10:30:46Z",
    ...        "endTime": "2025-01-15T10:30:47.5Z", "model": "gpt-4o",
    ...        "usageDetails": {"input": "94", "output": "11", "total": "105"},
    ...        "totalCost": 0.0000141, "tags": ["no-context"]}
    >>> span = {"id": "o2", "type": "SPAN", "startTime": "2025-01-15T10:30:46Z"}
    >>> recs, _ = parse_langfuse_observations(io.StringIO(json.dumps([obs, span])))
    >>> [(r["model"], r["prompt_tokens"], r["completion_tokens"], r["latency_ms"]) for r in recs]
    [('gpt-4o', 94, 11, 1500.0)]
    """
    _check_key_value(key_value)

    def parse(row: dict[str, Any]) -> Record | None:
        row = _lower_keys(row)
        kind = _text(row.get("type"))
        if kind and kind.upper() not in ("GENERATION", "EMBEDDING"):
            return None  # spans, events, tools... are not model requests
        start = _time(row.get("starttime"), "startTime")
        usage = _json_value(row.get("usagedetails"), "usageDetails", dict)
        base = "usageDetails"
        if usage is None:
            usage = _json_value(row.get("usage"), "usage", dict) or {}
            base = "usage"
        tags = _langfuse_tags(row, policy, key_value, metadata_tags)
        if not _is_missing(row.get("endtime")):
            latency = _latency_between(start, _time(row["endtime"], "endTime"), "endTime")
        else:
            latency = _seconds_to_ms(row.get("latency"), "latency")
        cost = _first_dollars(row, ("totalcost", "calculatedtotalcost"))
        if cost is None:
            cost = _dollars(
                _get(_json_value(row.get("costdetails"), "costDetails", dict), "total"),
                "costDetails.total",
            )
        rec: Record = {
            "ts": start,
            "model": _text(row.get("model")) or UNKNOWN_MODEL,
            **_tokens(usage.get("input"), usage.get("output"), f"{base}.input",
                      f"{base}.output"),
            "cost": cost,
            "latency_ms": latency,
            "status": _langfuse_status(row),
            "request_tags": tags,
        }
        return _langfuse_ids(rec, row)

    return _collect(_rows(source, ("startTime",), SHAPES["langfuse_observations"]),
                    parse, on_error)


def read_langfuse_observations(
    source: Source,
    *,
    key_value: KeyValue = "path",
    metadata_tags: bool = True,
    policy: TagPolicy | None = None,
    on_error: OnError = "raise",
) -> RequestLog:
    """Read Langfuse observations (``GET /api/public/v2/observations``, ``ObservationV2``):
    one ``GENERATION`` (or ``EMBEDDING``: the observation types that carry usage and cost) is
    one request; spans, events and other types are left out (not counted as errors).

    Time ``startTime``; latency ``endTime - startTime`` (else ``latency`` in seconds); model
    ``model``; tokens ``usageDetails.input`` / ``output`` (numbers or numeric strings; the
    older ``usage`` object too); cost ``totalCost`` (else ``costDetails.total``), dollars;
    status 500 when ``level`` is ``ERROR``; user ``userId``. Tags as in
    :func:`read_langfuse_traces` (``tags`` carries the trace's tags).

    >>> import io
    >>> obs = ('[{"type": "GENERATION", "startTime": "2025-01-15T10:30:46Z", "model": "gpt-4o",'
    ...        ' "usageDetails": {"input": 94, "output": 11}, "tags": ["env:prod"]}]')
    >>> log = read_langfuse_observations(io.StringIO(obs))
    """
    return _to_log(
        source,
        parse_langfuse_observations(
            source,
            key_value=key_value,
            metadata_tags=metadata_tags,
            policy=policy,
            on_error=on_error,
        ),
        policy,
        on_error,
    )
