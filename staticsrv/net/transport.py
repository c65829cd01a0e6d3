"""One connection's byte pipe: recv, send, sendfile, close.

Owns: the non-blocking socket of one connection and every way bytes reach
it: direct ``send`` with a wait for writability when the kernel buffer is
full, and the sendfile tiers (:mod:`staticsrv.net.sendfile`, mixed in).
It counts the bytes that went out and reports progress so the
connection's send deadline means "no progress for N seconds".  May not
touch: HTTP (heads, parsing), files other than the descriptor it is
handed, deadlines themselves.

What the platform lacks is a :class:`Features` value, probed once and
passable by hand, so each fallback is tested on Linux by forcing it.
:class:`Pipe` is the interface the connection loop uses; the TLS transport
(:mod:`staticsrv.net.tls`) offers it too, on top of a plain one.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from staticsrv.net.sendfile import FileSending

RECV_SIZE = 65536


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
    add_reader: bool = True  # likewise: without it, reads go through loop.sock_recv


# Bytes the readiness callback may take in ahead of the connection before it
# stops reading (the kernel's buffer and TCP's window then hold the client).
READ_AHEAD = 4 * RECV_SIZE


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


class Transport(FileSending):
    """Plain TCP on one non-blocking socket.

    Reads are readiness-driven: the socket's reader is registered with the
    loop once, on the first read, and stays registered until close.  The
    callback takes what the kernel has into ``_inbox`` and wakes the
    connection's coroutine only if it is waiting.  ``loop.sock_recv``
    instead registers and unregisters the descriptor with epoll and makes a
    future on every call, which was most of the per-request cost.  Where
    the loop has no ``add_reader`` (the proactor loop), reads fall back to
    ``loop.sock_recv``.
    """

    __slots__ = (
        "_arrived",
        "_error",
        "_features",
        "_inbox",
        "_loop",
        "_progress",
        "_reading",
        "_waiter",
        "quick",
        "sent",
        "sock",
    )

    def __init__(
        self,
        sock: socket.socket,
        features: Features,
        progress: Callable[[], None] = lambda: None,
        loop: asyncio.AbstractEventLoop | None = None,  # default: the running loop
        arrived: Callable[[], None] = lambda: None,
    ) -> None:
        self.sock = sock
        # Called at every read that got bytes, at the moment of the read (the
        # handler's Passes.arrived: see staticsrv.site.memo).
        self._arrived = arrived
        self._loop = loop if loop is not None else asyncio.get_running_loop()
        self._features = features
        self._progress = progress  # called whenever bytes went out
        self.sent = 0  # bytes written so far (heads and bodies)
        self._inbox: list[bytes] = []  # read by the callback, not yet taken; b"" is EOF
        self._error: OSError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._reading = False  # the reader is registered with the loop
        # Armed while the connection is idle (no request in hand, nothing
        # buffered, nothing owed): the next bytes read, or the end of the
        # stream (b""), go to this callback instead of the inbox, once
        # (staticsrv.net.quick; it re-arms after answering).
        self.quick: Callable[[bytes], None] | None = None

    async def open(self) -> Opened:
        """Nothing to negotiate on plain TCP."""
        return Opened.READY

    async def recv(self) -> bytes:
        """What the client sent next; b"" at the end of the stream."""
        inbox = self._inbox
        if not inbox:
            if self._error is not None:
                raise self._error
            if not self._reading:
                # Not registered (a new connection, whose request has usually
                # arrived already, or one paused at READ_AHEAD): a direct read
                # costs one syscall, registering two epoll_ctl calls.
                direct = self.read_now()
                if direct is not None:
                    return direct
                if not self.start_reading():
                    data = await self._loop.sock_recv(self.sock, RECV_SIZE)
                    self._arrived()
                    return data
            waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
            if not inbox:
                if self._error is not None:
                    raise self._error
                return b""  # woken by close
        data = inbox[0] if len(inbox) == 1 else b"".join(inbox)
        inbox.clear()
        if not self._reading and data:
            self._start_reading()  # was paused by READ_AHEAD
        return data

    def take_back(self, data: bytes) -> None:
        """Put ``data`` (read by the quick path, not answered) ahead of the inbox."""
        if data:
            self._inbox.insert(0, data)
        elif self._error is None:
            self._inbox.append(b"")  # the end of the stream, after what came before

    def wake(self) -> None:
        """Wake a coroutine waiting in :meth:`recv` (it gets the inbox, or b"" if empty)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def read_now(self) -> bytes | None:
        """One direct read (a new connection's request has usually arrived); None if
        nothing waits.  Raises OSError if the connection is broken."""
        try:
            data = self.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return None
        if data:
            self._arrived()
        return data

    def start_reading(self) -> bool:
        """Register the reader (False where the loop has none: reads go through recv)."""
        return self._reading or (self._features.add_reader and self._start_reading())

    @property
    def pending(self) -> bool:
        """Bytes (or the end of the stream) were read and not yet taken by :meth:`recv`."""
        return bool(self._inbox)

    def _start_reading(self) -> bool:
        try:
            self._loop.add_reader(self.sock.fileno(), self._readable)
        except NotImplementedError:
            self._features.add_reader = False
            return False
        self._reading = True
        return True

    def _stop_reading(self) -> None:
        if self._reading:
            self._reading = False
            with contextlib.suppress(ValueError, OSError):  # the descriptor is gone
                self._loop.remove_reader(self.sock.fileno())

    def _readable(self) -> None:
        """The loop's callback: take what arrived, wake a waiting reader."""
        try:
            data = self.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._error = exc
            data = b""
        if data:
            self._arrived()
        else:
            self._stop_reading()  # EOF or error: nothing more will come
        inbox = self._inbox
        quick = self.quick
        if quick is not None and not inbox:
            self.quick = None
            quick(data)
            return
        if data:
            inbox.append(data)
            if len(inbox) * RECV_SIZE >= READ_AHEAD and sum(map(len, inbox)) >= READ_AHEAD:
                self._stop_reading()  # backpressure: the client waits in TCP
        elif self._error is None:
            inbox.append(b"")
        self.wake()

    async def send(self, data: bytes | memoryview) -> None:
        """All of ``data``: a direct send, waiting for writability only when the buffer is full."""
        if self._features.add_writer:
            try:
                n = self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                n = 0
            self.sent += n
            if n == len(data):
                return  # the common case: the kernel took it all at once
            data = memoryview(data)[n:]
        view = memoryview(data)
        while view:
            if not self._features.add_writer:
                # The proactor loop: no readiness callbacks, but its own sendall.
                await self._loop.sock_sendall(self.sock, view)
                self.sent += len(view)
                return
            await self._writable()
            try:
                n = self.sock.send(view)
            except (BlockingIOError, InterruptedError):
                continue
            self.sent += n
            view = view[n:]
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

    def shutdown_write(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        # Unregister before closing: the number may be reused at once by the
        # next accepted connection.
        self._stop_reading()
        with contextlib.suppress(OSError):
            self.sock.close()
