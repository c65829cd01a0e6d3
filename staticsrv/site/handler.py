"""The handler: a parsed request in, a :class:`~staticsrv.http.responses.Response` out.

Owns: the one decision tree from a request to an answer (Host check, methods, CORS preflight,
target decoding, ``--base``, ``_redirects``, resolution, clean URLs, SPA fallback, files,
listings, the 404 page, errors; the pure parts live in :mod:`staticsrv.http.routing` and
:mod:`staticsrv.site.netlify`, the proxy branch in :mod:`staticsrv.site.proxying`), the rules
applied to every answer (:meth:`Handler.finish`), and the memo that makes a repeated request
cheap. May not touch: sockets, the bytes of the head, the Date and Connection fields, the access
log. It can be driven in a unit test with a :class:`~staticsrv.http.http11.Request` and a
temporary folder.

The memo is not a second decision tree: it only keeps what this tree decided, after every rule,
and hands it out again while the facts it rests on still hold (see
:class:`~staticsrv.site.memo.Memo`). A new rule therefore cannot be skipped by a fast path; a
rule that reads request headers names them in ``reads``, and a request carrying one of those
always takes the whole tree. With ``--live`` the tree also answers ``/__staticsrv__/`` (an
:class:`~staticsrv.site.extension.Endpoints` the server plugs in), and every HTML answer it
builds carries the live-reload script (the memo keeps those final answers).
"""

from __future__ import annotations

import errno
import functools
import logging
import traceback
from collections.abc import Callable, Iterable
from dataclasses import replace

from staticsrv.config import Config
from staticsrv.http.http11 import Request
from staticsrv.http.responses import ALLOW, KNOWN_METHODS, Response, error_response
from staticsrv.http.routing import (
    HOST_REFUSED,
    base_url,
    host_allowed,
    html_candidate,
    is_navigation,
    strip_base,
)
from staticsrv.http.target import Target, TargetError, decode_target, directory_redirect
from staticsrv.site import reader as _reader
from staticsrv.site.cache import Bounded
from staticsrv.site.extension import Endpoints, Upstream
from staticsrv.site.fileresponse import Files
from staticsrv.site.listing import Listings
from staticsrv.site.memo import MEMO_ENTRIES, SHAPE_FIELDS, Memo, MemoKey, Passes, key_of
from staticsrv.site.notfound import NotFoundPages
from staticsrv.site.proxying import ProxyRouting
from staticsrv.site.reader import Clock, FileChanged, Reader
from staticsrv.site.resolver import File, Forbidden, Listing, NotFound, Redirect, Resolver
from staticsrv.site.ruleanswer import RuleAnswers
from staticsrv.site.rules import AddFields, Rule
from staticsrv.site.siterules import (
    RULE_FILES,
    Cors,
    SetFields,
    SiteFiles,
    SiteHeaders,
    preflight_fields,
    replace_fields,
    site_path,
)

log = logging.getLogger("staticsrv")

__all__ = ["AddFields", "Handler", "Rule"]

# Out of descriptors or kernel memory: a passing shortage, not a fault of the
# request.  It gets a 503 with Retry-After (RFC 9110 §15.6.4).
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
LOOKUPS = 3  # a file replaced between stat and open is looked up again, this often


def _bytes(body: object) -> bytes:
    return body if isinstance(body, bytes) else b""


class Handler(ProxyRouting, RuleAnswers):
    def __init__(
        self,
        config: Config,
        *,
        rules: Iterable[Rule] = (),
        clock: Clock | None = None,
        endpoints: Endpoints | None = None,
        upstream: Callable[[Config], Upstream] | None = None,
    ) -> None:
        self.config = config
        # "now" for the racy check (reader.RACY_NS); looked up here so a test can stub it.
        clock = self.clock = clock if clock is not None else _reader.wall_ns
        self.resolver = Resolver(
            config.root,
            listing=config.listing,
            dotfiles=config.dotfiles,
            follow_symlinks=config.follow_symlinks,
            mounts=config.mounts,
        )
        self.reader = Reader(config.cache_entries)
        # Live reload: its endpoints (made by the server above, see
        # staticsrv.site.extension), and the script injected into every HTML
        # answer.  Both None without --live: no answer changes then.
        self.live = endpoints
        self._inject: Callable[[bytes], bytes] | None = None
        self._reserved = () if endpoints is None else (endpoints.reserved,)
        if config.live:
            from staticsrv.site.inject import inject

            self._inject = inject
        self.make_upstream = upstream  # the proxy's maker, called on first use
        self.files = Files(config, self.resolver, self.reader, inject=self._inject, clock=clock)
        self.listings = Listings(config, self.resolver, inject=self._inject)
        self.not_found = NotFoundPages(config, self.resolver, self.files)
        self.site = SiteFiles(config.root, clock) if config.site_rules else None
        own: list[Rule] = []
        if config.headers:
            own.append(SetFields(config.headers))
        if self.site is not None:
            own.append(SiteHeaders(self.site, config.base, config.dotfiles))
        if config.cors:
            own.append(Cors())  # last: it removes what must not go with "*"
        self.rules = (*own, *rules)
        self.base = config.base
        self._base_url = base_url(config.base)
        hosts = config.allowed_hosts
        self._host_ok = (
            None
            if hosts is None
            else functools.lru_cache(maxsize=256)(lambda host: host_allowed(host, hosts))
        )
        self._skip = SHAPE_FIELDS.union(*(rule.reads for rule in self.rules))
        self._memo: Bounded[MemoKey, Memo] = Bounded(
            MEMO_ENTRIES, budget=config.body_budget, weigh=lambda m: m.weight
        )
        self._target = functools.lru_cache(maxsize=4096)(
            functools.partial(decode_target, dotfiles=config.dotfiles)
        )
        self._cc = config.generated_cache_control
        self.passes = Passes(self._look)  # the server sets passes.next_pass

    @property
    def memo_bytes(self) -> int:
        """Bytes of bodies the memo holds (within ``Config.body_budget``)."""
        return self._memo.held

    def _look(self) -> None:
        """The checks at the start of a pass: the rule files."""
        if self.site is not None and self.site.refresh():
            self.invalidate()  # _redirects or _headers changed: answers may differ

    def _rules(self) -> int:  # the version of the rule files (memo.py)
        return self.site.generation if self.site is not None else 0

    def invalidate(self) -> None:
        """Forget every memoised answer (a rule's own inputs changed)."""
        self._memo.clear()

    def close(self) -> None:
        if self.live is not None:
            self.live.close()
        super().close()  # the proxy's upstream connections
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

    def memo_key(self, req: Request) -> MemoKey | None:
        """The memo key of ``req``, or None if only the tree may answer it.

        None for a refused Host (the 403 is the tree's) and for a request
        carrying a field that shapes the answer beyond the key
        (:data:`~staticsrv.site.memo.SHAPE_FIELDS`, or a field a rule reads).
        It depends on nothing but the request and the configuration, so the
        quick path (:mod:`staticsrv.net.quick`) keeps it per distinct head.
        """
        headers = req.headers
        if self._host_ok is not None and not self._host_ok(headers.get("host")):
            return None
        if not self._skip.isdisjoint(headers):
            return None
        if self.config.proxy:
            # --proxy paths go up and are never memoised: no use asking.
            path = req.target.partition("?")[0]
            if any(m.matches(path) for m in self.config.proxy):
                return None
        return key_of(req)

    def memo_hit(self, key: MemoKey) -> Memo | None:
        """The memoised answer :meth:`handle` would give for ``key`` now, or None.

        The same pass and rules' version as :meth:`handle`, without the
        tree: the quick path serves a hit with no coroutine, and takes
        everything else to :meth:`handle`.
        """
        return self._fresh(key, self.passes.begin(), self._rules())

    def _fresh(self, key: MemoKey, now: int, rules: int) -> Memo | None:
        memo = self._memo.get(key)
        return memo if memo is not None and memo.fresh(now, rules, self.resolver) else None

    async def handle(self, req: Request) -> Response:
        """The final answer to ``req``; never raises for a request or a file."""
        headers = req.headers
        # DNS rebinding: before anything else, even the memo (README, Security).
        if self._host_ok is not None and not self._host_ok(headers.get("host")):
            return self.finish(req, self._error(req, 403, HOST_REFUSED))
        # The pass and the rules' version before the tree looks at anything:
        # an answer whose decision outlives either is not stored as fresh.
        now, rules = self.passes.begin(), self._rules()
        key: MemoKey | None = None
        if self._skip.isdisjoint(headers):
            key = key_of(req)
            if (memo := self._fresh(key, now, rules)) is not None:
                return memo.response
        try:
            resp, facts = await self._decide(req)
            resp = self.finish(req, resp)
        except Exception:
            # A fault of ours (or of a rule), never of the request: a 500 that
            # closes, so nothing half-decided is left on the connection.
            log.error("error answering %s\n%s", req.target, traceback.format_exc())
            failed = replace(self._error(req, 500), close=True)
            try:
                return self.finish(req, failed)
            except Exception:
                return failed  # the fault was a rule's own
        if (
            key is not None
            and facts is not None
            and isinstance(resp.body, bytes)
            and not (key[3] and facts.varies)
            and rules == self._rules()  # decided under the rules still in force
        ):
            facts.response = resp
            facts.seen = now  # trusted within the pass it was decided in, if still current
            facts.rules = rules
            self._memo[key] = facts
        return resp

    async def _decide(self, req: Request) -> tuple[Response, Memo | None]:
        method = req.method
        if self.may_proxy and (upstream := await self._proxied(req)) is not None:
            return upstream, None  # --proxy paths first, and what only a rule may answer
        if method == "OPTIONS":
            allow = (("Allow", ALLOW),)
            if self.config.cors and "access-control-request-method" in req.headers:
                # A CORS preflight (Fetch standard): say what may follow.
                return Response(204, (*allow, *preflight_fields(req.headers))), None
            # RFC 9110 §9.3.7: 204 with the methods this resource supports.
            return Response(204, allow), None
        if method not in ("GET", "HEAD"):
            if method not in KNOWN_METHODS:
                return self._error(req, 501), None
            # RFC 9110 §15.5.6: 405 must carry Allow.
            return self._error(req, 405, extra=(("Allow", ALLOW),)), None
        target = self._target(req.target)
        if isinstance(target, TargetError):
            if target.status == 404:
                return await self._not_found(req, None, ())
            return self._error(req, target.status, target.reason), None
        if self.live is not None and target.segments[:1] == self._reserved:
            # Reserved for the live-reload endpoints only while --live is on
            # (at the server's root, even under --base: the script's URL).
            return self.live.respond(req, target) or self._error(req, 404), None
        if self.base:
            inside = strip_base(self.base, target)
            if inside is True:
                # "/" and "/project" lead to "/project/".  302, not 301: a
                # browser keeps a 301 for good, and this port may serve
                # another site tomorrow.  The query goes along, as for
                # /dir -> /dir/ (a shared "/project?lang=fr" keeps it).
                location = directory_redirect(Target(self.base, target.query, True))
                return self._redirect(req, 302, location), None
            if inside is False:
                return self._error(req, 404), None  # outside the prefix
            assert isinstance(inside, Target)
            target = inside
        return await self._routed(req, target)

    def _redirect(self, req: Request, status: int, location: str) -> Response:
        return self._error(req, status, extra=(("Location", location),))

    async def _routed(self, req: Request, target: Target) -> tuple[Response, Memo | None]:
        """Rules, file, folder, clean URL, rules again, SPA, 404: the site's precedence."""
        path = site_path(target)
        hit, soft = self.site.index.both(path) if self.site is not None else (None, None)
        if hit is not None:
            return await self._rule(req, target, *hit)
        bare = soft is not None and self.resolver.is_bare_folder(target)
        found = None if bare else await self._resolved(req, target)  # bare: no page on a host
        if found is not None:
            return found
        missing: tuple[str, ...] = (self.resolver.full_path(target.relpath),)
        html = html_candidate(target) if self.config.clean_urls else None
        if html is not None:
            found = await self._resolved(req, html, files_only=True)
            if found is not None:
                resp, facts = found
                if facts is not None:
                    facts.absent = missing
                return resp, facts
            missing += (self.resolver.full_path(html.relpath),)
        if soft is not None:
            return await self._rule(req, target, *soft)
        if self.config.spa is None:
            return await self._not_found(req, target, missing)
        if is_navigation(req.method, req.headers, target):
            page = Target(tuple(self.config.spa.split("/")), "", False)
            found = await self._resolved(req, page, files_only=True)
            if found is not None:
                # A route of the app, not a file: revalidate it every time.
                resp = replace_fields(found[0], (("Cache-Control", self._cc),))
                return _vary_accept(resp), None
        resp, _facts = await self._not_found(req, target, ())  # rests on Accept: not memoised
        return _vary_accept(resp), None

    async def _resolved(
        self, req: Request, target: Target, *, files_only: bool = False
    ) -> tuple[Response, Memo | None] | None:
        """The answer for what is at ``target``; None if nothing is (or no file, if asked)."""
        if len(target.segments) == 1 and target.segments[0] in RULE_FILES:
            return None  # the rules are read, never served
        for _attempt in range(LOOKUPS):
            outcome = self.resolver.resolve(target)
            if files_only and not isinstance(outcome, File):
                return None
            try:
                if isinstance(outcome, File):
                    meta = self.files.meta(outcome)
                    resp = await self.files.respond(req, outcome)
                    if meta.racy:
                        return resp, None  # too recent to trust its stat (reader.RACY_NS)
                    return resp, Memo(outcome.path, meta.key, None, resp, meta.compressible)
                if isinstance(outcome, Redirect):
                    location = self._base_url + directory_redirect(target)[1:]
                    return self._redirect(req, 301, location), None
                if isinstance(outcome, Listing):
                    shown = Target((*self.base, *target.segments), target.query, True)
                    return await self.listings.respond(req, shown, outcome), None
                if isinstance(outcome, Forbidden):
                    return self._error(req, 403), None
                assert isinstance(outcome, NotFound)
                return None
            except (FileChanged, FileNotFoundError) as exc:
                # Changed or deleted between stat and read (an editor saving): look again.
                self.files.forget(exc.filename if isinstance(exc, OSError) else str(exc))
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
        self, req: Request, target: Target | None, missing: tuple[str, ...]
    ) -> tuple[Response, Memo | None]:
        """The 404 (see :mod:`staticsrv.site.notfound`), and the facts it rests on.

        ``target`` is None for a target refused by name (a dotfile), which
        must look just as missing; ``missing``: the paths whose absence the
        answer rests on (none: not memoised).
        """
        found = await self.not_found.answer(req, target)
        resp = found.response
        if not missing or not found.memoisable:
            return resp, None
        if found.page is not None and found.page.racy(self.clock()):
            return resp, None  # the 404 page was just saved: not trusted by its stat
        memo = Memo(missing[0], None, found.page, resp, found.varies, found.hint)
        memo.absent = missing[1:]
        return resp, memo


def _vary_accept(resp: Response) -> Response:
    """The answer depends on Accept (the SPA rule): say so to caches (RFC 9110 §12.5.5)."""
    return replace_fields(resp, (("Vary", "Accept"),))  # added to the server's Vary
