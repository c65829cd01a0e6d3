"""HTML file versions with the live-reload script in them, kept per version.

Owns: :class:`Injected` (the injected bytes, their own strong ETag and
their gzip once asked for), :class:`Spliced` (where the script goes in a
page too large to hold) and :class:`Documents`, the bounded cache of
them.  Used by :mod:`staticsrv.site.fileresponse` only when ``--live`` is on.
May not touch: sockets, HTTP heads.

A page up to :data:`LIVE_PAGE_MAX` is read and injected whole, once per
version.  A larger one is never held: it is scanned once per version, a
piece at a time (:func:`staticsrv.site.scan.find_point`), and each answer
is the file sent from disk with the tag spliced in at that offset.  Both
give the same bytes for the same file, so both carry the same strong ETag.
Concurrent requests for a version not known yet share one read or scan.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from staticsrv.config import Config
from staticsrv.http.conditional import make_etag
from staticsrv.site.cache import Bounded
from staticsrv.site.reader import FileChanged, FileKey, content_etag, gzip_body, open_regular
from staticsrv.site.scan import find_point, spliced

# Pages above this are streamed from disk with the script spliced in: one
# GET of a 200 MB page, read and injected whole, peaked at 607 MiB of RSS.
LIVE_PAGE_MAX = 4 * 1024 * 1024
SCAN_PIECE = 64 * 1024  # bytes read at once while looking for the injection point
T = TypeVar("T")


@dataclass(slots=True)
class Injected:
    """An HTML file version with the live-reload script in it (see ``--live``)."""

    key: FileKey
    data: bytes
    etag: str
    gz: bytes | None = None  # its gzip, once a client asked for it

    @property
    def length(self) -> int:
        return len(self.data)

    async def gzipped(self) -> bytes:
        if self.gz is None:
            self.gz = await asyncio.to_thread(gzip_body, self.data)
        return self.gz


@dataclass(frozen=True, slots=True)
class Spliced:
    """A page above :data:`LIVE_PAGE_MAX`: the file with ``tag`` inserted at ``at``."""

    key: FileKey
    at: int
    tag: bytes
    etag: str

    @property
    def length(self) -> int:
        """The injected representation's length: known before a byte is sent."""
        return self.key.size + len(self.tag)

    def pieces(self, part: bytes | tuple[int, int]) -> Iterable[bytes | tuple[int, int]]:
        """A part of the injected page (bytes, or an offset and count in it) as
        parts of the file and of the tag."""
        if isinstance(part, bytes):
            return (part,)  # a multipart boundary
        return spliced(self.at, part[0], part[1], self.tag)


def live_etag(key: FileKey) -> str:
    # The file's identity plus "live": a tag that neither the file itself
    # nor any of its sidecars can carry.
    return make_etag(key.ino, key.size, key.mtime_ns, "live")


def _scan(key: FileKey) -> tuple[int, bytes]:
    """Where the script goes in a large page version (in a thread, one piece held)."""
    fd = open_regular(key)
    try:
        try:
            found = find_point(lambda at, count: os.pread(fd, count, at), key.size, SCAN_PIECE)
        except EOFError:
            raise FileChanged(key.path) from None
        if not key.matches(os.fstat(fd)):
            raise FileChanged(key.path)  # written to while we read: the offset is void
        return found
    finally:
        os.close(fd)


def _read_whole(key: FileKey) -> bytes:
    """A large file version's bytes (a big HTML page to inject into), in a thread."""
    with open(open_regular(key), "rb", closefd=True) as f:
        data = f.read(key.size + 1)
    if len(data) != key.size:
        raise FileChanged(key.path)
    return data


class Documents:
    def __init__(
        self,
        config: Config,
        read: Callable[[FileKey], Awaitable[bytes]],
        inject: Callable[[bytes], bytes],
        read_racy: Callable[[FileKey], Awaitable[bytes]] | None = None,
    ) -> None:
        self.config = config
        self._read = read
        self._read_racy = read_racy if read_racy is not None else read
        self.inject = inject
        # path -> the injected version last served there.  Weighed as twice
        # its bytes: room for the gzip added later.
        self._docs: Bounded[str, Injected] = Bounded(
            256, budget=config.body_budget, weigh=lambda d: 2 * len(d.data)
        )
        # path -> where the script goes in the large version last served there.
        self._points: Bounded[str, Spliced] = Bounded(256)
        # Versions being read or scanned now: later requests wait for the same one.
        self._pending: dict[FileKey, asyncio.Future[Any]] = {}

    async def get(self, key: FileKey, *, racy: bool = False) -> Injected | Spliced:
        """The page version with the script: whole bytes, or where to splice the tag.

        A racy version (written within the file system's timestamp
        granularity, see :data:`~staticsrv.site.reader.RACY_NS`) may share
        its key with the next save: it is made afresh for every request,
        never kept, and a page in memory is tagged by its bytes.
        """
        if racy and key.size > LIVE_PAGE_MAX:
            return await self._splice(key, keep=False)
        if key.size > LIVE_PAGE_MAX:
            point = self._points.get(key.path)
            if point is not None and point.key == key:
                return point
            return await self._once(key, self._splice)
        return await self.whole(key, racy=racy)

    async def whole(self, key: FileKey, *, racy: bool = False) -> Injected:
        """The page version with the script, in memory whatever its size."""
        if racy:
            raw = await (
                self._read_racy(key)
                if key.size <= self.config.cache_file_max
                else asyncio.to_thread(_read_whole, key)
            )
            data = self.inject(raw)
            return Injected(key, data, content_etag(data))
        doc = self._docs.get(key.path)
        if doc is not None and doc.key == key:
            return doc
        return await self._once(key, self._load)

    async def _once(self, key: FileKey, make: Callable[[FileKey], Awaitable[T]]) -> T:
        """``make(key)``, run once for all the requests that want it meanwhile."""
        fut = self._pending.get(key)
        if fut is None:
            fut = self._pending[key] = asyncio.ensure_future(make(key))
            fut.add_done_callback(lambda f: self._done(key, f))
        # Shielded: one waiter's cancelled request must not cancel the others'.
        return await asyncio.shield(fut)

    def _done(self, key: FileKey, fut: asyncio.Future[Any]) -> None:
        self._pending.pop(key, None)
        if not fut.cancelled():
            fut.exception()  # retrieved: every waiter may have gone

    async def _splice(self, key: FileKey, *, keep: bool = True) -> Spliced:
        at, tag = await asyncio.to_thread(_scan, key)
        point = Spliced(key, at, tag, live_etag(key))
        if keep:
            self._points[key.path] = point
        return point

    async def _load(self, key: FileKey) -> Injected:
        if key.size <= self.config.cache_file_max:
            raw = await self._read(key)
        else:
            raw = await asyncio.to_thread(_read_whole, key)
        doc = self._docs[key.path] = Injected(key, self.inject(raw), live_etag(key))
        return doc
