"""Stubs of ``_select.pyx``: outputs are caller-allocated and filled in place; call
through :mod:`tagcore.kernels`, which validates first."""

from tagcore._kernels._types import I32, I64, U64

def row_bits(
    offsets: I64,
    ids: I32,
    node_bits: U64,
    out: U64,
) -> None: ...

def take_rows(
    offsets: I64,
    ids: I32,
    rows: I64,
    out_offsets: I64,
    out_ids: I32,
) -> None: ...

def row_duplicates(
    offsets: I64,
    ids: I32,
    stamp: I64,
    out_offsets: I64,
    out_ids: I32,
    write: bool,
) -> int: ...
