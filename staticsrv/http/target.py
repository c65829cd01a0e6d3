"""Turn an HTTP request-target into a safe path relative to the served root.

This module is pure (sans-io): no sockets, file system, clock or logging.
Every outcome is a value: :func:`decode_target` returns either a
:class:`Target` or a :class:`TargetError` and never raises, whatever string
it is given, so the caller can map the result to a response without a
``try`` around it.

The checks here are the *first* line of defence. The caller still resolves
the joined path with ``realpath`` and verifies it stays under the root
(symlinks can point anywhere), and applies :func:`is_hidden` to the resolved
path as well.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Target",
    "TargetError",
    "decode_target",
    "directory_redirect",
    "is_hidden",
    "quote_segment",
    "quote_segments",
]


@dataclass(frozen=True, slots=True)
class Target:
    """A validated request-target.

    ``segments`` are percent-decoded, non-empty, never ``"."`` or ``".."``
    and contain neither ``"/"`` nor any C0 control character or DEL.
    """

    segments: tuple[str, ...]
    query: str  # raw query after the first "?", without the "?" ("" if none)
    trailing_slash: bool  # the decoded path ends with "/" (or is "/")

    @property
    def relpath(self) -> str:
        """The segments joined with ``"/"``; ``""`` for the root."""
        return "/".join(self.segments)


@dataclass(frozen=True, slots=True)
class TargetError:
    """Why a target was refused; ``reason`` is fixed text, never input."""

    status: int  # 400 (malformed) or 404 (hidden)
    reason: str


# Shared instances: the reason never echoes the input, so one object per
# outcome is enough and the refusal path allocates nothing.
_MALFORMED = TargetError(400, "Malformed request target.")
_HIDDEN = TargetError(404, "The requested resource was not found.")

# C0 controls and DEL. NUL would truncate the path in C APIs, CR/LF could be
# echoed into headers or logs; no browser sends any of them in a path (they
# are always percent-encoded and never legitimately part of a file name).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# RFC 3986 §2.1: pct-encoded = "%" HEXDIG HEXDIG, case-insensitive. A lookup
# table of the 22 * 22 valid pairs makes decoding a dict hit per escape.
_HEXDIGITS = "0123456789abcdefABCDEF"
_HEX_PAIRS: dict[bytes, bytes] = {
    (a + b).encode("ascii"): bytes((int(a + b, 16),)) for a in _HEXDIGITS for b in _HEXDIGITS
}

# RFC 8615: /.well-known/ is a registered, deliberately public location
# (ACME challenges, security.txt, ...), so it is exempt from the dotfile rule.
_WELL_KNOWN = ".well-known"

# Characters left as they are inside one path segment. RFC 3986 §3.3:
# pchar = unreserved / pct-encoded / sub-delims / ":" / "@". ``quote`` always
# keeps the unreserved set (ALPHA DIGIT "-" "." "_" "~"); we add the
# sub-delims, ":" and "@". Everything else is encoded, notably "/" (so a
# segment can never add a level), "\\" (so "/\\host" cannot appear), "%" (so
# a literal "%2e" round-trips as "%252e"), "?" and "#" (so a name never
# starts a query or fragment) and all non-ASCII (as UTF-8, RFC 3986 §2.5).
_SEGMENT_SAFE = "!$&'()*+,;=:@"

# Characters kept in a query echoed into a Location header. RFC 3986 §3.4:
# query = *( pchar / "/" / "?" ), plus "%" so existing escapes survive as-is.
_QUERY_SAFE = _SEGMENT_SAFE + "/?%"


def _unquote(raw: bytes) -> bytes | None:
    """Percent-decode ``raw`` exactly once; ``None`` if an escape is malformed.

    ``urllib.parse.unquote`` silently keeps a bad escape such as ``%zz`` or a
    trailing ``%``; we refuse those instead, because a target that different
    components would read differently is a classic smuggling vector.
    """
    head, *rest = raw.split(b"%")
    out = [head]
    for chunk in rest:
        byte = _HEX_PAIRS.get(chunk[:2])
        if byte is None:
            return None
        out.append(byte)
        out.append(chunk[2:])
    return b"".join(out)


def _is_dot_segment(part: str) -> bool:
    return part in (".", "..")


def decode_target(target: str, *, dotfiles: bool = False) -> Target | TargetError:
    """Validate and decode an origin-form request-target (RFC 9112 §3.2.1).

    ``target`` is the raw target decoded as latin-1, so every character is one
    byte of the request line. Returns a :class:`TargetError` with status 400
    for a malformed target and 404 for a hidden (dotfile) one when
    ``dotfiles`` is false. Malformedness is checked on the whole path first,
    so a target that is both malformed and hidden gets 400.
    """
    # RFC 3986 §3.5: the fragment starts at the first "#" anywhere (a query
    # cannot contain "#").  User agents never send it (RFC 9110 §7.1), so a
    # target holding one is a probe: answering "/index.html#/../x" as
    # "/index.html" would hide it.  A "#" in a name travels as "%23".
    if "#" in target:
        return _MALFORMED
    path, _, query = target.partition("?")
    if not path.startswith("/"):
        return _MALFORMED
    # A folder's own URL ends with a literal "/": the browser resolves the
    # listing's relative links against it (RFC 3986 §5.2), and an encoded
    # "%2F" is no separator to it, so "/sub%2F" is redirected to "/sub/".
    trailing_slash = path.endswith("/")
    if query and (_CONTROL.search(query) is not None or not _is_latin1(query)):
        # The query is echoed into Location headers: refuse what the request
        # line could never have carried.
        return _MALFORMED

    # Common case: a plain ASCII path with no escapes needs no decoding.
    if "%" in path or not path.isascii():
        try:
            raw = path.encode("latin-1")
        except UnicodeEncodeError:  # a char > U+00FF cannot come off the wire
            return _MALFORMED
        if "%" in path:
            # Decode exactly once: "%252e" becomes the literal text "%2e" and
            # stays that way, so double-encoding cannot smuggle a dot segment.
            decoded = _unquote(raw)
            if decoded is None:
                return _MALFORMED
            raw = decoded
        # Raw bytes >= 0x80 (not allowed by RFC 3986 but sent by some tools)
        # are treated like their percent-encoded form. Strict UTF-8 refuses
        # overlong forms such as C0 AE (an old way to smuggle "."), encoded
        # surrogates and truncated sequences.
        try:
            path = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _MALFORMED

    if _CONTROL.search(path) is not None:
        return _MALFORMED

    # Splitting the *decoded* path means "%2f" acts as a separator. That is
    # safe here: the string never reaches the file system unsplit, and every
    # piece is validated below exactly like a piece between literal slashes,
    # so an encoded slash gains no power a literal one lacks (e.g. "..%2f"
    # yields a ".." segment and is refused). A POSIX file name cannot contain
    # "/" anyway, so no real file becomes unreachable. Empty pieces (from
    # "//" or the trailing "/") collapse, as the file system would do.
    segments = tuple(seg for seg in path.split("/") if seg)
    hidden = False
    for index, seg in enumerate(segments):
        # Browsers remove dot segments before sending (RFC 3986 §5.2.4), so
        # a client that sends one is probing for traversal: refuse it rather
        # than guess a normalisation another component might not share.
        if _is_dot_segment(seg):
            return _MALFORMED
        if "\\" in seg:
            # A backslash is an ordinary character in a POSIX file name, so
            # it is kept. But Windows treats it as a separator, so a piece
            # such as "..\\..\\etc" must be refused too, for the same
            # behaviour on every OS.
            if any(_is_dot_segment(part) for part in seg.split("\\")):
                return _MALFORMED
            if not hidden and not dotfiles:
                hidden = _hidden_segment(seg, index)
        elif not hidden and not dotfiles and seg[0] == "." and (index or seg != _WELL_KNOWN):
            hidden = True
    if hidden:
        # Hidden files look missing (404), not forbidden, so a probe cannot
        # tell whether ".env" or ".git/" exists.
        return _HIDDEN
    return Target(segments, query, trailing_slash)


def _is_latin1(text: str) -> bool:
    return text.isascii() or max(text) <= "\xff"


def _hidden_segment(seg: str, index: int) -> bool:
    if index == 0 and seg == _WELL_KNOWN:
        return False
    if seg.startswith("."):
        return True
    # "a\\.git" is one POSIX name but would be "a/.git" on Windows: hide it,
    # consistently with the ".." rule for backslashes.
    return "\\" in seg and any(part.startswith(".") for part in seg.split("\\"))


def is_hidden(segments: Sequence[str]) -> bool:
    """Whether any segment is a dotfile, except a leading ``.well-known``.

    The same rule :func:`decode_target` applies, for use on the real path
    relative to the root after ``realpath`` (a symlink named ``public`` may
    resolve to ``.git/``). Empty segments are ignored, so the result of
    ``"/.well-known/x".split("/")`` is accepted as is.
    """
    # Empty pieces (from a leading "/" or "//" when the caller splits a path)
    # are skipped *before* numbering, so ".well-known" is exempt whenever it
    # is the first real segment.
    parts = [seg for seg in segments if seg]
    return any(_hidden_segment(seg, index) for index, seg in enumerate(parts))


def quote_segment(segment: str) -> str:
    """Percent-encode one path segment (RFC 3986 §3.3 ``segment``).

    Non-ASCII is encoded as UTF-8. A lone surrogate (a ``surrogateescape``d
    file-name byte from ``os.listdir``) is encoded back to that byte rather
    than raising.
    """
    # Links, redirects and 404 pages quote; a file's 200 never does, so
    # urllib.parse is not imported at start.
    from urllib.parse import quote

    try:
        return quote(segment, safe=_SEGMENT_SAFE, errors="surrogateescape")
    except UnicodeEncodeError:  # a surrogate no decoder produces: never raise
        return quote(segment, safe=_SEGMENT_SAFE, errors="replace")


def quote_segments(segments: Sequence[str], trailing_slash: bool) -> str:
    """``"/"`` plus the percent-encoded segments (plus ``"/"`` if asked).

    With non-empty segments the result can never start with ``"//"`` or
    ``"/\\"``: the first segment is non-empty and ``"/"`` and ``"\\"`` are
    always encoded inside it. Empty segments are skipped to keep that true
    even for a caller-built sequence.
    """
    path = "/" + "/".join(quote_segment(seg) for seg in segments if seg)
    if trailing_slash and len(path) > 1:
        path += "/"
    return path


def is_servable_name(name: str) -> bool:
    """Whether a request can name this directory entry.

    True when the link a listing would build for ``name`` decodes back to it.
    Names that are not UTF-8 (``os.scandir`` hands them over
    surrogate-escaped), hold control characters or a ``..`` part are refused
    by :func:`decode_target`, so a listing leaves them out rather than show
    a link that could only answer 400.
    """
    if not name or "/" in name:
        return False
    found = decode_target(quote_segments((name,), trailing_slash=False), dotfiles=True)
    return isinstance(found, Target) and found.segments == (name,)


def directory_redirect(t: Target) -> str:
    """The ``Location`` value redirecting ``/dir`` to ``/dir/``.

    RFC 9110 §15.4.2 (301 Moved Permanently) with a relative reference
    (RFC 9110 §10.2.2 allows one). It is rebuilt from the normalised
    segments, never copied from the request, so it always has exactly one
    leading "/" and cannot be read as a network-path reference to another
    host ("//evil.com", or "/\\evil.com" which browsers treat alike; cf.
    CPython gh-87389, an open redirect in http.server).
    """
    location = quote_segments(t.segments, trailing_slash=True)
    if t.query:
        # Re-quote the raw query: a no-op for a well-formed one, while bytes
        # not allowed there (0x80-0xFF, space, '"', ...) leave encoded. Its
        # chars are wire bytes (latin-1), so this restores the same bytes.
        from urllib.parse import quote

        encoding = "latin-1" if _is_latin1(t.query) else "utf-8"
        location += "?" + quote(t.query, safe=_QUERY_SAFE, encoding=encoding, errors="replace")
    return location
