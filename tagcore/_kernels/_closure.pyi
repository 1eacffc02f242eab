"""Stubs of ``_closure.pyx``: outputs are caller-allocated and filled in place; call
through :mod:`tagcore.kernels`, which validates first."""

from tagcore._kernels._types import I32, I64

def expand_ancestors(
    parents: I32,
    offsets: I64,
    ids: I32,
    stamp: I64,
    out_offsets: I64,
    out_ids: I32,
) -> int: ...
