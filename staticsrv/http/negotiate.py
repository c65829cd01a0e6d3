"""Content-coding negotiation (RFC 9110 §12.5.3 Accept-Encoding), pure.

:func:`choose_encoding` picks which of the server's available codings to
send, :func:`is_compressible` says whether compressing a media type is worth
it at all.  Both run on every response, so the common inputs take one cached
lookup.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Final

__all__ = ["choose_encoding", "is_compressible"]

# RFC 9110 §8.4.1.1 / §8.4.1.3: recipients SHOULD treat the x- spellings as
# equivalent to the registered names.
_ALIASES: Final = {"x-gzip": "gzip", "x-compress": "compress"}
_OWS: Final = " \t"
# Header values longer than this are parsed but not memoized, so a client
# cannot fill the cache with large junk strings (at most 256 x 256 bytes).
_CACHEABLE_LEN: Final = 256


class _Prefs:
    """A parsed Accept-Encoding: qvalues in thousandths (0..1000).

    A plain class, not a dataclass: creating one costs start-up time.
    """

    __slots__ = ("explicit", "star")

    def __init__(self, explicit: Mapping[str, int], star: int | None) -> None:
        self.explicit = explicit  # coding (lower-case, de-aliased) -> q
        self.star = star  # q of "*", None when absent


def _qvalue(s: str) -> int:
    """``qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`` in thousandths, or -1.

    Integer thousandths avoid float rounding surprises when comparing
    ``q=0.3`` written two ways, and the grammar allows exactly 3 decimals.
    """
    head, _, frac = s.partition(".")
    if head not in ("0", "1") or len(frac) > 3:
        return -1
    if frac and not (frac.isascii() and frac.isdigit()):
        return -1
    q = int(head) * 1000 + (int(frac.ljust(3, "0")) if frac else 0)
    return q if q <= 1000 else -1  # "1.5" is not a qvalue


def _parse_uncached(value: str) -> _Prefs:
    explicit: dict[str, int] = {}
    star: int | None = None
    for element in value.split(","):
        name, _, params = element.partition(";")
        coding = name.strip(_OWS).lower()
        if not coding:
            continue  # empty list element (RFC 9110 §5.6.1) or ";q=1" with no coding
        q = 1000  # §12.4.2: no weight means q=1
        for param in params.split(";") if params else ():
            key, _, raw = param.partition("=")
            if key.strip(_OWS).lower() == "q":  # parameter names are case-insensitive
                # A malformed weight counts as q=0 ("not acceptable") rather than
                # being dropped: guessing that the client accepts a coding it
                # tried to qualify could send it bytes it cannot decode.
                q = max(_qvalue(raw.strip(_OWS)), 0)
            # Other parameters are not defined for Accept-Encoding; ignore them.
        if coding == "*":
            if star is None:
                star = q
        else:
            # First occurrence wins for duplicates ("gzip, gzip;q=0"): the RFC
            # does not say, and this keeps the parse a single pass.
            explicit.setdefault(_ALIASES.get(coding, coding), q)
    return _Prefs(explicit, star)


_parse_cached = functools.lru_cache(maxsize=256)(_parse_uncached)


def choose_encoding(accept_encoding: str | None, available: Sequence[str]) -> str | None:
    """The coding from ``available`` to use, or ``None`` for identity (no coding).

    ``available`` lists the server's codings in its order of preference, e.g.
    ``("br", "zstd", "gzip")``; the returned string is the entry from it.

    * absent header -> ``None``: §12.5.3 would allow any coding, but a client
      that does not advertise codings is usually a tool that cannot decode
      them, so identity is the interoperable choice;
    * empty value -> ``None`` (§12.5.3: "does not want any content coding");
    * each coding's q is its own entry, else that of ``*`` ("any coding not
      explicitly listed"), else 0; ``q=0`` means "not acceptable";
    * the highest q wins, ties go to the earlier entry of ``available``;
    * identity is preferred only when the client ranks it strictly higher
      than the best coding (explicitly, or through ``*``).  Identity is never
      refused here: when ``identity;q=0`` leaves nothing acceptable we still
      send identity, as §12.5.3 permits, rather than a 406 for a static file.
    """
    if not accept_encoding:
        return None
    prefs = (
        _parse_cached(accept_encoding)
        if len(accept_encoding) <= _CACHEABLE_LEN
        else _parse_uncached(accept_encoding)
    )
    explicit, star = prefs.explicit, prefs.star
    default = 0 if star is None else star
    best: str | None = None
    best_q = 0
    for coding in available:
        key = coding.lower()
        key = _ALIASES.get(key, key)
        if key == "identity":
            continue
        q = explicit.get(key, default)
        if q > best_q:  # strict: on a tie the server's earlier choice stays
            best, best_q = coding, q
    if best is None:
        return None
    identity_q = explicit.get("identity", star)
    if identity_q is not None and identity_q > best_q:
        return None
    return best


# Media types whose bodies are text-like and shrink well.  Everything not
# matched is assumed already compressed (JPEG, PNG, WebP, AVIF, MP4, MP3,
# WOFF/WOFF2, ZIP, gzip, PDF streams) or opaque (octet-stream), where
# compressing burns CPU for a few percent at best.
_COMPRESSIBLE: Final = frozenset(
    (
        "application/javascript",
        "application/x-javascript",  # legacy spellings of JavaScript
        "application/ecmascript",
        "application/json",
        "application/manifest+json",
        "application/xml",
        "application/xhtml+xml",
        "application/wasm",  # WebAssembly modules typically halve with gzip
        "application/yaml",
        "application/x-yaml",
        "application/toml",
        "image/svg+xml",
    )
)


def is_compressible(content_type: str) -> bool:
    """Whether responses of ``content_type`` (parameters allowed) are worth compressing.

    True for ``text/*``, JavaScript, JSON, XML, WebAssembly, SVG and any
    structured-syntax ``+json`` / ``+xml`` type (RFC 6839); false otherwise,
    notably for images, audio, video, fonts, archives, PDF and octet-stream.
    """
    media = content_type.partition(";")[0].strip(_OWS).lower()
    return media.startswith("text/") or media in _COMPRESSIBLE or media.endswith(("+json", "+xml"))
