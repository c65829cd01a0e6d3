"""The proxy's pure parts: path mapping, field rewriting, upstream heads."""

from __future__ import annotations

import pytest

from staticsrv.http.proxymap import ProxyMap, parse_proxy, route, sort_maps
from staticsrv.net.proxy.head import Framing, ResponseHead, find_end, parse_response
from staticsrv.net.proxy.rewrite import (
    request_fields,
    response_fields,
    rewrite_cookie,
    rewrite_url,
)


@pytest.mark.parametrize(
    ("spec", "target", "up"),
    [
        ("/api=http://127.0.0.1:3000", "/api/users?x=1", "/api/users?x=1"),
        ("/api=http://127.0.0.1:3000/v1", "/api/users?x=1", "/v1/users?x=1"),
        ("/api=http://127.0.0.1:3000/v1/", "/api/users", "/v1/users"),
        ("/api=http://127.0.0.1:3000/v1", "/api", "/v1"),
        ("/api=http://127.0.0.1:3000/v1", "/api?q", "/v1?q"),
        ("/api=http://127.0.0.1:3000/v1", "/api/", "/v1/"),
        ("/api=http://127.0.0.1:3000/", "/api/users", "/users"),
        ("/api=http://127.0.0.1:3000/", "/api", "/"),
        ("/api/=http://h/", "/api/x", "/x"),
        ("/=http://h", "/x", "/x"),
    ],
)
def test_upstream_target(spec: str, target: str, up: str) -> None:
    m = parse_proxy(spec)
    assert m.matches(target.partition("?")[0])
    assert m.upstream_target(target) == up


def test_whole_segments_longest_first_reserved_and_dots() -> None:
    maps = sort_maps([parse_proxy("/api=http://a"), parse_proxy("/api/v2=http://b")])
    hit = route(maps, "/api/v2/x")
    assert isinstance(hit, ProxyMap) and hit.upstream.host == "b"
    hit = route(maps, "/api/v2x")
    assert isinstance(hit, ProxyMap) and hit.upstream.host == "a"
    assert route(maps, "/apix") is None
    assert route(maps, "/api/%2E%2e/x") is False
    assert route(maps, "/api/./x") is False
    everything = sort_maps([parse_proxy("/=http://a")])
    assert route(everything, "/__staticsrv__/events") is None
    assert route(everything, "/__staticsrv__") is None
    assert isinstance(route(everything, "/__staticsrv__x"), ProxyMap)


def test_upstream_fields() -> None:
    m = parse_proxy("/api=https://example.com/v1")
    assert (m.upstream.scheme, m.upstream.port, m.upstream.authority) == (
        "https",
        443,
        "example.com",
    )
    assert parse_proxy("/a=http://[::1]:81").upstream.authority == "[::1]:81"
    assert parse_proxy("/a=http://h:80").upstream.authority == "h"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("api=http://h", "must be a path starting with /"),
        ("/api", "is not PATH=URL"),
        ("/api=ftp://h", "must start with http:// or https://"),
        ("/api=http://", "names no host"),
        ("/api=http://h:99999", "is not a URL"),
        ("/api=http://u:p@h", "scheme, host, port and path only"),
        ("/api=http://h/?q=1", "scheme, host, port and path only"),
        ("/__staticsrv__=http://h", "reserved"),
    ],
)
def test_bad_values(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match="--proxy") as info:
        parse_proxy(spec)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_request_fields() -> None:
    headers = {
        "host": "localhost:8080",
        "connection": "keep-alive, X-Hop",
        "x-hop": "1",
        "keep-alive": "5",
        "te": "trailers",
        "transfer-encoding": "chunked",
        "content-length": "3",
        "expect": "100-continue",
        "upgrade": "websocket",
        "proxy-authorization": "x",
        "authorization": "Basic x",
        "x-forwarded-for": "10.1.1.1",
        "accept": "*/*",
    }
    out = request_fields(headers, upstream_authority="up:3000", client_ip="192.0.2.7", proto="http")
    assert out == [
        ("Host", "up:3000"),
        ("authorization", "Basic x"),
        ("accept", "*/*"),
        ("X-Forwarded-For", "10.1.1.1, 192.0.2.7"),
        ("X-Forwarded-Host", "localhost:8080"),
        ("X-Forwarded-Proto", "http"),
    ]
    ws = request_fields(
        headers,
        upstream_authority="up",
        client_ip="::1",
        proto="https",
        upgrade="websocket",
        drop=("authorization",),
    )
    names = [n.lower() for n, _ in ws]
    assert "authorization" not in names
    assert ("Connection", "upgrade") in ws and ("Upgrade", "websocket") in ws


M = parse_proxy("/api=http://127.0.0.1:3000/v1")


@pytest.mark.parametrize(
    ("value", "out"),
    [
        ("http://127.0.0.1:3000/v1/login?n=1#f", "http://dev:8080/api/login?n=1#f"),
        ("http://127.0.0.1:3000/v1", "http://dev:8080/api"),
        ("HTTP://127.0.0.1:3000/other", "http://dev:8080/other"),  # outside the map
        ("http://127.0.0.1:3001/v1/x", "http://127.0.0.1:3001/v1/x"),  # another origin
        ("https://127.0.0.1:3000/v1/x", "https://127.0.0.1:3000/v1/x"),
        ("/v1/relative", "/v1/relative"),
        ("next", "next"),
    ],
)
def test_rewrite_url(value: str, out: str) -> None:
    assert rewrite_url(value, M, "http://dev:8080") == out


def test_rewrite_url_no_path_map() -> None:
    m = parse_proxy("/api=http://127.0.0.1:3000")
    assert rewrite_url("http://127.0.0.1:3000/api/x", m, "http://l") == "http://l/api/x"
    assert rewrite_url("http://127.0.0.1:3000/api/x", m, None) == "http://127.0.0.1:3000/api/x"


@pytest.mark.parametrize(
    ("cookie", "secure", "out"),
    [
        (
            "sid=1; Domain=.api.test; Path=/; Secure; HttpOnly; SameSite=None",
            False,
            "sid=1; Path=/; HttpOnly; SameSite=Lax",
        ),
        (
            "sid=1; domain=api.test; secure; samesite=none",
            True,
            "sid=1; secure; samesite=none",
        ),
        ("a=b; SameSite=Strict; Secure", False, "a=b; SameSite=Strict"),
        (
            "a=b=c; Expires=Wed, 21 Oct 2015 07:28:00 GMT",
            False,
            "a=b=c; Expires=Wed, 21 Oct 2015 07:28:00 GMT",
        ),
    ],
)
def test_rewrite_cookie(cookie: str, secure: bool, out: str) -> None:
    assert rewrite_cookie(cookie, secure) == out


def test_response_fields() -> None:
    fields = [
        ("Connection", "close, X-Conn"),
        ("X-Conn", "1"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Length", "5"),
        ("Server", "uvicorn"),
        ("Date", "x"),
        ("Keep-Alive", "timeout=5"),
        ("Location", "http://127.0.0.1:3000/v1/a"),
        ("Refresh", "3; URL='http://127.0.0.1:3000/v1/b'"),
        ("Set-Cookie", "a=1; Secure"),
        ("Set-Cookie", "b=2"),
        ("X-Else", "kept"),
    ]
    out = response_fields(fields, M, own_origin="http://d", secure_client=False)
    assert out == [
        ("Location", "http://d/api/a"),
        ("Refresh", "3; URL='http://d/api/b'"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("X-Else", "kept"),
    ]


def _head(raw: bytes, method: str = "GET") -> ResponseHead | str:
    return parse_response(raw, method)


def test_head_framing() -> None:
    h = _head(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n")
    assert isinstance(h, ResponseHead) and (h.framing, h.length, h.keep_alive) == (
        Framing.LENGTH,
        12,
        True,
    )
    h = _head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert isinstance(h, ResponseHead) and h.framing is Framing.CHUNKED
    h = _head(b"HTTP/1.1 200 OK\r\n\r\n")
    assert isinstance(h, ResponseHead) and (h.framing, h.keep_alive) == (Framing.CLOSE, False)
    h = _head(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", "HEAD")
    assert isinstance(h, ResponseHead) and h.framing is Framing.NONE
    for status in (b"204", b"304", b"101"):
        h = _head(b"HTTP/1.1 " + status + b" X\r\n\r\n")
        assert isinstance(h, ResponseHead) and h.framing is Framing.NONE
    h = _head(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n")
    assert isinstance(h, ResponseHead) and not h.keep_alive
    h = _head(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n")
    assert isinstance(h, ResponseHead) and not h.keep_alive
    h = _head(b"HTTP/1.1 200\r\nContent-Length: 1, 1\r\n\r\n")
    assert isinstance(h, ResponseHead) and h.length == 1 and h.status == 200


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX : a\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\x00\r\n\r\n",
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 099 OK\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
    ],
)
def test_head_refusals(raw: bytes) -> None:
    assert isinstance(_head(raw), str)


def test_find_end() -> None:
    assert find_end(b"HTTP/1.1 200 OK\r\n") is None
    assert find_end(b"HTTP/1.1 200 OK\r\n\r\nbody") == 19
    assert find_end(b"HTTP/1.1 200 OK\n\nbody") == "a head line ends with a bare LF"
    assert find_end(b"x" * 70000) == "head too large"
