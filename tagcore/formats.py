"""Old home of the vendor readers; they live in :mod:`tagcore.io` now (one module per vendor:
:mod:`tagcore.io.openai`, :mod:`~tagcore.io.litellm`, :mod:`~tagcore.io.helicone`,
:mod:`~tagcore.io.langfuse`, :mod:`~tagcore.io.openrouter`). Kept so that
``from tagcore.formats import read_openai_log`` keeps working.

>>> import tagcore.formats, tagcore.io
>>> tagcore.formats.read_openai_log is tagcore.io.read_openai_log
True
"""

from __future__ import annotations

from tagcore.io import (
    FormatError,
    map_key_value_tag,
    parse_helicone_export,
    parse_langfuse_observations,
    parse_langfuse_traces,
    parse_litellm_payloads,
    parse_litellm_spend_logs,
    parse_openai_log,
    parse_openrouter_activity,
    read_helicone_export,
    read_langfuse_observations,
    read_langfuse_traces,
    read_litellm_payloads,
    read_litellm_spend_logs,
    read_openai_log,
    read_openrouter_activity,
)

__all__ = [
    "FormatError",
    "map_key_value_tag",
    "parse_helicone_export",
    "parse_langfuse_observations",
    "parse_langfuse_traces",
    "parse_litellm_payloads",
    "parse_litellm_spend_logs",
    "parse_openai_log",
    "parse_openrouter_activity",
    "read_helicone_export",
    "read_langfuse_observations",
    "read_langfuse_traces",
    "read_litellm_payloads",
    "read_litellm_spend_logs",
    "read_openai_log",
    "read_openrouter_activity",
]
