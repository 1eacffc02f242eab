"""``tagcore filter``, ``timeseries``, ``pivot`` and ``export``."""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator, Sequence
from typing import IO, Any

import numpy as np
import pandas as pd

from tagcore.cli._base import PROG, CliError, _need_pyarrow
from tagcore.cli._context import _check_under, _Ctx, _header
from tagcore.cli._format import (
    _add_columns,
    _fmt_time,
    _tz_label,
    _width,
    _wrap,
    count,
    money,
    pct,
    table,
)
from tagcore.cli._output import _emit_text, emit_frame, write_log
from tagcore.io._common import write_format_of
from tagcore.query._common import col_total


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
    cost = col_total(log, "cost")
    base_cost = col_total(full, "cost")
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

    def candidates() -> Iterator[tuple[str, list[str]]]:
        for c in order:
            cells = [fmt_v(float(v)) for v in df[c]] + [fmt_v(float(df[c].sum()))]
            name = str(c)
            if args.under and name.startswith(args.under.strip("/") + "/"):
                name = name[len(args.under.strip("/")) + 1:]
            yield name, cells

    hidden = _add_columns(cols, candidates(), 2 + _width("bucket", idx), st.width)
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
    candidates = ((short(str(c), args.cols), [fmt_v(float(v)) if v else "." for v in df[c]])
                  for c in df.columns)
    hidden = _add_columns(cols, candidates, 2 + _width(cols[0][0], rows), st.width)
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
