"""One proxied exchange: the request up, the answer back as a Response value.

Owns: :class:`Proxy` (the maps, the upstream pool, the options) and
:meth:`Proxy.forward`: the request re-framed from its parsed head (never
raw bytes: the parser's refusals hold before anything goes up), its body
pumped from the client as it arrives, the upstream's head read under
``--proxy-timeout``, and the body handed to the connection as a
:class:`~staticsrv.http.responses.StreamBody` that reads the upstream only as
fast as the client takes it.  Failures are pages (502, 504).  After a
``101`` the two sockets are joined byte for byte (:func:`_splice`).
May not touch: the client connection's loop (it goes through a
:class:`~staticsrv.net.exchange.ClientBody`: an HTTP/1.1 ClientSide, an HTTP/2 stream's side).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from urllib.parse import urlsplit

from staticsrv.config import Config
from staticsrv.http.chunked import ChunkedReader, State
from staticsrv.http.http11 import Request
from staticsrv.http.pages import error_page
from staticsrv.http.proxymap import ProxyMap, parse_upstream, route, sort_maps
from staticsrv.http.responses import Response, StreamBody, error_response
from staticsrv.http.routing import host_name
from staticsrv.net.exchange import BodyError, ClientBody, ClientSide
from staticsrv.net.proxy import live
from staticsrv.net.proxy.client import Pool, UpConn, UpstreamError, read_body, read_head
from staticsrv.net.proxy.head import Framing, ResponseHead
from staticsrv.net.proxy.rewrite import connection_options, request_fields, response_fields

log = logging.getLogger("staticsrv")
_BODYLESS_METHODS = ("GET", "HEAD", "DELETE", "OPTIONS", "TRACE")
DOT_SEGMENTS = "A proxied path may not hold . or .. segments."
NOT_A_FORWARD_PROXY = "This server is not a forward proxy: it answers for itself only."
HEADS_CACHED = 1024  # request heads kept for reuse (see _exchange)
UNBOUNDED = 1e9  # the head wait while the body is still going up (see _with_body)


class Proxy:
    def __init__(
        self,
        maps: Sequence[ProxyMap],
        *,
        timeout: float = 60.0,
        secure_client: bool = False,
        drop_auth: bool = False,
        insecure: bool = False,
    ) -> None:
        self.maps = sort_maps(maps)
        self.timeout = timeout
        self.secure_client = secure_client
        self.proto = "https" if secure_client else "http"
        self.drop = ("authorization",) if drop_auth else ()
        self.pool = Pool(insecure=insecure)
        self.inject: Callable[[bytes], bytes] | None = None  # --live: the reload script
        self.cors = False
        self._heads: dict[tuple[object, ...], tuple[Request, ProxyMap, bytes]] = {}
        self._route = functools.lru_cache(maxsize=4096)(functools.partial(route, self.maps))
        # Pure, and fed the same values over and over (a cached head's fields).
        self._fields = functools.lru_cache(maxsize=512)(self._response_fields)
        self.self_names: frozenset[str] = frozenset({"localhost"})

    @classmethod
    def from_config(cls, config: Config) -> Proxy:
        names = {"localhost", config.host.lower(), *(config.allowed_hosts or ())}
        proxy = cls(
            config.proxy,
            timeout=config.proxy_timeout,
            secure_client=config.scheme == "https",
            drop_auth=config.auth is not None and not config.proxy_pass_auth,
            insecure=config.proxy_insecure,
        )
        proxy.cors = config.cors
        if config.live:
            from staticsrv.site.inject import inject

            proxy.inject = inject
        proxy.self_names = frozenset(names)
        return proxy

    def names_self(self, host: str) -> bool:
        """An absolute-form target's host that is this server (loopback, its names)."""
        name = host_name(host)
        if name in self.self_names or name.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False

    def mapped(self, req: Request) -> ProxyMap | Response | None:
        """The map ``req`` goes up by, a refusal, or None (not proxied: files as usual)."""
        if self.cors and req.method == "OPTIONS" and "access-control-request-method" in req.headers:
            return None  # --cors: staticsrv answers preflights itself
        m = self._route(req.target)
        if m is None:
            return None
        if m is False:
            return error_response(400, reason=DOT_SEGMENTS, close=True)
        assert isinstance(m, ProxyMap)
        if req.absolute and not self.names_self(req.headers.get("host", "")):
            # RFC 9112 §3.2.2: a request for another host; never an open proxy.
            return error_response(400, reason=NOT_A_FORWARD_PROXY, close=True)
        return m

    async def answer(
        self, req: Request, side: ClientBody | None, hit: ProxyMap | Response
    ) -> Response:
        if isinstance(hit, Response):
            return hit
        return await self.forward(req, side, hit, hit.upstream_target(req.target))

    async def rule_answer(
        self, req: Request, side: ClientBody | None, line: int, url: str
    ) -> Response:
        """A ``_redirects`` 200 rule to a full URL (placeholders already expanded)."""
        parts = urlsplit(url)
        try:
            upstream, _path = parse_upstream(f"{parts.scheme}://{parts.netloc}", f"line {line}")
        except ValueError as exc:
            log.warning("staticsrv: _redirects %s", exc)
            return error_response(502, reason="A _redirects rule names an unusable URL.")
        target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        m = ProxyMap("", upstream, None, f"_redirects line {line} -> {url}")
        if req.absolute and not self.names_self(req.headers.get("host", "")):
            return error_response(400, reason=NOT_A_FORWARD_PROXY, close=True)
        return await self.forward(req, side, m, target)

    def close(self) -> None:
        self.pool.close()

    def _response_fields(
        self, fields: tuple[tuple[str, str], ...], m: ProxyMap, own_origin: str | None
    ) -> tuple[tuple[str, str], ...]:
        return tuple(
            response_fields(fields, m, own_origin=own_origin, secure_client=self.secure_client)
        )

    def page(self, status: int, m: ProxyMap, why: str, head: bool = False) -> Response:
        """502/504: a short page naming the upstream and the mapping (never cached)."""
        text = f"The proxy {m.text} got no usable answer: {why}."
        body = error_page(status, text)
        fields = (
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        )
        return Response(status, fields, b"" if head else body)

    async def forward(
        self, req: Request, side: ClientBody | None, m: ProxyMap, target: str
    ) -> Response:
        """The upstream's answer to ``req`` (or a 502/504 page); never raises."""
        head_only = req.method == "HEAD"
        # Only HTTP/1.1 can hand its socket over (RFC 9113 §8.6: no 101 in HTTP/2).
        upgrade = _upgrade(req) if isinstance(side, ClientSide) else None
        own = req.headers.get("host")
        if side is not None:
            side.hold()  # the upstream's wait is --proxy-timeout's, not the client's deadlines
        try:
            conn, head = await self._exchange(req, side, m, target, upgrade)
        except UpstreamError as exc:
            log.warning("staticsrv: proxy %s: %s", m.text, exc.why)
            page = self.page(exc.status, m, exc.why, head_only)
            if self.inject is not None:
                # --live: the page tries again by itself until the backend is back.
                page = page.with_fields((("Refresh", "2"),))
            return page
        except BodyError:
            return Response(400, (("Content-Length", "0"),), close=True)
        fields = list(self._fields(head.fields, m, f"{self.proto}://{own}" if own else None))
        if head.status == 101:
            assert isinstance(side, ClientSide) and upgrade is not None
            side.tunnel = lambda s: _splice(s, conn)
            up = head.field("upgrade") or upgrade
            return Response(101, (*fields, ("Connection", "Upgrade"), ("Upgrade", up)))
        if head.framing is Framing.NONE:
            if head.keep_alive:
                self.pool.release(conn)
            else:
                conn.close()
            if not head_only and head.status not in (204, 304) and head.status >= 200:
                fields.append(("Content-Length", "0"))
            elif head_only or head.status == 304:
                cl = head.field("content-length")
                if cl is not None:
                    fields.append(("Content-Length", cl))
            return Response(head.status, tuple(fields))
        if head.framing is Framing.CHUNKED and not _first_chunk_ok(conn.rest):
            # Bad framing already in hand: a 502 rather than a head and a cut.
            conn.close()
            log.warning("staticsrv: proxy %s: malformed chunked body", m.text)
            return self.page(502, m, "malformed answer: bad chunked framing", head_only)
        if self.inject is not None and not head_only and live.editable(head):
            relay = self._relay(conn, head)
            accept = req.headers.get("accept-encoding")
            return await live.injected(head.status, fields, relay, self.inject, accept)
        length = head.length if head.framing is Framing.LENGTH else None
        if length is not None:
            fields.append(("Content-Length", str(length)))
            if len(conn.rest) >= length:
                # The whole body came with the head (a small JSON answer): sent
                # with it in one write, and the connection is free at once.
                whole = bytes(conn.rest[:length])
                del conn.rest[:length]
                self._done(conn, head)
                return Response(head.status, tuple(fields), whole)
        body = StreamBody(self._relay(conn, head), finite=False, length=length)
        return Response(head.status, tuple(fields), body)

    async def _relay(self, conn: UpConn, head: ResponseHead) -> AsyncIterator[bytes]:
        """The upstream body, pulled as the client takes it; the connection reused if whole."""
        done = False
        try:
            async for piece in read_body(conn, head):
                yield piece
            done = True
        finally:
            if done:
                self._done(conn, head)
            else:
                conn.close()

    def _done(self, conn: UpConn, head: ResponseHead) -> None:
        """An answer read to its end: the connection goes back to the pool if it may."""
        if head.keep_alive and head.framing is not Framing.CLOSE:
            self.pool.release(conn)
        else:
            conn.close()

    async def _exchange(
        self, req: Request, side: ClientBody | None, m: ProxyMap, target: str, upgrade: str | None
    ) -> tuple[UpConn, ResponseHead]:
        up = m.upstream
        has_body = side is not None and side.has_body
        chunked = has_body and side is not None and side.chunked
        peer = side.peer if side is not None else "127.0.0.1"
        # The parser hands out one Request per distinct head (Shared.parse_cached):
        # a repeated request from the same address goes up as the same bytes.
        key = (id(req), peer, target, id(m), has_body, chunked, upgrade)
        cached = self._heads.get(key)
        if cached is not None and cached[0] is req and cached[1] is m:
            head_bytes = cached[2]
        else:
            head_bytes = self._request_head(req, peer, m, target, upgrade, has_body, chunked)
            if len(self._heads) >= HEADS_CACHED:
                self._heads.clear()
            self._heads[key] = (req, m, head_bytes)
        for attempt in (0, 1):
            conn = await self.pool.get(up, self.timeout)
            try:
                if not has_body:
                    await conn.transport.send(head_bytes)
                    return conn, await read_head(
                        conn, req.method, self.timeout, upgrade is not None
                    )
                assert side is not None
                return conn, await self._with_body(req, side, conn, head_bytes, upgrade)
            except UpstreamError as exc:
                conn.close()
                # A kept-alive connection the upstream closed just as we sent:
                # the request never got there, so one retry on a fresh one.
                if attempt or not conn.reused or has_body or exc.status != 502:
                    raise
            except BaseException:
                conn.close()
                raise
        raise AssertionError("unreachable")

    def _request_head(
        self,
        req: Request,
        peer: str,
        m: ProxyMap,
        target: str,
        upgrade: str | None,
        has_body: bool,
        chunked: bool,
    ) -> bytes:
        """The head sent up: re-framed from the parsed request, never its raw bytes."""
        headers = req.headers
        if self.inject is not None and live.wants_identity(req):
            headers = {**headers, "accept-encoding": "identity"}  # a body the script can go in
        fields = request_fields(
            headers,
            upstream_authority=m.upstream.authority,
            client_ip=peer,
            proto=self.proto,
            upgrade=upgrade,
            drop=self.drop,
        )
        if has_body:
            if chunked:  # HTTP/2 with no content-length too (RFC 9113 §8.2.2: no chunks in h2)
                fields.append(("Transfer-Encoding", "chunked"))
            else:
                fields.append(("Content-Length", str(req.body_length)))
        elif req.method not in _BODYLESS_METHODS:
            fields.append(("Content-Length", "0"))  # RFC 9110 §8.6
        lines = [f"{req.method} {target} HTTP/1.1\r\n"]
        lines.extend(f"{name}: {value}\r\n" for name, value in fields)
        lines.append("\r\n")
        return "".join(lines).encode("latin-1")

    async def _with_body(
        self, req: Request, side: ClientBody, conn: UpConn, head: bytes, upgrade: str | None
    ) -> ResponseHead:
        """Send head and body while watching for the answer (it may come early).

        ``--proxy-timeout`` counts from the end of the body: a large upload
        takes as long as the client needs to send it.
        """
        pump = asyncio.ensure_future(_pump(side, conn, head, side.chunked))
        answer = asyncio.ensure_future(read_head(conn, req.method, UNBOUNDED, upgrade is not None))
        try:
            done, _ = await asyncio.wait({pump, answer}, return_when=asyncio.FIRST_COMPLETED)
            if answer in done:
                return answer.result()
            exc = pump.exception()
            if isinstance(exc, BodyError):
                raise exc
            # The body went up (or the upstream stopped reading it and may
            # still answer): now the head has --proxy-timeout to arrive.
            try:
                return await asyncio.wait_for(asyncio.shield(answer), self.timeout)
            except TimeoutError:
                raise UpstreamError(504, f"no answer within {self.timeout:g} s") from None
        finally:
            for task in (pump, answer):
                task.cancel()  # a no-op on one that is done; awaited either way, so that
                with contextlib.suppress(BaseException):  # its exception is taken
                    await task


async def _pump(side: ClientBody, conn: UpConn, head: bytes, chunked: bool) -> None:
    """The request head, then the body as it arrives (re-chunked when it came chunked)."""
    send = conn.transport.send
    await send(head)
    async for piece in side.body():
        if piece:
            await send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
    if chunked:
        await send(b"0\r\n\r\n")


def _first_chunk_ok(rest: bytearray) -> bool:
    """The first chunk-size line, when it has arrived with the head, is well formed."""
    end = rest.find(b"\n")
    if end < 0:
        return len(rest) <= 4096
    reader = ChunkedReader(1 << 62)
    reader.feed(bytes(rest[: end + 1]))
    return reader.state is not State.ERROR


def _upgrade(req: Request) -> str | None:
    """The protocol a request asks to switch to (RFC 9110 §7.8), if it really asks."""
    value = req.headers.get("upgrade")
    if value and "upgrade" in connection_options(req.headers.get("connection")):
        return value
    return None


async def _splice(side: ClientSide, conn: UpConn) -> None:
    """After a 101: bytes both ways, as they come, until either side closes."""
    client = side.conn.transport
    early = side.buf.extract(len(side.buf))

    async def up() -> None:
        if early:
            await conn.transport.send(early)
        while data := await client.recv():
            await conn.transport.send(data)

    async def down() -> None:
        if conn.rest:
            await client.send(bytes(conn.rest))
            conn.rest.clear()
        while data := await conn.transport.recv():
            await client.send(data)

    tasks = [asyncio.ensure_future(up()), asyncio.ensure_future(down())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        conn.close()
