"""Python against peers that are not this binding: a raw socket speaking the wire format and
the C demo peer."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import time

import pytest
from conftest import REPO, next_event

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


# -- the C demo peer (examples/c/peer.c, built by `make demo-c-bin`) ------------------------------

C_PEER = os.environ.get("PEERWIRE_C_PEER") or os.path.join(REPO, "build", "demo", "peer")
DEMO_GREETING = b"PWDEMO1\n"


def demo_handshake(hs):
    hs.send(DEMO_GREETING)
    if hs.recv_exact(8, timeout=3) != DEMO_GREETING:
        raise ValueError("not a demo peer")


def start_c_peer(tmp_path, name, dial=None, seconds=2.0):
    if not os.access(C_PEER, os.X_OK):
        pytest.skip(f"C demo peer not built ({C_PEER}): run `make demo-c-bin`")
    addr_file = tmp_path / f"{name}.addr"
    args = [C_PEER, "--name", name, "--seconds", str(seconds), "--addr-file", str(addr_file)]
    if dial:
        args += ["--dial", dial]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 5
    while not (addr_file.exists() and addr_file.read_text().strip()):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError(f"C peer did not start: {proc.communicate()[0]}")
        time.sleep(0.02)
    return proc, addr_file.read_text().strip()


def finish(proc):
    try:
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, out
    return out


def test_c_peer_dials_python(transports, tmp_path):
    t = transports(handshake=demo_handshake)
    addr = t.listen()
    proc, _ = start_c_peer(tmp_path, "c1", dial=addr)
    got = []
    deadline = time.monotonic() + 5
    while len(got) < 2 and time.monotonic() < deadline:
        try:
            msg = t.recv(timeout=0.5)
        except peerwire.TimeoutError:
            continue
        got.append(msg.payload)
        if len(got) == 1:
            assert msg.peer.outbound is False
            t.send(msg.peer, b"hello C, this is Python")
    out = finish(proc)
    assert got == [b"hello from c1 (C)", b"broadcast from c1 (C) to everyone"]
    assert "hello C, this is Python" in out


def test_python_dials_c_peer(transports, tmp_path):
    proc, c_addr = start_c_peer(tmp_path, "c2")
    t = transports(handshake=demo_handshake)
    peer = t.dial(c_addr, timeout=5)
    t.send_many(peer, [b"one", b"two", b"three"])
    msg = t.recv(timeout=5)  # the C peer broadcasts after a third of its lifetime
    assert msg.payload == b"broadcast from c2 (C) to everyone"
    assert msg.peer == peer and msg.from_addr == c_addr
    out = finish(proc)
    lines = [ln for ln in out.splitlines() if ": one" in ln or ": two" in ln or ": three" in ln]
    assert [ln.rsplit(": ", 1)[1] for ln in lines] == ["one", "two", "three"]
    ev = next_event(t, EventKind.PEER_DISCONNECTED)
    assert ev.peer == peer


def test_c_peer_rejects_a_python_peer_without_the_handshake(transports, tmp_path):
    proc, c_addr = start_c_peer(tmp_path, "c3", seconds=1.0)

    def wrong(hs):
        hs.send(b"WRONG!!\n")
        assert hs.recv_exact(8, timeout=3) == DEMO_GREETING
        if hs.recv(1, timeout=3) == b"":  # like socket.recv: the C peer hung up
            raise ConnectionError("rejected by the C peer")

    t = transports(handshake=wrong)
    with pytest.raises(peerwire.HandshakeError) as info:
        t.dial(c_addr, timeout=5)
    assert isinstance(info.value.__cause__, ConnectionError)
    assert "handshake rejected" in finish(proc)
