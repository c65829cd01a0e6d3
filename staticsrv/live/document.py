"""HTML file versions with the live-reload script in them, kept per version.

Owns: :class:`Injected` (the injected bytes, their own strong ETag and
their gzip once asked for) and :class:`Documents`, the bounded cache of
them.  Used by :mod:`staticsrv.fileresponse` only when ``--live`` is on.
May not touch: sockets, HTTP heads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from staticsrv.cache import Bounded
from staticsrv.conditional import make_etag
from staticsrv.config import Config
from staticsrv.reader import FileChanged, FileKey, gzip_body, open_regular


@dataclass(slots=True)
class Injected:
    """An HTML file version with the live-reload script in it (see ``--live``)."""

    key: FileKey
    data: bytes
    etag: str
    gz: bytes | None = None  # its gzip, once a client asked for it

    async def gzipped(self) -> bytes:
        if self.gz is None:
            self.gz = await asyncio.to_thread(gzip_body, self.data)
        return self.gz


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
    ) -> None:
        self.config = config
        self._read = read
        self.inject = inject
        # path -> the injected version last served there.  Weighed as twice
        # its bytes: room for the gzip added later.
        self._docs: Bounded[str, Injected] = Bounded(
            256, budget=config.body_budget, weigh=lambda d: 2 * len(d.data)
        )

    async def get(self, key: FileKey) -> Injected:
        doc = self._docs.get(key.path)
        if doc is not None and doc.key == key:
            return doc
        if key.size <= self.config.cache_file_max:
            raw = await self._read(key)
        else:
            raw = await asyncio.to_thread(_read_whole, key)
        # The file's identity plus "live": a tag that neither the file itself
        # nor any of its sidecars can carry.
        etag = make_etag(key.ino, key.size, key.mtime_ns, "live")
        doc = self._docs[key.path] = Injected(key, self.inject(raw), etag)
        return doc
