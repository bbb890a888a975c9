"""Shared fixtures. Every test uses loopback, port 0 and bounded waits."""

from __future__ import annotations

import gc
import os
import threading
import time
from typing import Callable, Iterator, List, Tuple

import pytest

import peerwire

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def wait_until(pred: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``pred`` until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def next_event(t: peerwire.Transport, kind: peerwire.EventKind, timeout: float = 5.0):
    """The next PeerEvent of ``kind`` (messages and other events before it are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {kind.name} event within {timeout} s")
        try:
            ev = t.recv_event(timeout=left)
        except peerwire.TimeoutError:
            continue
        if isinstance(ev, peerwire.PeerEvent) and ev.kind == kind:
            return ev


@pytest.fixture
def transports() -> Iterator[Callable[..., peerwire.Transport]]:
    """Factory of transports that are closed at the end of the test."""
    made: List[peerwire.Transport] = []

    def make(*args, **kwargs) -> peerwire.Transport:
        t = peerwire.Transport(*args, **kwargs)
        made.append(t)
        return t

    yield make
    for t in made:
        try:
            t.close(linger=0)
        except peerwire.CallbackError:
            pass


@pytest.fixture
def pair(transports) -> Tuple[peerwire.Transport, peerwire.Transport, peerwire.Peer]:
    """(server, client, peer-of-server-as-seen-by-client), connected."""
    server = transports()
    server.listen()
    client = transports()
    peer = client.dial(server.addr, timeout=5)
    return server, client, peer


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def thread_names() -> List[str]:
    return sorted(t.name for t in threading.enumerate())


def collect() -> None:
    for _ in range(3):
        gc.collect()
