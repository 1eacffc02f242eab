"""Progress of a long read, in rows decoded (not bytes read): one object for every reader, the
scan and the CLI.

``progress`` is what a caller passes: a callable (an embedder's callback
``fn(rows_done, rows_total)``), ``True`` (a bar on stderr: tqdm's when the ``progress`` extra
is installed, ``pip install 'tagcore[progress]'``, else a plain ``\\r`` text line), or
``None``/``False`` (nothing). ``rows_total`` comes from metadata when the source has it
(Parquet); for JSONL and CSV it is an estimate from the bytes read so far (rows per byte),
which firms up as reading goes on, and the last call is always ``(rows, rows)``.

>>> seen = []
>>> bar = Progress(lambda done, total: seen.append((done, total)), 10)
>>> bar.add(4); bar.skip(3); bar.add(3); bar.close()
>>> seen
[(4, 10), (7, 7)]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO, Any

__all__ = ["Progress", "TextBar"]


class TextBar:
    """A ``\\r`` text bar on a stream: ``reading LABEL [####....]  40.0% (4,000 of ~10,000
    rows)``, drawn at most every 0.1 s, and only once ``delay`` seconds have passed.

    >>> import io
    >>> buf = io.StringIO()
    >>> bar = TextBar("x", buf, delay=0.0)
    >>> bar.update(50, 100); buf.getvalue()
    '\\rreading x [##########..........]  50.0% (50 of 100 rows)'
    """

    def __init__(self, label: str, stream: IO[str] | None = None, delay: float = 0.0,
                 total: int | None = None) -> None:
        self.label, self.stream, self.delay = label, stream or sys.stderr, delay
        self.total = total
        self.start = time.monotonic()
        self.shown = False
        self.last = 0.0
        self.done = 0

    def update(self, done: int, total: int | None = None) -> None:
        """Rows decoded so far, of ``total`` (None: unknown)."""
        if total:
            self.total = total
        self.done = done
        now = time.monotonic()
        if now - self.start < self.delay or (self.shown and now - self.last < 0.1):
            return
        self.last = now
        self._draw(done)

    def _draw(self, done: int) -> None:
        total = self.total
        if total:
            pct = min(100.0, 100.0 * done / total)
            filled = int(pct // 5)
            line = (f"\rreading {self.label} [{'#' * filled}{'.' * (20 - filled)}] {pct:5.1f}% "
                    f"({done:,} of {total:,} rows)")
        else:
            line = f"\rreading {self.label}: {done:,} rows"
        self.stream.write(line)
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        """The final line (when the bar was shown): every row, and the time taken."""
        if self.shown:
            self._draw(self.done)
            self.stream.write(f" in {time.monotonic() - self.start:.1f} s\n")
            self.stream.flush()


class Progress:
    """Rows decoded, told to a callback or shown as a bar; a drop-in for the scan's bar:
    built from ``(progress, total)``, then :meth:`add` (rows done by a piece), :meth:`skip`
    (a pruned piece's rows leave the total), :meth:`close`; readers that know the count so
    far call :meth:`update`.

    A callback hears ``(rows_done, rows_total)`` with ``rows_total >= rows_done`` (the rows
    done when the total is unknown), and, at :meth:`close`, the final count once more when
    pruning lowered the total since its last call."""

    def __init__(self, progress: Callable[[int, int], Any] | bool | None, total: int | None,
                 *, desc: str = "scan", stream: IO[str] | None = None) -> None:
        self.fn: Callable[[int, int], Any] | None = None
        self.bar: Any = None
        if progress is True:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                self.bar = TextBar(desc, stream, total=total)
            else:
                self.bar = tqdm(total=total, unit="rows", unit_scale=True, desc=desc,
                                file=stream)
        elif callable(progress):
            self.fn = progress
        self.total = total or 0
        self.done = 0
        self._said = self.total

    def add(self, rows: int) -> None:
        """``rows`` more rows decoded."""
        self.update(self.done + rows)

    def update(self, done: int, total: int | None = None) -> None:
        """``done`` rows decoded so far (of ``total``, when it is known better now)."""
        step, self.done = done - self.done, done
        if total is not None:
            self.total = total
        if isinstance(self.bar, TextBar):
            self.bar.update(done, max(self.total, done) if self.total else None)
        elif self.bar is not None:
            if total is not None:
                self.bar.total = max(total, done)
            self.bar.update(step)
        if self.fn is not None:
            self._said = max(self.total, self.done)
            self.fn(self.done, self._said)

    def skip(self, rows: int | None) -> None:
        """A piece pruned: its rows leave the total."""
        if rows:
            self.total -= rows
            if self.bar is not None and not isinstance(self.bar, TextBar):
                self.bar.total = max(self.total, self.done)
                self.bar.refresh()

    def close(self) -> None:
        """The end: a callback hears the final count once more when pruned pieces lowered
        the total since its last call."""
        if self.fn is not None and self.total < self._said:
            self.fn(self.done, max(self.total, self.done))
        if self.bar is not None:
            self.bar.close()
