"""Recorder: values, snapshot consistency, threads, durable folders, torn tails, kill -9."""

from __future__ import annotations

import math
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tagcore as tc
from tagcore.log import RequestLog
from tagcore.prices import PriceTable
from tagcore.recorder import Recorder, RecorderWarning, parse_usage, read_recorded

PRICES = PriceTable({"gpt-4o-mini": {"input_cost_per_token": 1.5e-07,
                                     "output_cost_per_token": 6e-07,
                                     "cache_read_input_token_cost": 7.5e-08}})


def frame(log: RequestLog) -> pd.DataFrame:
    """A comparable frame: one row per request, tags as tuples."""
    df = log.to_pandas()
    df["request_tags"] = df["request_tags"].map(tuple)
    return df.reset_index(drop=True)


def assert_same(a: RequestLog, b: RequestLog) -> None:
    fa, fb = frame(a), frame(b)
    cols = sorted(set(fa.columns) | set(fb.columns))
    for c in cols:
        assert c in fa.columns and c in fb.columns, c
    pd.testing.assert_frame_equal(fa[cols], fb[cols], check_dtype=False)


# ------------------------------------------------------------------------------ values


def test_usage_shapes():
    chat = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
            "prompt_tokens_details": {"cached_tokens": 40, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 5}}
    assert parse_usage(chat) == (100, 20, 40, 0, 5, True)
    assert parse_usage({"prompt_tokens": 3, "completion_tokens": 1,
                        "prompt_tokens_details": None,
                        "completion_tokens_details": None}) == (3, 1, 0, 0, 0, True)
    resp = {"input_tokens": 9, "output_tokens": 4, "input_tokens_details": {"cached_tokens": 2},
            "output_tokens_details": {"reasoning_tokens": 3}}
    assert parse_usage(resp) == (9, 4, 2, 0, 3, True)
    assert parse_usage({"prompt_tokens": 8, "total_tokens": 8}) == (8, 0, 0, 0, 0, True)  # embeddings
    assert parse_usage({}) == (0, 0, 0, 0, 0, False)
    assert parse_usage(None) == (0, 0, 0, 0, 0, False)

    class Details:  # an SDK-like object with attributes
        def __init__(self, **kw):
            self.__dict__.update(kw)

    assert parse_usage(Details(prompt_tokens=5, completion_tokens=2,
                               prompt_tokens_details=Details(cached_tokens=1))) == (5, 2, 1, 0, 0, True)
    for bad in ({"prompt_tokens": -1}, {"prompt_tokens": True}, {"prompt_tokens": "3 tokens"},
                {"prompt_tokens": 2, "prompt_tokens_details": {"cached_tokens": 3}},
                {"input_tokens": 1, "output_tokens": 1,
                 "output_tokens_details": {"reasoning_tokens": 2}}):
        with pytest.raises(ValueError):
            parse_usage(bad)


def test_record_values_and_markers():
    rec = Recorder(prices=PRICES)
    usage = {"prompt_tokens": 1000, "completion_tokens": 100,
             "prompt_tokens_details": {"cached_tokens": 400}}
    rec.record(["customer/acme", " env / prod ", "customer/acme"], model="gpt-4o-mini",
               usage=usage, latency_ms=812.5, ts="2026-01-02T03:04:05Z", request_id="r1",
               user="u1", key="k1")
    rec.record(["customer/acme"], model="gpt-4o-mini", usage=usage, cost=0.5, latency_ms=1,
               status=201, ts=1767323045.5)
    rec.record(["x"], model="no-such-model", usage=usage, latency_ms=None, status=200)
    rec.record(["y"], model="gpt-4o-mini", usage=None, latency_ms=3.0, status=504)
    rec.record(["y"], model="gpt-4o-mini", usage=None, cost=0.25, latency_ms=3.0)
    rec.record(None, model="gpt-4o-mini", prompt_tokens=7, completion_tokens=3,
               cost_nanos=12345, latency_ms=float("nan"))
    log = rec.snapshot()
    df = log.to_pandas()
    assert len(log) == 6
    assert df["request_tags"].tolist() == [["customer/acme", "env/prod"], ["customer/acme"],
                                           ["x"], ["y"], ["y"], []]
    # 600 * 150 + 400 * 75 + 100 * 600 nanos
    assert df["cost_nanos"].tolist() == [180000, 500_000_000, 0, 0, 250_000_000, 12345]
    assert df["unpriced"].tolist() == [0, 0, 1, 1, 0, 0]
    assert df["usage_unknown"].tolist() == [0, 0, 0, 1, 1, 0]
    assert df["prompt_tokens"].tolist() == [1000, 1000, 1000, 0, 0, 7]
    assert df["cached_tokens"].tolist() == [400, 400, 400, 0, 0, 0]
    assert df["status"].tolist() == [200, 201, 200, 504, 200, 200]
    assert df["ts"].iloc[0] == pd.Timestamp("2026-01-02T03:04:05Z")
    assert df["ts"].iloc[1] == pd.Timestamp("2026-01-02T03:04:05.5Z")
    assert math.isnan(df["latency_ms"].iloc[2]) and math.isnan(df["latency_ms"].iloc[5])
    assert df["request_id"].tolist() == ["r1", None, None, None, None, None]
    assert df["user"].tolist() == ["u1", None, None, None, None, None]
    assert df["key"].tolist() == ["k1", None, None, None, None, None]
    assert PRICES.unpriced.get("no-such-model") == 1


def test_record_default_ts_is_now():
    rec = Recorder()
    t0 = time.time_ns()
    rec.record(["a"], model="m", latency_ms=1.0)
    t1 = time.time_ns()
    assert t0 <= int(rec.snapshot().ts[0]) <= t1


@pytest.mark.parametrize("kwargs, exc", [
    (dict(tags="customer/acme"), tc.TagError),
    (dict(tags=["ok", 3]), tc.TagError),
    (dict(tags=["a\x00b"]), tc.TagError),
    (dict(tags=[["unhashable"]]), tc.TagError),
    (dict(model=""), ValueError),
    (dict(model=None), ValueError),
    (dict(latency_ms=-1.0), ValueError),
    (dict(latency_ms=float("inf")), ValueError),
    (dict(status=1000), ValueError),
    (dict(status=True), ValueError),
    (dict(cost=-0.1), ValueError),
    (dict(cost=float("nan")), ValueError),
    (dict(usage={"prompt_tokens": -5}), ValueError),
    (dict(usage={"prompt_tokens": 1}, prompt_tokens=1), ValueError),
    (dict(prompt_tokens=1.5), ValueError),
    (dict(ts="not a time"), ValueError),
    (dict(request_id=5), TypeError),
    (dict(user="u" * 2000), ValueError),
])
def test_invalid_arguments_record_nothing(kwargs, exc):
    rec = Recorder()
    args = dict(tags=["a"], model="m", latency_ms=1.0)
    args.update(kwargs)
    tags = args.pop("tags")
    with pytest.raises(exc):
        rec.record(tags, **args)
    assert len(rec) == 0 and len(rec.snapshot()) == 0


def test_policy_applies_and_drops_are_counted():
    rec = Recorder(policy=tc.TagPolicy(case="lower", on_invalid="drop"))
    rec.record(["Customer/ACME", "bad\x00", "customer/acme"], model="m", latency_ms=1.0)
    rec.record(["Customer/ACME", "bad\x00", "customer/acme"], model="m", latency_ms=1.0)
    log = rec.snapshot()
    assert log.tags_of(0) == log.tags_of(1) == ["customer/acme"]
    assert rec.dropped_tags == 2


def test_fast_cost_path_matches_exact_conversion():
    rng = random.Random(7)
    values = [rng.uniform(0, 999) for _ in range(2000)] + [rng.random() * 1e-6 for _ in range(2000)]
    values += [0.1, 1.5e-9, 2.5e-9, 0.0000000005, 999.9999999995, 12.3456789125]
    rec = Recorder()
    for v in values:
        rec.record(["a"], model="m", cost=v, latency_ms=1.0)
    assert rec.snapshot().cost.tolist() == [tc.dollars_to_nanos(v) for v in values]


# an independent oracle: RequestLog.from_records on the same inputs

_tag = st.sampled_from(["customer/acme", "customer/globex", "env/prod", "env/staging/eu",
                        "feature/chat", "Ünïcode/ß", "a/b/c/d"])
_rec = st.fixed_dictionaries({
    "tags": st.lists(_tag, max_size=4),
    "model": st.sampled_from(["gpt-4o-mini", "gpt-4o", "claude"]),
    "prompt_tokens": st.integers(0, 10**7),
    "completion_tokens": st.integers(0, 10**6),
    "cost_nanos": st.integers(0, 10**12),
    "latency_ms": st.one_of(st.none(), st.floats(0, 1e6)),
    "status": st.sampled_from([200, 400, 429, 500]),
    "ts": st.integers(0, 2 * 10**9),
    "request_id": st.one_of(st.none(), st.text(max_size=12)),
    "user": st.one_of(st.none(), st.sampled_from(["u1", "u2", "ü3"])),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_rec, max_size=40))
def test_snapshot_matches_from_records(records):
    rec = Recorder()
    for r in records:
        rec.record(r["tags"], model=r["model"], prompt_tokens=r["prompt_tokens"],
                   completion_tokens=r["completion_tokens"], cost_nanos=r["cost_nanos"],
                   latency_ms=r["latency_ms"], status=r["status"], ts=r["ts"],
                   request_id=r["request_id"], user=r["user"])
    got = rec.snapshot()
    want = RequestLog.from_records([
        {"ts": r["ts"], "model": r["model"], "prompt_tokens": r["prompt_tokens"],
         "completion_tokens": r["completion_tokens"], "cost_nanos": r["cost_nanos"],
         "latency_ms": r["latency_ms"], "status": r["status"], "request_tags": r["tags"],
         "request_id": r["request_id"], "user": r["user"], "cached_tokens": 0,
         "reasoning_tokens": 0, "usage_unknown": 0, "unpriced": 0} for r in records])
    if not records:
        assert len(got) == 0
        return
    fg, fw = frame(got), frame(want)
    for c in fw.columns:
        if c in ("request_id", "user") and c not in fg.columns:
            assert fw[c].isna().all()
            continue
        pd.testing.assert_series_equal(fg[c], fw[c], check_dtype=False, check_names=False)


def test_chunks_seal_by_rows_tags_and_heap():
    rec = Recorder()
    n = 70_000  # more than one 65,536-row chunk
    for i in range(n):
        rec.record([f"t/{i % 5}"], model="m", prompt_tokens=i, completion_tokens=0,
                   cost_nanos=i, latency_ms=1.0, request_id=f"req-{i}")
    log = rec.snapshot()
    assert log.prompt_tokens.tolist() == list(range(n))
    assert log.extra_strings("request_id")[[0, 65535, 65536, n - 1]].tolist() == [
        "req-0", "req-65535", "req-65536", f"req-{n - 1}"]
    assert [log.tags_of(i) for i in (0, 65536, n - 1)] == [["t/0"], ["t/1"], [f"t/{(n - 1) % 5}"]]
    # 64 tags a row fills the tag buffer (8 per row on average) long before the row buffer
    rec2 = Recorder()
    many = [f"tag/{j}" for j in range(64)]
    for i in range(9000):
        rec2.record(many, model="m", prompt_tokens=i, completion_tokens=0, latency_ms=1.0)
    log2 = rec2.snapshot()
    assert len(rec2._sealed) == 1
    assert log2.prompt_tokens.tolist() == list(range(9000))
    assert log2.tags_of(8999) == many and log2.tag_ids.size == 9000 * 64


def test_no_python_object_per_request():
    tags = ["customer/acme", "env/production", "feature/chat"]
    rec = Recorder()
    rec.record(tags, model="m", latency_ms=1.0)
    blocks = sys.getallocatedblocks()
    n = 70_000  # across a chunk boundary: the sealed chunk is trimmed to what it holds
    for i in range(n):
        rec.record(tags, model="m", prompt_tokens=10**6 + i, completion_tokens=1,
                   cost_nanos=10**9 + i, latency_ms=2.0 + i)
    assert sys.getallocatedblocks() - blocks < 1000  # not one object per request
    (sealed,) = rec._sealed
    assert sealed.n == 65536
    assert len(sealed.rows) + len(sealed.tags) + len(sealed.heap) == 65536 * (77 + 3 * 4)


def test_close_and_context_manager():
    with Recorder() as rec:
        rec.record(["a"], model="m", latency_ms=1.0)
    with pytest.raises(RuntimeError):
        rec.record(["a"], model="m", latency_ms=1.0)
    assert len(rec.snapshot()) == 1
    assert "closed" in repr(rec)


def test_subscribe_sees_each_request_exactly_once():
    rec = Recorder()
    seen: list[int] = []
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            rec.record(["w"], model="m", prompt_tokens=i, completion_tokens=0, latency_ms=1.0)
            i += 1

    th = threading.Thread(target=writer)
    th.start()
    time.sleep(0.05)
    before = rec.subscribe(lambda tags, ts, nanos, tokens, unpriced: seen.append(tokens))
    time.sleep(0.05)
    stop.set()
    th.join()
    total = rec.snapshot().prompt_tokens.tolist()
    assert before.prompt_tokens.tolist() + seen == total


# ------------------------------------------------------------------------------ threads


def test_eight_threads_lose_nothing():
    n_threads, per = 8, 125_000
    rec = Recorder()
    tags = [(f"customer/c{i}", "env/prod", f"thread/{i}") for i in range(n_threads)]
    barrier = threading.Barrier(n_threads + 2)  # workers, snapper, main
    snaps: list[RequestLog] = []

    def work(i):
        barrier.wait()
        t = tags[i]
        record = rec.record
        for j in range(per):
            record(t, model=f"m{j % 3}", prompt_tokens=j, completion_tokens=i,
                   cost_nanos=i * 1_000_003 + j, latency_ms=1.0, ts=j)

    def snapper():
        barrier.wait()
        for _ in range(3):
            time.sleep(0.3)
            snaps.append(rec.snapshot())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    threads.append(threading.Thread(target=snapper))
    for th in threads:
        th.start()
    barrier.wait()
    for th in threads:
        th.join()
    log = rec.snapshot()
    assert len(log) == n_threads * per == 1_000_000
    j_sum = per * (per - 1) // 2
    assert int(log.prompt_tokens.sum()) == n_threads * j_sum
    assert int(log.completion_tokens.sum()) == per * sum(range(n_threads))
    assert int(log.cost.sum()) == sum(i * 1_000_003 * per + j_sum for i in range(n_threads))
    # every thread's rows are all there, in its order, with its own tags
    thread_of = np.asarray([int(log.trie.path(int(t)).split("/")[1])
                            for t in log.tag_ids[2::3]])
    for i in range(n_threads):
        mine = thread_of == i
        assert log.prompt_tokens[mine].tolist() == list(range(per))
        assert (log.completion_tokens[mine] == i).all()
    # snapshots taken while writing are consistent: each thread's rows form a prefix
    for snap in snaps:
        th_of = np.asarray([int(snap.trie.path(int(t)).split("/")[1])
                            for t in snap.tag_ids[2::3]])
        for i in range(n_threads):
            got = snap.prompt_tokens[th_of == i]
            assert np.array_equal(got, np.arange(got.size))


def test_threads_with_durable_folder(tmp_path):
    n_threads, per = 8, 5000
    rec = Recorder(tmp_path / "u", durability="batch", flush_every=500, segment_rows=7000)

    def work(i):
        for j in range(per):
            rec.record([f"thread/{i}"], model="m", prompt_tokens=j, completion_tokens=i,
                       cost_nanos=j, latency_ms=1.0, ts=j, request_id=f"{i}-{j}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    rec.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = read_recorded(tmp_path / "u")
    assert_same(back, rec.snapshot())
    assert len(back) == n_threads * per
    assert sorted(os.listdir(tmp_path / "u"))[-1].startswith("seg-")  # close compacts


# ------------------------------------------------------------------------------ folders


def record_some(rec: Recorder, start: int, n: int) -> None:
    for i in range(start, start + n):
        rec.record([f"customer/c{i % 3}", "env/prod"], model=f"m{i % 2}",
                   prompt_tokens=i, completion_tokens=1, cost_nanos=i, latency_ms=float(i),
                   ts=i, request_id=f"r{i}" if i % 2 else None, user=f"u{i % 4}")


def test_roundtrip_and_reopen_continue(tmp_path):
    path = tmp_path / "usage"
    with Recorder(path, durability="none") as rec:
        record_some(rec, 0, 1000)
    first = read_recorded(path)
    assert_same(first, rec.snapshot())
    rec2 = Recorder(path)
    assert_same(rec2.snapshot(), first)  # the history is part of the live view
    record_some(rec2, 1000, 500)
    rec2.flush()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        live = read_recorded(path)  # while the writer holds the folder
    assert live.prompt_tokens.tolist() == list(range(1500))
    rec2.close()
    back = read_recorded(path)
    assert_same(back, rec2.snapshot())
    assert back.extra_strings("request_id")[:4].tolist() == [None, "r1", None, "r3"]


def test_one_writer_per_folder(tmp_path):
    with Recorder(tmp_path):
        with pytest.raises(RuntimeError, match="another live Recorder"):
            Recorder(tmp_path)
    Recorder(tmp_path).close()  # released


def test_rotation_and_compaction(tmp_path):
    path = tmp_path / "u"
    rec = Recorder(path, durability="batch", flush_every=100, segment_rows=1000)
    record_some(rec, 0, 4550)
    rec.flush()
    names = sorted(os.listdir(path))
    assert sum(n.startswith("seg-") for n in names) == 4
    assert sum(n.startswith("tail-") for n in names) == 1
    assert read_recorded(path).prompt_tokens.tolist() == list(range(4550))
    rec.close()
    assert_same(read_recorded(path), rec.snapshot())


def test_durable_rows_and_modes(tmp_path):
    rec = Recorder(tmp_path / "a", durability="always")
    record_some(rec, 0, 5)
    assert rec.durable_rows == 5
    assert len(read_recorded(tmp_path / "a")) == 5
    rec.close()
    rec = Recorder(tmp_path / "b", durability="batch", flush_every=10, flush_interval=0.1)
    record_some(rec, 0, 25)
    assert rec.durable_rows == 20  # two full batches
    deadline = time.time() + 5
    while rec.durable_rows < 25 and time.time() < deadline:  # the interval flusher
        time.sleep(0.02)
    assert rec.durable_rows == 25
    rec.close()
    rec = Recorder(tmp_path / "c", durability="none", flush_every=10)
    record_some(rec, 0, 25)
    assert rec.durable_rows == 0
    rec.flush()
    assert rec.durable_rows == 25
    rec.close()


def live_copy(tmp_path: Path, n: int, durability: str = "always") -> tuple[Path, Recorder]:
    """A folder as a crash would leave it: the live tail copied while the writer runs."""
    src = tmp_path / "src"
    rec = Recorder(src, durability=durability)
    record_some(rec, 0, n)
    rec.flush()
    dst = tmp_path / "crashed"
    dst.mkdir()
    for p in src.iterdir():
        if p.name != "LOCK":
            shutil.copy(p, dst / p.name)
    return dst, rec


def tail_of(folder: Path) -> Path:
    (tail,) = [p for p in folder.iterdir() if p.name.startswith("tail-")]
    return tail


def test_torn_tail_is_skipped_with_a_warning(tmp_path):
    folder, rec = live_copy(tmp_path, 20)  # 20 frames of one row each
    tail = tail_of(folder)
    size = tail.stat().st_size
    with open(tail, "r+b") as fh:
        fh.truncate(size - 30)  # mid-way through the last frame
    with pytest.warns(RecorderWarning, match="torn or corrupt tail"):
        log = read_recorded(folder)
    assert log.prompt_tokens.tolist() == list(range(19))
    # reopening repairs: the tail is rewritten as a segment, then reads are clean
    with pytest.warns(RecorderWarning):
        rec2 = Recorder(folder)
    record_some(rec2, 19, 3)
    rec2.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_recorded(folder).prompt_tokens.tolist() == list(range(22))
    rec.close()


def test_flipped_byte_costs_one_frame(tmp_path):
    folder, rec = live_copy(tmp_path, 20)
    tail = tail_of(folder)
    data = bytearray(tail.read_bytes())
    frame_len = (len(data) - 24) // 20  # equal-size frames (same-shaped rows)
    pos = 24 + 5 * frame_len + frame_len // 2  # inside the 6th frame's payload
    data[pos] ^= 0xFF
    tail.write_bytes(bytes(data))
    with pytest.warns(RecorderWarning, match="corrupt"):
        log = read_recorded(folder)
    assert log.prompt_tokens.tolist() == [i for i in range(20) if i != 5]
    rec.close()


@pytest.mark.parametrize("damage", ["header", "empty", "garbage", "length"])
def test_other_damage_never_crashes(tmp_path, damage):
    folder, rec = live_copy(tmp_path, 10)
    tail = tail_of(folder)
    data = bytearray(tail.read_bytes())
    if damage == "header":
        data = data[:10]
    elif damage == "empty":
        data = bytearray()
    elif damage == "garbage":
        data += os.urandom(5000)
    else:  # a huge length field in the last frame
        last = data.rfind(b"TCF1")
        data[last + 4:last + 8] = (2**32 - 1).to_bytes(4, "little")
    tail.write_bytes(bytes(data))
    with pytest.warns(RecorderWarning):
        log = read_recorded(folder)
    want = {"header": 0, "empty": 0, "garbage": 10, "length": 9}[damage]
    assert log.prompt_tokens.tolist() == list(range(want))
    with pytest.warns(RecorderWarning):
        Recorder(folder).close()
    rec.close()


def test_segment_wins_over_its_leftover_tail(tmp_path):
    path = tmp_path / "u"
    rec = Recorder(path, durability="always")
    record_some(rec, 0, 10)
    tail = tail_of(path)
    saved = tail.read_bytes()
    rec.close()  # compacts tail -> segment and deletes the tail
    tail.write_bytes(saved)  # as if the crash came between the rename and the unlink
    assert read_recorded(path).prompt_tokens.tolist() == list(range(10))
    Recorder(path).close()
    assert not tail.exists()
    assert read_recorded(path).prompt_tokens.tolist() == list(range(10))


def test_reader_works_without_a_writer_and_on_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_recorded(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    assert len(read_recorded(tmp_path / "empty")) == 0


# ------------------------------------------------------------------------------ kill -9

CHILD = r"""
import sys
import tagcore as tc
path, durability, segment_rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
rec = tc.Recorder(path, durability=durability, flush_every=97, segment_rows=segment_rows)
start = len(rec)
i = start
while True:
    rec.record(["customer/c%d" % (i % 7), "env/prod"], model="m", prompt_tokens=i,
               completion_tokens=1, cost_nanos=i, latency_ms=1.0, request_id="r%d" % i)
    i += 1
    if durability == "always":
        print(i, flush=True)
    elif i % 250 == 0:
        rec.flush()
        print(i, flush=True)
"""


def run_and_kill(path: Path, durability: str, segment_rows: int, rng: random.Random) -> int:
    """Start a recording child, SIGKILL it at a random moment, return the promised count."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), durability,
                             str(segment_rows)], stdout=subprocess.PIPE, text=True)
    lines: list[str] = []
    started = threading.Event()

    def reader():
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            started.set()

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    assert started.wait(30), "child did not start recording"
    time.sleep(rng.uniform(0.05, 0.8))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    th.join(5)
    done = [int(x) for x in lines if x.endswith("\n")]
    return max(done)


@pytest.mark.parametrize("durability, segment_rows", [("always", 10**6), ("batch", 3000)])
def test_sigkill_keeps_every_promised_record(tmp_path, durability, segment_rows):
    rng = random.Random(hash(durability) & 0xFFFF)
    path = tmp_path / "usage"
    promised = 0
    for _round in range(3):  # each round continues the folder the previous kill left
        promised = run_and_kill(path, durability, segment_rows, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RecorderWarning)  # a torn last frame is expected
            log = read_recorded(path)
        got = log.prompt_tokens.tolist()
        assert len(got) >= promised
        assert got == list(range(len(got)))  # a prefix: nothing lost before, nothing doubled
        assert log.extra_strings("request_id").tolist() == [f"r{i}" for i in got]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecorderWarning)
        rec = Recorder(path)
    n = len(rec)
    assert n >= promised
    rec.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repaired on reopen
        assert read_recorded(path).prompt_tokens.tolist() == list(range(n))


def test_cache_write_tokens_are_priced_as_every_reader_prices_them():
    """Issue 9: the recorder ignored Responses-API cache_write_tokens (240,000 nanos) where
    the readers priced them (243,750): both now read usage through tagcore.coerce."""
    from tagcore.prices import PriceTable

    prices = PriceTable({"gpt-4o-mini": {"input_cost_per_token": 1.5e-07,
                                         "output_cost_per_token": 6e-07,
                                         "cache_read_input_token_cost": 7.5e-08,
                                         "cache_creation_input_token_cost": 1.875e-07}})
    usage = {"input_tokens": 1000, "output_tokens": 200,
             "input_tokens_details": {"cached_tokens": 400, "cache_write_tokens": 100}}
    rec = Recorder(prices=prices)
    rec.record(["a"], model="gpt-4o-mini", usage=usage, latency_ms=1.0, ts=0)
    want = prices.cost_nanos("gpt-4o-mini", 1000, 200, cached_tokens=400,
                             cache_creation_tokens=100)
    # by hand: 500 input at 150, 400 cache reads at 75, 100 cache writes at 187.5, 200 out at 600
    assert want == 500 * 150 + 400 * 75 + 100 * 187.5 + 200 * 600
    assert rec.snapshot().cost.tolist() == [want]
