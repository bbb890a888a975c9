"""Messages between two Python transports."""

from __future__ import annotations

import array
import struct
import time

import pytest
from conftest import next_event, wait_until

import peerwire
from peerwire import EventKind, Message, PeerEvent, Reason


def test_both_ways(pair):
    server, client, peer = pair
    assert isinstance(peer, peerwire.Peer)
    assert peer.outbound is True
    assert peer.addr == server.addr

    client.send(peer, b"ping")
    msg = server.recv(timeout=5)
    assert isinstance(msg, Message)
    assert msg.payload == b"ping"
    assert msg.peer.outbound is False
    assert msg.from_addr == msg.peer.addr
    assert msg.from_addr.startswith("127.0.0.1:")

    server.send(msg.peer, b"pong")
    back = client.recv(timeout=5)
    assert back.payload == b"pong"
    assert back.peer == peer
    assert back.from_addr == server.addr


def test_events_in_order_with_messages(pair):
    server, client, peer = pair
    client.send(peer, b"one")
    client.send(peer, b"two")
    got = []
    deadline = time.monotonic() + 5
    while len(got) < 3 and time.monotonic() < deadline:
        got.extend(server.recv_many(10, timeout=1, events=True))
    assert isinstance(got[0], PeerEvent)
    assert got[0].kind == EventKind.PEER_CONNECTED
    assert got[0].peer.outbound is False
    assert [m.payload for m in got[1:3]] == [b"one", b"two"]
    assert got[1].peer is got[0].peer

    # The dialler sees its own connected event too.
    ev = next_event(client, EventKind.PEER_CONNECTED)
    assert ev.peer == peer and ev.peer.outbound is True


def test_hundred_thousand_in_order(pair):
    server, client, peer = pair
    n = 100_000
    pack = struct.Struct(">I").pack
    sent = client.send_many(peer, (pack(i) + b"x" * 60 for i in range(n)))
    assert sent == n
    count = 0
    deadline = time.monotonic() + 60
    while count < n:
        assert time.monotonic() < deadline, f"only {count} of {n} messages arrived"
        for msg in server.recv_many(4096, timeout=1):
            assert len(msg.payload) == 64
            (seq,) = struct.unpack_from(">I", msg.payload)
            assert seq == count, f"message {count} arrived as {seq}"
            count += 1
    assert server.stats().msgs_in == n
    assert client.stats().msgs_out == n


def test_payload_sizes_and_bytes_like(pair):
    server, client, peer = pair
    big = bytes(range(256)) * 4096  # 1 MiB
    client.send(peer, big)
    client.send(peer, bytearray(b"from bytearray"))
    client.send(peer, memoryview(b"--from memoryview--")[2:-2])
    client.send(peer, array.array("B", [1, 2, 3]))
    assert server.recv(timeout=10).payload == big
    assert server.recv(timeout=5).payload == b"from bytearray"
    assert server.recv(timeout=5).payload == b"from memoryview"
    assert server.recv(timeout=5).payload == b"\x01\x02\x03"


def test_iteration_ends_when_closed(pair):
    server, client, peer = pair
    for i in range(5):
        client.send(peer, b"%d" % i)
    wait_until(lambda: server.stats().msgs_in == 5, what="5 messages in")
    server.close()
    # Messages that arrived before the close stay readable; then iteration ends.
    assert [m.payload for m in server] == [b"0", b"1", b"2", b"3", b"4"]
    with pytest.raises(peerwire.ClosedError):
        server.recv(timeout=1)


def test_events_iterator_ends_with_transport_closed(pair):
    server, client, peer = pair
    client.send(peer, b"last")
    wait_until(lambda: server.stats().msgs_in == 1, what="message in")
    server.close()
    items = list(server.events(timeout=5))
    kinds = [type(i).__name__ if isinstance(i, Message) else i.kind.name for i in items]
    assert kinds[0] == "PEER_CONNECTED"
    assert "Message" in kinds
    assert kinds[-1] == "TRANSPORT_CLOSED"


def test_recv_timeout(transports):
    t = transports()
    t.listen()
    start = time.monotonic()
    with pytest.raises(peerwire.TimeoutError):
        t.recv(timeout=0.3)
    took = time.monotonic() - start
    assert 0.25 <= took < 2.0
    with pytest.raises(TimeoutError):  # also the builtin
        t.recv(timeout=0)
    assert t.recv_many(10, timeout=0.05) == []
    assert list(t.messages(timeout=0.05)) == []


def test_broadcast_peers_and_disconnect(transports):
    hub = transports()
    hub.listen()
    spokes = [transports() for _ in range(3)]
    for s in spokes:
        s.dial(hub.addr, timeout=5)
    wait_until(lambda: len(hub.peers()) == 3, what="3 peers")
    assert hub.stats().peers == 3
    assert hub.broadcast(b"all") == 3
    for s in spokes:
        assert s.recv(timeout=5).payload == b"all"

    victim = hub.peers()[0]
    info = hub.peer_info(victim)
    assert info.id == victim.id and info.outbound is False and info.addr == victim.addr
    hub.disconnect(victim)
    ev = next_event(hub, EventKind.PEER_DISCONNECTED)
    assert ev.peer == victim
    assert ev.reason == Reason.CLOSED_LOCALLY
    wait_until(lambda: len(hub.peers()) == 2, what="2 peers")
    with pytest.raises(peerwire.UnknownPeerError):
        hub.send(victim, b"gone")
    # The remote side sees the disconnect too, as closed by the remote.
    wait_until(lambda: [s.stats().peers for s in spokes].count(0) == 1, what="spoke to notice")
    (dropped,) = [s for s in spokes if s.stats().peers == 0]
    ev = next_event(dropped, EventKind.PEER_DISCONNECTED)
    assert ev.reason == Reason.REMOTE_CLOSED


def test_stats_and_close_report(pair):
    server, client, peer = pair
    client.send(peer, b"12345")
    server.recv(timeout=5)
    s = client.stats()
    assert s.msgs_out == 1 and s.bytes_out >= 5 and s.connections_dialled == 1
    s = server.stats()
    assert s.msgs_in == 1 and s.connections_accepted == 1 and s.peers == 1
    report = client.close(linger=1)
    assert isinstance(report, peerwire.CloseReport)
    assert report.peers_closed == 1
    assert client.close() == report  # idempotent
    assert client.closed


def test_raw_codec_with_plain_socket(transports):
    import socket

    try:
        t = transports(codec="raw")
    except peerwire.UnsupportedError as e:
        pytest.skip(f"raw codec not in this build: {e}")
    t.listen()
    host, port = t.addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"no framing at all")
        got = b""
        deadline = time.monotonic() + 5
        while len(got) < 17 and time.monotonic() < deadline:
            got += t.recv(timeout=5).payload
        assert got == b"no framing at all"
        peer = t.peers()[0]
        t.send(peer, b"raw reply")
        s.settimeout(5)
        assert s.recv(100) == b"raw reply"


def test_dial_with_tuple_address(transports):
    server = transports()
    addr = server.listen()
    host, port = addr.rsplit(":", 1)
    client = transports()
    peer = client.dial((host, int(port)), timeout=5)
    client.send(peer.id, b"by id")
    assert server.recv(timeout=5).payload == b"by id"


def test_many_peers_listed(transports):
    import socket

    t = transports()
    host, port = t.listen().rsplit(":", 1)
    socks = [socket.create_connection((host, int(port)), timeout=5) for _ in range(70)]
    try:
        wait_until(lambda: len(t.peers()) == 70, what="70 peers")
        ids = [p.id for p in t.peers()]
        assert len(set(ids)) == 70
        local = {"{}:{}".format(*s.getsockname()) for s in socks}
        assert {p.addr for p in t.peers()} == local
    finally:
        for s in socks:
            s.close()
    wait_until(lambda: t.peers() == [], what="peers gone")


def test_ipv6_loopback(transports):
    import socket

    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    server = transports(("::1", 0))
    addr = server.listen()
    assert addr.startswith("[::1]:")
    client = transports()
    peer = client.dial(addr, timeout=5)
    client.send(peer, b"over v6")
    msg = server.recv(timeout=5)
    assert msg.payload == b"over v6" and msg.from_addr.startswith("[::1]:")
