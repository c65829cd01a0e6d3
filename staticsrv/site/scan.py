"""The injection point of a large HTML page, found as its bytes go by: pure.

Owns: :class:`Scanner`, a streaming form of
:func:`staticsrv.site.inject.injection_point` (the same rules, the same
answer for every document however it is cut into chunks), and
:func:`spliced`, which maps a byte range of the injected representation
back to pieces of the file and of the script tag.
May not touch: files, sockets (the caller reads and feeds).

State carried across chunks is small and fixed: what construct the
scanner is in (text, comment, a tag's name or attributes, a quoted value,
the raw text of ``<script>``-like elements) plus at most a few bytes of a
marker cut by a chunk boundary.  Memory never grows with the document.

One case needs a second look at the data: a quoted attribute value that
never closes.  The whole-document rules (a regular expression) then end
the tag at the quote and go on reading after it.  A stream only learns
that at the end, so :meth:`Scanner.end` asks the caller to feed again from
that quote.  Each such rewind means that quote character never occurs
again, so there are at most two (one for ``"``, one for ``'``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable

from staticsrv.site.inject import _RAW_TEXT, _UTF16, SCRIPT_TAG

_SPACE = b" \t\n\r\f\v"  # \s of a bytes regular expression
_NAME_END = _SPACE + b"/>"
_NAME_STOP = re.compile(rb"[\s/>]")
_ATTR_STOP = re.compile(rb"[>\"']")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_NON_ASCII = re.compile("[^\x00-\x7f]")
_KEEP = 10  # bytes of a tag name worth keeping: len(b"plaintext") + 1
# A run the rules pass over whole: text, comments, complete start tags of
# ordinary elements (quoted values and all), complete end tags other than
# </head> and </body>.  Matched in C, so a page dense with tags costs about
# what one regular-expression pass costs; whatever stops it (a raw-text or
# head/body tag, a doctype, a tag cut by the chunk's end) goes through the
# state machine below.  Only complete tokens are taken, so a run read
# in one chunk and the same bytes read across two are handled alike.
# Possessive ("*+"): a tag is taken as the rules read it (longest name,
# longest attributes) or not at all, never re-cut so that a ">" fits.
_RAW_NAMES = b"|".join(sorted(_RAW_TEXT))
_BORING = re.compile(
    rb"(?:[^<]+"
    rb"|<!--(?s:.*?)-->"
    rb"|<(?!(?:" + _RAW_NAMES + rb")[\s/>])[a-z][^\s/>]*+(?:[^>\"']|\"[^\"]*\"|'[^']*')*+>"
    rb"|</(?!(?:head|body)[\s/>])[a-z][^\s/>]*+[^>]*+>"
    rb")*"
)


class _In(enum.Enum):
    TEXT = 0
    COMMENT = 1  # <!-- ... -->
    BOGUS = 2  # <!..> or <?..>, up to the next ">"
    END_NAME = 3  # the name of an end tag
    END_REST = 4  # the rest of an end tag, up to ">"
    START_NAME = 5  # the name of a start tag
    ATTRS = 6  # between a start tag's name and its ">"
    QUOTED = 7  # a quoted attribute value
    RAW = 8  # the raw text of <script>, <style>...
    DONE = 9  # nothing after this point can move the answer


class Scanner:
    """Feed a document's bytes in order, in chunks of any size; learn where the script goes.

    :meth:`feed` returns the offset once it is certain (the first real
    ``</head>``); :meth:`end` returns it at the end of the data (the first
    ``</body>``, else the end), or None when the caller must feed again from
    :attr:`rewind` (see the module's note) and call :meth:`end` again.
    """

    def __init__(self) -> None:
        self.found: int | None = None  # the offset of the first real </head>
        self.body = -1  # the offset of the first real </body>
        self.rewind = -1  # where to feed again from, after end() returned None
        self._state = _In.TEXT
        self._buf = b""  # lowercased bytes not yet settled, starting at _base
        self._base = 0  # the offset of _buf[0] in the document
        self._lt = 0  # the offset of the "<" of the tag being read
        self._name = b""  # the tag's name so far (its first _KEEP bytes)
        self._raw = b""  # the end marker of the raw text being skipped
        self._quote = b""  # the quote character of the value being read
        self._quote_at = 0  # the offset of that quote
        self._from = 0  # the offset from which the awaited marker may start
        self._fed = 0  # the offset just past the data fed so far

    def feed(self, data: bytes) -> int | None:
        self._fed += len(data)
        if self.found is not None or self._state is _In.DONE:
            return self.found
        self._buf += data.lower()  # names and markers are ASCII-case-insensitive
        self._run(final=False)
        return self.found

    def end(self) -> int | None:
        """The offset once all the data was fed; None: feed again from :attr:`rewind`."""
        if self.found is None and self._state is not _In.DONE:
            self._run(final=True)
        if self.found is not None:
            return self.found
        if self._state is _In.QUOTED:
            # The value never closed: the tag ends at its quote (where
            # inject._START_TAG gives up on it), and reading goes on from there.
            if self._name == b"plaintext":
                self._state = _In.DONE  # its text never ends: nothing after counts
                return self.body if self.body >= 0 else self._fed
            self.rewind = self._quote_at
            self._state = _In.RAW if self._name in _RAW_TEXT else _In.TEXT
            self._raw = b"</" + self._name
            self._buf = b""
            self._base = self._from = self._fed = self.rewind
            return None
        return self.body if self.body >= 0 else self._fed

    def _run(self, final: bool) -> None:
        buf = self._buf
        base = self._base
        n = len(buf)
        i = 0  # position in buf up to which everything is settled
        state = self._state
        while True:
            if state is _In.TEXT:
                i = _BORING.match(buf, i).end()  # type: ignore[union-attr] # "*" always matches
                lt = buf.find(b"<", i)
                if lt < 0:
                    i = n
                    break
                if lt + 1 >= n:
                    i = lt if not final else n  # a lone "<" at the very end is nothing
                    break
                nxt = buf[lt + 1]
                if nxt == 0x21 and lt + 4 > n and not final and b"<!--".startswith(buf[lt:]):
                    i = lt  # "<!" or "<!-": a comment or not, the next chunk says
                    break
                if buf.startswith(b"<!--", lt):
                    state, self._from, i = _In.COMMENT, base + lt + 4, lt + 4
                elif nxt in (0x21, 0x3F):  # "!" or "?"
                    state, i = _In.BOGUS, lt + 1
                elif nxt == 0x2F:  # "/"
                    if lt + 2 >= n:
                        if final:
                            i = n
                            break
                        i = lt
                        break
                    if 0x61 <= buf[lt + 2] <= 0x7A:  # a letter (lowercased)
                        state, self._lt, self._name, i = _In.END_NAME, base + lt, b"", lt + 2
                    else:
                        i = lt + 2
                elif 0x61 <= nxt <= 0x7A:
                    state, self._lt, self._name, i = _In.START_NAME, base + lt, b"", lt + 1
                else:
                    i = lt + 1
            elif state is _In.COMMENT:
                at = max(i, self._from - base)
                end = buf.find(b"-->", at)
                if end < 0:
                    i = max(at, n - 2)  # "-" or "--" may start the marker
                    if final:
                        state, i = _In.DONE, n  # the rest is a comment
                    break
                state, i = _In.TEXT, end + 3
            elif state in (_In.BOGUS, _In.END_REST):
                # The rest of a bogus comment or of an end tag: up to ">".
                end = buf.find(b">", i)
                if end < 0:
                    i = n
                    if final:
                        state = _In.DONE
                    break
                state, i = _In.TEXT, end + 1
            elif state in (_In.END_NAME, _In.START_NAME):
                m = _NAME_STOP.search(buf, i)
                j = m.start() if m else n
                if len(self._name) < _KEEP:
                    self._name += buf[i : min(j, i + _KEEP - len(self._name))]
                if j >= n and not final:
                    i = n
                    break
                i = j
                name = self._name
                if state is _In.END_NAME:
                    if name == b"head":
                        self.found = self._lt
                        state = _In.DONE
                        break
                    if name == b"body" and self.body < 0:
                        self.body = self._lt
                    state = _In.END_REST
                else:
                    state = _In.ATTRS
            elif state is _In.ATTRS:
                m = _ATTR_STOP.search(buf, i)
                j = m.start() if m else n
                if j >= n:
                    i = n
                    if final:
                        state = _In.DONE
                    break
                if buf[j] == 0x3E:  # ">": the start tag is over
                    i = j + 1
                    state = self._after_start_tag()
                    if state is _In.RAW:
                        self._from = base + i
                else:
                    self._quote, self._quote_at = buf[j : j + 1], base + j
                    state, i = _In.QUOTED, j + 1
            elif state is _In.QUOTED:
                end = buf.find(self._quote, i)
                if end < 0:
                    i = n
                    break  # end() decides: a value that never closes
                state, i = _In.ATTRS, end + 1
            elif state is _In.RAW:
                marker = self._raw
                at = max(i, self._from - base)
                end = buf.find(marker, at)
                while end >= 0:
                    after = end + len(marker)
                    if after >= n:
                        break
                    if buf[after] in _NAME_END:
                        break
                    end = buf.find(marker, end + 1)
                if end < 0:
                    # Keep what could be the start of the marker.
                    i = max(at, n - len(marker) + 1)
                    if final:
                        state, i = _In.DONE, n  # the raw text runs to the end
                    break
                if end + len(marker) >= n and not final:
                    i = end  # the marker's next byte decides
                    break
                state, i = _In.TEXT, end
            else:  # DONE
                break
        self._state = state
        self._buf = buf[i:]
        self._base = base + i

    def _after_start_tag(self) -> _In:
        name = self._name
        if name not in _RAW_TEXT:
            return _In.TEXT
        if name == b"plaintext":
            return _In.DONE  # never ends (HTML Standard §13.2.5.5)
        self._raw = b"</" + name
        return _In.RAW


def _units(data: bytes, encoding: str) -> bytes:
    """UTF-16 ``data`` as one byte per code unit, for the scanner.

    ASCII stays itself; every other code unit becomes 0x80, which no rule
    looks at (markers and names are ASCII), so the scanner's offsets are
    code units.  ``surrogatepass`` keeps a pair cut by a chunk boundary as
    two units, as an astral character in one piece becomes two below.
    """
    text = data.decode(encoding, "surrogatepass")
    text = _ASTRAL.sub("\x80\x80", text)
    return _NON_ASCII.sub("\x80", text).encode("latin-1")


def find_point(
    read: Callable[[int, int], bytes], size: int, piece: int = 64 * 1024
) -> tuple[int, bytes]:
    """Where the script goes in a document of ``size`` bytes, and the tag to put there.

    ``read(offset, count)`` returns the document's bytes (EOFError if it
    ends early: the file changed); at most ``piece`` bytes are asked for at once.  A
    document with a UTF-16 byte order mark gets its tag in UTF-16, at the
    offset :func:`~staticsrv.site.inject.inject` would choose.
    """
    start, encoding = 0, ""
    bom = read(0, min(2, size))
    for mark, name in _UTF16:
        if bom == mark:
            start, encoding = len(mark), name
    piece -= piece % 2
    # Odd trailing byte of a UTF-16 document: not a code unit, never a marker.
    stop = size - (size - start) % 2 if encoding else size
    scanner = Scanner()
    offset = start
    while True:
        while offset < stop:
            count = min(piece, stop - offset)
            data = read(offset, count)
            if len(data) != count:
                raise EOFError(f"{count} bytes asked at {offset}, {len(data)} read")
            offset += count
            found = scanner.feed(_units(data, encoding) if encoding else data)
            if found is not None:
                break
        at = scanner.end()
        if at is not None:
            break
        offset = start + scanner.rewind * (2 if encoding else 1)
    if not encoding:
        return at, SCRIPT_TAG
    return start + 2 * at, SCRIPT_TAG.decode("ascii").encode(encoding)


def spliced(
    at: int, start: int, length: int, tag: bytes = SCRIPT_TAG
) -> Iterable[bytes | tuple[int, int]]:
    """Pieces of ``length`` bytes from ``start`` of the file with ``tag`` at ``at``.

    File pieces are (offset, count) regions of the file; the tag's are bytes.
    """
    end = start + length
    if start < at:  # before the tag
        stop = min(end, at)
        yield (start, stop - start)
    t0, t1 = max(start, at), min(end, at + len(tag))
    if t0 < t1:  # inside the tag
        yield tag[t0 - at : t1 - at]
    if end > at + len(tag):  # after it
        s = max(start, at + len(tag))
        yield (s - len(tag), end - s)
