"""What plugs into the site from the layers above it: reserved endpoints and the proxy.

Owns: the two protocols the handler calls without importing their makers.
Live reload (:mod:`staticsrv.live`) answers the reserved
``/__staticsrv__/`` paths as an :class:`Endpoints`; the proxy
(:mod:`staticsrv.net.proxy`, over the server's own sockets) answers
``--proxy`` paths and ``_redirects`` rules to full URLs as an
:class:`Upstream`.  The server, a layer above, makes them and hands them to
the handler, so the site never imports what sits on top of it (the import
contracts in ``pyproject.toml`` hold it to that).
May not touch: anything but the types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from staticsrv.http.http11 import Request
from staticsrv.http.responses import Response
from staticsrv.http.target import Target

if TYPE_CHECKING:
    from staticsrv.http.proxymap import ProxyMap
    from staticsrv.net.exchange import ClientBody


class Endpoints(Protocol):
    """Answers under one reserved first path segment (live reload's event stream and script)."""

    @property
    def reserved(self) -> str:
        """The first path segment these endpoints own ("__staticsrv__")."""

    def respond(self, req: Request, target: Target) -> Response | None:
        """The answer for a path under :attr:`reserved`; None: not one of them (a 404)."""

    def close(self) -> None: ...


class Upstream(Protocol):
    """The proxy, as the handler's proxy routing uses it."""

    def mapped(self, req: Request) -> ProxyMap | Response | None:
        """The ``--proxy`` mapping ``req`` falls under (or a refusal), None if none does."""

    async def answer(
        self, req: Request, side: ClientBody | None, hit: ProxyMap | Response
    ) -> Response: ...

    async def rule_answer(
        self, req: Request, side: ClientBody | None, line: int, url: str
    ) -> Response: ...

    def close(self) -> None: ...
