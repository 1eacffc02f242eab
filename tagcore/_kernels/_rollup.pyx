"""Roll-up of request metrics onto every node of the tag trie, each request once per node.

Layout of the integer accumulators (one 64-byte row per node):
    0 requests, 1 errors, 2 prompt tokens, 3 completion tokens, 4 cost (nano-dollars),
    5 requests with a known latency, 6 first ts, 7 last ts.

Algorithm: every request adds its metrics to the exact tags it carries (``self``); adding each
node's ``self`` up the tree (``propagate_up``) then counts a request once at every node its
tags reach, as long as its tags' ancestor chains are disjoint, which is the case when their
roots differ. A request with several tags under one root would be counted twice where their
chains meet. The union of root paths of nodes t_1..t_k sorted in DFS preorder has
sum(depth(t_i)) - sum(depth(lca(t_i, t_i+1))) nodes, so writing ``-m`` at the LCA of each
consecutive pair (in ``fix``, which is propagated too) makes every subtree sum exactly ``m`` on
the covered nodes and 0 elsewhere. With just two tags under a root, that is the LCA of the two;
only rows with three or more tags under one root pay for a sort.
"""

from libc.stdint cimport int32_t, int64_t

ctypedef int32_t id_t
ctypedef int64_t off_t


cdef inline id_t _lca(const id_t[::1] parents, const id_t[::1] depths, id_t u, id_t v) noexcept nogil:
    while depths[u] > depths[v]:
        u = parents[u]
    while depths[v] > depths[u]:
        v = parents[v]
    while u != v:
        u = parents[u]
        v = parents[v]
    return u


def rollup_nodes(const id_t[::1] parents, const id_t[::1] roots, const id_t[::1] depths,
                 const id_t[::1] preorder,
                 const off_t[::1] offsets, const id_t[::1] ids,
                 const int32_t[::1] status, const int64_t[::1] prompt,
                 const int64_t[::1] completion, const int64_t[::1] cost,
                 const double[::1] latency, const int64_t[::1] ts,
                 bint want_latency, bint want_time,
                 int64_t[:, ::1] self_acc, int64_t[:, ::1] fix,
                 double[::1] lat_self, double[::1] lat_fix,
                 int64_t[::1] root_stamp, id_t[::1] root_tag, id_t[::1] root_n,
                 id_t[::1] scratch):
    """Fill ``self_acc`` (n_nodes x 8) and ``fix`` (n_nodes x 6) for all rows.

    ``self_acc`` columns 6/7 must start at INT64_MAX/INT64_MIN, everything else at 0;
    ``root_stamp`` (n_nodes) must start below 0, ``root_tag``/``root_n`` (n_nodes) are
    scratch; ``scratch`` holds twice the longest row. ``preorder`` is a DFS preorder rank of
    each node. Returns the number of rows that needed the overlap correction.

    The common overlap, two tags under one root, is corrected on the spot with the LCA of the
    pair; only a row with three or more tags under one root sorts its tags in preorder.
    """
    cdef Py_ssize_t n = offsets.shape[0] - 1
    cdef Py_ssize_t r, j, j0, j1, k, a, b, npairs
    cdef id_t t, u, v, rt, tmp
    cdef int64_t e, pt, ct, cs, lok, tsv, n_overlap = 0
    cdef double lat
    cdef bint many
    with nogil:
        for r in range(n):
            j0 = offsets[r]
            j1 = offsets[r + 1]
            if j0 == j1:
                continue
            e = 1 if status[r] >= 400 else 0
            pt = prompt[r]
            ct = completion[r]
            cs = cost[r]
            lat = latency[r]
            lok = 1 if (want_latency and lat == lat) else 0
            tsv = ts[r]
            npairs = 0
            many = False
            for j in range(j0, j1):
                t = ids[j]
                self_acc[t, 0] += 1
                self_acc[t, 1] += e
                self_acc[t, 2] += pt
                self_acc[t, 3] += ct
                self_acc[t, 4] += cs
                if lok:
                    self_acc[t, 5] += 1
                    lat_self[t] += lat
                if want_time:
                    if tsv < self_acc[t, 6]:
                        self_acc[t, 6] = tsv
                    if tsv > self_acc[t, 7]:
                        self_acc[t, 7] = tsv
                if j1 - j0 > 1:
                    rt = roots[t]
                    if root_stamp[rt] != r:
                        root_stamp[rt] = r
                        root_tag[rt] = t
                        root_n[rt] = 1
                    else:
                        root_n[rt] += 1
                        if root_n[rt] > 2:
                            many = True
                        else:
                            scratch[2 * npairs] = root_tag[rt]
                            scratch[2 * npairs + 1] = t
                            npairs += 1
            if npairs == 0:
                continue
            n_overlap += 1
            if many:
                # three or more tags under one root: the row's tags in DFS preorder, then the
                # LCA of each adjacent pair with the same root
                k = j1 - j0
                for a in range(k):
                    tmp = ids[j0 + a]
                    b = a - 1
                    while b >= 0 and preorder[scratch[b]] > preorder[tmp]:
                        scratch[b + 1] = scratch[b]
                        b -= 1
                    scratch[b + 1] = tmp
                npairs = 0
                for a in range(k - 1):
                    if roots[scratch[a]] == roots[scratch[a + 1]]:
                        scratch[k + 2 * npairs] = scratch[a]
                        scratch[k + 2 * npairs + 1] = scratch[a + 1]
                        npairs += 1
                for a in range(npairs):
                    scratch[2 * a] = scratch[k + 2 * a]
                    scratch[2 * a + 1] = scratch[k + 2 * a + 1]
            for a in range(npairs):
                u = _lca(parents, depths, scratch[2 * a], scratch[2 * a + 1])
                fix[u, 0] -= 1
                fix[u, 1] -= e
                fix[u, 2] -= pt
                fix[u, 3] -= ct
                fix[u, 4] -= cs
                if lok:
                    fix[u, 5] -= 1
                    lat_fix[u] -= lat
    return n_overlap


def propagate_up(const id_t[::1] parents, int64_t[:, ::1] acc, double[::1] facc,
                 Py_ssize_t sum_cols):
    """Add each node's row into its parent's, children first (ids descend; parent < child).

    Columns ``0 .. sum_cols-1`` of ``acc`` and ``facc`` are summed; if ``acc`` has 8 columns,
    column 6 takes the minimum and column 7 the maximum.
    """
    cdef Py_ssize_t n = parents.shape[0]
    cdef Py_ssize_t i, c
    cdef Py_ssize_t ncols = acc.shape[1]
    cdef id_t p
    with nogil:
        for i in range(n - 1, -1, -1):
            p = parents[i]
            if p < 0:
                continue
            for c in range(sum_cols):
                acc[p, c] += acc[i, c]
            facc[p] += facc[i]
            if ncols >= 8:
                if acc[i, 6] < acc[p, 6]:
                    acc[p, 6] = acc[i, 6]
                if acc[i, 7] > acc[p, 7]:
                    acc[p, 7] = acc[i, 7]
