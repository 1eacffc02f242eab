"""Gateway hot path: extract_tags on a realistic chat body, and normalize_tags.

Run: ``python -m pytest benchmarks/bench_gateway.py --benchmark-only -q``. The goal is under
5 microseconds per ``extract_tags`` call on a dict body with 3 tags and no headers. Tags repeat
from call to call, as they do at a gateway, so the normalization cache is warm.
"""

from __future__ import annotations

import json

import pytest

from tagcore.gateway import extract_tags
from tagcore.tags import normalize_tags

TAGS = ["customer/acme", "env/production", "feature/chat"]
BODY = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
        {"role": "user", "content": "Summarise our Q3 cloud spend by team in three bullets."},
    ],
    "temperature": 0.2,
    "request_tags": TAGS,
}
BODY_BYTES = json.dumps(BODY).encode()
HEADERS = {
    "content-type": "application/json",
    "authorization": "Bearer sk-test",
    "user-agent": "openai-python/1.50.0",
    "x-request-tags": "asia, team/platform",
}
ASGI_HEADERS = [(k.encode(), v.encode()) for k, v in HEADERS.items()]


@pytest.mark.benchmark(group="extract_tags")
def test_extract_tags_dict_body(benchmark):
    tags, fwd = benchmark(extract_tags, BODY)
    assert tags == TAGS and "request_tags" not in fwd


@pytest.mark.benchmark(group="extract_tags")
def test_extract_tags_dict_body_with_defaults(benchmark):
    tags, _ = benchmark(extract_tags, BODY, None, ("key/k1",))
    assert tags == [*TAGS, "key/k1"]


@pytest.mark.benchmark(group="extract_tags")
def test_extract_tags_bytes_body(benchmark):
    tags, _ = benchmark(extract_tags, BODY_BYTES)
    assert tags == TAGS


@pytest.mark.benchmark(group="extract_tags")
def test_extract_tags_dict_body_with_header(benchmark):
    tags, _ = benchmark(extract_tags, BODY, HEADERS)
    assert tags == [*TAGS, "asia", "team/platform"]


@pytest.mark.benchmark(group="extract_tags")
def test_extract_tags_dict_body_with_asgi_headers(benchmark):
    tags, _ = benchmark(extract_tags, BODY, ASGI_HEADERS)
    assert tags == [*TAGS, "asia", "team/platform"]


@pytest.mark.benchmark(group="normalize_tags")
def test_normalize_tags_3(benchmark):
    assert benchmark(normalize_tags, TAGS) == TAGS


@pytest.mark.benchmark(group="normalize_tags")
def test_normalize_tags_64_distinct(benchmark):
    tags = [f"customer/c{i:03d}" for i in range(64)]
    assert benchmark(normalize_tags, tags) == tags
