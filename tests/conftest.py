"""Shared test set-up: where the shared data folder is, and the hypothesis profiles.

Shared data
    Real traces and vendor exports live beside the repository, in ``../shared/data`` (CI
    copies ``shared/`` next to its fresh clone; a user's clone has none). It is looked for once,
    here: ``$TAGCORE_SHARED_DATA`` when set, else ``../shared/data`` from the repository root.
    Tests ask for the ``shared_data`` fixture (the folder) or ``shared_file`` (one file in it);
    both skip with the reason when it is not there.

Hypothesis profiles
    ``dev`` (30 examples a test, hypothesis' usual deadline) for quick runs, ``ci`` (200
    examples, no deadline, random seeds, failing examples printed as reproduction blobs) for
    CI. ``$HYPOTHESIS_PROFILE`` picks one; without it, ``ci`` when ``$CI`` is ``true`` and
    ``dev`` otherwise. A test's own ``@settings(max_examples=...)`` still wins.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings

# ------------------------------------------------------------------------------ hypothesis

settings.register_profile("dev", max_examples=30)
settings.register_profile("ci", max_examples=200, deadline=None, derandomize=False,
                          print_blob=True)
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or (
    "ci" if os.environ.get("CI", "").strip().lower() == "true" else "dev")
settings.load_profile(HYPOTHESIS_PROFILE)


def pytest_report_header(config: pytest.Config) -> list[str]:
    where = SHARED_DATA if SHARED_DATA is not None else f"not found ({SHARED_DATA_MISSING})"
    return [f"hypothesis profile: {HYPOTHESIS_PROFILE}", f"shared data: {where}"]


# ------------------------------------------------------------------------------ shared data

REPO = Path(__file__).resolve().parents[1]


def _find_shared_data() -> tuple[Path | None, str]:
    """The shared data folder, or ``None`` and why it was not found."""
    env = os.environ.get("TAGCORE_SHARED_DATA", "").strip()
    if env:
        path = Path(env).expanduser().resolve()
        if path.is_dir():
            return path, ""
        return None, f"TAGCORE_SHARED_DATA={env!r} is not a folder"
    path = (REPO.parent / "shared" / "data").resolve()
    if path.is_dir():
        return path, ""
    return None, (f"no shared data folder at {path} (a user's clone has none; set "
                  "TAGCORE_SHARED_DATA to point at one)")


SHARED_DATA, SHARED_DATA_MISSING = _find_shared_data()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder (``../shared/data``); skips the test when it is absent."""
    if SHARED_DATA is None:
        pytest.skip(SHARED_DATA_MISSING)
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_file(shared_data: Path) -> Callable[..., Path]:
    """``shared_file("formats", "openai", "x.jsonl")``: a file in the shared data folder; skips
    the test when the folder or the file is absent."""

    def find(*parts: str) -> Path:
        path = shared_data.joinpath(*parts)
        if not path.exists():
            pytest.skip(f"shared data file not found: {path}")
        return path

    return find
