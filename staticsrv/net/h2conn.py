"""HTTP/2 (RFC 9113) on one TLS connection: h2's state machine on the connection's transport.

Owns: :class:`Session`, one per connection whose ALPN chose ``h2``: the
reading side (bytes from the TLS transport through
:class:`~staticsrv.http.h2guard.FrameGuard` into h2, its events acted on), the
one writer (:meth:`Session.pump`: whatever h2 has to send goes to the
transport in order, one send at a time), the streams (each one request for
the same :class:`~staticsrv.site.handler.Handler`, answered by
:mod:`staticsrv.net.h2send`; when the answer may be proxied, its body is
fed to a :class:`~staticsrv.net.h2body.StreamSide`), and the connection's
phase and deadline, as the HTTP/1.1 loop keeps them: the head deadline
until the client's preface and SETTINGS, the keep-alive deadline while
no stream is open (then GOAWAY), the send deadline while answers go out.
May not touch: the listening socket, files (beyond what h2send closes),
the decision of what to answer.

h2 is sans-io like the rest: it takes bytes and returns bytes.  No
protocol or stream object of asyncio is involved; three kinds of tasks
share the state: the connection's own (this module's :meth:`Session.run`,
which reads), the pump, and one task per stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import traceback

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.errors import ErrorCodes
from hyperframe.frame import GoAwayFrame

from staticsrv.http.h2fields import to_request
from staticsrv.http.h2guard import FrameGuard
from staticsrv.http.h2hpack import BlockDecoder, FieldEncoder
from staticsrv.http.http11 import ParseError, Request
from staticsrv.net import h2send
from staticsrv.net.h2body import StreamSide
from staticsrv.net.shared import Shared
from staticsrv.net.writer import Connection, Phase
from staticsrv.site.proxying import CURRENT

log = logging.getLogger("staticsrv")

# RFC 9113 §6.5.2.  128 concurrent streams, as nginx; a header list of
# 64 KiB decoded at most (hpack enforces it while decoding, which is also
# the bound on an HPACK bomb: a small block that decodes to megabytes).
MAX_STREAMS = 128
MAX_HEADER_LIST = 64 * 1024
HIGH_WATER = h2send.HIGH_WATER
# The connection's receive window (RFC 9113 §6.9.2).  Proxied bodies give
# their window back only as the upstream takes them (h2body): a stalled
# upload holds one stream window (64 KiB), and with a connection window of
# sixteen of them one stall does not stop the bodies of the other streams.
CONNECTION_WINDOW = 1024 * 1024


class Stream:
    """One request in flight."""

    __slots__ = ("ended", "endless", "id", "side", "task", "wake")

    def __init__(self, stream_id: int) -> None:
        self.id = stream_id
        self.endless = False  # an event stream: does not keep the connection busy
        self.ended = False  # the client's side is done (END_STREAM came)
        self.task: asyncio.Task[None] | None = None
        self.side: StreamSide | None = None  # its body, when the answer may be proxied
        # Its window may have opened, or the queue drained; made only when
        # the stream first has to wait (most answers never do).
        self.wake: asyncio.Event | None = None


def settings() -> dict[h2.settings.SettingCodes, int]:
    codes = h2.settings.SettingCodes
    return {
        codes.MAX_CONCURRENT_STREAMS: MAX_STREAMS,
        codes.MAX_HEADER_LIST_SIZE: MAX_HEADER_LIST,
        codes.ENABLE_PUSH: 0,
    }


class Session:
    """One HTTP/2 connection."""

    def __init__(self, conn: Connection, shared: Shared) -> None:
        self.conn = conn
        self.shared = shared
        self.loop = conn.loop
        # Outbound fields are the server's own, already lower-case and
        # checked (h2fields): h2's per-field checks would double the cost.
        config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_outbound_headers=False,
            validate_inbound_headers=False,  # h2fields.to_request checks what matters
            normalize_outbound_headers=False,
            split_outbound_cookies=False,
        )
        self.h2 = h2.connection.H2Connection(config=config)
        self.h2.local_settings = h2.settings.Settings(client=False, initial_values=settings())
        self.h2.decoder = BlockDecoder(MAX_HEADER_LIST)
        self.h2.encoder = FieldEncoder()
        self.guard = FrameGuard()
        self.streams: dict[int, Stream] = {}
        self.out: list[bytes] = []
        self.queued = 0  # bytes handed to h2 or the pump and not yet sent
        self._has_out = asyncio.Event()
        self._finished = asyncio.Event()
        self._drained = asyncio.Event()  # the pump's queue is empty
        self._ready = False  # the client's preface and SETTINGS arrived
        self._sending = False  # the pump is inside a send
        self._goaway = False  # GOAWAY sent: no new streams
        self._last_id = 0  # highest stream id taken
        self._idle_until = 0.0
        self._head_until = conn.deadline  # set at accept: the preface must come by then

    # ------------------------------------------------------------------ outgoing

    def queue(self) -> None:
        """Take what h2 has to send into the pump's queue."""
        data = self.h2.data_to_send()
        if data:
            self.out.append(data)
            self.queued += len(data)
            self._has_out.set()
            self._drained.clear()

    async def pump(self) -> None:
        """The connection's one writer: sends never interleave."""
        transport = self.conn.transport
        try:
            while True:
                await self._has_out.wait()
                self._has_out.clear()
                while self.out:
                    data = b"".join(self.out) if len(self.out) > 1 else self.out[0]
                    self.out.clear()
                    self._sending = True
                    try:
                        await transport.send(data)
                    finally:
                        self._sending = False
                    self.queued -= len(data)
                    if self.queued < HIGH_WATER:
                        self._wake_all()
                    self.settle()
                self._drained.set()
        except (ConnectionError, OSError):
            self.finish()

    def _wake_all(self) -> None:
        for stream in self.streams.values():
            if stream.wake is not None:
                stream.wake.set()

    def goaway(self) -> None:
        """Graceful GOAWAY (RFC 9113 §6.8): streams up to the last one taken still finish.

        Built by hand because h2 refuses to send anything after its own
        GOAWAY, and the streams in flight must go on.
        """
        if self._goaway:
            return
        self._goaway = True
        self.queue()
        frame = GoAwayFrame(0, last_stream_id=self._last_id, error_code=ErrorCodes.NO_ERROR)
        self.out.append(frame.serialize())
        self._has_out.set()
        self._drained.clear()

    # ------------------------------------------------------------------ phases

    def settle(self) -> None:
        """The connection's phase and deadline from its streams (see :class:`Phase`)."""
        conn, now = self.conn, self.loop.time()
        if not self._ready:
            if not self._sending:
                conn.deadline = self._head_until  # our SETTINGS going out do not extend it
            return
        if self.shared.stopping:
            self.goaway()
            if not self.streams:
                self.finish()
        busy = any(not s.endless for s in self.streams.values())
        if busy:
            if conn.phase != Phase.BUSY:
                conn.phase = Phase.BUSY
                conn.deadline = now + self.shared.timeouts.send
        elif self.streams:
            conn.phase = Phase.STREAMING
            if not self._sending:
                conn.deadline = math.inf
        else:
            if conn.phase != Phase.IDLE:
                conn.phase = Phase.IDLE
                self._idle_until = now + self.shared.timeouts.keepalive
            if not self._sending:
                conn.deadline = self._idle_until  # pings do not keep an idle connection

    def finish(self) -> None:
        self._finished.set()

    # ------------------------------------------------------------------ incoming

    async def read(self) -> None:
        transport, guard, loop = self.conn.transport, self.guard, self.loop
        try:
            while True:
                data = await transport.recv()
                if not data:
                    break
                why = guard.feed(data, loop.time())
                if why is not None:
                    log.warning("%s: HTTP/2: %s: closing", self.conn.peer, why)
                    self.h2.close_connection(ErrorCodes.ENHANCE_YOUR_CALM, why.encode())
                    self.queue()
                    break
                try:
                    events = self.h2.receive_data(data)
                except h2.exceptions.ProtocolError:
                    self.queue()  # h2's GOAWAY with the error's code
                    break
                for event in events:
                    self._event(event)
                self.queue()
                self.settle()
        except (ConnectionError, OSError):
            pass
        for stream in self.streams.values():
            if stream.side is not None:
                stream.side.ended("the connection closed mid-body")
        self.finish()

    def _event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            self._request(event.stream_id, event.headers or [], event.stream_ended is not None)
        elif isinstance(event, h2.events.DataReceived):
            stream = self.streams.get(event.stream_id)
            if stream is not None and stream.side is not None:
                # For the proxy: its window reopens as the upstream takes it.
                stream.side.feed(event.data or b"", event.flow_controlled_length)
                return
            # Bodies are not read (static files); the windows stay open.
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            if (stream := self.streams.get(event.stream_id)) is not None:
                stream.ended = True
                if stream.side is not None:
                    stream.side.ended()
        elif isinstance(event, h2.events.StreamReset):
            stream = self.streams.get(event.stream_id)
            if stream is not None and stream.side is not None:
                stream.side.ended("the client reset the stream mid-body")
            if stream is not None and stream.task is not None:
                stream.task.cancel()
        elif isinstance(event, h2.events.WindowUpdated):
            if event.stream_id == 0:
                self._wake_all()
            elif (stream := self.streams.get(event.stream_id)) is not None and stream.wake:
                stream.wake.set()
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            if not self._ready:
                self._ready = True  # the preface and the client's SETTINGS came
                self.conn.phase = Phase.RECEIVING  # settle() moves it on
            self._wake_all()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.finish()  # h2 sends nothing after the client's GOAWAY

    def _request(self, stream_id: int, headers: list[tuple[bytes, bytes]], ended: bool) -> None:
        if self._goaway:
            self.h2.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)  # RFC 9113 §8.7
            return
        self._last_id = max(self._last_id, stream_id)
        req: Request | ParseError = to_request(headers, self.shared.parse_cached)
        stream = Stream(stream_id)
        stream.ended = ended
        if isinstance(req, Request) and self.shared.handler.may_proxy:
            stream.side = StreamSide(self, stream, req, has_body=not ended)
        self.streams[stream_id] = stream
        stream.task = self.loop.create_task(self._answer(stream, req))

    async def _answer(self, stream: Stream, req: Request | ParseError) -> None:
        if stream.side is not None:
            CURRENT.set(stream.side)  # this stream's task only (see proxying.CURRENT)
        try:
            await h2send.answer(self, stream, req)
        except asyncio.CancelledError:
            pass  # reset by the client, or the connection ends
        except Exception:
            log.error("unexpected error while answering a stream\n%s", traceback.format_exc())
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self.h2.reset_stream(stream.id, ErrorCodes.INTERNAL_ERROR)
                self.queue()
        finally:
            del self.streams[stream.id]
            if not stream.ended:
                # RFC 9113 §8.1: the answer is complete while the client is
                # still sending a body nobody reads: NO_ERROR tells it to stop.
                with contextlib.suppress(h2.exceptions.ProtocolError):
                    self.h2.reset_stream(stream.id, ErrorCodes.NO_ERROR)
                    self.queue()
            if stream.side is not None:
                stream.side.discard()
            self.settle()

    # ------------------------------------------------------------------ the whole

    async def run(self) -> None:
        conn = self.conn
        conn.phase = Phase.RECEIVING
        self.h2.initiate_connection()
        h2c = self.h2
        h2c.increment_flow_control_window(CONNECTION_WINDOW - h2c.inbound_flow_control_window)
        self.queue()
        tasks: list[asyncio.Task[object]] = [
            self.loop.create_task(self.read()),
            self.loop.create_task(self.pump()),
        ]
        try:
            await self._finished.wait()
            # Last words (a GOAWAY, resets) within the send deadline.
            conn.phase = Phase.BUSY
            conn.deadline = self.loop.time() + self.shared.timeouts.send
            drained = self.loop.create_task(self._drained.wait())
            tasks.append(drained)
            await asyncio.wait((drained, tasks[1]), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # A deadline passed, or shutdown: say goodbye if a send is not
            # half done, then close.  Not raised on: the HTTP/1.1 loop's
            # 408 must not be written into an HTTP/2 connection.
            if not self._sending and self._ready:
                self.goaway()
                conn.transport.send_nowait(b"".join(self.out))
        finally:
            conn.phase = Phase.BUSY
            tasks += [s.task for s in self.streams.values() if s.task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=1.0)


async def serve(conn: Connection, shared: Shared) -> None:
    """Serve HTTP/2 on ``conn`` until it ends (the caller closes the transport)."""
    await Session(conn, shared).run()
