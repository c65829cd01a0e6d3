"""Conditional requests (RFC 9110 §13), pure: validators in, an outcome out.

The caller builds the validators once per file (:func:`make_etag`, the
mtime truncated to whole seconds), then asks :func:`evaluate_preconditions`
what to do and, for a GET with a Range header, :func:`if_range_allows_range`
whether the range may be honoured.  Nothing here raises on client input: a
malformed header degrades to the outcome the RFC prescribes or to the safest
one.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final

from staticsrv.http.httpdate import parse_http_date

__all__ = ["Precondition", "evaluate_preconditions", "if_range_allows_range", "make_etag"]


class Precondition(enum.Enum):
    """What the server does after evaluating the preconditions."""

    PROCEED = 200  # serve the request normally (which may still become a 206)
    NOT_MODIFIED = 304
    PRECONDITION_FAILED = 412


# Only GET and HEAD turn a matching If-None-Match into 304, and only they
# evaluate If-Modified-Since (RFC 9110 §13.1.2, §13.1.3).  Methods are
# case-sensitive (RFC 9110 §9.1), so "get" is not GET.
_SAFE_READ: Final = frozenset(("GET", "HEAD"))

# etagc = %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3): no DQUOTE, no spaces.
_ETAGC_ASCII: Final = frozenset(chr(c) for c in range(0x21, 0x7F)) - {'"'}


def make_etag(ino: int, size: int, mtime_ns: int, suffix: str = "") -> str:
    """Build a strong entity-tag such as ``"1a2b-400-17f0c3e5d2a1b000"``.

    Inode, size and nanosecond mtime together change whenever the file's
    bytes can have changed (including an atomic rename-over, which changes the
    inode), so the tag is strong in the sense of RFC 9110 §8.8.1.  The
    ``suffix`` names a content coding ("gzip", "br"): each encoded
    representation is a different set of bytes and so needs its own strong
    tag (RFC 9110 §8.8.3.3), or a cache could splice ranges of the gzip body
    into an identity one.
    """
    if suffix and not all(c in _ETAGC_ASCII for c in suffix):
        raise ValueError(f"invalid entity-tag suffix: {suffix!r}")
    tail = f"-{suffix}" if suffix else ""
    return f'"{ino:x}-{size:x}-{mtime_ns:x}{tail}"'


def _parse_etag_list(value: str) -> list[tuple[bool, str]] | None:
    """Parse ``1#entity-tag`` into ``(weak, opaque_tag)`` pairs, or ``None`` if malformed.

    ``opaque_tag`` keeps its double quotes so it compares directly with the
    quoted tag from :func:`make_etag`.  A comma is a legal ``etagc``, so the
    list cannot simply be split on commas: ``"a,b"`` is one tag.  Empty list
    elements and OWS around them are allowed (RFC 9110 §5.6.1).  ``W/`` is
    case-sensitive (``weak = %s"W/"``, §8.8.3), so ``w/"x"`` is malformed.
    """
    tags: list[tuple[bool, str]] = []
    i, n = 0, len(value)
    while True:
        # Skip OWS and empty elements up to the next tag.
        while i < n and value[i] in " \t,":
            i += 1
        if i >= n:
            return tags
        weak = value.startswith("W/", i)
        if weak:
            i += 2
        if i >= n or value[i] != '"':
            return None
        close = value.find('"', i + 1)
        if close < 0:
            return None
        tags.append((weak, value[i : close + 1]))
        i = close + 1
        # After a tag only OWS then a comma (or the end) may follow.
        while i < n and value[i] in " \t":
            i += 1
        if i < n and value[i] != ",":
            return None


def _any_match(value: str, etag: str, *, strong: bool) -> bool:
    """Evaluate an If-Match / If-None-Match field value against our ``etag``.

    ``*`` matches any current representation (RFC 9110 §13.1.1, §13.1.2); we
    are only called when one exists.  A malformed list matches nothing: for
    If-Match that yields 412, the safe answer for a state-changing request;
    for If-None-Match it just means a full response.
    """
    v = value.strip(" \t")
    # Fast paths for what browsers actually send: exactly the tag we issued.
    if v in (etag, "*"):
        return True
    if not strong and v == "W/" + etag:
        return True
    tags = _parse_etag_list(v)
    if tags is None:
        return False
    if strong:
        # Strong comparison (§8.8.3.2): neither tag may be weak.
        return any(not weak and opaque == etag for weak, opaque in tags)
    # Weak comparison: the opaque tags match, W/ prefixes are disregarded.
    return any(opaque == etag for _, opaque in tags)


def evaluate_preconditions(
    method: str, headers: Mapping[str, str], etag: str, last_modified: int, now: float
) -> Precondition:
    """Apply RFC 9110 §13.2.2 steps 1-4 in exactly that order.

    ``headers`` has lower-cased names; ``etag`` is our current strong tag and
    ``last_modified`` the mtime in whole epoch seconds; ``now`` is the
    server's clock.  Step 5 (If-Range) is :func:`if_range_allows_range`.
    """
    # Step 1/2: If-Match, and only when it is absent, If-Unmodified-Since
    # (§13.1.4: a recipient MUST ignore If-Unmodified-Since when If-Match is present,
    # because the entity-tag is the more accurate validator).
    if_match = headers.get("if-match")
    if if_match is not None:
        if not _any_match(if_match, etag, strong=True):
            return Precondition.PRECONDITION_FAILED
    else:
        ius = headers.get("if-unmodified-since")
        if ius is not None:
            # An invalid date (or a list of dates) is ignored (§13.1.4).
            date = parse_http_date(ius, now)
            if date is not None and last_modified > date:
                return Precondition.PRECONDITION_FAILED

    # Step 3/4: If-None-Match, and only when it is absent, If-Modified-Since
    # (§13.1.3: MUST ignore If-Modified-Since when If-None-Match is present).
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if _any_match(if_none_match, etag, strong=False):
            # §13.1.2: 304 for GET/HEAD, 412 for any other method.
            if method in _SAFE_READ:
                return Precondition.NOT_MODIFIED
            return Precondition.PRECONDITION_FAILED
    elif method in _SAFE_READ:
        ims = headers.get("if-modified-since")
        if ims is not None:
            date = parse_http_date(ims, now)
            # §13.1.3: the date is interpreted on the origin server's clock, so
            # a date in our future cannot be a Last-Modified we sent; treat it
            # as invalid and ignore it (RFC 2616 §14.25 spelled this out),
            # otherwise a bogus far-future date would pin a stale cache entry.
            if date is not None and date <= now and last_modified <= date:
                return Precondition.NOT_MODIFIED
    return Precondition.PROCEED


def if_range_allows_range(if_range: str | None, etag: str, last_modified: int) -> bool:
    """Whether a Range request may be served as 206 given its If-Range (RFC 9110 §13.1.5).

    ``False`` means "ignore Range and send the whole representation (200)".

    * absent: no condition, ranges allowed;
    * an entity-tag: strong comparison, so a ``W/`` tag never matches (the
      bytes of a weakly-equal representation may differ, and splicing ranges
      of two versions corrupts the client's copy);
    * an HTTP-date: must equal Last-Modified exactly (not "<="), because the
      client is asking "is it still the very version I have?";
    * anything else (an invalid date, a malformed tag): the condition cannot
      be true, so the full representation is sent, which is always correct.
    """
    if if_range is None:
        return True
    v = if_range.strip(" \t")
    # §13.1.5: an entity-tag is told apart from a date by its DQUOTE.  Our tag
    # is strong, so plain equality is the strong comparison; a W/ tag is not a
    # date either and so falls through to a failed parse: weak never matches.
    if v.startswith('"'):
        return v == etag
    date = parse_http_date(v)
    return date is not None and date == last_modified
