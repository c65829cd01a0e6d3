"""An upstream's response head, parsed strictly: pure.

Owns: :func:`parse_response` (status line, fields, and how the body is
framed, RFC 9112 §4, §5, §6.3) and :func:`find_end` (where a head ends in
what was received).  May not touch: sockets.

Why the project's own pieces and not h11: the request side already holds a
strict grammar (:mod:`staticsrv.http.abnf`, :mod:`staticsrv.http.chunked`) tested by
fuzzing; the client side needs the same refusals (CL with TE, obs-fold,
bare LF, bad chunk sizes), so smuggling-shaped answers are refused by the
same code that refuses smuggling-shaped requests, with no new dependency
and no second notion of "valid".  h11 would have added a dependency and an
event-object layer per chunk on the hot path for a head parse that is
seventy lines here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from staticsrv.http.abnf import HEAD_CHARS, TCHAR

MAX_HEAD = 64 * 1024  # a whole upstream head; larger ones are refused with 502
MAX_FIELDS = 200
_FRAMING = frozenset({b"connection", b"transfer-encoding", b"content-length"})


class Framing(enum.Enum):
    NONE = "none"  # no body (HEAD, 1xx, 204, 304)
    LENGTH = "length"  # Content-Length bytes
    CHUNKED = "chunked"
    CLOSE = "close"  # until the upstream closes (RFC 9112 §6.3 item 8)


@dataclass(frozen=True, slots=True)
class ResponseHead:
    status: int
    version: str
    fields: tuple[tuple[str, str], ...]  # names as sent
    framing: Framing
    length: int  # with Framing.LENGTH
    keep_alive: bool  # the upstream connection may carry another request

    def field(self, name: str) -> str | None:
        lower = name.lower()
        values = [v for n, v in self.fields if n.lower() == lower]
        return ", ".join(values) if values else None


def find_end(data: bytes | bytearray) -> int | str | None:
    """The end of the head (index past the empty line), None if not yet, or why it is bad."""
    end = data.find(b"\r\n\r\n")
    bare = data.find(b"\n\n")
    if bare >= 0 and (end < 0 or bare < end):
        return "a head line ends with a bare LF"
    if end < 0:
        return "head too large" if len(data) > MAX_HEAD else None
    if end + 4 > MAX_HEAD:
        return "head too large"
    return end + 4


def _length(value: str) -> int | None:
    values = {v.strip(" \t") for v in value.split(",")}
    if len(values) != 1:
        return None
    text = values.pop()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def parse_response(head: bytes, method: str) -> ResponseHead | str:
    """Parse a whole head (with its final empty line); a reason string if malformed."""
    if head.translate(None, HEAD_CHARS):
        return "control character in the head"
    lines = head[:-4].split(b"\r\n")
    if head.count(b"\n") != len(lines) + 1 or head.count(b"\r") != len(lines) + 1:
        return "bare CR or LF in the head"
    if len(lines) - 1 > MAX_FIELDS:
        return "too many fields"
    status_line = lines[0]
    version = status_line[:9]
    if version not in (b"HTTP/1.1 ", b"HTTP/1.0 "):
        return "not an HTTP/1.x status line"
    code = status_line[9:12]
    if not (code.isdigit() and len(code) == 3) or status_line[12:13] not in (b"", b" "):
        return "bad status code"
    status = int(code)
    if status < 100:
        return "bad status code"
    fields: list[tuple[str, str]] = []
    framing: dict[bytes, str] = {}  # the three fields that decide framing, repeats joined
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            return "obsolete line folding"  # RFC 9112 §5.2
        name, colon, raw = line.partition(b":")
        if not colon or not name or name.translate(None, TCHAR):
            return "bad field line"
        value = raw.strip(b" \t").decode("latin-1")
        fields.append((name.decode("ascii"), value))
        key = name.lower()
        if key in _FRAMING:
            framing[key] = f"{framing[key]}, {value}" if key in framing else value
    http10 = version == b"HTTP/1.0 "
    conn = {o.strip(" \t").lower() for o in framing.get(b"connection", "").split(",")}
    keep_alive = "close" not in conn and (not http10 or "keep-alive" in conn)
    te = framing.get(b"transfer-encoding")
    cl = framing.get(b"content-length")
    result = (status, version.decode("ascii").strip(), tuple(fields))
    # RFC 9112 §6.3 item 1: these carry no body whatever their fields say.
    if method == "HEAD" or status < 200 or status in (204, 304):
        if te is not None and cl is not None:
            return "both Transfer-Encoding and Content-Length"
        return ResponseHead(*result, Framing.NONE, 0, keep_alive)
    if te is not None:
        if cl is not None:
            # §6.3 item 3: the classic smuggling shape; a proxy must not pass it on.
            return "both Transfer-Encoding and Content-Length"
        codings = [c.strip(" \t").lower() for c in te.split(",") if c.strip(" \t")]
        if codings != ["chunked"] or http10:
            return "a transfer coding other than chunked"
        return ResponseHead(*result, Framing.CHUNKED, 0, keep_alive)
    if cl is not None:
        length = _length(cl)
        if length is None:
            return "bad Content-Length"
        return ResponseHead(*result, Framing.LENGTH, length, keep_alive)
    return ResponseHead(*result, Framing.CLOSE, 0, False)
