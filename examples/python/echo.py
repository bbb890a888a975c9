"""Echo server and client.

python examples/python/echo.py serve [127.0.0.1:7000]
python examples/python/echo.py send 127.0.0.1:7000 hello world
python examples/python/echo.py serve-raw [127.0.0.1:7000]   # unframed: try `nc 127.0.0.1 7000`
"""

from __future__ import annotations

import sys

import peerwire


def serve(addr: str, codec: str = "length_prefixed") -> None:
    with peerwire.Transport(addr, codec=codec) as t:
        print("echoing on", t.listen(), flush=True)
        try:
            for ev in t.events():
                if isinstance(ev, peerwire.Message):
                    t.send(ev.peer, ev.payload)
                else:
                    print(ev.kind.name.lower(), ev.addr, flush=True)
        except KeyboardInterrupt:
            pass


def send(addr: str, words: list) -> None:
    with peerwire.Transport() as t:
        peer = t.dial(addr, timeout=5)
        t.send_many(peer, (w.encode() for w in words))  # one library call for all of them
        for _ in words:
            print(t.recv(timeout=5).payload.decode())


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] in ("serve", "serve-raw"):
        codec = "raw" if sys.argv[1] == "serve-raw" else "length_prefixed"
        serve(sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1:7000", codec)
    elif len(sys.argv) >= 4 and sys.argv[1] == "send":
        send(sys.argv[2], sys.argv[3:])
    else:
        print(__doc__)
        sys.exit(2)
