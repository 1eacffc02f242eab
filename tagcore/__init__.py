"""tagcore: usage and cost analytics of LLM request logs by request tags.

Names resolve lazily (PEP 562): ``import tagcore`` loads the compiled kernels and little
else, so a gateway that only needs :func:`extract_tags` and :class:`Recorder` never loads
pandas or pyarrow; the analyst side loads them on first use.

>>> import tagcore as tc
>>> tc.__version__
'0.1.0'
>>> tc.RequestLog.__module__, tc.extract_tags.__module__
('tagcore.log', 'tagcore.gateway.extract')
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tagcore import _kernels  # noqa: F401  (fails early, clearly, on a missing build)

__version__ = "0.1.0"

# public name -> the module that defines it
_WHERE = {
    "TagTrie": "tagcore.trie",
    "Filter": "tagcore.filters",
    "FilterSyntaxError": "tagcore.filters",
    "exact": "tagcore.filters",
    "glob": "tagcore.filters",
    "parse_filter": "tagcore.filters",
    "tag": "tagcore.filters",
    "LogError": "tagcore.log",
    "SumOverflowError": "tagcore.log",
    "UnknownColumnError": "tagcore.log",
    "BucketLimitError": "tagcore.query",
    "UnknownPathError": "tagcore.query",
    "RequestLog": "tagcore.log",
    "dollars_to_nanos": "tagcore.coerce",
    "time_to_nanos": "tagcore.coerce",
    "parse_usage": "tagcore.coerce",
    "Usage": "tagcore.coerce",
    "TagcoreError": "tagcore.errors",
    "CoerceError": "tagcore.errors",
    "from_arrow": "tagcore.io",
    "read_any": "tagcore.io",
    "read_csv": "tagcore.io",
    "read_jsonl": "tagcore.io",
    "read_parquet": "tagcore.io",
    "source_size": "tagcore.io",
    "FormatError": "tagcore.io",
    "read_helicone_export": "tagcore.io",
    "read_langfuse_observations": "tagcore.io",
    "read_langfuse_traces": "tagcore.io",
    "read_litellm_payloads": "tagcore.io",
    "read_litellm_spend_logs": "tagcore.io",
    "read_openai_log": "tagcore.io",
    "read_openrouter_activity": "tagcore.io",
    "DroppedTag": "tagcore.tags",
    "NormalizedTags": "tagcore.tags",
    "TagError": "tagcore.tags",
    "TagPolicy": "tagcore.tags",
    "normalize_tag": "tagcore.tags",
    "normalize_tags": "tagcore.tags",
    "tags_from_mapping": "tagcore.tags",
    "extract_tags": "tagcore.gateway",
    "parse_tags_header": "tagcore.gateway",
    "Recorder": "tagcore.gateway",
    "RecorderWarning": "tagcore.gateway",
    "read_recorded": "tagcore.gateway",
    "Budgets": "tagcore.gateway",
    "BudgetExceeded": "tagcore.gateway",
    "BudgetRuleError": "tagcore.gateway",
    "Reservation": "tagcore.gateway",
    "TooManyCounters": "tagcore.gateway",
    "UnpricedModel": "tagcore.gateway",
    "TagcoreProxy": "tagcore.gateway",
    "PriceTable": "tagcore.prices",
    "load_sample": "tagcore.sample",
    "report": "tagcore.report",
    "Report": "tagcore.report",
    "set_threads": "tagcore._threads",
    "get_threads": "tagcore._threads",
    "threads": "tagcore._threads",
    "scan": "tagcore.scan",
}

__all__ = [
    "__version__",
    "TagTrie",
    "Filter",
    "FilterSyntaxError",
    "exact",
    "glob",
    "parse_filter",
    "tag",
    "LogError",
    "SumOverflowError",
    "UnknownColumnError",
    "BucketLimitError",
    "UnknownPathError",
    "RequestLog",
    "dollars_to_nanos",
    "time_to_nanos",
    "parse_usage",
    "Usage",
    "TagcoreError",
    "CoerceError",
    "from_arrow",
    "read_any",
    "read_csv",
    "read_jsonl",
    "read_parquet",
    "source_size",
    "FormatError",
    "read_helicone_export",
    "read_langfuse_observations",
    "read_langfuse_traces",
    "read_litellm_payloads",
    "read_litellm_spend_logs",
    "read_openai_log",
    "read_openrouter_activity",
    "DroppedTag",
    "NormalizedTags",
    "TagError",
    "TagPolicy",
    "normalize_tag",
    "normalize_tags",
    "tags_from_mapping",
    "extract_tags",
    "parse_tags_header",
    "Recorder",
    "RecorderWarning",
    "read_recorded",
    "Budgets",
    "BudgetExceeded",
    "BudgetRuleError",
    "Reservation",
    "TooManyCounters",
    "UnpricedModel",
    "TagcoreProxy",
    "PriceTable",
    "load_sample",
    "report",
    "Report",
    "set_threads",
    "get_threads",
    "threads",
]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'tagcore' has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


if TYPE_CHECKING:  # type checkers and IDEs see every name
    from tagcore._threads import get_threads, set_threads, threads
    from tagcore.coerce import Usage, dollars_to_nanos, parse_usage, time_to_nanos
    from tagcore.errors import CoerceError, TagcoreError
    from tagcore.filters import Filter, FilterSyntaxError, exact, glob, parse_filter, tag
    from tagcore.gateway import (
        BudgetExceeded,
        BudgetRuleError,
        Budgets,
        Recorder,
        RecorderWarning,
        Reservation,
        TagcoreProxy,
        TooManyCounters,
        UnpricedModel,
        extract_tags,
        parse_tags_header,
        read_recorded,
    )
    from tagcore.io import (
        FormatError,
        from_arrow,
        read_any,
        read_csv,
        read_helicone_export,
        read_jsonl,
        read_langfuse_observations,
        read_langfuse_traces,
        read_litellm_payloads,
        read_litellm_spend_logs,
        read_openai_log,
        read_openrouter_activity,
        read_parquet,
        source_size,
    )
    from tagcore.log import LogError, RequestLog, SumOverflowError
    from tagcore.prices import PriceTable
    from tagcore.query import BucketLimitError, UnknownPathError
    from tagcore.report import Report, report
    from tagcore.sample import load_sample
    from tagcore.tags import (
        DroppedTag,
        NormalizedTags,
        TagError,
        TagPolicy,
        normalize_tag,
        normalize_tags,
        tags_from_mapping,
    )
    from tagcore.trie import TagTrie
