"""One connection: read heads, ask the handler, send the answers, keep the deadlines.

Owns: the per-connection loop (heads read chunk by chunk into a
:class:`~staticsrv.http.http11.ReceiveBuffer`; the answers go out through
:class:`~staticsrv.net.writer.Writer`, which joins pipelined ones and logs what
was really sent), the discarding of small request bodies (chunked ones read
strictly by :mod:`staticsrv.http.chunked`, 400 and close when malformed),
lingering close, moving the connection's phase and deadline
(:class:`~staticsrv.net.writer.Phase`, kept there beside the writer that moves
them too), rendering each answer's head at the edge (Date, framing,
Connection).
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
import errno
import logging
import math
import os
import traceback

from staticsrv.http.chunked import ChunkedReader, State
from staticsrv.http.http11 import ParseError, Request, parse_head
from staticsrv.http.limits import Limits
from staticsrv.http.receivebuffer import ReceiveBuffer
from staticsrv.http.responses import FileBody, Response, error_response, render_head
from staticsrv.net.exchange import Body, ClientSide
from staticsrv.net.shared import Clock, Shared
from staticsrv.net.transport import RECV_SIZE, Opened
from staticsrv.net.writer import Connection, Phase, Writer, body_bytes, close_stream
from staticsrv.site.proxying import CURRENT

log = logging.getLogger("staticsrv")

# Lingering close (RFC 9112 §9.6): how long, and how much, to keep reading
# from a client we close on while it may still be sending.
LINGER_SECONDS = 2.0
LINGER_BYTES = 1024 * 1024
LOGGED_LINE_MAX = 1024  # a refused line (a 414's, binary junk) is cut here in the log
PARSE_CACHE_HEAD_MAX = 2048  # heads up to this size share parses (see Shared)
FLUSH_AT = RECV_SIZE * 4  # pipelined answers held back at most this many bytes
_GONE = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN, errno.EBADF})
_BAD_CHUNKS = ParseError(400, "Malformed chunked body")
# Plain HTTP on the HTTPS port: a plain 400 with this message, then close,
# as nginx (its 497, sent as a plain 400) and caddy do.  A redirect would
# have to build its target from the client's Host field (an open
# redirect); a fixed message cannot be abused.
PLAIN_ON_TLS = "This server speaks HTTPS only: use an https:// address."
_WRONG_SCHEME = ParseError(400, PLAIN_ON_TLS)
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
__all__ = ["Clock", "Connection", "Phase", "Shared", "run"]


def _whole(resp: Response, shared: Shared) -> bytes:
    """A closing answer in memory (the connection's own errors), head and body."""
    return render_head(resp, shared.clock.date_line(), False, False) + body_bytes(resp)


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


async def _serve(conn: Connection, shared: Shared) -> None:
    loop = conn.loop
    transport = conn.transport
    limits, t = shared.limits, shared.timeouts
    buf = ReceiveBuffer(limits)
    writer = Writer(conn, shared)
    # The transport opens first: a TLS handshake runs under the head
    # deadline the server set at accept (half a ClientHello is dropped like
    # half a head).
    conn.phase = Phase.RECEIVING
    opened = await transport.open()
    if opened is Opened.FAILED:
        return
    if getattr(transport, "alpn", None) == "h2":
        # ALPN chose HTTP/2 (RFC 9113 §3.2); its code is imported only then.
        from staticsrv.net import h2conn

        await h2conn.serve(conn, shared)
        return
    discard = 0  # bytes of a request body still to drop before the next head
    offered = False  # a ClientSide was set for the previous request
    body_deadline = 0.0
    while True:
        if conn.owed is not None and not await _send_owed(conn, shared):
            return
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
            raw = conn.raw
            if not buf:
                conn.phase = Phase.IDLE
                conn.deadline = loop.time() + t.keepalive
                if raw is not None:
                    raw.quick = conn.hook  # idle: the quick path may answer (net.quick)
            elif conn.phase != Phase.RECEIVING:
                conn.phase = Phase.RECEIVING  # a pipelined head arrived in part
                conn.deadline = loop.time() + t.head
            data = await transport.recv()
            if raw is not None:
                raw.quick = None
            if conn.owed is not None:
                # The quick path answered and the kernel did not take it all:
                # the rest goes first (the loop's top), then what came since.
                if data:
                    buf.feed(data)
                continue
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
            # Logged as received (escaped by the log): nothing parsed to show.
            line = first_line(item if isinstance(item, bytes) else buf.peek())
        if opened is Opened.PLAIN:
            known = req if isinstance(req, Request) else line
            await _refuse(conn, shared, writer, known, _WRONG_SCHEME)
            return
        if isinstance(req, ParseError):
            await _refuse(conn, shared, writer, line, req)
            return
        unread = req.body_length > limits.max_discard_body
        # Something may proxy: the handler gets the body and the socket
        # through this seam, and says afterwards what it took.
        side = ClientSide(conn, buf, writer, req, t.head) if shared.handler.may_proxy else None
        if side is not None or offered:
            CURRENT.set(side)  # this task's context only (see proxying.CURRENT)
            offered = side is not None
        if side is None and not unread and _awaits_continue(req, len(buf)):
            # RFC 9110 §10.1.1: the client holds its body back until 100
            # (Continue).  Answered first without it, curl takes the final
            # answer as "no body wanted" and sends its next request on the
            # same connection, which would be read as this body (a desync,
            # then a 408).  The 100 goes out ahead of the final answer.
            # (A body the proxy takes gets its 100 when it is read.)
            writer.add(None, 0, _CONTINUE, b"")
        if req.chunked and side is None:
            conn.phase = Phase.RECEIVING  # a stalled body gets the 408 a stalled head gets
            too_large = await _drop_chunked(conn, shared, buf, writer, req)
            conn.phase = Phase.BUSY
            if too_large is None:
                return
            unread = too_large

        consumed = False  # the handler read the body to its end
        resp = await shared.respond(req, conn.peer, loop.time())
        if side is not None:
            if side.tunnel is not None:
                await _tunnel(conn, shared, writer, req, resp, side)
                return
            if side.state is Body.UNREAD and "100-continue" in req.headers.get("expect", ""):
                # Answered before the body was asked for (RFC 9110 §10.1.1): the
                # client may never send it, so the connection closes.
                unread = side.has_body
            elif side.state is Body.UNREAD and req.chunked:
                too_large = await _drop_chunked(conn, shared, buf, writer, req)
                if too_large is None:
                    return
                unread = too_large
            elif side.state is Body.READ:
                unread, consumed = False, True
            elif side.state is Body.BROKEN:
                unread = True  # cut or malformed mid-way: close, lingering
        close = resp.close or not req.keep_alive or shared.stopping
        if unread:
            # RFC 9112 §9.6 / §6.3: we do not read large bodies of GET/HEAD;
            # closing keeps the connection from desynchronising.
            close = True
        elif req.body_length and not consumed:
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
            await close_stream(body)
            writer.add(req, resp.status, head, b"")
        else:
            if not await writer.send_stream(req, resp, head, chunked=not http10) or http10:
                return
            conn.phase = Phase.BUSY
        if close:
            await writer.flush()
            if unread or discard > len(buf):
                # A body still on its way (invited by a 100, or sent at once):
                # closing with it unread would reset the answer away.
                await _linger(conn)
            return


async def _send_owed(conn: Connection, shared: Shared) -> bool:
    """Send the rest of an answer the quick path began; False if the connection ends."""
    owed = conn.owed
    assert owed is not None
    conn.owed = None
    conn.phase = Phase.BUSY
    conn.deadline = conn.loop.time() + shared.timeouts.send
    transport = conn.transport
    start = transport.sent
    try:
        await transport.send(owed.data)
    finally:
        if shared.log is not None:
            went = owed.went + transport.sent - start
            body = min(max(went - owed.head, 0), owed.body)
            shared.log.record(conn.peer, owed.req, owed.status, body, body == owed.body)
    return not owed.close


def _awaits_continue(req: Request, buffered: int) -> bool:
    """``Expect: 100-continue`` on an HTTP/1.1 request whose body has not all arrived.

    The expectation is case-insensitive, and ignored in HTTP/1.0 (RFC 9110 §10.1.1).
    """
    if req.version != "HTTP/1.1" or not (req.chunked or req.body_length > buffered):
        return False
    return req.headers.get("expect", "").strip().lower() == "100-continue"


def first_line(data: bytes) -> bytes:
    """The request line of a refused head, for the log: at most LOGGED_LINE_MAX bytes."""
    end = data.find(b"\n")
    line = (data if end < 0 else data[:end]).removesuffix(b"\r")
    return line[:LOGGED_LINE_MAX] + b"..." if len(line) > LOGGED_LINE_MAX else line


async def _tunnel(
    conn: Connection, shared: Shared, writer: Writer, req: Request, resp: Response, side: ClientSide
) -> None:
    """A 101: its head, then the handler joins the sockets until either side closes."""
    writer.add(req, resp.status, render_head(resp, shared.clock.date_line(), True, False), b"")
    await writer.flush()
    assert side.tunnel is not None
    conn.phase = Phase.STREAMING  # no deadline: the two ends decide; shutdown closes it
    conn.deadline = math.inf
    await side.tunnel(side)


async def _drop_chunked(
    conn: Connection, shared: Shared, buf: ReceiveBuffer, writer: Writer, req: Request
) -> bool | None:
    """Read and drop a chunked body: whether it was too large to read whole (then
    the connection closes after the answer), or None once the connection is done
    (the client left, or the framing was refused with a 400)."""
    limits = shared.limits
    deadline = conn.loop.time() + shared.timeouts.head
    state = await _read_chunked(conn, buf, writer, limits, deadline)
    if state is None:
        return None
    if state is State.ERROR:
        await _refuse(conn, shared, writer, req, _BAD_CHUNKS)
        return None
    return state is State.TOO_LARGE


async def _refuse(
    conn: Connection, shared: Shared, writer: Writer, req: Request | bytes | None, why: ParseError
) -> None:
    """Answer ``why`` (the stream cannot be trusted any more) and close."""
    resp = error_response(why.status, reason=why.reason, close=True)
    head = render_head(resp, shared.clock.date_line(), False, False)
    writer.add(req, resp.status, head, body_bytes(resp))
    await writer.flush()
    await _linger(conn)


async def _read_chunked(
    conn: Connection, buf: ReceiveBuffer, writer: Writer, limits: Limits, deadline: float
) -> State | None:
    """Read past a chunked body strictly (:mod:`staticsrv.http.chunked`); None if the client left.

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
    loop = conn.loop
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
