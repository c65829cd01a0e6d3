"""``--live`` through the proxy: the reload script in proxied HTML pages.

Owns: :func:`wants_identity` (a page request asks the upstream for a body
it can edit, RFC 9110 §12.5.3 ``Accept-Encoding: identity``) and
:func:`injected` (an HTML answer read whole, up to :data:`MAX_PAGE`, and
answered with the script in it and its new length).  A larger page, or
one the upstream compressed anyway, streams through unchanged.  So a
server-rendered page reloads when a static asset changes, as
browser-sync's proxy mode does.  May not touch: sockets (the body comes
from the exchange's reader).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from staticsrv.http11 import Request
from staticsrv.proxy.head import ResponseHead
from staticsrv.responses import Response, StreamBody

MAX_PAGE = 4 * 1024 * 1024  # a page read whole to inject into; larger ones pass as they are


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
    return Response(status, tuple(kept)).with_body(inject(b"".join(held)))


async def _chain(held: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for piece in held:
        yield piece
    async for piece in rest:
        yield piece
