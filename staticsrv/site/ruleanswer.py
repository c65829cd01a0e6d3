"""The answer a ``_redirects`` rule gives, once the handler's tree found the rule.

Owns: :class:`RuleAnswers`, mixed into :class:`~staticsrv.site.handler.Handler`:
a redirect (under ``--base`` for a path of the site), a rewrite to a file of
the site with every check of a direct request, a 404 with the rule's page,
or a proxied answer for a full URL with status 200.  Never memoised: a rule
rests on more facts than a file's version.
May not touch: sockets; which rule matches (:mod:`staticsrv.site.netlify`,
:mod:`staticsrv.site.ruleindex`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from staticsrv.http.http11 import Request
from staticsrv.http.responses import Response
from staticsrv.http.target import Target, TargetError
from staticsrv.site.memo import Memo
from staticsrv.site.resolver import File, Resolver
from staticsrv.site.siterules import RULE_FILES

if TYPE_CHECKING:
    from staticsrv.site.fileresponse import Files
    from staticsrv.site.netlify import Redirect as RedirectRule

log = logging.getLogger("staticsrv")


class RuleAnswers:
    resolver: Resolver
    files: Files
    _base_url: str
    _target: Callable[[str], Target | TargetError]

    if TYPE_CHECKING:

        def _error(
            self,
            req: Request,
            status: int,
            reason: str = "",
            extra: Iterable[tuple[str, str]] = (),
        ) -> Response: ...

        def _redirect(self, req: Request, status: int, location: str) -> Response: ...

        async def _resolved(
            self, req: Request, target: Target, *, files_only: bool = False
        ) -> tuple[Response, Memo | None] | None: ...

        async def _not_found(
            self, req: Request, target: Target | None, missing: tuple[str, ...]
        ) -> tuple[Response, Memo | None]: ...

        async def _rule_proxied(self, req: Request, line: int, url: str) -> Response: ...

    async def _rule(
        self, req: Request, target: Target, rule: RedirectRule, captures: dict[str, str]
    ) -> tuple[Response, Memo | None]:
        """The answer a ``_redirects`` rule gives; never memoised."""
        # Imported with the first rule file (siterules), not at start.
        from staticsrv.site.netlify import REDIRECT_STATUSES

        location = rule.target(captures, target.query)
        if location is None:
            # The expansion would lead to another host: refuse, as if no page.
            log.warning("_redirects line %d: refused a target off the site", rule.line)
            return self._error(req, 404), None
        if rule.status == 200 and rule.external:
            return await self._rule_proxied(req, rule.line, location), None
        if rule.status in REDIRECT_STATUSES:
            if not rule.external:
                location = self._base_url + location[1:]
            return self._redirect(req, rule.status, location), None
        # 200 (a rewrite) or 404 (a custom not-found page): a file of this site.
        dest = self._target(location.partition("?")[0])
        if not isinstance(dest, Target):
            return await self._not_found(req, None, ())
        if rule.status == 200:
            found = await self._resolved(req, dest)
            return (found[0], None) if found is not None else await self._not_found(req, dest, ())
        if dest.relpath in RULE_FILES:
            return self._error(req, 404), None
        page = self.resolver.regular_file(self.resolver.full_path(dest.relpath))
        if isinstance(page, File):
            page_answer = await self.files.page(req, page, 404)
            if page_answer is not None:
                return page_answer[0], None
        return self._error(req, 404), None
