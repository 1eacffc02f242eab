"""Issue 12, item 4: a flipped byte must never delete recorded data.

Every test reproduces an attack that lost rows before: a damaged file is kept aside (never
deleted), every frame whose CRC holds is recovered, and the loss is counted.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import warnings
import zlib
from pathlib import Path

import pytest

from tagcore.gateway.segments import FILE_HEAD_SIZE, FRAME_HEAD, FRAME_MAGIC, list_folder
from tagcore.recorder import Recorder, RecorderWarning, read_recorded


def record_some(rec: Recorder, start: int, n: int) -> None:
    for i in range(start, start + n):
        rec.record([f"customer/c{i % 3}", "env/prod"], model=f"m{i % 2}",
                   prompt_tokens=i, completion_tokens=1, cost_nanos=i, latency_ms=float(i),
                   ts=i, request_id=f"r{i}" if i % 2 else None, user=f"u{i % 4}")


def crashed_copy(tmp_path: Path, n: int, *, flush_every: int = 1,
                 segment_rows: int = 10**6) -> tuple[Path, Recorder]:
    """A folder as a kill -9 leaves it: every file copied while the writer is live."""
    src = tmp_path / "src"
    rec = Recorder(src, durability="none", flush_every=flush_every, segment_rows=segment_rows)
    record_some(rec, 0, n)
    rec.flush()
    dst = tmp_path / "crashed"
    dst.mkdir()
    for p in src.iterdir():
        shutil.copy(p, dst / p.name)
    return dst, rec


def frames_of(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every frame of a sound file, walked by the lengths in the frames."""
    out, pos = [], FILE_HEAD_SIZE
    while pos < len(data):
        magic, ln, _crc = FRAME_HEAD.unpack_from(data, pos)
        assert magic == FRAME_MAGIC
        out.append((pos, pos + FRAME_HEAD.size + ln))
        pos += FRAME_HEAD.size + ln
    return out


def rows_of_frame(data: bytes, start: int) -> list[int]:
    """prompt_tokens of a frame's rows (record_some makes them the row numbers)."""
    from tagcore.gateway.segments import decode_payload

    _m, ln, _c = FRAME_HEAD.unpack_from(data, start)
    payload = memoryview(data)[start + FRAME_HEAD.size:start + FRAME_HEAD.size + ln]
    return decode_payload(payload).rows["prompt_tokens"].tolist()


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "LOCK"}


def assert_nothing_deleted(before: dict[str, bytes], folder: Path) -> None:
    """Every data file's bytes are still in the folder, in place or under a quarantine name."""
    now = contents(folder)
    held = set(now.values())
    for name, data in before.items():
        assert data in held, f"{name} was deleted ({sorted(now)})"


# ------------------------------------------------------------------------------ the case


def test_flipped_header_byte_keeps_the_whole_tail(tmp_path):
    """One flipped byte in a tail's 24-byte header made read_recorded skip all 3,000
    CRC-valid frames, and the next writer deleted the file for good."""
    folder, rec = crashed_copy(tmp_path, 3000)
    tail = next(p for p in folder.iterdir() if p.name.startswith("tail-"))
    data = bytearray(tail.read_bytes())
    assert len(frames_of(bytes(data))) == 3000
    data[9] ^= 0x40  # the version field: the header CRC no longer holds
    tail.write_bytes(bytes(data))
    before = contents(folder)

    with pytest.warns(RecorderWarning, match="bad file header"):
        log = read_recorded(folder)
    assert log.prompt_tokens.tolist() == list(range(3000))
    assert any("bad file header" in p for p in log.problems)

    with pytest.warns(RecorderWarning, match=r"recovered 3000 rows in 3000 frames, lost 0"):
        rec2 = Recorder(folder)
    assert len(rec2) == 3000
    (d,) = rec2.damage
    assert (d.file, d.header_ok, d.rows, d.lost_frames) == (str(tail), False, 3000, 0)
    assert (folder / d.kept_as).read_bytes() == bytes(data)  # quarantined, byte for byte
    assert_nothing_deleted(before, folder)
    record_some(rec2, 3000, 5)
    rec2.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repaired: a sound segment, nothing to warn about
        assert read_recorded(folder).prompt_tokens.tolist() == list(range(3005))
    rec.close()


# ------------------------------------------------------------------ random damage, every file


@pytest.mark.parametrize("seed", range(8))
def test_random_flips_in_every_file_lose_only_the_frames_they_hit(tmp_path, seed):
    """Random bytes flipped in every file of a recorder folder (segments, tail, LOCK; headers
    included): reopening as a writer deletes no file and recovers every intact frame."""
    rng = random.Random(seed)
    folder, rec = crashed_copy(tmp_path, 1200, flush_every=rng.choice([1, 7, 50]),
                               segment_rows=rng.choice([150, 400]))
    gens = list_folder(folder)
    assert len(gens) >= 3 and "tail" in gens[max(gens)]
    want: list[int] = []
    intact_rows: dict[str, int] = {}
    for g in sorted(gens):
        (p,) = gens[g].values()
        data = bytearray(p.read_bytes())
        spans = frames_of(bytes(data))
        flips = set()
        if rng.random() < 0.4:
            flips.add(rng.randrange(FILE_HEAD_SIZE))  # the file header
        for _ in range(rng.randint(1, 3)):
            flips.add(rng.randrange(len(data)))
        for pos in flips:
            data[pos] ^= rng.randrange(1, 256)
        intact_rows[p.name] = 0
        for a, b in spans:
            if not any(a <= pos < b for pos in flips):
                rows = rows_of_frame(p.read_bytes(), a)
                want.extend(rows)
                intact_rows[p.name] += len(rows)
        p.write_bytes(bytes(data))
    lock = folder / "LOCK"
    lock.write_bytes(bytes(b ^ 0x5A for b in lock.read_bytes()))
    before = contents(folder)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecorderWarning)
        assert read_recorded(folder).prompt_tokens.tolist() == want
        rec2 = Recorder(folder)
    assert rec2.snapshot().prompt_tokens.tolist() == want
    assert_nothing_deleted(before, folder)
    # every data file was hit, so every one is reported, with exactly its intact rows
    assert {Path(d.file).name: d.rows for d in rec2.damage} == intact_rows
    assert all(d.kept_as and (folder / d.kept_as).exists() for d in rec2.damage)
    rec2.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_recorded(folder).prompt_tokens.tolist() == want
        Recorder(folder).close()  # a second open finds nothing left to repair
    assert_nothing_deleted(before, folder)
    rec.close()


def test_every_frame_of_a_damaged_file_is_counted(tmp_path):
    folder, rec = crashed_copy(tmp_path, 20)
    tail = next(p for p in folder.iterdir() if p.name.startswith("tail-"))
    data = bytearray(tail.read_bytes())
    spans = frames_of(bytes(data))
    for k in (3, 4, 11):  # three frames, two of them side by side
        a, b = spans[k]
        data[(a + b) // 2] ^= 0xFF
    tail.write_bytes(bytes(data))
    with pytest.warns(RecorderWarning, match="lost 3 frames"):
        rec2 = Recorder(folder)
    (d,) = rec2.damage
    assert (d.rows, d.frames, d.lost_frames, d.header_ok) == (17, 17, 3, True)
    assert rec2.snapshot().prompt_tokens.tolist() == [i for i in range(20) if i not in (3, 4, 11)]
    rec2.close()
    rec.close()


# ----------------------------------------------------------------------------- compaction


def test_damaged_segment_never_wins_over_its_sound_tail(tmp_path):
    """A crash between compaction's rename and unlink leaves seg-N and tail-N. The segment
    won unconditionally: with a damaged segment, the reader lost its rows and the next writer
    deleted the tail that still held them."""
    path = tmp_path / "u"
    rec = Recorder(path, durability="always")
    record_some(rec, 0, 10)
    tail = next(p for p in path.iterdir() if p.name.startswith("tail-"))
    saved = tail.read_bytes()
    rec.close()  # compacts the tail into one segment frame, deletes the tail
    seg = next(p for p in path.iterdir() if p.name.startswith("seg-"))
    data = bytearray(seg.read_bytes())
    data[len(data) // 2] ^= 0x01  # bit rot in the segment's only frame
    seg.write_bytes(bytes(data))
    tail.write_bytes(saved)
    before = {seg.name: bytes(data)}  # the sound tail may go once its rows are in a segment

    with pytest.warns(RecorderWarning, match="corrupt"):
        assert read_recorded(path).prompt_tokens.tolist() == list(range(10))
    with pytest.warns(RecorderWarning, match=r"seg-\d+\.tcs: damaged"):
        rec2 = Recorder(path)
    assert rec2.snapshot().prompt_tokens.tolist() == list(range(10))
    assert [d.file for d in rec2.damage] == [str(seg)]
    assert (path / rec2.damage[0].kept_as).read_bytes() == bytes(data)
    assert_nothing_deleted(before, path)
    assert not tail.exists()  # its rows are in the new, sound segment
    rec2.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_recorded(path).prompt_tokens.tolist() == list(range(10))


def test_tail_with_more_rows_than_its_segment_is_read(tmp_path):
    """A tail is deleted only when its segment holds at least its rows; when the tail holds
    more, its rows are the generation's."""
    path = tmp_path / "u"
    rec = Recorder(path, durability="always")
    record_some(rec, 0, 10)
    tail = next(p for p in path.iterdir() if p.name.startswith("tail-"))
    saved = tail.read_bytes()
    rec.close()
    # a sound segment of the first 4 rows only (as a buggy or foreign compaction might leave)
    seg = next(p for p in path.iterdir() if p.name.startswith("seg-"))
    spans = frames_of(saved)
    seg.write_bytes(seg.read_bytes()[:FILE_HEAD_SIZE] + saved[spans[0][0]:spans[3][1]])
    tail.write_bytes(saved)
    assert read_recorded(path).prompt_tokens.tolist() == list(range(10))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec2 = Recorder(path)
    assert rec2.snapshot().prompt_tokens.tolist() == list(range(10))
    rec2.close()
    assert read_recorded(path).prompt_tokens.tolist() == list(range(10))


def test_a_crash_after_the_quarantine_link_is_picked_up(tmp_path):
    """The writer links a damaged file aside before replacing or removing it; a crash right
    after the link leaves both names, and the next open reuses the link."""
    folder, rec = crashed_copy(tmp_path, 10)
    tail = next(p for p in folder.iterdir() if p.name.startswith("tail-"))
    data = bytearray(tail.read_bytes())
    data[FILE_HEAD_SIZE + 20] ^= 0xFF
    tail.write_bytes(bytes(data))
    os.link(tail, folder / (tail.name + ".damaged"))
    with pytest.warns(RecorderWarning):
        rec2 = Recorder(folder)
    assert rec2.damage[0].kept_as == tail.name + ".damaged"
    assert sorted(p.name for p in folder.iterdir() if ".damaged" in p.name) == [
        tail.name + ".damaged"]
    assert len(rec2) == 9
    rec2.close()
    rec.close()


def test_torn_tail_is_kept_not_deleted(tmp_path):
    """A torn end may be a cut-short write or a damaged length field: both keep the file."""
    folder, rec = crashed_copy(tmp_path, 20)
    tail = next(p for p in folder.iterdir() if p.name.startswith("tail-"))
    data = tail.read_bytes()[:-30]
    tail.write_bytes(data)
    with pytest.warns(RecorderWarning, match="torn or corrupt tail"):
        rec2 = Recorder(folder)
    assert len(rec2) == 19
    assert (folder / rec2.damage[0].kept_as).read_bytes() == data
    rec2.close()
    rec.close()


def test_header_only_and_empty_tails_are_still_removed(tmp_path):
    """Nothing to keep: a tail with a sound header and no frames, or an empty file."""
    path = tmp_path / "u"
    Recorder(path).close()
    (path / "tail-00000007.tcl").write_bytes(b"")
    hdr = struct.pack("<8sHHQ", b"TCRECORD", 1, 1, 8)
    (path / "tail-00000008.tcl").write_bytes(hdr + struct.pack("<I", zlib.crc32(hdr)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecorderWarning)
        Recorder(path).close()
    assert sorted(p.name for p in path.iterdir() if p.name != "LOCK") == []
