"""Folder listings: read a folder, render it with :mod:`staticsrv.pages`, keep it briefly.

Owns: which entries a listing shows (never dotfiles unless asked, never a
name no URL can reach, never a FIFO, device or a link out of the root), the
short-lived cache of rendered listings and their gzip.  May not touch:
sockets, the request head's bytes.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass

from staticsrv import pages
from staticsrv.cache import Bounded
from staticsrv.config import Config
from staticsrv.http11 import Request
from staticsrv.negotiate import choose_encoding
from staticsrv.reader import gzip_body
from staticsrv.resolver import Listing, Resolver
from staticsrv.responses import Response
from staticsrv.target import Target, is_servable_name

GZIP_MIN = 1024
# Entry sizes and times can change without the folder's mtime moving, so a
# rendered listing is reused for one second at most.
FRESH_SECONDS = 1.0


@dataclass(slots=True)
class _Rendered:
    at: float  # monotonic time of the rendering
    html: bytes
    gz: bytes | None = None  # its gzip, once a client asked for it


class Listings:
    def __init__(
        self,
        config: Config,
        resolver: Resolver,
        *,
        inject: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.config = config
        self.resolver = resolver
        self.inject = inject  # live reload: the script goes in before any gzip
        self._cache: Bounded[tuple[str, int, int], _Rendered] = Bounded(256)

    def _entries(self, path: str) -> list[pages.ListingEntry]:
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
        return entries

    def _render(self, path: str, target: Target) -> bytes:
        html = pages.render_listing(target.segments, self._entries(path))
        return html if self.inject is None else self.inject(html)

    async def respond(self, req: Request, target: Target, found: Listing) -> Response:
        st = found.st
        key = (found.path, st.st_ino, st.st_mtime_ns)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is None or now - cached.at >= FRESH_SECONDS:
            html = await asyncio.to_thread(self._render, found.path, target)
            cached = self._cache[key] = _Rendered(now, html)
        body = cached.html
        fields = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Cache-Control", self.config.generated_cache_control),
        ]
        if self.config.compress and len(body) >= GZIP_MIN:
            # A listing of a big folder is mostly repeated markup: gzip it
            # like any other text (RFC 9110 §12.5.5: Vary either way).
            fields.append(("Vary", "Accept-Encoding"))
            if choose_encoding(req.headers.get("accept-encoding"), ("gzip",)) == "gzip":
                if cached.gz is None:
                    cached.gz = await asyncio.to_thread(gzip_body, body)
                body = cached.gz
                fields.append(("Content-Encoding", "gzip"))
        fields.append(("Content-Length", str(len(body))))
        return Response(200, tuple(fields), b"" if req.method == "HEAD" else body)
