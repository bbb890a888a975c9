"""Wrong arguments, closed transports and limits raise exceptions, never crash."""

from __future__ import annotations

import socket
import struct

import pytest
from conftest import next_event

import peerwire
from peerwire import EventKind, Reason


def test_hierarchy():
    for cls in (
        peerwire.ClosedError,
        peerwire.TimeoutError,
        peerwire.HandshakeError,
        peerwire.HandshakeTimeoutError,
        peerwire.MessageTooLargeError,
        peerwire.UnknownPeerError,
        peerwire.ConnectError,
        peerwire.AddressError,
        peerwire.StateError,
        peerwire.WouldBlockError,
        peerwire.CallbackError,
    ):
        assert issubclass(cls, peerwire.Error)
    assert issubclass(peerwire.TimeoutError, TimeoutError)
    assert issubclass(peerwire.HandshakeTimeoutError, peerwire.HandshakeError)
    assert issubclass(peerwire.ConnectError, ConnectionError)
    assert issubclass(peerwire.AddressError, ValueError)


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"max_frame": "big"}, TypeError),
        ({"max_frame": -1}, ValueError),
        ({"max_frame": 0}, ValueError),
        ({"max_frame": 1.5}, TypeError),
        ({"max_frame": True}, TypeError),
        ({"handshake_timeout": -1}, ValueError),
        ({"handshake_timeout": "1"}, TypeError),
        ({"linger": float("nan")}, ValueError),
        ({"codec": "morse"}, ValueError),
        ({"codec": 99}, ValueError),
        ({"codec": 1.0}, TypeError),
        ({"listen_addr": 1234}, TypeError),
        ({"listen_addr": "a\0b"}, ValueError),
        ({"workers": 0}, ValueError),
        ({"on_message": 42}, TypeError),
    ],
)
def test_bad_options(kwargs, exc):
    with pytest.raises(exc):
        peerwire.Transport(**kwargs)


def test_bad_listen_address_is_address_error():
    t = peerwire.Transport("not an address")
    try:
        with pytest.raises(peerwire.Error) as info:
            t.listen()
        assert isinstance(info.value, (peerwire.AddressError, peerwire.InvalidArgumentError))
        assert info.value.message  # the library's explanation
        assert info.value.status < 0
    finally:
        t.close()


def test_wrong_argument_types(pair):
    server, client, peer = pair
    for bad in ("text", 5, None, 1.5, object()):
        with pytest.raises(TypeError):
            client.send(peer, bad)
    for bad in ("peer", None, 1.5, b"x", True):
        with pytest.raises(TypeError):
            client.send(bad, b"data")
    with pytest.raises(ValueError):
        client.send(-1, b"data")
    with pytest.raises(TypeError):
        client.send_many(peer, b"a single message")
    with pytest.raises(TypeError) as info:
        client.send_many(peer, [b"ok", "not ok"])
    assert info.value.sent == 1  # the first one went out
    assert server.recv(timeout=5).payload == b"ok"
    with pytest.raises(TypeError):
        client.broadcast("text")
    with pytest.raises(TypeError):
        client.dial(1234)
    with pytest.raises(TypeError):
        client.dial(("127.0.0.1", "80"))
    with pytest.raises(TypeError):
        client.recv(timeout="1")
    with pytest.raises(ValueError):
        client.recv(timeout=-1)
    with pytest.raises(TypeError):
        client.recv_many("10")
    with pytest.raises(ValueError):
        client.recv_many(0)
    with pytest.raises(TypeError):
        client.disconnect("x")
    with pytest.raises(TypeError):
        client.on_message(3)
    # The transport still works afterwards.
    client.send(peer, b"still fine")
    assert server.recv(timeout=5).payload == b"still fine"


def test_unknown_peer(pair):
    _server, client, _peer = pair
    with pytest.raises(peerwire.UnknownPeerError) as info:
        client.send(987654321, b"x")
    assert info.value.message
    with pytest.raises(peerwire.UnknownPeerError):
        client.peer_info(987654321)
    with pytest.raises(peerwire.UnknownPeerError):
        client.disconnect(987654321)


def test_connect_refused_and_bad_address(transports):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    t = transports()
    with pytest.raises(peerwire.ConnectError):
        t.dial(f"127.0.0.1:{port}", timeout=5)
    with pytest.raises(peerwire.AddressError):
        t.dial("this is not an address", timeout=5)
    with pytest.raises(peerwire.AddressError):
        t.dial("127.0.0.1:99999", timeout=5)


def test_listen_twice_is_state_error(transports):
    t = transports()
    t.listen()
    with pytest.raises(peerwire.StateError):
        t.listen()


def test_closed_transport_raises(pair):
    server, client, peer = pair
    client.close()
    for call in (
        lambda: client.send(peer, b"x"),
        lambda: client.broadcast(b"x"),
        lambda: client.dial(server.addr, timeout=1),
        lambda: client.listen(),
        lambda: client.recv(timeout=0.1),
    ):
        with pytest.raises(peerwire.ClosedError):
            call()
    client._finalize()  # handle freed too: still exceptions
    for call in (
        lambda: client.send(peer, b"x"),
        lambda: client.stats(),
        lambda: client.peers(),
        lambda: client.addr,
        lambda: client.recv(timeout=0),
        lambda: client.disconnect(peer),
    ):
        with pytest.raises(peerwire.ClosedError):
            call()
    client.close()  # still idempotent


def test_frame_over_the_limit_on_send(transports):
    server = transports()
    server.listen()
    client = transports(max_frame=1024)
    peer = client.dial(server.addr, timeout=5)
    client.send(peer, b"x" * 1024)  # exactly the limit is fine
    with pytest.raises(peerwire.MessageTooLargeError):
        client.send(peer, b"x" * 1025)
    assert server.recv(timeout=5).payload == b"x" * 1024
    assert client.stats().frames_refused >= 1


def test_frame_over_the_limit_on_receive(transports):
    server = transports(max_frame=1024)
    server.listen()
    client = transports()
    peer = client.dial(server.addr, timeout=5)
    client.send(peer, b"small")
    client.send(peer, b"y" * 4096)
    assert server.recv(timeout=5).payload == b"small"
    ev = next_event(server, EventKind.PEER_DISCONNECTED)
    assert ev.reason == Reason.FRAME_TOO_LARGE
    # The server keeps working for others.
    other = transports()
    p2 = other.dial(server.addr, timeout=5)
    other.send(p2, b"fine")
    assert server.recv(timeout=5).payload == b"fine"


def test_oversized_length_from_raw_socket(transports):
    server = transports(max_frame=1024)
    server.listen()
    host, port = server.addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(struct.pack(">I", 0xFFFFFFF0) + b"garbage")
        ev = next_event(server, EventKind.PEER_DISCONNECTED)
        assert ev.reason == Reason.FRAME_TOO_LARGE
