"""Typed face of the compiled kernels in ``_rollup.pyx`` (stubs, as pandas' ``_libs/*.pyi``).

Inputs are C-contiguous arrays of the dtypes named; outputs are caller-allocated and
filled in place. Call them through :mod:`tagcore.kernels`, which validates first.
"""

import numpy as np
import numpy.typing as npt

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]


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
