"""A strict reader of chunked request bodies (RFC 9112 §7.1), for bodies we drop.

Pure (sans-io): bytes in, how many were consumed and a state out.  A GET or
HEAD may carry a chunked body; the server does not use it, but must read
past it exactly to find the next request.  Chunked framing is where
request smuggling lives (lenient size parsing, bare LF, ``0x`` prefixes,
data longer than declared), so this reader accepts only the grammar:

* ``chunk-size`` is 1*HEXDIG (no sign, no ``0x``, no spaces), at most 16 digits;
* extensions are ``;name[=value]`` with token or quoted-string values;
* every line ends with CRLF, never a bare CR or LF;
* data is followed by CRLF exactly where its declared size ends;
* the trailer section is field lines, then an empty line.

Lines are bounded (``MAX_LINE``) and the data in total (``max_body``): past
that the reader says ``TOO_LARGE`` and the caller closes the connection.
"""

from __future__ import annotations

import enum
import re

MAX_LINE = 4096
MAX_SIZE_DIGITS = 16
_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
# chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ) (RFC 9112 §7.1.1)
_EXTENSIONS = re.compile(
    rb"(?:[ \t]*;[ \t]*" + _TOKEN + rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN + rb"|" + _QUOTED + rb"))?)*\Z"
)
_HEX = re.compile(rb"[0-9A-Fa-f]+")
_FIELD_LINE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t \x21-\x7e\x80-\xff]*\Z")


class State(enum.Enum):
    SIZE = "size"  # expecting a chunk-size line
    DATA = "data"  # inside a chunk's data
    DATA_END = "data-end"  # expecting the CRLF after the data
    TRAILER = "trailer"  # expecting a trailer line or the final empty line
    DONE = "done"
    ERROR = "error"  # malformed: answer 400 and close
    TOO_LARGE = "too-large"  # past the bounds: close without reading on


class ChunkedReader:
    """Feed it what was received; it consumes the body and no byte after it."""

    __slots__ = ("left", "max_body", "state", "total")

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.state = State.SIZE
        self.left = 0  # data bytes still to come in the current chunk
        self.total = 0  # data bytes so far

    @property
    def finished(self) -> bool:
        """True once the outcome is known: DONE, ERROR or TOO_LARGE."""
        return self.state in (State.DONE, State.ERROR, State.TOO_LARGE)

    def feed(self, data: bytes) -> int:
        """Consume as much of ``data`` as belongs to the body; return how much."""
        pos = 0
        while not self.finished and pos < len(data):
            if self.state is State.DATA:
                take = min(self.left, len(data) - pos)
                pos += take
                self.left -= take
                if not self.left:
                    self.state = State.DATA_END
                continue
            if self.state is State.DATA_END:
                if len(data) - pos < 2:
                    if data[pos:] not in (b"", b"\r"):
                        self.state = State.ERROR
                    break
                if data[pos : pos + 2] != b"\r\n":
                    self.state = State.ERROR  # data longer than declared
                    break
                pos += 2
                self.state = State.SIZE
                continue
            newline = data.find(b"\n", pos, pos + MAX_LINE + 1)
            if newline < 0:
                if len(data) - pos > MAX_LINE:
                    self.state = State.ERROR
                break
            line = data[pos : newline + 1]
            pos = newline + 1
            self._line(line)
        return pos

    def _line(self, line: bytes) -> None:
        if not line.endswith(b"\r\n") or b"\r" in line[:-2]:
            self.state = State.ERROR  # a bare LF or CR (RFC 9112 §2.2)
            return
        body = line[:-2]
        if self.state is State.TRAILER:
            if not body:
                self.state = State.DONE
            elif _FIELD_LINE.match(body) is None:
                self.state = State.ERROR
            return
        digits = _HEX.match(body)
        if digits is None or len(digits.group()) > MAX_SIZE_DIGITS:
            self.state = State.ERROR
            return
        if _EXTENSIONS.match(body, digits.end()) is None:
            self.state = State.ERROR
            return
        size = int(digits.group(), 16)
        self.total += size
        if self.total > self.max_body:
            self.state = State.TOO_LARGE
        elif size == 0:
            self.state = State.TRAILER
        else:
            self.left = size
            self.state = State.DATA
