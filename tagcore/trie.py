"""The tag trie: every tag path and every prefix of it as a node with a dense int32 id.

``US/California/SF`` makes three nodes, ``US``, ``US/California`` and ``US/California/SF``. Ids
are given in the order nodes are first seen, and a parent is always created before its children,
so ``parent[i] < i`` for every node (``-1`` for a root): kernels rely on it to walk up the trie, or
to push a value down it in one pass in id order.

The trie stores paths exactly as given. They must already be normalized (see
:func:`tagcore.tags.normalize_tag`): segments separated by ``/`` and no empty segment. The trie
checks only that, and does no Unicode or white-space normalization of its own.

>>> trie = TagTrie(["customer/acme", "geo/US/CA", "geo/UK/London"])
>>> len(trie)
7
>>> trie.id("geo/US"), trie.path(3), trie.parent(trie.id("geo/US/CA"))
(3, 'geo/US', 3)
>>> trie.children("geo").tolist()
[3, 5]
>>> [trie.path(i) for i in trie.match("*/UK/*")]
['geo/UK/London']
>>> [trie.path(i) for i in trie.match("geo/**")]
['geo', 'geo/US', 'geo/US/CA', 'geo/UK', 'geo/UK/London']
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

__all__ = ["TagTrie", "path_matches"]

SEP = "/"

_NO_KIDS: dict[str, int] = {}


def _bad_path(path: object) -> str | None:
    """Why ``path`` is not a valid trie path, or None when it is."""
    if not isinstance(path, str):
        return f"must be a str, got {type(path).__name__}"
    if not path:
        return "is empty"
    if path[0] == SEP or path[-1] == SEP or SEP + SEP in path:
        return "has an empty segment"
    return None


def _check_path(path: object, what: str = "tag path") -> str:
    why = _bad_path(path)
    if why is not None:
        raise ValueError(f"{what} {path!r} {why} (expected a normalized path like 'org/team')")
    return str(path)


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


# --- glob matching over segments ---------------------------------------------------------------

_LIT, _ANY, _GLOB, _MULTI = 0, 1, 2, 3


def _segment_kind(seg: str) -> tuple[int, Any]:
    """Classify one pattern segment: literal, ``*`` (any one segment), glob, or ``**``."""
    if seg == "**":
        return _MULTI, None
    if "*" not in seg and "?" not in seg:
        return _LIT, seg
    if seg.strip("*") == "":
        return _ANY, None
    return _GLOB, _glob_fullmatch(seg)


def _glob_fullmatch(seg: str) -> Any:
    """``fullmatch(text)`` (truthy or None) for a segment glob with ``*`` (any run) and ``?``
    (one character), in O(len(text) * len(seg)) time: the pieces between stars have fixed
    lengths, so the first is anchored at the start, the last at the end, and each middle one
    is found leftmost after the one before (a regex of ``.*`` runs would backtrack
    exponentially in the number of stars).

    >>> m = _glob_fullmatch("*a*a*a*a*a*a*a*b")
    >>> m("a" * 60) is None, bool(m("xaaaaaaayb"))
    (True, True)
    """
    pieces = seg.split("*")
    regs = [re.compile("".join("." if c == "?" else re.escape(c) for c in p), re.DOTALL)
            for p in pieces]
    if len(pieces) == 1:
        return regs[0].fullmatch
    first, last, mids = regs[0], regs[-1], regs[1:-1]
    flen, llen = len(pieces[0]), len(pieces[-1])

    def fullmatch(text: str) -> bool | None:
        n = len(text)
        if n < flen + llen or first.fullmatch(text, 0, flen) is None \
                or last.fullmatch(text, n - llen, n) is None:
            return None
        pos, end = flen, n - llen
        for mid in mids:
            m = mid.search(text, pos, end)
            if m is None:
                return None
            pos = m.end()
        return True

    return fullmatch


class _Pattern:
    """A glob over segments compiled to a small NFA whose states are pattern positions."""

    def __init__(self, pattern: str) -> None:
        segs = _check_path(pattern, "glob pattern").split(SEP)
        self.n = n = len(segs)
        kinds = [_segment_kind(s) for s in segs]
        self.kind = [k for k, _ in kinds]
        self.arg = [a for _, a in kinds]

        def closure(states: Iterable[int]) -> frozenset[int]:
            out = set()
            for i in states:
                out.add(i)
                while i < n and self.kind[i] == _MULTI:
                    i += 1
                    out.add(i)
            return frozenset(out)

        # adv[i]: states after pattern segment i consumed one trie segment (for ** it stays)
        self.adv = [
            closure([i] if self.kind[i] == _MULTI else [i + 1]) for i in range(n)
        ]
        self.start = closure([0])
        self._base: dict[frozenset[int], tuple] = {}

    def split(self, states: frozenset[int]) -> tuple:
        """For a state set: the next states every child reaches, literal moves, glob moves."""
        got = self._base.get(states)
        if got is None:
            base: set[int] = set()
            lits: dict[str, set[int]] = {}
            globs = []
            for i in states:
                if i == self.n:
                    continue
                k = self.kind[i]
                if k == _ANY or k == _MULTI:
                    base |= self.adv[i]
                elif k == _LIT:
                    lits.setdefault(self.arg[i], set()).update(self.adv[i])
                else:
                    globs.append((self.arg[i], self.adv[i]))
            got = (frozenset(base), {s: frozenset(v) for s, v in lits.items()}, tuple(globs))
            self._base[states] = got
        return got

    def matches(self, path: str) -> bool:
        """Whether one normalized tag ``path`` matches: the same moves as :meth:`TagTrie.match`."""
        states = self.start
        for seg in path.split(SEP):
            base, lits, globs = self.split(states)
            nxt = base
            extra = lits.get(seg)
            if extra is not None:
                nxt = nxt | extra
            for fullmatch, adv in globs:
                if fullmatch(seg) is not None:
                    nxt = nxt | adv
            if not nxt:
                return False
            states = nxt
        return self.n in states


def path_matches(pattern: str, path: str) -> bool:
    """Whether the tag ``path`` matches the glob ``pattern``, with :meth:`TagTrie.match`'s rules
    (``*`` one segment, ``**`` zero or more, ``*``/``?`` inside a segment). For many paths,
    compile once with ``_Pattern(pattern).matches``.

    >>> path_matches("customer/*", "customer/acme"), path_matches("customer/*", "customer/a/b")
    (True, False)
    >>> path_matches("org/**", "org"), path_matches("**/London", "geo/UK/London")
    (True, True)
    """
    return _Pattern(pattern).matches(_check_path(path))


class TagTrie:
    """Interned tag paths and all their prefixes, as nodes with dense int32 ids.

    ``TagTrie(paths)`` adds ``paths`` in order. A node is referred to by its id (an int) or, where
    a method says so, by its path. Methods that return several nodes return a sorted int32 numpy
    array of ids, ready for kernels.

    >>> t = TagTrie()
    >>> t.add("org/eng/search")
    2
    >>> t.add("org/eng")           # already there as a prefix
    1
    >>> list(t)
    ['org', 'org/eng', 'org/eng/search']
    >>> t.parents.tolist(), t.depths.tolist()
    ([-1, 0, 1], [1, 2, 3])
    >>> "org/eng" in t, "org/sales" in t
    (True, False)
    """

    __slots__ = (
        "_index", "_paths", "_parent", "_depth", "_root", "_segment", "_kids", "_root_kids",
        "_cache", "__weakref__",
    )

    def __init__(self, paths: Iterable[str] = ()) -> None:
        self._index: dict[str, int] = {}
        self._paths: list[str] = []
        self._parent: list[int] = []
        self._depth: list[int] = []
        self._root: list[int] = []
        self._segment: list[str] = []
        self._kids: list[dict[str, int] | None] = []
        self._root_kids: dict[str, int] = {}
        self._cache: dict[str, Any] = {}
        if isinstance(paths, str):
            raise TypeError("TagTrie(paths) takes an iterable of paths, not a single str")
        for p in paths:
            self.add(p)

    # --- growing ------------------------------------------------------------------------------

    def add(self, path: str) -> int:
        """Intern ``path`` and all its prefixes; return the id of ``path``.

        Adding a known path returns its id and changes nothing. Prefixes get their ids first,
        so a parent's id is always smaller than its children's.

        >>> t = TagTrie()
        >>> t.add("a/b/c"), t.add("a/b/c"), t.add("a/x")
        (2, 2, 3)
        >>> t.add("a//b")
        Traceback (most recent call last):
        ...
        ValueError: tag path 'a//b' has an empty segment (expected a normalized path like 'org/team')
        """
        i = self._index.get(path) if isinstance(path, str) else None
        if i is not None:
            return i
        return self._intern(_check_path(path))

    def add_many(self, paths: Iterable[str]) -> np.ndarray:
        """Intern every path of ``paths``; return their ids as an int32 array, in input order.

        A path already known costs one dict lookup.

        >>> t = TagTrie(["a"])
        >>> t.add_many(["a/b", "a", "c", "a/b"]).tolist()
        [1, 0, 2, 1]
        """
        if isinstance(paths, str):
            raise TypeError("add_many(paths) takes an iterable of paths, not a single str")
        get = self._index.get
        add = self.add
        out: list[int] = []
        append = out.append
        for p in paths:
            i = get(p) if type(p) is str else None
            append(add(p) if i is None else i)
        return np.array(out, dtype=np.int32) if out else np.empty(0, dtype=np.int32)

    def _intern(self, path: str) -> int:
        """Add a valid path that is not in the trie, with its missing prefixes."""
        index = self._index
        missing = [path]
        parent = -1
        p = path
        while True:
            pos = p.rfind(SEP)
            if pos < 0:
                break
            p = p[:pos]
            j = index.get(p)
            if j is not None:
                parent = j
                break
            missing.append(p)
        for q in reversed(missing):
            parent = self._new_node(q, parent)
        return parent

    def _new_node(self, path: str, parent: int) -> int:
        i = len(self._paths)
        seg = path[path.rfind(SEP) + 1:]
        self._index[path] = i
        self._paths.append(path)
        self._parent.append(parent)
        self._segment.append(seg)
        self._kids.append(None)
        if parent < 0:
            self._depth.append(1)
            self._root.append(i)
            self._root_kids[seg] = i
        else:
            self._depth.append(self._depth[parent] + 1)
            self._root.append(self._root[parent])
            kids = self._kids[parent]
            if kids is None:
                kids = self._kids[parent] = {}
            kids[seg] = i
        if self._cache:
            self._cache.clear()
        return i

    def merge(self, other: TagTrie) -> np.ndarray:
        """Add all of ``other``'s paths; return ``remap`` with ``remap[other_id] == self_id``.

        Used to concatenate logs built over different tries: ``remap[tag_ids]`` turns the other
        log's ids into this trie's.

        >>> a, b = TagTrie(["x/y"]), TagTrie(["z", "x/q"])
        >>> a.merge(b).tolist()
        [2, 0, 3]
        >>> list(a)
        ['x', 'x/y', 'z', 'x/q']
        """
        if not isinstance(other, TagTrie):
            raise TypeError(f"merge() takes a TagTrie, got {type(other).__name__}")
        if other is self:
            return np.arange(len(self), dtype=np.int32)
        paths = list(other._paths)
        ids = list(map(self._index.get, paths))  # most paths are known: one lookup each
        if None in ids:
            get, intern = self._index.get, self._intern  # parents come before children
            for i, (q, j) in enumerate(zip(paths, ids)):
                if j is None:
                    k = get(q)
                    ids[i] = intern(q) if k is None else k
        return np.array(ids, dtype=np.int32) if ids else np.empty(0, dtype=np.int32)

    def copy(self) -> TagTrie:
        """An independent copy with the same ids.

        >>> t = TagTrie(["a/b"]); c = t.copy(); c.add("z")
        2
        >>> len(t), len(c)
        (2, 3)
        """
        new = TagTrie.__new__(TagTrie)
        new._index = dict(self._index)
        new._paths = list(self._paths)
        new._parent = list(self._parent)
        new._depth = list(self._depth)
        new._root = list(self._root)
        new._segment = list(self._segment)
        new._kids = [None if k is None else dict(k) for k in self._kids]
        new._root_kids = dict(self._root_kids)
        new._cache = {}
        return new

    def subset(self, ids: Iterable[int] | np.ndarray) -> tuple[TagTrie, np.ndarray]:
        """The nodes ``ids`` and all their ancestors as a new trie, in the same relative id
        order; return ``(trie, remap)`` with ``remap[old_id] == new_id`` (int64, -1 for a node
        left out). ``remap`` is increasing where it is not -1, so sorted ids stay sorted.

        >>> t = TagTrie(["a/b", "c/d", "a/e"])
        >>> s, remap = t.subset([4])
        >>> list(s), remap.tolist()
        (['a', 'a/e'], [0, -1, -1, -1, 1])
        """
        n = len(self._paths)
        ids = np.asarray(ids if isinstance(ids, np.ndarray) else list(ids), dtype=np.int64)
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= n):
            raise IndexError(f"subset(): node ids must be in [0, {n})")
        mark = np.zeros(n, dtype=bool)
        mark[ids] = True
        parents = np.array(self._parent, dtype=np.int64)
        todo = np.unique(ids)
        while todo.size:  # one level of ancestors a step
            up = parents[todo]
            up = up[up >= 0]
            up = up[~mark[up]]
            mark[up] = True
            todo = np.unique(up)
        kept = np.flatnonzero(mark)
        remap = np.full(n, -1, dtype=np.int64)
        remap[kept] = np.arange(kept.size)
        new = TagTrie()
        k = kept.tolist()
        paths, segs = self._paths, self._segment
        new._paths = [paths[i] for i in k]
        new._segment = [segs[i] for i in k]
        new._depth = [self._depth[i] for i in k]
        new._index = dict(zip(new._paths, range(len(k))))
        new_parent = np.where(parents[kept] >= 0, remap[np.maximum(parents[kept], 0)], -1)
        new._parent = new_parent.tolist()
        new._root = remap[np.array(self._root, dtype=np.int64)[kept]].tolist() if k else []
        new._kids = [None] * len(k)
        kids = new._kids
        for i, (p, seg) in enumerate(zip(new._parent, new._segment)):
            if p < 0:
                new._root_kids[seg] = i
            else:
                d = kids[p]
                if d is None:
                    d = kids[p] = {}
                d[seg] = i
        return new, remap

    # --- pickling: the paths in id order are the whole state ----------------------------------

    def __getstate__(self) -> dict[str, Any]:
        return {"paths": list(self._paths)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # one pass over the paths (each one's parent is the path before its last separator,
        # which has a smaller id), not one add() each: a cluster's partial carries a trie
        TagTrie.__init__(self)
        paths = list(state["paths"])
        n = len(paths)
        bad = ValueError("pickled TagTrie is inconsistent: paths not in id order")
        if not all(type(q) is str for q in paths):
            raise bad
        index = dict(zip(paths, range(n)))
        if len(index) != n:
            raise bad
        parent: list[int] = []
        depth: list[int] = []
        root: list[int] = []
        segment: list[str] = []
        kids: list[dict[str, int] | None] = [None] * n
        root_kids: dict[str, int] = {}
        get = index.get
        for i, q in enumerate(paths):
            pos = q.rfind(SEP)
            seg = q[pos + 1:]
            if not seg:
                raise bad
            if pos < 0:
                parent.append(-1)
                depth.append(1)
                root.append(i)
                root_kids[seg] = i
            else:
                par = get(q[:pos], n)
                if par >= i:
                    raise bad
                parent.append(par)
                depth.append(depth[par] + 1)
                root.append(root[par])
                d = kids[par]
                if d is None:
                    d = kids[par] = {}
                d[seg] = i
            segment.append(seg)
        self._index, self._paths, self._parent, self._depth = index, paths, parent, depth
        self._root, self._segment, self._kids, self._root_kids = root, segment, kids, root_kids

    def __reduce__(self):
        return (TagTrie, (), self.__getstate__())

    # --- lookups --------------------------------------------------------------------------------

    def id(self, path: str) -> int:
        """The id of ``path``; KeyError when it is not in the trie.

        >>> TagTrie(["a/b"]).id("a/b")
        1
        """
        try:
            return self._index[path]
        except (KeyError, TypeError):
            raise KeyError(f"tag path {path!r} is not in the trie") from None

    def get(self, path: str, default: int = -1) -> int:
        """The id of ``path``, or ``default`` (-1) when it is not in the trie.

        >>> t = TagTrie(["a"]); t.get("a"), t.get("b")
        (0, -1)
        """
        try:
            return self._index.get(path, default)
        except TypeError:
            return default

    def ids(self, paths: Iterable[str]) -> np.ndarray:
        """The ids of ``paths`` as an int32 array, -1 for unknown paths. Adds nothing.

        >>> TagTrie(["a/b"]).ids(["a/b", "nope", "a"]).tolist()
        [1, -1, 0]
        """
        get = self._index.get
        out = [get(p, -1) if isinstance(p, str) else -1 for p in paths]
        return np.array(out, dtype=np.int32) if out else np.empty(0, dtype=np.int32)

    def _node(self, node: int | str) -> int:
        """Id of a node given by id or path, checked."""
        if isinstance(node, str):
            return self.id(node)
        try:
            i = operator.index(node)
        except TypeError:
            raise TypeError(f"a node is an int id or a str path, got {type(node).__name__}") from None
        if not 0 <= i < len(self._paths):
            raise IndexError(f"node id {i} is outside [0, {len(self._paths)})")
        return i

    def path(self, id: int) -> str:
        """The full path of node ``id``.

        >>> TagTrie(["geo/UK/London"]).path(2)
        'geo/UK/London'
        """
        return self._paths[self._node(id)]

    def segment(self, id: int) -> str:
        """The last segment of node ``id``'s path.

        >>> TagTrie(["geo/UK/London"]).segment(1)
        'UK'
        """
        return self._segment[self._node(id)]

    def dimension(self, id: int) -> str:
        """The first segment of node ``id``'s path (its dimension, e.g. ``customer``).

        >>> TagTrie(["customer/acme"]).dimension(1)
        'customer'
        """
        return self._segment[self._root[self._node(id)]]

    def depth(self, id: int) -> int:
        """The number of segments of node ``id``'s path (1 = top level).

        >>> TagTrie(["geo/UK/London"]).depth(2)
        3
        """
        return self._depth[self._node(id)]

    def parent(self, id: int) -> int:
        """The id of node ``id``'s parent, -1 for a top-level node.

        >>> t = TagTrie(["geo/UK"]); t.parent(1), t.parent(0)
        (0, -1)
        """
        return self._parent[self._node(id)]

    # --- arrays ---------------------------------------------------------------------------------

    def _cached(self, name: str, build) -> Any:
        """A derived array, cached with the node count it was built for: a value built while
        another thread added nodes (and cleared the cache) is never served for the grown trie.
        The count is that of ``_root``, the last list a new node is appended to."""
        n = len(self._root)
        got = self._cache.get(name)
        if got is None or got[0] != n:
            got = self._cache[name] = (n, build())
        return got[1]

    @property
    def parents(self) -> np.ndarray:
        """Parent id of every node (int32, read-only, -1 for a root); ``parents[i] < i``."""
        return self._cached("parents", lambda: _frozen(np.array(self._parent, dtype=np.int32)))

    @property
    def depths(self) -> np.ndarray:
        """Depth of every node (int32, read-only, 1 = top level)."""
        return self._cached("depths", lambda: _frozen(np.array(self._depth, dtype=np.int32)))

    @property
    def roots(self) -> np.ndarray:
        """Id of every node's top-level ancestor (int32, read-only; a root is its own root)."""
        return self._cached("roots", lambda: _frozen(np.array(self._root, dtype=np.int32)))

    @property
    def preorder(self) -> np.ndarray:
        """Each node's rank in path (depth-first) order, int32, read-only: a subtree's nodes
        hold consecutive ranks, starting with the subtree's root.

        >>> TagTrie(["b", "a/z"]).preorder.tolist()
        [2, 0, 1]
        """
        return self._cached("preorder_rank",
                            lambda: _frozen(self._preorder()[1].astype(np.int32)))

    @property
    def paths(self) -> tuple[str, ...]:
        """All paths in id order."""
        return self._cached("paths", lambda: tuple(self._paths))

    def _preorder(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(order, rank, size): nodes in tree order, each node's position, subtree sizes."""
        n = len(self._root)  # see _cached
        got = self._cache.get("preorder")
        if got is None or got[0] != n:  # built for a smaller trie (see _cached)
            paths = self._paths[:n]
            if "\x00" in "".join(paths):
                keys: list[Any] = [q.split(SEP) for q in paths]
            else:  # same order as comparing segment lists, since NUL sorts before any char
                keys = [q.replace(SEP, "\x00") for q in paths]
            order = np.array(sorted(range(n), key=keys.__getitem__), dtype=np.int32)
            rank = np.empty(n, dtype=np.int64)
            rank[order] = np.arange(n)
            size = np.ones(n, dtype=np.int64)
            if n:
                parents, depths = self.parents[:n], self.depths[:n]
                for d in range(int(depths.max()), 1, -1):
                    sel = np.flatnonzero(depths == d)
                    np.add.at(size, parents[sel], size[sel])
            got = self._cache["preorder"] = (n, (order, rank, size))
        return got[1]

    # --- structure queries ------------------------------------------------------------------------

    def children(self, node: int | str | None = None) -> np.ndarray:
        """Ids of the direct children of ``node`` (an id or a path); ``None``: the roots.

        >>> t = TagTrie(["a/b", "c", "a/d/e"])
        >>> t.children("a").tolist(), t.children().tolist()
        ([1, 3], [0, 2])
        """
        kids = self._root_kids if node is None else (self._kids[self._node(node)] or _NO_KIDS)
        # ids are given in insertion order, so a dict's values are already ascending
        return np.fromiter(kids.values(), dtype=np.int32, count=len(kids))

    def under(self, node: int | str, level: int | None = None) -> np.ndarray:
        """Ids of the strict descendants of ``node``, at all depths or only at depth ``level``.

        ``level`` is an absolute depth (1 = top level).

        >>> t = TagTrie(["geo/US/CA/SF", "geo/UK/London", "geox"])
        >>> [t.path(i) for i in t.under("geo", level=3)]
        ['geo/US/CA', 'geo/UK/London']
        >>> t.under("geo").tolist()
        [1, 2, 3, 4, 5]
        """
        i = self._node(node)
        if level is not None:
            level = self._check_level(level)
            if level <= self._depth[i]:
                return np.empty(0, dtype=np.int32)
        order, rank, size = self._preorder()
        lo = int(rank[i])
        out = order[lo + 1: lo + int(size[i])]
        if level is not None:
            out = out[self.depths[out] == level]
        return np.sort(out)

    def ancestors(self, node: int | str) -> np.ndarray:
        """Ids of the strict ancestors of ``node``, nearest first (so descending).

        >>> TagTrie(["a/b/c"]).ancestors("a/b/c").tolist()
        [1, 0]
        """
        parent = self._parent
        out = []
        i = parent[self._node(node)]
        while i >= 0:
            out.append(i)
            i = parent[i]
        return np.array(out, dtype=np.int32) if out else np.empty(0, dtype=np.int32)

    def at_level(self, level: int, under: int | str | None = None) -> np.ndarray:
        """Ids of the nodes at depth ``level``, optionally only strict descendants of ``under``.

        >>> t = TagTrie(["geo/US/CA", "org/eng"])
        >>> t.at_level(2).tolist(), t.at_level(3, under="geo").tolist()
        ([1, 4], [2])
        """
        if under is not None:
            return self.under(under, level)
        level = self._check_level(level)
        return np.flatnonzero(self.depths == level).astype(np.int32)

    @staticmethod
    def _check_level(level: int) -> int:
        try:
            level = operator.index(level)
        except TypeError:
            raise TypeError(f"level must be an int, got {type(level).__name__}") from None
        if level < 1:
            raise ValueError(f"level is an absolute depth, 1 = top level; got {level}")
        return level

    def match(self, pattern: str) -> np.ndarray:
        """Ids of the nodes whose path matches the glob ``pattern``, sorted.

        Segments are matched one by one: a segment ``*`` is exactly one segment, ``**`` zero or
        more segments (so ``org/**`` includes ``org``). Inside a segment, ``*`` matches any run
        of characters and ``?`` one character, never across ``/``; other characters (``[`` too)
        are literal. The trie is walked, pruning subtrees that cannot match.

        >>> t = TagTrie(["customer/c00001", "customer/c00002/x", "geo/UK/London", "London"])
        >>> [t.path(i) for i in t.match("customer/*")]
        ['customer/c00001', 'customer/c00002']
        >>> [t.path(i) for i in t.match("**/London")]
        ['geo/UK/London', 'London']
        >>> [t.path(i) for i in t.match("customer/c0000?/**")]
        ['customer/c00001', 'customer/c00002', 'customer/c00002/x']
        """
        pat = _Pattern(pattern)
        final = pat.n
        out: list[int] = []
        kids_of = self._kids
        stack: list[tuple[dict[str, int], frozenset[int]]] = [(self._root_kids, pat.start)]
        while stack:
            kids, states = stack.pop()
            base, lits, globs = pat.split(states)
            if not base and not globs:
                # only literal moves: look the children up by name
                for seg, nxt in lits.items():
                    c = kids.get(seg)
                    if c is not None:
                        if final in nxt:
                            out.append(c)
                        if len(nxt) > 1 or final not in nxt:
                            sub = kids_of[c]
                            if sub:
                                stack.append((sub, nxt))
                continue
            if not lits and not globs:
                # every child reaches the same states
                if final in base:
                    out.extend(kids.values())
                if len(base) > 1 or final not in base:
                    for c in kids.values():
                        sub = kids_of[c]
                        if sub:
                            stack.append((sub, base))
                continue
            for seg, c in kids.items():
                nxt = base
                extra = lits.get(seg)
                if extra is not None:
                    nxt = nxt | extra
                for fullmatch, adv in globs:
                    if fullmatch(seg) is not None:
                        nxt = nxt | adv
                if not nxt:
                    continue
                if final in nxt:
                    out.append(c)
                if len(nxt) > 1 or final not in nxt:
                    sub = kids_of[c]
                    if sub:
                        stack.append((sub, nxt))
        if not out:
            return np.empty(0, dtype=np.int32)
        return np.sort(np.array(out, dtype=np.int32))

    def tree_order(self, ids: Iterable[int] | np.ndarray) -> np.ndarray:
        """``ids`` sorted in path order: depth first, children by segment string.

        >>> t = TagTrie(["b", "a/z", "a/c", "a-b"])
        >>> [t.path(i) for i in t.tree_order(range(len(t)))]
        ['a', 'a/c', 'a/z', 'a-b', 'b']
        """
        arr = np.asarray(ids if isinstance(ids, np.ndarray) else list(ids))
        if arr.size == 0:
            return np.empty(0, dtype=np.int32)
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise TypeError(f"tree_order() takes a 1-d array of integer ids, got {arr.dtype} {arr.shape}")
        n = len(self._paths)
        bad = (arr < 0) | (arr >= n)
        if bad.any():
            raise IndexError(f"node id {int(arr[bad][0])} is outside [0, {n})")
        _, rank, _ = self._preorder()
        return arr[np.argsort(rank[arr], kind="stable")].astype(np.int32)

    # --- container protocol -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._paths)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and path in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TagTrie):
            return NotImplemented
        return self._paths == other._paths

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        """``TagTrie([...])`` that rebuilds the same ids; shortened for large tries.

        >>> TagTrie(["a/b"])
        TagTrie(['a', 'a/b'])
        """
        n = len(self._paths)
        if n <= 8:
            return f"TagTrie({self._paths!r})"
        head = ", ".join(repr(p) for p in self._paths[:4])
        return f"<TagTrie with {n} nodes: [{head}, ...]>"
