"""Seeded, vectorized generator of realistic LLM request logs for the benchmarks.

One row per request, 30 days of traffic, a dozen models with Zipf-like popularity and list
prices, lognormal tokens and latency, ~2% errors, and about 3 request tags per request
(0 to 8, ~5% untagged) drawn from the families

- ``customer/cNNNNN`` (Zipf over 20,000 customers; ``c00001`` is the most popular), sometimes a
  second customer, sometimes a sub-path ``customer/cNNNNN/<project>`` of the same customer;
- ``feature/<50 names>`` (zero, one or two distinct features);
- ``env/{production,staging,dev}``;
- ``org/<org>/<team>/<project>``;
- geo paths ``Country/Region/City`` at depth 1 to 3, sometimes together with an ancestor;
- flat tags (``asia``, ``beta``, ...).

No request carries the same tag twice. Everything is numpy; no Python loop over rows. The
``request_tags`` column is an Arrow ``list<string>`` built from offsets and a values array.

>>> t = generate(1000, seed=1)
>>> t.num_rows, t.column_names[:3]
(1000, ['ts', 'model', 'prompt_tokens'])
>>> generate(50, seed=3).equals(generate(50, seed=3))
True
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["generate", "write_parquet", "dataset", "CACHE_DIR", "START", "DAYS"]

CACHE_DIR = Path(__file__).resolve().parent / ".cache"
START = np.datetime64("2025-03-01T00:00:00", "ns")
DAYS = 30
_NS_PER_DAY = 86_400 * 10**9
SCHEMA_VERSION = 1  # bump when the generator changes, so cached files are rebuilt

# (model, $ per 1M prompt tokens, $ per 1M completion tokens, ms per completion token)
MODELS = [
    ("openai/gpt-4o-mini", 0.15, 0.60, 9.0),
    ("openai/gpt-4o", 2.50, 10.00, 14.0),
    ("anthropic/claude-3.5-sonnet", 3.00, 15.00, 16.0),
    ("google/gemini-1.5-flash", 0.075, 0.30, 6.0),
    ("openai/gpt-4.1-mini", 0.40, 1.60, 10.0),
    ("anthropic/claude-3.5-haiku", 0.80, 4.00, 9.0),
    ("meta-llama/llama-3.1-70b-instruct", 0.12, 0.30, 12.0),
    ("google/gemini-1.5-pro", 1.25, 5.00, 15.0),
    ("openai/gpt-4.1", 2.00, 8.00, 15.0),
    ("mistralai/mistral-large", 2.00, 6.00, 13.0),
    ("openai/o3-mini", 1.10, 4.40, 11.0),
    ("anthropic/claude-3-opus", 15.00, 75.00, 30.0),
]

N_CUSTOMERS = 20_000
N_PROJECT_CUSTOMERS = 500  # only the largest customers tag projects: customer/cNNNNN/<project>
CUSTOMER_PROJECTS = ["sandbox", "prod-app", "batch"]
FEATURES = [
    "chat", "search", "summarize", "translate", "classify", "extract", "embed-rerank", "autocomplete",
    "code-review", "codegen", "sql-gen", "email-draft", "support-bot", "faq", "onboarding", "moderation",
    "sentiment", "tagging", "ocr-cleanup", "meeting-notes", "agent-planner", "agent-tools", "rag-answer",
    "rag-rewrite", "title-gen", "keyword-gen", "spellcheck", "tone-rewrite", "legal-review", "contract-qa",
    "invoice-parse", "resume-screen", "product-desc", "seo-copy", "ad-copy", "social-post", "tutor",
    "quiz-gen", "grading", "voice-transcript", "call-summary", "crm-enrich", "lead-score", "churn-explain",
    "report-gen", "chart-explain", "data-clean", "schema-map", "test-gen", "doc-gen",
]
ENVS = (["production", "staging", "dev"], [0.72, 0.18, 0.10])
ORGS = {
    "acme": ["platform", "growth", "data", "support"],
    "globex": ["research", "apps", "infra"],
    "initech": ["finance", "ops", "web", "mobile", "ml"],
    "umbrella": ["bio", "labs"],
    "hooli": ["search", "ads", "cloud", "devx"],
    "stark": ["rnd", "product", "security"],
    "wayne": ["analytics", "risk"],
    "tyrell": ["replicants", "ux", "qa", "backend"],
}
ORG_PROJECTS = ["alpha", "beta", "gamma", "delta", "omega"]
GEO = {
    "US": {"California": ["San Francisco", "Los Angeles", "San Diego"], "New York": ["New York City", "Buffalo"],
           "Texas": ["Austin", "Houston", "Dallas"], "Washington": ["Seattle", "Spokane"]},
    "UK": {"England": ["London", "Manchester", "Bristol"], "Scotland": ["Edinburgh", "Glasgow"]},
    "DE": {"Bavaria": ["Munich", "Nuremberg"], "Berlin": ["Berlin"], "Hesse": ["Frankfurt", "Wiesbaden"]},
    "FR": {"Ile-de-France": ["Paris", "Versailles"], "Auvergne-Rhone-Alpes": ["Lyon", "Grenoble"]},
    "JP": {"Kanto": ["Tokyo", "Yokohama"], "Kansai": ["Osaka", "Kyoto", "Kobe"]},
    "IN": {"Karnataka": ["Bengaluru", "Mysuru"], "Maharashtra": ["Mumbai", "Pune"]},
    "BR": {"Sao Paulo": ["Sao Paulo", "Campinas"], "Rio de Janeiro": ["Rio de Janeiro", "Niteroi"]},
    "CA": {"Ontario": ["Toronto", "Ottawa"], "Quebec": ["Montreal", "Quebec City"],
           "British Columbia": ["Vancouver", "Victoria"]},
    "AU": {"New South Wales": ["Sydney", "Newcastle"], "Victoria": ["Melbourne", "Geelong"]},
    "SG": {"Central": ["Singapore"]},
}
FLAT = ["asia", "beta", "europe", "internal", "premium", "free-tier", "canary", "vip", "trial",
        "experiment", "latency-sensitive", "eval"]

# probability that a tagged request carries a tag of each slot
P_CUSTOMER, P_FEATURE, P_FEATURE2, P_ENV, P_ORG, P_GEO, P_FLAT, P_EXTRA = (
    0.85, 0.55, 0.25, 0.65, 0.25, 0.30, 0.30, 0.08)
P_UNTAGGED = 0.05
N_SLOTS = 8  # customer, extra, feature, feature2, env, org, geo, flat
N_PERMS = 64  # random slot orders, so tag order varies between requests


def _zipf_p(k: int, s: float) -> np.ndarray:
    w = 1.0 / np.arange(1, k + 1, dtype=np.float64) ** s
    return w / w.sum()


def _vocabulary():
    """The tag strings and, for each family, the offset of its first entry."""
    vocab: list[str] = []
    off: dict[str, int] = {}

    def add(name, items):
        off[name] = len(vocab)
        vocab.extend(items)

    add("customer", [f"customer/c{i:05d}" for i in range(1, N_CUSTOMERS + 1)])
    add("custproj", [f"customer/c{i:05d}/{p}" for i in range(1, N_PROJECT_CUSTOMERS + 1)
                     for p in CUSTOMER_PROJECTS])
    add("feature", [f"feature/{f}" for f in FEATURES])
    add("env", [f"env/{e}" for e in ENVS[0]])
    add("org", [f"org/{o}/{t}/{p}" for o, teams in ORGS.items() for t in teams for p in ORG_PROJECTS])
    # geo: every city with its region and country; depth-d tag of city i is geo_d[i]
    cities = [(c, r, city) for c, regions in GEO.items() for r, cs in regions.items() for city in cs]
    geo_paths = sorted({"/".join(x[:d]) for x in cities for d in (1, 2, 3)})
    add("geo", geo_paths)
    gidx = {p: i for i, p in enumerate(geo_paths)}
    geo_by_depth = np.array([[gidx["/".join(x[:d])] for x in cities] for d in (1, 2, 3)], dtype=np.int32)
    add("flat", list(FLAT))
    return vocab, off, geo_by_depth


def _tag_slots(rng: np.random.Generator, n: int):
    """An (n, N_SLOTS) int32 matrix of vocabulary ids, -1 for an empty slot."""
    vocab, off, geo_by_depth = _vocabulary()
    m = np.full((n, N_SLOTS), -1, dtype=np.int32)
    tagged = rng.random(n) >= P_UNTAGGED

    def draw(p):
        return tagged & (rng.random(n) < p)

    # customer (Zipf over 20k, rank 1 = c00001)
    has_c = draw(P_CUSTOMER)
    cust = rng.choice(N_CUSTOMERS, size=n, p=_zipf_p(N_CUSTOMERS, 1.0)).astype(np.int32)
    m[:, 0] = np.where(has_c, off["customer"] + cust, -1)
    # features: zero, one or two distinct
    fp = _zipf_p(len(FEATURES), 0.8)
    f1 = rng.choice(len(FEATURES), size=n, p=fp).astype(np.int32)
    f2 = (f1 + 1 + rng.integers(0, len(FEATURES) - 1, size=n, dtype=np.int32)) % len(FEATURES)
    has_f = draw(P_FEATURE)
    has_f2 = has_f & (rng.random(n) < P_FEATURE2)
    m[:, 2] = np.where(has_f, off["feature"] + f1, -1)
    m[:, 3] = np.where(has_f2, off["feature"] + f2, -1)
    # env
    env = rng.choice(3, size=n, p=ENVS[1]).astype(np.int32)
    m[:, 4] = np.where(draw(P_ENV), off["env"] + env, -1)
    # org/<org>/<team>/<project>
    n_org = off["geo"] - off["org"]
    org = rng.choice(n_org, size=n, p=_zipf_p(n_org, 0.7)).astype(np.int32)
    m[:, 5] = np.where(draw(P_ORG), off["org"] + org, -1)
    # geo at depth 1..3
    n_city = geo_by_depth.shape[1]
    city = rng.choice(n_city, size=n, p=_zipf_p(n_city, 0.6))
    depth = rng.choice(3, size=n, p=[0.3, 0.3, 0.4])
    has_g = draw(P_GEO)
    m[:, 6] = np.where(has_g, off["geo"] + geo_by_depth[depth, city], -1)
    # flat
    flat = rng.integers(0, len(FLAT), size=n, dtype=np.int32)
    m[:, 7] = np.where(draw(P_FLAT), off["flat"] + flat, -1)
    # extra: a second customer, a project under the same customer, or an ancestor of the geo tag
    kind = rng.integers(0, 3, size=n)
    has_x = draw(P_EXTRA)
    cust2 = rng.choice(N_CUSTOMERS, size=n, p=_zipf_p(N_CUSTOMERS, 1.0)).astype(np.int32)
    cust2 = np.where(cust2 == cust, (cust2 + 1) % N_CUSTOMERS, cust2)
    proj = rng.integers(0, len(CUSTOMER_PROJECTS), size=n, dtype=np.int32)
    anc_depth = np.maximum(depth - 1 - rng.integers(0, 2, size=n), 0)
    extra = np.select(
        [(kind == 0) | ((kind == 1) & (cust >= N_PROJECT_CUSTOMERS)),
         (kind == 1) & has_c,
         (kind == 2) & has_g & (depth > 0)],
        [off["customer"] + cust2,
         off["custproj"] + np.minimum(cust, N_PROJECT_CUSTOMERS - 1) * len(CUSTOMER_PROJECTS) + proj,
         off["geo"] + geo_by_depth[anc_depth, city]],
        -1,
    )
    m[:, 1] = np.where(has_x, extra, -1)
    # a tagged request with no tag drawn gets a customer tag
    empty = tagged & (m < 0).all(axis=1)
    m[empty, 0] = off["customer"] + cust[empty]
    # shuffle the slot order of each request (one of N_PERMS orders)
    perms = np.argsort(rng.random((N_PERMS, N_SLOTS)), axis=1).astype(np.int8)
    m = np.take_along_axis(m, perms[rng.integers(0, N_PERMS, size=n)], axis=1)
    return m, vocab


def generate(n: int, seed: int = 0) -> pa.Table:
    """A pyarrow Table of ``n`` requests; the same ``(n, seed)`` always gives the same table."""
    n = int(n)
    rng = np.random.default_rng(seed)
    # time: 30 days, sorted, with a daily cycle
    u = rng.random(n)
    day = np.floor(u * DAYS)
    frac = (u * DAYS) - day
    frac = (frac + 0.08 * np.sin(2 * np.pi * frac)) % 1.0  # busier mid-day (UTC)
    ts_ns = np.sort((day + frac) * _NS_PER_DAY).astype(np.int64) + START.astype(np.int64)
    # model, tokens, cost
    model = rng.choice(len(MODELS), size=n, p=_zipf_p(len(MODELS), 1.1)).astype(np.int32)
    p_in = np.array([round(m[1] * 1000) for m in MODELS], dtype=np.int64)  # nano-$ per token
    p_out = np.array([round(m[2] * 1000) for m in MODELS], dtype=np.int64)
    ms_tok = np.array([m[3] for m in MODELS])
    prompt = np.clip(np.rint(rng.lognormal(6.6, 1.1, size=n)), 1, 128_000).astype(np.int64)
    completion = np.clip(np.rint(rng.lognormal(5.3, 0.9, size=n)), 1, 16_000).astype(np.int64)
    r = rng.random(n)
    status = np.full(n, 200, dtype=np.int16)
    err_codes = np.array([400, 401, 408, 429, 500, 502, 503], dtype=np.int16)
    is_err = r < 0.02
    status[is_err] = err_codes[rng.integers(0, len(err_codes), size=int(is_err.sum()))]
    completion[is_err] = 0
    cost_nanos = prompt * p_in[model] + completion * p_out[model]
    cost = cost_nanos / 1e9  # exact: np.round(cost * 1e9) == cost_nanos
    latency = (rng.lognormal(np.log(350.0), 0.5, size=n)
               + completion * ms_tok[model] * rng.lognormal(0.0, 0.25, size=n))
    latency = np.where(is_err, rng.lognormal(np.log(120.0), 0.8, size=n), latency)
    # tags: CSR straight into an Arrow ListArray, values compacted to the tags actually used
    m, vocab = _tag_slots(rng, n)
    present = m >= 0
    counts = present.sum(axis=1)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    values = m[present]  # row-major: keeps each request's order
    used = np.zeros(len(vocab), dtype=bool)
    used[values] = True
    remap = np.cumsum(used, dtype=np.int32) - 1
    dictionary = pa.array(vocab, pa.string()).filter(pa.array(used))
    tag_values = dictionary.take(pa.array(remap[values]))
    request_tags = pa.ListArray.from_arrays(pa.array(offsets), tag_values)
    model_names = pa.array([m[0] for m in MODELS], pa.string())
    return pa.table({
        "ts": pa.array(ts_ns.view("datetime64[ns]"), pa.timestamp("ns", tz="UTC")),
        "model": model_names.take(pa.array(model)),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cost": cost,
        "latency_ms": latency,
        "status": status,
        "request_tags": request_tags,
    })


def write_parquet(n: int, seed: int, path: str | os.PathLike) -> Path:
    """Generate ``n`` requests and write them to ``path`` (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = generate(n, seed)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, compression="zstd", row_group_size=1 << 20)
    os.replace(tmp, path)
    return path


def dataset(n: int, seed: int = 0) -> Path:
    """Path of the cached Parquet file of ``n`` requests, generated on first use."""
    n = int(n)
    path = CACHE_DIR / f"requests_n{n}_s{seed}_v{SCHEMA_VERSION}.parquet"
    if not path.exists():
        write_parquet(n, seed, path)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=float, default=1e6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="Parquet path (default: the cache)")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    path = write_parquet(int(a.n), a.seed, a.out) if a.out else dataset(int(a.n), a.seed)
    print(f"{path} ({path.stat().st_size / 2**20:.1f} MiB) in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
