"""Streaming scans: questions answered from files far larger than one question needs.

:func:`scan` opens a source lazily; each question (:meth:`Scan.totals`, :meth:`Scan.rollup`,
:meth:`Scan.top`, :meth:`Scan.timeseries`, :meth:`Scan.pivot`; :meth:`Scan.filter` gives a new
scan) streams the source once, and returns the same answer as the in-memory
:class:`~tagcore.log.RequestLog` method of the same name on the same data: same frame, index,
order and dtypes, exact integers and nano-dollars, the same exact quantiles and errors. Float
sums (split shares of requests and tokens, the latency sums behind ``latency_mean``) add chunk by
chunk, so they may differ from the in-memory ones in the last bits (about 1e-15, relative).

How a question runs
-------------------
1. **Pieces.** The source is cut into pieces in row order (Parquet: one per row group; see
   :mod:`tagcore.scan._source`).
2. **Pruning.** A piece whose ``ts`` statistics lie outside the filters' windows (or a time
   series' window) is skipped; "now" for ``last=`` is the largest ``ts`` statistic, the log's
   last timestamp, when no filter comes before. A row group whose tag dictionary page holds no
   tag a tag filter could match is skipped too (three-valued logic over the filter: a leaf
   that covers none of the group's tags is false for every row).
3. **Projection.** Only the columns the question needs are decoded (a cost roll-up never
   reads tokens or latency; totals read no tag at all); a column a question does not read is
   unknown to the chunk log, which no answer reads. The tag space is projected too: a question
   about the nodes down to some depth under some path (a level, a set, the children of a pivot
   dimension, a filter's tags) reads each tag as its ancestor at that depth and leaves out the
   tags outside those paths (:data:`tagcore.scan._plans.Anchors`): the answer is the same, and
   only the few prefixes it can see are normalized and interned, not every distinct tag.
4. **Chunks.** Each row group is decoded in batches of 2**18 rows; each batch becomes a chunk
   :class:`~tagcore.log.RequestLog` over one :class:`~tagcore.trie.TagTrie` shared by the scan
   (node ids are global; raw tag strings seen before are looked up in C, so only new distinct
   strings are normalized, and already-normalized ones are recognised in C), then, through the
   same kernels as the in-memory path, a small :class:`~tagcore.scan.partial.Partial`:
   per-node or per-slot sums, counts, min/max, and, for quantiles, the latencies they need.
   Partials merge in any order, also between tries (by path). Later scans of the same files in
   one process reuse the trie.
5. **The answer** is built once from the merged partial by the in-memory frame builders.

Threads and memory
------------------
Row groups are decoded and aggregated on ``threads`` worker threads (default
:func:`tagcore.get_threads`, ``TAGCORE_THREADS``): pyarrow decodes without the GIL and the
kernels run ``nogil``. At most ``threads`` row groups are in flight, each one batch at a time,
so the memory a scan holds is about ``threads x (pyarrow's buffers for one batch + its Arrow
table + its chunk log) + the merged partial``, never the file: measured on the benchmark file
(10M requests, 1M-row row groups, 2 threads), a full roll-up peaks at 340 MiB RSS, of which
116 MiB are the imports. The partial is ``72 bytes x nodes`` for a full roll-up and ``104
bytes x slots x buckets`` for a set or a time series. Exact quantiles are the exception: they
keep the latency of every (request, node shown) pair, 8 bytes each (p50/p95 per top-level tag
of 10M requests with about three top-level tags each: about 240 MB, 650 MiB peak RSS).

Sources and limits
------------------
JSONL and CSV files are streamed, one piece per file read chunk by chunk (16 MiB of JSONL, 4
MiB of CSV) by the readers' compiled chunk decoder (:func:`tagcore.io._text.text_chunks`), each
chunk a chunk log: a scan of one holds about ``threads x (a chunk's text + its Arrow table +
its chunk log) + the merged partial``, never the file. When the compiled path refuses a chunk
(a bad value, a line it cannot vouch for), the file is read whole by the exact Python path,
which raises the reader's error with its line, or gives the rows after the chunks already
read; a JSONL file where a native key may first appear after its first chunk (its bytes are
looked at before the first chunk is given) is read whole, as are JSON, gzip files (and a file
refused at its first chunk): those hold the file's log in memory. A RecordBatchReader can be read once, so questions that need two passes (``last=``
after a filter, ``top`` with full attribution, an error that names a row) refuse it; a recorder
folder is read whole. A scan validates what it reads: a bad value in a column the question does
not read, or in a row group it prunes, is not reported (the in-memory reader would refuse it).
``rollup(by="user"/"key")`` orders groups by their first appearance in the chunks'
dictionaries.

>>> import tagcore as tc
>>> s = tc.scan(tc.load_sample())
>>> s.rollup(level=1, metrics=["requests"]).equals(tc.load_sample().rollup(level=1, metrics=["requests"]))
True
"""

import sys
import types
from typing import Any

from tagcore.scan._scan import Scan, scan
from tagcore.scan.partial import Partial

__all__ = ["Partial", "Scan", "scan"]


class _ScanPackage(types.ModuleType):
    """This package, callable as :func:`scan`: ``tagcore.scan`` names both the function
    (``tc.scan(path)``) and this package, and once a submodule is imported Python binds the
    package to that name, so the package answers the call the same way."""

    def __call__(self, source: Any, **options: Any) -> Scan:
        return scan(source, **options)


sys.modules[__name__].__class__ = _ScanPackage
