"""Typed face of the compiled kernels in ``_sort.pyx`` (stubs, as pandas' ``_libs/*.pyi``).

Inputs are C-contiguous arrays of the dtypes named; outputs are caller-allocated and
filled in place. Call them through :mod:`tagcore.kernels`, which validates first.
"""

import numpy as np
import numpy.typing as npt

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]


def radix_argsort_u64(
    keys: U64,
    out_idx: I64,
    buf_keys_a: U64,
    buf_keys_b: U64,
    buf_idx: I64,
    counts: I64,
) -> None: ...
