#!/usr/bin/env python3
"""A server that does no work: the ceiling of a loop shape, for the same run as staticsrv.

It answers every request head with the same precomputed 1 KiB response, so
what it costs per request is the event loop's and the socket's share alone.
Run beside staticsrv in one harness run, its throughput is the most any
server of that shape could reach on that machine at that moment:

    --shape ready   raw sockets, the reader registered once per connection
                    (``loop.add_reader``) and direct non-blocking sends:
                    the shape staticsrv uses
    --shape recv    raw sockets with ``loop.sock_recv``/``loop.sock_sendall``
                    per request: the shape staticsrv had before

    python benchmarks/zero_work.py --port 8081 --shape ready [--loop uvloop]

It only understands keep-alive GETs without bodies; it is a measuring
stick, not a server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket

BODY = b"x" * 1024
ANSWER = (
    b"HTTP/1.1 200 OK\r\nServer: zero\r\nContent-Type: text/html\r\n"
    b"Content-Length: %d\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n" % len(BODY)
) + BODY
CLOSE_ANSWER = ANSWER.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)


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

    loop.add_reader(sock.fileno(), readable)
    try:
        while True:
            answer, close = _answers(buf)
            if answer:
                await _send(loop, sock, answer)
            if close:
                return
            if eof:
                return
            waiter = loop.create_future()
            await waiter
            waiter = None
    finally:
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
    except OSError:
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

    async def accept() -> None:
        while True:
            sock, _ = await loop.sock_accept(lsock)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = loop.create_task(handler(loop, sock))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    acceptor = loop.create_task(accept())
    print(f"zero-work server ({shape}) on http://127.0.0.1:{lsock.getsockname()[1]}/", flush=True)
    await stop.wait()
    acceptor.cancel()
    for task in list(tasks):
        task.cancel()
    lsock.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--shape", choices=("ready", "recv"), default="ready")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(main(args.port, args.shape))
    else:
        asyncio.run(main(args.port, args.shape))
