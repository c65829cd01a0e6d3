"""The outgoing side of one connection, and the state it moves.

Owns: :class:`Connection` (transport, deadline, :class:`Phase`: what the
server's sweeper reads) and :class:`Writer`: pipelined answers joined into
one write, a file's parts and a stream's chunks sent under the send
deadline, and the access log of the bytes that really went out.
May not touch: the listening socket, reading requests, files (beyond
closing a body's descriptor), the decision of what to answer.
The connection loop (:mod:`staticsrv.net.connection`) drives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from staticsrv.http.http11 import Request
from staticsrv.http.responses import FileBody, Response, StreamBody, chunk
from staticsrv.net.shared import Shared
from staticsrv.net.transport import Pipe, Transport

log = logging.getLogger("staticsrv")


class Phase(enum.IntEnum):
    """What a connection's deadline means (not the HTTP method HEAD)."""

    IDLE = 0  # between requests: keep-alive deadline; shutdown closes it at once
    RECEIVING = 1  # a head has begun: head deadline, answered 408 when it passes
    BUSY = 2  # answering: send deadline, moved on by progress
    STREAMING = 3  # an endless body (event stream): only sends have a deadline


class Connection:
    __slots__ = (
        "deadline",
        "hook",
        "loop",
        "owed",
        "peer",
        "phase",
        "queued",
        "raw",
        "task",
        "timed_out",
        "transport",
    )

    def __init__(self, transport: Pipe, peer: str, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self.peer = peer
        # Handed down from the server, so no per-connection code asks for
        # it again (asyncio.get_running_loop() is a getpid() on Python 3.11).
        self.loop = loop
        self.deadline = 0.0
        self.phase = Phase.IDLE
        self.timed_out = False
        # Unacknowledged bytes at the sweeper's last look (Transport.unacked);
        # -1 when not known.
        self.queued = -1
        # None until the connection needs its coroutine: a plain connection
        # whose requests the quick path answers (staticsrv.net.quick) never
        # gets one.
        self.task: asyncio.Task[None] | None = None
        # The quick path: the plain transport it reads and writes (None: TLS,
        # or no quick path), the callback its transport calls with what
        # arrives while the connection is idle, and the rest of an answer
        # the kernel did not take at once (the coroutine sends it, first).
        self.raw: Transport | None = None
        self.hook: Callable[[bytes], None] | None = None
        self.owed: Owed | None = None


@dataclass(slots=True)
class Owed:
    """The unsent rest of an answer the quick path began, and what to log for it."""

    data: memoryview
    req: Request
    status: int
    head: int  # bytes of the head in the whole answer
    body: int  # bytes of the body in the whole answer
    went: int  # bytes of the whole answer sent before
    close: bool  # the connection ends after it


@dataclass(slots=True)
class _Sent:
    """An answer written into the outgoing batch, logged once the batch is out."""

    req: Request | bytes | None  # bytes: the raw line of a refused request
    status: int
    head: int  # bytes of the head
    body: int  # bytes of the body


def body_bytes(resp: Response) -> bytes:
    return resp.body if isinstance(resp.body, bytes) else b""


class Writer:
    """The outgoing side of one connection: batching, deadlines and the log."""

    __slots__ = ("conn", "loop", "out", "sent", "shared", "size")

    def __init__(self, conn: Connection, shared: Shared) -> None:
        self.conn = conn
        self.shared = shared
        self.loop = conn.loop
        self.out: list[bytes] = []
        self.sent: list[_Sent] = []
        self.size = 0

    def add(self, req: Request | bytes | None, status: int, head: bytes, body: bytes) -> None:
        data = head + body if body else head
        self.out.append(data)
        self.size += len(data)
        if self.shared.log is not None:
            self.sent.append(_Sent(req, status, len(head), len(body)))

    async def flush(self) -> None:
        if not self.out:
            return
        out = self.out
        transport = self.conn.transport
        start = transport.sent
        self.conn.deadline = self.loop.time() + self.shared.timeouts.send
        try:
            await transport.send(b"".join(out) if len(out) > 1 else out[0])
        finally:
            if self.sent:
                self._log(transport.sent - start)
            out.clear()
            self.size = 0

    def _log(self, went: int) -> None:
        """Log the batch: each answer with the body bytes that really went out."""
        access = self.shared.log
        if access is not None:
            for item in self.sent:
                body = min(max(went - item.head, 0), item.body)
                went -= item.head + item.body
                if item.status:  # 0: a head whose body is logged by its sender
                    access.record(self.conn.peer, item.req, item.status, body, body == item.body)
        self.sent.clear()

    async def _head_alone(self, head: bytes) -> int:
        """Send a head whose body its sender logs; the byte count where the body starts."""
        self.out.append(head)
        if self.shared.log is not None:  # logged by the sender, not with the batch
            self.sent.append(_Sent(None, 0, len(head), 0))
        await self.flush()
        return self.conn.transport.sent

    async def send_file(self, req: Request, resp: Response, head: bytes, body: FileBody) -> bool:
        """Head, then the file's parts; False if the file ended early."""
        transport = self.conn.transport
        complete = False
        start = -1  # until the head is out
        try:
            start = await self._head_alone(head)
            complete = await send_parts(self.conn, self.shared, body)
        finally:
            os.close(body.fd)
            if self.shared.log is not None:
                went = transport.sent - start if start >= 0 else 0
                self.shared.log.record(self.conn.peer, req, resp.status, went, complete)
        return complete

    async def send_stream(self, req: Request, resp: Response, head: bytes, chunked: bool) -> bool:
        """Head, then the stream's chunks as they come; False if the producer failed.

        An endless stream has a deadline only while sending; a finite one
        (a file compressed as it goes) keeps the send deadline throughout.
        A producer that fails (the file changed under its compressor) ends
        the body without its last chunk, and the connection is closed: the
        client sees an incomplete answer, never a wrong complete one.
        """
        assert isinstance(resp.body, StreamBody)
        stream = resp.body
        chunked = chunked and stream.length is None  # a known length frames itself
        conn, transport = self.conn, self.conn.transport
        complete = False
        start = -1  # until the head is out
        gone: asyncio.Future[bytes] | None = None  # an endless stream's watch for EOF
        pending: asyncio.Future[bytes | None] | None = None  # its next chunk
        try:
            start = await self._head_alone(head)
            if not stream.finite:
                conn.phase = Phase.STREAMING
            chunks = aiter(stream.chunks)
            if not stream.finite:
                # An endless stream is quiet for long: a client that left is
                # seen by its EOF at once, not by the next heartbeat's send
                # (a reloaded tab's stream would hold its slot until then).
                gone = asyncio.ensure_future(transport.recv())
            while True:
                try:
                    if gone is None:
                        data = await anext(chunks)
                    else:
                        pending = asyncio.ensure_future(_next(chunks))
                        while not pending.done():
                            await asyncio.wait((pending, gone), return_when=asyncio.FIRST_COMPLETED)
                            if gone.done() and not pending.done():
                                if gone.cancelled() or gone.exception() or not gone.result():
                                    return True  # the client left: end quietly
                                gone = asyncio.ensure_future(transport.recv())  # ignored bytes
                        got = pending.result()
                        if got is None:
                            break
                        data = got
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    log.warning("staticsrv: a streamed body ended early (%r)", exc)
                    return False
                if data:
                    conn.deadline = self.loop.time() + self.shared.timeouts.send
                    await transport.send(chunk(data) if chunked else data)
                    if not stream.finite:
                        conn.deadline = math.inf
            if chunked:
                await transport.send(chunk(b""))
            complete = True
        finally:
            for task in (pending, gone):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task  # the producer must stop before it is closed
            # Close the producer now, not whenever the garbage collector
            # finds it: an event stream unregisters itself on close.
            await close_stream(stream)
            if self.shared.log is not None:
                went = transport.sent - start if start >= 0 else 0
                self.shared.log.record(conn.peer, req, resp.status, went, complete)
        return True


async def _next(chunks: AsyncIterator[bytes]) -> bytes | None:
    """The next chunk; None at the end."""
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        return None


async def close_stream(stream: StreamBody) -> None:
    aclose = getattr(stream.chunks, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):  # a producer's own failure is logged by it
            await aclose()


async def send_parts(conn: Connection, shared: Shared, body: FileBody) -> bool:
    transport = conn.transport
    loop = conn.loop
    parts, last = _held_back(body)
    for part in parts:
        conn.deadline = loop.time() + shared.timeouts.send
        if isinstance(part, bytes):
            await transport.send(part)
        elif part[1] and not await transport.sendfile(body.fd, *part):
            return False
    if last is None:
        return True
    st = os.fstat(body.fd)
    if (st.st_size, st.st_mtime_ns) != body.check:
        log.warning("staticsrv: a file changed while it was sent; its answer is cut short")
        return False
    conn.deadline = loop.time() + shared.timeouts.send
    if isinstance(last, bytes):
        await transport.send(last)
        return True
    return await transport.sendfile(body.fd, *last)


def _held_back(
    body: FileBody,
) -> tuple[tuple[bytes | tuple[int, int], ...], bytes | tuple[int, int] | None]:
    """The parts to send, and the last byte to send after the check (if any)."""
    if body.check is None or not body.parts:
        return body.parts, None
    *init, tail = body.parts
    if isinstance(tail, bytes):
        return (*init, tail[:-1]), tail[-1:]
    offset, count = tail
    return (*init, (offset, count - 1)), (offset + count - 1, 1)
