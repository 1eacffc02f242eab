"""Stubs of ``_time.pyx``: outputs are caller-allocated and filled in place; call
through :mod:`tagcore.kernels`, which validates first."""

from tagcore._kernels._types import I32, I64

def bucket_fixed(
    ts: I64,
    origin: int,
    width: int,
    n_buckets: int,
    lo: int,
    hi: int,
    out: I32,
) -> None: ...
