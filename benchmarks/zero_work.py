#!/usr/bin/env python3
"""A server that does no work: the ceiling of a loop shape, for the same run as staticsrv.

It answers every request head with the same precomputed 1 KiB response
(``--body FILE``: that file's bytes, read once at start-up), so
what it costs per request is the event loop's and the socket's share alone.
Run beside staticsrv in one harness run, its throughput is the most any
server of that shape could reach on that machine at that moment:

    --shape ready   raw sockets, the shape staticsrv uses: connections
                    accepted from a standing readiness registration on the
                    listening socket, a direct ``recv`` first, then the
                    reader registered once per connection
                    (``loop.add_reader``), and direct non-blocking sends
    --shape recv    raw sockets with ``loop.sock_accept`` per connection and
                    ``loop.sock_recv``/``loop.sock_sendall`` per request: the
                    shape staticsrv had before

    python benchmarks/zero_work.py --port 8081 --shape ready [--loop uvloop]

It only understands GETs of ``/small.html`` without bodies (keep-alive, or
``Connection: close``); any other request line gets the connection closed
without an answer, so the harness skips its other scenarios (the probe
fails) instead of loading a server that cannot serve them.  It is a
measuring stick, not a server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket


def answer_for(body: bytes) -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\nServer: zero\r\nContent-Type: text/html\r\n"
        b"Content-Length: %d\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n" % len(body)
    )
    return head + body


# Replaced at start-up by --body (the harness checks the body it gets).
ANSWER = answer_for(b"x" * 1024)
CLOSE_ANSWER = ANSWER.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
SERVED = b"get /small.html "  # the request line it answers (lower case)


class Unservable(Exception):
    """A request this server cannot answer: the connection is closed unanswered."""


def _answers(buf: bytearray) -> tuple[bytes, bool]:
    """Answers for the complete heads in ``buf`` (consumed), and whether to close."""
    out: list[bytes] = []
    close = False
    while True:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return b"".join(out), close
        head = bytes(buf[:end]).lower()
        del buf[: end + 4]
        if not head.startswith(SERVED):
            raise Unservable
        close = b"connection: close" in head
        out.append(CLOSE_ANSWER if close else ANSWER)
        if close:
            return b"".join(out), True


async def _send(loop: asyncio.AbstractEventLoop, sock: socket.socket, data: bytes) -> None:
    try:
        sent = sock.send(data)
    except BlockingIOError:
        sent = 0
    if sent < len(data):
        await loop.sock_sendall(sock, data[sent:])


async def serve_ready(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    buf = bytearray()
    waiter: asyncio.Future[None] | None = None
    eof = False
    reading = False

    def readable() -> None:
        nonlocal eof
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            buf.extend(data)
        else:
            eof = True
            loop.remove_reader(sock.fileno())
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    try:
        # A new connection's request has usually arrived already: one recv
        # instead of registering first (as staticsrv's Transport does).
        try:
            first = sock.recv(65536)
            if not first:
                return
            buf.extend(first)
        except BlockingIOError:
            pass
        while True:
            answer, close = _answers(buf)
            if answer:
                await _send(loop, sock, answer)
            if close or eof:
                return
            if not reading:
                loop.add_reader(sock.fileno(), readable)
                reading = True
            waiter = loop.create_future()
            await waiter
            waiter = None
    except (Unservable, OSError):
        pass
    finally:
        if reading:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(sock.fileno())
        sock.close()


async def serve_recv(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    buf = bytearray()
    try:
        while True:
            data = await loop.sock_recv(sock, 65536)
            if not data:
                return
            buf.extend(data)
            answer, close = _answers(buf)
            if answer:
                await loop.sock_sendall(sock, answer)
            if close:
                return
    except (Unservable, OSError):
        pass
    finally:
        sock.close()


async def main(port: int, shape: str) -> None:
    loop = asyncio.get_running_loop()
    lsock = socket.create_server(("127.0.0.1", port), backlog=1024)
    lsock.setblocking(False)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    handler = serve_ready if shape == "ready" else serve_recv
    tasks: set[asyncio.Task[None]] = set()

    def start(sock: socket.socket) -> None:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        task = loop.create_task(handler(loop, sock))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def accept() -> None:
        if shape == "ready":
            # One standing registration; each wake-up takes every waiting
            # connection (staticsrv's ServerCore._accept_ready).
            def acceptable() -> None:
                while True:
                    try:
                        sock, _ = lsock.accept()
                    except (BlockingIOError, InterruptedError):
                        return
                    start(sock)

            loop.add_reader(lsock.fileno(), acceptable)
            try:
                await asyncio.Event().wait()
            finally:
                loop.remove_reader(lsock.fileno())
        while True:
            sock, _ = await loop.sock_accept(lsock)
            start(sock)

    acceptor = loop.create_task(accept())
    print(f"zero-work server ({shape}) on http://127.0.0.1:{lsock.getsockname()[1]}/", flush=True)
    await stop.wait()
    acceptor.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await acceptor  # unregisters the listening socket before it closes
    for task in list(tasks):
        task.cancel()
    lsock.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--shape", choices=("ready", "recv"), default="ready")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--body", help="answer with this file's bytes (default: 1 KiB of x)")
    args = parser.parse_args()
    if args.body is not None:
        with open(args.body, "rb") as f:
            ANSWER = answer_for(f.read())
        CLOSE_ANSWER = ANSWER.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(main(args.port, args.shape))
    else:
        asyncio.run(main(args.port, args.shape))
