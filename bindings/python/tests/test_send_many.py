"""send_many: batches through peerwire_transport_send_batch, partial sends, timeouts."""

from __future__ import annotations

import array
import struct
import threading
import time
from typing import List

import pytest

import peerwire


def drain(t: peerwire.Transport, n: int, timeout: float = 30) -> List[bytes]:
    out: List[bytes] = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        left = deadline - time.monotonic()
        assert left > 0, f"got {len(out)} of {n} messages"
        out.extend(m.payload for m in t.recv_many(timeout=left))
    return out


def numbered(i: int, size: int) -> bytes:
    return struct.pack(">I", i) + bytes([i % 251]) * (size - 4)


def test_bytes_like_items_and_empty_iterables(pair):
    server, client, peer = pair
    items = [
        b"bytes",
        bytearray(b"bytearray"),
        memoryview(b"memoryview"),
        array.array("I", [1, 2]),  # 8 bytes, though len() is 2
        memoryview(b"-sliced-")[1:-1],
        b"",
    ]
    assert client.send_many(peer, items) == len(items)
    got = drain(server, len(items))
    assert got == [b"bytes", b"bytearray", b"memoryview", bytes(items[3]), b"sliced", b""]
    assert client.send_many(peer, [b"", b""]) == 2  # a batch of no bytes at all
    assert drain(server, 2) == [b"", b""]
    assert client.send_many(peer, []) == 0
    assert client.send_many(peer, iter(())) == 0
    assert client.send_many(peer.id, (b"by id %d" % i for i in range(3))) == 3
    assert drain(server, 3) == [b"by id 0", b"by id 1", b"by id 2"]


def test_many_batches_in_order_with_a_reader(pair):
    """Sizes that make the binding cut batches by count (1024) and by bytes (~1 MiB), a
    message larger than a batch, and a reader running meanwhile."""
    server, client, peer = pair
    sizes = [8] * 3000 + [70_000] * 40 + [3 << 20] + [100] * 2000
    got: List[bytes] = []
    reader = threading.Thread(target=lambda: got.extend(drain(server, len(sizes), 60)))
    reader.start()
    try:
        assert client.send_many(peer, (numbered(i, n) for i, n in enumerate(sizes))) == len(sizes)
    finally:
        reader.join(60)
    assert len(got) == len(sizes)
    for i, (payload, n) in enumerate(zip(got, sizes)):
        assert len(payload) == n and payload == numbered(i, n), f"message {i}"
    s = client.stats()
    assert s.msgs_out == len(sizes)


def test_bad_item_sends_the_ones_before(pair):
    server, client, peer = pair
    items = [b"m%d" % i for i in range(1500)] + ["text"] + [b"never"]
    with pytest.raises(TypeError, match="message 1500") as info:
        client.send_many(peer, items)
    assert info.value.sent == 1500
    assert drain(server, 1500) == items[:1500]
    assert server.recv_many(timeout=0.2) == []


def test_iterator_error_sends_what_it_produced(pair):
    server, client, peer = pair

    def gen():
        for i in range(1030):
            yield b"g%d" % i
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError, match="source failed") as info:
        client.send_many(peer, gen())
    assert info.value.sent == 1030
    assert drain(server, 1030) == [b"g%d" % i for i in range(1030)]


def test_too_large_refuses_its_batch(transports):
    server = transports(max_frame=100)
    server.listen()
    client = transports(max_frame=100)
    peer = client.dial(server.addr, timeout=5)
    small = [b"s%d" % i for i in range(1024)]
    with pytest.raises(peerwire.MessageTooLargeError) as info:
        client.send_many(peer, [*small, b"ok", b"x" * 101, b"after"])
    # The first batch (1024 messages) went; the batch holding the large one did not.
    assert info.value.sent == 1024
    assert drain(server, 1024) == small
    assert server.recv_many(timeout=0.2) == []
    assert client.send_many(peer, [b"fine"]) == 1
    assert server.recv(timeout=5).payload == b"fine"


def test_errors_carry_sent(pair):
    _server, client, peer = pair
    with pytest.raises(peerwire.UnknownPeerError) as info:
        client.send_many(12345, [b"x"])
    assert info.value.sent == 0
    with pytest.raises(TypeError):
        client.send_many(peer, b"one message")  # a single message, not an iterable of them
    with pytest.raises(TypeError):
        client.send_many(peer, 5)
    with pytest.raises(TypeError):
        client.send_many(peer, [b"x"], timeout="1")
    with pytest.raises(ValueError):
        client.send_many(peer, [b"x"], timeout=-1)
    client.close()
    with pytest.raises(peerwire.ClosedError) as closed:
        client.send_many(peer, [b"x"])
    assert closed.value.sent == 0


def _stalled_pair(transports, **client_options):
    """A client whose peer stops reading: its send queue fills and stays full."""
    server = transports(recv_queue_events=1)
    server.listen()
    client = transports(send_queue_bytes=64 * 1024, **client_options)
    peer = client.dial(server.addr, timeout=5)
    return server, client, peer


def _fill_until_blocked(client, peer, timeout=None) -> peerwire.WouldBlockError:
    payload = b"z" * 4096
    # Bounded: loopback socket buffers hold a few MiB; 200 MiB can never all be queued.
    with pytest.raises(peerwire.WouldBlockError) as info:
        client.send_many(peer, (payload for _ in range(50_000)), timeout=timeout)
    return info.value


def test_timeout_bounds_the_whole_call(transports):
    _server, client, peer = _stalled_pair(transports)
    started = time.monotonic()
    err = _fill_until_blocked(client, peer, timeout=0.3)
    elapsed = time.monotonic() - started
    assert 0 < err.sent < 50_000
    assert 0.25 <= elapsed < 5, elapsed  # waited about 0.3 s in total, not per message
    started = time.monotonic()
    with pytest.raises(peerwire.WouldBlockError) as info:
        client.send_many(peer, [b"x" * 4096] * 10, timeout=0)
    assert info.value.sent == 0 and time.monotonic() - started < 1


def test_timeout_is_not_restarted_by_progress(transports):
    """A slow reader frees room now and then: each wait is short, but the call as a whole
    must still end at its timeout (as socket.sendall does)."""
    server = transports(recv_queue_events=64)
    server.listen()
    client = transports(send_queue_bytes=256 * 1024)
    peer = client.dial(server.addr, timeout=5)
    stop = threading.Event()
    drained = [0]

    def slow_reader():
        while not stop.is_set():
            try:
                drained[0] += len(server.recv_many(64, timeout=0.02))
            except peerwire.ClosedError:
                return
            time.sleep(0.02)

    th = threading.Thread(target=slow_reader)
    th.start()
    try:
        started = time.monotonic()
        with pytest.raises(peerwire.WouldBlockError) as info:
            client.send_many(peer, (b"s" * 4096 for _ in range(50_000)), timeout=0.5)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        th.join(10)
    assert 0.45 <= elapsed < 3, elapsed
    assert 0 < info.value.sent < 50_000
    assert drained[0] > 0  # the reader did make room meanwhile


def test_send_timeout_option_applies_when_no_timeout_given(transports):
    server, client, peer = _stalled_pair(transports, send_timeout=0.2)
    started = time.monotonic()
    err = _fill_until_blocked(client, peer)
    assert 0 < err.sent < 50_000
    assert time.monotonic() - started < 5
    # Everything counted as sent arrives, in order, once the reader catches up.
    n = 0
    deadline = time.monotonic() + 30
    while n < err.sent and time.monotonic() < deadline:
        n += len(server.recv_many(timeout=1))
    assert n == err.sent


def test_blocked_send_many_ends_when_transport_closes(transports):
    _server, client, peer = _stalled_pair(transports)
    errors: List[BaseException] = []

    def run():
        try:
            client.send_many(peer, (b"z" * 4096 for _ in range(50_000)))  # waits forever
        except peerwire.Error as e:
            errors.append(e)

    th = threading.Thread(target=run)
    th.start()
    time.sleep(0.5)
    assert th.is_alive()
    client.close(linger=0)
    th.join(10)
    assert not th.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], peerwire.ClosedError)
    assert 0 < errors[0].sent < 50_000
