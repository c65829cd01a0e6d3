"""Which requests reach the site, and which path inside it they name.

Pure (sans-io): the Host check against DNS rebinding, the ``--base`` prefix,
the SPA navigation rule and the clean-URL candidate, each a function of its
inputs that the handler's decision tree calls.  May not touch: the file
system, sockets, responses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping

from staticsrv.http.target import Target, TargetError, decode_target, quote_segments

HOST_REFUSED = (
    "This server answers only localhost and IP addresses (DNS rebinding protection); "
    "start it with --allowed-host NAME to allow this name."
)


def host_name(host: str) -> str:
    """The name of a Host field value: no port, no brackets, lower case, no final dot."""
    if host.startswith("["):
        return host[1 : host.find("]")].lower() if "]" in host else host.lower()
    return host.partition(":")[0].lower().rstrip(".")


def host_allowed(host: str | None, allowed: Collection[str]) -> bool:
    """Whether a request with this Host may be answered.

    A page on an attacker's domain that rebinds its name to 127.0.0.1 can
    read anything a local server answers, but its requests carry the
    attacker's name in Host.  So only IP literals, ``localhost`` and
    ``*.localhost`` (RFC 6761 §6.3: always loopback) pass, and names the
    user allowed: a name as is, or ``.example.com`` for the domain and every
    subdomain (Vite's ``server.allowedHosts`` syntax).  No Host at all
    (HTTP/1.0) or an empty one is not a name a browser would send for a
    page: it passes.
    """
    if not host:
        return True
    name = host_name(host)
    if name == "localhost" or name.endswith(".localhost") or name in allowed:
        return True
    if any(f".{name}".endswith(p) for p in allowed if p.startswith(".")):
        return True  # ".example.com" takes example.com and a.b.example.com
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def allowed_host_pattern(text: str) -> str:
    """One ``--allowed-host`` value as stored: a name, or ``.domain``; ValueError if neither."""
    name = text.strip()
    dot = name.startswith(".")
    clean = host_name(name[1:] if dot else name)
    if "*" in name:
        raise ValueError(
            f"--allowed-host: {text!r}: no wildcards; "
            f"write .{clean.lstrip('*.')} for the domain and every subdomain"
        )
    if not clean or clean.startswith(".") or any(c in clean for c in "/ @#?"):
        raise ValueError(f"--allowed-host: {text!r} is not a host name")
    return f".{clean}" if dot else clean


def parse_base(text: str, option: str = "--base") -> tuple[str, ...]:
    """The segments of a ``--base`` prefix ("/docs/" -> ("docs",)); ValueError if unusable."""
    if not text.startswith("/"):
        text = "/" + text
    decoded = decode_target(text, dotfiles=False)
    if isinstance(decoded, TargetError) or decoded.query or "#" in text:
        raise ValueError(f"{option}: {text!r} is not a plain path such as /project/")
    return decoded.segments


def base_url(segments: tuple[str, ...]) -> str:
    """The prefix as a path with its slashes: ("a", "b") -> "/a/b/"."""
    return quote_segments(segments, trailing_slash=True)


def strip_base(base: tuple[str, ...], target: Target) -> Target | bool:
    """The target inside the prefix, True for "redirect to the prefix", False for 404.

    ``/`` and the prefix without its final slash redirect to the prefix, as
    a project site's host would; anything else outside it is missing.
    """
    if not base:
        return target
    n = len(base)
    if target.segments[:n] == base:
        if len(target.segments) == n and not target.trailing_slash:
            return True
        return Target(target.segments[n:], target.query, target.trailing_slash)
    return not target.segments


def is_navigation(method: str, headers: Mapping[str, str], target: Target) -> bool:
    """A browser loading a page, as opposed to fetching an asset or data.

    GET or HEAD with ``Accept`` naming ``text/html`` or ``Sec-Fetch-Mode:
    navigate`` (Fetch standard): what a reload or a typed URL sends,
    whatever the last segment looks like (``/users/john.doe`` is a route,
    as for ``serve -s`` and Vite).  Scripts, images and ``fetch()`` send
    neither, so a missing ``/app.js`` stays a 404.
    """
    if method not in ("GET", "HEAD"):
        return False
    return "text/html" in headers.get("accept", "") or headers.get("sec-fetch-mode") == "navigate"


def html_candidate(target: Target) -> Target | None:
    """``/about`` -> ``/about.html`` (clean URLs), or None where that makes no sense."""
    if not target.segments or target.trailing_slash:
        return None
    last = target.segments[-1]
    if last.endswith(".html"):
        return None
    return Target((*target.segments[:-1], last + ".html"), target.query, False)
