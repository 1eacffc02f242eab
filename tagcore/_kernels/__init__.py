"""Compiled kernels of tagcore (private).

Duty of this package: run loops over validated arrays, nothing else. Every kernel trusts its
inputs (bounds checks are off in the normal build), so callers go through
:mod:`tagcore.kernels`, which validates dtypes, lengths, offsets and ids once and raises a clear
error before a kernel runs. Each public kernel has a slow pure-Python twin of the same name in
:mod:`tagcore._slow`, used as the test oracle.

A missing build is an ImportError that says how to build, never a silent slow fallback.
"""

try:
    from tagcore._kernels import (  # noqa: F401
        _closure,
        _quantile,
        _rollup,
        _select,
        _sets,
        _sort,
        _time,
    )
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        "tagcore's compiled kernels are not built. Install the package with "
        "`pip install .` (or `pip install -e .` in a checkout), which compiles them with "
        "Cython and a C compiler; importing tagcore straight from a source tree that was "
        f"never built does not work. Original error: {exc}"
    ) from exc
