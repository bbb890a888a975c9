"""Demo peer for `make demo`: listens, dials every address in $PEER_ADDRS (comma separated),
greets each peer, broadcasts one message, prints what arrives for a few seconds, exits.

    PEER_ADDRS=127.0.0.1:7001,127.0.0.1:7002 python examples/python/peer.py --seconds 3

It speaks the demo handshake of the C and Go demo peers: each side sends the 8 bytes
"PWDEMO1\\n" and expects the same 8 bytes back.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import peerwire

GREETING = b"PWDEMO1\n"


def demo_handshake(hs: peerwire.Handshake) -> None:
    hs.send(GREETING)
    if hs.recv_exact(len(GREETING)) != GREETING:
        raise ValueError(f"{hs.remote_addr} does not speak the demo handshake")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", default="127.0.0.1:0", help="address to listen on")
    ap.add_argument("--seconds", type=float, default=3.0, help="how long to receive")
    ap.add_argument("--name", default="py", help="name used in greetings")
    args = ap.parse_args()
    addrs = [a.strip() for a in os.environ.get("PEER_ADDRS", "").split(",") if a.strip()]
    me = f"{args.name} (Python)"

    with peerwire.Transport(args.listen, handshake=demo_handshake, handshake_timeout=3) as t:
        print(
            f"[{args.name}] listening on {t.listen()} (peerwire {peerwire.library_version()})",
            flush=True,
        )
        dialled = 0
        for addr in addrs:
            try:
                peer = t.dial(addr, timeout=3)
            except peerwire.Error as e:
                print(f"[{args.name}] could not reach {addr}: {e}", flush=True)
                continue
            dialled += 1
            t.send(peer, f"hello from {me}".encode())
        n = t.broadcast(f"broadcast from {me} to everyone".encode())
        print(f"[{args.name}] broadcast to {n} peers", flush=True)

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
                print(f"[{args.name}] from peer {ev.peer.id} ({ev.from_addr}): {text}", flush=True)
                if text.startswith("hello from"):
                    t.send(ev.peer, f"welcome from {me}".encode())
            elif ev.kind == peerwire.EventKind.PEER_CONNECTED:
                way = "outbound" if ev.peer.outbound else "inbound"
                print(f"[{args.name}] peer {ev.peer.id} connected ({ev.addr}, {way})", flush=True)
            elif ev.peer is not None:
                print(f"[{args.name}] peer {ev.peer.id} gone: {ev.reason.description}", flush=True)
        report = t.close(linger=0.5)
        print(
            f"[{args.name}] closed: {report.peers_closed} peers, "
            f"{report.msgs_dropped} messages dropped",
            flush=True,
        )
    if addrs and dialled == 0:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
