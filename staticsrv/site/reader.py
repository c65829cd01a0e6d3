"""File bodies: an async LRU cache of aiofile reads, and safe opening for sendfile.

The cache key is the file's *identity* (path, device, inode, size,
mtime_ns and ctime_ns), never the path alone: an edit changes the times or
size, a rename-into-place changes the inode, so the very next request
computes a new key and can never be answered with stale bytes.  Old versions
simply age out of the LRU.  A version stamped within ``RACY_NS`` of now is
never cached: a same-size rewrite within one timestamp tick keeps its key.

Only bodies up to ``Config.cache_file_max`` are cached; with at most
``Config.cache_entries`` entries the cache holds a bounded number of bytes.
Larger files go out through sendfile(2) from the page cache and never pass
through Python memory; when such a file is sent gzipped it is compressed as
it goes (:class:`GzipStream`), one bounded piece at a time, never held whole.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from async_lru import alru_cache


@dataclass(frozen=True, slots=True)
class FileKey:
    path: str
    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int = 0

    @classmethod
    def of(cls, path: str, st: os.stat_result) -> FileKey:
        return cls(path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def racy(self, now_ns: int) -> bool:
        """True if this version is too recent to be told apart by its stat alone.

        A stamp far in the future (an archive's, a skewed clock) is not racy:
        any write sets it back to now, which the key then tells apart.
        """
        return abs(now_ns - self.mtime_ns) < RACY_NS or abs(now_ns - self.ctime_ns) < RACY_NS

    def matches(self, st: os.stat_result) -> bool:
        """True if ``st`` describes this very version of the file.

        The whole identity, not just the inode: a file replaced by
        rename-into-place frees its inode, and the next file the editor
        writes may get that very number back with other bytes in it.
        """
        return (
            st.st_mtime_ns == self.mtime_ns
            and st.st_ctime_ns == self.ctime_ns
            and st.st_size == self.size
            and st.st_ino == self.ino
            and st.st_dev == self.dev
        )


# "Racy clean" (git's name): a file system stamps mtime/ctime with a coarse
# clock (a kernel tick on Linux, 1-2 s on FAT, exFAT, SMB and HFS+), so a
# same-size rewrite within one tick keeps (inode, size, mtime, ctime).  A
# version whose newest stamp is within RACY_NS of the moment it was looked at
# is therefore never trusted by its stat alone: its bytes are not cached or
# memoised, and its ETag comes from its content (Files.respond).  Generous:
# 2 s covers the coarsest common file systems.
RACY_NS = 2_000_000_000
Clock = Callable[[], int]  # "now" in ns since the epoch; injectable for tests


def wall_ns() -> int:
    return time.time_ns()


def content_etag(data: bytes) -> str:
    """The strong ETag of a racy version: from its bytes, not its stat (RFC 9110 §8.8.3)."""
    import hashlib  # only racy versions need it: not imported at start

    return f'"{len(data):x}-c{hashlib.blake2b(data, digest_size=12).hexdigest()}"'


class FileChanged(Exception):
    """The file on disk no longer matches the identity it was requested under."""


def open_regular(key: FileKey) -> int:
    """Open ``key.path`` for reading and check it is still the same regular file.

    O_NONBLOCK means a FIFO swapped in after the stat can never block the event
    loop in open(2); the fstat then refuses anything but the expected version.
    Raises FileChanged, or OSError (PermissionError -> 403 for the caller).
    """
    fd = os.open(key.path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or not key.matches(st):
            raise FileChanged(key.path)
    except BaseException:
        os.close(fd)
        raise
    return fd


# aiofile's AIOFile once its import has finished.  Importing aiofile costs
# tens of milliseconds (caio probes the kernel with io_setup/io_destroy and
# reads its version through importlib.metadata), so it is imported in a
# thread, started once the first read is done, never between launch and the
# first answer: a thread importing holds the GIL most of the time, and the
# loop would wait for it (up to a switch interval, 5 ms, at every turn)
# while it answers.  Reads until then go through the loop's thread pool.
class _Aiofile:
    cls: Any = None  # AIOFile, once imported
    started = False
    lock = threading.Lock()

    @classmethod
    def _load(cls) -> None:
        try:
            from aiofile import AIOFile
        except (OSError, ImportError) as exc:
            # Out of descriptors while importing (EMFILE, raised as an
            # ImportError when it is a shared library that cannot be
            # opened): reads keep going through the thread pool, and a
            # later read tries again.  Any other ImportError is real.
            if isinstance(exc, ImportError) and os.strerror(errno.EMFILE) not in str(exc):
                raise
            with cls.lock:
                cls.started = False
            return
        cls.cls = AIOFile

    @classmethod
    def start_import(cls) -> None:
        with cls.lock:
            if cls.started:
                return
            cls.started = True
        threading.Thread(target=cls._load, name="staticsrv-import", daemon=True).start()


async def _read_body(key: FileKey) -> bytes:
    # Read through the descriptor open_regular checked, never by path again:
    # a rename-into-place between the check and a second open would pair
    # another version's bytes with this key (and its ETag).
    # open_regular's open(2) is O_NONBLOCK; open() only wraps its descriptor.
    fobj = open(open_regular(key), "rb", buffering=0, closefd=True)  # noqa: SIM115, ASYNC230
    with fobj:
        aio = _Aiofile.cls
        if aio is not None:
            data: bytes = await aio.from_fp(fobj).read_bytes(key.size + 1, 0)
        else:
            data = await asyncio.to_thread(os.pread, fobj.fileno(), key.size + 1, 0)
            # At the loop's next turn, when this task waits again: on a plain
            # connection, by then its answer has been written.
            asyncio.get_running_loop().call_soon(_Aiofile.start_import)
        st = os.fstat(fobj.fileno())
    if len(data) != key.size or not key.matches(st):
        # Written to while we read (an in-place save): raised, not returned,
        # so async-lru does not cache a torn read.
        raise FileChanged(key.path)
    return data


def gzip_body(data: bytes) -> bytes:
    # mtime=0 keeps the output byte-identical across runs, so the ETag of the
    # gzip representation stays stable for the same file version.
    import gzip  # imported by the first compression, not at start

    return gzip.compress(data, compresslevel=6, mtime=0)


GZIP_LEVEL = 6  # zlib's default, and nginx's common setting: most of the gain, little CPU
GZIP_PIECE = 128 * 1024  # bytes read and compressed per step of a stream
_pool: concurrent.futures.ThreadPoolExecutor | None = None


def _gzip_pool() -> concurrent.futures.ThreadPoolExecutor:
    # Compression is CPU work that releases the GIL: a few threads of its own
    # use the cores without starving the default executor (listings, reads).
    global _pool  # noqa: PLW0603
    if _pool is None:
        _pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="staticsrv-gzip"
        )
    return _pool


def _close_fd(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


class GzipStream:
    """The gzip representation of a large file version, produced as it is sent.

    An async iterator of compressed pieces for a chunked body
    (:class:`~staticsrv.http.responses.StreamBody`).  It reads through the
    descriptor :func:`open_regular` checked, ``GZIP_PIECE`` bytes at a time,
    and compresses each piece in a worker thread, so the event loop never
    waits on zlib and one download holds one piece and one compressor
    (under half a MiB) whatever the file's size.  The output is the same for
    every request of a version (fixed pieces, fixed level, no timestamp), as
    the strong ETag of the gzip representation promises.  A file that
    changes while it is read raises :class:`FileChanged`: the connection
    then ends the body without its last chunk, so no client takes it for
    whole.  ``on_close`` runs once, when the stream is closed.
    """

    def __init__(self, fd: int, key: FileKey, on_close: Callable[[], None]) -> None:
        self._fd = fd
        self._key = key
        self._offset = 0
        import zlib  # the first large gzip stream loads it, not the start

        self._z = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: gzip framing
        self._done = False
        self._busy: concurrent.futures.Future[bytes] | None = None
        self._on_close: Callable[[], None] | None = on_close

    def __aiter__(self) -> GzipStream:
        return self

    async def __anext__(self) -> bytes:
        while not self._done:
            if self._on_close is None:
                raise StopAsyncIteration  # closed
            self._busy = _gzip_pool().submit(self._step)
            out = await asyncio.wrap_future(self._busy)
            if out:
                return out
        raise StopAsyncIteration

    def _step(self) -> bytes:
        """One piece in, whatever zlib emits out (in a worker thread)."""
        left = self._key.size - self._offset
        if left > 0:
            data = os.pread(self._fd, min(GZIP_PIECE, left), self._offset)
            if not data:
                raise FileChanged(self._key.path)  # truncated while we read
            self._offset += len(data)
            return self._z.compress(data)
        st = os.fstat(self._fd)
        if (st.st_size, st.st_mtime_ns) != (self._key.size, self._key.mtime_ns):
            raise FileChanged(self._key.path)  # written to while we read
        self._done = True
        return self._z.flush()

    async def aclose(self) -> None:
        """Release the descriptor (after a piece still being compressed, if any)."""
        self.close()

    def close(self) -> None:
        on_close, self._on_close = self._on_close, None
        if on_close is None:
            return
        fd, busy = self._fd, self._busy
        if busy is not None and not busy.done():
            # A worker thread still reads through fd: close it when it is
            # done, never under it (the number could be reused meanwhile).
            busy.add_done_callback(lambda _f: _close_fd(fd))
        else:
            _close_fd(fd)
        on_close()

    def __del__(self) -> None:
        # A safety net: a response dropped before it was sent still frees
        # its descriptor and its place among the streams.
        self.close()


class Reader:
    """Owns the body cache; one per server process."""

    def __init__(self, entries: int) -> None:
        self._read = alru_cache(maxsize=entries)(_read_body)
        self._gzip = alru_cache(maxsize=entries)(self._gzip_uncached)

    async def read(self, key: FileKey, *, racy: bool = False) -> bytes:
        """The whole body of a small file version, read once per version.

        A racy version (:data:`RACY_NS`) is read afresh every time: its key
        could name other bytes a moment later.
        """
        if racy:
            return await _read_body(key)
        return await self._read(key)

    async def _gzip_uncached(self, key: FileKey) -> bytes:
        data = await self._read(key)
        # Compression of a few hundred KiB takes milliseconds: off the loop.
        return await asyncio.to_thread(gzip_body, data)

    async def gzipped(self, key: FileKey, *, racy: bool = False) -> bytes:
        """The gzip representation of a cached body, compressed once per file version."""
        if racy:
            return await asyncio.to_thread(gzip_body, await _read_body(key))
        return await self._gzip(key)

    def forget(self, key: FileKey) -> None:
        """Drop a key whose file turned out to have changed under us."""
        self._read.cache_invalidate(key)
        self._gzip.cache_invalidate(key)

    def close(self) -> None:
        self._read.cache_clear()
        self._gzip.cache_clear()
