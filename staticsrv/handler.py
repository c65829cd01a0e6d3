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

With ``--live`` the tree also answers the reserved ``/__staticsrv__/``
paths (through :class:`~staticsrv.live.events.Hub`), and every HTML answer
it builds (files, the 404 page, listings, the built-in pages) carries the
live-reload script; the memo keeps those final answers like any other.
Without ``--live`` neither branch is taken and no answer changes.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Protocol

from staticsrv.cache import Bounded
from staticsrv.config import Config
from staticsrv.fileresponse import Files
from staticsrv.http11 import Request
from staticsrv.listing import Listings
from staticsrv.live.events import RESERVED, Hub
from staticsrv.live.inject import inject
from staticsrv.reader import FileChanged, FileKey, Reader
from staticsrv.resolver import File, Forbidden, Listing, NotFound, Redirect, Resolver
from staticsrv.responses import ALLOW, KNOWN_METHODS, Response, error_response
from staticsrv.target import Target, TargetError, decode_target, directory_redirect

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


def _bytes(body: object) -> bytes:
    return body if isinstance(body, bytes) else b""


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
    ``path`` is still missing and the site's 404 page is still ``page``
    (None: the built-in page).  Only answers whose body is in memory are
    kept, and none that depends on the Accept-Encoding value.
    """

    path: str
    key: FileKey | None
    page: FileKey | None
    response: Response
    varies: bool = False  # the answer depends on the Accept-Encoding value


MemoKey = tuple[str, str, str | None, bool]


class Handler:
    def __init__(self, config: Config, *, rules: Iterable[Rule] = ()) -> None:
        self.config = config
        self.resolver = Resolver(config.root, listing=config.listing, dotfiles=config.dotfiles)
        self.reader = Reader(config.cache_entries)
        # Live reload: the event hub, and the script injected into every
        # HTML answer.  Both None without --live: no answer changes then.
        self.live: Hub | None = None
        self._inject: Callable[[bytes], bytes] | None = None
        if config.live:
            self.live = Hub(cache_control=config.generated_cache_control)
            self._inject = inject
        self.files = Files(config, self.resolver, self.reader, inject=self._inject)
        self.listings = Listings(config, self.resolver, inject=self._inject)
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
        if self.live is not None:
            self.live.close()
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
        if self._inject is not None:
            # The built-in pages are HTML too: with the script, and the
            # length of the injected page even for HEAD.
            full = error_response(status, reason=reason, cache_control=self._cc, extra=extra)
            full = full.with_body(self._inject(_bytes(full.body)))
            return full.without_body() if req.method == "HEAD" else full
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
        except Exception:
            log.error("error answering %s\n%s", req.target, traceback.format_exc())
            return self.finish(req, replace(self._error(req, 500), close=True))
        resp = self.finish(req, resp)
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
        if not self.resolver.is_missing(memo.path):
            return False
        page = self.resolver.not_found_page()
        if page is None or memo.page is None:
            return page is None and memo.page is None
        return memo.page.matches(page.st)

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
                return await self._not_found(req, None)
            return self._error(req, target.status, target.reason), None
        if self.live is not None and target.segments[:1] == (RESERVED,):
            # Reserved for the live-reload endpoints only while --live is on.
            return self.live.respond(req, target) or self._error(req, 404), None
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
                return await self._not_found(req, self.resolver.full_path(target.relpath))
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

    async def _not_found(self, req: Request, missing: str | None) -> tuple[Response, _Memo | None]:
        """The 404: the site's ``not_found.html``/``404.html``, else the built-in page."""
        page = self.resolver.not_found_page()
        page_key: FileKey | None = None
        resp: Response | None = None
        if page is not None:
            try:
                resp = await self.files.page(req, page, 404)
                page_key = FileKey.of(page.path, page.st)
            except (FileChanged, OSError):
                resp = None  # fall back to the built-in page
        if resp is None:
            if page is not None:
                return self._error(req, 404), None  # the page failed: do not memoise
            resp = self._error(req, 404)
        return resp, None if missing is None else _Memo(missing, None, page_key, resp)
