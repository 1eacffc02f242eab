"""Stable LSD radix argsort of unsigned 64-bit keys (16-bit digits).

Non-negative floats sort like the unsigned integers of their bits, so latencies are sorted
with this (``kernels.latency_order``) in a few linear passes instead of a comparison sort. A
digit that is the same for every key is skipped.
"""

from libc.stdint cimport int64_t, uint64_t

cdef enum:
    RADIX = 65536


def radix_argsort_u64(const uint64_t[::1] keys, int64_t[::1] out_idx,
                      uint64_t[::1] buf_keys_a, uint64_t[::1] buf_keys_b,
                      int64_t[::1] buf_idx, int64_t[::1] counts):
    """Write into ``out_idx`` the positions of ``keys`` in ascending, stable order.

    ``buf_keys_a``, ``buf_keys_b`` and ``buf_idx`` hold ``len(keys)`` entries, ``counts``
    ``4 * 65536``, all scratch (``counts`` zeroed).
    """
    cdef Py_ssize_t n = keys.shape[0]
    cdef Py_ssize_t i, d, b
    cdef uint64_t k
    cdef int64_t total, c, pos
    cdef int shift
    cdef bint started = False
    cdef bint dst_is_a = True    # dst_k is buf_keys_a (else buf_keys_b)
    cdef bint dst_is_out = True  # dst_i is out_idx (else buf_idx)
    # each pass scatters (key, row) from src to dst; the buffers then swap roles
    cdef const uint64_t[::1] src_k = keys
    cdef uint64_t[::1] dst_k = buf_keys_a
    cdef int64_t[::1] src_i = buf_idx
    cdef int64_t[::1] dst_i = out_idx
    with nogil:
        for i in range(n):
            k = keys[i]
            counts[k & 0xFFFF] += 1
            counts[RADIX + ((k >> 16) & 0xFFFF)] += 1
            counts[2 * RADIX + ((k >> 32) & 0xFFFF)] += 1
            counts[3 * RADIX + (k >> 48)] += 1
    for d in range(4):
        shift = 16 * d
        # skip a digit every key shares
        if n == 0 or counts[d * RADIX + ((keys[0] >> shift) & 0xFFFF)] == n:
            continue
        with nogil:
            total = 0
            for b in range(RADIX):
                c = counts[d * RADIX + b]
                counts[d * RADIX + b] = total
                total += c
            for i in range(n):
                k = src_k[i]
                b = (k >> shift) & 0xFFFF
                pos = counts[d * RADIX + b]
                counts[d * RADIX + b] = pos + 1
                dst_k[pos] = k
                dst_i[pos] = src_i[i] if started else i  # the first pass starts from 0..n-1
        started = True
        src_k = dst_k
        dst_k = buf_keys_b if dst_is_a else buf_keys_a
        dst_is_a = not dst_is_a
        src_i, dst_i = dst_i, src_i
        dst_is_out = not dst_is_out
    if not started:
        for i in range(n):
            out_idx[i] = i
    elif dst_is_out:  # the last pass wrote buf_idx
        out_idx[:] = src_i
