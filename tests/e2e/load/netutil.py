"""What the load tests observe from outside the server: the kernel's view of its sockets.

The HTTP client itself is :mod:`tests.client`, shared by every end-to-end test, and
the bounded poll of an outcome is :func:`tests.waiting.poll_until`.
"""

from __future__ import annotations

TCP_ESTABLISHED = 0x01


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
