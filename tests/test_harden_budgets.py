"""Issue 12, the budgets' side: reservations, rule configs, bounded counters, unpriced models.

Each test first reproduces what the old budgets let through."""

from __future__ import annotations

import pickle
import threading
import time

import pytest

import tagcore as tc
from tagcore.gateway import BudgetExceeded, Budgets, Recorder
from tagcore.prices import PriceTable

PRICES = PriceTable({"m": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}})


# -- item 3: reservations ----------------------------------------------------------------------------


def test_eight_racing_checks_cannot_all_pass_on_the_same_headroom():
    """Old budgets: with $0.90 of $1.00 spent, eight clients checking $0.10 at once all passed
    and spent $1.70. With reservations exactly one passes."""
    b = Budgets([{"match": "customer/*", "limit": 1.0, "window": "1D"}])
    b.record(["customer/acme"], cost=0.9, ts=0)
    barrier = threading.Barrier(8, timeout=10)
    passed, refused = [], []

    def client():
        try:
            r = b.check(["customer/acme"], estimated_cost=0.1, now=0, reserve=True)
        except BudgetExceeded as exc:
            refused.append(exc)
            barrier.wait()
            return
        barrier.wait()  # every client has checked before anyone records
        passed.append(r)
        b.record(["customer/acme"], cost=0.1, ts=0, reservation=r)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(passed) == 1 and len(refused) == 7
    assert b.status(now=0)["spent"].tolist() == [1.0]
    err = refused[0]
    assert err.reserved == pytest.approx(0.1) and "reserved by requests in flight" in str(err)
    assert pickle.loads(pickle.dumps(err)).reserved == err.reserved


@pytest.mark.parametrize("estimate, actual", [(0.10, 0.10), (0.06, 0.10), (0.0, 0.10)])
def test_overshoot_is_bounded_by_the_estimates_shortfall_in_flight(estimate, actual):
    """Eight threads, 3 ms requests: the final spend never passes limit + 8 x (actual -
    estimate), the documented bound (a zero estimate holds one nano-dollar)."""
    n = 8
    b = Budgets([{"match": "customer/*", "limit": 1.0, "window": "1D"}])
    stop = threading.Event()
    admitted = [0]
    lock = threading.Lock()

    def client():
        while not stop.is_set():
            try:
                r = b.check(["customer/acme"], estimated_cost=estimate, now=0, reserve=True)
            except BudgetExceeded:
                return
            with lock:
                admitted[0] += 1
            time.sleep(0.003)
            b.record(["customer/acme"], cost=actual, ts=0, reservation=r)

    threads = [threading.Thread(target=client) for _ in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(10)
    stop.set()
    spent = b.status(now=0)["spent"].iloc[0]
    bound = n * max(0.0, actual - estimate)
    print(f"estimate ${estimate:.2f}, actual ${actual:.2f}: spent ${spent:.2f}, overshoot "
          f"${max(0.0, spent - 1.0):.2f}, bound ${bound:.2f}")
    assert spent <= 1.0 + bound + 1e-9
    assert spent == pytest.approx(admitted[0] * actual)
    assert all(c.reserved == 0 for c in b._counters.values())


def test_reservations_release_expire_and_settle_through_the_recorder():
    rec = Recorder(prices=PRICES)
    b = Budgets([{"match": "a", "limit": 1, "metric": "requests", "window": "1h"},
                 {"match": "a", "limit": 100, "metric": "total_tokens", "window": "1h"}],
                recorder=rec)
    with pytest.raises(RuntimeError):
        with b.check(["a"], now=0, reserve=True):
            raise RuntimeError("the upstream failed")  # released on the way out
    r = b.check(["a"], now=0, reserve=True, ttl=0.05, estimated_tokens=60)
    with pytest.raises(BudgetExceeded):
        b.check(["a"], now=0)  # the one request is held
    time.sleep(0.06)
    r2 = b.check(["a"], now=0, reserve=True, estimated_tokens=60)  # r expired
    assert not r.is_open and r2.is_open
    with b.settling(r2):
        rec.record(["a"], model="m", prompt_tokens=10, completion_tokens=5, latency_ms=1.0, ts=0)
    assert not r2.is_open
    st_ = b.status(now=0)
    assert st_["spent"].tolist() == [1.0, 15.0]
    assert all(c.reserved == 0 for c in b._counters.values())
    r.release()  # idempotent after expiry
    with pytest.raises(tc.TagcoreError, match="estimated_cost_nanos"):
        b.check(["x"], estimated_cost_nanos=-1)


# -- item 8: bad rule configs ------------------------------------------------------------------------


@pytest.mark.parametrize("rules, words", [
    ([{"match": "customer/*", "limit": 1.0, "window": "1d"}],
     ["rule 0", "'customer/*'", "'window'", "'1d'", "'1D'"]),
    ([{"match": "a", "limit": 1.0, "window": "1h"},
      {"match": "b", "limit": 1.0, "window": "1h", "name": ["team", "b"]}],
     ["rule 1", "'b'", "'name'", "expected a string"]),
    (None, ["rules", "expected a list of rule dicts, got None"]),
    ({"match": "a", "limit": 1, "window": "1h"}, ["rules", "one dict"]),
    ("a", ["rules", "expected a list"]),
    ([{"match": "a", "limit": 1, "window": "2H"}], ["'window'", "'2h'"]),
    ([{"match": "a", "limit": 1, "window": "1h", "calendar": "yes"}], ["'calendar'"]),
    ([{"match": "a", "limit": "1e400", "window": "1h"}], ["'limit'", "1e400"]),
    ([{"match": "a", "limit": 1, "window": "99999999999999999999999D"}],
     ["'window'", "100 years"]),
    ([{"match": "a", "limit": 1, "window": "1h", "tz": 5}], ["'tz'"]),
])
def test_bad_rule_configs_raise_naming_the_rule_and_field(rules, words):
    """Old budgets: a lowercase '1d' and a list as a name were accepted silently, rules=None
    was a bare TypeError."""
    with pytest.raises(tc.TagcoreError) as info:
        Budgets(rules)
    err = info.value
    assert isinstance(err, tc.gateway.BudgetRuleError) and isinstance(err, ValueError)
    for word in words:
        assert word in str(err), (word, str(err))
    assert pickle.loads(pickle.dumps(err)).args == err.args


def test_other_settings_are_checked_too():
    for kwargs, field in [({"unpriced": "free"}, "unpriced"), ({"unpriced": 0}, "unpriced"),
                          ({"max_counters": 0}, "max_counters"),
                          ({"reservation_ttl": -1}, "reservation_ttl")]:
        with pytest.raises(tc.gateway.BudgetRuleError, match=field):
            Budgets([], **kwargs)


# -- item 11: glob counters are bounded -------------------------------------------------------------------


def test_glob_counters_are_capped_idle_ones_evicted_and_the_rest_refused():
    """Old budgets: every distinct customer/* node a client named kept a counter for ever
    (300k customers took 411 MiB)."""
    b = Budgets([{"match": "customer/*", "limit": 1.0, "window": "1h"},
                 {"match": "env/prod", "limit": 5.0, "window": "1h"}], max_counters=100)
    for i in range(5000):  # checked, never spent: idle
        b.check([f"customer/c{i}", "env/prod"], estimated_cost=0.01, now=0)
    assert len(b._counters) <= 101 and b.evicted >= 4900
    for i in range(100):  # spent: not idle
        b.record([f"customer/s{i}"], cost=0.5, ts=0)
    with pytest.raises(tc.gateway.TooManyCounters) as info:
        b.check(["customer/new"], estimated_cost=0.01, now=0)
    err = info.value
    assert err.status_code == 503 and err.headers == {"retry-after": "1"}
    assert "max_counters" in str(err) and isinstance(err, tc.TagcoreError)
    b.check(["customer/s3"], estimated_cost=0.5, now=0)  # live counters keep working
    with pytest.raises(BudgetExceeded):
        b.check(["customer/s3"], estimated_cost=0.6, now=0)
    b.record(["customer/late"], cost=0.1, ts=0)  # accrual never refuses
    assert b.status(now=0).set_index("node").loc["customer/late", "spent"] == 0.1
    # once the window has rolled, the old spend is idle and makes room (after the 1 s pause)
    b._evict_after = 0
    b.check(["customer/new"], estimated_cost=0.01, now=7300)
    assert len(b._counters) <= 102


# -- item 13: unpriced models ---------------------------------------------------------------------------


def test_unpriced_model_is_refused_by_a_cost_budget():
    """Old budgets: a model the price table does not know was recorded at $0 and counted as
    free against the budget, for ever."""
    rec = Recorder(prices=PRICES)
    b = Budgets([{"match": "customer/*", "limit": 1.0, "window": "1D"},
                 {"match": "team/*", "limit": 10, "metric": "requests", "window": "1D"}],
                recorder=rec)
    with pytest.raises(tc.gateway.UnpricedModel) as info:
        b.check(["customer/acme"], now=0, model="mystery")
    err = info.value
    assert err.status_code == 400 and err.to_openai_error()["error"]["param"] == "model"
    assert "'mystery'" in str(err) and err.node == "customer/acme"
    b.check(["customer/acme"], now=0, model="m")  # priced
    b.check(["customer/acme"], now=0, model="openai/m")
    b.check(["team/a"], now=0, model="mystery")  # no cost rule applies
    b.check(["customer/acme"], now=0)  # no model given: prices are not looked at
    assert pickle.loads(pickle.dumps(err)).model == "mystery"


def test_unpriced_model_counts_with_the_estimate_when_asked(tmp_path):
    rec = Recorder(tmp_path / "u", prices=PRICES)
    b = Budgets([{"match": "customer/*", "limit": 1.0, "window": "1D"}], recorder=rec,
                unpriced=0.3, now=0)
    for _ in range(3):
        r = b.check(["customer/acme"], now=0, model="mystery", reserve=True)
        assert r.cost_nanos == 300_000_000
        with b.settling(r):
            rec.record(["customer/acme"], model="mystery", prompt_tokens=10,
                       completion_tokens=10, latency_ms=1.0, ts=0)
    with pytest.raises(BudgetExceeded):
        b.check(["customer/acme"], now=0, model="mystery")
    # without a reservation too, and the same after a restart
    rec.record(["customer/acme"], model="mystery", usage=None, latency_ms=1.0, ts=0)
    assert b.status(now=0)["spent"].tolist() == [pytest.approx(1.2)]
    rec.close()
    again = Budgets([{"match": "customer/*", "limit": 1.0, "window": "1D"}],
                    recorder=Recorder(tmp_path / "u", prices=PRICES), unpriced=0.3, now=0)
    assert again.status(now=0)["spent"].tolist() == [pytest.approx(1.2)]
