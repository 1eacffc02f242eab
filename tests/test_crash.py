"""No public path can crash the interpreter: every public entry that reaches the compiled
kernels is called with hostile arrays in a subprocess, and a signal fails the test."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tagcore as tc
from tagcore import kernels

HERE = Path(__file__).parent


def test_hostile_calls_raise_and_never_signal():
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    proc = subprocess.run([sys.executable, str(HERE / "crash_cases.py")], capture_output=True,
                          text=True, env=env, timeout=600)
    lines = proc.stdout.splitlines()
    last = lines[-1] if lines else "(nothing)"
    assert proc.returncode == 0, (
        f"exit {proc.returncode} (negative: killed by signal {-proc.returncode}) during case "
        f"{last!r}\n{proc.stderr[-3000:]}")
    assert last.startswith("done ") and int(last.split()[1]) > 200


def test_every_public_kernel_has_hostile_cases():
    sys.path.insert(0, str(HERE))
    try:
        import crash_cases
    finally:
        sys.path.remove(str(HERE))
    public = {n for n, f in inspect.getmembers(kernels, inspect.isfunction)
              if not n.startswith("_") and f.__module__ in ("tagcore.kernels",
                                                            "tagcore._threads")}
    assert public - crash_cases.covered_kernels() == set()


def _log():
    return tc.RequestLog.from_records([
        {"ts": 0, "model": "m", "prompt_tokens": 1, "completion_tokens": 0, "cost": 1,
         "latency_ms": 1, "status": 200, "request_tags": ["customer/acme"]}])


def test_issue_reproduction_assignment_then_filter_raises():
    log = _log()
    with pytest.raises(AttributeError, match="immutable"):
        log.tag_ids = np.full_like(log.tag_ids, 2**30)
    assert len(log.filter("customer/acme")) == 1


def test_trusted_true_is_no_longer_a_way_around_the_checks():
    log = _log()
    bad = np.full_like(np.asarray(log.tag_ids), 2**30)
    f = tc.parse_filter("customer/acme")
    with pytest.raises(TypeError, match="trusted"):
        f.mask(log.tag_offsets, bad, log.trie, trusted=True)
    with pytest.raises(ValueError, match="not the log's own"):
        f.mask(log.tag_offsets, bad, log.trie, trusted=log)
    with pytest.raises(ValueError, match="outside"):
        f.mask(log.tag_offsets, bad, log.trie)
    assert f.mask(log.tag_offsets, log.tag_ids, log.trie, trusted=log).tolist() == [True]


def test_log_arrays_cannot_be_made_writeable():
    log = _log()
    for name in ("tag_ids", "tag_offsets", "cost", "ts"):
        arr = getattr(log, name)
        with pytest.raises(ValueError):
            arr.setflags(write=True)
        with pytest.raises(ValueError):
            arr[:] = 0
