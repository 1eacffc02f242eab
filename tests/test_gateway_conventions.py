"""Issue 11, item 5: ``extract_tags`` accepts the tag conventions clients already send to other
gateways (LiteLLM's body ``tags``, ``metadata.tags`` and ``x-litellm-tags`` header; Helicone's
``Helicone-Property-<Key>`` headers; Portkey's ``x-portkey-metadata`` header), strips what it
reads, and refuses hostile input with the library's own errors; the proxy forwards none of it.

Conventions as the gateways define them: LiteLLM 1.110.2 ``proxy/litellm_pre_call_utils.py``
(``headers["x-litellm-tags"].split(",")``, each stripped; body ``tags`` when a list); Helicone's
worker (``helicone-property-`` names, the key after the prefix of the lower-cased name);
Portkey's ``x-portkey-metadata`` (a JSON object of string values).
"""

from __future__ import annotations

import asyncio
import copy
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tagcore as tc
from tagcore.gateway.extract import extract_tags
from tagcore.tags import TagError, TagPolicy

DEEP = 100_000


def body(**extra) -> dict:
    b = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    b.update(extra)
    return b


# ==================================================================================== LiteLLM


def test_litellm_body_tags_and_metadata_tags_are_read_and_stripped():
    sent = body(tags=["customer/acme", "jobID:214590dsff09fds"],
                metadata={"tags": ["team:search", "customer/acme"], "trace_id": "t-1"})
    before = copy.deepcopy(sent)
    tags, fwd = extract_tags(sent)
    assert tags == ["customer/acme", "jobID/214590dsff09fds", "team/search"]
    assert fwd == body(metadata={"trace_id": "t-1"})
    assert sent == before  # the input is never changed
    assert fwd["messages"] is sent["messages"]
    # a metadata left empty is left out; the JSON text form too
    tags, fwd = extract_tags(json.dumps(body(metadata={"tags": ["a"]})).encode())
    assert tags == ["a"] and fwd == body()


def test_openai_metadata_is_the_clients_own():
    """OpenAI's ``metadata`` holds string values: a string ``tags`` there is not LiteLLM's."""
    sent = body(metadata={"tags": "a,b", "user": "u"}, request_tags=["x"])
    tags, fwd = extract_tags(sent)
    assert tags == ["x"] and fwd == body(metadata={"tags": "a,b", "user": "u"})
    tags, fwd = extract_tags(body(metadata="not an object"))
    assert tags == [] and fwd["metadata"] == "not an object"


def test_x_litellm_tags_header_is_split_like_litellm():
    for headers in ({"x-litellm-tags": " customer/acme, env:prod ,, a%2Cb"},
                    {"X-LiteLLM-Tags": " customer/acme, env:prod ,, a%2Cb"},
                    [(b"x-litellm-tags", b" customer/acme, env:prod ,, a%2Cb")]):
        tags, fwd = extract_tags(body(), headers=headers)
        # comma-split and trimmed, no percent-decoding, no JSON: exactly LiteLLM's reading
        assert tags == ["customer/acme", "env/prod", "a%2Cb"]
        assert fwd == body()


def test_litellm_tags_roll_up_like_the_litellm_readers():
    """The same tags read live and from LiteLLM's logs are the same paths."""
    sent = ["product:chat-bot", "User-Agent: OpenAI/Python 1.40.0", "https://x.io/a", "12:30"]
    live, _ = extract_tags(body(tags=sent))
    payload = {"id": "r1", "model": "m", "status": "success", "startTime": 0.0, "endTime": 1.0,
               "prompt_tokens": 1, "completion_tokens": 1, "response_cost": 0.0,
               "request_tags": sent}
    log = tc.read_litellm_payloads(__import__("io").StringIO(json.dumps([payload])))
    assert list(live) == log.tags_of(0) == [
        "product/chat-bot", "User-Agent/OpenAI/Python 1.40.0", "https/x.io/a", "12:30"]


# =================================================================================== Helicone


def test_helicone_property_headers_are_key_value_paths():
    headers = {"Helicone-Property-Customer": "acme", "helicone-property-Geo": "US/CA",
               "Helicone-Property-Empty": "  ", "Helicone-Auth": "Bearer x",
               "Helicone-Property-Tier": " gold "}
    tags, fwd = extract_tags(body(), headers=headers)
    # key lower-cased as Helicone stores it; value as sent (a path stays a path)
    assert tags == ["customer/acme", "geo/US/CA", "tier/gold"]
    assert fwd == body()
    # ASGI's lower-case byte names give the same tags
    asgi = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    assert extract_tags(body(), headers=asgi)[0] == tags
    # and Helicone's reader of the same properties (as Helicone stores them) agrees
    rec = {"request_created_at": "2024-08-01T10:00:00Z", "response_status": 200,
           "request_model": "m", "prompt_tokens": 1, "completion_tokens": 1, "cost": 0,
           "request_properties": {"customer": "acme", "geo": "US/CA", "tier": "gold"}}
    log = tc.read_helicone_export(__import__("io").StringIO(json.dumps([rec])))
    assert log.tags_of(0) == list(tags)


# ==================================================================================== Portkey


def test_portkey_metadata_header_is_key_value_paths():
    meta = {"_user": "u-1", "environment": "production", "beta": True, "tier": 2,
            "note": None, "empty": "", "geo": "EU/DE"}
    tags, fwd = extract_tags(body(), headers={"x-portkey-metadata": json.dumps(meta)})
    assert tags == ["_user/u-1", "environment/production", "beta/true", "tier/2", "geo/EU/DE"]
    assert tags == tc.tags_from_mapping(meta)  # the one key/value rule
    assert fwd == body()


# ============================================================================ all of them


def test_sources_merge_in_order_dedup_and_limit():
    sent = body(request_tags=["a", "b"], tags=["b", "c"], metadata={"tags": ["d"]})
    headers = [("X-Request-Tags", "e"), ("x-litellm-tags", "c,f"),
               ("Helicone-Property-G", "1"), ("x-portkey-metadata", '{"h": "2", "a": "x"}')]
    tags, fwd = extract_tags(sent, headers=headers, default_tags=["z"])
    assert tags == ["a", "b", "e", "c", "d", "f", "g/1", "h/2", "a/x", "z"]
    assert fwd == body()
    many = body(tags=[f"t{i}" for i in range(40)])
    many_headers = {"x-litellm-tags": ",".join(f"u{i}" for i in range(40))}
    with pytest.raises(TagError) as info:
        extract_tags(many, headers=many_headers)
    assert info.value.code == "too_many_tags" and info.value.param == "x-litellm-tags"
    out, _ = extract_tags(many, headers=many_headers, policy=TagPolicy(on_invalid="drop"),
                          trusted_tags=["customer/acme"])
    assert len(out) == 64 and out[-1] == "customer/acme" and len(out.dropped) == 17


@pytest.mark.parametrize("sent, headers, param, code", [
    (body(tags="a,b"), None, "tags", "invalid_request_tags"),
    (body(tags=["ok", 3]), None, "tags", "invalid_tag_type"),
    (body(metadata={"tags": ["ok", "a\x00b"]}), None, "metadata.tags", "control_character"),
    (body(), {"x-litellm-tags": "ok, a\u200bb"}, "x-litellm-tags", "invisible_character"),
    (body(), [(b"x-litellm-tags", b"\xff")], "x-litellm-tags", "invalid_request_tags"),
    (body(), {"Helicone-Property-Customer": "ac\u202eme"}, "Helicone-Property-Customer",
     "invisible_character"),
    (body(), {"x-portkey-metadata": "{oops"}, "x-portkey-metadata", "invalid_request_tags"),
    (body(), {"x-portkey-metadata": '["a"]'}, "x-portkey-metadata", "invalid_request_tags"),
    (body(), {"x-portkey-metadata": '{"user": {"id": 1}}'}, "x-portkey-metadata",
     "invalid_tag_type"),
    (body(), {"x-portkey-metadata": '{"n": ' + "1" * 5000 + "}"}, "x-portkey-metadata",
     "invalid_request_tags"),
])
def test_bad_input_is_a_tag_error_naming_where(sent, headers, param, code):
    with pytest.raises(TagError) as info:
        extract_tags(sent, headers=headers)
    assert info.value.param == param and info.value.code == code, str(info.value)
    assert info.value.to_openai_error()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("value", ["{" * DEEP, '{"a": ' + "[" * DEEP + "]" * DEEP + "}",
                                   '{"a": ' + "[" * 990 + "]" * 990 + "}"],
                         ids=["unclosed", "deep", "just-under-the-limit"])
def test_deep_portkey_metadata_is_a_tag_error(value):
    with pytest.raises(TagError) as info:
        extract_tags(body(), headers={"x-portkey-metadata": value})
    assert info.value.param == "x-portkey-metadata"


def test_deep_and_huge_body_tags_are_tag_errors():
    x: list = []
    for _ in range(DEEP):
        x = [x]
    with pytest.raises(TagError) as info:
        extract_tags(body(tags=["ok", x]))
    assert info.value.param == "tags" and info.value.index == 1
    huge = body(metadata={"tags": [f"t{i}" for i in range(200_000)]})
    with pytest.raises(TagError) as info:
        extract_tags(huge)
    assert info.value.code == "too_many_tags" and info.value.param == "metadata.tags"
    many_keys = json.dumps({f"k{i}": "v" for i in range(100_000)})
    with pytest.raises(TagError) as info:
        extract_tags(body(), headers={"x-portkey-metadata": many_keys})
    assert info.value.code == "too_many_tags"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3),
    max_leaves=8)


@given(tags=json_values, meta=json_values, portkey=json_values, litellm=st.text(max_size=20),
       helicone=st.text(max_size=10))
def test_anything_is_tags_or_a_tag_error_and_nothing_is_forwarded(tags, meta, portkey,
                                                                   litellm, helicone):
    sent = body(tags=tags, metadata=meta)
    headers = {"x-portkey-metadata": json.dumps(portkey), "x-litellm-tags": litellm,
               "Helicone-Property-K": helicone}
    try:
        out, fwd = extract_tags(sent, headers=headers, policy=TagPolicy(on_invalid="drop"))
    except TagError:
        return
    assert "tags" not in fwd and all(isinstance(t, str) for t in out)
    if isinstance(meta, dict) and isinstance(meta.get("tags"), list):
        assert "tags" not in fwd.get("metadata", {})


def test_bodies_without_other_conventions_are_untouched():
    sent = body(request_tags=["a"], metadata={"user": "u"})
    tags, fwd = extract_tags(sent, headers={"content-type": "application/json",
                                            "x-request-tags": "b"})
    assert tags == ["a", "b"] and fwd == body(metadata={"user": "u"})
    assert fwd["metadata"] is sent["metadata"]  # not copied when not changed


# ================================================================================== the proxy

httpx = pytest.importorskip("httpx")


class Upstream:
    def __init__(self) -> None:
        self.seen: list[dict] = []

    async def __call__(self, scope, receive, send):
        data = b""
        while True:
            msg = await receive()
            data += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        self.seen.append({"body": json.loads(data),
                          "headers": {k.decode(): v.decode() for k, v in scope["headers"]}})
        out = json.dumps({"id": "chatcmpl-1", "model": "gpt-4o", "choices": [],
                          "usage": {"prompt_tokens": 7, "completion_tokens": 3}}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": out})


async def through_proxy(proxy, payload: dict, headers: dict) -> int:
    hdrs = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    hdrs.append((b"content-type", b"application/json"))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/v1/chat/completions",
             "raw_path": b"/v1/chat/completions", "query_string": b"", "root_path": "",
             "headers": hdrs, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
    sent = False
    done = asyncio.Event()
    status: list[int] = []

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": json.dumps(payload).encode(),
                    "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def reply(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif not message.get("more_body"):
            done.set()

    await proxy(scope, receive, reply)
    return status[0]


def test_the_proxy_records_them_and_forwards_none_of_them():
    up = Upstream()
    rec = tc.Recorder()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=up), timeout=5.0)
    proxy = tc.TagcoreProxy("http://upstream.test", client=client, recorder=rec, timeout=5.0)
    headers = {"authorization": "Bearer sk-x", "x-litellm-tags": "env:prod",
               "Helicone-Property-Customer": "acme", "x-portkey-metadata": '{"_user": "u1"}',
               "Helicone-Auth": "Bearer h"}
    sent = body(tags=["feature:chat"], metadata={"tags": ["team/search"], "trace": "t"})
    assert asyncio.run(through_proxy(proxy, sent, headers)) == 200
    got = up.seen[-1]
    assert got["body"] == body(metadata={"trace": "t"})
    assert not {"x-litellm-tags", "helicone-property-customer", "x-portkey-metadata"} & set(
        got["headers"])
    assert got["headers"]["authorization"] == "Bearer sk-x"
    assert got["headers"]["helicone-auth"] == "Bearer h"  # not a tag header: forwarded
    log = rec.snapshot()
    assert log.tags_of(0) == ["feature/chat", "team/search", "env/prod", "customer/acme",
                              "_user/u1"]
    # a body with no tags at all is forwarded as the very bytes sent
    assert asyncio.run(through_proxy(proxy, body(metadata={"trace": "t"}), {})) == 200
    assert up.seen[-1]["body"] == body(metadata={"trace": "t"})
