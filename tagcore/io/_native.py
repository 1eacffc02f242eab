"""Shared by the native readers and writers (JSONL, CSV, Arrow/Parquet): tag lists to CSR
(each distinct string normalized once), Python value columns to a validated log, and a log
to Python columns for the text writers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from tagcore import kernels
from tagcore.io._common import _finish, _Problems
from tagcore.io._values import _obj_dollars, _obj_floats, _obj_ints, _obj_ts
from tagcore.log import INT_EXTRAS, NANOS_PER_DOLLAR, STR_EXTRAS, RequestLog
from tagcore.tags import TagError, TagPolicy, TagTextError, normalize_tag, tags_from_text
from tagcore.trie import TagTrie

_NULL = -3  # element code of a null tag
_BAD = -2  # element code of an invalid tag


# ====================================================================== tags


class _Opaque:
    """Stands for an unhashable tag element (a list, a dict) so that it can be factorized."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __repr__(self) -> str:
        return repr(self.value)


class _TagMapper:
    """Raw tag string -> node id (or _BAD), normalizing each distinct string once."""

    def __init__(self, trie: TagTrie, policy: TagPolicy | None):
        self.trie, self.policy = trie, policy
        self.cache: dict[Any, int] = {}
        self.why: dict[Any, str] = {}

    def map(self, values: list[Any]) -> np.ndarray:
        """int32 node ids of ``values`` (distinct raw tags), _BAD for invalid ones."""
        cache = self.cache
        new = [v for v in dict.fromkeys(values) if v not in cache] if len(cache) else list(values)
        if new:
            norm: list[str] = []
            keys: list[Any] = []
            for v in new:
                if type(v) is not str:
                    cache[v] = _BAD
                    inner = v.value if isinstance(v, _Opaque) else v
                    self.why[v] = f"must be a string, got {type(inner).__name__}"
                    continue
                try:
                    t = normalize_tag(v, self.policy)
                except TagError as exc:
                    cache[v] = _BAD
                    self.why[v] = exc.reason
                    continue
                norm.append(t)
                keys.append(v)
            if norm:
                for k, i in zip(keys, self.trie.add_many(norm).tolist()):
                    cache[k] = i
        return np.fromiter((cache[v] for v in values), dtype=np.int32, count=len(values))


def _row_of(offsets: np.ndarray, j: int) -> int:
    return int(np.searchsorted(offsets, j, side="right")) - 1


def _finish_tags(offsets: np.ndarray, elem: np.ndarray, policy: TagPolicy | None,
                 raw_of: Callable[[int], Any], probs: _Problems, column: str,
                 mapper: _TagMapper) -> tuple[np.ndarray, np.ndarray, int]:
    """Invalid/null tags, duplicates in a row and the per-request limit, vectorised.

    ``elem`` holds node ids, ``_BAD`` or ``_NULL``. Returns clean CSR and the dropped count.
    """
    pol = policy or TagPolicy()
    n = offsets.size - 1
    dropped = 0
    keep = None
    invalid = elem < 0
    if invalid.any():
        if pol.on_invalid == "drop":
            dropped += int(invalid.sum())
        else:
            jbad = np.flatnonzero(invalid)
            rows = np.searchsorted(offsets, jbad, side="right") - 1
            bad = np.zeros(n, dtype=bool)
            bad[rows] = True

            def reason(r: int, jbad=jbad, rows=rows, elem=elem, offsets=offsets) -> str:
                j = int(jbad[np.searchsorted(rows, r)])
                k = j - int(offsets[r])
                if elem[j] == _NULL:
                    return f"request_tags[{k}] is null (expected a tag string)"
                v = raw_of(j)
                try:
                    why = mapper.why.get(v, "invalid tag")
                except TypeError:  # unhashable (a list inside the list): kept as _Opaque
                    why = f"must be a string, got {type(v).__name__}"
                return f"request_tags[{k}] = {v!r}: {why}"

            probs.add(column, bad, reason)
        keep = ~invalid
    if keep is not None:
        elem, offsets = _compact(elem, offsets, keep)
    # duplicates inside a request (two raw strings may normalize to one tag): one compiled
    # pass, no temporaries, and no copy when there are none
    offsets, elem, _ = kernels.drop_row_duplicates(offsets, elem,
                                                   n_nodes=len(mapper.trie))
    lengths = np.diff(offsets)
    over = lengths > pol.max_tags
    if over.any():
        if pol.on_invalid == "drop":
            pos = np.arange(elem.size, dtype=np.int64) - np.repeat(offsets[:-1], lengths)
            keepm = pos < pol.max_tags
            dropped += int((~keepm).sum())
            elem, offsets = _compact(elem, offsets, keepm)
        else:
            probs.add(column, over, lambda r, lengths=lengths: (
                f"{int(lengths[r])} distinct tags, more than the limit of {pol.max_tags} per "
                "request"))
    return offsets, elem, dropped


def _compact(elem: np.ndarray, offsets: np.ndarray, keep: np.ndarray):
    cum = np.zeros(elem.size + 1, dtype=np.int64)
    np.cumsum(keep, out=cum[1:])
    return np.ascontiguousarray(elem[keep]), cum[offsets]


def _tags_from_objects(cells: list[Any], trie: TagTrie, policy: TagPolicy | None,
                       probs: _Problems, column: str = "request_tags",
                       sep: str | None = None):
    """Tags from Python lists (one per row, None = no tags): distinct strings normalized once.
    A text cell is read by :func:`tagcore.tags.tags_from_text` (a JSON array, a Python list as
    pandas writes it, or ``sep``-delimited text), once per distinct text."""
    n = len(cells)
    lengths = np.zeros(n, dtype=np.int64)
    flat: list[Any] = []
    notlist: dict[int, str] = {}
    texts: dict[str, Any] = {}
    for i, c in enumerate(cells):
        if type(c) is str:
            got = texts.get(c)
            if got is None:
                try:
                    got = texts[c] = tags_from_text(c, sep)
                except TagTextError as exc:
                    got = texts[c] = exc
            if isinstance(got, TagTextError):
                notlist[i] = str(got)
                continue
            c = got
        if type(c) is list:
            lengths[i] = len(c)
            flat.extend(c)
        elif c is not None and not (isinstance(c, float) and c != c):  # NaN: pandas' missing
            notlist[i] = f"expected a list of tags, got {c!r}"[:200]
    if notlist:
        bad = np.zeros(n, dtype=bool)
        bad[list(notlist)] = True
        probs.add(column, bad, notlist.__getitem__)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    mapper = _TagMapper(trie, policy)
    if flat:
        hashable = [v if type(v) is str or v is None or isinstance(v, (int, float))
                    else _Opaque(v) for v in flat]
        codes, uniques = pd.factorize(pd.Series(hashable, dtype=object), use_na_sentinel=True)
        table = np.append(mapper.map(list(uniques)), np.int32(_NULL))
        elem = table[codes]  # code -1 -> the _NULL slot
    else:
        elem = np.zeros(0, dtype=np.int32)
    return _finish_tags(offsets, elem, policy, lambda j: flat[j], probs, column, mapper)


# ============================================================ Python columns


def _obj_strings(vals: list[Any], column: str, probs: _Problems, *, required: bool
                 ) -> tuple[np.ndarray, tuple[str, ...]]:
    """Dictionary-encode strings: (int32 codes, -1 = missing; values)."""
    codes, uniques = pd.factorize(pd.Series(vals, dtype=object), use_na_sentinel=True)
    codes = codes.astype(np.int32)
    ok = np.array([type(u) is str for u in uniques], dtype=bool)
    values = tuple(u if type(u) is str else "" for u in uniques)
    bad = None
    if not ok.all():
        bad = ~np.append(ok, True)[codes]
        probs.add(column, bad, lambda r: f"expected a string, got {vals[r]!r}")
    if required:
        miss = codes < 0
        probs.add(column, miss, lambda r: "missing value")
        if miss.any() or bad is not None:
            codes = np.where(miss | (bad if bad is not None else False), 0, codes).astype(np.int32)
            if not values:
                values = ("",)
    elif bad is not None:
        codes = np.where(bad, -1, codes).astype(np.int32)
    return codes, values


def _from_objects(get: Callable[[str], list[Any] | None], n: int, present: Mapping[str, str],
                  source: str, where: Callable[[int], tuple[str, int | None]], *,
                  policy: TagPolicy | None, on_error: str, trie: TagTrie | None,
                  pre_bad: Mapping[int, tuple[str, str]] | None = None,
                  tags_cells: list[Any] | None = None, ts_unit: str = "s",
                  tags_sep: str | None = None, prices: Any = None) -> RequestLog:
    """Shared by JSONL and CSV: Python values per column -> validated, vectorised log. A
    native column not in ``present`` is unknown (None to the log), never zero."""
    probs = _Problems(n)
    if pre_bad:
        m = np.zeros(n, dtype=bool)
        m[list(pre_bad)] = True
        for col in {c for c, _ in pre_bad.values()}:
            mc = np.zeros(n, dtype=bool)
            mc[[r for r, (c, _) in pre_bad.items() if c == col]] = True
            probs.add(col, mc, lambda r: pre_bad[r][1])
    trie = TagTrie() if trie is None else trie
    has = present.__contains__
    ts = _obj_ts(get("ts"), "ts", probs, unit=ts_unit) if has("ts") else None
    codes, models = (_obj_strings(get("model"), "model", probs, required=True) if has("model")
                     else (None, None))
    prompt = _obj_ints(get("prompt_tokens"), "prompt_tokens", probs) \
        if has("prompt_tokens") else None
    completion = _obj_ints(get("completion_tokens"), "completion_tokens", probs) \
        if has("completion_tokens") else None
    cost = None
    if has("cost_nanos"):
        cost = _obj_ints(get("cost_nanos"), "cost_nanos", probs)
    elif has("cost"):
        cost = _obj_dollars(get("cost"), "cost", probs)
    latency = _obj_floats(get("latency_ms"), "latency_ms", probs) if has("latency_ms") else None
    status = _obj_ints(get("status"), "status", probs, limit=999) if has("status") else None
    extras: dict[str, Any] = {}
    for k in INT_EXTRAS:
        if k in present:
            extras[k] = _obj_ints(get(k), k, probs, default=0)
    for k in STR_EXTRAS:
        if k in present:
            extras[k] = _obj_strings(get(k), k, probs, required=False)
    off, ids, dropped = _tags_from_objects(get("request_tags") if tags_cells is None
                                           else tags_cells, trie, policy, probs, sep=tags_sep)
    args = dict(ts=ts, model=codes, models=models, prompt_tokens=prompt,
                completion_tokens=completion, cost_nanos=cost, latency_ms=latency,
                status=None if status is None else status.astype(np.int32), tag_offsets=off,
                tag_ids=ids, trie=trie, extras=extras)
    return _finish(args, probs, on_error, source, where, dropped, prices)


# =================================================================== writing


def _iso(ts: np.ndarray) -> np.ndarray:
    """ISO 8601 UTC strings with a ``Z``, at the coarsest unit that keeps every time exact."""
    if not ts.size:
        return np.zeros(0, dtype=object)
    unit = "ns"
    for u, k in (("s", 10**9), ("ms", 10**6), ("us", 10**3)):
        if not (ts % k).any():
            unit = u
            break
    return np.char.add(np.datetime_as_string(ts.view("M8[ns]"), unit=unit), "Z")


def _columns_py(log: RequestLog) -> dict[str, list]:
    """The native columns as Python lists (tags as lists of paths), for JSONL and CSV."""
    if (log.ts == np.iinfo(np.int64).min).any():
        raise ValueError("ts: -2**63 ns (numpy's NaT) cannot be written")
    models = np.array(log.models, dtype=object)
    paths = np.array(log.trie.paths, dtype=object)
    flat = paths[log.tag_ids].tolist() if log.tag_ids.size else []
    off = log.tag_offsets.tolist()
    cols: dict[str, list] = {
        "ts": _iso(log.ts).tolist(),
        "model": models[log.model_codes].tolist() if len(log) else [],
        "prompt_tokens": log.prompt_tokens.tolist(),
        "completion_tokens": log.completion_tokens.tolist(),
        "cost": (log.cost / NANOS_PER_DOLLAR).tolist(),
        "cost_nanos": log.cost.tolist(),
        "latency_ms": [None if v != v else v for v in log.latency_ms.tolist()],
        "status": log.status.tolist(),
        "request_tags": [flat[a:b] for a, b in zip(off[:-1], off[1:])],
    }
    for k in INT_EXTRAS:
        if k in log.extras:
            cols[k] = log.extras[k].tolist()
    for k in STR_EXTRAS:
        if k in log.extras:
            cols[k] = log.extra_strings(k).tolist()
    return cols
