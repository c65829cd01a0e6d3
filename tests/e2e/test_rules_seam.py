"""The rule seam over real sockets: a field added in one place is on every answer.

The handler memoises final answers, and the connection renders heads from
cached prefixes; neither may skip a rule.  Each answer below goes through
a different path: the whole tree, the memo (a repeated request), a 304, a
404 and its memo, a listing, a redirect, a sendfile body and an error.
"""

from __future__ import annotations

from staticsrv.site.handler import AddFields
from tests.client import Conn, Received
from tests.conftest import ServeFactory

RULES = [AddFields((("X-Test", "1"),))]


def check(resp: Received, status: int, what: str) -> None:
    assert resp.status == status, what
    assert resp.all_headers("x-test") == ["1"], f"{what}: {resp.raw_head!r}"


def test_a_field_added_through_the_seam_is_on_every_answer(serve: ServeFactory) -> None:
    srv = serve(rules=RULES)
    with Conn(srv.addr) as conn:
        first = conn.request("/hello.txt")
        check(first, 200, "200")
        assert first.body == b"hello world\n"
        again = conn.request("/hello.txt")
        check(again, 200, "repeated 200 (memo)")
        assert again.body == first.body
        etag = first.header("etag")
        assert etag is not None
        check(conn.request("/hello.txt", headers={"If-None-Match": etag}), 304, "304")
        check(conn.request("/hello.txt", headers={"If-None-Match": etag}), 304, "repeated 304")
        check(conn.request("/missing.txt"), 404, "404")
        check(conn.request("/missing.txt"), 404, "repeated 404 (memo)")
        listing = conn.request("/sub/")
        check(listing, 200, "listing")
        assert b"a.txt" in listing.body
        check(conn.request("/sub"), 301, "redirect")
        check(conn.request("/hello.txt", "HEAD"), 200, "HEAD")
        check(conn.request("/hello.txt", headers={"Range": "bytes=0-4"}), 206, "206")
        check(conn.request("/hello.txt", "POST"), 405, "405")
        big = conn.request("/big.bin")
        check(big, 200, "sendfile body")
        assert len(big.body) == srv.root.joinpath("big.bin").stat().st_size


def test_without_rules_no_field_is_added(serve: ServeFactory) -> None:
    srv = serve()
    with Conn(srv.addr) as conn:
        for target in ("/hello.txt", "/hello.txt", "/missing.txt", "/sub/"):
            assert conn.request(target).all_headers("x-test") == [], target
