"""Native files: Parquet/JSONL/CSV round trips, the Arrow fast path against the record oracle,
malformed files, CSV injection safety, atomic writes, read_any dispatch."""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tagcore as tc
import tagcore.io as tio
from tagcore.log import LogError, RequestLog
from tagcore.tags import TagError, TagPolicy, normalize_tag, normalize_tags
from tagcore.trie import TagTrie

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

FORMATS = ("parquet", "jsonl", "csv")
REQ = dict(ts="2026-01-01T00:00:00Z", model="m", prompt_tokens=1, completion_tokens=2,
           cost=0.5, latency_ms=3.0, status=200, request_tags=["a"])


# ----------------------------------------------------------------------------- the oracle


def rows_of(log: RequestLog) -> list[tuple]:
    """Every request as plain Python values: the obviously-correct view two logs are compared by."""
    out = []
    paths = log.trie.paths
    extras = sorted(log.extras)
    for i in range(len(log)):
        lat = float(log.latency_ms[i])
        ex = []
        for k in extras:
            v = log.extras[k]
            if isinstance(v, tuple):
                c = int(v[0][i])
                ex.append((k, None if c < 0 else v[1][c]))
            else:
                ex.append((k, int(v[i])))
        out.append((
            int(log.ts[i]), log.models[int(log.model_codes[i])], int(log.prompt_tokens[i]),
            int(log.completion_tokens[i]), int(log.cost[i]), "nan" if math.isnan(lat) else lat,
            int(log.status[i]),
            [paths[j] for j in log.tag_ids[log.tag_offsets[i]:log.tag_offsets[i + 1]]],
            ex,
        ))
    return out


def write(log: RequestLog, fmt: str, path) -> None:
    getattr(log, f"to_{fmt}")(path)


def read(fmt: str, path, **kw) -> RequestLog:
    return {"parquet": tc.read_parquet, "jsonl": tc.read_jsonl, "csv": tc.read_csv}[fmt](path, **kw)


# ----------------------------------------------------------------------------- strategies

DANGER = ["=", "+", "-", "@", "'", "''", "=1+2", "-x", "@SUM(A1)"]
_seg = st.one_of(
    st.sampled_from(["acme", "env", "prod", "UK", "London", "日本", "Straße", "ß", "é", "a b"]),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=6),
    st.builds(lambda a, b: a + b, st.sampled_from(DANGER), st.text("abc/", max_size=3)),
)


def _valid(t: str) -> bool:
    try:
        return normalize_tag(t) == t
    except TagError:
        return False


tags_st = st.builds("/".join, st.lists(_seg, min_size=1, max_size=3)).map(
    lambda t: normalize_tag(t) if _valid_raw(t) else "x")


def _valid_raw(t: str) -> bool:
    try:
        normalize_tag(t)
        return True
    except TagError:
        return False


text_st = st.one_of(st.sampled_from(["", "'", "''", "=cmd", "\t1", "\rx", "-1", "+1", "@a",
                                     "a,b", 'q"uote', "line\nbreak", "ü", " "]),
                    st.text(max_size=8))


@st.composite
def logs(draw):
    n = draw(st.integers(0, 12))
    rows = draw(st.lists(st.fixed_dictionaries({
        "ts": st.integers(-(2**62), 2**62),
        "model": st.one_of(st.sampled_from(["gpt-4o", "=evil", "-m", "'q", "模型"]), text_st),
        "prompt_tokens": st.integers(0, 2**62),
        "completion_tokens": st.integers(0, 10**9),
        "cost": st.integers(0, 10**15),
        "latency_ms": st.one_of(st.just(math.nan), st.floats(0, 1e7, allow_nan=False),
                                st.sampled_from([0.0, 1e-9, 812.5, 5e-324])),
        "status": st.integers(0, 999),
        "tags": st.lists(tags_st, max_size=5, unique=True),
    }), min_size=n, max_size=n))
    extra_int = draw(st.sets(st.sampled_from(["cached_tokens", "reasoning_tokens"])))
    extra_str = draw(st.sets(st.sampled_from(["request_id", "user", "key"])))
    trie = TagTrie()
    off = [0]
    ids: list[int] = []
    for r in rows:
        ids.extend(trie.add(t) for t in r["tags"])
        off.append(len(ids))
    extras = {}
    for k in extra_int:
        extras[k] = np.array(draw(st.lists(st.integers(0, 2**62), min_size=n, max_size=n)),
                             dtype=np.int64)
    for k in extra_str:
        extras[k] = draw(st.lists(st.one_of(st.none(), text_st), min_size=n, max_size=n))
    return RequestLog.from_arrays(
        ts=np.array([r["ts"] for r in rows], dtype=np.int64),
        model=[r["model"] for r in rows], prompt_tokens=[r["prompt_tokens"] for r in rows],
        completion_tokens=[r["completion_tokens"] for r in rows],
        cost_nanos=np.array([r["cost"] for r in rows], dtype=np.int64),
        latency_ms=np.array([r["latency_ms"] for r in rows], dtype=np.float64),
        status=[r["status"] for r in rows], tag_offsets=off, tag_ids=ids, trie=trie,
        extras=extras)


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(log=logs())
def test_round_trip_is_identical(tmp_path, fmt, log):
    path = tmp_path / f"log.{fmt}"
    write(log, fmt, path)
    back = read(fmt, path)
    assert rows_of(back) == rows_of(log)
    assert back.dropped_rows == 0 and back.dropped_tags == 0
    # and once more: writing what was read gives the same file content for text formats
    if fmt != "parquet":
        path2 = tmp_path / f"again.{fmt}"
        write(back, fmt, path2)
        assert path2.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_of_edge_values(tmp_path, fmt):
    trie = TagTrie()
    tags = [["=1+2", "-x/y", "@a", "+b", "'q", "''qq", "日本/東京"], [], ["a/b/c"]]
    off = np.cumsum([0] + [len(t) for t in tags])
    ids = [trie.add(t) for row in tags for t in row]
    log = RequestLog.from_arrays(
        ts=[-(2**62), 1, 1_767_225_600_123_456_789], model=["=m", "", "'"],
        prompt_tokens=[0, 2**62, 3], completion_tokens=[0, 0, 1],
        cost_nanos=[10**15, 1, 0], latency_ms=[math.nan, 0.0, 1e-300], status=[0, 999, 200],
        tag_offsets=off, tag_ids=ids, trie=trie,
        extras={"user": [None, "", "\t"], "key": ["'", "=A1", None],
                "cached_tokens": [0, 5, 2**40]})
    path = tmp_path / f"x.{fmt}"
    write(log, fmt, path)
    assert rows_of(read(fmt, path)) == rows_of(log)


def test_parquet_schema(tmp_path):
    log = RequestLog.from_records([dict(REQ, request_tags=["a/b"], user="u")])
    log.to_parquet(tmp_path / "x.parquet")
    schema = pq.read_schema(tmp_path / "x.parquet")
    assert schema.field("ts").type == pa.timestamp("ns", tz="UTC")
    assert pa.types.is_list(schema.field("request_tags").type)
    assert schema.field("cost").type == pa.float64()
    assert schema.field("cost_nanos").type == pa.int64()
    plain = pq.read_table(tmp_path / "x.parquet").to_pylist()[0]
    assert plain["request_tags"] == ["a/b"] and plain["cost"] == 0.5 and plain["user"] == "u"


# ----------------------------------------------------------------------------- Arrow fast path
# The oracle is RequestLog.from_records, the slow per-record path, on the same rows.

raw_tag = st.one_of(
    st.sampled_from(["a", " a ", "a/", "/a//", "A", "b/c", "b / c", "Cafe\u0301", "Caf\u00e9",
                     "x/y/z", "=f", "q"]),
    st.text("ab/ \u00e9", min_size=1, max_size=4),
)


def _records(tag_lists):
    return [dict(REQ, ts=i, request_tags=t) for i, t in enumerate(tag_lists)]


def _arrow_table(tag_lists, dictionary: bool):
    recs = _records(tag_lists)
    table = pa.Table.from_pylist(recs)
    if dictionary and pa.types.is_list(table.schema.field("request_tags").type):
        col = table.column("request_tags")
        chunks = []
        for ch in col.chunks:
            chunks.append(pa.ListArray.from_arrays(ch.offsets, pc_encode(ch.values),
                                                   mask=ch.is_null()))
        table = table.set_column(table.column_names.index("request_tags"), "request_tags",
                                 pa.chunked_array(chunks))
    return table, recs


def pc_encode(values):
    import pyarrow.compute as pc
    return pc.dictionary_encode(values)


@settings(max_examples=150, deadline=None)
@given(tag_lists=st.lists(st.one_of(st.none(), st.lists(raw_tag, max_size=6)), min_size=1,
                          max_size=20),
       dictionary=st.booleans(), lower=st.booleans())
def test_arrow_tags_match_the_record_path(tag_lists, dictionary, lower):
    policy = TagPolicy(case="lower" if lower else "keep", on_invalid="drop")
    table, recs = _arrow_table(tag_lists, dictionary)
    fast = tc.from_arrow(table, policy=policy)
    slow = RequestLog.from_records(recs, policy=policy)
    assert [fast.tags_of(i) for i in range(len(fast))] == \
        [slow.tags_of(i) for i in range(len(slow))]
    assert fast.dropped_tags == slow.dropped_tags


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tag_lists=st.lists(st.one_of(st.none(), st.lists(raw_tag, max_size=5)), min_size=1,
                          max_size=40),
       rg=st.integers(1, 7))
def test_parquet_row_groups_and_chunks_match_the_record_path(tmp_path, tag_lists, rg):
    recs = _records(tag_lists)
    path = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pylist(recs), path, row_group_size=rg)
    fast = tc.read_parquet(path, policy=TagPolicy(on_invalid="drop"))
    slow = RequestLog.from_records(recs, policy=TagPolicy(on_invalid="drop"))
    assert rows_of(fast) == rows_of(slow)


def test_sliced_and_null_lists():
    arr = pa.array([["x", "y"], None, ["z"], ["x", "x", " x"]], pa.list_(pa.string()))
    recs = _records([None] * 3)
    t = pa.Table.from_pylist(recs).set_column(7, "request_tags", pa.chunked_array([arr.slice(1, 3)]))
    log = tc.from_arrow(t)
    assert [log.tags_of(i) for i in range(3)] == [[], ["z"], ["x"]]
    # a null list slot whose offsets span elements: those elements are not tags
    bogus = pa.ListArray.from_arrays(pa.array([0, 2, 3], pa.int32()), pa.array(["a", "b", "c"]),
                                     mask=pa.array([True, False]))
    t2 = pa.Table.from_pylist(_records([None, None])).set_column(7, "request_tags", bogus)
    log2 = tc.from_arrow(t2)
    assert [log2.tags_of(0), log2.tags_of(1)] == [[], ["c"]]


def test_generated_benchmark_data_matches_record_path():
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
    try:
        import datagen as dg
    except ImportError:
        pytest.skip("benchmarks/datagen.py not available")
    finally:
        sys.path.pop(0)
    table = dg.generate(3000, seed=5)
    fast = tc.from_arrow(table)
    slow = RequestLog.from_records(table.to_pylist())
    assert rows_of(fast) == rows_of(slow)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", [None, "UTC", "Asia/Kolkata"])
def test_timestamps_any_unit_and_zone(unit, tz):
    t = pa.Table.from_pylist(_records([["a"]]))
    ts = pa.array([1_767_225_600], pa.int64()).cast(pa.timestamp("s")).cast(pa.timestamp(unit))
    if tz:
        ts = ts.cast(pa.timestamp(unit, tz=tz))
    log = tc.from_arrow(t.set_column(0, "ts", ts))
    assert log.ts.tolist() == [1_767_225_600 * 10**9]  # naive = UTC; zoned = the same instant


def test_model_dictionary_and_extras_from_arrow():
    t = pa.Table.from_pylist([dict(REQ, user=None, cached_tokens=None),
                              dict(REQ, model="n", user="bob", cached_tokens=4)])
    t = t.set_column(1, "model", t.column("model").dictionary_encode())
    log = tc.from_arrow(t.to_batches()[0])
    assert [log.models[c] for c in log.model_codes] == ["m", "n"]
    assert log.extra_strings("user").tolist() == [None, "bob"]
    assert log.extras["cached_tokens"].tolist() == [0, 4]


def test_columns_rename_and_select(tmp_path):
    t = pa.Table.from_pylist([dict(REQ, request_id="r1", user="u1")]).rename_columns(
        ["Timestamp", "model", "prompt_tokens", "completion_tokens", "spend", "latency_ms",
         "status", "tags", "request_id", "user"])
    pq.write_table(t, tmp_path / "r.parquet")
    log = tc.read_parquet(tmp_path / "r.parquet",
                          columns={"ts": "Timestamp", "cost": "spend", "request_tags": "tags"})
    assert log.cost.tolist() == [500_000_000] and log.tags_of(0) == ["a"]
    assert sorted(log.extras) == ["request_id", "user"]
    pq.write_table(pa.Table.from_pylist([dict(REQ, request_id="r1", user="u1")]),
                   tmp_path / "s.parquet")
    only = tc.read_parquet(tmp_path / "s.parquet", columns=["cost", "user"])
    assert sorted(only.extras) == ["user"] and only.cost.tolist() == [500_000_000]
    assert only.unknown == {"ts", "model", "prompt_tokens", "completion_tokens", "latency_ms",
                            "status"}


def test_cost_nanos_preferred_over_dollars():
    t = pa.Table.from_pylist([dict(REQ, cost=0.1, cost_nanos=123)])
    assert tc.from_arrow(t).cost.tolist() == [123]
    assert tc.from_arrow(t.drop_columns(["cost_nanos"])).cost.tolist() == [100_000_000]


# ----------------------------------------------------------------------------- malformed files


def _jsonl(tmp_path, lines, name="bad.jsonl"):
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


GOOD = json.dumps(REQ)


def test_jsonl_truncated_last_line(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text(GOOD + "\n" + GOOD + "\n" + GOOD[:30], encoding="utf-8")
    with pytest.raises(LogError) as ei:
        tc.read_jsonl(p)
    msg = str(ei.value)
    assert str(p) in msg and "line 3" in msg and "invalid JSON" in msg and "truncated" in msg
    assert ei.value.line == 3
    log = tc.read_jsonl(p, on_error="skip")
    assert len(log) == 2 and log.dropped_rows == 1 and "line 3" in log.problems[0]


@pytest.mark.parametrize("field,value,reason", [
    ("prompt_tokens", "abc", "expected an integer in [0, 2**63), got 'abc'"),
    ("prompt_tokens", -3, "expected an integer in [0, 2**63), got -3"),
    ("completion_tokens", 1.5, "expected an integer in [0, 2**63), got 1.5"),
    ("status", 1000, "expected an HTTP status 0..999 or 'success'/'failure', got 1000"),
    ("latency_ms", "slow", "expected a number >= 0, got 'slow'"),
    ("ts", "yesterday", "cannot read 'yesterday' as a time"),
    ("model", 5, "expected a string, got 5"),
    ("model", None, "missing value"),
    ("cost", None, "missing value"),
    ("request_tags", "a,b", "a text cell 'a,b', not a list of tags"),
    ("request_tags", ["ok", 3], "request_tags[1] = 3: must be a string, got int"),
    ("request_tags", ["a\tb"], "control character U+0009"),
])
def test_jsonl_wrong_types_name_line_and_column(tmp_path, field, value, reason):
    bad = dict(REQ, **{field: value})
    p = _jsonl(tmp_path, [GOOD, "", json.dumps(bad), GOOD])
    with pytest.raises(LogError) as ei:
        tc.read_jsonl(p)
    assert str(ei.value).startswith(f"{p}: line 3, column {field}: ")
    assert reason in str(ei.value)
    assert ei.value.row == 1 and ei.value.column == field
    log = tc.read_jsonl(p, on_error="skip")
    assert len(log) == 2 and log.dropped_rows == 1
    assert log.problems[0].startswith(f"{p}: line 3, column {field}")


def test_jsonl_first_bad_row_wins(tmp_path):
    p = _jsonl(tmp_path, [GOOD, json.dumps(dict(REQ, status="x")),
                          json.dumps(dict(REQ, prompt_tokens="y"))])
    with pytest.raises(LogError, match="line 2, column status"):
        tc.read_jsonl(p)
    assert tc.read_jsonl(p, on_error="skip").dropped_rows == 2


def test_jsonl_missing_column_and_not_an_object(tmp_path):
    rec = dict(REQ)
    del rec["status"]
    log = tc.read_jsonl(_jsonl(tmp_path, [json.dumps(rec)]))
    assert log.unknown == {"status"} and "errors" not in log.totals()
    del rec["request_tags"]
    p = _jsonl(tmp_path, [json.dumps(rec)], name="notags.jsonl")
    with pytest.raises(LogError, match=r"missing column 'request_tags'") as ei:
        tc.read_jsonl(p)
    assert str(p) in str(ei.value) and ei.value.column == "request_tags"
    p2 = _jsonl(tmp_path, [GOOD, "[1, 2]"], name="arr.jsonl")
    with pytest.raises(LogError, match="line 2, column \\(json\\): expected a JSON object"):
        tc.read_jsonl(p2)


def test_jsonl_missing_value_in_one_row(tmp_path):
    rec = dict(REQ)
    del rec["prompt_tokens"]
    p = _jsonl(tmp_path, [GOOD, json.dumps(rec)])
    with pytest.raises(LogError, match="line 2, column prompt_tokens: missing value"):
        tc.read_jsonl(p)


def test_jsonl_policy_drop_counts_tags(tmp_path):
    p = _jsonl(tmp_path, [json.dumps(dict(REQ, request_tags=["a", "", "b\x00", "a "]))])
    log = tc.read_jsonl(p, policy=TagPolicy(on_invalid="drop"))
    assert log.tags_of(0) == ["a"] and log.dropped_tags == 2 and log.dropped_rows == 0


def test_jsonl_too_many_tags(tmp_path):
    p = _jsonl(tmp_path, [json.dumps(dict(REQ, request_tags=[f"t{i}" for i in range(5)]))])
    with pytest.raises(LogError, match="line 1, column request_tags: 5 distinct tags"):
        tc.read_jsonl(p, policy=TagPolicy(max_tags=4))
    log = tc.read_jsonl(p, policy=TagPolicy(max_tags=4, on_invalid="drop"))
    assert log.tags_of(0) == ["t0", "t1", "t2", "t3"] and log.dropped_tags == 1


HEADER = "ts,model,prompt_tokens,completion_tokens,cost,latency_ms,status,request_tags"
CGOOD = '2026-01-01T00:00:00,m,1,2,0.5,3.0,200,"[""a""]"'


def _csv(tmp_path, lines, name="bad.csv"):
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


@pytest.mark.parametrize("row,column,reason", [
    ('2026-01-01T00:00:00,m,x,2,0.5,3.0,200,"[]"', "prompt_tokens", "got 'x'"),
    ('2026-01-01T00:00:00,m,1,2,-0.5,3.0,200,"[]"', "cost", "must be >= 0, got '-0.5'"),
    ('2026-01-01T00:00:00,m,1,2,0.5,3.0,,"[]"', "status", "missing value"),
    ('2026-01-01T00:00:00,m,1,2,0.5,3.0,200,a;b', "request_tags", "a text cell 'a;b', not a list of tags"),
    ('2026-13-45,m,1,2,0.5,3.0,200,[]', "ts", "cannot read '2026-13-45' as a time"),
    ('2026-01-01T00:00:00,m,1,2,0.5', "(row)", "expected 8 cells, got 5; truncated row?"),
    ('2026-01-01T00:00:00,m,1,2,0.5,3.0,200,[],extra', "(row)", "expected 8 cells, got 9"),
])
def test_csv_malformed_rows_name_line_and_column(tmp_path, row, column, reason):
    p = _csv(tmp_path, [HEADER, CGOOD, CGOOD, row, CGOOD])
    with pytest.raises(LogError) as ei:
        tc.read_csv(p)
    assert str(ei.value).startswith(f"{p}: line 4, column {column}: "), str(ei.value)
    assert reason in str(ei.value)
    log = tc.read_csv(p, on_error="skip")
    assert len(log) == 3 and log.dropped_rows == 1 and "line 4" in log.problems[0]


def test_csv_line_numbers_count_embedded_newlines(tmp_path):
    header = HEADER + ",user"
    p = _csv(tmp_path, [header, CGOOD + ',"two\nlines"', CGOOD.replace(",1,", ",z,") + ",u"])
    with pytest.raises(LogError, match="line 4, column prompt_tokens"):
        tc.read_csv(p)


def test_csv_truncated_inside_quotes(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text(HEADER + "\n" + CGOOD + "\n" + CGOOD[:-4], encoding="utf-8")
    with pytest.raises(LogError, match=r"line 3, column \(row\): .*truncated"):
        tc.read_csv(p)
    assert tc.read_csv(p, on_error="skip").dropped_rows == 1


def test_csv_missing_column_and_empty_file(tmp_path):
    p = _csv(tmp_path, [HEADER.replace(",status", ""), CGOOD.replace(",200", "")])
    assert tc.read_csv(p).unknown == {"status"}
    p = _csv(tmp_path, [HEADER.replace(",request_tags", ""), CGOOD.rsplit(",", 1)[0]],
             name="notags.csv")
    with pytest.raises(LogError, match="column request_tags: missing column 'request_tags'") as ei:
        tc.read_csv(p)
    assert str(p) in str(ei.value)
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(LogError, match="empty file"):
        tc.read_csv(tmp_path / "e.csv")
    assert len(tc.read_csv(_csv(tmp_path, [HEADER], name="h.csv"))) == 0


def test_parquet_missing_and_wrong_columns(tmp_path):
    t = pa.Table.from_pylist([REQ, REQ])
    pq.write_table(t.drop_columns(["model"]), tmp_path / "m.parquet")
    nomodel = tc.read_parquet(tmp_path / "m.parquet")
    assert nomodel.unknown == {"model"} and nomodel.models == ("(unknown)",)
    with pytest.raises(tc.UnknownColumnError, match="by: this log does not know 'model'"):
        nomodel.rollup(by="model")
    pq.write_table(t.drop_columns(["request_tags"]), tmp_path / "t.parquet")
    with pytest.raises(LogError, match="missing column 'request_tags'") as ei:
        tc.read_parquet(tmp_path / "t.parquet")
    assert str(tmp_path / "t.parquet") in str(ei.value)
    pq.write_table(t.set_column(2, "prompt_tokens", pa.array([[1], [2]])), tmp_path / "w.parquet")
    with pytest.raises(LogError, match="column prompt_tokens: expected integers"):
        tc.read_parquet(tmp_path / "w.parquet")
    pq.write_table(t.drop_columns(["cost"]), tmp_path / "c.parquet")
    nocost = tc.read_parquet(tmp_path / "c.parquet")  # unknown, never zero: unpriced
    assert nocost.totals()["unpriced"] == 2 and "no cost column" in nocost.problems[0]
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(LogError, match="not a readable Parquet file"):
        tc.read_parquet(tmp_path / "junk.parquet")


def test_parquet_bad_values_name_row_and_column(tmp_path):
    recs = [REQ, dict(REQ, model=None), dict(REQ, prompt_tokens=-1),
            dict(REQ, request_tags=["ok", None]), dict(REQ, request_tags=["bad\x01"]), REQ]
    pq.write_table(pa.Table.from_pylist(recs), tmp_path / "b.parquet")
    with pytest.raises(LogError) as ei:
        tc.read_parquet(tmp_path / "b.parquet")
    assert str(ei.value) == f"{tmp_path / 'b.parquet'}: row 1, column model: missing value"
    log = tc.read_parquet(tmp_path / "b.parquet", on_error="skip")
    assert len(log) == 2 and log.dropped_rows == 4
    assert [p.split(": ", 1)[1] for p in log.problems] == [
        "row 1, column model: missing value",
        "row 2, column prompt_tokens: expected an integer in [0, 2**63), got -1",
        "row 3, column request_tags: request_tags[1] is null (expected a tag string)",
        "row 4, column request_tags: request_tags[0] = 'bad\\x01': contains control "
        "character U+0001",
    ]
    dropped = tc.read_parquet(tmp_path / "b.parquet", on_error="skip",
                              policy=TagPolicy(on_invalid="drop"))
    assert len(dropped) == 4 and dropped.dropped_tags == 2 and dropped.tags_of(1) == ["ok"]


def test_parquet_invalid_tag_row_is_the_first_having_it(tmp_path):
    recs = [dict(REQ, request_tags=["fine"])] * 5 + [dict(REQ, request_tags=["x", "  "])] * 3
    pq.write_table(pa.Table.from_pylist(recs), tmp_path / "e.parquet", row_group_size=3)
    with pytest.raises(LogError, match=r"row 5, column request_tags: request_tags\[1\] = '  ': "
                                       r"is empty after normalization"):
        tc.read_parquet(tmp_path / "e.parquet")


# ----------------------------------------------------------------------------- CSV injection


def test_csv_cells_are_spreadsheet_safe(tmp_path):
    names = ["=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "'quoted", "''two", "", "ok"]
    n = len(names)
    trie = TagTrie()
    ids = [trie.add(t) for t in ["=1+1", "-tag", "@a", "'t"]]
    log = RequestLog.from_arrays(
        ts=np.arange(n), model=names, prompt_tokens=[1] * n, completion_tokens=[0] * n,
        cost_nanos=[1] * n, latency_ms=[1.0] * n, status=[200] * n,
        tag_offsets=[0, 4] + [4] * (n - 1), tag_ids=ids, trie=trie,
        extras={"user": names, "request_id": names[::-1], "key": [None] * n})
    path = tmp_path / "s.csv"
    log.to_csv(path)
    with open(path, newline="", encoding="utf-8") as fh:
        table = list(csv.reader(fh))
    header = table[0]
    for row in table[1:]:
        for name, cell in zip(header, row):
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (name, cell)
            if name in ("model", "user", "request_id") and cell.startswith("'"):
                pass  # prefixed: the reader removes exactly one
    col = header.index("model")
    assert [r[col] for r in table[1:]] == ["'=HYPERLINK(1)", "'+1", "'-2", "'@SUM(A1)", "'\tx",
                                           "'\rx", "''quoted", "'''two", "'", "ok"]
    assert table[1][header.index("request_tags")] == '["=1+1","-tag","@a","\'t"]'
    assert table[1][header.index("key")] == ""  # missing stays an empty cell
    back = tc.read_csv(path)
    assert rows_of(back) == rows_of(log)


def test_csv_reader_removes_exactly_one_quote(tmp_path):
    p = _csv(tmp_path, [HEADER + ",user", CGOOD.replace(",m,", ",'''m,") + ",'=x"])
    log = tc.read_csv(p)
    assert log.models == ("''m",) and log.extra_strings("user").tolist() == ["=x"]


# ----------------------------------------------------------------------------- atomic writes


def _boom_after_partial(real):
    def writer(fh, *args, **kw):
        fh.write(b"partial garbage")
        raise RuntimeError("disk on fire")
    return writer


@pytest.mark.parametrize("fmt,fn", [("parquet", "_write_parquet_table"),
                                    ("jsonl", "_write_jsonl_lines"),
                                    ("csv", "_write_csv_rows")])
def test_atomic_write_keeps_previous_file(tmp_path, monkeypatch, fmt, fn):
    log = RequestLog.from_records([REQ])
    path = tmp_path / f"keep.{fmt}"
    write(log, fmt, path)
    before = path.read_bytes()
    module = getattr(tio, fmt)  # tagcore.io.parquet, .jsonl, .csv
    monkeypatch.setattr(module, fn, _boom_after_partial(getattr(module, fn)))
    with pytest.raises(RuntimeError, match="disk on fire"):
        write(RequestLog.from_records([REQ, REQ]), fmt, path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == [path.name]  # no temporary file left behind
    monkeypatch.undo()
    write(RequestLog.from_records([REQ, REQ]), fmt, path)
    assert len(read(fmt, path)) == 2 and sorted(os.listdir(tmp_path)) == [path.name]


def test_atomic_write_mid_stream_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(tio._write, "_pyarrow", lambda: None)  # the Python writer (fast: test_io_write)
    log = RequestLog.from_records([REQ] * 10)
    path = tmp_path / "x.jsonl"
    log.to_jsonl(path)
    before = path.read_bytes()
    calls = {"n": 0}
    real = tio.jsonl._columns_py

    def failing(lg):
        calls["n"] += 1
        cols = real(lg)
        cols["status"] = [200] * 3 + [object()] * (len(lg) - 3)  # json cannot encode it
        return cols

    monkeypatch.setattr(tio.jsonl, "_columns_py", failing)
    with pytest.raises(TypeError):
        log.to_jsonl(path)
    assert calls["n"] == 1 and path.read_bytes() == before
    assert os.listdir(tmp_path) == ["x.jsonl"]


def test_new_file_permissions_follow_umask(tmp_path):
    RequestLog.from_records([REQ]).to_csv(tmp_path / "p.csv")
    mode = os.stat(tmp_path / "p.csv").st_mode & 0o777
    um = os.umask(0)
    os.umask(um)
    assert mode == 0o666 & ~um


# ----------------------------------------------------------------------------- read_any


@pytest.mark.parametrize("fmt,name", [("parquet", "a.parquet"), ("jsonl", "a.jsonl"),
                                      ("jsonl", "a.ndjson"), ("csv", "a.csv"),
                                      ("jsonl", "a.jsonl.gz"), ("csv", "a.csv.gz"),
                                      ("parquet", "a.parquet.gz")])
def test_read_any_by_extension(tmp_path, fmt, name):
    log = RequestLog.from_records([REQ, dict(REQ, request_tags=["b/c"])])
    plain = tmp_path / f"plain.{fmt}"
    write(log, fmt, plain)
    path = tmp_path / name
    data = plain.read_bytes()
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    seen = []
    back = tc.read_any(path, progress=lambda done, total: seen.append((done, total)))
    assert rows_of(back) == rows_of(log)
    if not name.endswith(".gz") or fmt != "parquet":
        assert seen and seen[-1][0] == seen[-1][1] > 0


def test_read_any_json_array_sniffing_and_stdin(tmp_path, monkeypatch):
    log = RequestLog.from_records([REQ])
    (tmp_path / "a.json").write_text(json.dumps([REQ]))
    assert rows_of(tc.read_any(tmp_path / "a.json")) == rows_of(log)
    log.to_csv(tmp_path / "noext")
    assert rows_of(tc.read_any(tmp_path / "noext")) == rows_of(log)
    log.to_parquet(tmp_path / "pq.bin")
    assert rows_of(tc.read_any(tmp_path / "pq.bin")) == rows_of(log)
    buf = io.BytesIO()
    log.to_jsonl(buf)

    class Stdin:
        buffer = io.BytesIO(buf.getvalue())

    monkeypatch.setattr(sys, "stdin", Stdin)
    assert rows_of(tc.read_any("-")) == rows_of(log)
    Stdin.buffer = io.BytesIO((tmp_path / "pq.bin").read_bytes())
    assert rows_of(tc.read_any("-", format="parquet")) == rows_of(log)
    with pytest.raises(ValueError, match="format"):
        tc.read_any(tmp_path / "a.json", format="xml")


def test_json_suffix_means_records_array_or_jsonl(tmp_path):
    """One rule for ``.json`` (read_any, the vendor readers, the CLI): the content decides, an
    array of records when it starts with ``[``, else JSONL; gzip is looked through."""
    from tagcore.io._common import format_of, json_layout, sniff, write_format_of

    log = RequestLog.from_records([REQ, dict(REQ, request_tags=["b/c"])])
    lines = "".join(json.dumps(r) + "\n" for r in [REQ, dict(REQ, request_tags=["b/c"])])
    (tmp_path / "lines.json").write_text(lines)
    (tmp_path / "array.json").write_text(" \n" + json.dumps([REQ, dict(REQ, request_tags=["b/c"])]))
    (tmp_path / "array.json.gz").write_bytes(gzip.compress((tmp_path / "array.json").read_bytes()))
    for name in ("lines.json", "array.json", "array.json.gz"):
        assert rows_of(tc.read_any(tmp_path / name)) == rows_of(log), name
        assert rows_of(tc.read_any(tmp_path / name, format="json")) == rows_of(log), name
    assert [format_of(n) for n in ("a.json", "a.JSON.gz", "a.jsonl", "a.ndjson", "a.pq",
                                   "a.csv.gz", "a.gz", "a.txt", "-")] == \
        ["json", "json", "jsonl", "jsonl", "parquet", "csv", None, None, None]
    assert [write_format_of(n) for n in ("a.json", "a.jsonl", "a.csv", "a.json.gz")] == \
        ["jsonl", "jsonl", "csv", None]
    assert json_layout(lines.encode()) == "jsonl" and json_layout(b"\n [") == "json"
    assert sniff(lines.encode()) == "jsonl" and sniff(b" [{}]") == "json"


def test_source_size(tmp_path):
    (tmp_path / "f").write_bytes(b"12345")
    assert tc.source_size(tmp_path / "f") == 5 and tc.source_size("-") is None


def test_writers_accept_text_and_binary_streams():
    log = RequestLog.from_records([REQ])
    s = io.StringIO()
    log.to_csv(s)
    b = io.BytesIO()
    log.to_csv(b)
    assert s.getvalue().encode() == b.getvalue()
    assert rows_of(tc.read_csv(io.StringIO(s.getvalue()))) == rows_of(log)


def test_missing_pyarrow_gives_a_clear_message(monkeypatch, tmp_path):
    for mod in ("pyarrow", "pyarrow.parquet", "pyarrow.compute"):
        monkeypatch.setitem(sys.modules, mod, None)
    with pytest.raises(ImportError, match=r"pip install 'tagcore\[parquet\]'"):
        tc.read_parquet(tmp_path / "x.parquet")
    with pytest.raises(ImportError, match="pyarrow"):
        RequestLog.from_records([REQ]).to_parquet(tmp_path / "x.parquet")
    # JSONL and CSV do not need it
    RequestLog.from_records([REQ]).to_jsonl(tmp_path / "x.jsonl")
    assert len(tc.read_jsonl(tmp_path / "x.jsonl")) == 1


def test_dedup_after_normalization_matches_normalize_tags():
    raw = [["a", " a", "a/", "b", "A"], ["x/y", "x / y", "x//y", "z"], []]
    t = pa.Table.from_pylist(_records(raw))
    for policy in (None, TagPolicy(case="lower")):
        log = tc.from_arrow(t, policy=policy)
        assert [log.tags_of(i) for i in range(3)] == [list(normalize_tags(r, policy)) for r in raw]


def test_trie_argument_is_extended(tmp_path):
    trie = TagTrie(["pre/existing"])
    log = tc.from_arrow(pa.Table.from_pylist(_records([["pre/existing", "new"]])), trie=trie)
    assert log.trie is trie and log.tag_ids.tolist() == [1, 2]
