"""Threads: the GIL is released while blocked, close unblocks, callbacks, GC."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import weakref

import pytest
from conftest import collect, open_fds, wait_until

import peerwire
from peerwire import EventKind, Message, PeerEvent


def test_other_threads_run_while_recv_blocks(transports):
    t = transports()
    t.listen()
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set() and len(ticks) < 100_000:
            ticks.append(1)
            time.sleep(0.001)

    th = threading.Thread(target=ticker)
    th.start()
    try:
        with pytest.raises(peerwire.TimeoutError):
            t.recv(timeout=0.5)
    finally:
        stop.set()
        th.join(5)
    assert len(ticks) > 50  # the ticker ran all the while the main thread was blocked


def test_pure_python_thread_progresses_during_blocking_recv(transports):
    # A CPU-bound Python thread makes progress only if the blocked thread let go of the GIL.
    t = transports()
    t.listen()
    counter = [0]
    done = threading.Event()

    def spin():
        while not done.is_set():
            counter[0] += 1

    th = threading.Thread(target=spin)
    th.start()
    try:
        before = counter[0]
        with pytest.raises(peerwire.TimeoutError):
            t.recv(timeout=0.3)
        progressed = counter[0] - before
    finally:
        done.set()
        th.join(5)
    assert progressed > 10_000


def test_close_from_another_thread_unblocks_recv(transports):
    t = transports()
    t.listen()
    result = {}

    def blocked():
        start = time.monotonic()
        try:
            t.recv()  # no timeout: would wait forever
        except peerwire.ClosedError as e:
            result["exc"] = e
        result["took"] = time.monotonic() - start

    th = threading.Thread(target=blocked)
    th.start()
    time.sleep(0.3)
    assert th.is_alive()
    closed_at = time.monotonic()
    t.close()
    th.join(5)
    assert not th.is_alive()
    assert isinstance(result.get("exc"), peerwire.ClosedError)
    assert time.monotonic() - closed_at < 2.0


def test_blocking_iteration_ends_on_close_from_another_thread(pair):
    server, client, peer = pair
    got = []

    def consume():
        got.extend(m.payload for m in server)

    th = threading.Thread(target=consume)
    th.start()
    client.send(peer, b"a")
    client.send(peer, b"b")
    wait_until(lambda: len(got) == 2, what="two messages")
    server.close()
    th.join(5)
    assert not th.is_alive()
    assert got == [b"a", b"b"]


def test_ctrl_c_interrupts_a_blocked_recv():
    code = textwrap.dedent("""
        import sys, time, peerwire
        t = peerwire.Transport()
        t.listen()
        print("ready", flush=True)
        try:
            t.recv()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            t.close()
            sys.exit(0)
        sys.exit(3)
    """)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=5)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    assert "interrupted" in out
    assert p.returncode == 0


def test_callbacks_run_on_the_dispatcher_thread(transports):
    got, events, threads = [], [], set()
    done = threading.Event()

    def handle(msg: Message):
        threads.add(threading.current_thread().name)
        got.append(msg.payload)
        if len(got) == 3:
            done.set()

    server = transports(on_message=handle, on_peer=events.append)
    server.listen()
    client = transports()
    peer = client.dial(server.addr, timeout=5)
    for i in range(3):
        client.send(peer, b"m%d" % i)
    assert done.wait(5)
    assert got == [b"m0", b"m1", b"m2"]
    assert threads == {"peerwire-dispatch"}
    wait_until(lambda: any(e.kind == EventKind.PEER_CONNECTED for e in events), what="event")
    with pytest.raises(peerwire.StateError):
        server.recv(timeout=0)
    with pytest.raises(peerwire.StateError):
        list(server.events(timeout=0))
    client.close()
    wait_until(
        lambda: any(e.kind == EventKind.PEER_DISCONNECTED for e in events), what="disconnect event"
    )
    server.close()
    assert events[-1].kind == EventKind.TRANSPORT_CLOSED
    assert not any(
        t.name == "peerwire-dispatch" and t.is_alive()
        for t in threading.enumerate()
        if t is server._dispatcher
    )


def test_callback_exceptions_are_logged_and_kept(pair, caplog):
    server, client, peer = pair
    seen = []

    def handle(msg):
        seen.append(msg.payload)
        if msg.payload == b"bad":
            raise RuntimeError("handler failed")

    server.on_message(handle)
    with caplog.at_level(logging.ERROR, logger="peerwire"):
        client.send(peer, b"bad")
        client.send(peer, b"good")  # the dispatcher keeps going after a failure
        wait_until(lambda: seen == [b"bad", b"good"], what="both messages")
    assert any(
        "handler failed" in r.getMessage()
        or (r.exc_info and "handler failed" in str(r.exc_info[1]))
        for r in caplog.records
    )
    assert len(server.callback_errors) == 1
    assert isinstance(server.callback_errors[0], RuntimeError)
    with pytest.raises(peerwire.CallbackError) as info:
        server.check_callbacks()
    assert isinstance(info.value.__cause__, RuntimeError)
    server.check_callbacks()  # reported once
    assert len(server.callback_errors) == 1


def test_close_raises_unreported_callback_errors(pair):
    server, client, peer = pair
    server.on_peer(lambda ev: 1 / 0)
    client.send(peer, b"x")
    wait_until(lambda: server.callback_errors, what="callback error")
    with pytest.raises(peerwire.CallbackError) as info:
        server.close()
    assert isinstance(info.value.errors[0], ZeroDivisionError)
    server.close()  # now reported: a second close is quiet


def test_with_block_does_not_mask_an_exception(transports):
    server = transports()
    server.listen()
    with pytest.raises(KeyError):
        with peerwire.Transport(on_peer=lambda ev: 1 / 0) as t:
            t.dial(server.addr, timeout=5)
            wait_until(lambda: t.callback_errors, what="callback error")
            raise KeyError("the real problem")


def test_transports_in_many_threads(transports):
    server = transports()
    server.listen()
    n_threads, per = 4, 500

    def worker(i):
        c = peerwire.Transport()
        try:
            p = c.dial(server.addr, timeout=5)
            for k in range(per):
                c.send(p, b"%d:%d" % (i, k))
        finally:
            c.close(linger=5)

    ths = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for th in ths:
        th.start()
    seen = {i: [] for i in range(n_threads)}
    deadline = time.monotonic() + 30
    total = 0
    while total < n_threads * per and time.monotonic() < deadline:
        for m in server.recv_many(1000, timeout=1):
            i, k = m.payload.split(b":")
            seen[int(i)].append(int(k))
            total += 1
    for th in ths:
        th.join(10)
    assert all(seen[i] == list(range(per)) for i in seen)


def test_garbage_collected_without_leaks(transports):
    server = transports()
    server.listen()

    def cycle():
        t = peerwire.Transport(handshake=lambda h: None)
        t.listen()
        p = t.dial(server.addr, timeout=5)
        t.send(p, b"x")
        ref = weakref.ref(t)
        del t, p
        return ref

    # Warm up: the library's runtime threads and the server's connections exist once.
    r = cycle()
    collect()
    wait_until(lambda: server.stats().peers == 0, what="warm-up peer gone")
    fds, threads = open_fds(), threading.active_count()
    registry = peerwire._ffi.registry_size()
    refs = [cycle() for _ in range(5)]
    collect()
    assert r() is None and all(ref() is None for ref in refs)
    wait_until(lambda: server.stats().peers == 0, what="peers gone")
    wait_until(lambda: open_fds() <= fds, what=f"fds back to {fds} (now {open_fds()})")
    assert threading.active_count() <= threads
    assert peerwire._ffi.registry_size() == registry


def test_abandoned_transport_with_callbacks_is_collected(transports):
    server = transports()
    server.listen()
    fds = open_fds()

    def make():
        t = peerwire.Transport(on_message=lambda m: None, on_peer=lambda e: None)
        t.dial(server.addr, timeout=5)
        return weakref.ref(t), t._dispatcher

    ref, dispatcher = make()
    collect()
    wait_until(lambda: ref() is None, what="transport collected")
    dispatcher.join(5)
    assert not dispatcher.is_alive()
    wait_until(lambda: open_fds() <= fds, what="fds released")


def test_event_objects_repr(pair):
    server, client, peer = pair
    client.send(peer, b"hello")
    ev = server.recv_event(timeout=5)
    assert isinstance(ev, PeerEvent) and "PEER_CONNECTED" in repr(ev)
    msg = server.recv(timeout=5)
    assert "hello" in repr(msg) and bytes(msg) == b"hello" and len(msg) == 5
    assert "Peer" in repr(peer) and int(peer) == peer.id
    assert "Transport" in repr(server)


def test_close_and_send_from_inside_a_callback(transports):
    done = threading.Event()
    client = transports()

    def handle(msg):
        server.send(msg.peer, b"reply from the handler")  # API calls are fine here
        server.close()  # even close: the dispatcher does not wait for itself
        done.set()

    server = transports(on_message=handle)
    server.listen()
    peer = client.dial(server.addr, timeout=5)
    client.send(peer, b"go")
    assert done.wait(5)
    assert client.recv(timeout=5).payload == b"reply from the handler"
    wait_until(lambda: not server._dispatcher.is_alive(), what="dispatcher exit")
    assert server.closed


def test_library_calls_inside_the_handshake_are_refused_not_deadlocked(transports):
    seen = []
    a = transports()
    a.listen()

    def hs(h):
        try:
            b.dial(a.addr, timeout=1)  # would block a library thread
        except peerwire.Error as e:
            seen.append(e)

    b = transports(handshake=hs)
    b.dial(a.addr, timeout=5)
    assert len(seen) == 1 and isinstance(seen[0], peerwire.StateError)


def test_exit_without_close_is_clean():
    code = textwrap.dedent("""
        import peerwire
        a = peerwire.Transport(handshake=lambda h: None, on_message=lambda m: None)
        a.listen()
        b = peerwire.Transport(handshake=lambda h: None)
        p = b.dial(a.addr, timeout=5)
        for _ in range(1000):
            b.send(p, b"in flight at exit")
        print("bye", flush=True)
        # no close: the atexit hook closes both before the interpreter goes away
    """)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    r = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "bye"
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr


def test_library_log_forwarding(transports):
    records = []
    peerwire.set_library_log(peerwire.LogLevel.DEBUG, lambda lv, m: records.append((lv, m)))
    try:
        t = transports()
        t.listen()
    finally:
        peerwire.set_library_log(None)
    assert any("listening" in m for _lv, m in records)
    assert all(isinstance(lv, peerwire.LogLevel) for lv, _m in records)
    n = len(records)
    transports().listen()
    assert len(records) == n  # off again


def test_switching_to_callbacks_while_another_thread_blocks_in_recv(pair):
    server, client, peer = pair
    result = {}

    def blocked():
        try:
            server.recv()
        except peerwire.StateError as e:
            result["exc"] = e

    th = threading.Thread(target=blocked)
    th.start()
    time.sleep(0.2)
    got = []
    start = time.monotonic()
    server.on_message(lambda m: got.append(m.payload))
    assert time.monotonic() - start < 1
    th.join(5)
    assert isinstance(result.get("exc"), peerwire.StateError)
    client.send(peer, b"to the handler")
    wait_until(lambda: got == [b"to the handler"], what="handler")


def test_close_while_another_thread_closes(transports):
    """A second close() waits for the first (still flushing) and returns the same report."""
    server = transports(recv_queue_events=1)  # stops reading: the client's sends stay queued
    server.listen()
    client = transports(send_queue_bytes=64 * 1024)
    peer = client.dial(server.addr, timeout=5)
    with pytest.raises(peerwire.WouldBlockError):  # fills the socket buffers and the queue
        client.send_many(peer, (b"q" * 4096 for _ in range(50_000)), timeout=0.3)
    reports = []
    first = threading.Thread(target=lambda: reports.append(client.close(linger=0.5)))
    first.start()
    time.sleep(0.1)  # the first close is flushing for up to 0.5 s
    second = client.close()
    first.join(10)
    assert reports == [second]
    assert second.msgs_dropped > 0 and second.peers_closed == 1
