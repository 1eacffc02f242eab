"""Row selection: which leaves of a filter each request matches, in one pass over the CSR."""

from libc.stdint cimport int32_t, int64_t, uint64_t

ctypedef int32_t id_t
ctypedef int64_t off_t


def row_bits(const off_t[::1] offsets, const id_t[::1] ids, const uint64_t[::1] node_bits,
             uint64_t[::1] out):
    """``out[r]`` = OR of ``node_bits`` over the tags of row ``r``."""
    cdef Py_ssize_t n = offsets.shape[0] - 1
    cdef Py_ssize_t r, j
    cdef uint64_t acc
    with nogil:
        for r in range(n):
            acc = 0
            for j in range(offsets[r], offsets[r + 1]):
                acc |= node_bits[ids[j]]
            out[r] = acc
