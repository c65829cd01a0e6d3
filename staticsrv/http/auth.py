"""``--auth``: HTTP Basic authentication (RFC 7617) for a preview shared on the LAN.

Pure: the credentials given at start (:func:`parse_credentials`), the check
of one request (:meth:`Auth.deny`, the clock passed in), the failures
counted per client address, and the warning for plain HTTP beyond
loopback.  May not touch: sockets.  The connection loop asks before the
handler, so every path answers only with the password: files, listings,
the live-reload endpoints and the proxy alike.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
from collections import OrderedDict

from staticsrv.http.http11 import Request
from staticsrv.http.responses import Response, error_response

# RFC 7617 §2.1: the charset parameter says the server expects UTF-8.
CHALLENGE = 'Basic realm="staticsrv", charset="UTF-8"'
MAX_FAILURES = 10  # wrong passwords per address within WINDOW, then 429 until it passes
WINDOW = 60.0
MAX_ADDRESSES = 4096  # addresses whose failures are remembered (oldest forgotten first)
_ASK = "This preview needs a user name and password."
_SLOW_DOWN = "Too many wrong passwords from this address: try again in a minute."


def parse_credentials(text: str, option: str = "--auth") -> tuple[str, str]:
    """``USER:PASSWORD`` (the user may hold no colon, RFC 7617 §2); ValueError with one line."""
    user, colon, password = text.strip("\r\n").partition(":")
    if not colon or not user or not password:
        raise ValueError(f"{option}: give USER:PASSWORD (both non-empty)")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text.strip("\r\n")):
        raise ValueError(f"{option}: control characters are not allowed")
    return user, password


def read_auth_file(path: str) -> tuple[str, str]:
    """The first line of ``--auth-file``: ``user:password``."""
    try:
        with open(path, encoding="utf-8") as f:
            line = f.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--auth-file: cannot read {path!r}: {exc}") from None
    return parse_credentials(line, "--auth-file")


def plain_http_warning(host: str, scheme: str) -> str | None:
    """A line to print when the password would cross a network in clear text."""
    if scheme == "https" or host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return (
        f"staticsrv: warning: --auth over plain HTTP on {host}: the password crosses the "
        "network readable by anyone on it; add --https"
    )


class Auth:
    """One user and password; failures remembered per client address."""

    __slots__ = ("_failures", "_token")

    def __init__(self, user: str, password: str) -> None:
        self._token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii").encode()
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def deny(self, req: Request, peer: str, now: float) -> Response | None:
        """None if ``req`` carries the credentials, else the answer (401, or 429 when hammered)."""
        count, since = self._failures.get(peer, (0, now))
        if now - since >= WINDOW:
            count, since = 0, now
        if count >= MAX_FAILURES:
            wait = max(int(WINDOW - (now - since)) + 1, 1)
            return error_response(429, reason=_SLOW_DOWN, extra=(("Retry-After", str(wait)),))
        given = req.headers.get("authorization")
        if given is not None:
            scheme, _, token = given.partition(" ")
            # compare_digest: the time taken does not tell how much of it matched.
            if scheme.lower() == "basic" and hmac.compare_digest(
                token.strip(" ").encode("latin-1"), self._token
            ):
                self._failures.pop(peer, None)
                return None
            # A first request without credentials is how every browser asks: not a failure.
            self._failures[peer] = (count + 1, since)
            self._failures.move_to_end(peer)
            if len(self._failures) > MAX_ADDRESSES:
                self._failures.popitem(last=False)
        return error_response(
            401, reason=_ASK, head=req.method == "HEAD", extra=(("WWW-Authenticate", CHALLENGE),)
        )
