"""Argument checking shared by the public classes (TypeError/ValueError, never a crash)."""

from __future__ import annotations

import math
from typing import Any, Optional, Tuple, Union

Address = Union[str, Tuple[str, int]]

INT32_MAX = 2**31 - 1
UINT32_MAX = 2**32 - 1
SIZE_MAX = 2**64 - 1


def as_bytes(data: Any, what: str = "data") -> bytes:
    """``bytes`` as is; other buffers (bytearray, memoryview, array, ...) copied; the rest
    (str, int, None, ...) refused with TypeError."""
    if type(data) is bytes:
        return data
    if isinstance(data, str):
        raise TypeError(f"{what} must be bytes-like, not str (encode it first)")
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(f"{what} must be bytes-like, not {type(data).__name__}") from None
    with view:
        return view.tobytes()


def timeout_ms(timeout: Optional[float], what: str = "timeout") -> int:
    """Seconds (None = wait forever) to the C convention: -1 forever, 0 poll, else ms
    rounded up so that a tiny positive timeout still waits."""
    if timeout is None:
        return -1
    seconds = _number(timeout, what)
    if seconds < 0:
        raise ValueError(f"{what} must be >= 0 or None, not {timeout!r}")
    ms = math.ceil(seconds * 1000)
    return min(ms, INT32_MAX)


def duration_ms(value: float, what: str, maximum: int = UINT32_MAX) -> int:
    """A non-negative duration in seconds to whole milliseconds."""
    seconds = _number(value, what)
    if seconds < 0:
        raise ValueError(f"{what} must be >= 0, not {value!r}")
    ms = math.ceil(seconds * 1000)
    if ms > maximum:
        raise ValueError(f"{what} is too large ({value!r} s)")
    return ms


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(value).__name__}")
    if math.isnan(value):
        raise ValueError(f"{what} must not be NaN")
    return float(value)


def size(value: Any, what: str, minimum: int = 0, maximum: int = SIZE_MAX) -> int:
    """A non-negative integer count or byte size."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if value < minimum or value > maximum:
        raise ValueError(f"{what} must be between {minimum} and {maximum}, not {value}")
    return value


def address(addr: Any, what: str = "addr") -> bytes:
    """``"host:port"`` or ``(host, port)`` to UTF-8 bytes for the C side."""
    if isinstance(addr, tuple):
        if len(addr) < 2:
            raise ValueError(f"{what} tuple must be (host, port)")
        host, port = addr[0], addr[1]
        if not isinstance(host, str):
            raise TypeError(f"{what} host must be a str, not {type(host).__name__}")
        if isinstance(port, bool) or not isinstance(port, int):
            raise TypeError(f"{what} port must be an int, not {type(port).__name__}")
        addr = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
    elif not isinstance(addr, str):
        raise TypeError(
            f"{what} must be a str 'host:port' or a (host, port) tuple, not {type(addr).__name__}"
        )
    if "\0" in addr:
        raise ValueError(f"{what} must not contain NUL characters")
    return addr.encode("utf-8")


def peer_id(peer: Any) -> int:
    """A :class:`Peer` or an int id."""
    pid = getattr(peer, "id", peer)
    if isinstance(pid, bool) or not isinstance(pid, int):
        raise TypeError(f"peer must be a Peer or an int id, not {type(peer).__name__}")
    if pid < 0 or pid > SIZE_MAX:
        raise ValueError(f"peer id out of range: {pid}")
    return pid
