"""What the load tests observe from outside the server: the kernel's view of its sockets.

The HTTP client itself is :mod:`tests.client`, shared by every end-to-end test.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Callable

TCP_ESTABLISHED = 0x01


def client_hello() -> bytes:
    """The bytes of a real TLS ClientHello (a browser's first flight)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def server_sockets(port: int) -> dict[int, tuple[int, int]]:
    """Server-side TCP sockets on ``port``: remote port -> (state, bytes in send queue).

    Read from /proc/net/tcp, i.e. what the kernel knows about the server's
    sockets, independently of what the client has read so far.
    """
    found: dict[int, tuple[int, int]] = {}
    with open("/proc/net/tcp", encoding="ascii") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, state, queues = fields[1], fields[2], fields[3], fields[4]
            if int(local.split(":")[1], 16) != port:
                continue
            tx_queue = int(queues.split(":")[0], 16)
            found[int(remote.split(":")[1], 16)] = (int(state, 16), tx_queue)
    return found


def poll_until(
    condition: str, check: Callable[[], bool], timeout: float, interval: float = 0.02
) -> float:
    """Call ``check()`` until it is true; return the seconds it took, fail after ``timeout``.

    Used only to observe an outcome (a socket state in /proc), never to wait
    for the server to be ready: that is what the startup line is for.
    """
    start = time.monotonic()
    while not check():
        elapsed = time.monotonic() - start
        assert elapsed < timeout, f"not within {timeout} s: {condition}"
        time.sleep(interval)  # allowed: polls an outcome in /proc, never readiness
    return time.monotonic() - start
