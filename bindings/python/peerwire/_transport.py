"""The Transport: one listening/dialling endpoint with its peers."""

from __future__ import annotations

import asyncio
import atexit
import collections
import logging
import math
import threading
import time
import weakref
from array import array
from bisect import bisect_right
from itertools import accumulate, islice, repeat
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Deque,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Union,
)

from . import _codec, _ffi, _util
from ._errors import (
    CallbackError,
    ClosedError,
    Error,
    HandshakeError,
    StateError,
    TimeoutError,
    error_for,
)
from ._handshake import Handshake
from ._types import (
    CloseReport,
    EventKind,
    Message,
    Peer,
    PeerEvent,
    PeerInfo,
    Reason,
    Stats,
)

__all__ = ["Event", "HandshakeFunc", "Transport"]

log = logging.getLogger("peerwire")

Event = Union[Message, PeerEvent]
HandshakeFunc = Callable[[Handshake], Any]
PeerLike = Union[Peer, int]

# Longest single wait inside the library, so that a blocked recv notices Ctrl-C (signals are
# handled between bytecodes, on the main thread) and deadlines stay exact.
_SLICE_MS = 200
# Events taken from the library per call (one ctypes call and one release per batch).
_BATCH = 512
# How long close() waits for the dispatcher thread to finish the callbacks in flight.
_JOIN_TIMEOUT = 10.0

_OK = _ffi.OK
_EMPTY = _ffi.EMPTY
_TIMED_OUT = _ffi.TIMED_OUT
_CLOSED = _ffi.CLOSED
_MESSAGE = _ffi.EVENT_MESSAGE

_KINDS = {k.value: k for k in EventKind}
_REASONS = {r.value: r for r in Reason}

_live: weakref.WeakSet[Transport] = weakref.WeakSet()

_OPTION_SPECS = {
    # keyword: (C option, converter)
    "max_frame": ("max_frame", lambda v: _util.size(v, "max_frame", 1)),
    "handshake_timeout": (
        "handshake_timeout_ms",
        lambda v: _util.duration_ms(v, "handshake_timeout"),
    ),
    "connect_timeout": ("connect_timeout_ms", lambda v: _util.duration_ms(v, "connect_timeout")),
    "send_queue_bytes": ("send_queue_bytes", lambda v: _util.size(v, "send_queue_bytes", 1)),
    "send_timeout": (
        "send_timeout_ms",
        lambda v: _util.timeout_ms(v, "send_timeout"),
    ),
    "recv_queue_events": ("recv_queue_events", lambda v: _util.size(v, "recv_queue_events", 1)),
    "recv_queue_bytes": ("recv_queue_bytes", lambda v: _util.size(v, "recv_queue_bytes", 1)),
    "linger": ("linger_ms", lambda v: _util.duration_ms(v, "linger")),
    "read_buffer": ("read_buffer", lambda v: _util.size(v, "read_buffer", 1)),
    "max_connections": ("max_connections", lambda v: _util.size(v, "max_connections")),
    "workers": ("workers", lambda v: _util.size(v, "workers", 1, _util.UINT32_MAX)),
}


class Transport:
    """A peer-to-peer TCP endpoint: it listens, dials, and exchanges messages with peers.

    ::

        with peerwire.Transport("127.0.0.1:0") as t:
            t.listen()
            peer = t.dial(other_addr)
            t.send(peer, b"hello")
            msg = t.recv(timeout=5)

    Receiving comes in two modes:

    * **pull** (the default): :meth:`recv`, :meth:`recv_many`, ``for msg in transport``,
      :meth:`arecv` and ``async for msg in transport.aiter()`` return :class:`Message` objects
      only; peer events met on the way are consumed silently. :meth:`recv_event`,
      :meth:`events`, :meth:`arecv_event` and ``aiter(events=True)`` return messages *and*
      :class:`PeerEvent` objects, in the order they happened.
    * **callbacks**: after :meth:`on_message` or :meth:`on_peer`, a dispatcher thread owned by
      the binding takes every event and calls the handler for its kind (events without a
      handler are dropped); the pull methods then raise :class:`StateError`. Exceptions raised
      by a handler are logged on the ``peerwire`` logger, kept in :attr:`callback_errors`,
      and raised as :class:`CallbackError` by :meth:`check_callbacks` and :meth:`close`.

    Python code never runs on the library's I/O threads: events are pulled in batches, and
    the handshake function runs on the library's blocking pool. Every blocking call releases
    the GIL.

    Options (all keyword, sizes in bytes, durations in seconds; None keeps the library's
    default):

    ``listen_addr``  ``"host:port"`` or ``(host, port)`` to bind (default ``"127.0.0.1:0"``).
    ``handshake``    ``fn(hs: Handshake)``, run once per connection before any message; raise
                     or return ``False`` to reject.
    ``codec``        :class:`Codec` or its name (``"length_prefixed"``, ``"raw"``, ``"gob"``), a
                     :class:`RawCodec` (raw with a read size) or a :class:`CustomCodec`
                     (native split/header callbacks).
    ``max_frame``    largest message (default 16 MiB).
    ``handshake_timeout``, ``connect_timeout`` (default 10 s each), ``send_timeout`` (how
    long ``send`` waits for room in a full queue; 0 fails at once; default: forever),
    ``send_queue_bytes`` (per peer), ``recv_queue_events``, ``recv_queue_bytes``, ``linger``
    (how long ``close`` flushes), ``read_buffer``, ``max_connections`` (0: unlimited),
    ``workers`` (library runtime threads; the first transport of the process decides).
    ``on_message``, ``on_peer``: handlers, as with the methods of the same name.
    """

    def __init__(
        self,
        listen_addr: Optional[_util.Address] = None,
        *,
        handshake: Optional[HandshakeFunc] = None,
        codec: _codec.CodecLike = None,
        max_frame: Optional[int] = None,
        handshake_timeout: Optional[float] = None,
        connect_timeout: Optional[float] = None,
        send_timeout: Optional[float] = None,
        send_queue_bytes: Optional[int] = None,
        recv_queue_events: Optional[int] = None,
        recv_queue_bytes: Optional[int] = None,
        linger: Optional[float] = None,
        read_buffer: Optional[int] = None,
        max_connections: Optional[int] = None,
        workers: Optional[int] = None,
        on_message: Optional[Callable[[Message], Any]] = None,
        on_peer: Optional[Callable[[PeerEvent], Any]] = None,
    ) -> None:
        # Everything __del__ and close() look at exists before anything can fail.
        self._h: Optional[int] = None
        self._harg: Any = None  # the handle prepared for the hot C calls
        self._closed = False
        self._close_report: Optional[CloseReport] = None
        self._close_done = threading.Event()  # set once the first close has its report
        self._state_lock = threading.Lock()
        self._lock = threading.Lock()  # serialises pulls and guards the pending list
        # Events pulled and not yet handed out: _pending[_ppos:], of which _pothers are not
        # messages (so that message-only takes can slice when there are none).
        self._pending: List[Event] = []
        self._ppos = 0
        self._pothers = 0
        self._eof = False
        self._peers: Dict[int, Peer] = {}
        self._reader = _ffi.EventReader(_BATCH)
        self._fd: Optional[int] = None
        self._async_waiters: Dict[asyncio.AbstractEventLoop, set] = {}
        self._hs_failures: Deque[tuple] = collections.deque(maxlen=64)
        self._on_message: Optional[Callable[[Message], Any]] = None
        self._on_peer: Optional[Callable[[PeerEvent], Any]] = None
        self._dispatcher: Optional[threading.Thread] = None
        self._cb_errors: List[BaseException] = []
        self._cb_reported = 0
        self._send = _ffi.transport_send
        self._send_timeout_ms = -1  # the send_timeout option, for send_many
        self._codec_keep: Any = None  # native codec callbacks and user data, kept until freed

        settings = []
        if listen_addr is not None:
            settings.append(("listen_addr", _util.address(listen_addr, "listen_addr").decode()))
        spec = None if codec is None else _codec.resolve(codec)
        given = dict(
            max_frame=max_frame,
            handshake_timeout=handshake_timeout,
            connect_timeout=connect_timeout,
            send_timeout=send_timeout,
            send_queue_bytes=send_queue_bytes,
            recv_queue_events=recv_queue_events,
            recv_queue_bytes=recv_queue_bytes,
            linger=linger,
            read_buffer=read_buffer,
            max_connections=max_connections,
            workers=workers,
        )
        for key, value in given.items():
            if value is not None:
                name, convert = _OPTION_SPECS[key]
                settings.append((name, convert(value)))
                if key == "send_timeout":
                    self._send_timeout_ms = settings[-1][1]
        if spec is not None:
            settings.extend(spec.settings(read_buffer))
        if handshake is not None and not callable(handshake):
            raise TypeError(f"handshake must be callable, not {type(handshake).__name__}")
        for name, fn in (("on_message", on_message), ("on_peer", on_peer)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable, not {type(fn).__name__}")

        st, opts = _ffi.options_new()
        if st != _OK:
            raise error_for(st)
        try:
            for name, value in settings:
                st = _ffi.options_set(opts, name, value)
                if st != _OK:
                    raise error_for(st)
            if handshake is not None:
                st = _ffi.options_set_handshake(opts, _handshake_runner(handshake, self))
                if st != _OK:
                    raise error_for(st)
            if spec is not None and spec.custom is not None:
                # Kept before the call: from here on the library may call them, until freed.
                self._codec_keep = spec.keep()
                st = _ffi.options_set_custom_codec(opts, *spec.custom._addrs)
                if st != _OK:
                    raise error_for(st)
            st, h = _ffi.transport_new(opts)
            if st != _OK:
                raise error_for(st)
        finally:
            _ffi.options_free(opts)
        self._h = h
        self._harg = _ffi.arg_handle(h)
        _live.add(self)
        if on_message is not None:
            self.on_message(on_message)
        if on_peer is not None:
            self.on_peer(on_peer)

    # -- lifecycle -----------------------------------------------------------------------------

    def _handle(self) -> int:
        h = self._h
        if h is None:
            raise ClosedError("the transport is closed")
        return h

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def close(self, linger: Optional[float] = None) -> CloseReport:
        """Stop accepting, disconnect every peer, flush queued sends for up to ``linger``
        seconds (None: the transport's ``linger`` option), and report what was dropped.

        Idempotent and callable from any thread; a ``recv`` blocked elsewhere returns.
        Messages that arrived before the close stay readable until the queue is drained.
        Raises :class:`CallbackError` afterwards if a callback raised and that was not yet
        reported by :meth:`check_callbacks`.
        """
        linger_ms = _util.timeout_ms(linger, "linger")
        with self._state_lock:
            already = self._closed
            self._closed = True
        if not already:
            report = CloseReport(0, 0, 0, 0)
            try:
                h = self._h
                if h is not None:
                    st, rep = _ffi.transport_close(h, linger_ms)
                    if st < 0 and st not in (-2, -5):
                        raise error_for(st)
                    if st == _OK:
                        report = CloseReport(**rep)
            finally:
                self._close_report = report
                self._close_done.set()
            self._join_dispatcher()
        elif threading.current_thread() is not self._dispatcher and not _library_thread.active:
            # Another thread is closing: its report is this call's too. (Not from a handler
            # or a handshake function: that closer waits for them to return.)
            self._close_done.wait()
        self.check_callbacks()
        return self._close_report or CloseReport(0, 0, 0, 0)

    def _join_dispatcher(self) -> None:
        d = self._dispatcher
        if d is not None and d is not threading.current_thread():
            d.join(_JOIN_TIMEOUT)
            if d.is_alive():
                log.warning(
                    "peerwire: a callback is still running %.0f s after close", _JOIN_TIMEOUT
                )

    def _finalize(self) -> None:
        """Close without lingering and free the handle (garbage collection, exit)."""
        h = self._h
        if h is None:
            return
        if not self._closed:
            self._closed = True
            _ffi.transport_close(h, 0)
            if self._close_report is None:
                self._close_report = CloseReport(0, 0, 0, 0)
            self._close_done.set()
            self._join_dispatcher()
        self._h = None
        self._harg = None
        self._fd = None
        _ffi.transport_free(h)
        # Freed: the library no longer calls the codec's native callbacks.
        self._codec_keep = None

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            # Do not hide the exception in flight behind a callback error.
            try:
                self.close()
            except CallbackError:
                pass

    def __del__(self) -> None:
        try:
            self._finalize()
        except Exception:  # noqa: BLE001 - a finalizer must not raise
            pass

    def __repr__(self) -> str:
        if self._h is None or self._closed:
            return "<peerwire.Transport closed>"
        try:
            where = self.addr
        except Error:
            where = "not listening"
        return f"<peerwire.Transport {where} peers={len(self._peers)}>"

    # -- connections ---------------------------------------------------------------------------

    def listen(self) -> str:
        """Bind the listen address and accept connections in the background; returns the
        bound address (useful with port 0)."""
        st = _ffi.transport_listen(self._handle())
        if st != _OK:
            raise error_for(st)
        return self.addr

    @property
    def addr(self) -> str:
        """The bound address, ``"ip:port"`` (after :meth:`listen`)."""
        st, addr = _ffi.transport_local_addr(self._handle())
        if st != _OK:
            raise error_for(st)
        return addr

    def dial(self, addr: _util.Address, timeout: Optional[float] = None) -> Peer:
        """Connect to ``addr`` and run the handshake; returns the new peer.

        ``timeout`` in seconds covers the connection (None: the ``connect_timeout`` option);
        the handshake has its own deadline. Raises :class:`ConnectError`,
        :class:`TimeoutError`, :class:`HandshakeError` (with the local handshake function's
        exception as ``__cause__`` when it raised) or :class:`AddressError`.
        """
        a = _util.address(addr)
        ms = _util.timeout_ms(timeout)
        h = self._handle()
        started = time.monotonic()
        st, pid = _ffi.transport_dial(h, a, ms)
        if st != _OK:
            err = error_for(st)
            if isinstance(err, HandshakeError):
                cause = self._handshake_failure_since(started)
                if cause is not None:
                    raise err from cause
            raise err
        return self._peer(pid, True)

    def _handshake_failure_since(self, started: float) -> Optional[BaseException]:
        for when, outbound, _addr, exc in reversed(self._hs_failures):
            if when >= started and outbound:
                return exc
        return None

    @property
    def handshake_failures(self) -> List[tuple]:
        """The latest (up to 64) handshakes this side's function rejected, as
        ``(remote_addr, outbound, exception)``."""
        return [(addr, out, exc) for _when, out, addr, exc in self._hs_failures]

    def _peer(self, pid: int, outbound: bool = False, addr: Optional[str] = None) -> Peer:
        p = self._peers.get(pid)
        if p is not None:
            return p
        if addr is None:
            info = None
            h = self._h
            if h is not None:
                _st, info = _ffi.transport_peer_info(h, pid)
            if info is None:
                # Gone already: describe it without remembering it.
                return _new_peer(pid, "", outbound)
            addr, outbound = info["addr"], info["outbound"]
        return self._peers.setdefault(pid, _new_peer(pid, addr, outbound))

    def peers(self) -> List[Peer]:
        """The peers connected now."""
        st, ids = _ffi.transport_peers(self._handle())
        if st != _OK:
            raise error_for(st)
        return [self._peer(pid) for pid in ids]

    def peer_info(self, peer: PeerLike) -> PeerInfo:
        """Counters and address of one peer; :class:`UnknownPeerError` when it is gone."""
        pid = _util.peer_id(peer)
        st, info = _ffi.transport_peer_info(self._handle(), pid)
        if st != _OK or info is None:
            raise error_for(st)
        return PeerInfo(**info)

    def disconnect(self, peer: PeerLike) -> None:
        """Close the connection to ``peer`` (queued sends are flushed first)."""
        pid = _util.peer_id(peer)
        st = _ffi.transport_disconnect(self._handle(), pid)
        if st != _OK:
            raise error_for(st)

    def stats(self) -> Stats:
        """The transport's counters."""
        st, s = _ffi.transport_stats(self._handle())
        if st != _OK or s is None:
            raise error_for(st)
        return Stats(**s)

    # -- sending -------------------------------------------------------------------------------

    def send(self, peer: PeerLike, data: bytes, timeout: Optional[float] = None) -> None:
        """Queue ``data`` (any bytes-like object, copied) for ``peer``.

        When the peer's send queue is full, waits for room for ``timeout`` seconds (None:
        the ``send_timeout`` option, by default forever; 0: fail at once) and then raises
        :class:`WouldBlockError`. Raises :class:`MessageTooLargeError` above ``max_frame``
        and :class:`UnknownPeerError` for a peer that is gone.
        """
        h = self._harg
        if h is None:
            raise ClosedError("the transport is closed")
        if type(data) is not bytes:
            data = _util.as_bytes(data)
        if type(peer) is Peer:
            pid = peer._arg
            if pid is None:
                pid = peer.id
        else:
            pid = _util.peer_id(peer)
        if timeout is None:
            st = self._send(h, pid, data, len(data))
        else:
            st = _ffi.transport_send_timeout(h, pid, data, len(data), _util.timeout_ms(timeout))
        if st != _OK:
            raise error_for(st)

    def send_many(
        self, peer: PeerLike, messages: Iterable[bytes], timeout: Optional[float] = None
    ) -> int:
        """Send every item of ``messages`` (bytes-like objects) to ``peer``, in order; returns
        how many were queued.

        Messages go to the library in batches (up to 1024 messages or about 1 MiB per C call:
        one lock and one writer wake-up per batch), so this is several times faster than
        calling :meth:`send` in a loop. ``timeout`` is as for :meth:`send` (None: the
        ``send_timeout`` option, by default forever; 0: never wait) but bounds the whole
        call, not each message: when the peer's queue stays full past it,
        :class:`WouldBlockError` is raised.

        Every exception raised here carries ``sent``: the number of leading messages that
        were queued; ``messages[sent:]`` were not. Besides the errors of :meth:`send`, an
        item that is not bytes-like raises :class:`TypeError` after the items before it were
        sent, and an exception raised by the iterator itself propagates after the items it
        produced were sent. A message over ``max_frame`` refuses the whole batch it is in
        (:class:`MessageTooLargeError`; ``sent`` counts the earlier batches).
        """
        sent = 0
        try:
            h = self._harg
            if h is None:
                raise ClosedError("the transport is closed")
            if type(peer) is Peer:
                pid = peer._arg
                if pid is None:
                    pid = _ffi.arg_u64(peer.id)
            else:
                pid = _ffi.arg_u64(_util.peer_id(peer))
            if isinstance(messages, (bytes, bytearray, memoryview, str)):
                raise TypeError("send_many takes an iterable of messages, not a single message")
            ms = self._send_timeout_ms if timeout is None else _util.timeout_ms(timeout)
            deadline = _monotonic() + ms / 1000.0 if ms > 0 else None
            it = iter(messages)
            while True:
                chunk: List[Any] = []
                failure: Optional[Exception] = None
                try:
                    chunk.extend(islice(it, _SEND_BATCH))
                except Exception as e:  # noqa: BLE001 - the iterator's: send what it produced
                    failure = e
                full = len(chunk) == _SEND_BATCH
                types = set(map(type, chunk))
                if len(types) > 1 or (types and bytes not in types):
                    chunk, bad = _as_messages(chunk, sent)
                    failure = bad or failure
                if chunk:
                    lens = _array(_SIZE_T, map(len, chunk))
                    if len(chunk) > 1 and sum(lens) > _SEND_BATCH_BYTES:
                        # Cut, so as not to copy far more than needed at once.
                        pieces = [(p, _array(_SIZE_T, map(len, p))) for p in _split_batch(chunk)]
                    else:
                        pieces = [(chunk, lens)]
                    for piece, plens in pieces:
                        if deadline is not None:
                            left = deadline - _monotonic()
                            ms = _ceil(left * 1000) if left > 0 else 0
                        st, k = _send_batch(h, pid, b"".join(piece), plens, len(piece), ms)
                        sent += k
                        if st != _OK:
                            raise error_for(st)
                if failure is not None:
                    raise failure
                if not full:
                    return sent
        except Exception as e:
            e.sent = sent  # type: ignore[attr-defined]
            raise

    def broadcast(self, data: bytes) -> int:
        """Send ``data`` to every connected peer; returns how many peers it was queued for."""
        h = self._handle()
        st, n = _ffi.transport_broadcast(h, _util.as_bytes(data))
        if st != _OK:
            raise error_for(st)
        return n

    # -- receiving (pull) ----------------------------------------------------------------------

    def _ingest_messages(self, pids: List[int], payloads: List[bytes]) -> List[Event]:
        """Message objects for a batch of messages only (the common case)."""
        peers = self._peers
        first = pids[0]
        n = len(pids)
        if pids.count(first) == n:
            p = peers.get(first)
            if p is None:
                p = self._peer(first)
            return list(map(Message, payloads, repeat(p, n), repeat(p.addr, n)))
        out: List[Event] = []
        append = out.append
        for pid, payload in zip(pids, payloads):
            p = peers.get(pid)
            if p is None:
                p = self._peer(pid)
            append(Message(payload, p, p.addr))
        return out

    def _ingest_events(self, evs: Iterable[tuple]) -> List[Event]:
        """Objects for a mixed batch, in order, keeping the peer table current."""
        peers = self._peers
        out: List[Event] = []
        append = out.append
        for kind, reason, pid, payload, addr, outbound in evs:
            if kind == _MESSAGE:
                p = peers.get(pid)
                if p is None:
                    p = self._peer(pid)
                append(Message(payload, p, p.addr))
                continue
            k = _KINDS.get(kind)
            if k is None:
                continue
            self._pothers += 1
            r = _REASONS.get(reason, Reason.NONE)
            if k is EventKind.TRANSPORT_CLOSED:
                append(PeerEvent(k, None, r, ""))
                continue
            p = peers.get(pid)
            if p is None:
                p = _new_peer(pid, addr or "", bool(outbound))
                if k is EventKind.PEER_CONNECTED:
                    p = peers.setdefault(pid, p)
            elif not p.addr and addr:
                p.addr = addr
            if k is not EventKind.PEER_CONNECTED:
                peers.pop(pid, None)
            append(PeerEvent(k, p, r, addr or p.addr))
        return out

    def _pull(self, timeout_ms: int) -> None:
        """One batch from the library onto the pending list. Caller holds self._lock."""
        h = self._h
        if h is None:
            self._eof = True
            return
        st, pids, items = self._reader.pull(h, timeout_ms)
        if st == _OK:
            if pids is not None:
                new = self._ingest_messages(pids, items)
            else:
                new = self._ingest_events(items)
            if self._ppos >= len(self._pending):
                self._pending = new
                self._ppos = 0
            else:
                self._pending.extend(new)
        elif st == _CLOSED:
            self._eof = True
        elif st == _EMPTY or st == _TIMED_OUT:
            pass
        elif st in (-2, -5):  # freed handle or closed before any event: nothing more comes
            self._eof = True
        else:
            raise error_for(st)

    def _has_pending(self) -> bool:
        return self._ppos < len(self._pending)

    def _take_pending(self, max_n: int, messages_only: bool) -> List[Event]:
        """Up to max_n pending items (messages only: peer events are dropped on the way).
        Caller holds self._lock."""
        pend = self._pending
        pos = self._ppos
        avail = len(pend) - pos
        if avail <= 0:
            return []
        if max_n == 1 and not self._pothers:
            if avail == 1:
                self._pending = []
                self._ppos = 0
            else:
                self._ppos = pos + 1
            return [pend[pos]]
        if self._pothers == 0 or not messages_only:
            if pos == 0 and avail <= max_n:
                got = pend
            else:
                got = pend[pos : pos + max_n]
            if self._pothers:
                self._pothers -= sum(1 for x in got if type(x) is not Message)
            pos += len(got)
        else:
            got = []
            end = len(pend)
            while pos < end and len(got) < max_n:
                x = pend[pos]
                pos += 1
                if type(x) is Message:
                    got.append(x)
                else:
                    self._pothers -= 1
        if pos >= len(pend):
            self._pending = []
            self._ppos = 0
        else:
            self._ppos = pos
        return got

    def _check_pull(self) -> None:
        if self._dispatcher is not None:
            raise StateError("callbacks are registered: the dispatcher thread receives events")

    def _take(self, timeout: Optional[float], max_n: int, messages_only: bool) -> List[Event]:
        """Up to max_n events; blocks until one arrives or ``timeout`` passes (then []).
        Raises ClosedError when the transport is closed and drained.

        The hot path of every receive: kept lean, since on a busy core every microsecond
        spent here is a microsecond of round-trip latency."""
        if self._dispatcher is not None:
            self._check_pull()
        if timeout is None:
            deadline = None
        else:
            tt = type(timeout)
            if (tt is float or tt is int) and 0 <= timeout < 2_000_000:
                deadline = _monotonic() + timeout
            else:
                deadline = _monotonic() + _util.timeout_ms(timeout) / 1000.0
        lock = self._lock
        while True:
            if lock.acquire(False) or lock.acquire(timeout=_lock_wait(deadline)):
                try:
                    if self._dispatcher is not None:
                        self._check_pull()
                    got = self._take_pending(max_n, messages_only)
                    if got:
                        return got
                    if not self._eof:
                        if deadline is None:
                            self._pull(_SLICE_MS)
                        else:
                            left = deadline - _monotonic()
                            self._pull(0 if left <= 0 else min(_SLICE_MS, _ceil(left * 1000)))
                        got = self._take_pending(max_n, messages_only)
                        if got:
                            return got
                    if self._eof and not self._has_pending():
                        raise ClosedError("the transport is closed and every message was taken")
                finally:
                    lock.release()
            if deadline is not None and _monotonic() >= deadline:
                return []

    def recv(self, timeout: Optional[float] = None) -> Message:
        """The next message; waits up to ``timeout`` seconds (None: forever, 0: poll).

        Raises :class:`TimeoutError` when none came and :class:`ClosedError` once the
        transport is closed and every message was taken. Peer events are skipped (see
        :meth:`recv_event`).
        """
        got = self._take(timeout, 1, True)
        if not got:
            raise TimeoutError("no message arrived in time")
        return got[0]  # type: ignore[return-value]

    def recv_event(self, timeout: Optional[float] = None) -> Event:
        """Like :meth:`recv`, but returns peer events too (:class:`PeerEvent`)."""
        got = self._take(timeout, 1, False)
        if not got:
            raise TimeoutError("no event arrived in time")
        return got[0]

    def recv_many(
        self, max: int = _BATCH, timeout: Optional[float] = None, *, events: bool = False
    ) -> List[Any]:
        """Up to ``max`` messages (with ``events=True`` also peer events) that are waiting;
        blocks until at least one arrives or ``timeout`` passes, then returns ``[]``.
        Raises :class:`ClosedError` once the transport is closed and drained."""
        n = _util.size(max, "max", 1)
        return self._take(timeout, n, not events)

    def __iter__(self) -> Iterator[Message]:
        """Messages until the transport is closed."""
        return self.messages()

    def messages(self, timeout: Optional[float] = None) -> Iterator[Message]:
        """Iterate over messages until the transport is closed, or until none arrives for
        ``timeout`` seconds."""
        while True:
            try:
                batch = self._take(timeout, _BATCH, True)
            except ClosedError:
                return
            if not batch:
                return
            yield from batch  # type: ignore[misc]

    def events(self, timeout: Optional[float] = None) -> Iterator[Event]:
        """Iterate over messages and peer events until the transport is closed (the last
        item is the ``TRANSPORT_CLOSED`` event), or until nothing arrives for ``timeout``
        seconds."""
        while True:
            try:
                batch = self._take(timeout, _BATCH, False)
            except ClosedError:
                return
            if not batch:
                return
            yield from batch

    def fileno(self) -> int:
        """The readiness file descriptor: readable while events wait (level-triggered).
        Owned by the transport; do not close it."""
        fd = self._fd
        if fd is None:
            st, fd = _ffi.transport_event_fd(self._handle())
            if st != _OK:
                raise error_for(st)
            self._fd = fd
        return fd

    # -- receiving (asyncio) -------------------------------------------------------------------

    def _try_take(self, max_n: int, messages_only: bool) -> Optional[List[Event]]:
        """Non-blocking take; None when another thread holds the receive lock."""
        self._check_pull()
        if not self._lock.acquire(blocking=False):
            return None
        try:
            got = self._take_pending(max_n, messages_only)
            if not got and not self._eof:
                self._pull(0)
                got = self._take_pending(max_n, messages_only)
            if not got and self._eof and not self._has_pending():
                raise ClosedError("the transport is closed and every message was taken")
            return got
        finally:
            self._lock.release()

    def _wake_async(self, loop: asyncio.AbstractEventLoop) -> None:
        for fut in self._async_waiters.get(loop, ()):
            if not fut.done():
                fut.set_result(None)

    async def _wait_readable(self, timeout: Optional[float]) -> None:
        loop = asyncio.get_running_loop()
        fd = self.fileno()
        fut = loop.create_future()
        waiters = self._async_waiters.get(loop)
        if waiters is None:
            waiters = self._async_waiters[loop] = set()
            loop.add_reader(fd, self._wake_async, loop)
        waiters.add(fut)
        try:
            if timeout is None:
                await fut
            else:
                await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            waiters.discard(fut)
            if not waiters:
                self._async_waiters.pop(loop, None)
                if self._fd is not None:
                    loop.remove_reader(fd)

    async def _atake(
        self, timeout: Optional[float], max_n: int, messages_only: bool
    ) -> List[Event]:
        deadline = None if timeout is None else time.monotonic() + _util.timeout_ms(timeout) / 1e3
        while True:
            got = self._try_take(max_n, messages_only)
            if got:
                return got
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return []
            if got is None:
                # A thread is blocked in recv(); the fd stays readable, so do not spin on it.
                await asyncio.sleep(0.002)
            else:
                await self._wait_readable(remaining)

    async def arecv(self, timeout: Optional[float] = None) -> Message:
        """``await`` the next message (asyncio, via the readiness fd); see :meth:`recv`."""
        got = await self._atake(timeout, 1, True)
        if not got:
            raise TimeoutError("no message arrived in time")
        return got[0]  # type: ignore[return-value]

    async def arecv_event(self, timeout: Optional[float] = None) -> Event:
        """``await`` the next message or peer event; see :meth:`recv_event`."""
        got = await self._atake(timeout, 1, False)
        if not got:
            raise TimeoutError("no event arrived in time")
        return got[0]

    async def aiter(self, *, events: bool = False) -> AsyncIterator[Any]:
        """``async for msg in transport.aiter()``: messages (with ``events=True`` also peer
        events) until the transport is closed. Runs on the current event loop with
        ``loop.add_reader`` on the readiness fd; never blocks the loop."""
        while True:
            try:
                batch = await self._atake(None, _BATCH, not events)
            except ClosedError:
                return
            for item in batch:
                yield item

    def __aiter__(self) -> AsyncIterator[Message]:
        return self.aiter()

    # -- receiving (callbacks) -----------------------------------------------------------------

    def on_message(self, fn: Optional[Callable[[Message], Any]]) -> Any:
        """Call ``fn(message)`` for every message, on the binding's dispatcher thread.

        Usable as a decorator. Passing None removes the handler (messages are then dropped).
        """
        if fn is not None and not callable(fn):
            raise TypeError(f"on_message needs a callable, not {type(fn).__name__}")
        self._on_message = fn
        if fn is not None:
            self._start_dispatcher()
        return fn

    def on_peer(self, fn: Optional[Callable[[PeerEvent], Any]]) -> Any:
        """Call ``fn(event)`` for every :class:`PeerEvent` (connected, disconnected,
        handshake failed, transport closed), on the dispatcher thread. Usable as a decorator."""
        if fn is not None and not callable(fn):
            raise TypeError(f"on_peer needs a callable, not {type(fn).__name__}")
        self._on_peer = fn
        if fn is not None:
            self._start_dispatcher()
        return fn

    def _start_dispatcher(self) -> None:
        self._handle()
        with self._state_lock:
            if self._dispatcher is not None:
                return
            # From here on the pull methods raise StateError; one blocked in another thread
            # notices within a slice and lets go of the receive lock. Events it had already
            # pulled stay pending and go to the handlers first.
            self._dispatcher = threading.Thread(
                target=_dispatch,
                args=(weakref.ref(self),),
                name="peerwire-dispatch",
                daemon=True,
            )
            self._dispatcher.start()

    def _dispatch_batch(self) -> tuple:
        with self._lock:
            if not self._has_pending() and not self._eof:
                self._pull(_SLICE_MS)
            items = self._take_pending(len(self._pending), False)
            return items, self._eof

    def _callback_failed(self, fn: Any, item: Any, exc: BaseException) -> None:
        self._cb_errors.append(exc)
        name = getattr(fn, "__qualname__", repr(fn))
        log.error("peerwire: callback %s raised while handling %r", name, item, exc_info=exc)

    @property
    def callback_errors(self) -> List[BaseException]:
        """Every exception raised by an ``on_message``/``on_peer`` handler so far."""
        return list(self._cb_errors)

    def check_callbacks(self) -> None:
        """Raise :class:`CallbackError` for handler exceptions not reported yet."""
        new = self._cb_errors[self._cb_reported :]
        if new:
            self._cb_reported += len(new)
            raise CallbackError(new)


_monotonic = time.monotonic


class _ThreadFlag(threading.local):
    active = False


# True while a library thread runs a handshake function.
_library_thread = _ThreadFlag()
_send_batch = _ffi.transport_send_batch
_array = array
_SIZE_T = _ffi.SIZE_T_CODE
# send_many: messages and bytes per C call.
_SEND_BATCH = 1024
_SEND_BATCH_BYTES = 1 << 20


def _as_messages(items: List[Any], first: int) -> tuple:
    """``(bytes items, error)``: the items as bytes up to the first that is not bytes-like,
    and the TypeError for that one (or None). ``first``: the index of ``items[0]``."""
    out: List[bytes] = []
    for i, x in enumerate(items):
        if type(x) is bytes:
            out.append(x)
            continue
        try:
            out.append(_util.as_bytes(x, "message"))
        except TypeError as e:
            return out, TypeError(f"send_many: message {first + i}: {e}")
    return out, None


def _split_batch(chunk: List[bytes]) -> List[List[bytes]]:
    """``chunk`` cut into runs of about _SEND_BATCH_BYTES (a larger message goes alone)."""
    ends = list(accumulate(map(len, chunk)))
    pieces = []
    start, n = 0, len(chunk)
    while start < n:
        base = ends[start - 1] if start else 0
        stop = max(bisect_right(ends, base + _SEND_BATCH_BYTES, start), start + 1)
        pieces.append(chunk[start:stop])
        start = stop
    return pieces


def _new_peer(pid: int, addr: str, outbound: bool) -> Peer:
    p = Peer(pid, addr, outbound)
    p._arg = _ffi.arg_u64(pid)
    return p


_ceil = math.ceil


def _lock_wait(deadline: Optional[float]) -> float:
    """How long to wait for the receive lock: a slice, or what is left of the deadline."""
    if deadline is None:
        return _SLICE_MS / 1000.0
    return min(max(deadline - _monotonic(), 0.0), _SLICE_MS / 1000.0)


def _dispatch(ref: weakref.ReferenceType[Transport]) -> None:
    """Dispatcher thread: drains the pull queue and runs the handlers. Holds the transport
    only while working, so an abandoned transport can still be garbage-collected."""
    while True:
        t = ref()
        if t is None:
            return
        try:
            items, done = t._dispatch_batch()
        except Exception as e:  # noqa: BLE001 - the thread must end cleanly
            log.error("peerwire: dispatcher stopped: %s", e)
            return
        for item in items:
            fn = t._on_message if type(item) is Message else t._on_peer
            if fn is None:
                continue
            try:
                fn(item)
            except BaseException as e:  # noqa: BLE001 - kept and re-raised on the caller
                t._callback_failed(fn, item, e)
        del t, items
        if done:
            return


def _handshake_runner(fn: HandshakeFunc, transport: Transport) -> Callable[[int], bool]:
    """Wrap the user's handshake function for the C trampoline (runs on a pool thread)."""
    tref = weakref.ref(transport)

    def run(hs_ptr: int) -> bool:
        hs = Handshake(hs_ptr)
        exc: Optional[BaseException] = None
        addr, outbound = "", False
        _library_thread.active = True
        try:
            addr, outbound = hs.remote_addr, hs.outbound
            if fn(hs) is False:
                exc = HandshakeError("the handshake function returned False")
        except BaseException as e:  # noqa: BLE001 - any exception rejects the connection
            exc = e
        finally:
            _library_thread.active = False
            hs._invalidate()
        if exc is None:
            return True
        log.info("peerwire: handshake with %s rejected: %r", addr or "?", exc)
        t = tref()
        if t is not None:
            t._hs_failures.append((time.monotonic(), outbound, addr, exc))
        return False

    return run


@atexit.register
def _close_all() -> None:
    # Before the interpreter tears down: no library thread may call into Python afterwards.
    for t in list(_live):
        try:
            t._finalize()
        except Exception:  # noqa: BLE001
            pass
    try:
        _ffi.log_set(None, 0)
    except Exception:  # noqa: BLE001
        pass
