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

Where the two formats disagree, the choice is recorded in docs/preview.md
("Where Netlify and Cloudflare Pages disagree").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from staticsrv.http.fields import FIELD_NAME, PROTECTED, check_field
from staticsrv.http.target import quote_segment

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
STATUSES = REDIRECT_STATUSES | {200, 404}
MAX_LINE = 2000  # Cloudflare allows 1,000 characters per rule; twice that is a mistake
MAX_RULES = 10000
_PLACEHOLDER = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")
# In _redirects, any character but the C0 controls and DEL: paths and
# targets are UTF-8 text, percent-encoded when they go on the wire.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A comment after a rule: whitespace, then "#" (a "#" inside a field is text).
_TRAILING_COMMENT = re.compile(r"\s+#.*\Z")
# What stays as written in a target: RFC 3986 §2.2 reserved characters,
# unreserved ones and "%" (an escape the author already wrote).
_URI_SAFE = "!#$%&'()*+,/:;=?@[]~"


@dataclass(frozen=True, slots=True)
class Problem:
    """A line that was skipped: its 1-based number and why."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


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
        # An empty splat ("/docs" for "/docs/*") is the empty string, as on
        # Netlify: ":splat" in the target never stays literal.
        return {k: v or "" for k, v in found.groupdict().items()}


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


def strip_comment(line: str) -> str:
    """A ``_redirects`` line without its trailing ``# ...`` comment (Netlify's files carry them)."""
    return _TRAILING_COMMENT.sub("", line)


def encode_uri(text: str) -> str | None:
    """``text`` percent-encoded for the wire (RFC 3986 §2.1, UTF-8), or None if it cannot be.

    Reserved characters and existing escapes stay; anything else outside
    ASCII's visible range is encoded, so ``/café.html`` is sent as
    ``/caf%C3%A9.html``.  A full URL's host is converted with IDNA.
    """
    parts = urlsplit(text)
    if parts.netloc and not parts.netloc.isascii():
        try:
            host = parts.hostname.encode("idna").decode("ascii") if parts.hostname else ""
        except UnicodeError:
            return None
        port = f":{parts.port}" if parts.port is not None else ""
        text = parts._replace(netloc=host + port).geturl()
    return quote(text, safe=_URI_SAFE, errors="strict")


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
        rule = _redirect(number, strip_comment(line), len(rules))
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
    if _CONTROL.search(line):
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
    if "%" in source:
        # Rules match the decoded path: "/caf%C3%A9" is the rule "/café".
        source = unquote(source, errors="replace")
        if _CONTROL.search(source):
            return Problem(number, "holds a control character")
    pattern = compile_pattern(source)
    if isinstance(pattern, str):
        return Problem(number, pattern)
    external = to.startswith(("http://", "https://"))
    if external:
        if status == 404:  # a 200 rule to a full URL proxies (staticsrv.net.proxy)
            return Problem(number, f"a {status} rule must name a path inside the site")
        if not urlsplit(to).netloc:
            return Problem(number, f"{to!r} names no host")
    elif not to.startswith("/") or to.startswith(("//", "/\\")):
        return Problem(number, f"{to!r} is neither a path starting with / nor a full URL")
    encoded = encode_uri(to)
    if encoded is None:
        return Problem(number, f"{to!r} names a host that cannot be encoded")
    return Redirect(number, pattern, encoded, status, force)


def parse_headers(text: str) -> tuple[tuple[HeaderBlock, ...], tuple[Problem, ...]]:
    """Every block of a ``_headers`` file, in order, and the lines that were skipped."""
    blocks: list[HeaderBlock] = []
    problems: list[Problem] = []
    current: tuple[int, Pattern] | None = None
    skipped: int | None = None  # the path line of the block being skipped, if any
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
            if not raw[:1].isspace():  # a path line: its fields must not join the block above
                close()
                fields, detach, current, skipped = [], [], None, number
            continue
        if not raw[:1].isspace():
            # A path line starts a block (header lines are indented).
            close()
            fields, detach, current, skipped = [], [], None, number
            pattern = compile_pattern(line)
            if isinstance(pattern, str):
                problems.append(Problem(number, pattern))
            elif len(blocks) >= MAX_RULES:
                problems.append(Problem(number, f"more than {MAX_RULES} blocks"))
            else:
                current, skipped = (number, pattern), None
            continue
        if current is None:
            # Under a skipped path line the field is skipped for that reason,
            # not reported as a stray line.
            stray = "a header line before any path line"
            if skipped is not None:
                stray = f"belongs to the path on line {skipped}, which was skipped"
            problems.append(Problem(number, stray))
            continue
        if line.startswith("!"):
            name = line[1:].strip()
            if not FIELD_NAME.match(name) or name.lower() in PROTECTED:
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


# Fields whose values cannot be joined into one line: each value must go
# out as a field of its own (RFC 9110 §5.3; RFC 6265 §3 for Set-Cookie).
SEPARATE = frozenset({"set-cookie"})


def headers_for(blocks: Sequence[HeaderBlock], path: str) -> tuple[list[tuple[str, str]], set[str]]:
    """The fields every matching block adds up to, and the (lower-case) names removed.

    A field set by several blocks gets their values joined with ", " (both
    hosts), except one in :data:`SEPARATE`: each of its values is a field
    of its own, in the order of the blocks.
    """
    out: dict[str, list[tuple[str, str]]] = {}
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
            held = out.setdefault(key, [])
            if held and key not in SEPARATE:
                held[0] = (held[0][0], f"{held[0][1]}, {value}")
            else:
                held.append((name, value))
    return [field for held in out.values() for field in held], removed


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
