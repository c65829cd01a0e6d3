"""The sendfile tiers of a plain transport, mixed into :class:`~staticsrv.net.transport.Transport`.

Owns: how a file's bytes reach a socket, best tier first: the loop's native
``sock_sendfile``, then ``os.sendfile`` with writability waits, then
``pread`` + send, as aiohttp's ``web_fileresponse`` falls back.  The first
refusal of a tier switches it off for the whole server (``Features``).
May not touch: HTTP, files other than the descriptor it is handed.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from staticsrv.net.transport import Features

PREAD_SIZE = 256 * 1024  # the portable tier's reads: four of the transport's receives
# Without a view of the kernel's send queue (not Linux) a file goes out in
# pieces of this size and the deadline is renewed per piece; a client slower
# than SENDFILE_STEP / --send-timeout is dropped.
SENDFILE_STEP = 512 * 1024
# sendfile(2) refuses this pair of descriptors (a file system or platform
# without it): send the bytes with pread + send instead.
_SENDFILE_UNSUPPORTED = frozenset(
    {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSOCK, errno.EOVERFLOW}
)


class _Sending(Protocol):
    """What the tiers use of the transport they are mixed into."""

    sock: socket.socket
    sent: int
    _features: Features
    _loop: asyncio.AbstractEventLoop
    _progress: Callable[[], None]

    async def send(self, data: bytes | memoryview) -> None: ...
    async def _writable(self) -> None: ...
    async def _loop_sendfile(self, fd: int, offset: int, end: int) -> int: ...


class FileSending:
    __slots__ = ()

    async def sendfile(self: _Sending, fd: int, offset: int, count: int) -> bool:
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

    async def _loop_sendfile(self: _Sending, fd: int, offset: int, end: int) -> int:
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
                fobj.seek(offset)
                try:
                    sent = await self._loop.sock_sendfile(
                        self.sock, fobj, offset, want, fallback=False
                    )
                except BaseException as exc:
                    # The call raises without its count when the client goes
                    # away mid-file; the file position still says how far it
                    # got (documented for loop.sock_sendfile), so the access
                    # log shows the bytes really sent.
                    self.sent += max(fobj.tell() - offset, 0)
                    if isinstance(exc, NotImplementedError):
                        self._features.loop_sendfile = False  # uvloop: ask once per server
                        break
                    if isinstance(exc, asyncio.SendfileNotAvailableError):
                        # This piece's first sendfile(2) failed before a byte
                        # went out; asyncio says so for any error, a client
                        # already gone included.  The next tier meets the real
                        # errno and acts on it.
                        break
                    raise
                self.sent += sent
                if sent < want:
                    return -1
                offset += sent
                self._progress()
        return offset
