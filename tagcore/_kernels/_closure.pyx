# cython: language_level=3
"""Ancestor closure of CSR tag lists: each request's distinct covered nodes."""

from libc.stdint cimport int32_t, int64_t

ctypedef int32_t id_t
ctypedef int64_t off_t


def expand_ancestors(const id_t[::1] parents, const off_t[::1] offsets, const id_t[::1] ids,
                     off_t[::1] stamp, off_t[::1] out_offsets, id_t[::1] out_ids):
    """Write each row's distinct tags and ancestors into ``out_offsets``/``out_ids``.

    For each row, tags are taken in order and each is walked up to its root; a node is
    emitted the first time the row reaches it. ``stamp`` (one slot per node, all < 0 on entry)
    is scratch space. ``out_ids`` must hold at least the sum of the tags' depths. Returns the
    number of ids written.
    """
    cdef Py_ssize_t n = offsets.shape[0] - 1
    cdef Py_ssize_t r, j
    cdef off_t w = 0
    cdef id_t node
    out_offsets[0] = 0
    with nogil:
        for r in range(n):
            for j in range(offsets[r], offsets[r + 1]):
                node = ids[j]
                while node >= 0 and stamp[node] != r:
                    stamp[node] = r
                    out_ids[w] = node
                    w += 1
                    node = parents[node]
            out_offsets[r + 1] = w
    return w
