"""Collection of the package's doctests (``testpaths`` includes ``tagcore``): a module that
needs an optional tool which is not installed is left out, as its tests skip (the tests' own
set-up is tests/conftest.py)."""

from __future__ import annotations

import importlib.util
import os

# litellm fetches its price map from GitHub when imported, unless told to use its bundled copy:
# tests never use the network
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

collect_ignore = [
    path for path, needs in (("tagcore/integrations/litellm.py", "litellm"),)
    if importlib.util.find_spec(needs) is None
]
