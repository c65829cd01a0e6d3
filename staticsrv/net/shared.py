"""What every connection of one server shares: the handler, the log, the clock.

Owns: :class:`Shared` (configuration, handler, access log, the parse cache
of identical heads) and :class:`Clock` (the Date line, formatted once a
second).  May not touch: sockets, the decision of what to answer.
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING

from staticsrv.config import Config
from staticsrv.http.http11 import Request, parse_head
from staticsrv.http.httpdate import format_http_date
from staticsrv.http.responses import Response, date_line
from staticsrv.net.accesslog import AccessLog
from staticsrv.site.handler import Handler

if TYPE_CHECKING:
    from staticsrv.http.auth import Auth


class Clock:
    """The Date line, formatted once a second (RFC 9110 §6.6.1)."""

    __slots__ = ("_line", "_sec")

    def __init__(self) -> None:
        self._sec = -1
        self._line = b""

    def date_line(self) -> bytes:
        now = int(time.time())
        if now != self._sec:
            self._sec = now
            self._line = date_line(format_http_date(now))
        return self._line


class Shared:
    """What every connection of one server uses."""

    def __init__(self, config: Config, handler: Handler, access_log: AccessLog | None) -> None:
        self.config = config
        self.handler = handler
        self.log = access_log
        self.limits = config.limits
        self.timeouts = config.timeouts
        self.clock = Clock()
        self.auth: Auth | None = None  # --auth: asked before the handler
        if config.auth is not None:
            from staticsrv.http.auth import Auth

            self.auth = Auth(*config.auth)
        self.stopping = False
        # Keep-alive clients repeat the very same head (browsers per resource,
        # load generators always): parse_head is pure and Request immutable,
        # so identical bytes can share one parse.  Bounded in entries and size.
        self.parse_cached = functools.lru_cache(maxsize=512)(
            functools.partial(parse_head, limits=config.limits)
        )

    async def respond(self, req: Request, peer: str, now: float) -> Response:
        """The answer to ``req`` from ``peer``, behind ``--auth``.

        The one door for every protocol: HTTP/1.1 and HTTP/2 streams both
        come through here, so a password asked of one is asked of the other.
        ``now`` is the loop's monotonic time (the failure counter's clock).
        """
        if self.auth is not None:
            denied = self.auth.deny(req, peer, now)
            if denied is not None:
                return self.handler.finish(req, denied)  # -H and --cors apply to it too
        return await self.handler.handle(req)
