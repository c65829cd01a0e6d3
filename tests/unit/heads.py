"""Requests and targets as the connection hands them over: parsed from real bytes."""

from __future__ import annotations

from staticsrv.http.http11 import Request, parse_head
from staticsrv.http.limits import Limits
from staticsrv.http.target import Target, decode_target


def request(
    target: str = "/",
    method: str = "GET",
    *,
    host: str = "localhost",
    headers: dict[str, str] | None = None,
    **fields: str,
) -> Request:
    """A Request parsed from a real HTTP/1.1 head.

    Fields come from ``headers`` as written, or as keywords whose ``_``
    stands for ``-`` (``if_none_match="x"`` is ``If-None-Match: x``).
    """
    named = dict(headers or {})
    named.update({name.replace("_", "-"): value for name, value in fields.items()})
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in named.items()]
    req = parse_head(("\r\n".join(lines) + "\r\n").encode("latin-1"), Limits())
    assert isinstance(req, Request), req
    return req


def target(raw: str) -> Target:
    """A request target as the parser decodes it (it must decode)."""
    decoded = decode_target(raw)
    assert isinstance(decoded, Target), decoded
    return decoded
