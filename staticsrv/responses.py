"""Response heads as bytes: pure functions of their inputs.

The server sends a head as ``prefix + date_line + connection_tail``.  The
prefix depends only on the file's identity and the configuration, so it is
built once per file version and reused; the Date line changes once a second
and the tail once per connection state.  That keeps per-request work to a
couple of bytes concatenations.
"""

from __future__ import annotations

from collections.abc import Iterable

from staticsrv import __version__

SERVER = f"staticsrv/{__version__}"

# RFC 9110 §15: the reason phrases the server can emit.
REASONS: dict[int, str] = {
    200: "OK",
    204: "No Content",
    206: "Partial Content",
    301: "Moved Permanently",
    304: "Not Modified",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    412: "Precondition Failed",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}

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
    status_line = f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}\r\nServer: {SERVER}\r\n"
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


def simple_head(
    status: int,
    fields: Iterable[tuple[str, str]],
    http_date: str,
    keep_alive: bool,
    http10: bool = False,
) -> bytes:
    """A complete head for responses that are not worth caching (errors, redirects)."""
    return head_prefix(status, fields) + date_line(http_date) + connection_tail(keep_alive, http10)
