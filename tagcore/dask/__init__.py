"""Past one machine: the questions of :func:`tagcore.scan` on a Dask cluster, from the same
partials (``pip install 'tagcore[dask]'``).

:func:`scan` opens Parquet files (a folder, a glob, a list; JSONL/CSV files too, one task
each) for a :class:`distributed.Client`; :func:`from_dask_dataframe` takes a Dask DataFrame
someone already holds. The result is a :class:`DaskScan`, a :class:`tagcore.scan.Scan` whose
pass runs on the cluster, so it asks the same questions (``totals``, ``rollup`` with every
attribution and ``by=``, ``filter``, ``timeseries``, ``pivot``, ``top``) with the same
arguments and gives the same frames.

How a question runs
-------------------
1. **On the client, metadata first.** The files' footers give the row groups, their row
   counts and ``ts`` statistics; the filters' windows are resolved here (``last=`` takes "now"
   from the largest ``ts`` statistic of all the files, or from a counting pass on the cluster
   when a filter comes first or statistics are missing), so that every task uses the same
   "now" and the same bucket grid.
2. **Tasks.** Each file, or each range of its row groups of about ``task_rows`` rows, is one
   Dask task. A task opens its file (any path pyarrow can open), prunes its row groups by
   their ``ts`` statistics and tag dictionaries, decodes only the columns the question
   reads, runs the same plan as the local scan over its chunks, and returns a
   :class:`~tagcore.scan.partial.Partial` keyed by tag path (its own trie), with its file's
   place in row order (``order_prefix``).
3. **Tree reduction.** Partials merge in Dask's own tree reduction
   (:meth:`dask.bag.Bag.reduction`, ``split_every`` partials per merge): no machine ever
   holds more than ``split_every`` partials, and the client receives one.
4. **The answer** is built on the client from the merged partial by the same frame builders
   as the local scan.

What is exact, what is not
--------------------------
Counts, errors, tokens, nano-dollars, first/last times, split attribution and time buckets
are exact: integer sums add exactly in any order, and a split's remainder (the nano-dollars
left after each hit node's floor share) goes to the request's first hit nodes in **path
order**, which depends on the tag strings only, never on a task's trie ids, so every task
assigns it as one process would. Float sums (split shares of counts and tokens, the latency
sum behind ``latency_mean``) add in another order and may differ in the last bits (about
1e-15, relative), as they may on a local scan.

Latency quantiles are the one approximate answer: exact quantiles would need every latency
on one machine, so each task ships, per tag shown, an Apache DataSketches **KLL** sketch
(doubles, ``sketch_k=2000`` by default). A KLL sketch has a normalized **rank** error of
0.14% at ``k=2000`` (99% confidence, one quantile); a tag with at most about ``k``
latencies keeps all of them and gets the exact quantiles. In the value, for lognormal
latencies of shape ``sigma``, the error is about ``2.5 x sigma x 0.14%`` at p50 and
``9.7 x sigma x 0.14%`` at p95: within 2% of the value for ``sigma <= 1.4`` at p95 (measured
errors are far smaller: see SCALE.md). A frame or series with quantiles says so in
``attrs["latency_quantiles"]``. The local :func:`tagcore.scan` stays exact.

Limits
------
``collect()`` is refused (it would gather every request on one machine). A RecordBatchReader,
an Arrow table or a recorder folder is not a cluster source (use :func:`tagcore.scan`).
Error paths that name a row (a sum past int64, a bucket limit) fetch the column they need
through the cluster once more; an unknown-path hint reads the files' tag dictionaries on the
client.

>>> import tagcore.dask as tcd
>>> s = tcd.scan("logs/*.parquet")  # doctest: +SKIP
>>> s.rollup(level=1).equals(tc.scan("logs/*.parquet").rollup(level=1))  # doctest: +SKIP
True
"""

from __future__ import annotations

try:
    import dask  # noqa: F401
    import dask.bag  # noqa: F401
    import datasketches  # noqa: F401
    import distributed  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"tagcore.dask needs the 'dask' extra ({exc.name} is missing): "
        "pip install 'tagcore[dask]' (dask[dataframe], distributed and datasketches)"
    ) from exc

from tagcore.dask._cluster import DaskScan, from_dask_dataframe, scan

__all__ = ["DaskScan", "from_dask_dataframe", "scan"]
