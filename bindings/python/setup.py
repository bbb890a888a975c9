"""Build hook: ship the C library inside the package when one was built.

``pip install ./bindings/python`` after ``make lib`` copies ``target/release/libpeerwire.so``
(or the file named by ``PEERWIRE_LIBRARY``) next to the package, so the installed package works
without environment variables. Without a built library the package installs anyway and looks
for the library at import time (see ``peerwire/_ffi.py``).
"""

import os
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

try:
    from wheel.bdist_wheel import bdist_wheel
except ImportError:  # pragma: no cover - wheel is in build-system.requires
    bdist_wheel = None

HERE = Path(__file__).resolve().parent
LIBNAME = "libpeerwire.dylib" if sys.platform == "darwin" else "libpeerwire.so"


def built_library():
    env = os.environ.get("PEERWIRE_LIBRARY")
    candidates = [Path(env)] if env else []
    candidates.append(HERE.parent.parent / "target" / "release" / LIBNAME)
    for c in candidates:
        if c.is_file():
            return c
    return None


class BuildPy(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # editable installs find target/release from the source tree
        lib = built_library()
        if lib is None:
            print(
                f"peerwire: no built {LIBNAME} found; run `make lib` first or set "
                "PEERWIRE_LIBRARY at run time",
                file=sys.stderr,
            )
            return
        dest = Path(self.build_lib) / "peerwire" / LIBNAME
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(lib, dest)


cmdclass = {"build_py": BuildPy}

if bdist_wheel is not None:

    class BdistWheel(bdist_wheel):
        def finalize_options(self):
            super().finalize_options()
            # The wheel may carry a native library: tag it for this platform.
            self.root_is_pure = built_library() is None

        def get_tag(self):
            python, abi, plat = super().get_tag()
            if not self.root_is_pure:
                python, abi = "py3", "none"
            return python, abi, plat

    cmdclass["bdist_wheel"] = BdistWheel

setup(cmdclass=cmdclass)
