"""One connection: read heads, ask the handler, send the answers, keep the deadlines.

Owns: the per-connection loop (heads read chunk by chunk into a
:class:`~staticsrv.http11.ReceiveBuffer`, pipelined answers joined into one
write), the discarding of small request bodies (chunked ones read strictly
by :mod:`staticsrv.chunked`, 400 and close when malformed), lingering close, the
connection's :class:`Phase` and deadline, rendering each answer's head at
the edge (Date, framing, Connection) and logging what was really sent.
May not touch: the listening socket, files (beyond closing a body's
descriptor), the decision of what to answer.

Deadlines are plain numbers on each connection, checked by the server's
sweeper a few times a second, instead of a timer per read: the hot path
only assigns a float.  A connection whose deadline passes is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import logging
import math
import os
import traceback
from dataclasses import dataclass

from staticsrv.chunked import ChunkedReader, State
from staticsrv.config import Limits
from staticsrv.http11 import ParseError, Request, parse_head
from staticsrv.receivebuffer import ReceiveBuffer
from staticsrv.responses import FileBody, Response, StreamBody, chunk, error_response, render_head
from staticsrv.shared import Clock, Shared
from staticsrv.transport import RECV_SIZE, Transport

log = logging.getLogger("staticsrv")

# Lingering close (RFC 9112 §9.6): how long, and how much, to keep reading
# from a client we close on while it may still be sending.
LINGER_SECONDS = 2.0
LINGER_BYTES = 1024 * 1024
PARSE_CACHE_HEAD_MAX = 2048  # heads up to this size share parses (see Shared)
FLUSH_AT = RECV_SIZE * 4  # pipelined answers held back at most this many bytes
_GONE = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN, errno.EBADF})
_BAD_CHUNKS = ParseError(400, "Malformed chunked body")
__all__ = ["Clock", "Connection", "Phase", "Shared", "run"]


class Phase(enum.IntEnum):
    """What a connection's deadline means (not the HTTP method HEAD)."""

    IDLE = 0  # between requests: keep-alive deadline; shutdown closes it at once
    RECEIVING = 1  # a head has begun: head deadline, answered 408 when it passes
    BUSY = 2  # answering: send deadline, moved on by progress
    STREAMING = 3  # an endless body (event stream): only sends have a deadline


class Connection:
    __slots__ = ("deadline", "peer", "phase", "queued", "task", "timed_out", "transport")

    def __init__(self, transport: Transport, peer: str) -> None:
        self.transport = transport
        self.peer = peer
        self.deadline = 0.0
        self.phase = Phase.IDLE
        self.timed_out = False
        # Unacknowledged bytes at the sweeper's last look (Transport.unacked);
        # -1 when not known.
        self.queued = -1
        self.task: asyncio.Task[None] | None = None


@dataclass(slots=True)
class _Sent:
    """An answer written into the outgoing batch, logged once the batch is out."""

    req: Request | None
    status: int
    head: int  # bytes of the head
    body: int  # bytes of the body


def _body_bytes(resp: Response) -> bytes:
    return resp.body if isinstance(resp.body, bytes) else b""


def _whole(resp: Response, shared: Shared) -> bytes:
    """A closing answer in memory (the connection's own errors), head and body."""
    return render_head(resp, shared.clock.date_line(), False, False) + _body_bytes(resp)


async def run(conn: Connection, shared: Shared) -> None:
    """Serve ``conn`` until it ends; never raises for what a client does."""
    try:
        await _serve(conn, shared)
    except asyncio.CancelledError:
        if conn.timed_out and conn.phase == Phase.RECEIVING:
            # RFC 9110 §15.5.9: tell a client whose request stalled why we
            # close.  Best effort, never blocking.
            resp = error_response(408, close=True)
            conn.transport.send_nowait(_whole(resp, shared))
    except (ConnectionError, TimeoutError):
        pass  # the client went away; nothing to tell anyone
    except OSError as exc:
        if exc.errno not in _GONE:
            log.error("connection error: %s", exc)
    except Exception:
        log.error("unexpected error while serving a connection\n%s", traceback.format_exc())
    finally:
        conn.transport.close()


class _Writer:
    """The outgoing side of one connection: batching, deadlines and the log."""

    __slots__ = ("conn", "loop", "out", "sent", "shared", "size")

    def __init__(self, conn: Connection, shared: Shared) -> None:
        self.conn = conn
        self.shared = shared
        self.loop = asyncio.get_running_loop()
        self.out: list[bytes] = []
        self.sent: list[_Sent] = []
        self.size = 0

    def add(self, req: Request | None, status: int, head: bytes, body: bytes) -> None:
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
            complete = await _send_parts(self.conn, self.shared, body)
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
        conn, transport = self.conn, self.conn.transport
        complete = False
        start = -1  # until the head is out
        try:
            start = await self._head_alone(head)
            if not stream.finite:
                conn.phase = Phase.STREAMING
            chunks = aiter(stream.chunks)
            while True:
                try:
                    data = await anext(chunks)
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
            # Close the producer now, not whenever the garbage collector
            # finds it: an event stream unregisters itself on close.
            await _close_stream(stream)
            if self.shared.log is not None:
                went = transport.sent - start if start >= 0 else 0
                self.shared.log.record(conn.peer, req, resp.status, went, complete)
        return True


async def _close_stream(stream: StreamBody) -> None:
    aclose = getattr(stream.chunks, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):  # a producer's own failure is logged by it
            await aclose()


async def _send_parts(conn: Connection, shared: Shared, body: FileBody) -> bool:
    transport = conn.transport
    loop = asyncio.get_running_loop()
    for part in body.parts:
        conn.deadline = loop.time() + shared.timeouts.send
        if isinstance(part, bytes):
            await transport.send(part)
        elif not await transport.sendfile(body.fd, *part):
            return False
    return True


async def _serve(conn: Connection, shared: Shared) -> None:
    loop = asyncio.get_running_loop()
    transport = conn.transport
    limits, t = shared.limits, shared.timeouts
    buf = ReceiveBuffer(limits)
    writer = _Writer(conn, shared)
    discard = 0  # bytes of a request body still to drop before the next head
    body_deadline = 0.0
    while True:
        if discard:
            discard -= len(buf.extract(discard))
            if discard:
                # Answer first: the client may wait for it before sending more.
                await writer.flush()
                conn.deadline = body_deadline
                data = await transport.recv()
                if not data:
                    return
                buf.feed(data)
                continue
        item = buf.extract_head()
        if item is None:
            await writer.flush()
            if shared.stopping:
                return
            if not buf:
                conn.phase = Phase.IDLE
                conn.deadline = loop.time() + t.keepalive
            elif conn.phase != Phase.RECEIVING:
                conn.phase = Phase.RECEIVING  # a pipelined head arrived in part
                conn.deadline = loop.time() + t.head
            data = await transport.recv()
            if not data:
                return
            if conn.phase == Phase.IDLE:
                # The head deadline starts with the first byte and is not
                # extended by later ones: trickling cannot keep it open.
                conn.phase = Phase.RECEIVING
                conn.deadline = loop.time() + t.head
            buf.feed(data)
            continue

        conn.phase = Phase.BUSY
        if isinstance(item, ParseError):
            req: Request | ParseError = item
        elif len(item) <= PARSE_CACHE_HEAD_MAX:
            req = shared.parse_cached(item)
        else:
            req = parse_head(item, limits)
        if isinstance(req, ParseError):
            await _refuse(conn, shared, writer, None, req)
            return
        unread = req.body_length > limits.max_discard_body
        if req.chunked:
            conn.phase = Phase.RECEIVING  # a stalled body gets the 408 a stalled head gets
            state = await _read_chunked(conn, buf, writer, limits, loop.time() + t.head)
            conn.phase = Phase.BUSY
            if state is None:
                return
            if state is State.ERROR:
                await _refuse(conn, shared, writer, req, _BAD_CHUNKS)
                return
            unread = state is State.TOO_LARGE

        resp = await shared.handler.handle(req)
        close = resp.close or not req.keep_alive or shared.stopping
        if unread:
            # RFC 9112 §9.6 / §6.3: we do not read large bodies of GET/HEAD;
            # closing keeps the connection from desynchronising.
            close = True
        elif req.body_length:
            # The body to drop has the head's deadline, counted once from
            # now: a body trickled byte by byte must not hold the
            # connection any longer than a trickled head can.
            discard = req.body_length
            body_deadline = loop.time() + t.head
        http10 = req.version == "HTTP/1.0"
        head = render_head(resp, shared.clock.date_line(), not close, http10)
        body = resp.body
        if isinstance(body, bytes):
            # RFC 9110 §9.3.2: never a body after a HEAD, whatever built the answer.
            writer.add(req, resp.status, head, b"" if req.method == "HEAD" else body)
            if writer.size > FLUSH_AT:
                await writer.flush()
        elif isinstance(body, FileBody):
            if req.method == "HEAD":
                os.close(body.fd)
                writer.add(req, resp.status, head, b"")
            elif not await writer.send_file(req, resp, head, body):
                return  # the file shrank under us: the framing is broken, close
        elif req.method == "HEAD":
            await _close_stream(body)
            writer.add(req, resp.status, head, b"")
        else:
            if not await writer.send_stream(req, resp, head, chunked=not http10) or http10:
                return
            conn.phase = Phase.BUSY
        if close:
            await writer.flush()
            if unread:
                await _linger(conn)
            return


async def _refuse(
    conn: Connection, shared: Shared, writer: _Writer, req: Request | None, why: ParseError
) -> None:
    """Answer ``why`` (the stream cannot be trusted any more) and close."""
    resp = error_response(why.status, reason=why.reason, close=True)
    head = render_head(resp, shared.clock.date_line(), False, False)
    writer.add(req, resp.status, head, _body_bytes(resp))
    await writer.flush()
    await _linger(conn)


async def _read_chunked(
    conn: Connection, buf: ReceiveBuffer, writer: _Writer, limits: Limits, deadline: float
) -> State | None:
    """Read past a chunked body strictly (:mod:`staticsrv.chunked`); None if the client left.

    The body has the head's deadline, counted once: trickling cannot stretch it.
    """
    reader = ChunkedReader(limits.max_discard_body)
    while True:
        buf.extract(reader.feed(buf.peek()))
        if reader.finished:
            return reader.state
        await writer.flush()  # answers to earlier pipelined requests first
        conn.deadline = deadline
        data = await conn.transport.recv()
        if not data:
            return None
        buf.feed(data)


async def _linger(conn: Connection) -> None:
    """Half-close, then drop what the client still sends, within bounds.

    Closing a socket with unread input makes the kernel answer with a
    reset, which can destroy the response we just wrote before the client
    has read it (RFC 9112 §9.6, "lingering close"; nginx does the same).
    The connection counts as idle meanwhile: shutdown does not wait for it.
    """
    loop = asyncio.get_running_loop()
    conn.transport.shutdown_write()
    conn.phase = Phase.IDLE
    conn.deadline = loop.time() + LINGER_SECONDS
    left = LINGER_BYTES
    with contextlib.suppress(OSError):
        while left > 0:
            data = await conn.transport.recv()
            if not data:
                return
            left -= len(data)
