"""Upstream connections: connect, keep alive, reuse, and read framed bodies.

Owns: :class:`Pool` (a few idle keep-alive connections per upstream,
checked for a close before reuse), :class:`Upstream connection <UpConn>`
(a plain :class:`~staticsrv.net.transport.Transport` on a non-blocking socket,
the same code the server's own connections use, under
:class:`~staticsrv.net.tls.TLSTransport` for an https upstream, and the bytes
received past the current message) and the body readers for the three framings
(:func:`read_body`).  May not touch: the client's connection, the
decision of what to answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
import time
from collections.abc import AsyncIterator

from staticsrv.http.chunked import ChunkedReader, State
from staticsrv.http.proxymap import Upstream
from staticsrv.net.proxy.head import Framing, ResponseHead, find_end, parse_response
from staticsrv.net.transport import Features, Pipe, Transport

IDLE_PER_UPSTREAM = 128  # idle connections kept per upstream (one per busy client, say)
IDLE_SECONDS = 30.0  # an idle connection older than this is closed, not reused
FRESH_SECONDS = 1.0  # idle for less: reused without asking the kernel whether it closed
NO_LIMIT = 1 << 62
# A backend repeats the very same head (its Date changes once a second):
# parse_response is pure and its value immutable, so identical bytes share
# one parse, as identical request heads do (Shared.parse_cached).
CACHED_HEAD = 2048
_parse_cached = functools.lru_cache(maxsize=512)(parse_response)


class UpstreamError(Exception):
    """The upstream could not be reached or answered malformed (502), or slowly (504)."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


class UpConn:
    __slots__ = ("idle_since", "key", "raw", "rest", "reused", "sock", "transport")

    def __init__(
        self, key: Upstream, sock: socket.socket, raw: Transport, transport: Pipe | None = None
    ) -> None:
        self.key = key
        self.sock = sock
        self.raw = raw  # the plain transport (under TLS for an https upstream)
        self.transport: Pipe = transport if transport is not None else raw
        self.rest = bytearray()  # received past what was consumed
        self.idle_since = 0.0
        self.reused = False

    async def more(self) -> bytes:
        data = await self.transport.recv()
        return data

    def close(self) -> None:
        self.transport.close()

    def looks_alive(self) -> bool:
        """An idle connection the upstream has not closed (nor written to) meanwhile."""
        if self.raw._inbox or self.raw._error is not None:
            return False  # the readiness callback already took an EOF or stray bytes
        try:
            self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        return False  # EOF, or bytes nobody asked for: not reusable


class Pool:
    def __init__(self, features: Features | None = None, *, insecure: bool = False) -> None:
        self.features = features if features is not None else Features()
        self.idle: dict[Upstream, list[UpConn]] = {}
        self.insecure = insecure  # https upstreams: no certificate checks
        self._context: ssl.SSLContext | None = None

    async def get(self, up: Upstream, timeout: float) -> UpConn:  # noqa: ASYNC109
        idle = self.idle.get(up)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            # Recently used: the readiness callback has seen any close already
            # (no keep-alive timeout is this short); else one peek asks the kernel.
            idle_for = now - conn.idle_since
            fresh = idle_for < FRESH_SECONDS and not conn.raw._inbox and conn.raw._error is None
            if idle_for < IDLE_SECONDS and (fresh or conn.looks_alive()):
                conn.reused = True
                return conn
            conn.close()
        return await self.connect(up, timeout)

    async def connect(self, up: Upstream, timeout: float) -> UpConn:  # noqa: ASYNC109
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(up.host, up.port, type=socket.SOCK_STREAM), timeout
            )
        except (OSError, TimeoutError) as exc:
            raise UpstreamError(502, f"cannot resolve {up.host}: {exc}") from None
        last: Exception | None = None
        for family, kind, proto, _name, addr in infos:
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            try:
                await asyncio.wait_for(loop.sock_connect(sock, addr), timeout)
            except TimeoutError:
                sock.close()
                raise UpstreamError(
                    504, f"no connection to {up.origin} within {timeout:g} s"
                ) from None
            except OSError as exc:
                sock.close()
                last = exc
                continue
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            raw = Transport(sock, self.features, loop=loop)
            if up.scheme == "http":
                return UpConn(up, sock, raw)
            return await self._tls(up, sock, raw, timeout)
        reason = last.strerror if isinstance(last, OSError) and last.strerror else str(last)
        raise UpstreamError(502, f"cannot connect to {up.origin}: {reason}")

    async def _tls(
        self, up: Upstream, sock: socket.socket, raw: Transport, seconds: float
    ) -> UpConn:
        """TLS over the plain transport (the server's own TLS code, client side)."""
        from staticsrv.net.tls import TLSTransport

        tls = TLSTransport(raw, self.tls_context(), up.origin, server_hostname=up.host)
        try:
            await asyncio.wait_for(tls.start_client(), seconds)
        except ssl.SSLError as exc:
            raw.close()
            why = exc.reason or exc.strerror or str(exc)
            raise UpstreamError(502, f"TLS with {up.origin} failed: {why}") from None
        except (OSError, TimeoutError) as exc:
            raw.close()
            raise UpstreamError(502, f"TLS with {up.origin} failed: {exc!r}") from None
        return UpConn(up, sock, raw, tls)

    def tls_context(self) -> ssl.SSLContext:
        """Verified against the system's CAs, unless --proxy-insecure."""
        if self._context is None:
            context = ssl.create_default_context()
            if self.insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            context.set_alpn_protocols(["http/1.1"])
            self._context = context
        return self._context

    def release(self, conn: UpConn) -> None:
        """Keep a connection whose last answer was read to its end, if room is left."""
        idle = self.idle.setdefault(conn.key, [])
        if conn.rest or len(idle) >= IDLE_PER_UPSTREAM:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        conn.reused = True
        idle.append(conn)

    def close(self) -> None:
        for idle in self.idle.values():
            for conn in idle:
                conn.close()
        self.idle.clear()


async def read_head(
    conn: UpConn,
    method: str,
    limit: float,
    upgrade: bool,
) -> ResponseHead:
    """The next final head (1xx other than a wanted 101 skipped); UpstreamError if none."""
    deadline = asyncio.get_running_loop().time() + limit
    while True:
        end = find_end(conn.rest)
        while end is None:
            try:
                # asyncio.timeout_at: one timer, no task per read (wait_for makes one).
                async with asyncio.timeout_at(deadline):
                    data = await conn.more()
            except TimeoutError:
                raise UpstreamError(504, f"no answer within {limit:g} s") from None
            except OSError as exc:
                raise UpstreamError(502, f"the connection failed: {exc}") from None
            if not data:
                raise UpstreamError(502, "the upstream closed the connection without an answer")
            conn.rest += data
            end = find_end(conn.rest)
        if isinstance(end, str):
            raise UpstreamError(502, f"malformed answer: {end}")
        raw = bytes(conn.rest[:end])
        del conn.rest[:end]
        head = (
            _parse_cached(raw, method) if len(raw) <= CACHED_HEAD else parse_response(raw, method)
        )
        if isinstance(head, str):
            raise UpstreamError(502, f"malformed answer: {head}")
        if head.status == 101 and not upgrade:
            raise UpstreamError(502, "a 101 answer to a request that asked for no upgrade")
        if 100 <= head.status < 200 and head.status != 101:
            continue  # RFC 9110 §15.2: interim answers; staticsrv answers 100 itself
        return head


async def read_body(conn: UpConn, head: ResponseHead) -> AsyncIterator[bytes]:
    """The body's data as it arrives; ConnectionError if the upstream cuts it or frames it badly."""
    if head.framing is Framing.LENGTH:
        left = head.length
        while left:
            if not conn.rest:
                data = await conn.more()
                if not data:
                    raise ConnectionError("the upstream closed mid-body")
                conn.rest += data
            piece = bytes(conn.rest[:left])
            del conn.rest[:left]
            left -= len(piece)
            yield piece
        return
    if head.framing is Framing.CLOSE:
        if conn.rest:
            piece = bytes(conn.rest)
            conn.rest.clear()
            yield piece
        while data := await conn.more():
            yield data
        return
    reader = ChunkedReader(NO_LIMIT)
    rest = conn.rest
    while True:
        if rest:
            if reader.state is State.DATA:
                take = min(reader.left, len(rest))
                piece = bytes(rest[:take])
                reader.feed(piece)
                del rest[:take]
                yield piece
                continue
            else:
                end = rest.find(b"\n") + 1 if reader.state is not State.DATA_END else 2
                if 0 < end <= len(rest):
                    used = reader.feed(bytes(rest[:end]))
                    del rest[:used]
                    if reader.state is State.DONE:
                        return
                    if reader.state is State.ERROR:
                        raise ConnectionError("malformed chunked body from the upstream")
                    continue
                if len(rest) > 4096:
                    raise ConnectionError("malformed chunked body from the upstream")
        data = await conn.more()
        if not data:
            raise ConnectionError("the upstream closed mid-body")
        rest += data
