"""--proxy end to end: a real upstream (tests/backend.py), the real server, real sockets."""

from __future__ import annotations

import gzip
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from staticsrv.config import Timeouts
from staticsrv.http.proxymap import parse_proxy
from tests.backend import JSON_1K, Backend, backend, release
from tests.client import Conn, get
from tests.conftest import Running, ServeFactory


@pytest.fixture
def up() -> Iterator[Backend]:
    with backend() as b:
        yield b


def _proxied(serve: ServeFactory, *maps: str, **kw: object) -> Running:
    return serve(proxy=tuple(parse_proxy(m) for m in maps), **kw)


def _echo(resp_body: bytes) -> dict[str, object]:
    out: dict[str, object] = json.loads(resp_body)
    return out


@pytest.mark.parametrize(
    ("url_path", "request_target", "upstream_target"),
    [
        ("", "/api/users?x=1", "/api/users?x=1"),  # no path: unchanged
        ("/v1", "/api/users?x=1", "/v1/users?x=1"),  # a path replaces PATH
        ("/v1/", "/api/users", "/v1/users"),  # its trailing slash is ignored
        ("/v1", "/api", "/v1"),  # PATH itself goes to the URL's path
        ("/", "/api/users", "/users"),  # "/" strips PATH
        ("/", "/api", "/"),
    ],
)
def test_path_mapping(
    serve: ServeFactory, up: Backend, url_path: str, request_target: str, upstream_target: str
) -> None:
    srv = _proxied(serve, f"/api={up.origin}{url_path}")
    resp = get(srv.addr, request_target)
    assert resp.status == 200
    seen = _echo(resp.body)
    assert seen["target"] == upstream_target
    headers = seen["headers"]
    assert isinstance(headers, dict)
    assert headers["host"] == f"127.0.0.1:{up.port}"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-host"] == "localhost"
    assert headers["x-forwarded-proto"] == ("https" if srv.tls else "http")


@pytest.mark.one_scheme
def test_whole_segments_and_longest_path(serve: ServeFactory, up: Backend) -> None:
    srv = _proxied(serve, f"/api={up.origin}/short", f"/api/v2={up.origin}/long")
    assert get(srv.addr, "/apix").status == 404  # a file path: not proxied
    assert _echo(get(srv.addr, "/api/v2/x").body)["target"] == "/long/x"
    assert _echo(get(srv.addr, "/api/v2x").body)["target"] == "/short/v2x"
    assert get(srv.addr, "/hello.txt").body == b"hello world\n"  # files as before
    assert len(up.requests) == 2


def test_json_api_and_keep_alive_pool(serve: ServeFactory, up: Backend) -> None:
    srv = _proxied(serve, f"/api={up.origin}")
    with Conn(srv.addr) as conn:
        for _ in range(5):
            resp = conn.request("/api/json")
            assert (resp.status, resp.body) == (200, JSON_1K)
            assert resp.header("content-length") == str(len(JSON_1K))
            assert resp.header("content-type") == "application/json"
        head = conn.request("/api/json", "HEAD")
        assert head.status == 200 and head.body == b""
        assert head.header("content-length") == str(len(JSON_1K))
    assert up.connections == 1  # one upstream connection, reused


@pytest.mark.one_scheme
def test_bodies_go_up_streamed_and_reframed(serve: ServeFactory, up: Backend) -> None:
    srv = _proxied(serve, f"/api={up.origin}")
    with Conn(srv.addr) as conn:
        conn.send(b"PUT /api/e HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello")
        seen = _echo(conn.read_response().body)
        assert (seen["method"], seen["length"]) == ("PUT", 5)
        conn.send(
            b"POST /api/e HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nX-Trailer: 1\r\n\r\n"
        )
        seen = _echo(conn.read_response().body)
        assert seen["length"] == 5
        headers = seen["headers"]
        assert isinstance(headers, dict) and headers["transfer-encoding"] == "chunked"
        # Expect: 100-continue is answered by staticsrv (the upstream never sees it).
        conn.send(
            b"POST /api/e HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        conn.read_until(b"\r\n\r\n")
        assert bytes(conn.buf).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        del conn.buf[: len(b"HTTP/1.1 100 Continue\r\n\r\n")]
        conn.send(b"abc")
        seen = _echo(conn.read_response().body)
        assert seen["length"] == 3
        # Every method, and a DELETE without a body.
        for method in ("DELETE", "PATCH", "PROPFIND"):
            assert _echo(conn.request("/api/e", method).body)["method"] == method


@pytest.mark.one_scheme
def test_hop_by_hop_fields_stay_behind(serve: ServeFactory, up: Backend) -> None:
    srv = _proxied(serve, f"/api={up.origin}")
    resp = get(
        srv.addr,
        "/api/e",
        headers={
            "Connection": "keep-alive, X-Secret",
            "X-Secret": "1",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Proxy-Authorization": "Basic eDp5",
            "X-Forwarded-For": "10.0.0.1",
            "X-Other": "kept",
        },
    )
    headers = _echo(resp.body)["headers"]
    assert isinstance(headers, dict)
    for name in ("connection", "x-secret", "keep-alive", "te", "proxy-authorization"):
        assert name not in headers
    assert headers["x-other"] == "kept"
    assert headers["x-forwarded-for"] == "10.0.0.1, 127.0.0.1"
    back = get(srv.addr, "/api/hop")
    assert back.header("x-kept") == "yes"
    assert back.header("x-private") is None and back.header("keep-alive") is None


@pytest.mark.one_scheme
def test_location_refresh_and_cookies_rewritten(serve: ServeFactory, up: Backend) -> None:
    srv = _proxied(serve, f"/api={up.origin}/v1")
    resp = get(srv.addr, "/api/redirect")
    assert resp.status == 302
    assert resp.header("location") == "http://localhost/api/login?next=1"
    assert resp.header("refresh") == "0; url=http://localhost/api/done"
    assert resp.header("content-location") == "/relative"  # relative: unchanged
    cookies = get(srv.addr, "/api/cookie").all_headers("set-cookie")
    assert cookies == ["sid=abc; Path=/; HttpOnly; SameSite=Lax", "theme=dark; Max-Age=60"]


def test_cookies_keep_secure_over_https(serve: ServeFactory, up: Backend) -> None:
    srv = _proxied(serve, f"/api={up.origin}")
    cookie = get(srv.addr, "/api/cookie").all_headers("set-cookie")[0]
    if srv.tls:
        assert cookie == "sid=abc; Path=/; Secure; HttpOnly; SameSite=None"
    else:
        assert cookie == "sid=abc; Path=/; HttpOnly; SameSite=Lax"


@pytest.mark.one_scheme
def test_upstream_down_is_a_502_page_at_once(serve: ServeFactory) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once closed
    srv = _proxied(serve, f"/api=http://127.0.0.1:{port}")
    start = time.monotonic()
    resp = get(srv.addr, "/api/x")
    assert time.monotonic() - start < 1.0
    assert resp.status == 502
    assert resp.header("content-type") == "text/html; charset=utf-8"
    assert f"http://127.0.0.1:{port}".encode() in resp.body
    assert b"/api -&gt;" in resp.body  # names the mapping


@pytest.mark.one_scheme
def test_slow_upstream_is_a_504(serve: ServeFactory, up: Backend) -> None:
    srv = _proxied(serve, f"/api={up.origin}", proxy_timeout=0.5)
    with Conn(srv.addr) as conn:
        resp = conn.request("/api/slow")
        assert resp.status == 504
        assert conn.request("/hello.txt").status == 200  # the connection goes on
    release(up)


@pytest.mark.one_scheme
def test_a_wait_longer_than_the_head_deadline_is_still_a_504(
    serve: ServeFactory, up: Backend
) -> None:
    short = Timeouts(head=0.3, keepalive=5.0, send=5.0)
    srv = _proxied(serve, f"/api={up.origin}", proxy_timeout=1.0, timeouts=short)
    with Conn(srv.addr) as conn:
        assert conn.request("/api/slow").status == 504  # not a connection dropped at 0.3 s
        conn.send(b"POST /api/slow HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nhi")
        assert conn.read_response().status == 504
    release(up)


@pytest.mark.one_scheme
def test_cut_mid_body_closes_the_client(serve: ServeFactory, up: Backend) -> None:
    srv = _proxied(serve, f"/api={up.origin}")
    with Conn(srv.addr) as conn:
        conn.send(b"GET /api/cut HTTP/1.1\r\nHost: localhost\r\n\r\n")
        head = conn.read_head()
        assert head.status == 200 and head.header("content-length") == "1000"
        rest, how = conn.read_to_eof(5)
        assert how in ("eof", "reset")
        assert len(rest) == 100  # what came, and no more: the answer stays incomplete


@pytest.mark.one_scheme
@pytest.mark.parametrize("path", ["/api/smuggle", "/api/badchunk", "/api/fold", "/api/bighead"])
def test_malformed_answers_are_502(serve: ServeFactory, up: Backend, path: str) -> None:
    srv = _proxied(serve, f"/api={up.origin}")
    with Conn(srv.addr) as conn:
        resp = conn.request(path)
        assert resp.status == 502
        assert b"malformed answer" in resp.body
        assert resp.body[-3:] != b"bad"  # the smuggled second answer never shows
        assert conn.request("/api/json").body == JSON_1K  # nor desynchronises anything


@pytest.mark.one_scheme
def test_no_open_proxy(serve: ServeFactory, up: Backend) -> None:
    guarded = _proxied(serve, f"/api={up.origin}")
    assert get(guarded.addr, "http://example.com/api/x").status == 403  # the Host guard
    srv = _proxied(serve, f"/api={up.origin}", allowed_hosts=None)  # guard off: still refused
    other = get(srv.addr, "http://example.com/api/x")
    assert other.status == 400
    assert b"not a forward proxy" in other.body
    assert up.requests == []  # never contacted
    mine = get(srv.addr, f"http://localhost:{srv.port}/api/x")
    assert mine.status == 200 and _echo(mine.body)["target"] == "/api/x"
    with Conn(srv.addr) as conn:
        conn.send(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        assert conn.read_response().status == 400
    dots = get(srv.addr, "/api/../secret")
    assert dots.status == 400
    assert len(up.requests) == 1


@pytest.mark.one_scheme
def test_reserved_paths_never_proxied(serve: ServeFactory, up: Backend) -> None:
    srv = _proxied(serve, f"/={up.origin}")
    assert _echo(get(srv.addr, "/anything").body)["target"] == "/anything"
    assert get(srv.addr, "/__staticsrv__/events").status == 404  # ours, though --live is off
    assert len(up.requests) == 1


@pytest.mark.one_scheme
def test_event_stream_arrives_as_sent(serve: ServeFactory, up: Backend) -> None:
    srv = _proxied(serve, f"/api={up.origin}")
    with Conn(srv.addr) as conn:
        conn.send(b"GET /api/sse HTTP/1.1\r\nHost: localhost\r\n\r\n")
        head = conn.read_head()
        assert head.header("content-type") == "text/event-stream"
        conn.read_until(b"data: first\n\n")  # before the upstream sent the rest
        release(up)
        conn.read_until(b"data: second\n\n")
        conn.read_until(b"0\r\n\r\n")


@pytest.mark.one_scheme
def test_cors_applies_to_proxied_answers(serve: ServeFactory, up: Backend) -> None:
    srv = _proxied(serve, f"/api={up.origin}", cors=True, headers=(("X-Dev", "1"),))
    resp = get(srv.addr, "/api/json", headers={"Origin": "http://a.test"})
    assert resp.header("access-control-allow-origin") == "*"
    assert resp.header("x-dev") == "1"
    pre = get(
        srv.addr,
        "/api/json",
        "OPTIONS",
        headers={"Origin": "http://a.test", "Access-Control-Request-Method": "POST"},
    )
    assert pre.status == 204
    assert up.requests == [next(r for r in up.requests if r["method"] == "GET")]


@pytest.mark.one_scheme
def test_redirects_rule_200_to_a_url_proxies(serve: ServeFactory, up: Backend, site: Path) -> None:
    (site / "_redirects").write_text(f"/api/*  {up.origin}/v2/:splat  200\n")
    srv = serve()
    seen = _echo(get(srv.addr, "/api/users/7?x=1").body)
    assert seen["target"] == "/v2/users/7?x=1"
    headers = seen["headers"]
    assert isinstance(headers, dict) and headers["host"] == f"127.0.0.1:{up.port}"
    with Conn(srv.addr) as conn:
        conn.send(b"POST /api/form HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\n\r\nabcd")
        posted = _echo(conn.read_response().body)
        assert (posted["method"], posted["length"]) == ("POST", 4)
    # Re-read on change: the rule goes, the path is a missing file again.
    (site / "_redirects").write_text("# no rules\n")
    assert get(srv.addr, "/api/users/7").status == 404


@pytest.mark.one_scheme
def test_https_upstream_is_verified(serve: ServeFactory) -> None:
    upstream = serve(https=True)  # a certificate from a CA the system does not know
    origin = f"https://127.0.0.1:{upstream.port}"
    strict = _proxied(serve, f"/up={origin}/")
    refused = get(strict.addr, "/up/hello.txt")
    assert refused.status == 502
    assert b"CERTIFICATE_VERIFY_FAILED" in refused.body
    trusting = _proxied(serve, f"/up={origin}/", proxy_insecure=True)
    with Conn(trusting.addr) as conn:
        for _ in range(3):  # over one kept-alive TLS connection
            resp = conn.request("/up/hello.txt")
            assert (resp.status, resp.body) == (200, b"hello world\n")


@pytest.mark.one_scheme
def test_live_script_in_proxied_pages(serve: ServeFactory, up: Backend) -> None:
    srv = _proxied(serve, f"/app={up.origin}", live=True)
    page = get(srv.addr, "/app/page", headers={"Accept": "text/html"})
    assert page.status == 200
    assert b'<script src="/__staticsrv__/live.js"></script></head>' in page.body
    assert page.header("content-length") == str(len(page.body))
    assert page.header("etag") is None  # it named the upstream's bytes
    headers = up.requests[-1]["headers"]
    assert isinstance(headers, dict) and headers["accept-encoding"] == "identity"
    zipped = get(srv.addr, "/app/page", headers={"Accept": "text/html", "Accept-Encoding": "gzip"})
    assert zipped.header("content-encoding") == "gzip"
    assert gzip.decompress(zipped.body) == page.body
    api = get(srv.addr, "/app/json", headers={"Accept-Encoding": "gzip"})
    assert api.body == JSON_1K  # not HTML: untouched
    headers = up.requests[-1]["headers"]
    assert isinstance(headers, dict) and headers["accept-encoding"] == "gzip"


@pytest.mark.one_scheme
def test_live_502_page_retries_by_itself(serve: ServeFactory) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = _proxied(serve, f"/app=http://127.0.0.1:{port}", live=True)
    resp = get(srv.addr, "/app/", headers={"Accept": "text/html"})
    assert resp.status == 502
    assert resp.header("refresh") == "2"


@pytest.mark.one_scheme
def test_bodies_split_anywhere_both_ways(serve: ServeFactory, up: Backend) -> None:
    srv = _proxied(serve, f"/api={up.origin}")
    with Conn(srv.addr) as conn:
        assert conn.request("/api/dribble").body == b"hello world"
        body = b"4;a=b\r\nwiki\r\n5\r\npedia\r\n0\r\nX-T: 1\r\n\r\n"
        conn.send(b"POST /api/e HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n")
        for byte in body:  # the client's chunks cut at every byte
            conn.send(bytes([byte]))
        seen = _echo(conn.read_response().body)
        assert seen["length"] == 9
        assert conn.request("/api/json").body == JSON_1K  # and the connection goes on


@pytest.mark.one_scheme
def test_malformed_client_chunks_are_a_400_and_a_close(serve: ServeFactory, up: Backend) -> None:
    srv = _proxied(serve, f"/api={up.origin}")
    with Conn(srv.addr) as conn:
        conn.send(
            b"POST /api/e HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"0x5\r\nhello\r\n0\r\n\r\n"
        )
        assert conn.read_response().status == 400
        assert conn.closed_by_server()
