"""The handler's memo: final answers, and the facts each one rests on.

Owns: what a memo entry is (:class:`Memo`), what it is keyed on
(:data:`MemoKey`), which request fields keep a request out of it
(:data:`SHAPE_FIELDS`), and the check that its facts still hold, in as few
system calls as the verdict needs.  The memo is not a second decision tree:
the handler stores only what its one tree decided, after every rule.
May not touch: sockets, the decision itself.

The invariant, kept by construction: a request whose first byte arrived
after a save completed never gets an answer decided from the disk before
that save.  How:

- *Passes.*  The handler looks at the disk (the rule files, then each memo
  entry's facts) once per pass; within a pass an entry already checked is
  served without a ``stat``.  A pass begins at the first request handled
  after the previous one ended, and ends at the loop's next turn **or as
  soon as any bytes are read off any socket** (``Passes.arrived``,
  called by every transport read: the readiness callback, the direct
  ``recv`` of a new connection or of a paused one, the ``sock_recv``
  fallback).  So every request handled in a pass was read before the pass
  began, hence before its checks: the choice for a new connection's first
  ``recv`` is that it ends the pass in progress, and its request starts a
  pass of its own (or shares the one the next request starts).  The
  connection's quick path (``staticsrv.net.quick``) keeps this: it only
  collects what the readiness callbacks read, and answers a batch in a
  callback of the loop's next turn, where ``begin`` runs after every read
  of the batch.
- *Facts are dated when gathered.*  An entry records the pass that was
  current *before* the tree began deciding (``seen``), not the one in which
  the decision finished: a decision that outlives its pass is stored as
  unchecked and the next request ``stat`` s it.
- *Rule versions.*  An entry records the generation of the rule files
  (``_redirects``, ``_headers``: ``SiteFiles.generation``) in force before
  the tree began; it is stored only if that generation is still current and
  served only while it is.  The other inputs an answer rests on are facts
  of the entry itself (the file's version, the 404 page's version, the
  paths that must stay missing); answers resting on the SPA file or a
  ``_redirects`` rule are never memoised.
- *Racy versions.*  A file stamped within ``reader.RACY_NS`` of the moment
  it was looked at is never memoised (a same-size rewrite within one
  timestamp tick keeps its whole stat); see :mod:`staticsrv.site.reader`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from staticsrv.http.http11 import Request
from staticsrv.http.responses import Response
from staticsrv.site.reader import FileKey
from staticsrv.site.resolver import Resolver

MEMO_ENTRIES = 4096
# Bodies up to this size are kept a second time by the edge, joined to their
# rendered head (Memo.wire), so a hit is one send of one buffer; the memo's
# byte budget counts that copy (Memo.weight).  Larger ones go out as head
# and body in one sendmsg, with no copy.
WIRE_MAX = 16 * 1024
# Request fields that change what a file answer is beyond its version and
# the target: preconditions other than If-None-Match (which is part of the
# memo key) and Range.  A request carrying one takes the whole tree.
SHAPE_FIELDS = frozenset({"if-match", "if-unmodified-since", "if-modified-since", "range"})


@dataclass(slots=True)
class Memo:
    """A final answer, and the facts under which the tree would give it again.

    Keyed on (method, raw target, If-None-Match, has Accept-Encoding) for a
    request without :data:`SHAPE_FIELDS` or rule-read fields.  Valid while:
    for a file, a fresh ``stat`` of ``path`` finds the very version ``key``
    (device, inode, size, mtime: :meth:`FileKey.matches`); for a 404,
    ``path`` is still missing, the site's 404 page is still ``page``
    (None: the built-in page) and the built-in page's "nearest folder" link
    still holds (``hint``, see :class:`~staticsrv.site.notfound.Answer404`); and
    every path in ``absent`` is still missing.  Only answers whose body is
    in memory are kept, none that depends on the Accept-Encoding value, and
    no answer decided by a ``_redirects`` rule or the SPA fallback (they
    rest on more facts).
    """

    path: str
    key: FileKey | None
    page: FileKey | None
    response: Response
    varies: bool = False  # the answer depends on the Accept-Encoding value
    hint: tuple[str, str] | None = None
    # Paths whose absence the answer rests on: "about" for a clean URL
    # answered by about.html, and every candidate tried before a 404.
    absent: tuple[str, ...] = ()
    seen: int = -1  # the handler's pass in which these facts were last found to hold
    rules: int = -1  # the version of the rule files it was decided under (SiteFiles.generation)
    # The edge's rendering of ``response`` for a keep-alive HTTP/1.1 client:
    # (Date line, head + body, head), so a hit renders nothing; the joined
    # copy only for a body up to WIRE_MAX (else b"").  Stale once the Date
    # line moves on (the edge compares it); the answer itself is the same
    # value, so this holds no fact of its own.
    wire: tuple[bytes, bytes, bytes] | None = None

    @property
    def weight(self) -> int:
        """Bytes this entry holds against the memo's budget (its body, and the wire copy)."""
        length = self.response.length
        return 2 * length if length <= WIRE_MAX else length

    def fresh(self, now: int, rules: int, resolver: Resolver) -> bool:
        """True if this answer may be served in pass ``now`` under rule files ``rules``."""
        if self.rules != rules:
            return False  # decided under other _redirects/_headers
        if self.seen != now:
            if not self.holds(resolver):
                return False
            self.seen = now  # checked in this pass: not again until it ends
        return True

    def holds(self, resolver: Resolver) -> bool:
        """True while every fact this answer rests on still holds (see above)."""
        if self.absent and not all(map(resolver.is_missing, self.absent)):
            return False
        if self.key is not None:
            try:
                return self.key.matches(os.stat(self.path))
            except (OSError, ValueError):
                return False
        if not resolver.still_missing(self.path, self.page):
            return False
        if self.hint is not None:
            folder, below = self.hint
            return os.path.isdir(folder) and (below == self.path or resolver.is_missing(below))
        return True


MemoKey = tuple[str, str, str | None, bool]


def key_of(req: Request) -> MemoKey:
    """What the memo is keyed on (see :class:`Memo`)."""
    headers = req.headers
    return (req.method, req.target, headers.get("if-none-match"), "accept-encoding" in headers)


class Passes:
    """The handler's passes (see the module's invariant): which one is current.

    ``look`` runs at the start of each pass (the rule files' check).
    ``next_pass`` is the loop's ``call_soon``: a pass ends at the loop's next
    turn at the latest; left None, every request is a pass of its own.
    """

    def __init__(self, look: Callable[[], None]) -> None:
        self.look = look
        self.next_pass: Callable[[Callable[[], None]], object] | None = None
        self.current = 0
        self._in_pass = False
        self._ending = False  # an end is scheduled with next_pass

    def begin(self) -> int:
        """The current pass for a request about to be handled; a new one if none is."""
        if not self._in_pass:
            self.current += 1
            self.look()
            if self.next_pass is not None:
                self._in_pass = True
                if not self._ending:
                    self._ending = True
                    self.next_pass(self._end)
        return self.current

    def _end(self) -> None:
        self._in_pass = self._ending = False

    def arrived(self) -> None:
        """Bytes were just read off a socket: the pass in progress ends here."""
        self._in_pass = False
