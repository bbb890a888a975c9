"""A tiny asyncio chat: every line you type goes to every peer.

python examples/python/chat.py 127.0.0.1:7000                 # first peer
python examples/python/chat.py 127.0.0.1:7001 127.0.0.1:7000  # another, dialling the first
"""

from __future__ import annotations

import asyncio
import sys

import peerwire


async def main(listen: str, others: list) -> None:
    with peerwire.Transport(listen) as t:
        print("listening on", t.listen())
        for addr in others:
            peer = t.dial(addr, timeout=5)
            print("connected to", peer.addr)

        loop = asyncio.get_running_loop()
        lines: asyncio.Queue = asyncio.Queue()
        loop.add_reader(sys.stdin.fileno(), lambda: lines.put_nowait(sys.stdin.readline()))

        async def typing() -> None:
            while True:
                line = await lines.get()
                if not line:  # end of input
                    t.close()
                    return
                t.broadcast(line.rstrip("\n").encode())

        typer = asyncio.ensure_future(typing())
        async for ev in t.aiter(events=True):
            if isinstance(ev, peerwire.Message):
                print(f"<{ev.from_addr}> {ev.payload.decode('utf-8', 'replace')}")
            else:
                print(f"* {ev.kind.name.lower()} {ev.addr}")
        typer.cancel()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    try:
        asyncio.run(main(sys.argv[1], sys.argv[2:]))
    except KeyboardInterrupt:
        pass
