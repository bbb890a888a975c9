"""asyncio receive, built on the readiness fd."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import peerwire
from peerwire import EventKind, PeerEvent


def run(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_async_for_messages(pair):
    server, client, peer = pair

    async def main():
        got = []

        async def produce():
            for i in range(200):
                client.send(peer, b"%d" % i)
                if i % 50 == 0:
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)

        task = asyncio.ensure_future(produce())
        async for msg in server.aiter():
            got.append(int(msg.payload))
            if len(got) == 200:
                break
        await task
        return got

    assert run(main()) == list(range(200))


def test_arecv_does_not_block_the_loop(pair):
    server, client, peer = pair

    async def main():
        ticks = 0
        stop = False

        async def ticker():
            nonlocal ticks
            while not stop:
                ticks += 1
                await asyncio.sleep(0.005)

        tk = asyncio.ensure_future(ticker())
        threading.Timer(0.3, client.send, (peer, b"late")).start()
        msg = await server.arecv(timeout=5)
        stop = True
        await tk
        return msg, ticks

    msg, ticks = run(main())
    assert msg.payload == b"late"
    assert ticks >= 20  # the loop kept running while waiting


def test_arecv_timeout_and_events(pair):
    server, _client, _peer = pair

    async def main():
        ev = await server.arecv_event(timeout=5)
        assert isinstance(ev, PeerEvent) and ev.kind == EventKind.PEER_CONNECTED
        start = time.monotonic()
        with pytest.raises(peerwire.TimeoutError):
            await server.arecv(timeout=0.2)
        return time.monotonic() - start

    took = run(main())
    assert 0.15 <= took < 2


def test_aiter_ends_when_closed_from_another_thread(pair):
    server, client, peer = pair

    async def main():
        got = []
        threading.Timer(0.2, client.send, (peer, b"one")).start()
        threading.Timer(0.5, server.close).start()
        async for ev in server.aiter(events=True):
            got.append(ev)
        return got

    got = run(main())
    kinds = [e.kind if isinstance(e, PeerEvent) else "msg" for e in got]
    assert kinds[0] == EventKind.PEER_CONNECTED
    assert "msg" in kinds
    assert kinds[-1] == EventKind.TRANSPORT_CLOSED


def test_two_waiters_on_one_loop(transports):
    server = transports()
    server.listen()
    client = transports()
    peer = client.dial(server.addr, timeout=5)

    async def main():
        a = asyncio.ensure_future(server.arecv(timeout=5))
        b = asyncio.ensure_future(server.arecv(timeout=5))
        await asyncio.sleep(0.1)
        client.send(peer, b"x")
        client.send(peer, b"y")
        return sorted([(await a).payload, (await b).payload])

    assert run(main()) == [b"x", b"y"]


def test_fileno_is_readable_when_events_wait(pair):
    import select

    server, client, peer = pair
    fd = server.fileno()
    assert isinstance(fd, int) and fd >= 0
    client.send(peer, b"x")
    r, _, _ = select.select([fd], [], [], 5)
    assert r == [fd]
    server.recv(timeout=1)
    r, _, _ = select.select([fd], [], [], 0)
    assert r == []  # level-triggered: quiet once drained
