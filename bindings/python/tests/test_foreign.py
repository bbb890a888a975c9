"""Python against peers that are not this binding: a raw socket speaking the wire format and
the C demo peer."""

from __future__ import annotations

import socket
import struct

from conftest import next_event

import peerwire
from peerwire import EventKind


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def read_frame(s: socket.socket) -> bytes:
    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise EOFError("connection closed")
            buf += chunk
        return buf

    (n,) = struct.unpack(">I", exact(4))
    return exact(n)


def test_raw_socket_dials_python(transports):
    t = transports()
    host, port = t.listen().rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(frame(b"hello from a socket") + frame(b"") + frame(b"x" * 70000))
        got = [t.recv(timeout=5).payload for _ in range(3)]
        assert got == [b"hello from a socket", b"", b"x" * 70000]
        (peer,) = t.peers()
        assert peer.addr == "{}:{}".format(*s.getsockname())
        t.send(peer, b"hello back")
        assert read_frame(s) == b"hello back"


def test_python_dials_raw_socket(transports):
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    lst.settimeout(5)
    try:
        t = transports()
        peer = t.dial(f"127.0.0.1:{lst.getsockname()[1]}", timeout=5)
        conn, _ = lst.accept()
        with conn:
            conn.settimeout(5)
            t.send_many(peer, [b"one", b"two", b"three"])
            assert [read_frame(conn) for _ in range(3)] == [b"one", b"two", b"three"]
            conn.sendall(frame(b"reply"))
            msg = t.recv(timeout=5)
            assert msg.payload == b"reply" and msg.peer == peer
            conn.close()
            ev = next_event(t, EventKind.PEER_DISCONNECTED)
            assert ev.reason == peerwire.Reason.REMOTE_CLOSED
    finally:
        lst.close()


def test_truncated_frame_then_disconnect(transports):
    t = transports()
    host, port = t.listen().rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(frame(b"complete") + struct.pack(">I", 100) + b"only part")
        assert t.recv(timeout=5).payload == b"complete"
    ev = next_event(t, EventKind.PEER_DISCONNECTED)
    assert ev.peer is not None
    # Still serving.
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(frame(b"next"))
        assert t.recv(timeout=5).payload == b"next"
