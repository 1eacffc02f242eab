"""Issue 12, the proxy's side: each test first reproduces an attack that worked on the old proxy.

Everything runs in process: the proxy is called as an ASGI app, and its upstream is an ASGI
stand-in reached through ``httpx.ASGITransport`` (no sockets at all).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

httpx = pytest.importorskip("httpx")

import tagcore as tc  # noqa: E402
from tagcore.gateway import Budgets, Recorder  # noqa: E402
from tagcore.gateway.proxy import TagcoreProxy  # noqa: E402
from tagcore.prices import PriceTable  # noqa: E402
from tagcore.tags import TagPolicy  # noqa: E402

UPSTREAM = "http://upstream.test"
CHAT = "/v1/chat/completions"
# the usage endpoints the proxy must own (item 9); the old proxy had only the first three
USAGE_PATHS = frozenset({
    "/v1/chat/completions", "/v1/completions", "/v1/responses", "/v1/embeddings",
    "/v1/moderations", "/v1/audio/speech", "/v1/audio/transcriptions", "/v1/audio/translations",
    "/v1/images/generations", "/v1/images/edits", "/v1/images/variations", "/v1/messages",
})

# -- the stand-in upstream ------------------------------------------------------------------------


class Upstream:
    """Answers every usage endpoint the way its provider does; logs what it received.

    ``delay`` seconds before answering; chat usage is 7 prompt tokens per message and
    ``max_tokens`` completion tokens; every answer carries a fresh ``x-request-id``."""

    def __init__(self, delay: float = 0.0) -> None:
        self.seen: list[dict] = []
        self.delay = delay
        self.n = 0

    async def __call__(self, scope, receive, send):
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        self.n += 1
        rid = f"req-{self.n}"
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.seen.append({"method": scope["method"], "path": scope["path"], "body": body,
                          "headers": headers, "id": rid})
        if self.delay:
            await asyncio.sleep(self.delay)
        path = scope["path"]

        async def reply(obj: Any, ctype: bytes = b"application/json", status: int = 200):
            data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", ctype), (b"x-request-id", rid.encode())]})
            await send({"type": "http.response.body", "body": data, "more_body": False})

        if scope["method"] != "POST":
            await reply({"object": "list", "data": [{"id": "m"}]})
            return
        if headers.get("content-type", "").startswith("multipart/form-data"):
            usage = {"type": "tokens", "input_tokens": 5, "output_tokens": 2, "total_tokens": 7}
            await reply({"text": "hi", "usage": usage})
            return
        req = json.loads(body)
        model = req.get("model", "m")
        if path == "/v1/audio/speech":
            await reply(b"ID3\x00fake-mp3", b"audio/mpeg")
        elif path == "/v1/embeddings":
            await reply({"object": "list", "data": [], "model": model,
                         "usage": {"prompt_tokens": 8, "total_tokens": 8}})
        elif path == "/v1/moderations":
            await reply({"id": "modr-1", "model": model, "results": []})
        elif path == "/v1/images/generations":
            await reply({"created": 1, "data": [],
                         "usage": {"input_tokens": 10, "output_tokens": 100, "total_tokens": 110}})
        elif path == "/v1/messages":
            if req.get("stream"):
                events = [
                    ("message_start", {"type": "message_start", "message": {
                        "id": "msg_1", "type": "message", "model": model,
                        "usage": {"input_tokens": 11, "output_tokens": 1}}}),
                    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                             "delta": {"type": "text_delta", "text": "Hi"}}),
                    ("message_delta", {"type": "message_delta", "delta": {},
                                       "usage": {"output_tokens": 6}}),
                    ("message_stop", {"type": "message_stop"}),
                ]
                data = b"".join(f"event: {e}\ndata: {json.dumps(d)}\n\n".encode()
                                for e, d in events)
                await reply(data, b"text/event-stream")
            else:
                await reply({"id": "msg_1", "type": "message", "model": model,
                             "usage": {"input_tokens": 11, "output_tokens": 6}})
        elif path == "/v1/responses":
            await reply({"id": "resp_1", "model": model,
                         "usage": {"input_tokens": 9, "output_tokens": 3, "total_tokens": 12}})
        else:  # chat and legacy completions
            prompt = 7 * len(req.get("messages", [])) or 7
            completion = req.get("max_tokens", 5)
            await reply({"id": "chatcmpl-1", "model": model, "choices": [],
                         "usage": {"prompt_tokens": prompt, "completion_tokens": completion}})


# -- driving the proxy in process ------------------------------------------------------------------


def make_proxy(upstream: Upstream, **kwargs) -> TagcoreProxy:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=upstream), timeout=5.0)
    kwargs.setdefault("timeout", 5.0)
    return TagcoreProxy(UPSTREAM, client=client, **kwargs)


async def call(proxy, method: str, path: str, body: Any = b"", headers=()) -> tuple[int, dict, bytes]:
    """One request through the proxy: ``(status, headers, body)``."""
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    hdrs = [(k.lower().encode(), v.encode()) for k, v in dict(headers).items()]
    if body and not any(k == b"content-type" for k, _ in hdrs):
        hdrs.append((b"content-type", b"application/json"))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path,
             "raw_path": path.encode("utf-8", "surrogateescape"), "query_string": b"",
             "root_path": "", "headers": hdrs, "client": ("127.0.0.1", 50000),
             "server": ("127.0.0.1", 8000)}
    sent_body = False
    done = asyncio.Event()
    out: dict[str, Any] = {"status": None, "headers": {}, "body": b""}

    async def receive():
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
            out["headers"] = {k.decode(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")
            if not message.get("more_body"):
                done.set()

    await proxy(scope, receive, send)
    done.set()
    return out["status"], out["headers"], out["body"]


def run(coro):
    return asyncio.run(coro)


def chat(**extra) -> dict:
    body = {"model": "m", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 5}
    body.update(extra)
    return body


def rows(rec: Recorder) -> list[dict]:
    return rec.snapshot().to_pandas().to_dict("records")


# -- item 1: path variants --------------------------------------------------------------------------

VARIANTS = [
    "/v1/chat/completions/", "//v1/chat/completions", "/v1//chat/completions",
    "/V1/chat/completions", "/V1/CHAT/Completions//", "/v1/chat%2Fcompletions",
    "/v1/chat%252Fcompletions", "/v1/./chat/completions", "/v1/x/../chat/completions",
    "/v1/chat/completions;v=1", "\\v1\\chat\\completions",
]


@pytest.mark.parametrize("path", VARIANTS)
def test_path_variants_of_a_spent_key_get_no_completion(path):
    """Old proxy: every spelling but the exact one passed through, unchecked and unrecorded."""
    up = Upstream()
    rec = Recorder()
    budgets = Budgets([{"match": "customer/acme", "limit": 1, "metric": "requests",
                        "window": "1h"}], recorder=rec)
    proxy = make_proxy(up, recorder=rec, budgets=budgets, default_tags=["customer/acme"])
    assert run(call(proxy, "POST", CHAT, chat()))[0] == 200  # spends the one request
    status, _, body = run(call(proxy, "POST", path, chat()))
    assert status == 429, body
    assert json.loads(body)["error"]["code"] == "budget_exceeded"
    assert len(up.seen) == 1 and len(rec) == 1


@pytest.mark.parametrize("path", VARIANTS)
def test_path_variants_are_recorded_and_forwarded_canonically(path):
    up = Upstream()
    rec = Recorder()
    proxy = make_proxy(up, recorder=rec)
    status, _, _ = run(call(proxy, "POST", path, chat(request_tags=["team/a"])))
    assert status == 200
    (seen,) = up.seen
    assert seen["path"] == CHAT  # what was decided is what the upstream routes
    assert b"request_tags" not in seen["body"]
    (row,) = rows(rec)
    assert row["request_tags"] == ["team/a"] and row["prompt_tokens"] == 7


def test_canonical_path_refuses_what_it_cannot_read():
    from tagcore.gateway.proxy import RequestRefused, canonical_path

    assert canonical_path("/") == "/" and canonical_path("/../..") == "/"
    assert canonical_path("/v1/%2e%2e/v1/models") == "/v1/models"
    for bad in ["/v1/chat/completions%00", "/v1/chat%3Fx", "/a%23b", "/%ff"]:
        with pytest.raises(RequestRefused) as info:
            canonical_path(bad)
        assert info.value.status_code == 400 and info.value.param == "path"
        assert isinstance(info.value, tc.TagcoreError)
    status, _, body = run(call(make_proxy(Upstream()), "POST", "/v1/chat%3Fcompletions", chat()))
    assert status == 400 and json.loads(body)["error"]["param"] == "path"


# -- item 2: tag flooding -----------------------------------------------------------------------------


@pytest.mark.parametrize("on_invalid", ["drop", "raise"])
def test_tag_flood_cannot_push_out_the_keys_trusted_tag(on_invalid):
    """Old proxy under on_invalid="drop": 64 client tags pushed 'customer/acme' (the key's
    default tag) out, so its spent budget was never checked and the request went through."""
    up = Upstream()
    rec = Recorder(policy=TagPolicy(on_invalid=on_invalid))
    budgets = Budgets([{"match": "customer/*", "limit": 1, "metric": "requests",
                        "window": "1h"}], recorder=rec)
    budgets.record(["customer/acme"], ts=time.time())  # acme has spent its one request
    proxy = make_proxy(up, recorder=rec, budgets=budgets, default_tags=["customer/acme"])
    flood = chat(request_tags=[f"x/t{i}" for i in range(64)])
    status, _, body = run(call(proxy, "POST", CHAT, flood))
    assert status == (429 if on_invalid == "drop" else 400), body
    err = json.loads(body)["error"]
    if on_invalid == "drop":
        assert err["code"] == "budget_exceeded"
    else:  # the client's own 64th tag is the one too many
        assert err["code"] == "too_many_tags" and err["param"] == "request_tags"
    # header tags are the client's too; a client tag equal to the trusted one takes no place
    status, _, _ = run(call(proxy, "POST", CHAT, chat(request_tags=["customer/acme"]),
                            {"X-Request-Tags": ",".join(f"y/{i}" for i in range(70))}))
    assert status in (400, 429)
    assert up.seen == [] and len(rec) == 0


def test_trusted_tags_survive_and_come_last_under_drop():
    up = Upstream()
    rec = Recorder(policy=TagPolicy(on_invalid="drop"))
    proxy = make_proxy(up, recorder=rec, default_tags=lambda scope: ["customer/acme", "env/p"])
    client_tags = [f"x/t{i}" for i in range(70)] + ["env/p"]
    assert run(call(proxy, "POST", CHAT, chat(request_tags=client_tags)))[0] == 200
    (row,) = rows(rec)
    assert len(row["request_tags"]) == 64
    # the client's 62 first tags, its copy of a trusted tag where it sent it, then the rest
    assert row["request_tags"] == client_tags[:62] + ["env/p", "customer/acme"]


def test_an_invalid_trusted_tag_is_the_operators_error():
    up = Upstream()
    proxy = make_proxy(up, recorder=Recorder(), default_tags=["bad\x00tag"],
                       policy=TagPolicy(on_invalid="drop"))
    status, _, body = run(call(proxy, "POST", CHAT, chat()))
    assert status == 500 and json.loads(body)["error"]["type"] == "server_error"
    assert up.seen == []


# -- item 3: reservations under concurrency -----------------------------------------------------------

PRICES = PriceTable({"m": {"input_cost_per_token": 0, "output_cost_per_token": 0.02}})  # 5 out = $0.10


async def race(proxy, n_clients: int, per_client: int) -> list[int]:
    async def client(i: int) -> list[int]:
        got = []
        for _ in range(per_client):
            got.append((await call(proxy, "POST", CHAT, chat()))[0])
        return got

    results = await asyncio.gather(*(client(i) for i in range(n_clients)))
    return [s for r in results for s in r]


@pytest.mark.parametrize("estimate, bound", [(None, 0.0), (0.07, 8 * 0.03)])
def test_concurrent_clients_overshoot_within_the_documented_bound(estimate, bound):
    """Old proxy: 8 clients at $0.10 a request with a 2 ms upstream spent $1.70 of $1.00, as
    every check saw the same headroom. Now the bound is the shortfall of the estimates of the
    requests in flight: 0 when the estimate (max_tokens at the output rate) is exact, and
    8 x ($0.10 - $0.07) with an estimate that falls $0.03 short."""
    up = Upstream(delay=0.002)
    rec = Recorder(prices=PRICES)
    budgets = Budgets([{"match": "customer/*", "limit": 1.0, "window": "1D"}], recorder=rec)
    kwargs = {} if estimate is None else {"estimate": lambda body, scope: estimate}
    proxy = make_proxy(up, recorder=rec, budgets=budgets, default_tags=["customer/acme"],
                       **kwargs)
    statuses = run(race(proxy, 8, 4))
    spent = budgets.status()["spent"].iloc[0]
    logged = rec.snapshot().cost.sum() / 1e9
    assert spent == pytest.approx(logged)
    overshoot = spent - 1.0
    print(f"estimate={estimate}: spent ${spent:.2f} of $1.00, overshoot ${max(0, overshoot):.2f}"
          f" (bound ${bound:.2f})")
    assert overshoot <= bound + 1e-9
    assert statuses.count(200) == len(up.seen) == len(rec)
    assert statuses.count(200) >= 10 and set(statuses) <= {200, 429}
    assert all(c.reserved == 0 for c in budgets._counters.values())  # nothing left held


def test_reservation_is_released_when_the_upstream_fails():
    up = Upstream()
    rec = Recorder(prices=PRICES)
    budgets = Budgets([{"match": "customer/*", "limit": 0.15, "window": "1D"}], recorder=rec)

    async def broken(scope, receive, send):
        raise RuntimeError("down")

    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=broken), timeout=5.0)
    proxy = TagcoreProxy(UPSTREAM, recorder=rec, budgets=budgets, client=client,
                         default_tags=["customer/acme"])
    with pytest.raises(RuntimeError):
        run(call(proxy, "POST", CHAT, chat()))
    assert all(c.reserved == 0 for c in budgets._counters.values())
    proxy = make_proxy(up, recorder=rec, budgets=budgets, default_tags=["customer/acme"])
    assert run(call(proxy, "POST", CHAT, chat()))[0] == 200  # $0.10 of $0.15 still fits


# -- item 9: every usage endpoint strips and records --------------------------------------------------


def multipart(fields: dict[str, str], boundary: str = "XyZ") -> tuple[bytes, str]:
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                 f'filename="a.mp3"\r\nContent-Type: audio/mpeg\r\n\r\nID3fake\r\n--{boundary}--\r\n')
    return "".join(parts).encode(), f"multipart/form-data; boundary={boundary}"


ENDPOINTS = [
    ("/v1/chat/completions", chat(), (7, 5)),
    ("/v1/completions", {"model": "m", "prompt": "Hi", "max_tokens": 3}, (7, 3)),
    ("/v1/responses", {"model": "m", "input": "Hi"}, (9, 3)),
    ("/v1/embeddings", {"model": "m", "input": ["a", "b"]}, (8, 0)),
    ("/v1/moderations", {"model": "m", "input": "x"}, None),
    ("/v1/audio/speech", {"model": "m", "input": "hi", "voice": "alloy"}, None),
    ("/v1/images/generations", {"model": "m", "prompt": "a cat"}, (10, 100)),
    ("/v1/messages", {"model": "m", "max_tokens": 6, "messages": []}, (11, 6)),
    ("/v1/messages", {"model": "m", "max_tokens": 6, "messages": [], "stream": True}, (11, 6)),
]


@pytest.mark.parametrize("path, body, tokens", ENDPOINTS)
def test_every_usage_endpoint_strips_tags_and_records(path, body, tokens):
    """Old proxy: /v1/embeddings (and every endpoint but three) forwarded request_tags to the
    upstream (OpenAI rejects the unknown field) and recorded nothing."""
    assert path in tc.gateway.DEFAULT_PATHS
    up = Upstream()
    rec = Recorder()
    proxy = make_proxy(up, recorder=rec)
    status, _, _ = run(call(proxy, "POST", path, {**body, "request_tags": ["feature/rag"]}))
    assert status == 200
    (seen,) = up.seen
    assert "request_tags" not in json.loads(seen["body"])
    (row,) = rows(rec)
    assert row["request_tags"] == ["feature/rag"] and row["model"] == "m"
    if tokens is None:
        assert row["usage_unknown"]
    else:
        assert (row["prompt_tokens"], row["completion_tokens"]) == tokens
        assert not row["usage_unknown"]


def test_multipart_endpoints_take_tags_from_the_header_and_refuse_form_tags():
    up = Upstream()
    rec = Recorder()
    proxy = make_proxy(up, recorder=rec)
    body, ctype = multipart({"model": "gpt-4o-transcribe"})
    status, _, _ = run(call(proxy, "POST", "/v1/audio/transcriptions", body,
                            {"content-type": ctype, "x-request-tags": "feature/voice"}))
    assert status == 200 and up.seen[0]["body"] == body
    (row,) = rows(rec)
    assert row["request_tags"] == ["feature/voice"] and row["model"] == "gpt-4o-transcribe"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (5, 2)
    body, ctype = multipart({"model": "m", "request_tags[]": "feature/voice"})
    status, _, err = run(call(proxy, "POST", "/v1/audio/translations", body,
                              {"content-type": ctype}))
    assert status == 400 and json.loads(err)["error"]["code"] == "request_tags_in_form"
    assert len(up.seen) == 1


def test_a_long_user_field_cannot_leave_a_request_unrecorded():
    """Old proxy: a ``user`` over the recorder's 1 KiB made every record() raise, so the
    request was answered but never recorded nor charged to its budgets."""
    up = Upstream()
    rec = Recorder()
    budgets = Budgets([{"match": "customer/*", "limit": 1, "metric": "requests",
                        "window": "1h"}], recorder=rec)
    proxy = make_proxy(up, recorder=rec, budgets=budgets, default_tags=["customer/acme"])
    assert run(call(proxy, "POST", CHAT, chat(user="é" * 2000)))[0] == 200
    assert run(call(proxy, "POST", CHAT, chat(user="é" * 2000)))[0] == 429
    (row,) = rows(rec)
    assert row["user"] == "é" * 512 and proxy.record_errors == 0


# -- item 10: other methods and unknown paths -----------------------------------------------------------


@pytest.mark.parametrize("method, path, status", [
    ("GET", CHAT, 405), ("PUT", "/V1/chat/completions/", 405), ("DELETE", "/v1/responses", 405),
    ("OPTIONS", "/v1/embeddings", 405), ("POST", "/v1/chat/completions/extra", 404),
    ("POST", "/v1/files", 404), ("GET", "/admin", 404), ("POST", "/v2/chat/completions", 404),
])
def test_other_methods_and_unknown_paths_are_refused_by_default(method, path, status):
    """Old proxy: forwarded with the client's credentials, unchecked, unrecorded, and with the
    body's request_tags."""
    up = Upstream()
    rec = Recorder()
    proxy = make_proxy(up, recorder=rec)
    got, headers, body = run(call(proxy, method, path, chat(request_tags=["a"]),
                                  {"authorization": "Bearer sk-x"}))
    assert got == status
    err = json.loads(body)["error"]
    assert err["type"] == "invalid_request_error" and err["code"] in ("method_not_allowed",
                                                                     "unknown_path")
    if status == 405:
        assert headers["allow"] == "POST"
    assert up.seen == [] and len(rec) == 0


def test_passthrough_and_forward_mode_never_carry_tags():
    up = Upstream()
    rec = Recorder()
    proxy = make_proxy(up, recorder=rec)
    assert run(call(proxy, "GET", "/v1/models/m", headers={"x-request-tags": "a"}))[0] == 200
    assert "x-request-tags" not in up.seen[-1]["headers"]
    fwd = make_proxy(up, recorder=rec, other="forward")
    assert run(call(fwd, "PUT", "/v1/files/F-1", {"purpose": "x", "request_tags": ["a"]}))[0] == 200
    assert up.seen[-1]["path"] == "/v1/files/F-1"  # case kept off the API paths
    assert json.loads(up.seen[-1]["body"]) == {"purpose": "x"}
    body, ctype = multipart({"request_tags": "a"})
    assert run(call(fwd, "POST", "/v1/uploads", body, {"content-type": ctype}))[0] == 400
    assert len(up.seen) == 2 and len(rec) == 0


# -- item 11: bytes in flight ----------------------------------------------------------------------------


def test_one_large_body_is_413_and_too_many_bytes_in_flight_is_503():
    """Old proxy: each request buffered up to 32 MiB with no bound on how many at once."""
    up = Upstream(delay=0.05)
    rec = Recorder()
    proxy = make_proxy(up, recorder=rec, max_body_bytes=4000, max_inflight_bytes=10_000)
    pad = "x" * 2900
    big = chat(messages=[{"role": "user", "content": "x" * 5000}])
    status, _, body = run(call(proxy, "POST", CHAT, big))
    assert status == 413 and json.loads(body)["error"]["code"] == "request_too_large"
    status, _, _ = run(call(proxy, "POST", CHAT, big, {"content-length": "999999"}))
    assert status == 413

    async def many():
        return await asyncio.gather(*(call(proxy, "POST", CHAT, chat(user=pad))
                                      for _ in range(6)))

    got = run(many())
    statuses = sorted(s for s, _, _ in got)
    assert statuses.count(200) == 3 and statuses.count(503) == 3
    refused = next(b for s, h, b in got if s == 503)
    assert json.loads(refused)["error"]["code"] == "gateway_busy"
    assert next(h for s, h, b in got if s == 503)["retry-after"] == "1"
    assert proxy.inflight_bytes == 0  # all given back
    assert len(rec) == 3 == len(up.seen)
    with pytest.raises(ValueError, match="max_inflight_bytes"):
        TagcoreProxy(UPSTREAM, max_body_bytes=100, max_inflight_bytes=99)


# -- item 13: unpriced models against a cost budget ---------------------------------------------------------


def test_unpriced_model_fails_closed_against_a_cost_budget():
    """Old proxy: a model the price table does not know counted $0 against a $1 budget, for
    ever."""
    up = Upstream()
    rec = Recorder(prices=PRICES)
    budgets = Budgets([{"match": "customer/*", "limit": 1.0, "window": "1D"}], recorder=rec)
    proxy = make_proxy(up, recorder=rec, budgets=budgets, default_tags=["customer/acme"])
    for _ in range(3):
        status, _, body = run(call(proxy, "POST", CHAT, chat(model="mystery")))
        assert status == 400
        err = json.loads(body)["error"]
        assert err["code"] == "model_not_priced" and err["param"] == "model"
    assert up.seen == []
    # a priced request, answered by a dated snapshot the table lacks, is priced as requested
    assert run(call(proxy, "POST", CHAT, chat()))[0] == 200
    assert budgets.status()["spent"].iloc[0] == pytest.approx(0.10)


def test_unpriced_model_counts_with_an_estimate_when_asked():
    up = Upstream()
    rec = Recorder(prices=PRICES)
    budgets = Budgets([{"match": "customer/*", "limit": 1.0, "window": "1D"}], recorder=rec,
                      unpriced=0.4)
    proxy = make_proxy(up, recorder=rec, budgets=budgets, default_tags=["customer/acme"])
    got = [run(call(proxy, "POST", CHAT, chat(model="mystery")))[0] for _ in range(3)]
    assert got == [200, 200, 429]
    assert budgets.status()["spent"].iloc[0] == pytest.approx(0.8)
    log = rec.snapshot()
    assert log.cost.sum() == 0 and log.extras["unpriced"].tolist() == [1, 1]  # the log is honest


# -- the property: any path spelling, any tags --------------------------------------------------------------


def _spell(path: str, data) -> str:
    """A random spelling of ``path`` that a lenient upstream would route the same way."""
    out = []
    for seg in path.strip("/").split("/"):
        seg = "".join(c.upper() if data.draw(st.booleans()) else c for c in seg)
        if data.draw(st.integers(0, 5)) == 0:
            seg = seg + ";x=1"
        out.append(seg)
        if data.draw(st.integers(0, 6)) == 0:
            out.append(data.draw(st.sampled_from([".", "", "z/.."])))
    sep = data.draw(st.sampled_from(["/", "//", "%2F", "%2f", "%252F", "/./"]))
    text = "/" + sep.join(out) if data.draw(st.booleans()) else "/" + "/".join(out)
    if data.draw(st.booleans()):
        text += "/"
    if data.draw(st.integers(0, 3)) == 0:
        text = "/" + text
    return text


TAG = st.one_of(
    st.sampled_from(["customer/acme", "customer/other", "env/prod", "a", "key/spent"]),
    st.text(st.sampled_from("abc/ \x00"), min_size=0, max_size=6),
    st.integers(),
)


USER = st.sampled_from([None, "u-1", "x" * 2000, "\ud800", "é" * 600])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_property_no_spelling_reaches_the_model_for_a_spent_key_and_each_forward_is_recorded_once(
    data,
):
    up = Upstream()
    rec = Recorder(policy=TagPolicy(on_invalid=data.draw(st.sampled_from(["raise", "drop"]))))
    budgets = Budgets([{"match": "=key/spent", "limit": 1, "metric": "requests",
                        "window": "1h"}], recorder=rec)
    budgets.record(["key/spent"], ts=time.time())
    keys = {"Bearer spent": ["key/spent"], "Bearer ok": ["key/ok"]}
    proxy = make_proxy(up, recorder=rec, budgets=budgets,
                       default_tags=lambda s: keys[dict(s["headers"])[b"authorization"].decode()])
    requests = data.draw(st.lists(st.tuples(
        st.sampled_from(sorted(USAGE_PATHS - {"/v1/audio/transcriptions",
                                                "/v1/audio/translations",
                                                "/v1/images/edits", "/v1/images/variations"})),
        st.sampled_from(["POST", "POST", "POST", "GET", "PUT"]),
        st.sampled_from(["spent", "ok"]),
        st.lists(TAG, max_size=70),
    ), min_size=1, max_size=4))
    sent = []
    for path, method, key, tags in requests:
        spelled = _spell(path, data)
        body = chat(request_tags=tags, user=data.draw(USER))
        status, _, _ = run(call(proxy, method, spelled, body, {"authorization": f"Bearer {key}"}))
        sent.append((spelled, method, key, status))
        if key == "spent":
            assert not 200 <= status < 300, (spelled, method, status)
    # the upstream never heard from the spent key, got no tags, and only canonical paths
    assert all(s["headers"]["authorization"] == "Bearer ok" for s in up.seen), sent
    assert all(s["method"] == "POST" and s["path"] in USAGE_PATHS for s in up.seen)
    assert all(b"request_tags" not in s["body"] for s in up.seen)
    # everything forwarded is recorded exactly once (matched by the upstream's request id)
    assert sorted(r["request_id"] for r in rows(rec)) == sorted(s["id"] for s in up.seen)
    assert sum(1 for *_, st_ in sent if st_ == 200) == len(up.seen)
