"""Stubs of ``_rollup.pyx``: outputs are caller-allocated and filled in place; call
through :mod:`tagcore.kernels`, which validates first."""

from tagcore._kernels._types import F64, I32, I64

def rollup_nodes(
    parents: I32,
    roots: I32,
    depths: I32,
    preorder: I32,
    offsets: I64,
    ids: I32,
    status: I32,
    prompt: I64,
    completion: I64,
    cost: I64,
    latency: F64,
    ts: I64,
    want_latency: bool,
    want_time: bool,
    self_acc: I64,
    fix: I64,
    lat_self: F64,
    lat_fix: F64,
    root_stamp: I64,
    root_tag: I32,
    root_n: I32,
    scratch: I32,
) -> int: ...

def propagate_up(
    parents: I32,
    acc: I64,
    facc: F64,
    sum_cols: int,
) -> None: ...
