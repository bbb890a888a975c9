#!/usr/bin/env python3
"""Python reference transports for the peerwire benchmarks.

    py_bench.py ROLE MODE SIZE COUNT PORT WARMUP      (as in ../common.h)

MODE:
  pyzmq    PUSH/PULL for throughput, PAIR for the round trip (PyPI pyzmq)
  asyncio  asyncio streams, 4-byte big-endian length + payload, drain() after each write

Listening roles print "PORT <n>", then every role prints one JSON result line.
"""
import asyncio
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # bench/benchlib.py
from benchlib import emit, emit_rtt, fail, parse_args, timeout_s

# ---------------------------------------------------------------- pyzmq

def zmq_main(role, size, count, port, warmup):
    try:
        import zmq
    except ImportError as e:
        fail(role, f"pyzmq not importable: {e}")
    ctx = zmq.Context()
    to = timeout_s() * 1000
    copy = size < 65536  # copying is cheaper for small frames

    def bound(kind):
        s = ctx.socket(kind)
        s.rcvtimeo = s.sndtimeo = to
        s.bind("tcp://127.0.0.1:*")
        print("PORT", s.getsockopt_string(zmq.LAST_ENDPOINT).rsplit(":", 1)[1], flush=True)
        return s

    def connected(kind):
        s = ctx.socket(kind)
        s.rcvtimeo = s.sndtimeo = to
        s.linger = to
        s.connect(f"tcp://127.0.0.1:{port}")
        return s

    try:
        if role == "recv":
            s = bound(zmq.PULL)
            recv = s.recv
            m = recv(copy=copy)
            t_first = time.monotonic()
            nbytes = len(m)
            for _ in range(count - 1):
                m = recv(copy=copy)
                nbytes += len(m)
            t_last = time.monotonic()
            if nbytes != size * count:
                fail(role, f"received {nbytes} bytes, expected {size * count}")
            s.close()
            ctx.term()
            emit({"ok": True, "role": "recv", "msgs": count, "bytes": nbytes, "seconds": t_last - t_first})
        elif role == "send":
            s = connected(zmq.PUSH)
            payload = b"\xab" * size
            send = s.send
            t0 = time.monotonic()
            for _ in range(count):
                send(payload, copy=copy)
            s.close()
            ctx.term()  # linger: returns once everything went out
            emit({"ok": True, "role": "send", "msgs": count, "bytes": size * count,
                  "seconds": time.monotonic() - t0})
        elif role == "pong":
            s = bound(zmq.PAIR)
            for _ in range(count + warmup):
                s.send(s.recv())
            s.close()
            ctx.term()
            emit({"ok": True, "role": "pong", "msgs": count + warmup})
        elif role == "ping":
            s = connected(zmq.PAIR)
            payload = b"\xcd" * size
            rtt = []
            now = time.perf_counter
            for _ in range(warmup):
                s.send(payload)
                s.recv()
            t0 = now()
            for _ in range(count):
                a = now()
                s.send(payload)
                s.recv()
                rtt.append(now() - a)
            total = now() - t0
            s.close()
            ctx.term()
            emit_rtt(rtt, total)
        else:
            fail(role, "unknown role")
    except zmq.ZMQError as e:
        fail(role, e)


# ---------------------------------------------------------------- asyncio streams

async def asyncio_main(role, size, count, port, warmup):
    to = timeout_s()
    hdr = struct.pack(">I", size)
    if role in ("recv", "pong"):
        done = asyncio.get_running_loop().create_future()

        async def handle(reader, writer):
            try:
                if role == "recv":
                    nbytes = 0
                    t_first = 0.0
                    for i in range(count):
                        (n,) = struct.unpack(">I", await reader.readexactly(4))
                        if n != size:
                            raise ValueError(f"frame of {n} bytes, expected {size}")
                        p = await reader.readexactly(n)
                        if i == 0:
                            t_first = time.monotonic()
                        nbytes += len(p)
                    done.set_result({"ok": True, "role": "recv", "msgs": count, "bytes": nbytes,
                                     "seconds": time.monotonic() - t_first})
                else:
                    for _ in range(count + warmup):
                        h = await reader.readexactly(4)
                        (n,) = struct.unpack(">I", h)
                        p = await reader.readexactly(n)
                        writer.write(h + p)
                        await writer.drain()
                    done.set_result({"ok": True, "role": "pong", "msgs": count + warmup})
            except Exception as e:  # reported, not swallowed
                if not done.done():
                    done.set_exception(e)
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        print("PORT", server.sockets[0].getsockname()[1], flush=True)
        res = await asyncio.wait_for(done, to)
        server.close()
        emit(res)
        return
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), to)
    if role == "send":
        payload = b"\xab" * size
        t0 = time.monotonic()
        for _ in range(count):
            writer.write(hdr)
            writer.write(payload)
            await writer.drain()
        writer.write_eof()
        await asyncio.wait_for(reader.read(), to)  # the receiver closes once it has everything
        writer.close()
        emit({"ok": True, "role": "send", "msgs": count, "bytes": size * count,
              "seconds": time.monotonic() - t0})
    elif role == "ping":
        frame = hdr + b"\xcd" * size
        rtt = []
        now = time.perf_counter
        t0 = 0.0
        for i in range(warmup + count):
            if i == warmup:
                t0 = now()
            a = now()
            writer.write(frame)
            await writer.drain()
            await reader.readexactly(4 + size)
            if i >= warmup:
                rtt.append(now() - a)
        total = now() - t0
        writer.close()
        emit_rtt(rtt, total)
    else:
        fail(role, "unknown role")


def main():
    role, mode, size, count, port, warmup = parse_args(__doc__)
    if mode == "pyzmq":
        zmq_main(role, size, count, port, warmup)
    elif mode == "asyncio":
        try:
            asyncio.run(asyncio.wait_for(asyncio_main(role, size, count, port, warmup), timeout_s() + 5))
        except Exception as e:
            fail(role, repr(e))
    else:
        print(f"unknown mode {mode}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
