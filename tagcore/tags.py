"""Tag normalization and validation: the rules of DESIGN.md "Tags", in one place.

A tag is a string; ``/`` separates path segments. :func:`normalize_tag` applies, in this order:

1. type check: only :class:`str` (``None``, numbers, bools, bytes, lists, dicts are rejected);
2. Unicode NFC;
3. white space stripped around the tag and around every segment;
4. empty segments removed (``a//b`` -> ``a/b``, ``/a/b/`` -> ``a/b``);
5. case: kept, or folded with :meth:`str.casefold` when ``TagPolicy(case="lower")`` (followed by
   NFC again, since case folding can leave a string that is not NFC);
6. rejections, in this order (codes in brackets): empty result (``empty_tag``), control
   characters (``control_character``) or unpaired surrogates such as JSON's ``"\\ud800"``
   (``invalid_unicode``, they cannot be written as UTF-8), invisible or direction-changing code
   points (``invisible_character``, unless the policy allows them), more than ``max_tag_bytes`` UTF-8 bytes
   (``tag_too_long``), more than ``max_depth`` segments (``tag_too_deep``). A non-string is
   ``invalid_tag_type``; in a list, a non-list is ``invalid_request_tags`` and one distinct tag
   beyond ``max_tags`` is ``too_many_tags``.

Control characters (C0 U+0000-U+001F, DEL U+007F, C1 U+0080-U+009F, and the line/paragraph
separators U+2028/U+2029) are looked for in the *raw* input, so ``"a\\tb"`` and ``"a\\t"`` are
both rejected rather than having a tab or newline silently stripped as white space. Only a tag that
is empty after step 4 (say ``" \\t "``) is reported as ``empty_tag`` instead, since that check
comes first; it is rejected either way.

Invisible and direction-changing code points make look-alike tags (``customer/ac\\u200bme`` prints
like ``customer/acme`` but is another node), so by default they are rejected too, wherever they
are: zero-width U+200B-U+200D, word joiner U+2060, U+FEFF, soft hyphen U+00AD, bidi embeddings and
overrides U+202A-U+202E, bidi isolates U+2066-U+2069 and tag characters U+E0000-U+E007F.
``TagPolicy(allow_invisible=True)`` accepts them (controls stay rejected).

>>> normalize_tag("customer/ac\\u200bme")
Traceback (most recent call last):
...
tagcore.tags.TagError: request_tags = 'customer/ac\\u200bme': contains invisible or direction-changing character U+200B (ZERO WIDTH SPACE), which makes look-alike tags
>>> normalize_tag("customer/ac\\u200bme", TagPolicy(allow_invisible=True)) == "customer/ac\\u200bme"
True

:func:`normalize_tags` normalizes a request's list, drops duplicates (first-seen order kept) and
enforces the per-request limit. :func:`tags_from_mapping` turns key/value metadata (OpenAI
``metadata``, Helicone properties, Portkey metadata) into ``key/value`` tags.

Normalized results are cached per policy in a bounded dictionary (cleared when full), so a
gateway that sees the same few tags over and over pays for a dictionary lookup only.
"""

from __future__ import annotations

import re
import reprlib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from tagcore.errors import TagcoreError

__all__ = [
    "DroppedTag",
    "NormalizedTags",
    "TagError",
    "TagPolicy",
    "normalize_tag",
    "normalize_tags",
    "map_key_value_tag",
    "tags_from_mapping",
    "tags_from_text",
]

_MISSING: Any = object()
_SHORT = 40
_CONTROLS = "\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff"
# invisible or direction-changing code points that make look-alike tags (DESIGN.md "Tags"):
# zero-width space/non-joiner/joiner, word joiner, BOM / zero-width no-break space, soft hyphen,
# bidi embeddings and overrides, bidi isolates, and the tag characters
_INVISIBLE = "\u00ad\u200b-\u200d\u2060\ufeff\u202a-\u202e\u2066-\u2069\U000e0000-\U000e007f"
_BAD_CHAR = re.compile(f"[{_CONTROLS}]")
_BAD_OR_INVISIBLE = re.compile(f"[{_CONTROLS}{_INVISIBLE}]")
_INVISIBLE_CHAR = re.compile(f"[{_INVISIBLE}]")


_REPR = reprlib.Repr()
_REPR.maxlevel = 3  # a container nested thousands deep prints as [[[...]]], never RecursionError
_REPR.maxstring = _REPR.maxother = _SHORT


def _shorten(value: object) -> str:
    if type(value) is str:
        text = repr(value)
    else:
        text = _REPR.repr(value)  # bounded depth and size; a failing __repr__ is caught
    if len(text) > _SHORT:
        text = text[: _SHORT - 3] + "..."
    return text


class TagError(TagcoreError, ValueError):
    """An invalid tag, tag list or request body; renders itself as an OpenAI-style 400 body.

    Attributes: ``code`` (short machine string), ``param`` (``"request_tags"`` unless the tag came
    from elsewhere: ``"X-Request-Tags"``, ``"default_tags"``, ``"metadata"``, or ``None`` for the
    body itself), ``index`` (position of the offending element, or ``None``), ``key`` (the mapping
    key, for :func:`tags_from_mapping`), ``value`` (the offending value), ``reason`` (human text)
    and ``status_code`` (400).

    >>> err = TagError("control_character", "contains control character U+0000", index=2, value="a\\x00b")
    >>> str(err)
    "request_tags[2] = 'a\\\\x00b': contains control character U+0000"
    >>> err.to_openai_error()["error"]["code"]
    'control_character'
    """

    status_code = 400

    def __init__(
        self,
        code: str,
        reason: str,
        *,
        param: str | None = "request_tags",
        index: int | None = None,
        value: Any = _MISSING,
        key: str | None = None,
    ) -> None:
        self.code = code
        self.reason = reason
        self.param = param
        self.index = index
        self.key = key
        self._has_value = value is not _MISSING
        self.value = value if self._has_value else None
        super().__init__(self._message())

    def _message(self) -> str:
        head = self.param if self.param is not None else "body"
        if self.key is not None:
            head += f"[{_shorten(self.key)}]"
        if self.index is not None:
            head += f"[{self.index}]"
        if self._has_value:
            head += f" = {_shorten(self.value)}"
        return f"{head}: {self.reason}"

    def __reduce__(self):  # keep keyword-only fields through pickling (multiprocessing, logs)
        value = self.value if self._has_value else _MISSING
        return (
            _rebuild_error,
            (self.code, self.reason, self.param, self.index, value, self.key),
        )

    def to_openai_error(self) -> dict[str, dict[str, str | None]]:
        """The JSON-serialisable body of a 400 response, in OpenAI's error format.

        >>> TagError("empty_tag", "is empty after normalization", index=0, value=" / ").to_openai_error()
        {'error': {'message': "request_tags[0] = ' / ': is empty after normalization", 'type': 'invalid_request_error', 'param': 'request_tags', 'code': 'empty_tag'}}
        """
        return {
            "error": {
                "message": str(self),
                "type": "invalid_request_error",
                "param": self.param,
                "code": self.code,
            }
        }


def _rebuild_error(code, reason, param, index, value, key) -> TagError:
    return TagError(code, reason, param=param, index=index, value=value, key=key)


@dataclass(frozen=True)
class TagPolicy:
    """Limits and choices for tag normalization; frozen and hashable, so it can be shared.

    ``max_tag_bytes``: UTF-8 bytes of a normalized tag (256). ``max_depth``: segments per tag (16).
    ``max_tags``: distinct tags per request, after dedup (64). ``case``: ``"keep"`` or ``"lower"``
    (``str.casefold`` after NFC, then NFC again; ``"Straße"`` -> ``"strasse"``). ``on_invalid``:
    ``"raise"`` a :class:`TagError`, or ``"drop"`` the element and report it on the result.
    ``allow_invisible``: accept invisible and direction-changing code points (zero-width, soft
    hyphen, BOM, bidi controls, tag characters), which are rejected by default since they make
    look-alike tags (``invisible_character``).

    >>> TagPolicy(case="lower").case
    'lower'
    >>> TagPolicy(max_tags=0)
    Traceback (most recent call last):
    ...
    ValueError: TagPolicy.max_tags must be a positive int, got 0
    """

    max_tag_bytes: int = 256
    max_depth: int = 16
    max_tags: int = 64
    case: Literal["keep", "lower"] = "keep"
    on_invalid: Literal["raise", "drop"] = "raise"
    allow_invisible: bool = False

    def __post_init__(self) -> None:
        for name in ("max_tag_bytes", "max_depth", "max_tags"):
            v = getattr(self, name)
            if type(v) is not int or v < 1:
                raise ValueError(f"TagPolicy.{name} must be a positive int, got {v!r}")
        if self.case not in ("keep", "lower"):
            raise ValueError(f"TagPolicy.case must be 'keep' or 'lower', got {self.case!r}")
        if self.on_invalid not in ("raise", "drop"):
            raise ValueError(
                f"TagPolicy.on_invalid must be 'raise' or 'drop', got {self.on_invalid!r}"
            )
        if type(self.allow_invisible) is not bool:
            raise ValueError(
                f"TagPolicy.allow_invisible must be True or False, got {self.allow_invisible!r}"
            )


DEFAULT_POLICY = TagPolicy()


class DroppedTag(NamedTuple):
    """An element left out under ``on_invalid="drop"``: where, what, and why.

    ``index`` is the element's position in its source (``param``: ``"request_tags"``,
    ``"X-Request-Tags"``, ``"default_tags"``, ``"metadata"``), ``value`` the raw element.

    >>> DroppedTag(1, None, "invalid_tag_type", "must be a string, got NoneType")
    DroppedTag(index=1, value=None, code='invalid_tag_type', reason='must be a string, got NoneType', param='request_tags')
    """

    index: int | None
    value: Any
    code: str
    reason: str
    param: str | None = "request_tags"


class NormalizedTags(list):
    """A ``list[str]`` of normalized, distinct tags, with ``.dropped``: what was left out.

    Equal to a plain list with the same tags. ``dropped`` is a tuple of :class:`DroppedTag`,
    empty unless the policy says ``on_invalid="drop"``. Built like a list:
    ``NormalizedTags(tags)``; the functions that return one set ``dropped``.

    >>> tags = normalize_tags(["a", None, "a"], TagPolicy(on_invalid="drop"))
    >>> tags == ["a"], tags.dropped[0].code
    (True, 'invalid_tag_type')
    """

    dropped: tuple[DroppedTag, ...] = ()  # set per instance only when something was dropped

    def __repr__(self) -> str:
        if self.dropped:
            return f"NormalizedTags({list.__repr__(self)}, dropped={self.dropped!r})"
        return f"NormalizedTags({list.__repr__(self)})"


# --- the per-tag rule, cached ------------------------------------------------------------------

_CACHE_SIZE = 16384
_CACHE_MAX_TAG_CHARS = 1024  # longer strings are normalized but not cached
_CACHES: dict[TagPolicy, dict[str, str | tuple[str, str]]] = {}
_DEFAULT_CACHE: dict[str, str | tuple[str, str]] = {}


def _cache_for(policy: TagPolicy) -> dict[str, str | tuple[str, str]]:
    if policy is DEFAULT_POLICY:
        return _DEFAULT_CACHE
    cache = _CACHES.get(policy)
    if cache is None:
        if len(_CACHES) >= 64:
            _CACHES.clear()
        cache = _CACHES.setdefault(policy, {})
    return cache


def _normalize_uncached(tag: object, policy: TagPolicy) -> str | tuple[str, str]:
    """The normalized tag, or ``(code, reason)``. No caching, no exceptions."""
    if type(tag) is not str:
        if not isinstance(tag, str):
            return ("invalid_tag_type", f"must be a string, got {type(tag).__name__}")
        tag = str(tag)  # a str subclass: normalize its plain value
    text = unicodedata.normalize("NFC", tag)
    segments = [s for s in (seg.strip() for seg in text.split("/")) if s]
    text = "/".join(segments)
    if policy.case == "lower":
        text = unicodedata.normalize("NFC", text.casefold())
    if not text:
        return ("empty_tag", "is empty after normalization")
    bad = (_BAD_CHAR if policy.allow_invisible else _BAD_OR_INVISIBLE).search(tag)
    if bad is not None:
        ch = bad.group()
        c = ord(ch)
        if 0xD800 <= c <= 0xDFFF:
            return ("invalid_unicode", f"contains an unpaired surrogate U+{c:04X}")
        if _INVISIBLE_CHAR.match(ch):
            name = unicodedata.name(ch, "TAG CHARACTER")
            return ("invisible_character",
                    f"contains invisible or direction-changing character U+{c:04X} ({name}), "
                    "which makes look-alike tags")
        return ("control_character", f"contains control character U+{c:04X}")
    if len(text) * 4 > policy.max_tag_bytes:
        n = len(text.encode("utf-8"))
        if n > policy.max_tag_bytes:
            return (
                "tag_too_long",
                f"is {n} UTF-8 bytes, more than the limit of {policy.max_tag_bytes}",
            )
    depth = text.count("/") + 1
    if depth > policy.max_depth:
        return ("tag_too_deep", f"has {depth} segments, more than the limit of {policy.max_depth}")
    return text


def _normalize_cached(
    tag: object, policy: TagPolicy, cache: dict[str, str | tuple[str, str]]
) -> str | tuple[str, str]:
    if type(tag) is str:
        r = cache.get(tag)
        if r is not None:
            return r
        r = _normalize_uncached(tag, policy)
        if len(tag) <= _CACHE_MAX_TAG_CHARS:
            if len(cache) >= _CACHE_SIZE:
                cache.clear()
            cache[tag] = r
        return r
    return _normalize_uncached(tag, policy)


def normalize_tag(tag: str, policy: TagPolicy | None = None) -> str:
    """Normalize one tag (NFC, trimmed, no empty segments, case policy) or raise :class:`TagError`.

    The policy's ``on_invalid`` does not apply here: an invalid tag always raises.

    >>> normalize_tag("  UK / London ")
    'UK/London'
    >>> normalize_tag("/a//b/")
    'a/b'
    >>> normalize_tag("Cafe\\u0301") == "Caf\\u00e9"
    True
    >>> normalize_tag("Org/Team", TagPolicy(case="lower"))
    'org/team'
    >>> normalize_tag("a\\tb")
    Traceback (most recent call last):
    ...
    tagcore.tags.TagError: request_tags = 'a\\tb': contains control character U+0009
    """
    if policy is None:
        policy = DEFAULT_POLICY
    r = _normalize_cached(tag, policy, _cache_for(policy))
    if type(r) is str:
        return r
    code, reason = r
    raise TagError(code, reason, value=tag)


# --- lists of tags ------------------------------------------------------------------------------


def _check_list(tags: object, param: str | None) -> None:
    if type(tags) is not list and not isinstance(tags, (list, tuple)):
        raise TagError(
            "invalid_request_tags",
            f"must be a list of strings, got {type(tags).__name__}",
            param=param,
            value=tags,
        )


def _merge(
    sources: Iterable[tuple[str | None, Iterable[object]]],
    policy: TagPolicy,
) -> NormalizedTags:
    """Normalize, dedup and limit tags from several sources, in order.

    ``sources`` yields ``(param, elements)``. Under ``raise`` the first problem in order raises
    (an invalid element, or the first distinct tag beyond ``max_tags``); under ``drop`` every
    problem is recorded on the result.
    """
    cache = _cache_for(policy)
    seen: dict[str, None] = {}
    dropped: list[DroppedTag] = []
    max_tags = policy.max_tags
    raising = policy.on_invalid == "raise"
    for param, elements in sources:
        for i, tag in enumerate(elements):
            r = _normalize_cached(tag, policy, cache)
            if type(r) is str:
                if r in seen:
                    continue
                if len(seen) < max_tags:
                    seen[r] = None
                    continue
                code = "too_many_tags"
                reason = f"more than {max_tags} distinct tags, the limit per request"
            else:
                code, reason = r
            if raising:
                raise TagError(code, reason, param=param, index=i, value=tag)
            dropped.append(DroppedTag(i, tag, code, reason, param))
    out = NormalizedTags(seen)
    if dropped:
        out.dropped = tuple(dropped)
    return out


def normalize_tags(
    tags: list[str] | tuple[str, ...], policy: TagPolicy | None = None
) -> NormalizedTags:
    """Normalize a request's tags: each with :func:`normalize_tag`, duplicates dropped
    (first-seen order kept), at most ``policy.max_tags`` distinct tags.

    ``tags`` must be a list or tuple. Errors name the element's index. Under
    ``on_invalid="drop"`` invalid elements and tags beyond the limit are left out and listed
    in the result's ``.dropped``.

    >>> normalize_tags(["env/prod", " env / prod", "customer/acme"])
    NormalizedTags(['env/prod', 'customer/acme'])
    >>> normalize_tags(["ok", 3])
    Traceback (most recent call last):
    ...
    tagcore.tags.TagError: request_tags[1] = 3: must be a string, got int
    >>> normalize_tags("a,b")
    Traceback (most recent call last):
    ...
    tagcore.tags.TagError: request_tags = 'a,b': must be a list of strings, got str
    """
    if policy is None:
        policy = DEFAULT_POLICY
    _check_list(tags, "request_tags")
    return _merge((("request_tags", tags),), policy)


# --- tags written as text ------------------------------------------------------------------------


class TagTextError(ValueError):
    """A text cell that holds no list of tags (its ``reason`` says why)."""


def tags_from_text(text: str, sep: str | None = None) -> list:
    """The tag list a text cell holds: a JSON array (``'["a", "b"]'``), a Python list as
    pandas writes list columns to CSV (``"['a', 'b']"``), or, with ``sep``, delimited text
    (``"a, b"`` with ``sep=","``: pieces stripped, empty ones left out). Blank text is no
    tags. Anything else raises :class:`TagTextError` with the reason (the elements are
    normalized later, like any list's).

    >>> tags_from_text('["a/b", "c"]'), tags_from_text("['a/b', 'c']"), tags_from_text("a, b/c", ",")
    (['a/b', 'c'], ['a/b', 'c'], ['a', 'b/c'])
    >>> tags_from_text("a,b")
    Traceback (most recent call last):
    ...
    tagcore.tags.TagTextError: a text cell 'a,b', not a list of tags: write a JSON array, or pass tags_sep=',' (or the separator used) to split delimited text
    """
    t = text.strip()
    if not t:
        return []
    if t[0] == "[":
        import json

        try:
            got = json.loads(t)
        except (ValueError, RecursionError):
            import ast

            try:
                got = ast.literal_eval(t)
            except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
                raise TagTextError(f"{_shorten(text)} is not a JSON array (nor a Python list) "
                                   "of tags") from None
        if type(got) is not list:
            raise TagTextError(f"{_shorten(text)} is not a list of tags")
        return got
    if sep:
        return [p.strip() for p in t.split(sep) if p.strip()]
    raise TagTextError(f"a text cell {_shorten(text)}, not a list of tags: write a JSON array, or "
                       "pass tags_sep=',' (or the separator used) to split delimited text")


# --- key/value sources --------------------------------------------------------------------------


def _scalar_text(value: object) -> str | None:
    """The tag text of a metadata value; ``None`` for values that are skipped."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    raise TypeError(type(value).__name__)


def tags_from_mapping(
    mapping: Mapping[str, object],
    policy: TagPolicy | None = None,
    *,
    prefix: str = "",
) -> NormalizedTags:
    """Turn key/value metadata into ``key/value`` tags (OpenAI ``metadata``, Helicone
    properties, Portkey metadata).

    Keys and values are normalized; a value that is a path stays a path. ``str`` values are
    used as they are, bools become ``"true"``/``"false"``, ints and floats ``str(value)``;
    ``None`` values and values that are empty after normalization are skipped; nested dicts,
    lists and other types raise a :class:`TagError` naming the key (``param="metadata"``).
    ``prefix`` (itself a path, may be empty) is put in front of every tag. The result is a
    :class:`NormalizedTags` (deduplicated, at most ``max_tags``); under ``on_invalid="drop"``
    bad items are reported in ``.dropped`` with ``index`` their position in the mapping.

    >>> tags_from_mapping({"customer": "acme", "env": "prod", "geo": "US/CA"})
    NormalizedTags(['customer/acme', 'env/prod', 'geo/US/CA'])
    >>> tags_from_mapping({"beta": True, "tier": 2, "note": None}, prefix="meta")
    NormalizedTags(['meta/beta/true', 'meta/tier/2'])
    >>> tags_from_mapping({"user": {"id": 1}})
    Traceback (most recent call last):
    ...
    tagcore.tags.TagError: metadata['user'] = {'id': 1}: value must be a str, int, float, bool or None, got dict
    """
    if policy is None:
        policy = DEFAULT_POLICY
    if not isinstance(mapping, Mapping):
        raise TagError(
            "invalid_request_tags",
            f"must be a mapping of keys to values, got {type(mapping).__name__}",
            param="metadata",
            value=mapping,
        )
    cache = _cache_for(policy)
    head = ""
    if prefix:
        p = _normalize_cached(prefix, policy, cache)
        if type(p) is not str:
            raise TagError(p[0], p[1], param="prefix", value=prefix)
        head = p + "/"
    raising = policy.on_invalid == "raise"
    max_tags = policy.max_tags
    seen: dict[str, None] = {}
    dropped: list[DroppedTag] = []
    for i, (key, value) in enumerate(mapping.items()):
        k = _normalize_cached(key, policy, cache)
        if type(k) is not str:
            code, reason, bad = k[0], "key " + k[1], key
        else:
            try:
                text = _scalar_text(value)
            except TypeError as exc:
                text = None
                code = "invalid_tag_type"
                reason = f"value must be a str, int, float, bool or None, got {exc}"
                bad = value
            else:
                if text is None:
                    continue
                v = _normalize_cached(text, policy, cache)
                bad = value
                if type(v) is not str:
                    if v[0] == "empty_tag":
                        continue
                    code, reason = v[0], "value " + v[1]
                else:
                    tag = _normalize_cached(head + k + "/" + v, policy, cache)
                    if type(tag) is not str:
                        code, reason = tag
                    elif tag in seen:
                        continue
                    elif len(seen) < max_tags:
                        seen[tag] = None
                        continue
                    else:
                        code = "too_many_tags"
                        reason = f"more than {max_tags} distinct tags, the limit per request"
        if raising:
            raise TagError(code, reason, param="metadata", key=key, value=bad)
        dropped.append(DroppedTag(i, bad, code, f"key {key!r}: {reason}", "metadata"))
    out = NormalizedTags(seen)
    if dropped:
        out.dropped = tuple(dropped)
    return out


# ====================================================== key:value tags


_KV_RE = re.compile(r"^\s*([A-Za-z_](?:[A-Za-z0-9_.\- ]*[A-Za-z0-9_.\-])?)\s*:(.*)$", re.S)


def map_key_value_tag(tag: str) -> str:
    """``key:value`` / ``key: value`` -> ``key/value``; other tags unchanged.

    The convention of LiteLLM's and Langfuse's tags (``product:chat-bot``, LiteLLM's own
    ``User-Agent: OpenAI/Python 1.40.0``), read the same by their file readers
    (:mod:`tagcore.io._vendor` says the rule) and by :func:`~tagcore.gateway.extract_tags`
    for the tags a client sends the LiteLLM way, so that they roll up under their key.

    >>> map_key_value_tag("product:chat-bot")
    'product/chat-bot'
    >>> map_key_value_tag("User-Agent: OpenAI/Python 1.40.0")
    'User-Agent/OpenAI/Python 1.40.0'
    >>> map_key_value_tag("https://example.com/a")
    'https/example.com/a'
    >>> [map_key_value_tag(t) for t in ["12:30", "org/team:x", "plain", "key:"]]
    ['12:30', 'org/team:x', 'plain', 'key:']
    """
    m = _KV_RE.match(tag)
    if m is None:
        return tag
    value = m.group(2).strip().lstrip("/").strip()
    if not value:
        return tag
    return f"{m.group(1)}/{value}"
