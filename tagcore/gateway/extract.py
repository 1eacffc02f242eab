"""Tags at the gateway: take them out of a chat request before it is forwarded upstream.

:func:`extract_tags` reads tags from these places, merged in this order, then normalized,
deduplicated and limited as one list (see :mod:`tagcore.tags`):

1. the body's ``request_tags`` (absent or ``null``: none; anything but a list is an error);
2. the ``X-Request-Tags`` header (every occurrence, in order);
3. the conventions clients already send to other gateways, so that switching to tagcore
   needs no change in the client (see below): LiteLLM's body ``tags`` and ``metadata.tags``
   and its ``x-litellm-tags`` header, Helicone's ``Helicone-Property-<Key>`` headers,
   Portkey's ``x-portkey-metadata`` header;
4. ``default_tags``, the key-level defaults the gateway attaches to an API key.

What it reads it strips: the forwarded body has no ``request_tags``, no ``tags``, and no
``tags`` in its ``metadata`` (a ``metadata`` left empty is left out), and
:class:`~tagcore.gateway.TagcoreProxy` does not forward the headers above.

**Other gateways' conventions.**

* LiteLLM: the body's ``tags`` (a list of strings; anything else is an error) and
  ``metadata.tags`` (when ``metadata`` is an object and its ``tags`` a list; any other
  ``metadata.tags``, e.g. OpenAI's string metadata values, is the client's own and is left
  as it is), and the ``x-litellm-tags`` header, comma-separated, each item trimmed (as
  LiteLLM splits it: no JSON, no percent-decoding). A ``key:value`` tag becomes the path
  ``key/value`` (:func:`~tagcore.tags.map_key_value_tag`: ``jobID:214`` -> ``jobID/214``),
  exactly as :func:`~tagcore.io.read_litellm_payloads` and
  :func:`~tagcore.io.read_litellm_spend_logs` read the same tags from LiteLLM's logs.
* Helicone: each ``Helicone-Property-<Key>: <value>`` header is the tag ``<key>/<value>``,
  the key lower-cased as Helicone stores it (header names are case-insensitive, and HTTP/2
  and ASGI send them lower-case), the value as sent (a ``/`` in it is a path separator);
  an empty value is no tag. This is the ``key/value`` rule of
  :func:`~tagcore.tags.tags_from_mapping`, which reads Helicone's ``request_properties``.
* Portkey: the ``x-portkey-metadata`` header, a JSON object; each entry is the tag
  ``<key>/<value>`` by the rule of :func:`~tagcore.tags.tags_from_mapping` (strings as they
  are, ``true``/``false``, numbers as written; ``null`` and empty values are no tag; a nested
  object or list is an invalid tag).

**Header format.** Header names are matched case-insensitively. A value is either

* a JSON array of strings, when its first non-blank character is ``[``:
  ``X-Request-Tags: ["team/a,b", "env/prod"]`` (JSON ``\\u`` escapes carry any character); or
* a comma-separated list, each item trimmed, empty items ignored, then percent-decoded as UTF-8
  (as in URLs): a comma inside a tag is written ``%2C`` and a percent sign ``%25``, so
  ``X-Request-Tags: team/a%2Cb, env/prod`` gives ``team/a,b`` and ``env/prod``. A ``%`` not
  followed by two hex digits is kept as it is. Non-ASCII tags should be percent-encoded
  (``caf%C3%A9``) since many servers decode raw header bytes as Latin-1.

Header values given as ``bytes`` (ASGI scopes) are decoded as UTF-8.

JSON nested too deeply for the decoder (a body or header of thousands of ``[``) is a
:class:`~tagcore.tags.TagError` like any other malformed JSON, never a ``RecursionError``.

**Trusted tags.** ``trusted_tags`` are the gateway's own (a key's tags, an operator's routing
rules): they always survive, whatever the client sends. They are checked first and always raise
when invalid (``param="trusted_tags"``), even under ``on_invalid="drop"``, and they take their
places before the client's tags are counted, so the client's tags fill only ``max_tags`` minus
theirs: under ``"drop"`` 64 client tags cannot push a trusted tag out, and under ``"raise"`` the
client's tag beyond the limit is the one named. They come last in the result (after the
client's tags, unless a client tag repeats one). ``default_tags`` keep their older meaning: one
more source, merged last and limited with the others.

Errors are :class:`~tagcore.tags.TagError` whose ``param`` says where the element came from
(``"request_tags"``, ``"X-Request-Tags"``, ``"tags"``, ``"metadata.tags"``,
``"x-litellm-tags"``, the ``Helicone-Property-<Key>`` header's name, ``"x-portkey-metadata"``,
``"default_tags"``; ``None`` for a body that is not a JSON object) and whose ``index`` is the
element's position there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

from tagcore.tags import (
    DEFAULT_POLICY,
    DroppedTag,
    NormalizedTags,
    TagError,
    TagPolicy,
    _cache_for,
    _merge,
    _normalize_cached,
    _scalar_text,
    map_key_value_tag,
)

__all__ = ["HEADER", "TAG_HEADERS", "extract_tags", "parse_tags_header"]

HEADER = "X-Request-Tags"
_HEADER_LOWER = HEADER.lower()
_HEADER_BYTES = _HEADER_LOWER.encode()
LITELLM_HEADER = "x-litellm-tags"
PORTKEY_HEADER = "x-portkey-metadata"
HELICONE_PREFIX = "helicone-property-"
_HELICONE_BYTES = HELICONE_PREFIX.encode()
# every request header extract_tags reads (names lower-case; and any helicone-property-*)
TAG_HEADERS = (_HEADER_LOWER, LITELLM_HEADER, PORTKEY_HEADER)

HeadersLike = Mapping[Any, Any] | Iterable[tuple[Any, Any]]
_TOO_DEEP = "is JSON nested too deeply to read"


def parse_tags_header(value: str | bytes) -> list[str]:
    """Split one ``X-Request-Tags`` header value into raw (not yet normalized) tags.

    A JSON array when the value starts with ``[``; otherwise comma-separated items, trimmed,
    empty ones ignored, each percent-decoded (``%2C`` is a comma, ``%25`` a percent sign).
    A JSON array may hold non-strings; they are rejected later, by normalization.

    >>> parse_tags_header("customer/acme, env/prod,, team/a%2Cb")
    ['customer/acme', 'env/prod', 'team/a,b']
    >>> parse_tags_header('["team/a,b", "100%"]')
    ['team/a,b', '100%']
    >>> parse_tags_header(b"caf%C3%A9")
    ['café']
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TagError(
                "invalid_request_tags", f"is not valid UTF-8 ({exc.reason})", param=HEADER
            ) from None
    elif not isinstance(value, str):
        raise TagError(
            "invalid_request_tags",
            f"must be a string, got {type(value).__name__}",
            param=HEADER,
            value=value,
        )
    text = value.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise TagError(
                "invalid_request_tags",
                f"is not a valid JSON array ({exc})",
                param=HEADER,
                value=value,
            ) from None
        except RecursionError:  # '[[[[...' thousands deep: the decoder's stack guard
            raise TagError(
                "invalid_request_tags", _TOO_DEEP, param=HEADER, value=value
            ) from None
        if type(items) is not list:  # e.g. '[1] junk' fails above; keep the check explicit
            raise TagError(
                "invalid_request_tags", "must be a JSON array", param=HEADER, value=value
            )
        return items
    out = []
    for item in text.split(","):
        item = item.strip()
        if item:
            if "%" in item:
                try:
                    item = unquote(item, errors="strict")
                except UnicodeDecodeError as exc:
                    raise TagError(
                        "invalid_request_tags",
                        f"percent-encoded bytes are not valid UTF-8 ({exc.reason})",
                        param=HEADER,
                        value=value,
                    ) from None
            out.append(item)
    return out


def _header_values(headers: HeadersLike) -> tuple[list[Any], list[tuple[str, Any]]]:
    """The tag headers in ``headers``, in order, names compared case-insensitively: the
    ``X-Request-Tags`` values, and ``(name, value)`` of the other gateways' headers
    (``x-litellm-tags``, ``Helicone-Property-*``, ``x-portkey-metadata``)."""
    pairs: Iterable[tuple[Any, Any]]
    if isinstance(headers, Mapping):
        pairs = headers.items()
    elif isinstance(headers, (str, bytes)):
        raise TypeError(
            f"headers must be a mapping or (name, value) pairs, got {type(headers).__name__}"
        )
    else:
        pairs = headers
    found = []
    other: list[tuple[str, Any]] = []
    for name, value in pairs:
        if type(name) is not bytes:
            if isinstance(name, str):
                n = len(name)
                if n == 14:
                    low = name.lower()
                    if low == _HEADER_LOWER:
                        found.append(value)
                    elif low == LITELLM_HEADER:
                        other.append((LITELLM_HEADER, value))
                elif n >= 18:
                    c = name[0]
                    if c in "xX":
                        if n == 18 and name.lower() == PORTKEY_HEADER:
                            other.append((PORTKEY_HEADER, value))
                    elif c in "hH" and name[:18].lower() == HELICONE_PREFIX:
                        other.append((name, value))
                continue
            if not isinstance(name, bytearray):
                continue
            name = bytes(name)
        # bytes (ASGI's scope["headers"], names lower-case): the common case
        n = len(name)
        if n == 14:
            blow = name.lower()
            if blow == _HEADER_BYTES:
                found.append(value)
            elif blow == b"x-litellm-tags":
                other.append((LITELLM_HEADER, value))
        elif n >= 18:
            b = name[0] | 0x20
            if b == 0x78:  # x
                if n == 18 and name.lower() == b"x-portkey-metadata":
                    other.append((PORTKEY_HEADER, value))
            elif b == 0x68 and name[:18].lower() == _HELICONE_BYTES:  # h
                other.append((_header_text(name, HELICONE_PREFIX), value))
    return found, other


def _header_text(value: Any, param: str) -> str:
    """A header value as text (``bytes`` decoded as UTF-8)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TagError("invalid_request_tags", f"is not valid UTF-8 ({exc.reason})",
                           param=param) from None
    raise TagError("invalid_request_tags", f"must be a string, got {type(value).__name__}",
                   param=param, value=value)


def _key_value(key: str, value: object) -> object:
    """The raw tag ``key/value`` of a metadata entry (:func:`tags_from_mapping`'s rule), or
    ``None`` for no tag; a value that can be no tag is returned as it is (normalization
    then names it)."""
    try:
        text = _scalar_text(value)
    except TypeError:
        return value
    if text is None or not text.replace("/", "").strip():
        return None
    if not key.replace("/", "").strip():
        return key  # an empty key: an empty tag, refused by normalization
    return key + "/" + text


def _other_header_tags(other: list[tuple[str, Any]], sources: list[tuple[str, Any]]) -> None:
    """Append the tags of the other gateways' headers to ``sources``."""
    for name, value in other:
        text = _header_text(value, name)
        items: list[object]
        if name == LITELLM_HEADER:
            items = [map_key_value_tag(t) for t in (p.strip() for p in text.split(",")) if t]
        elif name == PORTKEY_HEADER:
            items = []
            for k, v in _json_object(text, name).items():
                item = _key_value(k, v)
                if item is not None:
                    items.append(item)
        else:  # Helicone-Property-<Key>
            item = _key_value(name[18:].lower(), text)
            items = [] if item is None else [item]
        if items:
            sources.append((name, items))


def _json_object(text: str, param: str) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise TagError("invalid_request_tags", f"is not a valid JSON object ({exc})",
                       param=param, value=text) from None
    except RecursionError:
        raise TagError("invalid_request_tags", _TOO_DEEP, param=param, value=text) from None
    if type(obj) is not dict:
        raise TagError("invalid_request_tags",
                       f"must be a JSON object, got {_json_type(obj)}", param=param, value=text)
    return obj


def _body_litellm_tags(forwarded: dict[str, Any], sources: list[tuple[str, Any]]) -> None:
    """Take LiteLLM's ``tags`` and ``metadata.tags`` out of ``forwarded`` (a new dict; its
    ``metadata`` is replaced, never changed) into ``sources``."""
    tags = forwarded.pop("tags", None)
    if tags is not None:
        if not isinstance(tags, (list, tuple)):
            raise TagError("invalid_request_tags",
                           f"must be a list of strings, got {type(tags).__name__}",
                           param="tags", value=tags)
        if tags:
            sources.append(("tags", [map_key_value_tag(t) if type(t) is str else t
                                     for t in tags]))
    meta = forwarded.get("metadata")
    if isinstance(meta, Mapping) and isinstance(meta.get("tags"), (list, tuple)):
        rest = {k: v for k, v in meta.items() if k != "tags"}
        if rest:
            forwarded["metadata"] = rest
        else:
            del forwarded["metadata"]
        if meta["tags"]:
            sources.append(("metadata.tags", [map_key_value_tag(t) if type(t) is str else t
                                              for t in meta["tags"]]))


def _header_tags(headers: HeadersLike) -> list[object]:
    values, _ = _header_values(headers)
    tags: list[object] = []
    for value in values:
        tags.extend(parse_tags_header(value))
    return tags


def _parse_body(body: object) -> dict[str, Any]:
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        try:
            parsed = json.loads(bytes(body) if isinstance(body, memoryview) else body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise TagError("invalid_body", f"is not valid JSON ({exc})", param=None) from None
        except RecursionError:
            raise TagError("invalid_body", _TOO_DEEP, param=None) from None
        if type(parsed) is not dict:
            raise TagError(
                "invalid_body",
                f"must be a JSON object, got {_json_type(parsed)}",
                param=None,
            )
        return parsed  # already a new dict
    if isinstance(body, Mapping):
        return dict(body)
    raise TagError(
        "invalid_body",
        f"must be a JSON object (dict, bytes or str), got {type(body).__name__}",
        param=None,
    )


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def extract_tags(
    body: Mapping[str, Any] | bytes | bytearray | str,
    headers: HeadersLike | None = None,
    default_tags: list[str] | tuple[str, ...] = (),
    policy: TagPolicy | None = None,
    *,
    trusted_tags: list[str] | tuple[str, ...] = (),
) -> tuple[NormalizedTags, dict[str, Any]]:
    """Take the tags out of a request: ``(tags, forwarded_body)``.

    ``body`` is a dict (or other mapping), or JSON text as ``bytes``/``bytearray``/``str``.
    Tags come from the body's ``request_tags``, then the ``X-Request-Tags`` header(s) (see the
    module docstring for the format), then the tags of other gateways' conventions (LiteLLM's
    body ``tags``, ``metadata.tags`` and ``x-litellm-tags`` header, Helicone's
    ``Helicone-Property-<Key>`` headers, Portkey's ``x-portkey-metadata`` header), then
    ``default_tags``; they are merged in that order, normalized, deduplicated (first seen
    kept), and limited to ``policy.max_tags`` after the merge. ``headers`` may be a dict, any mapping (starlette/httpx ``Headers``), or an iterable
    of ``(name, value)`` pairs, ``str`` or ``bytes`` (ASGI ``scope["headers"]``).

    ``forwarded_body`` is always a new dict: the body without ``request_tags`` (nor LiteLLM's
    ``tags`` and ``metadata.tags``), every other field the same object (a shallow copy). The
    input is never modified.

    ``tags`` is a :class:`~tagcore.tags.NormalizedTags` (a ``list`` equal to a plain list);
    under ``on_invalid="drop"`` its ``.dropped`` says what was left out and from where.

    ``trusted_tags`` (keyword) are the gateway's own tags, which always survive (see the module
    docstring): ``extract_tags({"request_tags": [64 tags]}, trusted_tags=["customer/acme"],
    policy=TagPolicy(on_invalid="drop"))`` keeps ``customer/acme`` and 63 of the client's.

    Raises :class:`~tagcore.tags.TagError` (``status_code`` 400, ``.to_openai_error()``) for a
    body that is not a JSON object, a ``request_tags`` that is not a list, an invalid header,
    and under ``on_invalid="raise"`` any invalid tag or too many tags. ``default_tags`` that is
    not a list or tuple is a :class:`TypeError` (a programming error, not the client's).

    >>> body = {"model": "gpt-4o", "request_tags": ["customer/acme", " env / production "]}
    >>> tags, fwd = extract_tags(body, headers={"x-request-tags": "asia"})
    >>> tags, fwd
    (NormalizedTags(['customer/acme', 'env/production', 'asia']), {'model': 'gpt-4o'})
    >>> extract_tags(b'{"request_tags": "a,b"}')
    Traceback (most recent call last):
    ...
    tagcore.tags.TagError: request_tags = 'a,b': must be a list of strings, got str
    >>> extract_tags({"model": "m", "tags": ["jobID:214"], "metadata": {"tags": ["a"]}},
    ...              headers={"Helicone-Property-Customer": "acme",
    ...                       "x-portkey-metadata": '{"_user": "u1"}'})
    (NormalizedTags(['jobID/214', 'a', 'customer/acme', '_user/u1']), {'model': 'm'})
    >>> flood = {"request_tags": [f"t{i}" for i in range(64)]}
    >>> tags, _ = extract_tags(flood, trusted_tags=["customer/acme"],
    ...                        policy=TagPolicy(on_invalid="drop"))
    >>> len(tags), tags[-1], tags.dropped[0].value
    (64, 'customer/acme', 't63')
    """
    if type(body) is dict:
        forwarded = body.copy()
    else:
        forwarded = _parse_body(body)
    raw = forwarded.pop("request_tags", None)
    if raw is not None and type(raw) is not list and not isinstance(raw, (list, tuple)):
        raise TagError(
            "invalid_request_tags",
            f"must be a list of strings, got {type(raw).__name__}",
            value=raw,
        )
    if type(default_tags) is not tuple and not isinstance(default_tags, (list, tuple)):
        if default_tags is None:
            default_tags = ()
        else:
            raise TypeError(
                f"default_tags must be a list or tuple of strings, got {type(default_tags).__name__}"
            )
    sources: list[tuple[str, Any]] = []
    if raw:
        sources.append(("request_tags", raw))
    other = None
    if headers is not None:
        values, other = _header_values(headers)
        if values:
            header_tags: list[object] = []
            for value in values:
                header_tags.extend(parse_tags_header(value))
            if header_tags:
                sources.append((HEADER, header_tags))
    if "tags" in forwarded or "metadata" in forwarded:
        _body_litellm_tags(forwarded, sources)
    if other:
        _other_header_tags(other, sources)
    if default_tags:
        sources.append(("default_tags", default_tags))
    policy = DEFAULT_POLICY if policy is None else policy
    if trusted_tags:
        return _merge_trusted(sources, trusted_tags, policy), forwarded
    tags = _merge(sources, policy)
    return tags, forwarded


def _merge_trusted(
    sources: list[tuple[str, Any]], trusted_tags: Any, policy: TagPolicy
) -> NormalizedTags:
    """Like ``_merge``, with ``trusted_tags`` placed first (and raising whatever the policy)."""
    if not isinstance(trusted_tags, (list, tuple)):
        raise TypeError(
            f"trusted_tags must be a list or tuple of strings, got {type(trusted_tags).__name__}"
        )
    strict = policy if policy.on_invalid == "raise" else replace(policy, on_invalid="raise")
    trusted = _merge((("trusted_tags", trusted_tags),), strict)
    trusted_set = set(trusted)
    room = policy.max_tags - len(trusted)  # >= 0: _merge raised beyond max_tags
    cache = _cache_for(policy)
    raising = policy.on_invalid == "raise"
    seen: dict[str, None] = {}
    dropped: list[DroppedTag] = []
    used = 0
    for param, elements in sources:
        for i, tag in enumerate(elements):
            r = _normalize_cached(tag, policy, cache)
            if isinstance(r, str):
                if r in seen:
                    continue
                if r in trusted_set:
                    seen[r] = None  # a client tag equal to a trusted one takes no room
                    continue
                if used < room:
                    seen[r] = None
                    used += 1
                    continue
                code = "too_many_tags"
                reason = (
                    f"more than {policy.max_tags} distinct tags, the limit per request "
                    f"({len(trusted)} of them the gateway's own)"
                )
            else:
                code, reason = r
            if raising:
                raise TagError(code, reason, param=param, index=i, value=tag)
            dropped.append(DroppedTag(i, tag, code, reason, param))
    for t in trusted:
        seen.setdefault(t, None)
    out = NormalizedTags(seen)
    if dropped:
        out.dropped = tuple(dropped)
    return out
