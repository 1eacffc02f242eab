"""Budgets: rules, matching (against TagTrie.match), rolling and calendar windows, DST,
estimates, fail-closed tags, rebuild from a recorder."""

from __future__ import annotations

import pickle
import threading
from datetime import datetime, timezone

import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tagcore as tc
from tagcore.budgets import BudgetExceeded, Budgets
from tagcore.recorder import Recorder

H = 3600
DAY = 86400


def ns(iso: str) -> int:
    return pd.Timestamp(iso).value


def rule(**kw):
    base = {"match": "a", "limit": 1.0, "window": "1h"}
    base.update(kw)
    return base


# ------------------------------------------------------------------------------ rules


@pytest.mark.parametrize("spec, msg", [
    (rule(limt=3), "unknown keys"),
    (rule(window="7 days"), "unknown unit"),
    (rule(window="weekly"), "cannot read"),
    (rule(window="1M"), "1MS"),
    (rule(window="0h"), "at least 1"),
    (rule(window="2D", calendar=True), "calendar periods"),
    ({"match": "a", "limit": 1, "period": "1h"}, "calendar periods"),
    ({"match": "a", "limit": 1}, "exactly one"),
    (rule(period="1D"), "exactly one"),
    (rule(metric="dollars"), "metric"),
    (rule(limit=-1.0), ">= 0"),
    (rule(limit="lots"), "limit"),
    (rule(limit=1.5, metric="requests"), "whole number"),
    (rule(match="a//\x00"), "bad 'match'"),
    (rule(match=3), "'match'"),
    (rule(tz="Mars/Olympus"), "time zone"),
    (rule(resolution="1MS"), "resolution"),
])
def test_bad_rules_are_refused(spec, msg):
    with pytest.raises(ValueError, match=msg):
        Budgets([spec])


def test_rolling_or_calendar():
    b = Budgets([rule(window="7D"), rule(window="1D", calendar=True), rule(window="1MS"),
                 {"match": "a", "limit": 1, "period": "1W"}, rule(window="30min")])
    assert [r.calendar for r in b.rules] == [False, True, True, True, False]
    assert b.rules[0].span == 7 * DAY * 10**9 and b.rules[0].res == 7 * DAY * 10**9 // 60
    assert b.rules[4].res == 30 * 10**9


# ------------------------------------------------------------------------------ matching


def test_matching_kinds():
    b = Budgets([
        {"match": "customer/acme", "limit": 1, "window": "1h"},
        {"match": "=customer/acme", "limit": 1, "window": "1h"},
        {"match": "customer/*", "limit": 1, "window": "1h"},
        {"match": "=customer/*", "limit": 1, "window": "1h"},
        {"match": "**/eu", "limit": 1, "window": "1h"},
    ])
    assert b.counters_for(["customer/acme"]) == [
        (0, "customer/acme"), (1, "customer/acme"), (2, "customer/acme"), (3, "customer/acme")]
    assert b.counters_for(["customer/acme/eu", "customer/acme/us"]) == [
        (0, "customer/acme"), (2, "customer/acme"), (4, "customer/acme/eu")]
    assert b.counters_for(["customer/acmecorp"]) == [
        (2, "customer/acmecorp"), (3, "customer/acmecorp")]  # segment-aware subtree
    assert b.counters_for(["customer"]) == []
    assert b.counters_for(["eu", "env/x"]) == [(4, "eu")]


TAGS = st.lists(st.sampled_from(["a", "b", "x"]), min_size=1, max_size=4).map("/".join)
PATTERN = st.lists(st.sampled_from(["a", "b", "*", "**", "a*", "?"]), min_size=1,
                   max_size=4).map("/".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(TAGS, min_size=1, max_size=4), PATTERN, st.booleans())
def test_glob_counters_match_trie_glob(tags, pattern, exact):
    """Oracle: TagTrie.match selects nodes; a request counts for a node when it carries the
    node or anything under it (for '=' globs: only the node itself)."""
    b = Budgets([{"match": ("=" if exact else "") + pattern, "limit": 1, "window": "1h"}])
    norm = tc.normalize_tags(tags)
    trie = tc.TagTrie(norm)
    want = set()
    for node in trie.match(pattern).tolist():
        p = trie.path(node)
        if any(t == p or (not exact and t.startswith(p + "/")) for t in norm):
            want.add(p)
    assert {n for _, n in b.counters_for(tags)} == want


@settings(max_examples=200, deadline=None)
@given(st.lists(TAGS, min_size=1, max_size=4), TAGS)
def test_subtree_matching_oracle(tags, path):
    b = Budgets([{"match": path, "limit": 1, "window": "1h"},
                 {"match": "=" + path, "limit": 1, "window": "1h"}])
    got = b.counters_for(tags)
    under = any(t == path or t.startswith(path + "/") for t in tags)
    assert ((0, path) in got) == under
    assert ((1, path) in got) == (path in tags)


def test_glob_makes_one_counter_per_node():
    b = Budgets([{"match": "customer/*", "limit": 10.0, "window": "1D"}])
    b.record(["customer/acme/eu"], cost=9.0, ts=0)
    b.record(["customer/acme/us", "customer/acme"], cost=0.5, ts=0)  # counted once
    b.record(["customer/globex"], cost=1.0, ts=0)
    st_ = b.status(now=0).set_index("node")
    assert st_.loc["customer/acme", "spent"] == 9.5
    assert st_.loc["customer/globex", "spent"] == 1.0
    with pytest.raises(BudgetExceeded) as ei:
        b.check(["customer/acme/asia"], estimated_cost=0.6, now=1)
    assert ei.value.node == "customer/acme" and ei.value.spent == 9.5
    b.check(["customer/acme/asia"], estimated_cost=0.5, now=1)  # exactly fits
    b.check(["customer/globex"], estimated_cost=9.0, now=1)
    b.check(["customer/initech"], estimated_cost=10.0, now=1)  # a new customer: fresh counter


# ------------------------------------------------------------------------------ limits


def test_estimates_and_the_unit_rule():
    b = Budgets([{"match": "a", "limit": 1.0, "window": "1h"}])
    b.record(["a"], cost_nanos=999_999_999, ts=0)
    b.check(["a"], estimated_cost=0.000000001, now=0)  # one nano: fits exactly
    with pytest.raises(BudgetExceeded):
        b.check(["a"], estimated_cost=0.000000002, now=0)
    b.record(["a"], cost_nanos=1, ts=0)  # now exactly at the limit
    with pytest.raises(BudgetExceeded) as ei:
        b.check(["a"], now=0)  # no estimate: still needs one nano
    assert ei.value.spent == 1.0 and ei.value.limit == 1.0 and ei.value.estimate == 0.0
    b.check(["other"], estimated_cost=100.0, now=0)  # no rule applies


def test_requests_and_tokens_metrics():
    b = Budgets([{"match": "a", "limit": 3, "metric": "requests", "window": "1h"},
                 {"match": "t", "limit": 1000, "metric": "total_tokens", "window": "1h"}])
    for _ in range(3):
        b.check(["a"], now=0)
        b.record(["a"], ts=0)
    with pytest.raises(BudgetExceeded, match="3 of 3 requests"):
        b.check(["a"], now=0)
    b.record(["t"], usage={"input_tokens": 600, "output_tokens": 300}, ts=0)
    b.check(["t"], estimated_tokens=100, now=0)
    with pytest.raises(BudgetExceeded, match="900 of 1,000 tokens"):
        b.check(["t"], estimated_tokens=101, now=0)
    b.check(["t"], estimated_cost=1e6, now=0)  # a cost estimate does not apply to tokens


def test_first_violated_rule_in_order_is_reported():
    b = Budgets([{"match": "a", "limit": 5.0, "window": "1h"},
                 {"match": "a/b", "limit": 1.0, "window": "1h"}])
    b.record(["a/b"], cost=2.0, ts=0)
    with pytest.raises(BudgetExceeded) as ei:
        b.check(["a/b"], now=0)
    assert (ei.value.rule_index, ei.value.node) == (1, "a/b")


# ------------------------------------------------------------------------------ windows


def test_rolling_window_rolls_over():
    b = Budgets([{"match": "a", "limit": 10.0, "window": "1h", "resolution": "1min"}])
    t0 = 1_000_000 * 60  # on a minute boundary
    b.record(["a"], cost=6.0, ts=t0 + 10)
    b.record(["a"], cost=3.0, ts=t0 + 1800)
    with pytest.raises(BudgetExceeded) as ei:
        b.check(["a"], estimated_cost=5.0, now=t0 + 3599)
    err = ei.value
    # the 6 dollars leave when their minute bucket is an hour old; then 5 more fit
    assert err.resets_at == pd.Timestamp((t0 + 60 + H) * 10**9, tz="UTC")
    assert err.retry_after == pytest.approx(60 + H - 3599)
    b.check(["a"], estimated_cost=1.0, now=t0 + 3599)
    b.check(["a"], estimated_cost=5.0, now=t0 + 60 + H)
    with pytest.raises(BudgetExceeded):
        b.check(["a"], estimated_cost=7.01, now=t0 + 60 + H)
    b.check(["a"], estimated_cost=10.0, now=t0 + 1860 + H)  # all expired
    assert b.status(now=t0 + 1860 + H)["spent"].tolist() == [0.0]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 10**4), st.sampled_from(["1h", "7D", "90s"]),
       st.sampled_from([None, "1s", "7min"]))
def test_rolling_spend_counts_between_window_and_window_plus_resolution(t, dt, window, res):
    spec = {"match": "a", "limit": 1, "metric": "requests", "window": window}
    if res:
        spec["resolution"] = res
    b = Budgets([spec])
    r = b.rules[0]
    span, step = r.span // 10**9, r.res / 10**9
    b.record(["a"], ts=t)
    later = t + dt
    counted = b.status(now=later)["spent"].iloc[0] == 1
    if dt < span:
        assert counted
    elif dt >= span + step:
        assert not counted


def test_calendar_day_across_spring_dst_in_london():
    # 2026-03-29: clocks go from 01:00 GMT to 02:00 BST; the local day lasts 23 hours
    b = Budgets([{"match": "c/*", "limit": 1.0, "period": "1D"}], tz="Europe/London")
    b.record(["c/x"], cost=0.6, ts="2026-03-29T00:30:00Z")
    b.record(["c/x"], cost=0.3, ts="2026-03-29T22:30:00Z")  # 23:30 BST: still the 29th
    with pytest.raises(BudgetExceeded) as ei:
        b.check(["c/x"], estimated_cost=0.2, now="2026-03-29T22:59:59Z")
    assert ei.value.resets_at == pd.Timestamp("2026-03-29T23:00:00Z")  # midnight BST
    b.check(["c/x"], estimated_cost=1.0, now="2026-03-29T23:00:00Z")
    b.record(["c/x"], cost=0.5, ts="2026-03-29T23:00:00Z")
    st_ = b.status(now="2026-03-29T23:30:00Z")
    assert st_["spent"].tolist() == [0.5]
    assert st_["resets_at"].tolist() == [pd.Timestamp("2026-03-30T23:00:00Z")]


def test_calendar_day_across_autumn_dst_and_a_month():
    b = Budgets([{"match": "a", "limit": 1.0, "window": "1D", "calendar": True},
                 {"match": "a", "limit": 10.0, "window": "1MS"}], tz="Europe/London")
    # 2026-10-25 lasts 25 hours: 2026-10-24T23:00Z .. 2026-10-26T00:00Z
    b.record(["a"], cost=0.9, ts="2026-10-24T23:00:00Z")
    with pytest.raises(BudgetExceeded):
        b.check(["a"], estimated_cost=0.2, now="2026-10-25T23:59:59Z")
    b.check(["a"], estimated_cost=1.0, now="2026-10-26T00:00:00Z")
    st_ = b.status(now="2026-10-26T00:00:00Z")
    assert st_["spent"].tolist() == [0.0, 0.9]
    assert st_["resets_at"].tolist() == [pd.Timestamp("2026-10-27T00:00:00Z"),
                                         pd.Timestamp("2026-11-01T00:00:00Z")]


@settings(max_examples=300, deadline=None)
@example(ns("2025-09-07T12:00:00Z") // 10**9, "America/Santiago", "1D")  # no local midnight
@example(ns("2025-04-06T12:00:00Z") // 10**9, "America/Santiago", "1D")  # 23:00 twice the day before
@example(ns("2026-03-29T12:00:00Z") // 10**9, "Europe/London", "1W")
@given(st.integers(ns("2020-01-01") // 10**9, ns("2030-01-01") // 10**9),
       st.sampled_from(["UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe",
                        "Asia/Kolkata", "America/Santiago"]),
       st.sampled_from(["1D", "1W", "1MS", "1YS"]))
def test_calendar_periods_match_pandas(t, tz, period):
    b = Budgets([{"match": "a", "limit": 1, "period": period}], tz=tz)
    start, end = b.rules[0].period(t * 10**9)
    local = pd.Timestamp(t * 10**9, tz="UTC").tz_convert(tz)
    day = pd.Timestamp(local.date())  # naive local date: pandas offsets do the calendar
    if period == "1D":
        s, e = day, day + pd.DateOffset(days=1)
    elif period == "1W":
        s = day - pd.DateOffset(days=local.weekday())
        e = s + pd.DateOffset(days=7)
    elif period == "1MS":
        s = day.replace(day=1)
        e = s + pd.DateOffset(months=1)
    else:
        s = day.replace(month=1, day=1)
        e = s + pd.DateOffset(years=1)
    # local midnight; a midnight that does not exist (America/Santiago) is the first instant
    # after the gap, an ambiguous one its first occurrence (zoneinfo's fold=0)
    want_s = s.tz_localize(tz, ambiguous=True, nonexistent="shift_forward").value
    want_e = e.tz_localize(tz, ambiguous=True, nonexistent="shift_forward").value
    assert (start, end) == (want_s, want_e)
    assert start <= t * 10**9 < end


# ------------------------------------------------------------------------------ fail closed


@pytest.mark.parametrize("tags", ["customer/acme", ["customer/acme", "bad\x00"], [3],
                                  [" / "], ["x" * 300], [["nested"]]])
def test_bad_tags_fail_closed(tags):
    b = Budgets([{"match": "customer/*", "limit": 1.0, "window": "1h"}],
                policy=tc.TagPolicy(on_invalid="drop"))  # even a dropping policy raises
    with pytest.raises(tc.TagError):
        b.check(tags)


def test_case_policy_and_no_tags():
    b = Budgets([{"match": "Customer/ACME", "limit": 1.0, "window": "1h"},
                 {"match": "**", "limit": 5, "metric": "requests", "window": "1h"}],
                policy=tc.TagPolicy(case="lower"))
    assert b.counters_for(["customer/acme/x"]) == [(0, "customer/acme"), (1, "customer"),
                                                   (1, "customer/acme"), (1, "customer/acme/x")]
    assert b.counters_for(None) == [] and b.counters_for([]) == []
    b.check(None, estimated_cost=100.0)


# ------------------------------------------------------------------------------ errors


def test_budget_exceeded_error_body():
    b = Budgets([{"match": "team/*", "limit": 2.0, "period": "1MS", "name": "team monthly"}])
    b.record(["team/search"], cost=2.0, ts="2026-05-10T00:00:00Z")
    with pytest.raises(BudgetExceeded) as ei:
        b.check(["team/search"], estimated_cost=0.1, now="2026-05-11T00:00:00Z")
    err = ei.value
    assert isinstance(err, Exception) and err.status_code == 429
    assert err.rule["name"] == "team monthly" and err.window == "1MS" and err.calendar
    assert err.resets_at == pd.Timestamp("2026-06-01T00:00:00Z")
    assert err.retry_after == pytest.approx(21 * DAY)
    body = err.to_openai_error()["error"]
    assert body["type"] == "insufficient_quota" and body["code"] == "budget_exceeded"
    assert body["param"] is None and "team/search" in body["message"]
    assert err.headers == {"retry-after": str(21 * DAY)}
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.node == err.node
    with pytest.raises(BudgetExceeded) as ei:
        b.check(["team/search"], estimated_cost=3.0, now="2026-05-11T00:00:00Z")
    assert ei.value.retry_after is None  # more than the limit: never fits


# ------------------------------------------------------------------------------ recorder


RULES = [{"match": "customer/*", "limit": 50.0, "window": "7D"},
         {"match": "env/staging", "limit": 5000, "metric": "total_tokens", "window": "1MS"},
         {"match": "customer/acme", "limit": 3, "metric": "requests", "period": "1D"}]


def replay(rec: Recorder, budgets: Budgets | None, items) -> None:
    for tags, cost, tokens, t in items:
        rec.record(tags, model="m", prompt_tokens=tokens, completion_tokens=0, cost=cost,
                   latency_ms=1.0, ts=t)
        if budgets is not None:
            budgets.record(tags, cost=cost, total_tokens=tokens, ts=t)


def sample_items(now: int):
    items = []
    for i in range(300):
        t = now - (i * 2789) % (40 * DAY)  # spread over 40 days, some outside every window
        tags = [f"customer/c{i % 5}", "env/staging" if i % 3 else "env/prod"]
        if i % 7 == 0:
            tags.append("customer/acme/eu")
        items.append((tags, round(0.01 * (i % 13), 2), 10 * (i % 11), t))
    return sorted(items, key=lambda x: x[3])


def test_rebuild_from_a_recorder_folder_matches_live_counters(tmp_path):
    now = ns("2026-03-20T12:00:00Z") // 10**9
    items = sample_items(now)
    live = Budgets(RULES)
    with Recorder(tmp_path / "u") as rec:
        replay(rec, live, items)
    rec2 = Recorder(tmp_path / "u")  # a restart
    rebuilt = Budgets(RULES, recorder=rec2, now=now)
    a, b = live.status(now=now), rebuilt.status(now=now)
    pd.testing.assert_frame_equal(a, b)
    assert (a["spent"] > 0).sum() >= 6
    # from now on the recorder feeds the rebuilt budgets
    rec2.record(["customer/c1"], model="m", prompt_tokens=0, completion_tokens=0, cost=1.25,
                latency_ms=1.0, ts=now)
    live.record(["customer/c1"], cost=1.25, ts=now)
    pd.testing.assert_frame_equal(live.status(now=now), rebuilt.status(now=now))
    rebuilt.detach()
    rec2.record(["customer/c1"], model="m", cost=1.0, latency_ms=1.0, ts=now)
    pd.testing.assert_frame_equal(live.status(now=now), rebuilt.status(now=now))
    rec2.close()


def test_rebuild_and_live_accrual_count_each_request_once():
    rec = Recorder()
    stop = threading.Event()
    counts = [0]

    def writer():
        while not stop.is_set():
            rec.record(["customer/acme"], model="m", cost_nanos=1, latency_ms=1.0, ts=100)
            counts[0] += 1

    th = threading.Thread(target=writer)
    th.start()
    while counts[0] < 200:
        pass
    b = Budgets([{"match": "customer/*", "limit": 10**6, "metric": "requests", "window": "1D"}],
                recorder=rec, now=100)
    while counts[0] < 400:
        pass
    stop.set()
    th.join()
    assert b.status(now=100)["spent"].tolist() == [float(len(rec))]


def test_budgets_threads_accrue_exactly():
    b = Budgets([{"match": "a", "limit": 10**9, "window": "1D"}])

    def work():
        for _ in range(5000):
            b.record(["a/x"], cost_nanos=3, ts=0)
            b.check(["a/x"], now=0)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert b.status(now=0)["spent"].tolist() == [4 * 5000 * 3 / 1e9]


def test_status_frame():
    b = Budgets(RULES)
    df = b.status(now=datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert list(df.columns) == ["rule", "match", "node", "metric", "window", "calendar", "limit",
                                "spent", "remaining", "resets_at"]
    assert df["node"].tolist() == ["env/staging", "customer/acme"]  # glob counters appear on use
    assert df["remaining"].tolist() == [5000.0, 3.0]
    assert str(df["resets_at"].dtype) == "datetime64[ns, UTC]"


# ------------------------------------------------------------------------------ gateway package


def test_resets_at_is_a_utc_datetime_and_the_message_keeps_nanoseconds():
    # '1s' windows have a resolution of 16,666,666 ns: reset times fall between microseconds
    b = Budgets([{"match": "a", "limit": 1, "metric": "requests", "window": "1s"}])
    b.record(["a"], ts=0)
    with pytest.raises(BudgetExceeded) as ei:
        b.check(["a"], now=0.5)
    err = ei.value
    assert type(err.resets_at) is datetime and err.resets_at.utcoffset().total_seconds() == 0
    want = pd.Timestamp(16_666_666 + 10**9, unit="ns", tz="UTC")
    assert err.resets_at == want.floor("us")
    assert str(err).endswith(f"; resets at {want.isoformat()}")  # as pandas wrote it
    assert "1970-01-01T00:00:01.016666666+00:00" in str(err)
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.resets_at == err.resets_at
    # a pandas Timestamp or a datetime is still accepted by the constructor
    for when in (want, want.floor("us").to_pydatetime()):
        e = BudgetExceeded({"match": "a"}, 0, "a", "requests", 1, 1, 1, "1s", False, when, None)
        assert e.resets_at == want.floor("us")


def test_old_import_paths_are_aliases():
    import tagcore.asgi
    import tagcore.budgets
    import tagcore.gateway
    import tagcore.gateway.budgets
    import tagcore.gateway.proxy
    import tagcore.gateway.recorder
    import tagcore.recorder

    assert tagcore.budgets.Budgets is tagcore.gateway.budgets.Budgets is tc.Budgets
    assert tagcore.budgets.BudgetExceeded is tagcore.gateway.BudgetExceeded
    assert tagcore.recorder.Recorder is tagcore.gateway.Recorder is tc.Recorder
    assert tagcore.recorder.read_recorded is tagcore.gateway.recorder.read_recorded
    assert tagcore.recorder.parse_usage is tagcore.gateway.recorder.parse_usage
    assert tagcore.asgi.TagcoreProxy is tagcore.gateway.TagcoreProxy is tagcore.gateway.proxy.TagcoreProxy
    assert tagcore.asgi.DEFAULT_PATHS is tagcore.gateway.DEFAULT_PATHS
    assert set(tagcore.gateway.__all__) <= set(dir(tagcore.gateway))
    with pytest.raises(AttributeError):
        tagcore.gateway.no_such_name  # noqa: B018


# glob rules share TagTrie.match's matcher: one path at a time agrees with the trie walk

_segments = st.sampled_from(["a", "b", "ab", "ba", "x", "a?", "b*", "*", "**", "?", "a*b"])
_names = st.sampled_from(["a", "b", "ab", "ba", "abb", "x", "xa", "a?", "b*"])
_paths = st.lists(_names, min_size=1, max_size=4).map("/".join)
_patterns = st.lists(_segments, min_size=1, max_size=4).map("/".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_paths, min_size=0, max_size=12), _patterns)
def test_single_path_matcher_agrees_with_trie_match(paths, pattern):
    from tagcore.trie import TagTrie, _Pattern, path_matches

    trie = TagTrie(paths)
    want = {trie.path(i) for i in trie.match(pattern)}
    pat = _Pattern(pattern)
    got = {p for p in trie.paths if pat.matches(p)}
    assert got == want
    assert {p for p in trie.paths if path_matches(pattern, p)} == want


@settings(max_examples=100, deadline=None)
@given(st.lists(_paths, min_size=1, max_size=6), _patterns)
def test_glob_rule_counters_are_the_trie_matches_of_the_request_prefixes(tags, pattern):
    from tagcore.trie import TagTrie

    b = Budgets([{"match": pattern, "limit": 1, "window": "1h"}])
    trie = TagTrie(tags)  # holds every tag and every prefix of it
    want = sorted(trie.path(i) for i in trie.match(pattern))
    assert sorted(node for _, node in b.counters_for(tags)) == want
