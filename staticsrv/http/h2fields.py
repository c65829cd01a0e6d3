"""HTTP/2 header lists to the server's own values, and back: pure functions.

Owns: :func:`to_request`, which turns a stream's decoded header list into
the very :class:`~staticsrv.http.http11.Request` an HTTP/1.1 head gives (so
the handler, its memo and every rule are one code path for both
protocols), and :func:`response_headers`, the header list of a
:class:`~staticsrv.http.responses.Response`.
May not touch: sockets, h2's state machine, clocks (the date is passed in).

The request is checked by the HTTP/1.1 parser itself: the pseudo-header
fields become a request line, ``:authority`` the Host field (RFC 9113
§8.3.1), and the result goes through ``parse_head`` (its parse cache,
too), so a target, a field value or a Host refused over HTTP/1.1 is
refused over HTTP/2 with the same status.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace

from staticsrv.http.http11 import ParseError, Request
from staticsrv.http.responses import SERVER, Response

__all__ = ["HOP_BY_HOP", "response_headers", "to_request"]

# RFC 9113 §8.2.2: connection-specific fields never appear in HTTP/2.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}
)
_E_PSEUDO = ParseError(400, "Malformed HTTP/2 request pseudo-header fields")
_E_FIELD = ParseError(400, "Invalid character in header field")
_E_CONNECTION = ParseError(400, "Connection-specific header field in HTTP/2")
_PSEUDO = frozenset({b":method", b":scheme", b":authority", b":path"})
_HOP_BY_HOP = frozenset(name.encode("ascii") for name in HOP_BY_HOP)
_SERVER = SERVER.encode("ascii")


def to_request(
    headers: list[tuple[bytes, bytes]], parse: Callable[[bytes], Request | ParseError]
) -> Request | ParseError:
    """The request a stream's header list makes, or the error to answer it with.

    h2's own inbound checks are off (they were a fifth of the cost of a
    request); the rules of RFC 9113 §8.2 and §8.3 that the HTTP/1.1 parser
    cannot see are checked here instead.
    """
    pseudo: dict[bytes, bytes] = {}
    host: bytes | None = None
    lines: list[bytes] = []
    cookies: list[bytes] = []
    for name, value in headers:
        if b"\r" in value or b"\n" in value or b"\0" in value:
            return _E_FIELD  # would split the head built below (RFC 9113 §8.2.1)
        if name[:1] == b":":
            if lines or cookies or host is not None or name in pseudo or name not in _PSEUDO:
                return _E_PSEUDO  # §8.3: known, once, before every regular field
            pseudo[name] = value
        elif not name or name.lower() != name or b":" in name:
            return _E_FIELD  # §8.2.1: lower-case field names only
        elif name == b"host":
            host = value
        elif name == b"cookie":
            cookies.append(value)  # RFC 9113 §8.2.3: split crumbs are joined with "; "
        elif name in _HOP_BY_HOP or (name == b"te" and value != b"trailers"):
            return _E_CONNECTION  # §8.2.2
        else:
            lines.append(name + b": " + value)
    method, path = pseudo.get(b":method"), pseudo.get(b":path")
    if not method or not path or b":scheme" not in pseudo:
        return _E_PSEUDO  # CONNECT (no :path) included: nothing to tunnel here
    if cookies:
        lines.append(b"cookie: " + b"; ".join(cookies))
    authority = pseudo.get(b":authority")
    host = authority if authority is not None else host
    if host is not None:
        lines.append(b"host: " + host)
    # Without the final empty line, as ReceiveBuffer hands heads to parse_head.
    head = method + b" " + path + b" HTTP/1.1\r\n" + b"".join(x + b"\r\n" for x in lines)
    return _parsed(head, parse)


@functools.lru_cache(maxsize=512)
def _parsed(head: bytes, parse: Callable[[bytes], Request | ParseError]) -> Request | ParseError:
    """The HTTP/2 request of an equivalent head; identical heads share it, as
    the HTTP/1.1 loop's parse cache does (Request is immutable)."""
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
