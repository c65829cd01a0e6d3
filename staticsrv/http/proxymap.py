"""Which requests go up, and to which upstream URL: pure.

Owns: parsing ``--proxy PATH=URL`` (:func:`parse_proxy`, one-line
``ValueError`` messages), the upstream's address (:class:`Upstream`) and
the path mapping (:func:`route`, :meth:`ProxyMap.upstream_target`,
:meth:`ProxyMap.client_path`, its inverse for ``Location``).  May not
touch: sockets, headers, responses.

The mapping follows Vite's and nginx's ``proxy_pass``: a URL without a
path sends the request path up unchanged; a URL with a path replaces
PATH by it (a trailing slash on it is ignored, ``/`` strips PATH).  PATH
matches whole segments, the longest PATH wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

RESERVED = "/__staticsrv__"  # the server's own endpoints: never proxied
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Upstream:
    scheme: str  # "http" or "https"
    host: str  # a name or an IP literal, without brackets
    port: int

    @property
    def authority(self) -> str:
        """host[:port] as sent in Host (RFC 9110 §7.2): no default port."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.authority}"


@dataclass(frozen=True, slots=True)
class ProxyMap:
    prefix: str  # "/api"; "" for "/" (everything)
    upstream: Upstream
    path: str | None  # the URL's path without a trailing slash; None when it had none
    text: str  # as the user wrote it, for pages and messages

    def matches(self, path: str) -> bool:
        """Whole segments: ``/api`` takes ``/api`` and ``/api/x``, never ``/apix``."""
        p = self.prefix
        return path.startswith(p) and (len(path) == len(p) or path[len(p)] == "/")

    def upstream_target(self, target: str) -> str:
        """The request target sent up (query kept), for a target this map matches."""
        if self.path is None:
            return target
        path, mark, query = target.partition("?")
        rest = path[len(self.prefix) :]
        return (self.path + rest or "/") + mark + query

    def client_path(self, path: str) -> str | None:
        """The inverse: an upstream path as the client sees it; None if outside the map."""
        if self.path is None:
            return path
        base = self.path
        if path == base or path.startswith(base + "/") or not base:
            return (self.prefix + path[len(base) :]) or "/"
        return None


def parse_upstream(url: str, option: str) -> tuple[Upstream, str | None]:
    """An http(s) URL's upstream and path; ValueError with one line if unusable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(f"{option}: {url!r} is not a URL") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"{option}: {url!r} must start with http:// or https://")
    if not parts.hostname:
        raise ValueError(f"{option}: {url!r} names no host")
    if parts.username is not None or parts.query or parts.fragment:
        raise ValueError(f"{option}: {url!r}: give scheme, host, port and path only")
    path: str | None = parts.path.rstrip("/") if parts.path else None
    if path is not None and any(c in path for c in " \t\r\n"):
        raise ValueError(f"{option}: {url!r} has spaces in its path")
    upstream = Upstream(scheme, parts.hostname, port or _DEFAULT_PORTS[scheme])
    return upstream, path


def parse_proxy(text: str) -> ProxyMap:
    """``PATH=URL`` as given to ``--proxy``; ValueError with one line if unusable."""
    path, eq, url = text.partition("=")
    path, url = path.strip(), url.strip()
    if not eq or not url:
        raise ValueError(f"--proxy: {text!r} is not PATH=URL (e.g. /api=http://127.0.0.1:3000)")
    if not path.startswith("/") or any(c in path for c in "?# \t"):
        raise ValueError(f"--proxy: {path!r} must be a path starting with /")
    prefix = path.rstrip("/")
    if prefix == RESERVED or prefix.startswith(RESERVED + "/"):
        raise ValueError(f"--proxy: {path!r} is reserved for staticsrv's own endpoints")
    upstream, upath = parse_upstream(url, "--proxy")
    return ProxyMap(prefix, upstream, upath, f"{path} -> {url}")


def _dot_segment(path: str) -> bool:
    """``.`` or ``..`` segments, plain or percent-encoded: they could climb out of PATH."""
    lowered = path.lower().replace("%2e", ".")
    return any(seg in (".", "..") for seg in lowered.split("/"))


def route(maps: Sequence[ProxyMap], target: str) -> ProxyMap | bool | None:
    """The map for an origin-form ``target`` (longest PATH first; ``maps`` is sorted so).

    None: not proxied.  False: a proxied path with dot segments (refused with
    400: the upstream would resolve them outside PATH).
    """
    path = target.partition("?")[0]
    if path == RESERVED or path.startswith(RESERVED + "/"):
        return None
    for m in maps:
        if m.matches(path):
            return False if _dot_segment(path) else m
    return None


def sort_maps(maps: Sequence[ProxyMap]) -> tuple[ProxyMap, ...]:
    """Longest PATH first, so the first match is the most specific one."""
    return tuple(sorted(maps, key=lambda m: len(m.prefix), reverse=True))
