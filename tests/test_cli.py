"""The ``tagcore`` command, run in-process with ``main([...])`` and twice as a real process.

Expected numbers come from plain pandas over ``load_sample().to_pandas()``, not from the query
API, except where a test checks that machine output equals the API's frame.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

import tagcore as tc
from tagcore import cli
from tagcore.cli import main
from tagcore.sample import load_sample

WEEK = pd.Timedelta(days=7)


# ----------------------------------------------------------------------------- helpers


def run(capsys, *args: str, stdin: bytes | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def sample() -> tc.RequestLog:
    return load_sample()


@pytest.fixture(scope="module")
def df(sample) -> pd.DataFrame:
    return sample.to_pandas()


@pytest.fixture(scope="module")
def week(df) -> pd.DataFrame:
    now = df["ts"].max()
    return df[(df["ts"] > now - WEEK) & (df["ts"] <= now)]


def dollars(nanos: int) -> str:
    return f"${nanos / 1e9:,.2f}"


def covers(tags: list[str], path: str) -> bool:
    return any(t == path or t.startswith(path + "/") for t in tags)


def oracle_level1(frame: pd.DataFrame) -> dict[str, tuple[int, int, int]]:
    """(requests, errors, cost_nanos) per top-level tag, full attribution, by plain Python."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for tags, status, cost in zip(frame["request_tags"], frame["status"], frame["cost_nanos"]):
        for dim in {t.split("/")[0] for t in tags}:
            acc = out[dim]
            acc[0] += 1
            acc[1] += int(status >= 400)
            acc[2] += int(cost)
    return {k: tuple(v) for k, v in out.items()}


def oracle_split(frame: pd.DataFrame, dim: str) -> dict[str, float]:
    """Split cost (dollars) per child of ``dim``; requests without one go to (untagged)."""
    out: dict[str, float] = defaultdict(float)
    for tags, cost in zip(frame["request_tags"], frame["cost_nanos"]):
        kids = {"/".join(t.split("/")[:2]) for t in tags if t.startswith(dim + "/")}
        for k in kids or {"(untagged)"}:
            out[k] += cost / 1e9 / len(kids or {1})
    return dict(out)


def section(out: str, title: str) -> list[str]:
    """The data rows of the table under the line starting with ``title``."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    rows = []
    for line in lines[start + 3:]:
        if not line.strip() or not line.startswith("  "):
            break
        rows.append(line)
    return rows


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


RECORDS = [
    {"ts": "2026-03-01T10:00:00Z", "model": "gpt-4o", "prompt_tokens": 100,
     "completion_tokens": 10, "cost": 0.25, "latency_ms": 100.0, "status": 200,
     "request_tags": ["customer/acme", "env/production"]},
    {"ts": "2026-03-02T10:00:00Z", "model": "gpt-4o-mini", "prompt_tokens": 50,
     "completion_tokens": 5, "cost": 0.5, "latency_ms": 80.0, "status": 500,
     "request_tags": ["customer/globex", "env/staging"]},
    {"ts": "2026-03-03T10:00:00Z", "model": "gpt-4o", "prompt_tokens": 10,
     "completion_tokens": 1, "cost": 1.0, "latency_ms": None, "status": 200,
     "request_tags": ["customer/acme", "env/staging", "=HYPERLINK(\"x\")"]},
]


# ----------------------------------------------------------------------------- report


def test_report_overview_numbers(capsys, df, week):
    rc, out, err = run(capsys, "report")
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("tagcore report: bundled sample")
    head = "\n".join(lines[:8])
    assert f"{len(df):,} requests" in head
    assert dollars(int(df["cost_nanos"].sum())) in head
    assert "last 7 days" in head
    n = len(week)
    errors = int((week["status"] >= 400).sum())
    assert f"Requests  {n:,} of {len(df):,}" in head
    assert f"{errors:,} errors" in head
    assert f"Cost      {dollars(int(week['cost_nanos'].sum()))}" in head
    # level 1, full attribution, in the window
    want = oracle_level1(week)
    rows = section(out, "Where the money went")
    costs = [want[r.split()[0]][2] for r in rows]
    assert costs == sorted(costs, reverse=True)
    assert len(rows) == min(len(want), 12)
    for r in rows:
        name, req, errs, _tokens, cost, share = r.split()[:6]
        assert (int(req.replace(",", "")), int(errs)) == want[name][:2]
        assert cost == dollars(want[name][2])
        assert share == f"{100 * want[name][2] / week['cost_nanos'].sum():.1f}%"
    # top customers and features by split cost; (other) makes them add up
    for dim in ("customer", "feature"):
        split = oracle_split(week, dim)
        rows = section(out, f"Top {dim}s")
        ranked = sorted((k for k in split if k != "(untagged)"), key=lambda k: -split[k])
        assert [r.split()[0] for r in rows] == ranked[:5] + ["(other)"]
        for r in rows[:-1]:
            assert r.split()[4] == f"${split[r.split()[0]]:,.2f}"
        rest = sum(v for k, v in split.items() if k not in ranked[:5])
        assert rows[-1].split()[4] == f"${rest:,.2f}"
    assert section(out, "Top customers")[0].split()[0] == "customer/acme"
    # by model: plain group-by
    by_model = week.groupby("model")["cost_nanos"].sum().sort_values(ascending=False)
    rows = section(out, "By model")
    assert [r.split()[0] for r in rows] == list(by_model.index)
    assert [r.split()[4] for r in rows] == [dollars(int(v)) for v in by_model]
    # a roll-up by level and how to drill in
    assert "Roll-up by level: org" in out
    assert "tagcore report --under customer --level 2 --attribution split" in out
    assert 'tagcore filter "customer/acme & ~env/staging"' in out
    assert "tagcore timeseries --freq 1D --level 1" in out
    assert max(len(line) for line in lines) <= 100


def test_report_custom_rollup_table(capsys, week):
    rc, out, _ = run(capsys, "report", "--under", "customer", "--level", "2",
                     "--attribution", "split")
    assert rc == 0
    split = oracle_split(week, "customer")
    rows = section(out, "Usage by tag, under customer at level 2")
    assert {r.split()[0] for r in rows} == set(split)
    for r in rows:
        assert r.split()[4] == f"${split[r.split()[0]]:,.2f}"
    assert "rows add up" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_report_tree_and_window(capsys, df):
    rc, out, _ = run(capsys, "report", "--under", "org", "--sort", "path", "--last", "30D")
    assert rc == 0
    now = df["ts"].max()
    month = df[df["ts"] > now - pd.Timedelta(days=30)]
    assert f"Requests  {len(month):,} of" in out
    org = sum(int(c) for t, c in zip(month["request_tags"], month["cost_nanos"])
              if covers(t, "org"))
    rows = section(out, "Usage by tag, under org")
    assert rows[0].split()[0] == "org" and rows[0].split()[4] == dollars(org)
    assert any(r.startswith("        ranker") for r in rows)  # indented by depth


def test_report_csv_equals_api_and_oracle(capsys, sample, week):
    rc, out, err = run(capsys, "report", "--format", "csv")
    assert rc == 0 and err == ""
    got = pd.read_csv(io.StringIO(out)).set_index("tag")
    api = sample.filter(last="7D").rollup()
    assert list(got.index) == list(api.index)
    for c in ("depth", "requests", "errors", "total_tokens", "cost_nanos"):
        assert got[c].tolist() == api[c].tolist(), c
    assert got["cost"].tolist() == api["cost"].tolist()
    want = oracle_level1(week)
    lvl1 = got[got["depth"] == 1]
    assert {k: (int(r.requests), int(r.errors), int(r.cost_nanos))
            for k, r in lvl1.iterrows()} == want


def test_report_json_split_adds_up(capsys, sample, week):
    rc, out, _ = run(capsys, "report", "--under", "customer", "--attribution", "split",
                     "--format", "json")
    assert rc == 0
    recs = json.loads(out)
    api = sample.filter(last="7D").rollup(under="customer", attribution="split")
    assert [r["tag"] for r in recs] == list(api.index)
    assert [r["cost_nanos"] for r in recs] == api["cost_nanos"].tolist()
    assert sum(r["cost_nanos"] for r in recs) == int(week["cost_nanos"].sum())
    split = oracle_split(week, "customer")
    for r in recs:
        assert math.isclose(r["cost"], split[r["tag"]], rel_tol=1e-9, abs_tol=1e-8)
    assert recs[0]["first_seen"].startswith("20")  # ISO times


def test_report_by_model_and_top(capsys, sample):
    rc, out, _ = run(capsys, "report", "--level", "1", "--by", "model", "--format", "csv",
                     "--last", "all")
    assert rc == 0
    got = pd.read_csv(io.StringIO(out))
    api = sample.rollup(level=1, by="model").reset_index()
    assert got[["model", "tag"]].values.tolist() == api[["model", "tag"]].values.tolist()
    assert got["cost_nanos"].tolist() == api["cost_nanos"].tolist()
    rc, out, _ = run(capsys, "report", "--under", "feature", "--attribution", "split",
                     "--top", "2", "--format", "json")
    recs = json.loads(out)
    assert [r["tag"] for r in recs][-1] == "(other)" and len(recs) == 3
    assert sum(r["cost_nanos"] for r in recs) == int(sample.filter(last="7D").cost.sum())


def test_parquet_output(capsys, tmp_path, sample):
    pytest.importorskip("pyarrow")
    dest = tmp_path / "r.parquet"
    rc, out, _ = run(capsys, "report", "--level", "1", "--format", "parquet", "-o", str(dest))
    assert rc == 0 and out == ""
    got = pd.read_parquet(dest).set_index("tag")
    assert got["cost_nanos"].tolist() == sample.filter(last="7D").rollup(level=1)[
        "cost_nanos"].tolist()


def test_output_file(capsys, tmp_path):
    dest = tmp_path / "report.txt"
    rc, out, _ = run(capsys, "report", "-o", str(dest))
    assert rc == 0 and out == ""
    assert dest.read_text(encoding="utf-8").startswith("tagcore report: bundled sample")


def test_csv_is_spreadsheet_safe(capsys, tmp_path):
    path = write_jsonl(tmp_path / "evil.jsonl", RECORDS)
    rc, out, err = run(capsys, "report", str(path), "--format", "csv", "--last", "all")
    assert rc == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    tags = [r["tag"] for r in rows]
    assert "'=HYPERLINK(\"x\")" in tags and "=HYPERLINK(\"x\")" not in tags
    assert all(not t.startswith(("=", "+", "-", "@")) for t in tags)


def test_cli_uses_the_one_suffix_table_and_escaping():
    from tagcore.io import _common

    assert cli._LOG_SUFFIXES is _common.SUFFIXES and cli._LOG_SUFFIXES[".json"] == "json"
    assert cli.spreadsheet_safe is _common.spreadsheet_safe
    assert cli.spreadsheet_safe("=1") == "'=1" and cli.spreadsheet_safe(-1) == -1


@pytest.mark.parametrize("layout", ["array", "lines"])
def test_json_input_is_an_array_or_jsonl(capsys, tmp_path, layout):
    """``.json`` means the same as for read_any: an array of records, or JSONL by content."""
    path = tmp_path / "logs.json"
    if layout == "array":
        path.write_text(json.dumps(RECORDS), encoding="utf-8")
    else:
        write_jsonl(path, RECORDS)
    rc, out, err = run(capsys, "report", str(path), "--format", "json", "--last", "all")
    assert rc == 0, err
    ref = write_jsonl(tmp_path / "ref.jsonl", RECORDS)
    rc, want, err = run(capsys, "report", str(ref), "--format", "json", "--last", "all")
    assert rc == 0, err
    assert json.loads(out) == json.loads(want) and len(json.loads(out)) > 2


def test_export_json_writes_jsonl_read_back(capsys, tmp_path, sample):
    dest = tmp_path / "out.json"
    rc, out, err = run(capsys, "export", "-o", str(dest))
    assert rc == 0, err
    first = dest.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("{") and json.loads(first)["ts"]
    assert tc.read_any(dest).cost.tolist() == sample.cost.tolist()


# ----------------------------------------------------------------------------- filter


def test_filter_on_sample_csv_matches_plain_python(capsys, df):
    expr = "customer/acme & ~env/staging"
    want = sum(1 for t in df["request_tags"] if covers(t, "customer/acme")
               and not covers(t, "env/staging"))
    rc, out, err = run(capsys, "filter", expr, "--format", "csv")
    assert rc == 0 and err == ""
    got = pd.read_csv(io.StringIO(out))
    assert len(got) == want
    assert all("customer/acme" in json.loads(t) for t in got["request_tags"])
    rc, out, _ = run(capsys, "filter", expr)
    assert f"{want:,} of {len(df):,} requests match {expr}" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_filter_json_lines_read_back(capsys, df, tmp_path):
    rc, out, _ = run(capsys, "filter", "beta | asia", "--format", "json")
    assert rc == 0
    recs = [json.loads(line) for line in out.splitlines()]
    want = df[[covers(t, "beta") or covers(t, "asia") for t in df["request_tags"]]]
    assert len(recs) == len(want)
    assert sum(r["cost_nanos"] for r in recs) == int(want["cost_nanos"].sum())
    path = tmp_path / "f.jsonl"
    path.write_text(out, encoding="utf-8")
    rc, out, _ = run(capsys, "report", str(path), "--last", "all", "--format", "json",
                     "--level", "1")
    assert sum(r["requests"] for r in json.loads(out) if r["tag"] == "beta") == \
        sum(covers(t, "beta") for t in want["request_tags"])


def test_filter_file_and_expression(capsys, tmp_path):
    path = write_jsonl(tmp_path / "logs.jsonl", RECORDS)
    rc, out, err = run(capsys, "filter", str(path), "customer/acme & ~env/staging",
                       "--format", "csv")
    assert rc == 0, err
    got = pd.read_csv(io.StringIO(out))
    assert got["cost"].tolist() == [0.25]
    rc, out, _ = run(capsys, "filter", str(path), "--status", "error", "--format", "json")
    assert [json.loads(x)["status"] for x in out.splitlines()] == [500]
    rc, out, _ = run(capsys, "filter", str(path), "env", "--model", "gpt-4o")
    assert "2 of 3 requests match env" in out


def test_stdin(capsys, monkeypatch):
    data = "".join(json.dumps(r) + "\n" for r in RECORDS).encode()
    rc, out, err = run(capsys, "report", "-", "--last", "all", stdin=data,
                       monkeypatch=monkeypatch)
    assert rc == 0, err
    assert out.startswith("tagcore report: <stdin>")
    assert "Requests  3, 1 error (33.3%)" in out
    assert "Cost      $1.75" in out
    rc, out, err = run(capsys, "filter", "-", "env/staging", "--format", "csv", stdin=data,
                       monkeypatch=monkeypatch)
    assert rc == 0, err
    assert len(pd.read_csv(io.StringIO(out))) == 2


# ----------------------------------------------------------------------------- timeseries, pivot


def test_timeseries_json_equals_api_and_oracle(capsys, sample, df):
    rc, out, _ = run(capsys, "timeseries", "--freq", "1D", "--level", "1", "--format", "json")
    assert rc == 0
    got = pd.DataFrame(json.loads(out))
    api = sample.timeseries("1D", level=1)
    assert len(got) == len(api)
    assert pd.to_datetime(got["ts"]).tolist() == list(api.index)
    for c in api.columns:
        assert got[c].tolist() == api[c].tolist()
    day = df["ts"].dt.floor("D")
    cust = df[[covers(t, "customer") for t in df["request_tags"]]]
    want = cust.groupby(day[cust.index])["cost_nanos"].sum() / 1e9
    by_day = dict(zip(pd.to_datetime(got["ts"]), got["customer"]))
    for d, v in want.items():
        assert math.isclose(by_day[d], v, rel_tol=1e-12)


def test_timeseries_table(capsys):
    rc, out, _ = run(capsys, "timeseries", "--under", "customer", "--freq", "1W")
    assert rc == 0
    assert "  bucket" in out and "acme" in out and "total" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_pivot(capsys, sample, df):
    rc, out, _ = run(capsys, "pivot", "--format", "csv")
    assert rc == 0
    got = pd.read_csv(io.StringIO(out)).set_index("customer")
    api = sample.pivot("customer", "feature")
    assert got.loc["customer/acme", "feature/chat"] == api.loc["customer/acme", "feature/chat"]
    both = sum(c for t, c in zip(df["request_tags"], df["cost_nanos"])
               if covers(t, "customer/acme") and covers(t, "feature/chat"))
    assert math.isclose(got.loc["customer/acme", "feature/chat"], both / 1e9, rel_tol=1e-12)
    rc, out, _ = run(capsys, "pivot")
    assert "customer \\ feature" in out and "acme" in out


# ----------------------------------------------------------------------------- export


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_export_round_trip(capsys, tmp_path, sample, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    dest = tmp_path / f"out{suffix}"
    rc, out, err = run(capsys, "export", "-o", str(dest))
    assert rc == 0 and out == "" and "wrote 4,000 requests" in err
    back = tc.io.read_any(str(dest))
    assert back.ts.tolist() == sample.ts.tolist()
    assert back.cost.tolist() == sample.cost.tolist()
    assert back.to_pandas()["request_tags"].tolist() == sample.to_pandas()["request_tags"].tolist()


def test_export_filtered_to_stdout(capsys, df):
    rc, out, _ = run(capsys, "export", "--filter", "customer/globex", "-o", "-",
                     "--format", "jsonl")
    assert rc == 0
    assert len(out.splitlines()) == sum(covers(t, "customer/globex") for t in df["request_tags"])


# ----------------------------------------------------------------------------- errors


@pytest.fixture()
def bad_files(tmp_path) -> dict[str, str]:
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(RECORDS[0]) + "\n{\"ts\": 1, \"model\n", encoding="utf-8")
    negative = write_jsonl(tmp_path / "neg.jsonl", [{**RECORDS[0], "prompt_tokens": -5}])
    return {"broken": str(broken), "negative": str(negative), "dir": str(tmp_path)}


@pytest.mark.parametrize("args, needle", [
    (["report", "missing.jsonl"], "missing.jsonl: no such file"),
    (["report", "{dir}"], "is a directory"),
    (["report", "{broken}"], "broken.jsonl"),
    (["report", "{negative}"], "prompt_tokens"),
    (["filter", "customer/acme & ("], "bad filter"),
    (["report", "--filter", "a &&& b"], "bad filter"),
    (["report", "--attribution", "most"], "invalid choice"),
    (["report", "--level", "x"], "invalid int value"),
    (["report", "--level", "0"], "--level"),
    (["report", "--last", "7X"], "--last"),
    (["report", "--since", "someday"], "--since"),
    (["report", "--under", "custmer"], "no such tag"),
    (["report", "--tz", "Mars/Olympus"], "--tz"),
    (["report", "--format", "parquet"], "-o/--output"),
    (["report", "--bogus"], "unrecognized arguments"),
    (["timeseries", "--freq", "fortnightly"], "--freq"),
    (["pivot", "--rows", "nope"], "--rows"),
    (["export"], "-o/--output"),
    (["export", "-o", "out.xyz"], "cannot tell the format"),
    (["nonsense"], "invalid choice"),
])
def test_errors_are_one_line_exit_2(capsys, bad_files, args, needle):
    args = [a.format(**bad_files) for a in args]
    rc, out, err = run(capsys, *args)
    assert rc == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("tagcore: error: "), err
    assert needle in err
    assert "Traceback" not in err


def test_debug_shows_traceback(capsys):
    rc, _, err = run(capsys, "report", "--level", "0", "--debug")
    assert rc == 2
    assert "Traceback" in err and err.rstrip().endswith("expected an integer >= 1, got 0")


def test_help_and_no_command(capsys):
    rc, out, _ = run(capsys, "--help")
    assert rc == 0 and "report" in out
    rc, out, _ = run(capsys)
    assert rc == 0 and "tagcore report" in out


# ----------------------------------------------------------------------------- progress


def test_progress_bar_on_stderr_only(capsys, tmp_path, monkeypatch):
    path = write_jsonl(tmp_path / "p.jsonl", RECORDS * 50)
    monkeypatch.setattr(cli, "PROGRESS_DELAY", 0.0)
    rc, out, err = run(capsys, "report", str(path), "--progress", "--last", "all")
    assert rc == 0
    assert "\rreading p.jsonl [" in err and "100.0%" in err
    assert "reading" not in out
    rc, out, err = run(capsys, "report", str(path), "--last", "all")  # not a TTY: no bar
    assert err == ""


def test_progress_waits_a_second():
    buf = io.StringIO()
    bar = cli._Progress("x", 100, buf, delay=60.0)
    bar(50, 100)
    bar.finish()
    assert buf.getvalue() == ""
    bar = cli._Progress("x", 100, buf, delay=0.0)
    bar(50, 100)
    assert buf.getvalue().startswith("\rreading x [##########..........]  50.0%")


# ----------------------------------------------------------------------------- real processes


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("COLUMNS", None)
    return env


def test_python_m_tagcore_report():
    proc = subprocess.run([sys.executable, "-m", "tagcore", "report"], capture_output=True,
                          text=True, encoding="utf-8", env=_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "Top customers" in proc.stdout and "customer/acme" in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= 100


def test_python_m_tagcore_bad_input():
    proc = subprocess.run([sys.executable, "-m", "tagcore", "report", "--attribution", "x"],
                          capture_output=True, text=True, encoding="utf-8", env=_env(),
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("tagcore: error: ")


# ----------------------------------------------------------------------------- output targets


def test_output_through_symlink_keeps_the_link(capsys, tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old", encoding="utf-8")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    rc, _, _ = run(capsys, "report", "--level", "1", "--format", "csv", "-o", str(link))
    assert rc == 0
    assert link.is_symlink() and real.read_text(encoding="utf-8").startswith("tag,")
    rc, _, _ = run(capsys, "export", "-o", str(link))
    assert link.is_symlink() and real.read_text(encoding="utf-8").startswith("ts,")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("args", [["report", "--format", "csv"], ["export", "--format", "jsonl"],
                                  ["report"]])
def test_output_to_a_fifo_is_written_in_place(capsys, tmp_path, args):
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    rc, out, _ = run(capsys, *args, "-o", str(fifo))
    reader.join(timeout=30)
    assert rc == 0 and out == ""
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # not replaced by a regular file
    assert len(got[0]) > 100


# ----------------------------------------------------------------------------- pivot arguments


@pytest.fixture(scope="module")
def sample_file(tmp_path_factory, sample) -> Path:
    path = tmp_path_factory.mktemp("pivot") / "logs.jsonl"
    tc.io.to_jsonl(sample, str(path))
    return path


def _pivot_csv(capsys, *args: str) -> pd.DataFrame:
    rc, out, err = run(capsys, "pivot", *args, "--format", "csv")
    assert rc == 0, err
    return pd.read_csv(io.StringIO(out)).set_index(out.split(",", 1)[0])


def test_pivot_dimensions_positional_or_options(capsys, sample, sample_file):
    api = sample.pivot("customer", "feature")
    for args in ([], ["customer", "feature"], ["--rows", "customer", "--cols", "feature"],
                 [str(sample_file)], [str(sample_file), "customer", "feature"],
                 [str(sample_file), "customer", "--cols", "feature"],
                 [str(sample_file), "--rows", "customer", "--cols", "feature"]):
        got = _pivot_csv(capsys, *args)
        assert got.index.tolist() == api.index.tolist(), args
        assert got.columns.tolist() == api.columns.tolist(), args
        assert got.to_numpy().tolist() == api.to_numpy().tolist(), args
    # other dimensions, the other way round, options between the words
    api = sample.pivot("env", "customer", metric="requests")
    for args in (["env", "customer", "--metric", "requests"],
                 [str(sample_file), "--metric", "requests", "env", "customer"],
                 ["--metric", "requests", "--rows", "env", "--cols", "customer"]):
        got = _pivot_csv(capsys, *args)
        assert got.index.tolist() == api.index.tolist(), args
        assert got.to_numpy().tolist() == api.to_numpy().tolist(), args
    rc, out, _ = run(capsys, "pivot", "env", "customer")
    assert rc == 0 and "env \\ customer" in out and out.startswith("tagcore pivot: bundled sample")
    rc, out, _ = run(capsys, "pivot", str(sample_file), "env", "customer")
    assert rc == 0 and "env \\ customer" in out and out.startswith(f"tagcore pivot: {sample_file}")


def test_pivot_stdin_with_positional_dimensions(capsys, monkeypatch):
    data = "".join(json.dumps(r) + "\n" for r in RECORDS).encode()
    rc, out, err = run(capsys, "pivot", "-", "customer", "env", "--format", "csv", stdin=data,
                       monkeypatch=monkeypatch)
    assert rc == 0, err
    got = pd.read_csv(io.StringIO(out)).set_index("customer")
    assert got.loc["customer/acme", "env/staging"] == 1.0
    assert got.loc["customer/globex", "env/staging"] == 0.5


def test_pivot_help_states_the_rule(capsys):
    rc, out, _ = run(capsys, "pivot", "--help")
    assert rc == 0
    text = " ".join(out.split())
    assert "tagcore pivot [FILE] [ROWS COLS]" in text
    assert "two: FILE ROWS when the first is '-' or an existing file" in text
    assert "else ROWS COLS on the bundled sample" in text


@pytest.mark.parametrize("args, needle", [
    (["pivot", "a", "b", "c", "d"], "at most 3 arguments, [FILE] ROWS COLS; got 4"),
    (["pivot", "customer"], "one dimension is not enough: give ROWS and COLS"),
    (["pivot", "{broken}", "customer"], "one dimension after"),
    (["pivot", "customer", "feature", "--rows", "env"], "dimensions given twice"),
    (["pivot", "{broken}", "a", "b", "c"], "at most 3 arguments"),
    (["pivot", "customer", "nope"], "--cols 'nope': no such tag"),
    (["pivot", "missing.jsonl", "customer", "feature"], "missing.jsonl: no such file"),
    (["pivot", "customer", "feature", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_pivot_wrong_arguments_are_one_line_exit_2(capsys, bad_files, args, needle):
    args = [a.format(**bad_files) for a in args]
    rc, out, err = run(capsys, *args)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("tagcore: error: "), err
    assert needle in err, err


# ----------------------------------------------------------------------------- one window


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%"


@pytest.mark.parametrize("window", [["--last", "7D"], ["--last", "30D"],
                                    ["--since", "2026-11-01", "--until", "2026-11-15"]])
def test_filter_numbers_are_of_the_window(capsys, sample, window):
    expr = "customer/acme"
    kw = {"last": window[1]} if window[0] == "--last" else \
        {"since": "2026-11-01T00:00Z", "until": "2026-11-15T00:00Z"}
    win = sample.filter(**kw)
    sel = sample.filter(expr, **kw)
    assert 0 < len(sel) < len(win) < len(sample)
    rc, out, err = run(capsys, "filter", expr, *window)
    assert rc == 0, err
    text = " ".join(out.split())
    sel_nanos, win_nanos = int(sel.totals()["cost_nanos"]), int(win.totals()["cost_nanos"])
    assert (f"{len(sel):,} of {len(win):,} requests in the window match {expr}: "
            f"{dollars(sel_nanos)} ({_share(sel_nanos, win_nanos)} of the window's cost)") in text
    assert f"of {len(sample):,} requests match" not in text
    # the header: the window, against the log it was cut from (each "of" says which)
    assert f"Requests {len(win):,} of {len(sample):,} in the log" in text
    assert f"Cost {dollars(win_nanos)} ({_share(win_nanos, int(sample.cost.sum()))} of the " \
           "log's" in text
    # machine output: exactly the matching requests of the window
    rc, out, _ = run(capsys, "filter", expr, *window, "--format", "csv")
    got = pd.read_csv(io.StringIO(out))
    assert len(got) == len(sel) and int(got["cost_nanos"].sum()) == sel_nanos


def test_filter_with_model_and_status_is_of_the_window(capsys, sample):
    sel = sample.filter("env", last="7D", model="gpt-4o", status="ok")
    win = sample.filter(last="7D")
    rc, out, _ = run(capsys, "filter", "env", "--last", "7D", "--model", "gpt-4o",
                     "--status", "ok")
    assert rc == 0
    text = " ".join(out.split())
    assert f"{len(sel):,} of {len(win):,} requests in the window match env with model gpt-4o " \
           f"with status ok: {dollars(int(sel.cost.sum()))}" in text


def test_report_filter_header_is_of_the_window(capsys, sample):
    win = sample.filter(last="7D")
    sel = sample.filter("customer/acme", last="7D")
    rc, out, _ = run(capsys, "report", "--filter", "customer/acme")  # default --last 7D
    assert rc == 0
    head = out.splitlines()[:9]
    wn, sn = int(win.totals()["cost_nanos"]), int(sel.totals()["cost_nanos"])
    window_line = next(line for line in head if line.startswith("  Window"))
    assert window_line.endswith(f"; {len(win):,} requests, {dollars(wn)}")
    assert f"  Requests  {len(sel):,} of {len(win):,} in the window " \
           f"({_share(len(sel), len(win))})" in "\n".join(head)
    assert f"  Cost      {dollars(sn)} ({_share(sn, wn)} of the window's {dollars(wn)})" in head
    # the tables' shares are of the same selection's cost
    rows = section(out, "Where the money went")
    api = sel.rollup(level=1)
    for r in rows:
        name, share = r.split()[0], r.split()[5]
        assert share == _share(int(api.loc[name, "cost_nanos"]), sn)
    rc, out, _ = run(capsys, "report", "--filter", "customer/acme", "--level", "1")
    assert "shares are of the filtered window's total cost" in " ".join(out.split())


def test_report_shares_and_totals_are_of_the_window(capsys, sample):
    win = sample.filter(last="30D")
    rc, out, _ = run(capsys, "report", "--under", "customer", "--attribution", "split",
                     "--last", "30D", "--format", "json")
    recs = json.loads(out)
    total = int(win.totals()["cost_nanos"])
    assert sum(r["cost_nanos"] for r in recs) == total
    for r in recs:
        assert math.isclose(r["share"], r["cost_nanos"] / total, rel_tol=1e-12)
    rc, out, _ = run(capsys, "report", "--last", "30D")
    text = out.splitlines()
    assert f"  Requests  {len(win):,} of {len(sample):,} in the log" in "\n".join(text)
    by_model = section(out, "By model")
    for r in by_model:
        name, share = r.split()[0], r.split()[5]
        nanos = int(win.filter(model=name).cost.sum())
        assert r.split()[4] == dollars(nanos) and share == _share(nanos, total)


@pytest.mark.parametrize("window, kw", [
    (["--last", "7D"], {"last": "7D"}),
    (["--last", "60D"], {"last": "60D"}),  # longer than the log: buckets from now - 60D
    (["--since", "2026-11-15", "--until", "2026-11-25"],
     {"since": "2026-11-15T00:00Z", "until": "2026-11-25T00:00Z"}),
])
def test_timeseries_buckets_are_the_window(capsys, sample, window, kw):
    rc, out, err = run(capsys, "timeseries", "--freq", "1D", "--level", "1", *window,
                       "--format", "json")
    assert rc == 0, err
    got = pd.DataFrame(json.loads(out))
    api = sample.timeseries("1D", level=1, **kw)
    assert pd.to_datetime(got["ts"]).tolist() == list(api.index)
    for c in api.columns:
        assert got[c].tolist() == api[c].tolist(), c
    # split attribution: the buckets add up to the window's total cost
    rc, out, _ = run(capsys, "timeseries", "--freq", "1D", "--level", "1", "--attribution",
                     "split", *window, "--format", "json")
    got = pd.DataFrame(json.loads(out)).drop(columns="ts")
    assert math.isclose(got.to_numpy().sum(), sample.filter(**kw).totals()["cost"],
                        rel_tol=1e-12)


def test_timeseries_with_filter_and_window(capsys, sample):
    rc, out, _ = run(capsys, "timeseries", "--under", "feature", "--filter", "customer/acme",
                     "--last", "7D", "--format", "json")
    assert rc == 0
    got = pd.DataFrame(json.loads(out))
    now = pd.Timestamp(int(sample.ts.max()), unit="ns", tz="UTC")
    api = sample.filter("customer/acme").timeseries("1D", under="feature", last="7D", now=now)
    assert pd.to_datetime(got["ts"]).tolist() == list(api.index)
    for c in api.columns:
        assert got[c].tolist() == api[c].tolist(), c
    # the table's total row is the window's
    rc, out, _ = run(capsys, "timeseries", "--under", "env", "--last", "7D", "--metric",
                     "requests")
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("  bucket")).split()[1:]
    total = next(line for line in lines if line.startswith("  total")).split()[1:]
    win = sample.filter(last="7D")
    for name, cell in zip(header, total):
        assert int(cell.replace(",", "")) == len(win.filter(f"env/{name}")), name


def test_pivot_and_export_are_of_the_window(capsys, tmp_path, sample):
    win = sample.filter(last="7D")
    got = _pivot_csv(capsys, "customer", "feature", "--last", "7D")
    api = win.pivot("customer", "feature")
    assert got.index.tolist() == api.index.tolist()
    assert got.to_numpy().tolist() == api.to_numpy().tolist()
    rc, out, _ = run(capsys, "pivot", "customer", "feature", "--last", "7D")
    assert f"Requests  {len(win):,} of {len(sample):,} in the log" in out
    dest = tmp_path / "week.jsonl"
    rc, out, err = run(capsys, "export", "--last", "7D", "-o", str(dest))
    assert rc == 0 and f"wrote {len(win):,} requests" in err
    back = tc.io.read_any(str(dest))
    assert back.totals()["cost_nanos"] == win.totals()["cost_nanos"]
    assert back.ts.tolist() == win.ts.tolist()
