"""Exceptions: one class per family of C status codes, all rooted at :class:`Error`."""

from __future__ import annotations

import builtins
from typing import Dict, List, NoReturn, Optional, Type

from . import _ffi

__all__ = [
    "AddressError",
    "CallbackError",
    "ClosedError",
    "ConnectError",
    "Error",
    "HandshakeError",
    "HandshakeTimeoutError",
    "InternalError",
    "InvalidArgumentError",
    "MessageTooLargeError",
    "StateError",
    "TimeoutError",
    "TransportIOError",
    "UnknownPeerError",
    "UnsupportedError",
    "WouldBlockError",
]


class Error(Exception):
    """Base class of every peerwire error.

    ``status`` is the C status code (0 when the error was detected in Python) and ``message``
    the library's explanation (``peerwire_last_error``). Raised by ``Transport.send_many``, it
    (like any exception that call raises) also has ``sent``: how many leading messages were
    queued before it.
    """

    status: int
    message: str

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class InvalidArgumentError(Error, ValueError):
    """An argument value was refused (``PEERWIRE_ERR_INVALID``)."""


class AddressError(InvalidArgumentError):
    """An address could not be parsed or resolved (``PEERWIRE_ERR_ADDR``)."""


class ClosedError(Error):
    """The transport is closed (``PEERWIRE_ERR_CLOSED``), or, for ``recv``, closed and drained."""


class UnknownPeerError(Error, LookupError):
    """No such peer: it never existed or is gone (``PEERWIRE_ERR_UNKNOWN_PEER``)."""


class MessageTooLargeError(Error, ValueError):
    """The message is larger than ``max_frame`` (``PEERWIRE_ERR_TOO_LARGE``)."""


class WouldBlockError(Error, BlockingIOError):
    """The peer's send queue is full and the send timeout passed (``PEERWIRE_ERR_WOULD_BLOCK``)."""


class TimeoutError(Error, builtins.TimeoutError):
    """A timeout passed: ``dial`` (``PEERWIRE_ERR_TIMEOUT``) or ``recv`` found nothing."""


class ConnectError(Error, ConnectionError):
    """The connection was refused or the address is unreachable (``PEERWIRE_ERR_CONNECT``)."""


class HandshakeError(Error):
    """The handshake was rejected by either side (``PEERWIRE_ERR_HANDSHAKE``).

    When the local handshake function raised, that exception is the ``__cause__``.
    """


class HandshakeTimeoutError(HandshakeError, TimeoutError):
    """The handshake did not finish before its deadline (``PEERWIRE_ERR_HANDSHAKE_TIMEOUT``)."""


class TransportIOError(Error, OSError):
    """Another I/O error (``PEERWIRE_ERR_IO``)."""


class StateError(Error):
    """The call does not fit the object's state, e.g. ``listen`` twice (``PEERWIRE_ERR_STATE``),
    a call that would block inside a library callback, or ``recv`` while callbacks own the queue.
    """


class UnsupportedError(Error):
    """The feature is not available in this build (``PEERWIRE_ERR_UNSUPPORTED``)."""


class InternalError(Error):
    """A bug in peerwire caught at the boundary (``PEERWIRE_ERR_PANIC``, ``_NULL``, ``_BUFFER``)."""


class CallbackError(Error):
    """One or more ``on_message``/``on_peer`` callbacks raised.

    ``errors`` holds every exception; the first is also the ``__cause__``.
    """

    errors: List[BaseException]

    def __init__(self, errors: List[BaseException]) -> None:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"a callback raised {type(first).__name__}: {first}{more}")
        self.errors = list(errors)
        self.__cause__ = first


_BY_STATUS: Dict[int, Type[Error]] = {
    -1: InternalError,  # NULL: the binding never passes one
    -2: ClosedError,  # handle unknown or freed: the transport is gone
    -3: InvalidArgumentError,
    -4: AddressError,
    -5: ClosedError,
    -6: UnknownPeerError,
    -7: MessageTooLargeError,
    -8: WouldBlockError,
    -9: TimeoutError,
    -10: ConnectError,
    -11: HandshakeError,
    -12: HandshakeTimeoutError,
    -13: TransportIOError,
    -14: StateError,
    -15: StateError,
    -16: UnsupportedError,
    -17: InternalError,
    -18: InternalError,
}


def error_for(status: int, detail: Optional[str] = None) -> Error:
    """The exception for a failed C call; read right after the call, on the same thread."""
    if detail is None:
        detail = _ffi.last_error()
    if not detail:
        detail = _ffi.status_str(status) or f"status {status}"
    cls = _BY_STATUS.get(status, Error)
    return cls(detail, status)


def raise_status(status: int) -> NoReturn:
    raise error_for(status)


def check(status: int) -> None:
    """Raise for a negative status; positive statuses are outcomes the caller handles."""
    if status < 0:
        raise error_for(status)
