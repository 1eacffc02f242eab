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


cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define TC_PREFETCH(p) __builtin_prefetch((const void *)(p))
    #else
    #define TC_PREFETCH(p) ((void)0)
    #endif
    """
    void TC_PREFETCH(const void *p) nogil

cdef enum:
    AHEAD = 16


def take_rows(const off_t[::1] offsets, const id_t[::1] ids, const int64_t[::1] rows,
              off_t[::1] out_offsets, id_t[::1] out_ids):
    """Gather the tag runs of ``rows`` (in that order) into ``out_offsets``/``out_ids``.

    ``out_offsets`` holds ``len(rows) + 1`` entries; ``out_ids`` the total length of the runs.
    Rows may come in any order (a filter's mask, a latency order): the loop prefetches rows
    a few steps ahead.
    """
    cdef Py_ssize_t m = rows.shape[0]
    cdef Py_ssize_t n_ids = ids.shape[0]
    cdef Py_ssize_t i, j
    cdef int64_t r
    cdef off_t w = 0
    out_offsets[0] = 0
    with nogil:
        for i in range(m):
            if i + 2 * AHEAD < m:
                TC_PREFETCH(&offsets[rows[i + 2 * AHEAD]])
            if i + AHEAD < m:
                j = offsets[rows[i + AHEAD]]
                if j < n_ids:  # an empty last run starts one past the end: nothing to fetch
                    TC_PREFETCH(&ids[j])
            r = rows[i]
            for j in range(offsets[r], offsets[r + 1]):
                out_ids[w] = ids[j]
                w += 1
            out_offsets[i + 1] = w


def row_duplicates(const off_t[::1] offsets, const id_t[::1] ids, int64_t[::1] stamp,
                   off_t[::1] out_offsets, id_t[::1] out_ids, bint write):
    """Count (and with ``write``, drop) repeated ids within each row, keeping first ones.

    ``stamp`` (one per node) starts below 0. With ``write``, the rows without their repeats
    go to ``out_offsets``/``out_ids`` (sized like the input). Returns the number of repeats.
    """
    cdef Py_ssize_t n = offsets.shape[0] - 1
    cdef Py_ssize_t r, j
    cdef id_t t
    cdef off_t w = 0
    cdef int64_t dups = 0
    with nogil:
        if write:
            out_offsets[0] = 0
        for r in range(n):
            for j in range(offsets[r], offsets[r + 1]):
                t = ids[j]
                if stamp[t] == r:
                    dups += 1
                    continue
                stamp[t] = r
                if write:
                    out_ids[w] = t
                    w += 1
            if write:
                out_offsets[r + 1] = w
    return dups
