"""The handler: a parsed request in, a :class:`~staticsrv.responses.Response` out.

Owns: the one decision tree from a request to an answer (methods, target
decoding, resolution, files, listings, the 404 page, errors), the rules
applied to every answer (:meth:`Handler.finish`), and the memo that makes a
repeated request cheap.  May not touch: sockets, the bytes of the head, the
Date and Connection fields, the access log.  It can be driven in a unit test
with a :class:`~staticsrv.http11.Request` and a temporary folder.

The memo is not a second decision tree: it only keeps what this tree
decided, after every rule, and hands it out again while the facts it rests
on still hold (see :class:`_Memo`).  A new rule therefore cannot be skipped
by a fast path; a rule that reads request headers names them in ``reads``,
and a request carrying one of those always takes the whole tree.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote

from staticsrv import pages
from staticsrv.cache import Bounded
from staticsrv.config import Config
from staticsrv.fileresponse import Files
from staticsrv.http11 import Request
from staticsrv.listing import Listings
from staticsrv.reader import FileChanged, FileKey, Reader
from staticsrv.resolver import File, Forbidden, Listing, NotFound, Redirect, Resolver
from staticsrv.responses import ALLOW, KNOWN_METHODS, Response, error_response
from staticsrv.target import (
    Target,
    TargetError,
    decode_target,
    directory_redirect,
    quote_segments,
)

log = logging.getLogger("staticsrv")

# Request fields that change what a file answer is beyond its version and
# the target: preconditions other than If-None-Match (which is part of the
# memo key) and Range.  A request carrying one takes the whole tree.
SHAPE_FIELDS = frozenset({"if-match", "if-unmodified-since", "if-modified-since", "range"})
# Out of descriptors or kernel memory: a passing shortage, not a fault of the
# request.  It gets a 503 with Retry-After (RFC 9110 §15.6.4).
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
MEMO_ENTRIES = 4096
LOOKUPS = 3  # a file replaced between stat and open is looked up again, this often


class Rule(Protocol):
    """Something applied to every answer the handler gives, fast path or not."""

    @property
    def reads(self) -> frozenset[str]:
        """Lower-case request fields the rule looks at (such requests skip the memo)."""

    def apply(self, req: Request, resp: Response) -> Response: ...


@dataclass(frozen=True, slots=True)
class AddFields:
    """The simplest rule: the same fields on every answer."""

    fields: tuple[tuple[str, str], ...]
    reads: frozenset[str] = frozenset()

    def apply(self, req: Request, resp: Response) -> Response:
        return resp.with_fields(self.fields)


@dataclass(slots=True)
class _Memo:
    """A final answer, and the facts under which the tree would give it again.

    Keyed on (method, raw target, If-None-Match, has Accept-Encoding) for a
    request without :data:`SHAPE_FIELDS` or rule-read fields.  Valid while:
    for a file, a fresh ``stat`` of ``path`` finds the very version ``key``
    (device, inode, size, mtime: :meth:`FileKey.matches`); for a 404,
    ``path`` is still missing, the site's 404 page is still ``page``
    (None: the built-in page) and, for the built-in page's "nearest folder"
    link, that folder is still one (``hint[0]``) and the folder below it on
    the way to ``path`` still missing (``hint[1]``).  Only answers whose
    body is in memory are kept, and none that depends on the Accept-Encoding
    value.
    """

    path: str
    key: FileKey | None
    page: FileKey | None
    response: Response
    varies: bool = False  # the answer depends on the Accept-Encoding value
    hint: tuple[str, str] | None = None


MemoKey = tuple[str, str, str | None, bool]


class Handler:
    def __init__(self, config: Config, *, rules: Iterable[Rule] = ()) -> None:
        self.config = config
        self.resolver = Resolver(
            config.root,
            listing=config.listing,
            dotfiles=config.dotfiles,
            follow_symlinks=config.follow_symlinks,
        )
        self.reader = Reader(config.cache_entries)
        self.files = Files(config, self.resolver, self.reader)
        self.listings = Listings(config, self.resolver)
        self.rules = tuple(rules)
        self._skip = SHAPE_FIELDS.union(*(rule.reads for rule in self.rules))
        self._memo: Bounded[MemoKey, _Memo] = Bounded(
            MEMO_ENTRIES, budget=config.body_budget, weigh=lambda m: m.response.length
        )
        self._target = functools.lru_cache(maxsize=4096)(
            functools.partial(decode_target, dotfiles=config.dotfiles)
        )
        self._cc = config.generated_cache_control

    @property
    def memo_bytes(self) -> int:
        """Bytes of bodies the memo holds (within ``Config.body_budget``)."""
        return self._memo.held

    def invalidate(self) -> None:
        """Forget every memoised answer (a rule's own inputs changed)."""
        self._memo.clear()

    def close(self) -> None:
        self._memo.clear()
        self.reader.close()

    def finish(self, req: Request, resp: Response) -> Response:
        """Apply every rule to an answer: the one place answers are adjusted."""
        for rule in self.rules:
            resp = rule.apply(req, resp)
        return resp

    def _error(
        self, req: Request, status: int, reason: str = "", extra: Iterable[tuple[str, str]] = ()
    ) -> Response:
        return error_response(
            status, reason=reason, cache_control=self._cc, head=req.method == "HEAD", extra=extra
        )

    async def handle(self, req: Request) -> Response:
        """The final answer to ``req``; never raises for a request or a file."""
        headers = req.headers
        key: MemoKey | None = None
        if self._skip.isdisjoint(headers):
            key = (
                req.method,
                req.target,
                headers.get("if-none-match"),
                "accept-encoding" in headers,
            )
            memo = self._memo.get(key)
            if memo is not None and self._holds(memo):
                return memo.response
        try:
            resp, facts = await self._decide(req)
            resp = self.finish(req, resp)
        except Exception:
            # A fault of ours (or of a rule), never of the request: a 500 that
            # closes, so nothing half-decided is left on the connection.
            log.error("error answering %s\n%s", req.target, traceback.format_exc())
            failed = error_response(500, cache_control=self._cc, close=True)
            try:
                return self.finish(req, failed)
            except Exception:
                return failed  # the fault was a rule's own
        if (
            key is not None
            and facts is not None
            and isinstance(resp.body, bytes)
            and not (key[3] and facts.varies)
        ):
            facts.response = resp
            self._memo[key] = facts
        return resp

    def _holds(self, memo: _Memo) -> bool:
        if memo.key is not None:
            try:
                return memo.key.matches(os.stat(memo.path))
            except (OSError, ValueError):
                return False
        if not self.resolver.still_missing(memo.path, memo.page):
            return False
        if memo.hint is not None:
            folder, below = memo.hint
            return os.path.isdir(folder) and (below == memo.path or self.resolver.is_missing(below))
        return True

    async def _decide(self, req: Request) -> tuple[Response, _Memo | None]:
        method = req.method
        if method == "OPTIONS":
            # RFC 9110 §9.3.7: 204 with the methods this resource supports.
            return Response(204, (("Allow", ALLOW),)), None
        if method not in ("GET", "HEAD"):
            if method not in KNOWN_METHODS:
                return self._error(req, 501), None
            # RFC 9110 §15.5.6: 405 must carry Allow.
            return self._error(req, 405, extra=(("Allow", ALLOW),)), None
        target = self._target(req.target)
        if isinstance(target, TargetError):
            if target.status == 404:
                return await self._not_found(req, None, None)
            return self._error(req, target.status, target.reason), None
        return await self._resolved(req, target)

    async def _resolved(self, req: Request, target: Target) -> tuple[Response, _Memo | None]:
        for _attempt in range(LOOKUPS):
            outcome = self.resolver.resolve(target)
            try:
                if isinstance(outcome, File):
                    resp = await self.files.respond(req, outcome)
                    meta = self.files.meta(outcome)
                    return resp, _Memo(outcome.path, meta.key, None, resp, meta.compressible)
                if isinstance(outcome, Redirect):
                    location = directory_redirect(target)
                    return self._error(req, 301, extra=(("Location", location),)), None
                if isinstance(outcome, Listing):
                    return await self.listings.respond(req, target, outcome), None
                if isinstance(outcome, Forbidden):
                    return self._error(req, 403), None
                assert isinstance(outcome, NotFound)
                return await self._not_found(req, target, self.resolver.full_path(target.relpath))
            except FileChanged as exc:
                # Changed between stat and read (an editor saving): look again.
                self.files.forget(str(exc))
                continue
            except PermissionError:
                return self._error(req, 403), None
            except OSError as exc:
                if exc.errno not in RESOURCE_ERRNOS:
                    raise
                break  # out of descriptors: say so, and when to come back
        # RFC 9110 §15.6.4: a passing condition (a file churning under
        # renames, no descriptor left), with a hint of when to retry.
        return self._error(req, 503, extra=(("Retry-After", "1"),)), None

    async def _not_found(
        self, req: Request, target: Target | None, missing: str | None
    ) -> tuple[Response, _Memo | None]:
        """The 404: the site's ``not_found.html``/``404.html``, else the built-in page.

        ``target`` is None for a target refused by name (a dotfile), which
        must look just as missing; ``missing`` is the path whose absence the
        answer rests on (None: do not memoise).
        """
        page = self.resolver.not_found_page()
        if page is not None:
            try:
                found = await self.files.page(req, page, 404)
                page_key = FileKey.of(page.path, page.st)
            except (FileChanged, OSError):
                found = None
            if found is None:
                # Too large to hold, or it failed: the built-in page, not memoised.
                return self._built_in_404(req, target)[0], None
            resp, varies = found
            memo = None if missing is None else _Memo(missing, None, page_key, resp, varies)
            return resp, memo
        resp, varies, hint = self._built_in_404(req, target)
        if missing is None:
            return resp, None
        return resp, _Memo(missing, None, None, resp, varies, hint)

    def _built_in_404(
        self, req: Request, target: Target | None
    ) -> tuple[Response, bool, tuple[str, str] | None]:
        """The built-in page: the path asked for, a link home, the nearest folder."""
        raw = req.target.partition("?")[0].partition("#")[0]
        # Links relative to where the browser stands (the raw path's last
        # "/"), so they also work under a reverse proxy's prefix.
        root_href = "../" * (raw.count("/") - 1) or "./"
        hint: tuple[str, str] | None = None
        parent: tuple[str, str] | None = None
        if target is not None:
            segments = target.segments
            shown = "/" + target.relpath + ("/" if target.trailing_slash and segments else "")
            depth = self.resolver.nearest_folder(segments) if self.config.listing else None
            if depth is not None:
                above = segments[:depth]
                if above:  # the root has its own link
                    href = root_href + quote_segments(above, True)[1:]
                    parent = (href, "/" + "/".join(above) + "/")
                full = self.resolver.full_path
                hint = (full("/".join(above)), full("/".join(segments[: depth + 1])))
        else:
            shown = unquote(raw.encode("latin-1", "replace").decode("utf-8", "replace"))
        body = pages.not_found_page(shown, root_href, parent)
        resp, varies = self.files.text_page(req, 404, body)
        return resp, varies, hint
