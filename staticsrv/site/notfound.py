"""The 404 answer: the site's own page, else a built-in page that helps.

Owns: choosing between the site's ``not_found.html``/``404.html`` and the
built-in page, and what the built-in page shows (the path asked for,
escaped by :mod:`staticsrv.http.pages`; a link to the site root; with listings
on, a link to the nearest folder that is served).  It reports the facts the
answer rests on, so the handler's memo can tell when it would change.
May not touch: sockets, the memo itself, the decision that a path is missing.
"""

from __future__ import annotations

from staticsrv.config import Config
from staticsrv.http.http11 import Request
from staticsrv.http.responses import Response
from staticsrv.http.routing import base_url
from staticsrv.http.target import Target, quote_segments
from staticsrv.site.fileresponse import Files
from staticsrv.site.reader import FileChanged, FileKey
from staticsrv.site.resolver import Resolver


class Answer404:
    """The 404 and the facts it rests on (a plain class: a dataclass costs start-up time)."""

    __slots__ = ("hint", "memoisable", "page", "response", "varies")

    def __init__(
        self,
        response: Response,
        varies: bool,  # depends on the Accept-Encoding value (gzipped or not)
        page: FileKey | None,  # the site's page version used; None: the built-in page
        # For the built-in page's "nearest folder" link: that folder, and the one
        # below it on the way to the missing path, whose absence the link rests on.
        hint: tuple[str, str] | None,
        memoisable: bool,  # False when the site's page could not be used this time
    ) -> None:
        self.response = response
        self.varies = varies
        self.page = page
        self.hint = hint
        self.memoisable = memoisable


class NotFoundPages:
    def __init__(self, config: Config, resolver: Resolver, files: Files) -> None:
        self.config = config
        self.resolver = resolver
        self.files = files

    async def answer(self, req: Request, target: Target | None) -> Answer404:
        """The 404 for ``req``; ``target`` is None for a target refused by name."""
        page = self.resolver.not_found_page()
        if page is not None:
            try:
                found = await self.files.page(req, page, 404)
                page_key = FileKey.of(page.path, page.st)
            except (FileChanged, OSError):
                found = None
            if found is None:
                # Too large to hold, or it failed: the built-in page, not memoised.
                resp, varies, _hint = self._built_in(req, target)
                return Answer404(resp, varies, None, None, memoisable=False)
            resp, varies = found
            return Answer404(resp, varies, page_key, None, memoisable=True)
        resp, varies, hint = self._built_in(req, target)
        return Answer404(resp, varies, None, hint, memoisable=True)

    def _built_in(
        self, req: Request, target: Target | None
    ) -> tuple[Response, bool, tuple[str, str] | None]:
        """The built-in page: the path asked for, a link home, the nearest folder."""
        from staticsrv.http import pages  # imported by the first 404, not at start

        raw = req.target.partition("?")[0].partition("#")[0]
        # Links relative to where the browser stands (the raw path's last
        # "/"), so they also work under a reverse proxy's prefix.
        # The site root is the --base prefix: up to the server's root, then
        # down into the prefix, so the link never leaves it.
        root_href = "../" * (raw.count("/") - 1) + base_url(self.config.base)[1:] or "./"
        hint: tuple[str, str] | None = None
        parent: tuple[str, str] | None = None
        if target is not None:
            segments = target.segments
            # Named as the user asked for it: under --base, with the prefix
            # ("/prefix/x", not the site-relative "/x").
            prefix = base_url(self.config.base)
            shown = prefix + target.relpath + ("/" if target.trailing_slash and segments else "")
            depth = self.resolver.nearest_folder(segments) if self.config.listing else None
            if depth is not None:
                above = segments[:depth]
                if above:  # the root has its own link
                    href = root_href + quote_segments(above, True)[1:]
                    parent = (href, prefix + "/".join(above) + "/")
                full = self.resolver.full_path
                hint = (full("/".join(above)), full("/".join(segments[: depth + 1])))
        else:
            # Refused by name (a dotfile): shown as asked, so it looks just as missing.
            from urllib.parse import unquote

            shown = unquote(raw.encode("latin-1", "replace").decode("utf-8", "replace"))
        body = pages.not_found_page(shown, root_href, parent)
        resp, varies = self.files.text_page(req, 404, body)
        return resp, varies, hint
