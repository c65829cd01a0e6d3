"""The server: the only module that touches sockets.

One task per connection reads with ``loop.sock_recv`` into a
:class:`~staticsrv.http11.ReceiveBuffer`, hands each complete head to the
pure parser, and writes answers with ``sock_sendall`` (heads and cached
bodies, pipelined answers joined into one write) or sendfile(2) for large
bodies.

Deadlines are plain numbers on each connection, checked by one sweeper task
a few times a second, instead of a timer per read: the hot path only
assigns a float.  A connection whose deadline passes is cancelled and closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import functools
import logging
import os
import socket
import stat
import sys
import termios
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from staticsrv import pages, responses
from staticsrv.conditional import make_etag
from staticsrv.config import Config
from staticsrv.fileplan import Plan, Variant, plan_file
from staticsrv.http11 import ParseError, ReceiveBuffer, Request, parse_head
from staticsrv.httpdate import format_http_date
from staticsrv.mime import guess_type
from staticsrv.negotiate import choose_encoding, is_compressible
from staticsrv.ranges import content_range, multipart_layout, new_boundary
from staticsrv.reader import FileChanged, FileKey, Reader, gzip_body, open_regular
from staticsrv.resolver import (
    File,
    Forbidden,
    Listing,
    NotFound,
    Redirect,
    Resolver,
)
from staticsrv.target import (
    Target,
    TargetError,
    decode_target,
    directory_redirect,
    is_servable_name,
)

log = logging.getLogger("staticsrv")

RECV_SIZE = 65536
# Without SIOCOUTQ (not Linux) the send deadline is renewed per piece of
# this size; a client slower than SENDFILE_STEP / --send-timeout is dropped.
SENDFILE_STEP = 512 * 1024
LISTEN_BACKLOG = 1024  # bursts of new connections wait in the kernel, not refused
SWEEP_INTERVAL = 0.25
# Lingering close (RFC 9112 §9.6): how long, and how much, to keep reading
# from a client we close on while it may still be sending.
LINGER_SECONDS = 2.0
LINGER_BYTES = 1024 * 1024
PARSE_CACHE_HEAD_MAX = 2048  # heads up to this size share parses (see Server.__init__)
GZIP_MIN = 1024  # below this gzip saves too little to be worth a Vary'd variant
# Precompressed sidecars, in the server's order of preference (RFC 9110 §8.4.1).
SIDECARS: tuple[tuple[str, str], ...] = (("br", ".br"), ("zstd", ".zst"), ("gzip", ".gz"))
_ACCEPT_ERRNOS_TRANSIENT = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EINTR})
_TIOCOUTQ: int | None = getattr(termios, "TIOCOUTQ", None) if sys.platform == "linux" else None
# Out of descriptors or kernel memory: a passing shortage, not a fault of the
# request.  accept(2) backs off; a request that needs a descriptor gets a 503.
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# sendfile(2) refuses this pair of descriptors (a file system or platform
# without it): send the bytes with pread + send instead.
_SENDFILE_UNSUPPORTED = frozenset(
    {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSOCK, errno.EOVERFLOW}
)


def _unacked(sock: socket.socket) -> int:
    """Bytes written to ``sock`` that the peer has not acknowledged yet, or -1.

    The kernel's send buffer hides a slow reader: a send may wait seconds
    for writability while the client steadily drains what is queued.  This
    queue (Linux SIOCOUTQ) moves whenever the client takes bytes or we add
    more after it did, and stands still only while the client reads nothing.
    """
    if _TIOCOUTQ is None:
        return -1
    try:
        out = fcntl.ioctl(sock.fileno(), _TIOCOUTQ, b"\0\0\0\0")
    except OSError:
        return -1
    queued: int = int.from_bytes(out, sys.byteorder, signed=True)
    return queued


class BindError(Exception):
    """The listening socket could not be created; the message is for the user."""


def bind(host: str, port: int, *, reuse_port: bool = False, listen: bool = True) -> socket.socket:
    """Create the non-blocking listening socket, or raise BindError with a clear message.

    ``listen=False`` only reserves the address: the worker supervisor holds
    such a socket so that every worker can bind the same port with
    SO_REUSEPORT while the parent itself never receives connections.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise BindError(f"cannot resolve host {host!r}: {exc.strerror}") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(addr)
        if listen:
            sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise BindError(f"port {port} on {host} is already in use") from None
        if exc.errno == errno.EACCES:
            raise BindError(f"no permission to listen on {host}:{port}") from None
        raise BindError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


def bound_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


@dataclass(slots=True)
class Reply:
    """An answer ready to send: a head and a body in memory or on disk."""

    status: int
    head: bytes
    body: bytes = b""
    # For bodies sent from disk: the file, already open (so the head is only
    # sent once the body is sure to be there, and a rename-into-place cannot
    # swap the version under us), and the pieces to send, in order: bytes go
    # out as they are, (offset, count) pairs come from the file.
    fd: int = -1
    parts: list[bytes | tuple[int, int]] = field(default_factory=list)
    length: int = 0  # body bytes, for the access log
    close: bool = False


@dataclass(slots=True)
class _FileMeta:
    """Everything about one version of a file that does not depend on the request."""

    key: FileKey
    content_type: str
    compressible: bool
    etag: str
    last_modified: int
    fields: tuple[tuple[str, str], ...]  # validators and caching fields shared by 200/206/304
    prefix_200: bytes  # full head prefix of a 200 of the identity representation
    # Heads built on first use, so that a 304 or a 404 costs no more than a 200.
    prefix_304: bytes = b""
    prefix_404: bytes = b""
    # The body of a small file, as the LRU reader returned it (the same bytes
    # object, so no extra copy): a repeated request is answered without the
    # async cache's key hashing and coroutine frames.  The meta is only used
    # while a fresh stat matches ``key``, so these bytes are never stale.
    body: bytes | None = None


# Connection phases: what a deadline means and what a timeout may say.
IDLE, HEAD, BUSY = 0, 1, 2


class _Conn:
    __slots__ = ("deadline", "peer", "phase", "queued", "sock", "task", "timed_out")

    def __init__(self, sock: socket.socket, peer: str) -> None:
        self.sock = sock
        self.peer = peer
        self.deadline = 0.0
        self.phase = IDLE
        self.timed_out = False
        # Unacknowledged bytes at the sweeper's last look (see _unacked);
        # -1 when not known.
        self.queued = -1
        self.task: asyncio.Task[None] | None = None


class Server:
    def __init__(self, config: Config, *, access_log: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.resolver = Resolver(config.root, listing=config.listing, dotfiles=config.dotfiles)
        self.reader = Reader(config.cache_entries)
        self._access_log = access_log
        self._log_lines: list[str] = []
        self._conns: set[_Conn] = set()
        self._slot_free = asyncio.Event()
        self._stopping = False
        self._date_sec = -1
        self._date = ""
        self._date_line = b""
        self._metas: dict[str, _FileMeta] = {}
        # Bytes held by metas' bodies, kept within the reader's own budget.
        self._meta_bytes = 0
        self._meta_budget = config.cache_file_max * config.cache_entries
        # Raw target -> meta of the small file a GET of it last got, or the
        # path that was missing (see _hot_reply and _respond).  Filled only
        # from a full resolution, and every use checks it with a fresh stat.
        self._hot: dict[str, _FileMeta | str] = {}
        self._errors: dict[tuple[int, str], tuple[bytes, bytes]] = {}
        self._targets: dict[str, Target | TargetError] = {}
        # (path, inode, mtime_ns) -> (rendered at, HTML, its gzip once asked for)
        self._listings: dict[tuple[str, int, int], tuple[float, bytes, bytes | None]] = {}
        self._cache_control = config.cache_control
        # Keep-alive clients repeat the very same head (browsers per resource,
        # load generators always): parse_head is pure and Request immutable,
        # so identical bytes can share one parse.  Bounded in entries and size.
        self._parse_cached = functools.lru_cache(maxsize=512)(
            functools.partial(parse_head, limits=config.limits)
        )
        self._loop_sendfile = True  # until the loop says it has no native sock_sendfile
        self._sendfile_ok = hasattr(os, "sendfile")  # until sendfile(2) refuses a file
        self._limits = config.limits
        self._t = config.timeouts

    # ------------------------------------------------------------------ lifecycle

    async def serve(self, lsock: socket.socket, stop: asyncio.Event) -> None:
        """Accept and serve on ``lsock`` until ``stop`` is set, then shut down gracefully."""
        loop = asyncio.get_running_loop()
        accept = loop.create_task(self._accept_loop(lsock))
        sweeper = loop.create_task(self._sweep())
        try:
            await stop.wait()
        finally:
            self._stopping = True
            accept.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await accept
            lsock.close()
            # Idle keep-alive connections are closed at once; requests in
            # flight get a grace period to finish (RFC 9112 §9.6).
            for conn in list(self._conns):
                if conn.phase == IDLE and conn.task is not None:
                    conn.task.cancel()
            tasks = [c.task for c in self._conns if c.task is not None]
            if tasks:
                await asyncio.wait(tasks, timeout=self._t.shutdown_grace)
            for conn in list(self._conns):
                if conn.task is not None:
                    conn.task.cancel()
            tasks = [c.task for c in self._conns if c.task is not None]
            if tasks:
                await asyncio.wait(tasks, timeout=1.0)
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            self._flush_log()
            self.reader.close()

    async def _accept_loop(self, lsock: socket.socket) -> None:
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
                    # Out of descriptors: keep serving the open connections and
                    # retry with a growing pause instead of spinning at 100 % CPU.
                    backoff = min(max(backoff * 2, 0.01), 0.5)
                    if backoff >= 0.5 or backoff == 0.01:
                        log.warning("accept: %s; retrying", os.strerror(exc.errno or 0))
                    await asyncio.sleep(backoff)
                    continue
                if exc.errno in _ACCEPT_ERRNOS_TRANSIENT:
                    continue
                raise
            backoff = 0.0
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(sock, addr[0] if isinstance(addr, tuple) else str(addr))
            conn.deadline = loop.time() + self._t.head
            self._conns.add(conn)
            conn.task = loop.create_task(self._run_conn(conn))

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            now = loop.time()
            for conn in list(self._conns):
                if conn.phase == BUSY and _TIOCOUTQ is not None:
                    # A send in progress: if what the kernel holds for the
                    # client moved since the last look, the client is slow,
                    # not stalled, and the send timeout counts from now.
                    queued = _unacked(conn.sock)
                    if queued != conn.queued:
                        if queued > 0 and conn.queued >= 0:
                            conn.deadline = max(conn.deadline, now + self._t.send)
                        conn.queued = queued
                if conn.deadline < now and not conn.timed_out and conn.task is not None:
                    conn.timed_out = True
                    conn.task.cancel()
            self._flush_log()

    async def _run_conn(self, conn: _Conn) -> None:
        try:
            await self._serve_conn(conn)
        except asyncio.CancelledError:
            if conn.timed_out and conn.phase == HEAD:
                # RFC 9110 §15.5.9: tell a client whose request stalled why we
                # close.  Best effort, never blocking.
                with contextlib.suppress(OSError):
                    conn.sock.send(self._error_head(408, close=True))
        except (ConnectionError, TimeoutError, BrokenPipeError):
            pass  # the client went away; nothing to tell anyone
        except OSError as exc:
            if exc.errno not in (errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN, errno.EBADF):
                log.error("connection error: %s", exc)
        except Exception:
            log.error("unexpected error while serving a connection\n%s", traceback.format_exc())
        finally:
            with contextlib.suppress(OSError):
                conn.sock.close()
            self._conns.discard(conn)
            self._slot_free.set()

    # ------------------------------------------------------------------ per connection

    async def _serve_conn(self, conn: _Conn) -> None:
        loop = asyncio.get_running_loop()
        sock = conn.sock
        buf = ReceiveBuffer(self._limits)
        out: list[bytes] = []
        discard = 0  # bytes of a request body still to drop before the next head
        body_deadline = 0.0
        while True:
            if discard:
                discard -= len(buf.extract(discard))
                if discard:
                    if out:
                        # Answer first: the client may wait for it before sending more.
                        conn.deadline = loop.time() + self._t.send
                        await loop.sock_sendall(sock, b"".join(out))
                        out.clear()
                    conn.deadline = body_deadline
                    data = await loop.sock_recv(sock, RECV_SIZE)
                    if not data:
                        return
                    buf.feed(data)
                    continue
            item = buf.extract_head()
            if item is None:
                if out:
                    conn.deadline = loop.time() + self._t.send
                    await loop.sock_sendall(sock, b"".join(out) if len(out) > 1 else out[0])
                    out.clear()
                if self._stopping:
                    return
                if not buf:
                    conn.phase = IDLE
                    conn.deadline = loop.time() + self._t.keepalive
                elif conn.phase != HEAD:
                    conn.phase = HEAD  # a pipelined head arrived in part
                    conn.deadline = loop.time() + self._t.head
                data = await loop.sock_recv(sock, RECV_SIZE)
                if not data:
                    return
                if conn.phase == IDLE:
                    # The head deadline starts with the first byte and is not
                    # extended by later ones: trickling cannot keep it open.
                    conn.phase = HEAD
                    conn.deadline = loop.time() + self._t.head
                buf.feed(data)
                continue

            conn.phase = BUSY
            if isinstance(item, ParseError):
                req: Request | ParseError = item
            elif len(item) <= PARSE_CACHE_HEAD_MAX:
                req = self._parse_cached(item)
            else:
                req = parse_head(item, self._limits)
            if isinstance(req, ParseError):
                reply = self._error(req.status, close=True, reason=req.reason)
                self._log(conn, None, reply)
                out.append(reply.head + reply.body)
                conn.deadline = loop.time() + self._t.send
                await loop.sock_sendall(sock, b"".join(out))
                await self._linger(conn)
                return

            try:
                reply = await self._respond(req)
            except Exception:
                log.error("error answering %s\n%s", req.target, traceback.format_exc())
                reply = self._error(500, close=True)
            close = reply.close or not req.keep_alive or self._stopping
            unread = req.chunked or req.body_length > self._limits.max_discard_body
            if unread:
                # RFC 9112 §9.6 / §6.3: we do not read large or chunked bodies
                # of GET/HEAD; closing keeps the connection from desynchronising.
                close = True
            elif req.body_length:
                # The body to drop has the head's deadline, counted once from
                # now: a body trickled byte by byte must not hold the
                # connection any longer than a trickled head can.
                discard = req.body_length
                body_deadline = loop.time() + self._t.head
            if close:
                reply.head = self._retail(reply.head)
            self._log(conn, req, reply)
            if reply.fd < 0:
                out.append(reply.head + reply.body if reply.body else reply.head)
                if sum(map(len, out)) > RECV_SIZE * 4:
                    conn.deadline = loop.time() + self._t.send
                    await loop.sock_sendall(sock, b"".join(out))
                    out.clear()
            else:
                try:
                    out.append(reply.head)
                    conn.deadline = loop.time() + self._t.send
                    await loop.sock_sendall(sock, b"".join(out))
                    out.clear()
                    complete = await self._send_file(conn, reply)
                finally:
                    os.close(reply.fd)
                if not complete:
                    return  # the file shrank under us: the framing is broken, close
            if close:
                if out:
                    conn.deadline = loop.time() + self._t.send
                    await loop.sock_sendall(sock, b"".join(out))
                if unread:
                    await self._linger(conn)
                return

    async def _linger(self, conn: _Conn) -> None:
        """Half-close, then drop what the client still sends, within bounds.

        Closing a socket with unread input makes the kernel answer with a
        reset, which can destroy the response we just wrote before the client
        has read it (RFC 9112 §9.6, "lingering close"; nginx does the same).
        The connection counts as idle meanwhile: shutdown does not wait for it.
        """
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_WR)
        conn.phase = IDLE
        conn.deadline = loop.time() + LINGER_SECONDS
        left = LINGER_BYTES
        while left > 0:
            data = await loop.sock_recv(conn.sock, RECV_SIZE)
            if not data:
                return
            left -= len(data)

    @staticmethod
    def _retail(head: bytes) -> bytes:
        """Rewrite the tail of a keep-alive head into ``Connection: close``."""
        if head.endswith(responses.TAIL_CLOSE):
            return head
        for tail in (responses.TAIL_KEEP_ALIVE_10, responses.TAIL_KEEP_ALIVE_11):
            if head.endswith(tail):
                return head[: -len(tail)] + responses.TAIL_CLOSE
        return head

    async def _send_file(self, conn: _Conn, reply: Reply) -> bool:
        """Send the on-disk parts of a reply; False if the file ended early."""
        loop = asyncio.get_running_loop()
        for part in reply.parts:
            if isinstance(part, bytes):
                conn.deadline = loop.time() + self._t.send
                await loop.sock_sendall(conn.sock, part)
            elif not await self._sendfile(conn, reply.fd, *part):
                return False
        return True

    async def _sendfile(self, conn: _Conn, fd: int, offset: int, count: int) -> bool:
        """Send ``count`` bytes of ``fd`` from ``offset``, zero-copy where possible.

        ``loop.sock_sendfile`` where the loop has it natively (asyncio on
        Unix: sendfile(2) until EAGAIN, then wait for writability); uvloop
        has none, so the same loop is written out here.  The send deadline
        is set once; the sweeper moves it while the client takes bytes (see
        ``_unacked``), so a slow reader is never taken for a stalled one,
        and one that stops reading is dropped after ``--send-timeout``.
        Returns False if the file ended before ``count`` bytes.
        """
        loop = asyncio.get_running_loop()
        sock = conn.sock
        conn.deadline = loop.time() + self._t.send
        end = offset + count
        if self._loop_sendfile:
            # Where the sweeper cannot see the client's progress (no
            # SIOCOUTQ), send in pieces and renew the deadline after each.
            step = count if _TIOCOUTQ is not None else SENDFILE_STEP
            with open(fd, "rb", buffering=0, closefd=False) as fobj:
                while offset < end:
                    want = min(step, end - offset)
                    conn.deadline = loop.time() + self._t.send
                    try:
                        sent = await loop.sock_sendfile(sock, fobj, offset, want, fallback=False)
                    except NotImplementedError:
                        self._loop_sendfile = False  # uvloop: ask once per process
                        break
                    except asyncio.SendfileNotAvailableError:
                        # This piece's first sendfile(2) failed before a byte
                        # went out; asyncio says so for any error, a client
                        # already gone included.  The loop below meets the
                        # real errno and acts on it.
                        break
                    if sent < want:
                        return False  # EOF: the file was truncated under us
                    offset += sent
        while offset < end and self._sendfile_ok:
            try:
                sent = os.sendfile(sock.fileno(), fd, offset, end - offset)
            except BlockingIOError:
                await self._writable(sock)
                continue
            except OSError as exc:
                if exc.errno not in _SENDFILE_UNSUPPORTED:
                    raise
                self._sendfile_ok = False  # ask once per process, not per file
                break
            if sent == 0:
                return False  # EOF: the file was truncated under us
            offset += sent
            conn.deadline = loop.time() + self._t.send
        # Fallback: read and send in pieces (aiohttp's web_fileresponse does the same).
        while offset < end:
            conn.deadline = loop.time() + self._t.send
            data = os.pread(fd, min(end - offset, RECV_SIZE * 4), offset)
            if not data:
                return False
            await loop.sock_sendall(sock, data)
            offset += len(data)
        return True

    @staticmethod
    async def _writable(sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        fd = sock.fileno()

        def ready() -> None:
            if not fut.done():
                fut.set_result(None)

        loop.add_writer(fd, ready)
        try:
            await fut
        finally:
            loop.remove_writer(fd)

    # ------------------------------------------------------------------ requests

    def _http_date(self) -> bytes:
        now = int(time.time())
        if now != self._date_sec:
            self._date_sec = now
            self._date = format_http_date(now)
            self._date_line = responses.date_line(self._date)
        return self._date_line

    def _tail(self, req: Request | None, close: bool = False) -> bytes:
        if req is None or close:
            return responses.TAIL_CLOSE
        return responses.connection_tail(req.keep_alive, req.version == "HTTP/1.0")

    def _target(self, raw: str) -> Target | TargetError:
        found = self._targets.get(raw)
        if found is None:
            found = decode_target(raw, dotfiles=self.config.dotfiles)
            if len(self._targets) >= 4096:
                self._targets.clear()
            self._targets[raw] = found
        return found

    async def _respond(self, req: Request) -> Reply:
        method = req.method
        if method == "OPTIONS":
            # RFC 9110 §9.3.7: 204 with the methods this resource supports.
            head = responses.head_prefix(204, (("Allow", responses.ALLOW),))
            return Reply(204, head + self._http_date() + self._tail(req))
        if method not in ("GET", "HEAD"):
            if method not in responses.KNOWN_METHODS:
                return self._error(501, req=req)
            # RFC 9110 §15.5.6: 405 must carry Allow.
            return self._error(405, req=req, extra=(("Allow", responses.ALLOW),))
        hot = self._hot.get(req.target)
        if hot is not None:
            if isinstance(hot, str):
                # Missing last time: if a stat still finds nothing there, the
                # full resolution would start with that same stat and stop.
                if self.resolver.is_missing(hot):
                    return await self._not_found(req)
            else:
                reply = self._hot_reply(req, hot)
                if reply is not None:
                    return reply
        target = self._target(req.target)
        if isinstance(target, TargetError):
            if target.status == 404:
                return await self._not_found(req)
            return self._error(target.status, req=req, reason=target.reason)

        for _attempt in range(3):
            outcome = self.resolver.resolve(target)
            try:
                if isinstance(outcome, File):
                    return await self._file(req, outcome)
                if isinstance(outcome, Redirect):
                    location = directory_redirect(target)
                    return self._error(301, req=req, extra=(("Location", location),))
                if isinstance(outcome, Listing):
                    return await self._listing(req, target, outcome)
                if isinstance(outcome, Forbidden):
                    return self._error(403, req=req)
                assert isinstance(outcome, NotFound)
                self._remember(req.target, self.resolver.full_path(target.relpath))
                return await self._not_found(req)
            except FileChanged as exc:
                # Changed between stat and read (an editor saving): look again.
                self._forget_meta(str(exc))
                continue
            except PermissionError:
                return self._error(403, req=req)
            except OSError as exc:
                if exc.errno not in _RESOURCE_ERRNOS:
                    raise
                break  # out of descriptors: say so, and when to come back
        # RFC 9110 §15.6.4: a passing condition (a file churning under
        # renames, no descriptor left), with a hint of when to retry.
        return self._error(503, req=req, extra=(("Retry-After", "1"),))

    def _meta(self, f: File) -> _FileMeta:
        st = f.st
        meta = self._metas.get(f.path)
        if meta is not None and meta.key.matches(st):
            return meta
        key = FileKey.of(f.path, st)
        content_type = guess_type(f.path)
        compressible = is_compressible(content_type)
        etag = make_etag(st.st_ino, st.st_size, st.st_mtime_ns)
        last_modified = int(st.st_mtime)
        fields: list[tuple[str, str]] = [
            # RFC 9110 §8.8.2.1: never a Last-Modified later than the Date (a
            # skewed clock, an archive's future timestamps): the message's
            # date takes its place.  Preconditions keep comparing the real
            # mtime, so a date we sent can never earn a false 304 for a file
            # edited within that second: it gets 200, and the ETag a 304.
            ("Last-Modified", format_http_date(min(last_modified, int(time.time())))),
            ("Cache-Control", self._cache_control),
        ]
        if compressible:
            # RFC 9110 §12.5.5: the answer varies with Accept-Encoding whenever
            # an encoded variant could be chosen, even when this one is identity.
            fields.append(("Vary", "Accept-Encoding"))
        prefix = responses.head_prefix(
            200,
            [
                ("Content-Type", content_type),
                ("Content-Length", str(st.st_size)),
                ("ETag", etag),
                ("Accept-Ranges", "bytes"),
                *fields,
            ],
        )
        meta = _FileMeta(
            key, content_type, compressible, etag, last_modified, tuple(fields), prefix
        )
        if f.path in self._metas:
            self._forget_meta(f.path)
        elif len(self._metas) >= 8192:
            self._forget_metas()
        self._metas[f.path] = meta
        return meta

    def _forget_meta(self, path: str) -> None:
        old = self._metas.pop(path, None)
        if old is not None and old.body is not None:
            self._meta_bytes -= len(old.body)

    def _forget_metas(self) -> None:
        # Wholesale, like the other bounded maps here: rare, and the LRU
        # reader still holds the hot bodies, so refilling costs no disk read.
        self._metas.clear()
        self._hot.clear()
        self._meta_bytes = 0

    async def _body(self, meta: _FileMeta) -> bytes:
        """The whole body of a small file version, read once through the LRU reader."""
        body = meta.body
        if body is None:
            body = await self._read(meta.key)
            if self._meta_bytes + len(body) > self._meta_budget:
                self._forget_metas()
                self._metas[meta.key.path] = meta
            meta.body = body
            self._meta_bytes += len(body)
        return body

    @staticmethod
    def _plain(req: Request, meta: _FileMeta) -> bool:
        """No validators, ranges or encodings in play: the common 200."""
        headers = req.headers
        return not (
            "if-none-match" in headers
            or "if-modified-since" in headers
            or "if-match" in headers
            or "if-unmodified-since" in headers
            or "range" in headers
            or (meta.compressible and "accept-encoding" in headers)
        )

    def _remember(self, raw_target: str, found: _FileMeta | str) -> None:
        if len(self._hot) >= 4096:
            self._hot.clear()  # bounded: a scan of random URLs cannot grow it
        self._hot[raw_target] = found

    def _hot_reply(self, req: Request, meta: _FileMeta) -> Reply | None:
        """A GET or HEAD of a small file answered before, from one stat.

        ``_hot`` maps a raw target to the file a full resolution found for it.
        One ``stat`` of that path must still reach the very same version
        (device, inode, size, mtime): the same test by which the resolver
        reuses its realpath verdict and ``_meta`` its heads, so this answer
        is exactly the one the full path would give.  Handled here: the plain
        200, and the 304 for an If-None-Match that is this version's ETag
        (RFC 9110 §13.2.2: If-Modified-Since is then not looked at, and a
        304 is decided before any Range).  Anything else (an edit, a rename,
        a new index.html, other preconditions, encodings) goes the full way.
        """
        headers = req.headers
        body = meta.body
        inm = headers.get("if-none-match")
        if (
            body is None
            or "if-match" in headers
            or "if-unmodified-since" in headers
            or (meta.compressible and "accept-encoding" in headers)
        ):
            return None
        if inm is None:
            if "if-modified-since" in headers or "range" in headers:
                return None
        elif inm != meta.etag or not meta.prefix_304:
            return None
        try:
            st = os.stat(meta.key.path)
        except OSError:
            return None
        k = meta.key
        if not (k.matches(st) and self._metas.get(k.path) is meta):
            return None
        tail = self._http_date() + self._tail(req)
        if inm is not None:
            return Reply(304, meta.prefix_304 + tail)
        if req.method == "HEAD":
            return Reply(200, meta.prefix_200 + tail)
        return Reply(200, meta.prefix_200 + tail, body, length=k.size)

    def _variants(self, meta: _FileMeta, req: Request) -> list[Variant]:
        """Encoded variants that exist for this file, best first."""
        if not meta.compressible or "accept-encoding" not in req.headers:
            return []
        found: list[Variant] = []
        coded: set[str] = set()
        for coding, ext in SIDECARS:
            side = self.resolver.regular_file(meta.key.path + ext)
            # A sidecar older than its source is stale (a forgotten rebuild):
            # never serve it in place of the newer file.
            if isinstance(side, File) and side.st.st_mtime_ns >= meta.key.mtime_ns:
                tag = make_etag(side.st.st_ino, side.st.st_size, side.st.st_mtime_ns, coding)
                found.append(Variant(coding, tag, side.path, side.st.st_size))
                coded.add(coding)
        if (
            self.config.compress
            and "gzip" not in coded
            and GZIP_MIN <= meta.key.size <= self.config.cache_file_max
        ):
            found.append(Variant("gzip", meta.etag[:-1] + '-gzip"'))
        return found

    async def _file(self, req: Request, f: File, status: int = 200) -> Reply:
        meta = self._meta(f)
        key = meta.key
        headers = req.headers
        head_only = req.method == "HEAD"
        small = key.size <= self.config.cache_file_max
        # Fast path: no validators, ranges or encodings in play (most requests
        # from benchmarks and many from scripts).
        if status == 200 and self._plain(req, meta):
            head = meta.prefix_200 + self._http_date() + self._tail(req)
            if not small:
                return await self._body_reply(200, head, key, head_only, small)
            body = await self._body(meta)
            self._remember(req.target, meta)
            return Reply(200, head, b"" if head_only else body, length=0 if head_only else key.size)

        identity = Variant(None, meta.etag, None, key.size)
        if status != 200:
            # The 404 page: no validators or ranges apply to an error body.
            plan = Plan(status, identity)
        else:
            plan = plan_file(
                req.method,
                headers,
                identity,
                self._variants(meta, req),
                meta.last_modified,
                time.time(),
            )
        return await self._planned(req, meta, plan, head_only)

    async def _body_reply(
        self, status: int, head: bytes, key: FileKey, head_only: bool, small: bool
    ) -> Reply:
        if head_only:
            return Reply(status, head, length=0)
        if small:
            body = await self._read(key)
            return Reply(status, head, body, length=len(body))
        return self._disk_reply(status, head, key, [(0, key.size)], key.size)

    @staticmethod
    def _disk_reply(
        status: int, head: bytes, key: FileKey, parts: list[bytes | tuple[int, int]], length: int
    ) -> Reply:
        """A reply whose body comes from disk, with the file opened now.

        Opening before the head is sent means a failure (out of descriptors,
        the file replaced or gone) still gets a whole answer (503, or a retry
        of the lookup) instead of a 200 head with no body after it.
        """
        return Reply(status, head, fd=open_regular(key), parts=parts, length=length)

    async def _read(self, key: FileKey) -> bytes:
        try:
            return await self.reader.read(key)
        except FileChanged:
            self.reader.forget(key)
            raise FileChanged(key.path) from None

    async def _planned(self, req: Request, meta: _FileMeta, plan: Plan, head_only: bool) -> Reply:
        variant = plan.variant
        key = meta.key
        tail = self._http_date() + self._tail(req)
        enc_fields: list[tuple[str, str]] = []
        if variant.coding is not None:
            enc_fields.append(("Content-Encoding", variant.coding))
        common = [("ETag", variant.etag), *meta.fields]

        if plan.status == 304:
            # RFC 9110 §15.4.5: a 304 carries the validators and caching fields
            # a 200 would have, and no body.
            if variant.coding is not None:
                return Reply(304, responses.head_prefix(304, common) + tail)
            if not meta.prefix_304:
                meta.prefix_304 = responses.head_prefix(304, common)
            return Reply(304, meta.prefix_304 + tail)
        if plan.status == 412:
            head = responses.head_prefix(412, [("Content-Length", "0")])
            return Reply(412, head + tail)
        if plan.status == 416:
            # RFC 9110 §15.5.17: say how long the representation is.
            fields = [("Content-Range", f"bytes */{key.size}"), ("Content-Length", "0")]
            return Reply(416, responses.head_prefix(416, fields) + tail)

        # The body source: a sidecar file, an on-the-fly gzip, or the file itself.
        body_key = key
        body: bytes | None = None
        if variant.sidecar is not None:
            side = self.resolver.regular_file(variant.sidecar)
            if not isinstance(side, File):
                raise FileChanged(key.path)
            body_key = FileKey.of(side.path, side.st)
        elif variant.coding == "gzip":
            body = await self.reader.gzipped(key)
        size = len(body) if body is not None else body_key.size
        small = body is not None or size <= self.config.cache_file_max

        if plan.status == 206:
            ranges = plan.ranges
            if len(ranges) == 1:
                r = ranges[0]
                fields = [
                    ("Content-Type", meta.content_type),
                    ("Content-Length", str(r.length)),
                    ("Content-Range", content_range(r, size)),
                    ("Accept-Ranges", "bytes"),
                    *enc_fields,
                    *common,
                ]
                head = responses.head_prefix(206, fields) + tail
                if head_only:
                    return Reply(206, head)
                if small:
                    data = body if body is not None else await self._read(body_key)
                    piece = data[r.start : r.end + 1]
                    return Reply(206, head, piece, length=len(piece))
                return self._disk_reply(206, head, body_key, [(r.start, r.length)], r.length)
            layout = multipart_layout(list(ranges), size, meta.content_type, new_boundary())
            fields = [
                ("Content-Type", layout.content_type),
                ("Content-Length", str(layout.total_length)),
                ("Accept-Ranges", "bytes"),
                *enc_fields,
                *common,
            ]
            head = responses.head_prefix(206, fields) + tail
            if head_only:
                return Reply(206, head)
            parts: list[bytes | tuple[int, int]] = []
            for part_head, r in layout.parts():
                parts.append(part_head)
                parts.append((r.start, r.length))
            parts.append(layout.closing)
            if small:
                data = body if body is not None else await self._read(body_key)
                joined = b"".join(
                    p if isinstance(p, bytes) else data[p[0] : p[0] + p[1]] for p in parts
                )
                return Reply(206, head, joined, length=len(joined))
            return self._disk_reply(206, head, body_key, parts, layout.total_length)

        fields = [
            ("Content-Type", meta.content_type),
            ("Content-Length", str(size)),
            ("Accept-Ranges", "bytes"),
            *enc_fields,
            *common,
        ]
        head = responses.head_prefix(plan.status, fields) + tail
        if body is not None:
            return Reply(plan.status, head, b"" if head_only else body, length=len(body))
        return await self._body_reply(plan.status, head, body_key, head_only, small)

    async def _not_found(self, req: Request) -> Reply:
        page = self.resolver.not_found_page()
        if page is not None:
            try:
                meta = self._meta(page)
                if meta.key.size <= self.config.cache_file_max:
                    if not meta.prefix_404:
                        meta.prefix_404 = responses.head_prefix(
                            404,
                            [
                                ("Content-Type", meta.content_type),
                                ("Content-Length", str(meta.key.size)),
                                ("Cache-Control", self.config.generated_cache_control),
                            ],
                        )
                    body = b"" if req.method == "HEAD" else await self._body(meta)
                    head = meta.prefix_404 + self._http_date() + self._tail(req)
                    return Reply(404, head, body, length=len(body))
            except (FileChanged, OSError):
                pass  # fall back to the built-in page
        return self._error(404, req=req)

    async def _listing(self, req: Request, target: Target, found: Listing) -> Reply:
        st = found.st
        cache_key = (found.path, st.st_ino, st.st_mtime_ns)
        now = time.monotonic()
        cached = self._listings.get(cache_key)
        # Entry sizes and times can change without the folder's mtime moving,
        # so a rendered listing is reused for one second at most.
        if cached is not None and now - cached[0] < 1.0:
            rendered, body, gz = cached
        else:
            rendered, gz = now, None
            body = await asyncio.to_thread(self._render_listing, found.path, target)
            if len(self._listings) >= 256:
                self._listings.clear()
            self._listings[cache_key] = (rendered, body, gz)
        fields = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Cache-Control", self.config.generated_cache_control),
        ]
        if self.config.compress and len(body) >= GZIP_MIN:
            # A listing of a big folder is mostly repeated markup: gzip it
            # like any other text (RFC 9110 §12.5.5: Vary either way).
            fields.append(("Vary", "Accept-Encoding"))
            if choose_encoding(req.headers.get("accept-encoding"), ("gzip",)) == "gzip":
                if gz is None:
                    gz = await asyncio.to_thread(gzip_body, body)
                    self._listings[cache_key] = (rendered, body, gz)
                body = gz
                fields.append(("Content-Encoding", "gzip"))
        fields.append(("Content-Length", str(len(body))))
        head = responses.head_prefix(200, fields) + self._http_date() + self._tail(req)
        return Reply(200, head, b"" if req.method == "HEAD" else body, length=len(body))

    def _render_listing(self, path: str, target: Target) -> bytes:
        entries: list[pages.ListingEntry] = []
        with os.scandir(path) as it:
            for entry in it:
                if not self.config.dotfiles and entry.name.startswith("."):
                    continue
                if not is_servable_name(entry.name):
                    continue  # no request could fetch it: no dead link
                try:
                    st = entry.stat()
                except OSError:
                    continue  # a dangling link or a vanished file
                is_dir = stat.S_ISDIR(st.st_mode)
                if not (is_dir or stat.S_ISREG(st.st_mode)):
                    continue  # FIFOs, sockets and devices are never served
                # Links that leave the root are not served, so not listed.
                if entry.is_symlink() and not self.resolver.is_inside(entry.path, st):
                    continue
                entries.append(pages.ListingEntry(entry.name, is_dir, st.st_size, st.st_mtime))
        return pages.render_listing(target.segments, entries)

    # ------------------------------------------------------------------ errors and logs

    def _error_head(self, status: int, close: bool) -> bytes:
        body = pages.error_page(status, responses.REASONS.get(status, ""))
        fields = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))]
        return (
            responses.head_prefix(status, fields)
            + self._http_date()
            + responses.connection_tail(not close, False)
            + body
        )

    def _error(
        self,
        status: int,
        *,
        req: Request | None = None,
        close: bool = False,
        reason: str = "",
        extra: Iterable[tuple[str, str]] = (),
    ) -> Reply:
        cached = self._errors.get((status, reason))
        if cached is None:
            body = pages.error_page(status, reason or responses.REASONS.get(status, ""))
            fields = [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", self.config.generated_cache_control),
            ]
            # Reasons are the parser's and decoder's fixed texts: a small set.
            cached = self._errors[(status, reason)] = (responses.head_prefix(status, fields), body)
        prefix, body = cached
        if extra:
            prefix += responses.field_lines(extra)
        head = prefix + self._http_date() + self._tail(req, close)
        if req is not None and req.method == "HEAD":
            body = b""
        return Reply(status, head, body, length=len(body), close=close or req is None)

    def _log(self, conn: _Conn, req: Request | None, reply: Reply) -> None:
        if self._access_log is None:
            return
        when = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
        line = f"{req.method} {req.target} {req.version}" if req is not None else "-"
        # The target holds the raw bytes as latin-1 characters: back to those
        # bytes, and anything outside printable ASCII shown as \xHH (as nginx
        # does), so a log line can never break in two or garble UTF-8.
        line = line.encode("latin-1", "backslashreplace").decode("ascii", "backslashreplace")
        self._log_lines.append(f'{conn.peer} - - [{when}] "{line}" {reply.status} {reply.length}')
        if len(self._log_lines) == 1:
            asyncio.get_running_loop().call_soon(self._flush_log)

    def _flush_log(self) -> None:
        if self._log_lines and self._access_log is not None:
            self._access_log("\n".join(self._log_lines))
            self._log_lines.clear()


def stderr_log(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
