"""tagcore as a benchmark engine, with the same face as the peers in ``peers.py``.

Written against the planned query API (issue 3): ``tagcore.read_parquet(path)`` gives a
``RequestLog``; its ``rollup``, ``filter`` and ``timeseries`` return pandas frames that are
converted here to the canonical shapes of ``reference.canonical``.
"""

from __future__ import annotations

import pandas as pd
from reference import Q2_FILTER, Q2_UNDER, Q3_DAYS, Q4_UNDER, canonical

_METRICS = ["requests", "cost", "prompt_tokens", "completion_tokens"]


def unavailable_reason() -> str | None:
    """Why tagcore cannot run the benchmark yet, or None when it can."""
    try:
        import tagcore
    except ImportError as e:  # a missing build raises a clear ImportError
        return f"tagcore does not import: {e}"
    if not hasattr(tagcore, "read_parquet"):
        return "tagcore.read_parquet does not exist yet (issue 3)"
    return None


def _money(df: pd.DataFrame) -> pd.DataFrame:
    """Dollars from the exact integer column when the frame has it."""
    if "cost_nanos" in df.columns:
        df = df.copy()
        df["cost"] = df["cost_nanos"].to_numpy() / 1e9
    return df


class TagcorePeer:
    """tagcore with its default threads (all cores, like the peers)."""

    name = "tagcore"
    modules = ("tagcore",)
    threads: int | None = None

    def _setup(self):
        import tagcore.kernels

        if self.threads is not None:
            tagcore.kernels.set_threads(self.threads)

    def prepare(self, path):
        """The preferred representation: the log, with its latency layout built (the one
        index tagcore caches on a log, as the peers' prepared forms hold their closures)."""
        import tagcore

        self._setup()
        log = tagcore.read_parquet(path)
        log.rollup(level=1, metrics=["latency_p50"])
        return log

    def e2e(self, path, q):
        import tagcore

        self._setup()
        return _answer(tagcore.read_parquet(path), q)

    def query(self, log, q):
        # a roll-up result cached on the log would make repeats free: drop those, keep what
        # the log knows of itself (latency layout, longest row)
        for k in [k for k in log._cache if isinstance(k, tuple)]:  # cached roll-up results
            del log._cache[k]
        return _answer(log, q)


class TagcoreOneThread(TagcorePeer):
    """tagcore on one thread."""

    name = "tagcore-1t"
    threads = 1


class TagcoreScan:
    """tagcore's streaming scan (``tagcore.scan``): every question straight from the Parquet
    file, reading only the columns and row groups it needs, on the default threads. There is
    nothing to prepare: a scan keeps no data between questions, so query-only is end-to-end
    in a warm process."""

    name = "tagcore-scan"
    # every module a question loads lazily (imports are untimed for every engine; this
    # machine runs Python with PYTHONDONTWRITEBYTECODE, so an untimed import also keeps the
    # compile out of the timing)
    modules = ("tagcore", "tagcore.scan", "tagcore.scan._decode", "tagcore.io",
               "tagcore.io.arrow", "tagcore.io.parquet", "tagcore.query",
               "tagcore.query.timeseries", "tagcore.filters", "tagcore._calendar", "pandas",
               "pyarrow.parquet", "pyarrow.compute")

    def prepare(self, path):
        return path

    def e2e(self, path, q):
        return self.query(path, q)

    def query(self, path, q):
        import tagcore

        return _answer(tagcore.scan(path), q)


def _answer(log, q):
    """The answer to ``q`` from a RequestLog or a Scan (both ask the same questions)."""
    if q == "Q1":
        return canonical(_money(log.rollup(metrics=_METRICS)), q)
    if q == "Q2":
        return canonical(_money(log.filter(Q2_FILTER).rollup(under=Q2_UNDER, metrics=_METRICS)), q)
    if q == "Q3":
        wide = log.timeseries("1D", level=1, last=f"{Q3_DAYS}D")
        wide = wide.loc[:, (wide != 0).any(axis=0)]
        long = (wide.rename_axis("day").reset_index()
                .melt(id_vars="day", var_name="tag", value_name="cost"))
        return canonical(long, q)
    if q == "Q4":
        return canonical(_money(log.rollup(under=Q4_UNDER, attribution="split", metrics=["cost"])), q)
    if q == "Q5":
        return canonical(log.rollup(level=1, metrics=["latency_p50", "latency_p95"]), q)
    raise ValueError(q)
