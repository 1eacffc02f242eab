"""Stubs of ``_sets.pyx``: outputs are caller-allocated and filled in place; call
through :mod:`tagcore.kernels`, which validates first."""

from tagcore._kernels._types import F64, I32, I64

def rollup_slots(
    offsets: I64,
    ids: I32,
    node_slot: I32,
    group: I32,
    mode: int,
    n_slots: int,
    status: I32,
    prompt: I64,
    completion: I64,
    cost: I64,
    latency: F64,
    ts: I64,
    iacc: I64,
    facc: F64,
    stamp: I64,
    hits: I32,
) -> None: ...

def rollup_pairs(
    offsets: I64,
    ids: I32,
    slot_a: I32,
    slot_b: I32,
    n_b: int,
    values: I64,
    out: I64,
    count: I64,
    stamp_a: I64,
    stamp_b: I64,
    hits_a: I32,
    hits_b: I32,
) -> None: ...
