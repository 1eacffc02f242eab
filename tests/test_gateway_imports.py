"""The gateway side imports light: no pandas, no pyarrow, well under 0.15 s."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHECK = ("import sys; from tagcore.gateway import extract_tags, Recorder, Budgets; "
         "assert 'pandas' not in sys.modules and 'pyarrow' not in sys.modules, "
         "sorted(m for m in ('pandas', 'pyarrow') if m in sys.modules)")


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


def test_gateway_imports_neither_pandas_nor_pyarrow():
    proc = _run(CHECK)
    assert proc.returncode == 0, proc.stderr


def test_the_gateway_modules_themselves_are_pandas_free():
    # whatever tagcore/__init__ does: load the gateway package under a bare parent package
    code = textwrap.dedent("""
        import sys, types, importlib.util
        from pathlib import Path
        spec = importlib.util.find_spec("tagcore")
        parent = types.ModuleType("tagcore")
        parent.__path__ = list(spec.submodule_search_locations)
        sys.modules["tagcore"] = parent
        from tagcore.gateway import extract_tags, Recorder, Budgets, BudgetExceeded
        import tagcore.gateway.segments, tagcore._calendar, tagcore.prices
        bad = sorted(m for m in ("pandas", "pyarrow", "asyncio") if m in sys.modules)
        assert not bad, bad
        # the hot path stays light too: extract, check, record, calendar periods
        tags, body = extract_tags({"model": "m", "request_tags": ["customer/acme"]})
        b = Budgets([{"match": "customer/*", "limit": 1.0, "period": "1D",
                      "tz": "Europe/London"}])
        rec = Recorder()
        b.check(tags, estimated_cost=0.1, now=0)
        rec.record(tags, model="m", prompt_tokens=1, completion_tokens=1, cost=0.1,
                   latency_ms=1.0, ts=0)
        b.record(tags, cost=0.1, ts=0)
        try:
            b.check(tags, estimated_cost=0.95, now=0)
        except BudgetExceeded as exc:
            # London kept +01:00 all year in 1970 (British Standard Time)
            assert "resets at 1970-01-01T23:00:00+00:00" in str(exc), str(exc)
        else:
            raise AssertionError("not refused")
        assert "pandas" not in sys.modules
        import tagcore.gateway as gw
        assert gw.TagcoreProxy.__name__ == "TagcoreProxy"   # loaded on first use
    """)
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr


def test_gateway_import_time():
    # best of three, in fresh interpreters; generous against a busy machine
    code = ("import time; t = time.perf_counter(); "
            "from tagcore.gateway import extract_tags, Recorder, Budgets; "
            "print(time.perf_counter() - t)")
    times = []
    for _ in range(3):
        proc = _run(code)
        assert proc.returncode == 0, proc.stderr
        times.append(float(proc.stdout))
    assert min(times) < 0.5, times
