"""RequestLog building, validation, immutability, selection and concat against the oracle.

The oracle (tests/oracle.py) knows nothing of tagcore: records are plain dicts with normalized
tag path strings and exact integer nano-dollars.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import numpy as np
import oracle as O
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tagcore as tc
from tagcore import RequestLog, TagTrie

NS = 10**9
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def build(recs: list[dict], ts_style: int = 0, **kw) -> RequestLog:
    return RequestLog.from_records([O.to_input(r, ts_style) for r in recs], **kw)


def assert_matches_records(log: RequestLog, recs: list[dict]) -> None:
    """``log.to_pandas()`` gives back exactly ``recs`` (times to the ns, exact nanos)."""
    df = log.to_pandas()
    assert len(log) == len(df) == len(recs)
    assert isinstance(df["ts"].dtype, pd.DatetimeTZDtype) and str(df["ts"].dt.tz) == "UTC"
    assert df["ts"].dt.as_unit("ns").astype("int64").tolist() == [r["ts"] for r in recs]
    assert df["model"].tolist() == [r["model"] for r in recs]
    for c in ("prompt_tokens", "completion_tokens", "cost_nanos", "status"):
        assert df[c].tolist() == [r[c] for r in recs], c
    assert df["cost"].tolist() == [r["cost_nanos"] / 1e9 for r in recs]
    lat = df["latency_ms"].tolist()
    for got, want in zip(lat, (r["latency_ms"] for r in recs)):
        assert (math.isnan(got) and math.isnan(want)) or got == want
    assert df["request_tags"].tolist() == [r["tags"] for r in recs]
    assert [log.tags_of(i) for i in range(len(log))] == [r["tags"] for r in recs]


# ------------------------------------------------------------------------------ round trip


@st.composite
def messy(draw, path: str) -> str:
    """A raw spelling of ``path`` that normalizes back to it."""
    segs = path.split("/")
    kind = draw(st.integers(0, 4))
    if kind == 1:
        return f"  {path} "
    if kind == 2:
        return "/" + path + "/"
    if kind == 3:
        return " // ".join(segs)
    if kind == 4:
        return "/".join(f" {s} " for s in segs)
    return path


@st.composite
def raw_records(draw):
    """Oracle records plus a raw tag list per record (messy spellings, duplicates)."""
    recs = draw(O.records())
    raws = []
    for r in recs:
        raw = [draw(messy(t)) for t in r["tags"]]
        if raw and draw(st.booleans()):  # a duplicate spelled differently
            raw.insert(draw(st.integers(1, len(raw))), draw(messy(r["tags"][0])))
        raws.append(raw)
    return recs, raws


@SETTINGS
@given(raw_records(), st.integers(0, 2))
def test_from_records_round_trip(data, ts_style):
    recs, raws = data
    inputs = []
    for r, raw in zip(recs, raws):
        d = O.to_input(r, ts_style)
        d["request_tags"] = raw
        inputs.append(d)
    log = RequestLog.from_records(inputs)
    assert [O.normalize_tags(raw) for raw in raws] == [r["tags"] for r in recs]
    assert_matches_records(log, recs)
    assert log.dropped_rows == 0 and log.dropped_tags == 0
    # the trie holds every tag and every prefix of it, nothing else
    assert set(log.trie.paths) == O.all_nodes(recs)


@SETTINGS
@given(O.records())
def test_from_pandas_equals_from_records(recs):
    a = build(recs)
    df = pd.DataFrame({
        "ts": pd.to_datetime(pd.Series([r["ts"] for r in recs], dtype="int64"), unit="ns",
                             utc=True),
        "model": pd.Series([r["model"] for r in recs], dtype=object),
        "prompt_tokens": pd.Series([r["prompt_tokens"] for r in recs], dtype="int64"),
        "completion_tokens": pd.Series([r["completion_tokens"] for r in recs], dtype="int64"),
        "cost_nanos": pd.Series([r["cost_nanos"] for r in recs], dtype="int64"),
        "latency_ms": pd.Series([r["latency_ms"] for r in recs], dtype="float64"),
        "status": pd.Series([r["status"] for r in recs], dtype="int64"),
        "request_tags": pd.Series([list(r["tags"]) for r in recs], dtype=object),
    })
    b = RequestLog.from_pandas(df)
    assert_matches_records(b, recs)
    pd.testing.assert_frame_equal(a.to_pandas(), b.to_pandas())
    # and the frame a log gives back builds the same log again
    c = RequestLog.from_pandas(a.to_pandas())
    pd.testing.assert_frame_equal(a.to_pandas(), c.to_pandas())


@SETTINGS
@given(st.lists(st.integers(0, 10**14), min_size=1, max_size=8))
def test_cost_in_dollars_is_exact(nanos):
    """Dollars as str and Decimal are exact; floats under $100k agree with the float column
    of from_pandas."""
    base = {"ts": 0, "model": "m", "prompt_tokens": 0, "completion_tokens": 0,
            "latency_ms": None, "status": 200}
    as_str = [dict(base, cost=str(Decimal(n) / 10**9)) for n in nanos]
    as_dec = [dict(base, cost=Decimal(n).scaleb(-9)) for n in nanos]
    assert RequestLog.from_records(as_str).cost.tolist() == nanos
    assert RequestLog.from_records(as_dec).cost.tolist() == nanos
    floats = [n / 1e9 for n in nanos]
    by_records = RequestLog.from_records([dict(base, cost=f) for f in floats]).cost.tolist()
    df = pd.DataFrame({"ts": [0] * len(nanos), "model": "m", "prompt_tokens": 0,
                       "completion_tokens": 0, "cost": floats, "latency_ms": np.nan,
                       "status": 200, "request_tags": [[] for _ in nanos]})
    assert RequestLog.from_pandas(df).cost.tolist() == by_records == nanos


def test_times_in_every_form():
    ns = O.T0 + 123_456_789
    base = {"model": "m", "prompt_tokens": 0, "completion_tokens": 0, "cost": 0,
            "latency_ms": None, "status": 200}
    forms = [
        "2026-01-01T00:00:00.123456789Z",
        "2026-01-01T05:30:00.123456789+05:30",
        "2026-01-01 00:00:00.123456789",  # naive = UTC
        pd.Timestamp(ns, unit="ns", tz="UTC"),
        pd.Timestamp(ns, unit="ns", tz="UTC").tz_convert("America/New_York"),
        np.datetime64(ns, "ns"),
    ]
    log = RequestLog.from_records([dict(base, ts=t) for t in forms])
    assert log.ts.tolist() == [ns] * len(forms)
    us = dt.datetime(2026, 1, 1, 0, 0, 0, 123456)
    log = RequestLog.from_records([
        dict(base, ts=us),  # naive datetime = UTC
        dict(base, ts=us.replace(tzinfo=dt.timezone.utc).astimezone(
            dt.timezone(dt.timedelta(hours=-3)))),
        dict(base, ts=1_767_225_600),  # epoch seconds
        dict(base, ts=1_767_225_600.5),
    ])
    assert log.ts.tolist() == [O.T0 + 123_456_000] * 2 + [O.T0, O.T0 + NS // 2]



# ------------------------------------------------------------------------------ validation


def good(**kw) -> dict:
    rec = {"ts": "2026-01-01T00:00:00Z", "model": "m", "prompt_tokens": 1,
           "completion_tokens": 2, "cost": 0.5, "latency_ms": 10.0, "status": 200,
           "request_tags": ["a/b"]}
    rec.update(kw)
    return rec


def without(key: str) -> dict:
    rec = good()
    del rec[key]
    return rec


BAD = [
    ("prompt_tokens", good(prompt_tokens=-1)),
    ("completion_tokens", good(completion_tokens=-5)),
    ("prompt_tokens", good(prompt_tokens="12 tokens")),
    ("prompt_tokens", good(prompt_tokens=1.5)),
    ("cached_tokens", good(cached_tokens=-1)),
    ("cost", good(cost=float("nan"))),
    ("cost", good(cost=float("inf"))),
    ("cost", good(cost="-inf")),
    ("cost", good(cost="NaN")),
    ("cost", good(cost="abc")),
    ("cost", good(cost=-0.5)),
    ("cost", good(cost=[1])),
    ("cost_nanos", good(cost_nanos=-1)),
    ("cost_nanos", good(cost_nanos=1.5)),
    ("ts", good(ts="not a time")),
    ("ts", good(ts="2026-13-45T00:00:00")),
    ("ts", good(ts=float("nan"))),
    ("ts", good(ts=True)),
    ("ts", without("ts")),
    ("model", without("model")),
    ("model", good(model=5)),
    ("model", good(model="")),
    ("status", without("status")),
    ("status", good(status="OK")),
    ("status", good(status=1000)),
    ("status", good(status=-1)),
    ("latency_ms", good(latency_ms="fast")),
    ("latency_ms", good(latency_ms=-1.0)),
    ("latency_ms", good(latency_ms=float("inf"))),
    ("user", good(user=5)),
    ("request_tags", good(request_tags="a/b")),
    ("request_tags", good(request_tags=["ok", 5])),
    ("request_tags", good(request_tags=["///"])),
    ("request_tags", good(request_tags=["  "])),
    ("request_tags", good(request_tags=["a\x01b"])),
    ("request_tags", good(request_tags=["/".join(["s"] * 17)])),
    ("request_tags", good(request_tags=["x" * 257])),
    ("request_tags", good(request_tags=[f"t{i}" for i in range(65)])),
    ("record", ["not", "a", "mapping"]),
]

# values a realistic export can hold (epoch milliseconds, a corrupt counter) that do not fit
# the int64 columns: they must be reported like any other bad value, not as OverflowError
OUT_OF_RANGE = [
    ("ts", good(ts=1_767_225_600_000)),  # epoch milliseconds passed as seconds
    ("cost_nanos", good(cost_nanos=2**63)),
    ("cost", good(cost="1e12")),
    ("prompt_tokens", good(prompt_tokens=2**63)),
]


@pytest.mark.parametrize("column, bad", BAD, ids=[f"{c}-{i}" for i, (c, _) in enumerate(BAD)])
@pytest.mark.parametrize("row", [0, 2])
def test_bad_value_names_row_and_column(column, bad, row):
    check_bad_value(column, bad, row)


@pytest.mark.parametrize("column, bad", OUT_OF_RANGE,
                         ids=[f"{c}-{i}" for i, (c, _) in enumerate(OUT_OF_RANGE)])
def test_out_of_range_value_names_row_and_column(column, bad):
    """Today these escape as a bare OverflowError (no row, no column, not droppable)."""
    check_bad_value(column, bad, 1)


def check_bad_value(column, bad, row):
    recs = [good(), good(request_tags=[]), good(model="n")]
    recs.insert(row, bad)
    with pytest.raises(tc.LogError) as info:
        RequestLog.from_records(recs, source="f.jsonl")
    err = info.value
    assert (err.row, err.column) == (row, column)
    assert str(err).startswith(f"f.jsonl: row {row}, column {column}: ")
    # dropped and counted instead
    log = RequestLog.from_records(recs, on_error="drop")
    assert len(log) == 3 and log.dropped_rows == 1
    assert len(log.problems) == 1 and f"row {row}, column {column}" in log.problems[0]
    assert log.to_pandas()["model"].tolist() == ["m", "m", "n"]


def test_drop_counts_many_and_keeps_order():
    recs = []
    for i in range(30):
        recs.append(good(prompt_tokens=i) if i % 3 else good(prompt_tokens=-i - 1))
    log = RequestLog.from_records(recs, on_error="drop")
    assert log.dropped_rows == 10
    assert log.prompt_tokens.tolist() == [i for i in range(30) if i % 3]
    assert 1 <= len(log.problems) <= 20


def test_tag_policy_drop_counts_tags_not_rows():
    pol = tc.TagPolicy(on_invalid="drop")
    log = RequestLog.from_records([good(request_tags=["ok", "///", "a\x01", "ok2"])],
                                  policy=pol)
    assert log.tags_of(0) == ["ok", "ok2"] and log.dropped_tags == 2 and log.dropped_rows == 0


def test_bad_on_error_argument():
    with pytest.raises(ValueError):
        RequestLog.from_records([good()], on_error="ignore")


def test_from_pandas_validates():
    df = pd.DataFrame({"ts": ["2026-01-01", "2026-01-02"], "model": ["m", "m"],
                       "prompt_tokens": [1, -2], "completion_tokens": [0, 0],
                       "cost": [0.1, 0.2], "latency_ms": [1.0, 2.0], "status": [200, 200],
                       "request_tags": [["a"], ["b"]]})
    with pytest.raises(tc.LogError) as info:
        RequestLog.from_pandas(df)
    assert (info.value.row, info.value.column) == (1, "prompt_tokens")
    with pytest.raises(tc.LogError) as info:
        RequestLog.from_pandas(df.drop(columns=["request_tags"]))
    assert info.value.column == "request_tags"
    for col in ("cost", "ts"):  # a missing column is unknown, not an error and not zero
        log = RequestLog.from_pandas(df.drop(columns=[col]).assign(prompt_tokens=[1, 2]))
        assert log.unknown == ({"ts"} if col == "ts" else set())
        assert int(log.totals()["unpriced" if col == "cost" else "cost_nanos"]) == \
            (2 if col == "cost" else 300_000_000)
    bad = df.assign(prompt_tokens=[1, 2], cost=[0.1, float("nan")])
    with pytest.raises(tc.LogError) as info:
        RequestLog.from_pandas(bad)
    assert (info.value.row, info.value.column) == (1, "cost")
    bad = df.assign(prompt_tokens=[1, 2], request_tags=[["a"], ["x\x00"]])
    with pytest.raises(tc.LogError) as info:
        RequestLog.from_pandas(bad)
    assert (info.value.row, info.value.column) == (1, "request_tags")


# ------------------------------------------------------------------------------ read-only


def _arrays(log: RequestLog):
    for name in ("ts", "model_codes", "prompt_tokens", "completion_tokens", "cost", "latency_ms",
                 "status", "tag_offsets", "tag_ids"):
        yield name, getattr(log, name)
    for name, v in log.extras.items():
        yield name, v[0] if isinstance(v, tuple) else v


def _logs_to_freeze():
    recs = [good(user="u1", cached_tokens=3, request_id="r1"), good(request_tags=["a", "c/d"])]
    log = RequestLog.from_records(recs)
    return {"records": log, "mask": log[np.array([True, True])], "rows": log[[1, 0]],
            "slice": log[::-1], "concat": RequestLog.concat([log, log]),
            "filter": log.filter("a"), "pandas": RequestLog.from_pandas(log.to_pandas())}


@pytest.mark.parametrize("how", list(_logs_to_freeze()))
def test_columns_are_read_only(how):
    log = _logs_to_freeze()[how]
    names = []
    for name, a in _arrays(log):
        names.append(name)
        assert not a.flags.writeable, name
        with pytest.raises(ValueError):
            a[:1] = 0
    assert {"cached_tokens", "user", "request_id"} <= set(names)


def test_from_arrays_leaves_caller_arrays_alone():
    """Building a log must not freeze (or alias) the caller's own arrays."""
    trie = TagTrie(["a/b"])
    cols = dict(ts=np.array([0, 1], dtype=np.int64), prompt_tokens=np.array([1, 2]),
                completion_tokens=np.array([0, 0]), cost_nanos=np.array([5, 6]),
                latency_ms=np.array([1.0, 2.0]), status=np.array([200, 200], dtype=np.int32),
                tag_offsets=np.array([0, 1, 1]), tag_ids=np.array([1], dtype=np.int32))
    log = RequestLog.from_arrays(model=["m", "m"], trie=trie, **cols)
    for name, a in cols.items():
        assert a.flags.writeable, f"from_arrays made the caller's {name} read-only"
        a[0] = a[0] + 1  # the caller keeps using its array...
    assert log.prompt_tokens.tolist() == [1, 2]  # ...and the log does not change
    assert log.ts.tolist() == [0, 1] and log.cost.tolist() == [5, 6]


@SETTINGS
@given(O.records(min_rows=1))
def test_from_arrays_takes_read_only_and_strided_columns(recs):
    """from_arrays over read-only, non-contiguous views equals from_records."""
    ref = build(recs)

    def view(values, dtype):
        a = np.zeros(2 * len(values), dtype=dtype)
        a[::2] = values
        v = a[::2]
        v.flags.writeable = False
        return v

    log = RequestLog.from_arrays(
        ts=view([r["ts"] for r in recs], np.int64), model=[r["model"] for r in recs],
        prompt_tokens=view([r["prompt_tokens"] for r in recs], np.int64),
        completion_tokens=view([r["completion_tokens"] for r in recs], np.int64),
        cost_nanos=view([r["cost_nanos"] for r in recs], np.int64),
        latency_ms=view([r["latency_ms"] for r in recs], np.float64),
        status=view([r["status"] for r in recs], np.int32),
        tag_offsets=ref.tag_offsets, tag_ids=ref.tag_ids, trie=ref.trie)
    assert_matches_records(log, recs)
    pd.testing.assert_frame_equal(log.to_pandas(), ref.to_pandas())


# ------------------------------------------------------------------------------ selection


@SETTINGS
@given(O.records(), st.data())
def test_selection_by_mask_slice_rows(recs, data):
    log = build(recs)
    n = len(recs)
    mask = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    assert_matches_records(log[np.array(mask, dtype=bool)], [r for r, m in zip(recs, mask) if m])
    start = data.draw(st.integers(-n - 1, n + 1))
    stop = data.draw(st.integers(-n - 1, n + 1))
    step = data.draw(st.sampled_from([1, 2, -1, -3]))
    assert_matches_records(log[start:stop:step], recs[start:stop:step])
    if n:
        rows = data.draw(st.lists(st.integers(-n, n - 1), max_size=2 * n))
        assert_matches_records(log[np.array(rows, dtype=np.int64)], [recs[i] for i in rows])
    with pytest.raises(IndexError):
        log[np.ones(n + 1, dtype=bool)]
    with pytest.raises(IndexError):
        log[np.array([n])]


@SETTINGS
@given(st.lists(O.records(max_rows=6), min_size=0, max_size=4))
def test_concat_remaps_tags(parts):
    logs = [build(p) for p in parts]  # each with its own trie
    both = RequestLog.concat(logs)
    flat = [r for p in parts for r in p]
    assert_matches_records(both, flat)
    assert set(both.trie.paths) >= O.all_nodes(flat)
    # logs sharing one trie, and selections of them, concatenate too
    if logs:
        shared = logs[0]
        again = RequestLog.concat([shared, shared[::-1], shared[:0]])
        assert_matches_records(again, parts[0] + parts[0][::-1])


def test_concat_extras_and_models():
    a = RequestLog.from_records([good(user="u1", model="x"), good(model="y")])
    b = RequestLog.from_records([good(cached_tokens=4, model="y", request_tags=["q"])])
    both = RequestLog.concat([a, b])
    df = both.to_pandas()
    assert df["model"].tolist() == ["x", "y", "y"]
    assert df["user"].tolist() == ["u1", None, None]
    assert df["cached_tokens"].tolist() == [0, 0, 4]
    assert df["request_tags"].tolist() == [["a/b"], ["a/b"], ["q"]]


# ------------------------------------------------------------------------------ empty


def test_empty_log_frame_has_the_columns_and_dtypes_of_a_full_one():
    full = RequestLog.from_records([good(request_tags=[])]).to_pandas()
    for empty in (RequestLog.empty(), RequestLog.from_records([]),
                  RequestLog.from_records([good()])[:0]):
        df = empty.to_pandas()
        assert len(empty) == len(df) == 0
        assert list(df.columns) == list(full.columns)
        assert df.dtypes.to_dict() == full.dtypes.to_dict()
