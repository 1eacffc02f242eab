"""What every part of the CLI shares: the program name, the one user error, lazy imports."""

from __future__ import annotations

from tagcore.errors import TagcoreError

PROG = "tagcore"


class CliError(TagcoreError):
    """A user error: printed as one line ``tagcore: error: ...``, exit status 2."""


def _tio():
    """``tagcore.io`` (the readers and writers), imported when a command needs it."""
    from tagcore import io as tio

    return tio


def _need_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise CliError("Parquet needs pyarrow: pip install 'tagcore[parquet]'") from None

