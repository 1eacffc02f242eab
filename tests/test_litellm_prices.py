"""``PriceTable.from_litellm`` on LiteLLM's own bundled price map agrees with
``litellm.cost_per_token`` (the oracle: LiteLLM's billing code), request by request: plain
input/output, cache reads, cache writes, reasoning models and the long-context tiers.

LiteLLM computes in float dollars; tagcore in exact nano-dollars. They agree when tagcore's
nanos are within one nano-dollar (or 1e-9 relative) of LiteLLM's float times 1e9.
"""

from __future__ import annotations

import pytest

litellm = pytest.importorskip("litellm", reason="litellm is in the litellm extra")

from tagcore.prices import PriceTable  # noqa: E402

MODELS = [
    "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3-mini", "o1",
    "gpt-3.5-turbo", "azure/gpt-4o", "gemini-2.5-pro", "gemini/gemini-2.5-pro",
    "gemini/gemini-2.5-flash", "deepseek/deepseek-chat", "mistral/mistral-large-latest",
    "anthropic.claude-3-7-sonnet-20250219-v1:0", "anthropic.claude-sonnet-4-20250514-v1:0",
    "anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-haiku-4-5-20251001-v1:0",
    "cerebras/llama-3.3-70b", "oci/xai.grok-3",
]
#: (prompt, completion, cache read, cache write): plain, cached, cache write, past the 128k
#: and 200k tiers, tiny
USAGES = [(1000, 200, 0, 0), (1000, 200, 400, 0), (1000, 200, 0, 300), (150_000, 1000, 0, 0),
          (250_000, 1000, 20_000, 0), (1, 1, 0, 0)]


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.from_litellm(litellm.model_cost)


def test_the_bundled_map_has_the_models():
    missing = [m for m in MODELS if m not in litellm.model_cost]
    assert len(missing) <= 3, f"the bundled map lacks {missing}"  # names drift between releases


@pytest.mark.parametrize("model", MODELS)
def test_cost_agrees_with_litellm(table, model):
    if model not in litellm.model_cost:
        pytest.skip(f"{model} is not in this litellm's map")
    for p, c, cr, cw in USAGES:
        lp, lc = litellm.cost_per_token(model=model, prompt_tokens=p, completion_tokens=c,
                                        cache_read_input_tokens=cr,
                                        cache_creation_input_tokens=cw)
        want = (lp + lc) * 1e9
        got = table.cost_nanos(model, p, c, cached_tokens=cr, cache_creation_tokens=cw)
        assert got is not None, (model, p, c, cr, cw)
        assert abs(got - want) <= max(1.0, abs(want) * 1e-9), (model, (p, c, cr, cw), got, want)
