"""TagcoreProxy end to end: a real client, the proxy and an OpenAI stand-in, all on loopback.

Both servers are uvicorn in background threads on ephemeral 127.0.0.1 ports; the client is
httpx (sync). The stand-in upstream logs every request it receives and every byte it sends, so
the tests compare what the client got with what the upstream sent, and what the upstream got
with what the client sent, byte for byte; the recorder's snapshot is checked against the usage
the stand-in reported.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")

import tagcore as tc  # noqa: E402
from tagcore.asgi import TagcoreProxy, UpstreamStreamError  # noqa: E402

WAIT = 5.0  # seconds: the bound on every wait in this file

# -- the OpenAI stand-in -----------------------------------------------------------------------


def resolved(model: str) -> str:
    return model + "-2024-08-06"


def chat_usage(body: dict) -> dict:
    prompt = 7 * len(body.get("messages", []))
    completion = body.get("max_tokens", 5)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def sse(obj: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    data = obj if isinstance(obj, str) else json.dumps(obj)
    return f"{head}data: {data}\n\n".encode()


class Upstream:
    """An ASGI app speaking enough of the OpenAI API; the request's ``model`` picks a mode:
    ``fail-500``, ``no-usage`` (a stream that never carries usage), ``cut`` (the connection
    drops mid-stream), ``gate`` (one chunk, then wait for ``self.gate``), ``slow`` (headers
    only after 2 s)."""

    def __init__(self) -> None:
        self.seen: list[dict] = []
        self.sent: list[list[bytes]] = []
        self.gate = threading.Event()
        self.finished = threading.Event()
        self.dropped = threading.Event()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        self.seen.append(
            {
                "method": scope["method"],
                "path": scope["path"],
                "query": scope["query_string"],
                "headers": [(k.decode(), v.decode()) for k, v in scope["headers"]],
                "body": body,
            }
        )
        sent: list[bytes] = []
        self.sent.append(sent)

        async def start(status, ctype, extra=()):
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", ctype), *extra],
                }
            )

        async def chunk(data: bytes, more: bool = True):
            sent.append(data)
            await send({"type": "http.response.body", "body": data, "more_body": more})

        if scope["method"] == "GET" and scope["path"] == "/v1/models":
            await start(200, b"application/json")
            await chunk(b'{"object": "list", "data": [{"id": "fake"}]}', more=False)
            return
        req = json.loads(body)
        mode = req.get("model")
        if mode == "fail-500":
            await start(500, b"application/json", [(b"x-request-id", b"req-500")])
            await chunk(b'{"error": {"message": "boom", "type": "server_error"}}', more=False)
            return
        if mode == "bad-usage":  # more reasoning tokens than completion tokens
            await start(200, b"application/json")
            usage = {"prompt_tokens": 5, "completion_tokens": 1}
            usage["completion_tokens_details"] = {"reasoning_tokens": 3}
            await chunk(json.dumps({"model": "bad-usage", "usage": usage}).encode(), more=False)
            return
        if mode == "slow":
            await asyncio.sleep(2)
        if scope["path"] == "/v1/embeddings":
            await start(200, b"application/json")
            usage = {"prompt_tokens": 8, "total_tokens": 8}
            out = {"object": "list", "data": [], "model": "emb-3", "usage": usage}
            await chunk(json.dumps(out).encode(), more=False)
            return
        if scope["path"] == "/v1/responses":
            await self._responses(req, start, chunk)
        elif req.get("stream"):
            await self._chat_stream(req, receive, start, chunk)
        else:
            await start(200, b"application/json", [(b"x-request-id", b"req-abc")])
            # odd spacing and key order on purpose: the relay must not re-encode
            out = {
                "model": resolved(mode),
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "Hé!"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": chat_usage(req),
            }
            await chunk(json.dumps(out, indent=1, ensure_ascii=False).encode(), more=False)

    async def _chat_stream(self, req, receive, start, chunk):
        mode = req["model"]
        include = (req.get("stream_options") or {}).get("include_usage") is True
        base = {"id": "chatcmpl-2", "object": "chat.completion.chunk", "model": resolved(mode)}
        if include:
            base["usage"] = None
        pieces = [{"role": "assistant", "content": ""}, {"content": "Hel"}, {"content": "lo"}]
        await start(200, b"text/event-stream; charset=utf-8")
        for i, delta in enumerate(pieces):
            await chunk(sse({**base, "choices": [{"index": 0, "delta": delta}]}))
            if i == 0 and mode == "gate":
                for _ in range(int(WAIT * 100)):
                    if self.gate.is_set():
                        break
                    try:
                        msg = await asyncio.wait_for(receive(), 0.01)
                    except asyncio.TimeoutError:
                        continue
                    if msg["type"] == "http.disconnect":
                        self.dropped.set()  # the proxy hung up on us
                        return
                else:
                    return  # nobody opened the gate: end without finishing
            if i == 1 and mode == "cut":
                raise RuntimeError("the stand-in drops the connection mid-stream")
        await chunk(sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        if include and mode != "no-usage":
            await chunk(sse({**base, "choices": [], "usage": chat_usage(req)}))
        await chunk(sse("[DONE]"))
        await chunk(b"", more=False)
        self.finished.set()

    async def _responses(self, req, start, chunk):
        usage = {
            "input_tokens": 21,
            "input_tokens_details": {"cached_tokens": 4},
            "output_tokens": 9,
            "output_tokens_details": {"reasoning_tokens": 3},
            "total_tokens": 30,
        }
        response = {"id": "resp_1", "object": "response", "model": resolved(req["model"])}
        if not req.get("stream"):
            await start(200, b"application/json")
            await chunk(json.dumps({**response, "output": [], "usage": usage}).encode(), False)
            return
        await start(200, b"text/event-stream")
        created = {**response, "status": "in_progress", "usage": None}
        await chunk(sse({"type": "response.created", "response": created}, "response.created"))
        delta = {"type": "response.output_text.delta", "delta": "Hi"}
        await chunk(sse(delta, "response.output_text.delta"))
        done = {**response, "status": "completed", "usage": usage}
        await chunk(sse({"type": "response.completed", "response": done}, "response.completed"))
        await chunk(b"", more=False)


# -- servers -------------------------------------------------------------------------------------


class Server:
    """uvicorn serving ``app`` on 127.0.0.1 with an ephemeral port, in a daemon thread."""

    def __init__(self, app) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            lifespan="on",
            loop="asyncio",
            http="h11",
            log_level="critical",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + WAIT
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(WAIT)
        self.sock.close()
        assert not self.thread.is_alive(), "uvicorn did not shut down"


@pytest.fixture(scope="module")
def upstream_server() -> Iterator[tuple[Upstream, Server]]:
    app = Upstream()
    server = Server(app)
    yield app, server
    server.stop()


@pytest.fixture
def upstream(upstream_server) -> Upstream:
    app, _ = upstream_server
    app.seen.clear()
    app.sent.clear()
    app.gate.clear()
    app.finished.clear()
    app.dropped.clear()
    return app


@pytest.fixture
def start_proxy(upstream_server):
    """``start_proxy(**kwargs) -> (base_url, proxy)``: a TagcoreProxy under uvicorn."""
    servers = []

    def start(**kwargs):
        kwargs.setdefault("upstream", upstream_server[1].url)
        kwargs.setdefault("timeout", WAIT)
        proxy = TagcoreProxy(**kwargs)
        server = Server(proxy)
        servers.append(server)
        return server.url, proxy

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=WAIT, trust_env=False) as c:
        yield c


# -- helpers -------------------------------------------------------------------------------------


def chat_body(**extra) -> dict:
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Hello"}],
        "max_tokens": 5,
    }
    body.update(extra)
    return body


def rows(rec) -> list[dict]:
    """The recorder's snapshot as plain dicts."""
    frame = rec.snapshot().to_pandas()
    return frame.to_dict("records")


def wait_rows(rec, n: int) -> list[dict]:
    deadline = time.monotonic() + WAIT
    while True:
        got = rows(rec)
        if len(got) >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.01)


def usage_unknown(row: dict) -> bool:
    return bool(row["usage_unknown"])


def data_events(raw: bytes) -> list[bytes]:
    return [e for e in raw.split(b"\n\n") if e]


def upstream_body(upstream: Upstream, i: int = -1) -> dict:
    return json.loads(upstream.seen[i]["body"])


def header_names(upstream: Upstream, i: int = -1) -> list[str]:
    return [k.lower() for k, _ in upstream.seen[i]["headers"]]


# -- non-streaming ---------------------------------------------------------------------------------


def test_chat_tags_stripped_relayed_byte_for_byte_and_recorded(upstream, start_proxy, client):
    rec = tc.Recorder()
    url, _ = start_proxy(recorder=rec)
    body = chat_body(request_tags=["customer/acme", " env / prod "], user="u-17")
    r = client.post(
        url + "/v1/chat/completions?api-version=1",
        json=body,
        headers={
            "Authorization": "Bearer sk-test",
            "X-Request-Tags": "feature/search, team/a%2Cb",
            "X-Custom": "kept",
        },
    )
    assert r.status_code == 200
    # the client got exactly the upstream's bytes
    assert r.content == b"".join(upstream.sent[0])
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-request-id"] == "req-abc"
    # the upstream got the body without the tags, and no tag header
    seen = upstream.seen[0]
    assert seen["path"] == "/v1/chat/completions" and seen["query"] == b"api-version=1"
    sent_on = json.loads(seen["body"])
    assert sent_on == {k: v for k, v in body.items() if k != "request_tags"}
    names = header_names(upstream)
    assert "x-request-tags" not in names
    assert dict(seen["headers"])["authorization"] == "Bearer sk-test"
    assert dict(seen["headers"])["x-custom"] == "kept"
    assert dict(seen["headers"])["accept-encoding"] == "identity"
    # recorded once, with tags in order: body, then header
    (row,) = rows(rec)
    assert row["request_tags"] == ["customer/acme", "env/prod", "feature/search", "team/a,b"]
    assert row["model"] == "gpt-4o-2024-08-06"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (7, 5)
    assert row["status"] == 200
    assert not usage_unknown(row)
    assert 0 < row["latency_ms"] < WAIT * 1000


def test_body_without_tags_is_forwarded_as_sent(upstream, start_proxy, client):
    rec = tc.Recorder()
    url, _ = start_proxy(recorder=rec)
    raw = b'{"model":  "gpt-4o",\n "messages": [], "max_tokens": 3, "temperature": 1.0}'
    r = client.post(
        url + "/v1/chat/completions",
        content=raw,
        headers={"content-type": "application/json", "x-request-tags": '["env/dev"]'},
    )
    assert r.status_code == 200
    assert upstream.seen[0]["body"] == raw  # not re-encoded: 1.0 stays 1.0, spacing kept
    (row,) = rows(rec)
    assert row["request_tags"] == ["env/dev"]
    assert (row["prompt_tokens"], row["completion_tokens"]) == (0, 3)


def test_upstream_500_is_relayed_and_recorded(upstream, start_proxy, client):
    rec = tc.Recorder()
    url, _ = start_proxy(recorder=rec)
    r = client.post(
        url + "/v1/chat/completions", json=chat_body(model="fail-500", request_tags=["a"])
    )
    assert r.status_code == 500
    assert r.content == b"".join(upstream.sent[0])
    (row,) = rows(rec)
    assert row["status"] == 500 and row["request_tags"] == ["a"]
    assert row["model"] == "fail-500"  # no model in the error body: the request's
    assert (row["prompt_tokens"], row["completion_tokens"]) == (0, 0)
    assert row["request_id"] == "req-500"


def test_usage_the_recorder_rejects_is_recorded_as_unknown(upstream, start_proxy, client):
    rec = tc.Recorder()
    url, proxy = start_proxy(recorder=rec)
    r = client.post(
        url + "/v1/chat/completions", json=chat_body(model="bad-usage", request_tags=["a"])
    )
    assert r.status_code == 200 and r.content == b"".join(upstream.sent[0])
    (row,) = rows(rec)
    assert row["request_tags"] == ["a"] and usage_unknown(row)
    assert proxy.record_errors == 0


def test_folder_recorder_is_flushed_at_shutdown(upstream, upstream_server, tmp_path, client):
    rec = tc.Recorder(tmp_path / "usage", durability="none")
    proxy = TagcoreProxy(upstream_server[1].url, recorder=rec, timeout=WAIT)
    server = Server(proxy)
    try:
        for customer in ("acme", "globex", "acme"):
            body = chat_body(request_tags=[f"customer/{customer}"])
            assert client.post(server.url + "/v1/chat/completions", json=body).status_code == 200
    finally:
        server.stop()  # lifespan shutdown: the proxy flushes the recorder
    assert rec.durable_rows == 3
    rec.close()
    log = tc.read_recorded(tmp_path / "usage")
    assert [log.tags_of(i) for i in range(len(log))] == [
        ["customer/acme"],
        ["customer/globex"],
        ["customer/acme"],
    ]
    frame = log.rollup(under="customer")
    assert frame.loc["customer/acme", "requests"] == 2
    assert frame.loc["customer/acme", "prompt_tokens"] == 14


def test_unreachable_upstream_is_502_and_recorded(start_proxy, client):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    rec = tc.Recorder()
    url, _ = start_proxy(upstream=dead, recorder=rec)
    r = client.post(url + "/v1/chat/completions", json=chat_body(request_tags=["customer/x"]))
    assert r.status_code == 502
    err = r.json()["error"]
    assert err["code"] == "upstream_unreachable" and err["type"] == "upstream_error"
    assert set(err) == {"message", "type", "param", "code"}
    (row,) = rows(rec)
    assert row["status"] == 502 and row["request_tags"] == ["customer/x"]
    assert (row["prompt_tokens"], row["completion_tokens"], row["cost"]) == (0, 0, 0.0)


def test_upstream_timeout_before_headers_is_504(upstream, start_proxy, client):
    rec = tc.Recorder()
    url, _ = start_proxy(recorder=rec, timeout=0.3)
    r = client.post(url + "/v1/chat/completions", json=chat_body(model="slow", request_tags=["t"]))
    assert r.status_code == 504
    assert r.json()["error"]["code"] == "upstream_timeout"
    (row,) = rows(rec)
    assert row["status"] == 504 and row["request_tags"] == ["t"]


# -- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, headers, code",
    [
        (json.dumps(chat_body(request_tags="customer/acme")), {}, "invalid_request_tags"),
        (json.dumps(chat_body(request_tags=["ok", "bad\x00tag"])), {}, "control_character"),
        (json.dumps(chat_body(request_tags=[""])), {}, "empty_tag"),
        (json.dumps(chat_body()), {"X-Request-Tags": "[not json"}, "invalid_request_tags"),
        ("{not json", {}, "invalid_body"),
        ("[1, 2]", {}, "invalid_body"),
    ],
)
def test_bad_tags_are_400_with_the_openai_body(
    upstream, start_proxy, client, content, headers, code
):
    rec = tc.Recorder()
    url, _ = start_proxy(recorder=rec)
    r = client.post(url + "/v1/chat/completions", content=content, headers=headers)
    assert r.status_code == 400
    with pytest.raises(tc.TagError) as info:
        tc.extract_tags(content.encode(), headers=headers)
    assert r.json() == info.value.to_openai_error()
    assert r.json()["error"]["code"] == code
    assert upstream.seen == []  # never forwarded
    assert rows(rec) == []


def test_over_budget_is_429_and_not_forwarded(upstream, start_proxy, client):
    rec = tc.Recorder()
    budgets = tc.Budgets(
        [{"match": "customer/*", "limit": 10, "metric": "total_tokens", "window": "1h"}],
        recorder=rec,
    )
    url, _ = start_proxy(recorder=rec, budgets=budgets)
    acme = chat_body(request_tags=["customer/acme"], max_tokens=5)  # 7 + 5 = 12 tokens
    assert client.post(url + "/v1/chat/completions", json=acme).status_code == 200
    # 12 of 10 spent: the next request is refused, at once (no wait: recorded before the reply)
    r = client.post(url + "/v1/chat/completions", json=acme)
    assert r.status_code == 429
    err = r.json()["error"]
    with pytest.raises(tc.BudgetExceeded) as info:
        budgets.check(["customer/acme"])
    assert r.json() == info.value.to_openai_error()
    assert err["code"] == "budget_exceeded" and "customer/acme" in err["message"]
    # Retry-After: when the 1h window has rolled the spend off (one 1-minute bucket of slack)
    assert abs(int(r.headers["retry-after"]) - math.ceil(info.value.retry_after)) <= 2
    assert 3590 <= int(r.headers["retry-after"]) <= 3661
    assert len(upstream.seen) == 1
    # another customer has a counter of its own; header tags count too
    r = client.post(
        url + "/v1/chat/completions",
        json=chat_body(),
        headers={"X-Request-Tags": "customer/globex"},
    )
    assert r.status_code == 200
    recorded = rows(rec)
    assert [row["request_tags"] for row in recorded] == [["customer/acme"], ["customer/globex"]]


def test_default_tags_from_a_callable_per_api_key(upstream, start_proxy, client):
    rec = tc.Recorder()
    by_key = {b"Bearer sk-acme": ["customer/acme"], b"Bearer sk-globex": ["customer/globex"]}

    async def lookup(scope):
        auth = dict(scope["headers"]).get(b"authorization")
        return by_key.get(auth, [])

    url, _ = start_proxy(recorder=rec, default_tags=lookup, key=lambda scope: "key-1")
    for token in ("sk-acme", "sk-globex", "sk-none"):
        r = client.post(
            url + "/v1/chat/completions",
            json=chat_body(request_tags=["env/prod"]),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200
    got = [row["request_tags"] for row in rows(rec)]
    assert got == [["env/prod", "customer/acme"], ["env/prod", "customer/globex"], ["env/prod"]]


# -- streaming -----------------------------------------------------------------------------------


def test_stream_with_client_usage_is_relayed_unchanged(upstream, start_proxy, client):
    rec = tc.Recorder()
    url, _ = start_proxy(recorder=rec)
    body = chat_body(stream=True, stream_options={"include_usage": True}, max_tokens=4)
    body["request_tags"] = ["feature/chat"]
    with client.stream("POST", url + "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = b"".join(r.iter_bytes())
    sent = b"".join(upstream.sent[0])
    assert raw == sent
    assert data_events(raw)[-1] == b"data: [DONE]"
    assert upstream_body(upstream)["stream_options"] == {"include_usage": True}
    (row,) = rows(rec)
    assert row["request_tags"] == ["feature/chat"]
    assert (row["prompt_tokens"], row["completion_tokens"]) == (7, 4)
    assert row["model"] == "gpt-4o-2024-08-06"
    assert not usage_unknown(row)


def test_stream_usage_is_injected_and_its_chunk_taken_out(upstream, start_proxy, client):
    rec = tc.Recorder()
    url, _ = start_proxy(recorder=rec)
    body = chat_body(stream=True, stream_options={"other": 1}, request_tags=["a/b"])
    with client.stream("POST", url + "/v1/chat/completions", json=body) as r:
        raw = b"".join(r.iter_bytes())
        assert "content-length" not in r.headers
    assert upstream_body(upstream)["stream_options"] == {"other": 1, "include_usage": True}
    sent = data_events(b"".join(upstream.sent[0]))
    usage_only = [e for e in sent if b'"choices": []' in e]
    assert len(usage_only) == 1
    # the client sees every event but the usage-only one, in order, byte for byte
    assert data_events(raw) == [e for e in sent if e not in usage_only]
    (row,) = rows(rec)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (7, 5)
    assert not usage_unknown(row)


def test_stream_without_injection_records_unknown_usage(upstream, start_proxy, client):
    rec = tc.Recorder()
    url, _ = start_proxy(recorder=rec, inject_stream_usage=False)
    body = chat_body(stream=True, request_tags=["customer/acme"])
    with client.stream("POST", url + "/v1/chat/completions", json=body) as r:
        raw = b"".join(r.iter_bytes())
    assert "stream_options" not in upstream_body(upstream)
    assert raw == b"".join(upstream.sent[0])
    (row,) = rows(rec)
    assert row["request_tags"] == ["customer/acme"] and row["status"] == 200
    assert usage_unknown(row)


def test_stream_that_ends_without_usage_is_recorded_unknown(upstream, start_proxy, client):
    rec = tc.Recorder()
    url, _ = start_proxy(recorder=rec)
    body = chat_body(model="no-usage", stream=True, request_tags=["customer/acme", "env/prod"])
    with client.stream("POST", url + "/v1/chat/completions", json=body) as r:
        raw = b"".join(r.iter_bytes())
    assert raw == b"".join(upstream.sent[0])
    (row,) = rows(rec)
    assert row["request_tags"] == ["customer/acme", "env/prod"]
    assert row["model"] == "no-usage-2024-08-06" and row["status"] == 200
    assert usage_unknown(row)


def test_stream_cut_by_upstream_is_recorded_and_cut_for_the_client(upstream, start_proxy, client):
    rec = tc.Recorder()
    url, _ = start_proxy(recorder=rec)
    body = chat_body(model="cut", stream=True, request_tags=["customer/acme"])
    received = []
    with pytest.raises(httpx.RemoteProtocolError):
        with client.stream("POST", url + "/v1/chat/completions", json=body) as r:
            for data in r.iter_bytes():
                received.append(data)
    assert b"".join(received) == b"".join(upstream.sent[0])  # all that was sent got through
    (row,) = wait_rows(rec, 1)
    assert row["request_tags"] == ["customer/acme"] and row["status"] == 200
    assert usage_unknown(row)


def test_stream_chunks_are_relayed_as_they_arrive(upstream, start_proxy, client):
    rec = tc.Recorder()
    url, _ = start_proxy(recorder=rec)
    body = chat_body(model="gate", stream=True)
    with client.stream("POST", url + "/v1/chat/completions", json=body) as r:
        lines = (line for line in r.iter_lines() if line)
        first = next(lines)  # arrives while the upstream still holds the rest back
        assert first.startswith("data: ") and '"role": "assistant"' in first
        assert not upstream.finished.is_set()
        upstream.gate.set()
        rest = list(lines)
    assert rest[-1] == "data: [DONE]"
    (row,) = rows(rec)
    assert not usage_unknown(row)


def test_client_leaving_mid_stream_stops_upstream_and_is_recorded(upstream, start_proxy, client):
    rec = tc.Recorder()
    url, _ = start_proxy(recorder=rec)
    body = chat_body(model="gate", stream=True, request_tags=["customer/gone"])
    with client.stream("POST", url + "/v1/chat/completions", json=body) as r:
        next(r.iter_lines())
    # the client closed its connection; the gate never opens
    assert upstream.dropped.wait(WAIT)  # the proxy stopped the upstream at once
    (row,) = wait_rows(rec, 1)
    assert row["status"] == 499 and row["request_tags"] == ["customer/gone"]
    assert usage_unknown(row)


# -- the Responses API ---------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_responses_api_usage_is_recorded(upstream, start_proxy, client, stream):
    rec = tc.Recorder()
    url, _ = start_proxy(recorder=rec)
    body = {"model": "gpt-4.1", "input": "Hi", "stream": stream, "request_tags": ["f/x"]}
    r = client.post(url + "/v1/responses", json=body)
    assert r.status_code == 200
    assert r.content == b"".join(upstream.sent[0])
    assert "stream_options" not in upstream_body(upstream)  # never injected here
    (row,) = rows(rec)
    assert row["request_tags"] == ["f/x"] and row["model"] == "gpt-4.1-2024-08-06"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (21, 9)


def test_embeddings_are_recorded_when_asked_for(upstream, start_proxy, client):
    rec = tc.Recorder()
    paths = {*tc.asgi.DEFAULT_PATHS, "/v1/embeddings"}
    url, _ = start_proxy(recorder=rec, paths=paths)
    body = {"model": "emb", "input": ["a", "b"], "request_tags": ["feature/rag"]}
    assert client.post(url + "/v1/embeddings", json=body).status_code == 200
    assert "request_tags" not in upstream_body(upstream)
    (row,) = rows(rec)
    assert row["request_tags"] == ["feature/rag"] and row["model"] == "emb-3"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (8, 0)
    assert not usage_unknown(row)


# -- other paths ---------------------------------------------------------------------------------


def test_other_paths_pass_through_unrecorded(upstream, start_proxy, client):
    rec = tc.Recorder()
    url, _ = start_proxy(recorder=rec)
    r = client.get(url + "/v1/models", headers={"X-Request-Tags": "a", "Authorization": "k"})
    assert r.status_code == 200
    assert r.content == b"".join(upstream.sent[0])
    assert "x-request-tags" not in header_names(upstream)
    assert dict(upstream.seen[0]["headers"])["authorization"] == "k"
    assert rows(rec) == []


def test_middleware_mode_hands_other_paths_to_the_app(upstream, start_proxy, client):
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"app:" + scope["path"].encode()})

    rec = tc.Recorder()
    url, _ = start_proxy(recorder=rec, app=app)
    assert client.get(url + "/health").content == b"app:/health"
    assert client.post(url + "/v1/chat/completions", json=chat_body()).status_code == 200
    assert [s["path"] for s in upstream.seen] == ["/v1/chat/completions"]
    assert len(rows(rec)) == 1


def test_constructor_checks():
    with pytest.raises(ValueError, match="upstream"):
        TagcoreProxy("127.0.0.1:8001")
    with pytest.raises(ValueError, match="timeout"):
        TagcoreProxy("http://x", timeout=0)
    with pytest.raises(TypeError, match="default_tags"):
        TagcoreProxy("http://x", default_tags="customer/acme")
    with pytest.raises(TypeError, match="recorder"):
        TagcoreProxy("http://x", recorder=object())
    assert issubclass(UpstreamStreamError, RuntimeError)
    assert math.isfinite(TagcoreProxy("http://x").timeout)


# -- the stream reader, without servers --------------------------------------------------------


def chat_stream(newline: bytes = b"\n") -> tuple[bytes, bytes, dict]:
    """An upstream chat stream with a usage-only chunk: (stream, that chunk's event, usage)."""
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    base = {"id": "c1", "object": "chat.completion.chunk", "model": "m-1", "usage": None}
    events = [
        {**base, "choices": [{"index": 0, "delta": {"content": "a\n\nb"}}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**base, "choices": [], "usage": usage},
    ]
    encoded = [b"data: " + json.dumps(e).encode() + newline * 2 for e in events]
    encoded.insert(0, b": keep-alive comment" + newline * 2)
    encoded.append(b"data: [DONE]" + newline * 2)
    return b"".join(encoded), encoded[3], usage


def feed_all(sniffer, parts: list[bytes]) -> bytes:
    return b"".join(sniffer.feed(p) for p in parts) + sniffer.close()


def splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in zip(points, points[1:])]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
@pytest.mark.parametrize("strip", [False, True])
def test_sse_reader_any_chunking(newline, strip):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from tagcore.gateway.proxy import _Outcome, _SseSniffer

    stream, usage_event, usage = chat_stream(newline)
    expected = stream.replace(usage_event, b"") if strip else stream

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.integers(0, len(stream)), max_size=12))
    def check(cuts):
        out = _Outcome()
        got = feed_all(_SseSniffer(out, strip, None), splits(stream, cuts))
        assert got == expected
        assert out.usage == usage and out.model == "m-1" and out.request_id == "c1"

    check()


def test_sse_reader_multiline_data_and_unfinished_tail():
    from tagcore.gateway.proxy import _Outcome, _SseSniffer

    usage = {"prompt_tokens": 1, "completion_tokens": 1}
    obj = json.dumps({"model": "m", "choices": [], "usage": usage}, indent=1)
    event = b"".join(b"data: " + line.encode() + b"\n" for line in obj.splitlines())
    out = _Outcome()
    # the stream ends inside an event (no blank line): it is still relayed and read
    assert feed_all(_SseSniffer(out, True, None), [event[:7], event[7:]]) == event
    assert out.usage == usage and out.model == "m"


def test_json_reader_gzip_and_responses_shape():
    import gzip

    from tagcore.gateway.proxy import _JsonSniffer, _Outcome

    usage = {"input_tokens": 5, "output_tokens": 6, "total_tokens": 11}
    body = json.dumps({"id": "resp_9", "model": "m", "usage": usage}).encode()
    packed = gzip.compress(body)
    out = _Outcome()
    assert feed_all(_JsonSniffer(out, "gzip"), splits(packed, [5, 17])) == packed
    assert (out.usage, out.model, out.request_id) == (usage, "m", "resp_9")
    out = _Outcome()
    assert feed_all(_JsonSniffer(out, "br"), [body]) == body  # cannot decode: usage unknown
    assert out.usage is None


def test_missing_httpx_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "httpx", None)
    with pytest.raises(ImportError, match=r"tagcore\[gateway\]"):
        TagcoreProxy("http://127.0.0.1:8001")
