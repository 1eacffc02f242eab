"""Text for humans: money, counts, percentages, aligned tables, widths and styles."""

from __future__ import annotations

import io  # noqa: F401  (the doctest of table)
import math
import shlex
import shutil
from collections.abc import Iterable, Sequence
from typing import IO

import pandas as pd

MAX_WIDTH = 100


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
    widths = [_width(h, cells) for h, cells, _ in columns]
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


def _width(header: str, cells: Sequence[str]) -> int:
    """A column's width: its longest cell or its header.

    >>> _width("n", ["1", "100"])
    3
    """
    return max([len(header)] + [len(c) for c in cells])


def _add_columns(cols: list[tuple[str, Sequence[str], str]],
                 candidates: Iterable[tuple[str, Sequence[str]]], used: int, width: int) -> int:
    """Append the right-aligned ``(name, cells)`` candidates to ``cols`` while they fit in
    ``width`` (``used`` columns are taken already); returns how many did not fit.

    >>> cols = []
    >>> _add_columns(cols, [("a", ["1"]), ("b", ["x" * 50]), ("c", ["2"])], 10, 20)
    1
    >>> [c[0] for c in cols]
    ['a', 'c']
    """
    hidden = 0
    for name, cells in candidates:
        w = _width(name, cells) + 2
        if used + w > width:
            hidden += 1
            continue
        used += w
        cols.append((name, cells, "r"))
    return hidden


def _fmt_time(ns: int, tz: str, seconds: bool = False) -> str:
    t = pd.Timestamp(int(ns), unit="ns", tz="UTC").tz_convert(tz)
    return t.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def _tz_label(tz: str) -> str:
    return "UTC" if tz.upper() == "UTC" else tz



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



def _wrap(text: str, width: int, indent: str = "") -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width=width, initial_indent=indent,
                                   break_on_hyphens=False, break_long_words=False,
                                   subsequent_indent=indent + "  "))


