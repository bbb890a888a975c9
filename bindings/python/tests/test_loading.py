"""Finding the library, version checks, typing marker."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import peerwire

PKG = Path(peerwire.__file__).resolve().parent


def test_version():
    v = peerwire.library_version()
    assert v.count(".") == 2
    assert v.startswith("0.1.")
    assert os.path.exists(peerwire.library_path())


def test_typed_package():
    assert (PKG / "py.typed").exists()


def test_only_ffi_touches_ctypes():
    for f in PKG.glob("*.py"):
        if f.name != "_ffi.py":
            text = f.read_text()
            assert "import ctypes" not in text and "from ctypes" not in text, f.name


def _import_in(tmp_path, env_lib, code="import peerwire"):
    """Import a copy of the package that has no library next to it and no repo around it."""
    dest = tmp_path / "a" / "b" / "c" / "peerwire"
    if not dest.exists():
        shutil.copytree(PKG, dest, ignore=shutil.ignore_patterns("*.so", "*.dylib", "__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in ("PEERWIRE_LIBRARY", "PYTHONPATH")}
    if env_lib is not None:
        env["PEERWIRE_LIBRARY"] = env_lib
    env["LD_LIBRARY_PATH"] = ""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=dest.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_missing_library_says_where_it_looked(tmp_path):
    r = _import_in(tmp_path, None)
    assert r.returncode != 0
    err = r.stderr
    assert "ImportError" in err
    assert "PEERWIRE_LIBRARY" in err
    assert "next to the package" in err
    assert "make lib" in err


def test_bad_env_var_is_reported(tmp_path):
    r = _import_in(tmp_path, str(tmp_path / "nope.so"))
    assert r.returncode != 0
    assert "nope.so" in r.stderr and "make lib" in r.stderr


def test_env_var_is_used(tmp_path):
    code = "import peerwire; print(peerwire.library_path())"
    r = _import_in(tmp_path, peerwire.library_path(), code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == peerwire.library_path()
