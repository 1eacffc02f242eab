"""A whole Parquet file read through the scan's chunk decoder (:func:`read_whole`): what
:func:`tagcore.io.read_parquet` answers with when it can.

The scan decodes row groups side by side on threads and maps each row group's tag dictionary
to node ids in C (only new distinct strings are normalized: :mod:`tagcore.scan._decode`),
where the reader's own path decodes the whole table on one thread first. Same columns, rows,
tags, money and times; the node ids come out of the threads in another order (they intern the row
groups' tags as they come): the trie is then numbered again in row order, the order of the
row groups' dictionaries, which the reader's hints of nearest paths list.

It answers only what it can vouch for, and returns None otherwise (the reader's own path then
reads the file, giving the same log or its precise error):

- a path to one file of two row groups or more (not stdin, not a file object), read with
  ``on_error="raise"`` into a trie of its own (not a caller's ``trie=``);
- every chunk read without a problem line (unpriced requests, unknown usage): the reader words
  those once for the whole file;
- any :class:`~tagcore.log.LogError` (a bad value, a bad tag) is left to the reader, which
  names the row the way it always has.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tagcore.log import LogError, RequestLog
from tagcore.tags import TagPolicy

__all__ = ["read_whole"]


def read_whole(path: Any, *, columns: Sequence[str] | Mapping[str, str] | None = None,
               policy: TagPolicy | None = None, ts_unit: str = "s",
               tags_sep: str | None = None, prices: Any = None,
               progress: Any = None) -> RequestLog | None:
    """The log of the Parquet file at ``path`` through the scan (see the module doc), or None
    when the reader's own path must answer.

    >>> import tagcore as tc, tempfile, os
    >>> log = tc.load_sample()
    >>> with tempfile.TemporaryDirectory() as d:
    ...     log.to_parquet(os.path.join(d, "s.parquet"), row_group_size=700)
    ...     back = read_whole(os.path.join(d, "s.parquet"))
    >>> back.rollup().equals(log.rollup()), len(back) == len(log)
    (True, True)
    """
    from tagcore.scan._scan import Scan
    from tagcore.scan._source import Source

    if not isinstance(path, (str, os.PathLike)) or os.fspath(path) == "-" or \
            not os.path.isfile(path):
        return None
    try:
        src = Source(os.fspath(path), format="parquet", columns=columns, policy=policy,
                     on_error="raise", ts_unit=ts_unit, tags_sep=tags_sep, prices=prices,
                     share=False)
        if not src.parquet or len(src.parquet[0].rows) < 2:
            # no rows: the reader's own path gives the empty log's columns; one row group:
            # nothing to decode side by side, and the reader numbers the tags as it goes
            return None
        if callable(progress):
            progress(0, sum(src.parquet[0].rows))  # then rows as each row group is decoded
        scan = Scan(src, progress=progress)
        log = scan.collect()
        if log.problems or log.dropped_rows or log.dropped_tags:
            return None
        # the tags numbered in row order, as the reader numbers them (threads interned them as
        # row groups came): the row groups' dictionaries in order, then one gather of the ids
        ordered = scan._ordered_trie()
        remap = ordered.merge(log.trie)
    except LogError:
        return None
    if np.array_equal(remap, np.arange(remap.size)):
        return log._replace(trie=ordered)
    return log._replace(tag_ids=remap[log.tag_ids], trie=ordered)
