"""The fields that go up and come back: pure.

Owns: the request fields sent upstream (:func:`request_fields`: hop-by-hop
fields dropped, Host set to the upstream's authority, ``X-Forwarded-*``
added) and the response fields passed back (:func:`response_fields`:
hop-by-hop dropped, ``Location``/``Content-Location``/``Refresh`` naming the
upstream turned into this server's URLs, ``Set-Cookie`` made to stick).
May not touch: sockets, framing (the caller re-frames every body).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from staticsrv.http.proxymap import ProxyMap

# RFC 9110 §7.6.1: fields that concern one connection only, never
# forwarded; plus those a proxy must not pass (Proxy-*, RFC 9110 §11.7),
# the legacy Keep-Alive and Proxy-Connection, and the framing fields,
# which staticsrv sets itself when it re-frames the message.
HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-connection", "te", "trailer",
        "transfer-encoding", "upgrade", "proxy-authenticate", "proxy-authorization",
    }
)  # fmt: skip
_REQUEST_DROP = HOP_BY_HOP | {"host", "content-length", "expect"}
# Server and Date are staticsrv's own (it sends both on every answer).
_RESPONSE_DROP = HOP_BY_HOP | {"content-length", "server", "date"}
_REFRESH_URL = re.compile(r"(?i)(url\s*=\s*['\"]?)([^'\"]*)")


def connection_options(value: str | None) -> set[str]:
    """The field names listed in a Connection field (RFC 9110 §7.6.1), lower case."""
    if not value:
        return set()
    return {opt.strip(" \t").lower() for opt in value.split(",") if opt.strip(" \t")}


def request_fields(
    headers: Mapping[str, str],
    *,
    upstream_authority: str,
    client_ip: str,
    proto: str,
    upgrade: str | None = None,
    drop: Iterable[str] = (),
) -> list[tuple[str, str]]:
    """The request's fields as sent up, without framing (the caller adds it).

    ``headers`` are the parser's (lower-case names, repeats joined).
    ``upgrade``: the protocol asked for (WebSocket), kept with its
    Connection option; ``drop``: more names not to forward (Authorization
    under ``--auth`` without ``--proxy-pass-auth``).
    """
    skip = _REQUEST_DROP | connection_options(headers.get("connection")) | set(drop)
    out = [("Host", upstream_authority)]
    out.extend((name, value) for name, value in headers.items() if name not in skip)
    if upgrade is not None:
        out.extend((("Connection", "upgrade"), ("Upgrade", upgrade)))
    # The de facto proxy fields (RFC 7239 standardised Forwarded; these are
    # what frameworks read): the client's address appended to the chain.
    xff = headers.get("x-forwarded-for")
    out = [
        f for f in out if f[0] not in ("x-forwarded-for", "x-forwarded-host", "x-forwarded-proto")
    ]
    out.append(("X-Forwarded-For", f"{xff}, {client_ip}" if xff else client_ip))
    host = headers.get("host")
    if host:
        out.append(("X-Forwarded-Host", host))
    out.append(("X-Forwarded-Proto", proto))
    return out


def rewrite_url(value: str, m: ProxyMap, own_origin: str | None) -> str:
    """An upstream URL naming the upstream's origin, as this server's URL.

    Relative references (``/login``, ``next``) pass unchanged: the browser
    resolves them against this server already.
    """
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return value
    if not parts.scheme or not parts.netloc or own_origin is None:
        return value
    up = m.upstream
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        return value
    if (parts.scheme.lower(), (parts.hostname or "").lower(), port) != (
        up.scheme,
        up.host.lower(),
        up.port,
    ):
        return value  # another site: not ours to change
    path = m.client_path(parts.path or "/")
    if path is None:
        path = parts.path or "/"
    out = own_origin + path
    if parts.query:
        out += "?" + parts.query
    if parts.fragment:
        out += "#" + parts.fragment
    return out


def rewrite_cookie(value: str, secure_client: bool) -> str:
    """A Set-Cookie that sticks on the dev server's origin (RFC 6265 §5.2).

    ``Domain`` names the upstream's host: dropped, so the cookie is a
    host-only cookie of this server.  Over plain HTTP a ``Secure`` cookie
    would be refused by the browser: ``Secure`` goes, and ``SameSite=None``
    (which browsers accept only with ``Secure``) becomes ``Lax``.
    """
    parts = value.split(";")
    out = [parts[0].strip()]
    for attr in parts[1:]:
        name, _eq, val = attr.strip().partition("=")
        key = name.strip().lower()
        if key == "domain" or not key:
            continue
        if not secure_client:
            if key == "secure":
                continue
            if key == "samesite" and val.strip().lower() == "none":
                out.append("SameSite=Lax")
                continue
        out.append(attr.strip())
    return "; ".join(out)


def response_fields(
    fields: Iterable[tuple[str, str]],
    m: ProxyMap,
    *,
    own_origin: str | None,
    secure_client: bool,
) -> list[tuple[str, str]]:
    """The upstream's fields as passed to the client, without framing."""
    fields = list(fields)
    skip = set(_RESPONSE_DROP)
    for name, value in fields:
        if name.lower() == "connection":
            skip |= connection_options(value)
    out: list[tuple[str, str]] = []
    for name, given in fields:
        key = name.lower()
        if key in skip:
            continue
        value = given
        if key in ("location", "content-location"):
            value = rewrite_url(given, m, own_origin)
        elif key == "refresh":
            value = _REFRESH_URL.sub(
                lambda g: g.group(1) + rewrite_url(g.group(2), m, own_origin), given, count=1
            )
        elif key == "set-cookie":
            value = rewrite_cookie(given, secure_client)
        out.append((name, value))
    return out
