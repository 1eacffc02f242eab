"""The gateway recorder: microseconds per request, column buffers, crash-safe segments on disk.

:class:`Recorder` appends one fixed-size binary row per finished request into preallocated
column-chunk buffers (no Python object is kept per request), interns tags in a :class:`TagTrie`,
and turns everything recorded so far into a :class:`~tagcore.log.RequestLog` with
:meth:`Recorder.snapshot`. With a ``path`` it also writes the rows to a folder that survives a
``kill -9``; :func:`read_recorded` loads such a folder, also while a writer is live.

>>> rec = Recorder()
>>> rec.record(["customer/acme", "env/prod"], model="gpt-4o-mini", latency_ms=812.5,
...            usage={"prompt_tokens": 120, "completion_tokens": 30}, cost=0.0004)
>>> log = rec.snapshot()
>>> len(log), int(log.prompt_tokens[0]), int(log.cost[0]), log.tags_of(0)
(1, 120, 400000, ['customer/acme', 'env/prod'])


The on-disk format (rows, frames, files, folder layout) is described in
:mod:`tagcore.gateway.segments`.

Durability
----------
``durability`` says what :meth:`Recorder.record` promises once it returns, i.e. what a reopened
folder holds after a ``kill -9`` (or power loss):

* ``"always"``: the row is written and ``fsync``ed before ``record`` returns (group commit:
  concurrent threads share one write and one fsync).
* ``"batch"`` (default): rows are written and fsynced every ``flush_every`` rows (by the thread
  whose record reaches that count) and at most ``flush_interval`` seconds after they were recorded
  (a daemon flusher thread), so at most ``flush_every`` rows or ``flush_interval`` seconds of rows
  are lost in a crash.
* ``"none"``: rows are written to the OS at the same cadence but fsynced only by
  :meth:`Recorder.flush` and :meth:`Recorder.close`; a process kill usually loses nothing that was
  written, a power loss may lose everything since the last flush.

In every mode :meth:`Recorder.flush` makes all rows recorded before it durable, and
:attr:`Recorder.durable_rows` is the number of rows promised so far.
"""

from __future__ import annotations

import errno
import fcntl
import math
import os
import shutil
import threading
import time
import warnings
import weakref
from array import array
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from tagcore.coerce import (
    I64_MAX,
    dollars_to_nanos,
    parse_status,
    parse_usage,
    time_to_nanos,
    to_count,
    to_latency_ms,
)
from tagcore.errors import CoerceError
from tagcore.gateway.segments import (
    DEF_KEY,
    DEF_MODEL,
    DEF_TAG,
    DEF_USER,
    FLAG_UNPRICED,
    FLAG_USAGE_UNKNOWN,
    KIND_SEGMENT,
    KIND_TAIL,
    QUARANTINE_SUFFIX,
    ROW,
    ROW_DTYPE,
    RS,
    TEMP_SEGMENT_GLOB,
    FileDamage,
    FileScan,
    Frame,
    RecorderWarning,
    encode_frames,
    file_header,
    list_folder,
    quarantine_name,
    scan_file,
    segment_name,
    tail_name,
    temp_segment_name,
)
from tagcore.tags import NormalizedTags, TagPolicy, normalize_tags
from tagcore.trie import TagTrie

if TYPE_CHECKING:
    from tagcore.log import RequestLog

__all__ = ["Recorder", "RecorderWarning", "read_recorded", "ROW_DTYPE"]

_pack_into = ROW.pack_into

_CHUNK_ROWS = 65536
_TAG_CAP = _CHUNK_ROWS * 8          # int32 tag ids per chunk buffer
_HEAP_CAP = _CHUNK_ROWS * 24        # request-id bytes per chunk buffer
_MAX_STR = 1024                     # UTF-8 bytes of a request_id / user / key

_DURABILITY = ("always", "batch", "none")



# ------------------------------------------------------------------------------------------------
# values: money, time, counts and usage are read by tagcore.coerce, the same as every reader


def _nonneg_nanos(cost: Any, field: str = "cost") -> int:
    n = dollars_to_nanos(cost, field)
    if n < 0:
        raise CoerceError(field, f"must be >= 0, got {cost!r}", cost)
    return n


def _utf8(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected a str, got {type(value).__name__}")
    b = value.encode("utf-8")
    if len(b) > _MAX_STR:
        raise ValueError(f"{name}: {len(b)} UTF-8 bytes, more than the limit of {_MAX_STR}")
    return b


# ------------------------------------------------------------------------------------------------
# in-memory chunks


class _Chunk:
    """Preallocated row / tag-id / request-id buffers; append-only, so readers may copy the
    filled prefix without a lock. ``row0``/``tag0``/``heap0`` are global start positions."""

    __slots__ = ("rows", "tags", "heap", "row0", "tag0", "heap0", "n", "nt", "nh")

    def __init__(self, row0: int, tag0: int, heap0: int, rows=None, tags=None, heap=None,
                 n: int = 0, nt: int = 0, nh: int = 0) -> None:
        self.rows = bytearray(_CHUNK_ROWS * RS) if rows is None else rows
        self.tags = bytearray(_TAG_CAP * 4) if tags is None else tags
        self.heap = bytearray(_HEAP_CAP) if heap is None else heap
        self.row0, self.tag0, self.heap0 = row0, tag0, heap0
        self.n, self.nt, self.nh = n, nt, nh

    def end(self) -> tuple[int, int, int]:
        return self.row0 + self.n, self.tag0 + self.nt, self.heap0 + self.nh


def _gather(view: list[tuple[_Chunk, int, int, int]], a: tuple[int, int, int],
            b: tuple[int, int, int]) -> tuple[bytes, bytes, bytes]:
    """Rows, tag ids and request-id bytes between global positions ``a`` and ``b``."""
    rows, tags, heap = [], [], []
    for c, n, nt, nh in view:
        r0, r1 = max(a[0], c.row0), min(b[0], c.row0 + n)
        if r0 >= r1:
            continue
        t0, t1 = max(a[1], c.tag0), min(b[1], c.tag0 + nt)
        h0, h1 = max(a[2], c.heap0), min(b[2], c.heap0 + nh)
        rows.append(memoryview(c.rows)[(r0 - c.row0) * RS:(r1 - c.row0) * RS])
        if t1 > t0:
            tags.append(memoryview(c.tags)[(t0 - c.tag0) * 4:(t1 - c.tag0) * 4])
        if h1 > h0:
            heap.append(memoryview(c.heap)[h0 - c.heap0:h1 - c.heap0])
    return b"".join(rows), b"".join(tags), b"".join(heap)


# ------------------------------------------------------------------------------------------------
# code spaces: trie + dictionaries shared by the writer and readers


class _Space:
    """The trie and the model / user / key dictionaries that row codes refer to."""

    def __init__(self) -> None:
        self.trie = TagTrie()
        self.names: dict[int, list[str]] = {DEF_MODEL: [], DEF_USER: [], DEF_KEY: []}
        self.codes: dict[int, dict[str, int]] = {DEF_MODEL: {}, DEF_USER: {}, DEF_KEY: {}}

    def intern(self, kind: int, s: str) -> int:
        d = self.codes[kind]
        c = d.get(s)
        if c is None:
            names = self.names[kind]
            c = d[s] = len(names)
            names.append(s)
        return c

    def name_of(self, kind: int, code: int) -> str:
        if kind == DEF_TAG:
            return self.trie.path(code)
        return self.names[kind][code]

    def absorb(self, f: Frame) -> tuple[np.ndarray, np.ndarray, bytes]:
        """The frame's rows and tag ids in this space's codes; ValueError on dangling codes."""

        def remap(kind: int, values: np.ndarray, allow_missing: bool) -> np.ndarray:
            d = f.defs[kind]
            if not values.size:
                return values.astype(np.int32)
            hi = int(values.max())
            lut = np.full(max(hi, max(d, default=-1)) + 2, -2, dtype=np.int64)
            lut[-1] = -1  # index -1 -> -1 (missing)
            for code, s in d.items():
                if code < lut.size - 1:
                    lut[code] = self.trie.add(s) if kind == DEF_TAG else self.intern(kind, s)
            if int(values.min()) < (-1 if allow_missing else 0):
                raise ValueError("negative code")
            out = lut[values]
            if (out == -2).any() or (not allow_missing and (out < 0).any()):
                raise ValueError("a code without a string table entry")
            return out.astype(np.int32)

        rows = f.rows.copy()
        tags = remap(DEF_TAG, f.tags, False)
        rows["model"] = remap(DEF_MODEL, rows["model"], False)
        rows["user"] = remap(DEF_USER, rows["user"], True)
        rows["key"] = remap(DEF_KEY, rows["key"], True)
        return rows, tags, f.heap


def _writer_is_live(folder: Path) -> bool:
    try:
        fd = os.open(folder / "LOCK", os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


class _Gen:
    """One generation as loaded: which file its rows come from (``kind``), their blocks in a
    space's codes, and the scans of the files looked at (``"seg"``, ``"tail"``)."""

    __slots__ = ("gen", "kind", "blocks", "scans", "paths")

    def __init__(self, gen: int, kind: str, blocks: list[tuple[np.ndarray, np.ndarray, bytes]],
                 scans: dict[str, FileScan], paths: dict[str, Path]) -> None:
        self.gen, self.kind, self.blocks, self.scans, self.paths = gen, kind, blocks, scans, paths


def _scan(p: Path, live_end: bool) -> FileScan | None:
    try:
        data = p.read_bytes()
    except FileNotFoundError:  # a tail compacted meanwhile
        return None
    return scan_file(data, str(p), live_end)


def _load(folder: Path, space: _Space, live: bool) -> list[_Gen]:
    """Every valid frame of the folder, generation by generation, in ``space``'s codes.

    A generation's rows come from its segment, or from its tail when there is no segment or
    the tail holds more rows (a crash between compaction's rename and unlink leaves both; a
    damaged segment holds fewer).
    """
    gens = list_folder(folder)
    newest = max(gens, default=-1)
    out = []
    for g in sorted(gens):
        files = gens[g]
        scans: dict[str, FileScan] = {}
        for attempt in range(3):
            if "seg" in files:
                sc = _scan(files["seg"], False)
                if sc is not None:
                    scans["seg"] = sc
            if "tail" in files:
                sc = _scan(files["tail"], live and g == newest)
                if sc is not None:
                    scans["tail"] = sc
            if scans or attempt == 2:
                break
            files = list_folder(folder).get(g, {})  # raced with a compaction: look again
            if not files:
                break
        if not scans:
            continue
        seg, tail = scans.get("seg"), scans.get("tail")
        kind = "seg" if seg is not None and (tail is None or seg.rows >= tail.rows) else "tail"
        chosen = scans[kind]
        blocks = []
        for frame in chosen.frames:
            try:
                blocks.append(space.absorb(frame))
            except ValueError as exc:
                warnings.warn(f"{files[kind]}: skipped a frame with inconsistent codes ({exc})",
                              RecorderWarning, stacklevel=3)
        for sc in scans.values():
            sc.frames = []  # the rows are in ``blocks`` now: let the file's bytes go
        out.append(_Gen(g, kind, blocks, scans, {k: files[k] for k in scans}))
    return out


def _build_log(rows: np.ndarray, tags: np.ndarray, heap: bytes, trie: TagTrie,
               models: tuple[str, ...], users: tuple[str, ...], keys: tuple[str, ...]
               ) -> RequestLog:
    from tagcore.log import RequestLog

    n = rows.shape[0]
    off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(rows["ntags"], out=off[1:])
    flags = rows["flags"]
    extras: dict[str, Any] = {
        "cached_tokens": rows["cached_tokens"].copy(),
        "reasoning_tokens": rows["reasoning_tokens"].copy(),
        "usage_unknown": (flags & FLAG_USAGE_UNKNOWN).astype(np.int64),
        "unpriced": ((flags & FLAG_UNPRICED) >> 1).astype(np.int64),
    }
    for name, col, vals in (("user", "user", users), ("key", "key", keys)):
        codes = rows[col]
        if n and (codes >= 0).any():
            used = np.unique(codes[codes >= 0])
            lut = np.full(len(vals) + 1, -1, dtype=np.int32)
            lut[used] = np.arange(used.size, dtype=np.int32)
            extras[name] = (lut[codes], tuple(vals[i] for i in used.tolist()))
    rl = rows["rid_len"]
    if n and (rl >= 0).any():
        text: dict[str, int] = {}
        codes = np.full(n, -1, dtype=np.int32)
        pos = 0
        rows_with = np.flatnonzero(rl >= 0)
        lens = rl[rows_with].tolist()
        cl = []
        for ln in lens:
            s = heap[pos:pos + ln].decode("utf-8")
            pos += ln
            cl.append(text.setdefault(s, len(text)))
        codes[rows_with] = cl
        extras["request_id"] = (codes, tuple(text))
    return RequestLog(
        ts=rows["ts"].copy(), model_codes=rows["model"].copy(), models=models,
        prompt_tokens=rows["prompt_tokens"].copy(),
        completion_tokens=rows["completion_tokens"].copy(), cost=rows["cost"].copy(),
        latency_ms=rows["latency_ms"].copy(), status=rows["status"].astype(np.int32),
        tag_offsets=off, tag_ids=np.ascontiguousarray(tags, dtype=np.int32), trie=trie,
        extras=extras)


def read_recorded(path: str | os.PathLike[str]) -> RequestLog:
    """Load a recorder folder as a :class:`RequestLog` (read-only; works while a writer is live).

    Torn or corrupt frames are skipped with a :class:`RecorderWarning`; the rows of every valid
    frame are returned, in recording order, also from a file whose header is damaged. Each
    damaged file is described in the log's ``problems`` (rows recovered, frames lost).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with Recorder(d, durability="none") as rec:
    ...         rec.record(["team/search"], model="m", usage={"prompt_tokens": 3}, cost=0.5,
    ...                    latency_ms=10.0)
    ...     log = read_recorded(d)
    >>> len(log), log.tags_of(0), float(log.totals()["cost"])
    (1, ['team/search'], 0.5)
    """
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"no recorder folder at {str(folder)!r}")
    space = _Space()
    loaded = _load(folder, space, _writer_is_live(folder))
    blocks = [b for gl in loaded for b in gl.blocks]
    damage = [gl.scans[gl.kind].damage().describe() for gl in loaded
              if gl.scans[gl.kind].damaged]
    if blocks:
        rows = np.concatenate([b[0] for b in blocks])
        tags = np.concatenate([b[1] for b in blocks])
        heap = b"".join(b[2] for b in blocks)
    else:
        rows, tags, heap = np.zeros(0, ROW_DTYPE), np.zeros(0, np.int32), b""
    log = _build_log(rows, tags, heap, space.trie, tuple(space.names[DEF_MODEL]),
                     tuple(space.names[DEF_USER]), tuple(space.names[DEF_KEY]))
    return log._set_meta(problems=damage) if damage else log


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _keep_aside(path: Path) -> Path:
    """Give ``path`` a quarantine name too (a hard link, or a fsynced copy where the file
    system has none) and fsync the folder; the original name stays for the caller to replace
    or unlink. A quarantine name that is already this very file (a crash came after an earlier
    link) is reused."""
    folder = path.parent
    for q in folder.glob(path.name + QUARANTINE_SUFFIX + "*"):
        try:
            if os.path.samefile(q, path):
                return q
        except OSError:
            continue
    q = quarantine_name(folder, path.name)
    try:
        os.link(path, q)
    except OSError:
        shutil.copyfile(path, q)
        fd = os.open(q, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    _fsync_dir(folder)
    return q


def _write_all(fd: int, data: bytes) -> None:
    mv = memoryview(data)
    while mv:
        k = os.write(fd, mv)
        mv = mv[k:]


# ------------------------------------------------------------------------------------------------


class Recorder:
    """Record finished LLM requests with their tags; thread-safe, microseconds per request.

    ``path``: a folder for durable segments (created if needed; an existing one is continued,
    and its rows are part of every snapshot), or ``None`` for memory only. ``prices``: a
    :class:`~tagcore.prices.PriceTable` used when ``record`` gets no ``cost``. ``policy``: the
    :class:`TagPolicy` for normalizing tags. ``durability`` (``"always"``, ``"batch"``,
    ``"none"``), ``flush_every`` and ``flush_interval``: see the module docstring.
    ``segment_rows``: the tail is compacted into an immutable segment after this many rows.

    Opening a folder recovers every frame whose CRC holds, in damaged files too, and keeps each
    damaged file aside as ``<name>.damaged`` (never deleting it); ``damage`` then lists them
    (:class:`~tagcore.gateway.segments.FileDamage`: rows recovered, frames lost, the name kept).

    Memory: 77 bytes per request, plus 4 per tag and the request id's UTF-8 bytes.

    >>> with Recorder() as rec:
    ...     rec.record(["customer/acme"], model="gpt-4o", latency_ms=None, status=502)
    ...     log = rec.snapshot()
    >>> int(log.status[0]), int(log.extras["usage_unknown"][0]), int(log.extras["unpriced"][0])
    (502, 1, 1)
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, prices: Any = None,
                 policy: TagPolicy | None = None, flush_every: int = 1000,
                 flush_interval: float = 1.0,
                 durability: Literal["always", "batch", "none"] = "batch",
                 segment_rows: int = 1_000_000) -> None:
        if durability not in _DURABILITY:
            raise ValueError(f"durability: expected one of {_DURABILITY}, got {durability!r}")
        if type(flush_every) is not int or flush_every < 1:
            raise ValueError(f"flush_every: expected a positive int, got {flush_every!r}")
        if not (isinstance(flush_interval, (int, float)) and flush_interval > 0):
            raise ValueError(f"flush_interval: expected seconds > 0, got {flush_interval!r}")
        if type(segment_rows) is not int or segment_rows < 1:
            raise ValueError(f"segment_rows: expected a positive int, got {segment_rows!r}")
        if policy is not None and not isinstance(policy, TagPolicy):
            raise TypeError(f"policy: expected a TagPolicy, got {type(policy).__name__}")
        if policy is not None and policy.max_tags > 65535:
            raise ValueError("policy.max_tags: the recorder stores at most 65535 tags per request")
        if prices is not None and not callable(getattr(prices, "cost_nanos", None)):
            raise TypeError("prices: expected a PriceTable (with a cost_nanos method)")
        self.prices = prices
        self.policy = policy
        self.durability = durability
        self.flush_every = flush_every
        self.flush_interval = float(flush_interval)
        self.segment_rows = segment_rows
        self.dropped_tags = 0
        self.damage: tuple[FileDamage, ...] = ()
        self._lock = threading.Lock()        # row append; tiny critical section
        self._intern_lock = threading.Lock()  # trie / dictionary growth
        self._io_lock = threading.Lock()      # file writes, in order
        self._space = _Space()
        self._tag_cache: dict[tuple, tuple[bytes, int, tuple[str, ...], int]] = {}
        self._model_codes = self._space.codes[DEF_MODEL]
        self._user_codes = self._space.codes[DEF_USER]
        self._key_codes = self._space.codes[DEF_KEY]
        self._sealed: list[_Chunk] = []
        self._cur = _Chunk(0, 0, 0)
        self._listeners: tuple[Callable[..., Any], ...] = ()
        self._closed = False
        self._snap_trie: TagTrie | None = None
        self._error: BaseException | None = None
        self.path: Path | None = None
        self._fd = -1
        self._lock_fd = -1
        self._synced = (0, 0, 0)    # written to the tail
        self._durable = 0           # rows promised durable
        self._tail_gen = 0
        self._tail_start = (0, 0, 0)
        self._tail_size = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        if path is not None:
            self._open(Path(path))

    # ------------------------------------------------------------------------ folder

    def _open(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + 1.0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN) or time.monotonic() > deadline:
                    os.close(fd)
                    raise RuntimeError(f"{folder} is open by another live Recorder") from None
                time.sleep(0.02)  # maybe a reader probing the lock
        self._lock_fd = fd
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self.path = folder
            for tmp in folder.glob(TEMP_SEGMENT_GLOB):  # a compaction cut short by a crash
                tmp.unlink()
            loaded = _load(folder, self._space, live=False)
            gens = list_folder(folder)
            pos = (0, 0, 0)
            plans = []
            for gl in loaded:
                start = pos
                if gl.blocks:
                    rows = np.concatenate([bl[0] for bl in gl.blocks])
                    tags = np.concatenate([bl[1] for bl in gl.blocks]).astype("<i4")
                    heap = b"".join(bl[2] for bl in gl.blocks)
                    c = _Chunk(*pos, rows.tobytes(), tags.tobytes(), heap, rows.shape[0],
                               tags.shape[0], len(heap))
                    self._sealed.append(c)
                    pos = c.end()
                plans.append((gl, start, pos))
            self._cur = _Chunk(*pos)
            damage: list[FileDamage] = []
            for gl, start, end in plans:
                damage.extend(self._settle(gl, start, end))
            _fsync_dir(folder)
            self.damage = tuple(damage)
            for d in damage:
                warnings.warn(d.describe(), RecorderWarning, stacklevel=3)
            self._synced = self._tail_start = pos
            self._durable = pos[0]
            self._new_tail(max(gens, default=0) + 1)
        except BaseException:
            self._release()
            raise
        if self.durability != "always":
            self._thread = threading.Thread(target=Recorder._timer,
                                            args=(weakref.ref(self), self._stop,
                                                  self.flush_interval),
                                            daemon=True, name=f"tagcore-recorder-flush:{folder}")
            self._thread.start()

    def _settle(self, gl: _Gen, a: tuple[int, int, int], b: tuple[int, int, int]
                ) -> list[FileDamage]:
        """Leave generation ``gl`` as one sound segment holding rows [a, b), when it has rows.

        A file is deleted only when every byte of it was read and its rows are durably in a
        sound segment; any other file is kept aside under a quarantine name (hard link, made
        before the file's own name is replaced or removed), so a crash at any point loses
        nothing. Returns what was found damaged."""
        chosen = gl.scans[gl.kind]
        keep: list[str] = []  # file kinds to quarantine
        drop: list[str] = []  # file kinds whose every frame is elsewhere, durably
        whole = not chosen.lost_bytes and len(gl.blocks) == chosen.nframes  # all rows loaded
        for kind, sc in gl.scans.items():
            if kind == gl.kind:
                if sc.damaged or not whole:
                    keep.append(kind)
                elif kind == "tail" and not sc.nframes:
                    drop.append(kind)  # a tail without frames: header only, or empty
            elif not sc.damaged and whole and chosen.rows >= sc.rows:
                drop.append(kind)  # a tail its segment holds (compacted before a crash)
            else:
                keep.append(kind)
        kept: dict[str, Path] = {}
        if gl.blocks and (gl.kind == "tail" or gl.kind in keep):
            kept = self._compact(gl.gen, a, b, {k: gl.paths[k] for k in keep})
        else:
            assert self.path is not None
            for k in keep:
                kept[k] = _keep_aside(gl.paths[k])
            for k in keep + drop:
                gl.paths[k].unlink(missing_ok=True)
            if keep or drop:
                _fsync_dir(self.path)
        out = []
        for k, q in kept.items():
            sc = gl.scans[k]
            if sc.damaged:
                out.append(sc.damage(kept_as=q.name))
            else:
                warnings.warn(f"{sc.name}: kept as {q.name}, since not all of its rows are "
                              f"known to be in generation {gl.gen}'s new segment",
                              RecorderWarning, stacklevel=4)
        return out

    def _new_tail(self, gen: int) -> None:
        assert self.path is not None
        p = self.path / tail_name(gen)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        try:
            head = file_header(KIND_TAIL, gen)
            _write_all(fd, head)
            os.fsync(fd)
            _fsync_dir(self.path)
        except BaseException:
            os.close(fd)
            raise
        old = self._fd
        self._fd, self._tail_gen, self._tail_size = fd, gen, len(head)
        if old >= 0:
            os.close(old)

    def _view(self) -> list[tuple[_Chunk, int, int, int]]:
        """Chunks with their filled sizes; call with ``_lock`` held."""
        cur = self._cur
        return [(c, c.n, c.nt, c.nh) for c in self._sealed] + [(cur, cur.n, cur.nt, cur.nh)]

    def _compact(self, gen: int, a: tuple[int, int, int], b: tuple[int, int, int],
                 keep: dict[str, Path] | None = None) -> dict[str, Path]:
        """Write rows [a, b) (tail ``gen``) as ``seg-<gen>.tcs`` atomically; delete the tail.

        The order keeps every row on disk at every moment: the new segment is written and
        fsynced under a temporary name; the files in ``keep`` (damaged ones) get a quarantine
        name (a hard link) and the folder is fsynced; only then does the segment's rename
        replace an old segment, and only after that is the tail unlinked. Returns the
        quarantine names of ``keep``."""
        assert self.path is not None
        with self._lock:
            view = self._view()
        data = encode_frames(*_gather(view, a, b), self._space.name_of)
        final = self.path / segment_name(gen)
        tmp = self.path / temp_segment_name(gen)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, file_header(KIND_SEGMENT, gen))
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        kept = {k: _keep_aside(p) for k, p in (keep or {}).items()}
        os.replace(tmp, final)
        _fsync_dir(self.path)
        tail = self.path / tail_name(gen)
        if tail.exists():
            tail.unlink()
            _fsync_dir(self.path)
        return kept

    def _write_pending(self, fsync: bool) -> None:
        """Append every unwritten row to the tail as frames (``_io_lock`` held)."""
        with self._lock:
            view = self._view()
            end = self._cur.end()
        a = self._synced
        if end[0] > a[0]:
            data = encode_frames(*_gather(view, a, end), self._space.name_of)
            try:
                _write_all(self._fd, data)
            except BaseException:
                try:  # keep the tail clean for the retry
                    os.ftruncate(self._fd, self._tail_size)
                except OSError:
                    pass
                raise
            self._tail_size += len(data)
            self._synced = end
        if fsync:
            os.fsync(self._fd)
            self._durable = self._synced[0]

    def _sync(self, upto: int, fsync: bool, wait: bool = True) -> None:
        """Write (and with ``fsync`` make durable) every row so far, unless row ``upto`` already
        is. With ``wait=False`` it returns at once when another thread is syncing."""
        if self._fd < 0:
            return
        if not self._io_lock.acquire(blocking=wait):
            return
        rotate = None
        try:
            if self._fd < 0 or (self._durable if fsync else self._synced[0]) >= upto:
                return
            self._write_pending(fsync)
            if self._synced[0] - self._tail_start[0] >= self.segment_rows:
                rotate = (self._tail_gen, self._tail_start, self._synced)
                self._new_tail(self._tail_gen + 1)
                self._tail_start = self._synced
        finally:
            self._io_lock.release()
        if rotate is not None:
            self._compact(*rotate)  # outside the io lock: new rows go to the new tail meanwhile

    @staticmethod
    def _timer(ref: weakref.ref[Recorder], stop: threading.Event, interval: float) -> None:
        """The batch flusher; holds the recorder weakly so an unclosed one can be collected."""
        while not stop.wait(interval):
            self = ref()
            if self is None:
                return
            try:
                total = len(self)
                fsync = self.durability == "batch"
                if total > (self._durable if fsync else self._synced[0]):
                    self._sync(total, fsync)
            except BaseException as exc:  # surfaced by flush() / close()
                if self._error is None:
                    warnings.warn(f"recorder background flush failed: {exc!r}", RecorderWarning,
                                  stacklevel=1)
                self._error = exc
            del self

    def _release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._lock_fd >= 0:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            finally:
                os.close(self._lock_fd)
                self._lock_fd = -1

    # ------------------------------------------------------------------------ interning

    def _intern_tags(self, tags: Any, key: tuple | None) -> tuple[bytes, int, tuple[str, ...], int]:
        if tags is None:
            norm: list[str] = []
            nd = 0
        else:
            norm = normalize_tags(tags, self.policy)
            nd = len(norm.dropped) if isinstance(norm, NormalizedTags) else 0
        with self._intern_lock:
            ids = array("i", [self._space.trie.add(t) for t in norm])
        if ids.itemsize != 4:  # pragma: no cover
            ids = array("l", ids)
        entry = (ids.tobytes(), len(ids), tuple(norm), nd)
        if key is not None:
            if len(self._tag_cache) >= 65536:
                self._tag_cache.clear()
            self._tag_cache[key] = entry
        return entry

    def _intern(self, kind: int, value: Any, name: str) -> int:
        if kind == DEF_MODEL:
            if not isinstance(value, str) or not value:
                raise ValueError(f"model: expected a model name, got {value!r}")
            value.encode("utf-8")
            if len(value) > 65535:
                raise ValueError("model: name too long")
        else:
            _utf8(value, name)
        with self._intern_lock:
            return self._space.intern(kind, value)

    # ------------------------------------------------------------------------ recording

    def record(self, tags: Iterable[str] | None, *, model: str, usage: Any = None,
               prompt_tokens: int | None = None, completion_tokens: int | None = None,
               cost: float | None = None, latency_ms: float | None, status: int = 200,
               ts: Any = None, request_id: str | None = None, user: str | None = None,
               key: str | None = None, cached_tokens: int = 0, reasoning_tokens: int = 0,
               cost_nanos: int | None = None) -> None:
        """Record one finished request.

        ``tags``: the request's tags (normalized with the recorder's policy; a
        :class:`TagError` leaves nothing recorded). ``usage``: the response's OpenAI usage object
        (Chat Completions or Responses API), or give ``prompt_tokens``/``completion_tokens``
        (and optionally ``cached_tokens``/``reasoning_tokens``); with neither, the usage is
        *unknown*: tokens are recorded as 0 and the row's ``usage_unknown`` flag is set.
        ``cost`` in dollars (or ``cost_nanos`` exact); when missing, the price table prices the
        usage; a request that cannot be priced is recorded at cost 0 with ``unpriced`` set.
        ``latency_ms``: milliseconds, or None (unknown). ``ts``: when the request finished
        (datetime, ISO string, epoch seconds), default now. Invalid arguments raise
        ``ValueError``/``TypeError`` before anything is recorded.

        >>> rec = Recorder()
        >>> rec.record(("a/b",), model="m", prompt_tokens=3, completion_tokens=4, cost=0.001,
        ...            latency_ms=5.0, request_id="req-1", user="u1")
        >>> rec.snapshot().to_pandas()[["model", "prompt_tokens", "cost", "request_id", "user"]]
          model  prompt_tokens   cost request_id user
        0     m              3  0.001      req-1   u1
        """
        cls = type(tags)
        k: tuple | None
        if cls is tuple:
            k = tags  # type: ignore[assignment]  # checked by type() just above
        elif cls is list or cls is NormalizedTags:
            k = tuple(tags)  # type: ignore[arg-type]
        else:
            k = None
        entry = None
        if k is not None:
            try:
                entry = self._tag_cache.get(k)
            except TypeError:  # unhashable element: let normalization name it
                k = None
        if entry is None:
            entry = self._intern_tags(tags, k)
        ids_b, ntags, norm, ndropped = entry
        mc = self._model_codes.get(model) if type(model) is str else None
        if mc is None:
            mc = self._intern(DEF_MODEL, model, "model")
        write = 0
        if usage is not None:
            if prompt_tokens is not None or completion_tokens is not None:
                raise ValueError("give either usage or prompt_tokens/completion_tokens, not both")
            p, c, cached, write, reasoning, known = parse_usage(usage)
        elif prompt_tokens is None and completion_tokens is None:
            p = c = cached = reasoning = 0
            known = False
        else:
            p = 0 if prompt_tokens is None else to_count(prompt_tokens, "prompt_tokens")
            c = 0 if completion_tokens is None else to_count(completion_tokens, "completion_tokens")
            cached = to_count(cached_tokens, "cached_tokens") if cached_tokens else 0
            reasoning = to_count(reasoning_tokens, "reasoning_tokens") if reasoning_tokens else 0
            if cached > p or reasoning > c:
                raise ValueError("cached_tokens/reasoning_tokens exceed prompt/completion tokens")
            known = True
        flags = 0 if known else FLAG_USAGE_UNKNOWN
        if cost_nanos is not None:
            nanos = to_count(cost_nanos, "cost_nanos")
        elif cost is not None:
            nanos = _nonneg_nanos(cost)
        elif known and self.prices is not None:
            got = self.prices.cost_nanos(model, p, c, cached_tokens=cached,
                                         cache_creation_tokens=write,
                                         reasoning_tokens=reasoning)
            if got is None:
                nanos = 0
                flags |= FLAG_UNPRICED
            elif 0 <= got <= I64_MAX:
                nanos = got
            else:  # huge usage (or prices): never a struct.error / OverflowError
                raise CoerceError("cost", f"{p} prompt and {c} completion tokens of {model!r} "
                                  f"are priced at about 2**{got.bit_length() - 1} nano-dollars, "
                                  "more than int64 holds", got)
        else:
            nanos = 0
            flags |= FLAG_UNPRICED
        if type(latency_ms) is float and 0.0 <= latency_ms < math.inf:
            lat = latency_ms
        else:
            lat = to_latency_ms(latency_ms)
        if type(status) is not int or not 0 <= status <= 999:
            status = parse_status(status)
        t = time.time_ns() if ts is None else time_to_nanos(ts)
        uc = -1 if user is None else self._user_codes.get(user)
        if uc is None:
            uc = self._intern(DEF_USER, user, "user")
        kc = -1 if key is None else self._key_codes.get(key)
        if kc is None:
            kc = self._intern(DEF_KEY, key, "key")
        if request_id is None:
            rid = b""
            rl = -1
        else:
            rid = _utf8(request_id, "request_id")
            rl = len(rid)
        # ---------------------------------------------------------------- critical section
        sealed = None
        lock = self._lock
        lock.acquire()
        try:
            if self._closed:
                raise RuntimeError("record() on a closed Recorder")
            cur = self._cur
            n = cur.n
            if n == _CHUNK_ROWS or cur.nt + ntags > _TAG_CAP or cur.nh + len(rid) > _HEAP_CAP:
                sealed = cur
                cur = self._seal()
                n = 0
            _pack_into(cur.rows, n * RS, t, mc, p, c, nanos, lat, cached, reasoning, uc, kc,
                       rl, status, ntags, flags)
            if ntags:
                nt = cur.nt
                cur.tags[nt * 4:(nt + ntags) * 4] = ids_b
                cur.nt = nt + ntags
            if rl > 0:
                nh = cur.nh
                cur.heap[nh:nh + rl] = rid
                cur.nh = nh + rl
            cur.n = n + 1
            seq = cur.row0 + n + 1
            listeners = self._listeners
            if ndropped:
                self.dropped_tags += ndropped
        finally:
            lock.release()
        # ---------------------------------------------------------------- after
        if sealed is not None:
            self._trim(sealed)
        if self._fd >= 0:
            if self.durability == "always":
                self._sync(seq, True)
            elif seq - self._synced[0] >= self.flush_every:
                self._sync(seq, self.durability == "batch", wait=False)
        if listeners:
            for fn in listeners:
                fn(norm, t, nanos, p + c, bool(flags & FLAG_UNPRICED))

    def _seal(self) -> _Chunk:
        """Start a new current chunk (``_lock`` held); the old one joins the sealed list."""
        cur = self._cur
        self._sealed.append(cur)
        self._cur = _Chunk(*cur.end())
        return self._cur

    @staticmethod
    def _trim(c: _Chunk) -> None:
        """Give back the unused capacity of a sealed chunk (copies, outside the lock)."""
        if len(c.rows) > c.n * RS:
            c.rows = bytes(memoryview(c.rows)[:c.n * RS])
        c.tags = bytes(memoryview(c.tags)[:c.nt * 4])
        c.heap = bytes(memoryview(c.heap)[:c.nh])

    # ------------------------------------------------------------------------ reading

    def _state(self) -> tuple:
        """Everything a snapshot needs; call with ``_lock`` held (no copying here)."""
        return (self._view(), len(self._space.trie), tuple(self._space.names[DEF_MODEL]),
                tuple(self._space.names[DEF_USER]), tuple(self._space.names[DEF_KEY]))

    def _log_from_state(self, state: tuple) -> RequestLog:
        view, n_nodes, models, users, keys = state
        end = view[-1][0].row0 + view[-1][1], view[-1][0].tag0 + view[-1][2], \
            view[-1][0].heap0 + view[-1][3]
        rows_b, tags_b, heap_b = _gather(view, (0, 0, 0), end)
        trie = self._snap_trie
        if trie is None or len(trie) != n_nodes:
            paths = self._space.trie._paths[:n_nodes]  # ids in order: parents come first
            trie = TagTrie(paths)
            self._snap_trie = trie
        return _build_log(np.frombuffer(rows_b, ROW_DTYPE), np.frombuffer(tags_b, "<i4"),
                          heap_b, trie, models, users, keys)

    def snapshot(self) -> RequestLog:
        """Everything recorded so far (with the folder's history) as a :class:`RequestLog`.

        Consistent: exactly the rows whose ``record`` finished before the snapshot's buffer
        swap. Writers are held only while the chunk list is read; copying and conversion run
        outside the lock.

        >>> rec = Recorder()
        >>> for i in range(3):
        ...     rec.record(["a"], model="m", prompt_tokens=i, completion_tokens=0, cost=0.0,
        ...                latency_ms=1.0)
        >>> rec.snapshot().prompt_tokens.tolist()
        [0, 1, 2]
        """
        with self._lock:
            state = self._state()
        return self._log_from_state(state)

    def subscribe(self, callback: Callable[[tuple[str, ...], int, int, int, bool], Any]
                  ) -> RequestLog:
        """Call ``callback(tags, ts_ns, cost_nanos, total_tokens, unpriced)`` after every later
        ``record`` (on the recording thread, outside the lock; keep it fast) and return the
        snapshot of everything recorded before: each request is in exactly one of the two.
        :class:`~tagcore.gateway.budgets.Budgets` uses it to accrue and rebuild.

        >>> rec = Recorder(); seen = []
        >>> len(rec.subscribe(lambda *a: seen.append(a[0])))
        0
        >>> rec.record(["x"], model="m", latency_ms=1.0); seen
        [('x',)]
        """
        if not callable(callback):
            raise TypeError("callback must be callable")
        with self._lock:
            state = self._state()
            self._listeners = (*self._listeners, callback)
        return self._log_from_state(state)

    def unsubscribe(self, callback: Callable[..., Any]) -> None:
        """Stop calling ``callback``.

        >>> rec = Recorder(); f = lambda *a: None; _ = rec.subscribe(f); rec.unsubscribe(f)
        """
        with self._lock:
            self._listeners = tuple(f for f in self._listeners if f != callback)

    def __len__(self) -> int:
        return self._cur.row0 + self._cur.n

    @property
    def durable_rows(self) -> int:
        """Rows whose durability the chosen mode has delivered (all rows without a path: 0).

        >>> Recorder().durable_rows
        0
        """
        return self._durable

    def flush(self) -> None:
        """Make every row recorded so far durable (write + fsync); no-op without a path.

        >>> Recorder().flush()
        """
        if self._error is not None:
            err, self._error = self._error, None
            raise RuntimeError("an earlier background flush failed") from err
        if self._fd >= 0:
            self._sync(len(self), True)

    def close(self) -> None:
        """Flush, compact the tail into a segment, release the folder. Snapshots still work.

        >>> rec = Recorder(); rec.close(); rec.close()
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            with self._io_lock:
                if self._fd >= 0:
                    assert self.path is not None
                    self._write_pending(True)
                    end = self._synced
                    os.close(self._fd)
                    self._fd = -1
                    if end[0] > self._tail_start[0]:
                        self._compact(self._tail_gen, self._tail_start, end)
                    else:
                        (self.path / tail_name(self._tail_gen)).unlink(missing_ok=True)
                        _fsync_dir(self.path)
        finally:
            self._release()
        if self._error is not None:
            err, self._error = self._error, None
            raise RuntimeError("an earlier background flush failed") from err

    def __del__(self) -> None:
        if getattr(self, "_lock_fd", -1) >= 0:
            warnings.warn(f"unclosed {self!r}: rows since the last flush are not on disk",
                          ResourceWarning, stacklevel=1)
            self._stop.set()
            self._release()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        where = f"{str(self.path)!r}, " if self.path is not None else ""
        return (f"Recorder({where}{len(self)} requests, durability={self.durability!r}"
                f"{', closed' if self._closed else ''})")
