"""The README's examples run as written, each on its own, and so do its command lines.

- Every ``python`` block runs in a fresh interpreter (a subprocess of its own, in an empty
  folder), as a reader pastes it: a block that relies on an earlier block's imports or files
  fails here.
- Every command line of the ``bash`` and ``console`` blocks is run, in order, in one empty folder
  per block: ``tagcore ...`` for real (with this environment's ``tagcore``), anything else
  (``python3 -m venv``, ``. .venv/bin/activate``, ``curl``, a ``uvicorn`` server) as written.
  ``pip install`` and the test command are only checked: well-formed, naming extras that exist in
  pyproject.toml and packages it lists (pip is never run); the test command is the one CI runs.
  Inline ``pip install`` commands of the prose are checked the same way.
- A python block whose first line is ``# NAME.py`` is the file NAME.py of the shell steps that
  use it (the README's proxy is run with ``uvicorn --factory gateway:make_proxy``).
- An HTML comment on the line before a block gives the test a directive. The only one is
  ``<!-- test: skip-if-missing NAME ... -->``: skip when a NAME is neither an importable module
  nor a command on PATH (an optional dependency such as pyarrow, uvicorn or curl). Any other
  directive fails the test, so that a typo never skips a block.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
LANGS = ("python", "bash", "console")  # every fenced block is one of these, and all are run
TIMEOUT = 300


@dataclass
class Block:
    lang: str
    code: str
    line: int  # 1-based line of the opening fence
    directives: list[list[str]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.lang}-line{self.line}"


def _parse(text: str) -> list[Block]:
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\S*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start = i
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        directives = []
        k = start - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        if k >= 0:
            d = re.fullmatch(r"\s*<!--\s*test:(.*?)-->\s*", lines[k])
            if d:
                directives.append(d.group(1).split())
        blocks.append(Block(m.group(1), "\n".join(lines[start + 1:j]) + "\n", start + 1,
                            directives))
        i = j + 1
    return blocks


BLOCKS = _parse(README)
PY = [b for b in BLOCKS if b.lang == "python"]
SHELL = [b for b in BLOCKS if b.lang in ("bash", "console")]


def _skip_if_missing(block: Block) -> None:
    for words in block.directives:
        if not words or words[0] != "skip-if-missing" or len(words) < 2:
            pytest.fail(f"README.md line {block.line - 1}: unknown test directive {words!r} "
                        "(the only one is 'skip-if-missing NAME ...')")
        missing = [n for n in words[1:]
                   if importlib.util.find_spec(n) is None and shutil.which(n) is None]
        if missing:
            pytest.skip(f"README.md line {block.line}: needs {', '.join(missing)}")


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("COLUMNS", None)
    env.pop("VIRTUAL_ENV", None)
    env.update(extra)
    return env


def _files_named_by_blocks() -> dict[str, str]:
    """Python blocks that start with ``# NAME.py``: the files the shell steps use."""
    out = {}
    for b in PY:
        m = re.match(r"#\s*([\w.-]+\.py)\s*\n", b.code)
        if m:
            out[m.group(1)] = b.code
    return out


# =============================================================================== python blocks


def test_readme_blocks_are_all_known_and_tested():
    assert len(PY) >= 5 and len(SHELL) >= 4, [b.id for b in BLOCKS]
    assert [b.id for b in BLOCKS if b.lang not in LANGS] == [], \
        "a README block with another language (or none) would go untested: tag it " \
        f"{'/'.join(LANGS)}"


@pytest.mark.parametrize("block", PY, ids=lambda b: b.id)
def test_readme_python_block_runs_alone(block, tmp_path):
    _skip_if_missing(block)
    script = tmp_path / "readme_block.py"
    script.write_text(block.code, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, encoding="utf-8", env=_env(), timeout=TIMEOUT)
    assert proc.returncode == 0, (f"README.md python block at line {block.line} fails when run "
                                  f"on its own:\n{proc.stderr}")
    if "print(" in block.code and "customer/acme" in block.code:
        assert "customer/acme" in proc.stdout


# =============================================================================== command lines


def _command_lines(block: Block) -> list[str]:
    """The block's command lines: every line of a bash block, the ``$ `` lines of a console
    block; continuation lines (ending in ``\\``) joined."""
    out: list[str] = []
    cur = ""
    for raw in block.code.splitlines():
        if block.lang == "console" and not cur:
            if not raw.startswith("$ "):
                continue  # output
            raw = raw[2:]
        if not cur and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        if raw.rstrip().endswith("\\"):
            cur += raw.rstrip()[:-1] + " "
            continue
        out.append((cur + raw).strip())
        cur = ""
    assert not cur, f"README.md line {block.line}: a command ends in a continuation"
    return out


def _segments(line: str) -> list[str]:
    """``a && b && c`` -> [a, b, c], outside quotes."""
    parts, cur, quote, i = [], "", None, 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif line.startswith("&&", i):
            parts.append(cur.strip())
            cur, i = "", i + 2
            continue
        cur += c
        i += 1
    parts.append(cur.strip())
    assert all(parts), f"empty command in {line!r}"
    return parts


def _words(segment: str) -> list[str]:
    return shlex.split(segment, comments=True)


def _pyproject() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _req_name(req: str) -> str:
    return re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req).group(1).lower()


PIP_OPTIONS = {"-e", "--editable", "--no-build-isolation", "-q", "--quiet", "-U", "--upgrade"}


def check_pip(words: list[str]) -> None:
    """A ``pip install`` command is well-formed: known options, targets that are this project
    (``.`` or ``tagcore``) with extras pyproject.toml defines, or packages pyproject.toml lists."""
    if words[:3] == ["python", "-m", "pip"]:
        words = ["pip", *words[3:]]
    assert words[:2] == ["pip", "install"] and len(words) > 2, words
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    listed = {_req_name(r) for r in project["dependencies"]}
    listed |= {_req_name(r) for reqs in extras.values() for r in reqs}
    args = words[2:]
    targets = []
    for k, w in enumerate(args):
        if w.startswith("-"):
            assert w in PIP_OPTIONS, f"unknown pip option {w!r} in {' '.join(words)}"
            if w in ("-e", "--editable"):
                assert k + 1 < len(args) and not args[k + 1].startswith("-"), words
        else:
            targets.append(w)
    assert targets, f"pip install of nothing: {' '.join(words)}"
    for t in targets:
        m = re.fullmatch(r"(\.|[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[([A-Za-z0-9_,.-]*)\])?", t)
        assert m, f"not a requirement: {t!r} in {' '.join(words)}"
        name, ext = m.group(1), m.group(2)
        if name in (".", "tagcore"):
            for e in (ext.split(",") if ext else []):
                assert e in extras, f"pip install {t!r}: pyproject.toml has no extra {e!r}"
        else:
            assert ext is None, t
            assert name.lower() in listed, f"pip install {name!r}: not a dependency of tagcore"


def check_test_command(words: list[str]) -> None:
    """The README's test command is what CI runs (it is not run here: this is that run)."""
    assert words[:3] == ["python", "-m", "pytest"], words
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert " ".join(words) in ci, f"CI does not run {' '.join(words)!r}"


def _tagcore_path(tmp: Path) -> str:
    """PATH with this environment's ``tagcore`` first (a shim when the script is elsewhere)."""
    bindir = Path(sys.executable).parent
    if not (bindir / "tagcore").exists():
        bindir = tmp / ".readme-bin"
        bindir.mkdir(exist_ok=True)
        shim = bindir / "tagcore"
        shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m tagcore "$@"\n')
        shim.chmod(0o755)
    return f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"


def _check_tagcore_output(words: list[str], proc: subprocess.CompletedProcess,
                          cwd: Path) -> None:
    """Beyond exit status 0: machine output parses, files named by -o appear."""
    html = words[words.index("--html") + 1] if "--html" in words else None
    if html is not None:  # the report page: one line saying where, and the file
        assert proc.stdout.startswith(f"wrote {html} ") and (cwd / html).stat().st_size > 0
        return
    out = words[words.index("-o") + 1] if "-o" in words else None
    if out is not None:
        assert proc.stdout == "" and (cwd / out).stat().st_size > 0
        return
    assert proc.stdout.strip(), f"{' '.join(words)} printed nothing"
    fmt = words[words.index("--format") + 1] if "--format" in words else "table"
    if fmt == "json":
        text = proc.stdout.strip()
        if words[1] == "filter":
            [json.loads(x) for x in text.splitlines()]
        else:
            json.loads(text)
    elif fmt == "csv":
        import csv
        import io

        rows = list(csv.reader(io.StringIO(proc.stdout)))
        assert len(rows) >= 2 and len({len(r) for r in rows}) == 1
    else:
        assert proc.stdout.startswith(f"tagcore {words[1]}:")


def run_command_line(line: str, cwd: Path, *, env: dict[str, str] | None = None) -> list[str]:
    """Run (or check) one README command line in ``cwd``; returns what was done with each part.

    ``tagcore`` parts run with this environment's tagcore; the other parts run together in one
    bash, in order (so that ``. .venv/bin/activate`` applies to what follows it)."""
    env = env or _env()
    done, shell_parts = [], []
    for seg in _segments(line):
        words = _words(seg)
        if words[0] == "pip" or words[:3] == ["python", "-m", "pip"]:
            check_pip(words)
            done.append(f"checked: {seg}")
        elif words[:3] == ["python", "-m", "pytest"]:
            check_test_command(words)
            done.append(f"checked: {seg}")
        elif words[0] == "tagcore":
            proc = subprocess.run(["bash", "-c", seg], cwd=cwd, capture_output=True, text=True,
                                  encoding="utf-8", timeout=TIMEOUT,
                                  env={**env, "PATH": _tagcore_path(cwd)})
            assert proc.returncode == 0 and "error" not in proc.stderr, \
                f"README command failed: {seg}\n{proc.stderr}"
            _check_tagcore_output(words, proc, cwd)
            done.append(f"ran: {seg}")
        else:
            shell_parts.append(seg)
    if shell_parts:
        script = " && ".join(shell_parts)
        if any(_words(s)[:2] == [".", ".venv/bin/activate"] for s in shell_parts):
            script += ' && test "$VIRTUAL_ENV" -ef .venv'  # the activation took
        proc = subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True,
                              encoding="utf-8", timeout=TIMEOUT, env=env)
        assert proc.returncode == 0, f"README command failed: {script}\n{proc.stderr}"
        done.append(f"ran: {script}")
    return done


_BASH = [b for b in SHELL if b.lang == "bash"]


@pytest.mark.parametrize("block", _BASH, ids=lambda b: b.id)
def test_readme_shell_block_runs(block, tmp_path):
    _skip_if_missing(block)
    lines = _command_lines(block)
    assert lines
    done = []
    for line in lines:
        done += run_command_line(line, tmp_path)
    assert any(d.startswith("ran: ") for d in done), done


def test_readme_inline_pip_commands_are_well_formed():
    cmds = [" ".join(c.split()) for c in re.findall(r"`((?:python -m )?pip install [^`]+)`",
                                                    README)]
    assert len(cmds) >= 3, cmds
    for c in cmds:
        for seg in _segments(c):
            words = _words(seg)
            if words[0] == "pip" or words[:3] == ["python", "-m", "pip"]:
                check_pip(words)


@pytest.mark.parametrize("bad", [
    "pip install '.[nosuchextra]'",
    "pip install 'tagcore[gateway,nope]'",
    "pip install --frobnicate .",
    "pip install notadependency",
    "pip install -e",
])
def test_pip_check_catches_mistakes(bad):
    with pytest.raises(AssertionError):
        check_pip(_words(bad))


def test_skip_directive_typos_fail():
    block = Block("python", "pass\n", 1, [["skip-if-mising", "httpx"]])
    with pytest.raises(pytest.fail.Exception):
        _skip_if_missing(block)


# =============================================================================== the proxy


class _FakeUpstream(http.server.BaseHTTPRequestHandler):
    """An OpenAI-compatible upstream on localhost: one chat completion with usage."""

    seen: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _FakeUpstream.seen.append(body)
        data = json.dumps({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1763629200,
            "model": body.get("model", "gpt-4o-mini"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"the README's server exited: {proc.stderr.read()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port}")


_CONSOLE = [b for b in SHELL if b.lang == "console"]


@pytest.mark.parametrize("block", _CONSOLE, ids=lambda b: b.id)
def test_readme_console_block_runs(block, tmp_path):
    """The console steps as written, with a local fake upstream as $UPSTREAM (no network) and a
    free port instead of 8000; a ``uvicorn`` line is a server that runs in the background while
    the later lines run, and is stopped (SIGINT, as Ctrl-C) at the end."""
    _skip_if_missing(block)
    for name, code in _files_named_by_blocks().items():
        (tmp_path / name).write_text(code, encoding="utf-8")
    lines = _command_lines(block)
    assert lines
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeUpstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    env = _env(UPSTREAM=f"http://127.0.0.1:{upstream.server_address[1]}")
    port = str(_free_port())
    servers: list[subprocess.Popen] = []
    outputs = []
    _FakeUpstream.seen.clear()
    try:
        for line in lines:
            line = re.sub(r"\b8000\b", port, line)
            if _words(line)[0] == "uvicorn":
                proc = subprocess.Popen(["bash", "-c", f"exec {line}"], cwd=tmp_path, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, start_new_session=True)
                servers.append(proc)
                _wait_for_port(int(port), proc)
                continue
            proc = subprocess.run(["bash", "-c", line], cwd=tmp_path, capture_output=True,
                                  text=True, encoding="utf-8", timeout=TIMEOUT, env=env)
            assert proc.returncode == 0, f"README command failed: {line}\n{proc.stderr}"
            outputs.append(proc.stdout)
    finally:
        for proc in servers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:  # pragma: no cover
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        upstream.shutdown()
        upstream.server_close()
    if "gateway:make_proxy" in block.code:
        # the request went through the proxy: tags stripped upstream, answered, recorded
        reply = json.loads(outputs[-1])
        assert reply["choices"][0]["message"]["content"] == "Hi!"
        assert [("request_tags" in b) for b in _FakeUpstream.seen] == [False]
        import tagcore as tc

        log = tc.read_recorded(str(tmp_path / "usage"))
        assert len(log) == 1
        assert sorted(log.tags_of(0)) == ["customer/acme", "env/prod", "feature/search"]
        assert int(log.prompt_tokens[0]) == 12 and int(log.completion_tokens[0]) == 3


# =============================================================================== CI


def test_readme_has_the_two_commands_and_ci_runs_the_test_one():
    bash = [b.code for b in BLOCKS if b.lang == "bash"]
    assert any("tagcore report" in b and "pip install" in b for b in bash)
    test_cmd = [b for b in bash if "pytest" in b]
    assert test_cmd, "the README shows no test command"
    ci = (ROOT / ".ci" / "run").read_text()
    # CI runs the README's install + pytest command
    assert "pip install -e '.[test]'" in test_cmd[0] and "pip install -e '.[test]'" in ci
    assert "python -m pytest" in test_cmd[0] and "python -m pytest" in ci
