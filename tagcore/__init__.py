"""tagcore: usage and cost analytics of LLM request logs by request tags.

>>> import tagcore as tc
>>> tc.__version__
'0.1.0'
"""

from tagcore import _kernels  # noqa: F401  (fails early, clearly, on a missing build)
from tagcore.trie import TagTrie

__version__ = "0.1.0"

__all__ = ["__version__", "TagTrie"]
