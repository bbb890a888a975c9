"""The ctypes mirror of the structs matches the real header (compiled with the C compiler)."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess

import pytest
from conftest import REPO

from peerwire import _ffi

HEADER = os.path.join(REPO, "include", "peerwire.h")

STRUCTS = {
    "peerwire_event": _ffi.peerwire_event,
    "peerwire_stats": _ffi.peerwire_stats,
    "peerwire_peer_info": _ffi.peerwire_peer_info,
    "peerwire_close_report": _ffi.peerwire_close_report,
}


@pytest.mark.skipif(
    not os.path.exists(HEADER) or not shutil.which("cc"),
    reason="needs include/peerwire.h and a C compiler",
)
def test_struct_layouts_match_header(tmp_path):
    lines = [
        "#include <stdio.h>",
        "#include <stddef.h>",
        f'#include "{HEADER}"',
        "int main(void) {",
    ]
    for name, cls in STRUCTS.items():
        lines.append(f'printf("{name} size %zu\\n", sizeof({name}));')
        for field, _ in cls._fields_:
            lines.append(f'printf("{name}.{field} %zu\\n", offsetof({name}, {field}));')
    lines += ["return 0;", "}"]
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "layout"
    subprocess.run(["cc", "-o", str(exe), str(src)], check=True, timeout=60)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    c = dict(line.rsplit(" ", 1) for line in out.splitlines())
    for name, cls in STRUCTS.items():
        assert int(c[f"{name} size"]) == ctypes.sizeof(cls), name
        for field, _ in cls._fields_:
            assert int(c[f"{name}.{field}"]) == getattr(cls, field).offset, f"{name}.{field}"


@pytest.mark.skipif(not os.path.exists(HEADER), reason="needs include/peerwire.h")
def test_every_header_function_is_declared():
    import re

    text = open(HEADER).read()
    names = set(re.findall(r"\b(peerwire_[a-z0-9_]+)\s*\(", text))
    declared = set(_ffi._DECLS)
    missing = sorted(names - declared)
    assert not missing, f"functions in the header without argtypes: {missing}"
