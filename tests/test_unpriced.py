"""Issue 11, item 3: no unknown becomes zero.

- A dated model name (``gpt-4o-mini-2024-07-18``, ``claude-sonnet-4-5-20250929``,
  ``claude-3-5-haiku@20241022``) falls back to its undated alias when the price table lacks the
  dated key (counted in ``PriceTable.aliases``); the dated key wins when present.
- A request whose cost is unknown (the table cannot price it, or a record has no cost) is kept
  at 0 nano-dollars but flagged ``unpriced``, listed per model in ``log.problems`` and counted
  in an ``unpriced`` column of ``totals``/``rollup``/``top`` (``metric="unpriced"`` and
  ``df.attrs["unpriced"]`` for ``timeseries``/``pivot``). A log without one is unchanged.
- A query naming a path the log has never seen raises ``UnknownPathError`` with the nearest
  paths; a known path with no requests in a window is still an empty frame.
"""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import pytest

import tagcore as tc
from tagcore.errors import TagcoreError
from tagcore.formats import parse_helicone_export, read_openai_log
from tagcore.io import read_langfuse_observations
from tagcore.log import RequestLog
from tagcore.prices import PriceTable
from tagcore.query import UnknownPathError

MINI = {"input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07}
FOUR_O = {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05}


@pytest.fixture
def litellm_map(shared_file):
    return shared_file("formats", "litellm", "pricing",
                       "model_prices_and_context_window_backup.json")


def openai_line(model: str, prompt: int = 10, completion: int = 5, tags=("customer/acme",),
                ts: int = 1727346142) -> str:
    return json.dumps({
        "request": {"model": model.split("-20")[0], "request_tags": list(tags)},
        "response": {"object": "chat.completion", "created": ts, "model": model,
                     "usage": {"prompt_tokens": prompt, "completion_tokens": completion}},
        "latency_ms": 100.0, "status": 200}) + "\n"


def rec(tags, cost=1.0, model="m", ts=0, **kw):
    out = {"ts": ts, "model": model, "prompt_tokens": 1, "completion_tokens": 1,
           "latency_ms": 1.0, "status": 200, "request_tags": tags, **kw}
    if cost is not None:
        out["cost"] = cost
    return out


# ================================================================== dated snapshots


@pytest.mark.parametrize("name, key", [
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),                    # OpenAI -YYYY-MM-DD
    ("openai/gpt-4o-mini-2024-07-18", "gpt-4o-mini"),             # provider-prefixed too
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),          # Anthropic -YYYYMMDD
    ("anthropic/claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    ("claude-3-5-haiku@20241022", "vertex_ai/claude-3-5-haiku"),  # Vertex @YYYYMMDD, unique prefix
    ("vertex_ai/claude-3-5-haiku@20241022", "vertex_ai/claude-3-5-haiku"),
])
def test_a_dated_snapshot_falls_back_to_its_alias(name, key):
    t = PriceTable({"gpt-4o-mini": MINI, "claude-sonnet-4-5": MINI,
                    "vertex_ai/claude-3-5-haiku": MINI})
    assert t.resolve(name) == key
    assert t.cost_nanos(name, 10, 5) == 10 * 150 + 5 * 600
    assert t.aliases == {name: 1} and t.unpriced == {}


@pytest.mark.parametrize("name", [
    "gpt-4o-mini-0718",        # MMDD snapshots (gpt-4-0613) are not stripped
    "gpt-4o-mini-2024-13-01",  # no such month
    "gpt-4o-mini-2024-02-30",  # no such day
    "gpt-4o-mini-19990718",    # before 2000: not a release date
    "gpt-4o-mini-latest",
    "gpt-4o-2024-07-18",       # the alias (gpt-4o) is unknown too
])
def test_other_suffixes_stay_unknown(name):
    t = PriceTable({"gpt-4o-mini": MINI})
    assert t.resolve(name) is None
    assert t.cost_nanos(name, 1, 1) is None and t.unpriced == {name: 1} and t.aliases == {}


def test_the_dated_key_wins_over_its_alias():
    # gpt-4o-2024-05-13 was dearer than gpt-4o: a table that lists it must use its own price
    t = PriceTable({"gpt-4o": FOUR_O, "gpt-4o-2024-05-13": {"input_cost_per_token": 5e-06,
                                                           "output_cost_per_token": 1.5e-05}})
    assert t.resolve("gpt-4o-2024-05-13") == "gpt-4o-2024-05-13"
    assert t.cost_nanos("gpt-4o-2024-05-13", 1, 0) == 5000 and t.aliases == {}
    assert t.resolve("gpt-4o-2024-08-06") == "gpt-4o"


def test_aliases_are_counted_by_price_many_and_reset():
    t = PriceTable({"gpt-4o-mini": MINI})
    nanos, bad = t.price_many(["gpt-4o-mini-2024-07-18", "gpt-4o-mini", "x-2024-07-18",
                               "gpt-4o-mini-2024-07-18"], [10, 10, 10, 1], [5, 5, 5, 0])
    assert nanos.tolist() == [4500, 4500, 0, 150] and bad.tolist() == [False, False, True, False]
    assert t.aliases == {"gpt-4o-mini-2024-07-18": 2}
    assert t.unpriced == {"x-2024-07-18": 1}
    t.reset_report()
    assert t.aliases == {} and t.unpriced == {}
    t.cost_nanos("gpt-4o-mini-2024-07-18", 1, 1)  # the resolution is cached, the count is not
    assert t.aliases == {"gpt-4o-mini-2024-07-18": 1}


def test_litellm_map_dated_names_resolve_to_themselves_or_their_alias(litellm_map):
    data = json.loads(litellm_map.read_text())
    full = PriceTable.from_litellm(data)
    # every dated key of the map is priced as itself (the exact name wins), never as its alias
    dated = [k for k in full.models if re.search(r"(-\d{4}-\d{2}-\d{2}|[-@]\d{8})$", k)]
    assert len(dated) > 100
    assert all(full.resolve(k) == k for k in dated)
    assert full.aliases == {}
    # the case: the real dated name against a table of the alias only
    mini = PriceTable.from_litellm({"gpt-4o-mini": data["gpt-4o-mini"]})
    assert mini.resolve("gpt-4o-mini-2024-07-18") == "gpt-4o-mini"
    # where the map lists a snapshot at its alias's prices, the fallback gives the same cost
    same = 0
    for k in dated:
        base = re.sub(r"(-\d{4}-\d{2}-\d{2}|[-@]\d{8})$", "", k)
        if base not in data or "/" in k:
            continue
        keys = ("input_cost_per_token", "output_cost_per_token")
        if any(data[k].get(f) != data[base].get(f) or data[base].get(f) is None
               for f in keys):
            continue
        alias_only = PriceTable.from_litellm({base: data[base]})
        assert alias_only.cost_nanos(k, 1000, 100) == full.cost_nanos(k, 1000, 100), k
        assert alias_only.aliases == {k: 1}
        same += 1
    assert same >= 10


# ================================================================== readers


def test_read_openai_log_prices_a_dated_name_by_its_alias():
    """Regression: ``gpt-4o-mini-2024-07-18`` against a ``gpt-4o-mini`` price was $0 with
    nothing in ``log.problems``."""
    table = PriceTable({"gpt-4o-mini": MINI})
    log = read_openai_log(io.StringIO(openai_line("gpt-4o-mini-2024-07-18") * 3), prices=table)
    assert log.cost.tolist() == [4500] * 3
    assert table.unpriced == {} and table.aliases == {"gpt-4o-mini-2024-07-18": 3}
    assert "unpriced" not in log.totals() and log.problems == ()


def test_read_openai_log_recorded_responses_by_alias(shared_file, litellm_map):
    """The real recorded responses (dated names only) priced by a table of the aliases equal
    those priced by LiteLLM's map, which lists the snapshots."""
    src = shared_file("formats", "openai", "recorded_responses.jsonl")
    lines = [json.loads(x) for x in src.read_text().splitlines() if x.strip()]
    body = "".join(json.dumps({"request": {"model": "x", "request_tags": ["t"]},
                               "response": d["response"], "latency_ms": 1.0, "status": 200})
                   + "\n" for d in lines)
    data = json.loads(litellm_map.read_text())
    aliases = PriceTable.from_litellm({k: data[k] for k in ("gpt-4o", "gpt-4o-mini")})
    full = PriceTable.from_litellm(data)
    a = read_openai_log(io.StringIO(body), prices=aliases)
    b = read_openai_log(io.StringIO(body), prices=full)
    assert set(a.models) <= {"gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18"}
    assert a.cost.tolist() == b.cost.tolist() and int(a.cost.min()) > 0
    assert aliases.unpriced == {} and sum(aliases.aliases.values()) == len(a)
    assert a.problems == () and "unpriced" not in a.extras


def test_read_openai_log_unknown_model_is_flagged_counted_and_reported():
    """Regression: an unknown model was priced $0 with nothing in ``log.problems``."""
    table = PriceTable({"gpt-4o-mini": MINI})
    text = openai_line("gpt-x", tags=("customer/a",)) * 3 + openai_line("gpt-4o-mini")
    log = read_openai_log(io.StringIO(text), prices=table)
    assert log.extras["unpriced"].tolist() == [1, 1, 1, 0]
    assert log.cost.tolist() == [0, 0, 0, 4500]
    assert len(log.problems) == 1
    assert log.problems[0].startswith("3 requests unpriced (cost unknown")
    assert log.problems[0].endswith(": gpt-x (3): unknown model")
    assert int(log.totals()["unpriced"]) == 3
    assert table.unpriced == {"gpt-x": 3}


def test_a_model_without_the_needed_rate_gives_the_tables_reason():
    table = PriceTable({"embed": {"input_cost_per_token": 1e-7}})
    log = read_openai_log(io.StringIO(openai_line("embed", completion=4)), prices=table)
    assert log.extras["unpriced"].tolist() == [1]
    assert log.problems[0].endswith("embed (1): no output_cost_per_token")


def test_read_openai_log_without_a_table_is_all_unpriced():
    log = read_openai_log(io.StringIO(openai_line("gpt-4o") * 2))
    assert log.extras["unpriced"].tolist() == [1, 1]
    assert log.problems[0].endswith("gpt-4o (2): no cost")


def test_helicone_rows_without_a_cost_that_the_table_cannot_price_are_unpriced():
    rows = [
        {"request_id": "r1", "request_created_at": "2024-08-01T10:00:00Z", "response_status": 200,
         "response_model": "mystery-1", "prompt_tokens": 3, "completion_tokens": 2,
         "cost": None, "request_properties": {"Customer": "acme"}},
        {"request_id": "r2", "request_created_at": "2024-08-01T10:00:00Z", "response_status": 200,
         "response_model": "gpt-4o-mini-2024-07-18", "prompt_tokens": 3, "completion_tokens": 2,
         "cost": None, "request_properties": {"Customer": "acme"}},
    ]
    table = PriceTable({"gpt-4o-mini": MINI})
    records, skipped = parse_helicone_export(io.StringIO(json.dumps(rows)), table)
    assert skipped == []
    assert records[0]["cost"] is None and records[0]["unpriced"] == 1
    assert records[1]["cost_nanos"] == 3 * 150 + 2 * 600 and "unpriced" not in records[1]
    log = tc.read_helicone_export(io.StringIO(json.dumps(rows)), prices=PriceTable(
        {"gpt-4o-mini": MINI}))
    assert log.extras["unpriced"].tolist() == [1, 0]
    assert log.problems[0].endswith("mystery-1 (1): unknown model")


def test_langfuse_observations_without_a_cost_are_unpriced_not_free():
    obs = {"id": "o1", "type": "GENERATION", "startTime": "2026-01-01T00:00:00Z",
           "model": "gpt-4o", "usageDetails": {"input": 3, "output": 2}, "tags": ["a"]}
    log = read_langfuse_observations(io.StringIO(json.dumps([obs])))
    assert log.extras["unpriced"].tolist() == [1]
    assert "gpt-4o (1): no cost" in log.problems[-1]


# ================================================================== from_records


def test_from_records_missing_cost_is_unpriced_not_zero():
    """Regression: a record without ``cost`` was stored as $0 with nothing said."""
    log = RequestLog.from_records([rec(["a"], cost=None), rec(["a"], cost=None, model="n"),
                                   rec(["a"], cost=2.0), {**rec(["b"]), "cost": None}])
    assert log.cost.tolist() == [0, 0, 2 * 10**9, 0]
    assert log.extras["unpriced"].tolist() == [1, 1, 0, 1]
    assert log.problems == ("3 requests unpriced (cost unknown: counted as $0 in the sums and "
                            "flagged in the 'unpriced' column): m (2): no cost; n (1): no cost",)


def test_from_records_cost_nanos_and_zero_cost_are_known():
    log = RequestLog.from_records([rec(["a"], cost=None, cost_nanos=0), rec(["a"], cost=0)])
    assert "unpriced" not in log.extras and log.problems == ()


def test_from_records_keeps_given_flags_and_reports_them():
    """A log written with its flags (the recorder's, exported) reads back flagged."""
    log = RequestLog.from_records([rec(["a"], cost=0.0, unpriced=1), rec(["a"], unpriced=0)])
    assert log.extras["unpriced"].tolist() == [1, 0]
    assert log.problems[0].endswith("m (1): flagged unpriced")


def test_from_records_lists_at_most_ten_models():
    log = RequestLog.from_records([rec(["a"], cost=None, model=f"m{i:02d}") for i in range(12)])
    assert log.problems[0].startswith("12 requests unpriced")
    assert log.problems[0].endswith("m09 (1): no cost; ... and 2 more models")


def test_from_records_skipped_rows_and_unpriced_rows_are_both_reported():
    bad = rec(["a"], prompt_tokens=-1)
    log = RequestLog.from_records([bad, rec(["a"], cost=None)], on_error="skip")
    assert log.dropped_rows == 1 and len(log.problems) == 2
    assert "prompt_tokens" in log.problems[0] and "1 request unpriced" in log.problems[1]


# ================================================================== frames


@pytest.fixture
def mixed():
    return RequestLog.from_records([
        rec(["customer/acme", "env/prod"], 1.0, model="a", ts=0),
        rec(["customer/acme"], None, model="x", ts=3600),
        rec(["customer/beta", "customer/acme"], None, model="x", ts=7200),
        rec([], 2.0, model="a", ts=86400),
        rec([], None, model="x", ts=86400),
        rec(["env/dev"], 0.5, model="a", ts=2 * 86400),
    ])


def test_totals_count_the_unpriced(mixed):
    t = mixed.totals()
    assert int(t["unpriced"]) == 3 and float(t["cost"]) == 3.5
    assert list(t.index)[-1] == "unpriced"
    assert int(mixed.totals(["requests"])["unpriced"]) == 3


def test_rollup_full_counts_each_unpriced_request_once_per_node(mixed):
    df = mixed.rollup(metrics=["requests", "cost"])
    assert list(df.columns) == ["depth", "parent", "requests", "cost", "unpriced"]
    assert df["unpriced"].dtype == np.int64
    assert df["unpriced"].to_dict() == {"customer": 2, "customer/acme": 2, "customer/beta": 1,
                                        "env": 0, "env/prod": 0, "env/dev": 0}
    # by brute force: the flagged rows that carry the node or a path under it
    flags = mixed.extras["unpriced"]
    for node in df.index:
        want = sum(int(flags[r]) for r in range(len(mixed))
                   if any(t == node or t.startswith(node + "/") for t in mixed.tags_of(r)))
        assert df.loc[node, "unpriced"] == want, node


@pytest.mark.parametrize("attribution", ["split", "primary"])
def test_rollup_split_and_primary_unpriced_add_up(mixed, attribution):
    df = mixed.rollup(under="customer", attribution=attribution, metrics=["requests", "cost"])
    assert df["unpriced"].sum() == pytest.approx(3)
    want = ({"customer/acme": 1.5, "customer/beta": 0.5, "(untagged)": 1.0} if
            attribution == "split" else
            {"customer/acme": 1, "customer/beta": 1, "(untagged)": 1})
    assert df["unpriced"].to_dict() == pytest.approx(want)
    assert df["unpriced"].dtype == (np.float64 if attribution == "split" else np.int64)


def test_rollup_by_model_has_the_column_in_every_part(mixed):
    df = mixed.rollup(level=1, by="model", metrics=["requests", "cost", "share"])
    assert list(df.columns) == ["depth", "parent", "requests", "cost", "share", "unpriced"]
    assert df.loc["a", "unpriced"].tolist() == [0, 0]
    assert df.loc["x", "unpriced"].tolist() == [2]


@pytest.mark.parametrize("attribution", ["split", "primary", "full"])
def test_top_counts_the_unpriced_and_other_holds_the_rest(mixed, attribution):
    df = mixed.top(1, under="customer", attribution=attribution, metrics=["requests", "cost"])
    assert list(df.columns) == ["depth", "parent", "requests", "cost", "unpriced"]
    assert df.loc["customer/acme", "unpriced"] == pytest.approx(
        {"split": 1.5, "primary": 1, "full": 2}[attribution])
    if attribution != "full":  # rows add up
        assert df["unpriced"].sum() == pytest.approx(3)
    else:  # (other): requests the top n do not cover
        assert df.loc["(other)", "unpriced"] == 1


def test_timeseries_and_pivot_count_unpriced_without_mixing_columns(mixed):
    ts = mixed.timeseries("1D", under="customer")
    assert list(ts.columns) == ["customer/acme", "customer/beta"]  # cost only
    assert ts.attrs["unpriced"] == 2
    assert mixed.timeseries("1D", level=1, attribution="split").attrs["unpriced"] == 3
    n = mixed.timeseries("1D", under="customer", metric="unpriced", attribution="split")
    assert n.to_numpy().sum() == pytest.approx(3)
    assert n.loc[n.index[0]].to_dict() == pytest.approx(
        {"customer/acme": 1.5, "customer/beta": 0.5, "(untagged)": 0.0})
    pv = mixed.pivot("customer", "env")
    assert pv.attrs["unpriced"] == 0  # no flagged request carries both
    assert mixed.pivot("customer", "env", metric="unpriced").to_numpy().sum() == 0
    both = RequestLog.from_records([rec(["c/a", "e/p"], None), rec(["c/a", "e/q"], 1.0)])
    assert both.pivot("c", "e", metric="unpriced").loc["c/a"].tolist() == [1, 0]
    assert both.pivot("c", "e").attrs["unpriced"] == 1


def test_a_log_without_unpriced_rows_is_unchanged():
    """No column, no attrs: also for a log with an all-zero flag column (the recorder's)."""
    plain = [rec(["customer/a", "env/p"], 1.0), rec(["customer/b"], 2.0, ts=86400)]
    zero = [dict(r, unpriced=0) for r in plain]
    for log in (RequestLog.from_records(plain), RequestLog.from_records(zero)):
        assert "unpriced" not in log.totals()
        assert "unpriced" not in log.rollup().columns
        assert "unpriced" not in log.rollup(level=1, attribution="split").columns
        assert "unpriced" not in log.rollup(level=1, by="model").columns
        assert "unpriced" not in log.top(1, under="customer").columns
        assert log.timeseries("1D").attrs == {} and log.pivot("customer", "env").attrs == {}
        assert log.problems == ()
    a, b = (RequestLog.from_records(x) for x in (plain, zero))
    pd.testing.assert_frame_equal(a.rollup(), b.rollup())
    assert b.timeseries("1D", metric="unpriced").to_numpy().sum() == 0


def test_a_window_without_unpriced_rows_has_no_column(mixed):
    day3 = mixed.filter(since=2 * 86400)
    assert len(day3) == 1 and "unpriced" not in day3.rollup().columns
    # empty frames of a log that has some keep the column and its dtype
    empty = mixed.rollup(under="customer/beta")
    assert empty.empty and empty["unpriced"].dtype == np.int64


def test_recorder_logs_show_their_unpriced_requests():
    with tc.Recorder(prices=PriceTable({"m": MINI})) as r:
        r.record(["customer/a"], model="m", prompt_tokens=1, completion_tokens=1, latency_ms=1)
        r.record(["customer/a"], model="gpt-x", prompt_tokens=1, completion_tokens=1,
                 latency_ms=1)
        log = r.snapshot()
    assert log.rollup(under="customer").loc["customer/a", "unpriced"] == 1
    assert int(log.totals()["unpriced"]) == 1


# ================================================================== unknown paths


@pytest.fixture
def tagged():
    return RequestLog.from_records([
        rec(["customer/acme", "feature/chat", "env/prod"], 1.0, ts=0),
        rec(["customer/globex", "feature/search"], 2.0, ts=86400 * 10),
        rec(["customers/x"], 1.0, ts=86400 * 10),
    ])


@pytest.mark.parametrize("query, arg, near", [
    (lambda lg: lg.rollup(under="custmer"), "under", ["customer", "customers"]),
    (lambda lg: lg.rollup(under="custmer", attribution="split"), "under", ["customer"]),
    (lambda lg: lg.rollup(under="custmer", by="model"), "under", ["customer"]),
    (lambda lg: lg.timeseries("1D", under="custmer"), "under", ["customer"]),
    (lambda lg: lg.top(3, under="custmer"), "under", ["customer"]),
    (lambda lg: lg.top(3, under="custmer", attribution="full"), "under", ["customer"]),
    (lambda lg: lg.rollup(under="customer/acm"), "under", ["customer/acme"]),
    (lambda lg: lg.pivot("custmer", "feature"), "dim_a", ["customer"]),
    (lambda lg: lg.pivot("customer", "featur"), "dim_b", ["feature"]),
])
def test_an_unknown_path_is_refused_with_the_nearest_names(tagged, query, arg, near):
    """Regression: these gave empty frames, read as "no spend"."""
    with pytest.raises(UnknownPathError) as info:
        query(tagged)
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, TagcoreError)
    assert str(err).startswith(f"{arg}: ")
    for n in near:
        assert n in err.nearest and repr(n) in str(err)


def test_pivot_by_a_column_name_points_at_by(tagged):
    with pytest.raises(UnknownPathError, match=r"dim_b: 'model' is not a tag path of this log; "
                       r"its tags at depth 1: customer, feature, env, customers .*"
                       r"rollup\(by='model'\)"):
        tagged.pivot("customer", "model")


def test_unknown_paths_are_normalized_and_a_log_without_tags_says_so():
    with pytest.raises(UnknownPathError, match="'a/b' is not a tag path of this log; "
                                               "the log has no tags"):
        RequestLog.from_records([rec([])]).rollup(under=" a//b ")


def test_an_unknown_path_is_refused_in_a_window_without_requests(tagged):
    none = tagged.filter(since=86400 * 100)
    assert len(none) == 0
    for query in (lambda: none.rollup(under="custmer"),
                  lambda: none.rollup(under="custmer", by="model"),
                  lambda: none.timeseries("1D", under="custmer"),
                  lambda: none.top(2, under="custmer")):
        with pytest.raises(UnknownPathError, match="did you mean 'customer'"):
            query()


def test_a_known_path_with_no_requests_in_the_window_is_an_empty_frame(tagged):
    late = tagged.filter(since=86400 * 5)
    assert late.rollup(under="env").empty
    assert late.rollup(under="env", attribution="split").index.tolist() == ["(untagged)"]
    assert late.timeseries("1D", under="env").to_numpy().sum() == 0
    assert late.top(3, under="env").index.tolist() == ["(other)"]
    assert late.pivot("env", "customer").to_numpy().sum() == 0
    assert tagged.filter("customer").rollup(under="customers").empty


def test_an_empty_log_answers_every_path_with_an_empty_frame():
    empty = RequestLog.empty()
    assert empty.rollup(under="customer").empty
    assert empty.pivot("customer", "feature").shape == (0, 0)


def test_cli_header_and_tables_show_the_unpriced(tmp_path, capsys, mixed):
    from tagcore.cli import main

    path = tmp_path / "log.jsonl"
    mixed.to_jsonl(path)
    assert main(["report", str(path), "--last", "all"]) == 0
    out = capsys.readouterr().out
    assert "  Unpriced  3 requests of unknown cost, counted as $0" in out
    assert "unpriced" in out.split("Where the money went")[1].splitlines()[1]
