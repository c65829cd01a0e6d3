"""An index of ``_redirects`` rules: the first matching rule without trying them all.

Pure (sans-io).  A large ``_redirects`` (a site migration: thousands of
``/old-url /new-url`` lines) would otherwise cost a regular-expression
match per rule on every request that reaches the rules, twice (forced
rules before the files, the others after).  The index keeps the answer of
:func:`staticsrv.site.netlify.match_redirect` (the first rule in file order)
while trying only the rules that could match:

* exact rules (no ``*``, no ``:name``) in a dict by their path: one lookup;
* rules with a literal segment before any ``*`` (``/blog/:slug``,
  ``/docs/*``, ``/:lang/docs/*``) in a dict by the first such segment and
  its position: only the rules whose segment is the path's own there;
* the rest (``/*``, ``/:lang/*``, ``/a*``) in a fallback list, tried in order.

Each group keeps file order, so the first match of each group is its
earliest; the answer is the earliest of those.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # The rules' parser is imported with the first rules file (siterules), not at start.
    from staticsrv.site.netlify import Redirect

    Match = tuple[Redirect, dict[str, str]]

_PLACEHOLDER_START = re.compile(r"/:[A-Za-z_]")


def rule_key(text: str) -> tuple[str, int, str] | None:
    """How a pattern is indexed, or None (fallback).

    ``("exact", 0, path)`` for a pattern without ``*`` or ``:name``;
    ``("segment", i, text)`` for one whose ``i``-th segment is the first
    literal one: every segment before it is one path segment (a
    ``:name`` matches ``[^/]+``), so that path segment must equal it.
    """
    if "*" not in text and not _PLACEHOLDER_START.search(text):
        return ("exact", 0, text)
    for position, segment in enumerate(text[1:].split("/")):
        if "*" in segment:
            return None  # the splat: no fixed position after it
        if segment and not _PLACEHOLDER_START.match("/" + segment):
            return ("segment", position, segment)
    return None


def _normal(path: str) -> str:
    # As Pattern.match: a trailing "/" is ignored.
    return path[:-1] if len(path) > 1 and path.endswith("/") else path


class _Group:
    """One group's rules, indexed (a plain class: a dataclass costs start-up time)."""

    __slots__ = ("depth", "exact", "fallback", "segment")

    def __init__(self) -> None:
        self.exact: dict[str, list[Redirect]] = {}
        self.segment: dict[tuple[int, str], list[Redirect]] = {}
        self.depth = 0  # one more than the deepest indexed segment position
        self.fallback: list[Redirect] = []


def _first(rules: Sequence[Redirect], path: str, before: int) -> Match | None:
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
                group.exact.setdefault(key[2], []).append(rule)
            else:
                group.segment.setdefault(key[1:], []).append(rule)
                group.depth = max(group.depth, key[1] + 1)
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
        lists: list[list[Redirect]] = []
        if group.segment:
            parts = path[1:].split("/", group.depth)
            for position in range(min(group.depth, len(parts))):
                found_list = group.segment.get((position, parts[position]))
                if found_list:
                    lists.append(found_list)
        if group.fallback:
            lists.append(group.fallback)
        for rules in lists:
            found = _first(rules, path, best[0].line if best is not None else 1 << 62)
            if found is not None:
                best = found
        return best
