"""Exact per-node latency quantiles in one pass over the requests in latency order.

Each key (a node, or a slot of a set, per group) knows in advance how many requests it will
see (``counts`` from the roll-up), so the ranks its quantiles need are known. Walking the rows in
ascending latency order, a key's running counter is the rank of the current value within that
key; when it reaches one of the key's target ranks, the value is recorded.

Rows are visited in latency order, that is in random row order, so the loop prefetches the
offsets and tag ids of rows a few steps ahead; the latencies themselves come pre-sorted.
"""

from libc.stdint cimport int32_t, int64_t

ctypedef int32_t id_t
ctypedef int64_t off_t

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


def quantile_pick(const int64_t[::1] order, const double[::1] sorted_latency,
                  const off_t[::1] offsets, const id_t[::1] ids,
                  const id_t[::1] parents, bint walk, const id_t[::1] key_of_node,
                  const id_t[::1] group, bint grouped, Py_ssize_t keys_per_group,
                  id_t untagged_key, const int64_t[:, ::1] targets,
                  double[:, ::1] out, int64_t[::1] seen, int32_t[::1] ptr, int64_t[::1] stamp):
    """Record, for each key, the latency at each of its ``targets`` ranks (sorted per key).

    ``order`` lists the rows to visit, latency ascending (rows with NaN latency left out), and
    ``sorted_latency[i]`` is the latency of row ``order[i]``. With ``walk`` the tags' ancestors
    count too. With ``grouped``, a row with ``group[r] < 0`` is skipped. ``seen``/``ptr`` start
    at 0, ``stamp`` below 0; all are sized to the number of keys.
    """
    cdef Py_ssize_t n = order.shape[0]
    cdef Py_ssize_t nt = targets.shape[1]
    cdef Py_ssize_t i, j
    cdef int64_t r, g, key, c
    cdef id_t v, kk
    cdef double lat
    cdef bint hit
    with nogil:
        for i in range(n):
            if i + 2 * AHEAD < n:
                TC_PREFETCH(&offsets[order[i + 2 * AHEAD]])
                if grouped:
                    TC_PREFETCH(&group[order[i + 2 * AHEAD]])
            if i + AHEAD < n:
                TC_PREFETCH(&ids[offsets[order[i + AHEAD]]])
            r = order[i]
            g = group[r] if grouped else 0
            if g < 0:
                continue
            lat = sorted_latency[i]
            hit = False
            for j in range(offsets[r], offsets[r + 1]):
                v = ids[j]
                while v >= 0:
                    kk = key_of_node[v]
                    if kk >= 0:
                        key = g * keys_per_group + kk
                        if stamp[key] == r:
                            if walk:
                                break  # ancestors of a visited node were visited too
                        else:
                            stamp[key] = r
                            hit = True
                            c = seen[key]
                            seen[key] = c + 1
                            while ptr[key] < nt and targets[key, ptr[key]] == c:
                                out[key, ptr[key]] = lat
                                ptr[key] += 1
                    if not walk:
                        break
                    v = parents[v]
            if not hit and untagged_key >= 0:
                key = g * keys_per_group + untagged_key
                c = seen[key]
                seen[key] = c + 1
                while ptr[key] < nt and targets[key, ptr[key]] == c:
                    out[key, ptr[key]] = lat
                    ptr[key] += 1
