"""--auth, pure: credentials, the check, the failure limit, the warning."""

from __future__ import annotations

import base64

import pytest

from staticsrv.http.auth import (
    CHALLENGE,
    MAX_FAILURES,
    WINDOW,
    Auth,
    parse_credentials,
    plain_http_warning,
)
from staticsrv.http.http11 import Request


def _req(authorization: str | None = None) -> Request:
    headers = {"host": "x"}
    if authorization is not None:
        headers["authorization"] = authorization
    return Request("GET", "/", "HTTP/1.1", headers, True, 0, False)


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_credentials() -> None:
    assert parse_credentials("ada:pass:with:colons") == ("ada", "pass:with:colons")
    for bad in ("ada", ":pw", "ada:", "a\x01:b"):
        with pytest.raises(ValueError, match="--auth"):
            parse_credentials(bad)


def test_right_wrong_and_missing() -> None:
    auth = Auth("ada", "sésame")
    assert auth.deny(_req(_basic("ada:sésame")), "1.2.3.4", 0.0) is None
    assert auth.deny(_req("basic " + _basic("ada:sésame")[6:]), "1.2.3.4", 0.0) is None
    for given in (None, _basic("ada:wrong"), _basic("bob:sésame"), "Bearer x", "Basic"):
        resp = auth.deny(_req(given), "1.2.3.4", 0.0)
        assert resp is not None and resp.status == 401
        assert resp.field("WWW-Authenticate") == CHALLENGE


def test_failures_are_limited_per_address_and_forgotten() -> None:
    auth = Auth("ada", "pw")
    wrong = _req(_basic("ada:nope"))
    for _ in range(MAX_FAILURES):
        resp = auth.deny(wrong, "10.0.0.9", 1.0)
        assert resp is not None and resp.status == 401
    blocked = auth.deny(_req(_basic("ada:pw")), "10.0.0.9", 2.0)  # even the right one, for now
    assert blocked is not None and blocked.status == 429
    assert blocked.field("Retry-After") == str(int(WINDOW - 1) + 1)
    assert auth.deny(_req(_basic("ada:pw")), "10.0.0.10", 2.0) is None  # another address
    assert auth.deny(_req(_basic("ada:pw")), "10.0.0.9", 1.0 + WINDOW) is None  # window passed
    # Asking without credentials (what a browser does first) is no failure.
    for _ in range(MAX_FAILURES * 2):
        resp = auth.deny(_req(), "10.0.0.11", 3.0)
        assert resp is not None and resp.status == 401


def test_warning_only_for_plain_http_beyond_loopback() -> None:
    assert plain_http_warning("127.0.0.1", "http") is None
    assert plain_http_warning("::1", "http") is None
    assert plain_http_warning("localhost", "http") is None
    assert plain_http_warning("0.0.0.0", "https") is None
    line = plain_http_warning("0.0.0.0", "http")
    assert line is not None and line.startswith("staticsrv: warning: --auth over plain HTTP")
