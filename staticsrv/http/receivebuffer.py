"""Finding where each request head ends, in bytes that arrive in pieces.

Owns: :class:`ReceiveBuffer`, in the manner of h11's ``_receivebuffer.py``:
it only finds the end of a head, remembering where the previous search
stopped (a head dribbled one byte at a time costs O(n), not O(n^2)), checks
the first line as soon as it is complete (so a TLS ClientHello or binary
data on the plain port gets its 400 at once, not after the head deadline),
and hands each complete head to :func:`staticsrv.http.http11.parse_head`.
Pure: bytes in, heads or errors out.  May not touch: sockets, clocks.
"""

from __future__ import annotations

from staticsrv.http.abnf import LINE_CHARS, TCHAR
from staticsrv.http.http11 import (
    E_BARE_LF,
    E_EMPTY_LINES,
    E_HEAD_TOO_LARGE,
    E_LINE_TOO_LONG,
    E_NOT_HTTP,
    MAX_EMPTY_LINES,
    ParseError,
    check_first_line,
)
from staticsrv.http.limits import Limits

__all__ = ["ReceiveBuffer"]


def _plausible(data: bytearray, start: int) -> bool:
    """Whether a first line still incomplete can become a request line.

    A TLS ClientHello on the plain port (first byte 0x16) or binary garbage
    gets its 400 at once instead of after the head deadline.  Only the
    bytes not yet looked at are checked, so a line fed byte by byte stays
    O(n).  A CR at the very end may be the start of the CRLF.
    """
    if data[:1].translate(None, TCHAR) and data != b"\r":
        # A request line starts with a method token (RFC 9112 §3); a lone
        # CR may still become one of the empty lines allowed before it.
        return False
    # From one byte back: a CR that ended the last look is judged again.
    new = bytes(data[max(start - 1, 0) :])
    return not new.removesuffix(b"\r").translate(None, LINE_CHARS)


class ReceiveBuffer:
    """Accumulates received bytes and cuts complete request heads out of them.

    A head ends at the first empty line.  The search remembers where it
    stopped and resumes 3 bytes before that point (the longest terminator,
    LF CR LF, is 3 bytes), so each byte is examined a bounded number of times
    however finely the head is split across ``feed`` calls.
    """

    __slots__ = (
        "_data",
        "_empty_lines",
        "_head_search",
        "_limits",
        "_line_ok",
        "_line_search",
        "_scanned",
    )

    def __init__(self, limits: Limits) -> None:
        self._data = bytearray()
        self._limits = limits
        self._head_search = 0  # where the next search for the head end starts
        self._line_search = 0  # where the next search for the first LF starts
        self._line_ok = False  # the first line is complete and well formed
        self._empty_lines = 0  # empty lines dropped since the last head
        # Bytes covered by all searches so far: lets tests prove the search
        # is linear without timing anything.
        self._scanned = 0

    def feed(self, data: bytes) -> None:
        self._data += data

    def __len__(self) -> int:
        return len(self._data)

    def __bool__(self) -> bool:
        return bool(self._data)

    def _restart_search(self) -> None:
        self._head_search = 0
        self._line_search = 0
        self._line_ok = False

    def extract_head(self) -> bytes | ParseError | None:
        """Remove and return one complete head, or None when more bytes are needed.

        The head excludes its final empty line (which is removed as well).
        A ParseError is returned as soon as the outcome is certain: request
        line too long (414), head too large (431), or a first line that is
        not ``method SP target SP HTTP-version`` (400, or 505 for another
        version).  Nothing is consumed on error: the connection is about to
        be closed.
        """
        data = self._data
        # RFC 9112 §2.2: ignore empty lines received before the request line.
        while data.startswith(b"\r\n"):
            if self._empty_lines >= MAX_EMPTY_LINES:
                return E_EMPTY_LINES
            del data[:2]  # O(1): bytearray deletes from the front lazily
            self._empty_lines += 1
            self._restart_search()
        if not data:
            return None

        limits = self._limits
        # A head longer than max_head is refused anyway, so the search never
        # looks past the furthest place its terminator could start.
        limit = limits.max_head + 2
        start = self._head_search
        end = min(len(data), limit)
        # A head ends at CRLF CRLF, found as LF CR LF so that a head whose
        # last line ends with a bare LF still ends somewhere; and at LF LF so
        # that LF-only clients get a prompt 400 instead of hanging until the
        # head timeout.  The second search stops where the first match lies,
        # keeping several pipelined heads in one buffer linear as well.
        crlf = data.find(b"\n\r\n", start, end)
        lf_end = crlf + 2 if crlf >= 0 else end
        lflf = data.find(b"\n\n", start, lf_end)
        self._scanned += (crlf + 3 if crlf >= 0 else end) - start + (lf_end - start)
        if lflf >= 0:
            return E_BARE_LF  # the empty line itself is a bare LF (§2.2)
        if crlf >= 0:
            head = bytes(data[: crlf + 1])
            del data[: crlf + 3]
            self._restart_search()
            self._empty_lines = 0
            return head
        self._head_search = max(0, end - 3)

        if not self._line_ok:
            # Decide about the first line as soon as it is complete, so that
            # an HTTP/0.9 "GET /" or garbage is refused without waiting for
            # an empty line that will never come.
            newline = data.find(b"\n", self._line_search)
            self._scanned += len(data) - self._line_search
            if newline < 0:
                if not _plausible(data, self._line_search):
                    return E_NOT_HTTP
                self._line_search = len(data)
                pending = len(data) - (1 if data.endswith(b"\r") else 0)
                if pending > limits.max_request_line:
                    return E_LINE_TOO_LONG
            else:
                error = check_first_line(bytes(data[: newline + 1]), limits)
                if error is not None:
                    return error
                self._line_ok = True

        if len(data) >= limit:
            # No terminator can now end the head within max_head bytes.
            return E_HEAD_TOO_LARGE
        return None

    def peek(self) -> bytes:
        """Everything received and not yet consumed (a chunked body being read)."""
        return bytes(self._data)

    def extract(self, n: int) -> bytes:
        """Remove and return up to ``n`` bytes (a request body to discard)."""
        if n <= 0:
            return b""
        chunk = bytes(self._data[:n])
        del self._data[:n]
        self._restart_search()
        return chunk
