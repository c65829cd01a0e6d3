"""One HTTP/2 stream's answer: the handler's Response as HEADERS and DATA frames.

Owns: :func:`answer` (ask the handler, send the head, send the body within
the peer's flow-control windows, log what went out) and the per-stream
send deadline.  May not touch: the socket (the session's pump sends),
the decision of what to answer.

Flow control (RFC 9113 §5.2, §6.9): DATA goes out only within the
stream's and the connection's windows, and a file is read (``pread``) only
as far as they are open, one piece of at most :data:`PIECE` at a time:
a client that opens no window costs one piece of memory, not the file
(hypercorn, measured, buffers whole answers).  A stream whose window stays
shut for the send timeout is reset, as a stalled HTTP/1.1 reader is
dropped; the connection's own send deadline covers a peer that reads
nothing at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import TYPE_CHECKING

import h2.exceptions
from h2.errors import ErrorCodes

from staticsrv.http.h2fields import response_headers
from staticsrv.http.http11 import ParseError, Request
from staticsrv.http.responses import FileBody, StreamBody, error_response
from staticsrv.net.writer import close_stream

if TYPE_CHECKING:
    from staticsrv.net.h2conn import Session, Stream

PIECE = 64 * 1024  # most file bytes read ahead for one stream
HIGH_WATER = 256 * 1024  # bytes queued for the socket before streams wait
_NO_BODY = frozenset({204, 304})


class Gone(Exception):
    """The stream cannot carry more: reset, closed, or its window stayed shut too long."""


async def answer(session: Session, stream: Stream, req: Request | ParseError) -> None:
    shared = session.shared
    if isinstance(req, ParseError):
        resp = error_response(req.status, reason=req.reason)
        known = None
    else:
        resp = await shared.respond(req, session.conn.peer, session.loop.time())
        known = req
    body = resp.body
    sent, complete = 0, False
    try:
        bare = resp.status in _NO_BODY or (known is not None and known.method == "HEAD")
        if isinstance(body, StreamBody) and not body.finite:
            stream.endless = True
            session.settle()
        date = shared.clock.date_line()[6:-2]  # b"Date: ...\r\n": the value alone
        empty = bare or body == b""
        conn = session.h2
        try:
            conn.send_headers(stream.id, response_headers(resp, date), end_stream=empty)
            if (
                not empty
                and isinstance(body, bytes)
                and len(body)
                <= min(conn.local_flow_control_window(stream.id), conn.max_outbound_frame_size)
            ):
                # Most answers: one DATA frame that also ends the stream, and
                # one hand-over to the pump for the whole answer.
                conn.send_data(stream.id, body, end_stream=True)
                sent, empty = len(body), True
        except h2.exceptions.ProtocolError:
            raise Gone from None  # reset meanwhile
        session.queue()
        if not empty:
            if isinstance(body, bytes):
                sent = await _data(session, stream, body)
            elif isinstance(body, FileBody):
                sent = await _file(session, stream, body)
            else:
                sent = await _stream(session, stream, body)
            _end(session, stream)
        complete = True
    except Gone:
        pass
    finally:
        if isinstance(body, FileBody):
            os.close(body.fd)
        elif isinstance(body, StreamBody):
            await close_stream(body)
        if shared.log is not None:
            shared.log.record(session.conn.peer, known, resp.status, sent, complete)


def _end(session: Session, stream: Stream) -> None:
    try:
        session.h2.end_stream(stream.id)
    except h2.exceptions.ProtocolError:
        raise Gone from None
    session.queue()


async def _window(session: Session, stream: Stream) -> int:
    """Bytes this stream may send now: waits (under the send deadline) for a window."""
    conn = session.h2
    timeout = session.shared.timeouts.send
    while True:
        try:
            window = conn.local_flow_control_window(stream.id)
        except h2.exceptions.ProtocolError:
            raise Gone from None  # closed or reset
        if window > 0 and session.queued < HIGH_WATER:
            return window
        if stream.wake is None:
            stream.wake = asyncio.Event()
        wake = stream.wake
        wake.clear()
        try:
            async with asyncio.timeout(timeout):
                await wake.wait()
        except TimeoutError:
            # A window shut for the whole send timeout: drop the stream
            # (RFC 9113 §8.1: RST_STREAM; CANCEL says we gave up on it).
            with contextlib.suppress(h2.exceptions.ProtocolError):
                conn.reset_stream(stream.id, ErrorCodes.CANCEL)
                session.queue()
            raise Gone from None


async def _data(session: Session, stream: Stream, data: bytes) -> int:
    """All of ``data`` as DATA frames, as the windows allow; the bytes sent."""
    conn = session.h2
    view = memoryview(data)
    sent = 0
    while view:
        window = await _window(session, stream)
        frame = conn.max_outbound_frame_size
        while view and window > 0:
            n = min(window, frame, len(view))
            try:
                conn.send_data(stream.id, bytes(view[:n]))
            except h2.exceptions.ProtocolError:
                raise Gone from None
            view = view[n:]
            window -= n
            sent += n
        session.queue()
    return sent


async def _file(session: Session, stream: Stream, body: FileBody) -> int:
    """The parts of a file answer, each region read as the windows open."""
    sent = 0
    for part in body.parts:
        if isinstance(part, bytes):
            sent += await _data(session, stream, part)
            continue
        offset, count = part
        end = offset + count
        while offset < end:
            window = await _window(session, stream)
            piece = os.pread(body.fd, min(window, PIECE, end - offset), offset)
            if not piece:
                # The file shrank under us: the length announced cannot be
                # met, so the stream is reset, never ended short.
                with contextlib.suppress(h2.exceptions.ProtocolError):
                    session.h2.reset_stream(stream.id, ErrorCodes.INTERNAL_ERROR)
                    session.queue()
                raise Gone
            sent += await _data(session, stream, piece)
            offset += len(piece)
    return sent


async def _stream(session: Session, stream: Stream, body: StreamBody) -> int:
    """A body produced as it goes: one chunk at a time, each within the windows."""
    sent = 0
    chunks = aiter(body.chunks)
    while True:
        try:
            data = await anext(chunks)
        except StopAsyncIteration:
            return sent
        except Exception as exc:
            # The producer failed (a file changed under its compressor): a
            # reset, so the client never takes a cut body for a whole one.
            with contextlib.suppress(h2.exceptions.ProtocolError):
                session.h2.reset_stream(stream.id, ErrorCodes.INTERNAL_ERROR)
                session.queue()
            raise Gone from exc
        if data:
            sent += await _data(session, stream, data)
