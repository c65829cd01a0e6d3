"""The ``_redirects`` and ``_headers`` files of Netlify and Cloudflare Pages, as values.

Pure (sans-io): text in, rules and problems out; a decoded path in, a match
out.  Nothing here raises for what a file or a request contains: a line
that cannot be parsed becomes a :class:`Problem` (its line number and why)
and is skipped, so one typo never stops the server.

Safety is decided here, once, for every rule:

* a rule can never produce a field with CR/LF or an invalid name
  (:func:`check_field`), nor set a field that frames the message;
* a redirect leaves the site's host only when the rule itself names a full
  URL: values taken from the request are percent-encoded segment by
  segment, and an expanded relative target that a browser would read as
  another host (``//evil.com``, ``/\\evil.com``) is refused (:meth:`Redirect.target`);
* a ``200`` rewrite names a path inside the site, or a full URL, which
  the server proxies (its host is the rule's own, never the request's).

Where the two formats disagree, the choice is recorded in the README
("Preview as deployed").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from staticsrv.target import quote_segment

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
STATUSES = REDIRECT_STATUSES | {200, 404}
MAX_LINE = 2000  # Cloudflare allows 1,000 characters per rule; twice that is a mistake
MAX_RULES = 10000
# Fields that frame or route the message: set only by the server itself
# (RFC 9112 §6, §9; RFC 9110 §6.6.1, §14.4).
PROTECTED = frozenset(
    {
        "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade",
        "trailer", "te", "content-range", "date", "server", "proxy-connection",
        # The server picks the encoding per request (sidecars, on-the-fly
        # gzip): a fixed value would mislabel the other variants.
        "content-encoding",
    }
)  # fmt: skip
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# field-value: visible characters, SP and HTAB (RFC 9110 §5.5), latin-1 wide
# so that it can be sent as bytes at all.
_BAD_VALUE = re.compile(r"[^\t\x20-\x7e\x80-\xff]")
_PLACEHOLDER = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class Problem:
    """A line that was skipped: its 1-based number and why."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def check_field(name: str, value: str) -> str | None:
    """Why ``name: value`` cannot be a response field, or None if it can."""
    if not _TOKEN.match(name):
        return f"{name!r} is not a valid field name"
    if name.lower() in PROTECTED:
        return f"{name} is set by the server itself"
    if not value.strip():
        return f"{name} has an empty value"
    if _BAD_VALUE.search(value):
        return f"the value of {name} holds a line break or a control character"
    return None


@dataclass(frozen=True, slots=True)
class Pattern:
    """A path pattern: literal text, ``:name`` segments and one ``*`` splat."""

    text: str
    regex: re.Pattern[str]

    def match(self, path: str) -> dict[str, str] | None:
        """The captures if the decoded ``path`` matches (a trailing "/" is ignored)."""
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        found = self.regex.match(path)
        if found is None:
            return None
        return {k: v for k, v in found.groupdict().items() if v is not None}


def compile_pattern(text: str) -> Pattern | str:
    """A :class:`Pattern` for ``text`` (which starts with "/"), or why not."""
    if not text.startswith("/"):
        if text.startswith(("http://", "https://")):
            return "rules for another domain are not supported"
        return f"{text!r} does not start with /"
    if text.count("*") > 1:
        return "only one * per pattern"
    if len(text) > 1 and text.endswith("/") and not text.endswith("*/"):
        text = text[:-1]
    out: list[str] = []
    names: set[str] = set()
    pos = 0
    while pos < len(text):
        if text.startswith("/*", pos) and pos + 2 == len(text):
            # "/news/*" matches "/news" itself too (both hosts do).
            out.append("(?:/(?P<splat>.*))?")
            break
        char = text[pos]
        if char == "*":
            out.append("(?P<splat>.*)")
            pos += 1
            continue
        after_slash = char == ":" and text[pos - 1] == "/"
        placeholder = _PLACEHOLDER.match(text, pos) if after_slash else None
        if placeholder is not None:
            name = placeholder.group(1)
            if name == "splat" or name in names:
                return f"placeholder :{name} used twice"
            names.add(name)
            out.append(f"(?P<{name}>[^/]+)")
            pos = placeholder.end()
            continue
        out.append(re.escape(char))
        pos += 1
    return Pattern(text, re.compile("".join(out) + r"\Z"))


def _quote_path(value: str) -> str:
    # Each segment percent-encoded on its own: "/" stays a separator, and
    # nothing taken from the request can add a scheme, a host or a query.
    return "/".join(quote_segment(part) for part in value.split("/"))


@dataclass(frozen=True, slots=True)
class Redirect:
    """One ``_redirects`` line: ``from to [status][!]``."""

    line: int
    source: Pattern
    to: str
    status: int
    force: bool  # "!": applies even when a file exists at the path (Netlify's shadowing)

    @property
    def external(self) -> bool:
        return self.to.startswith(("http://", "https://"))

    def target(self, captures: dict[str, str], query: str) -> str | None:
        """The expanded destination, or None if it would leave the site unasked."""

        def value(found: re.Match[str]) -> str:
            name = found.group(1)
            return _quote_path(captures[name]) if name in captures else found.group(0)

        out = _PLACEHOLDER.sub(value, self.to)
        if self.external:
            # The host is the rule's own: a placeholder in it is refused.
            if urlsplit(out).netloc != urlsplit(self.to).netloc:
                return None
        elif not out.startswith("/") or out.startswith(("//", "/\\")):
            return None
        if query and "?" not in out:
            # Both hosts pass the query on to a destination that has none.
            out += "?" + quote(query, safe="!$&'()*+,;=:@/?%", encoding="latin-1", errors="replace")
        return out


@dataclass(frozen=True, slots=True)
class HeaderBlock:
    """One ``_headers`` block: a path pattern, fields to set, fields to remove."""

    line: int
    source: Pattern
    fields: tuple[tuple[str, str], ...]
    detach: tuple[str, ...]  # lower-case names ("! Name", Cloudflare)


def _lines(text: str) -> Iterable[tuple[int, str]]:
    for number, line in enumerate(text.split("\n"), start=1):
        yield number, line.removesuffix("\r")


def parse_redirects(text: str) -> tuple[tuple[Redirect, ...], tuple[Problem, ...]]:
    """Every rule of a ``_redirects`` file, in order, and the lines that were skipped."""
    rules: list[Redirect] = []
    problems: list[Problem] = []
    for number, raw in _lines(text):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        rule = _redirect(number, line, len(rules))
        if isinstance(rule, Problem):
            problems.append(rule)
        else:
            rules.append(rule)
    return tuple(rules), tuple(problems)


def _redirect(number: int, line: str, count: int) -> Redirect | Problem:
    if len(line) > MAX_LINE:
        return Problem(number, f"longer than {MAX_LINE} characters")
    if count >= MAX_RULES:
        return Problem(number, f"more than {MAX_RULES} rules")
    if _BAD_VALUE.search(line):
        return Problem(number, "holds a control character")
    fields = line.split()
    if len(fields) < 2:
        return Problem(number, "expected: FROM TO [STATUS]")
    if len(fields) > 3:
        return Problem(number, "query and condition matches (Netlify) are not supported")
    source, to = fields[0], fields[1]
    status, force = 301, False
    if len(fields) == 3:
        code = fields[2]
        force = code.endswith("!")
        code = code.removesuffix("!")
        if not (code.isascii() and code.isdigit()) or int(code) not in STATUSES:
            return Problem(number, f"status {fields[2]!r} is not one of 200, 301, 302, 303, "
                           "307, 308, 404")  # fmt: skip
        status = int(code)
    pattern = compile_pattern(source)
    if isinstance(pattern, str):
        return Problem(number, pattern)
    external = to.startswith(("http://", "https://"))
    if external:
        if status == 404:  # a 200 rule to a full URL proxies (staticsrv.proxy)
            return Problem(number, f"a {status} rule must name a path inside the site")
        if not urlsplit(to).netloc:
            return Problem(number, f"{to!r} names no host")
    elif not to.startswith("/") or to.startswith(("//", "/\\")):
        return Problem(number, f"{to!r} is neither a path starting with / nor a full URL")
    return Redirect(number, pattern, to, status, force)


def parse_headers(text: str) -> tuple[tuple[HeaderBlock, ...], tuple[Problem, ...]]:
    """Every block of a ``_headers`` file, in order, and the lines that were skipped."""
    blocks: list[HeaderBlock] = []
    problems: list[Problem] = []
    current: tuple[int, Pattern] | None = None
    fields: list[tuple[str, str]] = []
    detach: list[str] = []

    def close() -> None:
        if current is not None and (fields or detach):
            blocks.append(HeaderBlock(current[0], current[1], tuple(fields), tuple(detach)))

    for number, raw in _lines(text):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) > MAX_LINE:
            problems.append(Problem(number, f"longer than {MAX_LINE} characters"))
            continue
        if not raw[:1].isspace():
            # A path line starts a block (header lines are indented).
            close()
            fields, detach, current = [], [], None
            pattern = compile_pattern(line)
            if isinstance(pattern, str):
                problems.append(Problem(number, pattern))
            elif len(blocks) >= MAX_RULES:
                problems.append(Problem(number, f"more than {MAX_RULES} blocks"))
            else:
                current = (number, pattern)
            continue
        if current is None:
            problems.append(Problem(number, "a header line before any path line"))
            continue
        if line.startswith("!"):
            name = line[1:].strip()
            if not _TOKEN.match(name) or name.lower() in PROTECTED:
                problems.append(Problem(number, f"cannot remove {name!r}"))
            else:
                detach.append(name.lower())
            continue
        name, colon, value = line.partition(":")
        name, value = name.strip(), value.strip()
        why = check_field(name, value) if colon else "expected: Name: value"
        if why is not None:
            problems.append(Problem(number, why))
        else:
            fields.append((name, value))
    close()
    return tuple(blocks), tuple(problems)


def headers_for(blocks: Sequence[HeaderBlock], path: str) -> tuple[dict[str, str], set[str]]:
    """The fields every matching block adds up to, and the names removed.

    Keys are lower-case names mapped to ``"Name: value"``'s value; a field
    set by several blocks gets their values joined with ", " (both hosts).
    """
    out: dict[str, tuple[str, str]] = {}
    removed: set[str] = set()
    for block in blocks:
        if block.source.match(path) is None:
            continue
        for name in block.detach:
            out.pop(name, None)
            removed.add(name)
        for name, value in block.fields:
            key = name.lower()
            removed.discard(key)
            out[key] = (name, f"{out[key][1]}, {value}" if key in out else value)
    return {name: value for name, value in out.values()}, removed


def match_redirect(
    rules: Sequence[Redirect], path: str, *, forced: bool
) -> tuple[Redirect, dict[str, str]] | None:
    """The first rule (forced ones or the others) matching the decoded ``path``."""
    for rule in rules:
        if rule.force is forced:
            captures = rule.source.match(path)
            if captures is not None:
                return rule, captures
    return None
