"""An HTTP/2 stream's request body, as the proxy reads it: DATA frames as they arrive.

Owns: :class:`StreamSide`, the HTTP/2 counterpart of
:class:`~staticsrv.net.exchange.ClientSide` (both are a
:class:`~staticsrv.net.exchange.ClientBody`).  The session feeds it the
stream's DATA, its END_STREAM and its end (a reset, the connection gone);
:meth:`StreamSide.body` hands the data on and gives the flow-control
window back only as each piece is taken (RFC 9113 §5.2, §6.9), so a
large upload to a slow upstream waits in the client, not here: what is
held is at most one stream window.  May not touch: the socket (the
session's pump sends the WINDOW_UPDATEs), the decision of what to answer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import h2.exceptions

from staticsrv.http.http11 import Request
from staticsrv.net.exchange import Body, BodyError

if TYPE_CHECKING:
    from staticsrv.net.h2conn import Session, Stream


class StreamSide:
    __slots__ = (
        "_continue",
        "_end",
        "_pieces",
        "_session",
        "_stream",
        "_unacked",
        "_wake",
        "chunked",
        "has_body",
        "length",
        "peer",
        "state",
    )

    def __init__(self, session: Session, stream: Stream, req: Request, has_body: bool) -> None:
        self._session = session
        self._stream = stream
        self.peer = session.conn.peer
        self.has_body = has_body
        # HTTP/2 has no chunked coding (RFC 9113 §8.2.2): a body without a
        # content-length goes up chunked; with one, that length goes up.
        self.length = req.body_length if "content-length" in req.headers else None
        self.chunked = has_body and self.length is None
        self.state = Body.UNREAD if has_body else Body.READ
        self._pieces: collections.deque[tuple[bytes, int]] = collections.deque()
        self._unacked = 0  # flow-controlled bytes received and not given back
        self._end: str | None = None if has_body else ""  # "" ended well, else why it broke
        self._wake: asyncio.Event | None = None
        self._continue = has_body and "100-continue" in req.headers.get("expect", "").lower()

    # ------------------------------------------------------------------ the session's side

    def feed(self, data: bytes, flow: int) -> None:
        """A DATA frame (``flow``: its flow-controlled length, padding included)."""
        self._unacked += flow
        self._pieces.append((data, flow))
        self._poke()

    def ended(self, why: str = "") -> None:
        """END_STREAM (``why`` empty), or the stream or connection gone mid-body."""
        if self._end is None:
            self._end = why
        self._poke()

    def discard(self) -> None:
        """The stream is over: what was never taken frees the connection's window."""
        self._pieces.clear()
        self._ack(self._unacked)

    # ------------------------------------------------------------------ the proxy's side

    def hold(self) -> None:
        # The upstream's wait is --proxy-timeout's: like an event stream, the
        # stream no longer keeps the connection under its send deadline.
        self._stream.endless = True
        self._session.settle()

    async def body(self) -> AsyncIterator[bytes]:
        self.state = Body.BROKEN  # until read to its end
        if self._continue:
            # RFC 9110 §10.1.1 (RFC 9113 §8.1: a 1xx is a HEADERS frame of its
            # own): the client waits for it before sending the body.
            self._continue = False
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self._session.h2.send_headers(self._stream.id, [(b":status", b"100")])
                self._session.queue()
        timeout = self._session.shared.timeouts.head
        got = 0
        while True:
            while self._pieces:
                data, flow = self._pieces.popleft()
                got += len(data)
                if self.length is not None and got > self.length:
                    # h2 refuses this too (§8.1.1); never more than announced goes up.
                    raise BodyError("more data than content-length")
                yield data
                self._ack(flow)  # taken (sent upstream): the client may send as much again
            if self._end is not None:
                if self._end:
                    raise BodyError(self._end)
                if self.length is not None and got != self.length:
                    raise BodyError("less data than content-length")
                self.state = Body.READ
                return
            if self._wake is None:
                self._wake = asyncio.Event()
            self._wake.clear()
            try:
                # Progress-based, as over HTTP/1.1: each wait has the head deadline.
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                raise BodyError("the client stalled mid-body") from None

    # ------------------------------------------------------------------ inside

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _ack(self, flow: int) -> None:
        if flow <= 0:
            return
        self._unacked -= flow
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self._session.h2.acknowledge_received_data(flow, self._stream.id)
            self._session.queue()
