"""Answers that stand for a missing resource: the site's own 404 page, the built-in one.

Owns: :class:`ErrorPages`, mixed into :class:`~staticsrv.site.fileresponse.Files`:
a page file or generated HTML sent with an error status, gzipped when the
client accepts it, with the live-reload script under ``--live``.  No
validators or ranges apply to such a body: it stands for the missing
resource, not for the page's own file (RFC 9110 §15.5.5).
May not touch: sockets, the decision of which page (:mod:`staticsrv.site.notfound`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from staticsrv.config import Config
from staticsrv.http.http11 import Request
from staticsrv.http.negotiate import choose_encoding
from staticsrv.http.responses import Response
from staticsrv.site.reader import FileKey, Reader, gzip_body
from staticsrv.site.resolver import File

if TYPE_CHECKING:
    from staticsrv.site.document import Documents
    from staticsrv.site.fileresponse import FileMeta

GZIP_MIN = 1024  # below this gzip saves too little to be worth a Vary'd variant


class ErrorPages:
    config: Config
    reader: Reader
    docs: Documents | None
    inject: Callable[[bytes], bytes] | None

    if TYPE_CHECKING:

        def meta(self, f: File) -> FileMeta: ...

        async def read(self, key: FileKey, *, racy: bool = False) -> bytes: ...

    async def page(self, req: Request, f: File, status: int) -> tuple[Response, bool] | None:
        """The site's own error page ``f`` with ``status``, or None if it is large.

        Returns the answer and whether it depends on the Accept-Encoding value.

        No validators or ranges apply to an error body: it stands for the
        missing resource, not for the page's file.  It is gzipped like any
        other text answer (once per version, through the reader's cache).
        """
        meta = self.meta(f)
        size = meta.key.size
        if size > self.config.cache_file_max:
            return None
        if self.docs is not None and meta.content_type.startswith("text/html"):
            # Live reload: the page with the script, gzipped after injection.
            doc = await self.docs.whole(meta.key, racy=meta.racy)
            varies = self.config.compress and len(doc.data) >= GZIP_MIN
            if varies and self._gzip_wanted(req, len(doc.data)):
                body = await doc.gzipped()
                return self._generated(req, status, meta.content_type, body, gzipped=True), True
            return self._generated(req, status, meta.content_type, doc.data, vary=varies), varies
        varies = self.config.compress and meta.compressible and size >= GZIP_MIN
        if varies and self._gzip_wanted(req, size):
            body = await self.reader.gzipped(meta.key, racy=meta.racy)
            return self._generated(req, status, meta.content_type, body, gzipped=True), True
        body = await self.read(meta.key, racy=meta.racy)
        return self._generated(req, status, meta.content_type, body, vary=varies), varies

    def _gzip_wanted(self, req: Request, size: int) -> bool:
        return (
            self.config.compress
            and size >= GZIP_MIN
            and choose_encoding(req.headers.get("accept-encoding"), ("gzip",)) == "gzip"
        )

    def text_page(self, req: Request, status: int, body: bytes) -> tuple[Response, bool]:
        """A generated HTML page (the built-in 404) as an answer, gzipped when accepted.

        Returns the answer and whether it depends on the Accept-Encoding value.
        """
        ctype = "text/html; charset=utf-8"
        if self.inject is not None:
            body = self.inject(body)  # live reload: before any gzip
        varies = self.config.compress and len(body) >= GZIP_MIN
        if self._gzip_wanted(req, len(body)):
            # A few KiB at most: compressing it inline costs microseconds.
            return self._generated(req, status, ctype, gzip_body(body), gzipped=True), True
        return self._generated(req, status, ctype, body, vary=varies), varies

    def _generated(
        self,
        req: Request,
        status: int,
        ctype: str,
        body: bytes,
        *,
        gzipped: bool = False,
        vary: bool = False,
    ) -> Response:
        fields = [
            ("Content-Type", ctype),
            ("Content-Length", str(len(body))),
            ("Cache-Control", self.config.generated_cache_control),
        ]
        if gzipped:
            fields.append(("Content-Encoding", "gzip"))
        if gzipped or vary:
            # RFC 9110 §12.5.5: the answer varies with Accept-Encoding.
            fields.append(("Vary", "Accept-Encoding"))
        return Response(status, tuple(fields), b"" if req.method == "HEAD" else body)
