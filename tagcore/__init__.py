"""tagcore: usage and cost analytics of LLM request logs by request tags.

>>> import tagcore as tc
>>> tc.__version__
'0.1.0'
"""

from tagcore import _kernels  # noqa: F401  (fails early, clearly, on a missing build)
from tagcore.asgi import TagcoreProxy
from tagcore.budgets import BudgetExceeded, Budgets
from tagcore.filters import Filter, FilterSyntaxError, exact, glob, parse_filter, tag
from tagcore.formats import (
    FormatError,
    read_helicone_export,
    read_langfuse_observations,
    read_langfuse_traces,
    read_litellm_spend_logs,
    read_openai_log,
    read_openrouter_activity,
)
from tagcore.gateway import extract_tags, parse_tags_header
from tagcore.io import (
    from_arrow,
    read_any,
    read_csv,
    read_jsonl,
    read_parquet,
    source_size,
)
from tagcore.log import LogError, RequestLog, dollars_to_nanos
from tagcore.prices import PriceTable
from tagcore.recorder import Recorder, RecorderWarning, read_recorded
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

__version__ = "0.1.0"

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
    "RequestLog",
    "from_arrow",
    "read_any",
    "read_csv",
    "read_jsonl",
    "read_parquet",
    "source_size",
    "dollars_to_nanos",
    "DroppedTag",
    "NormalizedTags",
    "TagError",
    "TagPolicy",
    "extract_tags",
    "normalize_tag",
    "normalize_tags",
    "parse_tags_header",
    "tags_from_mapping",
    "PriceTable",
    "FormatError",
    "read_helicone_export",
    "read_langfuse_observations",
    "read_langfuse_traces",
    "read_litellm_spend_logs",
    "read_openai_log",
    "read_openrouter_activity",
    "load_sample",
    "Recorder",
    "RecorderWarning",
    "read_recorded",
    "Budgets",
    "BudgetExceeded",
    "TagcoreProxy",
]
