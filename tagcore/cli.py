"""The ``tagcore`` command: usage and spend by request tag, from a log file or the bundled sample.

::

    tagcore report                                   # bundled sample: where the money went
    tagcore report logs.parquet --under customer --level 2 --attribution split --last 30D
    tagcore filter logs.jsonl "customer/acme & ~env/staging" --format csv
    tagcore timeseries logs.parquet --freq 1D --level 1 --format json
    tagcore pivot logs.parquet customer feature      # or --rows customer --cols feature
    tagcore export logs.jsonl -o logs.parquet

Every command takes an optional input file (Parquet, JSONL or CSV; ``-`` reads stdin; none:
the bundled sample of :func:`tagcore.sample.load_sample`). Bad input prints one line
``tagcore: error: ...`` on stderr and exits with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import shlex
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from tagcore.errors import TagcoreError
from tagcore.io._common import SUFFIXES, _atomic, spreadsheet_safe, write_format_of
from tagcore.log import RequestLog
from tagcore.tags import normalize_tag

__all__ = ["main", "CliError"]

PROG = "tagcore"
MAX_WIDTH = 100
PROGRESS_DELAY = 1.0  # seconds of reading before the progress bar appears
_LOG_SUFFIXES = SUFFIXES  # tagcore.io's one suffix table (a final .gz is looked through)
_SUMMED = ["requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens", "cost",
           "cost_nanos", "share"]


class CliError(TagcoreError):
    """A user error: printed as one line ``tagcore: error: ...``, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage, so that errors stay on one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CliError(f"{message} (see '{self.prog} --help')")


# =============================================================================== reading


class _Progress:
    """``\\r``-text progress on stderr, shown only once reading has taken over a second."""

    def __init__(self, label: str, total: int, stream: IO[str], delay: float = 1.0) -> None:
        self.label, self.total, self.stream, self.delay = label, max(total, 1), stream, delay
        self.start = time.monotonic()
        self.shown = False
        self.last = 0.0
        self.done = 0

    def __call__(self, done: int, total: int | None = None) -> None:
        if total:
            self.total = total
        self.done = done
        now = time.monotonic()
        if now - self.start < self.delay or now - self.last < 0.1:
            return
        self.last = now
        self._draw(done)

    def _draw(self, done: int) -> None:
        pct = min(100.0, 100.0 * done / self.total)
        filled = int(pct // 5)
        bar = "#" * filled + "." * (20 - filled)
        self.stream.write(f"\rreading {self.label} [{bar}] {pct:5.1f}% "
                          f"({_size(done)} of {_size(self.total)})")
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            self._draw(self.total)
            self.stream.write(f" in {time.monotonic() - self.start:.1f} s\n")
            self.stream.flush()


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def _tio():
    """``tagcore.io`` (the readers and writers), imported when a command needs it."""
    from tagcore import io as tio

    return tio


def read_log(path: str | None, *, input_format: str | None = None, progress: bool | None = None,
             stderr: IO[str] | None = None) -> tuple[RequestLog, str]:
    """The log of ``path`` (``None``: the bundled sample; ``"-"``: stdin) and its label.

    Reading goes through :func:`tagcore.io.read_any`. ``progress``: ``True`` forces the
    progress bar on stderr, ``None`` shows it when stderr is a terminal; either way only once
    reading has taken :data:`PROGRESS_DELAY` seconds.

    >>> log, label = read_log(None)
    >>> len(log), label
    (4000, 'bundled sample')
    """
    stderr = sys.stderr if stderr is None else stderr
    if path is None:
        from tagcore.sample import load_sample

        return load_sample(), "bundled sample"
    tio = _tio()
    if path == "-":
        buf = getattr(sys.stdin, "buffer", None)
        data = buf.read() if buf is not None else sys.stdin.read().encode("utf-8")
        if not data.strip():
            raise CliError("<stdin>: no input (pipe a log file, or give a file name)")
        src = io.BytesIO(data)
        src.name = "<stdin>"  # type: ignore[misc]
        return tio.read_any(src, format=input_format), "<stdin>"  # read_any sniffs
    p = Path(path)
    if not p.exists():
        raise CliError(f"{path}: no such file")
    if p.is_dir():
        raise CliError(f"{path}: is a directory, expected a log file")
    show = progress if progress is not None else bool(getattr(stderr, "isatty", lambda: False)())
    bar = _Progress(p.name, p.stat().st_size, stderr, delay=PROGRESS_DELAY) if show else None
    try:
        log = tio.read_any(path, format=input_format, progress=bar)
    finally:
        if bar is not None:
            bar.finish()
    return log, path


# =============================================================================== formatting


class _Style:
    """Output width and whether the stream can show block characters."""

    def __init__(self, out: IO[str]) -> None:
        width = MAX_WIDTH
        isatty = getattr(out, "isatty", lambda: False)
        if isatty():
            width = min(MAX_WIDTH, shutil.get_terminal_size((MAX_WIDTH, 24)).columns)
        self.width = max(60, width)
        enc = getattr(out, "encoding", None) or "ascii"
        try:
            "█▏…".encode(enc)
            self.unicode = True
        except (UnicodeEncodeError, LookupError):
            self.unicode = False

    def bar(self, frac: float, width: int) -> str:
        frac = 0.0 if not math.isfinite(frac) else min(max(frac, 0.0), 1.0)
        if not self.unicode:
            return "#" * round(frac * width)
        eighths = round(frac * width * 8)
        full, part = divmod(eighths, 8)
        return "█" * full + ("" if part == 0 else " ▏▎▍▌▋▊▉"[part])

    @property
    def ellipsis(self) -> str:
        return "…" if self.unicode else "~"


def money(x: float) -> str:
    """Dollars for humans.

    >>> money(1234.5), money(0.001), money(0)
    ('$1,234.50', '<$0.01', '$0.00')
    """
    if not math.isfinite(x):
        return "-"
    if 0 < abs(x) < 0.005:
        return "<$0.01" if x > 0 else "-<$0.01"
    return f"-${-x:,.2f}" if x < 0 else f"${x:,.2f}"


def count(x: float) -> str:
    """A count, with a decimal only when split attribution made it fractional.

    >>> count(1234), count(12.5), count(3.0)
    ('1,234', '12.5', '3')
    """
    if not math.isfinite(x):
        return "-"
    if float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.1f}"


def compact(x: float) -> str:
    """A large number, short: 2.44M, 12.3k.

    >>> compact(2441000), compact(12345), compact(950)
    ('2.44M', '12.3k', '950')
    """
    if not math.isfinite(x):
        return "-"
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            v = x / div
            return f"{v:.2f}{unit}" if v < 10 else (f"{v:.1f}{unit}" if v < 100 else
                                                     f"{v:.0f}{unit}")
    return count(round(x, 1))


def pct(share: float) -> str:
    """A share as percent.

    >>> pct(0.2916), pct(1.0)
    ('29.2%', '100.0%')
    """
    return "-" if not math.isfinite(share) else f"{100 * share:.1f}%"


def _fit_left(text: str, width: int, style: _Style) -> str:
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    return style.ellipsis + text[len(text) - width + 1:]


def table(columns: Sequence[tuple[str, Sequence[str], str]], style: _Style, indent: int = 2,
          flex: int = 0) -> list[str]:
    """Lines of an aligned text table; column ``flex`` (default the first) shrinks to fit.

    ``columns``: (header, cells, align) each; align "l" or "r"; a too-long cell of the flex
    column loses its start ("…end") or, with align "L", its end ("start…").

    >>> st = _Style(io.StringIO())
    >>> print("\\n".join(table([("tag", ["a", "bb"], "l"), ("n", ["1", "10"], "r")], st)))
      tag   n
      ---  --
      a     1
      bb   10
    """
    widths = [max([len(h)] + [len(c) for c in cells]) for h, cells, _ in columns]
    total = indent + sum(widths) + 2 * (len(columns) - 1)
    if total > style.width:
        widths[flex] = max(len(columns[flex][0]), widths[flex] - (total - style.width), 8)
    nrows = max((len(c) for _, c, _ in columns), default=0)
    out = []

    def line(cells: list[str]) -> str:
        parts = []
        for (_, _, align), w, cell in zip(columns, widths, cells):
            if len(cell) > w:
                cell = _fit_left(cell, w, style) if align != "L" else \
                    cell[:max(w - 1, 0)] + style.ellipsis
            parts.append(cell.rjust(w) if align == "r" else cell.ljust(w))
        return (" " * indent + "  ".join(parts)).rstrip()

    out.append(line([h for h, _, _ in columns]))
    out.append(line(["-" * w for w in widths]))
    for r in range(nrows):
        out.append(line([cells[r] if r < len(cells) else "" for _, cells, _ in columns]))
    return out


def _fmt_time(ns: int, tz: str, seconds: bool = False) -> str:
    t = pd.Timestamp(int(ns), unit="ns", tz="UTC").tz_convert(tz)
    return t.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def _tz_label(tz: str) -> str:
    return "UTC" if tz.upper() == "UTC" else tz


def _usage_table(df: pd.DataFrame, style: _Style, *, label: str = "tag", tree: bool = False,
                 base_depth: int | None = None, with_bar: bool = True,
                 with_errors: bool = True, with_tokens: bool = True,
                 names: Sequence[str] | None = None,
                 groups: tuple[str, Sequence[str]] | None = None,
                 empty: str = "no requests") -> list[str]:
    """A roll-up frame as text: tag, requests, errors, tokens, cost, share and a bar."""
    if df.empty:
        return [f"  ({empty})"]
    if names is None:
        names = [str(t) for t in df.index]
    if tree:
        depths = df["depth"].to_numpy()
        b = int(depths[depths > 0].min()) if (depths > 0).any() else 1
        b = b if base_depth is None else base_depth
        names = [("  " * max(int(d) - b, 0) + (n.rsplit("/", 1)[-1] if int(d) > b else n))
                 for n, d in zip(names, depths)]
    cols: list[tuple[str, Sequence[str], str]] = [(label, names, "l")]
    if groups is not None:
        cols.insert(0, (groups[0], groups[1], "l"))
    cols.append(("requests", [count(v) for v in df["requests"]], "r"))
    if with_errors and "errors" in df:
        cols.append(("errors", [count(v) for v in df["errors"]], "r"))
    if with_tokens and "total_tokens" in df:
        cols.append(("tokens", [compact(v) for v in df["total_tokens"]], "r"))
    cols.append(("cost", [money(v) for v in df["cost"]], "r"))
    cols.append(("share", [pct(v) for v in df["share"]], "r"))
    if with_bar:
        fixed = 2 + sum(max([len(h)] + [len(c) for c in cells]) + 2 for h, cells, _ in cols)
        bw = min(20, style.width - fixed - 2)
        if bw >= 8:
            cols.append(("", [style.bar(float(s), bw) for s in df["share"]], "l"))
    return table(cols, style)


# =============================================================================== output


# spreadsheet_safe (imported from tagcore.io._common): the one rule of every CSV tagcore writes


def _safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out.columns = [spreadsheet_safe(str(c)) if isinstance(c, str) else c for c in out.columns]
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c].dtype):
            out[c] = out[c].astype(object).map(spreadsheet_safe)
    return out


def _jsonable(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        t = pd.Timestamp(v)
        return None if t is pd.NaT else t.isoformat()
    if v is pd.NaT:
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_jsonable(x) for x in v]
    return v


def frame_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a frame (index as columns) as JSON-ready dicts: ISO times, ``None`` for NaN.

    >>> frame_records(pd.DataFrame({"cost": [0.1, float("nan")]}, index=pd.Index(["a", "b"],
    ...     name="tag")))
    [{'tag': 'a', 'cost': 0.1}, {'tag': 'b', 'cost': None}]
    """
    flat = df.reset_index() if _has_named_index(df) else df.reset_index(drop=True)
    cols = [str(c) for c in flat.columns]
    return [{c: _jsonable(v) for c, v in zip(cols, row)}
            for row in flat.itertuples(index=False, name=None)]


def _has_named_index(df: pd.DataFrame) -> bool:
    return any(n is not None for n in df.index.names)


def _atomic_write(dest: str, write: Callable[[IO[bytes]], None]) -> None:
    """``write(fh)`` into a temporary file next to ``dest``, renamed over it when done (the
    writers of ``tagcore.io`` follow symlinks and write devices and FIFOs in place)."""
    with _atomic(dest) as fh:
        write(fh)


def _emit_text(text: str, args: argparse.Namespace, out: IO[str]) -> None:
    if args.output and args.output != "-":
        _atomic_write(args.output, lambda fh: fh.write(text.encode("utf-8")))
    else:
        out.write(text)


def emit_frame(df: pd.DataFrame, args: argparse.Namespace, out: IO[str]) -> None:
    """Write a result frame as CSV, JSON (an array of records) or Parquet."""
    fmt = args.format
    if fmt == "csv":
        flat = df.reset_index() if _has_named_index(df) else df
        _emit_text(_safe_frame(flat).to_csv(index=False), args, out)
    elif fmt == "json":
        _emit_text(json.dumps(frame_records(df), allow_nan=False) + "\n", args, out)
    elif fmt == "parquet":
        _need_pyarrow()
        flat = df.reset_index() if _has_named_index(df) else df
        flat.columns = [str(c) for c in flat.columns]
        _atomic_write(args.output, lambda fh: flat.to_parquet(fh, index=False))
    else:  # pragma: no cover - guarded by argparse choices
        raise CliError(f"--format: unknown format {fmt!r}")


def _need_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise CliError("Parquet needs pyarrow: pip install 'tagcore[parquet]'") from None


def write_log(log: RequestLog, dest: str, fmt: str, out: IO[str]) -> None:
    """Write a log as Parquet, JSONL or CSV with ``tagcore.io`` (``dest="-"``: to ``out``)."""
    tio = _tio()
    writer = {"parquet": tio.to_parquet, "jsonl": tio.to_jsonl, "csv": tio.to_csv}[fmt]
    if fmt == "parquet":
        _need_pyarrow()
    if dest != "-":
        writer(log, dest)  # atomic; devices, FIFOs and symlinks handled by tagcore.io
        return
    if fmt == "parquet":
        raise CliError("Parquet output needs a file: add -o FILE.parquet")
    buf = io.BytesIO()
    writer(log, buf)
    binary = getattr(out, "buffer", None)
    if binary is not None:
        out.flush()
        binary.write(buf.getvalue())
        binary.flush()
    else:
        out.write(buf.getvalue().decode("utf-8"))


# =============================================================================== arguments


def _common(p: argparse.ArgumentParser, *, window: bool = True,
            out_formats: Sequence[str] = ("table", "csv", "json", "parquet"),
            default_format: str | None = "table") -> None:
    p.add_argument("--format", choices=out_formats, default=default_format,
                   help=f"output format (default {default_format or 'from the -o suffix'})")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the output to FILE (atomically) instead of stdout; "
                        "required for parquet")
    p.add_argument("--input-format", choices=("parquet", "jsonl", "json", "csv"),
                   help="format of the input (default: from the file name or its first bytes)")
    if window:
        g = p.add_argument_group("time window")
        g.add_argument("--last", metavar="DURATION",
                       help="only the last DURATION before the log's last request, e.g. 7D, "
                            "24h, 30D ('all' for everything)")
        g.add_argument("--since", metavar="TIME", help="from TIME (inclusive; ISO, naive = --tz)")
        g.add_argument("--until", metavar="TIME", help="until TIME (exclusive)")
    p.add_argument("--tz", default="UTC", help="time zone for shown times, buckets and naive "
                                               "--since/--until (default UTC)")
    p.add_argument("--progress", action="store_true",
                   help="always show the reading progress bar on stderr (default: when stderr is "
                        "a terminal and reading takes more than a second)")
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")


_PIVOT_RULE = ("Arguments: none: the bundled sample by customer and feature; one: FILE; three: "
               "FILE ROWS COLS; two: FILE ROWS when the first is '-' or an existing file (then "
               "COLS must come from --cols), else ROWS COLS on the bundled sample. --rows/--cols "
               "name the dimensions too (not together with the same positional one).")
_PIVOT_DEFAULTS = ("customer", "feature")


def _looks_like_log(word: str) -> bool:
    """``-``, an existing file, or a name with a log file's suffix."""
    if word == "-":
        return True
    p = Path(word)
    if p.exists() and not p.is_dir():
        return True
    return p.suffix.lower() in (*_LOG_SUFFIXES, ".gz")


def _pivot_dims(args: argparse.Namespace) -> None:
    """Sort ``tagcore pivot``'s positional words into FILE, ROWS and COLS (see _PIVOT_RULE).

    >>> ns = argparse.Namespace(file="customer", dims=["feature"], rows=None, cols=None)
    >>> _pivot_dims(ns); (ns.file, ns.rows, ns.cols)
    (None, 'customer', 'feature')
    >>> ns = argparse.Namespace(file="-", dims=["env", "model"], rows=None, cols=None)
    >>> _pivot_dims(ns); (ns.file, ns.rows, ns.cols)
    ('-', 'env', 'model')
    """
    words = ([] if args.file is None else [args.file]) + list(args.dims or [])
    usage = "usage: tagcore pivot [FILE] [ROWS COLS]"
    if len(words) > 3:
        raise CliError(f"pivot takes at most 3 arguments, [FILE] ROWS COLS; got {len(words)}: "
                       f"{' '.join(words)} ({usage})")
    file: str | None = None
    dims: list[str] = []
    if len(words) == 3:
        file, dims = words[0], words[1:]
    elif len(words) == 2:
        if _looks_like_log(words[0]):
            file, dims = words[0], words[1:]
        else:
            dims = words
    elif len(words) == 1:
        if not _looks_like_log(words[0]) and args.rows is None and args.cols is None:
            raise CliError(f"pivot: {words[0]!r} is not a log file, and one dimension is not "
                           f"enough: give ROWS and COLS, e.g. tagcore pivot customer feature "
                           f"({usage})")
        file = words[0]
    rows, cols = args.rows, args.cols
    if len(dims) == 2:
        if rows is not None or cols is not None:
            raise CliError(f"pivot: dimensions given twice: {' '.join(dims)} and "
                           f"--rows/--cols; use one spelling ({usage})")
        rows, cols = dims
    elif len(dims) == 1:
        if rows is None and cols is not None:
            rows = dims[0]
        elif rows is not None and cols is None:
            cols = dims[0]
        else:
            what = "dimensions given twice" if rows is not None else \
                f"one dimension after {file}, expected two: ROWS COLS"
            raise CliError(f"pivot: {what} ({usage})")
    args.file = file
    args.rows = _PIVOT_DEFAULTS[0] if rows is None else rows
    args.cols = _PIVOT_DEFAULTS[1] if cols is None else cols


def build_parser() -> argparse.ArgumentParser:
    """The ``tagcore`` argument parser.

    >>> build_parser().parse_args(["report", "--level", "2"]).level
    2
    """
    parser = _Parser(
        prog=PROG,
        description="Usage and spend of LLM requests by request tag. With no file, every "
                    "command runs on a bundled sample log; '-' reads stdin.",
        epilog="examples:\n"
               "  tagcore report                    where the money went (bundled sample)\n"
               "  tagcore report logs.parquet --under customer --level 2 --attribution split\n"
               "  tagcore filter logs.jsonl \"customer/acme & ~env/staging\" --format csv\n"
               "  tagcore timeseries logs.parquet --freq 1D --level 1 --format json\n"
               "  tagcore pivot logs.parquet customer feature\n"
               "  tagcore export logs.jsonl -o logs.parquet\n"
               "'tagcore COMMAND --help' lists a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    fileargs = {"nargs": "?", "metavar": "FILE",
                "help": "log file (Parquet, JSONL, CSV); '-' for stdin; none: bundled sample"}

    p = sub.add_parser("report", help="where the money went: usage by tag (default last 7 days)",
                       description="Usage and cost by tag. Without --under/--level/--by/"
                                   "--attribution/--sort it prints an overview; with them, that "
                                   "roll-up. Default window: --last 7D.")
    p.add_argument("file", **fileargs)
    p.add_argument("--under", metavar="TAG", help="the tags under TAG (e.g. customer)")
    p.add_argument("--level", type=int, metavar="N", help="tags at depth N (1 = top level)")
    p.add_argument("--attribution", choices=("full", "split", "primary"), default=None,
                   help="full (default): a request counts under each of its tags; split: "
                        "divided among them (rows add up); primary: to its first tag")
    p.add_argument("--by", choices=("model", "status", "user", "key"),
                   help="break each tag down by this column")
    p.add_argument("--top", type=int, metavar="N", help="the N largest rows plus (other)")
    p.add_argument("--sort", choices=("cost", "path"), default=None,
                   help="order rows by cost (default) or as a tree (path)")
    p.add_argument("--filter", metavar="EXPR", dest="expr",
                   help='only requests matching EXPR, e.g. "customer/acme & ~env/staging"')
    _common(p)

    p = sub.add_parser("filter", help="the requests matching a filter expression",
                       description='Print the requests matching EXPR, e.g. '
                                   '"customer/acme & ~env/staging" (& and, | or, ~ not, '
                                   'parentheses, globs like customer/* or org/**). With one '
                                   'argument that is not a file, it is the expression and the '
                                   'input is the bundled sample. --format json writes JSON lines.')
    p.add_argument("file", **fileargs)
    p.add_argument("filter_expr", nargs="?", metavar="EXPR", help="filter expression")
    p.add_argument("--model", action="append", help="only this model (repeatable)")
    p.add_argument("--status", help="'ok', 'error' or an HTTP status such as 429")
    p.add_argument("--limit", type=int, default=20, metavar="N",
                   help="rows shown in a table (default 20, the latest; 0 for all)")
    _common(p)

    p = sub.add_parser("timeseries", help="a metric per time bucket and tag",
                       description="One row per time bucket, one column per tag of a set "
                                   "(default: level 1).")
    p.add_argument("file", **fileargs)
    p.add_argument("--freq", default="1D", help="bucket: 1h, 15min, 1D (default), 1W, 1MS")
    p.add_argument("--level", type=int, metavar="N", help="tags at depth N (default 1)")
    p.add_argument("--under", metavar="TAG", help="the children of TAG (or --level under it)")
    p.add_argument("--metric", default="cost",
                   choices=("cost", "requests", "errors", "prompt_tokens", "completion_tokens",
                            "total_tokens"), help="what to sum (default cost)")
    p.add_argument("--attribution", choices=("full", "split", "primary"), default="full")
    p.add_argument("--filter", metavar="EXPR", dest="expr", help="only requests matching EXPR")
    _common(p)

    p = sub.add_parser("pivot", help="a metric for each pair of tags of two dimensions",
                       usage="tagcore pivot [FILE] [ROWS COLS] [options]",
                       description="Rows: the children of ROWS; columns: the children of COLS; "
                                   "cells: the metric of the requests carrying both, e.g. "
                                   "'tagcore pivot logs.parquet customer feature'. "
                                   + _PIVOT_RULE)
    p.add_argument("file", **fileargs)
    p.add_argument("dims", nargs="*", metavar="ROWS COLS",
                   help="the two dimensions (tags), e.g. customer feature")
    p.add_argument("--rows", metavar="TAG", help="the rows' dimension (same as ROWS; default "
                                                 "customer)")
    p.add_argument("--cols", metavar="TAG", help="the columns' dimension (same as COLS; default "
                                                 "feature)")
    p.add_argument("--metric", default="cost",
                   choices=("cost", "requests", "errors", "prompt_tokens", "completion_tokens",
                            "total_tokens"), help="what to sum (default cost)")
    p.add_argument("--filter", metavar="EXPR", dest="expr", help="only requests matching EXPR")
    _common(p)

    p = sub.add_parser("export", help="convert a log to Parquet, JSONL or CSV",
                       description="Write the log (optionally filtered) in another format: "
                                   "tagcore export in.jsonl -o out.parquet. The format comes from "
                                   "--format or the output's suffix; '-o -' writes to stdout.")
    p.add_argument("file", **fileargs)
    p.add_argument("--filter", metavar="EXPR", dest="expr", help="only requests matching EXPR")
    _common(p, out_formats=("parquet", "jsonl", "csv"), default_format=None)
    return parser


# =============================================================================== commands


def _check_tz(tz: str) -> str:
    try:
        pd.Timestamp(0, tz="UTC").tz_convert(tz)
    except Exception:
        raise CliError(f"--tz: unknown time zone {tz!r} (e.g. UTC, Europe/London)") from None
    return tz


def _time_arg(value: str | None, what: str, tz: str) -> pd.Timestamp | None:
    """A ``--since``/``--until``/``--now`` argument, read by :mod:`tagcore.coerce` like every
    time in the library (naive times are in ``--tz``)."""
    if value is None:
        return None
    from tagcore.coerce import time_to_nanos
    from tagcore.errors import CoerceError

    try:
        ns = time_to_nanos(value, tz=tz, field=what)
    except CoerceError as exc:
        raise CliError(f"{exc} (e.g. 2026-11-01 or 2026-11-01T09:00)") from None
    return pd.Timestamp(ns, unit="ns", tz="UTC").tz_convert(tz)


def _check_under(log: RequestLog, under: str | None, what: str = "--under") -> None:
    if under is None:
        return
    norm = normalize_tag(under)
    if log.trie.get(norm, -1) < 0:
        roots = [log.trie.path(int(r)) for r in np.asarray(log.trie.at_level(1))]
        more = f" and {len(roots) - 12} more" if len(roots) > 12 else ""
        hint = f"; top-level tags: {', '.join(roots[:12])}{more}" if roots else \
            "; the log has no tags"
        raise CliError(f"{what} {under!r}: no such tag in this log{hint}")


class _Ctx:
    """What every command shares: the log, the window, the label and the output style."""

    def __init__(self, args: argparse.Namespace, out: IO[str], err: IO[str],
                 default_last: str | None = None) -> None:
        self.args, self.out, self.err = args, out, err
        self.tz = _check_tz(args.tz)
        if args.format == "parquet" and not args.output:
            raise CliError("--format parquet needs -o/--output FILE")
        self.full, self.label = read_log(args.file, input_format=args.input_format,
                                         progress=True if args.progress else None, stderr=err)
        last = getattr(args, "last", None)
        since = _time_arg(getattr(args, "since", None), "--since", self.tz)
        until = _time_arg(getattr(args, "until", None), "--until", self.tz)
        if last is None and since is None and until is None:
            last = default_last
        if isinstance(last, str) and last.strip().lower() in ("all", "none", "0"):
            last = None
        self.last, self.since, self.until = last, since, until
        expr = getattr(args, "expr", None)
        if expr is not None and not expr.strip():
            raise CliError("--filter: empty filter expression")
        self.expr = expr
        self.log = self.full.filter(expr, since=since, until=until, last=last)
        # the window without --filter: what the selection's "of N" and shares are of
        self.window = self.log if expr is None else \
            self.full.filter(since=since, until=until, last=last)
        self.style = _Style(out)

    @property
    def windowed(self) -> bool:
        """Whether --last/--since/--until narrow the log."""
        return not (self.last is None and self.since is None and self.until is None)

    def window_text(self) -> str:
        if self.last is None and self.since is None and self.until is None:
            return "all time"
        parts = []
        if self.last is not None:
            try:
                d = pd.Timedelta(self.last)
                days = d / pd.Timedelta(days=1)
                parts.append(f"last {int(days)} days" if days.is_integer() and days > 1 else
                             f"last {self.last}")
            except ValueError:
                parts.append(f"last {self.last}")
        if self.since is not None:
            parts.append(f"since {self._when(self.since)}")
        if self.until is not None:
            parts.append(f"until {self._when(self.until)}")
        return ", ".join(parts)

    def _when(self, t: pd.Timestamp) -> str:
        return f"{t.tz_convert(self.tz).strftime('%Y-%m-%d %H:%M')} {_tz_label(self.tz)}"

    def window_span(self) -> tuple[int, int] | None:
        """(start, end] in ns of the window, when it is bounded by --last."""
        if self.last is None or len(self.full) == 0:
            return None
        end = int(self.full.ts.max())
        return end - int(pd.Timedelta(self.last).value), end

    def cmd(self, *words: str) -> str:
        """A runnable example command on the same input."""
        parts = [PROG, words[0]]
        if self.args.file is not None and self.args.file != "-":
            parts.append(shlex.quote(self.args.file))
        parts += [_quote(w) for w in words[1:]]
        return " ".join(parts)


def _quote(word: str) -> str:
    """Quote a shell word; double quotes when they are safe (they read well everywhere).

    >>> print(_quote("--level"), _quote("customer/acme & ~env/staging"), _quote("it's"))
    --level "customer/acme & ~env/staging" "it's"
    """
    if word and all(c.isalnum() or c in "-_./:=,@%+" for c in word):
        return word
    if not any(c in word for c in '"$`\\!'):
        return f'"{word}"'
    return shlex.quote(word)


def _n(k: int, word: str) -> str:
    """``1 request``, ``2 requests``, ``1,234 requests``.

    >>> _n(1, "request"), _n(1234, "error")
    ('1 request', '1,234 errors')
    """
    return f"{k:,} {word}{'' if k == 1 else 's'}"


def _tot(log: RequestLog) -> dict[str, Any]:
    n = len(log)
    lat = log.latency_ms[~np.isnan(log.latency_ms)]
    return {
        "requests": n, "errors": int((log.status >= 400).sum()),
        "prompt": int(log.prompt_tokens.sum()), "completion": int(log.completion_tokens.sum()),
        "cost_nanos": int(log.cost.sum()),
        "p50": float(np.quantile(lat, 0.5)) if lat.size else math.nan,
        "p95": float(np.quantile(lat, 0.95)) if lat.size else math.nan,
    }


def _header(ctx: _Ctx, title: str) -> list[str]:
    full, log, tz = ctx.full, ctx.log, ctx.tz
    ft, t = _tot(full), _tot(log)
    lines = []
    src = ctx.label if ctx.label != "bundled sample" else \
        "bundled sample (tagcore.load_sample(); pass a log file to use yours)"
    lines.append(f"{title}: {src}")
    if len(full):
        lines.append(f"  Log       {_n(ft['requests'], 'request')}, {_fmt_time(full.ts.min(), tz)} to "
                     f"{_fmt_time(full.ts.max(), tz)} {_tz_label(tz)}, "
                     f"{money(ft['cost_nanos'] / 1e9)}")
    else:
        lines.append("  Log       no requests")
    span = ctx.window_span()
    win = ctx.window_text()
    if span is not None:
        win += f": {_fmt_time(span[0], tz)} to {_fmt_time(span[1], tz)} {_tz_label(tz)}"
    # the selection (window and --filter) is compared with what it was selected from: the
    # window when --filter narrows a window, else the whole log; each "of" names which
    base, where = ft, "log"
    if ctx.expr and ctx.windowed:
        base, where = _tot(ctx.window), "window"
        win += f"; {_n(base['requests'], 'request')}, {money(base['cost_nanos'] / 1e9)}"
    lines.append(f"  Window    {win}")
    if ctx.expr:
        lines.append(f"  Filter    {ctx.expr}")
    n = t["requests"]
    of = f" of {base['requests']:,} in the {where} ({pct(n / base['requests'])})" \
        if base["requests"] and n != base["requests"] else ""
    err = (f", {t['errors']:,} error{'s' if t['errors'] != 1 else ''} "
           f"({pct(t['errors'] / n)})") if n else ""
    lines.append(f"  Requests  {n:,}{of}{err}")
    cost = t["cost_nanos"] / 1e9
    of_cost = f" ({pct(t['cost_nanos'] / base['cost_nanos'])} of the {where}'s " \
              f"{money(base['cost_nanos'] / 1e9)})" if base["cost_nanos"] and \
        t["cost_nanos"] != base["cost_nanos"] else ""
    lines.append(f"  Cost      {money(cost)}{of_cost}")
    lines.append(f"  Tokens    {compact(t['prompt'] + t['completion'])} (prompt "
                 f"{compact(t['prompt'])}, completion {compact(t['completion'])})")
    if n and math.isfinite(t["p50"]):
        lines.append(f"  Latency   p50 {t['p50']:,.0f} ms, p95 {t['p95']:,.0f} ms")
    return lines


def _dims(log: RequestLog) -> tuple[list[str], str | None]:
    """Dimensions for the 'top' sections and for the roll-up by level."""
    trie = log.trie
    if len(log) == 0:
        return [], None
    lvl1 = log.rollup(level=1, metrics=["cost_nanos"])
    have = [str(t) for t in lvl1.index]
    parents = np.asarray(trie.parents)
    depths = np.asarray(trie.depths)

    def n_children(p: str) -> int:
        return int((parents == trie.id(p)).sum())

    def max_depth(p: str) -> int:
        i = trie.id(p)
        sub = np.asarray(trie.under(i))
        return int(depths[sub].max()) if sub.size else 1

    tops = [d for d in ("customer", "feature") if d in have]
    for d in have:  # by cost
        if len(tops) >= 2:
            break
        if d not in tops and n_children(d) >= 2:
            tops.append(d)
    rest = [d for d in have if d not in tops and n_children(d) >= 1]
    if not rest:
        return tops, None
    cost = lvl1["cost_nanos"]
    deep = max(rest, key=lambda d: (min(max_depth(d), 4), int(cost[d])))
    return tops, deep


def cmd_report(ctx: _Ctx) -> None:
    args = ctx.args
    custom = any(v is not None for v in (args.under, args.level, args.by, args.attribution,
                                         args.sort))
    attribution = args.attribution or "full"
    _check_under(ctx.full, args.under)
    if args.top is not None and args.top < 0:
        raise CliError("--top: expected a number >= 0")
    log = ctx.log
    if args.format != "table":
        under, level = args.under, args.level
        if attribution != "full" and under is None and level is None:
            level = 1
        if args.top is not None and args.by is None and attribution != "full":
            df = log.top(args.top, under=under, level=level, attribution=attribution)
        else:
            df = log.rollup(under=under, level=level, attribution=attribution, by=args.by,
                            sort=args.sort or "cost")
            if args.top is not None:
                df = df.head(args.top)
        emit_frame(df, args, ctx.out)
        return
    lines = _header(ctx, "tagcore report")
    if custom:
        lines += [""] + _custom_report(ctx, attribution)
    else:
        lines += [""] + _overview(ctx)
    _emit_text("\n".join(lines) + "\n", args, ctx.out)


def _custom_report(ctx: _Ctx, attribution: str) -> list[str]:
    args, log, st = ctx.args, ctx.log, ctx.style
    under, level = args.under, args.level
    if attribution != "full" and under is None and level is None:
        level = 1
    what = []
    if under:
        what.append(f"under {under}")
    if level:
        what.append(f"at level {level}")
    desc = " ".join(what) or "every tag"
    notes = {"full": "full attribution: a request counts under each tag it carries, so shares "
                     "may add up to more than 100%",
             "split": "split attribution: each request's cost is divided among the tags it "
                      "carries; rows add up to the total",
             "primary": "primary attribution: each request counts under its first tag; rows "
                        "add up to the total"}
    sort = args.sort or "cost"
    tree = sort == "path" and args.by is None
    lines = [f"Usage by tag, {desc} ({ctx.window_text()}), sorted by {sort}"]
    if args.by:
        df = log.rollup(under=under, level=level, attribution=attribution, by=args.by,
                        sort=sort, metrics=_SUMMED)
        if df.empty:
            return lines + ["  (no requests)"]
        shown = df if args.top is None else df.groupby(level=0, sort=False).head(args.top)
        lines += _usage_table(shown, st, names=[str(b) for _, b in shown.index],
                              groups=(args.by, [str(a) for a, _ in shown.index]))
    else:
        if args.top is not None and attribution != "full":
            df = log.top(args.top, under=under, level=level, attribution=attribution)
            shown, more = df, 0
        else:
            df = log.rollup(under=under, level=level, attribution=attribution, sort=sort,
                            metrics=_SUMMED)
            if tree and under is not None:
                path = normalize_tag(under)
                node = log.rollup(level=ctx.full.trie.depth(ctx.full.trie.id(path)),
                                  metrics=_SUMMED)
                node = node[node.index == path]
                if not node.empty:
                    df = pd.concat([node[df.columns], df])
            limit = args.top if args.top is not None else 40
            shown, more = df.iloc[:limit], max(len(df) - limit, 0)
        lines += _usage_table(shown, st, tree=tree)
        if more:
            lines.append(f"  ... {more} more rows (--top N, or --format csv for all)")
    of = "the filtered window's" if ctx.expr else "the window's"
    lines += ["", _wrap(f"Note: {notes[attribution]}; shares are of {of} total cost.",
                        st.width)]
    return lines


def _wrap(text: str, width: int, indent: str = "") -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width=width, initial_indent=indent,
                                   break_on_hyphens=False, break_long_words=False,
                                   subsequent_indent=indent + "  "))


def _overview(ctx: _Ctx) -> list[str]:
    log, st, args = ctx.log, ctx.style, ctx.args
    n_top = 5 if args.top is None else args.top
    out: list[str] = []
    if len(log) == 0:
        return ["No requests in this window; try --last 30D or --last all."]
    lvl1 = log.rollup(level=1, metrics=_SUMMED)
    out.append(f"Where the money went, by top-level tag ({ctx.window_text()})")
    limit = 12
    out += _usage_table(lvl1.iloc[:limit], st, empty="no tagged requests")
    if len(lvl1) > limit:
        out.append(f"  ... {len(lvl1) - limit} more (tagcore report --level 1 --top 100)")
    untagged = int((np.diff(log.tag_offsets) == 0).sum())
    out.append(_wrap("A request counts under every tag it carries, so these shares overlap"
                     + (f"; {_n(untagged, 'request')} carry no tag." if untagged else "."),
                     st.width))
    tops, deep = _dims(log)
    for dim in tops:
        df = log.top(n_top, under=dim)
        plural = dim + ("s" if not dim.endswith("s") else "")
        out += ["", f"Top {plural} (split: a request naming two {plural} is divided between "
                    "them; rows add up)"]
        out += _usage_table(df, st, label=dim)
    # by model: a plain group-by on the model column
    out += ["", "By model"]
    out += _usage_table(_by_model(log), st, label="model", with_errors=True)
    if deep is not None:
        d = ctx.full.trie.depth(ctx.full.trie.id(deep))
        sub = log.rollup(under=deep, sort="path", metrics=_SUMMED)
        sub = sub[sub["depth"] <= d + 2]
        top = lvl1[lvl1.index == deep]
        df = pd.concat([top[sub.columns], sub]) if not sub.empty else top
        out += ["", f"Roll-up by level: {deep} (levels {d} to {int(df['depth'].max())}, "
                    "each row includes the rows under it)"]
        df = _tree_by_cost(df)
        shown = df.iloc[:16]
        out += _usage_table(shown, st, label="tag", tree=True, base_depth=d)
        if len(df) > 16:
            out.append(f"  ... {len(df) - 16} more ({ctx.cmd('report', '--under', deep, '--sort', 'path')})")
    out += ["", "Drill in:"]
    out += _examples(ctx, tops, deep)
    return out


def _tree_by_cost(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of a roll-up as a tree: each node followed by its children, largest cost first.

    >>> df = pd.DataFrame({"parent": [None, "a", "a", "a/x"], "cost_nanos": [3, 1, 2, 1]},
    ...                   index=["a", "a/x", "a/y", "a/x/z"])
    >>> _tree_by_cost(df).index.tolist()
    ['a', 'a/y', 'a/x', 'a/x/z']
    """
    tags = [str(t) for t in df.index]
    present = set(tags)
    cost = dict(zip(tags, df["cost_nanos"].tolist()))
    kids: dict[str | None, list[str]] = {}
    for t, p in zip(tags, df["parent"].tolist()):
        kids.setdefault(p if p in present else None, []).append(t)
    order: list[str] = []

    def walk(key: str | None) -> None:
        for t in sorted(kids.get(key, []), key=lambda x: -cost[x]):
            order.append(t)
            walk(t)

    walk(None)
    return df.loc[order]


def _by_model(log: RequestLog) -> pd.DataFrame:
    codes = log.model_codes
    m = len(log.models)
    req = np.bincount(codes, minlength=m)
    err = np.bincount(codes, weights=(log.status >= 400), minlength=m)
    tok = np.bincount(codes, weights=(log.prompt_tokens + log.completion_tokens).astype(float),
                      minlength=m)
    nanos = np.zeros(m, dtype=np.int64)
    np.add.at(nanos, codes, log.cost)
    grand = int(log.cost.sum())
    df = pd.DataFrame({"depth": 0, "requests": req, "errors": err.astype(np.int64),
                       "total_tokens": tok.astype(np.int64), "cost": nanos / 1e9,
                       "cost_nanos": nanos,
                       "share": nanos / grand if grand else np.zeros(m)},
                      index=pd.Index(list(log.models), name="model"))
    df = df[df["requests"] > 0]
    return df.sort_values(["cost_nanos", "requests"], ascending=False, kind="stable")


def _examples(ctx: _Ctx, tops: list[str], deep: str | None) -> list[str]:
    log = ctx.log
    ex: list[tuple[str, str]] = []
    dim = tops[0] if tops else deep
    if dim is not None:
        ex.append((ctx.cmd("report", "--under", dim, "--level", "2", "--attribution", "split"),
                   f"chargeback by {dim}"))
    if deep is not None:
        ex.append((ctx.cmd("report", "--under", deep, "--sort", "path", "--last", "30D"),
                   f"the {deep} tree, last 30 days"))
    if dim is not None:
        first = log.top(1, under=dim).index[0]
        if first != "(other)":
            others = [t for t in ("env/staging",) if log.trie.get(t, -1) >= 0]
            expr = f"{first} & ~{others[0]}" if others else str(first)
            ex.append((ctx.cmd("filter", f"{expr}"), f"{first}"
                       + (" outside staging" if others else "")))
    ex.append((ctx.cmd("timeseries", "--freq", "1D", "--level", "1"),
               "daily cost per top-level tag"))
    if len(tops) >= 2:
        ex.append((ctx.cmd("pivot", tops[0], tops[1]),
                   f"cost per {tops[0]} and {tops[1]}"))
    ex.append((ctx.cmd("report", "--format", "csv", "-o", "usage.csv"),
               "every tag, for a spreadsheet"))
    w = max(len(c) for c, _ in ex)
    lines = []
    for c, d in ex:
        line = f"  {c.ljust(w)}  # {d}"
        lines.append(line if len(line) <= ctx.style.width else f"  {c}")
    return lines


def cmd_filter(ctx: _Ctx, expr: str | None) -> None:
    args, full = ctx.args, ctx.log
    status: Any = None
    if args.status is not None:
        s = args.status.strip().lower()
        if s in ("ok", "error"):
            status = s
        elif s.isdigit():
            status = int(s)
        else:
            raise CliError(f"--status: expected ok, error or an HTTP status, got {args.status!r}")
    if expr is not None and not expr.strip():
        raise CliError("empty filter expression")
    log = full.filter(expr, model=args.model, status=status)
    if args.format in ("csv", "json", "parquet"):
        fmt = {"csv": "csv", "json": "jsonl", "parquet": "parquet"}[args.format]
        write_log(log, args.output or "-", fmt, ctx.out)
        return
    st = ctx.style
    lines = _header(ctx, "tagcore filter")
    # the matches are drawn from the window: the count, "of N" and the share are all of it
    where = "window" if ctx.windowed else "log"
    n, base_n = len(log), len(full)
    cost = int(log.cost.sum())
    base_cost = int(full.cost.sum())
    desc = expr if expr else "(no expression)"
    if args.model:
        desc += f" with model {', '.join(args.model)}"
    if status is not None:
        desc += f" with status {status}"
    lines += ["", _wrap(f"{n:,} of {base_n:,} requests" + (" in the window" if ctx.windowed
                                                          else "")
                        + f" match {desc}: {money(cost / 1e9)}"
                        + (f" ({pct(cost / base_cost)} of the {where}'s cost)" if base_cost
                           else ""), st.width)]
    if n == 0:
        _emit_text("\n".join(lines) + "\n", args, ctx.out)
        return
    limit = n if args.limit is None or args.limit <= 0 else min(args.limit, n)
    rows = np.arange(n - limit, n)
    part = log[rows]
    df = part.to_pandas()
    ts = [_fmt_time(t, ctx.tz, seconds=True) for t in part.ts]
    cols: list[tuple[str, Sequence[str], str]] = [
        (f"time ({_tz_label(ctx.tz)})", ts, "l"),
        ("model", df["model"].tolist(), "l"),
        ("prompt", [f"{v:,}" for v in df["prompt_tokens"]], "r"),
        ("completion", [f"{v:,}" for v in df["completion_tokens"]], "r"),
        ("cost", [f"${v:,.4f}" if v == 0 or v >= 0.0001 else "<$0.0001" for v in df["cost"]],
         "r"),
        ("status", [str(s) for s in df["status"]], "r"),
        ("latency", [f"{v:,.0f} ms" if math.isfinite(v) else "-" for v in df["latency_ms"]], "r"),
    ]
    tab = table(cols, st, flex=1)
    lines += ["", *tab[:2]]
    for row_line, tags in zip(tab[2:], df["request_tags"]):
        lines.append(row_line)
        lines.append(_wrap("tags: " + (", ".join(tags) if tags else "(none)"), st.width,
                           " " * 6))
    if limit < n:
        lines.append(f"  ... the latest {limit} of {n:,} shown (--limit 0 for all; --format csv "
                     "or json for machines)")
    _emit_text("\n".join(lines) + "\n", args, ctx.out)


def cmd_timeseries(ctx: _Ctx) -> None:
    args, st = ctx.args, ctx.style
    _check_under(ctx.full, args.under)
    level = args.level
    if level is None and args.under is None:
        level = 1
    try:
        pd.tseries.frequencies.to_offset(args.freq)
    except ValueError:
        raise CliError(f"--freq: unknown frequency {args.freq!r} (use e.g. 1h, 15min, 1D, 1W, "
                       "1MS)") from None
    # the library's own answer over the same window: buckets span the whole window (empty ones
    # are zeros), "now" is the whole log's last request, as for the header and the other commands
    sel = ctx.full if ctx.expr is None else ctx.full.filter(ctx.expr)
    now = pd.Timestamp(int(ctx.full.ts.max()), unit="ns", tz="UTC") if len(ctx.full) else None
    df = sel.timeseries(args.freq, level=level, under=args.under, metric=args.metric,
                        last=ctx.last, since=ctx.since, until=ctx.until,
                        now=now if ctx.windowed else None, tz=ctx.tz,
                        attribution=args.attribution)
    if args.format != "table":
        emit_frame(df, args, ctx.out)
        return
    lines = _header(ctx, "tagcore timeseries")
    what = f"under {args.under}" if args.under else ""
    what += (" " if what else "") + (f"at level {level}" if level else "")
    lines += ["", f"{args.metric} per {args.freq} bucket ({_tz_label(ctx.tz)}), tags {what}, "
                  f"{args.attribution} attribution"]
    if df.empty or df.shape[1] == 0:
        _emit_text("\n".join([*lines, "  (no data)"]) + "\n", args, ctx.out)
        return
    fmt_v = money if args.metric == "cost" else count
    order = df.sum().sort_values(ascending=False, kind="stable").index.tolist()
    daily = _is_calendar(args.freq)
    idx = [t.strftime("%Y-%m-%d %a" if daily else "%Y-%m-%d %H:%M") for t in df.index]
    cols: list[tuple[str, Sequence[str], str]] = [("bucket", idx + ["total"], "l")]
    used = 2 + max(len(x) for x in idx + ["bucket"])
    hidden = 0
    for c in order:
        cells = [fmt_v(float(v)) for v in df[c]] + [fmt_v(float(df[c].sum()))]
        name = str(c)
        if args.under and name.startswith(args.under.strip("/") + "/"):
            name = name[len(args.under.strip("/")) + 1:]
        w = max([len(name)] + [len(x) for x in cells]) + 2
        if used + w > st.width:
            hidden += 1
            continue
        used += w
        cols.append((name, cells, "r"))
    tab = table(cols, st)
    tab.insert(len(tab) - 1, "  " + "-" * (len(tab[1]) - 2))
    lines += tab
    if hidden:
        lines.append(f"  ... {hidden} more columns not shown (narrow with --under, or use "
                     "--format csv)")
    _emit_text("\n".join(lines) + "\n", args, ctx.out)


def _is_calendar(freq: str) -> bool:
    try:
        off = pd.tseries.frequencies.to_offset(freq)
    except ValueError:
        return False
    if isinstance(off, pd.offsets.Tick):
        return pd.Timedelta(off) >= pd.Timedelta(days=1)
    return True


def cmd_pivot(ctx: _Ctx) -> None:
    args, log, st = ctx.args, ctx.log, ctx.style
    _check_under(ctx.full, args.rows, "--rows")
    _check_under(ctx.full, args.cols, "--cols")
    df = log.pivot(args.rows, args.cols, metric=args.metric)
    if args.format != "table":
        emit_frame(df, args, ctx.out)
        return
    lines = _header(ctx, "tagcore pivot")
    lines += ["", f"{args.metric} of the requests carrying both tags (rows: {args.rows}, "
                  f"columns: {args.cols})"]
    if df.empty or df.shape[1] == 0:
        _emit_text("\n".join([*lines, "  (no data)"]) + "\n", args, ctx.out)
        return
    df = df.loc[df.sum(axis=1).sort_values(ascending=False, kind="stable").index,
                df.sum(axis=0).sort_values(ascending=False, kind="stable").index]
    fmt_v = money if args.metric == "cost" else count

    def short(label: str, dim: str) -> str:
        return label[len(dim) + 1:] if label.startswith(dim + "/") else label

    rows = [short(str(r), args.rows) for r in df.index]
    cols: list[tuple[str, Sequence[str], str]] = [(f"{args.rows} \\ {args.cols}", rows, "l")]
    used = 2 + max(len(x) for x in rows + [cols[0][0]])
    hidden = 0
    for c in df.columns:
        cells = [fmt_v(float(v)) if v else "." for v in df[c]]
        name = short(str(c), args.cols)
        w = max([len(name)] + [len(x) for x in cells]) + 2
        if used + w > st.width:
            hidden += 1
            continue
        used += w
        cols.append((name, cells, "r"))
    lines += table(cols, st)
    if hidden:
        lines.append(f"  ... {hidden} more columns not shown (use --format csv)")
    _emit_text("\n".join(lines) + "\n", args, ctx.out)


def cmd_export(args: argparse.Namespace, out: IO[str], err: IO[str]) -> None:
    if not args.output:
        raise CliError("export needs -o/--output FILE (e.g. -o logs.parquet; '-o -' for stdout)")
    fmt = args.format or (write_format_of(args.output) if args.output != "-" else None)
    if fmt is None:
        raise CliError(f"cannot tell the format of {args.output!r}: name it .parquet, .jsonl or "
                       ".csv, or give --format")
    if fmt == "parquet":
        _need_pyarrow()
    # the log and window as for the other commands; "table" keeps _Ctx's --format check quiet
    ctx = _Ctx(argparse.Namespace(**{**vars(args), "format": "table"}), out, err)
    write_log(ctx.log, args.output, fmt, out)
    if args.output != "-":
        err.write(f"{PROG}: wrote {len(ctx.log):,} requests to {args.output} ({fmt})\n")


# =============================================================================== main


_LIB_ARG = re.compile(r"^(last|since|until|level|under|freq|metric|attribution|sort|n|now|"
                      r"dim_a|dim_b|by):")
_OPTION_OF = {"n": "top", "dim_a": "rows", "dim_b": "cols"}


def _one_line(exc: BaseException) -> str:
    from tagcore.filters import FilterSyntaxError

    if isinstance(exc, FilterSyntaxError):
        return f"bad filter {exc.text!r}: {exc.reason} at position {exc.position}"
    if isinstance(exc, OSError) and exc.strerror:
        name = exc.filename if exc.filename is not None else ""
        return f"{name}: {exc.strerror}" if name else exc.strerror
    text = str(exc) or type(exc).__name__
    if isinstance(exc, KeyError) and exc.args:
        text = str(exc.args[0])
    m = _LIB_ARG.match(text)
    if m and not isinstance(exc, CliError):  # the library names its argument: name the option
        text = f"--{_OPTION_OF.get(m.group(1), m.group(1))}{text[m.end(1):]}"
    return "; ".join(s.strip() for s in text.splitlines() if s.strip())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tagcore`` command; returns the exit status (0 ok, 2 bad input, 1 internal).

    >>> main(["report", "--under", "env", "--format", "csv"])
    tag,depth,parent,requests,...
    env/production,2,env,...
    env/staging,2,env,...
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    out, err = sys.stdout, sys.stderr
    try:
        parser = build_parser()
        try:
            args, extra = parser.parse_known_args(argv)
        except SystemExit as exc:  # --help
            return int(exc.code or 0)
        if args.command == "pivot":  # ROWS COLS may come after options: "FILE --last 7D a b"
            words = [w for w in extra if w == "-" or not w.startswith("-")]
            extra = [w for w in extra if w not in words]
            args.dims = [*args.dims, *words]
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if args.command is None:
            parser.print_help(out)
            return 0
        if args.command == "filter":
            file, expr = args.file, args.filter_expr
            if expr is None and file is not None and file != "-" and not Path(file).exists():
                if Path(file).suffix.lower() in (*_LOG_SUFFIXES, ".gz"):
                    raise CliError(f"{file}: no such file")
                file, expr = None, file
            args.file = file
            ctx = _Ctx(args, out, err)
            cmd_filter(ctx, expr)
        elif args.command == "report":
            ctx = _Ctx(args, out, err, default_last="7D")
            cmd_report(ctx)
        elif args.command == "timeseries":
            cmd_timeseries(_Ctx(args, out, err))
        elif args.command == "pivot":
            _pivot_dims(args)
            cmd_pivot(_Ctx(args, out, err))
        elif args.command == "export":
            cmd_export(args, out, err)
        out.flush()
        return 0
    except BrokenPipeError:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, io.UnsupportedOperation):
            pass
        return 1
    except KeyboardInterrupt:
        err.write(f"{PROG}: interrupted\n")
        return 130
    except (CliError, ValueError, OSError, ImportError, LookupError) as exc:
        if debug:
            traceback.print_exc(file=err)
        err.write(f"{PROG}: error: {_one_line(exc)}\n")
        return 2
    except Exception as exc:  # a bug: still one line unless --debug
        if debug:
            traceback.print_exc(file=err)
        err.write(f"{PROG}: internal error: {type(exc).__name__}: {_one_line(exc)} "
                  "(run with --debug for the traceback)\n")
        return 1
