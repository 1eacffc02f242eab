"""The compiled path of the vendor readers (tagcore/io/_vendor_fast.py) against their exact
Python path, the oracle: whenever the compiled path answers, the log is the same bit for bit
(columns, models and trie in the same order, extras, ``problems``, ``dropped_rows``); whenever
it refuses, the reader answers by the Python path, so the log or the error (its type and its
text, with the line and field) and the warnings are the Python path's.

Generated LiteLLM SpendLogs rows, ``StandardLoggingPayload`` records and OpenAI log lines, as
JSON arrays, JSONL and CSV, with the messy values real files have (missing fields, nulls,
``"None"`` strings, JSON text cells, ``key:value`` tags, metadata mappings, mixed types, bad
values), under several tag policies and both ``on_error`` modes. Real payloads and responses
from ../shared/data are read too (skipped when the folder is absent), and payloads made by
litellm's own callback path when litellm is installed.
"""

from __future__ import annotations

import copy
import csv
import gzip
import io
import json
import os
import sys
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tagcore as tc
from tagcore.coerce import times_to_nanos_masked
from tagcore.io import _vendor_fast as fast
from tagcore.prices import PriceTable
from tagcore.tags import TagPolicy

pa = pytest.importorskip("pyarrow")

sys.path.insert(0, os.path.dirname(__file__))
from test_io_fast import same  # noqa: E402
from test_vendor_shapes import openai_line, payload, spend_row  # noqa: E402

READERS = {
    "spend": tc.read_litellm_spend_logs,
    "payloads": tc.read_litellm_payloads,
    "openai": tc.read_openai_log,
}


# ------------------------------------------------------------------------------ helpers


@pytest.fixture(autouse=True)
def strict(monkeypatch):
    """A bug of the compiled path raises here, instead of falling back quietly."""
    monkeypatch.setattr(fast, "STRICT", True)


def run(read, data: bytes, name: str, *, python: bool, **kw):
    """("log", log, warnings) or ("error", type, text) of ``read`` on a named stream of
    ``data``; ``python=True``: the Python path alone (the compiled path switched off)."""
    src = io.BytesIO(data)
    src.name = name
    old = fast._arrow
    if python:
        fast._arrow = lambda: None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                log = read(src, **kw)
            except Exception as exc:  # noqa: BLE001 - the oracle's error, whatever it is
                return ("error", type(exc), str(exc)), fast.LAST[0]
    finally:
        fast._arrow = old
    return ("log", log, [str(w.message) for w in caught]), fast.LAST[0]


def same_log(a, b) -> None:
    same(a, b)
    assert a.unknown == b.unknown
    assert list(a.extras) == list(b.extras)
    for k in ("request_id", "user", "key"):
        if k in a.extras:
            assert a.extras[k][1] == b.extras[k][1], k  # the same dictionary, in order
    assert a.models == b.models


def agree(read, data: bytes, name: str, tables=None, **kw) -> str:
    """The reader (compiled path on) and the Python path give the same answer; returns
    what the compiled path did ("fast" or why it refused). ``tables``: two price tables,
    the first for the compiled path, the second for the Python path (each counts what it
    could not price)."""
    if tables is not None:
        got, what = run(read, data, name, python=False, prices=tables[0], **kw)
        want, _ = run(read, data, name, python=True, prices=tables[1], **kw)
    else:
        got, what = run(read, data, name, python=False, **kw)
        want, _ = run(read, data, name, python=True, **kw)
    assert got[0] == want[0], (what, got, want)
    if got[0] == "error":
        assert got[1:] == want[1:], what
    else:
        same_log(got[1], want[1])
        assert got[2] == want[2], what
    return what


def fast_only(read, data: bytes, name: str, **kw):
    """The log of the compiled path, which must answer; and the Python path's must equal
    it."""
    assert agree(read, data, name, **kw) == "fast", fast.LAST[0]
    got, _ = run(read, data, name, python=False, **kw)
    return got[1]


def as_json(recs, indent=None) -> bytes:
    return json.dumps(recs, indent=indent).encode()


def as_jsonl(recs, eol="\n") -> bytes:
    return "".join(json.dumps(r) + eol for r in recs).encode()


def as_csv(recs) -> bytes:
    names: dict[str, None] = {}
    for r in recs:
        names.update(dict.fromkeys(r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(names))
    w.writeheader()
    for r in recs:
        w.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else
                    ("" if v is None else v) for k, v in r.items()})
    return buf.getvalue().encode()


def laid_out(recs, layout: str) -> tuple[bytes, str]:
    if layout == "json":
        return as_json(recs), "x.json"
    if layout == "json-indent":
        return as_json(recs, indent=2), "x.json"
    if layout == "jsonl":
        return as_jsonl(recs), "x.jsonl"
    if layout == "jsonl-crlf":
        return as_jsonl(recs, "\r\n"), "x.jsonl"
    if layout == "json-lines":
        return as_jsonl(recs), "x.json"
    return as_csv(recs), "x.csv"


# ------------------------------------------------------------------------------ strategies

TAGS = ["customer/acme", "customer/globex", "product:chat-bot", "User-Agent: OpenAI",
        "User-Agent: OpenAI/Python 1.40.0", "env:prod", " spaced / tag ", "Case/Tag",
        "https://x.io/a", "12:30", "日本/東京", "jobID:214590dsff09fds", "a//b", "x"]
BAD_TAGS = ["", "a\tb", "\u200bzero", " / "]

tag_lists = st.lists(st.sampled_from(TAGS), max_size=4)
messy_tags = st.one_of(
    tag_lists,
    tag_lists.map(json.dumps),  # JSON text, as in LiteLLM's DB payload
    tag_lists.map(lambda t: json.dumps(t, ensure_ascii=False)),
    tag_lists.map(lambda t: json.dumps(t, separators=(",", ":"))),
    st.sampled_from([None, "", "[]", "None", "null", " [ ] "]),
    st.lists(st.sampled_from(TAGS + BAD_TAGS), max_size=3),
    st.sampled_from(['["a", 1]', '{"a": 1}', "not json", '["a"', 17, ["a", None]]),
)
usages = st.one_of(
    st.none(),
    st.just({}),
    st.builds(lambda p, c, k, r: {"prompt_tokens": p, "completion_tokens": c,
                                  "total_tokens": p + c,
                                  "prompt_tokens_details": {"cached_tokens": k},
                                  "completion_tokens_details": {"reasoning_tokens": r}},
              st.integers(20, 99), st.integers(20, 99), st.integers(0, 19), st.integers(0, 19)),
    st.builds(lambda p, c: {"prompt_tokens": p, "completion_tokens": c,
                            "prompt_tokens_details": None, "completion_tokens_details": None},
              st.integers(0, 99), st.integers(0, 99)),
    st.builds(lambda p, c, k: {"input_tokens": p, "output_tokens": c,
                               "input_tokens_details": {"cached_tokens": k}},
              st.integers(10, 99), st.integers(0, 99), st.integers(0, 9)),
    st.builds(lambda p, k: {"input_tokens": p, "output_tokens": 1,
                            "cache_read_input_tokens": k}, st.integers(0, 99),
              st.integers(0, 9)),
    st.sampled_from([{"total_tokens": 3}, {"prompt_tokens": 5, "completion_tokens": 1,
                                           "prompt_tokens_details": {"cached_tokens": 9}},
                     {"prompt_tokens": -1}, "usage as text"]),
)
texts = st.sampled_from(["k1", " k2 ", "", None, "None", "nan", "Ünï", "x y"])
dollars = st.one_of(st.floats(0, 1, allow_nan=False), st.integers(0, 5),
                    st.sampled_from([0.00022500000000000002, 1e-12, 2.5e-9]))
messy_dollars = st.one_of(dollars, st.sampled_from([None, -0.5, "0.1", "abc", float("nan")]))


def iso(t: float, style: str) -> object:
    import datetime as dt

    d = dt.datetime.fromtimestamp(t, dt.timezone.utc)
    if style == "naive":
        return d.strftime("%Y-%m-%d %H:%M:%S.%f")
    if style == "z":
        return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if style == "epoch":
        return t
    return d.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def styled(draw, value, style: str):
    """``value`` (a tag list or a metadata object) as the batch writes it: real JSON, JSON
    text, or either (a mixed column: the compiled path refuses it)."""
    if style == "mixed":
        style = draw(st.sampled_from(["obj", "text"]))
    if style == "text" and isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=draw(st.booleans()))
    return value


@st.composite
def spend_batches(draw):
    n = draw(st.integers(1, 6))
    clean = draw(st.booleans())
    tstyle = draw(st.sampled_from(["naive", "z", "epoch", "offset"]))
    mstyle = draw(st.sampled_from(["obj", "text", "text", "mixed"]))
    tags_style = draw(st.sampled_from(["obj", "text", "text", "mixed"]))
    statuses = draw(st.sampled_from([["success", "failure", None, "None"], [200, 500, None],
                                     ["success", "failure", None, "None", 404, "bogus", 99]]))
    rows = []
    for i in range(n):
        t0 = draw(st.floats(1.7e9, 1.8e9, allow_nan=False))
        dur = draw(st.floats(0, 100, allow_nan=False))
        meta = draw(st.fixed_dictionaries({"user_api_key_alias": texts, "usage_object": usages}))
        over = {
            "request_id": f"r{i}" if clean else draw(texts),
            "startTime": iso(t0, tstyle), "endTime": iso(t0 + dur, tstyle),
            "model": draw(st.sampled_from(["gpt-4o", "gpt-4o-mini", " claude "]
                                          + ([] if clean else ["None", ""]))),
            "spend": draw(dollars if clean else messy_dollars),
            "prompt_tokens": draw(st.integers(0, 10**6)),
            "completion_tokens": draw(st.integers(0, 10**6)),
            "request_tags": styled(draw, draw(tag_lists if clean or draw(st.booleans())
                                              else messy_tags), tags_style),
            "metadata": styled(draw, meta, mstyle),
            "status": draw(st.sampled_from(statuses[:4] if clean else statuses)),
            "user": draw(texts), "end_user": draw(texts), "api_key": draw(texts),
        }
        if not clean and draw(st.booleans()):
            del over[draw(st.sampled_from(sorted(over)))]
        rows.append(spend_row(**over))
    return rows


@st.composite
def payload_batches(draw):
    n = draw(st.integers(1, 6))
    clean = draw(st.booleans())
    mstyle = draw(st.sampled_from(["obj", "obj", "text", "mixed"]))
    tags_style = draw(st.sampled_from(["obj", "obj", "text", "mixed"]))
    rows = []
    for i in range(n):
        t0 = draw(st.floats(1.7e9, 1.8e9, allow_nan=False))
        status = draw(st.sampled_from(["success", "failure", None]
                                      + ([] if clean else ["bogus", 503])))
        meta = {"user_api_key_hash": draw(texts), "user_api_key_alias": draw(texts),
                "user_api_key_user_id": draw(texts), "usage_object": draw(usages),
                "tags": styled(draw, draw(tag_lists if clean or draw(st.booleans())
                                          else messy_tags), tags_style)}
        over = {
            "id": f"p{i}" if clean else draw(texts), "litellm_call_id": draw(texts),
            "status": status, "startTime": t0,
            "endTime": draw(st.one_of(st.none(), st.floats(t0, t0 + 100, allow_nan=False))),
            "response_time": draw(st.one_of(st.none(), st.floats(0, 9, allow_nan=False))),
            "model": draw(st.sampled_from(["gpt-4o", "gpt-4o-mini"] + ([] if clean else [""]))),
            "metadata": styled(draw, meta, mstyle),
            "response_cost": draw(st.one_of(st.none(), dollars)),
            "request_tags": styled(draw, draw(tag_lists if clean or draw(st.booleans())
                                              else messy_tags), tags_style),
            "end_user": draw(texts),
            "error_information": {"error_code": draw(st.sampled_from(
                ["", "429", "500", "abc", None, "42"])), "error_class": ""},
            "hidden_params": {"usage_object": draw(usages) if not clean else None},
            "response": draw(st.one_of(st.just({}), st.builds(
                lambda u: {"id": "x", "usage": u}, usages))),
        }
        if draw(st.booleans()):
            over["prompt_tokens"] = over["completion_tokens"] = None
        if not clean and draw(st.booleans()):
            del over[draw(st.sampled_from(sorted(over)))]
        rows.append(payload(**over))
    return rows


metadata_maps = st.one_of(
    st.none(), st.just({}),
    st.dictionaries(st.sampled_from(["team", "env", "feature", "Customer", "b", "a"]),
                    st.one_of(st.sampled_from(["x", "prod", " spaced ", "a/b", "日本"]),
                              st.integers(0, 9), st.booleans(), st.none()), max_size=4),
)


@st.composite
def openai_batches(draw):
    n = draw(st.integers(1, 6))
    clean = draw(st.booleans())
    ts_kind = draw(st.sampled_from(["none", "iso", "epoch"]))
    rows = []
    for i in range(n):
        usage = draw(usages if not clean else usages.filter(
            lambda u: isinstance(u, dict) and ("prompt_tokens" in u or "input_tokens" in u)
            and not u.get("prompt_tokens", 0) < 0 and
            (u.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
            <= u.get("prompt_tokens", 99)))
        responses = draw(st.booleans())
        response = {"id": f"chatcmpl-{i}", "object": "response" if responses else
                    "chat.completion", "created": 1741569952 + i, "created_at": 1741569952,
                    "model": draw(st.sampled_from(["gpt-4o-2024-08-06", "gpt-4o-mini", ""])),
                    "usage": usage}
        status = draw(st.sampled_from([200, 200, 500, 429] + ([] if clean else [None, 99])))
        if status in (500, 429) and draw(st.booleans()):
            response = None
        meta = draw(metadata_maps if clean else st.one_of(
            metadata_maps, st.just({"nested": {"x": 1}}), st.just("text")))
        request = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi {x}"}],
                   "request_tags": draw(tag_lists if clean else st.one_of(
                       tag_lists, st.just("a,b"))),
                   "user": draw(texts)}
        if meta is not None or draw(st.booleans()):
            request["metadata"] = meta
        line = {"request": request, "response": response,
                "latency_ms": draw(st.one_of(st.none(), st.floats(0, 1e4, allow_nan=False))),
                "status": status}
        if ts_kind == "iso" or response is None:
            line["ts"] = "2025-03-10T01:25:52.5Z" if ts_kind != "epoch" else 1741569952.5
        elif ts_kind == "epoch":
            line["ts"] = 1741569952 + i * 0.25
        rows.append(line)
    return rows


OPENROUTER_HEADER = (
    "generation_id,created_at,cost_total,cost_web_search,cost_cache,cost_file_processing,"
    "byok_usage_inference,tokens_prompt,tokens_completion,tokens_reasoning,tokens_cached,"
    "model_permaslug,provider_name,variant,cancelled,streamed,user,finish_reason_raw,"
    "finish_reason_normalized,generation_time_ms,time_to_first_token_ms,api_key_disabled,"
    "api_key_name,app_name").split(",")


@st.composite
def openrouter_batches(draw):
    n = draw(st.integers(1, 6))
    clean = draw(st.booleans())
    counts = st.integers(0, 10**5).map(str) | (st.just("") if not clean else st.nothing())
    rows = []
    for i in range(n):
        t0 = draw(st.floats(1.7e9, 1.8e9, allow_nan=False))
        completion = draw(st.integers(0, 10**5))
        rows.append({
            "generation_id": f"gen-{i}" if clean else draw(texts),
            "created_at": iso(t0, draw(st.sampled_from(["naive", "z"]))),
            "cost_total": draw(st.one_of(dollars.map(repr), st.sampled_from(
                ["0.00012", "1.5e-06", "0.00022500000000000002"]
                + ([] if clean else ["", "-1", "$2.50", "abc", "1e-30"])))),
            "tokens_prompt": draw(counts), "tokens_completion": str(completion),
            "tokens_reasoning": draw(st.one_of(st.just(""), st.integers(0, completion).map(str),
                                               st.just(str(completion + 1)) if not clean
                                               else st.nothing())),
            "tokens_cached": draw(st.sampled_from(["", "0", "3"])),
            "model_permaslug": draw(st.sampled_from(["openai/gpt-oss-120b", " deepseek/x ",
                                                     *([] if clean else ["", "None"])])),
            "user": draw(texts) or "", "finish_reason_normalized": draw(st.sampled_from(
                ["stop", "error", "ERROR", "", "length"])),
            "generation_time_ms": draw(st.sampled_from(["", "812", "0.5", "nan"]
                                                       + ([] if clean else ["-3", "x"]))),
            "api_key_name": draw(texts) or "", "app_name": draw(st.sampled_from(
                ["My App", "", "a/b", " x "] + ([] if clean else ["a\tb"]))),
        })
    keep = draw(st.permutations(OPENROUTER_HEADER))
    if not clean:
        keep = keep[:draw(st.integers(10, len(keep)))]
    return [{k: r.get(k, "") for k in keep} for r in rows]


@st.composite
def helicone_batches(draw):
    from test_formats import helicone_record

    n = draw(st.integers(1, 6))
    clean = draw(st.booleans())
    props_style = draw(st.sampled_from(["obj", "text"]))
    rows = []
    for i in range(n):
        props = draw(st.one_of(st.none(), st.just({}), st.dictionaries(
            st.sampled_from(["Customer", "Env", "b", "a"]),
            st.sampled_from(["acme", "prod", "x/y", 3, True] + ([] if clean else [None, ""])),
            max_size=3)))
        over = {
            "request_id": f"q{i}" if clean else draw(texts),
            "request_created_at": iso(draw(st.floats(1.7e9, 1.8e9)), "z"),
            "response_created_at": draw(st.sampled_from([None, "2030-01-01T00:00:00Z"])),
            "response_status": draw(st.sampled_from([200, 500, -1, 0] if clean else
                                                    [200, "200", None, "x", 200.0])),
            "model": draw(st.sampled_from([None, "", "gpt-4o-mini"])),
            "prompt_tokens": draw(st.one_of(st.none(), st.integers(0, 99))),
            "completion_tokens": draw(st.one_of(st.none(), st.integers(0, 99))),
            "prompt_cache_read_tokens": draw(st.sampled_from([None, 0, 2])),
            "delay_ms": draw(st.one_of(st.none(), st.floats(0, 1e4, allow_nan=False))),
            "cost": draw(st.one_of(st.none(), dollars)),
            "request_properties": styled(draw, props, props_style),
            "properties": styled(draw, draw(st.sampled_from([None, {}, {"Z": "z"}])),
                                 props_style),
        }
        if not clean and draw(st.booleans()):
            del over[draw(st.sampled_from(sorted(over)))]
        rows.append(helicone_record(**over))
    return rows


def helicone_export_csv(rows) -> bytes:
    """What Helicone's own export tool writes (every value quoted, JSON quotes doubled)."""
    from test_formats import HELICONE_HEADER, helicone_csv_row

    return (",".join(HELICONE_HEADER) + "\n"
            + "".join(helicone_csv_row(r) + "\n" for r in rows)).encode()


meta_values = st.one_of(
    st.none(), st.just({}), st.just("not json"),
    st.dictionaries(st.sampled_from(["projectId", "team", "nested", "empty", "n", "b"]),
                    st.one_of(st.sampled_from(["p-1", "x", "", " ", "a/b"]), st.integers(0, 9),
                              st.booleans(), st.none(), st.just({"x": {"y": 1}}),
                              st.just([1, 2])), max_size=4))


@st.composite
def langfuse_batches(draw, observations: bool):
    from test_formats import trace
    from test_vendor_shapes import observation

    n = draw(st.integers(1, 6))
    mstyle = draw(st.sampled_from(["obj", "obj", "text", "mixed"]))
    tokens = draw(st.sampled_from([st.integers(0, 99), st.integers(0, 99).map(str)]))
    rows = []
    for i in range(n):
        t0 = draw(st.floats(1.7e9, 1.8e9, allow_nan=False))
        usage = draw(st.one_of(st.none(), st.just({}), st.fixed_dictionaries(
            {}, optional={"input": tokens, "output": tokens, "promptTokens": tokens,
                          "completionTokens": tokens, "total": tokens})))
        common = {
            "id": f"t{i}", "userId": draw(texts), "tags": draw(tag_lists),
            "metadata": styled(draw, draw(meta_values), mstyle),
            "totalCost": draw(st.one_of(st.none(), dollars)),
            "latency": draw(st.one_of(st.none(), st.floats(0, 99, allow_nan=False))),
            "level": draw(st.sampled_from([None, "DEFAULT", "ERROR", "error"])),
        }
        if observations:
            rows.append(observation(
                **common, type=draw(st.sampled_from(["GENERATION", "SPAN", "EMBEDDING", None,
                                                     "generation"])),
                startTime=iso(t0, "z"),
                endTime=draw(st.sampled_from([None, iso(t0 + 1.5, "z")])),
                usageDetails=usage, costDetails=draw(st.sampled_from(
                    [None, {}, {"total": 0.0000163}]))))
        else:
            rows.append(trace(**common, timestamp=iso(t0, "z"), usage=usage))
    return rows


policies = st.sampled_from([None, TagPolicy(case="lower"), TagPolicy(on_invalid="drop"),
                            TagPolicy(max_tags=2)])
LAYOUTS = ["json", "json-indent", "jsonl", "jsonl-crlf", "json-lines", "csv"]
SETTINGS = dict(max_examples=int(os.environ.get("VF_EXAMPLES", 60)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ------------------------------------------------------------------------------ oracle tests


@settings(**SETTINGS)
@given(spend_batches(), st.sampled_from(LAYOUTS), policies,
       st.sampled_from(["raise", "skip"]), st.sampled_from(["path", "keep"]))
def test_spend_logs_equal_the_python_path(rows, layout, policy, on_error, kv):
    data, name = laid_out(rows, layout)
    agree(tc.read_litellm_spend_logs, data, name, policy=policy, on_error=on_error,
          key_value=kv)


@settings(**SETTINGS)
@given(payload_batches(), st.sampled_from(LAYOUTS), policies,
       st.sampled_from(["raise", "skip"]), st.sampled_from(["path", "keep"]))
def test_payloads_equal_the_python_path(rows, layout, policy, on_error, kv):
    data, name = laid_out(rows, layout)
    agree(tc.read_litellm_payloads, data, name, policy=policy, on_error=on_error,
          key_value=kv)


@settings(**SETTINGS)
@given(openrouter_batches(), st.sampled_from(["csv", "json", "jsonl"]), policies,
       st.sampled_from(["raise", "skip"]))
def test_openrouter_equal_the_python_path(rows, layout, policy, on_error):
    data, name = laid_out(rows, layout)
    agree(tc.read_openrouter_activity, data, name, policy=policy, on_error=on_error)


@settings(**SETTINGS)
@given(helicone_batches(), st.sampled_from(LAYOUTS[:5] + ["csv", "helicone-csv"]), policies,
       st.sampled_from(["raise", "skip"]), st.booleans())
def test_helicone_equal_the_python_path(rows, layout, policy, on_error, priced):
    if layout == "helicone-csv":
        data, name = helicone_export_csv(rows), "h.csv"
    else:
        data, name = laid_out(rows, layout)
    tables = [PriceTable(copy.deepcopy(TABLE)) if priced else None for _ in range(2)]
    agree(tc.read_helicone_export, data, name, tables, policy=policy, on_error=on_error)
    if priced:
        assert tables[0].unpriced == tables[1].unpriced


@settings(**SETTINGS)
@given(st.data(), st.booleans(), st.sampled_from(LAYOUTS), policies,
       st.sampled_from(["raise", "skip"]), st.sampled_from(["path", "keep"]), st.booleans())
def test_langfuse_equal_the_python_path(data, observations, layout, policy, on_error, kv,
                                        metadata_tags):
    rows = data.draw(langfuse_batches(observations))
    read = tc.read_langfuse_observations if observations else tc.read_langfuse_traces
    agree(read, *laid_out(rows, layout), policy=policy, on_error=on_error, key_value=kv,
          metadata_tags=metadata_tags)


TABLE = {"gpt-4o": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
                    "cache_read_input_token_cost": 1.25e-06}}


@settings(**SETTINGS)
@given(openai_batches(), st.sampled_from(LAYOUTS[:5]), policies,
       st.sampled_from(["raise", "skip"]), st.booleans())
def test_openai_logs_equal_the_python_path(rows, layout, policy, on_error, priced):
    data, name = laid_out(rows, layout)
    tables = [PriceTable(copy.deepcopy(TABLE)) if priced else None for _ in range(2)]
    agree(tc.read_openai_log, data, name, tables, policy=policy, on_error=on_error)
    if priced:  # the table counted the same requests, in the same order
        assert tables[0].unpriced == tables[1].unpriced
        assert tables[0].fallbacks == tables[1].fallbacks


# ------------------------------------------------------------------------------ fast answers


def test_clean_files_take_the_compiled_path():
    spend = [spend_row(request_id=f"r{i}", request_tags=json.dumps(["a:b", f"c/{i % 3}"]))
             for i in range(50)]
    loads = [payload(id=f"p{i}", request_tags=["x", f"y:{i % 4}"]) for i in range(50)]
    lines = [openai_line(request={"model": "gpt-4o", "request_tags": ["t"],
                                  "metadata": {"team": f"t{i % 5}", "env": "prod"}})
             for i in range(50)]
    for read, recs, layouts in ((tc.read_litellm_spend_logs, spend, LAYOUTS),
                                (tc.read_litellm_payloads, loads, LAYOUTS[:5]),
                                (tc.read_openai_log, lines, LAYOUTS[:5])):
        for layout in layouts:
            log = fast_only(read, *laid_out(recs, layout))
            assert len(log) == 50
    log = fast_only(tc.read_openai_log, *laid_out(lines, "jsonl"))
    assert log.tags_of(0) == ["t", "team/t0", "env/prod"]


def test_clean_files_of_the_other_vendors_take_the_compiled_path():
    from test_formats import helicone_record, trace
    from test_vendor_shapes import observation

    helicone = [helicone_record(request_id=f"q{i}", request_properties={"Customer": f"c{i % 3}",
                                                                        "Env": "prod"})
                for i in range(30)]
    for layout in ("json", "jsonl", "csv"):
        log = fast_only(tc.read_helicone_export, *laid_out(helicone, layout))
        assert log.tags_of(1) == ["Customer/c1", "Env/prod"]
    log = fast_only(tc.read_helicone_export, helicone_export_csv(helicone), "h.csv")
    assert len(log) == 30
    traces = [trace(id=f"t{i}", metadata={"team": f"t{i % 4}", "nested": {"x": 1}})
              for i in range(30)]
    for layout in ("json", "jsonl"):
        log = fast_only(tc.read_langfuse_traces, *laid_out(traces, layout))
        assert log.tags_of(2) == ["env/production", "no-context", "team/t2"]
    observations = [observation(id=f"o{i}", type="SPAN" if i % 3 == 0 else "GENERATION")
                    for i in range(30)]
    log = fast_only(tc.read_langfuse_observations, *laid_out(observations, "jsonl"))
    assert len(log) == 20
    rows = [{"generation_id": f"gen-{i}", "created_at": "2026-02-06 18:54:30.040",
             "cost_total": "0.00012", "tokens_prompt": "100", "tokens_completion": "20",
             "model_permaslug": "openai/gpt-oss-120b", "api_key_name": "prod-key",
             "app_name": "", "user": f"u{i % 2}"} for i in range(30)]
    log = fast_only(tc.read_openrouter_activity, *laid_out(rows, "csv"))
    assert log.tags_of(1) == ["key/prod-key", "user/u1"]


def test_sources_paths_gzip_stdin_streams_and_bom(tmp_path, monkeypatch):
    recs = [payload(id=f"p{i}") for i in range(5)]
    text = as_jsonl(recs)
    want = fast_only(tc.read_litellm_payloads, text, "x.jsonl")
    path = tmp_path / "p.jsonl.gz"
    path.write_bytes(gzip.compress(b"\xef\xbb\xbf" + text))
    same_log(tc.read_litellm_payloads(path), want)
    assert fast.LAST[0] == "fast"
    same_log(tc.read_litellm_payloads(io.StringIO(text.decode())), want)
    assert fast.LAST[0] == "fast"

    class Stdin:
        buffer = io.BytesIO(text)

    monkeypatch.setattr(sys, "stdin", Stdin)
    same_log(tc.read_litellm_payloads("-"), want)
    assert fast.LAST[0] == "fast"


def test_a_refused_stream_is_read_once_and_answered_by_the_python_path(monkeypatch):
    rows = [spend_row(), spend_row(status=404)]  # one status text, one number: refused
    src = io.StringIO(json.dumps(rows))
    log = tc.read_litellm_spend_logs(src)
    assert fast.LAST[0].startswith("refused")
    assert log.status.tolist() == [200, 404]
    with pytest.raises(tc.FormatError, match=r"^x.json:2: spend: missing$"):
        tc.read_litellm_spend_logs(named_stream(as_jsonl([spend_row(), spend_row(spend=None)]),
                                                "x.json"))


def named_stream(data: bytes, name: str) -> io.BytesIO:
    s = io.BytesIO(data)
    s.name = name
    return s


@pytest.mark.parametrize("late", ["StartTime", " model", "Request_Tags", "metad\\u0061ta",
                                  "STATUS"])
def test_a_key_spelled_otherwise_later_is_refused(late):
    rows = [spend_row(request_id=f"r{i}") for i in range(1200)]
    text = as_jsonl(rows).decode()
    key = {"StartTime": "startTime", " model": "model", "Request_Tags": "request_tags",
           "metad\\u0061ta": "metadata", "STATUS": "status"}[late]
    lines = text.splitlines()
    lines[-1] = lines[-1].replace(f'"{key}"', f'"{late}"', 1)
    what = agree(tc.read_litellm_spend_logs, ("\n".join(lines) + "\n").encode(), "x.jsonl")
    assert what.startswith("refused"), what


def test_json_arrays_strings_with_brackets_escapes_and_bad_structure():
    rows = [spend_row(request_id='a "quoted" ] } [ { id\\', request_tags='["x\\\\y", "a\\"b"]'),
            spend_row(request_id="r2", user="[{]}")]
    assert agree(tc.read_litellm_spend_logs, as_json(rows), "x.json") == "fast"
    assert agree(tc.read_litellm_spend_logs, as_json(rows, indent=4), "x.json") == "fast"
    for bad in (b"[" + as_jsonl(rows[:1]).strip() + b", 1]",
                b"[" + as_jsonl(rows[:1]).strip() + b",]",
                b"[" + as_jsonl(rows[:1]).strip() + b"] x",
                b"[[" + as_jsonl(rows[:1]).strip() + b"]]",
                b'{"data": ' + as_json(rows) + b"}",
                b"[" + as_jsonl(rows[:1]).strip() + b" " + as_jsonl(rows[:1]).strip() + b"]",
                as_json(rows).replace(b"0.000225", b"-NaN"),
                as_json(rows).replace(b'"r2"', b'"r\n2"'),  # a raw line end in a string
                b"[" + b"[" * 3000 + b"]" * 3000 + b"]"):
        what = agree(tc.read_litellm_spend_logs, bad, "x.json")
        assert what.startswith("refused"), (bad[:80], what)


def test_usage_objects_empty_or_not():
    base = payload()
    failed = payload(id="f", status="failure", prompt_tokens=None, completion_tokens=None,
                     response={}, metadata={"usage_object": {}, "tags": ["x"]},
                     hidden_params={"usage_object": {"prompt_tokens": 3,
                                                     "completion_tokens": 1}})
    assert agree(tc.read_litellm_payloads, as_jsonl([base, failed]), "x.jsonl") != "fast"
    failed["hidden_params"] = {}
    assert agree(tc.read_litellm_payloads, as_jsonl([base, failed]), "x.jsonl") == "fast"
    unknown = copy.deepcopy(failed)
    unknown["metadata"]["usage_object"] = {"total_tokens": 0}
    assert agree(tc.read_litellm_payloads, as_jsonl([base, unknown]), "x.jsonl") != "fast"


@pytest.mark.parametrize("policy", [TagPolicy(on_invalid="drop"), TagPolicy(max_tags=1)])
def test_tags_a_policy_drops_are_left_to_the_python_path(policy):
    rows = [spend_row(request_tags=json.dumps(["a", "b", "a\tb"]))]
    what = agree(tc.read_litellm_spend_logs, as_json(rows), "x.json", policy=policy)
    assert what.startswith("refused")


def test_metadata_key_order_and_trie_order_are_the_python_paths():
    lines = [openai_line(request={"model": "m", "metadata": {"b": "2", "a": "1"},
                                  "request_tags": ["z/y"]}),
             openai_line(request={"model": "m", "metadata": {"a": "1", "b": "2"}}),
             openai_line(request={"model": "m", "metadata": {"c": {"x": 1}}},
                         status=500, response=None, ts="2025-01-01")]
    what = agree(tc.read_openai_log, as_jsonl(lines[:2]), "x.jsonl")
    assert what == "fast"
    log = fast_only(tc.read_openai_log, as_jsonl(lines[:2]), "x.jsonl")
    assert log.tags_of(0) == ["z/y", "b/2", "a/1"] and log.tags_of(1) == ["a/1", "b/2"]
    agree(tc.read_openai_log, as_jsonl(lines), "x.jsonl")  # the nested value: an error


# ------------------------------------------------------------------------------ coerce


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                          st.floats(1e9, 2e9), st.floats(-1e3, 1e3),
                          st.integers(-2**40, 2**40).map(float)), max_size=40))
def test_epoch_floats_are_coerces(values):
    x = np.array(values, dtype=np.float64)
    got = fast._epoch_floats(x)
    want = times_to_nanos_masked(x)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


money_text = st.one_of(
    st.builds(lambda n, k: str(__import__("decimal").Decimal(n).scaleb(-k)),
              st.integers(0, 10**22), st.integers(0, 24)),
    st.floats(0, 1e9, allow_nan=False).map(repr),
    st.sampled_from(["0.00022500000000000002", "1e-12", "2.5e-9", "3.5E-09", ".5", "5.",
                     "$2.50", " 7 ", "0", "1e-99", "123456789.0000000005"]))


@settings(max_examples=200, deadline=None)
@given(st.lists(money_text, min_size=1, max_size=30))
def test_dollar_text_is_coerces(values):
    from tagcore.coerce import dollars_to_nanos_masked

    want, miss, bad = dollars_to_nanos_masked(values)
    try:
        got = fast._dollar_text(pa.array([v.strip() for v in values]))
    except fast._Refused:
        assert bad.any() or (want < 0).any()
        return
    assert not bad.any()
    np.testing.assert_array_equal(got, want)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=8), st.sampled_from(
    ["None", " null ", "NaN", "nat", "\u00a0x\u2003", "\x1cid\x1f", "n", "none1", "ok"])),
    max_size=30))
def test_texts_are_the_python_paths(values):
    from tagcore.io._vendor import _text

    got = fast.texts(pa.array(values, pa.string())).to_pylist()
    assert got == [_text(v) for v in values]


# ------------------------------------------------------------------------------ real data


def test_real_litellm_and_openai_files(shared_file):
    example = json.loads(shared_file("formats", "litellm",
                                     "example_standard_logging_payload.json").read_text())
    recs = [dict(example, id=f"p{i}") for i in range(3)]
    for layout in ("json", "jsonl"):
        assert agree(tc.read_litellm_payloads, *laid_out(recs, layout)) == "fast"
    spend = json.loads(shared_file("formats", "litellm", "spend_logs_payload.json").read_text())
    rows = spend if isinstance(spend, list) else [spend]
    for layout in ("json", "jsonl", "csv"):
        agree(tc.read_litellm_spend_logs, *laid_out(rows * 3, layout))
    path = shared_file("formats", "openai", "recorded_responses.jsonl")
    table_path = shared_file("formats", "litellm", "pricing",
                             "model_prices_and_context_window_backup.json")
    lines = []
    for i, raw in enumerate(path.read_text().splitlines()):
        response = json.loads(raw)["response"]
        lines.append({"request": {"model": response["model"], "request_tags": [f"test/{i}"],
                                  "metadata": {"run": str(i % 2)}},
                      "response": response, "latency_ms": 100.0 + i, "status": 200})
    tables = [PriceTable.from_litellm(table_path) for _ in range(2)]
    assert agree(tc.read_openai_log, as_jsonl(lines), "r.jsonl", tables) == "fast"
    assert tables[0].unpriced == tables[1].unpriced == {}


def test_payloads_made_by_litellm_itself():
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    litellm = pytest.importorskip("litellm")
    from test_litellm_logger import MESSAGES, Reported

    seen = Reported()
    old = list(litellm.callbacks)
    litellm.callbacks = [seen]
    try:
        for i, model in enumerate(["gpt-4o-mini", "gpt-4o", "gpt-4o-mini"]):
            litellm.completion(model=model, messages=MESSAGES, mock_response="Hello!",
                               metadata={"tags": ["customer/acme", f"feature:f{i}"]})
        with pytest.raises(Exception, match="boom"):
            litellm.completion(model="gpt-4o", messages=MESSAGES,
                               mock_response=Exception("boom"),
                               metadata={"tags": ["customer/acme"]})
        import time

        end = time.monotonic() + 30
        while len(seen.payloads) < 4 and time.monotonic() < end:
            time.sleep(0.02)
    finally:
        litellm.callbacks = old
    assert len(seen.payloads) == 4
    recs = [json.loads(json.dumps(p, default=str)) for p in seen.payloads]
    for layout in ("json", "jsonl"):
        log = fast_only(tc.read_litellm_payloads, *laid_out(recs, layout))
        assert sorted(log.status.tolist()) == [200, 200, 200, 500]
