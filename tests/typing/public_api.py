"""A user's view of tagcore's public API, checked by mypy in CI (``mypy`` reads its files from
pyproject.toml): every name the README uses must exist with a useful type. Not a test module."""

from __future__ import annotations

import pandas as pd

import tagcore as tc
from tagcore.coerce import Usage, dollars_to_nanos, parse_usage, time_to_nanos
from tagcore.errors import CoerceError, TagcoreError
from tagcore.gateway import Budgets, Recorder, extract_tags


def analyst(path: str) -> None:
    log: tc.RequestLog = tc.load_sample()
    totals: pd.Series = log.totals()
    frame: pd.DataFrame = log.rollup(under="customer", attribution="split")
    series: pd.DataFrame = log.timeseries("1D", last="7D")
    pivot: pd.DataFrame = log.pivot("customer", "feature")
    top: pd.DataFrame = log.top(5, under="customer")
    sub: tc.RequestLog = log.filter("customer/acme & ~env/staging", last="7D")
    window: tuple[int, int] | None = log.window(last="7D")
    log.to_parquet(path)
    log.to_jsonl(path + ".jsonl")
    log.to_csv(path + ".csv")
    again: tc.RequestLog = tc.read_parquet(path)
    other: tc.RequestLog = tc.read_any(path + ".jsonl")
    both = tc.RequestLog.concat([again, other, sub])
    n: int = len(both)
    print(totals, frame, series, pivot, top, window, n, log.to_arrow().num_rows)
    with tc.threads(1):
        tc.set_threads(tc.get_threads())


def gateway(body: dict[str, object]) -> None:
    tags, forwarded = extract_tags(body)
    assert "request_tags" not in forwarded
    rec = Recorder()
    budgets = Budgets([{"match": "customer/*", "limit": 10.0, "window": "1D"}], recorder=rec)
    budgets.check(tags, estimated_cost=0.01)
    rec.record(tags, model="gpt-4o-mini", usage={"prompt_tokens": 3, "completion_tokens": 1},
               latency_ms=12.5)
    snap: tc.RequestLog = rec.snapshot()
    print(snap)


def values() -> None:
    nanos: int = dollars_to_nanos("0.1")
    ns: int = time_to_nanos("2026-01-01T00:00:00Z")
    u: Usage = parse_usage({"prompt_tokens": 1, "completion_tokens": 2})
    p: int = u.prompt_tokens
    try:
        tc.RequestLog.from_records([{"ts": 0}])
    except CoerceError as exc:
        print(exc.field)
    except TagcoreError:
        pass
    print(nanos, ns, p)
