#!/usr/bin/env python3
"""peerwire through its Python binding (bindings/python, package ``peerwire``), in the
benchmark protocol of common.h:

    peerwire_py.py ROLE MODE SIZE COUNT PORT WARMUP
    peerwire_py.py --check          exits 0 when the binding and the library load

MODE (sender side; the receiver always pulls with ``recv_many`` batches of 256):
  one   ``Transport.send`` per message          -> row "peerwire-py"
  many  ``Transport.send_many`` over all of them -> row "peerwire-py-many"
The ponger answers with ``send`` from its ``recv_many`` loop; the pinger uses ``send`` then
``recv``.  The library is found through PEERWIRE_LIBRARY (set by bench/run.py).
"""
import itertools
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchlib.py, whatever the cwd
from benchlib import emit, emit_rtt, fail, parse_args, timeout_s


def listening(peerwire):
    t = peerwire.Transport("127.0.0.1:0")
    addr = t.listen()
    print("PORT", addr.rsplit(":", 1)[1], flush=True)
    return t


def closed_clean(role, t):
    rep = t.close(linger=timeout_s())
    if rep.msgs_dropped:
        fail(role, f"close dropped {rep.msgs_dropped} queued messages")


def run(peerwire, role, mode, size, count, port, warmup):
    to = timeout_s()
    deadline = time.monotonic() + to
    if role == "recv":
        t = listening(peerwire)
        n = nbytes = 0
        t_first = 0.0
        recv_many = t.recv_many
        while n < count:
            if time.monotonic() > deadline:
                fail(role, f"timed out after {n} messages")
            batch = recv_many(256, 1.0)
            if batch and n == 0:
                t_first = time.monotonic()
            for m in batch:
                if len(m.payload) != size:
                    fail(role, f"message of {len(m.payload)} bytes, expected {size}")
                nbytes += size
            n += len(batch)
        t_last = time.monotonic()
        t.close(linger=0)
        emit({"ok": True, "role": "recv", "msgs": n, "bytes": nbytes, "seconds": t_last - t_first})
    elif role == "send":
        t = peerwire.Transport()
        peer = t.dial(f"127.0.0.1:{port}", timeout=to)
        payload = b"\xab" * size
        t0 = time.monotonic()
        if mode == "many":
            sent = t.send_many(peer, itertools.repeat(payload, count))
            if sent != count:
                fail(role, f"send_many sent {sent} of {count}")
        else:
            send = t.send
            for _ in range(count):
                send(peer, payload)
        closed_clean(role, t)
        emit({"ok": True, "role": "send", "msgs": count, "bytes": size * count,
              "seconds": time.monotonic() - t0})
    elif role == "pong":
        t = listening(peerwire)
        n = 0
        while n < count + warmup:
            if time.monotonic() > deadline:
                fail(role, f"timed out after {n} messages")
            for m in t.recv_many(256, 1.0):
                t.send(m.peer, m.payload)
                n += 1
        closed_clean(role, t)
        emit({"ok": True, "role": "pong", "msgs": n})
    elif role == "ping":
        t = peerwire.Transport()
        peer = t.dial(f"127.0.0.1:{port}", timeout=to)
        payload = b"\xcd" * size
        send, recv = t.send, t.recv
        now = time.perf_counter
        rtt = []
        t0 = 0.0
        for i in range(warmup + count):
            if i == warmup:
                t0 = now()
            a = now()
            send(peer, payload)
            m = recv(to)
            if i >= warmup:
                rtt.append(now() - a)
            if len(m.payload) != size:
                fail(role, f"answer of {len(m.payload)} bytes")
        total = now() - t0
        t.close(linger=to)
        emit_rtt(rtt, total)
    else:
        fail(role, "unknown role")


def main():
    if sys.argv[1:] == ["--check"]:
        import peerwire

        print(peerwire.library_version(), peerwire.library_path())
        return
    role, mode, size, count, port, warmup = parse_args(__doc__)
    try:
        import peerwire
    except Exception as e:  # ImportError, or the library failing to load
        fail(role, f"the peerwire binding does not load: {e}")
    try:
        run(peerwire, role, mode, size, count, port, warmup)
    except peerwire.Error as e:
        fail(role, f"{type(e).__name__}: {e}")


if __name__ == "__main__":
    main()
