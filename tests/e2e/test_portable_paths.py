"""The whole server on the paths a loop without readiness callbacks takes.

Windows' proactor loop has no ``add_reader``/``add_writer``: accepts then go
through ``loop.sock_accept``, reads through ``loop.sock_recv`` and sends
through ``loop.sock_sendall``.  Forcing those :class:`Features` on Linux
proves the same answers come out, byte for byte and in order.
"""

from __future__ import annotations

import hashlib

import pytest

from staticsrv.net.transport import Features
from tests.client import Conn, build, get
from tests.conftest import ServeFactory

PATHS = [
    pytest.param(Features(), id="readiness"),
    pytest.param(Features(add_reader=False), id="sock_recv"),
    pytest.param(Features(add_reader=False, add_writer=False), id="proactor-like"),
]


@pytest.mark.parametrize("features", PATHS)
def test_pipelined_requests_are_answered_in_order(serve: ServeFactory, features: Features) -> None:
    srv = serve(features=features)
    targets = ["/hello.txt", "/missing", "/sub/a.txt", "/", "/style.css"] * 40
    with Conn(srv.addr) as conn:
        conn.send(b"".join(build(t) for t in targets))
        statuses = [conn.read_response().status for _ in targets]
    assert statuses == [200, 404, 200, 200, 200] * 40


@pytest.mark.parametrize("features", PATHS)
def test_large_file_and_ranges_are_byte_exact(serve: ServeFactory, features: Features) -> None:
    srv = serve(features=features)
    expected = (srv.root / "big.bin").read_bytes()
    with Conn(srv.addr) as conn:
        whole = conn.request("/big.bin")
        part = conn.request("/big.bin", headers={"Range": "bytes=1000-299999"})
        after = conn.request("/hello.txt")
    assert hashlib.sha256(whole.body).digest() == hashlib.sha256(expected).digest()
    assert (part.status, part.body) == (206, expected[1000:300000])
    assert after.body == b"hello world\n"


@pytest.mark.parametrize("features", PATHS)
def test_many_connections_each_get_their_answer(serve: ServeFactory, features: Features) -> None:
    srv = serve(features=features)
    for _ in range(50):
        assert get(srv.addr, "/hello.txt").body == b"hello world\n"
