"""One record, every door: the same nano-dollars, instants and tokens.

A batch of hypothesis-generated requests goes in through every constructor (records, pandas,
arrays, Arrow), every native file format (Parquet, JSONL, CSV), every vendor reader whose format
carries the field, and the gateway's recorder. Each door's log must equal an independent oracle
computed here from the generated values with :mod:`decimal` alone (shortest decimal of a float,
half-even to the nano-dollar or nanosecond), and so each other.

A second test prices usage objects (Chat Completions and Responses API, cached, cache-write and
reasoning tokens) through the OpenAI log reader and through the recorder, against the same
Decimal arithmetic.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tagcore as tc
from tagcore.gateway import Recorder
from tagcore.prices import PriceTable

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

NS = 10**9
LO = int(dt.datetime(1990, 1, 1, tzinfo=dt.timezone.utc).timestamp()) * NS
HI = int(dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc).timestamp()) * NS


# ============================================================ the oracle: Decimal only


def half_even(d: Decimal) -> int:
    with localcontext() as ctx:
        ctx.prec = 100
        return int(d.to_integral_value(rounding=ROUND_HALF_EVEN))


def oracle_nanos(value) -> int:
    """Dollars to nano-dollars: a float through its shortest decimal (repr), text as written."""
    d = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    with localcontext() as ctx:
        ctx.prec = 100
        return half_even(d * NS)


def oracle_instant(value) -> int:
    """Epoch seconds (int, float through repr) or our own ISO text (see ``iso``)."""
    if isinstance(value, str) and value.isdigit():  # epoch seconds written as text
        return int(value) * NS
    if isinstance(value, (int, float)):
        with localcontext() as ctx:
            ctx.prec = 100
            return half_even(Decimal(repr(value)) * NS)
    return ISO_TRUTH[value]


ISO_TRUTH: dict[str, int] = {}


def iso(ns: int, digits: int, offset_min: int, sep: str) -> str:
    """ISO 8601 text of the instant ``ns`` truncated to ``digits`` fraction digits, written at
    a UTC offset of ``offset_min`` minutes (``Z`` for 0); remembers the instant it means."""
    ns -= ns % 10 ** (9 - digits)
    secs, frac = divmod(ns, NS)
    wall = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=secs + offset_min * 60)
    text = wall.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    if digits:
        text += "." + str(frac).rjust(9, "0")[:digits]
    if offset_min == 0:
        text += "Z"
    else:
        sign = "+" if offset_min > 0 else "-"
        h, m = divmod(abs(offset_min), 60)
        text += f"{sign}{h:02d}:{m:02d}"
    ISO_TRUTH[text] = ns
    return text


# ============================================================ generated requests

TAGS = st.lists(st.sampled_from(["customer/acme", "customer/globex", "env/prod", "asia",
                                 "org/team/project", "feature/chat"]), max_size=4)

iso_times = st.builds(iso, st.integers(LO, HI), st.integers(0, 9),
                      st.sampled_from([0, 0, 60, -300, 330, 345]), st.sampled_from(["T", " "]))
# one kind of time per batch, so that typed columns (Parquet, pandas) can hold it
time_kinds = st.sampled_from(["iso", "int", "float"])
dollar_kinds = st.sampled_from(["float", "text"])


def _time(kind: str):
    if kind == "iso":
        return iso_times
    if kind == "int":
        return st.integers(LO // NS, HI // NS)
    return st.floats(LO / NS, HI / NS, allow_nan=False)


def _dollars(kind: str):
    if kind == "float":
        return st.one_of(st.floats(0, 1000, allow_nan=False), st.floats(0, 1e-6),
                         st.integers(0, 10**12).map(lambda n: n / 10**10))
    return st.builds(lambda n, k: str(Decimal(n).scaleb(-k)), st.integers(0, 10**15),
                     st.integers(6, 15))  # at most $10^9


@st.composite
def batches(draw):
    tk, dk = draw(time_kinds), draw(dollar_kinds)
    n = draw(st.integers(1, 6))
    rows = []
    for _ in range(n):
        prompt = draw(st.integers(0, 2**40))
        completion = draw(st.integers(0, 2**40))
        rows.append({
            "ts": draw(_time(tk)),
            "model": draw(st.sampled_from(["gpt-4o-mini", "gpt-4o", "claude-3-5-sonnet"])),
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "cached_tokens": draw(st.integers(0, prompt)),
            "reasoning_tokens": draw(st.integers(0, completion)),
            "cost": draw(_dollars(dk)),
            # whole microseconds, so that an end-minus-start latency is the same float
            "latency_ms": draw(st.integers(0, 10**9)) / 1000,
            "status": draw(st.sampled_from([200, 200, 201, 400, 429, 500])),
            "request_tags": draw(TAGS),
        })
    return rows


# ============================================================ the doors


def via_records(rows):
    return tc.RequestLog.from_records(rows)


def via_pandas(rows):
    return tc.RequestLog.from_pandas(pd.DataFrame(rows))


def via_arrays(rows):
    trie = tc.TagTrie()
    offsets, ids = [0], []
    for r in rows:
        ids.extend(trie.add(t) for t in dict.fromkeys(r["request_tags"]))
        offsets.append(len(ids))
    col = {k: [r[k] for r in rows] for k in rows[0]}
    return tc.RequestLog.from_arrays(
        ts=col["ts"], ts_unit="s", model=col["model"], prompt_tokens=col["prompt_tokens"],
        completion_tokens=col["completion_tokens"], cost=col["cost"],
        latency_ms=col["latency_ms"], status=col["status"], tag_offsets=offsets, tag_ids=ids,
        trie=trie, extras={"cached_tokens": col["cached_tokens"],
                           "reasoning_tokens": col["reasoning_tokens"]})


def _table(rows):
    return pa.Table.from_pylist(rows)


def via_arrow(rows):
    return tc.from_arrow(_table(rows))


def via_parquet(rows, tmp):
    path = tmp / "p.parquet"
    pq.write_table(_table(rows), path)
    return tc.read_parquet(path)


def via_jsonl(rows, tmp):
    path = tmp / "j.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tc.read_jsonl(path)


def via_csv(rows, tmp):
    path = tmp / "c.csv"
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(list(rows[0]))
    for r in rows:
        w.writerow([json.dumps(v) if isinstance(v, list) else
                    repr(v) if isinstance(v, float) else v for v in r.values()])
    path.write_text(buf.getvalue())
    return tc.read_csv(path)


def via_recorder(rows):
    with Recorder() as rec:
        for r in rows:
            rec.record(r["request_tags"], model=r["model"], prompt_tokens=r["prompt_tokens"],
                       completion_tokens=r["completion_tokens"],
                       cached_tokens=r["cached_tokens"], reasoning_tokens=r["reasoning_tokens"],
                       cost=r["cost"], latency_ms=r["latency_ms"], status=r["status"],
                       ts=r["ts"])
        return rec.snapshot()


def _end(r) -> str:
    """The request's end, as ISO text with nanoseconds (start plus its latency)."""
    end = oracle_instant(r["ts"]) + round(r["latency_ms"] * 10**6)
    return iso(end, 9, 0, "T")


def via_litellm(rows, tmp):
    path = tmp / "spend.json"
    path.write_text(json.dumps([{
        "request_id": f"r{i}", "model": r["model"], "spend": r["cost"],
        "prompt_tokens": r["prompt_tokens"], "completion_tokens": r["completion_tokens"],
        "startTime": r["ts"], "endTime": _end(r), "request_tags": r["request_tags"],
        "status": "success" if r["status"] < 400 else r["status"],
        "metadata": {"usage_object": {
            "prompt_tokens": r["prompt_tokens"], "completion_tokens": r["completion_tokens"],
            "prompt_tokens_details": {"cached_tokens": r["cached_tokens"]},
            "completion_tokens_details": {"reasoning_tokens": r["reasoning_tokens"]}}},
    } for i, r in enumerate(rows)]))
    return tc.read_litellm_spend_logs(path)


def via_helicone(rows, tmp):
    path = tmp / "helicone.json"
    path.write_text(json.dumps([{
        "request_id": f"q{i}", "request_created_at": r["ts"], "response_status": r["status"],
        "request_model": r["model"], "prompt_tokens": r["prompt_tokens"],
        "completion_tokens": r["completion_tokens"], "prompt_cache_read_tokens":
        r["cached_tokens"], "reasoning_tokens": r["reasoning_tokens"],
        "delay_ms": r["latency_ms"], "cost": r["cost"],
    } for i, r in enumerate(rows)]))
    return tc.read_helicone_export(path)


def via_openrouter(rows, tmp):
    path = tmp / "openrouter.json"
    path.write_text(json.dumps([{
        "generation_id": f"g{i}", "created_at": r["ts"], "cost_total": r["cost"],
        "tokens_prompt": r["prompt_tokens"], "tokens_completion": r["completion_tokens"],
        "tokens_reasoning": r["reasoning_tokens"], "tokens_cached": r["cached_tokens"],
        "model_permaslug": r["model"], "generation_time_ms": r["latency_ms"],
    } for i, r in enumerate(rows)]))
    return tc.read_openrouter_activity(path)


def via_langfuse(rows, tmp):
    path = tmp / "observations.json"
    path.write_text(json.dumps({"data": [{
        "id": f"o{i}", "type": "GENERATION", "startTime": r["ts"], "endTime": _end(r),
        "model": r["model"], "usageDetails": {"input": r["prompt_tokens"],
                                              "output": r["completion_tokens"]},
        "totalCost": r["cost"], "tags": r["request_tags"],
    } for i, r in enumerate(rows)]}))
    return tc.read_langfuse_observations(path)


# the columns each door can tell (vendor formats carry no status or tags of ours, some no
# cached/reasoning tokens, and not every one of them takes epoch times)
NATIVE = {"ts", "cost", "tokens", "latency", "status", "tags", "model"}
DOORS = {
    "records": (via_records, NATIVE | {"detail"}, {"iso", "int", "float"}),
    "pandas": (via_pandas, NATIVE | {"detail"}, {"iso", "int", "float"}),
    "arrays": (via_arrays, NATIVE | {"detail"}, {"iso", "int", "float"}),
    "arrow": (via_arrow, NATIVE | {"detail"}, {"iso", "int", "float"}),
    "parquet": (via_parquet, NATIVE | {"detail"}, {"iso", "int", "float"}),
    "jsonl": (via_jsonl, NATIVE | {"detail"}, {"iso", "int", "float"}),
    "csv": (via_csv, NATIVE | {"detail"}, {"iso", "int", "float"}),
    "recorder": (via_recorder, NATIVE | {"detail"}, {"iso", "int", "float"}),
    "litellm": (via_litellm, {"ts", "cost", "tokens", "latency", "tags", "model", "detail"},
                {"iso"}),
    "helicone": (via_helicone, {"ts", "cost", "tokens", "latency", "status", "model"},
                 {"iso"}),
    "openrouter": (via_openrouter, {"ts", "cost", "tokens", "latency", "model", "detail"},
                   {"iso"}),
    "langfuse": (via_langfuse, {"ts", "cost", "tokens", "latency", "tags", "model"}, {"iso"}),
}
_NEEDS_TMP = {"parquet", "jsonl", "csv", "litellm", "helicone", "openrouter", "langfuse"}


def _expected(rows):
    return {
        "ts": [oracle_instant(r["ts"]) for r in rows],
        "cost": [oracle_nanos(r["cost"]) for r in rows],
        "tokens": [(r["prompt_tokens"], r["completion_tokens"]) for r in rows],
        "detail": [(r["cached_tokens"], r["reasoning_tokens"]) for r in rows],
        "latency": [r["latency_ms"] for r in rows],
        "status": [r["status"] for r in rows],
        "model": [r["model"] for r in rows],
        "tags": [list(dict.fromkeys(r["request_tags"])) for r in rows],
    }


def _seen(log, n):
    ex = log.extras
    return {
        "ts": log.ts.tolist(),
        "cost": log.cost.tolist(),
        "tokens": list(zip(log.prompt_tokens.tolist(), log.completion_tokens.tolist())),
        "detail": list(zip(np.asarray(ex.get("cached_tokens", np.zeros(n))).tolist(),
                           np.asarray(ex.get("reasoning_tokens", np.zeros(n))).tolist())),
        "latency": log.latency_ms.tolist(),
        "status": log.status.tolist(),
        "model": [log.models[c] for c in log.model_codes.tolist()],
        "tags": [log.tags_of(i) for i in range(n)],
    }


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                HealthCheck.too_slow])
@given(rows=batches())
def test_every_door_reads_the_same_nanos_instants_and_tokens(rows, tmp_path):
    _all_doors_agree(rows, tmp_path)


# floats whose x * 1e9 lands on the wrong side of a half nano-dollar in binary (np.rint of
# the float product differs from the decimal rule); ISO times with all nine digits
NEAR_TIES = [2.0343163825, 64.4979591225, 68.0066453235, 8.1641519905, 2.5e-9, 0.1,
             1.0000000005, 0.0000000015]


@pytest.mark.parametrize("kind", ["float", "text"])
def test_near_tie_dollars_and_nanosecond_times_through_every_door(kind, tmp_path):
    rows = [{"ts": iso(1767225600 * NS + 123456789 + i, 9, off, "T"), "model": "m",
             "prompt_tokens": 2**40 + i, "completion_tokens": i, "cached_tokens": i,
             "reasoning_tokens": 0, "cost": x if kind == "float" else repr(x),
             "latency_ms": 812.5, "status": 200, "request_tags": ["customer/acme"]}
            for i, (x, off) in enumerate(zip(NEAR_TIES, [0, 60, -300, 330] * 2))]
    _all_doors_agree(rows, tmp_path)


def test_epoch_text_is_seconds_through_every_door(tmp_path):
    """``"1700000000"`` is epoch seconds for every door (it once was refused by some)."""
    rows = [{"ts": 1700000000, "model": "m", "prompt_tokens": 1, "completion_tokens": 2,
             "cached_tokens": 0, "reasoning_tokens": 0, "cost": 0.5, "latency_ms": 1.0,
             "status": 200, "request_tags": []}]
    _all_doors_agree(rows, tmp_path)
    for door in (via_records, via_pandas, via_recorder):
        log = door([dict(rows[0], ts="1700000000")])
        assert log.ts.tolist() == [1700000000 * NS], door.__name__
    for door in (via_jsonl, via_csv, via_litellm, via_helicone, via_openrouter, via_langfuse):
        log = door([dict(rows[0], ts="1700000000")], tmp_path)
        assert log.ts.tolist() == [1700000000 * NS], door.__name__
    log = tc.load_sample()
    assert len(log.filter(since="1700000000")) == len(log.filter(since=1700000000))


def _all_doors_agree(rows, tmp_path):
    want = _expected(rows)
    kind = ("iso" if isinstance(rows[0]["ts"], str) else
            "int" if isinstance(rows[0]["ts"], int) else "float")
    for name, (door, fields, kinds) in DOORS.items():
        if kind not in kinds:
            continue
        log = door(rows, tmp_path) if name in _NEEDS_TMP else door(rows)
        assert len(log) == len(rows), name
        got = _seen(log, len(rows))
        for f in sorted(fields):
            assert got[f] == want[f], (name, f, rows)
        if name == "records":  # and back out again: the native writers keep every nanos
            for out, back in ((tmp_path / "o.parquet", tc.read_parquet),
                              (tmp_path / "o.jsonl", tc.read_jsonl),
                              (tmp_path / "o.csv", tc.read_csv)):
                getattr(log, "to_" + out.suffix[1:])(out)
                again = _seen(back(out), len(rows))
                for f in sorted(fields):
                    assert again[f] == want[f], (out.suffix, f, rows)


# ============================================================ usage, priced


RATES = {"input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07,
         "cache_read_input_token_cost": 7.5e-08, "cache_creation_input_token_cost": 1.875e-07}


def oracle_price(p, c, cached, write) -> int:
    r = {k: Decimal(repr(v)) for k, v in RATES.items()}
    exact = ((p - cached - write) * r["input_cost_per_token"]
             + cached * r["cache_read_input_token_cost"]
             + write * r["cache_creation_input_token_cost"] + c * r["output_cost_per_token"])
    with localcontext() as ctx:
        ctx.prec = 100
        return half_even(exact * NS)


@st.composite
def usages(draw):
    p = draw(st.integers(0, 10**9))
    c = draw(st.integers(0, 10**9))
    cached = draw(st.integers(0, p))
    write = draw(st.integers(0, p - cached))
    reasoning = draw(st.integers(0, c))
    if draw(st.booleans()):  # Responses API
        usage = {"input_tokens": p, "output_tokens": c, "total_tokens": p + c,
                 "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": write},
                 "output_tokens_details": {"reasoning_tokens": reasoning}}
        obj = "response"
    else:
        usage = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
                 "prompt_tokens_details": {"cached_tokens": cached, "cache_write_tokens": write},
                 "completion_tokens_details": {"reasoning_tokens": reasoning}}
        obj = "chat.completion"
    return usage, obj, (p, c, cached, write, reasoning)


def test_the_issue_example_costs_the_same_at_the_gateway_and_in_the_reader(tmp_path):
    """1000 input tokens, 400 cached, 100 cache writes, 200 output: 243,750 nano-dollars."""
    usage = {"input_tokens": 1000, "output_tokens": 200,
             "input_tokens_details": {"cached_tokens": 400, "cache_write_tokens": 100}}
    assert oracle_price(1000, 200, 400, 100) == 243_750
    _priced_doors_agree([(usage, "response", (1000, 200, 400, 100, 0))], tmp_path)


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(usages(), min_size=1, max_size=5))
def test_priced_usage_is_the_same_through_the_reader_and_the_recorder(batch, tmp_path):
    _priced_doors_agree(batch, tmp_path)


def _priced_doors_agree(batch, tmp_path):
    prices = PriceTable.from_litellm({"gpt-4o-mini": RATES})
    lines = []
    for i, (usage, obj, _) in enumerate(batch):
        created = "created_at" if obj == "response" else "created"
        lines.append(json.dumps({
            "request": {"model": "gpt-4o-mini", "request_tags": ["customer/acme"]},
            "response": {"object": obj, "id": f"r{i}", created: 1767225600 + i,
                         "model": "gpt-4o-mini", "usage": usage},
            "latency_ms": 10.5, "status": 200}))
    path = tmp_path / "openai.jsonl"
    path.write_text("\n".join(lines) + "\n")
    read = tc.read_openai_log(path, prices)
    with Recorder(prices=prices) as rec:
        for i, (usage, _, _) in enumerate(batch):
            rec.record(["customer/acme"], model="gpt-4o-mini", usage=usage, latency_ms=10.5,
                       ts=1767225600 + i)
        recorded = rec.snapshot()
    want_cost = [oracle_price(p, c, cached, write) for _, _, (p, c, cached, write, _) in batch]
    want_tokens = [(p, c) for _, _, (p, c, *_rest) in batch]
    want_detail = [(cached, r) for _, _, (_, _, cached, _, r) in batch]
    for name, log in (("read_openai_log", read), ("Recorder", recorded)):
        got = _seen(log, len(batch))
        assert got["cost"] == want_cost, name
        assert got["tokens"] == want_tokens, name
        assert got["detail"] == want_detail, name
        assert got["ts"] == [(1767225600 + i) * NS for i in range(len(batch))], name
