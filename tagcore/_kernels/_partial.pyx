"""Kernels of the streaming scan's partials (:mod:`tagcore.scan`).

``latency_pairs`` lays out, for one chunk of requests, the latencies each quantile key needs:
the values of a key end up contiguous (a CSR by key), so that a partial keeps them in one
float64 array and the final step picks exact ranks per key. It runs twice over the chunk: once
counting the values per key (``fill`` false), once writing them at the offsets the caller
computed from the counts (``fill`` true), so no per-row allocation and no sort.

Keys: ``key_of_node[v]`` is the key of node ``v`` or -1. Mode 0 gives a row to every distinct key
that its tags reach (with ``walk``, their ancestors too: each key once per row); mode 1
(primary) gives it to the key of its first tag that has one. A row that reaches no key goes to
``untagged_key`` when that is >= 0. Rows with a NaN latency are left out, and so are rows with
``keep[r] == 0`` when ``masked``.
"""

from libc.math cimport floor
from libc.stdint cimport int32_t, int64_t, uint8_t

ctypedef int32_t id_t
ctypedef int64_t off_t


def latency_pairs(const off_t[::1] offsets, const id_t[::1] ids, const id_t[::1] parents,
                  bint walk, const id_t[::1] key_of_node, int mode, id_t untagged_key,
                  const double[::1] latency, const uint8_t[::1] keep, bint masked,
                  int64_t[::1] pos, double[::1] out, bint fill, int64_t[::1] stamp,
                  const int64_t[::1] end, int64_t[::1] node_stamp):
    """Count (``fill`` false: ``pos[key] += 1``) or write (``fill`` true:
    ``out[pos[key]] = latency[r]; pos[key] += 1``) the (key, latency) pairs of every row.

    ``pos``, ``stamp`` and (when filling) ``end`` hold one entry per key, ``node_stamp`` one
    per node (when ``walk``); both stamps start below 0. A walk up from a tag stops at a node
    this row already walked through (its ancestors were reached from it), whatever the keys. A fill never writes at or past ``end[key]``: it stops and returns -1 instead.
    Returns the number of pairs.
    """
    cdef Py_ssize_t n = offsets.shape[0] - 1
    cdef Py_ssize_t r, j
    cdef id_t v, k
    cdef int64_t total = 0
    cdef double lat
    cdef bint hit
    with nogil:
        for r in range(n):
            if masked and keep[r] == 0:
                continue
            lat = latency[r]
            if lat != lat:
                continue
            hit = False
            for j in range(offsets[r], offsets[r + 1]):
                v = ids[j]
                while v >= 0:
                    if walk:
                        if node_stamp[v] == r:
                            break  # its ancestors were reached from it already
                        node_stamp[v] = r
                    k = key_of_node[v]
                    if k >= 0:
                        if stamp[k] != r:
                            stamp[k] = r
                            hit = True
                            if fill:
                                if pos[k] >= end[k]:
                                    with gil:
                                        return -1
                                out[pos[k]] = lat
                            pos[k] += 1
                            total += 1
                            if mode == 1:
                                break
                    if not walk:
                        break
                    v = parents[v]
                if mode == 1 and hit:
                    break
            if not hit and untagged_key >= 0:
                if fill:
                    if pos[untagged_key] >= end[untagged_key]:
                        with gil:
                            return -1
                    out[pos[untagged_key]] = lat
                pos[untagged_key] += 1
                total += 1
    return total


def map_tags(const off_t[::1] offsets, const id_t[::1] codes, const id_t[::1] table,
             off_t[::1] stamp, off_t[::1] out_offsets, id_t[::1] out_ids):
    """Tag codes of a dictionary-encoded list column to node ids (``table[code]``; a negative
    entry leaves the tag out), each row's repeats dropped (first kept, order kept), as CSR
    ``out_offsets``/``out_ids``.

    ``stamp`` holds one entry per node, all below 0; every offset must lie in
    ``[0, len(codes)]``. Returns ``(ids written, longest row)``, or ``(-1 - position, 0)`` at
    the first code outside ``[0, len(table))`` (or when decreasing offsets would write more
    ids than ``out_ids`` holds).
    """
    cdef Py_ssize_t n = offsets.shape[0] - 1
    cdef Py_ssize_t nt = table.shape[0]
    cdef Py_ssize_t cap = out_ids.shape[0]
    cdef Py_ssize_t r, j
    cdef off_t w = 0, start, longest = 0
    cdef id_t c, v
    out_offsets[0] = 0
    with nogil:
        for r in range(n):
            start = w
            for j in range(offsets[r], offsets[r + 1]):
                c = codes[j]
                if c < 0 or c >= nt:
                    with gil:
                        return -1 - j, 0
                v = table[c]
                if v < 0:  # a tag the question leaves out
                    continue
                if stamp[v] != r:
                    if w >= cap:  # offsets that go back: more ids than room
                        with gil:
                            return -1 - j, 0
                    stamp[v] = r
                    out_ids[w] = v
                    w += 1
            out_offsets[r + 1] = w
            if w - start > longest:
                longest = w - start
    return w, longest


def dollars_to_nanos(const double[::1] dollars, int64_t[::1] out):
    """Nano-dollars of float dollars where the shortest decimal of each has at most 9
    fraction digits and is below $2**22: then ``rint(x * 1e9) / 1e9 == x`` picks the one
    multiple of 1e-9 that reads back as ``x`` (its rounding interval is narrower than 1e-9),
    which is that decimal. Returns how many values took no such shortcut (their ``out`` is
    left 0): the caller reads those by the exact rule."""
    cdef Py_ssize_t n = dollars.shape[0]
    cdef Py_ssize_t i
    cdef Py_ssize_t slow = 0
    cdef double x, c
    with nogil:
        for i in range(n):
            x = dollars[i]
            if x >= 0.0 and x < 4194304.0:
                c = floor(x * 1e9 + 0.5)
                if c / 1e9 == x:
                    out[i] = <int64_t>c
                    continue
            out[i] = 0
            slow += 1
    return slow


def copy_segments(const double[::1] src, const off_t[::1] src_start, const off_t[::1] length,
                  double[::1] dst, const off_t[::1] dst_start):
    """``dst[dst_start[i]:dst_start[i] + length[i]] = src[src_start[i]:...]`` for every
    segment ``i`` (the caller checked every range)."""
    cdef Py_ssize_t m = length.shape[0]
    cdef Py_ssize_t i
    cdef off_t k, a, b, n
    with nogil:
        for i in range(m):
            a = src_start[i]
            b = dst_start[i]
            n = length[i]
            for k in range(n):
                dst[b + k] = src[a + k]
