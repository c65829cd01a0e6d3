"""One connection: read heads, ask the handler, send the answers, keep the deadlines.

Owns: the per-connection loop (heads read chunk by chunk into a
:class:`~staticsrv.http11.ReceiveBuffer`, pipelined answers joined into one
write), the discarding of small request bodies, lingering close, the
connection's :class:`Phase` and deadline, rendering each answer's head at
the edge (Date, framing, Connection) and logging what was really sent.
May not touch: the listening socket, files (beyond closing a body's
descriptor), the decision of what to answer.

The transport is opened first (a TLS handshake, under the head deadline);
plain HTTP on a TLS port is answered 400 in plain text and closed.

Deadlines are plain numbers on each connection, checked by the server's
sweeper a few times a second, instead of a timer per read: the hot path
only assigns a float.  A connection whose deadline passes is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import functools
import logging
import math
import os
import time
import traceback
from dataclasses import dataclass

from staticsrv.accesslog import AccessLog
from staticsrv.config import Config
from staticsrv.handler import Handler
from staticsrv.http11 import ParseError, ReceiveBuffer, Request, parse_head
from staticsrv.httpdate import format_http_date
from staticsrv.responses import (
    FileBody,
    Response,
    StreamBody,
    chunk,
    date_line,
    error_response,
    render_head,
)
from staticsrv.transport import RECV_SIZE, Opened, Pipe

log = logging.getLogger("staticsrv")

# Lingering close (RFC 9112 §9.6): how long, and how much, to keep reading
# from a client we close on while it may still be sending.
LINGER_SECONDS = 2.0
LINGER_BYTES = 1024 * 1024
PARSE_CACHE_HEAD_MAX = 2048  # heads up to this size share parses (see Shared)
FLUSH_AT = RECV_SIZE * 4  # pipelined answers held back at most this many bytes
PLAIN_ON_TLS = "This server speaks HTTPS only: use an https:// address."
_GONE = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN, errno.EBADF})


class Phase(enum.IntEnum):
    """What a connection's deadline means (not the HTTP method HEAD)."""

    IDLE = 0  # between requests: keep-alive deadline; shutdown closes it at once
    RECEIVING = 1  # a head has begun: head deadline, answered 408 when it passes
    BUSY = 2  # answering: send deadline, moved on by progress
    STREAMING = 3  # an endless body (event stream): only sends have a deadline


class Clock:
    """The Date line, formatted once a second (RFC 9110 §6.6.1)."""

    __slots__ = ("_line", "_sec")

    def __init__(self) -> None:
        self._sec = -1
        self._line = b""

    def date_line(self) -> bytes:
        now = int(time.time())
        if now != self._sec:
            self._sec = now
            self._line = date_line(format_http_date(now))
        return self._line


class Shared:
    """What every connection of one server uses."""

    def __init__(self, config: Config, handler: Handler, access_log: AccessLog | None) -> None:
        self.config = config
        self.handler = handler
        self.log = access_log
        self.limits = config.limits
        self.timeouts = config.timeouts
        self.clock = Clock()
        self.stopping = False
        # Keep-alive clients repeat the very same head (browsers per resource,
        # load generators always): parse_head is pure and Request immutable,
        # so identical bytes can share one parse.  Bounded in entries and size.
        self.parse_cached = functools.lru_cache(maxsize=512)(
            functools.partial(parse_head, limits=config.limits)
        )


class Connection:
    __slots__ = ("deadline", "peer", "phase", "queued", "task", "timed_out", "transport")

    def __init__(self, transport: Pipe, peer: str) -> None:
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
        self.out.append(head + body if body else head)
        self.sent.append(_Sent(req, status, len(head), len(body)))
        self.size += len(head) + len(body)

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

    async def send_file(self, req: Request, resp: Response, head: bytes, body: FileBody) -> bool:
        """Head, then the file's parts; False if the file ended early."""
        transport = self.conn.transport
        complete = False
        start = -1  # until the head is out
        try:
            self.out.append(head)
            self.sent.append(_Sent(None, 0, len(head), 0))  # logged below, not with the batch
            await self.flush()
            start = transport.sent
            complete = await _send_parts(self.conn, self.shared, body)
        finally:
            os.close(body.fd)
            if self.shared.log is not None:
                went = transport.sent - start if start >= 0 else 0
                self.shared.log.record(self.conn.peer, req, resp.status, went, complete)
        return complete

    async def send_stream(self, req: Request, resp: Response, head: bytes, chunked: bool) -> None:
        """Head, then the stream's chunks as they come; deadlines only while sending."""
        assert isinstance(resp.body, StreamBody)
        conn, transport = self.conn, self.conn.transport
        self.out.append(head)
        self.sent.append(_Sent(None, 0, len(head), 0))
        await self.flush()
        conn.phase = Phase.STREAMING
        start = transport.sent
        complete = False
        try:
            async for data in resp.body.chunks:
                if data:
                    conn.deadline = self.loop.time() + self.shared.timeouts.send
                    await transport.send(chunk(data) if chunked else data)
                    conn.deadline = math.inf
            if chunked:
                await transport.send(chunk(b""))
            complete = True
        finally:
            if self.shared.log is not None:
                went = transport.sent - start
                self.shared.log.record(conn.peer, req, resp.status, went, complete)


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
    # A TLS handshake runs under the head deadline the server set at
    # accept: half a ClientHello is dropped like half a head.
    conn.phase = Phase.RECEIVING
    opened = await transport.open()
    if opened is not Opened.READY:
        if opened is Opened.PLAIN:
            await _refuse_plain(conn, shared, buf, writer)
        return
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
            resp = error_response(req.status, reason=req.reason, close=True)
            head = render_head(resp, shared.clock.date_line(), False, False)
            writer.add(None, resp.status, head, _body_bytes(resp))
            await writer.flush()
            await _linger(conn)
            return

        resp = await shared.handler.handle(req)
        close = resp.close or not req.keep_alive or shared.stopping
        unread = req.chunked or req.body_length > limits.max_discard_body
        if unread:
            # RFC 9112 §9.6 / §6.3: we do not read large or chunked bodies
            # of GET/HEAD; closing keeps the connection from desynchronising.
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
            writer.add(req, resp.status, head, b"")
        else:
            await writer.send_stream(req, resp, head, chunked=not http10)
            if http10:
                return
            conn.phase = Phase.BUSY
        if close:
            await writer.flush()
            if unread:
                await _linger(conn)
            return


async def _refuse_plain(
    conn: Connection, shared: Shared, buf: ReceiveBuffer, writer: _Writer
) -> None:
    """Plain HTTP on the HTTPS port: read the head, say to use https://, close.

    As nginx (its 497, sent as a plain 400) and caddy do.  A redirect would
    have to build its target from the client's Host field (an open
    redirect); a fixed message cannot be abused.
    """
    while (item := buf.extract_head()) is None:
        data = await conn.transport.recv()
        if not data:
            return
        buf.feed(data)
    conn.phase = Phase.BUSY
    resp = error_response(400, reason=PLAIN_ON_TLS, close=True)
    head = render_head(resp, shared.clock.date_line(), False, False)
    req = parse_head(item, shared.limits) if isinstance(item, bytes) else None
    writer.add(req if isinstance(req, Request) else None, 400, head, _body_bytes(resp))
    await writer.flush()
    await _linger(conn)


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
