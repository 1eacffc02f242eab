"""Stubs of ``_sort.pyx``: outputs are caller-allocated and filled in place; call
through :mod:`tagcore.kernels`, which validates first."""

from tagcore._kernels._types import I64, U64

def radix_argsort_u64(
    keys: U64,
    out_idx: I64,
    buf_keys_a: U64,
    buf_keys_b: U64,
    buf_idx: I64,
    counts: I64,
) -> int: ...
