"""The only module that touches ctypes.

It finds and loads ``libpeerwire``, declares ``argtypes``/``restype`` for every C function of
``include/peerwire.h``, owns the C callback trampolines, and offers small Python functions that
do the pointer work so that the rest of the package never sees a ctypes object.

Conventions of the helpers below: they take plain Python values (``int`` handles and ids,
``bytes``, ``str``) and return the C status together with any outputs; raising exceptions is
the caller's job (``_errors.check``) because only the caller knows what the failure means.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import os
import struct
import sys
import threading
from array import array
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    byref,
    c_bool,
    c_char,
    c_char_p,
    c_int,
    c_int32,
    c_size_t,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)
from itertools import repeat
from operator import add, sub
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

# The C API version this binding is written against (major, minor).
API_VERSION = (0, 1)

# ---------------------------------------------------------------------------------------------
# Finding the library
# ---------------------------------------------------------------------------------------------

if sys.platform == "darwin":
    _LIBNAME = "libpeerwire.dylib"
elif sys.platform == "win32":
    _LIBNAME = "peerwire.dll"
else:
    _LIBNAME = "libpeerwire.so"

_PKG_DIR = Path(__file__).resolve().parent


def _candidates() -> List[Tuple[str, str]]:
    """(description, path-or-name) in lookup order, env var excluded."""
    out = [("next to the package", str(_PKG_DIR / _LIBNAME))]
    # bindings/python/peerwire/_ffi.py -> the repository root is three levels up. Only
    # meaningful for in-tree and editable installs; harmless otherwise.
    repo = _PKG_DIR.parent.parent.parent
    out.append(("the repository's build output", str(repo / "target" / "release" / _LIBNAME)))
    found = ctypes.util.find_library("peerwire")
    out.append(("the system loader path", found or _LIBNAME))
    return out


def _load() -> Tuple[ctypes.CDLL, str]:
    tried: List[str] = []
    env = os.environ.get("PEERWIRE_LIBRARY")
    if env:
        try:
            return ctypes.CDLL(env), env
        except OSError as e:
            # An explicit setting that does not work is an error, not a hint to look elsewhere.
            raise ImportError(
                f"peerwire: PEERWIRE_LIBRARY={env!r} could not be loaded: {e}\n"
                "Build the library with `make lib` in the peerwire repository "
                "(it produces target/release/" + _LIBNAME + ") or fix the variable."
            ) from None
    tried.append("$PEERWIRE_LIBRARY (not set)")
    for what, path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(f"{what}: {path} (not found)")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append(f"{what}: {path} ({e})")
    raise ImportError(
        "peerwire: could not find the native library "
        + _LIBNAME
        + ". Looked in:\n  - "
        + "\n  - ".join(tried)
        + "\nBuild it with `make lib` at the root of the peerwire repository, then either set "
        "PEERWIRE_LIBRARY=/path/to/" + _LIBNAME + " or reinstall the package "
        "(`pip install ./bindings/python` copies a built library next to the package)."
    )


lib, library_path = _load()

# ---------------------------------------------------------------------------------------------
# Types (mirror include/peerwire.h)
# ---------------------------------------------------------------------------------------------


class peerwire_event(Structure):
    _fields_ = [
        ("kind", c_int32),
        ("reason", c_int32),
        ("peer", c_uint64),
        ("data", c_void_p),
        ("len", c_size_t),
        ("addr", c_void_p),
        ("outbound", c_bool),
        ("_private", ctypes.c_size_t * 6),
    ]


class peerwire_stats(Structure):
    _fields_ = [
        ("size", c_uint32),
        ("bytes_in", c_uint64),
        ("bytes_out", c_uint64),
        ("msgs_in", c_uint64),
        ("msgs_out", c_uint64),
        ("peers", c_uint64),
        ("connections_accepted", c_uint64),
        ("connections_dialled", c_uint64),
        ("handshake_failures", c_uint64),
        ("frames_refused", c_uint64),
        ("send_queue_bytes", c_uint64),
        ("recv_queue_events", c_uint64),
        ("sends_would_block", c_uint64),
    ]


class peerwire_peer_info(Structure):
    _fields_ = [
        ("size", c_uint32),
        ("id", c_uint64),
        ("outbound", c_bool),
        ("addr", c_char * 64),
        ("bytes_in", c_uint64),
        ("bytes_out", c_uint64),
        ("msgs_in", c_uint64),
        ("msgs_out", c_uint64),
        ("send_queue_bytes", c_uint64),
        ("send_queue_msgs", c_uint64),
    ]


class peerwire_close_report(Structure):
    _fields_ = [
        ("peers_closed", c_uint64),
        ("msgs_dropped", c_uint64),
        ("bytes_dropped", c_uint64),
        ("events_pending", c_uint64),
    ]


STATS_FIELDS = tuple(name for name, _ in peerwire_stats._fields_ if name != "size")
PEER_INFO_FIELDS = tuple(
    name
    for name, _ in peerwire_peer_info._fields_
    if name not in ("size", "id", "outbound", "addr")
)
CLOSE_REPORT_FIELDS = tuple(name for name, _ in peerwire_close_report._fields_)

# Opaque handles travel as plain integers (c_void_p).
_handle = c_void_p
_status = c_int32

event_cb = CFUNCTYPE(None, c_void_p, POINTER(peerwire_event))
handshake_cb = CFUNCTYPE(c_int32, c_void_p, c_void_p)
drop_cb = CFUNCTYPE(None, c_void_p)
log_cb = CFUNCTYPE(None, c_void_p, c_int32, c_char_p)
split_cb = CFUNCTYPE(c_int32, c_void_p, c_void_p, c_size_t, POINTER(c_size_t), POINTER(c_size_t))
header_cb = CFUNCTYPE(c_int32, c_void_p, c_void_p, c_size_t, c_void_p, c_size_t, POINTER(c_size_t))

# ---------------------------------------------------------------------------------------------
# Declarations: every exported function, in header order
# ---------------------------------------------------------------------------------------------

_P = POINTER

_DECLS: Dict[str, Tuple[Any, List[Any]]] = {
    # global
    "peerwire_version": (c_char_p, []),
    "peerwire_version_number": (c_uint32, []),
    "peerwire_status_str": (c_char_p, [c_int32]),
    "peerwire_reason_str": (c_char_p, [c_int32]),
    "peerwire_last_error": (c_char_p, []),
    "peerwire_log_set": (_status, [log_cb, c_void_p, c_int32]),
    # options
    "peerwire_options_new": (_status, [_P(_handle)]),
    "peerwire_options_free": (None, [_handle]),
    "peerwire_options_set_listen_addr": (_status, [_handle, c_char_p]),
    "peerwire_options_set_codec": (_status, [_handle, c_int32]),
    "peerwire_options_set_max_frame": (_status, [_handle, c_size_t]),
    "peerwire_options_set_handshake_timeout_ms": (_status, [_handle, c_uint32]),
    "peerwire_options_set_connect_timeout_ms": (_status, [_handle, c_uint32]),
    "peerwire_options_set_send_queue_bytes": (_status, [_handle, c_size_t]),
    "peerwire_options_set_send_timeout_ms": (_status, [_handle, c_int32]),
    "peerwire_options_set_recv_queue_events": (_status, [_handle, c_size_t]),
    "peerwire_options_set_recv_queue_bytes": (_status, [_handle, c_size_t]),
    "peerwire_options_set_linger_ms": (_status, [_handle, c_uint32]),
    "peerwire_options_set_read_buffer": (_status, [_handle, c_size_t]),
    "peerwire_options_set_max_connections": (_status, [_handle, c_size_t]),
    "peerwire_options_set_workers": (_status, [_handle, c_uint32]),
    "peerwire_options_set_handshake": (_status, [_handle, handshake_cb, c_void_p, drop_cb]),
    "peerwire_options_set_message_cb": (_status, [_handle, event_cb, c_void_p, drop_cb]),
    "peerwire_options_set_peer_cb": (_status, [_handle, event_cb, c_void_p, drop_cb]),
    # Exposed for native callbacks only (see native_function): they run on I/O threads.
    "peerwire_options_set_custom_codec": (
        _status,
        [_handle, split_cb, header_cb, c_void_p, drop_cb],
    ),
    # transport
    "peerwire_transport_new": (_status, [_handle, _P(_handle)]),
    "peerwire_transport_listen": (_status, [_handle]),
    "peerwire_transport_local_addr": (_status, [_handle, c_void_p, c_size_t, _P(c_size_t)]),
    "peerwire_transport_dial": (_status, [_handle, c_char_p, c_int32, _P(c_uint64)]),
    "peerwire_transport_send": (_status, [_handle, c_uint64, c_char_p, c_size_t]),
    "peerwire_transport_send_timeout": (_status, [_handle, c_uint64, c_char_p, c_size_t, c_int32]),
    # data: the messages back to back (bytes); lens: the address of a size_t array.
    "peerwire_transport_send_batch": (
        _status,
        [_handle, c_uint64, c_char_p, c_void_p, c_size_t, c_int32, _P(c_size_t)],
    ),
    "peerwire_transport_broadcast": (_status, [_handle, c_char_p, c_size_t, _P(c_size_t)]),
    "peerwire_transport_disconnect": (_status, [_handle, c_uint64]),
    "peerwire_transport_peers": (_status, [_handle, c_void_p, c_size_t, _P(c_size_t)]),
    "peerwire_transport_peer_info": (_status, [_handle, c_uint64, _P(peerwire_peer_info)]),
    "peerwire_transport_stats": (_status, [_handle, _P(peerwire_stats)]),
    "peerwire_transport_recv": (_status, [_handle, _P(peerwire_event), c_int32]),
    "peerwire_transport_recv_batch": (
        _status,
        [_handle, c_void_p, c_size_t, _P(c_size_t), c_int32],
    ),
    "peerwire_transport_event_fd": (_status, [_handle, _P(c_int)]),
    "peerwire_transport_close": (_status, [_handle, c_int32, _P(peerwire_close_report)]),
    "peerwire_transport_free": (None, [_handle]),
    "peerwire_event_release": (None, [_P(peerwire_event)]),
    "peerwire_events_release": (None, [c_void_p, c_size_t]),
    # handshake
    "peerwire_handshake_send": (_status, [_handle, c_char_p, c_size_t]),
    "peerwire_handshake_recv": (_status, [_handle, c_void_p, c_size_t, _P(c_size_t), c_int32]),
    "peerwire_handshake_recv_exact": (_status, [_handle, c_void_p, c_size_t, c_int32]),
    "peerwire_handshake_peer_addr": (_status, [_handle, c_void_p, c_size_t, _P(c_size_t)]),
    "peerwire_handshake_outbound": (_status, [_handle, _P(c_bool)]),
    "peerwire_handshake_peer_id": (_status, [_handle, _P(c_uint64)]),
}

_missing = []
for _name, (_restype, _argtypes) in _DECLS.items():
    try:
        _fn = getattr(lib, _name)
    except AttributeError:
        _missing.append(_name)
        continue
    _fn.restype = _restype
    _fn.argtypes = _argtypes
if _missing:
    raise ImportError(
        f"peerwire: {library_path} lacks {', '.join(_missing)}; it is not a matching libpeerwire "
        "(rebuild it with `make lib`)."
    )

_vn = lib.peerwire_version_number()
if ((_vn >> 16) & 0xFF, (_vn >> 8) & 0xFF) != API_VERSION:
    raise ImportError(
        f"peerwire: {library_path} is version {lib.peerwire_version().decode()}, this binding "
        f"needs {API_VERSION[0]}.{API_VERSION[1]}.x (rebuild with `make lib`)."
    )

# Status codes used by the helpers.
OK = 0
EMPTY = 1
TIMED_OUT = 2
CLOSED = 3
ERR_BUFFER = -17

EVENT_MESSAGE = 1

# ---------------------------------------------------------------------------------------------
# Global helpers
# ---------------------------------------------------------------------------------------------


def version() -> str:
    return lib.peerwire_version().decode()


def version_number() -> int:
    return int(lib.peerwire_version_number())


def status_str(status: int) -> str:
    s = lib.peerwire_status_str(status)
    return s.decode("utf-8", "replace") if s else ""


def reason_str(reason: int) -> str:
    s = lib.peerwire_reason_str(reason)
    return s.decode("utf-8", "replace") if s else ""


def last_error() -> str:
    s = lib.peerwire_last_error()
    return s.decode("utf-8", "replace") if s else ""


# ---------------------------------------------------------------------------------------------
# Callback trampolines.
#
# One module-level CFUNCTYPE object per callback shape lives as long as the module, so the C
# side can never call into a freed thunk. The `user` pointer the library carries is a key into
# `_registry`; the drop trampoline removes that key exactly once.
# ---------------------------------------------------------------------------------------------

_registry: Dict[int, Callable[..., Any]] = {}
_registry_lock = threading.Lock()
_next_key = itertools.count(1)


def _register(fn: Callable[..., Any]) -> int:
    with _registry_lock:
        key = next(_next_key)
        _registry[key] = fn
    return key


def _unregister(key: Optional[int]) -> None:
    if key is None:
        return
    with _registry_lock:
        _registry.pop(key, None)


def registry_size() -> int:
    """How many Python callbacks the library may still call (for leak tests)."""
    return len(_registry)


def _handshake_trampoline(user: Optional[int], hs: Optional[int]) -> int:
    # Never let an exception escape into C: ctypes would print it and return garbage.
    try:
        fn = _registry.get(user or 0)
        if fn is None or not hs:
            return 1
        return 0 if fn(hs) else 1
    except BaseException:  # noqa: BLE001 - the wrapper already records user errors
        return 1


def _drop_trampoline(user: Optional[int]) -> None:
    try:
        _unregister(user)
    except BaseException:  # noqa: BLE001 - may run during interpreter shutdown
        pass


def _log_trampoline(user: Optional[int], level: int, message: Optional[bytes]) -> None:
    try:
        fn = _log_handler
        if fn is not None:
            fn(int(level), message.decode("utf-8", "replace") if message else "")
    except BaseException:  # noqa: BLE001 - logging must never break the library
        pass


_handshake_thunk = handshake_cb(_handshake_trampoline)
_drop_thunk = drop_cb(_drop_trampoline)
_log_thunk = log_cb(_log_trampoline)
_log_handler: Optional[Callable[[int, str], None]] = None


def log_set(handler: Optional[Callable[[int, str], None]], level: int) -> int:
    """Install (or with None remove) the process-wide log handler."""
    global _log_handler
    if handler is None:
        st = lib.peerwire_log_set(log_cb(), None, 0)
        _log_handler = None
        return st
    _log_handler = handler
    return lib.peerwire_log_set(_log_thunk, None, level)


# ---------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------


def options_new() -> Tuple[int, int]:
    out = c_void_p()
    st = lib.peerwire_options_new(byref(out))
    return st, (out.value or 0)


def options_free(opts: int) -> None:
    lib.peerwire_options_free(opts)


def options_set(opts: int, name: str, value: Any) -> int:
    """Call ``peerwire_options_set_<name>(opts, value)``."""
    if name == "listen_addr":
        value = value.encode("utf-8")
    return getattr(lib, "peerwire_options_set_" + name)(opts, value)


# The base class of every ctypes data type (not exported by ctypes under a public name).
_CDATA = ctypes._SimpleCData.__mro__[1]


def native_function(fn: Any, what: str, nargs: int) -> int:
    """The address of a native function given as a ctypes function pointer, for a callback the
    library calls on its I/O threads, where Python code must never run. Raises TypeError for
    Python callables and for ctypes callbacks that wrap one."""
    if not isinstance(fn, ctypes._CFuncPtr):
        if callable(fn):
            raise TypeError(
                f"{what} must be a native function (a ctypes function pointer, e.g. "
                f"ctypes.CDLL('libmine.so').my_{what}), not the Python callable {fn!r}: the "
                "library calls it on its I/O threads for every read (or send), where Python "
                "code must never run"
            )
        raise TypeError(
            f"{what} must be a ctypes function pointer to native code, not {type(fn).__name__}"
        )
    if _wraps_python(fn):
        raise TypeError(
            f"{what} is a ctypes callback that wraps the Python callable "
            f"{getattr(fn, '__name__', '?')!r}; the library calls {what} on its I/O threads, "
            "where Python code must never run: give a function of a C library instead"
        )
    argtypes = fn.argtypes
    if argtypes is not None and len(argtypes) != nargs:
        raise TypeError(f"{what} takes {len(argtypes)} arguments; peerwire_{what}_cb takes {nargs}")
    if fn.restype is None:
        raise TypeError(f"{what} returns nothing; peerwire_{what}_cb returns int32_t")
    addr = ctypes.cast(fn, c_void_p).value
    if not addr:
        raise ValueError(f"{what} is a NULL function pointer")
    return addr


def _wraps_python(obj: Any) -> bool:
    """True when a ctypes object keeps a Python-callback thunk alive (a CFUNCTYPE instance
    made from a Python callable, or a cast of one)."""
    todo = [obj]
    seen = set()
    while todo and len(seen) < 64:
        x = todo.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if type(x).__name__ == "CThunkObject":
            return True
        if isinstance(x, dict):
            todo.extend(x.values())
        elif isinstance(x, _CDATA):
            objs = getattr(x, "_objects", None)
            if objs is not None:
                todo.append(objs)
    return False


def pointer_value(user: Any, what: str = "user") -> int:
    """An opaque pointer for C from None, an int address, or a ctypes object (its address;
    a pointer or c_void_p: its value)."""
    if user is None:
        return 0
    if isinstance(user, bool):
        raise TypeError(f"{what} must be an address or a ctypes object, not bool")
    if isinstance(user, int):
        if not 0 <= user < 2 ** (8 * ctypes.sizeof(c_void_p)):
            raise ValueError(f"{what} address out of range: {user}")
        return user
    if isinstance(user, (c_void_p, ctypes._Pointer, ctypes._CFuncPtr, c_char_p)):
        return ctypes.cast(user, c_void_p).value or 0
    if isinstance(user, _CDATA):  # Structure, Array, c_int, ...
        return ctypes.addressof(user)
    raise TypeError(
        f"{what} must be None, an int address or a ctypes object, not {type(user).__name__}"
    )


def options_set_custom_codec(opts: int, split: int, header: int, user: int) -> int:
    """Select the custom codec with native callbacks given by address (header 0: none)."""
    return lib.peerwire_options_set_custom_codec(
        opts, split_cb(split), header_cb(header) if header else header_cb(), user or None, drop_cb()
    )


def options_set_handshake(opts: int, fn: Callable[[int], bool]) -> int:
    """Register ``fn(hs_handle) -> accept`` as the handshake callback of ``opts``."""
    key = _register(fn)
    st = lib.peerwire_options_set_handshake(opts, _handshake_thunk, key, _drop_thunk)
    if st != OK:
        # The library did not take ownership, so the drop will never come.
        _unregister(key)
    return st


# ---------------------------------------------------------------------------------------------
# Transport
# ---------------------------------------------------------------------------------------------


def transport_new(opts: int) -> Tuple[int, int]:
    out = c_void_p()
    st = lib.peerwire_transport_new(opts or None, byref(out))
    return st, (out.value or 0)


def transport_free(t: int) -> None:
    lib.peerwire_transport_free(t)


def transport_listen(t: int) -> int:
    return lib.peerwire_transport_listen(t)


def _read_string(fn: Callable[..., int], handle: int) -> Tuple[int, str]:
    cap = 128
    for _ in range(4):
        buf = ctypes.create_string_buffer(cap)
        n = c_size_t()
        st = fn(handle, buf, cap, byref(n))
        if st == ERR_BUFFER and n.value >= cap:
            cap = n.value + 1
            continue
        if st != OK:
            return st, ""
        return st, buf.raw[: n.value].split(b"\0", 1)[0].decode("utf-8", "replace")
    return ERR_BUFFER, ""


def transport_local_addr(t: int) -> Tuple[int, str]:
    return _read_string(lib.peerwire_transport_local_addr, t)


def transport_dial(t: int, addr: bytes, timeout_ms: int) -> Tuple[int, int]:
    out = c_uint64()
    st = lib.peerwire_transport_dial(t, addr, timeout_ms, byref(out))
    return st, out.value


def arg_handle(h: int) -> Any:
    """A handle prepared as a C argument: passing it skips ctypes' per-call conversion of a
    Python int (about 0.1 us of a 1 us send)."""
    return c_void_p(h)


def arg_u64(v: int) -> Any:
    """A peer id prepared as a C argument (see :func:`arg_handle`)."""
    return c_uint64(v)


# The hot paths: bound C functions, called directly by the transport. They take plain ints or
# the prepared arguments above.
transport_send: Callable[[int, int, bytes, int], int] = lib.peerwire_transport_send
transport_send_timeout: Callable[[int, int, bytes, int, int], int] = (
    lib.peerwire_transport_send_timeout
)
transport_disconnect: Callable[[int, int], int] = lib.peerwire_transport_disconnect

# array typecode of size_t (the lens of send_batch).
SIZE_T_CODE = next(c for c in "QLI" if array(c).itemsize == ctypes.sizeof(c_size_t))


def transport_send_batch(
    t: Any, peer: Any, data: bytes, lens: Any, count: int, timeout_ms: int
) -> Tuple[int, int]:
    """One ``send_batch`` call: ``data`` the messages back to back, ``lens`` an
    ``array(SIZE_T_CODE)`` of their sizes. Returns (status, how many were queued)."""
    sent = c_size_t()
    st = _send_batch(t, peer, data, lens.buffer_info()[0], count, timeout_ms, byref(sent))
    return st, sent.value


_send_batch = lib.peerwire_transport_send_batch


def transport_broadcast(t: int, data: bytes) -> Tuple[int, int]:
    n = c_size_t()
    st = lib.peerwire_transport_broadcast(t, data, len(data), byref(n))
    return st, n.value


def transport_peers(t: int) -> Tuple[int, List[int]]:
    cap = 64
    for _ in range(8):
        ids = (c_uint64 * cap)()
        total = c_size_t()
        st = lib.peerwire_transport_peers(t, ids, cap, byref(total))
        if st == ERR_BUFFER or (st == OK and total.value > cap):
            cap = max(cap * 2, total.value + 16)
            continue
        if st != OK:
            return st, []
        return st, list(ids[: total.value])
    return ERR_BUFFER, []


def transport_peer_info(t: int, peer: int) -> Tuple[int, Optional[Dict[str, Any]]]:
    info = peerwire_peer_info()
    info.size = ctypes.sizeof(peerwire_peer_info)
    st = lib.peerwire_transport_peer_info(t, peer, byref(info))
    if st != OK:
        return st, None
    out: Dict[str, Any] = {name: getattr(info, name) for name in PEER_INFO_FIELDS}
    out["id"] = info.id
    out["outbound"] = bool(info.outbound)
    out["addr"] = info.addr.decode("utf-8", "replace")
    return st, out


def transport_stats(t: int) -> Tuple[int, Optional[Dict[str, int]]]:
    s = peerwire_stats()
    s.size = ctypes.sizeof(peerwire_stats)
    st = lib.peerwire_transport_stats(t, byref(s))
    if st != OK:
        return st, None
    return st, {name: getattr(s, name) for name in STATS_FIELDS}


def transport_event_fd(t: int) -> Tuple[int, int]:
    fd = c_int(-1)
    st = lib.peerwire_transport_event_fd(t, byref(fd))
    return st, fd.value


def transport_close(t: int, linger_ms: int) -> Tuple[int, Dict[str, int]]:
    rep = peerwire_close_report()
    st = lib.peerwire_transport_close(t, linger_ms, byref(rep))
    return st, {name: getattr(rep, name) for name in CLOSE_REPORT_FIELDS}


# ---------------------------------------------------------------------------------------------
# Batched receive
# ---------------------------------------------------------------------------------------------

_EVENT_SIZE = ctypes.sizeof(peerwire_event)


def _event_unpacker() -> struct.Struct:
    """A struct format reading kind, reason, peer, data, len, addr, outbound of one event."""
    codes = {c_int32: "i", c_uint64: "Q", c_bool: "?"}
    ptr = "Q" if ctypes.sizeof(c_void_p) == 8 else "I"
    size_t = "Q" if ctypes.sizeof(c_size_t) == 8 else "I"
    wanted = ["kind", "reason", "peer", "data", "len", "addr", "outbound"]
    types = dict(peerwire_event._fields_)
    fmt = "="
    pos = 0
    for name in wanted:
        field = getattr(peerwire_event, name)
        code = codes.get(types[name]) or (size_t if types[name] is c_size_t else ptr)
        fmt += "x" * (field.offset - pos) + code
        pos = field.offset + field.size
    fmt += "x" * (_EVENT_SIZE - pos)
    s = struct.Struct(fmt)
    assert s.size == _EVENT_SIZE
    return s


_EVENT_STRUCT = _event_unpacker()
_string_at = ctypes.string_at

# Strided views over the event array read one field of every event in C speed. They need
# 8-byte fields at 8-byte offsets, which a 64-bit peerwire_event has.
_STRIDED = (
    _EVENT_SIZE % 8 == 0
    and ctypes.sizeof(c_void_p) == 8
    and ctypes.sizeof(c_size_t) == 8
    and all(getattr(peerwire_event, f).offset % 8 == 0 for f in ("peer", "data", "len"))
)

# Payloads of one batch that lie back to back in memory (frames cut from one read buffer, with
# at most this many bytes of framing between them) are copied with one string_at and sliced:
# a ctypes call costs ~0.5 us, a slice ~0.07 us. The gap is far below a page, so every byte
# copied between two payloads lies on a page that holds payload bytes: it is mapped.
_MAX_GAP = 64
# Above this average size a payload is copied on its own (slicing would copy it twice).
_COALESCE_MAX_AVG = 4096


def _gather(datas: List[int], lens: List[int]) -> List[bytes]:
    """Copy the payloads (data, len) of one batch into bytes objects."""
    n = len(datas)
    if n == 1:
        return [_string_at(datas[0], lens[0]) if lens[0] else b""]
    base = datas[0]
    ends = list(map(add, datas, lens))
    span = ends[-1] - base
    if 0 < span <= _COALESCE_MAX_AVG * n and 0 not in lens:
        gaps = list(map(sub, datas[1:], ends))
        if min(gaps) >= 0 and max(gaps) <= _MAX_GAP:
            blob = _string_at(base, span)
            return [blob[o : o + ln] for o, ln in zip(map(sub, datas, repeat(base)), lens)]
    # Not one run: copy runs of back-to-back payloads, or single payloads.
    out: List[bytes] = []
    i = 0
    while i < n:
        ln = lens[i]
        if ln == 0:
            out.append(b"")
            i += 1
            continue
        start, end = datas[i], ends[i]
        j = i + 1
        if ln < _COALESCE_MAX_AVG:
            while j < n and lens[j] and end <= datas[j] <= end + _MAX_GAP:
                end = ends[j]
                j += 1
        if j == i + 1:
            out.append(_string_at(start, ln))
        else:
            blob = _string_at(start, end - start)
            out.extend(blob[datas[k] - start : ends[k] - start] for k in range(i, j))
        i = j
    return out


class EventReader:
    """Pulls events in batches into a preallocated array and decodes them in bulk.

    Not thread-safe: the transport serialises pulls with its receive lock.
    """

    __slots__ = (
        "_arr",
        "_buf",
        "_cap",
        "_count",
        "_count_ref",
        "_i32",
        "_mv",
        "_recv_batch",
        "_release",
        "_u64",
    )

    def __init__(self, cap: int = 512) -> None:
        self._cap = cap
        self._buf = bytearray(_EVENT_SIZE * cap)
        self._arr = (c_uint8 * len(self._buf)).from_buffer(self._buf)
        self._mv = memoryview(self._buf)
        self._u64 = self._mv.cast("Q") if _STRIDED else None
        self._i32 = self._mv.cast("i") if _STRIDED else None
        self._count = c_size_t()
        self._count_ref = byref(self._count)
        self._recv_batch = lib.peerwire_transport_recv_batch
        self._release = lib.peerwire_events_release

    def pull(self, t: int, timeout_ms: int) -> Tuple[int, Any, Any]:
        """One ``recv_batch`` call, decoded. Returns ``(status, peers, payloads)`` when every
        event is a message (``peers`` the peer ids, ``payloads`` bytes, in order), and
        ``(status, None, events)`` otherwise, each event being
        ``(kind, reason, peer, payload_or_None, addr_or_None, outbound)`` with ``addr`` decoded
        for non-message events only (messages take it from their peer)."""
        st = self._recv_batch(t, self._arr, self._cap, self._count_ref, timeout_ms)
        if st != OK:
            return st, None, ()
        n = self._count.value
        if n == 0:
            return st, None, ()
        try:
            if n == 1:  # the latency case: one message, read without strided views
                kind, _r, peer, data, ln, _a, _o = _EVENT_STRUCT.unpack_from(self._buf)
                if kind == EVENT_MESSAGE:
                    return st, [peer], [_string_at(data, ln) if ln else b""]
            elif self._u64 is not None:
                s32 = _EVENT_SIZE // 4
                kinds = self._i32[_K_KIND : n * s32 : s32]
                if kinds.tolist().count(EVENT_MESSAGE) == n:
                    u, s64 = self._u64, _EVENT_SIZE // 8
                    datas = u[_K_DATA : n * s64 : s64].tolist()
                    lens = u[_K_LEN : n * s64 : s64].tolist()
                    return st, u[_K_PEER : n * s64 : s64].tolist(), _gather(datas, lens)
            return st, None, self._decode(n)
        finally:
            self._release(self._arr, n)

    def _decode(self, n: int) -> List[tuple]:
        recs = list(_EVENT_STRUCT.iter_unpack(self._mv[: n * _EVENT_SIZE]))
        idx = [i for i, r in enumerate(recs) if r[0] == EVENT_MESSAGE]
        payloads = iter(
            _gather([recs[i][3] for i in idx], [recs[i][4] for i in idx]) if idx else ()
        )
        out: List[tuple] = []
        for kind, reason, peer, _data, _ln, addr, outbound in recs:
            if kind == EVENT_MESSAGE:
                out.append((kind, reason, peer, next(payloads), None, outbound))
            else:
                a = _string_at(addr).decode("utf-8", "replace") if addr else ""
                out.append((kind, reason, peer, None, a, outbound))
        return out


_K_KIND = peerwire_event.kind.offset // 4
_K_PEER = peerwire_event.peer.offset // 8
_K_DATA = peerwire_event.data.offset // 8
_K_LEN = peerwire_event.len.offset // 8


# ---------------------------------------------------------------------------------------------
# Handshake handle (valid only inside the handshake callback)
# ---------------------------------------------------------------------------------------------


def handshake_send(hs: int, data: bytes) -> int:
    return lib.peerwire_handshake_send(hs, data, len(data))


def handshake_recv(hs: int, cap: int, timeout_ms: int) -> Tuple[int, bytes]:
    buf = ctypes.create_string_buffer(cap)
    n = c_size_t()
    st = lib.peerwire_handshake_recv(hs, buf, cap, byref(n), timeout_ms)
    if st != OK:
        return st, b""
    return st, buf.raw[: n.value]


def handshake_recv_exact(hs: int, n: int, timeout_ms: int) -> Tuple[int, bytes]:
    buf = ctypes.create_string_buffer(max(n, 1))
    st = lib.peerwire_handshake_recv_exact(hs, buf, n, timeout_ms)
    if st != OK:
        return st, b""
    return st, buf.raw[:n]


def handshake_peer_addr(hs: int) -> Tuple[int, str]:
    return _read_string(lib.peerwire_handshake_peer_addr, hs)


def handshake_outbound(hs: int) -> Tuple[int, bool]:
    out = c_bool()
    st = lib.peerwire_handshake_outbound(hs, byref(out))
    return st, bool(out.value)


def handshake_peer_id(hs: int) -> Tuple[int, int]:
    out = c_uint64()
    st = lib.peerwire_handshake_peer_id(hs, byref(out))
    return st, out.value
