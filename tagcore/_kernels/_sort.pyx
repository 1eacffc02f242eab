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
    cdef bint in_out = False  # where the current order lives: out_idx or buf_idx
    cdef bint keys_in_a = False
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
            total = 0
            for b in range(RADIX):
                c = counts[d * RADIX + b]
                counts[d * RADIX + b] = total
                total += c
            if not started:
                # first pass reads the input keys, with the identity order
                for i in range(n):
                    k = keys[i]
                    b = (k >> shift) & 0xFFFF
                    pos = counts[d * RADIX + b]
                    counts[d * RADIX + b] = pos + 1
                    buf_keys_a[pos] = k
                    out_idx[pos] = i
                started = True
                in_out = True
                keys_in_a = True
            elif keys_in_a:
                for i in range(n):
                    k = buf_keys_a[i]
                    b = (k >> shift) & 0xFFFF
                    pos = counts[d * RADIX + b]
                    counts[d * RADIX + b] = pos + 1
                    buf_keys_b[pos] = k
                    if in_out:
                        buf_idx[pos] = out_idx[i]
                    else:
                        out_idx[pos] = buf_idx[i]
                keys_in_a = False
                in_out = not in_out
            else:
                for i in range(n):
                    k = buf_keys_b[i]
                    b = (k >> shift) & 0xFFFF
                    pos = counts[d * RADIX + b]
                    counts[d * RADIX + b] = pos + 1
                    buf_keys_a[pos] = k
                    if in_out:
                        buf_idx[pos] = out_idx[i]
                    else:
                        out_idx[pos] = buf_idx[i]
                keys_in_a = True
                in_out = not in_out
        if not started:
            for i in range(n):
                out_idx[i] = i
        elif not in_out:
            for i in range(n):
                out_idx[i] = buf_idx[i]
