"""Writing results: frames as CSV, JSON or Parquet, logs through tagcore.io's writers, text to
stdout or atomically to a file."""

from __future__ import annotations

import argparse
import io
import json
import math
from collections.abc import Callable
from typing import IO, Any

import numpy as np
import pandas as pd

from tagcore.cli._base import CliError, _need_pyarrow, _tio
from tagcore.io._common import _atomic, spreadsheet_safe
from tagcore.log import RequestLog

# spreadsheet_safe (imported from tagcore.io._common): the one rule of every CSV tagcore writes


def _safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out.columns = [spreadsheet_safe(str(c)) if isinstance(c, str) else c for c in out.columns]
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c].dtype):
            out[c] = out[c].astype(object).map(spreadsheet_safe)
    return out


def _jsonable(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        t = pd.Timestamp(v)
        return None if t is pd.NaT else t.isoformat()
    if v is pd.NaT:
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_jsonable(x) for x in v]
    return v


def frame_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a frame (index as columns) as JSON-ready dicts: ISO times, ``None`` for NaN.

    >>> frame_records(pd.DataFrame({"cost": [0.1, float("nan")]}, index=pd.Index(["a", "b"],
    ...     name="tag")))
    [{'tag': 'a', 'cost': 0.1}, {'tag': 'b', 'cost': None}]
    """
    flat = df.reset_index() if _has_named_index(df) else df.reset_index(drop=True)
    cols = [str(c) for c in flat.columns]
    return [{c: _jsonable(v) for c, v in zip(cols, row)}
            for row in flat.itertuples(index=False, name=None)]


def _has_named_index(df: pd.DataFrame) -> bool:
    return any(n is not None for n in df.index.names)


def _flat(df: pd.DataFrame) -> pd.DataFrame:
    """A named index as columns (a tag or a bucket column); an unnamed one is left out."""
    return df.reset_index() if _has_named_index(df) else df


def _atomic_write(dest: str, write: Callable[[IO[bytes]], object]) -> None:
    """``write(fh)`` into a temporary file next to ``dest``, renamed over it when done (the
    writers of ``tagcore.io`` follow symlinks and write devices and FIFOs in place)."""
    with _atomic(dest) as fh:
        write(fh)


def _emit_text(text: str, args: argparse.Namespace, out: IO[str]) -> None:
    if args.output and args.output != "-":
        _atomic_write(args.output, lambda fh: fh.write(text.encode("utf-8")))
    else:
        out.write(text)


def emit_frame(df: pd.DataFrame, args: argparse.Namespace, out: IO[str]) -> None:
    """Write a result frame as CSV, JSON (an array of records) or Parquet."""
    fmt = args.format
    if fmt == "csv":
        flat = _flat(df)
        _emit_text(_safe_frame(flat).to_csv(index=False), args, out)
    elif fmt == "json":
        _emit_text(json.dumps(frame_records(df), allow_nan=False) + "\n", args, out)
    elif fmt == "parquet":
        _need_pyarrow()
        flat = _flat(df)
        flat.columns = [str(c) for c in flat.columns]
        _atomic_write(args.output, lambda fh: flat.to_parquet(fh, index=False))
    else:  # pragma: no cover - guarded by argparse choices
        raise CliError(f"--format: unknown format {fmt!r}")


def write_log(log: RequestLog, dest: str, fmt: str, out: IO[str]) -> None:
    """Write a log as Parquet, JSONL or CSV with ``tagcore.io`` (``dest="-"``: to ``out``)."""
    tio = _tio()
    writer = {"parquet": tio.to_parquet, "jsonl": tio.to_jsonl, "csv": tio.to_csv}[fmt]
    if fmt == "parquet":
        _need_pyarrow()
    if dest != "-":
        writer(log, dest)  # atomic; devices, FIFOs and symlinks handled by tagcore.io
        return
    if fmt == "parquet":
        raise CliError("Parquet output needs a file: add -o FILE.parquet")
    buf = io.BytesIO()
    writer(log, buf)
    binary = getattr(out, "buffer", None)
    if binary is not None:
        out.flush()
        binary.write(buf.getvalue())
        binary.flush()
    else:
        out.write(buf.getvalue().decode("utf-8"))
