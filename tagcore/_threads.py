"""How many threads the row kernels may use.

One process-wide default, set by :func:`set_threads` (at import: ``TAGCORE_THREADS`` when it is a
positive integer, else the CPUs this process may run on, which respects ``taskset``, cgroup
cpusets and container limits where ``os.sched_getaffinity`` exists), and a per-context
override, :func:`threads`, held in a :class:`contextvars.ContextVar`. :func:`get_threads` reads
the override of the calling context, else the default; the kernels in :mod:`tagcore.kernels` ask
it whenever a call does not pass ``threads=`` itself, so every query run inside a
``with threads(n):`` block uses ``n``.

A ``with threads(n):`` block affects only its own context: other threads
(``threading.Thread``, ``concurrent.futures`` workers) and other asyncio tasks keep seeing the
default, whatever the block says.
"""

from __future__ import annotations

import operator
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["get_threads", "set_threads", "threads"]


def available_cpus() -> int:
    """The number of CPUs this process may run on (its affinity mask), at least 1.

    >>> available_cpus() >= 1
    True
    """
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):  # no affinity API here (macOS, Windows)
        return os.cpu_count() or 1


def _default_threads() -> int:
    """``TAGCORE_THREADS`` when it is a positive integer, else :func:`available_cpus`."""
    raw = os.environ.get("TAGCORE_THREADS", "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if n > 0:
            return n
        warnings.warn(f"TAGCORE_THREADS={raw!r} is not an integer >= 1; using "
                      f"{available_cpus()} threads", RuntimeWarning, stacklevel=2)
    return available_cpus()


def _check(n: object) -> int:
    if isinstance(n, bool):
        raise ValueError(f"threads: expected an integer >= 1, got {n!r}")
    try:
        k = operator.index(n)  # type: ignore[arg-type]  # int and numpy ints; TypeError else
    except TypeError:
        raise ValueError(f"threads: expected an integer >= 1, got {n!r}") from None
    if k < 1:
        raise ValueError(f"threads: expected an integer >= 1, got {n!r}")
    return k


_lock = threading.Lock()
_default = _default_threads()
_context: ContextVar[int | None] = ContextVar("tagcore_threads", default=None)


def set_threads(n: int) -> None:
    """Use up to ``n`` threads in the row kernels, process-wide (all threads, all contexts).

    The default is ``TAGCORE_THREADS`` or the CPUs this process may run on. Inside a
    ``with threads(m):`` block, ``m`` still wins in that block's context.

    >>> before = get_threads()
    >>> set_threads(1); get_threads()
    1
    >>> set_threads(before)
    """
    global _default
    k = _check(n)
    with _lock:
        _default = k


def get_threads() -> int:
    """The number of threads the row kernels may use here: the innermost ``with threads(n):``
    of the calling context, else the process-wide default.

    >>> with threads(2):
    ...     get_threads()
    2
    """
    n = _context.get()
    return _default if n is None else n


@contextmanager
def threads(n: int) -> Iterator[int]:
    """Run the block's kernels on up to ``n`` threads; only this context sees it, and the
    previous value comes back when the block ends, also on an exception. Blocks nest.

    >>> with threads(1) as k:
    ...     k, get_threads()
    (1, 1)
    """
    k = _check(n)
    token = _context.set(k)
    try:
        yield k
    finally:
        _context.reset(token)
