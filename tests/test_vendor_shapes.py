"""Issue 11, items 4 and 5a: every vendor reader refuses what is not its format, ``read_any``
(and so the CLI) recognises each format by its fields, and LiteLLM's ``StandardLoggingPayload``
records are read (``read_litellm_payloads``).

The real files are ../shared/data/formats/litellm/example_standard_logging_payload.json (from
the litellm 1.110.2 wheel) and spend_logs_payload.json (BerriAI/litellm's test fixture); the
tests that need them skip when the folder is absent (tests/conftest.py).
"""

from __future__ import annotations

import copy
import csv
import gzip
import io
import json
import sys
import warnings
from pathlib import Path

import pytest

import tagcore as tc
from tagcore.cli import main
from tagcore.io._shapes import SHAPES, recognise

# ----------------------------------------------------------------------------- one of each


def native_rec(**over):
    rec = {"ts": "2025-01-24T09:20:46Z", "model": "gpt-4o", "prompt_tokens": 10,
           "completion_tokens": 20, "cost": 0.000225, "latency_ms": 4.5, "status": 200,
           "request_tags": ["customer/acme"]}
    rec.update(over)
    return rec


def openai_line(**over):
    line = {"request": {"model": "gpt-4o", "request_tags": ["customer/acme"]},
            "response": {"id": "chatcmpl-1", "object": "chat.completion", "created": 1741569952,
                         "model": "gpt-4o-2024-08-06",
                         "usage": {"prompt_tokens": 19, "completion_tokens": 10}},
            "latency_ms": 812.5, "status": 200}
    line.update(over)
    return line


def spend_row(**over):
    row = {"request_id": "chatcmpl-1", "call_type": "acompletion", "api_key": "",
           "startTime": "2025-01-24 09:20:46.847371", "endTime": "2025-01-24 09:20:46.851954",
           "model": "gpt-4o", "spend": 0.00022500000000000002, "total_tokens": 30,
           "prompt_tokens": 10, "completion_tokens": 20, "request_tags": '["product:chat-bot"]',
           "metadata": "{}", "status": "success"}
    row.update(over)
    return row


def payload(**over):
    """A StandardLoggingPayload as litellm 1.110.2 fills it (the fields tagcore reads)."""
    p = {"id": "chatcmpl-2299b6a2", "trace_id": "97311c60", "litellm_call_id": "c-1",
         "call_type": "acompletion", "stream": False, "status": "success",
         "custom_llm_provider": "openai", "saved_cache_cost": 0.0,
         "startTime": 1766000068.28466, "endTime": 1766000070.07935,
         "completionStartTime": 1766000070.07935, "response_time": 1.79468512535095,
         "model": "gpt-4o", "model_group": "", "model_id": "", "api_base": "",
         "metadata": {"user_api_key_hash": "88dc", "user_api_key_alias": None,
                      "user_api_key_user_id": "u-7", "usage_object": {
                          "prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30,
                          "prompt_tokens_details": {"cached_tokens": 4},
                          "completion_tokens_details": {"reasoning_tokens": 5}}},
         "cache_hit": None, "cache_key": None, "response_cost": 0.00022500000000000002,
         "total_tokens": 30, "prompt_tokens": 10, "completion_tokens": 20,
         "request_tags": ["customer/acme", "feature:chat"], "end_user": "",
         "requester_ip_address": None, "messages": [{"role": "user", "content": "hi"}],
         "response": {"id": "chatcmpl-2299b6a2", "object": "chat.completion",
                      "model": "gpt-4o", "usage": {"prompt_tokens": 10,
                                                   "completion_tokens": 20}},
         "model_parameters": {}, "hidden_params": {"response_cost": 0.000225},
         "model_map_information": {"model_map_key": "gpt-4o"}, "error_str": None,
         "error_information": {"error_code": "", "error_class": ""}}
    p.update(over)
    return p


def helicone_rec(**over):
    rec = {"request_id": "q1", "request_created_at": "2024-08-01T10:00:00.000Z",
           "response_status": 200, "request_model": "gpt-4o-mini", "prompt_tokens": 12,
           "completion_tokens": 5, "delay_ms": 640, "cost": 0.0000048,
           "request_properties": {"Customer": "acme"}}
    rec.update(over)
    return rec


def trace(**over):
    t = {"id": "t1", "timestamp": "2025-01-15T10:30:45.000Z", "name": "chat", "userId": "u1",
         "tags": ["env:production"], "latency": 1.234, "totalCost": 0.015,
         "htmlPath": "/project/p/traces/t1", "observations": ["o1"]}
    t.update(over)
    return t


def observation(**over):
    o = {"id": "o1", "traceId": "t1", "type": "GENERATION",
         "startTime": "2025-01-15T10:30:46.000Z", "endTime": "2025-01-15T10:30:47.250Z",
         "model": "gpt-4o", "usageDetails": {"input": 94, "output": 11},
         "costDetails": {"total": 0.0000163}, "tags": ["env:production"]}
    o.update(over)
    return o


OPENROUTER_CSV = (
    "generation_id,created_at,cost_total,tokens_prompt,tokens_completion,model_permaslug,"
    "api_key_name\ngen-1,2026-02-06 18:54:30.040,0.00012,100,20,openai/gpt-oss-120b,prod-key\n")


def as_json(*recs) -> str:
    return json.dumps(list(recs))


def as_jsonl(*recs) -> str:
    return "".join(json.dumps(r) + "\n" for r in recs)


def as_csv(*recs) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(recs[0]))
    w.writeheader()
    for r in recs:
        w.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in r.items()})
    return buf.getvalue()


def named(text: str, name: str) -> io.StringIO:
    f = io.StringIO(text)
    f.name = name  # type: ignore[misc]
    return f


# one file per format, with its reader
SAMPLES = {
    "openai_log": (as_jsonl(openai_line()), "log.jsonl", tc.read_openai_log),
    "litellm_spend_logs": (as_json(spend_row()), "spend.json", tc.read_litellm_spend_logs),
    "litellm_payloads": (as_json(payload()), "payloads.json", tc.read_litellm_payloads),
    "helicone": (as_json(helicone_rec()), "helicone.json", tc.read_helicone_export),
    "langfuse_traces": (json.dumps({"data": [trace()]}), "traces.json", tc.read_langfuse_traces),
    "langfuse_observations": (as_json(observation()), "obs.json",
                              tc.read_langfuse_observations),
    "openrouter": (OPENROUTER_CSV, "activity.csv", tc.read_openrouter_activity),
}


def rows(log: tc.RequestLog) -> list[dict]:
    return log.to_pandas().astype(object).where(log.to_pandas().notna(), None).to_dict("records")


@pytest.fixture
def format_file(shared_file):
    return lambda *parts: shared_file("formats", *parts)


# ================================================================= item 4: the readers refuse


@pytest.mark.parametrize("reader_shape", list(SAMPLES))
@pytest.mark.parametrize("file_shape", list(SAMPLES))
def test_every_vendor_reader_refuses_every_other_format(reader_shape, file_shape):
    text, name, _ = SAMPLES[file_shape]
    reader = SAMPLES[reader_shape][2]
    if reader_shape == file_shape:
        assert len(reader(named(text, name))) == 1
        return
    with pytest.raises(tc.FormatError) as info:
        reader(named(text, name))
    msg = str(info.value)
    assert msg.startswith(f"{name}:")
    shape = SHAPES[reader_shape]
    if text.startswith("generation_id"):  # a CSV: its reader's required columns, or its fields
        assert "missing required column" in msg or "the header" in msg
    else:
        assert f"not {shape.title}: " in msg
        assert shape.fields[0] in msg  # names the fields it expected
    # and says which reader reads it
    assert SHAPES[file_shape].reader in msg, msg


def test_langfuse_observations_no_longer_read_litellm_payloads_as_zeros(format_file):
    """The issue's worst case: 300 real payloads read as 0 tokens, $0 and no tags."""
    real = json.loads(format_file("litellm", "example_standard_logging_payload.json").read_text())
    many = [dict(copy.deepcopy(real), id=f"r{i}", request_tags=["customer/acme"])
            for i in range(300)]
    for text in (json.dumps(many), as_jsonl(*many)):
        with pytest.raises(tc.FormatError) as info:
            tc.read_langfuse_observations(named(text, "payloads.json"))
        msg = str(info.value)
        assert msg.startswith("payloads.json: not Langfuse observations: none of its fields "
                              "(one of 'traceId', 'type', 'usageDetails'")
        assert "in the first 100 records" in msg
        assert msg.endswith("read them with tc.read_litellm_payloads")
        with pytest.raises(tc.FormatError):  # on_error="skip" skips rows, not the format
            tc.read_langfuse_observations(named(text, "payloads.json"), on_error="skip")
    log = tc.read_litellm_payloads(named(json.dumps(many), "payloads.json"))
    assert len(log) == 300 and log.prompt_tokens.sum() == 3000
    assert log.cost.sum() == 300 * 225_000
    assert log.rollup().loc["customer/acme", "requests"] == 300


def test_real_payload_refused_by_the_other_litellm_and_openai_readers(format_file):
    path = format_file("litellm", "example_standard_logging_payload.json")
    with pytest.raises(tc.FormatError, match=r"not a LiteLLM SpendLogs export: none of its "
                       r"fields \('spend'\).*read them with tc.read_litellm_payloads$"):
        tc.read_litellm_spend_logs(path)
    # it has OpenAI's ``response`` object, and LiteLLM's response_cost with it
    with pytest.raises(tc.FormatError, match=r"not an OpenAI request/response log: the first "
                       r"record \(.*\) also has 'response_cost'.*tc.read_litellm_payloads$"):
        tc.read_openai_log(path)
    with pytest.raises(tc.FormatError, match=r"read them with tc.read_litellm_spend_logs$"):
        tc.read_litellm_payloads(format_file("litellm", "spend_logs_payload.json"))


def test_csv_header_refusals_name_the_fields_and_the_reader():
    hel = ("response_id,response_created_at,response_status,request_created_at,request_body,"
           "request_properties,request_user_id,model,prompt_tokens,completion_tokens,latency,"
           "cost_usd\n")
    with pytest.raises(tc.FormatError, match=r"^h.csv:1: missing required columns 'created_at'.*"
                       r"these are the fields of a Helicone export: read them with "
                       r"tc.read_helicone_export$"):
        tc.read_openrouter_activity(named(hel, "h.csv"))
    # a CSV of payloads has the startTime the observations reader requires, none of its fields
    with pytest.raises(tc.FormatError, match=r"^p.csv: not Langfuse observations: none of its "
                       r"fields .* in the header \("):
        tc.read_langfuse_observations(named(as_csv(payload()), "p.csv"))
    assert len(tc.read_litellm_payloads(named(as_csv(payload()), "p.csv"))) == 1


def test_a_field_in_a_later_record_is_enough_and_empty_input_is_empty():
    # the fields of the first 100 records are looked at together
    text = as_jsonl({"note": "header line"}, openai_line())
    with pytest.raises(tc.FormatError, match=r"log.jsonl:1: status: missing"):
        tc.read_openai_log(named(text, "log.jsonl"))  # a row error, not a format refusal
    assert len(tc.read_litellm_payloads(named("[]", "empty.json"))) == 0
    # bad JSON lines say so themselves (nothing to judge the format by)
    with pytest.raises(tc.FormatError, match=r"x.jsonl:1: line: invalid JSON"):
        tc.read_litellm_payloads(named("{oops\n", "x.jsonl"))


# ============================================================ item 4: read_any recognises


@pytest.mark.parametrize("shape", list(SAMPLES))
def test_read_any_recognises_each_vendor_format(tmp_path, shape):
    text, name, reader = SAMPLES[shape]
    path = tmp_path / name
    path.write_text(text)
    want = rows(reader(path))
    assert rows(tc.read_any(path)) == want
    # the same by content alone: no name, gzip, stdin-like streams
    gz = tmp_path / (name + ".gz")
    gz.write_bytes(gzip.compress(text.encode()))
    assert rows(tc.read_any(gz)) == want
    assert rows(tc.read_any(io.BytesIO(text.encode()))) == want
    assert recognise(_fields(text)).name == shape


def _fields(text: str) -> set[str]:
    from tagcore.io._shapes import sample_fields

    layout = "csv" if not text.lstrip().startswith(("[", "{")) else "json"
    got = sample_fields(text.encode(), layout)
    assert got is not None
    return got[0]


@pytest.mark.parametrize("layout", ["jsonl", "json", "csv"])
def test_read_any_still_reads_native_logs(tmp_path, layout):
    recs = [native_rec(), native_rec(request_tags=["b/c"], cost=0.5)]
    text = {"jsonl": as_jsonl(*recs), "json": as_json(*recs), "csv": as_csv(*recs)}[layout]
    path = tmp_path / f"log.{layout}"
    path.write_text(text)
    log = tc.read_any(path)
    assert log.cost.tolist() == [225_000, 500_000_000] and log.tags_of(1) == ["b/c"]
    # only ts and request_tags (item 2: the other columns may be missing) is native too
    assert recognise({"ts", "request_tags"}).name == "native"


def test_read_any_refuses_what_matches_no_format_or_several(tmp_path, format_file):
    path = format_file("openai", "chat_completion_example_response.json")
    with pytest.raises(tc.FormatError) as info:
        tc.read_any(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: not a log format tagcore knows: its fields (choices, ")
    for shape in SHAPES.values():
        assert shape.title in msg and repr(shape.fields[0]) in msg
    both = tmp_path / "both.jsonl"
    both.write_text(as_jsonl(native_rec(timestamp="2025-01-15T10:30:45Z")))
    with pytest.raises(tc.FormatError, match=r"match more than one log format, so tagcore will "
                       r"not guess: a tagcore log .*; Langfuse traces .*read it with "
                       r"tc.read_langfuse_traces\)$"):
        tc.read_any(both)
    # a vendor's own reader reads it when told
    assert len(tc.read_langfuse_traces(both)) == 1
    spend = tmp_path / "spend.json"
    spend.write_text(as_json(spend_row(response_cost=0.1)))
    with pytest.raises(tc.FormatError, match="more than one log format"):
        tc.read_any(spend)


def test_read_any_vendor_errors_trie_and_big_first_record(tmp_path):
    path = tmp_path / "spend.json"
    path.write_text(as_json(spend_row(), spend_row(prompt_tokens="abc")))
    with pytest.raises(tc.FormatError, match=r"spend.json: record 2: prompt_tokens"):
        tc.read_any(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        log = tc.read_any(path, on_error="skip")
    assert len(log) == 1 and log.dropped_rows == 1
    with pytest.raises(ValueError, match=r"trie: applies to tagcore's own logs; .*spend.json is "
                       r"a LiteLLM SpendLogs export"):
        tc.read_any(path, trie=tc.TagTrie())
    # a first record longer than the head read to decide (1 MiB) is read whole to decide
    big = tmp_path / "big.jsonl"
    big.write_text(as_jsonl(payload(messages=[{"role": "user", "content": "x" * (2 << 20)}]),
                            payload(id="r2")))
    assert tc.read_any(big).prompt_tokens.tolist() == [10, 10]
    # a first record that is no JSON at all: the native reader says where
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    with pytest.raises(tc.LogError, match="line 1"):
        tc.read_any(bad)


# ================================================================== item 4: the CLI reads them


def run(capsys, *args):
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_report_of_real_litellm_files(capsys, format_file):
    spend = format_file("litellm", "spend_logs_payload.json")
    rc, out, err = run(capsys, "report", str(spend))
    assert rc == 0, err
    assert "1 request, 2025-01-24 09:20" in out and "gpt-4o" in out and "30 (prompt 10" in out
    rc, out, err = run(capsys, "report", str(format_file("litellm",
                                                          "example_standard_logging_payload.json")))
    assert rc == 0, err
    assert "1 request, 2025-12-17" in out and "p50 1,795 ms" in out
    rc, out, err = run(capsys, "report", str(format_file("openai",
                                                          "chat_completion_example_response.json")))
    assert rc == 2 and out == ""
    assert err.startswith("tagcore: error: ") and err.count("\n") == 1
    assert "not a log format tagcore knows" in err


def test_cli_export_of_payloads_jsonl_from_stdin(capsys, monkeypatch, tmp_path):
    text = as_jsonl(payload(), payload(id="r2", request_tags=["customer/beta"]))

    class Stdin:
        buffer = io.BytesIO(text.encode())

    monkeypatch.setattr(sys, "stdin", Stdin)
    dest = tmp_path / "out.csv"
    rc, _, err = run(capsys, "export", "-", "-o", str(dest))
    assert rc == 0, err
    back = tc.read_any(dest)
    assert back.cost.tolist() == [225_000, 225_000]
    assert [back.tags_of(i) for i in range(2)] == [["customer/acme", "feature/chat"],
                                                   ["customer/beta"]]


# ============================================================ item 5a: StandardLoggingPayload


def test_read_litellm_payloads_real_example(format_file):
    path = format_file("litellm", "example_standard_logging_payload.json")
    real = json.loads(path.read_text())
    log = tc.read_litellm_payloads(path)
    assert len(log) == 1 and log.models == ("gpt-4o",)
    assert (int(log.prompt_tokens[0]), int(log.completion_tokens[0])) == (10, 20)
    assert log.cost.tolist() == [tc.dollars_to_nanos(real["response_cost"])] == [225_000]
    assert log.ts.tolist() == [tc.time_to_nanos(real["startTime"])]
    assert float(log.latency_ms[0]) == pytest.approx(
        (real["endTime"] - real["startTime"]) * 1000, abs=1e-3)
    assert int(log.status[0]) == 200 and log.tags_of(0) == []
    assert log.extra_strings("request_id").tolist() == [real["id"]]
    assert log.problems == ()
    # the same records as JSONL, and as one object per record of an API page
    for text in (as_jsonl(real, real), json.dumps({"data": [real, real]})):
        assert tc.read_litellm_payloads(io.StringIO(text)).cost.tolist() == [225_000] * 2


def test_read_litellm_payloads_fields():
    recs = [
        payload(),
        payload(id="r2", status="failure", prompt_tokens=0, completion_tokens=0,
                response_cost=0.0, metadata={}, response=None,
                error_information={"error_code": "429", "error_class": "RateLimitError"},
                request_tags=[]),
        payload(id="r3", status="failure", prompt_tokens=None, completion_tokens=None,
                metadata={"tags": ["team:search"]}, request_tags=None, response=None,
                error_information={"error_code": "", "error_class": "Timeout"},
                response_cost=None, endTime=None, response_time=0.25),
        payload(id="r4", prompt_tokens=None, completion_tokens=None, response_cost=None,
                metadata={"usage_object": {"prompt_tokens": 7, "completion_tokens": 3}},
                request_tags=["product:chat-bot", "User-Agent: OpenAI/Python 1.40.0"]),
    ]
    log = tc.read_litellm_payloads(io.StringIO(as_json(*recs)))
    assert log.status.tolist() == [200, 429, 500, 200]
    assert log.prompt_tokens.tolist() == [10, 0, 0, 7]
    assert log.completion_tokens.tolist() == [20, 0, 0, 3]
    assert log.extras["cached_tokens"].tolist() == [4, 0, 0, 0]
    assert log.extras["reasoning_tokens"].tolist() == [5, 0, 0, 0]
    assert log.latency_ms.tolist()[2] == 250.0
    assert [log.tags_of(i) for i in range(4)] == [
        ["customer/acme", "feature/chat"], [], ["team/search"],
        ["product/chat-bot", "User-Agent/OpenAI/Python 1.40.0"]]
    # a cost LiteLLM did not give is unknown, never $0: flagged and counted
    assert log.cost.tolist() == [225_000, 0, 0, 0]
    assert log.extras["unpriced"].tolist() == [0, 0, 1, 1]
    assert any("2 requests unpriced" in p for p in log.problems)
    assert log.extra_strings("user").tolist()[0] == "u-7"
    assert log.extra_strings("key").tolist()[0] == "88dc"
    keep = tc.read_litellm_payloads(io.StringIO(as_json(recs[3])), key_value="keep")
    assert keep.tags_of(0) == ["product:chat-bot", "User-Agent: OpenAI/Python 1.40.0"]


@pytest.mark.parametrize("over, where", [
    ({"prompt_tokens": None, "metadata": {}, "response": None},
     "prompt_tokens: missing (and no metadata.usage_object)"),
    ({"prompt_tokens": -1}, "prompt_tokens: expected an integer"),
    ({"response_cost": "lots"}, "response_cost: expected a number"),
    ({"response_cost": -1}, "response_cost: expected a non-negative dollar amount"),
    ({"startTime": "soon"}, "startTime: cannot read"),
    ({"endTime": 1766000000.0}, "endTime: ends before it starts"),
    ({"status": "maybe"}, "status: expected an HTTP status"),
    ({"model": ""}, "model: missing"),
    ({"request_tags": "customer/acme"}, "request_tags: invalid JSON"),
    ({"request_tags": [1]}, "request_tags[0]: expected a string"),
    ({"prompt_tokens": 2}, "metadata.usage_object: 4 cached tokens exceed prompt_tokens 2"),
])
def test_read_litellm_payloads_bad_rows(over, where):
    text = as_json(payload(), payload(**over))
    with pytest.raises(tc.FormatError) as info:
        tc.read_litellm_payloads(named(text, "p.json"))
    assert str(info.value).startswith(f"p.json: record 2: {where}"), str(info.value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        log = tc.read_litellm_payloads(named(text, "p.json"), on_error="skip")
    assert len(log) == 1 and log.dropped_rows == 1 and caught


def test_payloads_and_spend_logs_of_the_same_requests_are_the_same_log():
    """A SpendLogs row is what LiteLLM writes of a payload: both readers give the same log."""
    recs = [payload(), payload(id="r2", request_tags=["customer/beta", "env:prod"],
                               startTime=1766000100.5, endTime=1766000101.0,
                               response_cost=0.001, metadata={"user_api_key_hash": "88dc",
                                                              "user_api_key_user_id": "u-7"})]
    spend = [{"request_id": p["id"], "model": p["model"], "spend": p["response_cost"],
              "prompt_tokens": p["prompt_tokens"], "completion_tokens": p["completion_tokens"],
              "startTime": p["startTime"], "endTime": p["endTime"],
              "request_tags": json.dumps(p["request_tags"]), "status": p["status"],
              "api_key": p["metadata"]["user_api_key_hash"],
              "user": p["metadata"]["user_api_key_user_id"],
              "metadata": json.dumps({"usage_object": p["metadata"].get("usage_object")})}
             for p in recs]
    a = tc.read_litellm_payloads(io.StringIO(as_json(*recs)))
    b = tc.read_litellm_spend_logs(io.StringIO(as_json(*spend)))
    assert rows(a) == rows(b)
    assert rows(tc.read_any(io.BytesIO(as_jsonl(*recs).encode()))) == rows(a)


def test_readers_are_exported():
    import tagcore.formats
    import tagcore.io

    assert tc.read_litellm_payloads is tagcore.io.read_litellm_payloads
    assert tagcore.formats.read_litellm_payloads is tc.read_litellm_payloads
    assert "read_litellm_payloads" in tc.__all__ and "read_litellm_payloads" in tagcore.io.__all__
    assert Path(tc.read_litellm_payloads.__code__.co_filename).name == "litellm.py"


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("kind", ["native", "payloads"])
def test_read_any_reads_a_pipe_once(tmp_path, kind):
    """A path that is a pipe (``tagcore report <(zcat x.jsonl.gz)``) is read once: deciding the
    format must not eat the first MiB of it."""
    import os
    import threading

    recs = ([native_rec(ts=i, request_tags=["a/" + "x" * 200]) for i in range(6000)]
            if kind == "native" else [payload(id=f"r{i}") for i in range(1500)])
    text = as_jsonl(*recs).encode()
    assert len(text) > (1 << 20)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def write():
        with open(fifo, "wb") as fh:
            fh.write(text)

    t = threading.Thread(target=write)
    t.start()
    log = tc.read_any(fifo)
    t.join()
    assert len(log) == len(recs)
