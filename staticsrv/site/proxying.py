"""The handler's proxy branch: which requests go upstream before the site is looked at.

Owns: :class:`ProxyRouting`, mixed into :class:`~staticsrv.site.handler.Handler`:
whether a request may go up (``may_proxy``, read by the connection before
it offers the body), ``--proxy`` paths (looked at before files), methods
other than GET and HEAD that a ``_redirects`` 200 rule to a full URL
proxies (files never answer them), and the proxy itself, made on first use
by the maker the server hands in (an :class:`~staticsrv.site.extension.Upstream`):
a server that never proxies never imports :mod:`staticsrv.net.proxy`, and the
site never imports it at all.  May not touch: sockets (the body and the
socket come through :data:`CURRENT`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING

from staticsrv.config import Config
from staticsrv.http.http11 import Request
from staticsrv.http.responses import Response
from staticsrv.http.routing import strip_base
from staticsrv.http.target import Target, TargetError
from staticsrv.site.siterules import SiteFiles, site_path

if TYPE_CHECKING:
    from staticsrv.net.exchange import ClientBody
    from staticsrv.site.extension import Upstream

# The request being handled on this connection's task, when something may
# proxy (set by the HTTP/1.1 connection loop, and by each HTTP/2 stream's
# task).  A context variable rather than a parameter threaded through the
# whole decision tree: each connection (each stream) runs in a task of its
# own, whose context no other one sees, and only the proxy reads it.
CURRENT: ContextVar[ClientBody | None] = ContextVar("staticsrv_client_side", default=None)


class ProxyRouting:
    config: Config
    site: SiteFiles | None
    base: tuple[str, ...]
    _target: Callable[[str], Target | TargetError]
    make_upstream: Callable[[Config], Upstream] | None = None  # the server's proxy maker
    proxy: Upstream | None = None  # made on first use
    _rules_seen: object = None
    _rules_proxy: bool = False

    @property
    def may_proxy(self) -> bool:
        """Whether a request may go upstream (the connection then offers its body and socket)."""
        if self.config.proxy:
            return True
        rules = self.site.redirects if self.site is not None else ()
        if rules is not self._rules_seen:
            self._rules_seen = rules
            self._rules_proxy = any(r.status == 200 and r.external for r in rules)
        return self._rules_proxy

    def close(self) -> None:
        if self.proxy is not None:
            self.proxy.close()

    def _make_proxy(self) -> Upstream:
        if self.proxy is None:
            if self.make_upstream is None:
                # A handler made without a server above it (a unit test):
                # nothing can go up, and saying so beats a silent 404.
                raise RuntimeError("this handler was made without a proxy (upstream=)")
            self.proxy = self.make_upstream(self.config)
        return self.proxy

    async def _proxied(self, req: Request) -> Response | None:
        """The upstream's answer if ``req`` goes up before anything else, else None."""
        if self.config.proxy:
            proxy = self._make_proxy()
            mapped = proxy.mapped(req)
            if mapped is not None:
                return await proxy.answer(req, CURRENT.get(), mapped)
        if req.method in ("GET", "HEAD") or not self._rules_proxy or self.site is None:
            return None  # GET and HEAD meet the rules in their place, after files
        if self.config.cors and "access-control-request-method" in req.headers:
            return None  # --cors: staticsrv answers preflights itself
        target = self._target(req.target)
        inside = strip_base(self.base, target) if isinstance(target, Target) else None
        if not isinstance(inside, Target):
            return None
        path = site_path(inside)
        from staticsrv.site.netlify import match_redirect  # not imported at start (siterules)

        for forced in (True, False):
            hit = match_redirect(self.site.redirects, path, forced=forced)
            if hit is not None:
                rule, captures = hit
                location = rule.target(captures, inside.query)
                if rule.status != 200 or not rule.external or location is None:
                    return None
                return await self._rule_proxied(req, rule.line, location)
        return None

    async def _rule_proxied(self, req: Request, line: int, url: str) -> Response:
        """A ``_redirects`` 200 rule to a full URL (placeholders expanded): proxied."""
        return await self._make_proxy().rule_answer(req, CURRENT.get(), line, url)
