"""Preview as deployed, over real sockets: SPA, clean URLs, --base, _redirects and
_headers, CORS, -H, the Host check, and the request-level safety rules."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from staticsrv.config import Timeouts
from tests.client import Conn, get, raw
from tests.conftest import Running, ServeFactory

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
JSON = {"Accept": "application/json"}


def with_host(addr: tuple[str, int], host: str, target: str = "/hello.txt") -> int:
    with Conn(addr) as conn:
        conn.send(f"GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        return conn.read_response().status


# ---------------------------------------------------------------- SPA fallback


def test_spa_navigation_miss_gets_the_app_with_200_and_no_cache(serve: ServeFactory) -> None:
    srv = serve(spa="index.html")
    resp = get(srv.addr, "/dashboard/settings", headers=HTML)
    assert resp.status == 200
    assert resp.body == b"<h1>home</h1>\n"
    assert resp.header("cache-control") == "no-cache"
    assert resp.header("vary") == "Accept-Encoding, Accept"
    head = get(srv.addr, "/dashboard", method="HEAD", headers=HTML)
    assert (head.status, head.body) == (200, b"")


def test_spa_other_misses_stay_honest_404s(serve: ServeFactory) -> None:
    srv = serve(spa="index.html")
    assert get(srv.addr, "/missing.js", headers={"Accept": "*/*"}).status == 404  # <script>
    script = {"Accept": "*/*", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "script"}
    assert get(srv.addr, "/missing.js", headers=script).status == 404
    assert get(srv.addr, "/api/items", headers=JSON).status == 404
    assert get(srv.addr, "/dashboard").status == 404  # no Accept: not a browser page load
    assert get(srv.addr, "/hello.txt", headers=HTML).body == b"hello world\n"
    # A 404 first does not stick to the route: the answer rests on Accept.
    assert get(srv.addr, "/route", headers=JSON).status == 404
    assert get(srv.addr, "/route", headers=HTML).status == 200
    assert get(srv.addr, "/route", headers=JSON).status == 404


def test_spa_navigation_gets_the_app_whatever_the_last_segment(serve: ServeFactory) -> None:
    srv = serve(spa="index.html")
    for target in ("/users/john.doe", "/files/report.pdf", "/v1.2"):
        resp = get(srv.addr, target, headers=HTML)
        assert (resp.status, resp.body) == (200, b"<h1>home</h1>\n"), target
    # A navigation that names no HTML in Accept (some clients send */*) still is one.
    nav = {"Accept": "*/*", "Sec-Fetch-Mode": "navigate"}
    assert get(srv.addr, "/users/jane.doe", headers=nav).body == b"<h1>home</h1>\n"
    assert get(srv.addr, "/users/jane.doe", headers={"Accept": "*/*"}).status == 404
    assert get(srv.addr, "/hello.txt", headers=nav).body == b"hello world\n"  # files win


def test_spa_page_other_than_index(serve: ServeFactory, site: Path) -> None:
    (site / "app.html").write_text("<div id=app></div>")
    srv = serve(spa="app.html")
    assert get(srv.addr, "/a/b", headers=HTML).body == b"<div id=app></div>"


# ---------------------------------------------------------------- clean URLs


@pytest.fixture
def pages(site: Path) -> Path:
    (site / "about.html").write_text("about page")
    (site / "docs").mkdir()
    (site / "docs" / "index.html").write_text("docs index")
    (site / "docs.html").write_text("docs.html, shadowed by the folder")
    return site


def test_clean_urls_serve_the_html_file(serve: ServeFactory, pages: Path) -> None:
    srv = serve()
    assert get(srv.addr, "/about").body == b"about page"
    assert get(srv.addr, "/about.html").body == b"about page"
    assert get(srv.addr, "/about?x=1").body == b"about page"
    assert get(srv.addr, "/about/").status == 404


def test_clean_urls_precedence_is_file_then_folder_then_html(
    serve: ServeFactory, pages: Path
) -> None:
    srv = serve()
    resp = get(srv.addr, "/docs")
    assert (resp.status, resp.header("location")) == (301, "/docs/")
    assert get(srv.addr, "/about").body == b"about page"
    (pages / "about").write_text("the file itself")  # appears after a memoised answer
    assert get(srv.addr, "/about").body == b"the file itself"
    (pages / "about").unlink()
    (pages / "about.html").unlink()
    assert get(srv.addr, "/about").status == 404
    (pages / "about.html").write_text("back")  # appears after a memoised 404
    assert get(srv.addr, "/about").body == b"back"


def test_no_clean_urls(serve: ServeFactory, pages: Path) -> None:
    srv = serve(clean_urls=False)
    assert get(srv.addr, "/about").status == 404


# ---------------------------------------------------------------- --base


def test_base_prefix_maps_redirects_and_refuses_the_rest(serve: ServeFactory) -> None:
    srv = serve(base=("project",))
    assert get(srv.addr, "/project/hello.txt").body == b"hello world\n"
    assert get(srv.addr, "/project/").body == b"<h1>home</h1>\n"
    for target in ("/", "/project"):
        resp = get(srv.addr, target)
        assert (resp.status, resp.header("location")) == (302, "/project/")
    # The query survives the redirect to the prefix, as it does for /dir -> /dir/
    # (a shared link "/project?lang=fr" keeps its parameters).
    for target in ("/?lang=fr", "/project?lang=fr"):
        resp = get(srv.addr, target)
        assert (resp.status, resp.header("location")) == (302, "/project/?lang=fr")
    assert get(srv.addr, "/hello.txt").status == 404
    assert get(srv.addr, "/projectx/hello.txt").status == 404
    resp = get(srv.addr, "/project/sub?x=1")
    assert (resp.status, resp.header("location")) == (301, "/project/sub/?x=1")
    listing = get(srv.addr, "/project/sub/")
    assert b"Index of /project/sub/" in listing.body
    missing = get(srv.addr, "/project/nope")
    assert (missing.status, missing.body) == (404, b"<h1>custom 404</h1>\n")
    assert get(srv.addr, "/project/.env").status == 404


# ---------------------------------------------------------------- _redirects


REDIRECTS = """\
/old                /hello.txt
/temp               /hello.txt         302
/blog/:year/:slug   /posts/:year/:slug 308
/docs/*             /guide/:splat      301
/app/*              /index.html        200
/shop/*             /shop-404.html     404
/ext                https://example.com/landing 307
/go*                /:splat            302
/hello.txt          /index.html        200
/style.css          /hello.txt         200!
"""


@pytest.fixture
def rules_site(site: Path) -> Path:
    (site / "_redirects").write_text(REDIRECTS)
    (site / "shop-404.html").write_text("shop is closed")
    (site / "app").mkdir()
    (site / "app" / "real.txt").write_text("a real file")
    return site


def test_redirect_rules_with_statuses_placeholders_and_splats(
    serve: ServeFactory, rules_site: Path
) -> None:
    srv = serve()
    expected = {
        "/old": (301, "/hello.txt"),
        "/old?keep=1": (301, "/hello.txt?keep=1"),
        "/temp": (302, "/hello.txt"),
        "/blog/2024/hello": (308, "/posts/2024/hello"),
        "/docs/a/b c": (301, "/guide/a/b%20c"),
        "/ext": (307, "https://example.com/landing"),
    }
    for target, (status, location) in expected.items():
        resp = get(srv.addr, target.replace(" ", "%20"))
        assert (resp.status, resp.header("location")) == (status, location), target


def test_rewrites_stay_inside_the_root_and_files_shadow_rules(
    serve: ServeFactory, rules_site: Path
) -> None:
    srv = serve()
    resp = get(srv.addr, "/app/some/route")
    assert (resp.status, resp.body) == (200, b"<h1>home</h1>\n")
    assert get(srv.addr, "/app/real.txt").body == b"a real file"  # Netlify shadowing
    assert get(srv.addr, "/hello.txt").body == b"hello world\n"  # the file wins
    assert get(srv.addr, "/style.css").body == b"hello world\n"  # "!" forces the rule


def test_custom_404_rule_serves_its_page_with_404(serve: ServeFactory, rules_site: Path) -> None:
    srv = serve()
    resp = get(srv.addr, "/shop/item/7")
    assert (resp.status, resp.body) == (404, b"shop is closed")


def test_a_rule_cannot_redirect_to_another_host(serve: ServeFactory, rules_site: Path) -> None:
    srv = serve()
    # "/go/evil.com" would expand to "//evil.com", which a browser reads as a host.
    resp = get(srv.addr, "/go/evil.com")
    assert resp.status == 404
    assert resp.header("location") is None
    resp = get(srv.addr, "/go%5Cevil.com")
    assert resp.header("location") == "/%5Cevil.com"


def test_rule_files_are_never_served_nor_listed(serve: ServeFactory, rules_site: Path) -> None:
    (rules_site / "_headers").write_text("/*\n  X-A: 1\n")
    (rules_site / "index.html").unlink()
    srv = serve()
    assert get(srv.addr, "/_redirects").status == 404
    assert get(srv.addr, "/_headers").status == 404
    listing = get(srv.addr, "/").body
    assert b"_redirects" not in listing and b"_headers" not in listing
    assert b"hello.txt" in listing


def test_rule_files_are_reread_when_they_change(serve: ServeFactory, site: Path) -> None:
    srv = serve()
    assert get(srv.addr, "/moved").status == 404
    assert get(srv.addr, "/hello.txt").header("x-rule") is None  # memoised answer
    (site / "_redirects").write_text("/moved /hello.txt 302\n")
    (site / "_headers").write_text("/hello.txt\n  X-Rule: one\n")
    assert get(srv.addr, "/moved").status == 302
    assert get(srv.addr, "/hello.txt").header("x-rule") == "one"
    (site / "_headers").write_text("/hello.txt\n  X-Rule: second\n")
    assert get(srv.addr, "/hello.txt").header("x-rule") == "second"
    (site / "_redirects").unlink()
    assert get(srv.addr, "/moved").status == 404


def test_bad_lines_are_reported_once_with_their_number(
    serve: ServeFactory, site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (site / "_redirects").write_text("/a /hello.txt\n/broken\n/b /hello.txt 999\n")
    with caplog.at_level(logging.WARNING, logger="staticsrv"):
        srv = serve()
        assert get(srv.addr, "/a").status == 301  # the good line still works
        assert get(srv.addr, "/a").status == 301
    reports = [r.getMessage() for r in caplog.records]
    assert len(reports) == 2, reports
    assert "_redirects line 2:" in reports[0]
    assert "_redirects line 3:" in reports[1]


def test_no_rules_ignores_the_files(serve: ServeFactory, rules_site: Path) -> None:
    srv = serve(site_rules=False)
    assert get(srv.addr, "/old").status == 404
    assert get(srv.addr, "/_redirects").status == 404  # still never served


# ---------------------------------------------------------------- _headers


HEADERS = """\
/*
  X-Frame-Options: DENY
/hello.txt
  Cache-Control: public, max-age=60
  Link: </a.css>; rel=preload
/*.txt
  Link: </b.css>; rel=preload
/sub/*
  ! X-Frame-Options
/style.css
  Vary: Origin
"""


def test_headers_blocks_add_up_replace_and_detach(serve: ServeFactory, site: Path) -> None:
    (site / "_headers").write_text(HEADERS)
    srv = serve()
    resp = get(srv.addr, "/hello.txt")
    assert resp.header("x-frame-options") == "DENY"
    assert resp.header("cache-control") == "public, max-age=60"  # replaces the server's
    assert resp.header("link") == "</a.css>; rel=preload, </b.css>; rel=preload"
    assert get(srv.addr, "/nope").header("x-frame-options") == "DENY"  # 404s too
    assert get(srv.addr, "/sub/a.txt").header("x-frame-options") is None
    assert get(srv.addr, "/hello.txt", method="HEAD").header("x-frame-options") == "DENY"
    # Vary adds to the server's list: Accept-Encoding must stay for caches.
    assert get(srv.addr, "/style.css").header("vary") == "Accept-Encoding, Origin"


# ---------------------------------------------------------------- CORS and -H


def test_cors_lets_any_origin_read_with_range_fields_exposed(
    serve: ServeFactory, site: Path
) -> None:
    (site / "_headers").write_text("/*\n  Access-Control-Allow-Credentials: true\n")
    srv = serve(cors=True)
    resp = get(srv.addr, "/big.bin", headers={"Origin": "http://other.test", "Range": "bytes=0-9"})
    assert resp.status == 206
    assert resp.header("access-control-allow-origin") == "*"
    exposed = resp.header("access-control-expose-headers") or ""
    for name in ("Content-Range", "Accept-Ranges", "ETag", "Content-Length"):
        assert name in exposed
    # "*" with credentials is an invalid pair: never sent.
    assert resp.header("access-control-allow-credentials") is None
    assert get(srv.addr, "/nope").header("access-control-allow-origin") == "*"


def test_cors_preflight_is_204_with_methods_headers_and_max_age(serve: ServeFactory) -> None:
    srv = serve(cors=True)
    resp = get(
        srv.addr,
        "/big.bin",
        method="OPTIONS",
        headers={
            "Origin": "http://other.test",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range, x-custom",
        },
    )
    assert resp.status == 204
    assert resp.header("access-control-allow-origin") == "*"
    assert resp.header("access-control-allow-methods") == "GET, HEAD, OPTIONS"
    assert resp.header("access-control-allow-headers") == "range, x-custom"
    assert int(resp.header("access-control-max-age") or 0) > 0
    plain = get(srv.addr, "/big.bin", method="OPTIONS")
    assert plain.status == 204
    assert plain.header("allow") == "GET, HEAD, OPTIONS"
    assert plain.header("access-control-allow-methods") is None


def test_options_without_cors_stays_plain(srv: Running) -> None:
    resp = get(srv.addr, "/", method="OPTIONS", headers={"Access-Control-Request-Method": "GET"})
    assert resp.status == 204
    assert resp.header("access-control-allow-origin") is None


def test_header_option_is_on_every_answer(serve: ServeFactory) -> None:
    srv = serve(headers=(("X-Preview", "yes"), ("Cache-Control", "no-store")))
    for target, status in (("/hello.txt", 200), ("/nope", 404), ("/sub", 301), ("/a#b", 400)):
        resp = get(srv.addr, target)
        assert resp.status == status
        assert resp.header("x-preview") == "yes"
        assert resp.header("cache-control") == "no-store"


# ---------------------------------------------------------------- Host check


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:9", "127.0.0.1:8080", "[::1]:8080", "app.localhost"]
)
def test_local_hosts_are_answered(srv: Running, host: str) -> None:
    assert with_host(srv.addr, host) == 200


def test_other_hosts_get_403_naming_the_flag(srv: Running) -> None:
    assert get(srv.addr, "/hello.txt").status == 200  # memoised for localhost...
    with Conn(srv.addr) as conn:
        conn.send(b"GET /hello.txt HTTP/1.1\r\nHost: evil.example:8080\r\n\r\n")
        resp = conn.read_response()
    assert resp.status == 403  # ...and still refused for another name
    assert b"--allowed-host" in resp.body
    assert with_host(srv.addr, "evil.example", "/nope") == 403


def test_allowed_hosts_and_all(serve: ServeFactory) -> None:
    srv = serve(allowed_hosts=frozenset({"mybox"}))
    assert with_host(srv.addr, "mybox:8080") == 200
    assert with_host(srv.addr, "other") == 403
    assert with_host(serve(allowed_hosts=None).addr, "anything.example") == 200


# ---------------------------------------------------------------- request safety


def test_fragment_in_target_is_400(srv: Running) -> None:
    with Conn(srv.addr) as conn:
        assert conn.request("/index.html#/../x").status == 400
        assert conn.request("/index.html").status == 200  # the connection stays usable


@pytest.mark.one_scheme  # a ClientHello on the plain port (on the TLS port it is the handshake)
def test_tls_client_hello_gets_400_and_close_at_once(serve: ServeFactory) -> None:
    # A head deadline far beyond the client's wait: only an immediate answer passes.
    srv = serve(timeouts=Timeouts(head=300.0, keepalive=300.0, send=5.0))
    hello = bytes.fromhex("16030102000100") + bytes(40)  # no line end anywhere
    with socket.create_connection(srv.addr, timeout=10) as sock:
        sock.sendall(hello)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400 ")
    assert b"Connection: close" in data


@pytest.mark.parametrize(
    "body",
    [
        b"0x5\r\nhello\r\n0\r\n\r\n",
        b"5\nhello\r\n0\r\n\r\n",
        b"5\r\nhello!!\r\n0\r\n\r\n",
        b"-1\r\n",
    ],
)
def test_malformed_chunked_body_is_400_and_close(srv: Running, body: bytes) -> None:
    resp, closed = raw(
        srv.addr,
        b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
        + body
        + b"GET /.env HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    assert resp is not None and resp.status == 400
    assert closed


def test_oversized_chunked_body_is_answered_then_closed(srv: Running) -> None:
    big = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"  # 64 KiB per chunk, two of them
    resp, closed = raw(
        srv.addr,
        b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
        + big * 2,
    )
    assert resp is not None and resp.status == 200
    assert closed
