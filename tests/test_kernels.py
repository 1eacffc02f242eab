"""Every compiled kernel against its slow pure-Python twin, from one registry.

Inputs are generated logs over random tries: empty logs, untagged rows, duplicate tags, a tag
together with its own ancestor, deep paths, the largest ids, read-only and non-contiguous
arrays. Results and raised errors must match the twin, and inputs are never modified.
"""

from __future__ import annotations

import inspect
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagcore import _slow, kernels


@st.composite
def logs(draw, max_nodes=30, max_rows=25):
    n_nodes = draw(st.integers(1, max_nodes))
    parents = [-1]
    for i in range(1, n_nodes):
        parents.append(draw(st.integers(-1, i - 1)))
    n_rows = draw(st.integers(0, max_rows))
    lens = draw(st.lists(st.integers(0, 5), min_size=n_rows, max_size=n_rows))
    ids = draw(st.lists(st.integers(0, n_nodes - 1), min_size=sum(lens), max_size=sum(lens)))
    offsets = np.concatenate([[0], np.cumsum(lens, dtype=np.int64)]).astype(np.int64)
    status = draw(st.lists(st.sampled_from([200, 201, 400, 429, 500]), min_size=n_rows,
                           max_size=n_rows))
    ints = st.lists(st.integers(0, 10**9), min_size=n_rows, max_size=n_rows)
    lat = draw(st.lists(st.one_of(st.floats(0, 1e4), st.just(float("nan")),
                                  st.sampled_from([1.0, 2.0, 5.0])),
                        min_size=n_rows, max_size=n_rows))
    ts = draw(st.lists(st.integers(-(10**12), 10**12), min_size=n_rows, max_size=n_rows))
    return dict(
        parents=np.array(parents, dtype=np.int32),
        offsets=offsets,
        ids=np.array(ids, dtype=np.int32),
        status=np.array(status, dtype=np.int32),
        prompt=np.array(draw(ints), dtype=np.int64),
        completion=np.array(draw(ints), dtype=np.int64),
        cost=np.array(draw(ints), dtype=np.int64),
        latency=np.array(lat, dtype=np.float64),
        ts=np.array(ts, dtype=np.int64),
    )


def _depth1_slots(parents):
    """Slots: the roots; each node maps to its root's slot."""
    roots = [i for i, p in enumerate(parents) if p < 0]
    slot_of_root = {r: s for s, r in enumerate(roots)}
    node_slot = []
    for i in range(len(parents)):
        v = i
        while parents[v] >= 0:
            v = parents[v]
        node_slot.append(slot_of_root[v])
    return np.array(node_slot, dtype=np.int32), len(roots)


def _metrics(d):
    return (d["status"], d["prompt"], d["completion"], d["cost"], d["latency"], d["ts"])


def case_expand_ancestors(d):
    return (d["parents"], d["offsets"], d["ids"]), {}


def case_rollup_nodes(d):
    return (d["parents"], d["offsets"], d["ids"], *_metrics(d)), {}


def case_rollup_nodes_no_time(d):
    return (d["parents"], d["offsets"], d["ids"], *_metrics(d)), dict(want_time=False,
                                                                      want_latency=False)


def _threaded(case):
    """The same case split over three threads, however few rows it has."""
    def run(d):
        args, kw = case(d)
        return args, dict(kw, threads=3, min_rows=1)
    return run


def _slot_case(mode, grouped):
    def case(d):
        node_slot, n_slots = _depth1_slots(d["parents"])
        kw = dict(mode=mode)
        if grouped:
            n = len(d["offsets"]) - 1
            kw.update(group=(np.arange(n) % 3 - 1).astype(np.int32), n_groups=2)
        return (d["offsets"], d["ids"], node_slot, n_slots, *_metrics(d)), kw
    return case


def case_rollup_pairs(d):
    node_slot, n_slots = _depth1_slots(d["parents"])
    other = np.where(np.arange(len(node_slot)) % 2 == 0, node_slot, -1).astype(np.int32)
    return (d["offsets"], d["ids"], node_slot, n_slots, other, n_slots, d["cost"]), {}


def case_row_bits(d):
    nn = len(d["parents"])
    bits = (np.uint64(1) << (np.arange(nn, dtype=np.uint64) % np.uint64(64)))
    return (d["offsets"], d["ids"], bits), {}


def case_bucket_fixed(d):
    return (d["ts"], -(10**11), 7 * 10**9 + 3, 50, -(10**12) + 5, 10**12 - 5), {}


def case_group_quantiles_nodes(d):
    return (d["offsets"], d["ids"], d["latency"], [0.0, 0.5, 0.9, 0.95, 0.99, 1.0]), dict(
        parents=d["parents"])


def case_group_quantiles_slots(d):
    node_slot, n_slots = _depth1_slots(d["parents"])
    n = len(d["offsets"]) - 1
    return (d["offsets"], d["ids"], d["latency"], [0.5, 0.95]), dict(
        key_of_node=node_slot, n_keys=n_slots + 1, untagged_key=n_slots,
        group=(np.arange(n) % 2).astype(np.int32), n_groups=2)


def case_take_rows(d):
    n = len(d["offsets"]) - 1
    rows = np.array([r for r in range(n)][::-1] + [r for r in range(0, n, 2)], dtype=np.int64)
    return (d["offsets"], d["ids"], rows), dict(n_nodes=len(d["parents"]))


def case_latency_order(d):
    return (d["latency"],), {}


def case_radix_argsort(d):
    lat = d["latency"]
    return (np.where(np.isnan(lat), 0.5, lat) * np.where(np.arange(lat.size) % 3, 1.0, -0.0),), {}


def case_radix_argsort_u64(d):
    return (d["ts"].view(np.uint64),), {}


def case_drop_row_duplicates(d):
    return (d["offsets"], d["ids"]), dict(n_nodes=len(d["parents"]))


REGISTRY = {
    "drop_row_duplicates": case_drop_row_duplicates,
    "latency_order": case_latency_order,
    "radix_argsort": case_radix_argsort,
    "radix_argsort[uint64]": case_radix_argsort_u64,
    "take_rows": case_take_rows,
    "take_rows[3 threads]": _threaded(case_take_rows),
    "expand_ancestors": case_expand_ancestors,
    "rollup_nodes": case_rollup_nodes,
    "rollup_nodes[no time, no latency]": case_rollup_nodes_no_time,
    "rollup_slots[full]": _slot_case("full", False),
    "rollup_slots[split]": _slot_case("split", False),
    "rollup_slots[primary]": _slot_case("primary", False),
    "rollup_slots[split, grouped]": _slot_case("split", True),
    "rollup_slots[full, grouped]": _slot_case("full", True),
    "rollup_pairs": case_rollup_pairs,
    "rollup_nodes[3 threads]": _threaded(case_rollup_nodes),
    "rollup_slots[split, grouped, 3 threads]": _threaded(_slot_case("split", True)),
    "rollup_slots[primary, 3 threads]": _threaded(_slot_case("primary", False)),
    "row_bits[3 threads]": _threaded(case_row_bits),
    "row_bits": case_row_bits,
    "bucket_fixed": case_bucket_fixed,
    "group_quantiles[nodes]": case_group_quantiles_nodes,
    "group_quantiles[slots]": case_group_quantiles_slots,
}


def _fn_name(case_name):
    return case_name.split("[")[0]


def assert_same(fast, slow):
    if isinstance(fast, tuple):
        assert isinstance(slow, tuple) and len(fast) == len(slow)
        for a, b in zip(fast, slow):
            assert_same(a, b)
        return
    fast, slow = np.asarray(fast), np.asarray(slow)
    assert fast.shape == slow.shape
    if fast.dtype.kind == "f" or slow.dtype.kind == "f":
        np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-6, equal_nan=True)
    else:
        np.testing.assert_array_equal(fast, slow)


def _variants(args):
    """The same inputs as plain, read-only and non-contiguous arrays."""
    yield args
    ro = []
    for a in args:
        if isinstance(a, np.ndarray):
            a = a.copy()
            a.setflags(write=False)
        ro.append(a)
    yield tuple(ro)
    nc = []
    for a in args:
        if isinstance(a, np.ndarray) and a.ndim == 1:
            big = np.zeros(a.size * 2, dtype=a.dtype)
            big[::2] = a
            a = big[::2]
        nc.append(a)
    yield tuple(nc)


@pytest.mark.parametrize("case", sorted(REGISTRY))
@settings(max_examples=60, deadline=None)
@given(d=logs())
def test_kernel_matches_twin(case, d):
    args, kw = REGISTRY[case](d)
    name = _fn_name(case)
    expected = getattr(_slow, name)(*args, **kw)
    for variant in _variants(args):
        before = [a.copy() if isinstance(a, np.ndarray) else a for a in variant]
        got = getattr(kernels, name)(*variant, **kw)
        assert_same(got, expected)
        for a, b in zip(variant, before):  # inputs never modified
            if isinstance(a, np.ndarray):
                np.testing.assert_array_equal(a, b)


def _public_functions(module) -> dict[str, types.FunctionType]:
    """The public functions a module defines itself (not the ones it imports)."""
    return {n: f for n, f in vars(module).items()
            if not n.startswith("_") and inspect.isfunction(f) and f.__module__ == module.__name__}


def _calls_compiled_code(fn: types.FunctionType) -> bool:
    """Whether ``fn`` (or a function nested in it) names one of the compiled modules."""
    compiled = {n for n, m in vars(kernels).items()
                if isinstance(m, types.ModuleType) and m.__name__.startswith("tagcore._kernels.")}
    assert compiled, "tagcore.kernels no longer imports its compiled modules by name"
    codes = [fn.__code__]
    while codes:
        code = codes.pop()
        if compiled & set(code.co_names):
            return True
        codes.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return False


def test_every_public_kernel_has_a_twin_and_a_case():
    """The registry, the kernels and their twins, read from the modules: a new kernel without
    a twin or without a registry case fails here, and so does a twin without a kernel."""
    fast, slow = _public_functions(kernels), _public_functions(_slow)
    cased = {_fn_name(c) for c in REGISTRY}
    assert len(fast) >= 10 and len(slow) >= 10  # the introspection found the modules' functions
    direct = {n for n, f in fast.items() if _calls_compiled_code(f)}
    assert direct >= {"rollup_nodes", "expand_ancestors"}  # and reads nested functions too
    assert direct <= set(slow), f"kernels without a slow twin: {sorted(direct - set(slow))}"
    assert set(slow) <= set(fast), f"twins without a kernel: {sorted(set(slow) - set(fast))}"
    twinned = set(fast) & set(slow)
    assert twinned <= cased, f"kernels without a registry case: {sorted(twinned - cased)}"
    assert cased <= twinned, f"registry cases of no kernel/twin pair: {sorted(cased - twinned)}"


def test_tag_with_its_own_ancestor_and_deep_paths():
    # 16-segment chain; a request carries the leaf and the root, one only the root, one none
    parents = np.array([-1] + list(range(15)), dtype=np.int32)
    offsets = np.array([0, 2, 3, 3], dtype=np.int64)
    ids = np.array([15, 0, 0], dtype=np.int32)
    m = dict(status=[200, 500, 200], prompt=[1, 2, 4], completion=[0, 0, 0], cost=[10, 20, 40],
             latency=[1.0, 2.0, 3.0], ts=[0, 1, 2])
    self_acc, total, _, _ = kernels.rollup_nodes(parents, offsets, ids, *m.values())
    assert total[0, 0] == 2 and total[0, 4] == 30  # root once per request
    assert total[15, 0] == 1 and self_acc[0, 0] == 2
    assert (total[:, 0] >= self_acc[:, 0]).all()
    assert (np.diff(total[:, 0]) <= 0).all()  # a parent's total >= its child's on a chain


def test_split_sums_to_total_exactly():
    rng = np.random.default_rng(1)
    n, nn = 2000, 12
    np.array([-1, 0, 0, 0, 0, -1, 5, 5, 1, 1, 2, -1], dtype=np.int32)
    lens = rng.integers(0, 4, n)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    ids = rng.integers(0, nn, offsets[-1]).astype(np.int32)
    node_slot = np.array([-1, 0, 1, 2, 3, -1, -1, -1, 0, 0, 1, -1], dtype=np.int32)
    cost = rng.integers(0, 10**12, n)
    i, f = kernels.rollup_slots(offsets, ids, node_slot, 4, np.full(n, 200), cost * 0, cost * 0,
                                cost, np.ones(n), np.zeros(n, dtype=np.int64), mode="split")
    assert i[0, :, 4].sum() == cost.sum()
    assert f[0, :, 0].sum() == pytest.approx(n)


BAD = [
    ("offsets not starting at 0", dict(offsets=[1, 2]), "must start at 0"),
    ("decreasing offsets", dict(offsets=[0, 2, 1, 3]), "decreases at position"),
    ("offsets past the ids", dict(offsets=[0, 9]), "ends at 9"),
    ("id too large", dict(ids=[0, 99]), "id 99 at position 1 is outside"),
    ("negative id", dict(ids=[-1, 0]), "id -1 at position 0 is outside"),
    ("parent not smaller", dict(parents=[-1, 1, 0]), "is not smaller than the node"),
    ("float ids", dict(ids=[0.5, 1.0]), "not a whole number"),
    ("short metric column", dict(cost=[1]), "cost: expected 2 rows"),
]


@pytest.mark.parametrize("what,change,message", BAD, ids=[b[0] for b in BAD])
def test_bad_inputs_raise_before_the_kernel(what, change, message):
    args = dict(parents=[-1, 0, 0], offsets=[0, 1, 2], ids=[1, 2], status=[200, 200],
                prompt=[1, 1], completion=[1, 1], cost=[1, 1], latency=[1.0, 1.0], ts=[0, 0])
    args.update(change)
    with pytest.raises(ValueError, match=message):
        kernels.rollup_nodes(*args.values())
    if set(change) <= {"offsets", "ids", "parents"}:
        with pytest.raises(ValueError, match=message):
            kernels.expand_ancestors(args["parents"], args["offsets"], args["ids"])
        with pytest.raises(ValueError):
            _slow_or_fast_row_bits(args)


def _slow_or_fast_row_bits(args):
    p = args["parents"]
    kernels.check_parents(p)
    return kernels.row_bits(args["offsets"], args["ids"], np.ones(len(p), dtype=np.uint64))
