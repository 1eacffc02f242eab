"""Slow, obviously correct pure-Python twins of the compiled kernels.

Each function has the name of the public wrapper in :mod:`tagcore.kernels` that it mirrors and
returns the same values. They exist to be read and to serve as test oracles, never to run in
production.
"""

from __future__ import annotations

import numpy as np


def expand_ancestors(parents, offsets, ids):
    """Each row's distinct tags and their ancestors, in first-reached order, as CSR."""
    out_offsets = [0]
    out_ids: list[int] = []
    for r in range(len(offsets) - 1):
        seen: set[int] = set()
        for j in range(int(offsets[r]), int(offsets[r + 1])):
            node = int(ids[j])
            while node >= 0 and node not in seen:
                seen.add(node)
                out_ids.append(node)
                node = int(parents[node])
        out_offsets.append(len(out_ids))
    return np.asarray(out_offsets, dtype=np.int64), np.asarray(out_ids, dtype=np.int32)


_I64_MAX = 2**63 - 1
_I64_MIN = -(2**63)


def _chain(parents, node):
    out = []
    while node >= 0:
        out.append(node)
        node = int(parents[node])
    return out


def _row_metrics(r, status, prompt, completion, cost, latency, ts):
    lat = float(latency[r])
    known = lat == lat
    return {
        "requests": 1,
        "errors": 1 if int(status[r]) >= 400 else 0,
        "prompt": int(prompt[r]),
        "completion": int(completion[r]),
        "cost": int(cost[r]),
        "lat_n": 1 if known else 0,
        "lat": lat if known else 0.0,
        "ts": int(ts[r]),
    }


def _add(acc, lat_acc, node, m, want_latency=True, want_time=True):
    row = acc[node]
    row[0] += m["requests"]
    row[1] += m["errors"]
    row[2] += m["prompt"]
    row[3] += m["completion"]
    row[4] += m["cost"]
    if want_latency and m["lat_n"]:
        row[5] += 1
        lat_acc[node] += m["lat"]
    if want_time:
        row[6] = min(row[6], m["ts"])
        row[7] = max(row[7], m["ts"])


def rollup_nodes(parents, offsets, ids, status, prompt, completion, cost, latency, ts, *,
                 want_latency=True, want_time=True, threads=None, min_rows=None):
    """Per node: every request whose tags or their ancestors reach it, once; and exact tags."""
    nn = len(parents)
    self_acc = [[0, 0, 0, 0, 0, 0, _I64_MAX, _I64_MIN] for _ in range(nn)]
    total = [[0, 0, 0, 0, 0, 0, _I64_MAX, _I64_MIN] for _ in range(nn)]
    lat_self = [0.0] * nn
    lat_total = [0.0] * nn
    for r in range(len(offsets) - 1):
        m = _row_metrics(r, status, prompt, completion, cost, latency, ts)
        tags = [int(t) for t in ids[int(offsets[r]):int(offsets[r + 1])]]
        covered = set()
        for t in tags:
            _add(self_acc, lat_self, t, m, want_latency, want_time)
            covered.update(_chain(parents, t))
        for v in covered:
            _add(total, lat_total, v, m, want_latency, want_time)
    # the compiled kernel always propagates first/last seen up the tree from ``self``
    return (np.array(self_acc, dtype=np.int64).reshape(nn, 8),
            np.array(total, dtype=np.int64).reshape(nn, 8),
            np.array(lat_self), np.array(lat_total))


def rollup_slots(offsets, ids, node_slot, n_slots, status, prompt, completion, cost, latency, ts,
                 *, mode="full", group=None, n_groups=1, threads=None, min_rows=None):
    """Roll-up onto disjoint slots with full, split (exact nano-dollar remainder) or primary
    attribution; slot ``n_slots`` is ``(untagged)``."""
    width = n_slots + 1
    iacc = [[[0, 0, 0, 0, 0, 0, _I64_MAX, _I64_MIN] for _ in range(width)] for _ in range(n_groups)]
    facc = [[[0.0] * 5 for _ in range(width)] for _ in range(n_groups)]
    n = len(offsets) - 1
    for r in range(n):
        g = 0 if group is None else int(group[r])
        if g < 0:
            continue
        m = _row_metrics(r, status, prompt, completion, cost, latency, ts)
        tag_slots = [int(node_slot[int(t)]) for t in ids[int(offsets[r]):int(offsets[r + 1])]]
        tag_slots = [s for s in tag_slots if s >= 0]
        if mode == "primary":
            hits = tag_slots[:1]
        else:
            hits = list(dict.fromkeys(tag_slots))
        if not hits:
            hits = [n_slots]
        k = len(hits)
        if mode == "split":
            hits = sorted(hits)
        share, rem = divmod(m["cost"], k)
        for a, s in enumerate(hits):
            row, frow = iacc[g][s], facc[g][s]
            row[0] += 1
            row[1] += m["errors"]
            if m["lat_n"]:
                row[5] += 1
                frow[4] += m["lat"]
            row[6] = min(row[6], m["ts"])
            row[7] = max(row[7], m["ts"])
            if mode == "split":
                frow[0] += 1 / k
                frow[1] += m["errors"] / k
                frow[2] += m["prompt"] / k
                frow[3] += m["completion"] / k
                row[4] += share + (1 if a < rem else 0)
            else:
                row[2] += m["prompt"]
                row[3] += m["completion"]
                row[4] += m["cost"]
    return (np.array(iacc, dtype=np.int64).reshape(n_groups, width, 8),
            np.array(facc, dtype=np.float64).reshape(n_groups, width, 5))


def rollup_pairs(offsets, ids, slot_a, n_a, slot_b, n_b, values):
    """Sum of ``values`` over the requests hitting both slot a of set A and slot b of set B."""
    out = np.zeros((n_a, n_b), dtype=np.int64)
    cnt = np.zeros((n_a, n_b), dtype=np.int64)
    for r in range(len(offsets) - 1):
        tags = [int(t) for t in ids[int(offsets[r]):int(offsets[r + 1])]]
        ha = {int(slot_a[t]) for t in tags} - {-1}
        hb = {int(slot_b[t]) for t in tags} - {-1}
        for a in ha:
            for b in hb:
                out[a, b] += int(values[r])
                cnt[a, b] += 1
    return out, cnt


def row_bits(offsets, ids, node_bits, *, threads=None, min_rows=None):
    """OR of the tags' node bits, per row."""
    out = []
    for r in range(len(offsets) - 1):
        acc = 0
        for t in ids[int(offsets[r]):int(offsets[r + 1])]:
            acc |= int(node_bits[int(t)])
        out.append(acc)
    return np.array(out, dtype=np.uint64)


def bucket_fixed(ts, origin, width, n_buckets, lo, hi):
    """floor((ts - origin) / width) inside the window and the bucket range, else -1."""
    out = []
    for t in ts:
        t = int(t)
        b = (t - origin) // width  # Python's // floors
        out.append(b if lo < t <= hi and 0 <= b < n_buckets else -1)
    return np.array(out, dtype=np.int32)


def take_rows(offsets, ids, rows, *, n_nodes=None, threads=None, min_rows=None):
    """The tag runs of ``rows`` in that order, as CSR."""
    out_off, out_ids = [0], []
    for r in rows:
        out_ids.extend(int(t) for t in ids[int(offsets[r]):int(offsets[r + 1])])
        out_off.append(len(out_ids))
    return np.array(out_off, dtype=np.int64), np.array(out_ids, dtype=np.int32)


def group_quantiles(offsets, ids, latency, qs, *, parents=None, key_of_node=None, n_keys=None,
                    group=None, n_groups=1, untagged_key=-1, layout=None, counts=None):
    """np.quantile of each key's latencies (each request once per key), NaN for none."""
    if key_of_node is None:
        key_of_node = list(range(len(parents)))
        n_keys = len(parents) if n_keys is None else n_keys
    elif n_keys is None:
        n_keys = max(key_of_node, default=-1) + 1
    values = [[] for _ in range(n_groups * n_keys)]
    for r in range(len(offsets) - 1):
        g = 0 if group is None else int(group[r])
        lat = float(latency[r])
        if g < 0 or lat != lat:
            continue
        keys = set()
        for t in ids[int(offsets[r]):int(offsets[r + 1])]:
            nodes = _chain(parents, int(t)) if parents is not None else [int(t)]
            keys.update(int(key_of_node[v]) for v in nodes if key_of_node[v] >= 0)
        if not keys and untagged_key >= 0:
            keys = {untagged_key}
        for k in keys:
            values[g * n_keys + k].append(lat)
    out = np.full((n_groups * n_keys, len(qs)), np.nan)
    for k, vals in enumerate(values):
        if vals:
            out[k] = np.quantile(np.array(vals), qs)
    return out


def radix_argsort(values):
    """Stable argsort."""
    return np.argsort(np.asarray(values), kind="stable").astype(np.int64)


def latency_order(latency):
    """Rows with a known latency, by ascending latency, ties in row order."""
    lat = np.asarray(latency, dtype=np.float64)
    rows = [r for r in range(lat.size) if lat[r] == lat[r]]
    return np.array(sorted(rows, key=lambda r: (lat[r], r)), dtype=np.int64)


def drop_row_duplicates(offsets, ids, *, n_nodes=None):
    """Each row's ids without repeats, first occurrences kept."""
    out_off, out_ids, dups = [0], [], 0
    for r in range(len(offsets) - 1):
        row = [int(t) for t in ids[int(offsets[r]):int(offsets[r + 1])]]
        kept = list(dict.fromkeys(row))
        dups += len(row) - len(kept)
        out_ids.extend(kept)
        out_off.append(len(out_ids))
    return np.array(out_off, dtype=np.int64), np.array(out_ids, dtype=np.int32), dups
