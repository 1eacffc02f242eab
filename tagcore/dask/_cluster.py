"""The cluster pass of :class:`DaskScan`: tasks that return partials, Dask's tree reduction,
the answer on the client (see :mod:`tagcore.dask`)."""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import cloudpickle

from tagcore.scan import _plans as P
from tagcore.scan._scan import PassSpec, Scan, piece_task
from tagcore.scan._source import Source
from tagcore.scan.partial import SKETCH_K, Partial, Summary, shown_nodes

if TYPE_CHECKING:  # pragma: no cover
    import dask.dataframe as dd
    import pandas as pd
    from distributed import Client

    from tagcore.log import RequestLog
    from tagcore.scan._scan import _Step
    from tagcore.tags import TagPolicy

__all__ = ["DaskScan", "from_dask_dataframe", "scan"]

#: a run of at least this many tasks shows Dask's progress bar when ``progress=None`` and the
#: output is a terminal
AUTO_PROGRESS_TASKS = 64

_READER_OPTIONS = ("format", "columns", "policy", "on_error", "ts_unit", "tags_sep", "prices",
                   "batch_rows")


@dataclass(frozen=True)
class _Task:
    """One task: a file (``rgs`` None: all its row groups; else a range of them), or one
    partition of a Dask DataFrame (``path`` empty). ``index`` is its place in row order."""

    index: int
    path: str = ""
    rgs: tuple[int, int] | None = None
    rows: int | None = None


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "local"


def _stats(spec: PassSpec) -> dict[str, Any]:
    st = spec.new_stats()
    st.update(tasks=1, workers={_worker_name()})
    return st


def _run_source(src: Source, spec: PassSpec, index: int, rgs: tuple[int, int] | None,
                sketch_k: int) -> tuple[Partial, dict[str, Any]]:
    """The partial of some pieces of ``src`` (a worker's task): every piece through
    :func:`~tagcore.scan._scan.piece_task`, merged, over a copy of the source's trie (another
    task of this worker may grow the shared one), latencies sketched for quantile questions.
    Each piece's order starts with ``index``, the file's place in the whole source.

    The partial is compacted (:meth:`Partial.compact`) before it leaves the task: the
    worker's trie of the file also holds the paths earlier questions and other row groups
    interned, so only the nodes the partial names and those the question's anchors may show
    (:func:`~tagcore.scan.partial.shown_nodes`) travel, with their ancestors. Merges of
    compacted partials stay compact (a merge adds the other trie's paths only), so the tree
    reduction does not compact again. A local scan never compacts: its threads share one
    trie, whose ids agree, and nothing crosses a process boundary."""
    stats = _stats(spec)
    merged: Partial | None = None
    for piece in src.pieces():
        if rgs is not None and not rgs[0] <= piece.rg < rgs[1]:
            continue
        piece = replace(piece, order=(index, *piece.order))
        stats["pieces"] += 1
        part, rows, how = piece_task(src, spec, piece, 1, vocab_pruned=True)
        if how == "decoded":
            stats["decoded"] += 1
            stats["rows"] += rows
        else:
            stats["pruned_" + ("time" if how == "time-unseen" else how)] += 1
        if part is not None:
            merged = part if merged is None else merged.merge(part)
    with src.lock:
        trie = src.trie.copy()
    if merged is None:
        merged = Partial(spec.plan.question(), trie, Summary(), {}, chunks=0)
    else:
        merged = Partial(merged.question, trie, merged.summary, merged.parts, merged.labels,
                         merged.chunks)
    if spec.plan.sketchable:
        merged = merged.sketched(sketch_k)
    keep = shown_nodes(trie, spec.plan.anchors, spec.plan.vocab)
    if keep is not None:  # only the paths the partial names or the answer may show
        merged = merged.compact(keep)
    return merged, stats


#: a worker's open sources, by file and reader options: the tasks of one file read its footer
#: once (a footer lists every row group, so reading it per task would cost O(tasks^2))
_SOURCES: OrderedDict[Any, Source] = OrderedDict()
_SOURCES_LOCK = threading.Lock()
_SOURCES_MAX = 32


def _source_of(path: str, opts: dict[str, Any]) -> Source:
    import os

    try:
        st = os.stat(path)
        stamp: Any = (st.st_size, st.st_mtime_ns)
    except OSError:  # a URL: its objects are not expected to change under a running scan
        stamp = None
    key = (path, stamp, cloudpickle.dumps(opts))
    with _SOURCES_LOCK:
        src = _SOURCES.pop(key, None)
    if src is None:
        src = Source(path, **opts)
    with _SOURCES_LOCK:
        _SOURCES[key] = src
        while len(_SOURCES) > _SOURCES_MAX:
            _SOURCES.popitem(last=False)
    return src


def _file_task(task: _Task, blob: bytes, opts: dict[str, Any], sketch_k: int
               ) -> tuple[Partial, dict[str, Any]]:
    spec = cloudpickle.loads(blob)
    return _run_source(_source_of(task.path, opts), spec, task.index, task.rgs, sketch_k)


def _frame_task(blob: bytes, opts: dict[str, Any], index: int, frame: pd.DataFrame,
                sketch_k: int) -> list[tuple[Partial, dict[str, Any]]]:
    import pyarrow as pa

    spec = cloudpickle.loads(blob)
    src = Source(pa.Table.from_pandas(frame, preserve_index=False), **opts)
    return [_run_source(src, spec, index, None, sketch_k)]


def _merge_all(items: Iterable[tuple[Partial, dict[str, Any]]]
               ) -> tuple[Partial, dict[str, Any]]:
    """One partial (and the summed counters) of several: a step of the tree reduction."""
    merged: Partial | None = None
    stats: dict[str, Any] = {}
    for part, st in items:
        merged = part if merged is None else merged.merge(part)
        for k, v in st.items():
            if k == "workers":
                stats[k] = stats.get(k, set()) | v
            elif isinstance(v, int) and k in stats:
                stats[k] += v
            elif k not in stats:
                stats[k] = v
    if merged is None:
        raise ValueError("tree reduction: nothing to merge")  # a bug: a partition is never empty
    return merged, stats


def _client_of(client: Client | None) -> Client:
    if client is not None:
        return client
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        raise ValueError("tagcore.dask: no Dask client: start one (distributed.Client(...)) "
                         "or pass client=") from None


class DaskScan(Scan):
    """A :class:`~tagcore.scan.Scan` whose passes run on a Dask cluster (see
    :mod:`tagcore.dask`); build one with :func:`scan` or :func:`from_dask_dataframe`.
    :attr:`stats` of the last pass also counts its ``tasks`` and the ``workers`` that ran
    them.

    >>> import tagcore.dask as tcd
    >>> s = tcd.scan("logs/")  # doctest: +SKIP
    >>> s.filter("customer/*", last="7D").rollup(under="customer", attribution="split")  # doctest: +SKIP
    """

    def __init__(self, source: Any, *, client: Client | None = None,
                 task_rows: int = 1 << 22, split_every: int = 8, sketch_k: int = SKETCH_K,
                 progress: bool | None = None, frames: Any = None,
                 reader_options: Mapping[str, Any] | None = None):
        from tagcore.scan.partial import LatencySketches

        opts = dict(reader_options or {})
        bad = set(opts) - set(_READER_OPTIONS)
        if bad:
            raise TypeError(f"unexpected reader option(s) {sorted(bad)}; expected some of "
                            f"{list(_READER_OPTIONS)}")
        if isinstance(task_rows, bool) or not isinstance(task_rows, int) or task_rows < 1:
            raise ValueError(f"task_rows: expected an integer >= 1, got {task_rows!r}")
        if isinstance(split_every, bool) or not isinstance(split_every, int) or split_every < 2:
            raise ValueError(f"split_every: expected an integer >= 2, got {split_every!r}")
        LatencySketches(sketch_k)  # checks k
        if progress not in (None, True, False):
            raise ValueError(f"progress: expected True, False or None, got {progress!r}")
        super().__init__(source, **opts)
        self._opts = opts
        self._client = client
        self._task_rows, self._split_every, self._sketch_k = task_rows, split_every, sketch_k
        self._bar = progress
        self._frames = frames
        if frames is None:
            kinds = {k for k, _ in self._src._items}
            if not kinds <= {"parquet", "text"}:
                raise TypeError("tagcore.dask.scan: the source must be files (Parquet, JSONL, "
                                f"CSV) that every worker can open, not {sorted(kinds - {'parquet', 'text'})}; "
                                "use tagcore.scan for Arrow tables and recorder folders, or "
                                "tagcore.dask.from_dask_dataframe")

    def __repr__(self) -> str:
        n = len(self._tasks())
        return f"<DaskScan of {n} task(s), {len(self._steps)} filter(s)>"

    @property
    def sketch_k(self) -> int:
        """The KLL parameter of the latency sketches."""
        return self._sketch_k

    def quantile_note(self) -> str:
        """What a frame's ``attrs["latency_quantiles"]`` says about its quantiles."""
        from tagcore.scan.partial import LatencySketches

        err = LatencySketches(self._sketch_k).rank_error()
        return (f"KLL sketch (Apache DataSketches), k={self._sketch_k}: exact for a tag with "
                f"at most about {self._sketch_k} latencies, else within a normalized rank "
                f"error of {err:.3%} (99% confidence)")

    # ------------------------------------------------------------------------ tasks

    def _tasks(self) -> list[_Task]:
        if self._frames is not None:
            return [_Task(i) for i in range(self._frames.npartitions)]
        out = []
        for i, (kind, what) in enumerate(self._src._items):
            if kind == "text":
                out.append(_Task(i, what[0]))
                continue
            rows = what.rows  # consecutive row groups of about task_rows rows (at least one)
            lo, acc = 0, 0
            for g, n in enumerate(rows):
                if g > lo and acc + n > self._task_rows:
                    out.append(_Task(i, what.path, (lo, g), acc))
                    lo, acc = g, 0
                acc += n
            out.append(_Task(i, what.path, (lo, len(rows)), acc))
        return out

    def _bag(self, spec: PassSpec) -> Any:
        import dask
        import dask.bag as db

        blob = cloudpickle.dumps(spec)
        tasks = self._tasks()
        if self._frames is not None:
            parts = self._frames.to_delayed()
            return db.from_delayed([dask.delayed(_frame_task)(blob, self._opts, i, part,
                                                              self._sketch_k)
                                    for i, part in enumerate(parts)]), len(parts)
        bag = db.from_sequence(tasks, partition_size=1)
        return bag.map(_file_task, blob, self._opts, sketch_k=self._sketch_k), len(tasks)

    def _compute(self, spec: PassSpec, reduce: bool = True) -> Any:
        client = _client_of(self._client)
        bag, n = self._bag(spec)
        if n == 0:
            return None
        what = bag.reduction(_merge_all, _merge_all, split_every=self._split_every) \
            if reduce else bag
        fut = client.compute(what)
        show = self._bar
        if show is None:
            show = n >= AUTO_PROGRESS_TASKS and sys.stdout.isatty()
        if show:
            from distributed import progress

            progress(fut)
        return fut.result()

    # ------------------------------------------------------------------------ the pass

    def _pass(self, plan: P.Plan, steps: tuple[_Step, ...],
              group: tuple[str, Any] | None = None,
              keep: list[Partial] | None = None) -> tuple[Partial, list[Any]]:
        if isinstance(plan, P.CollectPlan):
            raise NotImplementedError(
                "collect() on a cluster would gather every request on one machine: ask a "
                "question (totals, rollup, ...) instead, or use tagcore.scan(...).collect()")
        spec = self.pass_spec(plan, steps, group)
        got = self._compute(spec)
        if got is None:
            self.stats = {**spec.new_stats(), "tasks": 0, "workers": set()}
            return Partial(plan.question(), self._src.trie, Summary(), {}, chunks=0), []
        merged, stats = got
        self.stats = stats
        if keep is not None:
            keep.append(merged)
        # every task interned the tags of the pieces it pruned: none is left unseen
        return merged, []

    def _partials(self, plan: P.Plan) -> list[Partial]:
        """One partial per task, unmerged (gathered on the client: for tests)."""
        got = self._compute(self.pass_spec(plan, self._steps), reduce=False)
        return [] if got is None else [p for p, _ in got]

    def _finish(self, plan: P.Plan, partial: Partial, steps: tuple[_Step, ...],
                group: tuple[str, Any] | None, unseen: list[Any], **kw: Any) -> Any:
        out = super()._finish(plan, partial, steps, group, unseen, **kw)
        if plan.sketchable and hasattr(out, "attrs"):
            out.attrs["latency_quantiles"] = self.quantile_note()
        return out

    def collect(self) -> RequestLog:
        """Refused on a cluster (it would gather every request on one machine)."""
        return self._pass(P.CollectPlan(), self._steps)  # type: ignore[return-value]


def scan(source: Any, client: Client | None = None, *, format: str | None = None,
         columns: Sequence[str] | Mapping[str, str] | None = None,
         policy: TagPolicy | None = None, on_error: str = "raise", ts_unit: str = "s",
         tags_sep: str | None = None, prices: Any = None, task_rows: int = 1 << 22,
         split_every: int = 8, sketch_k: int = SKETCH_K,
         progress: bool | None = None) -> DaskScan:
    """A lazy scan of files (a Parquet file, a folder or glob of files, a list of paths)
    whose questions run on a Dask cluster: ``client`` (default: the current
    :class:`distributed.Client`). The answers equal :func:`tagcore.scan`'s, frame for frame,
    except latency quantiles, which come from KLL sketches (see :mod:`tagcore.dask`).

    The reader options are :func:`tagcore.scan`'s. ``task_rows`` bounds the rows of one task
    (a file with more rows is cut into ranges of its row groups), ``split_every`` the partials
    merged in one step of the tree reduction, ``sketch_k`` the sketches' parameter;
    ``progress`` shows Dask's progress bar (None: when a run has many tasks and the output is
    a terminal).

    >>> import tagcore as tc, tagcore.dask as tcd
    >>> from distributed import Client
    >>> client = Client(n_workers=2, threads_per_worker=1)  # doctest: +SKIP
    >>> s = tcd.scan("logs/*.parquet", client)  # doctest: +SKIP
    >>> s.totals().equals(tc.scan("logs/*.parquet").totals())  # doctest: +SKIP
    True
    """
    opts = {k: v for k, v in (("format", format), ("columns", columns), ("policy", policy),
                              ("on_error", on_error), ("ts_unit", ts_unit),
                              ("tags_sep", tags_sep), ("prices", prices))}
    return DaskScan(source, client=client, task_rows=task_rows, split_every=split_every,
                    sketch_k=sketch_k, progress=progress, reader_options=opts)


def from_dask_dataframe(ddf: dd.DataFrame, tags: str = "request_tags",
                        client: Client | None = None, *,
                        columns: Mapping[str, str] | None = None,
                        policy: TagPolicy | None = None, on_error: str = "raise",
                        ts_unit: str = "s", tags_sep: str | None = None, prices: Any = None,
                        split_every: int = 8, sketch_k: int = SKETCH_K,
                        progress: bool | None = None) -> DaskScan:
    """A lazy scan of a Dask DataFrame whose rows are requests (``tags`` names its column of
    request tags; the other columns are matched as :func:`tagcore.read_parquet` matches
    them, or named by ``columns``). Each partition is one task, in partition order.

    >>> import dask.dataframe as dd, tagcore.dask as tcd
    >>> ddf = dd.read_parquet("logs/")  # doctest: +SKIP
    >>> tcd.from_dask_dataframe(ddf, tags="request_tags").rollup(level=1)  # doctest: +SKIP
    """
    import dask.dataframe as ddm
    import pyarrow as pa

    if not isinstance(ddf, ddm.DataFrame):
        raise TypeError(f"ddf: expected a dask DataFrame, got {type(ddf).__name__}")
    if not isinstance(tags, str):
        raise TypeError(f"tags: expected a column name, got {tags!r}")
    if tags not in ddf.columns:
        raise ValueError(f"tags: no column {tags!r} in the frame (it has {list(ddf.columns)})")
    cols = dict(columns or {})
    cols["request_tags"] = tags
    opts = {"columns": cols, "policy": policy, "on_error": on_error, "ts_unit": ts_unit,
            "tags_sep": tags_sep, "prices": prices}
    meta = pa.Table.from_pandas(ddf._meta, preserve_index=False)
    return DaskScan(meta, client=client, split_every=split_every, sketch_k=sketch_k,
                    progress=progress, frames=ddf, reader_options=opts)
