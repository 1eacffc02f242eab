"""The recorder's on-disk format: rows, frames, segment and tail files, the folder layout.

This module is the format only (encode, decode, check, list); :mod:`tagcore.gateway.recorder`
holds the writer (locking, group commit, compaction) and the reader that build on it. It needs
numpy and the standard library, not pyarrow.

>>> import numpy as np
>>> rows = np.zeros(1, ROW_DTYPE); rows["ntags"] = 1; rows["rid_len"] = -1
>>> data = file_header(KIND_SEGMENT, 7) + encode_frames(
...     rows.tobytes(), np.array([0], "<i4").tobytes(), b"", lambda kind, code: "a/b")
>>> check_header(data, "seg-00000007.tcs")
True
>>> [(len(f.rows), f.defs[DEF_TAG]) for f in iter_frames(data, "seg-00000007.tcs", False)]
[(1, {0: 'a/b'})]

Row
---
One request is one little-endian row of 77 bytes (``ROW_DTYPE``): ``ts`` int64 ns UTC, ``model``
int32 code, ``prompt_tokens``, ``completion_tokens``, ``cost`` (int64 nano-dollars),
``latency_ms`` float64 (NaN = unknown), ``cached_tokens``, ``reasoning_tokens`` (int64),
``user``, ``key`` (int32 codes, -1 = none), ``rid_len`` (int32 UTF-8 bytes of the request id,
-1 = none), ``status`` uint16, ``ntags`` uint16, ``flags`` uint8 (bit 0 ``usage_unknown``:
the upstream gave no usage, tokens are recorded as 0; bit 1 ``unpriced``: no cost was given and
the price table could not price the request, cost is recorded as 0 and is *not* known to be 0).
The request's tag ids (int32) and request-id bytes go to two side buffers. In a snapshot the
flags become the int extras ``usage_unknown`` and ``unpriced`` (0/1) of the log; tags stay clean.

On-disk format (folder)
-----------------------
::

    usage/
      LOCK                    flock()ed by the one live writer (holds its pid)
      seg-00000001.tcs        immutable segment: written to .seg-*.tmp, fsync, rename, dir fsync
      tail-00000002.tcl       append-only tail of the live writer

Both file kinds are a 24-byte header followed by *frames*. Header: ``b"TCRECORD"``, u16 version
(1), u16 kind (1 tail, 2 segment), u64 generation, u32 CRC32 of the 20 bytes before it.
A frame is self-contained (so any frame can be read, or lost, on its own)::

    b"TCF1" | u32 payload length | u32 CRC32(length bytes + payload) | payload
    payload = u32 nrows, u32 ntag_ids, u32 nheap, u32 ndefs, u32 defs_bytes
              defs: ndefs x (u8 kind 0 tag / 1 model / 2 user / 3 key, i32 code, u16 len, UTF-8)
              rows: nrows x 77-byte rows, tag ids: ntag_ids x int32, request-id bytes: nheap

Codes in the rows are the writer's; the frame's string table (``defs``) names every code the
frame uses, so a reader maps them to its own trie and dictionaries. Every sync (see the
recorder's durability modes)
appends one frame per at most 65,536 rows to the tail with a single ``os.write``. When the tail
holds ``segment_rows`` rows the writer starts the next generation's tail and *compacts* the full
one into ``seg-<gen>.tcs`` (large frames, written atomically), then deletes the tail. A segment
wins over a tail of the same generation (a crash between the rename and the unlink leaves both),
so no row is ever read twice; only when the segment is damaged and the tail holds more rows are
the rows read from the tail. pyarrow is not needed.

Reading: frames are checked for magic, length and CRC. A bad or torn frame is skipped with a
:class:`RecorderWarning` and reading resynchronises on the next valid frame magic (so a flipped
byte costs one frame, a torn end costs the partial frame). A damaged file header costs nothing:
frames are self-contained and are read on their own. An incomplete last frame of the newest
tail while a writer holds the lock is a write in progress and is ignored silently.

Opening a folder as a writer loads every valid row (the snapshot continues the history),
rewrites each leftover tail, and each damaged segment, as a sound segment, and starts a new tail
generation. Damaged files are never deleted: a file with any byte that was not read as header or
frame (a flipped byte, a torn end, garbage) is kept as ``<name>.damaged`` (see
:func:`quarantine_name`) with a warning that says how many rows were recovered and how many
frames were lost; the writer's ``damage`` lists them (:class:`FileDamage`). A file is deleted
only when every byte of it was read and its rows are in a sound, fsynced segment.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = [
    "ROW", "ROW_DTYPE", "RS", "FLAG_USAGE_UNKNOWN", "FLAG_UNPRICED", "FILE_MAGIC", "FILE_HEAD",
    "FILE_HEAD_SIZE", "VERSION", "KIND_TAIL", "KIND_SEGMENT", "FRAME_MAGIC", "FRAME_HEAD",
    "PAYLOAD_HEAD", "DEF", "DEF_TAG", "DEF_MODEL", "DEF_USER", "DEF_KEY", "FRAME_ROWS",
    "RecorderWarning", "Frame", "encode_frames", "decode_payload", "iter_frames", "file_header",
    "check_header", "list_folder", "segment_name", "tail_name", "temp_segment_name",
    "TEMP_SEGMENT_GLOB", "FileDamage", "FileScan", "scan_file", "quarantine_name",
    "QUARANTINE_SUFFIX",
]

ROW = struct.Struct("<qiqqqdqqiiiHHB")
ROW_DTYPE = np.dtype([
    ("ts", "<i8"), ("model", "<i4"), ("prompt_tokens", "<i8"), ("completion_tokens", "<i8"),
    ("cost", "<i8"), ("latency_ms", "<f8"), ("cached_tokens", "<i8"),
    ("reasoning_tokens", "<i8"), ("user", "<i4"), ("key", "<i4"), ("rid_len", "<i4"),
    ("status", "<u2"), ("ntags", "<u2"), ("flags", "u1"),
])
RS = ROW.size
assert ROW_DTYPE.itemsize == RS == 77

FLAG_USAGE_UNKNOWN = 1
FLAG_UNPRICED = 2

FRAME_ROWS = 65536                  # rows per frame at most

FILE_MAGIC = b"TCRECORD"
FILE_HEAD = struct.Struct("<8sHHQ")
FILE_HEAD_SIZE = FILE_HEAD.size + 4
VERSION = 1
KIND_TAIL, KIND_SEGMENT = 1, 2
FRAME_MAGIC = b"TCF1"
FRAME_HEAD = struct.Struct("<4sII")
PAYLOAD_HEAD = struct.Struct("<IIIII")
DEF = struct.Struct("<BiH")
_U32 = struct.Struct("<I")
DEF_TAG, DEF_MODEL, DEF_USER, DEF_KEY = 0, 1, 2, 3
_MAX_PAYLOAD = 2**32 - 1


class RecorderWarning(UserWarning):
    """Data on disk that was skipped: a torn or corrupt frame, an unreadable file."""


# ------------------------------------------------------------------------------------------------
# file names


def segment_name(gen: int) -> str:
    """File name of generation ``gen``'s immutable segment.

    >>> segment_name(1)
    'seg-00000001.tcs'
    """
    return f"seg-{gen:08d}.tcs"


def tail_name(gen: int) -> str:
    """File name of generation ``gen``'s append-only tail.

    >>> tail_name(2)
    'tail-00000002.tcl'
    """
    return f"tail-{gen:08d}.tcl"


def temp_segment_name(gen: int) -> str:
    """Name a segment is written under before its atomic rename (hidden; see TEMP_SEGMENT_GLOB).

    >>> temp_segment_name(3)
    '.seg-00000003.tmp'
    """
    return f".seg-{gen:08d}.tmp"


TEMP_SEGMENT_GLOB = ".seg-*.tmp"
QUARANTINE_SUFFIX = ".damaged"


def quarantine_name(folder: Path, name: str) -> Path:
    """A free name to keep a damaged file under, beside it: ``<name>.damaged`` (then
    ``.damaged.1``, ...). Such names are never read as data files again.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     quarantine_name(Path(d), "tail-00000002.tcl").name
    'tail-00000002.tcl.damaged'
    """
    p = folder / (name + QUARANTINE_SUFFIX)
    i = 0
    while p.exists() or p.is_symlink():
        i += 1
        p = folder / f"{name}{QUARANTINE_SUFFIX}.{i}"
    return p


def list_folder(folder: Path) -> dict[int, dict[str, Path]]:
    """The folder's data files by generation: ``{gen: {"seg": path, "tail": path}}``.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = (Path(d) / tail_name(2)).write_bytes(b"")
    ...     {g: sorted(k) for g, k in list_folder(Path(d)).items()}
    {2: ['tail']}
    """
    gens: dict[int, dict[str, Path]] = {}
    for p in folder.iterdir():
        name = p.name
        for prefix, suffix, kind in (("seg-", ".tcs", "seg"), ("tail-", ".tcl", "tail")):
            if name.startswith(prefix) and name.endswith(suffix):
                try:
                    g = int(name[len(prefix):-len(suffix)])
                except ValueError:
                    continue
                gens.setdefault(g, {})[kind] = p
    return gens



# ------------------------------------------------------------------------------------------------
def encode_frames(rows_b: bytes, tags_b: bytes, heap_b: bytes,
                   name_of: Callable[[int, int], str]) -> bytes:
    """Frames (bytes) for the given rows; ``name_of(kind, code)`` names the writer's codes."""
    rows = np.frombuffer(rows_b, ROW_DTYPE)
    tags = np.frombuffer(tags_b, "<i4")
    n = rows.shape[0]
    tcum = np.zeros(n + 1, np.int64)
    np.cumsum(rows["ntags"], out=tcum[1:])
    hcum = np.zeros(n + 1, np.int64)
    np.cumsum(np.maximum(rows["rid_len"], 0), out=hcum[1:])
    out = []
    for i in range(0, n, FRAME_ROWS):
        j = min(n, i + FRAME_ROWS)
        r = rows[i:j]
        t = tags[tcum[i]:tcum[j]]
        h = heap_b[hcum[i]:hcum[j]]
        defs = []
        for kind, codes in ((DEF_TAG, np.unique(t)), (DEF_MODEL, np.unique(r["model"])),
                            (DEF_USER, np.unique(r["user"])), (DEF_KEY, np.unique(r["key"]))):
            for code in codes.tolist():
                if code < 0:
                    continue
                s = name_of(kind, code).encode("utf-8")
                defs.append(DEF.pack(kind, code, len(s)))
                defs.append(s)
        defs_b = b"".join(defs)
        ndefs = len(defs) // 2
        payload = b"".join((PAYLOAD_HEAD.pack(j - i, t.shape[0], len(h), ndefs, len(defs_b)),
                            defs_b, rows_b[i * RS:j * RS], t.tobytes(), h))
        if len(payload) > _MAX_PAYLOAD:  # pragma: no cover - 65,536 rows never get there
            raise ValueError("frame too large")
        lb = _U32.pack(len(payload))
        crc = zlib.crc32(payload, zlib.crc32(lb))
        out.append(FRAME_HEAD.pack(FRAME_MAGIC, len(payload), crc))
        out.append(payload)
    return b"".join(out)


class Frame:
    """One decoded frame: ``rows`` (``ROW_DTYPE``), ``tags`` (int32), ``heap`` (request-id
    bytes) and ``defs`` (``{kind: {code: string}}``), all in the writer's codes."""

    __slots__ = ("rows", "tags", "heap", "defs")

    def __init__(self, rows, tags, heap, defs):
        self.rows, self.tags, self.heap, self.defs = rows, tags, heap, defs


def decode_payload(p: memoryview) -> Frame:
    """Parse one payload; raises ValueError when it is inconsistent."""
    if len(p) < PAYLOAD_HEAD.size:
        raise ValueError("payload shorter than its header")
    nrows, ntags, nheap, ndefs, ndefb = PAYLOAD_HEAD.unpack_from(p, 0)
    pos = PAYLOAD_HEAD.size
    if pos + ndefb + nrows * RS + ntags * 4 + nheap != len(p):
        raise ValueError("payload sizes do not add up")
    defs: dict[int, dict[int, str]] = {DEF_TAG: {}, DEF_MODEL: {}, DEF_USER: {}, DEF_KEY: {}}
    end = pos + ndefb
    for _ in range(ndefs):
        if pos + DEF.size > end:
            raise ValueError("string table overruns")
        kind, code, ln = DEF.unpack_from(p, pos)
        pos += DEF.size
        if kind not in defs or pos + ln > end or code < 0:
            raise ValueError("bad string table entry")
        defs[kind][code] = bytes(p[pos:pos + ln]).decode("utf-8")
        pos += ln
    if pos != end:
        raise ValueError("string table size mismatch")
    rows = np.frombuffer(p, ROW_DTYPE, count=nrows, offset=pos)
    pos += nrows * RS
    tags = np.frombuffer(p, "<i4", count=ntags, offset=pos)
    pos += ntags * 4
    heap = bytes(p[pos:pos + nheap])
    if int(rows["ntags"].sum()) != ntags or int(np.maximum(rows["rid_len"], 0).sum()) != nheap:
        raise ValueError("row counts disagree with the side buffers")
    return Frame(rows, tags, heap, defs)


def _try_frame(data: bytes, mv: memoryview, pos: int) -> tuple[Frame | None, int]:
    """The valid frame at ``pos`` and where it ends, or ``(None, pos)``."""
    if len(data) - pos < FRAME_HEAD.size:
        return None, pos
    magic, ln, crc = FRAME_HEAD.unpack_from(data, pos)
    start = pos + FRAME_HEAD.size
    if magic != FRAME_MAGIC or start + ln > len(data):
        return None, pos
    payload = mv[start:start + ln]
    if zlib.crc32(payload, zlib.crc32(_U32.pack(ln))) != crc:
        return None, pos
    try:
        return decode_payload(payload), start + ln
    except (ValueError, UnicodeDecodeError):
        return None, pos


def _walk(data: bytes) -> Iterator[tuple[Frame | None, int, int]]:
    """``(frame, start, end)`` for every valid frame after the file header, and
    ``(None, start, end)`` for every damaged stretch between them: after damage, reading
    resumes at the next place where a whole frame checks out (magic, length, CRC), so every
    frame whose bytes are intact is found, whatever came before it."""
    mv = memoryview(data)
    pos, n = FILE_HEAD_SIZE, len(data)
    bad_from = None
    while pos < n:
        frame, end = _try_frame(data, mv, pos)
        if frame is not None:
            if bad_from is not None:
                yield None, bad_from, pos
                bad_from = None
            yield frame, pos, end
            pos = end
            continue
        if bad_from is None:
            bad_from = pos
        nxt = data.find(FRAME_MAGIC, pos + 1)
        if nxt < 0:
            break
        pos = nxt
    if bad_from is not None:
        yield None, bad_from, n


def _lost_frames(data: bytes, start: int, end: int) -> int:
    """Frames a damaged stretch held: the frame marks in it (at least one)."""
    return max(1, data.count(FRAME_MAGIC, start, end))


def _warn_stretch(data: bytes, fname: str, start: int, end: int, stacklevel: int) -> None:
    k = _lost_frames(data, start, end)
    lost = f"{k} frame{'s' if k > 1 else ''} lost"
    if end < len(data):
        warnings.warn(f"{fname}: skipped {end - start} corrupt bytes at offset {start} (bad "
                      f"magic, length or CRC; {lost})", RecorderWarning, stacklevel=stacklevel)
    else:
        warnings.warn(f"{fname}: skipped a torn or corrupt tail of {end - start} bytes at "
                      f"offset {start} ({lost})", RecorderWarning, stacklevel=stacklevel)


def iter_frames(data: bytes, fname: str, live_end: bool) -> Iterable[Frame]:
    """Valid frames of a file body. A damaged stretch is skipped with one warning and reading
    resumes at the next valid frame; damage reaching the end of the file is a torn tail (silent
    when ``live_end``: the newest tail of a live writer may end in a write in progress)."""
    n = len(data)
    for frame, start, end in _walk(data):
        if frame is not None:
            yield frame
        elif end < n or not live_end:
            _warn_stretch(data, fname, start, end, 4)


class FileDamage(NamedTuple):
    """What reading one damaged recorder file found, and where its bytes are kept.

    ``header_ok``: whether the 24-byte header checked out; ``frames`` and ``rows``: what was
    recovered (every frame whose CRC holds); ``lost_frames`` (counted by the frame marks in
    the damaged bytes, at least one per damaged stretch) and ``lost_bytes``: what was not;
    ``kept_as``: the name the writer quarantined the original under (``None`` when reading).

    >>> FileDamage("tail-00000002.tcl", False, 3000, 3000, 0, 0, "tail-00000002.tcl.damaged")
    FileDamage(file='tail-00000002.tcl', header_ok=False, frames=3000, rows=3000, lost_frames=0, lost_bytes=0, kept_as='tail-00000002.tcl.damaged')
    """

    file: str
    header_ok: bool
    frames: int
    rows: int
    lost_frames: int
    lost_bytes: int
    kept_as: str | None = None

    def describe(self) -> str:
        """One line for a warning or a log's ``problems``.

        >>> print(FileDamage("seg-00000001.tcs", True, 2, 70, 1, 99).describe())
        seg-00000001.tcs: damaged (99 bytes unreadable); recovered 70 rows in 2 frames, lost 1 frame
        """
        what = [] if self.header_ok else ["bad file header"]
        if self.lost_bytes:
            what.append(f"{self.lost_bytes} bytes unreadable")
        lost = f"lost {self.lost_frames} frame{'s' if self.lost_frames != 1 else ''}"
        kept = f"; the original is kept as {self.kept_as}" if self.kept_as else ""
        return (f"{self.file}: damaged ({', '.join(what)}); recovered {self.rows} rows in "
                f"{self.frames} frames, {lost}{kept}")


class FileScan:
    """Every valid frame of one file, and what could not be read: ``frames`` (``nframes``),
    ``rows``, ``header_ok``, ``lost_frames``, ``lost_bytes``; ``damaged`` is True when any byte of a
    non-empty file was not read as header or frame (a torn end too: the file is then kept)."""

    __slots__ = ("name", "size", "frames", "nframes", "rows", "header_ok", "lost_frames",
                 "lost_bytes")

    def __init__(self, name: str, size: int, frames: list[Frame], header_ok: bool,
                 lost_frames: int, lost_bytes: int) -> None:
        self.name, self.size, self.frames, self.header_ok = name, size, frames, header_ok
        self.nframes = len(frames)  # stays when a caller releases ``frames`` (and the file's bytes)
        self.rows = sum(int(f.rows.shape[0]) for f in frames)
        self.lost_frames, self.lost_bytes = lost_frames, lost_bytes

    @property
    def damaged(self) -> bool:
        return self.size > 0 and (not self.header_ok or self.lost_bytes > 0)

    def damage(self, kept_as: str | None = None) -> FileDamage:
        return FileDamage(self.name, self.header_ok, self.nframes, self.rows,
                          self.lost_frames, self.lost_bytes, kept_as)


def scan_file(data: bytes, fname: str, live_end: bool = False) -> FileScan:
    """Read a whole segment or tail file: every frame whose CRC holds, even when the file
    header is damaged (frames are self-contained), and how much was lost. Damaged stretches
    warn (:class:`RecorderWarning`) as in :func:`iter_frames`; with ``live_end`` a damaged
    end (a write in progress of a live writer) is neither warned about nor counted.

    >>> data = bytearray(file_header(KIND_TAIL, 2) + encode_frames(
    ...     np.zeros(1, ROW_DTYPE).tobytes(), b"", b"", lambda kind, code: "m"))
    >>> data[3] ^= 0xFF                       # a flipped byte in the header
    >>> import warnings
    >>> with warnings.catch_warnings(record=True):
    ...     scan = scan_file(bytes(data), "tail-00000002.tcl")
    >>> scan.header_ok, scan.rows, scan.damaged
    (False, 1, True)
    """
    header_ok = check_header(data, fname, stacklevel=4)
    frames: list[Frame] = []
    lost_frames = lost_bytes = 0
    n = len(data)
    for frame, start, end in _walk(data):
        if frame is not None:
            frames.append(frame)
        elif end < n or not live_end:
            _warn_stretch(data, fname, start, end, 4)
            lost_frames += _lost_frames(data, start, end)
            lost_bytes += end - start
    return FileScan(fname, n, frames, header_ok, lost_frames, lost_bytes)


def file_header(kind: int, gen: int) -> bytes:
    """The 24-byte header of a tail (``KIND_TAIL``) or segment (``KIND_SEGMENT``) file.

    >>> len(file_header(KIND_TAIL, 1)), file_header(KIND_TAIL, 1)[:8]
    (24, b'TCRECORD')
    """
    h = FILE_HEAD.pack(FILE_MAGIC, VERSION, kind, gen)
    return h + _U32.pack(zlib.crc32(h))


def check_header(data: bytes, fname: str, stacklevel: int = 3) -> bool:
    """Whether ``data`` starts with a valid file header; warns (``RecorderWarning``) when not.
    A header of another format version is a ``ValueError``. A bad header does not make the
    frames after it unreadable: :func:`scan_file` reads them on their own.

    >>> check_header(file_header(KIND_SEGMENT, 3), "seg-00000003.tcs")
    True
    """
    if len(data) < FILE_HEAD_SIZE:
        warnings.warn(f"{fname}: file shorter than its header ({len(data)} bytes)",
                      RecorderWarning, stacklevel=stacklevel)
        return False
    magic, version, _kind, _gen = FILE_HEAD.unpack_from(data, 0)
    (crc,) = _U32.unpack_from(data, FILE_HEAD.size)
    if magic != FILE_MAGIC or zlib.crc32(data[:FILE_HEAD.size]) != crc:
        warnings.warn(f"{fname}: bad file header (magic or CRC); its frames are read on their "
                      "own", RecorderWarning, stacklevel=stacklevel)
        return False
    if version != VERSION:
        raise ValueError(f"{fname}: recorder format version {version}, this tagcore reads {VERSION}")
    return True


