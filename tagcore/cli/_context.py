"""What every command shares: the checked time arguments, the log and its window, the header."""

from __future__ import annotations

import argparse
import math
import shlex
from typing import IO, Any

import numpy as np
import pandas as pd

from tagcore.cli._base import PROG, CliError
from tagcore.cli._format import _fmt_time, _n, _quote, _Style, _tz_label, compact, money, pct
from tagcore.cli._input import read_log
from tagcore.log import RequestLog
from tagcore.query._common import col_total, unpriced_mask
from tagcore.tags import normalize_tag


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
                                         progress=True if args.progress else None, stderr=err,
                                         prices=getattr(args, "prices", None),
                                         ts_unit=getattr(args, "ts_unit", "s"),
                                         tags_sep=getattr(args, "tags_sep", None))
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
        if not self.windowed:
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
        return f"{_fmt_time(t.value, self.tz)} {_tz_label(self.tz)}"

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



def _tot(log: RequestLog) -> dict[str, Any]:
    n = len(log)
    lat = log.latency_ms[~np.isnan(log.latency_ms)]
    return {
        "requests": n, "errors": int((log.status >= 400).sum()),
        # exact Python ints, whatever their size (never a wrapped int64 sum)
        "prompt": col_total(log, "prompt_tokens"),
        "completion": col_total(log, "completion_tokens"),
        "cost_nanos": col_total(log, "cost"),
        "unpriced": 0 if (flags := unpriced_mask(log)) is None else int(flags.sum()),
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
    err = f", {_n(t['errors'], 'error')} ({pct(t['errors'] / n)})" if n else ""
    lines.append(f"  Requests  {n:,}{of}{err}")
    cost = t["cost_nanos"] / 1e9
    of_cost = f" ({pct(t['cost_nanos'] / base['cost_nanos'])} of the {where}'s " \
              f"{money(base['cost_nanos'] / 1e9)})" if base["cost_nanos"] and \
        t["cost_nanos"] != base["cost_nanos"] else ""
    lines.append(f"  Cost      {money(cost)}{of_cost}")
    if t["unpriced"]:
        lines.append(f"  Unpriced  {_n(t['unpriced'], 'request')} of unknown cost, counted as "
                     "$0 in the cost above (see the unpriced column)")
    lines.append(f"  Tokens    {compact(t['prompt'] + t['completion'])} (prompt "
                 f"{compact(t['prompt'])}, completion {compact(t['completion'])})")
    if n and math.isfinite(t["p50"]):
        lines.append(f"  Latency   p50 {t['p50']:,.0f} ms, p95 {t['p95']:,.0f} ms")
    return lines

