"""Roll-up onto one set of disjoint nodes ("slots"), with full, split or primary attribution.

A slot is one node of a set (say the children of ``customer``); ``node_slot[v]`` is the slot
whose subtree holds node ``v``, or -1. Slots are numbered in path order by the caller; slot
``n_slots`` is ``(untagged)``: requests that hit no slot. Rows are grouped by ``group[r]``
(a time bucket, a model code, or 0), and a row with ``group[r] < 0`` is skipped.

Output rows are ``g * (n_slots + 1) + slot``. Integer columns of ``iacc`` follow
``_rollup``: 0 requests, 1 errors, 2 prompt, 3 completion, 4 cost nano-dollars, 5 latency
count, 6 first ts, 7 last ts. ``facc`` columns: 0 requests, 1 errors, 2 prompt, 3 completion
(split shares, float), 4 latency sum.

Modes: 0 full (each distinct hit slot gets the whole request), 1 split (each of the k distinct
hit slots gets 1/k of counts and tokens; cost in nano-dollars is ``cost // k`` each and the
remainder goes one nano-dollar at a time to the first hit slots in slot (path) order), 2 primary
(the whole request goes to the slot of its first tag, in request order, that has one).
"""

from libc.stdint cimport int32_t, int64_t

ctypedef int32_t id_t
ctypedef int64_t off_t


def rollup_slots(const off_t[::1] offsets, const id_t[::1] ids, const id_t[::1] node_slot,
                 const id_t[::1] group, int mode, Py_ssize_t n_slots,
                 const int32_t[::1] status, const int64_t[::1] prompt,
                 const int64_t[::1] completion, const int64_t[::1] cost,
                 const double[::1] latency, const int64_t[::1] ts,
                 int64_t[:, ::1] iacc, double[:, ::1] facc,
                 int64_t[::1] stamp, id_t[::1] hits):
    """Fill ``iacc`` (rows x 8) and ``facc`` (rows x 5); see the module docstring.

    ``stamp`` and ``hits`` hold ``n_slots + 1`` entries; ``stamp`` starts below 0.
    """
    cdef Py_ssize_t n = offsets.shape[0] - 1
    cdef Py_ssize_t width = n_slots + 1
    cdef Py_ssize_t r, j, k, a, b
    cdef id_t s, tmp
    cdef int64_t e, pt, ct, cs, tsv, share, rem, key, g
    cdef double lat, inv
    cdef bint lok
    with nogil:
        for r in range(n):
            g = group[r]
            if g < 0:
                continue
            e = 1 if status[r] >= 400 else 0
            pt = prompt[r]
            ct = completion[r]
            cs = cost[r]
            lat = latency[r]
            lok = lat == lat
            tsv = ts[r]
            k = 0
            if mode == 2:
                for j in range(offsets[r], offsets[r + 1]):
                    s = node_slot[ids[j]]
                    if s >= 0:
                        hits[0] = s
                        k = 1
                        break
            else:
                for j in range(offsets[r], offsets[r + 1]):
                    s = node_slot[ids[j]]
                    if s >= 0 and stamp[s] != r:
                        stamp[s] = r
                        hits[k] = s
                        k += 1
            if k == 0:
                hits[0] = <id_t>n_slots
                k = 1
            if mode == 1 and k > 1:
                # insertion sort of the few hit slots: the remainder goes in path order
                for a in range(1, k):
                    tmp = hits[a]
                    b = a - 1
                    while b >= 0 and hits[b] > tmp:
                        hits[b + 1] = hits[b]
                        b -= 1
                    hits[b + 1] = tmp
            share = cs // k
            rem = cs - share * k
            inv = 1.0 / k
            for a in range(k):
                key = g * width + hits[a]
                iacc[key, 0] += 1
                iacc[key, 1] += e
                if lok:
                    iacc[key, 5] += 1
                    facc[key, 4] += lat
                if tsv < iacc[key, 6]:
                    iacc[key, 6] = tsv
                if tsv > iacc[key, 7]:
                    iacc[key, 7] = tsv
                if mode == 1:
                    facc[key, 0] += inv
                    facc[key, 1] += e * inv
                    facc[key, 2] += pt * inv
                    facc[key, 3] += ct * inv
                    iacc[key, 4] += share + (1 if a < rem else 0)
                else:
                    iacc[key, 2] += pt
                    iacc[key, 3] += ct
                    iacc[key, 4] += cs


def rollup_pairs(const off_t[::1] offsets, const id_t[::1] ids,
                 const id_t[::1] slot_a, const id_t[::1] slot_b, Py_ssize_t n_b,
                 const int64_t[::1] values, int64_t[::1] out, int64_t[::1] count,
                 int64_t[::1] stamp_a, int64_t[::1] stamp_b, id_t[::1] hits_a, id_t[::1] hits_b):
    """Cross roll-up: each request adds ``values[r]`` (and 1 to ``count``) to every pair
    ``(a, b)`` of its distinct hit slots of set A and set B, at ``out[a * n_b + b]``."""
    cdef Py_ssize_t n = offsets.shape[0] - 1
    cdef Py_ssize_t r, j, ka, kb, x, y
    cdef id_t s
    cdef int64_t key
    with nogil:
        for r in range(n):
            ka = 0
            kb = 0
            for j in range(offsets[r], offsets[r + 1]):
                s = slot_a[ids[j]]
                if s >= 0 and stamp_a[s] != r:
                    stamp_a[s] = r
                    hits_a[ka] = s
                    ka += 1
                s = slot_b[ids[j]]
                if s >= 0 and stamp_b[s] != r:
                    stamp_b[s] = r
                    hits_b[kb] = s
                    kb += 1
            for x in range(ka):
                for y in range(kb):
                    key = hits_a[x] * n_b + hits_b[y]
                    out[key] += values[r]
                    count[key] += 1
