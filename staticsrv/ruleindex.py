"""An index of ``_redirects`` rules: the first matching rule without trying them all.

Pure (sans-io).  A large ``_redirects`` (a site migration: thousands of
``/old-url /new-url`` lines) would otherwise cost a regular-expression
match per rule on every request that reaches the rules, twice (forced
rules before the files, the others after).  The index keeps the answer of
:func:`staticsrv.netlify.match_redirect` (the first rule in file order)
while trying only the rules that could match:

* exact rules (no ``*``, no ``:name``) in a dict by their path: one lookup;
* rules whose first segment is literal (``/blog/:slug``, ``/docs/*``) in a
  dict by that segment: only the rules of the path's first segment;
* the rest (``/*``, ``/:lang/*``, ``/a*``) in a fallback list, tried in order.

Each group keeps file order, so the first match of each group is its
earliest; the answer is the earliest of those.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from staticsrv.netlify import Redirect

_PLACEHOLDER_START = re.compile(r"/:[A-Za-z_]")
Match = tuple[Redirect, dict[str, str]]


def rule_key(text: str) -> tuple[str, str] | None:
    """How a pattern is indexed: ("exact", path), ("segment", first), or None (fallback)."""
    if "*" not in text and not _PLACEHOLDER_START.search(text):
        return ("exact", text)
    first = text[1:].partition("/")[0]
    if not first or "*" in first or first.startswith(":") or first == text[1:]:
        # No literal first segment, or the pattern is that segment alone
        # with a splat in it ("/a*" matches "/ab"): tried for every path.
        return None
    return ("segment", first)


def _normal(path: str) -> str:
    # As Pattern.match: a trailing "/" is ignored.
    return path[:-1] if len(path) > 1 and path.endswith("/") else path


@dataclass(slots=True)
class _Group:
    exact: dict[str, list[Redirect]] = field(default_factory=dict)
    segment: dict[str, list[Redirect]] = field(default_factory=dict)
    fallback: list[Redirect] = field(default_factory=list)


def _first(
    rules: Sequence[Redirect], path: str, before: int
) -> Match | None:
    for rule in rules:
        if rule.line >= before:
            return None  # an earlier rule of another group already matched
        captures = rule.source.match(path)
        if captures is not None:
            return rule, captures
    return None


class RuleIndex:
    """The rules of one ``_redirects`` version, indexed; :meth:`match` as ``match_redirect``."""

    def __init__(self, rules: Sequence[Redirect]) -> None:
        self._groups = (_Group(), _Group())  # [not forced, forced]
        for rule in rules:
            group = self._groups[rule.force]
            key = rule_key(rule.source.text)
            if key is None:
                group.fallback.append(rule)
            elif key[0] == "exact":
                group.exact.setdefault(key[1], []).append(rule)
            else:
                group.segment.setdefault(key[1], []).append(rule)
        self.empty = not rules

    def both(self, path: str) -> tuple[Match | None, Match | None]:
        """The first forced rule and the first other rule matching ``path`` (or None)."""
        if self.empty:
            return None, None
        return self.match(path, forced=True), self.match(path, forced=False)

    def match(self, path: str, *, forced: bool) -> Match | None:
        """The first rule in file order (forced ones or the others) matching ``path``."""
        group = self._groups[forced]
        path = _normal(path)
        best: Match | None = None
        exact = group.exact.get(path)
        if exact:
            best = (exact[0], {})
        candidates = group.segment.get(path[1:].partition("/")[0])
        for rules in (candidates, group.fallback):
            if rules:
                found = _first(rules, path, best[0].line if best is not None else 1 << 62)
                if found is not None:
                    best = found
        return best
