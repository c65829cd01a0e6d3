"""Byte-range requests (RFC 9110 §14), pure: a Range header and a size in, a plan out.

:func:`parse_range` answers with one of three values:

* ``None``: ignore the Range header and send 200 with the whole body.  This is
  what RFC 9110 §14.2 asks for a header that is invalid or uses an unknown
  unit, and what it allows ("a server MAY ignore the Range header field")
  for requests that look like an attack;
* :data:`UNSATISFIABLE`: send 416 with ``Content-Range: bytes */size``;
* a non-empty list of disjoint, ascending :class:`ByteRange`: send 206, as a
  single part when there is one range, else as multipart/byteranges laid out
  by :func:`multipart_layout`.

Denial-of-service rules (RFC 9110 §14.2 warns about "many small ranges" and
overlapping ones; Apache's CVE-2011-3192 "Range: bytes=0-,5-0,5-1,..." made
the server build thousands of parts over the same bytes):

1. more than ``max_ranges`` non-empty elements, or more than ``2 * max_ranges``
   elements counting empty ones, -> ``None``.  The count is taken on the raw
   header, before coalescing and including unsatisfiable elements; a
   ``str.count`` pre-check and a stop at the first element over the limit
   keep a 2,000-element header to a few microseconds.  This also bounds
   "many small ranges": at most ``max_ranges`` part heads (about 100 bytes
   each) per response;
2. the summed length of the satisfiable ranges, before coalescing, exceeds
   the representation size -> ``None``.  A legitimate client never needs to
   ask for a byte twice; overlap is exactly the amplification shape (the
   same rule as nginx's).  A full 200 costs the server no more than what the
   client could get by asking without Range.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "UNSATISFIABLE",
    "ByteRange",
    "MultipartLayout",
    "Unsatisfiable",
    "content_range",
    "multipart_layout",
    "new_boundary",
    "parse_range",
    "unsatisfied_content_range",
]


@dataclass(frozen=True, slots=True)
class ByteRange:
    """An inclusive byte range ``[start, end]`` of a representation."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class Unsatisfiable(enum.Enum):
    """Single-member enum: the idiomatic typed sentinel (``is`` narrows it for mypy)."""

    UNSATISFIABLE = "unsatisfiable"

    def __repr__(self) -> str:
        return "UNSATISFIABLE"


UNSATISFIABLE: Final[Literal[Unsatisfiable.UNSATISFIABLE]] = Unsatisfiable.UNSATISFIABLE

# RFC 9110 §14.1.2: "recipients MUST anticipate potentially large decimal
# numerals and prevent parsing errors due to integer conversion overflows".
# Python ints do not overflow, but int() of a huge digit string is slow and
# raises past sys.get_int_max_str_digits(), so numerals with more than 18
# significant digits saturate at 10**18 (1 EB, beyond any real file).  Two
# saturated numerals compare equal, so "bytes=<huge>-<huger>" is not flagged
# as last < first; it is unsatisfiable either way.
_MAX_DIGITS: Final = 18
_SATURATED: Final = 10**_MAX_DIGITS
_OWS: Final = " \t"


def _pos(s: str) -> int:
    """Value of ``1*DIGIT`` (ASCII only, saturating), or -1 if ``s`` is not one."""
    if not (s.isascii() and s.isdigit()):  # rejects "", "+1", " 1", "1_0", "²"
        return -1
    if len(s) > _MAX_DIGITS:
        s = s.lstrip("0")
        if len(s) > _MAX_DIGITS:
            return _SATURATED
    return int(s)


def parse_range(
    header: str | None, size: int, max_ranges: int = 16
) -> list[ByteRange] | Unsatisfiable | None:
    """Parse a Range header against a representation of ``size`` bytes.

    See the module docstring for the meaning of the three kinds of result and
    for the anti-amplification rules.  Syntax (RFC 9110 §14.1.1, §14.2)::

        Range       = range-unit "=" range-set       ; unit is case-insensitive
        range-set   = 1#range-spec                   ; OWS and empty elements allowed
        range-spec  = first-pos "-" [ last-pos ]  /  "-" suffix-length

    No whitespace is accepted inside an element ("0 - 5" is invalid): the
    grammar has none, and ignoring a doubtful header (200) is always safe.
    """
    if header is None:
        return None
    unit, eq, spec = header.partition("=")
    # §14.1: range units are compared case-insensitively; an unknown unit
    # means the header is ignored (§14.2).
    if not eq or unit.strip(_OWS).lower() != "bytes":
        return None

    # Rule 1, cheap pre-check in C: more than 2 * max_ranges list elements,
    # empty ones included, is refused without looking at any of them.  Empty
    # elements must be tolerated only in "a reasonable number" (RFC 9110
    # §5.6.1), and "bytes=,,,,...,0-1" would otherwise cost a loop turn each.
    if spec.count(",") >= 2 * max_ranges:
        return None
    satisfiable: list[tuple[int, int]] = []
    count = 0
    total = 0
    n = len(spec)
    i = 0
    while i <= n:
        comma = spec.find(",", i)
        if comma < 0:
            comma = n
        elem = spec[i:comma].strip(_OWS)
        i = comma + 1
        if not elem:
            continue  # empty list element (RFC 9110 §5.6.1)
        count += 1
        if count > max_ranges:
            return None  # rule 1: too many ranges, bail out before parsing more
        first_s, dash, last_s = elem.partition("-")
        if not dash:
            return None
        if not first_s:
            # suffix-range "-n": the last n bytes, clamped to the whole file.
            suffix = _pos(last_s)
            if suffix < 0:
                return None
            # §14.1.1: a zero suffix-length is unsatisfiable.  An empty
            # representation has no byte to send and a 206 cannot even be
            # expressed ("bytes 0--1/0"), so every range is unsatisfiable then.
            if suffix == 0 or size == 0:
                continue
            start, end = max(0, size - suffix), size - 1
        else:
            start = _pos(first_s)
            if start < 0:
                return None
            if last_s:
                last = _pos(last_s)
                if last < 0 or last < start:
                    return None  # §14.1.1: last-pos < first-pos makes the header invalid
                end = min(last, size - 1)  # §14.1.2: clamp to the last byte
            else:
                end = size - 1
            if start >= size:
                continue  # unsatisfiable element: dropped if another one is satisfiable
        satisfiable.append((start, end))
        total += end - start + 1

    if count == 0:
        return None  # "bytes=" or "bytes=,,": range-set needs one element
    if not satisfiable:
        return UNSATISFIABLE
    if total > size:
        return None  # rule 2: overlapping ranges would amplify the response

    if len(satisfiable) == 1:  # the overwhelmingly common case
        start, end = satisfiable[0]
        return [ByteRange(start, end)]
    # §14.6 lets a server coalesce overlapping ranges "regardless of the order
    # in which the corresponding range-spec appeared"; we also merge adjacent
    # ones (a-b, b+1-c) since two parts would only add a part head.  Parts are
    # then sent in the order they were asked for (§15.3.7.2 SHOULD), a merged
    # part where the first of its members stood.
    order = sorted(range(len(satisfiable)), key=satisfiable.__getitem__)
    merged: list[tuple[int, int, int]] = []  # (first request position, start, end)
    first, (cur_start, cur_end) = order[0], satisfiable[order[0]]
    for i in order[1:]:
        start, end = satisfiable[i]
        if start <= cur_end + 1:
            cur_end = max(cur_end, end)
            first = min(first, i)
        else:
            merged.append((first, cur_start, cur_end))
            first, cur_start, cur_end = i, start, end
    merged.append((first, cur_start, cur_end))
    merged.sort()
    return [ByteRange(start, end) for _, start, end in merged]


def content_range(r: ByteRange, size: int) -> str:
    """Content-Range value for a 206 part, e.g. ``bytes 0-99/1000`` (RFC 9110 §14.4)."""
    return f"bytes {r.start}-{r.end}/{size}"


def unsatisfied_content_range(size: int) -> str:
    """Content-Range value for a 416, e.g. ``bytes */1000`` (RFC 9110 §14.4, §15.5.17)."""
    return f"bytes */{size}"


def new_boundary() -> str:
    """A fresh multipart boundary: 32 random hex digits.

    Unpredictable so that no file can contain a line that fakes a delimiter
    (RFC 2046 §5.1.1 requires that the boundary not occur in the parts);
    hex is a valid token, so it needs no quoting in the Content-Type.
    """
    import secrets  # with hmac and hashlib: only multipart answers need it

    return secrets.token_hex(16)


# RFC 2046 §5.1.1: bchars := DIGIT / ALPHA / "'()+_,-./:=?" and space, 1-70
# characters, not ending in a space.
_BCHARS: Final = frozenset(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? "
)
# tchar (RFC 9110 §5.6.2) minus letters and digits, for deciding on quoting.
_TOKEN_PUNCT: Final = frozenset("!#$%&'*+-.^_`|~")


@dataclass(frozen=True, slots=True)
class MultipartLayout:
    """The exact bytes framing a multipart/byteranges body (RFC 9110 §14.6).

    The body is ``part_heads[0] + data(ranges[0]) + ... + part_heads[-1] +
    data(ranges[-1]) + closing`` and is exactly ``total_length`` bytes long,
    so it can be streamed (e.g. with sendfile for each slice) after sending
    ``Content-Length: total_length``.  Every part head starts with CRLF, the
    first included: RFC 2046 allows an empty preamble followed by CRLF, and it
    keeps every head the same shape (nginx and Apache do the same).
    """

    ranges: tuple[ByteRange, ...]
    part_heads: tuple[bytes, ...]
    closing: bytes
    content_type: str  # the response's Content-Type header value
    total_length: int  # the response's Content-Length

    def parts(self) -> list[tuple[bytes, ByteRange]]:
        """``(head, range)`` pairs in body order."""
        return list(zip(self.part_heads, self.ranges, strict=True))


def multipart_layout(
    ranges: Sequence[ByteRange], size: int, content_type: str, boundary: str
) -> MultipartLayout:
    """Lay out a multipart/byteranges body for ``ranges`` of a ``size``-byte file.

    ``content_type`` is the representation's own type, repeated in each part.
    Raises ``ValueError`` only for programming errors (bad boundary, no ranges,
    a range outside the file, a CR/LF in ``content_type``), never for anything
    a client sends.
    """
    if not 1 <= len(boundary) <= 70 or boundary.endswith(" "):
        raise ValueError(f"invalid multipart boundary: {boundary!r}")
    if not all(c in _BCHARS for c in boundary):
        raise ValueError(f"invalid multipart boundary: {boundary!r}")
    if "\r" in content_type or "\n" in content_type:
        raise ValueError(f"invalid content type: {content_type!r}")
    if not ranges:
        raise ValueError("multipart_layout needs at least one range")
    type_line = f"Content-Type: {content_type}\r\n".encode("latin-1")
    heads: list[bytes] = []
    total = 0
    for r in ranges:
        if not 0 <= r.start <= r.end < size:
            raise ValueError(f"{r!r} is outside a {size}-byte representation")
        head = (
            b"\r\n--"
            + boundary.encode("ascii")
            + b"\r\n"
            + type_line
            + f"Content-Range: bytes {r.start}-{r.end}/{size}\r\n\r\n".encode("ascii")
        )
        heads.append(head)
        total += len(head) + r.length
    closing = f"\r\n--{boundary}--\r\n".encode("ascii")
    total += len(closing)
    # The boundary parameter must be quoted unless it is a token (RFC 9110 §5.6.6);
    # bchars contain no DQUOTE or backslash, so quoting needs no escapes.
    if all((c.isascii() and c.isalnum()) or c in _TOKEN_PUNCT for c in boundary):
        param = boundary
    else:
        param = f'"{boundary}"'
    return MultipartLayout(
        ranges=tuple(ranges),
        part_heads=tuple(heads),
        closing=closing,
        content_type=f"multipart/byteranges; boundary={param}",
        total_length=total,
    )
