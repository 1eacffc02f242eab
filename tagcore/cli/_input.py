"""Reading a log: a file, stdin or the bundled sample, with a progress bar on stderr."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import IO, Any

from tagcore._progress import TextBar
from tagcore.cli._base import CliError, _tio
from tagcore.io._common import SUFFIXES
from tagcore.log import RequestLog

_LOG_SUFFIXES = SUFFIXES  # tagcore.io's one suffix table (a final .gz is looked through)


class _Progress(TextBar):
    """``\\r``-text progress on stderr in rows decoded (the readers' ``progress`` callback,
    see :mod:`tagcore._progress`), shown only once reading has taken ``delay`` seconds."""

    def __init__(self, label: str, total: int | None, stream: IO[str], delay: float = 1.0
                 ) -> None:
        super().__init__(label, stream, delay, total=total)

    def __call__(self, done: int, total: int | None = None) -> None:
        self.update(done, total)

    def finish(self) -> None:
        self.close()


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def read_log(path: str | None, *, input_format: str | None = None, progress: bool | None = None,
             stderr: IO[str] | None = None, prices: str | None = None, ts_unit: str = "s",
             tags_sep: str | None = None) -> tuple[RequestLog, str]:
    """The log of ``path`` (``None``: the bundled sample; ``"-"``: stdin) and its label.

    Reading goes through :func:`tagcore.io.read_any`, with ``prices`` (the path of a
    LiteLLM-style price map), ``ts_unit`` and ``tags_sep``. ``progress``: ``True`` forces the
    progress bar on stderr, ``None`` shows it when stderr is a terminal; either way only once
    reading has taken :data:`tagcore.cli.PROGRESS_DELAY` seconds.

    >>> log, label = read_log(None)
    >>> len(log), label
    (4000, 'bundled sample')
    """
    stderr = sys.stderr if stderr is None else stderr
    if path is None:
        from tagcore.sample import load_sample

        return load_sample(), "bundled sample"
    tio = _tio()
    kw: dict[str, Any] = {"prices": _price_table(prices)} if prices else {}
    if ts_unit != "s":
        kw["ts_unit"] = ts_unit
    if tags_sep is not None:
        kw["tags_sep"] = tags_sep
    if path == "-":
        buf = getattr(sys.stdin, "buffer", None)
        data = buf.read() if buf is not None else sys.stdin.read().encode("utf-8")
        if not data.strip():
            raise CliError("<stdin>: no input (pipe a log file, or give a file name)")
        src = io.BytesIO(data)
        src.name = "<stdin>"  # type: ignore[misc]
        return tio.read_any(src, format=input_format, **kw), "<stdin>"  # read_any sniffs
    p = Path(path)
    if not p.exists():
        raise CliError(f"{path}: no such file")
    if p.is_dir():
        raise CliError(f"{path}: is a directory, expected a log file")
    show = progress if progress is not None else bool(getattr(stderr, "isatty", lambda: False)())
    bar = _Progress(p.name, None, stderr, delay=_progress_delay()) if show else None
    try:
        log = tio.read_any(path, format=input_format, progress=bar, **kw)
        if bar is not None:
            bar(len(log), len(log))  # every row (a reader of another format tells none)
    finally:
        if bar is not None:
            bar.finish()
    return log, path


def _price_table(path: str) -> Any:
    """The :class:`~tagcore.prices.PriceTable` of a LiteLLM-style price map file."""
    from tagcore.prices import PriceTable

    try:
        return PriceTable.from_litellm(path)
    except OSError as exc:
        raise CliError(f"--prices {path}: cannot read it ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise CliError(f"--prices {path}: not a LiteLLM price map ({exc})") from None


def _progress_delay() -> float:
    """:data:`tagcore.cli.PROGRESS_DELAY`, read at each call so that setting it takes effect."""
    import tagcore.cli

    return float(tagcore.cli.PROGRESS_DELAY)


def _has_log_suffix(word: str) -> bool:
    """Whether ``word`` is named like a log file (a suffix of tagcore.io's table, or ``.gz``).

    >>> _has_log_suffix("logs.parquet"), _has_log_suffix("x.gz"), _has_log_suffix("customer")
    (True, True, False)
    """
    return Path(word).suffix.lower() in (*_LOG_SUFFIXES, ".gz")


def _looks_like_log(word: str) -> bool:
    """``-``, an existing file, or a name with a log file's suffix."""
    if word == "-":
        return True
    p = Path(word)
    if p.exists() and not p.is_dir():
        return True
    return _has_log_suffix(word)


