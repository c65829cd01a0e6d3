"""End-to-end: the real server on port 0, spoken to over real sockets."""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import stat
from pathlib import Path

import pytest

from staticsrv.net.transport import Features
from tests.client import Conn, build, connect, get, raw
from tests.conftest import Running, ServeFactory

# ---------------------------------------------------------------- files


def test_serves_a_file_with_type_length_and_required_fields(srv: Running) -> None:
    resp = get(srv.addr, "/hello.txt")
    assert resp.status == 200
    assert resp.body == b"hello world\n"
    assert resp.header("content-type") == "text/plain; charset=utf-8"
    assert resp.header("content-length") == "12"
    assert resp.header(
        "date",
    ) is not None and resp.header("date").endswith("GMT")  # type: ignore[union-attr]
    assert (resp.header("server") or "").startswith("staticsrv/")


def test_root_serves_index_html(srv: Running) -> None:
    resp = get(srv.addr, "/")
    assert resp.status == 200
    assert resp.body == b"<h1>home</h1>\n"
    assert resp.header("content-type") == "text/html; charset=utf-8"


def test_head_has_get_headers_and_no_body(srv: Running) -> None:
    full = get(srv.addr, "/style.css")
    with Conn(srv.addr) as conn:
        head = conn.request("/style.css", method="HEAD")
        # The connection must still be in sync: a second request works.
        again = conn.request("/hello.txt")
    assert head.status == 200
    assert head.body == b""
    assert head.header("content-length") == str(len(full.body))
    assert head.header("content-type") == full.header("content-type")
    assert again.body == b"hello world\n"


def test_empty_file(srv: Running) -> None:
    resp = get(srv.addr, "/empty.txt")
    assert resp.status == 200
    assert resp.header("content-length") == "0"
    assert resp.body == b""


def test_big_file_is_byte_exact_through_sendfile(srv: Running) -> None:
    expected = (srv.root / "big.bin").read_bytes()
    assert len(expected) > srv.server.config.cache_file_max
    with Conn(srv.addr) as conn:
        resp = conn.request("/big.bin")
        small = conn.request("/hello.txt")  # framing intact after sendfile
    assert resp.status == 200
    assert hashlib.sha256(resp.body).digest() == hashlib.sha256(expected).digest()
    assert small.body == b"hello world\n"


def test_big_file_is_byte_exact_where_sendfile_is_refused(serve: ServeFactory) -> None:
    """A file system without sendfile(2) (EINVAL and friends) falls back to
    reading and sending pieces: same bytes, same framing."""
    srv = serve(features=Features(loop_sendfile=False, os_sendfile=False))
    expected = (srv.root / "big.bin").read_bytes()
    with Conn(srv.addr) as conn:
        whole = conn.request("/big.bin")
        part = conn.request("/big.bin", headers={"Range": "bytes=1000-299999"})
        small = conn.request("/hello.txt")
    assert whole.status == 200 and whole.body == expected
    assert part.status == 206 and part.body == expected[1000:300000]
    assert small.body == b"hello world\n"


def test_unicode_and_space_names(srv: Running) -> None:
    (srv.root / "café ünï.txt").write_text("unicode\n")
    resp = get(srv.addr, "/caf%C3%A9%20%C3%BCn%C3%AF.txt")
    assert resp.status == 200
    assert resp.body == b"unicode\n"


def test_query_string_is_ignored_for_files(srv: Running) -> None:
    resp = get(srv.addr, "/hello.txt?v=123")
    assert resp.status == 200
    assert resp.body == b"hello world\n"


def test_edit_is_visible_on_the_very_next_request(srv: Running) -> None:
    path = srv.root / "hello.txt"
    first = get(srv.addr, "/hello.txt")
    path.write_text("changed content!\n")
    second = get(srv.addr, "/hello.txt")
    assert first.body == b"hello world\n"
    assert second.body == b"changed content!\n"
    assert first.header("etag") != second.header("etag")


def test_new_and_deleted_files_are_seen_at_once(srv: Running) -> None:
    assert get(srv.addr, "/new.txt").status == 404
    (srv.root / "new.txt").write_text("new\n")
    assert get(srv.addr, "/new.txt").body == b"new\n"
    (srv.root / "new.txt").unlink()
    assert get(srv.addr, "/new.txt").status == 404


def test_a_file_served_before_is_checked_again_on_every_request(srv: Running) -> None:
    """Repeated requests take a shorter path; it still notices each change."""
    for _ in range(3):
        assert get(srv.addr, "/").body == b"<h1>home</h1>\n"
    (srv.root / "index.html").unlink()
    listing = get(srv.addr, "/")
    assert listing.status == 200 and b"hello.txt" in listing.body
    (srv.root / "index.html").write_text("<h1>new home</h1>\n")
    assert get(srv.addr, "/").body == b"<h1>new home</h1>\n"
    (srv.root / "hello.txt").unlink()
    (srv.root / "hello.txt").mkdir()
    assert get(srv.addr, "/hello.txt").status == 301
    (srv.root / "hello.txt").rmdir()
    (srv.root / "hello.txt").symlink_to(srv.root / ".env")
    assert get(srv.addr, "/hello.txt").status == 404


def test_repeated_if_none_match_is_304_until_the_file_changes(srv: Running) -> None:
    path = srv.root / "hello.txt"
    etag = get(srv.addr, "/hello.txt").header("etag")
    assert etag is not None
    for _ in range(3):
        resp = get(srv.addr, "/hello.txt", headers={"If-None-Match": etag})
        assert (resp.status, resp.body, resp.header("etag")) == (304, b"", etag)
    path.write_text("hello again\n")
    resp = get(srv.addr, "/hello.txt", headers={"If-None-Match": etag})
    assert (resp.status, resp.body) == (200, b"hello again\n")
    assert resp.header("etag") != etag
    # Other preconditions beside it still count (RFC 9110 §13.2.2).
    assert get(srv.addr, "/hello.txt", headers={"If-None-Match": etag}).status == 200
    both = {"If-None-Match": resp.header("etag") or "", "If-Match": '"other"'}
    assert get(srv.addr, "/hello.txt", headers=both).status == 412


def test_a_missing_file_is_checked_again_on_every_request(srv: Running) -> None:
    for _ in range(3):
        assert get(srv.addr, "/later.txt").status == 404
    (srv.root / "later.txt").write_text("here now\n")
    assert get(srv.addr, "/later.txt").body == b"here now\n"
    (srv.root / "later.txt").unlink()
    assert get(srv.addr, "/later.txt").status == 404
    (srv.root / "later.txt").mkdir()
    assert get(srv.addr, "/later.txt").status == 301
    (srv.root / "later.txt").rmdir()
    os.mkfifo(srv.root / "later.txt")
    assert get(srv.addr, "/later.txt").status == 404


def test_bodies_held_for_repeated_requests_stay_within_the_cache_budget(
    serve: ServeFactory, tmp_path: Path
) -> None:
    root = tmp_path / "many"
    root.mkdir()
    bodies = {f"/f{i}.txt": bytes([65 + i]) * 1000 for i in range(12)}
    for name, body in bodies.items():
        (root / name[1:]).write_bytes(body)
    running = serve(root, cache_file_max=1024, cache_entries=4)
    budget = 1024 * 4
    held = []
    for _ in range(2):
        for name, body in bodies.items():
            assert get(running.addr, name).body == body
            held.append(running.core.handler.memo_bytes)
    assert max(held) <= budget
    assert min(held) > 0


def test_rename_into_place_serves_the_new_file_whole(srv: Running) -> None:
    assert get(srv.addr, "/style.css").status == 200
    tmp = srv.root / "style.css.tmp"
    tmp.write_text("p { margin: 0 }\n")
    os.replace(tmp, srv.root / "style.css")
    assert get(srv.addr, "/style.css").body == b"p { margin: 0 }\n"


# ---------------------------------------------------------------- 404 and errors


def test_missing_file_is_404_with_the_sites_not_found_page(srv: Running) -> None:
    resp = get(srv.addr, "/nope.html")
    assert resp.status == 404
    assert resp.body == b"<h1>custom 404</h1>\n"
    assert resp.header("content-type") == "text/html; charset=utf-8"


def test_404_html_is_used_when_there_is_no_not_found_html(srv: Running) -> None:
    (srv.root / "not_found.html").unlink()
    (srv.root / "404.html").write_text("gh pages 404\n")
    resp = get(srv.addr, "/nope")
    assert resp.status == 404
    assert resp.body == b"gh pages 404\n"


def test_builtin_404_page_when_the_site_has_none(srv: Running) -> None:
    (srv.root / "not_found.html").unlink()
    resp = get(srv.addr, "/nope")
    assert resp.status == 404
    assert b"404" in resp.body
    assert str(srv.root).encode() not in resp.body


def test_404_keeps_the_connection_alive(srv: Running) -> None:
    with Conn(srv.addr) as conn:
        assert conn.request("/missing").status == 404
        assert conn.request("/hello.txt").status == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "TRACE", "PROPFIND"])
def test_other_methods_are_405_with_allow(srv: Running, method: str) -> None:
    resp = get(srv.addr, "/hello.txt", method=method)
    assert resp.status == 405
    assert resp.header("allow") == "GET, HEAD, OPTIONS"


@pytest.mark.parametrize("method", ["CONNECTX", "get", "BREW"])
def test_unrecognised_methods_are_501_rfc9110_9_1(srv: Running, method: str) -> None:
    with Conn(srv.addr) as conn:
        assert conn.request("/hello.txt", method=method).status == 501
        assert conn.request("/hello.txt").body == b"hello world\n"  # still in sync


def test_options_is_204_with_allow(srv: Running) -> None:
    resp = get(srv.addr, "/hello.txt", method="OPTIONS")
    assert resp.status == 204
    assert resp.header("allow") == "GET, HEAD, OPTIONS"
    resp = get(srv.addr, "*", method="OPTIONS")
    assert resp.status == 204


def test_post_with_small_body_keeps_connection_in_sync(srv: Running) -> None:
    with Conn(srv.addr) as conn:
        conn.send(b"POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello")
        assert conn.read_response().status == 405
        assert conn.request("/hello.txt").body == b"hello world\n"


def test_get_with_body_is_discarded_not_taken_as_next_request(srv: Running) -> None:
    body = b"GET /.env HTTP/1.1\r\nHost: localhost\r\n\r\n"
    with Conn(srv.addr) as conn:
        conn.send(
            b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % len(body)
            + body
            + build("/hello.txt")
        )
        first = conn.read_response()
        second = conn.read_response()
    assert first.body == second.body == b"hello world\n"


def test_chunked_get_body_is_read_strictly_and_the_connection_stays_in_sync(
    srv: Running,
) -> None:
    with Conn(srv.addr) as conn:
        conn.send(
            b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"
            b"GET /.env HTTP/1.1\r\nHost: localhost\r\n\r\n"
        )
        first = conn.read_response()
        second = conn.read_response()  # the next request, not a part of the body
    assert (first.status, first.body) == (200, b"hello world\n")
    assert second.status == 404


def test_large_get_body_is_drained_after_the_answer_not_reset_rfc9112_9_6(srv: Running) -> None:
    """Lingering close: the server answers, half-closes and reads on, so the
    client can finish sending and still read the answer (no RST)."""
    body = b"x" * 500_000  # over the 64 KiB a GET body may have to stay open
    with Conn(srv.addr) as conn:
        conn.send(
            b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        conn.send(body)  # raises ECONNRESET if the server closed with unread input
        received, how = conn.read_to_eof(10)
    assert how == "eof", f"not a clean close: {how}"
    assert received.startswith(b"HTTP/1.1 200 ")
    assert b"\r\nConnection: close\r\n" in received
    assert received.endswith(b"\r\n\r\nhello world\n")


# ---------------------------------------------------------------- connection management


def test_keep_alive_serves_many_requests_on_one_connection(srv: Running) -> None:
    with Conn(srv.addr) as conn:
        for _ in range(20):
            assert conn.request("/hello.txt").body == b"hello world\n"


def test_pipelined_requests_are_answered_in_order(srv: Running) -> None:
    with Conn(srv.addr) as conn:
        conn.send(build("/hello.txt") + build("/missing") + build("/sub/a.txt") + build("/"))
        got = [conn.read_response() for _ in range(4)]
    assert [r.status for r in got] == [200, 404, 200, 200]
    assert got[2].body == b"a\n"
    assert got[3].body == b"<h1>home</h1>\n"


@pytest.mark.parametrize(
    "features", [None, Features(add_writer=False)], ids=["selector", "proactor-like"]
)
def test_pipelined_file_bodies_heads_and_memoised_answers_stay_in_order(
    serve: ServeFactory, features: Features | None
) -> None:
    """Buffered small answers and sendfile bodies share one stream: never reordered."""
    srv = serve(features=features)
    big = (srv.root / "big.bin").read_bytes()
    requests = [
        ("GET", "/hello.txt", {}),
        ("GET", "/big.bin", {}),
        ("HEAD", "/big.bin", {}),
        ("GET", "/hello.txt", {}),  # the memo's answer, right after a sendfile body
        ("GET", "/big.bin", {"Range": "bytes=5-9,-3"}),
        ("GET", "/missing", {}),
        ("GET", "/missing", {}),
        ("GET", "/big.bin", {"Range": "bytes=100-"}),
        ("GET", "/", {}),
    ]
    with Conn(srv.addr) as conn:
        conn.send(b"".join(build(target, method, headers) for method, target, headers in requests))
        got = [conn.read_response(head_request=method == "HEAD") for method, _, _ in requests]
    assert [r.status for r in got] == [200, 200, 200, 200, 206, 404, 404, 206, 200]
    assert got[0].body == got[3].body == b"hello world\n"
    assert got[1].body == big
    assert got[2].body == b"" and got[2].header("content-length") == str(len(big))
    assert big[5:10] in got[4].body and big[-3:] in got[4].body
    assert got[5].body == got[6].body
    assert got[7].body == big[100:]
    assert got[8].body == b"<h1>home</h1>\n"


def test_connection_close_is_honoured(srv: Running) -> None:
    resp, closed = raw(srv.addr, build("/hello.txt", headers={"Connection": "close"}))
    assert resp is not None and resp.status == 200
    assert resp.header("connection") == "close"
    assert closed


def test_http10_closes_unless_keep_alive_is_asked(srv: Running) -> None:
    resp, closed = raw(srv.addr, b"GET /hello.txt HTTP/1.0\r\n\r\n")
    assert resp is not None and resp.status == 200 and closed
    with Conn(srv.addr) as conn:
        conn.send(b"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        first = conn.read_response()
        assert first.header("connection") == "keep-alive"
        conn.send(b"GET /hello.txt HTTP/1.0\r\n\r\n")
        assert conn.read_response().status == 200
        assert conn.closed_by_server()


def test_request_dribbled_one_byte_at_a_time(srv: Running) -> None:
    with Conn(srv.addr) as conn:
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in build("/hello.txt"):
            conn.send(bytes([byte]))
        assert conn.read_response().body == b"hello world\n"


def test_client_disconnect_mid_transfer_does_not_hurt_the_server(srv: Running) -> None:
    for _ in range(5):
        sock = connect(srv.addr)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(build("/big.bin"))
        sock.recv(1000)
        # RST instead of FIN: the server's sendfile meets a reset connection.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
    assert get(srv.addr, "/hello.txt").body == b"hello world\n"


def test_garbage_bytes_get_400_and_server_survives(srv: Running) -> None:
    resp, closed = raw(srv.addr, os.urandom(64).replace(b"\n", b"x") + b"\r\n\r\n")
    assert resp is not None and resp.status == 400
    assert closed
    assert get(srv.addr, "/hello.txt").status == 200


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 without Host
        (b"GET / HTTP/1.1\r\nHost: localhost\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: localhost\r\n folded\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: localhost\rX: y\r\n\r\n", 400),
        (
            b"GET / HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            400,
        ),
        (b"GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: localhost\r\n\r\n", 505),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        (b"GET /\r\n", 400),  # HTTP/0.9
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: localhost\r\nX: " + b"a" * 17000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: localhost\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431),
    ],
    ids=[
        "missing-host",
        "two-hosts",
        "obs-fold",
        "space-before-colon",
        "bare-cr",
        "cl-and-te",
        "conflicting-cl",
        "negative-cl",
        "http2-version",
        "http2-preface",
        "http09",
        "long-request-line",
        "huge-head",
        "too-many-headers",
    ],
)
def test_malformed_requests_get_4xx_and_close(srv: Running, data: bytes, status: int) -> None:
    resp, closed = raw(srv.addr, data)
    assert resp is not None
    assert resp.status == status
    assert closed


# ---------------------------------------------------------------- path safety


@pytest.mark.parametrize(
    "target",
    [
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2fetc/passwd",
        "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "/sub/..%5c..%5cetc/passwd",
        "/.%2e/.%2e/etc/passwd",
        "/%c0%ae%c0%ae/etc/passwd",
        "/hello.txt%00.html",
        "//etc/passwd",
        "/%252e%252e/etc/passwd",
    ],
)
def test_traversal_attempts_never_leave_the_root(srv: Running, target: str) -> None:
    resp = get(srv.addr, target)
    assert resp.status in (400, 404)
    assert b"root:" not in resp.body


def test_symlink_out_of_root_is_404_and_inside_works(srv: Running, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("top secret\n")
    os.symlink(outside, srv.root / "leak.txt")
    os.symlink(tmp_path, srv.root / "leakdir")
    os.symlink(srv.root / "hello.txt", srv.root / "alias.txt")
    assert get(srv.addr, "/leak.txt").status == 404
    assert get(srv.addr, "/leakdir/secret.txt").status == 404
    assert get(srv.addr, "/alias.txt").body == b"hello world\n"
    listing = get(srv.addr, "/").body  # index.html exists; check the listing of sub/ instead
    assert b"top secret" not in listing


def test_symlink_swapped_after_first_request_is_checked_again(srv: Running, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("top secret\n")
    link = srv.root / "swap.txt"
    os.symlink(srv.root / "hello.txt", link)
    assert get(srv.addr, "/swap.txt").status == 200
    link.unlink()
    os.symlink(outside, link)
    assert get(srv.addr, "/swap.txt").status == 404


def test_symlink_to_a_dotfile_is_hidden(srv: Running) -> None:
    os.symlink(srv.root / ".env", srv.root / "env.txt")
    assert get(srv.addr, "/env.txt").status == 404


def test_fifo_is_404_and_does_not_block(srv: Running) -> None:
    os.mkfifo(srv.root / "pipe")
    assert get(srv.addr, "/pipe").status == 404
    assert get(srv.addr, "/hello.txt").status == 200


def test_unix_socket_is_404(srv: Running) -> None:
    path = srv.root / "s.sock"
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(path))
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        assert get(srv.addr, "/s.sock").status == 404
    finally:
        sock.close()


def test_device_via_symlink_is_404(srv: Running) -> None:
    os.symlink("/dev/zero", srv.root / "zero")
    assert get(srv.addr, "/zero").status == 404


def test_dotfiles_are_hidden_by_default(srv: Running) -> None:
    assert get(srv.addr, "/.env").status == 404
    assert get(srv.addr, "/.git/config").status == 404
    assert get(srv.addr, "/%2eenv").status == 404
    assert get(srv.addr, "/.well-known/security.txt").status == 200


def test_dotfiles_served_when_asked(serve: ServeFactory) -> None:
    running = serve(dotfiles=True)
    assert get(running.addr, "/.env").body == b"SECRET=1\n"


def test_unreadable_file_is_403(srv: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    path = srv.root / "locked.txt"
    path.write_text("x")
    path.chmod(0)
    if os.geteuid() == 0:
        # root reads every file: make open(2) answer as it would for a user.
        real_open = os.open

        def deny(name: str, flags: int, mode: int = 0o777) -> int:
            if str(name).endswith("locked.txt"):
                raise PermissionError(13, "Permission denied", name)
            return real_open(name, flags, mode)

        monkeypatch.setattr(os, "open", deny)
    resp = get(srv.addr, "/locked.txt")
    assert resp.status == 403
    assert b"locked" not in resp.body


def test_overlong_name_is_404(srv: Running) -> None:
    assert get(srv.addr, "/" + "a" * 300).status == 404
    assert get(srv.addr, "/" + "/".join(["b" * 200] * 30)).status in (404, 414)


def test_invalid_utf8_is_400_not_500(srv: Running) -> None:
    assert get(srv.addr, "/%ff%fe").status == 400


def test_no_response_leaks_the_filesystem_path(srv: Running) -> None:
    for target in ("/nope", "/%ff", "/sub", "/sub/"):
        resp = get(srv.addr, target)
        assert str(srv.root).encode() not in resp.raw_head + resp.body


# ---------------------------------------------------------------- directories


def test_directory_without_slash_redirects_keeping_query(srv: Running) -> None:
    resp = get(srv.addr, "/sub?x=1")
    assert resp.status == 301
    assert resp.header("location") == "/sub/?x=1"


@pytest.mark.parametrize("target", ["//sub", "/%2fsub", "/%5csub", "//%2fsub"])
def test_redirect_is_never_protocol_relative(srv: Running, target: str) -> None:
    (srv.root / "sub").exists()
    resp = get(srv.addr, target)
    if resp.status == 301:
        location = resp.header("location") or ""
        assert location.startswith("/")
        assert not location.startswith("//")
        assert not location.startswith("/\\")


def test_directory_with_index_serves_it(srv: Running) -> None:
    assert get(srv.addr, "/withindex/").body == b"<p>inner index</p>\n"


def test_listing_is_sorted_escaped_and_hides_dotfiles(srv: Running) -> None:
    (srv.root / "sub" / ".hidden").write_text("x")
    resp = get(srv.addr, "/sub/")
    assert resp.status == 200
    assert resp.header("content-type") == "text/html; charset=utf-8"
    body = resp.body.decode()
    assert "b file &amp; &lt;x&gt;.txt" in body
    assert "<x>" not in body
    assert 'href="./b%20file%20&amp;%20%3Cx%3E.txt"' in body
    assert ".hidden" not in body
    assert body.index("nested/") < body.index("a.txt") < body.index("b file")


def test_listing_leaves_out_names_no_request_can_fetch(srv: Running) -> None:
    sub = os.fsencode(srv.root / "sub")
    for name in (b"\xff\xfe.txt", b"line\nbreak.txt"):
        with open(os.path.join(sub, name), "wb") as f:
            f.write(b"x")
    body = get(srv.addr, "/sub/").body
    assert b"%FF" not in body and b"break.txt" not in body
    assert b"a.txt" in body
    # Such a name really cannot be fetched: the listing showed no dead link.
    assert get(srv.addr, "/sub/%FF%FE.txt").status == 400


def test_listing_shows_a_new_file_at_once(srv: Running) -> None:
    assert b"fresh.txt" not in get(srv.addr, "/sub/").body
    (srv.root / "sub" / "fresh.txt").write_text("x")
    assert b"fresh.txt" in get(srv.addr, "/sub/").body


def test_no_listing_gives_404(serve: ServeFactory) -> None:
    running = serve(listing=False)
    assert get(running.addr, "/sub/").status == 404
    assert get(running.addr, "/withindex/").status == 200


def test_access_log_has_one_line_per_request(srv: Running) -> None:
    get(srv.addr, "/hello.txt")
    get(srv.addr, "/missing")
    # Lines are written once per loop iteration; serving one more request
    # guarantees the loop has iterated past the first two.
    get(srv.addr, "/")
    lines = "\n".join(srv.log)
    assert f'"GET /hello.txt {srv.version}" 200 12' in lines
    assert f'"GET /missing {srv.version}" 404' in lines


def test_access_log_shows_raw_non_ascii_bytes_escaped_once(srv: Running) -> None:
    (srv.root / "café.txt").write_text("c\n")
    with Conn(srv.addr) as conn:
        conn.send("GET /café.txt HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        assert conn.read_response().status == 200
        conn.request("/")  # one more loop iteration: the line above is flushed
    lines = "\n".join(srv.log)
    assert '"GET /caf\\xc3\\xa9.txt HTTP/1.1" 200 2' in lines


def test_a_big_listing_is_gzipped_when_accepted(srv: Running) -> None:
    for i in range(60):
        (srv.root / "sub" / f"file-{i:03}.txt").write_text("x")
    plain = get(srv.addr, "/sub/")
    packed = get(srv.addr, "/sub/", headers={"Accept-Encoding": "gzip"})
    assert plain.header("content-encoding") is None
    assert packed.header("content-encoding") == "gzip"
    assert plain.header("vary") == packed.header("vary") == "Accept-Encoding"
    assert gzip.decompress(packed.body) == plain.body
    assert len(packed.body) < len(plain.body) // 3


@pytest.mark.parametrize(("no_store", "policy"), [(False, "no-cache"), (True, "no-store")])
def test_generated_answers_are_never_cached_without_asking(
    serve: ServeFactory, site: Path, no_store: bool, policy: str
) -> None:
    """A cached 301, 404 or listing would outlive the edit a developer makes next."""
    (site / "not_found.html").unlink()  # the built-in 404 page
    running = serve(no_store=no_store)
    for target in ("/sub", "/missing.txt", "/sub/", "/%00"):
        assert get(running.addr, target).header("cache-control") == policy, target


# ---------------------------------------------------------------- Expect: 100-continue


def test_expect_100_continue_gets_100_before_the_answer_and_the_body_is_dropped(
    srv: Running,
) -> None:
    # RFC 9110 §10.1.1: a client waiting for 100 sends its body only then; the
    # connection stays in step and serves the next request.
    head = build("/hello.txt", headers={"Content-Length": "5", "Expect": "100-Continue"})
    with Conn(srv.addr) as conn:
        conn.send(head)
        interim = conn.read_head()
        assert (interim.status, interim.headers) == (100, {})
        conn.send(b"hello" + build("/hello.txt"))
        first = conn.read_response()
        second = conn.read_response()
    assert (first.status, first.body) == (200, b"hello world\n")
    assert (second.status, second.body) == (200, b"hello world\n")
    assert not any(" 100 " in line for line in srv.log)  # the interim answer is not logged


def test_no_100_when_the_body_came_with_the_head_or_in_http10(srv: Running) -> None:
    expect = {"Content-Length": "5", "Expect": "100-continue"}
    with Conn(srv.addr) as conn:
        conn.send(build("/hello.txt", headers=expect) + b"hello" + build("/hello.txt", close=True))
        answers = [conn.read_response(), conn.read_response()]
    assert [a.status for a in answers] == [200, 200]
    http10 = b"GET /hello.txt HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    with Conn(srv.addr) as conn:
        conn.send(http10)
        answer = conn.read_head()  # HTTP/1.0 ignores the expectation: the answer itself
        assert answer.status == 200


def test_a_body_invited_by_100_is_drained_before_a_close(srv: Running) -> None:
    # Connection: close with a body still coming: closing with it unread makes
    # the kernel reset the connection, and the answer is lost (RFC 9112 §9.6).
    head = build(
        "/hello.txt", headers={"Content-Length": "60000", "Expect": "100-continue"}, close=True
    )
    for _ in range(10):
        with Conn(srv.addr) as conn:
            conn.send(head)
            assert conn.read_head().status == 100
            conn.send(b"x" * 60000)
            answer = conn.read_response()
            assert (answer.status, answer.body) == (200, b"hello world\n")
            assert conn.read_to_eof(5)[1] == "eof"
