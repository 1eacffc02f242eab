"""An OpenAI-compatible proxy as a plain ASGI app: tags in, budgets checked, usage recorded.

:class:`TagcoreProxy` sits between OpenAI-style clients and an upstream (OpenAI itself, vLLM,
a LiteLLM or Ollama server, ...). For ``POST`` on an API path (by default
``/v1/chat/completions``, ``/v1/completions`` and ``/v1/responses``) it

1. reads the body and takes the tags out with :func:`~tagcore.gateway.extract_tags` (body
   ``request_tags``, the ``X-Request-Tags`` header, then the default tags); an invalid body or
   tag is a **400** with the OpenAI error body of :class:`~tagcore.tags.TagError`;
2. asks the budgets (``budgets.check(tags)``); a request over budget is a **429** with the
   OpenAI error body of ``BudgetExceeded``; nothing is forwarded;
3. forwards the body *without* ``request_tags`` to ``upstream + path`` (same method, query
   string and headers, ``authorization`` included; minus ``host``, ``content-length``,
   hop-by-hop headers and ``X-Request-Tags``; ``accept-encoding: identity`` so the proxy can
   read the usage). A body without ``request_tags`` (and nothing injected) is forwarded as the
   very bytes the client sent;
4. relays the upstream status, headers and body to the client **as the bytes arrive** (a JSON
   body too; an SSE stream event by event, never buffered whole);
5. records the request once the response is over: ``recorder.record(tags, model=...,
   usage=..., latency_ms=..., status=..., request_id=..., user=..., key=...)``, just before
   the response's last byte goes out, so a client that has its answer finds it recorded and
   its budgets charged.

What is recorded
    ``model`` from the response (the upstream's resolved name, e.g. ``gpt-4o-2024-08-06``),
    else the request's; ``usage`` from the response JSON (chat/completions ``usage`` or the
    Responses API's), or from the stream (the final chunk's ``usage`` with
    ``stream_options.include_usage``; the Responses API's ``response.completed`` event);
    ``latency_ms`` from the moment the request body has been read to the last byte relayed;
    ``ts`` the recorder's clock (the end of the response); ``status`` the upstream's status;
    ``request_id`` the upstream ``x-request-id`` header, else the response's ``id``; ``user``
    the body's ``user`` field when it is a string; ``key`` what the ``key`` callable returns
    (nothing by default: the proxy never records credentials). Tags are normalized with
    ``policy``, which defaults to the recorder's.

    Usage that cannot be known is recorded as unknown (``usage=None``, the recorder's explicit
    unknown-usage marker), never dropped and never guessed as zero: a successful response
    without ``usage``, a stream that ends without a usage chunk, a stream cut by the upstream,
    a client that disconnects mid-response (recorded with status **499**, as nginx does). An
    error response (status >= 400) without ``usage`` is recorded with zero tokens: providers do
    not bill refused requests. An upstream that cannot be reached is a **502** (a timeout before
    the response headers: **504**) with an OpenAI-style error body, recorded with zero tokens.
    A request refused by the proxy itself (400, 429, 413) is not recorded: it reached no model,
    and counting refusals would keep a ``requests`` budget locked.

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

Other requests
    Any other method or path is forwarded to the upstream unchanged (minus ``host`` and
    hop-by-hop headers and ``X-Request-Tags``, which never leak upstream) and relayed as it
    comes, without tags or recording; with ``app=`` (middleware mode) it goes to that ASGI app
    instead. Lifespan events go to ``app`` when given, otherwise the proxy answers them; either
    way, at shutdown the proxy flushes the recorder (``recorder.flush()``: durable, not closed,
    the recorder is yours) and closes the HTTP client it made.

The HTTP client is ``httpx.AsyncClient`` (``pip install tagcore[gateway]``); the proxy runs
on asyncio servers (uvicorn, hypercorn with asyncio). Recording and budget checks run on the
event loop; both cost microseconds.

>>> import tagcore as tc
>>> proxy = tc.TagcoreProxy("http://127.0.0.1:8001", recorder=tc.Recorder())
>>> proxy.upstream, sorted(proxy.paths)
('http://127.0.0.1:8001', ['/v1/chat/completions', '/v1/completions', '/v1/responses'])
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from tagcore.errors import TagcoreError
from tagcore.gateway.budgets import BudgetExceeded
from tagcore.gateway.extract import extract_tags
from tagcore.tags import TagError, TagPolicy

__all__ = ["DEFAULT_PATHS", "TagcoreProxy", "UpstreamStreamError"]

logger = logging.getLogger("tagcore.asgi")  # the name it had before the move: logging configs keep working

DEFAULT_PATHS: frozenset[str] = frozenset(
    {"/v1/chat/completions", "/v1/completions", "/v1/responses"}
)

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
_DROP_REQUEST = _HOP_BY_HOP | {b"host", b"content-length", b"expect", b"x-request-tags"}
_DROP_RESPONSE = _HOP_BY_HOP
_USAGE_NULL = re.compile(rb'"usage"\s*:\s*null')
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_MAX_PARSE = 64 << 20  # a JSON body larger than this is relayed but not parsed (usage unknown)
_MAX_EVENT = 8 << 20  # an SSE event larger than this ends parsing (relayed raw from then on)
_CLIENT_CLOSED = 499


class UpstreamStreamError(TagcoreError, RuntimeError):
    """The upstream broke off a response after its headers were relayed.

    Raised to the ASGI server so that it closes the client's connection too: the client sees a
    cut response, not a short one that looks complete. The request is recorded first (with
    unknown usage unless usage had already arrived).
    """


def _kind(path: str) -> str:
    if path.endswith("/chat/completions"):
        return "chat"
    if path.endswith("/responses"):
        return "responses"
    if path.endswith("/completions"):
        return "completions"
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
    """Keeps a copy of a JSON body (up to a limit) and reads usage from it at the end."""

    def __init__(self, out: _Outcome, encoding: str | None) -> None:
        self.out = out
        self.parts: list[bytes] | None = []
        self.size = 0
        self.decode = _Decoder(encoding) if encoding else None

    def feed(self, chunk: bytes) -> bytes:
        if self.parts is not None:
            data = chunk if self.decode is None else self.decode(chunk)
            if data is None:
                self.parts = None
            else:
                self.size += len(data)
                if self.size > _MAX_PARSE:
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
    prefix); the client's full path is appended (``/v1/chat/completions`` ->
    ``upstream + "/v1/chat/completions"``). ``recorder`` gets one ``record`` per forwarded API
    request (``None``: record nothing); ``budgets`` is asked ``check(tags)`` before forwarding
    (``None``: no budgets; give it the same recorder so that recorded spend accrues).
    ``default_tags`` is a list of tags added to every API request, or a callable
    ``(scope) -> tags`` (may be ``async``), e.g. a lookup by API key. ``policy`` is the
    :class:`~tagcore.tags.TagPolicy`. ``client`` is an ``httpx.AsyncClient`` to use (the proxy
    does not close it); by default one is made on first use with ``timeout`` seconds (600, as
    the OpenAI SDK: a reasoning model may think for minutes before its first byte) for read,
    write and pool waits (a read timeout is the longest wait between two chunks), at most 10 s
    to connect, and ``trust_env=False`` (no proxy from the environment). ``app`` makes the proxy a middleware: requests that are not API
    requests go to that app rather than upstream. ``paths`` are the API paths; ``key`` is a
    callable ``(scope) -> str | None`` naming the caller's key for the record (say, a key id,
    never the secret). ``max_body_bytes`` bounds request bodies (413 above it). Add
    ``"/v1/embeddings"`` to ``paths`` to record embeddings too (their ``usage`` has prompt
    tokens only; the whole response is parsed, so large vector payloads cost a JSON parse).
    See the module docstring for what is forwarded, relayed and recorded.

    >>> import tagcore as tc
    >>> proxy = tc.TagcoreProxy(
    ...     "http://127.0.0.1:8001/",
    ...     recorder=tc.Recorder(),
    ...     default_tags=lambda scope: ["gateway/eu"],
    ... )
    >>> proxy.upstream
    'http://127.0.0.1:8001'

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
    ) -> None:
        if not isinstance(upstream, str) or not upstream.startswith(("http://", "https://")):
            raise ValueError(f"upstream must be an http:// or https:// URL, got {upstream!r}")
        if client is None:
            _require_httpx()
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if type(max_body_bytes) is not int or max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be a positive int, got {max_body_bytes!r}")
        if recorder is not None and not callable(getattr(recorder, "record", None)):
            raise TypeError(f"recorder must have a record() method, got {type(recorder).__name__}")
        if budgets is not None and not callable(getattr(budgets, "check", None)):
            raise TypeError(f"budgets must have a check() method, got {type(budgets).__name__}")
        if default_tags is None:
            default_tags = ()
        elif not callable(default_tags):
            if isinstance(default_tags, (str, bytes)):
                raise TypeError("default_tags must be a list of tags or a callable, got a string")
            default_tags = tuple(default_tags)
        if key is not None and not callable(key):
            raise TypeError("key must be a callable (scope) -> str | None")
        self.upstream = upstream.rstrip("/")
        self.recorder = recorder
        self.budgets = budgets
        self.default_tags = default_tags
        self.policy = policy if policy is not None else getattr(recorder, "policy", None)
        self.timeout = float(timeout)
        self.app = app
        self.paths = frozenset(paths)
        self.inject_stream_usage = bool(inject_stream_usage)
        self.key = key
        self.max_body_bytes = max_body_bytes
        self.record_errors = 0  # record() calls that raised (logged); the response was relayed
        self._client = client
        self._own_client = client is None

    # -- ASGI entry ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        typ = scope["type"]
        if typ == "http":
            if scope["method"] == "POST" and scope["path"] in self.paths:
                await self._api(scope, receive, send)
            elif self.app is not None:
                await self.app(scope, receive, send)
            else:
                await self._passthrough(scope, receive, send)
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

    async def _api(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self._read_body(receive, send)
        if body is None:
            return
        headers = scope["headers"]
        try:
            parsed: Any = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            parsed = None
        try:
            default = self.default_tags
            if callable(default):
                default = default(scope)
                if inspect.isawaitable(default):
                    default = await default
                default = () if default is None else default
            tags, forwarded = extract_tags(
                parsed if type(parsed) is dict else body,
                headers=headers,
                default_tags=default,
                policy=self.policy,
            )
            if self.budgets is not None:
                self.budgets.check(tags)
            key = self.key(scope) if self.key is not None else None
        except TagError as exc:
            await _send_json(send, exc.status_code, exc.to_openai_error())
            return
        except BudgetExceeded as exc:
            await _send_json(send, exc.status_code, exc.to_openai_error(), exc.headers)
            return
        except Exception:
            logger.exception("tagcore proxy: tags or budgets failed; request refused")
            await _send_json(  # fail closed
                send,
                500,
                _error_body("the gateway could not check this request", "server_error", None),
            )
            return
        # extract_tags accepted the body, so ``parsed`` is the dict it came from

        path = scope["path"]
        injected = False
        if (
            self.inject_stream_usage
            and forwarded.get("stream") is True
            and _kind(path) in ("chat", "completions")
        ):
            options = forwarded.get("stream_options")
            if options is None or (
                isinstance(options, dict) and options.get("include_usage") is not True
            ):
                forwarded["stream_options"] = {**(options or {}), "include_usage": True}
                injected = True
        if injected or "request_tags" in parsed:
            content = json.dumps(forwarded, ensure_ascii=False, separators=(",", ":")).encode()
        else:
            content = body
        out_headers = _forward_headers(headers, identity=True)
        model = parsed.get("model")
        user = parsed.get("user")

        t0 = time.perf_counter()

        def finish() -> None:
            self._record(
                tags,
                out,
                model if type(model) is str and model else None,
                (time.perf_counter() - t0) * 1e3,
                user if type(user) is str and user else None,
                key,
            )

        out = _Outcome(finish)
        try:
            await self._relay(scope, receive, send, out_headers, content, out, injected, True)
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
        common = {
            "model": out.model or request_model or "unknown",
            "latency_ms": latency_ms,
            "status": out.status,
            "request_id": out.request_id,
            "user": user,
            "key": key,
        }
        try:
            self.recorder.record(tags, **common, **tokens)
            return
        except Exception as exc:
            if usage is None:
                self.record_errors += 1
                logger.exception("tagcore proxy: recording a request failed (response relayed)")
                return
            # a usage object the recorder rejects (say, reasoning > completion tokens):
            # keep the request, with its tags, as unknown usage
            logger.warning("tagcore proxy: usage %r rejected (%s); recorded as unknown", usage, exc)
        try:
            self.recorder.record(tags, **common, usage=None)
        except Exception:
            self.record_errors += 1
            logger.exception("tagcore proxy: recording a request failed (response relayed)")

    # -- pass-through ----------------------------------------------------------------------

    async def _passthrough(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self._read_body(receive, send)
        if body is None:
            return
        out = _Outcome()
        out_headers = _forward_headers(scope["headers"], identity=False)
        await self._relay(scope, receive, send, out_headers, body, out, False, False)
        if out.cut:
            raise UpstreamStreamError(f"upstream {self.upstream}{scope['path']} broke off")

    # -- plumbing ----------------------------------------------------------------------------

    async def _read_body(self, receive: Receive, send: Send) -> bytes | None:
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
                    await _send_json(
                        send,
                        413,
                        _error_body(
                            f"request body is larger than {self.max_body_bytes} bytes",
                            "invalid_request_error",
                            "request_too_large",
                        ),
                    )
                    return None
                parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

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
    ) -> None:
        """Forward, relay the response as it comes, and fill ``out``; stop if the client leaves."""
        relay = asyncio.ensure_future(
            self._forward(scope, send, headers, content, out, strip_usage_chunk, sniff)
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
    ) -> None:
        httpx = _require_httpx()
        client = self._get_client()
        url = self.upstream + scope["path"]
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
            sse = response.headers.get("content-type", "").lower().startswith("text/event-stream")
            sniffer: _SseSniffer | _JsonSniffer | None = None
            if sniff:
                if sse:
                    sniffer = _SseSniffer(out, strip_usage_chunk, encoding)
                else:
                    sniffer = _JsonSniffer(out, encoding)
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
    out = [(k, v) for k, v in headers if k.lower() not in drop]
    if identity:
        out.append((b"accept-encoding", b"identity"))
    return out


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
