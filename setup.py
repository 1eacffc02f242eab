"""Build the Cython kernels of tagcore.

Directives are set once here. ``TAGCORE_CYTHON_DEBUG=1`` rebuilds the kernels with bounds
checks, wrap-around and initialisation checks turned back on, without optimisation and with
debug info (CI runs the kernel tests against that build too).

The normal build compiles without debug info (``-g0``, overriding the ``-g`` in Python's own
``CFLAGS``) and strips the linked extensions, and the package a user installs carries only what
runs: the C files Cython generates are build products, never package data (the sdist keeps the
``.pyx``/``.pxd``/``.pyi`` sources and regenerates them).
"""

import fnmatch
import os
import sys
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

DEBUG = os.environ.get("TAGCORE_CYTHON_DEBUG", "") not in ("", "0")

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "nonecheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

#: generated files that never go into a wheel, even when they sit beside the sources (Cython's
#: annotate pages are ``*.html`` beside the kernels; the report's ``page.html`` is package data)
GENERATED = ("*.c", "*.cpp", "*.o")
GENERATED_KERNELS = (*GENERATED, "*.html")


def _generated(path: str) -> bool:
    kernels = os.path.basename(os.path.dirname(path)) == "_kernels"
    return any(fnmatch.fnmatch(os.path.basename(path), g)
               for g in (GENERATED_KERNELS if kernels else GENERATED))


class BuildPy(build_py):
    """``build_py`` that leaves Cython's generated files out of the package data."""

    def find_data_files(self, package, src_dir):
        files = super().find_data_files(package, src_dir)
        return [f for f in files if not _generated(f)]


class SDist(sdist):
    """``sdist`` without Cython's generated C: building from the sdist runs Cython anyway
    (``cython`` is a build requirement), so the ``.pyx`` sources are what it needs."""

    def make_release_tree(self, base_dir, files):
        files = [f for f in files if not _generated(f)]
        super().make_release_tree(base_dir, files)


class BuildExt(build_ext):
    """``build_ext`` that, outside the debug build, compiles without debug info and strips.

    The flags go on per compiler: GCC and Clang on Linux take ``-g0`` and ``-s``; macOS's
    linker takes ``-Wl,-S,-x``; MSVC puts no debug info in a release build anyway. The
    extensions compile side by side, one per core, unless ``--parallel`` says otherwise.
    """

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:
            self.parallel = os.cpu_count() or 1

    def build_extensions(self):
        if not DEBUG and self.compiler.compiler_type in ("unix", "mingw32", "cygwin"):
            link = ["-Wl,-S,-x"] if sys.platform == "darwin" else ["-s"]
            for ext in self.extensions:
                ext.extra_compile_args = [*ext.extra_compile_args, "-g0"]
                ext.extra_link_args = [*ext.extra_link_args, *link]
        super().build_extensions()


here = Path(__file__).parent
extensions = [
    Extension(
        f"tagcore._kernels.{pyx.stem}",
        [str(pyx.relative_to(here))],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=(["-O0", "-g"] if DEBUG else ["-O3"]) + ["-fwrapv"],  # sums wrap, never UB
    )
    for pyx in sorted((here / "tagcore" / "_kernels").glob("*.pyx"))
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        build_dir="build/debug" if DEBUG else None,
    ),
    cmdclass={"build_py": BuildPy, "build_ext": BuildExt, "sdist": SDist},
)
