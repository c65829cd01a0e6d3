"""The quick path: a memoised answer sent from the loop's callbacks, no coroutine woken.

Owns: :class:`Quick`, which takes the bytes an idle plain connection's
transport read (:attr:`~staticsrv.net.transport.Transport.quick`) and, when
they are exactly one complete head whose answer the handler's memo holds
(:meth:`~staticsrv.site.handler.Handler.memo_hit`), sends that answer with
one ``send`` and re-arms the transport.  Everything else (a partial head,
pipelined heads, a body, a miss, TLS, ``--auth``, shutdown) goes to the
connection's coroutine (:mod:`staticsrv.net.connection`), started then if
the connection had none.  May not touch: files, the decision of what to
answer (it only replays the memo), the listening socket.

Why a batch: the memo's invariant (:mod:`staticsrv.site.memo`) needs every
request of a pass to have been read before the pass began.  Reads happen in
the loop's readiness callbacks; the quick path only collects them there and
answers them together in one callback of the loop's *next* turn (the way a
woken coroutine would run then too), so the pass that answers a batch
begins after every read in it, and its checks (the rule files, each entry's
``stat``) are shared by the batch.  A busy server answers tens of requests
per batch; an idle one, one.

What a hit costs: a dictionary lookup for the parse of the very same head
bytes, the memo lookup, a comparison of the Date line with the one the
memo's rendering was made with, one ``send``.  The answer is the one the
coroutine would send byte for byte: the same head rendering
(:func:`~staticsrv.http.responses.render_head`), the same access log line.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

from staticsrv.http.http11 import Request, parse_head
from staticsrv.http.responses import render_head
from staticsrv.net.shared import Shared
from staticsrv.net.writer import Connection, Owed, Phase
from staticsrv.site.memo import WIRE_MAX, MemoKey

log = logging.getLogger("staticsrv")

# Heads up to this size are looked up in the parse cache (Shared.parse_cached);
# a larger one is rare enough to take the coroutine.
HEAD_MAX = 2048
_END = b"\r\n\r\n"


class Quick:
    """The quick path of one server (see the module)."""

    __slots__ = ("_batch", "_close", "_heads", "_launch", "handler", "loop", "shared")

    def __init__(
        self,
        shared: Shared,
        loop: asyncio.AbstractEventLoop,
        launch: Callable[[Connection], None],
        close: Callable[[Connection], None],
    ) -> None:
        self.shared = shared
        self.handler = shared.handler
        self.loop = loop
        self._launch = launch  # starts a connection's coroutine
        self._close = close  # closes a connection that has none
        self._batch: list[tuple[Connection, bytes]] = []
        # Keep-alive clients repeat the very same head: what the quick path
        # needs of it is worked out once per distinct head (the parser is
        # pure, a Request immutable, the memo key a function of the request
        # and the configuration).
        self._heads = functools.lru_cache(maxsize=512)(self._head)

    @staticmethod
    def possible(shared: Shared) -> bool:
        """Whether a memo hit may skip the coroutine at all on this server."""
        return shared.auth is None  # --auth asks before the handler (Shared.respond)

    def arm(self, conn: Connection) -> Callable[[bytes], None]:
        """The callback for ``conn``'s transport (kept on the connection)."""

        def arrived(data: bytes) -> None:
            if not data:
                self._end(conn)  # the client closed, or the connection broke
                return
            batch = self._batch
            batch.append((conn, data))
            if len(batch) == 1:
                self.loop.call_soon(self._answer_batch)

        return arrived

    def _answer_batch(self) -> None:
        batch, self._batch = self._batch, []
        shared = self.shared
        date = shared.clock.date_line()
        idle = self.loop.time() + shared.timeouts.keepalive
        for conn, data in batch:
            if conn.hook is None:
                continue  # closed meanwhile (shutdown): the server dropped its callback
            try:
                done = self._answer(conn, data, date, idle)
            except OSError:
                self._end(conn)  # the send failed: the client is gone
                continue
            except Exception:
                # A fault of ours: this connection ends, the batch goes on.
                log.exception("unexpected error in the quick path")
                self._end(conn)
                continue
            if not done:
                self._hand_over(conn, data)

    def _answer(self, conn: Connection, data: bytes, date: bytes, idle: float) -> bool:
        """Answer ``data`` from the memo; False if it needs the coroutine."""
        raw = conn.raw
        assert raw is not None
        if (
            len(data) > HEAD_MAX
            or data.find(_END) != len(data) - 4  # exactly one whole head
            or raw.pending
            or self.shared.stopping
        ):
            return False
        known = self._heads(data)
        if known is None:
            return False
        req, key = known
        memo = self.handler.memo_hit(key)
        if memo is None:
            return False
        resp = memo.response
        full = resp.body
        assert isinstance(full, bytes)  # the memo keeps only bodies in memory
        close = resp.close or not req.keep_alive
        body = b"" if req.method == "HEAD" else full
        if close:
            # Rendered each time: a new connection per request pays far more than this.
            head = render_head(resp, date, False, False)
            joined = head + body if len(body) <= WIRE_MAX else b""
        else:
            wire = memo.wire
            if wire is None or wire[0] is not date:
                head = render_head(resp, date, True, False)
                whole = head + full if len(full) <= WIRE_MAX else b""
                wire = memo.wire = (date, whole, head)
            head = wire[2]
            joined = wire[1] if body else head
        sock = raw.sock
        try:
            # A large body goes with its head in one sendmsg, with no copy.
            sent = sock.send(joined) if joined else sock.sendmsg((head, body))
        except (BlockingIOError, InterruptedError):
            sent = 0
        raw.sent += sent
        total = len(head) + len(body)
        if sent < total:
            # The kernel's buffer is full: the coroutine sends the rest,
            # first, under the send deadline, and logs the answer then.
            if sent < len(head):
                rest = memoryview(joined or head + body)[sent:]  # rare: a copy is fine
            else:
                rest = memoryview(body)[sent - len(head) :]
            conn.owed = Owed(rest, req, resp.status, len(head), len(body), sent, close)
            conn.phase = Phase.BUSY
            conn.deadline = self.loop.time() + self.shared.timeouts.send
            self._wake(conn)
            return True
        access = self.shared.log
        if access is not None:
            access.record(conn.peer, req, resp.status, len(body), True)
        if close:
            self._end(conn)
            return True
        conn.deadline = idle
        raw.quick = conn.hook
        return True

    def _head(self, data: bytes) -> tuple[Request, MemoKey] | None:
        """The request in ``data`` (one whole head) and its memo key; None if the
        quick path cannot answer it whatever the memo holds."""
        # The parser takes the head without its final empty line, as the
        # receive buffer hands it over.
        req = parse_head(data[:-2], self.shared.limits)
        if (
            not isinstance(req, Request)
            or req.body_length
            or req.chunked
            or (req.keep_alive and req.version != "HTTP/1.1")  # HTTP/1.0 keep-alive: the coroutine
        ):
            return None
        key = self.handler.memo_key(req)
        return None if key is None else (req, key)

    def _hand_over(self, conn: Connection, data: bytes) -> None:
        """``data`` goes to the coroutine, as if it had read it itself."""
        raw = conn.raw
        assert raw is not None
        raw.take_back(data)
        self._wake(conn)

    def _wake(self, conn: Connection) -> None:
        if conn.task is None:
            self._launch(conn)
        else:
            assert conn.raw is not None
            conn.raw.wake()

    def _end(self, conn: Connection) -> None:
        """Close ``conn`` after its last answer (or when its client left)."""
        raw = conn.raw
        assert raw is not None
        if conn.task is None:
            self._close(conn)
        else:
            raw.close()
            raw.wake()  # its recv returns b"": the coroutine ends
