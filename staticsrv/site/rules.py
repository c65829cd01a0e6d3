"""The rule seam: what the handler applies to every answer, fast path or not.

Owns: the :class:`Rule` protocol and the simplest rule, :class:`AddFields`.
A rule is applied once per decided answer in :meth:`Handler.finish
<staticsrv.site.handler.Handler.finish>`; the handler's memo keeps answers after
the rules, so a memoised answer has had every rule too.  A rule that reads
request fields names them in ``reads``: requests carrying one of them skip
the memo.  May not touch: sockets, files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from staticsrv.http.http11 import Request
from staticsrv.http.responses import Response


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
