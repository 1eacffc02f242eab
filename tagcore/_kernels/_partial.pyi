"""Stubs of ``_partial.pyx``: outputs are caller-allocated and filled in place; call
through :mod:`tagcore.scan._pairs`, which validates first."""

import numpy as np
import numpy.typing as npt

from tagcore._kernels._types import F64, I32, I64

def latency_pairs(
    offsets: I64,
    ids: I32,
    parents: I32,
    walk: bool,
    key_of_node: I32,
    mode: int,
    untagged_key: int,
    latency: F64,
    keep: npt.NDArray[np.uint8],
    masked: bool,
    pos: I64,
    out: F64,
    fill: bool,
    stamp: I64,
    end: I64,
    node_stamp: I64,
) -> int: ...

def map_tags(
    offsets: I64,
    codes: I32,
    table: I32,
    stamp: I64,
    out_offsets: I64,
    out_ids: I32,
) -> tuple[int, int]: ...
def dollars_to_nanos(dollars: F64, out: I64) -> int: ...
def copy_segments(src: F64, src_start: I64, length: I64, dst: F64, dst_start: I64) -> None: ...
