"""Langfuse traces and observations: API pages, JSON arrays, JSONL, or the UI's CSV/JSON export."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tagcore.io import _vendor_fast as fast
from tagcore.io._common import Source, _check_on_error
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
    _check_key_value(key_value)
    _check_on_error(on_error)
    log, loaded = fast.vendor_log(
        source, lambda ld: _langfuse_fast(ld, False, key_value, metadata_tags, policy))
    if log is not None:
        return log
    return _to_log(
        source,
        parse_langfuse_traces(
            fast.fallback_source(source, loaded),
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
    _check_key_value(key_value)
    _check_on_error(on_error)
    log, loaded = fast.vendor_log(
        source, lambda ld: _langfuse_fast(ld, True, key_value, metadata_tags, policy))
    if log is not None:
        return log
    return _to_log(
        source,
        parse_langfuse_observations(
            fast.fallback_source(source, loaded),
            key_value=key_value,
            metadata_tags=metadata_tags,
            policy=policy,
            on_error=on_error,
        ),
        policy,
        on_error,
    )


# ============================================================ the compiled path
# (tagcore.io._vendor_fast): the same log as the Python path above, or a refusal

_TOKENS = {"promptTokens": fast.COUNT, "completionTokens": fast.COUNT, "input": fast.COUNT,
           "output": fast.COUNT}
_COMMON = {
    "metadata": fast.F("obj", {}, json=True), "tags": fast.F("list", json=True),
    "totalcost": fast.NUM, "calculatedtotalcost": fast.NUM, "model": fast.TEXT,
    "latency": fast.NUM, "level": fast.TEXT, "id": fast.TEXT, "userid": fast.TEXT,
}
_TRACE_FIELDS = {"timestamp": fast.NUM, "usage": fast.F("obj", _TOKENS, json=True),
                 "total_cost": fast.NUM, **_COMMON}
_OBSERVATION_FIELDS = {
    "type": fast.TEXT, "starttime": fast.NUM, "endtime": fast.NUM,
    "usagedetails": fast.F("obj", _TOKENS, json=True),
    "usage": fast.F("obj", _TOKENS, json=True),
    "costdetails": fast.F("obj", {"total": fast.NUM}, json=True), **_COMMON,
}


def _scalar_tags(cells: Any, policy: TagPolicy | None, objects: bool) -> Any:
    """``list<string>`` of the key/value tags of the scalar entries of each row's metadata
    (:func:`_loose_json`, :func:`_scalar_metadata`, then the tags), once per distinct text;
    ``objects``: the texts are objects cut out of the records."""
    from tagcore.tags import TagError, tags_from_mapping

    pa, pc = fast._pa()
    enc = pc.dictionary_encode(cells)
    limit = (policy or TagPolicy()).max_tags
    out = []
    for cell in enc.dictionary.to_pylist():
        try:
            meta = json.loads(cell) if objects else _loose_json(cell)
        except ValueError:
            raise fast._Refused("a metadata object the compiled path cut wrongly") from None
        mapping = _scalar_metadata(meta)
        if not mapping:
            out.append(None)
            continue
        try:
            got = tags_from_mapping(mapping, policy)
        except TagError:
            raise fast._Refused("a bad metadata tag") from None
        if got.dropped or len(got) >= limit:
            raise fast._Refused("metadata tags the policy drops or limits")
        out.append(list(got))
    return pa.array(out, pa.list_(pa.string())).take(enc.indices)


def _langfuse_tokens(cols: fast.Cols, usage: Any, field: str, n: int, names: tuple[str, ...]
                     ) -> tuple[Any, Any, Any]:
    """:func:`_tokens` of ``usage.get(a, usage.get(b))`` for (prompt, completion): the
    counts, and where both are missing. A null first key with a second one given is read
    as the Python path reads it (absent: the second) only when the text names no first
    key."""
    import numpy as np

    vals = []
    for first, second in ((names[0], "input"), (names[1], "output")):
        a = fast.child(usage, first) if first else None
        b = fast.child(usage, second)
        va, ga = fast.counts(a, n, default=0) if a is not None else (
            np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool))
        vb, gb = fast.counts(b, n, default=0) if b is not None else (
            np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool))
        if first:
            unsure = ~ga & fast._valid(b, n)
            if unsure.any():
                pa, pc = fast._pa()
                text = cols.text_of(field).filter(pa.array(unsure))
                if pc.any(pc.match_substring(text, f'"{first}"')).as_py():
                    raise fast._Refused(f"{first} may be null")
        vals.append((np.where(ga, va, vb), ga | gb))
    (p, gp), (c, gc) = vals
    return p, c, ~gp & ~gc


def _langfuse_fast(loaded: fast.Loaded, observations: bool, key_value: KeyValue,
                   metadata_tags: bool, policy: TagPolicy | None) -> RequestLog:
    """:func:`read_langfuse_traces` / :func:`read_langfuse_observations` by the compiled
    path (or :class:`fast._Refused`)."""
    import numpy as np

    pa, pc = fast._pa()
    fields = _OBSERVATION_FIELDS if observations else _TRACE_FIELDS
    cols = fast.decode(loaded, fields, lower=True,
                       required=("startTime",) if observations else ("timestamp",),
                       shape=SHAPES["langfuse_observations" if observations
                                    else "langfuse_traces"])
    if observations:
        kind = fast.texts(cols("type"))
        if kind is not None:
            cols.keep(fast.per_distinct_text(
                kind, lambda v: not v or v.upper() in ("GENERATION", "EMBEDDING"), bool))
    n = cols.n
    ts, t_ok = fast.times(cols("starttime" if observations else "timestamp"), n)
    if not t_ok.all():
        raise fast._Refused("a time is missing")
    if observations:
        details = fast.obj(cols("usagedetails"), fields["usagedetails"], "usagedetails", cols)
        other = fast.obj(cols("usage"), fields["usage"], "usage", cols)
        has_details = fast._valid(details, n)
        p1, c1, none1 = _langfuse_tokens(cols, details, "usagedetails", n, ("", ""))
        p2, c2, none2 = _langfuse_tokens(cols, other, "usage", n, ("", ""))
        prompt = np.where(has_details, p1, p2)
        completion = np.where(has_details, c1, c2)
        no_usage = np.where(has_details, none1, none2)
        end, e_ok = fast.times(cols("endtime"), n)
        latency = np.full(n, np.nan)
        if e_ok.any():
            latency[e_ok] = fast.latency_between(ts[e_ok], end[e_ok])
        secs, s_ok = fast.floats(cols("latency"), n)
        use = ~e_ok & s_ok
        latency[use] = secs[use] * 1000.0
        costs = ("totalcost", "calculatedtotalcost")
    else:
        usage = fast.obj(cols("usage"), fields["usage"], "usage", cols)
        prompt, completion, no_usage = _langfuse_tokens(
            cols, usage, "usage", n, ("promptTokens", "completionTokens"))
        secs, s_ok = fast.floats(cols("latency"), n)
        latency = np.where(s_ok, secs * 1000.0, np.nan)
        costs = ("totalcost", "total_cost", "calculatedtotalcost")
    tags = fast.Tags(n, policy)
    tags.add(fast.lists(cols("tags"), "tags", json_text=True), kv=key_value == "path")
    if metadata_tags:
        meta = cols("metadata")
        objects = meta is not None and pa.types.is_struct(meta.type)
        cells = fast.object_texts(cols, "metadata", nested=True) if objects else meta
        if cells is not None:
            tags.add(_scalar_tags(cells, policy, objects))
    cost = np.zeros(n, dtype=np.int64)
    has_cost = np.zeros(n, dtype=bool)
    cands = [cols(c) for c in costs]
    if observations:
        cands.append(fast.child(fast.obj(cols("costdetails"), fields["costdetails"],
                                         "costdetails", cols), "total"))
    for col in cands:
        c, c_ok = fast.dollars(col, n)
        take = c_ok & ~has_cost
        cost[take] = c[take]
        has_cost |= take
    model = fast.texts(cols("model"))
    unknown_model = pa.scalar(UNKNOWN_MODEL, pa.large_string())
    model = pa.array([UNKNOWN_MODEL] * n, pa.large_string()) if model is None else \
        pc.coalesce(model.cast(pa.large_string()), unknown_model)
    codes, models = fast.model_codes(model)
    level = cols("level")
    status = np.full(n, 200, dtype=np.int64) if level is None else fast.per_distinct_text(
        fast.texts(level), lambda v: 500 if v and v.upper() == "ERROR" else 200, np.int64)
    unknown = frozenset(("prompt_tokens", "completion_tokens")) if no_usage.all() else \
        frozenset()
    return fast.build_log(
        n=n, ts=ts, codes=codes, models=models, prompt=np.where(no_usage, 0, prompt),
        completion=np.where(no_usage, 0, completion), cost=cost, unpriced=~has_cost, why={},
        latency=latency, status=status, tags=tags, int_extras={},
        usage_unknown=no_usage, unknown=unknown,
        str_extras={"request_id": fast.str_extra(fast.texts(cols("id"))),
                    "user": fast.str_extra(fast.texts(cols("userid")))})
