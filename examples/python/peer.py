"""Demo peer for `make demo`: listens, dials every address in $PEER_ADDRS (comma separated),
greets each peer, broadcasts one message, prints what arrives for a few seconds, exits.

    PEER_ADDRS=127.0.0.1:7001,127.0.0.1:7002 python examples/python/peer.py --seconds 3
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import peerwire


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", default="127.0.0.1:0", help="address to listen on")
    ap.add_argument("--seconds", type=float, default=3.0, help="how long to receive")
    ap.add_argument("--name", default="python", help="name used in greetings")
    args = ap.parse_args()
    addrs = [a.strip() for a in os.environ.get("PEER_ADDRS", "").split(",") if a.strip()]

    with peerwire.Transport(args.listen) as t:
        me = t.listen()
        print(
            f"[{args.name}] listening on {me} (peerwire {peerwire.library_version()})", flush=True
        )
        dialled = 0
        for addr in addrs:
            try:
                peer = t.dial(addr, timeout=5)
            except peerwire.Error as e:
                print(f"[{args.name}] could not reach {addr}: {e}", flush=True)
                continue
            dialled += 1
            t.send(peer, f"hello from {args.name} at {me}".encode())
            print(f"[{args.name}] connected to {peer.addr} (peer {peer.id})", flush=True)
        n = t.broadcast(f"broadcast from {args.name}".encode())
        print(f"[{args.name}] broadcast to {n} peer(s)", flush=True)

        deadline = time.monotonic() + args.seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                ev = t.recv_event(timeout=left)
            except peerwire.TimeoutError:
                break
            if isinstance(ev, peerwire.Message):
                text = ev.payload.decode("utf-8", "replace")
                print(f"[{args.name}] from {ev.from_addr}: {text}", flush=True)
            else:
                print(f"[{args.name}] {ev.kind.name.lower()} {ev.addr}", flush=True)
        s = t.stats()
        print(f"[{args.name}] done: {s.msgs_in} in, {s.msgs_out} out", flush=True)
    if addrs and dialled == 0:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
