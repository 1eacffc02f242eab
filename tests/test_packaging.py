"""The package a user installs: a wheel without Cython's generated C and with stripped kernels;
an sdist that keeps the Cython sources.

Both are built from a copy of this checkout in a temporary folder (never in place, so the
shared build others test against stays as it is), without build isolation, so the tests need
setuptools, wheel, Cython and numpy in the running environment and skip otherwise. The normal
build is checked, whatever ``TAGCORE_CYTHON_DEBUG`` says here. The ELF section names are read
with a few lines of Python, so ``readelf`` is not needed; on other platforms the ``.so`` check
skips.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BUILD_TOOLS = ("setuptools", "wheel", "Cython", "numpy")
#: what Cython and the compiler leave beside the sources; none of it belongs in a package
GENERATED = (".c", ".cpp", ".html", ".o")
#: the report's own page assets (``*.html`` there is the report's template, not Cython's)
REPORT_ASSETS = sorted(p.relative_to(ROOT).as_posix() for ext in ("*.js", "*.html", "*.css")
                       for p in (ROOT / "tagcore" / "report").glob(ext))


def _leaked(names):
    return [n for n in names if n.endswith(GENERATED) and n not in REPORT_ASSETS]


def _need_build_tools() -> None:
    """Skip unless this environment can build without isolation: the modules are there, in
    the versions ``[build-system] requires`` asks for (a fresh 3.11 venv has setuptools 65)."""
    if not (ROOT / "setup.py").is_file():
        pytest.skip("not a source checkout (no setup.py beside tests/)")
    missing = [m for m in BUILD_TOOLS if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"building needs {', '.join(missing)} (tests build without isolation)")
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    from packaging.requirements import Requirement

    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    for req in map(Requirement, requires):
        try:
            have = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            pytest.skip(f"building needs {req} (tests build without isolation)")
        if not req.specifier.contains(have, prereleases=True):
            pytest.skip(f"building needs {req}, this environment has {req.name} {have}")


def _source_copy(dest: Path) -> Path:
    """The files a build reads, copied from the checkout; the generated C stays in (a tree
    after ``pip install -e .`` has it beside the ``.pyx``, and it must not leak into the wheel)
    but built extensions, caches and build folders do not."""
    src = dest / "src"
    src.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md", "MANIFEST.in", "LICENSE"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "tagcore", src / "tagcore", ignore=shutil.ignore_patterns(
        "*.so", "*.pyd", "*.o", "__pycache__", "*.egg-info", "build"))
    return src


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TAGCORE_CYTHON_DEBUG", None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    _need_build_tools()
    tmp = tmp_path_factory.mktemp("wheel")
    src = _source_copy(tmp)
    out = tmp / "dist"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps",
                        "--no-build-isolation", "-q", "-w", str(out)],
                       capture_output=True, text=True, env=_env(), timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (whl,) = out.glob("tagcore-*.whl")
    return whl


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> Path:
    _need_build_tools()
    tmp = tmp_path_factory.mktemp("sdist")
    src = _source_copy(tmp)
    out = tmp / "dist"
    code = ("import sys; from setuptools import build_meta as b; "
            "print(b.build_sdist(sys.argv[1]))")
    r = subprocess.run([sys.executable, "-c", code, str(out)], cwd=src, capture_output=True,
                       text=True, env=_env(), timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out / r.stdout.strip().splitlines()[-1]


def elf_section_names(data: bytes) -> list[str]:
    """Section names of an ELF file (32 or 64 bit, either byte order)."""
    if data[:4] != b"\x7fELF":
        raise ValueError("not an ELF file")
    bits64, end = data[4] == 2, "<" if data[5] == 1 else ">"
    if bits64:
        (shoff,) = struct.unpack_from(end + "Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x3A)
        off_fmt, off_at = "Q", 0x18
    else:
        (shoff,) = struct.unpack_from(end + "I", data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x2E)
        off_fmt, off_at = "I", 0x10

    def header(i: int) -> tuple[int, int]:
        base = shoff + i * shentsize
        (name,) = struct.unpack_from(end + "I", data, base)
        (offset,) = struct.unpack_from(end + off_fmt, data, base + off_at)
        return name, offset

    _, strtab = header(shstrndx)
    names = []
    for i in range(shnum):
        name, _ = header(i)
        start = strtab + name
        names.append(data[start:data.index(b"\0", start)].decode("ascii"))
    return names


def test_wheel_ships_no_generated_files(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    leaked = _leaked(names)
    assert not leaked, f"generated files in the wheel: {leaked}"
    missing = [a for a in REPORT_ASSETS if a not in names]
    assert not missing, f"report assets missing from the wheel: {missing}"
    pyx = sorted(p.stem for p in (ROOT / "tagcore" / "_kernels").glob("*.pyx"))
    built = sorted(Path(n).name.split(".")[0] for n in names
                   if n.startswith("tagcore/_kernels/") and n.endswith((".so", ".pyd")))
    assert built == pyx, "one compiled extension per .pyx"
    assert "tagcore/py.typed" in names


def test_wheel_extensions_are_stripped(wheel):
    with zipfile.ZipFile(wheel) as z:
        libs = [n for n in z.namelist() if n.endswith(".so")]
        if not libs:
            pytest.skip("no ELF extensions on this platform")
        for n in libs:
            sections = elf_section_names(z.read(n))
            assert ".text" in sections  # the parser read the real table
            debug = [s for s in sections if s.startswith((".debug", ".zdebug"))]
            assert not debug, f"{n} carries debug sections {debug}"
            assert ".symtab" not in sections, f"{n} is not stripped"


def test_sdist_keeps_the_cython_sources(sdist):
    with tarfile.open(sdist) as t:
        names = {Path(*Path(n).parts[1:]).as_posix() for n in t.getnames()}
    sources = {p.relative_to(ROOT).as_posix() for ext in ("*.pyx", "*.pxd", "*.pyi")
               for p in (ROOT / "tagcore").rglob(ext)}
    assert sources and sources <= names, f"missing from the sdist: {sorted(sources - names)}"
    assert {"setup.py", "pyproject.toml", "tagcore/py.typed"} <= names
    leaked = _leaked(names)
    assert not leaked, f"generated files in the sdist: {leaked}"
