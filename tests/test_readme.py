"""The README's examples run as written, and CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_readme_python_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # examples may write files
    ns: dict = {"__name__": "__readme__"}
    blocks = _blocks("python")
    assert blocks, "the README has no Python example"
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"README.md python block {i + 1}", "exec"), ns)
        except Exception as exc:  # pragma: no cover - shows which block failed
            pytest.fail(f"README python block {i + 1} failed: {exc!r}")
    assert "customer/acme" in capsys.readouterr().out


def test_readme_has_the_two_commands_and_ci_runs_the_test_one():
    bash = _blocks("bash")
    assert any("tagcore report" in b and "pip install" in b for b in bash)
    test_cmd = [b for b in bash if "pytest" in b]
    assert test_cmd, "the README shows no test command"
    ci = (ROOT / ".ci" / "run").read_text()
    # CI runs the README's install + pytest command
    assert "pip install -e '.[test]'" in test_cmd[0] and "pip install -e '.[test]'" in ci
    assert "python -m pytest" in test_cmd[0] and "python -m pytest" in ci
