"""One connection's byte pipe: recv, send, sendfile, close.

Owns: the non-blocking socket of one connection and every way bytes reach
it: direct ``send`` with a wait for writability when the kernel buffer is
full, and the sendfile tiers (the loop's native ``sock_sendfile``, then
``os.sendfile`` with writability waits, then ``pread`` + send, as aiohttp's
``web_fileresponse`` falls back).  It counts the bytes that went out and
reports progress so the connection's send deadline means "no progress for
N seconds".  May not touch: HTTP (heads, parsing), files other than the
descriptor it is handed, deadlines themselves.

What the platform lacks is a :class:`Features` value, probed once and
passable by hand, so each fallback is tested on Linux by forcing it.
:class:`Pipe` is the interface the connection loop uses; the TLS transport
(:mod:`staticsrv.tls`) offers it too, on top of a plain one.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

RECV_SIZE = 65536
PREAD_SIZE = RECV_SIZE * 4
# Without a view of the kernel's send queue (not Linux) a file goes out in
# pieces of this size and the deadline is renewed per piece; a client slower
# than SENDFILE_STEP / --send-timeout is dropped.
SENDFILE_STEP = 512 * 1024
# sendfile(2) refuses this pair of descriptors (a file system or platform
# without it): send the bytes with pread + send instead.
_SENDFILE_UNSUPPORTED = frozenset(
    {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSOCK, errno.EOVERFLOW}
)


def _probe_outq() -> int | None:
    if sys.platform != "linux":
        return None
    import termios

    value: int | None = getattr(termios, "TIOCOUTQ", None)
    return value


_TIOCOUTQ = _probe_outq()


@dataclass(slots=True)
class Features:
    """What this platform and loop offer; every False has a working fallback.

    Mutable on purpose: the first refusal (uvloop has no native
    ``sock_sendfile``, a file system refuses sendfile(2), the proactor loop
    has no ``add_writer``) switches a tier off for the whole server instead
    of failing once per file.
    """

    loop_sendfile: bool = True  # loop.sock_sendfile natively (asyncio on Unix)
    os_sendfile: bool = hasattr(os, "sendfile")
    send_queue: bool = _TIOCOUTQ is not None  # SIOCOUTQ: see Transport.unacked
    add_writer: bool = True  # selector loops; Windows' proactor loop has none


class Opened(enum.Enum):
    """How opening a connection's transport went (a TLS handshake, say)."""

    READY = "ready"  # bytes may flow
    FAILED = "failed"  # the handshake failed or the client left: close, nothing to say
    PLAIN = "plain"  # plain HTTP on a TLS port: recv() gives the plain bytes


class Pipe(Protocol):
    """What the connection loop needs from a transport: :class:`Transport` or TLS."""

    sent: int

    async def open(self) -> Opened: ...
    async def recv(self) -> bytes: ...
    async def send(self, data: bytes | memoryview) -> None: ...
    def send_nowait(self, data: bytes) -> None: ...
    def unacked(self) -> int: ...
    async def sendfile(self, fd: int, offset: int, count: int) -> bool: ...
    def shutdown_write(self) -> None: ...
    def close(self) -> None: ...


class Transport:
    """Plain TCP on one non-blocking socket."""

    __slots__ = ("_features", "_loop", "_progress", "sent", "sock")

    def __init__(
        self,
        sock: socket.socket,
        features: Features,
        progress: Callable[[], None] = lambda: None,
    ) -> None:
        self.sock = sock
        self._loop = asyncio.get_running_loop()
        self._features = features
        self._progress = progress  # called whenever bytes went out
        self.sent = 0  # bytes written so far (heads and bodies)

    async def open(self) -> Opened:
        """Nothing to negotiate on plain TCP."""
        return Opened.READY

    async def recv(self) -> bytes:
        """Up to RECV_SIZE bytes; b"" at the end of the stream."""
        return await self._loop.sock_recv(self.sock, RECV_SIZE)

    async def send(self, data: bytes | memoryview) -> None:
        """All of ``data``: a direct send, waiting for writability only when the buffer is full."""
        view = memoryview(data)
        while view:
            if not self._features.add_writer:
                # The proactor loop: no readiness callbacks, but its own sendall.
                await self._loop.sock_sendall(self.sock, view)
                self.sent += len(view)
                return
            try:
                n = self.sock.send(view)
            except BlockingIOError:
                await self._writable()
                continue
            except InterruptedError:
                continue
            self.sent += n
            view = view[n:]
            if view:
                self._progress()

    def send_nowait(self, data: bytes) -> None:
        """Best effort, never blocking (a last word before closing)."""
        with contextlib.suppress(OSError):
            self.sent += self.sock.send(data)

    async def _writable(self) -> None:
        loop = self._loop
        fut: asyncio.Future[None] = loop.create_future()
        fd = self.sock.fileno()

        def ready() -> None:
            if not fut.done():
                fut.set_result(None)

        try:
            loop.add_writer(fd, ready)
        except NotImplementedError:
            self._features.add_writer = False
            return
        try:
            await fut
        finally:
            loop.remove_writer(fd)

    def unacked(self) -> int:
        """Bytes written that the peer has not acknowledged yet, or -1 when unknown.

        The kernel's send buffer hides a slow reader: a send may wait seconds
        for writability while the client steadily drains what is queued.  This
        queue (Linux SIOCOUTQ) moves whenever the client takes bytes or we add
        more after it did, and stands still only while the client reads nothing.
        """
        if _TIOCOUTQ is None or not self._features.send_queue:
            return -1
        import fcntl

        try:
            out = fcntl.ioctl(self.sock.fileno(), _TIOCOUTQ, b"\0\0\0\0")
        except OSError:
            return -1
        return int.from_bytes(out, sys.byteorder, signed=True)

    async def sendfile(self, fd: int, offset: int, count: int) -> bool:
        """Send ``count`` bytes of ``fd`` from ``offset``, zero-copy where possible.

        Returns False if the file ended before ``count`` bytes (truncated
        under us: the framing is broken and the connection must close).
        """
        end = offset + count
        features = self._features
        if features.loop_sendfile and features.add_writer:
            offset = await self._loop_sendfile(fd, offset, end)
            if offset < 0:
                return False
        while offset < end and features.os_sendfile and features.add_writer:
            try:
                sent = os.sendfile(self.sock.fileno(), fd, offset, end - offset)
            except BlockingIOError:
                await self._writable()
                continue
            except OSError as exc:
                if exc.errno not in _SENDFILE_UNSUPPORTED:
                    raise
                features.os_sendfile = False  # ask once per server, not per file
                break
            if sent == 0:
                return False
            offset += sent
            self.sent += sent
            self._progress()
        # The portable tier: read and send in pieces.
        while offset < end:
            data = os.pread(fd, min(end - offset, PREAD_SIZE), offset)
            if not data:
                return False
            await self.send(data)
            self._progress()
            offset += len(data)
        return True

    async def _loop_sendfile(self, fd: int, offset: int, end: int) -> int:
        """The loop's own sendfile; the new offset, or -1 at an early end of file.

        ``loop.sock_sendfile`` exists natively on asyncio's Unix loops
        (sendfile(2) until EAGAIN, then a wait for writability); uvloop has
        none and says so once.  Where the send queue cannot be seen, the file
        goes in pieces and progress is reported after each.
        """
        step = end - offset if self._features.send_queue else SENDFILE_STEP
        # Wraps the descriptor the handler opened: no file system call here.
        with open(fd, "rb", buffering=0, closefd=False) as fobj:  # noqa: ASYNC230
            while offset < end:
                want = min(step, end - offset)
                try:
                    sent = await self._loop.sock_sendfile(
                        self.sock, fobj, offset, want, fallback=False
                    )
                except NotImplementedError:
                    self._features.loop_sendfile = False  # uvloop: ask once per server
                    break
                except asyncio.SendfileNotAvailableError:
                    # This piece's first sendfile(2) failed before a byte
                    # went out; asyncio says so for any error, a client
                    # already gone included.  The next tier meets the real
                    # errno and acts on it.
                    break
                self.sent += sent
                if sent < want:
                    return -1
                offset += sent
                self._progress()
        return offset

    def shutdown_write(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
