"""Sans-io HTTP/1.1 request-head parsing (RFC 9112, RFC 9110).

Bytes in, a value out: no sockets, files, clocks or logging live here, so the
parser can be tested exhaustively and fuzzed without an event loop.  Every
malformed input yields a :class:`ParseError` value carrying the status code
the server answers with before closing the connection; nothing raises out of
the public API.

This is on the server's hot path, so the work is done by C-implemented
``bytes`` methods (``find``, ``split``, ``partition``, ``translate``, ``count``):
there is no regular expression and no per-byte Python loop.  Character-class
checks use ``data.translate(None, ALLOWED)``, which deletes every allowed
byte; the input is valid exactly when nothing is left.

:mod:`staticsrv.http.receivebuffer` finds where each head ends (as h11's
``_receivebuffer.py`` does) and :func:`parse_head` turns one complete head
into a :class:`Request`.
"""

from __future__ import annotations

from dataclasses import dataclass

from staticsrv.http.abnf import (
    HEAD_CHARS,
    TARGET_CHARS,
    TCHAR,
    valid_host,
)
from staticsrv.http.limits import Limits

__all__ = ["MAX_EMPTY_LINES", "ParseError", "Request", "check_first_line", "parse_head"]


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed request head."""

    method: str  # token, case-sensitive (RFC 9110 §9.1), e.g. "GET"
    target: str  # origin-form path[?query] as sent (latin-1); "*" for asterisk-form
    version: str  # "HTTP/1.1" or "HTTP/1.0"
    headers: dict[str, str]  # lower-cased names; repeated fields joined with ", "
    keep_alive: bool  # RFC 9112 §9.3
    body_length: int  # Content-Length value, 0 when absent
    chunked: bool  # Transfer-Encoding is chunked (the server answers and closes)
    absolute: bool = False  # sent in absolute-form (RFC 9112 §3.2.2): Host is its authority


@dataclass(frozen=True, slots=True)
class ParseError:
    """Why a head was refused: the status to answer with and a fixed reason.

    ``reason`` is always one of the constant texts below and never contains
    any byte of the client's input, so it is safe to put in a response body
    or a log line.
    """

    status: int  # 400, 414, 431, 501 or 505
    reason: str


# RFC 9112 §2.2 asks a server to ignore "at least one" empty line before the
# request-line (some old clients send a CRLF after a POST body).  Ignoring an
# unbounded number would let a client hold a connection with a stream of
# CRLFs that never counts against max_head, so the tolerance is bounded.
MAX_EMPTY_LINES = 8

# The fixed error values.  Being module constants they are allocated once and
# compare equal to any ParseError with the same fields.
E_EMPTY_LINES = ParseError(400, "Too many empty lines before the request line")
E_BARE_LF = ParseError(400, "Line not terminated by CRLF")
_E_BARE_CR_LF = ParseError(400, "Bare CR or LF in the request head")
_E_REQUEST_LINE = ParseError(400, "Malformed request line")
_E_METHOD = ParseError(400, "Invalid method")
_E_TARGET = ParseError(400, "Invalid request target")
_E_ASTERISK = ParseError(400, "Asterisk-form target is only allowed with OPTIONS")
_E_VERSION = ParseError(400, "Malformed HTTP version")
_E_VERSION_UNSUPPORTED = ParseError(505, "HTTP version not supported")
E_LINE_TOO_LONG = ParseError(414, "Request line too long")
E_HEAD_TOO_LARGE = ParseError(431, "Request header section too large")
_E_TOO_MANY_FIELDS = ParseError(431, "Too many header fields")
_E_OBS_FOLD = ParseError(400, "Obsolete line folding is not accepted")
_E_NO_COLON = ParseError(400, "Header line without a colon")
_E_FIELD_NAME = ParseError(400, "Invalid header field name")
_E_SPACE_BEFORE_COLON = ParseError(400, "Whitespace between header field name and colon")
_E_FIELD_VALUE = ParseError(400, "Invalid character in header field")
_E_NO_HOST = ParseError(400, "Missing Host header field")
_E_MULTIPLE_HOST = ParseError(400, "More than one Host header field")
_E_HOST = ParseError(400, "Invalid Host header field")
_E_CONTENT_LENGTH = ParseError(400, "Invalid Content-Length")
_E_CONTENT_LENGTH_CONFLICT = ParseError(400, "Conflicting Content-Length values")
_E_TE_WITH_CL = ParseError(400, "Both Transfer-Encoding and Content-Length")
_E_TE_HTTP10 = ParseError(400, "Transfer-Encoding in an HTTP/1.0 request")
_E_TE_NOT_CHUNKED = ParseError(400, "Final transfer coding is not chunked")
_E_TE_UNSUPPORTED = ParseError(501, "Transfer coding not implemented")
E_NOT_HTTP = ParseError(400, "Not an HTTP request (TLS or binary data on a plain HTTP port?)")

_HTTP11 = "HTTP/1.1"
_HTTP10 = "HTTP/1.0"


def _parse_request_line(line: bytes) -> tuple[str, str, str, str | None] | ParseError:
    """Parse ``method SP request-target SP HTTP-version`` (RFC 9112 §3).

    ``line`` excludes its CRLF.  Returns (method, target, version, authority)
    where authority is the absolute-form target's host[:port], else None.
    """
    # RFC 9112 §3 allows a recipient to split on any whitespace, but a strict
    # single-SP split is what keeps request smuggling via odd separators out.
    parts = line.split(b" ")
    if len(parts) != 3:
        # Includes HTTP/0.9's "GET /" (no version), double spaces and garbage.
        return _E_REQUEST_LINE
    method, target, version = parts
    if version == b"HTTP/1.1":
        version_str = _HTTP11
    elif version == b"HTTP/1.0":
        version_str = _HTTP10
    # HTTP-version = HTTP-name "/" DIGIT "." DIGIT, HTTP-name case-sensitive
    # (RFC 9112 §2.3).  Checked before the method and target so that a
    # well-formed line of another version, like the HTTP/2 preface
    # "PRI * HTTP/2.0", gets 505 (RFC 9110 §15.6.6) rather than 400.
    elif (
        len(version) == 8
        and version.startswith(b"HTTP/")
        and version[5:6].isdigit()
        and version[6:7] == b"."
        and version[7:8].isdigit()
    ):
        if version[5:6] != b"1":
            return _E_VERSION_UNSUPPORTED
        # RFC 9110 §2.5: a higher minor version of a major version we
        # implement is processed as the highest minor we conform to.
        version_str = _HTTP11
    else:
        return _E_VERSION
    if not method or method.translate(None, TCHAR):
        return _E_METHOD  # method = token (RFC 9110 §9.1)
    if not target or target.translate(None, TARGET_CHARS):
        return _E_TARGET
    authority: str | None = None
    if target[:1] == b"/":
        # origin-form (RFC 9112 §3.2.1).  A leading "//" is still an
        # absolute-path here; it is not a network-path reference.
        pass
    elif target == b"*":
        # asterisk-form is only used for a server-wide OPTIONS (§3.2.4).
        if method != b"OPTIONS":
            return _E_ASTERISK
    else:
        # absolute-form (RFC 9112 §3.2.2): a server MUST accept it even
        # though clients only send it to proxies.  The scheme is
        # case-insensitive (RFC 3986 §3.1).
        prefix = target[:8].lower()
        if prefix.startswith(b"http://"):
            rest = target[7:]
        elif prefix == b"https://":
            rest = target[8:]
        else:
            # authority-form (CONNECT, §3.2.3) or a relative reference: a
            # static server has nothing to connect to.
            return _E_TARGET
        cut = len(rest)
        for delimiter in (b"/", b"?"):
            found = rest.find(delimiter, 0, cut)
            if found >= 0:
                cut = found
        host = rest[:cut]
        if not valid_host(host):
            return _E_TARGET
        authority = host.decode("latin-1")
        target = rest[cut:]
        if target[:1] != b"/":
            # "http://h" and "http://h?q": the path of an http URI with an
            # authority is "/" when empty (RFC 9110 §4.2.3 normalisation).
            target = b"/" + target
    return method.decode("ascii"), target.decode("latin-1"), version_str, authority


def check_first_line(raw: bytes, limits: Limits) -> ParseError | None:
    """Early shape check of a complete first line, ``raw`` ending with LF."""
    crlf = raw.endswith(b"\r\n")
    if len(raw) - (2 if crlf else 1) > limits.max_request_line:
        return E_LINE_TOO_LONG
    if not crlf:
        return E_BARE_LF
    parsed = _parse_request_line(raw[:-2])
    return parsed if isinstance(parsed, ParseError) else None


def _parse_content_length(value: str) -> int | ParseError:
    """Content-Length = 1*DIGIT, or a list of identical values (RFC 9112 §6.3 item 5)."""
    # str.isdigit() alone would accept "²" and other latin-1 digits: the
    # isascii() guard restricts it to DIGIT.  18 digits always fit an int64
    # and exceed any real body; longer strings are refused before int().
    if value.isascii() and value.isdigit():
        return int(value) if len(value) <= 18 else _E_CONTENT_LENGTH
    length = -1
    for item in value.split(","):
        digits = item.strip(" \t")
        if not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
            return _E_CONTENT_LENGTH
        number = int(digits)
        if length >= 0 and number != length:
            # Differing lengths are the classic request-smuggling vector.
            return _E_CONTENT_LENGTH_CONFLICT
        length = number
    return length


def _check_transfer_encoding(value: str) -> ParseError | None:
    """Accept exactly one final ``chunked`` coding (RFC 9112 §6.1, §6.3 item 4)."""
    codings = [c.strip(" \t").lower() for c in value.split(",")]
    # Empty list elements are allowed and ignored (RFC 9110 §5.6.1).
    codings = [c for c in codings if c]
    if not codings or codings[-1] != "chunked":
        # §6.3 item 4: without a final chunked the body length cannot be
        # determined, and the server MUST answer 400 and close.  A final
        # "chunked" with parameters is refused too: chunked defines none.
        return _E_TE_NOT_CHUNKED
    if len(codings) > 1:
        if "chunked" in codings[:-1]:
            # §6.1: chunked MUST NOT be applied more than once.
            return _E_TE_NOT_CHUNKED
        # §6.1: a transfer coding the server does not understand SHOULD get
        # 501; only chunked is implemented.
        return _E_TE_UNSUPPORTED
    return None


def parse_head(head: bytes, limits: Limits) -> Request | ParseError:
    """Parse one complete request head.

    ``head`` is the request line and the header lines, each ending with CRLF,
    without the CRLF of the final empty line: what
    :meth:`ReceiveBuffer.extract_head` returns.
    """
    if head.startswith(b"\r\n"):
        # RFC 9112 §2.2: ignore a bounded number of empty lines before the
        # request line (ReceiveBuffer already drops them; this is for callers
        # that hand over raw bytes).
        start = 0
        while head.startswith(b"\r\n", start):
            if start >= 2 * MAX_EMPTY_LINES:
                return E_EMPTY_LINES
            start += 2
        head = head[start:]

    # Size limits first, so an oversized head costs no further work.  The
    # request line is measured up to its LF, minus a CR before it.
    line_length = head.find(b"\n")
    if line_length < 0:
        line_length = len(head)
    elif line_length > 0 and head[line_length - 1] == 0x0D:
        line_length -= 1
    if line_length > limits.max_request_line:
        return E_LINE_TOO_LONG  # RFC 9112 §3: 414 for a too-long request-target
    if len(head) > limits.max_head:
        return E_HEAD_TOO_LARGE  # RFC 6585 §5

    # RFC 9112 §2.2: every line ends with CRLF.  A bare CR MUST be rejected
    # or replaced; a bare LF MAY be accepted, but a lenient recipient next to
    # a strict one is exactly how requests get smuggled, so both are 400.
    # After splitting on CRLF, as many LFs and CRs as lines means none is
    # bare -- two C-speed counts instead of a scan for stray bytes.
    if not head.endswith(b"\r\n"):
        return E_BARE_LF
    lines = head[:-2].split(b"\r\n")
    count = len(lines)
    if head.count(b"\n") != count or head.count(b"\r") != count:
        return _E_BARE_CR_LF
    if count - 1 > limits.max_headers:
        return _E_TOO_MANY_FIELDS

    parsed = _parse_request_line(lines[0])
    if isinstance(parsed, ParseError):
        return parsed
    method, target, version, authority = parsed

    # One pass over the whole head for NUL and other CTLs (RFC 9110 §5.5,
    # RFC 9112 §2.2).  The request line already passed stricter checks, so
    # any leftover byte lies in a header line.
    if head.translate(None, HEAD_CHARS):
        return _E_FIELD_VALUE

    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line.startswith((b" ", b"\t")):
            # RFC 9112 §5.2: obs-fold is rejected with 400 outside of
            # message/http.  For the first line this is also the "whitespace
            # between the start-line and the first header field" of §2.2.
            return _E_OBS_FOLD
        name, colon, value = line.partition(b":")
        if not colon:
            return _E_NO_COLON
        if not name or name.translate(None, TCHAR):
            if name.endswith((b" ", b"\t")):
                # RFC 9112 §5.1: MUST reject whitespace before the colon.
                return _E_SPACE_BEFORE_COLON
            return _E_FIELD_NAME  # field-name = token (RFC 9110 §5.1)
        # Names are case-insensitive (RFC 9110 §5.1); OWS around the value is
        # not part of it (RFC 9112 §5.1).
        key = name.lower().decode("ascii")
        text = value.strip(b" \t").decode("latin-1")
        previous = headers.get(key)
        if previous is None:
            headers[key] = text
        elif key == "host":
            return _E_MULTIPLE_HOST  # RFC 9112 §3.2
        else:
            # RFC 9110 §5.3: a recipient MAY combine repeated fields into one
            # comma-separated list without changing the message's semantics.
            headers[key] = f"{previous}, {text}"

    # RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without
    # Host, with more than one Host (checked above) or with an invalid one.
    # An empty value is valid: it is what a client sends for a target URI
    # without an authority.
    host = headers.get("host")
    if host is None:
        if version == _HTTP11:
            return _E_NO_HOST
    elif host and not valid_host(host.encode("latin-1")):
        return _E_HOST
    if authority is not None:
        # RFC 9112 §3.2.2: with an absolute-form target the server MUST
        # ignore the received Host and use the target's authority.
        headers["host"] = authority

    body_length = 0
    chunked = False
    transfer_encoding = headers.get("transfer-encoding")
    content_length = headers.get("content-length")
    if transfer_encoding is not None:
        if content_length is not None:
            # RFC 9112 §6.3 item 3: both present is a smuggling attempt until
            # proven otherwise; §6.1 lets a server reject it.
            return _E_TE_WITH_CL
        if version == _HTTP10:
            # RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding MUST
            # be treated as having faulty framing.
            return _E_TE_HTTP10
        error = _check_transfer_encoding(transfer_encoding)
        if error is not None:
            return error
        chunked = True
    elif content_length is not None:
        length = _parse_content_length(content_length)
        if isinstance(length, ParseError):
            return length
        body_length = length

    # RFC 9112 §9.3: connection options are case-insensitive tokens (RFC 9110
    # §7.6.1).  HTTP/1.1 is persistent unless "close"; HTTP/1.0 only with
    # "keep-alive" (RFC 9112 Appendix C.2.2).
    connection = headers.get("connection")
    if connection is None:
        keep_alive = version == _HTTP11
    else:
        options = {option.strip(" \t").lower() for option in connection.split(",")}
        keep_alive = "close" not in options and (version == _HTTP11 or "keep-alive" in options)

    absolute = authority is not None
    return Request(method, target, version, headers, keep_alive, body_length, chunked, absolute)
