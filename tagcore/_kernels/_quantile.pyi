"""Typed face of the compiled kernels in ``_quantile.pyx`` (stubs, as pandas' ``_libs/*.pyi``).

Inputs are C-contiguous arrays of the dtypes named; outputs are caller-allocated and
filled in place. Call them through :mod:`tagcore.kernels`, which validates first.
"""

import numpy as np
import numpy.typing as npt

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]


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
