"""HTTP/2 header lists to the server's own values, and back: pure functions.

Owns: :func:`to_request`, which turns a stream's decoded header list into
the very :class:`~staticsrv.http11.Request` an HTTP/1.1 head gives (so
the handler, its memo and every rule are one code path for both
protocols), and :func:`response_headers`, the header list of a
:class:`~staticsrv.responses.Response`.
May not touch: sockets, h2's state machine, clocks (the date is passed in).

The request is checked by the HTTP/1.1 parser itself: the pseudo-header
fields become a request line, ``:authority`` the Host field (RFC 9113
§8.3.1), and the result goes through ``parse_head`` (its parse cache,
too), so a target, a field value or a Host refused over HTTP/1.1 is
refused over HTTP/2 with the same status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from staticsrv.http11 import ParseError, Request
from staticsrv.responses import SERVER, Response

__all__ = ["HOP_BY_HOP", "to_request", "response_headers"]

# RFC 9113 §8.2.2: connection-specific fields never appear in HTTP/2.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                        "upgrade"})  # fmt: skip
_E_PSEUDO = ParseError(400, "Malformed HTTP/2 request pseudo-header fields")
_E_FIELD = ParseError(400, "Invalid character in header field")
_BAD = (b"\r", b"\n", b"\0")
_SERVER = SERVER.encode("ascii")


def to_request(
    headers: list[tuple[bytes, bytes]], parse: Callable[[bytes], Request | ParseError]
) -> Request | ParseError:
    """The request a stream's header list makes, or the error to answer it with."""
    method = path = authority = None
    host: bytes | None = None
    lines: list[bytes] = []
    cookies: list[bytes] = []
    for name, value in headers:
        if any(c in value or c in name for c in _BAD):
            return _E_FIELD  # would split the head built below
        if name[:1] == b":":
            if name == b":method":
                method = value
            elif name == b":path":
                path = value
            elif name == b":authority":
                authority = value
            elif name != b":scheme":
                return _E_PSEUDO
        elif name == b"host":
            host = value
        elif name == b"cookie":
            cookies.append(value)  # RFC 9113 §8.2.3: split crumbs are joined with "; "
        else:
            lines.append(name + b": " + value)
    if not method or not path:
        return _E_PSEUDO  # CONNECT (no :path) included: nothing to tunnel here
    if cookies:
        lines.append(b"cookie: " + b"; ".join(cookies))
    host = authority if authority is not None else host
    if host is not None:
        lines.append(b"host: " + host)
    # Without the final empty line, as ReceiveBuffer hands heads to parse_head.
    head = method + b" " + path + b" HTTP/1.1\r\n" + b"".join(x + b"\r\n" for x in lines)
    req = parse(head)
    if isinstance(req, ParseError):
        return req
    return replace(req, version="HTTP/2.0", keep_alive=True)


def response_headers(resp: Response, date: bytes) -> list[tuple[bytes, bytes]]:
    """``:status``, Server, Date and the answer's fields, lower-case, without hop-by-hop ones."""
    out = [(b":status", b"%d" % resp.status), (b"server", _SERVER), (b"date", date)]
    for name, value in resp.fields:
        lower = name.lower()
        if lower not in HOP_BY_HOP:
            out.append((lower.encode("latin-1"), value.encode("latin-1")))
    return out
