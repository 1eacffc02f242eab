"""Filters: which requests to keep, by their tags.

A filter is a small tree of frozen dataclasses. Leaves select trie nodes:

- :class:`Tag` ``customer/acme``: that path and everything under it (segment-aware:
  ``customer`` covers ``customer/acme``, not ``customers``); with ``exact=True`` (written
  ``=customer/acme``) only requests that carry exactly that tag;
- :class:`Glob` ``customer/*``, ``*/London``, ``org/**``: the nodes the glob matches (see
  :meth:`tagcore.trie.TagTrie.match`), and like a bare path everything under them (``=`` again
  means the matched nodes only);
- :class:`Everything` (``all``) and :class:`Nothing` (``none``).

Inner nodes are :class:`And`, :class:`Or`, :class:`Not`. The string form is the one used on the
command line: ``customer/acme & ~env/staging``, with ``&``/``and``, ``|``/``or``, ``~``/``not``
(``not`` binds tightest, then ``and``, then ``or``), parentheses and quoted tags
(``"my tag/with spaces"``). ``str(filter)`` gives a canonical string that parses back to an
equal filter. In Python the same filters are built with :func:`tag`, :func:`exact`, :func:`glob`
and the operators ``&``, ``|``, ``~``.

Evaluation is two steps. :func:`resolve` turns each distinct leaf into a boolean per-node array
``covered`` (O(n_nodes) numpy over the trie's ``parents``, no per-request work); then
:meth:`Filter.mask` packs up to 64 leaves as bits of one ``uint64`` per node, ORs the bits of each
row's tags in one compiled pass over the log's CSR tag arrays (:func:`tagcore.kernels.row_bits`)
and evaluates the boolean expression on those bits with numpy.

>>> from tagcore.trie import TagTrie
>>> f = parse_filter("customer/acme & not env/staging")
>>> f
And(items=(Tag(path='customer/acme', exact=False), Not(item=Tag(path='env/staging', exact=False))))
>>> str(f)
'customer/acme & ~env/staging'
>>> f == tag("customer/acme") & ~tag("env/staging")
True
>>> trie = TagTrie(["customer/acme/eu", "customer/bolt", "env/staging"])
>>> f.mask([0, 1, 3, 4], [2, 2, 5, 3], trie).tolist()
[True, False, False]
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

from tagcore import kernels
from tagcore._validate import check_csr
from tagcore.errors import TagcoreError
from tagcore.tags import TagError, TagPolicy, normalize_tag
from tagcore.trie import TagTrie

__all__ = [
    "And",
    "Everything",
    "Filter",
    "FilterSyntaxError",
    "Glob",
    "Leaf",
    "Not",
    "Nothing",
    "Or",
    "Tag",
    "exact",
    "glob",
    "parse_filter",
    "resolve",
    "tag",
]

SEP = "/"
_WILDCARDS = frozenset("*?")
_SPECIAL = frozenset("&|~()\"'")
_KEYWORDS = {"and": "&", "or": "|", "not": "~", "all": "all", "none": "none"}
_MAX_NESTING = 200
_BITS = 64


class FilterSyntaxError(TagcoreError, ValueError):
    """A filter string that does not parse; the message shows the position with a caret.

    Attributes: ``text`` (the filter string), ``position`` (0-based index of the offending
    character; ``len(text)`` for the end) and ``reason``.

    >>> parse_filter("(customer/acme))")
    Traceback (most recent call last):
    ...
    tagcore.filters.FilterSyntaxError: unexpected ')' at position 15
      (customer/acme))
                     ^
    """

    def __init__(self, reason: str, text: str, position: int) -> None:
        self.reason = reason
        self.text = text
        self.position = position
        shown = "".join(" " if c in "\t\n\r\x0b\x0c" else c for c in text)
        super().__init__(f"{reason} at position {position}\n  {shown}\n  {' ' * position}^")

    def __reduce__(self):
        return (FilterSyntaxError, (self.reason, self.text, self.position))


# --- the tree ----------------------------------------------------------------------------------


def _check_path_shape(path: object, what: str) -> None:
    if not isinstance(path, str) or not path:
        raise ValueError(f"{what} must be a non-empty str, got {path!r}")
    for seg in path.split(SEP):
        if not seg or seg != seg.strip():
            raise ValueError(
                f"{what} {path!r} is not normalized (empty segment or white space around one); "
                "build it with tag()/exact()/glob() or parse_filter(), which normalize"
            )


def _coerce(other: object) -> Filter:
    if isinstance(other, Filter):
        return other
    if isinstance(other, str):
        return parse_filter(other)
    return NotImplemented  # type: ignore[return-value]


class Filter:
    """Base of all filter nodes: the operators ``&``, ``|``, ``~``, ``str()`` and :meth:`mask`.

    A str operand of ``&`` or ``|`` is parsed first: ``tag("a") & "b | c"``.

    >>> str(tag("customer/acme") | glob("org/*") & ~exact("env/dev"))
    'customer/acme | org/* & ~=env/dev'
    """

    __slots__ = ()

    def __and__(self, other: Filter | str) -> Filter:
        o = _coerce(other)
        if o is NotImplemented:
            return NotImplemented
        return And(_items(self, And) + _items(o, And))

    def __rand__(self, other: Filter | str) -> Filter:
        o = _coerce(other)
        if o is NotImplemented:
            return NotImplemented
        return And(_items(o, And) + _items(self, And))

    def __or__(self, other: Filter | str) -> Filter:
        o = _coerce(other)
        if o is NotImplemented:
            return NotImplemented
        return Or(_items(self, Or) + _items(o, Or))

    def __ror__(self, other: Filter | str) -> Filter:
        o = _coerce(other)
        if o is NotImplemented:
            return NotImplemented
        return Or(_items(o, Or) + _items(self, Or))

    def __invert__(self) -> Filter:
        return Not(self)

    def __bool__(self) -> bool:
        raise TypeError("a Filter has no truth value: combine filters with &, | and ~, "
                        "not with 'and', 'or' and 'not'")

    def __str__(self) -> str:
        return _format(self, 0)

    def mask(self, tag_offsets: Any, tag_ids: Any, trie: TagTrie, *,
             trusted: Any = None) -> np.ndarray:
        """Boolean row mask of the requests this filter selects.

        ``tag_offsets`` (int64, n_rows + 1) and ``tag_ids`` (int32 node ids of ``trie``) are a
        log's CSR tag arrays; they are validated in full, unless ``trusted`` is the
        :class:`~tagcore.log.RequestLog` whose own arrays they are (validated when it was
        built, immutable since); never modified.

        >>> trie = TagTrie(["geo/UK/London", "geo/US"])
        >>> parse_filter("*/UK | =geo").mask([0, 1, 2, 2], [2, 3], trie).tolist()
        [True, False, False]
        """
        leaves, expr = resolve(self, trie)
        if not leaves:
            off, _ = check_csr(tag_offsets, tag_ids, len(trie), trusted=trusted)
            return _evaluate(expr, [], off.size - 1)
        rows = [kernels.row_bits(tag_offsets, tag_ids, bits, trusted=trusted)
                for bits in _pack(leaves, len(trie))]
        return _evaluate(expr, rows, rows[0].size)


def _items(f: Filter, cls: type) -> tuple[Filter, ...]:
    return f.items if isinstance(f, cls) else (f,)  # type: ignore[attr-defined]


@dataclass(frozen=True, eq=True)
class Tag(Filter):
    """A path and everything under it, or (``exact=True``) exactly that tag.

    ``path`` must already be normalized; :func:`tag` and :func:`exact` normalize for you.
    """

    path: str
    exact: bool = False

    def __post_init__(self) -> None:
        _check_path_shape(self.path, "Tag path")
        if not isinstance(self.exact, bool):
            raise TypeError(f"Tag.exact must be a bool, got {self.exact!r}")


@dataclass(frozen=True, eq=True)
class Glob(Filter):
    """The nodes matching a glob over segments and (unless ``exact``) everything under them.

    A segment ``*`` is one segment, ``**`` zero or more; inside a segment ``*`` and ``?`` act like
    fnmatch. The pattern must contain a wildcard (:func:`glob` returns a :class:`Tag` otherwise).
    """

    pattern: str
    exact: bool = False

    def __post_init__(self) -> None:
        _check_path_shape(self.pattern, "Glob pattern")
        if not _WILDCARDS & set(self.pattern):
            raise ValueError(f"Glob pattern {self.pattern!r} has no wildcard; use tag()")
        if not isinstance(self.exact, bool):
            raise TypeError(f"Glob.exact must be a bool, got {self.exact!r}")


def _check_items(node: Filter, items: Any) -> None:
    items = tuple(items)
    if len(items) < 2:
        raise ValueError(f"{type(node).__name__} needs at least 2 items, got {len(items)}")
    for it in items:
        if not isinstance(it, Filter):
            raise TypeError(f"{type(node).__name__} items must be Filters, got {it!r}")
    object.__setattr__(node, "items", items)


@dataclass(frozen=True, eq=True)
class And(Filter):
    """Requests selected by every item."""

    items: tuple[Filter, ...]

    def __post_init__(self) -> None:
        _check_items(self, self.items)


@dataclass(frozen=True, eq=True)
class Or(Filter):
    """Requests selected by at least one item."""

    items: tuple[Filter, ...]

    def __post_init__(self) -> None:
        _check_items(self, self.items)


@dataclass(frozen=True, eq=True)
class Not(Filter):
    """Requests not selected by ``item``."""

    item: Filter

    def __post_init__(self) -> None:
        if not isinstance(self.item, Filter):
            raise TypeError(f"Not item must be a Filter, got {self.item!r}")


@dataclass(frozen=True, eq=True)
class Everything(Filter):
    """Every request (written ``all``)."""


@dataclass(frozen=True, eq=True)
class Nothing(Filter):
    """No request (written ``none``)."""


@dataclass(frozen=True, eq=True)
class Leaf(Filter):
    """A resolved leaf in the expression returned by :func:`resolve`: column ``index``."""

    index: int

    def __str__(self) -> str:
        return f"<leaf {self.index}>"


# --- constructors --------------------------------------------------------------------------------


def _normalize_glob(pattern: str, policy: TagPolicy | None) -> str:
    """NFC, white space stripped around each segment, empty segments dropped, case policy."""
    if not isinstance(pattern, str):
        raise TypeError(f"a glob pattern must be a str, got {type(pattern).__name__}")
    text = unicodedata.normalize("NFC", pattern)
    text = SEP.join(s for s in (seg.strip() for seg in text.split(SEP)) if s)
    if policy is not None and policy.case == "lower":
        text = unicodedata.normalize("NFC", text.casefold())
    if not text:
        raise ValueError(f"glob pattern {pattern!r} is empty after normalization")
    return text


def tag(path: str, policy: TagPolicy | None = None) -> Tag:
    """``path`` and everything under it; ``path`` is normalized like any tag.

    >>> tag(" customer / acme ")
    Tag(path='customer/acme', exact=False)
    """
    return Tag(normalize_tag(path, policy))


def exact(path: str, policy: TagPolicy | None = None) -> Tag:
    """Exactly the tag ``path`` (not what is under it).

    >>> str(exact("customer/acme"))
    '=customer/acme'
    """
    return Tag(normalize_tag(path, policy), exact=True)


def glob(pattern: str, policy: TagPolicy | None = None, *, exact: bool = False) -> Tag | Glob:
    """The nodes matching ``pattern`` and everything under them (a :class:`Tag` if no wildcard).

    >>> glob("customer / *")
    Glob(pattern='customer/*', exact=False)
    >>> glob("customer/acme")
    Tag(path='customer/acme', exact=False)
    """
    if isinstance(pattern, str) and not _WILDCARDS & set(pattern):
        return Tag(normalize_tag(pattern, policy), exact=exact)
    return Glob(_normalize_glob(pattern, policy), exact=exact)


# --- formatting -----------------------------------------------------------------------------------


def _bare_ok(text: str, wildcards_ok: bool) -> bool:
    if text[0] == "=" or text.lower() in _KEYWORDS:
        return False
    for c in text:
        if c in _SPECIAL or c.isspace() or (not wildcards_ok and c in _WILDCARDS):
            return False
    return True


def _quote(text: str, escape_wildcards: bool) -> str:
    out = []
    for c in text:
        if c in '"\\' or (escape_wildcards and c in _WILDCARDS):
            out.append("\\")
        out.append(c)
    return '"' + "".join(out) + '"'


def _format(f: Filter, parent_prec: int) -> str:
    # precedence: or 1, and 2, not 3; an And/Or nested in one of its own kind keeps its parens
    if isinstance(f, Tag):
        body = f.path if _bare_ok(f.path, False) else _quote(f.path, True)
        return ("=" if f.exact else "") + body
    if isinstance(f, Glob):
        body = f.pattern if _bare_ok(f.pattern, True) else _quote(f.pattern, False)
        return ("=" if f.exact else "") + body
    if isinstance(f, Everything):
        return "all"
    if isinstance(f, Nothing):
        return "none"
    if isinstance(f, Not):
        return "~" + _format(f.item, 3)
    if isinstance(f, (And, Or)):
        prec, op = (2, " & ") if isinstance(f, And) else (1, " | ")
        s = op.join(_format(it, prec) for it in f.items)
        return f"({s})" if parent_prec >= prec else s
    return str(f)


# --- parsing --------------------------------------------------------------------------------------


class _Token:
    __slots__ = ("kind", "value", "pos", "end", "is_glob")

    def __init__(self, kind: str, pos: int, end: int, value: str = "", is_glob: bool = False):
        self.kind, self.pos, self.end, self.value, self.is_glob = kind, pos, end, value, is_glob


def _lex(text: str) -> list[_Token]:
    toks: list[_Token] = []
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "&|~()=":
            toks.append(_Token(c, i, i + 1))
            i += 1
        elif c in "\"'":
            j = i + 1
            chars: list[str] = []
            is_glob = escaped_wildcard = False
            while j < n and text[j] != c:
                ch = text[j]
                if ch == "\\" and j + 1 < n:
                    ch = text[j + 1]
                    escaped_wildcard |= ch in _WILDCARDS
                    j += 2
                else:
                    is_glob |= ch in _WILDCARDS
                    j += 1
                chars.append(ch)
            if j >= n:
                raise FilterSyntaxError(f"unterminated quote {c}", text, i)
            if is_glob and escaped_wildcard:
                raise FilterSyntaxError(
                    "a glob cannot also hold an escaped (literal) wildcard", text, i)
            toks.append(_Token("tag", i, j + 1, "".join(chars), is_glob))
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in _SPECIAL:
                j += 1
            word = text[i:j]
            kw = _KEYWORDS.get(word.lower())
            if kw is not None:
                toks.append(_Token(kw, i, j))
            else:
                toks.append(_Token("tag", i, j, word, bool(_WILDCARDS & set(word))))
            i = j
    toks.append(_Token("end", n, n))
    return toks


class _Parser:
    def __init__(self, text: str, policy: TagPolicy | None) -> None:
        self.text = text
        self.policy = policy
        self.toks = _lex(text)
        self.i = 0
        self.depth = 0

    def error(self, reason: str, tok: _Token) -> FilterSyntaxError:
        return FilterSyntaxError(reason, self.text, tok.pos)

    def unexpected(self, tok: _Token, expected: str = "") -> FilterSyntaxError:
        if tok.kind == "end":
            what = "unexpected end of input"
        elif tok.kind == "tag":
            what = f"unexpected tag {self.text[tok.pos:tok.end]!r}"
        else:
            what = f"unexpected {self.text[tok.pos:tok.end]!r}"
        return self.error(what + (f" ({expected})" if expected else ""), tok)

    def peek(self) -> _Token:
        return self.toks[self.i]

    def take(self) -> _Token:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> Filter:
        if self.peek().kind == "end":
            return Everything()
        f = self.expr()
        tok = self.peek()
        if tok.kind != "end":
            raise self.unexpected(tok, "expected '&', '|' or the end" if tok.kind != ")" else "")
        return f

    def expr(self) -> Filter:
        items = [self.term()]
        while self.peek().kind == "|":
            self.take()
            items.append(self.term())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def term(self) -> Filter:
        items = [self.factor()]
        while self.peek().kind == "&":
            self.take()
            items.append(self.factor())
        return items[0] if len(items) == 1 else And(tuple(items))

    def factor(self) -> Filter:
        tok = self.peek()
        if tok.kind in ("~", "("):
            self.depth += 1
            if self.depth > _MAX_NESTING:
                raise self.error(f"filter nested deeper than {_MAX_NESTING} levels", tok)
            self.take()
            if tok.kind == "~":
                f: Filter = Not(self.factor())
            else:
                f = self.expr()
                close = self.peek()
                if close.kind != ")":
                    raise self.unexpected(close, f"expected ')' to close '(' at position {tok.pos}")
                self.take()
            self.depth -= 1
            return f
        return self.atom()

    def atom(self) -> Filter:
        tok = self.take()
        if tok.kind == "all":
            return Everything()
        if tok.kind == "none":
            return Nothing()
        is_exact = tok.kind == "="
        if is_exact:
            tok = self.take()
            if tok.kind != "tag":
                raise self.unexpected(tok, "expected a tag or glob after '='")
        elif tok.kind != "tag":
            raise self.unexpected(tok)
        try:
            if tok.is_glob:
                return Glob(_normalize_glob(tok.value, self.policy), exact=is_exact)
            return Tag(normalize_tag(tok.value, self.policy), exact=is_exact)
        except (TagError, ValueError) as exc:
            reason = getattr(exc, "reason", str(exc))
            raise self.error(
                f"invalid tag {self.text[tok.pos:tok.end]!r}: {reason}", tok) from exc


def parse_filter(text: str | Filter, policy: TagPolicy | None = None) -> Filter:
    """Parse a filter string; a :class:`Filter` is returned as it is.

    Bare tags are runs of characters other than white space and ``&|~()"'``; quote a tag with
    ``"..."`` or ``'...'`` (``\\`` escapes the next character; an escaped ``*`` or ``?`` is a
    literal, not a wildcard). A tag with ``*`` or ``?`` is a glob; ``=`` before a tag or glob
    means exactly those nodes. Words ``and``, ``or``, ``not``, ``all``, ``none`` are keywords in
    any case (quote a tag spelled like one). Tags are normalized with
    :func:`tagcore.tags.normalize_tag` and ``policy``. An empty string is :class:`Everything`.

    >>> str(parse_filter("a | b AND NOT (c or 'my tag')"))
    'a | b & ~(c | "my tag")'
    >>> parse_filter("=customer/acme")
    Tag(path='customer/acme', exact=True)
    >>> parse_filter("a & | b")
    Traceback (most recent call last):
    ...
    tagcore.filters.FilterSyntaxError: unexpected '|' at position 4
      a & | b
          ^
    """
    if isinstance(text, Filter):
        return text
    if not isinstance(text, str):
        raise TypeError(f"parse_filter() takes a str, got {type(text).__name__}")
    return _Parser(text, policy).parse()


# --- evaluation -------------------------------------------------------------------------------------


def _levels(trie: TagTrie) -> list[tuple[np.ndarray, np.ndarray]]:
    """(nodes, their parents) for each depth from 2 down the trie, in depth order."""
    depths, parents = trie.depths, trie.parents
    if depths.size == 0:
        return []
    order = np.argsort(depths, kind="stable")
    bounds = np.searchsorted(depths[order], np.arange(2, int(depths.max()) + 2))
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        nodes = order[lo:hi]
        out.append((nodes, parents[nodes]))
    return out


def _covered(leaf: Tag | Glob, trie: TagTrie, levels) -> np.ndarray:
    """covered[v]: the leaf selects v or (unless exact) one of v's ancestors."""
    cov = np.zeros(len(trie), dtype=bool)
    if isinstance(leaf, Tag):
        i = trie.get(leaf.path)
        if i >= 0:
            cov[i] = True
    else:
        cov[trie.match(leaf.pattern)] = True
    if not leaf.exact and cov.any():
        for nodes, parents in levels:  # depth by depth, so parents are final before children
            cov[nodes] |= cov[parents]
    return cov


def resolve(filt: Filter | str, trie: TagTrie) -> tuple[list[np.ndarray], Filter]:
    """Resolve the leaves of ``filt`` on ``trie``.

    Returns ``(leaves, expr)``: one boolean per-node array per distinct leaf, ``covered[v]``
    True when the leaf selects ``v`` or one of its ancestors (an exact tag: ``v`` itself), and
    the filter with each leaf replaced by :class:`Leaf` ``(k)``, the index into ``leaves``. A leaf
    that covers no node (an unknown tag) becomes :class:`Nothing`.

    >>> trie = TagTrie(["a/b", "c"])
    >>> leaves, expr = resolve("a | ~=a | zzz", trie)
    >>> [c.tolist() for c in leaves], str(expr)
    ([[True, True, False], [True, False, False]], '<leaf 0> | ~<leaf 1> | none')
    """
    f = parse_filter(filt)
    if not isinstance(trie, TagTrie):
        raise TypeError(f"resolve() needs a TagTrie, got {type(trie).__name__}")
    leaves: list[np.ndarray] = []
    seen: dict[Filter, Filter] = {}
    levels = _levels(trie)

    def walk(node: Filter) -> Filter:
        if isinstance(node, (Tag, Glob)):
            got = seen.get(node)
            if got is None:
                cov = _covered(node, trie, levels)
                if cov.any():
                    got = Leaf(len(leaves))
                    leaves.append(cov)
                else:
                    got = Nothing()
                seen[node] = got
            return got
        if isinstance(node, Not):
            return Not(walk(node.item))
        if isinstance(node, (And, Or)):
            return type(node)(tuple(walk(it) for it in node.items))
        if isinstance(node, (Everything, Nothing)):
            return node
        raise TypeError(f"cannot resolve {node!r}")

    return leaves, walk(f)


def _pack(leaves: list[np.ndarray], n_nodes: int) -> list[np.ndarray]:
    """One uint64 per node for each chunk of 64 leaves: bit j of chunk c is leaf 64c + j."""
    chunks = []
    for c in range(0, len(leaves), _BITS):
        bits = np.zeros(n_nodes, dtype=np.uint64)
        for j, cov in enumerate(leaves[c:c + _BITS]):
            bits[cov] |= np.uint64(1 << j)
        chunks.append(bits)
    return chunks


def _evaluate(expr: Filter, rows: list[np.ndarray], n_rows: int) -> np.ndarray:
    """Evaluate a resolved expression on the per-row leaf bits (one uint64 array per chunk)."""
    if isinstance(expr, Leaf):
        c, j = divmod(expr.index, _BITS)
        return (rows[c] & np.uint64(1 << j)) != 0
    if isinstance(expr, Everything):
        return np.ones(n_rows, dtype=bool)
    if isinstance(expr, Nothing):
        return np.zeros(n_rows, dtype=bool)
    if isinstance(expr, Not):
        return ~_evaluate(expr.item, rows, n_rows)
    is_and = isinstance(expr, And)
    if not is_and and not isinstance(expr, Or):
        raise TypeError(f"cannot evaluate {expr!r}")
    # leaves of one chunk test together: all bits set (and) or any bit set (or)
    masks: dict[int, int] = {}
    others = []
    for it in expr.items:
        if isinstance(it, Leaf):
            c, j = divmod(it.index, _BITS)
            masks[c] = masks.get(c, 0) | (1 << j)
        elif isinstance(it, Nothing if is_and else Everything):
            return np.zeros(n_rows, bool) if is_and else np.ones(n_rows, bool)
        elif not isinstance(it, Everything if is_and else Nothing):
            others.append(it)
    out = None
    for c, m in masks.items():
        m64 = np.uint64(m)
        col = (rows[c] & m64) == m64 if is_and else (rows[c] & m64) != 0
        out = col if out is None else (out & col if is_and else out | col)
    for it in others:
        col = _evaluate(it, rows, n_rows)
        out = col if out is None else (out & col if is_and else out | col)
    if out is None:  # only neutral items
        return np.ones(n_rows, bool) if is_and else np.zeros(n_rows, bool)
    return out
