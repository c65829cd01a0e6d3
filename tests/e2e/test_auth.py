"""--auth end to end: every path asks, the right password opens, the proxy is covered."""

from __future__ import annotations

import base64
import json

import pytest

from staticsrv.http.proxymap import parse_proxy
from tests.backend import backend
from tests.client import Conn, get
from tests.conftest import ServeFactory
from tests.process import run_fail, start, stop

RIGHT = "Basic " + base64.b64encode(b"ada:s3cret").decode()
WRONG = "Basic " + base64.b64encode(b"ada:guess").decode()
CHALLENGE = 'Basic realm="staticsrv", charset="UTF-8"'


def test_every_path_asks(serve: ServeFactory) -> None:
    srv = serve(auth=("ada", "s3cret"), live=True)
    for target in ("/", "/hello.txt", "/sub/", "/missing", "/__staticsrv__/live.js"):
        resp = get(srv.addr, target)
        assert resp.status == 401, target
        assert resp.header("www-authenticate") == CHALLENGE
        assert b"needs a user name and password" in resp.body
        assert get(srv.addr, target, headers={"Authorization": WRONG}).status == 401
    assert get(srv.addr, "/hello.txt", headers={"Authorization": RIGHT}).body == b"hello world\n"
    assert get(srv.addr, "/sub/", headers={"Authorization": RIGHT}).status == 200
    live = get(srv.addr, "/__staticsrv__/live.js", headers={"Authorization": RIGHT})
    assert live.status == 200
    with Conn(srv.addr) as conn:  # the event stream, too
        conn.send(b"GET /__staticsrv__/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert conn.read_head().status == 401


@pytest.mark.one_scheme
def test_wrong_passwords_are_rate_limited(serve: ServeFactory) -> None:
    srv = serve(auth=("ada", "s3cret"))
    with Conn(srv.addr) as conn:
        statuses = [conn.request("/", headers={"Authorization": WRONG}).status for _ in range(11)]
        assert statuses == [401] * 10 + [429]
        blocked = conn.request("/", headers={"Authorization": RIGHT})
        assert blocked.status == 429 and blocked.header("retry-after") is not None


@pytest.mark.one_scheme
def test_proxy_is_covered_and_authorization_stays_home(serve: ServeFactory) -> None:
    with backend() as up:
        srv = serve(auth=("ada", "s3cret"), proxy=(parse_proxy(f"/api={up.origin}"),))
        assert get(srv.addr, "/api/x").status == 401
        assert up.requests == []  # never went up
        seen = json.loads(get(srv.addr, "/api/x", headers={"Authorization": RIGHT}).body)
        assert "authorization" not in seen["headers"]
        passing = serve(
            auth=("ada", "s3cret"),
            proxy=(parse_proxy(f"/api={up.origin}"),),
            proxy_pass_auth=True,
        )
        seen = json.loads(get(passing.addr, "/api/x", headers={"Authorization": RIGHT}).body)
        assert seen["headers"]["authorization"] == RIGHT
        # Without --auth, a client's Authorization is the API's business: it goes up.
        plain = serve(proxy=(parse_proxy(f"/api={up.origin}"),))
        seen = json.loads(get(plain.addr, "/api/x", headers={"Authorization": "Bearer t"}).body)
        assert seen["headers"]["authorization"] == "Bearer t"


def test_cli_warns_without_tls_beyond_loopback() -> None:
    proc, port, _line = start("--port", "0", "--host", "0.0.0.0", "--auth", "ada:s3cret", "-q")
    assert get(("127.0.0.1", port), "/", headers={"Authorization": RIGHT}).status in (200, 404)
    status, err = stop(proc)
    assert status == 0
    warnings = [line for line in err.splitlines() if "--auth over plain HTTP" in line]
    assert len(warnings) == 1 and "0.0.0.0" in warnings[0]
    proc, _port, _line = start("--port", "0", "--auth", "ada:s3cret", "-q")
    _status, err = stop(proc)
    assert "--auth over plain HTTP" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--auth", "nocolon"], "--auth: give USER:PASSWORD"),
        (["--auth", "a:b", "--auth-file", "x"], "exclude each other"),
        (["--proxy", "api=http://h"], "--proxy: 'api' must be a path starting with /"),
        (["--proxy", "/api=ftp://h"], "must start with http:// or https://"),
        (["--proxy", "/api=http://"], "names no host"),
        (["--proxy-timeout", "0"], "--proxy-timeout: must be greater than 0"),
    ],
)
def test_bad_values_are_one_line(args: list[str], message: str) -> None:
    result = run_fail(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("staticsrv:") and message in lines[0]
