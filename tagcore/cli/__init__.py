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

import io
import os
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from tagcore.cli._args import _PIVOT_DEFAULTS as _PIVOT_DEFAULTS
from tagcore.cli._args import _PIVOT_RULE as _PIVOT_RULE
from tagcore.cli._args import _common as _common
from tagcore.cli._args import _Parser as _Parser
from tagcore.cli._args import _pivot_dims as _pivot_dims
from tagcore.cli._args import build_parser as build_parser
from tagcore.cli._base import PROG as PROG
from tagcore.cli._base import CliError as CliError
from tagcore.cli._base import _need_pyarrow as _need_pyarrow
from tagcore.cli._base import _tio as _tio
from tagcore.cli._context import _check_tz as _check_tz
from tagcore.cli._context import _check_under as _check_under
from tagcore.cli._context import _Ctx as _Ctx
from tagcore.cli._context import _header as _header
from tagcore.cli._context import _time_arg as _time_arg
from tagcore.cli._context import _tot as _tot
from tagcore.cli._format import MAX_WIDTH as MAX_WIDTH
from tagcore.cli._format import _fit_left as _fit_left
from tagcore.cli._format import _fmt_time as _fmt_time
from tagcore.cli._format import _n as _n
from tagcore.cli._format import _quote as _quote
from tagcore.cli._format import _Style as _Style
from tagcore.cli._format import _tz_label as _tz_label
from tagcore.cli._format import _wrap as _wrap
from tagcore.cli._format import compact as compact
from tagcore.cli._format import count as count
from tagcore.cli._format import money as money
from tagcore.cli._format import pct as pct
from tagcore.cli._format import table as table
from tagcore.cli._input import _LOG_SUFFIXES as _LOG_SUFFIXES
from tagcore.cli._input import _has_log_suffix as _has_log_suffix
from tagcore.cli._input import _looks_like_log as _looks_like_log
from tagcore.cli._input import _Progress as _Progress
from tagcore.cli._input import _size as _size
from tagcore.cli._input import read_log as read_log
from tagcore.cli._output import _atomic_write as _atomic_write
from tagcore.cli._output import _emit_text as _emit_text
from tagcore.cli._output import _has_named_index as _has_named_index
from tagcore.cli._output import _jsonable as _jsonable
from tagcore.cli._output import _safe_frame as _safe_frame
from tagcore.cli._output import emit_frame as emit_frame
from tagcore.cli._output import frame_records as frame_records
from tagcore.cli._output import write_log as write_log
from tagcore.cli.commands import _is_calendar as _is_calendar
from tagcore.cli.commands import cmd_export as cmd_export
from tagcore.cli.commands import cmd_filter as cmd_filter
from tagcore.cli.commands import cmd_pivot as cmd_pivot
from tagcore.cli.commands import cmd_timeseries as cmd_timeseries
from tagcore.cli.report import _SUMMED as _SUMMED
from tagcore.cli.report import _by_model as _by_model
from tagcore.cli.report import _custom_report as _custom_report
from tagcore.cli.report import _dims as _dims
from tagcore.cli.report import _examples as _examples
from tagcore.cli.report import _overview as _overview
from tagcore.cli.report import _tree_by_cost as _tree_by_cost
from tagcore.cli.report import _usage_table as _usage_table
from tagcore.cli.report import cmd_report as cmd_report
from tagcore.io._common import spreadsheet_safe as spreadsheet_safe
from tagcore.io._common import write_format_of as write_format_of

__all__ = ["main", "CliError"]

# seconds of reading before the progress bar appears; read_log looks it up here at each call,
# so setting tagcore.cli.PROGRESS_DELAY (as the tests do) takes effect
PROGRESS_DELAY = 1.0


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
                if _has_log_suffix(file):
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
