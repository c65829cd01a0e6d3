"""The site's own rules: ``_redirects``/``_headers`` as loaded, and the field rules.

Owns: reading ``_redirects`` and ``_headers`` from the root when present
(re-read when their stat identity changes, problems reported once per
version on stderr), and the :class:`~staticsrv.site.handler.Rule` values that
add fields to every answer: ``-H`` (:class:`SetFields`), ``--cors``
(:class:`Cors`) and ``_headers`` (:class:`SiteHeaders`).  Parsing and
matching are :mod:`staticsrv.site.netlify`'s.  May not touch: sockets, the
decision of what to answer (the handler's).

A rule's field replaces a field of the same name the server set (a
``Cache-Control`` in ``_headers`` wins over the server's), as both hosts do.
"""

from __future__ import annotations

import functools
import logging
import os
import stat
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from staticsrv.http.fields import check_field
from staticsrv.http.http11 import Request
from staticsrv.http.responses import Response
from staticsrv.http.routing import strip_base
from staticsrv.http.target import Target, decode_target
from staticsrv.site.reader import RACY_NS, Clock, wall_ns
from staticsrv.site.ruleindex import RuleIndex

if TYPE_CHECKING:
    from staticsrv.site import netlify

log = logging.getLogger("staticsrv")

RULE_FILES = ("_redirects", "_headers")
MAX_RULES_FILE = 1024 * 1024  # a rules file larger than this is a mistake, not a site
CORS_EXPOSED = "Content-Range, Accept-Ranges, ETag, Content-Length"
CORS_MAX_AGE = "86400"

Identity = tuple[int, int, int, int, int] | None


def replace_fields(
    resp: Response, fields: Iterable[tuple[str, str]], removed: Iterable[str] = ()
) -> Response:
    """``resp`` with ``fields`` set (same-named ones dropped) and ``removed`` gone."""
    fields = tuple(fields)
    names = {name.lower() for name, _ in fields}.union(removed)
    if not names:
        return resp
    vary = resp.field("Vary") if "vary" in names and "vary" not in removed else None
    if vary:
        # Vary lists what the answer depends on: a rule adds to the server's
        # list (Accept-Encoding must stay), it cannot hide it (RFC 9110 §12.5.5).
        fields = tuple((n, f"{vary}, {v}" if n.lower() == "vary" else v) for n, v in fields)
    kept = tuple(f for f in resp.fields if f[0].lower() not in names)
    return replace(resp, fields=(*kept, *fields), _prefix=b"")


# The rules below are plain classes, as SiteHeaders: a dataclass costs start-up time.


class SetFields:
    """``-H "Name: value"``: the same fields on every answer, replacing the server's."""

    __slots__ = ("fields",)
    reads: frozenset[str] = frozenset()

    def __init__(self, fields: tuple[tuple[str, str], ...]) -> None:
        self.fields = fields

    def apply(self, req: Request, resp: Response) -> Response:
        return replace_fields(resp, self.fields)


class Cors:
    """``--cors``: any origin may read every answer, never with credentials.

    ``*`` with ``Access-Control-Allow-Credentials: true`` is refused by
    browsers (Fetch standard, CORS check), so a credentials field that
    another rule set is removed rather than sent as an invalid pair.  The
    answer is the same for every Origin, so nothing here reads the request
    and answers stay in the memo.
    """

    __slots__ = ()
    reads: frozenset[str] = frozenset()
    FIELDS = (
        ("Access-Control-Allow-Origin", "*"),
        # A cross-origin range reader needs these; only a few fields are
        # exposed without asking (Fetch: CORS-safelisted response headers).
        ("Access-Control-Expose-Headers", CORS_EXPOSED),
    )

    def apply(self, req: Request, resp: Response) -> Response:
        return replace_fields(resp, self.FIELDS, ("access-control-allow-credentials",))


def preflight_fields(headers: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The fields of a 204 answer to a CORS preflight (Fetch standard, CORS-preflight fetch)."""
    fields = [
        ("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"),
        ("Access-Control-Max-Age", CORS_MAX_AGE),
    ]
    asked = [h.strip() for h in headers.get("access-control-request-headers", "").split(",")]
    # Echo only well-formed names: the value must stay a clean token list.
    allowed = [h for h in asked if h and check_field(h, "x") is None]
    if allowed:
        fields.append(("Access-Control-Allow-Headers", ", ".join(allowed)))
    return tuple(fields)


def site_path(target: Target) -> str:
    """The decoded path rules match against: "/", "/a/b", "/a/b/"."""
    if not target.segments:
        return "/"
    return "/" + target.relpath + ("/" if target.trailing_slash else "")


def _identity(path: str) -> Identity:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _racy(ident: Identity, now_ns: int) -> bool:
    return ident is not None and (
        abs(now_ns - ident[3]) < RACY_NS or abs(now_ns - ident[4]) < RACY_NS
    )


class SiteFiles:
    """``_redirects`` and ``_headers`` of one root, as last read."""

    def __init__(self, root: str, clock: Clock = wall_ns) -> None:
        self.root = root
        self.clock = clock
        self.paths = tuple(os.path.join(root, name) for name in RULE_FILES)
        self._ids: list[Identity] = [None, None]
        self._texts = ["", ""]
        self._root_id: tuple[int, int, int] = (-1, -1, -1)
        # Bumped whenever the rules change: an answer decided under another
        # generation is never memoised or served from the memo.
        self.generation = 0
        self.redirects: tuple[netlify.Redirect, ...] = ()
        self.index = RuleIndex(())  # the redirects, indexed: what requests match against
        self.headers: tuple[netlify.HeaderBlock, ...] = ()
        self.refresh()

    def refresh(self) -> bool:
        """Re-read a file whose stat identity changed; True if the rules changed.

        Checked once per pass of the handler, so a save is seen by the very
        next request (no watcher thread, no polling delay), at the cost of a
        ``stat`` of the root plus one per file present.  A missing file is
        looked for again only when the root folder changed (an entry created
        or renamed there), or changed within ``RACY_NS`` of now: timestamps
        are coarse (a kernel tick, up to 2 s on some file systems), so a
        creation right after an earlier change could leave the folder's
        mtime as it was.  For the same reason a rule file stamped within
        ``RACY_NS`` of now is read again (and compared) on every check: a
        same-size rewrite within one tick keeps its whole stat.
        """
        now = self.clock()
        try:
            st = os.stat(self.root)
            root_id = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
            settled = root_id == self._root_id and now - max(root_id[1:]) >= RACY_NS
        except OSError:
            root_id, settled = (-1, -1, -1), False
        self._root_id = root_id
        changed = False
        for index, path in enumerate(self.paths):
            if settled and self._ids[index] is None:
                continue  # nothing was created in the root since the last look
            ident = _identity(path)
            if ident == self._ids[index] and not _racy(ident, now):
                continue
            text = self._read(path) if ident is not None else ""
            known = self._ids[index]
            self._ids[index] = ident
            if known is not None and ident is not None and text == self._texts[index]:
                continue  # looked at again while racy: the same rules
            self._texts[index] = text
            changed = True
            name = RULE_FILES[index]
            # The parser (its patterns, urllib.parse) only once a rules file is there.
            from staticsrv.site import netlify

            if index == 0:
                self.redirects, problems = netlify.parse_redirects(text)
                self.index = RuleIndex(self.redirects)
            else:
                self.headers, problems = netlify.parse_headers(text)
            for problem in problems:
                # Once per version of the file: the next report comes with the next save.
                log.warning("staticsrv: %s %s (line skipped)", name, problem)
        if changed:
            self.generation += 1
        return changed

    @staticmethod
    def _read(path: str) -> str:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_RULES_FILE + 1)
        except OSError as exc:
            log.warning("staticsrv: cannot read %s: %s", os.path.basename(path), exc.strerror)
            return ""
        if len(data) > MAX_RULES_FILE:
            log.warning("staticsrv: %s is over 1 MiB; ignored", os.path.basename(path))
            return ""
        return data.decode("utf-8", "replace")


class SiteHeaders:
    """``_headers``: the fields of every block whose path matches the request's."""

    reads: frozenset[str] = frozenset()

    def __init__(self, files: SiteFiles, base: tuple[str, ...], dotfiles: bool) -> None:
        self.files = files
        self.base = base
        self._path = functools.lru_cache(maxsize=4096)(self._site_path)
        self._dotfiles = dotfiles

    def _site_path(self, raw: str) -> str | None:
        target = decode_target(raw, dotfiles=self._dotfiles)
        if not isinstance(target, Target):
            return None
        inside = strip_base(self.base, target)
        if not isinstance(inside, Target):
            return None
        return site_path(inside)

    def apply(self, req: Request, resp: Response) -> Response:
        blocks = self.files.headers
        if not blocks:
            return resp
        path = self._path(req.target)
        if path is None:
            return resp
        from staticsrv.site import netlify  # loaded by refresh() with the blocks

        fields, removed = netlify.headers_for(blocks, path)
        return replace_fields(resp, fields, removed)
