"""Responses as values, and their heads as bytes: pure functions of their inputs.

Owns: :class:`Response` (status, fields, body) and the one place a head
becomes bytes, :func:`render_head`.  A rule that adds a field or rewrites a
body acts on the value, before rendering; nothing patches bytes afterwards.
May not touch: sockets, files, clocks (the Date line is passed in).

A head is sent as ``prefix + date_line + connection_tail``.  The prefix
depends only on the response value, so it is rendered once per value and a
value kept by the handler's memo (one per file version and request shape)
is never rendered twice; the Date line changes once a second and the tail
once per connection state.  Per request that leaves two concatenations.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache

from staticsrv.http.status import reason as status_reason
from staticsrv.version import __version__

SERVER = f"staticsrv/{__version__}"

ALLOW = "GET, HEAD, OPTIONS"
# Methods a client may reasonably send to a file: refused with 405 and Allow
# (RFC 9110 §15.5.6, "known by the origin server").  Anything else is not
# recognised at all and gets 501 (RFC 9110 §9.1, §15.6.2).  The registered
# methods of RFC 9110 §9.3, PATCH (RFC 5789) and WebDAV's (RFC 4918).
KNOWN_METHODS = frozenset(
    {
        "POST", "PUT", "DELETE", "CONNECT", "TRACE", "PATCH",
        "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK",
    }
)  # fmt: skip

# RFC 9112 §9.3 / §9.6: HTTP/1.1 connections persist unless "close" is sent;
# an HTTP/1.0 client must be told explicitly that the connection stays open.
TAIL_KEEP_ALIVE_11 = b"\r\n"
TAIL_KEEP_ALIVE_10 = b"Connection: keep-alive\r\n\r\n"
TAIL_CLOSE = b"Connection: close\r\n\r\n"


def connection_tail(keep_alive: bool, http10: bool) -> bytes:
    """The closing bytes of a head: the Connection field and the empty line."""
    if not keep_alive:
        return TAIL_CLOSE
    return TAIL_KEEP_ALIVE_10 if http10 else TAIL_KEEP_ALIVE_11


def date_line(http_date: str) -> bytes:
    """RFC 9110 §6.6.1: an origin server with a clock MUST send Date."""
    return b"Date: " + http_date.encode("ascii") + b"\r\n"


def head_prefix(status: int, fields: Iterable[tuple[str, str]]) -> bytes:
    """Status line, Server and the given fields, without Date and the tail."""
    status_line = f"HTTP/1.1 {status} {status_reason(status)}\r\nServer: {SERVER}\r\n"
    return status_line.encode("latin-1") + field_lines(fields)


def field_lines(fields: Iterable[tuple[str, str]]) -> bytes:
    """``name: value`` lines.

    Field values come from the server itself (never raw client input), but
    any CR or LF is still refused here so a response can never be split.
    """
    lines = []
    for name, value in fields:
        if "\r" in value or "\n" in value:
            raise ValueError(f"line break in the {name} field")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("latin-1")


@dataclass(frozen=True, slots=True)
class FileBody:
    """A body sent from an already open file: bytes pieces and (offset, count) regions.

    The handler opens the file before the head exists, so a failure (no
    descriptor left, the file replaced) still gets a whole answer (503, or
    a fresh lookup) instead of a 200 head with nothing after it.  The
    connection sends it (sendfile where the transport can) and closes ``fd``.
    With ``check`` (the file's expected size and mtime in ns) the last byte
    waits for an fstat that still matches: a body mixed from two versions
    of the file is cut short, never delivered whole.
    """

    fd: int
    parts: tuple[bytes | tuple[int, int], ...]
    length: int
    check: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class StreamBody:
    """A body of unknown length produced as it goes (Server-Sent Events, streaming gzip).

    RFC 9112 §7.1: an HTTP/1.1 client gets it chunked; an HTTP/1.0 client
    gets it delimited by the close of the connection (§6.3 rule 8).  An
    endless stream (``finite=False``) is closed at once on shutdown; a
    finite one (a file being compressed) counts as an answer in flight and
    gets the grace period.  The connection closes ``chunks`` (its
    ``aclose``, when it has one) once it is done with it, sent or not.
    """

    chunks: AsyncIterator[bytes]
    finite: bool = False
    # Known in advance (a proxied answer with Content-Length, which the
    # builder put in the fields): sent as is, not chunked.
    length: int | None = None


Body = bytes | FileBody | StreamBody


@dataclass(slots=True, eq=False)
class Response:
    """One answer, as a value until the connection renders it.

    ``fields`` holds everything but Server, Date, Connection and the framing
    of a stream, which :func:`render_head` adds.  Content-Length is set by
    whoever builds the value, because a HEAD answer carries the GET's length
    without its body (RFC 9110 §9.3.2).  ``close`` asks the connection to
    close after this answer (errors after which the stream cannot be trusted).
    """

    status: int
    fields: tuple[tuple[str, str], ...]
    body: Body = b""
    close: bool = False
    _prefix: bytes = field(default=b"", repr=False)

    def prefix(self) -> bytes:
        """Status line and fields as bytes, rendered once per value."""
        if not self._prefix:
            self._prefix = head_prefix(self.status, self.fields)
        return self._prefix

    @property
    def length(self) -> int:
        """Body bytes this value carries (0 for a stream, whose length is unknown)."""
        body = self.body
        if isinstance(body, bytes):
            return len(body)
        return body.length if isinstance(body, FileBody) else 0

    def field(self, name: str) -> str | None:
        lower = name.lower()
        for key, value in self.fields:
            if key.lower() == lower:
                return value
        return None

    def with_fields(self, extra: Iterable[tuple[str, str]]) -> Response:
        """A new value with ``extra`` fields appended (the original is untouched)."""
        return replace(self, fields=(*self.fields, *extra), _prefix=b"")

    def with_body(self, body: bytes) -> Response:
        """A new value with ``body`` in memory and its Content-Length."""
        fields = tuple(f for f in self.fields if f[0].lower() != "content-length")
        return replace(
            self, fields=(*fields, ("Content-Length", str(len(body)))), body=body, _prefix=b""
        )

    def without_body(self) -> Response:
        """The same head with no body: the HEAD answer of this GET answer."""
        return replace(self, body=b"")


def render_head(resp: Response, date: bytes, keep_alive: bool, http10: bool) -> bytes:
    """The whole head of ``resp`` as sent: prefix, Date, framing, Connection."""
    head = resp.prefix() + date
    if isinstance(resp.body, StreamBody) and resp.body.length is None:
        if http10:
            keep_alive = False  # RFC 9112 §6.3: the close delimits the body
        else:
            head += b"Transfer-Encoding: chunked\r\n"
    return head + connection_tail(keep_alive and not resp.close, http10)


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (RFC 9112 §7.1); empty data is the last chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b"0\r\n\r\n"


@lru_cache(maxsize=256)
def _error_value(status: int, reason: str, cache_control: str) -> tuple[Response, Response]:
    from staticsrv.http import pages  # with html and datetime: a 200 never needs them

    body = pages.error_page(status, reason or status_reason(status))
    fields = (
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", cache_control),
    )
    full = Response(status, fields, body)
    return full, full.without_body()


def error_response(
    status: int,
    *,
    reason: str = "",
    cache_control: str = "no-cache",
    head: bool = False,
    close: bool = False,
    extra: Iterable[tuple[str, str]] = (),
) -> Response:
    """The built-in page for ``status``; ``reason`` must be a fixed server text.

    Reasons come from the parser's and the decoder's fixed tables, so the
    cache of rendered values stays small.
    """
    full, bare = _error_value(status, reason, cache_control)
    resp = bare if head else full
    extra = tuple(extra)
    if extra:
        resp = resp.with_fields(extra)
    if close:
        resp = replace(resp, close=True)
    return resp
