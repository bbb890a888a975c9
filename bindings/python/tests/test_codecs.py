"""Codecs from Python: length-prefixed, raw, gob and a custom codec made of native callbacks.

Each codec is checked between two Python transports, against a plain socket that speaks the
framing by hand, and with garbage that must close that one connection and nothing else.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import socket
import struct
import subprocess
import time
from typing import List, Optional, Tuple

import pytest
from conftest import REPO, wait_until

import peerwire

GOB_VECTORS = os.path.join(REPO, "tests", "gob_vectors")
HEADER_DIR = os.path.join(REPO, "include")

# The start of every peerwire gob stream: the definition of type RPC (id 64), as Go writes it.
RPC_TYPE_DEF = bytes.fromhex(
    "257f0301010352504301ff80000102010446726f6d010c0001075061796c6f6164010a000000"
)


def gob_payload(n: int) -> bytes:
    """Payload of n bytes as tests/gob_vectors/gen.go makes them."""
    return bytes((i * 7 + n) % 251 for i in range(n))


def connect(t: peerwire.Transport) -> socket.socket:
    host, port = t.addr.rsplit(":", 1)
    s = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
    s.settimeout(5)
    return s


def local_addr(s: socket.socket) -> str:
    return "{}:{}".format(*s.getsockname()[:2])


def recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        assert chunk, f"EOF after {len(buf)} of {n} bytes"
        buf += chunk
    return buf


def peer_of(t: peerwire.Transport, s: socket.socket) -> peerwire.Peer:
    addr = local_addr(s)
    wait_until(lambda: any(p.addr == addr for p in t.peers()), what=f"peer {addr}")
    return next(p for p in t.peers() if p.addr == addr)


def messages(t: peerwire.Transport, n: int, timeout: float = 10) -> List[peerwire.Message]:
    out: List[peerwire.Message] = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        left = deadline - time.monotonic()
        assert left > 0, f"got {len(out)} of {n} messages"
        out.extend(t.recv_many(n - len(out), timeout=left))
    return out


def stream_bytes(t: peerwire.Transport, n: int, timeout: float = 10) -> Tuple[bytes, int]:
    """n bytes of raw-codec messages (concatenated) and how many messages carried them."""
    got = b""
    count = 0
    deadline = time.monotonic() + timeout
    while len(got) < n:
        left = deadline - time.monotonic()
        assert left > 0, f"got {len(got)} of {n} bytes"
        for m in t.recv_many(timeout=left):
            assert m.payload, "raw delivered an empty message"
            got += m.payload
            count += 1
    return got, count


def dropped(
    t: peerwire.Transport, s: socket.socket, timeout: float = 5
) -> Tuple[peerwire.Reason, List[peerwire.Message]]:
    """Wait for the peer behind socket ``s`` to be disconnected; its reason, the messages seen
    meanwhile. The socket must see the connection end too."""
    addr = local_addr(s)
    seen: List[peerwire.Message] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"{addr} was not disconnected"
        try:
            ev = t.recv_event(timeout=left)
        except peerwire.TimeoutError:
            continue
        if isinstance(ev, peerwire.Message):
            seen.append(ev)
        elif ev.kind == peerwire.EventKind.PEER_DISCONNECTED and ev.addr == addr:
            try:
                assert s.recv(1) == b""
            except ConnectionResetError:
                pass
            return ev.reason, seen


def still_works(server: peerwire.Transport, client: peerwire.Transport, peer) -> None:
    """The other connection of ``server`` keeps exchanging messages both ways."""
    client.send(peer, b"still here")
    msg = server.recv(timeout=5)
    assert msg.payload == b"still here"
    server.send(msg.peer, b"and back")
    assert client.recv(timeout=5).payload == b"and back"


@pytest.fixture
def served(transports):
    """A listening transport of a codec and a Python client of the same codec, connected."""

    def make(**kwargs):
        server = transports(**kwargs)
        server.listen()
        client = transports(**kwargs)
        peer = client.dial(server.addr, timeout=5)
        return server, client, peer

    return make


# ---------------------------------------------------------------------------------------------
# Selecting a codec
# ---------------------------------------------------------------------------------------------


def test_codec_arguments(transports):
    for c in (None, "length_prefixed", "length-prefixed", peerwire.Codec.LENGTH_PREFIXED, 0):
        transports(codec=c)
    for c in ("raw", "RAW", peerwire.Codec.RAW, peerwire.RawCodec(), peerwire.RawCodec(4096)):
        transports(codec=c)
    transports(codec=peerwire.RawCodec(read_size=128), read_buffer=128)
    transports(codec="gob")
    with pytest.raises(ValueError, match="CustomCodec"):
        transports(codec="custom")
    with pytest.raises(ValueError, match="CustomCodec"):
        transports(codec=peerwire.Codec.CUSTOM)
    with pytest.raises(ValueError, match="contradicts"):
        transports(codec=peerwire.RawCodec(read_size=128), read_buffer=256)
    with pytest.raises(ValueError):
        peerwire.RawCodec(read_size=10)  # the library reads at least 64 bytes
    with pytest.raises(TypeError):
        peerwire.RawCodec(read_size="1028")
    with pytest.raises(TypeError):
        transports(codec=object())
    assert peerwire.RawCodec() == peerwire.RawCodec(1028)
    assert "1028" in repr(peerwire.RawCodec())


# ---------------------------------------------------------------------------------------------
# Length-prefixed (the default)
# ---------------------------------------------------------------------------------------------


def test_length_prefixed_on_the_wire_and_garbage(served):
    server, client, peer = served(codec="length_prefixed", max_frame=1000)
    with connect(server) as s:
        p = peer_of(server, s)
        s.sendall(struct.pack(">I", 3) + b"abc" + struct.pack(">I", 0))
        assert [m.payload for m in messages(server, 2)] == [b"abc", b""]
        server.send(p, b"hello")
        assert recv_exact(s, 9) == b"\x00\x00\x00\x05hello"
        s.sendall(b"\xff\xff\xff\xff garbage")  # a length far over max_frame
        reason, _ = dropped(server, s)
        assert reason == peerwire.Reason.FRAME_TOO_LARGE
    still_works(server, client, peer)


# ---------------------------------------------------------------------------------------------
# Raw
# ---------------------------------------------------------------------------------------------


def test_raw_between_python_transports(served):
    server, client, peer = served(codec="raw")
    data = bytes(range(256)) * 40  # 10 KiB in several sends
    for i in range(0, len(data), 1000):
        client.send(peer, data[i : i + 1000])
    got, count = stream_bytes(server, len(data))
    assert got == data  # all bytes, in order: what raw guarantees
    assert count >= len(data) // 1028  # at most 1028 bytes per message (the origin's size)
    back = server.peers()[0]
    server.send_many(back, [b"one ", b"two ", b"three"])
    assert stream_bytes(client, 13)[0] == b"one two three"


def test_raw_read_size_and_plain_socket(transports):
    t = transports(codec=peerwire.RawCodec(read_size=64))
    t.listen()
    with connect(t) as s:
        p = peer_of(t, s)
        data = os.urandom(5000)
        s.sendall(data)
        got = b""
        deadline = time.monotonic() + 5
        while len(got) < len(data) and time.monotonic() < deadline:
            for m in t.recv_many(timeout=1):
                assert 0 < len(m.payload) <= 64
                got += m.payload
        assert got == data
        t.send(p, b"no framing")  # goes out as is
        assert recv_exact(s, 10) == b"no framing"


def test_raw_takes_any_bytes_and_ends_at_eof(served):
    server, client, peer = served(codec="raw")
    with connect(server) as s:
        p = peer_of(server, s)
        junk = b"\xff\xff\xff\xff\x00\x7f" + os.urandom(2000)
        s.sendall(junk)
        # No byte is garbage to raw: it is delivered and the connection stays up.
        assert stream_bytes(server, len(junk))[0] == junk
        assert p in server.peers()
        s.shutdown(socket.SHUT_WR)
        reason, seen = dropped(server, s)
    # EOF is a disconnect, never an endless run of empty messages.
    assert reason == peerwire.Reason.REMOTE_CLOSED and seen == []
    still_works(server, client, peer)


# ---------------------------------------------------------------------------------------------
# Gob
# ---------------------------------------------------------------------------------------------


def test_gob_between_python_transports(served):
    server, client, peer = served(codec="gob")
    sizes = [0, 1, 100, 70000, 0, 5, 1 << 20]
    assert client.send_many(peer, [gob_payload(n) for n in sizes]) == len(sizes)
    assert [m.payload for m in messages(server, len(sizes))] == [gob_payload(n) for n in sizes]
    back = server.peers()[0]
    server.send(back, b"reply")
    assert client.recv(timeout=5).payload == b"reply"


def test_gob_bytes_are_what_go_writes(transports):
    t = transports(codec="gob")
    t.listen()
    with connect(t) as s:
        p = peer_of(t, s)
        t.send(p, b"hi")
        head = recv_exact(s, len(RPC_TYPE_DEF))
        # The type definition of RPC: count 0x25, type id -64, wireType.StructT, name "RPC".
        assert head[:9] == bytes([0x25, 0x7F, 0x03, 0x01, 0x01, 0x03]) + b"RPC"
        assert head == RPC_TYPE_DEF
        # A value of type 64: From empty (omitted), field delta 2 = Payload, 2 bytes, end.
        assert recv_exact(s, 8) == bytes([0x07, 0xFF, 0x80, 0x02, 0x02]) + b"hi" + b"\x00"
        t.send(p, b"")  # all fields zero: the type id and the end of the struct only
        assert recv_exact(s, 4) == bytes([0x03, 0xFF, 0x80, 0x00])


def _vector(name: str) -> bytes:
    path = os.path.join(GOB_VECTORS, name)
    if not os.path.exists(path):
        pytest.skip(f"{path} not found (written by tests/gob_vectors/gen.go)")
    with open(path, "rb") as f:
        return f.read()


def test_gob_matches_go_encoder_byte_for_byte(transports):
    golden = _vector("rpc_plain.bin")  # Go's encoding/gob, RPC{Payload} per size below
    sizes = [0, 1, 100, 70000, 0, 5]
    t = transports(codec="gob")
    t.listen()
    with connect(t) as s:
        p = peer_of(t, s)
        t.send_many(p, [gob_payload(n) for n in sizes])
        assert recv_exact(s, len(golden)) == golden


@pytest.mark.parametrize(
    "name,sizes",
    [("rpc_plain.bin", [0, 1, 100, 70000, 0, 5]), ("rpc_stream.bin", [0, 1, 100, 3000])],
)
def test_gob_decodes_go_streams(transports, name, sizes):
    """Streams written by Go's encoding/gob (rpc_stream.bin has an extra `Stream bool`)."""
    data = _vector(name)
    t = transports(codec="gob")
    t.listen()
    with connect(t) as s:
        for i in range(0, len(data), 777):  # in pieces, as a network delivers them
            s.sendall(data[i : i + 777])
        got = messages(t, len(sizes))
        assert [m.payload for m in got] == [gob_payload(n) for n in sizes]
        assert got[0].from_addr == local_addr(s)


@pytest.mark.parametrize(
    "garbage,reasons",
    [
        (b"\x05\x01\x02\x03\x04\x05", {peerwire.Reason.DECODE_ERROR}),  # an undefined type id
        (RPC_TYPE_DEF[:20] + b"\xff" * 30, {peerwire.Reason.DECODE_ERROR}),  # broken definition
        (b"\xfc\x7f\xff\xff\xff" + b"\x00" * 8, {peerwire.Reason.FRAME_TOO_LARGE}),  # 2 GiB claim
    ],
)
def test_gob_garbage_closes_only_that_connection(served, garbage, reasons):
    server, client, peer = served(codec="gob")
    with connect(server) as s:
        peer_of(server, s)
        s.sendall(garbage)
        reason, _ = dropped(server, s)
        assert reason in reasons
    still_works(server, client, peer)


# ---------------------------------------------------------------------------------------------
# Custom: native callbacks compiled for the test
# ---------------------------------------------------------------------------------------------

BE16_C = r"""
/* 2-byte big-endian length framing. user: a be16_state (may be NULL). */
#include <stddef.h>
#include <stdint.h>
#ifdef HAVE_PEERWIRE_H
#include "peerwire.h"
#endif

struct be16_state {
    uint32_t max_len;   /* a longer frame is invalid */
    uint32_t pad;
    uint64_t splits;    /* calls, counted to show that `user` arrives */
    uint64_t headers;
};

int32_t be16_split(void *user, const uint8_t *buf, size_t len, size_t *out_header,
                   size_t *out_len) {
    struct be16_state *s = user;
    if (s) __atomic_fetch_add(&s->splits, 1, __ATOMIC_RELAXED);
    if (len < 2) return 0;                                  /* need more */
    size_t n = ((size_t)buf[0] << 8) | buf[1];
    if (s && n > s->max_len) return -1;                     /* invalid */
    *out_header = 2;
    *out_len = n;
    return 1;                                               /* a frame */
}

int32_t be16_header(void *user, const uint8_t *payload, size_t len, uint8_t *out, size_t cap,
                    size_t *out_header_len) {
    struct be16_state *s = user;
    (void)payload;
    if (s) __atomic_fetch_add(&s->headers, 1, __ATOMIC_RELAXED);
    if (len > 0xffff || cap < 2) return 1;                  /* refuse the send */
    out[0] = (uint8_t)(len >> 8);
    out[1] = (uint8_t)len;
    *out_header_len = 2;
    return 0;
}

#ifdef HAVE_PEERWIRE_H
/* The compiler checks the shapes against the header. */
peerwire_split_cb be16_split_check = be16_split;
peerwire_header_cb be16_header_check = be16_header;
#endif
"""


class Be16State(ctypes.Structure):
    _fields_ = [
        ("max_len", ctypes.c_uint32),
        ("pad", ctypes.c_uint32),
        ("splits", ctypes.c_uint64),
        ("headers", ctypes.c_uint64),
    ]


@pytest.fixture(scope="module")
def be16(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler (cc) to build the native splitter the custom codec needs")
    d = tmp_path_factory.mktemp("be16")
    src = d / "be16.c"
    src.write_text(BE16_C)
    so = d / "libbe16.so"
    cmd = [cc, "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", str(so), str(src)]
    if os.path.exists(os.path.join(HEADER_DIR, "peerwire.h")):
        cmd[1:1] = ["-DHAVE_PEERWIRE_H", "-I", HEADER_DIR]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    return ctypes.CDLL(str(so))


def be16_frame(payload: bytes) -> bytes:
    return struct.pack(">H", len(payload)) + payload


def be16_codec(lib, state: Optional[Be16State] = None, typed: bool = False):
    split, header = lib.be16_split, lib.be16_header
    if typed:  # the same functions seen through the header's prototypes
        split = ctypes.cast(split, peerwire.SplitCallback)
        header = ctypes.cast(header, peerwire.HeaderCallback)
    return peerwire.CustomCodec(split, header, None if state is None else ctypes.pointer(state))


@pytest.mark.parametrize("typed", [False, True])
def test_custom_between_python_transports(be16, served, typed):
    state = Be16State(max_len=0xFFFF)
    server, client, peer = served(codec=be16_codec(be16, state, typed))
    payloads = [b"", b"a", b"x" * 1000, os.urandom(0xFFFF)] + [b"%d" % i for i in range(2000)]
    assert client.send_many(peer, payloads) == len(payloads)
    assert [m.payload for m in messages(server, len(payloads))] == payloads
    back = server.peers()[0]
    server.send(back, b"reply")
    assert client.recv(timeout=5).payload == b"reply"
    # The native callbacks got the user pointer: the C side counted its calls.
    assert state.headers >= len(payloads) + 1
    assert state.splits >= len(payloads)


def test_custom_with_plain_socket_speaking_the_framing(be16, transports):
    t = transports(codec=be16_codec(be16))
    t.listen()
    with connect(t) as s:
        p = peer_of(t, s)
        wire = b"".join(be16_frame(x) for x in (b"first", b"", b"third" * 100))
        for i in range(0, len(wire), 3):  # 3 bytes at a time: headers and payloads split
            s.sendall(wire[i : i + 3])
            time.sleep(0.0005)
        assert [m.payload for m in messages(t, 3)] == [b"first", b"", b"third" * 100]
        t.send_many(p, [b"to", b"the socket"])
        assert recv_exact(s, 2 + 2 + 2 + 10) == be16_frame(b"to") + be16_frame(b"the socket")


def test_custom_garbage_closes_only_that_connection(be16, served):
    state = Be16State(max_len=100)
    server, client, peer = served(codec=be16_codec(be16, state))
    with connect(server) as s:
        peer_of(server, s)
        s.sendall(be16_frame(b"ok") + b"\x10\x00" + b"?" * 50)  # 4096 > max_len: invalid
        reason, seen = dropped(server, s)
        assert reason == peerwire.Reason.DECODE_ERROR
        assert [m.payload for m in seen] == [b"ok"]
    still_works(server, client, peer)


def test_custom_frame_over_the_limit(be16, served):
    server, client, peer = served(codec=be16_codec(be16), max_frame=1000)
    with connect(server) as s:
        peer_of(server, s)
        s.sendall(b"\x04\x00" + b"x" * 1024)  # a 1024-byte frame over max_frame
        reason, _ = dropped(server, s)
        assert reason == peerwire.Reason.FRAME_TOO_LARGE
    still_works(server, client, peer)


def test_custom_header_refusal_raises(be16, served):
    """The header callback refuses what 2 bytes cannot frame: the send fails, nothing breaks."""
    server, client, peer = served(codec=be16_codec(be16))
    with pytest.raises(peerwire.InvalidArgumentError):
        client.send(peer, b"x" * 0x10000)  # 65536 bytes: be16_header refuses
    with pytest.raises(peerwire.InvalidArgumentError) as info:
        client.send_many(peer, [b"fine", b"y" * 0x10000])
    assert info.value.sent == 1
    assert server.recv(timeout=5).payload == b"fine"
    still_works(server, client, peer)


def test_custom_without_header_sends_payloads_as_they_are(be16, transports):
    t = transports(codec=peerwire.CustomCodec(be16.be16_split))
    t.listen()
    with connect(t) as s:
        p = peer_of(t, s)
        t.send(p, be16_frame(b"framed by the caller"))
        assert recv_exact(s, 22) == be16_frame(b"framed by the caller")


def test_custom_codec_keeps_its_callbacks_alive(be16, transports):
    import gc

    state = Be16State(max_len=0xFFFF)
    codec = be16_codec(be16, state, typed=True)
    server = transports(codec=codec)
    server.listen()
    client = transports(codec=codec)
    del codec
    gc.collect()
    peer = client.dial(server.addr, timeout=5)
    client.send(peer, b"alive")
    assert server.recv(timeout=5).payload == b"alive"


def test_custom_refuses_python_callbacks(be16):
    def split(user, buf, n, out_header, out_len):
        return 0

    # A plain Python function: refused, and the message says why.
    with pytest.raises(TypeError, match="I/O threads"):
        peerwire.CustomCodec(split)
    with pytest.raises(TypeError, match="I/O threads"):
        peerwire.CustomCodec(be16.be16_split, header=lambda *a: 0)
    # A ctypes callback made from one, or a cast of it: still Python underneath.
    thunk = peerwire.SplitCallback(split)
    with pytest.raises(TypeError, match="wraps"):
        peerwire.CustomCodec(thunk)
    with pytest.raises(TypeError, match="wraps"):
        peerwire.CustomCodec(ctypes.cast(thunk, peerwire.SplitCallback))
    # Not functions, or not of the header's shape.
    for bad in (None, 0x1234, b"be16_split", "be16_split"):
        with pytest.raises(TypeError):
            peerwire.CustomCodec(bad)
    with pytest.raises(TypeError, match="arguments"):
        peerwire.CustomCodec(ctypes.cast(be16.be16_split, ctypes.CFUNCTYPE(ctypes.c_int)))
    with pytest.raises(ValueError, match="NULL"):
        peerwire.CustomCodec(peerwire.SplitCallback())
    with pytest.raises(TypeError):
        peerwire.CustomCodec(be16.be16_split, user="state")
    with pytest.raises(TypeError):
        peerwire.CustomCodec(be16.be16_split, user=1.5)
    # User data as an address or a ctypes object.
    state = Be16State()
    peerwire.CustomCodec(be16.be16_split, user=ctypes.addressof(state))
    peerwire.CustomCodec(be16.be16_split, user=state)
    peerwire.CustomCodec(be16.be16_split, user=ctypes.c_void_p(ctypes.addressof(state)))


def test_readme_splitter_compiles_and_works(transports, tmp_path):
    """The C example of the README is real: compiled here and used between two transports."""
    import re

    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler (cc) to build the README's splitter")
    readme = os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")
    with open(readme) as f:
        blocks = re.findall(r"```c\n(.*?)```", f.read(), re.S)
    src = next(b for b in blocks if "be16_split" in b)
    (tmp_path / "be16.c").write_text(src)
    so = tmp_path / "libbe16.so"
    r = subprocess.run(
        [cc, "-shared", "-fPIC", "-o", str(so), str(tmp_path / "be16.c")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    be16 = ctypes.CDLL(str(so))
    codec = peerwire.CustomCodec(be16.be16_split, be16.be16_header)
    server = transports(codec=codec)
    server.listen()
    client = transports(codec=codec)
    peer = client.dial(server.addr, timeout=5)
    client.send_many(peer, [b"from", b"the", b"README", b""])
    assert [m.payload for m in messages(server, 4)] == [b"from", b"the", b"README", b""]
    with connect(server) as s:
        peer_of(server, s)
        s.sendall(be16_frame(b"by hand"))
        assert server.recv(timeout=5).payload == b"by hand"
