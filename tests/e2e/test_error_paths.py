"""Error paths that ordinary traffic never takes: each answers, logs once, and the server goes on.

A fault of the server's own (a rule that builds an unsendable answer), a
broken TLS record, a rule file that cannot be read or is too large, a
custom 404 page that cannot be served, and the portable accept loop at its
connection cap.  After each, the same server still answers a plain request.
"""

from __future__ import annotations

import logging
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import pytest

from staticsrv.http.http11 import Request
from staticsrv.http.responses import Response
from staticsrv.net.transport import Features
from tests.client import Conn, get
from tests.conftest import Running, ServeFactory


@dataclass(frozen=True)
class Unsendable:
    """A rule with a bug: on one path it adds a field value no head may carry."""

    reads: frozenset[str] = frozenset()

    def apply(self, req: Request, resp: Response) -> Response:
        if req.target == "/boom":
            return resp.with_fields((("X-Broken", "a\r\nSet-Cookie: x=1"),))
        return resp


def still_serves(running: Running) -> None:
    assert get(running.addr, "/hello.txt").body == b"hello world\n"


def test_an_answer_that_cannot_be_sent_closes_that_connection_alone(
    serve: ServeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    running = serve(rules=[Unsendable()])
    with caplog.at_level(logging.ERROR, logger="staticsrv"), Conn(running.addr) as conn:
        conn.send(b"GET /boom HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data, how = conn.read_to_eof(5)
    # Nothing of the broken head went out (no injected Set-Cookie), and the
    # connection was closed rather than left hanging.
    assert b"Set-Cookie" not in data
    assert how in ("eof", "reset")
    assert any("unexpected error" in r.getMessage() for r in caplog.records)
    still_serves(running)


@pytest.mark.one_scheme
def test_a_broken_tls_record_after_the_handshake_drops_the_connection(
    serve: ServeFactory, client_tls: ssl.SSLContext
) -> None:
    running = serve(https=True)
    sock = socket.create_connection(running.addr, timeout=5)
    tls = client_tls.wrap_socket(sock, server_hostname="127.0.0.1")
    try:
        # An application-data record (type 23, TLS 1.2 on the wire) whose
        # contents no key decrypts: the record layer must fail, not the server.
        sock_raw = socket.socket(fileno=tls.detach())
        sock_raw.sendall(b"\x17\x03\x03\x00\x20" + b"\x00" * 32)
        sock_raw.settimeout(5)
        rest = b""
        try:
            while chunk := sock_raw.recv(4096):
                rest += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        sock_raw.close()
    finally:
        tls.close()
    # Whatever alert came back, no HTTP answer did.
    assert b"HTTP/1.1" not in rest
    still_serves(running)


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux's /proc")
def test_a_rules_file_that_cannot_be_read_is_reported_and_the_site_served(
    serve: ServeFactory, site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A regular file whose read fails even for root (permissions would not):
    # reading /proc/self/mem at offset 0 is an I/O error.
    (site / "_redirects").symlink_to("/proc/self/mem")
    with caplog.at_level(logging.WARNING, logger="staticsrv"):
        running = serve(site)
        still_serves(running)
    assert get(running.addr, "/_redirects").status == 404  # never served, whatever it is
    assert any("cannot read _redirects" in r.getMessage() for r in caplog.records)


def test_a_folder_named_like_a_rules_file_is_an_ordinary_folder(
    serve: ServeFactory, site: Path
) -> None:
    # Only the root's regular files are rules, as on the host; a folder of
    # that name is deployed and served like any other.
    (site / "_redirects").mkdir()
    (site / "_redirects" / "x.txt").write_text("x\n")
    running = serve(site)
    still_serves(running)
    assert get(running.addr, "/_redirects/x.txt").body == b"x\n"


def test_an_oversized_rules_file_is_ignored_with_one_warning(
    serve: ServeFactory, site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rule = "/hello.txt /index.html 301\n"
    (site / "_redirects").write_text(rule * (1024 * 1024 // len(rule) + 1))
    with caplog.at_level(logging.WARNING, logger="staticsrv"):
        running = serve(site)
        # The rule is not applied: the file was too large to be a site's rules.
        still_serves(running)
        still_serves(running)
    over = [r for r in caplog.records if "over 1 MiB" in r.getMessage()]
    assert len(over) == 1, [r.getMessage() for r in caplog.records]


def test_a_custom_404_page_that_cannot_be_served_falls_back_to_the_built_in_page(
    serve: ServeFactory, site: Path
) -> None:
    (site / "not_found.html").unlink()
    (site / "not_found.html").mkdir()  # not a regular file
    running = serve(site)
    resp = get(running.addr, "/missing.txt")
    assert resp.status == 404
    assert b"custom 404" not in resp.body
    assert b"404 Not Found" in resp.body


@pytest.mark.one_scheme  # over TLS the third's handshake would wait instead, the same loop
def test_the_portable_accept_loop_waits_at_its_cap_and_resumes_when_a_slot_frees(
    serve: ServeFactory,
) -> None:
    running = serve(features=Features(add_reader=False, add_writer=False), max_connections=2)
    first, second = Conn(running.addr), Conn(running.addr)
    try:
        assert first.request("/hello.txt").status == 200
        assert second.request("/hello.txt").status == 200
        with Conn(running.addr, timeout=10) as third:
            # The third waits in the listen backlog while two are open...
            third.send(b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
            third.sock.settimeout(0.3)
            with pytest.raises(TimeoutError):
                third.sock.recv(1)
            # ...and is served as soon as one of them closes.
            first.close()
            third.sock.settimeout(10)
            assert third.read_response().status == 200
    finally:
        first.close()
        second.close()
