"""Exact per-node latency quantiles in one pass over the requests in latency order.

Each key (a node, or a slot of a set, per group) knows in advance how many requests it will
see (``counts`` from the roll-up), so the ranks its quantiles need are known. Walking the rows in
ascending latency order, a key's running counter is the rank of the current value within that
key; when it reaches one of the key's target ranks, the value is recorded.

The caller lays the rows out in latency order first (``kernels.latency_layout``, cached on a
log), so this pass reads memory sequentially.
"""

from libc.stdint cimport int32_t, int64_t

ctypedef int32_t id_t
ctypedef int64_t off_t

def quantile_pick(const double[::1] sorted_latency, const off_t[::1] offsets,
                  const id_t[::1] ids, const id_t[::1] parents, bint walk,
                  const id_t[::1] key_of_node, const id_t[::1] group, bint grouped,
                  Py_ssize_t keys_per_group, id_t untagged_key, const int64_t[:, ::1] targets,
                  double[:, ::1] out, int64_t[::1] seen, int32_t[::1] ptr, int64_t[::1] stamp):
    """Record, for each key, the latency at each of its ``targets`` ranks (sorted per key).

    The rows come pre-sorted by latency: row ``i`` of the CSR ``offsets``/``ids`` has latency
    ``sorted_latency[i]`` (ascending; rows with NaN latency left out) and, with ``grouped``,
    group ``group[i]`` (< 0: skipped). With ``walk`` the tags' ancestors count too.
    ``seen``/``ptr`` start at 0, ``stamp`` below 0; all are sized to the number of keys.
    """
    cdef Py_ssize_t n = sorted_latency.shape[0]
    cdef Py_ssize_t nt = targets.shape[1]
    cdef Py_ssize_t i, j
    cdef int64_t g, key, c
    cdef id_t v, kk
    cdef double lat
    cdef bint hit
    with nogil:
        for i in range(n):
            g = group[i] if grouped else 0
            if g < 0:
                continue
            lat = sorted_latency[i]
            hit = False
            for j in range(offsets[i], offsets[i + 1]):
                v = ids[j]
                while v >= 0:
                    kk = key_of_node[v]
                    if kk >= 0:
                        key = g * keys_per_group + kk
                        if stamp[key] == i:
                            if walk:
                                break  # ancestors of a visited node were visited too
                        else:
                            stamp[key] = i
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
