"""``tagcore report --html PATH``: the report as one self-contained, offline HTML page."""

from __future__ import annotations

from tagcore.cli._base import CliError
from tagcore.cli._context import _Ctx
from tagcore.cli._format import _n


def _size(n: int) -> str:
    """Bytes for humans.

    >>> _size(999), _size(4_944_111), _size(12_345)
    ('999 B', '4.9 MB', '12.3 kB')
    """
    if n < 1000:
        return f"{n} B"
    if n < 1_000_000:
        return f"{n / 1e3:.1f} kB"
    return f"{n / 1e6:.1f} MB"


def cmd_report_html(ctx: _Ctx) -> None:
    """Write the HTML report of the command's log and window (``--last``, default 7D, as the
    text report; ``--since``/``--until``; ``--filter`` is the filter the page opens with) to
    ``--html PATH`` and say where, how large and what it holds."""
    args = ctx.args
    other = [opt for opt, v in (("--under", args.under), ("--level", args.level),
                                ("--by", args.by), ("--attribution", args.attribution),
                                ("--sort", args.sort), ("--top", args.top),
                                ("-o/--output", args.output)) if v is not None]
    if other:
        verb = "does" if len(other) == 1 else "do"
        raise CliError(f"--html writes the whole report; {', '.join(other)} {verb} not apply "
                       "to it (the page has its own views and filter box)")
    if args.format not in (None, "table"):
        raise CliError("--html writes HTML; --format does not apply to it")
    if args.cap is not None and args.cap < 1:
        raise CliError("--cap: expected a number >= 1")
    if not args.html or args.html == "-":
        raise CliError("--html: expected a file path (the page is written atomically)")
    from tagcore.report import report

    rep = report(ctx.full, last=ctx.last, since=ctx.since, until=ctx.until, title=args.title,
                 cap=args.cap, tz=ctx.tz, filter=ctx.expr, source=ctx.label)
    path = rep.save(args.html)
    info = rep.info
    held = f"{_n(info['embedded'], 'request')}"
    if info["rest"]:
        held += (f" (the latest of {info['window_requests']:,} in the window; the older "
                 f"{info['rest']:,} are summarized)")
    ctx.out.write(f"wrote {path} ({_size(rep.size)}): {info['window']}, {held}; "
                  f"open it in a browser (works offline)\n")
