"""tagcore on real public traces (Azure LLM inference 2023, Mooncake), checked against the
independent totals that ../shared/data/README.md gives (computed there with a plain csv loop).

The traces carry no tags, so the test tags each request by its service (``service/code``,
``service/conv``) and by a size class from its own tokens, as a gateway's default tags would;
the numbers to match are still the trace's own. Skips cleanly where ../shared/data is absent.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import tagcore as tc

AZURE = "azure_llm_2023"  # in the shared data folder (conftest.py's shared_file fixture)
MOONCAKE = ("mooncake", "conversation_trace.jsonl")

# the README's table: (service, hour) -> (requests, ContextTokens, GeneratedTokens)
AZURE_HOURS = {
    ("code", 18): (7_717, 15_710_990, 213_958),
    ("code", 19): (1_102, 2_348_984, 31_938),
    ("conv", 18): (15_606, 18_444_477, 3_138_185),
    ("conv", 19): (3_760, 3_917_393, 950_480),
}


def _size(tokens: np.ndarray) -> list[str]:
    return np.where(tokens >= 8192, "size/long", np.where(tokens >= 1024, "size/medium",
                                                          "size/short")).tolist()


@pytest.fixture(scope="module")
def azure(shared_file) -> tc.RequestLog:
    folder = shared_file(AZURE)
    frames = []
    for service in ("code", "conv"):
        df = pd.read_csv(folder / f"AzureLLMInferenceTrace_{service}.csv")
        n = len(df)
        frames.append(pd.DataFrame({
            "ts": pd.to_datetime(df["TIMESTAMP"], utc=True),  # naive times are UTC
            "model": f"azure-{service}", "prompt_tokens": df["ContextTokens"],
            "completion_tokens": df["GeneratedTokens"], "cost": np.zeros(n),
            "latency_ms": np.full(n, np.nan), "status": np.full(n, 200),
            "request_tags": [[f"service/{service}", s] for s in _size(df["ContextTokens"].to_numpy())],
        }))
    return tc.RequestLog.from_pandas(pd.concat(frames, ignore_index=True))


def test_azure_hourly_totals_match_the_independent_counts(azure):
    for (service, hour), (req, ctx, gen) in AZURE_HOURS.items():
        part = azure.filter(f"service/{service}", since=f"2023-11-16T{hour}:00Z",
                            until=f"2023-11-16T{hour + 1}:00Z")
        t = part.totals()
        assert (t["requests"], t["prompt_tokens"], t["completion_tokens"]) == (req, ctx, gen)


def test_azure_timeseries_and_rollup_agree_with_the_counts(azure):
    series = azure.timeseries("1h", under="service", metric="requests")
    for (service, hour), (req, _, _) in AZURE_HOURS.items():
        at = pd.Timestamp(f"2023-11-16T{hour}:00Z")
        assert series.loc[at, f"service/{service}"] == req
    roll = azure.rollup(under="service", metrics=["requests", "prompt_tokens"])
    for service in ("code", "conv"):
        want = [v for (s, _), v in AZURE_HOURS.items() if s == service]
        assert roll.loc[f"service/{service}", "requests"] == sum(w[0] for w in want)
        assert roll.loc[f"service/{service}", "prompt_tokens"] == sum(w[1] for w in want)
    # the size classes split every request exactly once
    split = azure.rollup(under="size", attribution="split", metrics=["requests"])
    assert split["requests"].sum() == len(azure) and "(untagged)" not in split.index


def test_mooncake_totals_and_round_trip(tmp_path, shared_file):
    trace = shared_file(*MOONCAKE)
    rows = [json.loads(line) for line in trace.read_text().splitlines() if line.strip()]
    start = pd.Timestamp("2024-01-01T00:00Z").value // 10**6  # timestamps are ms from start
    records = [{"ts": (start + r["timestamp"]) / 1e3, "model": "kimi",
                "prompt_tokens": r["input_length"], "completion_tokens": r["output_length"],
                "cost": 0, "latency_ms": None, "status": 200,
                "request_tags": ["service/kimi-conversation",
                                 _size(np.array([r["input_length"]]))[0]]}
               for r in rows]
    log = tc.RequestLog.from_records(records)
    t = log.totals()
    assert (t["requests"], t["prompt_tokens"], t["completion_tokens"]) == (
        12_031, 144_793_823, 4_122_048)
    log.to_parquet(tmp_path / "mooncake.parquet")
    back = tc.read_parquet(tmp_path / "mooncake.parquet")
    pd.testing.assert_frame_equal(back.rollup(sort="path"), log.rollup(sort="path"))
    assert (back.ts == log.ts).all()
