"""Readers of real formats: hand-written records in the documented shapes, the real fixtures in
../shared/data/formats (skipped when absent), malformed input, key:value tags.

Where each shape is documented (found with the project's search tools):

* OpenAI chat completion / usage: openai/openai-python ``api_reference/openapi.transformed.yml``
  (``x-oaiMeta`` example of ``POST /chat/completions``) and the recorded responses in
  ``tests/lib/chat/test_completions.py``; Responses API usage (``input_tokens``,
  ``input_tokens_details.cached_tokens``/``cache_write_tokens``, ``output_tokens_details``):
  ``tests/lib/responses/test_responses.py`` of the same repo.
* LiteLLM_SpendLogs: BerriAI/litellm ``schema.prisma`` (model LiteLLM_SpendLogs), the TS mirror
  ``litellm-js/spend-logs/src/_types.ts``, and the real payload
  ``tests/logging_callback_tests/gcs_pub_sub_body/spend_logs_payload.json`` (JSON-string
  ``request_tags``/``metadata``, naive times, ``"None"``); User-Agent tags:
  ``litellm/proxy/litellm_pre_call_utils.py`` (``"User-Agent: " + ua``), summarised in
  shared/data/formats/litellm/README.md.
* Helicone: export CSV header in Helicone/helicone ``examples/export/typescript/index.ts``
  (commit c7feb3164110940b0eb1e6c24e2ee7f949e51fca; JSON cells ``JSON.stringify(v)`` with ``"``
  doubled, then the cell quoted with ``"`` doubled again); API record ``HeliconeRequest`` of
  https://docs.helicone.ai/rest/request/post-v1requestquery-clickhouse (mirrored in
  roboalchemist/llm-code-docs ``docs/llms-txt/helicone/post-v1requestquery-clickhouse.md``);
  ``cost`` in dollars: Helicone's jawn request store selects
  ``cost / ${COST_PRECISION_MULTIPLIER} as cost``.
* Langfuse traces: ``TraceWithDetails`` (https://docs.rs/crate/langfuse-client-base/0.16.0/source/src/models/trace_with_details.rs,
  https://js.reference.langfuse.com/interfaces/_langfuse_core.TraceWithFullDetails.html:
  ``timestamp``, ``userId``, ``metadata``, ``tags: string[]``, ``latency`` seconds,
  ``totalCost`` USD); observations: ``ObservationsView``
  (https://js.reference.langfuse.com/interfaces/_langfuse_core.ObservationsView.html:
  ``type``, ``startTime``, ``endTime``, ``model``, ``usageDetails``, ``costDetails``,
  ``calculatedTotalCost``, ``level``) and ObservationV2 (langfuse PyPI 5.0.4
  ``langfuse/api/commons/types/observation_v2.py``: adds ``totalCost``, ``tags``); usage and cost
  only on generation/embedding observations: https://langfuse.com/docs/token-usage.
  Token counts as strings: alibaba/spring-ai-alibaba ``spring-ai-alibaba-studio/ui/src/mock/tracemock.ts``.
* OpenRouter activity CSV: the 24-column header recorded in shared/data/formats/README.md (a
  third-party plan note; consistent with CodexClawd/codexclawd
  ``skills/openrouter-analyzer/scripts/analyze.py``); "reasoning tokens are included in
  completion tokens for billing" (openrouter.ai docs).
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from tagcore.formats import (
    FormatError,
    map_key_value_tag,
    parse_helicone_export,
    parse_langfuse_observations,
    parse_langfuse_traces,
    parse_litellm_spend_logs,
    parse_openai_log,
    parse_openrouter_activity,
)
from tagcore.prices import PriceTable
from tagcore.tags import TagPolicy


@pytest.fixture
def format_file(shared_file):
    """``format_file("openai", "x.jsonl")``: a file of ../shared/data/formats (conftest.py finds
    the folder; the test skips when it or the file is absent)."""
    return lambda *parts: shared_file("formats", *parts)


def jsonl(*objs) -> io.StringIO:
    return io.StringIO("".join(json.dumps(o) + "\n" for o in objs))


def named(text: str, name: str) -> io.StringIO:
    f = io.StringIO(text)
    f.name = name  # type: ignore[misc]
    return f


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


PRICES = PriceTable(
    {
        "gpt-4o": {
            "input_cost_per_token": 2.5e-06,
            "output_cost_per_token": 1e-05,
            "cache_read_input_token_cost": 1.25e-06,
        },
        "gpt-4o-2024-08-06": {
            "input_cost_per_token": 2.5e-06,
            "output_cost_per_token": 1e-05,
            "cache_read_input_token_cost": 1.25e-06,
        },
        "gpt-4o-mini-2024-07-18": {
            "input_cost_per_token": 1.5e-07,
            "output_cost_per_token": 6e-07,
            "cache_read_input_token_cost": 7.5e-08,
        },
    }
)


# ============================================================================= key:value tags


@pytest.mark.parametrize(
    "tag, expected",
    [
        ("product:chat-bot", "product/chat-bot"),
        ("product: chat-bot", "product/chat-bot"),
        ("User-Agent: OpenAI", "User-Agent/OpenAI"),
        ("User-Agent: OpenAI/Python 1.40.0", "User-Agent/OpenAI/Python 1.40.0"),
        ("jobID:214590dsff09fds", "jobID/214590dsff09fds"),
        ("env:production", "env/production"),
        ("a:b:c", "a/b:c"),  # only the first colon splits
        ("https://example.com/a/b", "https/example.com/a/b"),  # URL: scheme/host/path
        ("12:30", "12:30"),  # key must start with a letter or _
        ("org/team:x", "org/team:x"),  # already a path: kept
        ("key:", "key:"),  # empty value: kept
        (":value", ":value"),
        ("AWS_IAM_PROD", "AWS_IAM_PROD"),
        ("model-anthropic-claude-v2.1", "model-anthropic-claude-v2.1"),
    ],
)
def test_map_key_value_tag(tag, expected):
    assert map_key_value_tag(tag) == expected


# ============================================================================= OpenAI


def chat_line(**over):
    line = {
        "request": {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "hi"}],
            "request_tags": ["customer/acme", "env/production"],
            "metadata": {"feature": "summary-widget"},
            "user": "u1",
        },
        "response": {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1741569952,
            "model": "gpt-4o-2024-08-06",
            "choices": [],
            "usage": {
                "prompt_tokens": 19,
                "completion_tokens": 10,
                "total_tokens": 29,
                "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 3,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
        },
        "latency_ms": 812.5,
        "status": 200,
    }
    line.update(over)
    return line


def test_openai_chat_line_full_usage():
    (rec,), skipped = parse_openai_log(jsonl(chat_line()), PRICES)
    assert skipped == []
    assert rec["ts"] == utc(2025, 3, 10, 1, 25, 52)
    assert rec["model"] == "gpt-4o-2024-08-06"
    assert (
        rec["prompt_tokens"],
        rec["completion_tokens"],
        rec["cached_tokens"],
        rec["reasoning_tokens"],
    ) == (19, 10, 4, 3)
    assert rec["request_tags"] == ["customer/acme", "env/production", "feature/summary-widget"]
    assert rec["cost_nanos"] == 15 * 2500 + 4 * 1250 + 10 * 10_000
    assert (rec["latency_ms"], rec["status"], rec["request_id"], rec["user"]) == (
        812.5,
        200,
        "chatcmpl-1",
        "u1",
    )


def test_openai_details_absent_or_null_and_ts_override():
    line = chat_line(ts="2025-01-01T00:00:00")
    line["response"]["usage"] = {
        "prompt_tokens": 14,
        "completion_tokens": 37,
        "total_tokens": 51,
        "prompt_tokens_details": None,
        "completion_tokens_details": None,
    }
    (rec,), _ = parse_openai_log(jsonl(line))
    assert rec["ts"] == utc(2025, 1, 1)  # naive = UTC
    assert rec["cached_tokens"] == 0 and rec["reasoning_tokens"] == 0
    assert rec["cost"] is None and "cost_nanos" not in rec  # no table: unknown cost


def test_openai_responses_api():
    line = {
        "request": {"model": "gpt-4o-mini", "input": "hi", "metadata": {"customer": "acme"}},
        "response": {
            "id": "resp_1",
            "object": "response",
            "created_at": 1754925861,
            "status": "completed",
            "model": "gpt-4o-mini-2024-07-18",
            "output": [],
            "usage": {
                "input_tokens": 14,
                "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
                "output_tokens": 50,
                "output_tokens_details": {"reasoning_tokens": 7},
                "total_tokens": 64,
            },
        },
        "latency_ms": 100,
        "status": 200,
    }
    (rec,), _ = parse_openai_log(jsonl(line), PRICES)
    assert rec["ts"] == datetime.fromtimestamp(1754925861, timezone.utc)
    assert (
        rec["prompt_tokens"],
        rec["completion_tokens"],
        rec["cached_tokens"],
        rec["reasoning_tokens"],
    ) == (14, 50, 4, 7)
    assert rec["request_tags"] == ["customer/acme"]
    assert rec["cost_nanos"] == 10 * 150 + 4 * 75 + 50 * 600


def test_openai_failed_request_without_response():
    line = {
        "request": {"model": "gpt-4o", "request_tags": ["customer/acme"]},
        "latency_ms": 30.0,
        "status": 429,
        "ts": 1741569952,
    }
    (rec,), _ = parse_openai_log(jsonl(line), PRICES)
    assert (
        rec["model"],
        rec["prompt_tokens"],
        rec["completion_tokens"],
        rec["cost_nanos"],
        rec["status"],
    ) == ("gpt-4o", 0, 0, 0, 429)
    # an error response object with usage null is fine too
    line2 = dict(line, response={"error": {"message": "rate limited"}, "usage": None})
    line2["response"]["model"] = "gpt-4o"
    (rec2,), _ = parse_openai_log(jsonl(line2))
    assert rec2["cost_nanos"] == 0


def test_openai_unknown_model_is_reported_by_the_table():
    # (gpt-4o-2024-08-06 against a gpt-4o price is now priced as gpt-4o: tests/test_unpriced.py)
    table = PriceTable({"gpt-4.1": {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6}})
    (rec,), _ = parse_openai_log(jsonl(chat_line()), table)
    assert rec["cost"] is None and rec["unpriced"] == 1
    assert table.unpriced == {"gpt-4o-2024-08-06": 1}


def test_openai_log_without_latency_is_unknown_not_zero():
    line = {"request": {"model": "gpt-4o", "messages": [], "request_tags": ["a"]},
            "response": {"object": "chat.completion", "created": 1763629200, "model": "gpt-4o",
                         "usage": {"prompt_tokens": 1, "completion_tokens": 2}}, "status": 200}
    import math

    from tagcore.formats import read_openai_log

    log = read_openai_log(io.StringIO(json.dumps(line) + "\n"))
    assert math.isnan(log.latency_ms[0]) and math.isnan(log.totals()["latency_p50"])


@pytest.mark.parametrize(
    "mutate, where",
    [
        (
            lambda d: d["response"]["usage"].update(prompt_tokens="abc"),
            "x.jsonl:2: response.usage.prompt_tokens: expected an integer in [0, 2**63), got 'abc'",
        ),
        (
            lambda d: d["response"]["usage"].update(completion_tokens=-1),
            "x.jsonl:2: response.usage.completion_tokens: expected an integer in [0, 2**63)",
        ),
        (
            lambda d: d["response"]["usage"]["prompt_tokens_details"].update(cached_tokens=1.5),
            "x.jsonl:2: response.usage.prompt_tokens_details.cached_tokens",
        ),
        (lambda d: d["response"].pop("usage"), "x.jsonl:2: response.usage: missing"),
        (lambda d: d.pop("response"), "x.jsonl:2: response: missing"),
        (
            lambda d: d.update(latency_ms="fast"),
            "x.jsonl:2: latency_ms: expected a number >= 0",
        ),
        (lambda d: d.update(status=999), "x.jsonl:2: status: expected an HTTP status"),
        (
            lambda d: d["request"].update(request_tags="a,b"),
            "x.jsonl:2: request.request_tags: expected a list of strings",
        ),
        (
            lambda d: d["request"].update(request_tags=["ok", 3]),
            "x.jsonl:2: request.request_tags[1]: expected a string",
        ),
        (lambda d: d["request"].update(request_tags=[""]), "x.jsonl:2: request.request_tags: "),
        (
            lambda d: d["request"].update(metadata={"user": {"id": 1}}),
            "x.jsonl:2: request.metadata: ",
        ),
        (
            lambda d: d["response"].update(created="yesterday"),
            "x.jsonl:2: response.created: cannot read",
        ),
    ],
)
def test_openai_malformed_rows(mutate, where):
    bad = chat_line()
    mutate(bad)
    text = json.dumps(chat_line()) + "\n" + json.dumps(bad) + "\n"
    with pytest.raises(FormatError) as info:
        parse_openai_log(named(text, "x.jsonl"))
    assert str(info.value).startswith(where), str(info.value)
    records, skipped = parse_openai_log(named(text, "x.jsonl"), on_error="skip")
    assert len(records) == 1 and len(skipped) == 1 and skipped[0].startswith(where)


def test_openai_truncated_line_and_blank_lines():
    good = json.dumps(chat_line())
    text = good + "\n\n" + good[: len(good) // 2] + "\n" + good + "\n"
    with pytest.raises(FormatError, match=r"^x.jsonl:3: line: invalid JSON"):
        parse_openai_log(named(text, "x.jsonl"))
    records, skipped = parse_openai_log(named(text, "x.jsonl"), on_error="skip")
    assert len(records) == 2 and skipped[0].startswith("x.jsonl:3: line: invalid JSON")
    # a truncated last line (no newline) of a file on disk
    with pytest.raises(FormatError, match=r":2: line: invalid JSON"):
        parse_openai_log(io.StringIO(good + "\n" + good[:-3]))


def test_openai_reads_paths_and_binary_files(tmp_path):
    path = tmp_path / "requests.jsonl"
    path.write_text(json.dumps(chat_line()) + "\n")
    for source in (path, str(path), path.open("rb"), path.open("r")):
        records, _ = parse_openai_log(source)
        assert len(records) == 1
    bad = chat_line()
    bad["response"]["usage"]["prompt_tokens"] = "abc"
    path.write_text(json.dumps(bad) + "\n")
    with pytest.raises(FormatError, match=rf"^{path}:1: response.usage.prompt_tokens"):
        parse_openai_log(path)


def test_vendor_readers_share_the_native_sources(tmp_path, monkeypatch):
    """The vendor readers open sources as the native ones do: gzip, a BOM, ``-`` (stdin), and
    ``.json`` holding JSONL; ``on_error`` is the one vocabulary (``drop`` means ``skip``)."""
    import gzip
    import sys

    text = json.dumps(chat_line()) + "\n" + json.dumps(chat_line()) + "\n"
    want, _ = parse_openai_log(io.StringIO(text))
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "b.json").write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert parse_openai_log(tmp_path / "a.jsonl.gz")[0] == want
    assert parse_openai_log(tmp_path / "b.json")[0] == want

    class Stdin:
        buffer = io.BytesIO(text.encode())

    monkeypatch.setattr(sys, "stdin", Stdin)
    assert parse_openai_log("-")[0] == want
    bad = chat_line()
    bad["response"]["usage"]["prompt_tokens"] = "abc"
    recs, skipped = parse_openai_log(jsonl(chat_line(), bad), on_error="drop")  # type: ignore[arg-type]
    assert len(recs) == 1 and len(skipped) == 1
    (tmp_path / "c.jsonl").write_bytes(b'{"request": "\xff"}\n')
    with pytest.raises(FormatError, match="c.jsonl:1: not UTF-8"):
        parse_openai_log(tmp_path / "c.jsonl")


def test_openai_on_error_is_checked():
    with pytest.raises(ValueError, match="on_error"):
        parse_openai_log(jsonl(chat_line()), on_error="ignore")  # type: ignore[arg-type]


def test_openai_recorded_responses_from_openai_python(format_file):
    path = format_file("openai", "recorded_responses.jsonl")
    lines = []
    expected = []
    for i, raw in enumerate(path.read_text().splitlines()):
        response = json.loads(raw)["response"]
        lines.append(
            {
                "request": {"model": response["model"], "request_tags": [f"test/{i}"]},
                "response": response,
                "latency_ms": 100.0 + i,
                "status": 200,
            }
        )
        usage = response["usage"]
        expected.append(
            (
                usage.get("prompt_tokens", usage.get("input_tokens")),
                usage.get("completion_tokens", usage.get("output_tokens")),
            )
        )
    table = PriceTable.from_litellm(
        format_file("litellm", "pricing", "model_prices_and_context_window_backup.json")
    )
    records, skipped = parse_openai_log(jsonl(*lines), table)
    assert skipped == [] and len(records) == 14
    assert [(r["prompt_tokens"], r["completion_tokens"]) for r in records] == expected
    assert records[-1]["ts"] == datetime.fromtimestamp(
        1754925861, timezone.utc
    )  # Responses API created_at
    assert records[0]["cost_nanos"] == 14 * 2500 + 37 * 10_000  # gpt-4o-2024-08-06
    assert records[-1]["cost_nanos"] == 14 * 150 + 50 * 600  # gpt-4o-mini-2024-07-18
    assert table.unpriced == {}


def test_openai_official_example_response(format_file):
    response = json.loads(
        format_file("openai", "chat_completion_example_response.json").read_text()
    )
    (rec,), _ = parse_openai_log(
        jsonl(
            {
                "request": {"model": "gpt-5.4", "metadata": {"customer": "acme"}},
                "response": response,
                "latency_ms": 5,
                "status": 200,
            }
        )
    )
    assert (
        rec["model"],
        rec["prompt_tokens"],
        rec["completion_tokens"],
        rec["cached_tokens"],
        rec["reasoning_tokens"],
    ) == ("gpt-5.4", 19, 10, 0, 0)
    assert rec["request_tags"] == ["customer/acme"]


# ============================================================================= LiteLLM


def spend_row(**over):
    # the shape of tests/logging_callback_tests/gcs_pub_sub_body/spend_logs_payload.json
    row = {
        "request_id": "chatcmpl-1",
        "call_type": "acompletion",
        "api_key": "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b",
        "cache_hit": "None",
        "startTime": "2025-01-24 09:20:46.847371",
        "endTime": "2025-01-24 09:20:46.851954",
        "model": "gpt-4o",
        "user": "",
        "metadata": json.dumps(
            {
                "user_api_key_alias": "prod-key",
                "usage_object": {
                    "completion_tokens": 20,
                    "prompt_tokens": 10,
                    "prompt_tokens_details": {"cached_tokens": 2},
                    "completion_tokens_details": None,
                },
            }
        ),
        "cache_key": "Cache OFF",
        "spend": 0.00022500000000000002,
        "total_tokens": 30,
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "request_tags": json.dumps(
            [
                "product:chat-bot",
                "User-Agent: OpenAI",
                "User-Agent: OpenAI/Python 1.40.0",
                "customer/acme",
            ]
        ),
        "end_user": "enduser-7",
        "status": "success",
    }
    row.update(over)
    return row


def test_litellm_json_row_with_json_string_fields():
    (rec,), skipped = parse_litellm_spend_logs(io.StringIO(json.dumps([spend_row()])))
    assert skipped == []
    assert rec["ts"] == utc(2025, 1, 24, 9, 20, 46, 847371)
    assert rec["latency_ms"] == pytest.approx(4.583)
    assert rec["cost"] == Decimal("0.00022500000000000002")  # exact; the log rounds to nanos
    assert rec["request_tags"] == [
        "product/chat-bot",
        "User-Agent/OpenAI",
        "User-Agent/OpenAI/Python 1.40.0",
        "customer/acme",
    ]
    assert (rec["cached_tokens"], rec["reasoning_tokens"], rec["status"]) == (2, 0, 200)
    assert (rec["request_id"], rec["user"], rec["key"]) == ("chatcmpl-1", "enduser-7", "prod-key")


def test_litellm_key_value_keep():
    (rec,), _ = parse_litellm_spend_logs(io.StringIO(json.dumps([spend_row()])), key_value="keep")
    # kept as written; "/" is still tagcore's separator
    assert rec["request_tags"] == [
        "product:chat-bot",
        "User-Agent: OpenAI",
        "User-Agent: OpenAI/Python 1.40.0",
        "customer/acme",
    ]
    with pytest.raises(ValueError, match="key_value"):
        parse_litellm_spend_logs(io.StringIO("[]"), key_value="split")  # type: ignore[arg-type]


def test_litellm_real_json_values_epoch_times_failure_and_none_strings():
    row = spend_row(
        startTime=1766000068.28466,
        endTime=1766000070.07935,
        request_tags=["jobID:214590dsff09fds", "taskName:run_page_classification"],
        metadata={"usage_object": None},
        status="failure",
        user="None",
        end_user=None,
        api_key="",
    )
    (rec,), _ = parse_litellm_spend_logs(jsonl(row))
    assert rec["ts"] == datetime.fromtimestamp(1766000068.28466, timezone.utc)
    assert rec["latency_ms"] == pytest.approx(1794.69, abs=0.01)
    assert rec["status"] == 500
    assert rec["request_tags"] == ["jobID/214590dsff09fds", "taskName/run_page_classification"]
    assert "user" not in rec and "key" not in rec and rec["cached_tokens"] == 0


def test_litellm_csv_any_column_order_and_case():
    rows = [
        spend_row(),
        spend_row(request_id="r2", request_tags="None", metadata="{}", spend="0.5"),
    ]
    cols = [
        "SPEND",
        "model",
        "request_tags",
        "prompt_tokens",
        "COMPLETION_TOKENS",
        "endTime",
        "starttime",
        "status",
        "request_id",
        "metadata",
    ]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(cols)
    for r in rows:
        low = {k.lower(): v for k, v in r.items()}
        w.writerow([low[c.lower()] for c in cols])
    records, skipped = parse_litellm_spend_logs(named(buf.getvalue(), "spend.csv"))
    assert skipped == [] and len(records) == 2
    assert records[0]["request_tags"][0] == "product/chat-bot"
    assert records[1]["request_tags"] == [] and records[1]["cost"] == Decimal("0.5")


def test_litellm_real_payload_fixture(format_file):
    row = json.loads(format_file("litellm", "spend_logs_payload.json").read_text())
    (rec,), skipped = parse_litellm_spend_logs(io.StringIO(json.dumps(row)))
    assert skipped == []
    assert (rec["model"], rec["prompt_tokens"], rec["completion_tokens"], rec["status"]) == (
        "gpt-4o",
        10,
        20,
        200,
    )
    assert rec["request_tags"] == [] and rec["request_id"].startswith("chatcmpl-")
    assert rec["ts"] == utc(2025, 1, 24, 9, 20, 46, 847371)
    assert (
        PriceTable.from_litellm(
            format_file("litellm", "pricing", "model_prices_and_context_window_backup.json")
        ).cost_nanos("gpt-4o", 10, 20)
        == 225_000
    )


def test_litellm_standard_logging_payload_shape(format_file):
    # StandardLoggingPayload has the same token columns but response_cost, not spend: refused
    # as a whole, naming the reader of payloads (tests/test_vendor_shapes.py reads it)
    row = json.loads(format_file("litellm", "example_standard_logging_payload.json").read_text())
    with pytest.raises(FormatError, match=r"not a LiteLLM SpendLogs export: none of its fields "
                       r"\('spend'\) in the first record .*read them with tc.read_litellm_payloads"):
        parse_litellm_spend_logs(io.StringIO(json.dumps([row])))
    row["spend"] = row["response_cost"]
    (rec,), _ = parse_litellm_spend_logs(io.StringIO(json.dumps([row])))
    assert rec["latency_ms"] == pytest.approx(1794.69, abs=0.01)


@pytest.mark.parametrize(
    "over, where",
    [
        ({"prompt_tokens": "abc"}, "prompt_tokens: expected an integer in [0, 2**63), got 'abc'"),
        ({"spend": "lots"}, "spend: expected a number"),
        ({"spend": -1}, "spend: expected a non-negative dollar amount"),
        ({"request_tags": '["a", '}, "request_tags: invalid JSON"),
        ({"request_tags": '{"a": 1}'}, "request_tags: expected a list"),
        ({"metadata": "{oops"}, "metadata: invalid JSON"),
        ({"startTime": "soon"}, "startTime: cannot read"),
        ({"endTime": "2025-01-24 09:20:45"}, "endTime: ends before it starts"),
        ({"status": "maybe"}, "status: expected an HTTP status 0..999 or 'success'/'failure'"),
        ({"model": ""}, "model: missing"),
    ],
)
def test_litellm_malformed_rows_json_and_csv(over, where):
    rows = [spend_row(), spend_row(**over)]
    with pytest.raises(
        FormatError, match=rf"^spend.json: record 2: {__import__('re').escape(where)}"
    ):
        parse_litellm_spend_logs(named(json.dumps(rows), "spend.json"))
    records, skipped = parse_litellm_spend_logs(
        named(json.dumps(rows), "spend.json"), on_error="skip"
    )
    assert len(records) == 1 and len(skipped) == 1
    # the same as CSV: line 3 (header is line 1)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    with pytest.raises(FormatError, match=rf"^spend.csv:3: {__import__('re').escape(where)}"):
        parse_litellm_spend_logs(named(buf.getvalue(), "spend.csv"))


def test_litellm_missing_columns_and_truncated_csv():
    with pytest.raises(FormatError, match=r"^s.csv:1: missing required columns 'spend', 'endTime'"):
        parse_litellm_spend_logs(
            named("model,prompt_tokens,completion_tokens,startTime\n", "s.csv")
        )
    row = spend_row()
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(row))
    w.writeheader()
    w.writerow(row)
    w.writerow(row)
    text = buf.getvalue()
    truncated = text[: text.rindex("\n", 0, len(text) - 1) + 1] + "chatcmpl-2,acompletion\n"
    with pytest.raises(FormatError, match=r"^s.csv:3: row: expected \d+ columns, got 2"):
        parse_litellm_spend_logs(named(truncated, "s.csv"))
    records, skipped = parse_litellm_spend_logs(named(truncated, "s.csv"), on_error="skip")
    assert len(records) == 1 and len(skipped) == 1
    # a JSON row without a required column
    no_spend = {k: v for k, v in row.items() if k != "spend"}
    with pytest.raises(FormatError, match=r"record 2: spend: missing"):
        parse_litellm_spend_logs(io.StringIO(json.dumps([row, no_spend])))
    # ... and rows none of which has one: not a SpendLogs export at all
    with pytest.raises(FormatError, match=r"not a LiteLLM SpendLogs export: none of its fields "
                       r"\('spend'\) in the first record \(api_key, "):
        parse_litellm_spend_logs(io.StringIO(json.dumps([no_spend])))
    # a truncated JSON array cannot be skipped around: one clear error with line and column
    with pytest.raises(FormatError, match=r"^s.json:1: invalid JSON"):
        parse_litellm_spend_logs(named(json.dumps([row])[:-10], "s.json"), on_error="skip")


def test_litellm_url_tags_and_policy():
    row = spend_row(request_tags=json.dumps(["https://example.com/docs", "Case:Upper"]))
    (rec,), _ = parse_litellm_spend_logs(jsonl(row), policy=TagPolicy(case="lower"))
    assert rec["request_tags"] == ["https/example.com/docs", "case/upper"]


# ============================================================================= Helicone

HELICONE_HEADER = [
    "response_id",
    "response_created_at",
    "response_status",
    "request_created_at",
    "request_body",
    "request_properties",
    "request_user_id",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "latency",
    "cost_usd",
]


def helicone_csv_row(item: dict) -> str:
    """Exactly what examples/export/typescript/index.ts convertToCSVRow writes."""
    cells = []
    for field in HELICONE_HEADER:
        value = item.get(field)
        if isinstance(value, (dict, list)):
            value = json.dumps(value, separators=(",", ":")).replace('"', '""')
        if value is None:
            cells.append("")
        else:
            cells.append('"' + str(value).replace('"', '""') + '"')
    return ",".join(cells)


def helicone_record(**over):
    rec = {
        "response_id": "resp-1",
        "response_created_at": "2024-08-01T10:00:00.640Z",
        "response_status": 200,
        "request_id": "req-1",
        "request_created_at": "2024-08-01T10:00:00.000Z",
        "request_body": {"model": "gpt-4o", "messages": []},
        "request_path": "https://api.openai.com/v1/chat/completions",
        "request_user_id": "user-9",
        "request_properties": {"Customer": "acme", "Environment": "production"},
        "request_model": "gpt-4o",
        "response_model": "gpt-4o-2024-08-06",
        "provider": "OPENAI",
        "delay_ms": 640,
        "time_to_first_token": 120,
        "total_tokens": 30,
        "prompt_tokens": 10,
        "prompt_cache_read_tokens": 2,
        "prompt_cache_write_tokens": 0,
        "completion_tokens": 20,
        "cost": 0.000225,
        "properties": {"Customer": "acme", "Environment": "production"},
    }
    rec.update(over)
    return rec


def test_helicone_api_records_json_page():
    page = {
        "data": [
            helicone_record(),
            helicone_record(
                request_id="req-2",
                cost=None,
                prompt_tokens=None,
                completion_tokens=None,
                prompt_cache_read_tokens=None,
                response_status=-1,
            ),
        ],
        "error": None,
    }
    records, skipped = parse_helicone_export(io.StringIO(json.dumps(page)), PRICES)
    assert skipped == []
    a, b = records
    assert a["ts"] == utc(2024, 8, 1, 10) and a["latency_ms"] == 640.0
    assert a["model"] == "gpt-4o-2024-08-06" and a["cost"] == Decimal("0.000225")
    assert a["request_tags"] == ["Customer/acme", "Environment/production"]
    assert (a["cached_tokens"], a["user"], a["request_id"]) == (2, "user-9", "req-1")
    # no usage reported: unknown and unpriced, never priced at 0 tokens
    assert b["status"] == 500 and b["usage_unknown"] == 1 and "prompt_tokens" not in b
    assert b.get("cost") is None and "cost_nanos" not in b
    from tagcore.formats import read_helicone_export

    log = read_helicone_export(io.StringIO(json.dumps(page)), PRICES)
    t = log.totals()
    assert (t["usage_unknown"], t["unpriced"], t["prompt_tokens"]) == (1, 1, a["prompt_tokens"])


def test_helicone_export_csv_with_doubled_json_quotes():
    item = helicone_record(model=None, latency=None, cost_usd=None)
    text = ",".join(HELICONE_HEADER) + "\n" + helicone_csv_row(item) + "\n"
    (rec,), skipped = parse_helicone_export(named(text, "output.csv"), PRICES)
    assert skipped == []
    assert rec["model"] == "gpt-4o"  # from request_body
    assert rec["request_tags"] == ["Customer/acme", "Environment/production"]
    assert rec["latency_ms"] == pytest.approx(640.0)  # response_created_at - request_created_at
    assert rec["cost_nanos"] == 10 * 2500 + 20 * 10_000  # the export CSV has no cache columns
    # older export: `cost` instead of `cost_usd`, and standard CSV quoting of JSON cells
    header = [("cost" if h == "cost_usd" else h) for h in HELICONE_HEADER]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerow(
        [
            "r",
            "",
            "200",
            "2024-08-01 10:00:00",
            json.dumps({"model": "m"}),
            json.dumps({"app": "x"}),
            "",
            "",
            "1",
            "2",
            "15",
            "0.001",
        ]
    )
    (rec2,), _ = parse_helicone_export(named(buf.getvalue(), "old.csv"))
    assert (rec2["model"], rec2["request_tags"], rec2["latency_ms"], rec2["cost"]) == (
        "m",
        ["app/x"],
        15.0,
        Decimal("0.001"),
    )


def test_helicone_malformed():
    good = helicone_csv_row(helicone_record())
    bad_tokens = helicone_csv_row(helicone_record(prompt_tokens="many"))
    bad_props = helicone_csv_row(helicone_record(request_properties="not json"))
    text = ",".join(HELICONE_HEADER) + "\n" + "\n".join([good, bad_tokens, bad_props]) + "\n"
    with pytest.raises(
        FormatError, match=r"^h.csv:3: prompt_tokens: expected an integer in \[0, 2\*\*63\), got 'many'"
    ):
        parse_helicone_export(named(text, "h.csv"))
    records, skipped = parse_helicone_export(named(text, "h.csv"), on_error="skip")
    assert len(records) == 1 and len(skipped) == 2
    assert skipped[1].startswith("h.csv:4: request_properties: invalid JSON")
    missing = ",".join(h for h in HELICONE_HEADER if h != "response_status") + "\n"
    with pytest.raises(FormatError, match=r"^h.csv:1: missing required column 'response_status'"):
        parse_helicone_export(named(missing, "h.csv"))
    no_model = helicone_record(request_model=None, response_model=None, request_body=None)
    with pytest.raises(FormatError, match=r"record 1: model: missing"):
        parse_helicone_export(io.StringIO(json.dumps([no_model])))
    nested = helicone_record(request_properties={"a": {"b": 1}})
    with pytest.raises(FormatError, match=r"record 1: request_properties: "):
        parse_helicone_export(io.StringIO(json.dumps([nested])))


# ============================================================================= Langfuse


def trace(**over):
    t = {
        "id": "abc123",
        "timestamp": "2025-01-15T10:30:45.000Z",
        "name": "librarian/chat",
        "input": {"userMessage": "hi"},
        "output": {"response": "hello"},
        "sessionId": "lb:session-456",
        "release": None,
        "version": None,
        "userId": "user-123",
        "metadata": {"projectId": "project-123", "nested": {"x": 1}, "empty": ""},
        "tags": ["env:production", "no-context"],
        "public": False,
        "environment": "default",
        "htmlPath": "/project/p/traces/abc123",
        "latency": 1.234,
        "totalCost": 0.015,
        "observations": ["o1"],
        "scores": [],
    }
    t.update(over)
    return t


def test_langfuse_traces_api_page():
    page = {
        "data": [trace(), trace(id="t2", tags=[], metadata=None, latency=None, totalCost=None)],
        "meta": {"page": 1, "limit": 50, "totalItems": 2, "totalPages": 1},
    }
    (a, b), skipped = parse_langfuse_traces(io.StringIO(json.dumps(page)))
    assert skipped == []
    assert a["ts"] == utc(2025, 1, 15, 10, 30, 45)
    assert a["request_tags"] == ["env/production", "no-context", "projectId/project-123"]
    assert (a["latency_ms"], a["cost"], a["model"], a["user"], a["status"]) == (
        1234.0,
        Decimal("0.015"),
        "(unknown)",
        "user-123",
        200,
    )
    assert b["request_tags"] == [] and b["latency_ms"] is None and b["cost"] is None
    (c,), _ = parse_langfuse_traces(jsonl(trace()), key_value="keep", metadata_tags=False)
    assert c["request_tags"] == ["env:production", "no-context"]


def test_langfuse_traces_ui_csv_export():
    # BatchExportTracesRow columns; usage {promptTokens, completionTokens, totalTokens}
    cols = [
        "bookmarked",
        "id",
        "timestamp",
        "name",
        "userId",
        "level",
        "observationCount",
        "scores",
        "latency",
        "release",
        "version",
        "sessionId",
        "input",
        "output",
        "metadata",
        "tags",
        "usage",
        "inputCost",
        "outputCost",
        "totalCost",
    ]
    row = [
        False,
        "t1",
        "2025-01-15 10:30:45",
        "chat",
        "u1",
        "ERROR",
        2,
        "{}",
        0.5,
        "",
        "",
        "",
        "{}",
        "{}",
        json.dumps({"team": "search"}),
        json.dumps(["product:chat-bot"]),
        json.dumps({"promptTokens": 94, "completionTokens": 11, "totalTokens": 105}),
        1e-5,
        4e-6,
        1.4e-5,
    ]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(cols)
    w.writerow(row)
    (rec,), _ = parse_langfuse_traces(named(buf.getvalue(), "traces.csv"))
    assert (rec["prompt_tokens"], rec["completion_tokens"], rec["status"], rec["latency_ms"]) == (
        94,
        11,
        500,
        500.0,
    )
    assert rec["request_tags"] == ["product/chat-bot", "team/search"]


def test_langfuse_observations_generations_only():
    gen = {
        "id": "o1",
        "traceId": "t1",
        "type": "GENERATION",
        "name": "llm-call",
        "startTime": "2025-01-15T10:30:46.000Z",
        "endTime": "2025-01-15T10:30:47.250Z",
        "completionStartTime": None,
        "model": "gpt-4o",
        "modelParameters": {},
        "usageDetails": {
            "input": "94",
            "output": "11",
            "total": "105",
        },  # strings, as seen in tracemock.ts
        "costDetails": {"input": 0.0000141, "output": 0.0000022, "total": 0.0000163},
        "level": "DEFAULT",
        "tags": ["env:production"],
        "metadata": {"team": "search"},
        "userId": "u1",
    }
    span = {"id": "o2", "traceId": "t1", "type": "SPAN", "startTime": "2025-01-15T10:30:47Z"}
    emb = dict(
        gen,
        id="o3",
        type="EMBEDDING",
        usageDetails={"input": 5},
        costDetails={},
        calculatedTotalCost=1e-7,
        endTime=None,
        latency=0.2,
    )
    records, skipped = parse_langfuse_observations(io.StringIO(json.dumps([gen, span, emb])))
    assert skipped == [] and len(records) == 2
    a, b = records
    assert (a["prompt_tokens"], a["completion_tokens"], a["latency_ms"], a["cost"]) == (
        94,
        11,
        1250.0,
        Decimal("0.0000163"),
    )
    assert a["request_tags"] == ["env/production", "team/search"]
    assert (b["prompt_tokens"], b["completion_tokens"], b["latency_ms"], b["cost"]) == (
        5,
        0,
        200.0,
        Decimal("1E-7"),
    )
    bad = dict(gen, usageDetails={"input": "ninety"})
    with pytest.raises(
        FormatError,
        match=r"record 1: usageDetails.input: expected an integer in \[0, 2\*\*63\), got 'ninety'",
    ):
        parse_langfuse_observations(io.StringIO(json.dumps([bad])))
    records, skipped = parse_langfuse_observations(
        io.StringIO(json.dumps([gen, bad])), on_error="skip"
    )
    assert len(records) == 1 and len(skipped) == 1


def test_langfuse_malformed():
    with pytest.raises(FormatError, match=r"^t.jsonl:2: timestamp: missing"):
        parse_langfuse_traces(
            named(json.dumps(trace()) + "\n" + json.dumps(trace(timestamp=None)) + "\n", "t.jsonl")
        )
    with pytest.raises(FormatError, match=r"record 1: tags\[0\]: expected a string"):
        parse_langfuse_traces(io.StringIO(json.dumps([trace(tags=[1])])))
    with pytest.raises(FormatError, match=r"record 1: totalcost: expected a number"):
        parse_langfuse_traces(io.StringIO(json.dumps([trace(totalCost="free")])))
    with pytest.raises(FormatError, match=r"^t.csv:1: missing required column 'startTime'"):
        parse_langfuse_observations(named("id,type,model\n", "t.csv"))


# ============================================================================= OpenRouter

OPENROUTER_HEADER = "generation_id,created_at,cost_total,cost_web_search,cost_cache,cost_file_processing,byok_usage_inference,tokens_prompt,tokens_completion,tokens_reasoning,tokens_cached,model_permaslug,provider_name,variant,cancelled,streamed,user,finish_reason_raw,finish_reason_normalized,generation_time_ms,time_to_first_token_ms,api_key_disabled,api_key_name,app_name"


def test_openrouter_activity_csv():
    rows = [
        "gen-1782618417-NEpXKqXYIDjS7TmNrT9j,2026-02-06 18:54:30.040,0.00012,0,0,0,0,100,20,5,10,openai/gpt-oss-120b,Groq,,false,true,u-42,stop,stop,812,120,false,prod-key,My App",
        "gen-2,2026-02-06 18:55:00.000,0,0,0,0,0,50,0,0,0,deepseek/deepseek-v4.1-flash-20260910,DeepSeek,free,true,true,,error,error,,,false,,",
    ]
    records, skipped = parse_openrouter_activity(
        named(OPENROUTER_HEADER + "\n" + "\n".join(rows) + "\n", "activity.csv")
    )
    assert skipped == []
    a, b = records
    assert a["ts"] == utc(2026, 2, 6, 18, 54, 30, 40000)
    assert (
        a["model"],
        a["prompt_tokens"],
        a["completion_tokens"],
        a["reasoning_tokens"],
        a["cached_tokens"],
    ) == ("openai/gpt-oss-120b", 100, 20, 5, 10)
    assert (a["cost"], a["latency_ms"], a["status"]) == (Decimal("0.00012"), 812.0, 200)
    assert a["request_tags"] == ["key/prod-key", "app/My App", "user/u-42"]
    assert (a["key"], a["user"], a["request_id"]) == (
        "prod-key",
        "u-42",
        "gen-1782618417-NEpXKqXYIDjS7TmNrT9j",
    )
    assert b["request_tags"] == [] and b["status"] == 500 and b["latency_ms"] is None


def test_openrouter_older_export_with_fewer_columns_in_another_order():
    cols = [
        "model_permaslug",
        "created_at",
        "tokens_completion",
        "tokens_prompt",
        "cost_total",
        "app_name",
    ]
    text = ",".join(cols) + "\nopenai/gpt-4o,2025-08-24 10:00:00,3,7,0.001,Cline\n"
    (rec,), _ = parse_openrouter_activity(named(text, "old.csv"))
    assert (rec["prompt_tokens"], rec["completion_tokens"], rec["request_tags"]) == (
        7,
        3,
        ["app/Cline"],
    )


def test_openrouter_malformed():
    good = "gen-1,2026-02-06 18:54:30.040,0.00012,0,0,0,0,100,20,5,10,openai/gpt-oss-120b,Groq,,false,true,u,stop,stop,812,120,false,k,a"
    bad = good.replace(",100,20,5,", ",100,twenty,5,")
    over = good.replace(",100,20,5,", ",100,2,5,")
    text = OPENROUTER_HEADER + "\n" + "\n".join([good, bad, over]) + "\n"
    with pytest.raises(
        FormatError,
        match=r"^a.csv:3: tokens_completion: expected an integer in \[0, 2\*\*63\), got 'twenty'",
    ):
        parse_openrouter_activity(named(text, "a.csv"))
    records, skipped = parse_openrouter_activity(named(text, "a.csv"), on_error="skip")
    assert len(records) == 1 and [s.split(":")[1] for s in skipped] == ["3", "4"]
    with pytest.raises(FormatError, match=r"missing required column 'model_permaslug'"):
        parse_openrouter_activity(
            named(OPENROUTER_HEADER.replace("model_permaslug", "model") + "\n", "a.csv")
        )


# ============================================================================= the RequestLog layer


@pytest.fixture
def request_log_class():
    try:
        from tagcore.log import RequestLog
    except ImportError as exc:  # being written concurrently
        pytest.skip(f"tagcore.log not importable yet: {exc}")
    return RequestLog


def test_readers_build_request_logs(request_log_class):
    from tagcore.formats import (
        read_helicone_export,
        read_langfuse_observations,
        read_langfuse_traces,
        read_litellm_spend_logs,
        read_openai_log,
        read_openrouter_activity,
    )

    table = PriceTable(
        {
            "gpt-4o-2024-08-06": {
                "input_cost_per_token": 2.5e-06,
                "output_cost_per_token": 1e-05,
                "cache_read_input_token_cost": 1.25e-06,
            }
        }
    )
    log = read_openai_log(jsonl(chat_line(), chat_line()), prices=table)
    assert isinstance(log, request_log_class) and len(log) == 2
    assert log.cost.tolist() == [15 * 2500 + 4 * 1250 + 10 * 10_000] * 2
    log = read_litellm_spend_logs(io.StringIO(json.dumps([spend_row()])))
    assert log.cost.tolist() == [225_000]
    log = read_helicone_export(io.StringIO(json.dumps([helicone_record()])))
    assert len(log) == 1
    log = read_langfuse_traces(io.StringIO(json.dumps([trace()])))
    assert len(log) == 1
    log = read_langfuse_observations(
        io.StringIO(
            json.dumps(
                [{"type": "GENERATION", "startTime": "2025-01-15T10:30:46Z", "model": "gpt-4o"}]
            )
        )
    )
    assert len(log) == 1
    text = (
        OPENROUTER_HEADER
        + "\ngen-1,2026-02-06 18:54:30.040,0.00012,0,0,0,0,100,20,5,10,openai/gpt-oss-120b,Groq,,false,true,u,stop,stop,812,120,false,k,a\n"
    )
    log = read_openrouter_activity(io.StringIO(text))
    assert log.cost.tolist() == [120_000]


def test_reader_skip_warns_and_counts(request_log_class):
    from tagcore.formats import read_openai_log

    bad = chat_line()
    bad["response"]["usage"]["prompt_tokens"] = "abc"
    with pytest.raises(FormatError, match=r"x.jsonl:2: response.usage.prompt_tokens"):
        read_openai_log(named(json.dumps(chat_line()) + "\n" + json.dumps(bad) + "\n", "x.jsonl"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        log = read_openai_log(
            named(json.dumps(chat_line()) + "\n" + json.dumps(bad) + "\n", "x.jsonl"),
            on_error="skip",
        )
    assert len(log) == 1 and log.dropped_rows == 1
    assert log.problems[0].startswith("x.jsonl:2: response.usage.prompt_tokens")
    assert any("skipped 1 bad row" in str(w.message) for w in caught)
