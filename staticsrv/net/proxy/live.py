"""``--live`` through the proxy: the reload script in proxied HTML pages.

Owns: :func:`wants_identity` (a page request asks the upstream for a body
it can edit, RFC 9110 §12.5.3 ``Accept-Encoding: identity``) and
:func:`injected` (an HTML answer read whole, up to :data:`MAX_PAGE`, and
answered with the script in it and its new length, gzipped again when the
client accepts it).  A larger page, or
one the upstream compressed anyway, streams through unchanged.  So a
server-rendered page reloads when a static asset changes, as
browser-sync's proxy mode does.  May not touch: sockets (the body comes
from the exchange's reader).
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Callable

from staticsrv.http.http11 import Request
from staticsrv.http.negotiate import choose_encoding
from staticsrv.http.responses import Response, StreamBody
from staticsrv.net.proxy.head import ResponseHead

MAX_PAGE = 4 * 1024 * 1024  # a page read whole to inject into; larger ones pass as they are
MIN_GZIP = 256  # smaller pages are sent as they are: gzip's frame would outweigh the gain


def wants_identity(req: Request) -> bool:
    """A page load (GET of HTML): its answer may need the script."""
    return req.method == "GET" and "text/html" in req.headers.get("accept", "")


def editable(head: ResponseHead) -> bool:
    ctype = (head.field("content-type") or "").lower()
    coding = (head.field("content-encoding") or "identity").strip().lower()
    return ctype.startswith("text/html") and coding == "identity" and 200 <= head.status < 300


async def injected(
    status: int,
    fields: list[tuple[str, str]],
    chunks: AsyncIterator[bytes],
    inject: Callable[[bytes], bytes],
    accept_encoding: str | None = None,
) -> Response:
    """The page with the script, or (too large) the same bytes streamed as they come."""
    held: list[bytes] = []
    size = 0
    async for piece in chunks:
        held.append(piece)
        size += len(piece)
        if size > MAX_PAGE:
            return Response(status, tuple(fields), StreamBody(_chain(held, chunks), finite=False))
    # The validators named the upstream's bytes, not these (RFC 9110 §8.8).
    kept = [f for f in fields if f[0].lower() not in ("etag", "content-md5", "content-length")]
    page = inject(b"".join(held))
    if not any(n.lower() == "vary" and "accept-encoding" in v.lower() for n, v in kept):
        kept.append(("Vary", "Accept-Encoding"))  # RFC 9110 §12.5.5: it depends on it now
    if len(page) >= MIN_GZIP and choose_encoding(accept_encoding, ("gzip",)) == "gzip":
        # Asked upstream without compression; compressed again for the client,
        # as files are (RFC 9110 §8.4, §12.5.3).
        page = gzip.compress(page, compresslevel=6, mtime=0)
        kept.append(("Content-Encoding", "gzip"))
    return Response(status, tuple(kept)).with_body(page)


async def _chain(held: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for piece in held:
        yield piece
    async for piece in rest:
        yield piece
