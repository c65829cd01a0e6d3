"""The answer for one regular file: validators, variants, ranges, bodies.

Owns: what the handler answers for a :class:`~staticsrv.site.resolver.File`
(200, 206, 304, 412, 416) and for the site's own 404 page, built as
:class:`~staticsrv.http.responses.Response` values.  The decision itself is the
pure :func:`~staticsrv.site.fileplan.plan_file`; this module gathers its facts
(the file's identity, which compressed variants exist) and fetches bodies:
small ones through the LRU reader, large ones as an open descriptor for
sendfile, large ones gzipped on the fly as a :class:`~staticsrv.site.reader.GzipStream`
(chunked).  May not touch: sockets, the request head's bytes, the access log.

Memory for on-the-fly gzip is bounded twice: a small file's gzip is cached
with its body (within the reader's budget), and at most
``MAX_GZIP_STREAMS`` large files are compressed at once, each holding one
piece and one compressor; a request beyond that gets the identity
representation through sendfile (a server may always choose identity,
RFC 9110 §12.5.3), with its own ETag.

With ``--live`` an HTML file is answered as a representation of its own:
the file's bytes with the live-reload script injected, under their own
ETag and length (:meth:`Files._respond_injected`).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from staticsrv.config import Config
from staticsrv.http.conditional import make_etag
from staticsrv.http.http11 import Request
from staticsrv.http.httpdate import format_http_date
from staticsrv.http.negotiate import is_compressible
from staticsrv.http.responses import FileBody, Response, StreamBody
from staticsrv.site import reader as _reader
from staticsrv.site.cache import Bounded
from staticsrv.site.errorpages import GZIP_MIN, ErrorPages
from staticsrv.site.fileplan import Plan, Variant, plan_file
from staticsrv.site.mime import guess_type
from staticsrv.site.reader import FileChanged, FileKey, GzipStream, Reader, gzip_body, open_regular
from staticsrv.site.resolver import File, Resolver

if TYPE_CHECKING:
    from staticsrv.site.document import Documents, Injected, Spliced

MAX_GZIP_STREAMS = 32  # large files compressed at once (under 0.5 MiB each, 16 MiB in all)
# Precompressed sidecars, in the server's order of preference (RFC 9110 §8.4.1).
SIDECARS: tuple[tuple[str, str], ...] = (("br", ".br"), ("zstd", ".zst"), ("gzip", ".gz"))
Fields = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class FileMeta:
    """Everything about one version of a file that does not depend on the request."""

    key: FileKey
    content_type: str
    compressible: bool
    etag: str
    last_modified: int
    common: Fields  # validators and caching fields shared by 200/206/304
    # Too recent to be told apart by its stat (see reader.RACY_NS): no cached
    # bytes, no memo, validators from content (or none): see Files._racy.
    racy: bool = False
    body: bytes | None = None  # a racy version's bytes, as read for its ETag


class Files(ErrorPages):
    """File answers for one server; holds the per-version metadata.

    ``inject`` (live reload only) rewrites HTML bodies; without it the
    answers are exactly the file's bytes and no HTML check is made.
    """

    def __init__(
        self,
        config: Config,
        resolver: Resolver,
        reader: Reader,
        *,
        inject: Callable[[bytes], bytes] | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config
        self.resolver = resolver
        self.reader = reader
        self.inject = inject
        self.clock = clock  # "now" for the racy check; a test stubs a coarse one
        self.docs: Documents | None = None
        if inject is not None:
            from staticsrv.site.document import Documents

            self.docs = Documents(
                config, self.read, inject, functools.partial(self.read, racy=True)
            )
        # path -> the meta of the version last seen there; reused while a
        # fresh stat matches its key (see FileKey.matches).
        self._metas: Bounded[str, FileMeta] = Bounded(8192)
        self.streams = 0  # GzipStreams open now (see MAX_GZIP_STREAMS)

    def meta(self, f: File) -> FileMeta:
        st = f.st
        meta = self._metas.get(f.path)
        if meta is not None and meta.key.matches(st) and not meta.racy:
            return meta
        key = FileKey.of(f.path, st)
        content_type = guess_type(f.path)
        compressible = is_compressible(content_type)
        etag = make_etag(st.st_ino, st.st_size, st.st_mtime_ns)
        last_modified = int(st.st_mtime)
        # RFC 9110 §8.8.2.1: no date after the Date (a skewed clock, an
        # archive's future timestamps), and none in the current second
        # (§8.8.2.2, a weak date).  A version that recent is racy anyway and
        # goes out without Last-Modified (below); the clamp is for the
        # future.  Preconditions keep comparing the real mtime, so a clamped
        # date never earns a 304: a 200, and the ETag a 304.
        settled = int(time.time()) - 1
        common: list[tuple[str, str]] = [
            ("ETag", etag),
            ("Last-Modified", format_http_date(min(last_modified, settled))),
            ("Cache-Control", self.config.cache_control),
        ]
        if compressible:
            # RFC 9110 §12.5.5: the answer varies with Accept-Encoding whenever
            # an encoded variant could be chosen, even when this one is identity.
            common.append(("Vary", "Accept-Encoding"))
        meta = FileMeta(key, content_type, compressible, etag, last_modified, tuple(common))
        if key.racy(self.clock()):  # no Last-Modified: a same-tick rewrite would keep it
            meta.racy, meta.common = True, (("ETag", etag), *common[2:])
        self._metas[f.path] = meta
        return meta

    def forget(self, path: str) -> None:
        self._metas.pop(path)

    def _variants(self, meta: FileMeta, req: Request) -> list[Variant]:
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
                if FileKey.of(side.path, side.st).racy(self.clock()):
                    continue  # just written: not trusted by its stat yet
                tag = make_etag(side.st.st_ino, side.st.st_size, side.st.st_mtime_ns, coding)
                found.append(Variant(coding, tag, side.path, side.st.st_size))
                coded.add(coding)
        size = meta.key.size
        if (
            self.config.compress
            and "gzip" not in coded
            and size >= GZIP_MIN
            and (size <= self.config.cache_file_max or self.streams < MAX_GZIP_STREAMS)
        ):
            found.append(Variant("gzip", meta.etag[:-1] + '-gzip"'))
        return found

    def _stream_closed(self) -> None:
        self.streams -= 1

    async def read(self, key: FileKey, *, racy: bool = False) -> bytes:
        """The whole body of a small file version, through the LRU reader (unless racy)."""
        try:
            return await self.reader.read(key, racy=racy)
        except FileChanged:
            self.reader.forget(key)
            raise FileChanged(key.path) from None

    async def respond(self, req: Request, f: File) -> Response:
        """The answer to a GET or HEAD of the regular file ``f``."""
        meta = self.meta(f)
        if self.docs is not None and meta.content_type.startswith("text/html"):
            return await self._respond_injected(req, meta, self.docs)
        last_modified = meta.last_modified
        now = time.time()
        if meta.racy:
            meta = await self._racy(meta)
            last_modified = int(now) + 1  # no If-Modified-Since can earn a 304
        key = meta.key
        identity = Variant(None, meta.etag, None, key.size)
        plan = plan_file(
            req.method, req.headers, identity, self._variants(meta, req), last_modified, now
        )
        return await self._planned(meta, plan, req.method == "HEAD")

    async def _racy(self, meta: FileMeta) -> FileMeta:
        """A racy version's ETag: the hash of the bytes sent (read afresh); none if large."""
        key = meta.key
        if key.size > self.config.cache_file_max:
            # Never sent, never matched: only If-None-Match "*" (any version) can.
            return replace(meta, etag=f'"r-{id(meta):x}-{time.monotonic_ns():x}"')
        data = await self.read(key, racy=True)
        etag = await asyncio.to_thread(_reader.content_etag, data)
        return replace(meta, etag=etag, common=(("ETag", etag), *meta.common[1:]), body=data)

    async def _respond_injected(self, req: Request, meta: FileMeta, docs: Documents) -> Response:
        """An HTML file with the live-reload script: a representation of its own.

        The injected bytes are not the file's bytes, so they get their own
        strong ETag (RFC 9110 §8.8.3), their own length, and preconditions
        and ranges are evaluated on them.  Only an on-the-fly gzip of the
        injected bytes is offered: a precompressed sidecar holds the page
        without the script.
        """
        from staticsrv.site.document import Injected

        doc = await docs.get(meta.key, racy=meta.racy)
        encoded: list[Variant] = []
        # Above the cap: identity only (gzip would mean compressing the page
        # on every request), sent from disk; see Files._planned.
        size = doc.length
        identity = Variant(None, doc.etag, None, size)
        compress = self.config.compress and isinstance(doc, Injected)
        if compress and size >= GZIP_MIN and "accept-encoding" in req.headers:
            encoded.append(Variant("gzip", doc.etag[:-1] + '-gzip"'))
        plan = plan_file(
            req.method, req.headers, identity, encoded, meta.last_modified, time.time()
        )
        return await self._planned(meta, plan, req.method == "HEAD", doc)

    async def _planned(
        self, meta: FileMeta, plan: Plan, head_only: bool, doc: Injected | Spliced | None = None
    ) -> Response:
        variant = plan.variant
        key = meta.key
        common, body = meta.common, meta.body
        injected: Injected | None = None
        spliced: Spliced | None = None
        if doc is not None:
            from staticsrv.site.document import Spliced

            if isinstance(doc, Spliced):
                spliced = doc
            else:
                injected = doc
        if meta.racy and body is None and doc is None:
            common = common[1:]  # a large racy version: no validator (see _racy)
        elif variant.coding is not None or doc is not None:
            common = (("ETag", variant.etag), *common[1:])
        enc: Fields = () if variant.coding is None else (("Content-Encoding", variant.coding),)

        if plan.status == 304:
            # RFC 9110 §15.4.5: a 304 carries the validators and caching fields
            # a 200 would have, and no body.
            return Response(304, common)
        if plan.status == 412:
            return Response(412, (("Content-Length", "0"),))
        if plan.status == 416:
            # RFC 9110 §15.5.17: say how long the representation is.
            # The selected representation's length: the file's or the injected bytes'.
            rep_size = key.size if doc is None else doc.length
            from staticsrv.http.ranges import unsatisfied_content_range  # not at start

            unsatisfied = unsatisfied_content_range(rep_size)
            return Response(416, (("Content-Range", unsatisfied), ("Content-Length", "0")))

        # The body source: the injected bytes (or their gzip), a sidecar
        # file, an on-the-fly gzip, or the file itself.
        body_key = key
        data: bytes | None = None
        if injected is not None:
            data = await injected.gzipped() if variant.coding == "gzip" else injected.data
        elif variant.sidecar is not None:
            side = self.resolver.regular_file(variant.sidecar)
            if not isinstance(side, File):
                raise FileChanged(key.path)
            body_key = FileKey.of(side.path, side.st)
        elif variant.coding == "gzip" and key.size > self.config.cache_file_max:
            return self._streamed(meta, plan, (*enc, *common), head_only)
        elif variant.coding == "gzip" and body is not None:
            data = await asyncio.to_thread(gzip_body, body)  # racy: never the cached gzip
        elif variant.coding == "gzip":
            data = await self.reader.gzipped(key)
        elif body is not None:
            data = body
        size = len(data) if data is not None else body_key.size
        small = data is not None or size <= self.config.cache_file_max
        if spliced is not None:
            size, small = spliced.length, False
        ctype = ("Content-Type", meta.content_type)
        ranges = ("Accept-Ranges", "bytes")

        parts: list[bytes | tuple[int, int]]
        if plan.status == 206 and len(plan.ranges) == 1:
            from staticsrv.http.ranges import content_range  # by the first Range, not at start

            r = plan.ranges[0]
            length = ("Content-Length", str(r.length))
            fields: Fields = (ctype, length, ("Content-Range", content_range(r, size)), ranges)
            parts = [(r.start, r.length)]
            total = r.length
        elif plan.status == 206:
            from staticsrv.http.ranges import multipart_layout, new_boundary

            layout = multipart_layout(list(plan.ranges), size, meta.content_type, new_boundary())
            fields = (
                ("Content-Type", layout.content_type),
                ("Content-Length", str(layout.total_length)),
                ranges,
            )
            parts = []
            for part_head, r in layout.parts():
                parts += (part_head, (r.start, r.length))
            parts.append(layout.closing)
            total = layout.total_length
        else:
            fields = (ctype, ("Content-Length", str(size)), ranges)
            parts = [(0, size)]
            total = size
        resp = Response(plan.status, (*fields, *enc, *common))
        if head_only:
            return resp
        if small:
            whole = data if data is not None else await self.read(body_key, racy=meta.racy)
            if plan.status == 200:
                resp.body = whole
            else:
                resp.body = b"".join(
                    p if isinstance(p, bytes) else whole[p[0] : p[0] + p[1]] for p in parts
                )
            return resp
        if spliced is not None:
            # Offsets of the injected page mapped onto the file and the tag;
            # the last byte waits for a check that the file did not change.
            mapped = [q for p in parts for q in spliced.pieces(p)]
            check = (key.size, key.mtime_ns)
            resp.body = FileBody(open_regular(key), tuple(mapped), total, check)
            return resp
        resp.body = FileBody(open_regular(body_key), tuple(parts), total)
        return resp

    def _streamed(self, meta: FileMeta, plan: Plan, fields: Fields, head_only: bool) -> Response:
        """A 200 of a large file gzipped as it is sent: chunked, no Content-Length.

        Only a 200 gets here: a Range request is always answered from the
        identity representation (see :func:`~staticsrv.site.fileplan.plan_file`).
        """
        assert plan.status == 200
        ctype = ("Content-Type", meta.content_type)
        resp = Response(200, (ctype, ("Accept-Ranges", "bytes"), *fields))
        if head_only:
            return resp  # RFC 9110 §9.3.2: the GET's fields, here without a length
        # Opened now, before the head exists: a file replaced since the stat
        # is looked up again rather than announced with the wrong ETag.
        fd = open_regular(meta.key)
        self.streams += 1
        resp.body = StreamBody(GzipStream(fd, meta.key, self._stream_closed), finite=True)
        return resp
