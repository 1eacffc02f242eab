"""Files as users have them: few columns, tags as text, epoch units, LiteLLM statuses.

The rule under test (README "Reading files"): only ``request_tags`` is required; a column the
source lacks is *unknown*, never zero. The log lists it in ``log.unknown``, the default frames
leave its metrics out, a question that names it raises ``UnknownColumnError``, the writers leave
it out (so a round trip knows as little), and a missing cost makes every request unpriced
unless a price table prices it from the tokens. Every door (records, pandas, Arrow, Parquet,
JSONL, CSV, ``read_any``, the command line) must agree; the oracle is the same requests written
out in full, read by the same door.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tagcore as tc
from tagcore.prices import PriceTable

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

KNOWABLE = ("ts", "model", "prompt_tokens", "completion_tokens", "latency_ms", "status")
FULL = [
    {"ts": 1767225600 + i * 3600, "model": ["gpt-4o-mini", "gpt-4o"][i % 2],
     "prompt_tokens": 10 * i + 1, "completion_tokens": i, "cost": round(0.001 * (i + 1), 6),
     "latency_ms": 100.0 + i, "status": [200, 200, 429][i % 3],
     "request_tags": [f"customer/c{i % 3}", "env/prod"]}
    for i in range(12)]


# ---------------------------------------------------------------- writing one file per door


def _drop(recs, cols):
    return [{k: v for k, v in r.items() if k not in cols} for r in recs]


def _jsonl(recs) -> io.BytesIO:
    return io.BytesIO("".join(json.dumps(r) + "\n" for r in recs).encode())


def _csv(recs, tags=json.dumps) -> io.BytesIO:
    """CSV as pandas writes it, tag lists written by ``tags`` (None: every list column)."""
    df = pd.DataFrame(recs)
    for c in df.columns:
        if (c == "request_tags" or tags is None) and len(df) and isinstance(df[c].iloc[0], list):
            df[c] = [(tags or json.dumps)(t) for t in df[c]]
    return io.BytesIO(df.to_csv(index=False).encode())


def _parquet(recs, tmp_path, name="x.parquet"):
    p = tmp_path / name
    pq.write_table(pa.Table.from_pylist(recs), p)
    return p


def doors(recs, tmp_path, **kw):
    """The log of ``recs`` through every native door, by name."""
    out = {
        "records": tc.RequestLog.from_records(recs, ts_unit=kw.get("ts_unit", "s")),
        "pandas": tc.RequestLog.from_pandas(pd.DataFrame(recs), **kw),
        "arrow": tc.from_arrow(pa.Table.from_pylist(recs), **kw),
        "parquet": tc.read_parquet(_parquet(recs, tmp_path), **kw),
        "jsonl": tc.read_jsonl(_jsonl(recs), **kw),
        "csv": tc.read_csv(_csv(recs), **kw),
        "read_any": tc.read_any(_jsonl(recs), format="jsonl", **kw),
    }
    return out


def same_known(a: tc.RequestLog, b: tc.RequestLog) -> None:
    """``a`` equals ``b`` on every column ``a`` knows."""
    assert len(a) == len(b)
    assert [a.tags_of(i) for i in range(len(a))] == [b.tags_of(i) for i in range(len(b))]
    if "ts" not in a.unknown:
        assert a.ts.tolist() == b.ts.tolist()
    if "model" not in a.unknown:
        assert [a.models[c] for c in a.model_codes] == [b.models[c] for c in b.model_codes]
    for c in ("prompt_tokens", "completion_tokens", "status"):
        if c not in a.unknown:
            assert getattr(a, c).tolist() == getattr(b, c).tolist(), c
    if "latency_ms" not in a.unknown:
        assert np.array_equal(a.latency_ms, b.latency_ms, equal_nan=True)


# ----------------------------------------------------------------------- missing columns


@pytest.mark.parametrize("missing", [
    ("prompt_tokens", "completion_tokens", "latency_ms", "status"),  # ts, model, cost, tags
    ("ts",), ("model",), ("latency_ms",), ("status",),
    ("ts", "model", "prompt_tokens", "completion_tokens", "latency_ms", "status"),
])
def test_a_missing_column_is_unknown_through_every_door(tmp_path, missing):
    full = tc.RequestLog.from_records(FULL)
    recs = _drop(FULL, missing)
    for door, log in doors(recs, tmp_path).items():
        assert log.unknown == set(missing), door
        same_known(log, full)
        assert log.cost.tolist() == full.cost.tolist() and "unpriced" not in log.extras, door
        t = log.totals()
        for m, needs in tc.log.NEEDS.items():
            if set(needs) & set(missing):
                assert m not in t.index, (door, m)
                with pytest.raises(tc.UnknownColumnError, match=repr(needs[0])
                                   if needs[0] in missing else repr(needs[-1])):
                    log.rollup(metrics=[m])
            elif m in tc.log.DEFAULT_METRICS:
                assert t[m] == full.totals()[m], (door, m)
        frame = log.rollup(level=1)
        assert frame["cost_nanos"].tolist() == full.rollup(level=1)["cost_nanos"].tolist()
        assert not set(frame.columns) & {m for m, n in tc.log.NEEDS.items() if set(n) & set(missing)}
        if "ts" in missing:
            for ask in (lambda lg: lg.timeseries("1D"), lambda lg: lg.filter(last="7D"),
                        lambda lg: lg.window(since="2026-01-01")):
                with pytest.raises(tc.UnknownColumnError, match="'ts'"):
                    ask(log)
        if "model" in missing:
            with pytest.raises(tc.UnknownColumnError, match="'model'"):
                log.filter(model="gpt-4o")
            assert log.models == ("(unknown)",)
        if "status" in missing:
            with pytest.raises(tc.UnknownColumnError, match="'status'"):
                log.rollup(by="status")


def test_what_is_unknown_stays_unknown_through_the_writers(tmp_path):
    log = tc.read_jsonl(_jsonl(_drop(FULL, ("prompt_tokens", "completion_tokens", "status"))))
    assert not set(log.to_pandas().columns) & log.unknown
    log.to_parquet(tmp_path / "b.parquet")
    assert tc.read_parquet(tmp_path / "b.parquet").unknown == log.unknown
    for fmt in ("jsonl", "csv"):
        getattr(log, f"to_{fmt}")(tmp_path / f"b.{fmt}")
        assert getattr(tc, f"read_{fmt}")(tmp_path / f"b.{fmt}").unknown == log.unknown, fmt
    assert tc.from_arrow(log).unknown == log.unknown
    both = tc.RequestLog.concat([log, tc.RequestLog.from_records(FULL)])
    assert both.unknown == log.unknown  # a column one part lacks is unknown for the whole
    assert log[np.arange(3)].unknown == log.unknown
    assert log.filter("customer/c1").unknown == log.unknown


def test_only_request_tags_is_required(tmp_path):
    recs = _drop(FULL, ("request_tags",))
    for read in (lambda: tc.read_jsonl(_jsonl(recs)), lambda: tc.read_csv(_csv(recs)),
                 lambda: tc.read_parquet(_parquet(recs, tmp_path)),
                 lambda: tc.RequestLog.from_pandas(pd.DataFrame(recs))):
        with pytest.raises(tc.LogError, match="request_tags"):
            read()


def test_a_column_some_records_lack_is_refused_not_zeroed():
    recs = [dict(r) for r in FULL]
    del recs[4]["prompt_tokens"]
    with pytest.raises(tc.LogError, match="prompt_tokens") as info:
        tc.read_jsonl(_jsonl(recs))
    assert "line 5" in str(info.value)
    with pytest.raises(tc.LogError) as info:
        tc.RequestLog.from_records(recs)
    assert (info.value.row, info.value.column) == (4, "prompt_tokens")
    kept = tc.read_jsonl(_jsonl(recs), on_error="skip")
    assert len(kept) == len(recs) - 1 and kept.dropped_rows == 1


# -------------------------------------------------------------------- a missing cost column


def test_a_missing_cost_is_unpriced_or_priced_from_tokens(tmp_path):
    recs = _drop(FULL, ("cost",))
    table = PriceTable({"gpt-4o-mini": {"input_cost_per_token": 1.5e-07,
                                        "output_cost_per_token": 6e-07}})
    want = [r["prompt_tokens"] * 150 + r["completion_tokens"] * 600
            if r["model"] == "gpt-4o-mini" else 0 for r in recs]
    for door, log in doors(recs, tmp_path).items():
        if door == "records":
            continue  # from_records: a record without a cost is unpriced (its own test)
        assert log.extras["unpriced"].tolist() == [1] * len(recs), door
        assert log.totals()["unpriced"] == len(recs) and "no cost column" in log.problems[-1]
    for door, log in doors(recs, tmp_path, prices=table).items():
        if door in ("records", "pandas"):
            continue
        assert log.cost.tolist() == want, door
        assert log.extras["unpriced"].tolist() == [int(r["model"] != "gpt-4o-mini")
                                                   for r in recs], door
        assert "gpt-4o (6): " in log.problems[-1], door
    # a dated name resolves to its undated price, as LiteLLM's map does
    dated = [dict(r, model="gpt-4o-mini-2024-07-18") for r in recs]
    log = tc.read_jsonl(_jsonl(dated), prices=table)
    assert log.cost.tolist() == [r["prompt_tokens"] * 150 + r["completion_tokens"] * 600
                                 for r in recs] and not log.extras["unpriced"].any()
    # no tokens to price by: unpriced, and the problem says why
    log = tc.read_jsonl(_jsonl(_drop(recs, ("prompt_tokens",))), prices=table)
    assert log.extras["unpriced"].all() and "no prompt_tokens column" in log.problems[-1]


# ------------------------------------------------------------------------ tags written as text


tag_text = st.text(alphabet="abcxyz/-_.", min_size=1, max_size=8).filter(
    lambda t: t.strip("/ ") != "")
tag_lists = st.lists(st.lists(tag_text, max_size=4), min_size=1, max_size=8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lists=tag_lists)
def test_tags_as_text_read_like_lists(tmp_path, lists):
    base = [dict(FULL[0], request_tags=t) for t in lists]
    want = tc.RequestLog.from_records(base)
    tags = [want.tags_of(i) for i in range(len(want))]
    forms = {
        "json": lambda t: json.dumps(t),
        "python": lambda t: repr(list(t)),  # as pandas writes a list column to CSV
        "sep": lambda t: " ; ".join(t),
    }
    for name, form in forms.items():
        sep = ";" if name == "sep" else None
        recs = [dict(r, request_tags=form(r["request_tags"])) for r in base]
        got = {
            "jsonl": tc.read_jsonl(_jsonl(recs), tags_sep=sep),
            "csv": tc.read_csv(_csv(base, tags=form), tags_sep=sep),
            "parquet": tc.read_parquet(_parquet(recs, tmp_path, f"{name}.parquet"), tags_sep=sep),
            "pandas": tc.RequestLog.from_pandas(pd.DataFrame(recs), tags_sep=sep),
        }
        for door, log in got.items():
            assert [log.tags_of(i) for i in range(len(log))] == tags, (name, door)


def test_delimited_tags_need_tags_sep():
    recs = [dict(FULL[0], request_tags="customer/acme,env/prod")]
    with pytest.raises(tc.LogError, match="pass tags_sep=','"):
        tc.read_jsonl(_jsonl(recs))
    with pytest.raises(tc.LogError, match="pass tags_sep=','"):
        tc.read_csv(_csv(recs, tags=lambda t: t))
    log = tc.read_csv(_csv(recs, tags=lambda t: t), tags_sep=",")
    assert log.tags_of(0) == ["customer/acme", "env/prod"]
    with pytest.raises(ValueError, match="tags_sep"):
        tc.read_csv(_csv(recs), tags_sep="")


# ------------------------------------------------------------------------- units and statuses


@pytest.mark.parametrize("unit,k", [("s", 1), ("ms", 10**3), ("us", 10**6), ("ns", 10**9)])
def test_ts_unit_is_the_same_for_every_door(tmp_path, unit, k):
    recs = [dict(r, ts=r["ts"] * k) for r in FULL]
    want = tc.RequestLog.from_records(FULL).ts.tolist()
    for door, log in doors(recs, tmp_path, ts_unit=unit).items():
        assert log.ts.tolist() == want, door
    if unit != "s":
        with pytest.raises(tc.LogError, match=f"ts_unit='{unit}'"):
            tc.read_jsonl(_jsonl(recs))  # the wrong unit is named in the error
    with pytest.raises(ValueError, match="ts_unit"):
        tc.read_jsonl(_jsonl(recs), ts_unit="h")


def test_litellm_statuses_through_every_door(tmp_path):
    recs = [dict(r, status=["success", "failure", "success"][i % 3])
            for i, r in enumerate(FULL)]
    for door, log in doors(recs, tmp_path).items():
        assert log.status.tolist() == [[200, 500, 200][i % 3] for i in range(len(recs))], door
    bad = [dict(FULL[0], status="maybe")]
    with pytest.raises(tc.LogError, match="'success'/'failure'"):
        tc.read_jsonl(_jsonl(bad))


# ------------------------------------------------------------------------------- renaming


def test_columns_rename_for_every_door(tmp_path):
    names = {"ts": "created", "cost": "spend", "request_tags": "labels", "model": "llm"}
    recs = [{names.get(k, k): v for k, v in r.items()} for r in FULL]
    full = tc.RequestLog.from_records(FULL)
    got = {
        "pandas": tc.RequestLog.from_pandas(pd.DataFrame(recs), columns=names),
        "arrow": tc.from_arrow(pa.Table.from_pylist(recs), columns=names),
        "parquet": tc.read_parquet(_parquet(recs, tmp_path), columns=names),
        "jsonl": tc.read_jsonl(_jsonl(recs), columns=names),
        "csv": tc.read_csv(_csv(recs, tags=None), columns=names),
        "read_any": tc.read_any(_jsonl(recs), columns=names),
    }
    for door, log in got.items():
        assert not log.unknown, door
        same_known(log, full)
        assert log.cost.tolist() == full.cost.tolist(), door
    with pytest.raises(ValueError, match="columns: unknown"):
        tc.RequestLog.from_pandas(pd.DataFrame(recs), columns={"when": "created"})


# ------------------------------------------------------------------- the Arrow stream interface


def test_from_arrow_takes_the_capsule_interface():
    log = tc.load_sample()
    for obj in (pa.table(log).to_reader(), log):
        back = tc.from_arrow(obj)
        assert back.cost.tolist() == log.cost.tolist()
    pl = pytest.importorskip("polars", reason="polars is in the bench extra")
    back = tc.from_arrow(pl.DataFrame(log))  # string_view and uint32 dictionaries
    assert back.cost.tolist() == log.cost.tolist() and back.tags_of(7) == log.tags_of(7)
    assert tc.from_arrow(pl.DataFrame(log).select(["ts", "cost_nanos", "request_tags"])
                         ).unknown == {"model", "prompt_tokens", "completion_tokens",
                                       "latency_ms", "status"}
    duckdb = pytest.importorskip("duckdb", reason="duckdb is in the bench extra")
    rel = duckdb.sql("select * from log where status < 400")
    back = tc.from_arrow(rel)
    assert len(back) == int((log.status < 400).sum())
    with pytest.raises(TypeError, match="__arrow_c_stream__"):
        tc.from_arrow([1, 2, 3])


# ----------------------------------------------------------------------------- the command


def test_the_command_reads_a_few_column_file_with_prices(tmp_path, capsys):
    from tagcore.cli import main

    recs = [{"ts": r["ts"] * 1000, "model": r["model"], "prompt_tokens": r["prompt_tokens"],
             "completion_tokens": r["completion_tokens"],
             "request_tags": ",".join(r["request_tags"])} for r in FULL]
    (tmp_path / "few.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    (tmp_path / "prices.json").write_text(json.dumps({
        "gpt-4o-mini": {"input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07},
        "gpt-4o": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05}}))
    rc = main(["report", str(tmp_path / "few.jsonl"), "--tags-sep", ",", "--ts-unit", "ms",
               "--format", "json", "--prices", str(tmp_path / "prices.json"), "--level", "1",
               "--last", "all"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    rows = {r["tag"]: r for r in json.loads(out)}
    want = sum(r["prompt_tokens"] * (150 if r["model"] == "gpt-4o-mini" else 2500)
               + r["completion_tokens"] * (600 if r["model"] == "gpt-4o-mini" else 10000)
               for r in recs)
    assert rows["env"]["cost_nanos"] == want and rows["env"]["requests"] == len(recs)
    assert "latency_p50" not in rows["env"] and "errors" not in rows["env"]  # unknown
    assert rows["env"]["first_seen"].startswith("2026-01-01")  # ts read in milliseconds
    rc = main(["report", str(tmp_path / "few.jsonl"), "--prices", str(tmp_path / "nope.json")])
    assert rc == 2 and "--prices" in capsys.readouterr().err


def test_a_renamed_column_the_source_lacks_is_refused(tmp_path):
    recs = FULL[:2]
    with pytest.raises(tc.LogError, match="columns: ts='created' not in"):
        tc.read_jsonl(_jsonl(recs), columns={"ts": "created"})
    with pytest.raises(tc.LogError, match="columns: ts='created' not in"):
        tc.read_parquet(_parquet(recs, tmp_path), columns={"ts": "created"})
    with pytest.raises(tc.LogError, match="columns: ts='created' not in"):
        tc.RequestLog.from_pandas(pd.DataFrame(recs), columns={"ts": "created"})
