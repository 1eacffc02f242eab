"""Typed face of the compiled kernels in ``_time.pyx`` (stubs, as pandas' ``_libs/*.pyi``).

Inputs are C-contiguous arrays of the dtypes named; outputs are caller-allocated and
filled in place. Call them through :mod:`tagcore.kernels`, which validates first.
"""

import numpy as np
import numpy.typing as npt

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]


def bucket_fixed(
    ts: I64,
    origin: int,
    width: int,
    n_buckets: int,
    lo: int,
    hi: int,
    out: I32,
) -> None: ...
