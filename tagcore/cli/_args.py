"""The argument parser: commands, their options and the positional words of ``tagcore pivot``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from tagcore.cli._base import PROG, CliError
from tagcore.cli._input import _looks_like_log


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage, so that errors stay on one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CliError(f"{message} (see '{self.prog} --help')")


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
    p.add_argument("--prices", metavar="FILE",
                   help="price requests the file does not price from their tokens, with a "
                        "LiteLLM-style price map (model_prices_and_context_window.json)")
    p.add_argument("--ts-unit", choices=("s", "ms", "us", "ns"), default="s",
                   help="unit of epoch numbers in ts (default s)")
    p.add_argument("--tags-sep", metavar="SEP",
                   help="split tags written as delimited text, e.g. --tags-sep ','")
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
_METRICS = ("cost", "requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens")



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
               "  tagcore report logs.parquet --html report.html   one offline HTML page\n"
               "  tagcore filter logs.jsonl \"customer/acme & ~env/staging\" --format csv\n"
               "  tagcore timeseries logs.parquet --freq 1D --level 1 --format json\n"
               "  tagcore pivot logs.parquet customer feature\n"
               "  tagcore export logs.jsonl -o logs.parquet\n"
               "'tagcore COMMAND --help' lists a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    fileargs: dict[str, Any] = {"nargs": "?", "metavar": "FILE",
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
                   help='only requests matching EXPR, e.g. "customer/acme & ~env/staging"; '
                        'with --html, the filter the page opens with')
    h = p.add_argument_group("HTML report")
    h.add_argument("--html", metavar="PATH",
                   help="write the report as one self-contained HTML page (offline: data and "
                        "scripts inlined; a filter box, charts, chargeback and the activity "
                        "log) instead of the text report; needs plotly (tagcore[viz])")
    h.add_argument("--title", metavar="TEXT", help="the HTML page's title")
    h.add_argument("--cap", type=int, metavar="N", default=100_000,
                   help="the most requests the page holds, the latest of the window; older "
                        "ones are summarized (default 100000)")
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
                   choices=_METRICS, help="what to sum (default cost)")
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
                   choices=_METRICS, help="what to sum (default cost)")
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

