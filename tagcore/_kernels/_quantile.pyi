"""Stubs of ``_quantile.pyx``: outputs are caller-allocated and filled in place; call
through :mod:`tagcore.kernels`, which validates first."""

from tagcore._kernels._types import F64, I32, I64

def quantile_pick(
    sorted_latency: F64,
    offsets: I64,
    ids: I32,
    parents: I32,
    walk: bool,
    key_of_node: I32,
    group: I32,
    grouped: bool,
    keys_per_group: int,
    untagged_key: int,
    targets: I64,
    out: F64,
    seen: I64,
    ptr: I32,
    stamp: I64,
) -> None: ...
