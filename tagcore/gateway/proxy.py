"""An OpenAI-compatible proxy as a plain ASGI app: tags in, budgets checked, usage recorded.

:class:`TagcoreProxy` sits between OpenAI-style clients and an upstream (OpenAI itself, vLLM,
a LiteLLM or Ollama server, Anthropic, ...). It first reads the request path **once** into its
canonical form (:func:`canonical_path`: percent-decoded, ``%2F`` included; empty, ``.`` and
``..`` segments and ``;params`` removed; no trailing slash) and compares it with its API paths
**case-insensitively**; that one decision is what the proxy acts on and the path it forwards,
so ``/v1/chat/completions/``, ``//v1/chat/completions``, ``/v1//chat/completions``,
``/V1/chat/completions`` and ``/v1/chat%2Fcompletions`` are all the chat completions endpoint,
checked, recorded and forwarded as ``/v1/chat/completions``.

For ``POST`` on an API path (by default every usage-bearing OpenAI-compatible endpoint:
``/v1/chat/completions``, ``/v1/completions``, ``/v1/responses``, ``/v1/embeddings``,
``/v1/moderations``, ``/v1/audio/speech``, ``/v1/audio/transcriptions``,
``/v1/audio/translations``, ``/v1/images/generations``, ``/v1/images/edits``,
``/v1/images/variations``, and Anthropic's ``/v1/messages``) it

1. reads the body (at most ``max_body_bytes``, a **413** above; a **503** when the bodies of
   all requests in flight would pass ``max_inflight_bytes``) and takes the tags out with
   :func:`~tagcore.gateway.extract_tags` (body ``request_tags``, the ``X-Request-Tags`` header,
   the tags clients send to LiteLLM, Helicone and Portkey, then ``default_tags``); an invalid
   body or tag is a **400** with the OpenAI error body of :class:`~tagcore.tags.TagError`. A ``multipart/form-data`` body (audio transcriptions,
   image edits) is forwarded as it is: its tags come from the header, and a ``request_tags``
   form field is a 400 (the proxy does not rewrite forms, and never forwards tags);
2. asks the budgets, reserving the request's estimate (see *Budgets* below); a request over
   budget is a **429** with the OpenAI error body of ``BudgetExceeded``; nothing is forwarded;
3. forwards the body *without* the tags it read (``request_tags``, LiteLLM's ``tags`` and
   ``metadata.tags``) to ``upstream + path`` (same method, query string and headers,
   ``authorization`` included; minus ``host``, ``content-length``, hop-by-hop headers and the
   tag headers ``X-Request-Tags``, ``x-litellm-tags``, ``Helicone-Property-*``,
   ``x-portkey-metadata``; ``accept-encoding: identity`` so the proxy can read the usage). A
   body without tags (and nothing injected) is forwarded as the very bytes the client sent;
4. relays the upstream status, headers and body to the client **as the bytes arrive** (a JSON
   body too; an SSE stream event by event, never buffered whole);
5. records the request once the response is over: ``recorder.record(tags, model=...,
   usage=..., latency_ms=..., status=..., request_id=..., user=..., key=...)``, just before
   the response's last byte goes out, so a client that has its answer finds it recorded and
   its budgets charged.

Trusted tags
    ``default_tags`` (a list, or a callable per request: your key lookup and routing rules)
    are the gateway's own: they are passed as ``trusted_tags``, so they always survive and are
    always checked, whatever the client sends (under ``TagPolicy(on_invalid="drop")`` 64 client
    tags cannot push them out). An invalid trusted tag is the operator's error: a **500**.

Budgets
    With a :class:`~tagcore.gateway.Budgets` the proxy calls ``check(tags, model=...,
    estimated_cost_nanos=..., estimated_tokens=..., reserve=True)`` and holds the returned
    :class:`~tagcore.gateway.Reservation` while the request runs: the record settles it (in
    the same step as the spend accrues: ``with budgets.settling(r): recorder.record(...)``),
    and it is released whatever happens (a refusal, an upstream error, a client gone, an
    exception). So concurrent requests cannot all pass on the same headroom: the overshoot of a
    limit is bounded by how much the estimates of the requests in flight fall short of their
    actual cost together (see the *Overshoot bound* in :mod:`tagcore.gateway.budgets`), not by
    how many clients race. The estimate is ``estimate(body, scope)`` when given (a number of
    dollars, or a mapping with ``"cost"`` dollars or ``"cost_nanos"``, and ``"tokens"``); by
    default, for a JSON body: the completion is ``max_completion_tokens`` / ``max_tokens`` /
    ``max_output_tokens`` (times ``n``), the prompt about one token per 4 bytes of the body's
    strings (long base64 strings and ``data:`` URLs left out; integers in lists, token ids, one
    each), priced with the budgets' price table; a multipart body estimates 0 (one unit). Ask for ``max_tokens`` or pass ``estimate=`` for a tight bound.
    A model the price table cannot price under a cost rule is a **400** (``UnpricedModel``)
    unless the budgets were made with ``unpriced=<dollars>``. When the response's model (a
    dated snapshot, say) cannot be priced but the requested one can, the proxy prices the
    usage at the requested model's rates (``cost_nanos=``), so the request is never counted as
    free. Any other object with a ``check(tags)`` method is asked just that.

What is recorded
    ``model`` from the response (the upstream's resolved name, e.g. ``gpt-4o-2024-08-06``),
    else the request's; ``usage`` from the response JSON (chat/completions ``usage``, the
    Responses API's, Anthropic's), or from the stream (the final chunk's ``usage`` with
    ``stream_options.include_usage``; the Responses API's ``response.completed`` event;
    Anthropic's ``message_start`` and ``message_delta``); ``latency_ms`` from the moment the
    request body has been read to the last byte relayed; ``ts`` the recorder's clock (the end
    of the response); ``status`` the upstream's status; ``request_id`` the upstream
    ``x-request-id`` header, else the response's ``id``; ``user`` the body's ``user`` field
    when it is a string; ``key`` what the ``key`` callable returns (nothing by default: the
    proxy never records credentials). Tags are normalized with ``policy``, which defaults to
    the recorder's. Only JSON and SSE responses are read (audio bytes are relayed, unread).

    Usage that cannot be known is recorded as unknown (``usage=None``, the recorder's explicit
    unknown-usage marker), never dropped and never guessed as zero: a successful response
    without ``usage``, a stream that ends without a usage chunk, a stream cut by the upstream,
    a client that disconnects mid-response (recorded with status **499**, as nginx does). An
    error response (status >= 400) without ``usage`` is recorded with zero tokens: providers do
    not bill refused requests. An upstream that cannot be reached is a **502** (a timeout before
    the response headers: **504**) with an OpenAI-style error body, recorded with zero tokens.
    A request refused by the proxy itself (400, 404, 405, 413, 429, 503) is not recorded: it
    reached no model, and counting refusals would keep a ``requests`` budget locked.

Streaming usage (``inject_stream_usage=True``, the default)
    When a chat or legacy completions request asks for ``"stream": true`` without
    ``stream_options.include_usage`` true, the proxy adds it (``stream_options`` is copied and
    ``include_usage`` set), so that usage is known. The extra usage-only chunk this makes the
    upstream send (``"choices": []`` with ``usage``) is **taken out** of the stream the client
    sees, so the client gets the events it asked for; the ``"usage": null`` field the upstream
    then adds to every other chunk is left as it is (it is part of the chunk schema). A client
    that asked for usage itself gets the stream unchanged. With ``inject_stream_usage=False``
    the body is left alone and such streams are recorded with unknown usage. Some older
    upstreams reject ``stream_options``: turn injection off for them.

Other requests: refused by default
    A request that is not ``POST`` on an API path is neither checked nor recorded, so by
    default it is **not forwarded** either: another method on an API path (``GET``, ``PUT``,
    ``DELETE``, ``OPTIONS``...) is a **405** (``allow: POST``), any other path a **404**, both
    with an OpenAI-style JSON error body. ``passthrough`` lists what is forwarded anyway,
    unchecked and unrecorded, as ``"METHOD /path"`` patterns on the canonical path (``*`` one
    segment, case-insensitive; default: ``GET /v1/models`` and ``GET /v1/models/*``, which the
    SDKs call and which cost nothing); ``other="forward"`` forwards every other request that
    way. Either way ``request_tags`` never leave the proxy: the ``X-Request-Tags`` header is
    dropped, a JSON object body loses its ``request_tags`` (re-encoded), and a form with a
    ``request_tags`` field is a 400. With ``app=`` (middleware mode) every request the proxy
    does not handle goes to that ASGI app instead (yours: it decides). Lifespan events go to
    ``app`` when given, otherwise the proxy answers them; either way, at shutdown the proxy
    flushes the recorder (``recorder.flush()``: durable, not closed, the recorder is yours) and
    closes the HTTP client it made.

Memory
    Request bodies are held while their request runs. One body above ``max_body_bytes``
    (default 32 MiB) is a **413** (refused from its ``content-length`` before it is read); when
    the bytes held by all requests in flight would pass ``max_inflight_bytes`` (default
    256 MiB; counting each body as read, its re-encoded copy, and the copies of JSON responses
    kept for reading their usage), the request is a **503** with ``retry-after: 1``, and a JSON
    response that cannot get room is relayed in full but not read (usage unknown). Budgets
    bound their own counters (``max_counters``).

The HTTP client is ``httpx.AsyncClient`` (``pip install tagcore[gateway]``); the proxy runs
on asyncio servers (uvicorn, hypercorn with asyncio). Recording and budget checks run on the
event loop; both cost microseconds.

>>> import tagcore as tc
>>> proxy = tc.TagcoreProxy("http://127.0.0.1:8001", recorder=tc.Recorder())
>>> proxy.upstream, "/v1/embeddings" in proxy.paths, "/v1/messages" in proxy.paths
('http://127.0.0.1:8001', True, True)
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Literal
from urllib.parse import quote, unquote

from tagcore.coerce import dollars_to_nanos, parse_usage, to_count
from tagcore.errors import TagcoreError
from tagcore.gateway.budgets import Budgets
from tagcore.gateway.extract import HELICONE_PREFIX, TAG_HEADERS, extract_tags
from tagcore.tags import TagError, TagPolicy

__all__ = [
    "DEFAULT_PASSTHROUGH",
    "DEFAULT_PATHS",
    "RequestRefused",
    "TagcoreProxy",
    "UpstreamStreamError",
    "canonical_path",
]

logger = logging.getLogger("tagcore.asgi")  # the name it had before the move: logging configs keep working

DEFAULT_PATHS: frozenset[str] = frozenset(
    {
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/responses",
        "/v1/embeddings",
        "/v1/moderations",
        "/v1/audio/speech",
        "/v1/audio/transcriptions",
        "/v1/audio/translations",
        "/v1/images/generations",
        "/v1/images/edits",
        "/v1/images/variations",
        "/v1/messages",  # Anthropic
    }
)
DEFAULT_PASSTHROUGH: tuple[str, ...] = ("GET /v1/models", "GET /v1/models/*")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Request headers never forwarded (RFC 9110 section 7.6.1 hop-by-hop, plus those the client
# of the upstream sets itself). Names listed in the request's own Connection header go too.
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)
# ... and the tag headers extract_tags reads (X-Request-Tags and other gateways'; also every
# Helicone-Property-*): what it reads is not forwarded
_DROP_REQUEST = _HOP_BY_HOP | {b"host", b"content-length", b"expect"} | {
    h.encode() for h in TAG_HEADERS}
_HELICONE = HELICONE_PREFIX.encode()
_DROP_RESPONSE = _HOP_BY_HOP
_USAGE_NULL = re.compile(rb'"usage"\s*:\s*null')
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_MAX_PARSE = 64 << 20  # a JSON body larger than this is relayed but not parsed (usage unknown)
_MAX_EVENT = 8 << 20  # an SSE event larger than this ends parsing (relayed raw from then on)
_CLIENT_CLOSED = 499
# a form field named request_tags (also request_tags[] and RFC 2231's name*=utf-8''...)
_FORM_TAGS = re.compile(
    rb"content-disposition:[^\r\n]*\bname\*?=\s*\"?(?:utf-8'[^']*')?request_tags", re.I
)
_FORM_MODEL = re.compile(
    rb'content-disposition:\s*form-data;\s*name="model"\r\n(?:[^\r\n]+\r\n)*\r\n([^\r\n]{1,256})\r\n',
    re.I,
)
# inline base64 data (images, audio) is left out of the prompt-token estimate
_BASE64 = re.compile(r"[A-Za-z0-9+/=_\-\s]+")
_BYTES_PER_TOKEN = 4
_SEGMENT_PARAMS = re.compile(r";[^/]*")
_PATH_BAD = re.compile(r"[\x00-\x1f\x7f?#]")


class UpstreamStreamError(TagcoreError, RuntimeError):
    """The upstream broke off a response after its headers were relayed.

    Raised to the ASGI server so that it closes the client's connection too: the client sees a
    cut response, not a short one that looks complete. The request is recorded first (with
    unknown usage unless usage had already arrived).
    """


class RequestRefused(TagcoreError):
    """A request the proxy refuses by itself, before anything is forwarded.

    ``status_code`` (400 unreadable path, 404 unknown path, 405 other method on an API path,
    413 body too large, 503 too many bytes in flight), ``code``, ``param`` (what was refused:
    ``"path"``, ``"method"``, ``"body"``), ``reason``, ``headers`` (extra response headers) and
    :meth:`to_openai_error` for the JSON body.

    >>> err = RequestRefused(405, "method_not_allowed", "method", "GET is not allowed here",
    ...                      {"allow": "POST"})
    >>> str(err), err.to_openai_error()["error"]["type"]
    ('method: GET is not allowed here', 'invalid_request_error')
    """

    def __init__(
        self,
        status_code: int,
        code: str,
        param: str | None,
        reason: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status_code, self.code, self.param, self.reason = status_code, code, param, reason
        self.headers = dict(headers or {})
        super().__init__(f"{param}: {reason}" if param else reason)

    def __reduce__(self):
        return (
            RequestRefused,
            (self.status_code, self.code, self.param, self.reason, self.headers),
        )

    def to_openai_error(self) -> dict[str, dict[str, Any]]:
        """The JSON body of the refusal, in OpenAI's error format.

        >>> RequestRefused(503, "gateway_busy", None, "busy").to_openai_error()["error"]["code"]
        'gateway_busy'
        """
        type_ = "server_error" if self.status_code >= 500 else "invalid_request_error"
        return _error_body(str(self), type_, self.code, self.param)


def canonical_path(path: str) -> str:
    """The one form of a request path the proxy decides on and forwards.

    Percent-escapes are decoded until none is left (``%2F`` is a ``/``, ``%252F`` too: a
    server or upstream that decodes once more must not see another path), ``\\`` counts as
    ``/``, empty and ``.`` segments are dropped, ``..`` removes the segment before it,
    ``;params`` are cut from every segment, and there is no trailing slash. Case is kept (the
    proxy compares case-insensitively). A path that still has a control character, ``?`` or
    ``#`` after decoding, or is not valid UTF-8 once decoded, raises :class:`RequestRefused`
    (400, ``param="path"``).

    >>> canonical_path("//V1//chat/./completions/")
    '/V1/chat/completions'
    >>> canonical_path("/v1/chat%2Fcompletions;x=1"), canonical_path("/v1/x/../models")
    ('/v1/chat/completions', '/v1/models')
    >>> canonical_path("/v1/chat/completions%3Fa")
    Traceback (most recent call last):
    ...
    tagcore.gateway.proxy.RequestRefused: path: '/v1/chat/completions?a' has a '?', '#' or a control character once decoded
    """
    if not isinstance(path, str):
        raise RequestRefused(400, "invalid_path", "path", f"expected a string, got {type(path).__name__}")
    text = path
    for _ in range(4):
        if "%" not in text:
            break
        try:
            decoded = unquote(text, errors="strict")
        except UnicodeDecodeError:
            raise RequestRefused(
                400, "invalid_path", "path", f"{path[:200]!r} is not UTF-8 once decoded"
            ) from None
        if decoded == text:
            break
        text = decoded
    else:
        if "%" in text and unquote(text) != text:
            raise RequestRefused(
                400, "invalid_path", "path", f"{path[:200]!r} is percent-encoded too many times"
            )
    text = text.replace("\\", "/")
    if _PATH_BAD.search(text):
        raise RequestRefused(
            400,
            "invalid_path",
            "path",
            f"{text[:200]!r} has a '?', '#' or a control character once decoded",
        )
    out: list[str] = []
    for seg in text.split("/"):
        seg = _SEGMENT_PARAMS.sub("", seg)
        if not seg or seg == ".":
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    return "/" + "/".join(out)


def _route_key(path: str) -> str:
    return path.lower()


def _pattern_matches(pattern: tuple[str, list[str]], method: str, key: str) -> bool:
    want_method, segs = pattern
    if want_method not in ("*", method):
        return False
    parts = key.split("/")[1:] if key != "/" else []
    if len(parts) != len(segs):
        return False
    return all(s == "*" or s == p for s, p in zip(segs, parts))


def _parse_passthrough(items: Iterable[str]) -> list[tuple[str, list[str]]]:
    if isinstance(items, (str, bytes)):
        raise TypeError("passthrough must be a list of 'METHOD /path' strings, got a string")
    out = []
    for item in items:
        if not isinstance(item, str) or len(item.split()) != 2:
            raise ValueError(
                f"passthrough: expected 'METHOD /path' (e.g. 'GET /v1/models'), got {item!r}"
            )
        method, path = item.split()
        key = _route_key(canonical_path(path))
        out.append((method.upper(), key.split("/")[1:] if key != "/" else []))
    return out


def _kind(path: str) -> str:
    if path.endswith("/chat/completions"):
        return "chat"
    if path.endswith("/responses"):
        return "responses"
    if path.endswith("/completions"):
        return "completions"
    if path.endswith("/messages"):
        return "messages"
    return "other"


def _error_body(message: str, type_: str, code: str | None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class _Outcome:
    """What the relay learned: filled while bytes flow, read when the request is recorded."""

    __slots__ = (
        "status",
        "model",
        "usage",
        "request_id",
        "complete",
        "cut",
        "finish",
    )

    def __init__(self, finish: Callable[[], None] | None = None) -> None:
        self.status = 0
        self.model: str | None = None
        self.usage: dict | None = None
        self.request_id: str | None = None
        self.complete = False  # the last byte was handed to the server
        self.cut = False  # the upstream broke off mid-body
        # called once the outcome is known, just before the response's last byte is handed on,
        # so a client that has its response finds it recorded (and its budgets accrued)
        self.finish = finish


def _finish(out: _Outcome) -> None:
    finish, out.finish = out.finish, None
    if finish is not None:
        finish()


def _take(target: Mapping, out: _Outcome) -> None:
    """Copy model, usage and id from a response object (chat, completions, Responses API)."""
    if out.model is None:
        model = target.get("model")
        if type(model) is str and model:
            out.model = model
    usage = target.get("usage")
    if isinstance(usage, dict):
        out.usage = usage
    if out.request_id is None:
        rid = target.get("id")
        if type(rid) is str and rid:
            out.request_id = rid


class _Decoder:
    """Undo gzip/deflate for parsing (the relayed bytes stay as they are); ``None`` = give up."""

    def __init__(self, encoding: str) -> None:
        self._z = zlib.decompressobj(47) if encoding in ("gzip", "x-gzip", "deflate") else None

    def __call__(self, data: bytes) -> bytes | None:
        if self._z is None:
            return None
        try:
            return self._z.decompress(data)
        except zlib.error:
            self._z = None
            return None


class _JsonSniffer:
    """Keeps a copy of a JSON body (up to a limit) and reads usage from it at the end.

    ``take(n) -> bool`` asks the proxy for room for ``n`` more bytes (its in-flight bound);
    without room the copy is given up (the body is still relayed; usage unknown)."""

    def __init__(
        self, out: _Outcome, encoding: str | None, take: Callable[[int], bool] | None = None
    ) -> None:
        self.out = out
        self.parts: list[bytes] | None = []
        self.size = 0
        self.decode = _Decoder(encoding) if encoding else None
        self.take = take

    def feed(self, chunk: bytes) -> bytes:
        if self.parts is not None:
            data = chunk if self.decode is None else self.decode(chunk)
            if data is None:
                self.parts = None
            else:
                self.size += len(data)
                if self.size > _MAX_PARSE or (self.take is not None and not self.take(len(data))):
                    if self.size <= _MAX_PARSE:
                        logger.warning(
                            "tagcore proxy: no room in max_inflight_bytes to read a response's "
                            "usage; relayed, recorded with unknown usage"
                        )
                    self.parts = None
                else:
                    self.parts.append(data)
        return chunk

    def close(self) -> bytes:
        if self.parts:
            try:
                obj = json.loads(b"".join(self.parts))
            except (ValueError, UnicodeDecodeError):
                obj = None
            if isinstance(obj, dict):
                response = obj.get("response")  # a Responses API background/wrapper shape
                _take(obj, self.out)
                if self.out.usage is None and isinstance(response, dict):
                    _take(response, self.out)
        return b""


class _SseSniffer:
    """Splits an SSE stream into events, reads model and usage, optionally drops the
    usage-only chunk; hands complete events on at once and holds only an unfinished one."""

    def __init__(self, out: _Outcome, strip_usage_chunk: bool, encoding: str | None) -> None:
        self.out = out
        self.strip = strip_usage_chunk and not encoding
        self.decode = _Decoder(encoding) if encoding else None
        self.buf = bytearray()  # the unfinished event
        self.parsing = True

    def feed(self, chunk: bytes) -> bytes:
        if self.decode is not None:  # encoded: relay raw, parse a decoded copy
            data = self.decode(chunk)
            if data is None:
                self.parsing = False
            elif self.parsing:
                self._scan(data, keep=False)
            return chunk
        if not self.parsing:
            return chunk
        return self._scan(chunk, keep=True)

    def _scan(self, data: bytes, keep: bool) -> bytes:
        buf = self.buf
        # a terminator (at most 4 bytes) ending in the new data starts at most 3 bytes back
        pos = max(0, len(buf) - 3)
        buf += data
        kept: list[bytes] = []
        start = 0
        while True:
            m = _EVENT_END.search(buf, pos)
            if m is None:
                break
            event = bytes(buf[start : m.end()])
            if self._event(event[: m.start() - start]) and keep:
                kept.append(event)
            start = pos = m.end()
        del buf[:start]
        if len(buf) > _MAX_EVENT:  # not SSE as we know it: stop parsing, relay raw
            self.parsing = False
            kept.append(bytes(buf))
            buf.clear()
        return b"".join(kept) if keep else b""

    def close(self) -> bytes:
        tail = bytes(self.buf)
        self.buf.clear()
        if tail and self.parsing and self.decode is None:
            self._event(tail)
        return tail if self.decode is None else b""

    def _event(self, event: bytes) -> bool:
        """Read one event (without its blank line); ``False`` drops it from the relay."""
        data_lines = [
            line[6:] if line.startswith(b"data: ") else line[5:]
            for line in event.splitlines()
            if line.startswith(b"data:")
        ]
        if not data_lines:
            return True
        data = data_lines[0] if len(data_lines) == 1 else b"\n".join(data_lines)
        out = self.out
        has_usage = b'"usage"' in data and _USAGE_NULL.search(data) is None
        if not has_usage and (out.model is not None or b'"model"' not in data):
            return True
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            return True
        if not isinstance(obj, dict):
            return True
        response = obj.get("response")
        typ = obj.get("type")
        if isinstance(response, dict) and type(typ) is str and typ.startswith("response."):
            _take(response, out)  # Responses API: usage arrives with response.completed
            return True
        if typ == "message_start" and isinstance(obj.get("message"), dict):
            _take(obj["message"], out)  # Anthropic: model, id and the input tokens
            return True
        if typ == "message_delta":  # Anthropic: cumulative output (and cache) tokens
            usage = obj.get("usage")
            if isinstance(usage, dict):
                merged = dict(out.usage) if isinstance(out.usage, dict) else {}
                merged.update((k, v) for k, v in usage.items() if v is not None)
                out.usage = merged
            return True
        _take(obj, out)
        if (
            self.strip
            and has_usage
            and isinstance(obj.get("usage"), dict)
            and obj.get("choices") == []
        ):
            return False  # the usage-only chunk we asked for, not the client
        return True


class TagcoreProxy:
    """An ASGI app: an OpenAI-compatible proxy that extracts tags, checks budgets, records usage.

    ``upstream`` is the upstream's origin (``scheme://host[:port]``, optionally with a path
    prefix); the canonical path is appended (``/V1//chat/completions/`` ->
    ``upstream + "/v1/chat/completions"``). ``recorder`` gets one ``record`` per forwarded API
    request (``None``: record nothing); ``budgets`` is checked before forwarding (``None``: no
    budgets; give it the same recorder so that recorded spend accrues and reservations
    settle). ``default_tags`` is a list of trusted tags added to every API request, or a
    callable ``(scope) -> tags`` (may be ``async``), e.g. a lookup by API key. ``policy`` is
    the :class:`~tagcore.tags.TagPolicy`. ``client`` is an ``httpx.AsyncClient`` to use (the
    proxy does not close it); by default one is made on first use with ``timeout`` seconds
    (600, as the OpenAI SDK: a reasoning model may think for minutes before its first byte) for
    read, write and pool waits (a read timeout is the longest wait between two chunks), at most
    10 s to connect, and ``trust_env=False`` (no proxy from the environment). ``app`` makes the
    proxy a middleware: requests that are not API requests go to that app rather than
    upstream. ``paths`` are the API paths (default :data:`DEFAULT_PATHS`, compared
    case-insensitively on the canonical path); ``key`` is a callable ``(scope) -> str | None``
    naming the caller's key for the record (say, a key id, never the secret). ``other`` says
    what happens to requests that are not ``POST`` on an API path: ``"refuse"`` (default: 405
    or 404) or ``"forward"`` (unchecked, unrecorded, without tags); ``passthrough`` lists the
    ``"METHOD /path"`` patterns forwarded anyway (default :data:`DEFAULT_PASSTHROUGH`).
    ``max_body_bytes`` bounds one request body (413), ``max_inflight_bytes`` all of them
    together (503). ``estimate`` is a callable ``(body, scope)`` giving a request's estimate
    for the budgets' reservation (see the module docstring). See the module docstring for what
    is forwarded, relayed and recorded.

    >>> import tagcore as tc
    >>> proxy = tc.TagcoreProxy(
    ...     "http://127.0.0.1:8001/",
    ...     recorder=tc.Recorder(),
    ...     default_tags=lambda scope: ["gateway/eu"],
    ... )
    >>> proxy.upstream, proxy.route("POST", "//V1/Chat/Completions/")
    ('http://127.0.0.1:8001', ('api', '/v1/chat/completions'))
    >>> proxy.route("GET", "/v1/chat/completions"), proxy.route("GET", "/v1/models")
    (('405', '/v1/chat/completions'), ('pass', '/v1/models'))

    Serve it with ``uvicorn --factory mymodule:make_proxy`` (see the README).
    """

    def __init__(
        self,
        upstream: str = "http://127.0.0.1:8001",
        recorder: Any = None,
        budgets: Any = None,
        *,
        default_tags: Iterable[str] | Callable[[Scope], Any] | None = None,
        policy: TagPolicy | None = None,
        client: Any = None,
        timeout: float = 600.0,
        app: ASGIApp | None = None,
        paths: Iterable[str] = DEFAULT_PATHS,
        inject_stream_usage: bool = True,
        key: Callable[[Scope], str | None] | None = None,
        max_body_bytes: int = 32 << 20,
        max_inflight_bytes: int = 256 << 20,
        other: Literal["refuse", "forward"] = "refuse",
        passthrough: Iterable[str] = DEFAULT_PASSTHROUGH,
        estimate: Callable[[Mapping[str, Any], Scope], Any] | None = None,
    ) -> None:
        if not isinstance(upstream, str) or not upstream.startswith(("http://", "https://")):
            raise ValueError(f"upstream must be an http:// or https:// URL, got {upstream!r}")
        if client is None:
            _require_httpx()
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if type(max_body_bytes) is not int or max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be a positive int, got {max_body_bytes!r}")
        if type(max_inflight_bytes) is not int or max_inflight_bytes < max_body_bytes:
            raise ValueError(
                f"max_inflight_bytes must be an int >= max_body_bytes ({max_body_bytes}), got "
                f"{max_inflight_bytes!r}"
            )
        if other not in ("refuse", "forward"):
            raise ValueError(f"other must be 'refuse' or 'forward', got {other!r}")
        if estimate is not None and not callable(estimate):
            raise TypeError("estimate must be a callable (body, scope) -> dollars or mapping")
        if recorder is not None and not callable(getattr(recorder, "record", None)):
            raise TypeError(f"recorder must have a record() method, got {type(recorder).__name__}")
        if budgets is not None and not callable(getattr(budgets, "check", None)):
            raise TypeError(f"budgets must have a check() method, got {type(budgets).__name__}")
        if isinstance(budgets, Budgets) and recorder is not None and budgets.recorder is not recorder:
            logger.warning(
                "tagcore proxy: the budgets do not accrue from the proxy's recorder "
                "(Budgets(..., recorder=rec)); forwarded requests will not count against them"
            )
        if default_tags is None:
            default_tags = ()
        elif not callable(default_tags):
            if isinstance(default_tags, (str, bytes)):
                raise TypeError("default_tags must be a list of tags or a callable, got a string")
            default_tags = tuple(default_tags)
        if key is not None and not callable(key):
            raise TypeError("key must be a callable (scope) -> str | None")
        if isinstance(paths, (str, bytes)):
            raise TypeError("paths must be a list of paths, got a string")
        routes: dict[str, str] = {}
        for path in paths:
            canon = canonical_path(path)
            routes[_route_key(canon)] = canon
        self.upstream = upstream.rstrip("/")
        self.recorder = recorder
        self.budgets = budgets
        self.default_tags = default_tags
        self.policy = policy if policy is not None else getattr(recorder, "policy", None)
        self.timeout = float(timeout)
        self.app = app
        self.paths = frozenset(routes.values())
        self._routes = routes
        self.inject_stream_usage = bool(inject_stream_usage)
        self.key = key
        self.max_body_bytes = max_body_bytes
        self.max_inflight_bytes = max_inflight_bytes
        self.other = other
        self.passthrough = tuple(passthrough) if not isinstance(passthrough, (str, bytes)) else passthrough
        self._passthrough_patterns = _parse_passthrough(self.passthrough)
        self.estimate = estimate
        self.record_errors = 0  # record() calls that raised (logged); the response was relayed
        self.inflight_bytes = 0  # request (and response-copy) bytes held now
        self._inflight_lock = threading.Lock()
        self._client = client
        self._own_client = client is None

    # -- routing ---------------------------------------------------------------------------

    def route(self, method: str, path: str) -> tuple[str, str]:
        """What the proxy does with ``method path``: ``(action, canonical path)``, the action
        being ``"api"`` (checked, forwarded, recorded), ``"pass"`` (forwarded unchecked),
        ``"app"`` (middleware mode), ``"405"`` or ``"404"`` (refused). Raises
        :class:`RequestRefused` for a path that cannot be read.

        >>> p = TagcoreProxy("http://x", other="forward")
        >>> p.route("POST", "/v1/embeddings/"), p.route("DELETE", "/v1/files/f-1")
        (('api', '/v1/embeddings'), ('pass', '/v1/files/f-1'))
        """
        canon = canonical_path(path)
        key = _route_key(canon)
        method = method.upper()
        api = self._routes.get(key)
        if api is not None and method == "POST":
            return "api", api
        if self.app is not None:
            return "app", canon
        if self.other == "forward" or any(
            _pattern_matches(p, method, key) for p in self._passthrough_patterns
        ):
            return "pass", api if api is not None else canon
        return ("405", api) if api is not None else ("404", canon)

    # -- ASGI entry ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        typ = scope["type"]
        if typ == "http":
            await self._http(scope, receive, send)
        elif self.app is not None:
            if typ == "lifespan":
                app_send = send

                async def send(message: dict[str, Any]) -> None:
                    if message["type"] == "lifespan.shutdown.complete":
                        await self._shutdown()
                    await app_send(message)

            await self.app(scope, receive, send)
        elif typ == "lifespan":
            await self._lifespan(receive, send)
        elif typ == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = str(scope.get("method", "GET")).upper()
        try:
            action, path = self.route(method, scope["path"])
        except RequestRefused as exc:
            await _send_refusal(send, exc)
            return
        if action == "app":
            assert self.app is not None
            await self.app(scope, receive, send)
            return
        if action == "405":
            await _send_refusal(
                send,
                RequestRefused(
                    405,
                    "method_not_allowed",
                    "method",
                    f"{method} {path} is not forwarded: the gateway checks and records POST "
                    "only on its API paths",
                    {"allow": "POST"},
                ),
            )
            return
        if action == "404":
            await _send_refusal(
                send,
                RequestRefused(
                    404,
                    "unknown_path",
                    "path",
                    f"{method} {path} is not an API path of this gateway (it forwards POST on "
                    "the OpenAI-compatible usage endpoints; other requests are refused)",
                ),
            )
            return
        held = [0]  # bytes this request holds in max_inflight_bytes
        try:
            if action == "api":
                await self._api(scope, receive, send, path, held)
            else:
                await self._passthrough(scope, receive, send, path, held)
        finally:
            if held[0]:
                self._give(held[0])

    # -- in-flight bytes ---------------------------------------------------------------------

    def _take(self, n: int, held: list[int]) -> bool:
        with self._inflight_lock:
            if self.inflight_bytes + n > self.max_inflight_bytes:
                return False
            self.inflight_bytes += n
        held[0] += n
        return True

    def _give(self, n: int) -> None:
        with self._inflight_lock:
            self.inflight_bytes -= n

    def _busy(self) -> RequestRefused:
        return RequestRefused(
            503,
            "gateway_busy",
            None,
            f"the gateway holds {self.max_inflight_bytes} bytes of requests in flight, its "
            "limit; retry shortly",
            {"retry-after": "1"},
        )

    # -- lifespan ----------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _shutdown(self) -> None:
        flush = getattr(self.recorder, "flush", None)
        if callable(flush):
            try:
                flush()
            except Exception:
                logger.exception("tagcore proxy: flushing the recorder at shutdown failed")
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client the proxy made (not one passed in). Called at lifespan shutdown."""
        if self._own_client and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def _get_client(self) -> Any:
        if self._client is None:
            httpx = _require_httpx()
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
                follow_redirects=False,
                trust_env=False,
            )
        return self._client

    # -- the API path ------------------------------------------------------------------------

    async def _api(
        self, scope: Scope, receive: Receive, send: Send, path: str, held: list[int]
    ) -> None:
        body = await self._read_body(scope, receive, send, held)
        if body is None:
            return
        headers = scope["headers"]
        form = _is_form(headers)
        parsed: Any = None
        if not form:
            try:
                parsed = json.loads(body)
            except (ValueError, UnicodeDecodeError, RecursionError):
                parsed = None
        reservation = None
        try:
            default = self.default_tags
            if callable(default):
                default = default(scope)
                if inspect.isawaitable(default):
                    default = await default
                default = () if default is None else default
            if isinstance(default, (str, bytes)):
                raise TypeError("default_tags returned a string, not a list of tags")
            if not isinstance(default, (list, tuple)):
                default = tuple(default)
            if form:
                if _FORM_TAGS.search(body):
                    raise TagError(
                        "request_tags_in_form",
                        "a form field: send the tags of a multipart request in the "
                        "X-Request-Tags header (the gateway does not rewrite forms and never "
                        "forwards tags)",
                    )
                tags, forwarded = extract_tags(
                    {}, headers=headers, trusted_tags=default, policy=self.policy
                )
                m = _FORM_MODEL.search(body)
                model = m.group(1).decode("utf-8", "replace").strip() if m else None
                parsed = {}
            else:
                tags, forwarded = extract_tags(
                    parsed if type(parsed) is dict else body,
                    headers=headers,
                    trusted_tags=default,
                    policy=self.policy,
                )
                model = parsed.get("model")  # extract_tags accepted it: a JSON object
            model = model if type(model) is str and model else None
            reservation = self._check(tags, forwarded, scope, model, form)
            key = self.key(scope) if self.key is not None else None
        except TagcoreError as exc:
            if reservation is not None:
                reservation.release()
            status = getattr(exc, "status_code", None)
            if isinstance(exc, TagError) and exc.param == "trusted_tags":
                logger.error("tagcore proxy: a default (trusted) tag is invalid: %s", exc)
                await _send_json(
                    send,
                    500,
                    _error_body("the gateway's own tags for this request are invalid",
                                "server_error", None),
                )
            elif type(status) is int and callable(render := getattr(exc, "to_openai_error", None)):
                await _send_json(send, status, render(), getattr(exc, "headers", None))
            else:
                logger.exception("tagcore proxy: tags or budgets failed; request refused")
                await _send_json(
                    send,
                    500,
                    _error_body("the gateway could not check this request", "server_error", None),
                )
            return
        except Exception:
            if reservation is not None:
                reservation.release()
            logger.exception("tagcore proxy: tags or budgets failed; request refused")
            await _send_json(  # fail closed
                send,
                500,
                _error_body("the gateway could not check this request", "server_error", None),
            )
            return
        try:
            await self._api_forward(
                scope, receive, send, path, held, body, parsed, forwarded, form, tags, model,
                key, reservation,
            )
        finally:
            if reservation is not None:
                reservation.release()  # settled by the record, or nothing to count

    def _check(
        self,
        tags: list[str],
        body: Mapping[str, Any],
        scope: Scope,
        model: str | None,
        form: bool,
    ) -> Any:
        budgets = self.budgets
        if budgets is None:
            return None
        if not isinstance(budgets, Budgets):
            budgets.check(tags)
            return None
        cost_nanos, tokens = self._estimate(budgets, body, scope, model, form)
        return budgets.check(
            tags,
            estimated_cost_nanos=cost_nanos,
            estimated_tokens=tokens,
            model=model or "",
            reserve=True,
            ttl=None,  # released by the proxy, whatever happens
        )

    def _estimate(
        self,
        budgets: Budgets,
        body: Mapping[str, Any],
        scope: Scope,
        model: str | None,
        form: bool,
    ) -> tuple[int, int]:
        """``(cost_nanos, tokens)`` the request is expected to use."""
        if self.estimate is not None:
            got = self.estimate(body, scope)
            if isinstance(got, Mapping):
                if got.get("cost_nanos") is not None:
                    nanos = to_count(got["cost_nanos"], "estimate.cost_nanos")
                else:
                    nanos = dollars_to_nanos(got.get("cost") or 0, "estimate.cost")
                tokens = to_count(got.get("tokens") or 0, "estimate.tokens")
            else:
                nanos, tokens = dollars_to_nanos(got or 0, "estimate"), 0
            if nanos < 0:
                raise TagcoreError(f"estimate: a cost must be >= 0, got {got!r}")
            return nanos, tokens
        if form or not body:
            return 0, 0
        completion = 0
        for name in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
            value = body.get(name)
            if value is not None:
                try:
                    completion = to_count(value, name)
                except ValueError:
                    completion = 0
                break
        n = body.get("n")
        if type(n) is int and 1 < n <= 128:
            completion *= n
        prompt = _prompt_tokens(body)
        nanos = 0
        if model is not None and budgets.can_price(model):
            nanos = budgets._prices().cost_nanos(model, prompt, completion) or 0
        return nanos, prompt + completion

    async def _api_forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        path: str,
        held: list[int],
        body: bytes,
        parsed: dict[str, Any],
        forwarded: dict[str, Any],
        form: bool,
        tags: list[str],
        model: str | None,
        key: str | None,
        reservation: Any,
    ) -> None:
        kind = _kind(path)
        injected = False
        if (
            not form
            and self.inject_stream_usage
            and forwarded.get("stream") is True
            and kind in ("chat", "completions")
        ):
            options = forwarded.get("stream_options")
            if options is None or (
                isinstance(options, dict) and options.get("include_usage") is not True
            ):
                forwarded["stream_options"] = {**(options or {}), "include_usage": True}
                injected = True
        if not form and (injected or len(forwarded) != len(parsed)
                         or forwarded.get("metadata") is not parsed.get("metadata")):
            # tags taken out (request_tags, LiteLLM's tags / metadata.tags) or usage injected
            content = _dumps(forwarded)
            if not self._take(len(content), held):
                await _send_refusal(send, self._busy())
                return
        else:
            content = body
        out_headers = _forward_headers(scope["headers"], identity=True)
        user = parsed.get("user")
        user = user if type(user) is str and user else None
        budgets = self.budgets if isinstance(self.budgets, Budgets) else None

        t0 = time.perf_counter()

        def finish() -> None:
            latency = (time.perf_counter() - t0) * 1e3
            if budgets is not None and reservation is not None:
                with budgets.settling(reservation):
                    self._record(tags, out, model, latency, user, key)
            else:
                self._record(tags, out, model, latency, user, key)

        out = _Outcome(finish)
        try:
            await self._relay(
                scope, receive, send, out_headers, content, out, injected, True, path, held
            )
        finally:
            _finish(out)  # cut, client gone, or an error: record what is known
        if out.cut:
            raise UpstreamStreamError(
                f"upstream {self.upstream}{path} broke off the response; request recorded"
            )

    def _record(
        self,
        tags: list[str],
        out: _Outcome,
        request_model: str | None,
        latency_ms: float,
        user: str | None,
        key: str | None,
    ) -> None:
        if self.recorder is None or out.status == 0:
            return
        usage = out.usage
        if usage is None and out.status >= 400 and out.complete:
            # an error the upstream answered in full, without usage: nothing was billed
            tokens: dict[str, Any] = {"prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}
        else:
            tokens = {"usage": usage}
            nanos = self._price_as_requested(usage, out.model, request_model)
            if nanos is not None:
                tokens["cost_nanos"] = nanos
        # strings the client or upstream chose are cut to what the recorder keeps (1 KiB), so
        # a long ``user`` cannot make a forwarded request go unrecorded (and unbilled)
        common = {
            "model": _fit(out.model) or _fit(request_model) or "unknown",
            "latency_ms": latency_ms,
            "status": out.status,
            "request_id": _fit(out.request_id),
            "user": _fit(user),
            "key": key,
        }
        try:
            self.recorder.record(tags, **common, **tokens)
            return
        except Exception as exc:
            # a usage object the recorder rejects (say, reasoning > completion tokens), or a
            # field it refuses: keep the request, with its tags, as unknown usage
            logger.warning(
                "tagcore proxy: record refused (%s); recorded with unknown usage%s",
                exc,
                "" if usage is None else f" (usage was {usage!r})",
            )
        for fallback in ({**common, "usage": None},
                         {**common, "usage": None, "request_id": None, "user": None,
                          "key": None, "model": "unknown"}):
            try:
                self.recorder.record(tags, **fallback)
                return
            except Exception:
                continue
        self.record_errors += 1
        logger.exception("tagcore proxy: recording a request failed (response relayed)")

    def _price_as_requested(
        self, usage: Any, response_model: str | None, request_model: str | None
    ) -> int | None:
        """The cost at the requested model's rates when the response names a model the price
        table does not know (a dated snapshot, say) and the requested one is known; else None
        (the recorder prices it as usual)."""
        prices = getattr(self.recorder, "prices", None)
        if (
            usage is None
            or prices is None
            or not request_model
            or not response_model
            or response_model == request_model
            or len(response_model) > 256
            or prices.resolve(response_model) is not None
            or prices.resolve(request_model) is None
        ):
            return None
        try:
            u = parse_usage(usage)
        except (TagcoreError, ValueError, TypeError):
            return None
        if not u.known:
            return None
        return prices.cost_nanos(
            request_model,
            u.prompt_tokens,
            u.completion_tokens,
            cached_tokens=u.cached_tokens,
            cache_creation_tokens=u.cache_write_tokens,
            reasoning_tokens=u.reasoning_tokens,
        )

    # -- pass-through ----------------------------------------------------------------------

    async def _passthrough(
        self, scope: Scope, receive: Receive, send: Send, path: str, held: list[int]
    ) -> None:
        body = await self._read_body(scope, receive, send, held)
        if body is None:
            return
        if body and _is_form(scope["headers"]):
            if _FORM_TAGS.search(body):
                await _send_refusal(
                    send,
                    RequestRefused(
                        400,
                        "request_tags_in_form",
                        "request_tags",
                        "a form field would be forwarded upstream; send tags in the "
                        "X-Request-Tags header",
                    ),
                )
                return
        elif body and body.lstrip()[:1] == b"{":
            try:
                obj = json.loads(body)
            except (ValueError, UnicodeDecodeError, RecursionError):
                obj = None
            if type(obj) is dict and "request_tags" in obj:  # never forwarded upstream
                del obj["request_tags"]
                body = _dumps(obj)
                if not self._take(len(body), held):
                    await _send_refusal(send, self._busy())
                    return
        out = _Outcome()
        out_headers = _forward_headers(scope["headers"], identity=False)
        await self._relay(scope, receive, send, out_headers, body, out, False, False, path, held)
        if out.cut:
            raise UpstreamStreamError(f"upstream {self.upstream}{path} broke off")

    # -- plumbing ----------------------------------------------------------------------------

    async def _read_body(
        self, scope: Scope, receive: Receive, send: Send, held: list[int]
    ) -> bytes | None:
        declared = _content_length(scope["headers"])
        if declared is not None and declared > self.max_body_bytes:
            await _send_refusal(send, self._too_large())
            return None
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > self.max_body_bytes:
                    await _send_refusal(send, self._too_large())
                    return None
                if not self._take(len(chunk), held):
                    await _send_refusal(send, self._busy())
                    return None
                parts.append(chunk)
            if not message.get("more_body", False):
                return parts[0] if len(parts) == 1 else b"".join(parts)

    def _too_large(self) -> RequestRefused:
        return RequestRefused(
            413,
            "request_too_large",
            "body",
            f"request body is larger than {self.max_body_bytes} bytes",
        )

    async def _relay(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: list[tuple[bytes, bytes]],
        content: bytes,
        out: _Outcome,
        strip_usage_chunk: bool,
        sniff: bool,
        path: str,
        held: list[int],
    ) -> None:
        """Forward, relay the response as it comes, and fill ``out``; stop if the client leaves."""
        relay = asyncio.ensure_future(
            self._forward(scope, send, headers, content, out, strip_usage_chunk, sniff, path, held)
        )
        watch = asyncio.ensure_future(_wait_disconnect(receive))
        client_left = False
        try:
            done, _ = await asyncio.wait({relay, watch}, return_when=asyncio.FIRST_COMPLETED)
            if relay not in done and not out.complete:
                client_left = True  # stop reading (and paying for) the upstream
                relay.cancel()
                out.status = _CLIENT_CLOSED
            try:
                await relay
            except asyncio.CancelledError:
                if not client_left:
                    raise
        finally:
            relay.cancel()
            watch.cancel()

    async def _forward(
        self,
        scope: Scope,
        send: Send,
        headers: list[tuple[bytes, bytes]],
        content: bytes,
        out: _Outcome,
        strip_usage_chunk: bool,
        sniff: bool,
        path: str,
        held: list[int],
    ) -> None:
        httpx = _require_httpx()
        client = self._get_client()
        url = self.upstream + quote(path, safe="/!$&'()*+,;=:@-._~")
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        request = client.build_request(scope["method"], url, headers=headers, content=content)
        try:
            response = await client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            out.status = 504
            out.complete = True
            _finish(out)
            await _send_json(
                send,
                504,
                _error_body(f"upstream timed out: {exc!r}", "upstream_error", "upstream_timeout"),
            )
            return
        except httpx.TransportError as exc:
            out.status = 502
            out.complete = True
            _finish(out)
            await _send_json(
                send,
                502,
                _error_body(
                    f"upstream unreachable: {exc!r}", "upstream_error", "upstream_unreachable"
                ),
            )
            return
        try:
            out.status = response.status_code
            rid = response.headers.get("x-request-id")
            if rid:
                out.request_id = rid
            encoding = response.headers.get("content-encoding", "").strip().lower() or None
            if encoding == "identity":
                encoding = None
            ctype = response.headers.get("content-type", "").lower()
            sniffer: _SseSniffer | _JsonSniffer | None = None
            if sniff:
                if ctype.startswith("text/event-stream"):
                    sniffer = _SseSniffer(out, strip_usage_chunk, encoding)
                elif "json" in ctype or not ctype:  # audio, images as bytes: relayed unread
                    sniffer = _JsonSniffer(out, encoding, lambda n: self._take(n, held))
            drop = _DROP_RESPONSE
            if sniffer is not None and getattr(sniffer, "strip", False):
                drop = drop | {b"content-length"}
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [(k, v) for k, v in response.headers.raw if k.lower() not in drop],
                }
            )
            try:
                async for chunk in response.aiter_raw():
                    data = chunk if sniffer is None else sniffer.feed(chunk)
                    if data:
                        await send({"type": "http.response.body", "body": data, "more_body": True})
                tail = b"" if sniffer is None else sniffer.close()
            except httpx.TransportError as exc:
                out.cut = True
                logger.warning("tagcore proxy: upstream broke off the response: %r", exc)
                return
            out.complete = True
            _finish(out)
            await send({"type": "http.response.body", "body": tail, "more_body": False})
        finally:
            await response.aclose()


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


def _forward_headers(
    headers: Iterable[tuple[bytes, bytes]], identity: bool
) -> list[tuple[bytes, bytes]]:
    headers = list(headers)
    drop = set(_DROP_REQUEST)
    for name, value in headers:
        if name.lower() == b"connection":
            drop.update(t.strip().lower() for t in value.split(b",") if t.strip())
    if identity:
        drop.add(b"accept-encoding")
    out = [(k, v) for k, v in headers
           if k.lower() not in drop and k[:18].lower() != _HELICONE]
    if identity:
        out.append((b"accept-encoding", b"identity"))
    return out


def _dumps(obj: Any) -> bytes:
    """A body re-encoded as compact JSON; non-ASCII kept as UTF-8 unless it holds a lone
    surrogate (JSON's ``"\\ud800"``), which only an ASCII escape can carry on."""
    try:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:
        return json.dumps(obj, separators=(",", ":")).encode()


def _fit(text: str | None, limit: int = 1024) -> str | None:
    """``text`` cut to at most ``limit`` UTF-8 bytes (whole characters; lone surrogates
    become ``?``); None stays None."""
    if text is None or (len(text) <= limit and text.isascii()):
        return text
    return text.encode("utf-8", "replace")[:limit].decode("utf-8", "ignore")


def _prompt_tokens(body: Any) -> int:
    """About one token per 4 UTF-8 bytes of the body's strings (long base64 or ``data:``
    strings left out), plus one per integer in a list (token ids)."""
    size = ints = 0
    stack = [body]
    while stack:
        v = stack.pop()
        if type(v) is str:
            if len(v) >= 256 and (v.startswith("data:") or _BASE64.fullmatch(v)):
                continue
            size += len(v) if v.isascii() else len(v.encode("utf-8", "replace"))
        elif type(v) is dict:
            stack.extend(v.values())
        elif type(v) is list:
            for x in v:
                if type(x) is int:
                    ints += 1
                else:
                    stack.append(x)
    return size // _BYTES_PER_TOKEN + ints


def _is_form(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name.lower() == b"content-type":
            return value.strip().lower().startswith(b"multipart/form-data")
    return False


def _content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            text = value.strip()
            return int(text) if text.isdigit() and len(text) < 20 else None
    return None


async def _send_refusal(send: Send, exc: RequestRefused) -> None:
    await _send_json(send, exc.status_code, exc.to_openai_error(), exc.headers)


async def _send_json(
    send: Send, status: int, payload: Mapping[str, Any], extra: Mapping[str, str] | None = None
) -> None:
    body = json.dumps(payload).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if extra:
        headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _require_httpx() -> Any:
    try:
        import httpx
    except ImportError:
        raise ImportError(
            "tagcore.TagcoreProxy needs httpx for its upstream connections: "
            "pip install 'tagcore[gateway]' (or pip install httpx), or pass client="
        ) from None
    return httpx
