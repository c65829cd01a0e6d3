"""The listener: the only module that accepts on the listening sockets.

Owns (binding itself is :mod:`staticsrv.net.binding`'s): the accept loop with its back-off when out
of descriptors, the connection cap, one transport per connection (TLS
over TCP when given an ``SSLContext``), the sweeper that enforces every
connection's deadline, graceful shutdown, and a registry of background
tasks (a file watcher is one) that live and die with the server.
May not touch: HTTP, files, the decision of what to answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import ssl
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from staticsrv.config import Config
from staticsrv.net import connection
from staticsrv.net.accesslog import AccessLog
from staticsrv.net.binding import BindError, bind, bind_also, bind_any, bound_url
from staticsrv.net.connection import Connection, Phase
from staticsrv.net.quick import Quick
from staticsrv.net.shared import Shared
from staticsrv.net.transport import Features, Transport
from staticsrv.site.handler import Handler, Rule

if TYPE_CHECKING:
    from staticsrv.live.events import Hub
    from staticsrv.net.tls import TLSTransport
    from staticsrv.site.extension import Upstream

# Binding lives in staticsrv.net.binding; these names stay importable from here.
__all__ = ["BindError", "ServerCore", "bind", "bind_also", "bind_any", "bound_url"]

log = logging.getLogger("staticsrv")

SWEEP_INTERVAL = 0.25
_ACCEPT_ERRNOS_TRANSIENT = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EINTR})
# Out of descriptors or kernel memory: accept(2) backs off and retries.
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def make_proxy(config: Config) -> Upstream:
    """The proxy for ``config`` (imported only when a request first goes up)."""
    from staticsrv.net.proxy.forward import Proxy

    return Proxy.from_config(config)


class ServerCore:
    """Accept and serve on one listening socket until told to stop."""

    _loop: asyncio.AbstractEventLoop  # the loop serve() runs on
    _tls_transport: type[TLSTransport]  # set when a TLS context is given
    _quick: Quick | None = None  # set by serve(): None where every request takes the coroutine

    def __init__(
        self,
        config: Config,
        *,
        access_log: Callable[[str], None] | None = None,
        rules: Iterable[Rule] = (),
        features: Features | None = None,
        tls: ssl.SSLContext | None = None,
        watcher: Callable[..., Any] | None = None,
    ) -> None:
        self.config = config
        # The error pages are loaded now, not by the first error: out of
        # descriptors an import cannot open its file, and the 503 that says
        # so could not be built (tests/e2e/load/test_emfile.py).
        import staticsrv.http.pages  # noqa: F401

        self.watcher = watcher  # --live: watchfiles.watch, or a stand-in (tests)
        if config.build:
            from staticsrv.live.build import BuildingPage

            rules = (*rules, BuildingPage(config.root))
        self.tls = tls  # one context for every connection, built by the caller
        if tls is not None:
            # Only here: without TLS, start-up does not import it (nor the
            # certificate code it builds on).
            from staticsrv.net.tls import TLSTransport

            self._tls_transport = TLSTransport
        # Live reload's endpoints and the proxy plug into the handler from
        # here, a layer above the site (see staticsrv.site.extension).
        self.hub: Hub | None = None
        if config.live:
            from staticsrv.live.events import Hub

            self.hub = Hub(cache_control=config.generated_cache_control)
        self.handler = Handler(config, rules=rules, endpoints=self.hub, upstream=make_proxy)
        self.access_log = AccessLog(access_log) if access_log is not None else None
        self.shared = Shared(config, self.handler, self.access_log)
        self.features = features if features is not None else Features()
        self._conns: set[Connection] = set()
        self._slot_free = asyncio.Event()
        # Set while the readiness-driven accept is paused at the connection
        # cap: one per listening socket (localhost has two), by descriptor.
        self._resume_accept: dict[int, Callable[[], None]] = {}
        self._background: set[asyncio.Task[Any]] = set()

    @property
    def connections(self) -> int:
        return len(self._conns)

    def background(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` for the server's lifetime; it is cancelled at shutdown."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def serve(
        self, lsock: socket.socket, stop: asyncio.Event, also: Sequence[socket.socket] = ()
    ) -> None:
        """Accept and serve on ``lsock`` (and ``also``: localhost's ``[::1]``) until
        ``stop`` is set, then shut down gracefully."""
        self._loop = asyncio.get_running_loop()
        self.handler.passes.next_pass = self._loop.call_soon
        accepts = [self.background(self._accept_loop(s)) for s in (lsock, *also)]
        self.background(self._sweep())
        if self.tls is None and Quick.possible(self.shared):  # plain HTTP's own path
            self._quick = Quick(self.shared, self._loop, self._launch, self._close)
        if self.hub is not None:
            from staticsrv.live.watch import watch

            self.background(
                watch(self.config, self.hub, self.handler.invalidate, watcher=self.watcher)
            )
        try:
            await stop.wait()
        finally:
            self.shared.stopping = True
            for accept in accepts:
                accept.cancel()
            for accept in accepts:
                with contextlib.suppress(asyncio.CancelledError):
                    await accept
            for sock in (lsock, *also):
                sock.close()
            await self._drain()
            for task in list(self._background):
                task.cancel()
            if self._background:
                await asyncio.wait(list(self._background), timeout=1.0)
            if self.access_log is not None:
                self.access_log.flush()
            self.handler.close()

    async def _drain(self) -> None:
        # Idle keep-alive connections and event streams are closed at once;
        # requests in flight get a grace period to finish (RFC 9112 §9.6).
        for conn in list(self._conns):
            if conn.task is None:
                self._close(conn)  # idle: the quick path had it
            if conn.phase in (Phase.IDLE, Phase.STREAMING) and conn.task is not None:
                conn.task.cancel()
        tasks = [c.task for c in self._conns if c.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=self.config.timeouts.shutdown_grace)
        for conn in list(self._conns):
            if conn.task is not None:
                conn.task.cancel()
        tasks = [c.task for c in self._conns if c.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)

    async def _accept_loop(self, lsock: socket.socket) -> None:
        if self.features.add_reader:
            try:
                await self._accept_ready(lsock)
                return
            except NotImplementedError:
                self.features.add_reader = False  # the proactor loop
        await self._accept_awaiting(lsock)

    def _accepted(self, lsock: socket.socket) -> bool | OSError:
        """Accept one connection: True if one was, False if none waits, else the error."""
        try:
            sock, addr = lsock.accept()
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            return exc
        self._start(sock, addr)
        return True

    def _backoff(self, exc: OSError, previous: float) -> float:
        """Out of descriptors: a growing pause instead of spinning at 100 % CPU."""
        backoff = min(max(previous * 2, 0.01), 0.5)
        if backoff >= 0.5 or backoff == 0.01:
            log.warning("accept: %s; retrying", os.strerror(exc.errno or 0))
        return backoff

    async def _accept_ready(self, lsock: socket.socket) -> None:
        """Accept from a standing readiness registration on the listening socket.

        One callback takes every waiting connection (a burst costs one
        wake-up, not an epoll_ctl pair and a future per connection, as
        ``loop.sock_accept`` does).  At the connection cap, or out of
        descriptors, the registration is dropped until a slot frees or the
        back-off passes; meanwhile new connections wait in the listen backlog.
        """
        loop = asyncio.get_running_loop()
        fd = lsock.fileno()
        failed: asyncio.Future[None] = loop.create_future()
        backoff = 0.0
        registered = False

        def resume() -> None:
            nonlocal registered
            if not registered and not failed.done():
                loop.add_reader(fd, readable)
                registered = True

        def pause() -> None:
            nonlocal registered
            if registered:
                loop.remove_reader(fd)
                registered = False

        def readable() -> None:
            nonlocal backoff
            while len(self._conns) < self.config.max_connections:
                got = self._accepted(lsock)
                if got is False:
                    return
                if got is True:
                    backoff = 0.0
                    continue
                if got.errno in _RESOURCE_ERRNOS:
                    backoff = self._backoff(got, backoff)
                    pause()
                    loop.call_later(backoff, resume)
                    return
                if got.errno not in _ACCEPT_ERRNOS_TRANSIENT and not failed.done():
                    pause()
                    failed.set_exception(got)
                    return
            pause()  # at the cap: a finishing connection calls resume
            self._resume_accept[fd] = resume

        loop.add_reader(fd, readable)
        registered = True
        try:
            await failed
        finally:
            self._resume_accept.pop(fd, None)
            pause()

    async def _accept_awaiting(self, lsock: socket.socket) -> None:
        """The portable accept loop: ``loop.sock_accept`` per connection."""
        loop = asyncio.get_running_loop()
        backoff = 0.0
        while True:
            if len(self._conns) >= self.config.max_connections:
                # Further connections wait in the listen backlog until a slot frees.
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            try:
                sock, addr = await loop.sock_accept(lsock)
            except OSError as exc:
                if exc.errno in _RESOURCE_ERRNOS:
                    backoff = self._backoff(exc, backoff)
                    await asyncio.sleep(backoff)
                    continue
                if exc.errno in _ACCEPT_ERRNOS_TRANSIENT:
                    continue
                raise
            backoff = 0.0
            self._start(sock, addr)

    def _start(self, sock: socket.socket, addr: Any) -> None:
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = addr[0] if isinstance(addr, tuple) else str(addr)
        send_timeout = self.config.timeouts.send
        loop = self._loop

        def progress() -> None:
            conn.deadline = loop.time() + send_timeout

        raw = Transport(sock, self.features, progress, loop, self.handler.passes.arrived)
        if self.tls is None:
            conn = Connection(raw, peer, loop)
        else:
            conn = Connection(self._tls_transport(raw, self.tls, peer, progress), peer, loop)
        conn.deadline = loop.time() + self.config.timeouts.head
        self._conns.add(conn)
        quick = self._quick
        if quick is None:
            self._launch(conn)
            return
        # Plain HTTP: no coroutine until one is needed.  The request has
        # usually arrived with the connection: one direct read, else the
        # standing reader (staticsrv.net.quick).
        conn.raw = raw
        conn.hook = hook = quick.arm(conn)
        try:
            data = raw.read_now()
        except OSError:
            self._close(conn)
            return
        if data is None:
            if raw.start_reading():
                # Idle until its first byte, as the coroutine would count it.
                conn.deadline = loop.time() + self.config.timeouts.keepalive
                raw.quick = hook
            else:
                self._launch(conn)  # no readiness callbacks: the portable reads
        elif data:
            raw.start_reading()
            hook(data)
        else:
            self._close(conn)

    def _launch(self, conn: Connection) -> None:
        """Start ``conn``'s coroutine (at accept, or when the quick path hands it over)."""
        conn.task = self._loop.create_task(self._run(conn))

    def _close(self, conn: Connection) -> None:
        """Close a connection that never needed its coroutine."""
        conn.transport.close()
        self._ended(conn)

    def _ended(self, conn: Connection) -> None:
        conn.hook = None  # it refers to the connection: no cycle left behind
        self._conns.discard(conn)
        self._slot_free.set()
        for resume in list(self._resume_accept.values()):
            resume()

    async def _run(self, conn: Connection) -> None:
        try:
            await connection.run(conn, self.shared)
        finally:
            self._ended(conn)

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        send_timeout = self.config.timeouts.send
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            now = loop.time()
            for conn in list(self._conns):
                if conn.phase == Phase.BUSY:
                    # A send in progress: if what the kernel holds for the
                    # client moved since the last look, the client is slow,
                    # not stalled, and the send timeout counts from now.
                    queued = conn.transport.unacked()
                    if queued != conn.queued:
                        if queued > 0 and conn.queued >= 0:
                            conn.deadline = max(conn.deadline, now + send_timeout)
                        conn.queued = queued
                if conn.deadline < now and not conn.timed_out:
                    conn.timed_out = True
                    if conn.task is not None:
                        conn.task.cancel()
                    else:
                        # Idle with no coroutine (a partial head always has
                        # one): closed in silence, as the coroutine closes an
                        # idle connection.
                        self._close(conn)
            if self.access_log is not None:
                self.access_log.flush()
