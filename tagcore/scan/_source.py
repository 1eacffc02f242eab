"""Sources of a scan: what a ``source`` argument names, cut into pieces (chunks) in row order,
and the decoder that turns one piece into a chunk :class:`~tagcore.log.RequestLog`.

- A **Parquet file** gives one piece per row group, with its row count and the ``ts``
  statistics (min/max, in nanoseconds) when the file has them. A **folder** gives every data
  file under it (Parquet, JSONL, CSV, JSON; recursively, sorted by path), or, when it holds no
  data file but recorder segments, the **recorder** folder. A **glob** gives its matches, sorted;
  a **list** of paths its files in the order given.
- **JSONL and CSV** files are one piece each, streamed chunk by chunk through the readers'
  compiled chunk decoder (:func:`tagcore.io._text.text_chunks`) over the scan's trie; **JSON**
  and gzip files, and a file the compiled path cannot vouch for, are read whole by
  :func:`tagcore.io.read_any` (see ``Source._decode_text`` and the package doc).
- An Arrow **Table** or **RecordBatch** gives one piece per batch of ``batch_rows`` rows, a
  **RecordBatchReader** one piece per batch it yields (it can be read once), a
  ``pyarrow.dataset.Dataset`` one piece per batch of its scanner (with projection).
- A :class:`~tagcore.log.RequestLog` is one piece.

All the pieces of one source intern their tags into one :class:`~tagcore.trie.TagTrie` (node
ids are global) under one lock; the raw tag strings already seen are looked up in C
(``pyarrow.compute.index_in``), so only new distinct strings are normalized.
"""

from __future__ import annotations

import glob as _glob
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tagcore.io._common import _error, _pyarrow, _select, format_of
from tagcore.log import INT_EXTRAS, STR_EXTRAS, LogError, RequestLog
from tagcore.tags import TagPolicy
from tagcore.trie import TagTrie

__all__ = ["Piece", "Source"]

_FILL_PREFIX = "__tagcore_fill_"
#: a dictionary page of at most this many bytes (plain-encoded) cannot be one a writer fell
#: back from (the usual limit is 1 MiB), so it lists every tag string of its row group
_TRUSTED_DICTIONARY_BYTES = 512 * 1024
_DATA_FORMATS = ("parquet", "jsonl", "csv", "json")
#: tries of recent sources, shared by later scans of the same files (see
#: ``Source._share_vocabulary``): a few MB each at most
_SHARED: dict[Any, tuple[TagTrie, Any, dict]] = {}
_SHARED_LOCK = threading.Lock()
_SHARED_MAX = 8
#: rows of a Parquet row group decoded at once: a large row group is read in batches, so that
#: a thread holds one batch (its Arrow table, then its chunk log) rather than the row group
PARQUET_BATCH = 1 << 18


@dataclass
class ParquetInfo:
    """One Parquet file of a source: its name, the native columns it has (``present``:
    native -> column name), the string leaves read dictionary-encoded, row groups' sizes and
    ``ts`` statistics."""

    path: str
    name: str
    present: dict[str, str]
    leaves: list[str]
    rows: list[int]
    ts_range: list[tuple[int, int] | None]
    extras: tuple[str, ...]
    #: the pyarrow filesystem of a file named by an fsspec URL (None: a local path)
    filesystem: Any = None


@dataclass
class Piece:
    """One chunk of a source: ``order`` sorts pieces in row order; ``kind`` is ``"parquet"``
    (``file``, ``rg``), ``"table"`` (``data``: a pyarrow Table), ``"text"`` (``path``,
    ``fmt``), ``"log"`` (``data``: a RequestLog) or ``"recorder"`` (``path``)."""

    order: tuple
    kind: str
    name: str
    rows: int | None = None
    row_start: int | None = None
    ts_min: int | None = None
    ts_max: int | None = None
    file: ParquetInfo | None = None
    rg: int = 0
    path: str = ""
    fmt: str = ""
    data: Any = field(default=None, repr=False)

    @property
    def where(self) -> str:
        """The piece as an error names it: file and row group."""
        if self.kind == "parquet":
            return f"{self.name} (row group {self.rg})"
        return self.name


def _is_url(path: str) -> bool:
    """Whether ``path`` is an fsspec URL (``s3://...``, ``file://...``), not a local path."""
    head, sep, _ = path.partition("://")
    return bool(sep) and head.isidentifier() and len(head) > 1


def _ts_unit(pa: Any, typ: Any) -> int | None:
    """Nanoseconds per unit of a timestamp column whose statistics can bound ``ts``."""
    if pa.types.is_timestamp(typ):
        return {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[typ.unit]
    return None


#: a tag that normalization leaves as it is: visible ASCII segments (no space, no control
#: character, nothing NFC or a strip could change) joined by single slashes
_CLEAN = r"^[!-.0-~]+(/[!-.0-~]+)*$"


#: the node id of a tag that no anchor keeps (see ``_TagIndex``): left out of its request
DROP = -5


class _TagIndex:
    """Raw tag strings already interned -> node ids, shared by every piece of a source: the
    known strings are looked up in C, only new ones are normalized (and interned); new
    strings that are already normalized (:data:`_CLEAN`, within the policy's limits, case
    kept) are recognised in C and interned without a Python call per string.

    With ``anchors`` (see :data:`tagcore.scan._plans.Anchors`), a tag stands for its ancestor
    at the depth its anchors allow, or is left out (:data:`DROP`) when no anchor keeps it:
    a question about a few nodes then interns a few prefixes instead of every distinct tag,
    and gets the same answer."""

    def __init__(self, trie: TagTrie, policy: TagPolicy | None, anchors: Any = None):
        from tagcore.io._native import _TagMapper

        self.mapper = _TagMapper(trie, policy)
        self.anchors = anchors
        self.keys: Any = None
        self.ids = np.zeros(0, dtype=np.int32)

    def _clean(self, keys: Any) -> np.ndarray | None:
        """Which strings :func:`~tagcore.tags.normalize_tag` returns unchanged under the
        policy (a mask), or None when the policy changes case."""
        pol = self.mapper.policy or TagPolicy()
        if pol.case != "keep":
            return None
        _, pc, _ = _pyarrow()
        ok = pc.match_substring_regex(keys, _CLEAN)
        ok = pc.and_(ok, pc.less_equal(pc.binary_length(keys), pol.max_tag_bytes))
        ok = pc.and_(ok, pc.less(pc.count_substring(keys, "/"), pol.max_depth))
        return np.asarray(pc.fill_null(ok, False).to_numpy(zero_copy_only=False), dtype=bool)

    def _cut(self, paths: Any) -> np.ndarray:
        """Node ids of already normalized tags (a pyarrow string array), each cut where its
        anchors allow or dropped; interned."""
        pa, pc, _ = _pyarrow()
        trie = self.mapper.trie
        if self.anchors is None:
            return trie.add_many(paths.to_pylist())
        n = len(paths)
        full = 1 << 30
        req = np.zeros(n, dtype=np.int64)  # 0: no anchor keeps it
        for prefix, depth in self.anchors:
            d = full if depth is None else depth
            if prefix == "":
                hit = np.ones(n, dtype=bool)
            else:
                m = pc.or_(pc.equal(paths, prefix), pc.starts_with(paths, prefix + "/"))
                hit = np.asarray(m.to_numpy(zero_copy_only=False), dtype=bool)
            req = np.where(hit & (d > req), d, req)
        out = np.full(n, DROP, dtype=np.int32)
        for d in np.unique(req).tolist():
            if d == 0:
                continue
            sel = np.flatnonzero(req == d)
            sub = paths.take(pa.array(sel))
            if d != full:
                sub = pc.binary_join(pc.list_slice(pc.split_pattern(sub, "/", max_splits=d),
                                                   0, d), "/")
            out[sel] = trie.add_many(sub.to_pylist())
        return out

    def _normalized(self, raw: list[Any]) -> np.ndarray:
        """Ids of raw strings that need :func:`~tagcore.tags.normalize_tag` (negative: invalid
        or dropped)."""
        ids = self.mapper.map(raw)
        if self.anchors is None:
            return ids
        pa, _, _ = _pyarrow()
        ok = np.flatnonzero(ids >= 0)
        out = ids.copy()
        if ok.size:
            trie = self.mapper.trie
            out[ok] = self._cut(pa.array([trie.path(int(v)) for v in ids[ok]], pa.string()))
        return out

    def lookup(self, dictionary: Any) -> np.ndarray:
        """Node ids of a string array's values (:data:`DROP` for a tag no anchor keeps, other
        negatives: invalid tag or null); call under the source's lock."""
        pa, pc, _ = _pyarrow()
        n = len(dictionary)
        if self.keys is None:
            pos = np.full(n, -1, dtype=np.int64)
        else:
            pos = np.asarray(pc.fill_null(pc.index_in(dictionary, value_set=self.keys), -1)
                             .to_numpy(zero_copy_only=False), dtype=np.int64)
        out = np.empty(n, dtype=np.int32)
        hit = pos >= 0
        out[hit] = self.ids[pos[hit]]
        new = np.flatnonzero(~hit)
        if new.size:
            keys = dictionary.take(pa.array(new))
            got = np.empty(new.size, dtype=np.int32)
            clean = self._clean(keys)
            if clean is not None and clean.any():
                # already normalized (see _clean): interned as they are, or cut
                got[clean] = self._cut(keys.filter(pa.array(clean)))
                rest = np.flatnonzero(~clean)
                if rest.size:
                    got[rest] = self._normalized(keys.take(pa.array(rest)).to_pylist())
            else:
                got[:] = self._normalized(keys.to_pylist())
            out[new] = got
            big = keys.cast(pa.large_string())
            self.keys = big if self.keys is None else pa.concat_arrays([self.keys, big])
            self.ids = np.concatenate([self.ids, got])
        return out


class RestartPiece(Exception):
    """A piece's chunks given so far are not the whole piece's answer (a JSONL key first seen
    further on): the caller forgets them and decodes the piece again, whole
    (``decode_parts(piece, ..., batch=None)``)."""


class Source:
    """A resolved scan source (see the module doc) with its trie, lock and decoder."""

    def __init__(self, source: Any, *, format: str | None = None,
                 columns: Sequence[str] | Mapping[str, str] | None = None,
                 policy: TagPolicy | None = None, on_error: str = "raise",
                 ts_unit: str = "s", tags_sep: str | None = None, prices: Any = None,
                 batch_rows: int = 1 << 20, share: bool = True):
        from tagcore.errors import check_on_error
        from tagcore.io._common import ReadOptions

        self.on_error = check_on_error(on_error)
        self.opts = ReadOptions(columns, ts_unit, tags_sep, prices).checked()
        self.policy, self.columns, self.format = policy, columns, format
        if not isinstance(batch_rows, int) or batch_rows < 1:
            raise ValueError(f"batch_rows: expected an integer >= 1, got {batch_rows!r}")
        self.batch_rows = batch_rows
        self.lock = threading.RLock()
        self.trie = TagTrie()
        self._index: dict[Any, _TagIndex] = {}
        self._local = threading.local()
        self.consumed = False
        self.once = False  # a source that can be read once (a RecordBatchReader)
        #: put before every piece's order: a cluster that scans the files of one log apart
        #: gives each its place, so that partials keep the row order of the whole
        self.order_prefix: tuple = ()
        self.parquet: list[ParquetInfo] = []
        self._inner: dict[str, str] = {}  # an fsspec URL -> the path its filesystem opens
        self._items: list[tuple[str, Any]] = []  # (kind, what) in row order
        self._resolve(source)
        if share:  # a reader's log gets a trie of its own (see tagcore.scan._collect)
            self._share_vocabulary()

    def _share_vocabulary(self) -> None:
        """Adopt the trie (and its lock and tag indexes) of an earlier scan of the same files
        in this process, so that a second question does not normalize and intern the same
        tags again (files are matched by path, size and modification time, and the tag
        options must agree). A trie only grows, so sharing one changes no answer."""
        if not self._items or any(k not in ("parquet", "text") for k, _ in self._items):
            return
        try:
            files = tuple((p, st.st_size, st.st_mtime_ns) for p, st in (
                (q, os.stat(q)) for q in (what.path if k == "parquet" else what[0]
                                          for k, what in self._items)))
        except OSError:
            return
        key = (files, self.policy, repr(self.columns), self.opts.tags_sep)
        with _SHARED_LOCK:
            got = _SHARED.pop(key, None)
            if got is None:
                got = (self.trie, self.lock, self._index)
            _SHARED[key] = got  # most recent last
            while len(_SHARED) > _SHARED_MAX:
                _SHARED.pop(next(iter(_SHARED)))
        self.trie, self.lock, self._index = got

    # ------------------------------------------------------------------------ resolving

    def _resolve(self, source: Any) -> None:
        try:
            import pyarrow as pa
        except ImportError:  # pragma: no cover - depends on the environment
            pa = None
        if isinstance(source, RequestLog):
            self.trie = source.trie  # the log's own ids stay valid
            self._items = [("log", source)]
            return
        if pa is not None:
            if isinstance(source, pa.RecordBatch):
                source = pa.Table.from_batches([source])
            if isinstance(source, pa.Table):
                self._items = [("table", source)]
                return
            if isinstance(source, pa.RecordBatchReader):
                self._items = [("reader", source)]
                self.once = True
                return
            try:
                import pyarrow.dataset as pds
            except ImportError:  # pragma: no cover
                pds = None
            if pds is not None and isinstance(source, pds.Dataset):
                files = getattr(source, "files", None)
                fmt = getattr(source, "format", None)
                fs = getattr(source, "filesystem", None)
                if files and isinstance(fmt, pds.ParquetFileFormat) and \
                        type(fs).__name__ == "LocalFileSystem":
                    for f in files:
                        self._add_path(f, "parquet")
                else:
                    self._items = [("dataset", source)]
                return
        if isinstance(source, (str, os.PathLike)):
            self._add_source_path(os.fspath(source))
        elif isinstance(source, (list, tuple)):
            if not source:
                raise ValueError("source: an empty list of paths")
            for p in source:
                if not isinstance(p, (str, os.PathLike)):
                    raise TypeError(f"source: expected paths in the list, got {type(p).__name__}")
                self._add_source_path(os.fspath(p), listed=True)
        else:
            raise TypeError(
                "source: expected a path (file, folder or glob), a list of paths, a pyarrow "
                "Table, RecordBatch, RecordBatchReader or dataset, or a RequestLog; got "
                f"{type(source).__name__}")
        if not self._items:
            raise FileNotFoundError(f"source: no data files in {source!r}")

    def _add_source_path(self, path: str, listed: bool = False) -> None:
        if _is_url(path):
            self._add_url(path)
            return
        if os.path.isdir(path):
            files = []
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
                for nm in names:
                    if nm.startswith((".", "_")):
                        continue
                    fmt = format_of(nm)
                    if (fmt == "parquet" and not nm.lower().endswith(".gz")) or \
                            fmt in ("jsonl", "csv", "json"):
                        files.append(os.path.join(root, nm))
            if files:
                for f in sorted(files):
                    self._add_path(f, self.format)
                return
            from tagcore.gateway.segments import list_folder

            if list_folder(Path(path)):
                self._items.append(("recorder", path))
                return
            raise FileNotFoundError(f"source: the folder {path!r} holds no Parquet, JSONL, CSV "
                                    "or JSON file and no recorder segment")
        if os.path.exists(path):
            self._add_path(path, self.format)
            return
        if any(c in path for c in "*?["):
            matches = sorted(m for m in _glob.glob(path, recursive=True) if os.path.isfile(m))
            if not matches:
                raise FileNotFoundError(f"source: no file matches {path!r}")
            for m in matches:
                self._add_path(m, self.format)
            return
        raise FileNotFoundError(f"source: no such file or folder: {path!r}")

    def _add_path(self, path: str, fmt: str | None) -> None:
        fmt = fmt or format_of(path)
        if fmt is None:
            with open(path, "rb") as fh:
                head = fh.read(4)
            fmt = "parquet" if head == b"PAR1" else None
        if fmt == "parquet":
            self._add_parquet(path)
        elif fmt in ("jsonl", "csv", "json"):
            self._items.append(("text", (path, fmt)))
        else:
            raise ValueError(f"source: cannot tell the format of {path!r}; give format= "
                             "('parquet', 'jsonl', 'csv' or 'json')")

    def _add_url(self, url: str) -> None:
        """Parquet files named by an fsspec URL (a file, a folder or a glob), read through
        pyarrow's wrapper of the fsspec filesystem."""
        try:
            import fsspec
            from pyarrow.fs import FSSpecHandler, PyFileSystem
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError(f"source: reading {url!r} needs fsspec (pip install fsspec)"
                              ) from None
        fs, root = fsspec.core.url_to_fs(url)
        if any(c in root for c in "*?["):
            files = sorted(fs.glob(root))
        elif fs.isdir(root):
            files = sorted(f for f in fs.find(root) if not os.path.basename(f).startswith(
                (".", "_")))
        else:
            files = [root] if fs.exists(root) else []
        files = [f for f in files if format_of(f) == "parquet" and not f.lower().endswith(".gz")]
        if not files:
            raise FileNotFoundError(f"source: no Parquet file at {url!r}")
        pafs = PyFileSystem(FSSpecHandler(fs))
        for f in files:
            self._add_parquet(fs.unstrip_protocol(f), filesystem=pafs, inner=f)

    def _add_parquet(self, path: str, filesystem: Any = None, inner: str | None = None
                     ) -> None:
        from tagcore.io.parquet import _dict_leaves

        pa, _, pq = _pyarrow()
        name = path
        try:
            pf = pq.ParquetFile(path if inner is None else inner, filesystem=filesystem)
        except (OSError, pa.ArrowException) as exc:
            raise _error(name, "(file)", f"not a readable Parquet file ({exc})") from None
        schema = pf.schema_arrow
        present = _select(self.columns, schema.names, name)
        if "cost_nanos" in present:
            present.pop("cost", None)  # exact nanos win, as read_parquet decides
        leaves = _dict_leaves(pf, [present[k] for k in ("model", "request_tags", *STR_EXTRAS)
                                   if k in present])
        md = pf.metadata
        unit = _ts_unit(pa, schema.field(present["ts"]).type) if "ts" in present else None
        ts_col = None
        if unit is not None:
            for j in range(md.num_columns):
                if md.schema.column(j).path == present["ts"] and \
                        md.schema.column(j).physical_type == "INT64":
                    ts_col = j
        rows, ranges = [], []
        for i in range(md.num_row_groups):
            rg = md.row_group(i)
            rows.append(rg.num_rows)
            rng = None
            if ts_col is not None and unit is not None:
                st = rg.column(ts_col).statistics
                if st is not None and st.has_min_max and st.null_count == 0:
                    lo, hi = int(st.min_raw), int(st.max_raw)
                    lim = (2**63 - 1) // unit
                    if -lim <= lo and hi <= lim:
                        rng = (lo * unit, hi * unit)
            ranges.append(rng)
        extras = tuple(k for k in (*INT_EXTRAS, *STR_EXTRAS) if k in present)
        info = ParquetInfo(path, name, present, leaves, rows, ranges, extras, filesystem)
        if inner is not None:  # a URL (a worker resolves it again), opened as ``inner``
            self._inner[path] = inner
        self.parquet.append(info)
        self._items.append(("parquet", info))

    # ------------------------------------------------------------------------ pieces

    def pieces(self) -> Iterator[Piece]:
        """The pieces in row order (a one-shot source is consumed by the first call)."""
        if self.once:
            if self.consumed:
                raise ValueError("source: a RecordBatchReader can be read only once, and this "
                                 "scan has read it already; scan a file, a Table or a dataset "
                                 "to ask several questions (or collect() the reader)")
            self.consumed = True
        start = 0
        pre = self.order_prefix
        for i, (kind, what) in enumerate(self._items):
            if kind == "parquet":
                info: ParquetInfo = what
                for g, n in enumerate(info.rows):
                    rng = info.ts_range[g]
                    yield Piece((*pre, i, g), "parquet", info.name, rows=n, row_start=start,
                                ts_min=None if rng is None else rng[0],
                                ts_max=None if rng is None else rng[1], file=info, rg=g)
                    start += n
            elif kind == "text":
                path, fmt = what
                yield Piece((*pre, i, 0), "text", path, path=path, fmt=fmt)
            elif kind == "log":
                yield Piece((*pre, i, 0), "log", "<log>", rows=len(what), row_start=0, data=what)
            elif kind == "recorder":
                yield Piece((*pre, i, 0), "recorder", what, path=what)
            elif kind == "table":
                for g, batch in enumerate(what.to_batches(max_chunksize=self.batch_rows)):
                    yield Piece((*pre, i, g), "table", "<arrow>", rows=batch.num_rows,
                                row_start=start, data=batch)
                    start += batch.num_rows
            elif kind in ("reader", "dataset"):
                it = what if kind == "reader" else what.to_batches()
                for g, batch in enumerate(it):
                    yield Piece((*pre, i, g), "table", "<arrow>", rows=batch.num_rows,
                                row_start=start, data=batch)
                    start += batch.num_rows

    def meta_rows(self) -> int | None:
        """The number of rows, from metadata, when every piece tells it (Parquet, tables)."""
        if self.once or any(k not in ("parquet", "table", "log") for k, _ in self._items):
            return None
        total = 0
        for kind, what in self._items:
            total += (sum(what.rows) if kind == "parquet" else
                      what.num_rows if kind == "table" else len(what))
        return total

    def meta_bounds(self) -> tuple[int, int | None, int | None, int] | None:
        """(rows, first ts, last ts, whether some request is unpriced) from metadata alone, or
        None when some piece cannot tell (no statistics, another format, rows that a reader
        may drop, a file without a cost column)."""
        if self.on_error != "raise":
            return None
        rows = 0
        lo: int | None = None
        hi: int | None = None
        unpriced = 0
        for kind, what in self._items:
            if kind != "parquet":
                return None
            if "cost" not in what.present and "cost_nanos" not in what.present:
                return None
            flags = self._stat_maxima(what, "unpriced") if "unpriced" in what.present else \
                [0] * len(what.rows)
            if flags is None:
                return None
            for n, rng, flag in zip(what.rows, what.ts_range, flags):
                rows += n
                if n == 0:
                    continue
                if rng is None:
                    return None
                unpriced |= int(flag > 0)
                lo = rng[0] if lo is None else min(lo, rng[0])
                hi = rng[1] if hi is None else max(hi, rng[1])
        return rows, lo, hi, unpriced

    def _stat_maxima(self, info: ParquetInfo, native: str) -> list[int] | None:
        """The maximum of an integer column in each row group (0 for an empty one), from the
        statistics; None when one is missing."""
        name = info.present.get(native)
        if name is None:
            return None
        md = self._pf(info).metadata
        j = next((j for j in range(md.num_columns) if md.schema.column(j).path == name), None)
        if j is None:
            return None
        out = []
        for g in range(md.num_row_groups):
            if not md.row_group(g).num_rows:
                out.append(0)
                continue
            st = md.row_group(g).column(j).statistics
            if st is None or not st.has_min_max or st.physical_type != "INT64":
                return None
            out.append(int(st.max))
        return out

    def stat_max(self, native: str) -> int | None:
        """The largest value of an integer column (``cost`` in nano-dollars) over the whole
        source, from the Parquet statistics; None when some row group cannot tell."""
        from tagcore.coerce import dollars_to_nanos

        top = 0
        for kind, info in self._items:
            if kind != "parquet":
                return None
            name = info.present.get(native)
            dollars = False
            if native == "cost" and "cost_nanos" in info.present:
                name = info.present["cost_nanos"]
            elif native == "cost":
                dollars = True
            if name is None:
                return None
            pf = self._pf(info)
            md = pf.metadata
            j = next((j for j in range(md.num_columns) if md.schema.column(j).path == name),
                     None)
            if j is None:
                return None
            for g in range(md.num_row_groups):
                if not md.row_group(g).num_rows:
                    continue
                st = md.row_group(g).column(j).statistics
                if st is None or not st.has_min_max:
                    return None
                try:
                    v = dollars_to_nanos(st.max, "cost") if dollars else int(st.max)
                except (TypeError, ValueError):
                    return None
                top = max(top, int(v))
        return top

    def unknown(self) -> frozenset[str] | None:
        """The columns (of ``RequestLog``'s knowable ones) the source lacks, as the log read
        from it would list them in ``unknown``; None when only reading tells (text files, a
        recorder folder, a reader)."""
        from tagcore.log import KNOWABLE

        out: set[str] = set()
        for kind, what in self._items:
            if kind == "parquet":
                have = set(what.present)
            elif kind == "table":
                have = set(_select(self.columns, what.column_names, "<arrow>"))
            elif kind == "log":
                out.update(what.unknown)
                continue
            else:
                return None
            out.update(c for c in KNOWABLE if c not in have)
        return frozenset(out)

    def piece_unknown(self, piece: Piece, log: RequestLog) -> frozenset[str]:
        """The columns the piece's source lacks (not the ones a question left unread)."""
        from tagcore.log import KNOWABLE

        if piece.kind == "parquet" and piece.file is not None:
            return frozenset(c for c in KNOWABLE if c not in piece.file.present)
        if piece.kind == "table":
            have = _select(self.columns, piece.data.schema.names, piece.name)
            return frozenset(c for c in KNOWABLE if c not in have)
        return log.unknown

    def extras(self) -> list[str]:
        """The extra columns (``user``, ``unpriced``, ...) the source's files hold."""
        out: set[str] = set()
        for info in self.parquet:
            out.update(info.extras)
        for kind, what in self._items:
            if kind == "log":
                out.update(what.extras)
            elif kind == "table":
                out.update(c for c in what.column_names if c in (*INT_EXTRAS, *STR_EXTRAS))
        return sorted(out)

    # ------------------------------------------------------------------------ decoding

    def _tag_index(self, anchors: Any = None) -> _TagIndex:
        got = self._index.get(anchors)
        if got is None:
            got = self._index[anchors] = _TagIndex(self.trie, self.policy, anchors)
        return got

    def _pf(self, info: ParquetInfo) -> Any:
        """This thread's open ParquetFile of ``info`` (a file reader is not shared between
        threads)."""
        cache = getattr(self._local, "files", None)
        if cache is None:
            cache = self._local.files = {}
        pf = cache.get(info.path)
        if pf is None:
            pa, _, pq = _pyarrow()
            try:
                pf = pq.ParquetFile(self._inner.get(info.path, info.path),
                                    read_dictionary=info.leaves, filesystem=info.filesystem)
            except (OSError, pa.ArrowException) as exc:
                raise _error(info.name, "(file)", f"not a readable Parquet file ({exc})") from None
            cache[info.path] = pf
        return pf

    def peek_tags(self, piece: Piece, anchors: Any = None) -> np.ndarray | None:
        """Node ids of every tag string of a Parquet row group, from its dictionary page alone
        (interned into the trie); None when the page cannot be trusted to list them all (no
        dictionary, a large one a writer may have fallen back from, an invalid tag)."""
        if piece.kind != "parquet" or piece.file is None:
            return None
        info = piece.file
        name = info.present.get("request_tags")
        if name is None or not piece.rows:
            return None
        pa, _, _ = _pyarrow()
        pf = self._pf(info)
        values = None
        try:
            # the dictionary page comes with the first tag decoded: read until a batch has one
            # (a row group without any tag gives an empty dictionary, which is right)
            for batch in pf.iter_batches(batch_size=1024, row_groups=[piece.rg], columns=[name],
                                         use_threads=False):
                col = batch.column(0)
                if not (pa.types.is_list(col.type) or pa.types.is_large_list(col.type)):
                    return None
                values = col.values
                if not pa.types.is_dictionary(values.type):
                    return None
                if len(values):
                    break
        except (OSError, pa.ArrowException) as exc:
            raise _error(piece.where, "(file)", f"cannot read Parquet data ({exc})") from None
        if values is None:
            return None
        dictionary = values.dictionary
        if dictionary.null_count or not pa.types.is_string(dictionary.type) and \
                not pa.types.is_large_string(dictionary.type):
            return None
        size = len(dictionary.buffers()[2] or b"") + 4 * len(dictionary)
        if size > _TRUSTED_DICTIONARY_BYTES:
            return None
        with self.lock:
            ids = self._tag_index(anchors).lookup(dictionary)
        self._local.dictionary = (dictionary, ids, anchors)  # the decode that follows reuses it
        if ((ids < 0) & (ids != DROP)).any():
            return None  # an invalid tag: the decode reports it (or drops it) precisely
        return ids[ids >= 0]

    def decode(self, piece: Piece, need: frozenset[str] | None, anchors: Any = None
               ) -> RequestLog:
        """The chunk log of a whole piece (see :meth:`decode_parts`)."""
        logs = [log for _, log in self.decode_parts(piece, need, batch=None, anchors=anchors)]
        if len(logs) == 1:
            return logs[0]
        return RequestLog.concat(logs) if logs else RequestLog.empty()

    def decode_parts(self, piece: Piece, need: frozenset[str] | None,
                     batch: int | None = -1, anchors: Any = None,
                     read_threads: bool = False) -> Iterator[tuple[int, RequestLog]]:
        """The chunk logs of a piece, ``(first row in the piece, log)``: a Parquet row group
        in batches of ``batch`` rows (-1: :data:`PARQUET_BATCH`; None: whole; batches bound the
        memory), any other piece whole.
        ``need`` names the native columns the question reads (None: all); the others are not
        decoded. With ``anchors``, each tag stands for its ancestor at the depth its anchors
        allow, or is left out (``()``: no tag at all is read; see :class:`_TagIndex`). ``read_threads`` lets pyarrow
        decode the columns side by side (when there are fewer pieces than threads)."""
        if piece.kind == "log":
            yield 0, piece.data
            return
        if piece.kind == "text":
            yield from self._decode_text(piece, anchors, whole=batch is None)
            return
        if piece.kind == "recorder":
            from tagcore.gateway.recorder import read_recorded

            yield 0, self._retrie(read_recorded(piece.path))
            return
        pa, _, _ = _pyarrow()
        if piece.kind != "parquet":
            table = pa.Table.from_batches([piece.data])
            present = _select(self.columns, table.column_names, piece.name)
            if "cost_nanos" in present:
                present.pop("cost", None)
            cols, mapping = self._plan(present, need, anchors)
            yield 0, self._build(self._fill(table.select(cols), mapping), mapping, piece,
                                 anchors=anchors)
            return
        info = piece.file
        assert info is not None
        cols, mapping = self._plan(info.present, need, anchors)
        pf = self._pf(info)
        start = 0
        if batch == -1:
            batch = PARQUET_BATCH
        try:
            if batch is None or (piece.rows or 0) <= batch:
                parts: Any = [pf.read_row_group(piece.rg, columns=cols,
                                                use_threads=read_threads)]
            else:
                parts = pf.iter_batches(batch_size=batch, row_groups=[piece.rg], columns=cols,
                                        use_threads=read_threads)
            for part in parts:
                table = part if isinstance(part, pa.Table) else pa.Table.from_batches([part])
                n = table.num_rows
                yield start, self._build(self._fill(table, mapping), mapping, piece, start,
                                         anchors)
                del table, part
                start += n
        except (OSError, pa.ArrowException) as exc:
            raise _error(piece.where, "(file)", f"cannot read Parquet data ({exc})") from None

    def _plan(self, present: dict[str, str], need: frozenset[str] | None,
              anchors: Any = None) -> tuple[list[str], dict[str, str]]:
        """The file columns to read and the native -> table column mapping. A column the
        question does not need is not read (the chunk log does not know it), except the cost:
        a log without one would be all unpriced, so an unneeded cost is a placeholder of
        zeros that no answer reads. With no anchor (``()``) the tags are not read either."""
        has_cost = "cost" in present or "cost_nanos" in present
        want_all = need is None or (self.opts.prices is not None and not has_cost)
        mapping: dict[str, str] = {}
        for native, fname in present.items():
            if want_all or need is None or native in need or \
                    native in ("unpriced", "usage_unknown") or \
                    (native == "cost_nanos" and "cost" in need):
                mapping[native] = fname
        if anchors == () and not want_all and "request_tags" in mapping:
            mapping["request_tags"] = _FILL_PREFIX + "request_tags"
        cols = list(dict.fromkeys(v for v in mapping.values() if not v.startswith(_FILL_PREFIX)))
        if has_cost and "cost" not in mapping and "cost_nanos" not in mapping:
            mapping["cost_nanos"] = _FILL_PREFIX + "cost_nanos"
        return cols, mapping

    @staticmethod
    def _fill(table: Any, mapping: dict[str, str]) -> Any:
        pa, _, _ = _pyarrow()
        for native, name in mapping.items():
            if name.startswith(_FILL_PREFIX):
                arr = pa.nulls(table.num_rows) if native == "request_tags" else \
                    pa.array(np.zeros(table.num_rows, dtype=np.int64))
                table = table.append_column(name, arr)
        return table

    def _build(self, table: Any, mapping: dict[str, str], piece: Piece, start: int = 0,
               anchors: Any = None) -> RequestLog:
        from tagcore.io.arrow import _from_table
        from tagcore.scan._decode import fast_log

        log = fast_log(table, mapping, self, piece.name, anchors)
        if log is not None:
            return log
        with self.lock:
            try:
                o = self.opts
                return _from_table(table, piece.name, columns=mapping, policy=self.policy,
                                   on_error=self.on_error, trie=self.trie, ts_unit=o.ts_unit,
                                   tags_sep=o.tags_sep, prices=o.prices)
            except LogError as exc:
                raise self._where(exc, piece, start) from None

    @staticmethod
    def _where(exc: LogError, piece: Piece, start: int = 0) -> LogError:
        """A chunk's error naming the file, the row group and the row of the file (``start``:
        the chunk's first row in the piece)."""
        row = exc.row
        if row is not None and piece.kind == "parquet" and piece.file is not None:
            row += sum(piece.file.rows[:piece.rg]) + start
        elif row is not None and piece.kind == "table" and piece.row_start is not None:
            row += piece.row_start
        return LogError(exc.column, exc.reason, row=row, source=piece.where)

    def _decode_text(self, piece: Piece, anchors: Any = None, whole: bool = False
                     ) -> Iterator[tuple[int, RequestLog]]:
        """The chunk logs of a JSONL or CSV file, streamed a chunk at a time through the
        readers' compiled chunk decoder (:func:`tagcore.io._text.text_chunks`), over the
        source's trie; a JSON file, a gzip file or a file the compiled path refuses at its
        first chunk is read whole by :func:`tagcore.io.read_any` (one log).

        A refusal after some chunks were given (a bad value at line 70,000, say) reads the
        file whole by the exact Python path, which raises the reader's error (file, line,
        column), or gives the log whose first rows are the chunks given (the compiled path
        vouched for them): its remaining rows are given, with what it dropped and counted.
        A refusal that changes the chunks given too (a native key first seen further on,
        which the Python path knows for every line) raises :class:`RestartPiece`: the
        caller forgets what the piece gave and reads it again with ``whole``, in one log."""
        from tagcore.io import _text
        from tagcore.scan._decode import fast_log

        if whole or piece.fmt not in ("jsonl", "csv") or _gzipped(piece.path):
            yield 0, self._read_whole(piece)
            return
        o = self.opts
        mapping: dict[str, str] = {}

        def build(table: Any) -> RequestLog:
            for c in table.column_names:
                mapping.setdefault(c, c)
            log = fast_log(table, mapping, self, piece.name, anchors)
            if log is not None:
                return log
            from tagcore.io.arrow import _from_table

            with self.lock:
                try:
                    return _from_table(table, piece.name, policy=self.policy, on_error="raise",
                                       trie=self.trie, ts_unit=o.ts_unit, tags_sep=o.tags_sep,
                                       prices=o.prices)
                except LogError:
                    raise _text._Refused("a problem the Python path reports") from None

        given = 0
        unknown: frozenset[str] | None = None
        extras: set[str] = set()
        dropped_tags = 0
        try:
            for start, log in _text.text_chunks(piece.fmt, _text.TextInput(piece.path),
                                                opts=o, build=build):
                unknown = log.unknown if unknown is None else unknown | log.unknown
                extras.update(log.extras)
                dropped_tags += log.dropped_tags
                given = start + len(log)
                yield start, log
            return
        except _text._Late:
            if given:
                raise RestartPiece(piece.name) from None
        except _text._Refused:
            pass
        whole_log = self._read_whole(piece)
        if not given:
            yield 0, whole_log
            return
        if whole_log.unknown != unknown or set(whole_log.extras) != extras or \
                len(whole_log) < given:
            raise RuntimeError(  # the compiled path vouched for what it gave: a bug
                f"{piece.name}: the streamed chunks disagree with the whole file's log; "
                "please report it (read the file with tagcore.read_any meanwhile)")
        rest = whole_log[given:]
        rest._set_meta(dropped_rows=whole_log.dropped_rows,
                       dropped_tags=whole_log.dropped_tags - dropped_tags,
                       problems=whole_log.problems)
        yield given, rest

    def _read_whole(self, piece: Piece) -> RequestLog:
        """A text piece read whole by the reader of its format, over the source's trie."""
        from tagcore.io import read_any

        with self.lock:
            o = self.opts
            return read_any(piece.path, piece.fmt, policy=self.policy, on_error=self.on_error,
                            trie=self.trie, columns=o.columns, ts_unit=o.ts_unit,
                            tags_sep=o.tags_sep, prices=o.prices)

    def _retrie(self, log: RequestLog) -> RequestLog:
        """``log`` over the source's trie (its tag ids remapped by path)."""
        if log.trie is self.trie:
            return log
        with self.lock:
            remap = self.trie.merge(log.trie)
            ids = remap[log.tag_ids] if log.tag_ids.size else log.tag_ids
            return log._replace(tag_ids=np.ascontiguousarray(ids, dtype=np.int32),
                                trie=self.trie)



def _gzipped(path: str) -> bool:
    """Whether a file starts with gzip's magic bytes (read whole by a scan)."""
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"

