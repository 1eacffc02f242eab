"""Issue 11, item 5: ``tagcore.integrations.litellm.TagcoreLogger`` with the real ``litellm``
package (``pip install 'tagcore[litellm]'``), driven with ``mock_response=`` (no network): every
success and failure, sync and async, streamed or not, is recorded with the tags, tokens and
cost that litellm itself reported. Skipped when litellm is not installed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # the bundled price map: no network
litellm = pytest.importorskip("litellm")

from litellm.integrations.custom_logger import CustomLogger  # noqa: E402

import tagcore as tc  # noqa: E402
from tagcore.integrations.litellm import TagcoreLogger  # noqa: E402

MESSAGES = [{"role": "user", "content": "Say hello in one word."}]


class Reported(CustomLogger):
    """What litellm reports to every logger: the ``standard_logging_object`` of each call."""

    def __init__(self) -> None:
        super().__init__()
        self.payloads: list[dict] = []

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        self.payloads.append(kwargs["standard_logging_object"])

    log_failure_event = log_success_event

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self.payloads.append(kwargs["standard_logging_object"])

    async_log_failure_event = async_log_success_event


_LISTS = ("callbacks", "input_callback", "success_callback", "failure_callback",
          "_async_success_callback", "_async_failure_callback")


@pytest.fixture
def loggers():
    usage = TagcoreLogger(tc.Recorder())
    seen = Reported()
    seen.tag = id(seen)  # LiteLLM keeps one logger per class and public attributes
    old = list(litellm.callbacks)
    litellm.callbacks = [usage, seen]
    try:
        yield usage, seen
    finally:
        litellm.callbacks = old
        for name in _LISTS:  # litellm copies them into its lists on the first call
            lst = getattr(litellm, name)
            lst[:] = [c for c in lst if c is not usage and c is not seen]


def settle(usage: TagcoreLogger, seen: Reported, n: int, timeout: float = 30.0) -> None:
    """Wait for litellm's logging threads/tasks to deliver ``n`` events to both loggers."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if len(usage.recorder) + usage.failed >= n and len(seen.payloads) >= n:
            time.sleep(0.1)  # nothing more should come
            break
        time.sleep(0.02)
    assert len(seen.payloads) == n, seen.payloads
    assert usage.failed == 0, usage.last_error
    assert len(usage.recorder) == n


def check_rows_equal_reported(log: tc.RequestLog, payloads: list[dict]) -> None:
    """Row by row (matched by request id): tags, tokens, cost, status, latency, model."""
    by_id = {p["id"]: p for p in payloads}
    ids = log.extra_strings("request_id").tolist()
    assert sorted(ids) == sorted(by_id)
    for i, rid in enumerate(ids):
        p = by_id[rid]
        want_tags = [tc.tags.map_key_value_tag(t) for t in p["request_tags"]]
        assert log.tags_of(i) == want_tags
        assert int(log.prompt_tokens[i]) == p["prompt_tokens"]
        assert int(log.completion_tokens[i]) == p["completion_tokens"]
        assert int(log.cost[i]) == tc.dollars_to_nanos(p["response_cost"])
        assert int(log.status[i]) == (200 if p["status"] == "success" else 500)
        assert log.models[log.model_codes[i]] == p["model"]
        assert int(log.ts[i]) == tc.time_to_nanos(p["startTime"])
        assert float(log.latency_ms[i]) == pytest.approx(
            (p["endTime"] - p["startTime"]) * 1e3, abs=1e-3)


def test_sync_completion_success_and_failure(loggers):
    usage, seen = loggers
    resp = litellm.completion(model="gpt-4o-mini", messages=MESSAGES, mock_response="Hello!",
                              metadata={"tags": ["customer/acme", "feature:chat"]})
    with pytest.raises(Exception, match="boom"):
        litellm.completion(model="gpt-4o-mini", messages=MESSAGES,
                           mock_response=Exception("boom"),
                           metadata={"tags": ["customer/acme"]})
    settle(usage, seen, 2)
    log = usage.recorder.snapshot()
    check_rows_equal_reported(log, seen.payloads)
    ok = log.extra_strings("request_id").tolist().index(resp.id)
    # ... and what the response itself says
    assert log.tags_of(ok) == ["customer/acme", "feature/chat"]
    assert (int(log.prompt_tokens[ok]), int(log.completion_tokens[ok])) == (
        resp.usage.prompt_tokens, resp.usage.completion_tokens)
    assert int(log.cost[ok]) == tc.dollars_to_nanos(resp._hidden_params["response_cost"]) > 0
    assert sorted(log.status.tolist()) == [200, 500]
    # tagcore's answers from it: the split by customer adds up exactly to the total
    split = log.rollup(under="customer", attribution="split")
    assert split["cost_nanos"].sum() == log.cost.sum()
    assert log.rollup().loc["customer/acme", "requests"] == 2


def test_async_calls_streamed_and_failed(loggers):
    usage, seen = loggers

    async def calls():
        r1 = await litellm.acompletion(model="gpt-4o-mini", messages=MESSAGES,
                                       mock_response="Hi there", metadata={"tags": ["env:prod"]})
        stream = await litellm.acompletion(model="gpt-4o", messages=MESSAGES, stream=True,
                                           mock_response="A streamed answer",
                                           metadata={"tags": ["customer/beta", "env:prod"]})
        async for _ in stream:
            pass
        try:
            await litellm.acompletion(model="gpt-4o", messages=MESSAGES,
                                      mock_response=Exception("upstream down"),
                                      metadata={"tags": ["customer/beta"]})
        except Exception:
            pass
        for _ in range(300):  # litellm's async logging worker runs on this loop
            if len(seen.payloads) >= 3:
                break
            await asyncio.sleep(0.02)
        return r1

    r1 = asyncio.run(calls())
    settle(usage, seen, 3)
    log = usage.recorder.snapshot()
    check_rows_equal_reported(log, seen.payloads)
    assert sorted(map(tuple, (log.tags_of(i) for i in range(3)))) == sorted(
        [("env/prod",), ("customer/beta", "env/prod"), ("customer/beta",)])
    assert r1.id in log.extra_strings("request_id").tolist()
    assert (log.status >= 400).sum() == 1


def test_sync_stream(loggers):
    usage, seen = loggers
    for _ in litellm.completion(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                mock_response="streamed, sync", metadata={"tags": ["a/b"]}):
        pass
    settle(usage, seen, 1)
    log = usage.recorder.snapshot()
    check_rows_equal_reported(log, seen.payloads)
    assert log.tags_of(0) == ["a/b"] and int(log.completion_tokens[0]) > 0


def test_live_and_file_are_the_same_row(loggers, tmp_path):
    """What the logger records equals what read_litellm_payloads reads from the same payloads."""
    import json

    usage, seen = loggers
    for tags in (["customer/acme", "jobID:214590dsff09fds"], ["customer/beta"]):
        litellm.completion(model="gpt-4o-mini", messages=MESSAGES, mock_response="ok",
                           metadata={"tags": tags})
    settle(usage, seen, 2)
    path = tmp_path / "payloads.jsonl"
    path.write_text("".join(json.dumps(p, default=str) + "\n" for p in seen.payloads))
    from_file = tc.read_any(path)
    live = usage.recorder.snapshot()
    cols = ["ts", "model", "prompt_tokens", "completion_tokens", "cost", "latency_ms", "status",
            "request_tags", "request_id"]
    assert live.to_pandas()[cols].sort_values("request_id").reset_index(drop=True).equals(
        from_file.to_pandas()[cols].sort_values("request_id").reset_index(drop=True))


def test_a_request_that_cannot_be_recorded_does_not_break_the_call(loggers, caplog):
    usage, seen = loggers
    usage.recorder.policy = tc.TagPolicy(max_tags=1)
    resp = litellm.completion(model="gpt-4o-mini", messages=MESSAGES, mock_response="fine",
                              metadata={"tags": ["a", "b"]})
    assert resp.choices[0].message.content == "fine"
    end = time.monotonic() + 30
    while usage.failed == 0 and time.monotonic() < end:
        time.sleep(0.02)
    assert usage.failed == 1 and len(usage.recorder) == 0
    assert isinstance(usage.last_error, tc.TagError)
    assert "a LiteLLM request was not recorded" in caplog.text


def test_one_logger_per_recorder_for_litellm():
    mgr = litellm.logging_callback_manager
    rec = tc.Recorder()
    a, b, c = TagcoreLogger(rec), TagcoreLogger(rec), TagcoreLogger(tc.Recorder())
    assert mgr._get_custom_logger_key(a) == mgr._get_custom_logger_key(b)
    assert mgr._get_custom_logger_key(a) != mgr._get_custom_logger_key(c)
    a._failed = 3  # counters are not part of the key: it never changes
    assert mgr._get_custom_logger_key(a) == mgr._get_custom_logger_key(b)


def test_logger_arguments(tmp_path):
    with pytest.raises(ValueError, match="key_value"):
        TagcoreLogger(key_value="flat")
    with pytest.raises(TypeError, match="recorder"):
        TagcoreLogger(42)  # type: ignore[arg-type]
    durable = TagcoreLogger(str(tmp_path / "usage"))
    durable.record_payload({"id": "r1", "model": "m", "status": "success",
                            "startTime": 1766000068.0, "endTime": 1766000069.0,
                            "prompt_tokens": 1, "completion_tokens": 2, "response_cost": None,
                            "request_tags": ["x"]})
    durable.recorder.close()
    back = tc.read_recorded(tmp_path / "usage")
    assert len(back) == 1 and back.extras["unpriced"].tolist() == [1]  # no cost: never $0
    with pytest.raises(tc.FormatError, match=r"LiteLLM payload 'r2': prompt_tokens: missing"):
        durable.record_payload({"id": "r2", "model": "m", "status": "success",
                                "startTime": 1766000068.0})


def test_without_kwargs_standard_logging_object():
    """A LiteLLM that passes no standard_logging_object: read from the call's kwargs."""
    import datetime as dt

    usage = TagcoreLogger(tc.Recorder())

    class Usage:
        def model_dump(self):
            return {"prompt_tokens": 5, "completion_tokens": 7}

    class Response:
        id = "chatcmpl-x"
        usage = Usage()

    start = dt.datetime(2025, 1, 1, 12, 0, 0)  # naive local time, as litellm passes it
    usage.log_success_event({"model": "gpt-4o", "response_cost": 0.001,
                             "litellm_params": {"metadata": {"tags": ["k:v"]}}},
                            Response(), start, start + dt.timedelta(milliseconds=250))
    log = usage.recorder.snapshot()
    assert log.tags_of(0) == ["k/v"] and log.cost.tolist() == [1_000_000]
    assert log.ts.tolist() == [int(start.timestamp()) * 10**9]
    assert float(log.latency_ms[0]) == 250.0 and int(log.prompt_tokens[0]) == 5


def test_import_without_litellm_names_the_extra():
    code = textwrap.dedent("""
        import sys
        sys.modules["litellm"] = None  # as if not installed
        try:
            import tagcore.integrations.litellm
        except ImportError as exc:
            print(exc)
        else:
            raise SystemExit("imported")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "pip install 'tagcore[litellm]'" in proc.stdout
    import tagcore.integrations  # the package itself needs nothing

    assert tagcore.integrations.__doc__
