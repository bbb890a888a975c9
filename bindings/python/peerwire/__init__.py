"""peerwire: a peer-to-peer TCP transport (Python binding over the C library).

Quick start::

    import peerwire

    with peerwire.Transport("127.0.0.1:0") as a, peerwire.Transport() as b:
        a.listen()
        peer = b.dial(a.addr)
        b.send(peer, b"hello")
        msg = a.recv(timeout=5)
        print(msg.payload, msg.from_addr)

See :class:`Transport` for receiving modes (pull, iteration, asyncio, callbacks).
"""

from __future__ import annotations

import logging as _logging
from typing import Callable, Optional, Union

from . import _ffi
from ._codec import CustomCodec, HeaderCallback, RawCodec, SplitCallback
from ._errors import (
    AddressError,
    CallbackError,
    ClosedError,
    ConnectError,
    Error,
    HandshakeError,
    HandshakeTimeoutError,
    InternalError,
    InvalidArgumentError,
    MessageTooLargeError,
    StateError,
    TimeoutError,
    TransportIOError,
    UnknownPeerError,
    UnsupportedError,
    WouldBlockError,
)
from ._handshake import Handshake
from ._transport import Event, HandshakeFunc, Transport
from ._types import (
    CloseReport,
    Codec,
    EventKind,
    LogLevel,
    Message,
    Peer,
    PeerEvent,
    PeerInfo,
    Reason,
    Stats,
)

__version__ = "0.1.0"

__all__ = [
    "AddressError",
    "CallbackError",
    "CloseReport",
    "ClosedError",
    "Codec",
    "ConnectError",
    "CustomCodec",
    "Error",
    "Event",
    "EventKind",
    "Handshake",
    "HandshakeError",
    "HandshakeFunc",
    "HandshakeTimeoutError",
    "HeaderCallback",
    "InternalError",
    "InvalidArgumentError",
    "LogLevel",
    "Message",
    "MessageTooLargeError",
    "Peer",
    "PeerEvent",
    "PeerInfo",
    "RawCodec",
    "Reason",
    "SplitCallback",
    "StateError",
    "Stats",
    "TimeoutError",
    "Transport",
    "TransportIOError",
    "UnknownPeerError",
    "UnsupportedError",
    "WouldBlockError",
    "library_path",
    "library_version",
    "set_library_log",
]


def library_version() -> str:
    """Version of the loaded C library, e.g. ``"0.1.0"``."""
    return _ffi.version()


def library_path() -> str:
    """Where the C library was loaded from."""
    return _ffi.library_path


_PY_LEVELS = {
    LogLevel.ERROR: _logging.ERROR,
    LogLevel.WARN: _logging.WARNING,
    LogLevel.INFO: _logging.INFO,
    LogLevel.DEBUG: _logging.DEBUG,
    LogLevel.TRACE: _logging.DEBUG - 5,
}


def set_library_log(
    level: Union[LogLevel, int, None] = LogLevel.WARN,
    handler: Optional[Callable[[LogLevel, str], None]] = None,
) -> None:
    """Route the C library's log records to Python (off by default; None turns it off).

    Without ``handler`` they go to the ``peerwire.core`` logger. A debugging aid: the
    handler runs briefly on library threads (holding the GIL), so keep it cheap.
    """
    if level is None or LogLevel(level) == LogLevel.OFF:
        st = _ffi.log_set(None, 0)
    else:
        lv = LogLevel(level)
        if handler is None:
            logger = _logging.getLogger("peerwire.core")

            def forward(code: int, message: str) -> None:
                logger.log(_PY_LEVELS.get(LogLevel(code), _logging.INFO), "%s", message)

            st = _ffi.log_set(forward, int(lv))
        else:
            if not callable(handler):
                raise TypeError("handler must be callable")
            h = handler
            st = _ffi.log_set(lambda code, message: h(LogLevel(code), message), int(lv))
    if st != 0:
        from ._errors import error_for

        raise error_for(st)
