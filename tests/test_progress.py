"""Progress in rows decoded (issue 10): readers' callbacks, the shared Progress object, the CLI
bar; the oracle is the log read (its length) and the order of the calls."""

from __future__ import annotations

import io
import json

import pytest

import tagcore as tc
import tagcore.cli as cli
from tagcore._progress import Progress, TextBar
from tagcore.io import _text

pytest.importorskip("pyarrow")


def checked(seen: list[tuple[int, int]], n: int, several: bool = True) -> None:
    """Non-decreasing row counts, each within its total, ending at ``(n, n)``."""
    assert seen and seen[-1] == (n, n)
    if several:
        assert len(seen) > 3
    done = [d for d, _ in seen]
    assert done == sorted(done)
    assert all(0 <= d <= t for d, t in seen)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_text_readers_report_rows_chunk_by_chunk(fmt, tmp_path, monkeypatch):
    monkeypatch.setattr(_text, "JSONL_CHUNK", 4096)
    monkeypatch.setattr(_text, "CSV_CHUNK", 4096)
    log = tc.load_sample()
    path = tmp_path / f"s.{fmt}"
    getattr(log, f"to_{fmt}")(path)
    seen: list[tuple[int, int]] = []
    back = getattr(tc, f"read_{fmt}")(path, progress=lambda d, t: seen.append((d, t)))
    assert len(back) == len(log)
    checked(seen, len(log))
    seen.clear()
    tc.read_any(path, progress=lambda d, t: seen.append((d, t)))
    checked(seen, len(log))


def test_the_python_path_reports_once_at_the_end(tmp_path):
    path = tmp_path / "odd.jsonl"
    path.write_text('{"ts": 1, "cost": 0.1, "request_tags": ["a"]}\n'
                    '{"ts": 2, "cost": "0.2", "request_tags": ["b"]}\n')  # mixed kinds
    assert _text.jsonl_log(_text.TextInput(path)) is None  # the compiled path refuses
    seen: list[tuple[int, int]] = []
    assert len(tc.read_jsonl(path, progress=lambda d, t: seen.append((d, t)))) == 2
    assert seen == [(2, 2)]


def test_parquet_reports_rows_per_row_group(tmp_path):
    log = tc.load_sample()
    path = tmp_path / "s.parquet"
    log.to_parquet(path, row_group_size=500)
    seen: list[tuple[int, int]] = []
    tc.read_parquet(path, progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, len(log)) and len(seen) == 1 + 8
    checked(seen, len(log))


def test_progress_object_callback_and_bars():
    seen: list[tuple[int, int]] = []
    p = Progress(lambda d, t: seen.append((d, t)), None)
    p.add(3)
    p.update(10, 40)
    p.close()
    assert seen == [(3, 3), (10, 40)]
    buf = io.StringIO()
    bar = TextBar("f", buf)
    bar.update(5)
    assert buf.getvalue() == "\rreading f: 5 rows"
    bar.close()
    assert buf.getvalue().endswith(" s\n")
    p = Progress(None, 10)  # nothing at all
    p.add(10)
    p.close()


def test_progress_true_without_tqdm_draws_text(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    buf = io.StringIO()
    p = Progress(True, 100, desc="scan", stream=buf)
    assert isinstance(p.bar, TextBar)
    p.add(40)
    p.close()
    assert buf.getvalue().startswith("\rreading scan [########............]  40.0%")


def test_cli_bar_counts_rows_while_parsing(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(_text, "JSONL_CHUNK", 4096)
    monkeypatch.setattr(cli, "PROGRESS_DELAY", 0.0)
    log = tc.load_sample()
    path = tmp_path / "p.jsonl"
    log.to_jsonl(path)
    drawn: list[tuple[int, int | None]] = []
    real = cli._Progress.update

    def spy(self, done, total=None):
        drawn.append((done, total))
        real(self, done, total)

    monkeypatch.setattr(cli._Progress, "update", spy)
    assert cli.main(["report", str(path), "--progress", "--last", "all"]) == 0
    err = capsys.readouterr().err
    assert "\rreading p.jsonl [" in err and f"({len(log):,} of {len(log):,} rows)" in err
    assert len(drawn) > 3 and drawn[-1] == (len(log), len(log))
    assert [d for d, _ in drawn] == sorted(d for d, _ in drawn)


def test_read_any_tells_the_rows_of_a_file_read_whole(tmp_path):
    """A vendor export or a JSON array is read whole: its rows are told once, at the end."""
    rec = {"request_id": "r1", "model": "gpt-4o", "spend": 0.000225, "prompt_tokens": 10,
           "completion_tokens": 20, "startTime": 1766000068.2, "endTime": 1766000070.1,
           "request_tags": ["env:prod"]}
    path = tmp_path / "spend.json"
    path.write_text(json.dumps([{**rec, "request_id": f"r{i}"} for i in range(7)]))
    seen: list[tuple[int, int]] = []
    log = tc.read_any(path, progress=lambda d, t: seen.append((d, t)))
    assert len(log) == 7 and seen == [(7, 7)]
    native = tmp_path / "native.json"
    native.write_text(json.dumps([
        {"ts": 1767225600 + i, "model": "m", "prompt_tokens": 1, "completion_tokens": 2,
         "cost": 0.5, "latency_ms": 3.0, "status": 200, "request_tags": ["a/b"]}
        for i in range(5)]))
    seen.clear()
    back = tc.read_any(native, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(len(back), len(back))] and len(back) == 5
