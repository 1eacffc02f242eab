"""Typed face of the compiled kernels in ``_closure.pyx`` (stubs, as pandas' ``_libs/*.pyi``).

Inputs are C-contiguous arrays of the dtypes named; outputs are caller-allocated and
filled in place. Call them through :mod:`tagcore.kernels`, which validates first.
"""

import numpy as np
import numpy.typing as npt

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]


def expand_ancestors(
    parents: I32,
    offsets: I64,
    ids: I32,
    stamp: I64,
    out_offsets: I64,
    out_ids: I32,
) -> int: ...
