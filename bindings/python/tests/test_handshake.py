"""The handshake function: bytes exchanged, reject, timeout, misuse."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from conftest import next_event

import peerwire
from peerwire import EventKind, Reason


def greeting_handshake(seen):
    """Each side sends an 8-byte hello and reads the other's."""

    def hs(h: peerwire.Handshake):
        seen.append((h.outbound, h.remote_addr, threading.current_thread().name))
        h.send(b"HELLO-" + (b"OU" if h.outbound else b"IN"))
        got = h.recv_exact(8, timeout=5)
        expected = b"HELLO-" + (b"IN" if h.outbound else b"OU")
        if got != expected:
            raise ValueError(f"bad greeting {got!r}")

    return hs


def test_bytes_exchanged_both_sides(transports):
    seen_a, seen_b = [], []
    a = transports(handshake=greeting_handshake(seen_a))
    a.listen()
    b = transports(handshake=greeting_handshake(seen_b))
    peer = b.dial(a.addr, timeout=5)
    b.send(peer, b"after handshake")
    assert a.recv(timeout=5).payload == b"after handshake"
    assert [s[0] for s in seen_a] == [False]
    assert [s[0] for s in seen_b] == [True]
    assert seen_b[0][1] == a.addr
    # Never the caller's thread, never a thread the binding made: a library pool thread.
    assert seen_b[0][2] != threading.current_thread().name
    assert not seen_b[0][2].startswith("peerwire-dispatch")


def test_recv_returns_partial_bytes(transports):
    got = []

    def server_hs(h):
        data = b""
        while len(data) < 6:
            data += h.recv(64, timeout=5)
        got.append(data)

    def client_hs(h):
        h.send(b"abc")
        h.send(b"def")

    a = transports(handshake=server_hs)
    a.listen()
    b = transports(handshake=client_hs)
    b.dial(a.addr, timeout=5)
    next_event(a, EventKind.PEER_CONNECTED)
    assert got == [b"abcdef"]


def test_reject_by_raising_is_an_exception_on_dial(transports):
    class Nope(Exception):
        pass

    def reject(h):
        raise Nope("not today")

    a = transports()
    a.listen()
    b = transports(handshake=reject)
    with pytest.raises(peerwire.HandshakeError) as info:
        b.dial(a.addr, timeout=5)
    assert isinstance(info.value.__cause__, Nope)
    assert str(info.value)
    assert b.peers() == []
    (addr, outbound, exc) = b.handshake_failures[-1]
    assert outbound is True and isinstance(exc, Nope) and addr == a.addr


def test_remote_reject_fails_dial_and_reports_event(transports):
    def client_hs(h):
        h.send(b"hi")
        h.recv_exact(2, timeout=5)  # the server hangs up instead of answering

    a = transports(handshake=lambda h: h.recv_exact(2, timeout=5) and False)
    a.listen()
    b = transports(handshake=client_hs)
    with pytest.raises(peerwire.HandshakeError) as info:
        b.dial(a.addr, timeout=5)
    assert isinstance(info.value.__cause__, peerwire.Error)
    ev = next_event(a, EventKind.HANDSHAKE_FAILED)
    assert ev.reason == Reason.HANDSHAKE_REJECTED
    assert a.peers() == []
    assert a.stats().handshake_failures >= 1


def test_handshake_timeout(transports):
    def wait_forever(h):
        h.recv(1)  # the remote never speaks: runs into the deadline

    a = transports(handshake=wait_forever, handshake_timeout=0.3)
    a.listen()
    b = transports(handshake=wait_forever, handshake_timeout=0.3)
    start = time.monotonic()
    with pytest.raises(peerwire.HandshakeTimeoutError) as info:
        b.dial(a.addr, timeout=5)
    assert time.monotonic() - start < 3
    assert isinstance(info.value, TimeoutError)  # also the builtin
    ev = next_event(a, EventKind.HANDSHAKE_FAILED)
    assert ev.reason == Reason.HANDSHAKE_TIMEOUT


def test_a_slow_python_handshake_runs_into_the_deadline(transports):
    a = transports()
    a.listen()
    b = transports(handshake=lambda h: time.sleep(1.0), handshake_timeout=0.2)
    start = time.monotonic()
    with pytest.raises(peerwire.HandshakeTimeoutError):
        b.dial(a.addr, timeout=5)
    assert time.monotonic() - start < 0.9  # the deadline, not the sleeping function, decides


def test_recv_timeout_inside_handshake_is_an_exception(transports):
    seen = []

    def hs(h):
        try:
            h.recv(1, timeout=0.05)
        except peerwire.TimeoutError as e:
            seen.append(e)

    a = transports()
    a.listen()
    b = transports(handshake=hs)
    b.dial(a.addr, timeout=5)  # the exception was handled: accepted
    assert len(seen) == 1


def test_handle_is_dead_after_the_function_returns(transports):
    kept = []
    a = transports()
    a.listen()
    b = transports(handshake=kept.append)
    b.dial(a.addr, timeout=5)
    (h,) = kept
    with pytest.raises(peerwire.StateError):
        h.send(b"late")
    with pytest.raises(peerwire.StateError):
        h.recv(1)
    assert "finished" in repr(h)


def test_handshake_argument_types(transports):
    errors = []

    def hs(h):
        for bad in (
            lambda: h.send("text"),
            lambda: h.recv("1"),
            lambda: h.recv(0),
            lambda: h.recv_exact(-1),
            lambda: h.recv(1, timeout="soon"),
        ):
            try:
                bad()
            except (TypeError, ValueError) as e:
                errors.append(type(e))

    a = transports()
    a.listen()
    b = transports(handshake=hs)
    b.dial(a.addr, timeout=5)
    assert errors == [TypeError, TypeError, ValueError, ValueError, TypeError]
    with pytest.raises(TypeError):
        transports(handshake="not callable")


def test_callback_table_is_released(transports):
    before = peerwire._ffi.registry_size()
    t = transports(handshake=lambda h: None)
    assert peerwire._ffi.registry_size() == before + 1
    t.close()
    t._finalize()
    assert peerwire._ffi.registry_size() == before


def test_recv_sees_the_remote_close(transports):
    seen = []

    def server_hs(h):
        seen.append(h.recv(16, timeout=5))  # b"" once the client hung up
        try:
            h.recv_exact(4, timeout=5)
        except peerwire.Error as e:
            seen.append(e)
            raise

    def client_hs(h):
        raise RuntimeError("client gives up at once")

    a = transports(handshake=server_hs)
    a.listen()
    b = transports(handshake=client_hs)
    with pytest.raises(peerwire.HandshakeError):
        b.dial(a.addr, timeout=5)
    next_event(a, EventKind.HANDSHAKE_FAILED)
    assert seen[0] == b""
    assert isinstance(seen[1], peerwire.HandshakeError)


def test_close_inside_handshake_while_another_thread_closes():
    """The handshake's close() must not wait for the other closer: that one waits for the
    handshake function to return. Run in a child process: a deadlock there is a failure
    after a timeout, not a hung test run."""
    code = textwrap.dedent(
        """
        import threading, time, peerwire
        done = {}
        def hs(h):
            other = threading.Thread(target=lambda: done.setdefault("other", server.close()))
            other.start()
            time.sleep(0.3)  # the other close is under way, waiting for this function
            done["inside"] = server.close()
            return True
        server = peerwire.Transport(handshake=hs, handshake_timeout=5)
        server.listen()
        client = peerwire.Transport()
        try:
            client.dial(server.addr, timeout=5)
        except peerwire.Error:
            pass
        deadline = time.monotonic() + 5
        while len(done) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        client.close()
        print(sorted(done))
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    r = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['inside', 'other']"
