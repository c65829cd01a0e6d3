"""The answer for one regular file: validators, variants, ranges, bodies.

Owns: what the handler answers for a :class:`~staticsrv.resolver.File`
(200, 206, 304, 412, 416) and for the site's own 404 page, built as
:class:`~staticsrv.responses.Response` values.  The decision itself is the
pure :func:`~staticsrv.fileplan.plan_file`; this module gathers its facts
(the file's identity, which compressed variants exist) and fetches bodies:
small ones through the LRU reader, large ones as an open descriptor for
sendfile.  May not touch: sockets, the request head's bytes, the access log.

With ``--live`` an HTML file is answered as a representation of its own:
the file's bytes with the live-reload script injected, under their own
ETag and length (:meth:`Files._respond_injected`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from staticsrv.cache import Bounded
from staticsrv.conditional import make_etag
from staticsrv.config import Config
from staticsrv.fileplan import Plan, Variant, plan_file
from staticsrv.http11 import Request
from staticsrv.httpdate import format_http_date
from staticsrv.mime import guess_type
from staticsrv.negotiate import is_compressible
from staticsrv.ranges import content_range, multipart_layout, new_boundary
from staticsrv.reader import FileChanged, FileKey, Reader, gzip_body, open_regular
from staticsrv.resolver import File, Resolver
from staticsrv.responses import FileBody, Response

GZIP_MIN = 1024  # below this gzip saves too little to be worth a Vary'd variant
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


@dataclass(slots=True)
class Injected:
    """An HTML file version with the live-reload script in it (see ``--live``)."""

    key: FileKey
    data: bytes
    etag: str
    gz: bytes | None = None  # its gzip, once a client asked for it


def _read_whole(key: FileKey) -> bytes:
    """A large file version's bytes (a big HTML page to inject into), in a thread."""
    with open(open_regular(key), "rb", closefd=True) as f:
        data = f.read(key.size + 1)
    if len(data) != key.size:
        raise FileChanged(key.path)
    return data


class Files:
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
    ) -> None:
        self.config = config
        self.resolver = resolver
        self.reader = reader
        self.inject = inject
        # path -> the injected version last served there (live reload only).
        # Weighed as twice its bytes: room for the gzip added later.
        self._docs: Bounded[str, Injected] = Bounded(
            256, budget=config.body_budget, weigh=lambda d: 2 * len(d.data)
        )
        # path -> the meta of the version last seen there; reused while a
        # fresh stat matches its key (see FileKey.matches).
        self._metas: Bounded[str, FileMeta] = Bounded(8192)

    def meta(self, f: File) -> FileMeta:
        st = f.st
        meta = self._metas.get(f.path)
        if meta is not None and meta.key.matches(st):
            return meta
        content_type = guess_type(f.path)
        compressible = is_compressible(content_type)
        etag = make_etag(st.st_ino, st.st_size, st.st_mtime_ns)
        last_modified = int(st.st_mtime)
        common: list[tuple[str, str]] = [
            ("ETag", etag),
            # RFC 9110 §8.8.2.1: never a Last-Modified later than the Date (a
            # skewed clock, an archive's future timestamps): the message's
            # date takes its place.  Preconditions keep comparing the real
            # mtime, so a date we sent can never earn a false 304 for a file
            # edited within that second: it gets 200, and the ETag a 304.
            ("Last-Modified", format_http_date(min(last_modified, int(time.time())))),
            ("Cache-Control", self.config.cache_control),
        ]
        if compressible:
            # RFC 9110 §12.5.5: the answer varies with Accept-Encoding whenever
            # an encoded variant could be chosen, even when this one is identity.
            common.append(("Vary", "Accept-Encoding"))
        meta = FileMeta(
            FileKey.of(f.path, st), content_type, compressible, etag, last_modified, tuple(common)
        )
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

    async def read(self, key: FileKey) -> bytes:
        """The whole body of a small file version, through the LRU reader."""
        try:
            return await self.reader.read(key)
        except FileChanged:
            self.reader.forget(key)
            raise FileChanged(key.path) from None

    async def respond(self, req: Request, f: File) -> Response:
        """The answer to a GET or HEAD of the regular file ``f``."""
        meta = self.meta(f)
        if self.inject is not None and meta.content_type.startswith("text/html"):
            return await self._respond_injected(req, meta)
        key = meta.key
        identity = Variant(None, meta.etag, None, key.size)
        plan = plan_file(
            req.method,
            req.headers,
            identity,
            self._variants(meta, req),
            meta.last_modified,
            time.time(),
        )
        return await self._planned(meta, plan, req.method == "HEAD")

    async def _respond_injected(self, req: Request, meta: FileMeta) -> Response:
        """An HTML file with the live-reload script: a representation of its own.

        The injected bytes are not the file's bytes, so they get their own
        strong ETag (RFC 9110 §8.8.3), their own length, and preconditions
        and ranges are evaluated on them.  Only an on-the-fly gzip of the
        injected bytes is offered: a precompressed sidecar holds the page
        without the script.
        """
        doc = await self._injected(meta.key)
        identity = Variant(None, doc.etag, None, len(doc.data))
        encoded: list[Variant] = []
        if self.config.compress and len(doc.data) >= GZIP_MIN and "accept-encoding" in req.headers:
            encoded.append(Variant("gzip", doc.etag[:-1] + '-gzip"'))
        plan = plan_file(
            req.method, req.headers, identity, encoded, meta.last_modified, time.time()
        )
        return await self._planned(meta, plan, req.method == "HEAD", doc)

    async def _injected(self, key: FileKey) -> Injected:
        doc = self._docs.get(key.path)
        if doc is not None and doc.key == key:
            return doc
        assert self.inject is not None
        if key.size <= self.config.cache_file_max:
            raw = await self.read(key)
        else:
            raw = await asyncio.to_thread(_read_whole, key)
        data = self.inject(raw)
        # The file's identity plus "live": a tag that neither the file itself
        # nor any of its sidecars can carry.
        etag = make_etag(key.ino, key.size, key.mtime_ns, "live")
        doc = self._docs[key.path] = Injected(key, data, etag)
        return doc

    async def _planned(
        self, meta: FileMeta, plan: Plan, head_only: bool, doc: Injected | None = None
    ) -> Response:
        variant = plan.variant
        key = meta.key
        common = meta.common
        if variant.coding is not None or doc is not None:
            common = (("ETag", variant.etag), *common[1:])
        enc: Fields = () if variant.coding is None else (("Content-Encoding", variant.coding),)
        # The selected representation's length: the file's or the injected bytes'.
        rep_size = key.size if doc is None else len(doc.data)

        if plan.status == 304:
            # RFC 9110 §15.4.5: a 304 carries the validators and caching fields
            # a 200 would have, and no body.
            return Response(304, common)
        if plan.status == 412:
            return Response(412, (("Content-Length", "0"),))
        if plan.status == 416:
            # RFC 9110 §15.5.17: say how long the representation is.
            return Response(
                416, (("Content-Range", f"bytes */{rep_size}"), ("Content-Length", "0"))
            )

        # The body source: the injected bytes (or their gzip), a sidecar
        # file, an on-the-fly gzip, or the file itself.
        body_key = key
        data: bytes | None = None
        if doc is not None:
            if variant.coding == "gzip":
                if doc.gz is None:
                    doc.gz = await asyncio.to_thread(gzip_body, doc.data)
                data = doc.gz
            else:
                data = doc.data
        elif variant.sidecar is not None:
            side = self.resolver.regular_file(variant.sidecar)
            if not isinstance(side, File):
                raise FileChanged(key.path)
            body_key = FileKey.of(side.path, side.st)
        elif variant.coding == "gzip":
            data = await self.reader.gzipped(key)
        size = len(data) if data is not None else body_key.size
        small = data is not None or size <= self.config.cache_file_max
        ctype = ("Content-Type", meta.content_type)
        ranges = ("Accept-Ranges", "bytes")

        parts: list[bytes | tuple[int, int]]
        if plan.status == 206 and len(plan.ranges) == 1:
            r = plan.ranges[0]
            length = ("Content-Length", str(r.length))
            fields: Fields = (ctype, length, ("Content-Range", content_range(r, size)), ranges)
            parts = [(r.start, r.length)]
            total = r.length
        elif plan.status == 206:
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
            whole = data if data is not None else await self.read(body_key)
            if plan.status == 200:
                resp.body = whole
            else:
                resp.body = b"".join(
                    p if isinstance(p, bytes) else whole[p[0] : p[0] + p[1]] for p in parts
                )
            return resp
        resp.body = FileBody(open_regular(body_key), tuple(parts), total)
        return resp

    async def page(self, req: Request, f: File, status: int) -> Response | None:
        """The site's own error page ``f`` with ``status``, or None if it is large.

        No validators or ranges apply to an error body: it stands for the
        missing resource, not for the page's file.
        """
        meta = self.meta(f)
        if meta.key.size > self.config.cache_file_max:
            return None
        if self.inject is not None and meta.content_type.startswith("text/html"):
            # HEAD reads the page too: its length is the injected one.
            body = (await self._injected(meta.key)).data
        else:
            body = b"" if req.method == "HEAD" else await self.read(meta.key)
        fields = (
            ("Content-Type", meta.content_type),
            ("Content-Length", str(len(body) if body else meta.key.size)),
            ("Cache-Control", self.config.generated_cache_control),
        )
        return Response(status, fields, b"" if req.method == "HEAD" else body)
