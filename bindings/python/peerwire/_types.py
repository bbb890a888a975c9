"""Value types: enums, peers, messages, events and the counters the transport reports."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Optional

from . import _ffi

__all__ = [
    "CloseReport",
    "Codec",
    "EventKind",
    "LogLevel",
    "Message",
    "Peer",
    "PeerEvent",
    "PeerInfo",
    "Reason",
    "Stats",
]


class Codec(enum.IntEnum):
    """How messages are framed on the wire (``peerwire_codec``)."""

    LENGTH_PREFIXED = 0
    """4-byte big-endian length, then the payload (the default)."""
    RAW = 1
    """Bytes as they come: each socket read (1028 bytes at most, see :class:`RawCodec`) is
    one message."""
    GOB = 2
    """A Go ``encoding/gob`` stream of ``RPC{From string; Payload []byte}``."""
    CUSTOM = 3
    """A framing defined by native callbacks: pass a :class:`CustomCodec` instead."""


class EventKind(enum.IntEnum):
    """What a :class:`PeerEvent` reports (``peerwire_event_kind``, messages excluded)."""

    PEER_CONNECTED = 2
    PEER_DISCONNECTED = 3
    HANDSHAKE_FAILED = 4
    TRANSPORT_CLOSED = 5


class Reason(enum.IntEnum):
    """Why a peer went away or never arrived (``peerwire_reason``)."""

    NONE = 0
    REMOTE_CLOSED = 1
    IO_ERROR = 2
    FRAME_TOO_LARGE = 3
    DECODE_ERROR = 4
    HANDSHAKE_REJECTED = 5
    HANDSHAKE_TIMEOUT = 6
    CLOSED_LOCALLY = 7
    TRANSPORT_CLOSED = 8

    @property
    def description(self) -> str:
        """The library's text for this reason."""
        return _ffi.reason_str(int(self))


class LogLevel(enum.IntEnum):
    """Library log levels (``peerwire_log_level``)."""

    OFF = 0
    ERROR = 1
    WARN = 2
    INFO = 3
    DEBUG = 4
    TRACE = 5


class Peer:
    """A connected remote: a stable ``id`` (never reused by its transport), its ``addr``
    (``"ip:port"``) and ``outbound`` (True when we dialled it).

    Peers compare and hash by id, and ``int(peer)`` is the id, so a plain ``int`` works
    wherever a peer is expected.
    """

    __slots__ = ("_arg", "addr", "id", "outbound")

    id: int
    addr: str
    outbound: bool

    def __init__(self, id: int, addr: str = "", outbound: bool = False) -> None:
        self.id = id
        self.addr = addr
        self.outbound = outbound
        self._arg: object = None  # the id prepared for C calls, set by the transport

    def __index__(self) -> int:
        return self.id

    def __int__(self) -> int:
        return self.id

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Peer):
            return self.id == other.id
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        way = "outbound" if self.outbound else "inbound"
        return f"<Peer {self.id} {self.addr or '?'} {way}>"


class Message:
    """A received message: ``payload`` (bytes), the ``peer`` it came from and that peer's
    address ``from_addr`` (the origin's ``RPC{From, Payload}``)."""

    __slots__ = ("from_addr", "payload", "peer")

    payload: bytes
    peer: Peer
    from_addr: str

    def __init__(self, payload: bytes, peer: Peer, from_addr: str) -> None:
        self.payload = payload
        self.peer = peer
        self.from_addr = from_addr

    def __bytes__(self) -> bytes:
        return self.payload

    def __len__(self) -> int:
        return len(self.payload)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Message):
            return (self.payload, self.peer, self.from_addr) == (
                other.payload,
                other.peer,
                other.from_addr,
            )
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        p = self.payload
        shown = repr(p[:32]) + ("..." if len(p) > 32 else "")
        return f"<Message {len(p)} B from {self.peer.id} {self.from_addr}: {shown}>"


class PeerEvent:
    """Something that happened to a peer or to the transport.

    ``kind`` is an :class:`EventKind`; ``peer`` is the peer (for ``HANDSHAKE_FAILED`` a peer
    that never became one, for ``TRANSPORT_CLOSED`` ``None``); ``reason`` says why a peer
    went away; ``addr`` is the remote address.
    """

    __slots__ = ("addr", "kind", "peer", "reason")

    kind: EventKind
    peer: Optional[Peer]
    reason: Reason
    addr: str

    def __init__(self, kind: EventKind, peer: Optional[Peer], reason: Reason, addr: str) -> None:
        self.kind = kind
        self.peer = peer
        self.reason = reason
        self.addr = addr

    def __repr__(self) -> str:
        who = f" {self.peer.id} {self.addr}" if self.peer is not None else ""
        why = f" ({self.reason.name.lower()})" if self.reason else ""
        return f"<PeerEvent {self.kind.name}{who}{why}>"


@dataclass(frozen=True)
class Stats:
    """Counters of a transport (``peerwire_stats``)."""

    bytes_in: int
    bytes_out: int
    msgs_in: int
    msgs_out: int
    peers: int
    connections_accepted: int
    connections_dialled: int
    handshake_failures: int
    frames_refused: int
    send_queue_bytes: int
    recv_queue_events: int
    sends_would_block: int


@dataclass(frozen=True)
class PeerInfo:
    """What the transport knows about one peer (``peerwire_peer_info``)."""

    id: int
    outbound: bool
    addr: str
    bytes_in: int
    bytes_out: int
    msgs_in: int
    msgs_out: int
    send_queue_bytes: int
    send_queue_msgs: int


@dataclass(frozen=True)
class CloseReport:
    """What ``close`` had to drop (``peerwire_close_report``)."""

    peers_closed: int
    msgs_dropped: int
    bytes_dropped: int
    events_pending: int
