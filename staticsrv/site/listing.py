"""Folder listings: read a folder, render it with :mod:`staticsrv.http.pages`, reuse the page.

Owns: which entries a listing shows (never dotfiles unless asked, never a
name no URL can reach, never a FIFO, device or a link out of the root), the
cache of rendered listings and their gzip, and their validators.  A
rendered page is reused only while the facts it was rendered from still
hold: the folder is read again (``scandir`` and a ``stat`` per entry) on
every request, and the page is rendered again as soon as any name, type,
size or time differs, never after a delay (see :mod:`staticsrv.site.memo`).
May not touch: sockets, the request head's bytes.

A listing's ETag is a hash of the page itself, so it is strong (RFC 9110
§8.8.1) and changes exactly when what the page shows changes: a name, a
size, a time, or an option that hides or shows entries.  Its Last-Modified
is the newest of the folder's and its entries' times (a file edited in
place does not touch its folder's mtime), never later than now.  pip, uv
and browsers then revalidate a listing with a 304 instead of fetching it
again.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from staticsrv.config import Config
from staticsrv.http.conditional import Precondition, evaluate_preconditions
from staticsrv.http.http11 import Request
from staticsrv.http.httpdate import format_http_date
from staticsrv.http.negotiate import choose_encoding
from staticsrv.http.responses import Response
from staticsrv.http.target import Target, is_servable_name
from staticsrv.site.cache import Bounded
from staticsrv.site.errorpages import GZIP_MIN
from staticsrv.site.reader import gzip_body
from staticsrv.site.resolver import Listing, Resolver
from staticsrv.site.siterules import RULE_FILES

if TYPE_CHECKING:
    from staticsrv.http import pages


class _Rendered:
    """A rendered listing (a plain class: a dataclass costs start-up time)."""

    __slots__ = ("etag", "facts", "gz", "html", "last_modified")

    def __init__(
        self,
        facts: tuple[pages.ListingEntry, ...],  # what the page shows, as read
        html: bytes,
        etag: str,
        last_modified: int,  # the newest mtime of the folder and its entries
    ) -> None:
        self.facts = facts
        self.html = html
        self.etag = etag
        self.last_modified = last_modified
        self.gz: bytes | None = None  # its gzip, once a client asked for it


def _render(
    segments: tuple[str, ...],
    entries: list[pages.ListingEntry],
    mtime: float,
    inject: Callable[[bytes], bytes] | None = None,
    top: int = 0,
) -> _Rendered:
    import hashlib

    from staticsrv.http import pages  # imported by the first listing, not at start

    html = pages.render_listing(segments, entries, top)
    if inject is not None:
        html = inject(html)  # live reload: before the ETag and any gzip
    newest = max((e.mtime for e in entries), default=mtime)
    digest = hashlib.blake2b(html, digest_size=12).hexdigest()
    return _Rendered(tuple(entries), html, f'"l-{digest}"', int(max(newest, mtime)))


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

    async def _current(self, target: Target, found: Listing) -> _Rendered:
        """The page for what the folder holds now: reused only if every entry is as shown."""
        st = found.st
        key = (found.path, st.st_ino, st.st_mtime_ns)
        entries = await asyncio.to_thread(self._entries, found.path)
        cached = self._cache.get(key)
        if cached is None or cached.facts != tuple(entries):
            # The --base prefix's segments lead the shown path; no link goes above them.
            top = len(self.config.base)
            cached = await asyncio.to_thread(
                _render, target.segments, entries, st.st_mtime, self.inject, top
            )
            self._cache[key] = cached
        return cached

    def _entries(self, path: str) -> list[pages.ListingEntry]:
        from staticsrv.http.pages import ListingEntry

        entries: list[pages.ListingEntry] = []
        at_root = path == self.resolver.root
        with os.scandir(path) as it:
            for entry in it:
                if not self.config.dotfiles and entry.name.startswith("."):
                    continue
                if at_root and entry.name in RULE_FILES:
                    continue  # _redirects and _headers are read, never served
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
                entries.append(ListingEntry(entry.name, is_dir, st.st_size, st.st_mtime))
        return entries

    async def respond(self, req: Request, target: Target, found: Listing) -> Response:
        cached = await self._current(target, found)
        body = cached.html
        etag = cached.etag
        fields = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Cache-Control", self.config.generated_cache_control),
        ]
        coded = False
        if self.config.compress and len(body) >= GZIP_MIN:
            # A listing of a big folder is mostly repeated markup: gzip it
            # like any other text (RFC 9110 §12.5.5: Vary either way).
            fields.append(("Vary", "Accept-Encoding"))
            coded = choose_encoding(req.headers.get("accept-encoding"), ("gzip",)) == "gzip"
            if coded:
                # Each representation has its own strong tag (RFC 9110 §8.8.3.3).
                etag = etag[:-1] + '-gzip"'
        now = time.time()
        # RFC 9110 §8.8.2.1: never a Last-Modified later than the Date, and
        # none in the current second (§8.8.2.2, a weak date): see Files.meta.
        shown = min(cached.last_modified, int(now) - 1)
        validators = (("ETag", etag), ("Last-Modified", format_http_date(shown)))
        outcome = evaluate_preconditions(req.method, req.headers, etag, cached.last_modified, now)
        if outcome is Precondition.NOT_MODIFIED:
            return Response(304, (*fields[1:], *validators))
        if outcome is Precondition.PRECONDITION_FAILED:
            return Response(412, (("Content-Length", "0"),))
        if coded:
            if cached.gz is None:
                cached.gz = await asyncio.to_thread(gzip_body, body)
            body = cached.gz
            fields.append(("Content-Encoding", "gzip"))
        fields.append(("Content-Length", str(len(body))))
        fields.extend(validators)
        return Response(200, tuple(fields), b"" if req.method == "HEAD" else body)
