"""The handshake handle given to a ``handshake=`` function."""

from __future__ import annotations

from typing import Optional

from . import _ffi
from ._errors import StateError, error_for
from ._util import as_bytes, timeout_ms

__all__ = ["Handshake"]


class Handshake:
    """The connection being handshaken, valid only while the handshake function runs.

    The function runs on one of the library's blocking-pool threads (never an I/O thread)
    and may block, up to the transport's ``handshake_timeout``. Raise any exception (or
    return ``False``) to reject the connection; return normally to accept it.
    """

    __slots__ = ("_addr", "_hs", "_outbound", "_peer_id")

    def __init__(self, hs: int) -> None:
        self._hs: Optional[int] = hs
        self._addr: Optional[str] = None
        self._outbound: Optional[bool] = None
        self._peer_id: Optional[int] = None

    def _handle(self) -> int:
        hs = self._hs
        if hs is None:
            raise StateError("the handshake handle is only valid inside the handshake function")
        return hs

    def _invalidate(self) -> None:
        self._hs = None

    @property
    def remote_addr(self) -> str:
        """The remote address, ``"ip:port"``."""
        if self._addr is None:
            st, addr = _ffi.handshake_peer_addr(self._handle())
            if st != 0:
                raise error_for(st)
            self._addr = addr
        return self._addr

    @property
    def outbound(self) -> bool:
        """True when we dialled this connection, False when we accepted it."""
        if self._outbound is None:
            st, out = _ffi.handshake_outbound(self._handle())
            if st != 0:
                raise error_for(st)
            self._outbound = out
        return self._outbound

    @property
    def peer_id(self) -> int:
        """The id the peer will have if the handshake succeeds."""
        if self._peer_id is None:
            st, pid = _ffi.handshake_peer_id(self._handle())
            if st != 0:
                raise error_for(st)
            self._peer_id = pid
        return self._peer_id

    def send(self, data: bytes) -> None:
        """Write raw bytes to the connection (no framing)."""
        buf = as_bytes(data)
        st = _ffi.handshake_send(self._handle(), buf)
        if st != 0:
            raise error_for(st)

    def recv(self, n: int = 65536, timeout: Optional[float] = None) -> bytes:
        """Read between 1 and ``n`` raw bytes, or ``b""`` once the remote closed (as
        ``socket.recv``); ``timeout`` in seconds (None: up to the handshake deadline).
        Raises :class:`peerwire.TimeoutError` when nothing came in time."""
        cap = _check_size(n)
        st, data = _ffi.handshake_recv(self._handle(), cap, timeout_ms(timeout))
        if st != 0:
            raise _hs_error(st)
        return data

    def recv_exact(self, n: int, timeout: Optional[float] = None) -> bytes:
        """Read exactly ``n`` raw bytes (see :meth:`recv`); raises :class:`HandshakeError`
        when the remote closes first."""
        cap = _check_size(n)
        st, data = _ffi.handshake_recv_exact(self._handle(), cap, timeout_ms(timeout))
        if st != 0:
            raise _hs_error(st)
        return data

    def __repr__(self) -> str:
        if self._hs is None:
            return "<Handshake (finished)>"
        return f"<Handshake {'outbound' if self.outbound else 'inbound'} {self.remote_addr}>"


def _check_size(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, not {type(n).__name__}")
    if n <= 0 or n > 1 << 26:
        raise ValueError(f"n must be between 1 and 64 MiB, not {n}")
    return n


def _hs_error(st: int) -> Exception:
    from ._errors import ClosedError, TimeoutError

    if st == _ffi.TIMED_OUT:
        return TimeoutError("no handshake bytes arrived in time", st)
    if st == _ffi.CLOSED:
        return ClosedError("the remote closed the connection during the handshake", st)
    return error_for(st)
