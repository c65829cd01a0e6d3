"""What a handler may take from its connection besides the head: the body, the socket.

Owns: :class:`ClientBody`, what the proxy needs of any client (the
HTTP/2 streams' :class:`~staticsrv.net.h2body.StreamSide` is the other one),
and :class:`ClientSide`, the HTTP/1.1 seam through which the proxy reads a
request body as it arrives (de-chunked by :mod:`staticsrv.http.chunked`,
``Expect: 100-continue`` answered on the first read) and asks to take the
socket over after a ``101``.  The connection loop makes one only when
something may proxy, hands it to the handler, and afterwards reads
:attr:`ClientSide.state` to know whether the body is still on the wire.
May not touch: the decision of what to answer.
"""

from __future__ import annotations

import enum
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from staticsrv.http.chunked import ChunkedReader, State
from staticsrv.http.http11 import Request
from staticsrv.http.receivebuffer import ReceiveBuffer
from staticsrv.net.writer import Connection, Phase, Writer

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
NO_LIMIT = 1 << 62


class Body(enum.Enum):
    UNREAD = "unread"  # the connection deals with it as before (discard or refuse)
    READ = "read"  # read to its end: the next head follows
    BROKEN = "broken"  # read in part or malformed: close after the answer


class BodyError(Exception):
    """The client's body ended early or its chunked framing was malformed."""


class ClientBody(Protocol):
    """A request's body as the proxy reads it, whatever the client's protocol."""

    @property
    def peer(self) -> str: ...

    @property
    def has_body(self) -> bool: ...

    @property
    def chunked(self) -> bool:
        """No length known ahead: the body goes up chunked (RFC 9112 §7.1)."""
        ...

    def hold(self) -> None:
        """The answer is awaited elsewhere (``--proxy-timeout``): no client deadline meanwhile."""

    def body(self) -> AsyncIterator[bytes]:
        """The body's data as it arrives; BodyError if it is cut or malformed."""
        ...


class ClientSide:
    __slots__ = ("buf", "conn", "head_timeout", "peer", "req", "state", "tunnel", "writer")

    def __init__(
        self,
        conn: Connection,
        buf: ReceiveBuffer,
        writer: Writer,
        req: Request,
        head_timeout: float,
    ) -> None:
        self.conn = conn
        self.buf = buf
        self.writer = writer
        self.req = req
        self.peer = conn.peer
        self.head_timeout = head_timeout
        self.state = Body.UNREAD
        # Set by a handler that answers 101: run after the head went out,
        # with the client's transport and what it sent after the head.
        self.tunnel: Callable[[ClientSide], Awaitable[None]] | None = None

    @property
    def has_body(self) -> bool:
        return self.req.chunked or self.req.body_length > 0

    @property
    def chunked(self) -> bool:
        return self.req.chunked

    async def _recv(self) -> bytes:
        conn = self.conn
        # Progress-based: each read has the head deadline (a large upload
        # may take long, a stalled one may not).
        conn.phase = Phase.RECEIVING
        conn.deadline = conn.loop.time() + self.head_timeout
        data = await conn.transport.recv()
        conn.phase = Phase.BUSY
        self.hold()
        return data

    def hold(self) -> None:
        """No connection deadline while the answer is awaited elsewhere (``--proxy-timeout``)."""
        self.conn.deadline = math.inf

    async def body(self) -> AsyncIterator[bytes]:
        """The body's data as it arrives, de-framed; BodyError if it is cut or malformed."""
        req = self.req
        self.state = Body.BROKEN  # until read to its end
        if "100-continue" in req.headers.get("expect", "").lower() and req.version == "HTTP/1.1":
            # RFC 9110 §10.1.1: the client waits for this before sending the body.
            await self.writer.flush()
            await self.conn.transport.send(CONTINUE)
        buf = self.buf
        if not req.chunked:
            left = req.body_length
            while left:
                if not buf:
                    data = await self._recv()
                    if not data:
                        raise BodyError("the client closed mid-body")
                    buf.feed(data)
                piece = buf.extract(min(left, len(buf)))
                left -= len(piece)
                yield piece
            self.state = Body.READ
            return
        reader = ChunkedReader(NO_LIMIT)
        while True:
            data = buf.peek()
            if data:
                if reader.state is State.DATA:
                    take = min(reader.left, len(data))
                    piece = buf.extract(reader.feed(data[:take]))
                    yield piece
                else:
                    # Framing lines: feed one line (or the CRLF after data) at a time.
                    end = data.find(b"\n") + 1 if reader.state is not State.DATA_END else 2
                    if end > 0 and end <= len(data):
                        buf.extract(reader.feed(data[:end]))
                    elif len(data) > 4096:
                        reader.state = State.ERROR
                    else:
                        data = b""
                if reader.state is State.DONE:
                    self.state = Body.READ
                    return
                if reader.state is State.ERROR:
                    raise BodyError("malformed chunked body")
                if data:
                    continue
            more = await self._recv()
            if not more:
                raise BodyError("the client closed mid-body")
            buf.feed(more)
