"""The lazy :class:`Scan` and the pass that streams a source's chunks through a plan."""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tagcore import _progress, _threads
from tagcore.scan import _plans as P
from tagcore.scan._source import Piece, RestartPiece, Source
from tagcore.scan.partial import Partial, Summary

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from tagcore.filters import Filter
    from tagcore.log import RequestLog
    from tagcore.tags import TagPolicy

__all__ = ["Scan", "scan"]

_I64_MIN, _I64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class _Step:
    """One ``filter()`` call: a tag filter and keyword filters."""

    expr: Filter | None
    since: Any
    until: Any
    last: Any
    now: Any
    model: tuple[str, ...] | None
    status: Any

    @property
    def timed(self) -> bool:
        return not (self.since is None and self.until is None and self.last is None)

    def need(self) -> set[str]:
        out = set()
        if self.timed:
            out.add("ts")
        if self.model is not None:
            out.add("model")
        if self.status is not None:
            out.add("status")
        return out


@dataclass(frozen=True)
class PassSpec:
    """One pass of a question, resolved before any piece is read (see
    :meth:`Scan.pass_spec`): the ``plan``, the filter ``steps`` and their windows ``wins``
    (exclusive low, inclusive high ns; "now" already taken), the windows a piece's ``ts``
    statistics are pruned by (``prune``), the tag filters, the tag ``anchors`` and the native
    columns read (``need``). It pickles, so that a worker of a cluster runs
    :func:`piece_task` with the same decisions as the process that asked."""

    plan: P.Plan
    steps: tuple[_Step, ...]
    group: tuple[str, Any] | None
    wins: tuple[tuple[int, int] | None, ...]
    prune: tuple[tuple[int, int], ...]
    tag_filters: tuple[Filter, ...]
    anchors: P.Anchors
    need: frozenset[str]

    def new_stats(self) -> dict[str, Any]:
        """The counters of a pass, at zero (see :attr:`Scan.stats`)."""
        return {"pieces": 0, "decoded": 0, "pruned_time": 0, "pruned_tags": 0, "rows": 0,
                "anchors": self.anchors,
                "columns": sorted(self.need - ({"request_tags"} if self.anchors == ()
                                               else set()))}


def vocab(src: Source, piece: Piece, anchors: P.Anchors = None) -> None:
    """Intern the tags of a piece that was not decoded (those ``anchors`` keep)."""
    if src.peek_tags(piece, anchors) is None:
        src.decode(piece, frozenset({"request_tags"}), anchors=anchors)


def piece_task(src: Source, spec: PassSpec, piece: Piece, kthreads: int = 1,
               vocab_pruned: bool = False) -> tuple[Partial | None, int, str]:
    """Run one piece of ``src`` through ``spec``: ``(partial or None, rows decoded, how)``,
    ``how`` one of ``"decoded"``, ``"time"`` (pruned by its ``ts`` statistics, its tags
    interned when the plan lists every node), ``"time-unseen"`` (pruned, tags not read) and
    ``"tags"`` (no row can pass the tag filters). ``vocab_pruned`` interns the tags of every
    time-pruned piece (a cluster's task, whose trie travels with its partial)."""
    plan, anchors, tag_filters = spec.plan, spec.anchors, spec.tag_filters
    with _threads.threads(kthreads):
        if piece.ts_min is not None and piece.ts_max is not None and any(
                piece.ts_max <= lo or piece.ts_min > hi for lo, hi in spec.prune):
            if plan.vocab or vocab_pruned:
                vocab(src, piece, anchors)
                return None, 0, "time"
            return None, 0, "time-unseen"
        if tag_filters and piece.kind == "parquet":
            ids = src.peek_tags(piece, anchors)
            if ids is not None:
                with src.lock:  # the trie's arrays, while no other thread grows it
                    pruned = any(_cannot_match(f, ids, src.trie) for f in tag_filters)
                if pruned:
                    return None, 0, "tags"
        try:
            return _decoded(src, spec, piece, kthreads, -1)
        except RestartPiece:  # what the chunks gave is not the piece's answer: whole, again
            plan.forget(piece.order)
            return _decoded(src, spec, piece, kthreads, None)


def _decoded(src: Source, spec: PassSpec, piece: Piece, kthreads: int, batch: int | None
             ) -> tuple[Partial | None, int, str]:
    """:func:`piece_task`'s pass over the chunks of a piece (``batch`` as
    :meth:`Source.decode_parts` takes it)."""
    plan = spec.plan
    merged: Partial | None = None
    rows = 0
    for start, log in src.decode_parts(piece, spec.need, batch=batch, anchors=spec.anchors,
                                       read_threads=kthreads > 1):
        ctx = P.Ctx(src.trie, src.lock, (*piece.order, start),
                    spec.need if piece.kind in ("parquet", "table") else _ALL,
                    kthreads, src.piece_unknown(piece, log))
        mask = chunk_mask(log, spec.steps, spec.wins, ctx)
        if spec.group is not None:
            mask = _and(mask, _group_mask(spec.group)(log, ctx))
        mask = _and(mask, plan.row_mask(log, ctx))
        rows += len(log)
        sub = log if mask is None or mask.all() else log[mask]
        del log
        part = plan.chunk(sub, ctx)
        del sub
        merged = part if merged is None else merged.merge(part)
        _release()
    return merged, rows, "decoded"


def chunk_mask(log: Any, steps: Sequence[_Step], wins: Sequence[tuple[int, int] | None],
               ctx: P.Ctx) -> np.ndarray | None:
    """The rows of a chunk that pass every filter (None: all), as
    :func:`tagcore.query.filter` decides."""
    mask = None
    for st, w in zip(steps, wins):
        m = np.ones(len(log), dtype=bool)
        if st.expr is not None:
            with ctx.lock:
                m &= st.expr.mask(log.tag_offsets, log.tag_ids, log.trie, trusted=log)
        if w is not None:
            m &= (log.ts > w[0]) & (log.ts <= w[1])
        if st.model is not None:
            names = set(st.model)
            codes = [i for i, name in enumerate(log.models) if name in names]
            m &= np.isin(log.model_codes, codes)
        if st.status is not None:
            m &= _status_mask(st.status, log.status)
        mask = _and(mask, m)
    return mask


class _BoundsView:
    """A log as :func:`tagcore.query.window` and the grid of a time series read it: its
    length, its first and last time, and the columns it does not know."""

    __slots__ = ("ts", "_n", "unknown")

    def __init__(self, n: int, lo: int | None, hi: int | None, unpriced: int = 0,
                 unknown: frozenset[str] = frozenset()):
        self._n = n
        self.unknown = unknown
        self.ts = np.array([lo, hi], dtype=np.int64) if n else np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return self._n


def _status_mask(status: Any, col: np.ndarray) -> np.ndarray:
    """The rows ``status=`` keeps (:func:`tagcore.query.filter`'s rule and errors)."""
    if status == "error":
        return col >= 400
    if status == "ok":
        return col < 400
    if isinstance(status, (int, np.integer)) and not isinstance(status, bool):
        return col == status
    if isinstance(status, (list, tuple, set, np.ndarray)):
        return np.isin(col, np.asarray(list(status), dtype=np.int64))
    raise ValueError(f"status: expected an int, a list of ints, 'error' or 'ok', got {status!r}")


def _cannot_match(expr: Filter, ids: np.ndarray, trie: Any) -> bool:
    """Whether no request made of the tags ``ids`` (node ids) can pass ``expr``: each leaf is
    false when none of the ids is covered by it, else unknown; a definite false is proved with
    three-valued logic."""
    from tagcore.filters import And, Everything, Leaf, Not, Nothing, Or, resolve

    leaves, res = resolve(expr, trie)
    possible = [bool(cov[ids].any()) if ids.size else False for cov in leaves]

    def val(e: Any) -> bool | None:  # False: surely false; True: surely true; None: unknown
        if isinstance(e, Leaf):
            return None if possible[e.index] else False
        if isinstance(e, Everything):
            return True
        if isinstance(e, Nothing):
            return False
        if isinstance(e, Not):
            v = val(e.item)
            return None if v is None else not v
        vals = [val(it) for it in e.items]
        if isinstance(e, And):
            return False if False in vals else (True if all(v is True for v in vals) else None)
        if isinstance(e, Or):
            return True if True in vals else (False if all(v is False for v in vals) else None)
        return None

    return val(res) is False


class _Inline:
    """An executor that runs each task at once on the calling thread (one chunk at a time
    needs no pool)."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future:
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001  (handed to the caller like a pool's)
            fut.set_exception(exc)
        return fut


class Scan:
    """A lazy view of a log on disk (or in Arrow): each question streams the source's
    chunks through the same kernels as :class:`~tagcore.log.RequestLog` and returns the same
    answer (see :mod:`tagcore.scan`). Build one with :func:`scan`.

    >>> import tagcore as tc, tempfile, os
    >>> log = tc.load_sample()
    >>> with tempfile.TemporaryDirectory() as d:
    ...     log.to_parquet(os.path.join(d, "s.parquet"), row_group_size=500)
    ...     s = tc.scan(os.path.join(d, "s.parquet"))
    ...     m = ["requests", "cost_nanos", "latency_p95", "last_seen"]
    ...     same = s.rollup(level=1, metrics=m).equals(log.rollup(level=1, metrics=m))
    >>> same
    True
    """

    def __init__(self, source: Any, *, format: str | None = None,
                 columns: Sequence[str] | Mapping[str, str] | None = None,
                 policy: TagPolicy | None = None, on_error: str = "raise",
                 ts_unit: str = "s", tags_sep: str | None = None, prices: Any = None,
                 threads: int | None = None, progress: Progress | bool | None = None,
                 batch_rows: int = 1 << 20):
        self._src = source if isinstance(source, Source) else Source(
            source, format=format, columns=columns, policy=policy, on_error=on_error,
            ts_unit=ts_unit, tags_sep=tags_sep, prices=prices, batch_rows=batch_rows)
        self._steps: tuple[_Step, ...] = ()
        self._threads = None if threads is None else _threads._check(threads)
        self._progress = progress
        self._bounds: dict[int, tuple[int, int | None, int | None, int]] = {}
        #: counters of the last pass: pieces, decoded, pruned by time / by tags, rows decoded,
        #: the native columns read
        self.stats: dict[str, Any] = {}

    def _unknown(self) -> frozenset[str]:
        """The columns the source lacks, as far as its metadata tells before a pass."""
        return self._src.unknown() or frozenset()

    def _child(self, steps: tuple[_Step, ...]) -> Scan:
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)  # a subclass's own settings (a cluster scan's)
        new._src, new._steps, new._threads, new._progress = (self._src, steps, self._threads,
                                                             self._progress)
        new._bounds = {k: v for k, v in self._bounds.items() if k <= len(steps)}
        new.stats = {}
        return new

    def __repr__(self) -> str:
        what = ", ".join(f"{k}={len(v)}" for k, v in (("parquet files", self._src.parquet),)
                         if v)
        return f"<Scan of {what or 'a source'}, {len(self._steps)} filter(s)>"

    # ------------------------------------------------------------------------ filters

    def filter(self, expr: Any = None, *, since: Any = None, until: Any = None,
               last: Any = None, now: Any = None, model: str | Sequence[str] | None = None,
               status: Any = None) -> Scan:
        """The requests matching a tag filter and keyword filters, as a new lazy scan (see
        :meth:`RequestLog.filter <tagcore.log.RequestLog.filter>`: ``last`` is relative to
        ``now``, by default the last timestamp of the requests this scan covers, read from the
        Parquet statistics when it can).

        >>> import tagcore as tc
        >>> s = tc.scan(tc.load_sample()).filter("customer/acme", last="7D")
        >>> int(s.totals()["requests"]) == len(tc.load_sample().filter("customer/acme", last="7D"))
        True
        """
        from tagcore.filters import Filter, parse_filter
        from tagcore.query.window import _parse_delta, _parse_time

        f = None
        if expr is not None:
            f = parse_filter(expr) if isinstance(expr, str) else expr
            if not isinstance(f, Filter):
                raise TypeError(f"expr: expected a filter string or Filter, got "
                                f"{type(expr).__name__}")
        if last is not None:
            if now is not None:
                _parse_time(now, "now")
            _parse_delta(last)
        if since is not None:
            _parse_time(since, "since")
        if until is not None:
            _parse_time(until, "until")
        from tagcore.log import check_known

        unknown = self._unknown()
        if since is not None or until is not None or last is not None:
            check_known(unknown, ["ts"], "since/until/last")
        if model is not None:
            check_known(unknown, ["model"], "model")
        if status is not None:
            check_known(unknown, ["status"], "status")
            _status_mask(status, np.zeros(0, dtype=np.int32))
        names = None if model is None else tuple([model] if isinstance(model, str) else model)
        return self._child((*self._steps, _Step(f, since, until, last, now, names, status)))

    def window(self, since: Any = None, until: Any = None, last: Any = None,
               now: Any = None) -> tuple[int, int] | None:
        """The time window as (exclusive low, inclusive high) ns, as
        :meth:`RequestLog.window <tagcore.log.RequestLog.window>` gives it ("now" is the last
        timestamp of the requests, from the Parquet statistics when it can).

        >>> import tagcore as tc
        >>> s = tc.scan(tc.load_sample())
        >>> s.window(last="1D") == tc.load_sample().window(last="1D")
        True
        """
        from tagcore.query.window import window

        if since is None and until is None and last is None:
            return None
        view = _BoundsView(0, None, None, unknown=self._unknown())
        if last is not None and now is None:
            view = _BoundsView(*self._bounds_of(len(self._steps)), unknown=self._unknown())
        return window(view, since, until, last, now)  # type: ignore[arg-type]

    def _bounds_of(self, k: int) -> tuple[int, int | None, int | None, int]:
        """(rows, first ts, last ts, unpriced) of the requests that pass the first ``k``
        filters (``unpriced`` > 0 when some have an unknown cost)."""
        got = self._bounds.get(k)
        if got is None:
            meta = self._src.meta_bounds() if k == 0 else None
            if meta is None:
                got = self._run(P.BoundsPlan(), self._steps[:k])
            else:
                got = meta
            self._bounds[k] = got
        return got

    def _windows(self, steps: tuple[_Step, ...]) -> list[tuple[int, int] | None]:
        from tagcore.query.window import window

        out: list[tuple[int, int] | None] = []
        for k, st in enumerate(steps):
            if not st.timed:
                out.append(None)
                continue
            view = _BoundsView(0, None, None, unknown=self._unknown())
            if st.last is not None and st.now is None:
                view = _BoundsView(*self._bounds_of(k), unknown=self._unknown())
            out.append(window(view, st.since, st.until, st.last, st.now))  # type: ignore[arg-type]
        return out

    # ------------------------------------------------------------------------ the pass

    def _inner_threads(self, n_pieces: int | None) -> tuple[int, int]:
        """(chunks decoded side by side, threads per chunk's kernels)."""
        k = self._threads or _threads.get_threads()
        if n_pieces is not None and n_pieces < k:
            return max(n_pieces, 1), max(1, k // max(n_pieces, 1))
        return k, 1

    def _run(self, plan: P.Plan, steps: tuple[_Step, ...] | None = None,
             group: tuple[str, Any] | None = None) -> Any:
        """Stream the source through ``plan`` (after ``steps``, the filters) and finish it."""
        steps = self._steps if steps is None else steps
        partial, unseen = self._pass(plan, steps, group)
        return self._finish(plan, partial, steps, group, unseen)

    def _finish(self, plan: P.Plan, partial: Partial, steps: tuple[_Step, ...],
                group: tuple[str, Any] | None, unseen: list[Piece], **kw: Any) -> Any:
        from tagcore.query import UnknownPathError

        def view_of(summary: Summary, grp: tuple[str, Any] | None = None,
                    prefill: bool = True) -> P.View:
            g = grp if grp is not None else group

            def fetch(name: str) -> np.ndarray:
                mask = None if g is None else _group_mask(g)
                col = P.ColumnPlan(name, _combine(mask, plan.row_mask), plan.anchors)
                return self._run(col, steps)

            return P.View(snap[0], summary, fetch, prefill, self._unknown())

        # the answer reads a copy of the trie: another scan of the same files may be growing
        # the shared one meanwhile (see Source._share_vocabulary)
        snap = [self._snapshot(partial.trie)]
        try:
            return plan.finish(partial, view_of, **kw)
        except UnknownPathError as first:
            err = first
        if unseen:
            for piece in unseen:  # tags of pruned pieces: the log knows them too
                self._vocab(piece, plan.anchors)
            snap[0] = self._snapshot(partial.trie)
            try:
                return plan.finish(partial, view_of, **kw)
            except UnknownPathError as again:
                err = again
        # the hint lists paths in the order the log interned them: the order of the files'
        # tag dictionaries, which threads and pruning do not keep here
        from tagcore.query._common import _unknown_path

        raise _unknown_path(P._TrieOnly(self._ordered_trie()),  # type: ignore[arg-type]
                            err.path, err.what) from None

    def _snapshot(self, trie: Any) -> Any:
        """A copy of ``trie`` (same ids), taken while no chunk grows it."""
        with self._src.lock:
            return trie.copy()

    def _ordered_trie(self) -> Any:
        """The tags of the whole source interned in row order, as a log read from it holds
        them (an error path: every piece's dictionary is read again)."""
        from tagcore.trie import TagTrie

        src = self._src
        if src.once:
            return src.trie
        order = TagTrie()
        for piece in src.pieces():
            ids = src.peek_tags(piece) if piece.kind == "parquet" else None
            if ids is None:
                log = src.decode(piece, frozenset({"request_tags"}))
                ids = np.unique(log.tag_ids, return_index=True)[1]
                ids = log.tag_ids[np.sort(ids)]
            with src.lock:
                paths = src.trie.paths
            for i in ids.tolist():
                order.add(paths[i])
        return order

    def _vocab(self, piece: Piece, anchors: P.Anchors = None) -> None:
        """Intern the tags of a piece that was not decoded (those ``anchors`` keep)."""
        vocab(self._src, piece, anchors)

    def _partials(self, plan: P.Plan) -> list[Partial]:
        """One partial per decoded piece, unmerged (what a cluster ships; tests merge them in
        any order)."""
        out: list[Partial] = []
        self._pass(plan, self._steps, keep=out)
        return out

    def pass_spec(self, plan: P.Plan, steps: tuple[_Step, ...] | None = None,
                  group: tuple[str, Any] | None = None) -> PassSpec:
        """What every piece of a pass over ``plan`` needs, resolved here once (the filters'
        windows with their "now", the columns and tags to read): a worker that runs
        :func:`piece_task` with it decides as this process would."""
        steps = self._steps if steps is None else steps
        wins = self._windows(steps)
        prune = [w for w in wins if w is not None]
        if plan.window is not None:
            prune.append(plan.window)
        tag_filters = tuple(st.expr for st in steps if st.expr is not None)
        anchors = P.union([plan.anchors, *(P.filter_anchors(f) for f in tag_filters)])
        need = set(plan.need) | {"request_tags"}
        for st in steps:
            need |= st.need()
        if group is not None:
            need.add(group[0])
        plan.question()  # fixed before the plan travels (see Plan.question)
        return PassSpec(plan, steps, group, tuple(wins), tuple(prune), tag_filters, anchors,
                        frozenset(need))

    def _pass(self, plan: P.Plan, steps: tuple[_Step, ...],
              group: tuple[str, Any] | None = None,
              keep: list[Partial] | None = None) -> tuple[Partial, list[Piece]]:
        src = self._src
        spec = self.pass_spec(plan, steps, group)
        total_rows = src.meta_rows()
        n_pieces = None
        pieces = src.pieces()
        if not src.once and all(k in ("parquet", "table", "log") for k, _ in src._items):
            pieces_l = list(pieces)
            n_pieces = len(pieces_l)
            pieces = iter(pieces_l)
        width, kthreads = self._inner_threads(n_pieces)
        stats = spec.new_stats()
        self.stats = stats
        unseen: list[Piece] = []
        bar = _progress.Progress(self._progress, total_rows)

        def task(piece: Piece) -> tuple[Partial | None, int, str]:
            return piece_task(src, spec, piece, kthreads)

        merged: Partial | None = None
        errors: list[tuple[Any, BaseException]] = []
        try:
            with (_Inline() if width == 1 else
                  cf.ThreadPoolExecutor(max_workers=width, thread_name_prefix="tagcore-scan")) as ex:
                running: dict[cf.Future, Piece] = {}
                it = iter(pieces)
                exhausted = False
                while True:
                    while not exhausted and not errors and len(running) < width:
                        piece = next(it, None)
                        if piece is None:
                            exhausted = True
                            break
                        stats["pieces"] += 1
                        running[ex.submit(task, piece)] = piece
                    if not running:
                        break
                    done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                    for fut in done:
                        piece = running.pop(fut)
                        exc = fut.exception()
                        if exc is not None:
                            errors.append((piece.order, exc))
                            continue
                        part, rows, how = fut.result()
                        if how == "time-unseen":
                            unseen.append(piece)
                            how = "time"
                        if how == "decoded":
                            stats["decoded"] += 1
                            stats["rows"] += rows
                            bar.add(rows)
                        else:
                            stats["pruned_" + how] += 1
                            bar.skip(piece.rows)
                        if part is not None:
                            if keep is not None:
                                keep.append(part)
                            merged = part if merged is None else merged.merge(part)
        finally:
            bar.close()
        if errors:
            errors.sort(key=lambda e: e[0])
            raise errors[0][1]
        if merged is None:
            merged = Partial(plan.question(), src.trie, Summary(), {}, chunks=0)
        return merged, unseen

    # ------------------------------------------------------------------------ questions

    def totals(self, metrics: Sequence[str] | None = None) -> pd.Series:
        """The grand total, each request once, as :func:`tagcore.query.totals` gives it.
        ``latency_mean`` without a quantile among the metrics is a float sum in another order
        than the in-memory one (equal to about 1e-15, relative); with one, every known latency
        is kept (8 bytes a request) and the mean is the in-memory one to the bit.

        >>> import tagcore as tc
        >>> log = tc.load_sample()
        >>> tc.scan(log).totals().equals(log.totals())
        True
        """
        return self._run(P.TotalsPlan(metrics, self._src.unknown()))

    def rollup(self, under: str | None = None, level: int | None = None,
               attribution: str = "full", by: str | None = None, sort: str = "cost",
               metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """Usage per tag node, as :func:`tagcore.query.rollup` gives it (full, split or primary
        attribution, ``by`` a column). Integers, nano-dollars, first/last times and quantiles
        are the in-memory ones exactly; float sums (split shares of requests and tokens, the
        latency sum behind ``latency_mean``) add chunk by chunk and may differ in the last
        bits. Quantiles keep the latency of each (request, node shown) pair: 8 bytes each.

        >>> import tagcore as tc
        >>> log = tc.load_sample()
        >>> s = tc.scan(log)
        >>> s.rollup(under="customer", attribution="split", metrics=["cost_nanos"]).equals(
        ...     log.rollup(under="customer", attribution="split", metrics=["cost_nanos"]))
        True
        """
        plan = P.RollupPlan(under, level, attribution, by, sort, metrics, self._src.extras(),
                            self._src.unknown())
        return self._run(plan)

    def top(self, n: int = 10, under: str | None = None, level: int | None = None,
            attribution: str = "split", metric: str = "cost",
            metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """The ``n`` largest nodes of a set plus ``(other)``, as :func:`tagcore.query.top`
        gives it (full attribution reads the source twice: ``(other)`` is what the top ``n``
        do not cover).

        >>> import tagcore as tc
        >>> log = tc.load_sample()
        >>> tc.scan(log).top(3, under="customer").equals(log.top(3, under="customer"))
        True
        """
        return _top(self, n, under, level, attribution, metric, metrics)

    def timeseries(self, freq: str, level: int | None = None, under: str | None = None,
                   metric: str = "cost", last: Any = None, since: Any = None,
                   until: Any = None, now: Any = None, tz: str = "UTC",
                   attribution: str = "full") -> pd.DataFrame:
        """A metric per time bucket and tag, as :func:`tagcore.query.timeseries` gives it.
        Row groups whose ``ts`` statistics lie outside the window are not decoded (their tags
        are read from their dictionary page, to list every column).

        >>> import tagcore as tc
        >>> log = tc.load_sample()
        >>> tc.scan(log).timeseries("1D", last="7D").equals(log.timeseries("1D", last="7D"))
        True
        """
        from tagcore.log import check_known
        from tagcore.query import _common as C
        from tagcore.query.timeseries import _TS_METRICS, _buckets
        from tagcore.query.window import window

        if metric not in _TS_METRICS:
            raise ValueError(f"metric: expected one of {list(_TS_METRICS)}, got {metric!r}")
        check_known(self._unknown(), [metric], "metric")
        check_known(self._unknown(), ["ts"], "timeseries")
        if attribution not in C._ATTRIBUTIONS:
            raise ValueError(f"attribution: expected one of {C._ATTRIBUTIONS}, "
                             f"got {attribution!r}")
        if level is None and under is None:
            level = 1
        C._check_level(level)
        under_n = P.norm_path(under, "under")
        n, lo, hi, unpriced = self._bounds_of(len(self._steps))
        bview = _BoundsView(n, lo, hi, unknown=self._unknown())
        w = window(bview, since, until, last, now)  # type: ignore[arg-type]
        if n == 0 and now is None:
            w = None
        # the grid, from the first and last time (a BucketLimitError names a row: then the
        # times are read, as the in-memory error reads them)
        from tagcore.query.timeseries import BucketLimitError

        try:
            _, starts = _buckets(bview, freq, w, tz)  # type: ignore[arg-type]
        except BucketLimitError:
            full = P.View(self._src.trie, Summary(rows=n), lambda name: self._run(
                P.ColumnPlan(name)), unknown=self._unknown())
            _buckets(full, freq, w, tz)  # type: ignore[arg-type]
            raise
        nb = len(starts)
        lohi = _effective(w, n, lo, hi) if nb else None
        plan = P.TimeseriesPlan(freq, under_n, level, metric, attribution, tz, lohi, nb)
        if n == 0 or nb == 0:
            partial = Partial(plan.question(), self._src.trie,
                              Summary(rows=n, unpriced=unpriced), {})
            self._complete_vocab()
            return self._finish(plan, partial, self._steps, None, [], starts=starts)
        partial, unseen = self._pass(plan, self._steps)
        partial.summary = self._outside(partial, n, unpriced)
        return self._finish(plan, partial, self._steps, None, unseen, starts=starts)

    def _complete_vocab(self) -> None:
        for piece in self._src.pieces() if not self._src.once else ():
            if piece.kind == "parquet":
                self._vocab(piece)

    def _outside(self, partial: Partial, n: int, unpriced: int) -> Summary:
        """The summary a time series' overflow rule reads: of every request that passes the
        filters, also those outside its window that were not decoded (their count from the
        filters' pass, their column maxima bounded above by the Parquet statistics; without
        statistics the view reads them exactly when the rule needs them)."""
        s = partial.summary
        if s.rows == n:
            return s
        out = Summary(rows=n, errors=s.errors, ts_min=s.ts_min, ts_max=s.ts_max,
                      unpriced=max(s.unpriced, unpriced), columns=s.columns,
                      unknown=s.unknown)
        bound: dict[str, int] = {}
        for name in ("prompt_tokens", "completion_tokens", "cost"):
            top = self._src.stat_max(name)
            if top is None or name not in s.maxima:
                continue
            bound[name] = max(top, s.maxima[name])
        # maxima that are upper bounds decide "cannot overflow" exactly as the true ones
        # would; where they cannot, leave the facts out so that the view reads them
        for cols in (("cost",), ("prompt_tokens",), ("completion_tokens",),
                     ("prompt_tokens", "completion_tokens")):
            if all(c in bound for c in cols) and sum(bound[c] for c in cols) * n <= _I64_MAX:
                for c in cols:
                    out.maxima[c] = bound[c]
        return out

    def pivot(self, dim_a: str, dim_b: str, metric: str = "cost") -> pd.DataFrame:
        """``metric`` for each pair of a child of ``dim_a`` and a child of ``dim_b``, as
        :func:`tagcore.query.pivot` gives it.

        >>> import tagcore as tc
        >>> log = tc.load_sample()
        >>> tc.scan(log).pivot("customer", "feature").equals(log.pivot("customer", "feature"))
        True
        """
        from tagcore.log import check_known
        from tagcore.query.timeseries import _TS_METRICS

        if metric not in _TS_METRICS:
            raise ValueError(f"metric: expected one of {list(_TS_METRICS)}, got {metric!r}")
        check_known(self._unknown(), [metric], "metric")
        return self._run(P.PivotPlan(dim_a, dim_b, metric))

    def collect(self) -> RequestLog:
        """The requests as a :class:`~tagcore.log.RequestLog` (the filters applied): the log
        ``read_*`` gives, with the same tags, columns and rows (node ids may differ).

        >>> import tagcore as tc
        >>> log = tc.load_sample()
        >>> back = tc.scan(log).collect()
        >>> len(back) == len(log), back.tags_of(0) == log.tags_of(0)
        (True, True)
        """
        from tagcore.log import RequestLog

        plan = P.CollectPlan()
        plan.need = frozenset(_NATIVE)
        self._pass(plan, self._steps)
        logs = [plan.logs[k] for k in sorted(plan.logs)]
        if not logs:
            return RequestLog.empty()
        out = logs[0] if len(logs) == 1 else RequestLog.concat(logs)
        dropped = sum(lg.dropped_rows for lg in logs)
        tags = sum(lg.dropped_tags for lg in logs)
        problems = [p for lg in logs for p in lg.problems]
        if len(logs) > 1 and (dropped or tags or problems):
            out._set_meta(dropped_rows=dropped, dropped_tags=tags, problems=problems[:20])
        return out


_ALL = frozenset({"ts", "model", "prompt_tokens", "completion_tokens", "cost", "latency_ms",
                  "status", "request_tags"})
_NATIVE = ("ts", "model", "prompt_tokens", "completion_tokens", "cost", "cost_nanos",
           "latency_ms", "status", "request_tags", "cached_tokens", "reasoning_tokens",
           "usage_unknown", "unpriced", "request_id", "user", "key")


def _release() -> None:
    """Hand the memory of a finished chunk back to the system (pyarrow's allocator keeps
    freed pages, which would count in the scan's peak memory)."""
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover
        return
    release = getattr(pa.default_memory_pool(), "release_unused", None)
    if release is not None:
        release()


def _and(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def _combine(a: Callable | None, b: Callable | None) -> Callable | None:
    if a is None:
        return b
    if b is None:
        return a
    return lambda log, ctx: _and(a(log, ctx), b(log, ctx))


def _group_mask(group: tuple[str, Any]) -> Callable[[Any, P.Ctx], np.ndarray]:
    """The rows of a chunk in one group of ``rollup(by=)``."""
    by, label = group

    def mask(log: Any, ctx: P.Ctx) -> np.ndarray:
        from tagcore.query.rollup import _group_column

        codes, labels = _group_column(log, by)
        if label not in labels:
            return np.zeros(len(log), dtype=bool)
        return codes == labels.index(label)

    return mask


def _effective(w: tuple[int, int] | None, n: int, lo: int | None, hi: int | None
               ) -> tuple[int, int]:
    """The closed window ``_buckets`` lays its grid over (its own adjustment of an open
    window to the data's first and last time)."""
    if w is None:
        assert lo is not None and hi is not None
        return lo - 1, hi
    a, b = w
    open_lo, open_hi = a == _I64_MIN, b == _I64_MAX
    if n:
        assert lo is not None and hi is not None
        b = min(b, max(hi, a + 1)) if open_hi else b
        a = max(a, lo - 1) if open_lo else a
    return a, b


def _top(self: Scan, n: int, under: str | None, level: int | None, attribution: str,
         metric: str, metrics: Sequence[str] | None) -> pd.DataFrame:
    """:func:`tagcore.query.top` over a scan (see :meth:`Scan.top`)."""

    from tagcore import log as L
    from tagcore.query import _common as C
    from tagcore.query.rollup import TOP_SUMMED, _marked, with_other

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n: expected an integer >= 0, got {n!r}")
    mets = list(L._check_metrics(metrics, self._unknown()))
    sum_metrics = [m for m in mets if m in TOP_SUMMED]
    if metric not in sum_metrics:
        raise ValueError(f"metric: {metric!r} must be one of the summed metrics {sum_metrics}")
    inner = list(dict.fromkeys([*sum_metrics, "cost_nanos"]))
    counted = [m for m in inner if m not in ("share", "cost")]
    if attribution == "full":
        if under is None and level is None:
            C._set_nodes(P._TrieOnly(self._src.trie), None, None, attribution,  # type: ignore[arg-type]
                         what="top")
        un = P.norm_path(under, "under")
        lvl = level if level is not None else (un.count("/") + 2 if un is not None else None)
        plan = P.RollupPlan(under, lvl, "full", None, "cost", inner, self._src.extras(),
                            self._src.unknown())
        plan.need = plan.need | P._needs(counted)
        partial, unseen = self._pass(plan, self._steps)
        df = self._finish(plan, partial, self._steps, None, unseen)
        if level is None and under is not None:
            view = P.View(self._snapshot(partial.trie), partial.summary, None)
            nodes = C._set_nodes(view, under, None, "full", what="top")  # type: ignore[arg-type]
            if not nodes.size:
                df = _marked(C._empty_frame(inner, False), partial.summary.unpriced > 0, False)
    else:
        plan = P.RollupPlan(under, level, attribution, None, "cost", inner, self._src.extras(),
                            self._src.unknown())
        plan.need = plan.need | P._needs(counted)
        partial, unseen = self._pass(plan, self._steps)
        df = self._finish(plan, partial, self._steps, None, unseen)
    summary = partial.summary
    mark = summary.unpriced > 0
    df = df[df.index != L.UNTAGGED]
    df = df.sort_values(metric, ascending=False, kind="stable")
    head = df.iloc[:n]
    other: dict[str, Any] = {}
    if attribution == "full":
        cov = P.CoveredPlan(counted, list(head.index))
        covered, rest = self._run(cov)
        other = {m: covered[m] for m in counted}
        if mark:
            other[C.UNPRICED] = rest.unpriced
    else:
        view = P.View(self._src.trie, summary, None)
        plain = [m for m in counted if m not in C._SUMMED]
        tot: dict[str, Any] = {}
        for m in plain:
            tot[m] = summary.rows if m == "requests" else summary.errors
        tot.update({m: P.exact_total(view, m) for m in counted if m in C._SUMMED})
        for m in counted:
            h = head[m]
            other[m] = tot[m] - (sum(h.tolist()) if h.dtype.kind in "iu" else h.sum())
            if m in C._SUMMED and isinstance(other[m], int) and other[m] > _I64_MAX:
                fetch_view = P.View(self._src.trie, summary,
                                    lambda name: self._run(P.ColumnPlan(name)))
                raise C.overflow_error(fetch_view, m, other[m], L.OTHER)  # type: ignore[arg-type]
        if mark:
            h = head[C.UNPRICED]
            other[C.UNPRICED] = summary.unpriced - (sum(h.tolist()) if h.dtype.kind in "iu"
                                                    else h.sum())
    out = with_other(head, df, other, summary.totals.get("cost", 0))
    return out[["depth", "parent", *[m for m in mets if m in sum_metrics],
                *([C.UNPRICED] if mark else [])]]


def scan(source: Any, *, format: str | None = None,
         columns: Sequence[str] | Mapping[str, str] | None = None,
         policy: TagPolicy | None = None, on_error: str = "raise", ts_unit: str = "s",
         tags_sep: str | None = None, prices: Any = None, threads: int | None = None,
         progress: Progress | bool | None = None, batch_rows: int = 1 << 20) -> Scan:
    """A lazy :class:`Scan` of a log too big to load, or that a question only partly needs:
    a Parquet file, a folder or glob of files (Parquet, JSONL, CSV), a list of paths, a
    recorder folder, a pyarrow Table, RecordBatchReader or dataset, or a RequestLog.

    ``columns``, ``policy``, ``on_error``, ``ts_unit``, ``tags_sep`` and ``prices`` are the
    readers' options (see :func:`tagcore.read_parquet`); ``threads`` the chunks decoded side by side (default
    :func:`tagcore.get_threads`); ``progress`` a callback ``(rows_done, rows_total)`` called
    after each chunk, or ``True`` for a tqdm bar when tqdm is installed; ``batch_rows`` the
    rows of one chunk of an Arrow table or dataset.

    >>> import tagcore as tc, tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     tc.load_sample().to_parquet(os.path.join(d, "log.parquet"), row_group_size=1000)
    ...     t = tc.scan(os.path.join(d, "log.parquet")).totals(["requests", "cost_nanos"])
    >>> t.equals(tc.load_sample().totals(["requests", "cost_nanos"]))
    True
    """
    return Scan(source, format=format, columns=columns, policy=policy, on_error=on_error,
                ts_unit=ts_unit, tags_sep=tags_sep, prices=prices, threads=threads,
                progress=progress, batch_rows=batch_rows)

