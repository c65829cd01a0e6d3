"""End-to-end: the quick path (staticsrv.net.quick) answers a memo hit from the loop's
callbacks, and everything it cannot answer goes to the connection's coroutine unchanged.

Every test here runs on plain HTTP (the quick path is plain HTTP's); the memo only
holds settled files, which the test session's clock makes every file (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from staticsrv.config import Timeouts
from staticsrv.net.writer import Connection
from staticsrv.site.memo import Memo, MemoKey
from tests.client import Conn, get
from tests.conftest import Running, ServeFactory
from tests.waiting import poll_until

pytestmark = pytest.mark.one_scheme

GET = b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _conns(srv: Running) -> list[Connection]:
    return list(srv.core._conns)  # the server's own record of its connections


def _peer_port(conn: Connection) -> int | None:
    raw = conn.raw
    if raw is None:
        return None
    try:
        port: int = raw.sock.getpeername()[1]
    except OSError:  # closed since it was listed
        return None
    return port


def _conn_of(srv: Running, client: Conn) -> Connection:
    """The server's connection for ``client``, once accepted.

    Found by the client's own port, not as "the only one": a connection an
    earlier request closed may still be listed until the server reads its end.
    """
    port = client.local_port
    found: list[Connection] = []

    def accepted() -> bool:
        found[:] = [c for c in _conns(srv) if _peer_port(c) == port]
        return bool(found)

    poll_until("the server accepted the connection", accepted, 5.0, detail=lambda: _conns(srv))
    return found[0]


def _lines(srv: Running) -> list[str]:
    """The access log's lines (it hands them over a batch at a time)."""
    return "\n".join(srv.log).splitlines()


def _clear_log(srv: Running, lines: int) -> None:
    """Forget the log once the warm-up's ``lines`` arrived (it is written a batch at a time)."""
    poll_until("the warm-up was logged", lambda: len(_lines(srv)) >= lines, 5.0)
    srv.log.clear()


def _without_date(raw: bytes) -> bytes:
    return b"".join(line for line in raw.splitlines(True) if not line.startswith(b"Date: "))


def _read_answer(sock: socket.socket, buf: bytearray) -> bytes:
    """One whole answer (head and Content-Length body) off ``sock``, as sent."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, f"closed mid-head: {bytes(buf)!r}"
        buf += chunk
    end = buf.index(b"\r\n\r\n") + 4
    length = 0
    for line in bytes(buf[:end]).split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(buf) < end + length:
        chunk = sock.recv(65536)
        assert chunk, "closed mid-body"
        buf += chunk
    whole = bytes(buf[: end + length])
    del buf[: end + length]
    return whole


def test_a_memo_hit_is_the_first_answer_byte_for_byte_but_its_date(srv: Running) -> None:
    with Conn(srv.addr) as conn:
        buf = bytearray()
        conn.send(GET % b"/style.css")
        first = _read_answer(conn.sock, buf)  # decided by the tree, sent by the coroutine
    with Conn(srv.addr) as conn:
        conn.send(GET % b"/style.css")
        second = _read_answer(conn.sock, buf)
        # This connection never needed its coroutine: the memo answered it.
        assert _conn_of(srv, conn).task is None
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert _without_date(second) == _without_date(first)
    assert b"\r\nDate: " in second


def test_head_and_get_alternate_on_one_connection_and_stay_in_sync(srv: Running) -> None:
    full = get(srv.addr, "/app.js")  # the memo holds it from here
    with Conn(srv.addr) as conn:
        conn.request("/app.js", method="HEAD")  # and HEAD's own answer from here
    with Conn(srv.addr) as conn:
        for _ in range(3):
            head = conn.request("/app.js", method="HEAD")
            again = conn.request("/app.js")
            assert head.status == 200 and head.body == b""
            assert head.header("content-length") == str(len(full.body))
            assert again.body == full.body
        assert _conn_of(srv, conn).task is None


def test_connection_close_gets_its_answer_then_the_end(srv: Running) -> None:
    get(srv.addr, "/hello.txt")
    with Conn(srv.addr) as conn:
        conn.send(b"GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data, how = conn.read_to_eof(5.0)
    assert how == "eof"
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nConnection: close\r\n" in data
    assert data.endswith(b"\r\n\r\nhello world\n")
    poll_until("the server forgot the connection", lambda: not _conns(srv), 5.0)


def test_http10_keep_alive_is_answered_by_the_coroutine_as_before(srv: Running) -> None:
    get(srv.addr, "/hello.txt")
    with Conn(srv.addr) as conn:
        for _ in range(2):
            conn.send(b"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            resp = conn.read_response()
            assert resp.status == 200 and resp.body == b"hello world\n"
            assert resp.header("connection") == "keep-alive"


def test_pipelined_heads_after_quick_answers_keep_their_order(srv: Running) -> None:
    get(srv.addr, "/hello.txt")
    get(srv.addr, "/sub/a.txt")
    with Conn(srv.addr) as conn:
        assert conn.request("/hello.txt").body == b"hello world\n"  # quick
        # Two heads in one write: the coroutine answers them, in order.
        conn.send(GET % b"/sub/a.txt" + GET % b"/hello.txt")
        assert conn.read_response().body == b"a\n"
        assert conn.read_response().body == b"hello world\n"
        assert conn.request("/sub/a.txt").body == b"a\n"  # and the quick path again


def test_a_head_in_two_pieces_is_joined_by_the_coroutine(srv: Running) -> None:
    get(srv.addr, "/hello.txt")
    with Conn(srv.addr) as conn:
        conn.send(b"GET /hello.txt HTTP/1.1\r\nHo")
        mine = _conn_of(srv, conn)
        poll_until(
            "the first piece was handed to the coroutine", lambda: mine.task is not None, 5.0
        )
        conn.send(b"st: 127.0.0.1\r\n\r\n")
        assert conn.read_response().body == b"hello world\n"


@pytest.mark.parametrize(
    "size",
    [
        12 * 1024,  # joined to its head in the memo's rendering (memo.WIRE_MAX)
        249_856,  # sent as head and body in one sendmsg; still in memory (cache_file_max)
    ],
)
def test_an_answer_the_kernel_cannot_take_at_once_goes_whole_and_first(
    serve: ServeFactory, site: Path, size: int
) -> None:
    body = (bytes(range(256)) * (size // 256 + 1))[:size]
    (site / "mid.bin").write_bytes(body)
    srv = serve()
    assert get(srv.addr, "/mid.bin").body == body  # memoised from here
    _clear_log(srv, 1)
    # A small receive window: the kernel cannot take the whole answer at once.
    with Conn(srv.addr, rcvbuf=4096) as conn:
        mine = _conn_of(srv, conn)
        raw = mine.raw
        assert raw is not None
        raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # and a small buffer
        conn.send(GET % b"/mid.bin")
        poll_until(
            "the rest of the answer was handed to the coroutine", lambda: mine.task is not None, 5.0
        )
        conn.send(GET % b"/hello.txt")  # must come after the whole of the first
        buf = bytearray()
        first = _read_answer(conn.sock, buf)
        second = _read_answer(conn.sock, buf)
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and first.endswith(body)
    assert second.endswith(b"\r\n\r\nhello world\n")
    poll_until("both answers were logged", lambda: len(_lines(srv)) >= 2, 5.0, detail=srv.log.copy)
    lines = _lines(srv)
    assert f'"GET /mid.bin HTTP/1.1" 200 {len(body)}' in lines[0]
    assert '"GET /hello.txt HTTP/1.1" 200 12' in lines[1]


def test_each_quick_answer_has_its_access_log_line(srv: Running) -> None:
    get(srv.addr, "/hello.txt")
    get(srv.addr, "/missing.txt")
    with Conn(srv.addr) as conn:
        conn.request("/hello.txt", method="HEAD")
    _clear_log(srv, 3)
    with Conn(srv.addr) as conn:
        for _ in range(3):
            assert conn.request("/hello.txt").status == 200
            assert conn.request("/missing.txt").status == 404
        assert conn.request("/hello.txt", method="HEAD").status == 200
        assert _conn_of(srv, conn).task is None
    poll_until("seven lines", lambda: len(_lines(srv)) >= 7, 5.0, detail=srv.log.copy)
    lines = _lines(srv)
    assert sum('"GET /hello.txt HTTP/1.1" 200 12' in line for line in lines) == 3
    assert sum('"GET /missing.txt HTTP/1.1" 404' in line for line in lines) == 3
    assert sum('"HEAD /hello.txt HTTP/1.1" 200 0' in line for line in lines) == 1


def test_a_save_between_two_requests_on_one_connection_is_seen(srv: Running) -> None:
    get(srv.addr, "/hello.txt")
    with Conn(srv.addr) as conn:
        assert conn.request("/hello.txt").body == b"hello world\n"
        (srv.root / "hello.txt").write_text("saved again, longer\n")
        assert conn.request("/hello.txt").body == b"saved again, longer\n"


def test_an_idle_quick_connection_is_closed_at_the_keepalive_timeout(
    serve: ServeFactory,
) -> None:
    srv = serve(timeouts=Timeouts(head=5.0, keepalive=0.3, send=5.0))
    get(srv.addr, "/hello.txt")
    with Conn(srv.addr, timeout=5.0) as conn:
        assert conn.request("/hello.txt").status == 200
        assert _conn_of(srv, conn).task is None
        assert conn.closed_by_server()
    poll_until("the server forgot the connection", lambda: not _conns(srv), 5.0)


def test_a_client_that_resets_after_its_request_leaves_the_server_serving(
    srv: Running,
) -> None:
    get(srv.addr, "/style.css")
    for _ in range(20):
        sock = socket.create_connection(srv.addr[:2])
        sock.sendall(GET % b"/style.css")
        # RST instead of FIN: the answer meets a closed socket.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
    assert get(srv.addr, "/style.css").status == 200
    poll_until("every reset connection is forgotten", lambda: len(_conns(srv)) == 0, 5.0)


def test_stopping_closes_idle_quick_connections(serve: ServeFactory) -> None:
    srv = serve()
    get(srv.addr, "/hello.txt")
    with Conn(srv.addr, timeout=5.0) as conn:
        assert conn.request("/hello.txt").status == 200
        assert _conn_of(srv, conn).task is None
        loop = srv.core._loop  # the server's thread runs this loop
        asyncio.run_coroutine_threadsafe(srv.server.stop(), loop).result(10.0)
        assert conn.closed_by_server()
    assert not _conns(srv)


def test_a_fault_in_the_quick_path_ends_that_connection_and_no_other(
    srv: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    get(srv.addr, "/hello.txt")
    get(srv.addr, "/sub/a.txt")
    handler = srv.core.handler
    real = handler.memo_hit
    calls: list[str] = []

    def faulty(key: MemoKey) -> Memo | None:
        calls.append(key[1])
        if key[1] == "/hello.txt":
            raise RuntimeError("a bug")
        return real(key)

    monkeypatch.setattr(handler, "memo_hit", faulty)
    with Conn(srv.addr, timeout=5.0) as bad, Conn(srv.addr) as good:
        bad.send(GET % b"/hello.txt")
        assert bad.closed_by_server()
        assert good.request("/sub/a.txt").body == b"a\n"
    assert calls == ["/hello.txt", "/sub/a.txt"]
    assert get(srv.addr, "/sub/a.txt").status == 200


# ---------------------------------------------------------------- the accept path


def test_every_connection_has_tcp_nodelay_the_first_and_the_later_ones(srv: Running) -> None:
    # A quick answer is one send; TCP_NODELAY keeps whatever goes in a second
    # one (the rest of a large answer) from waiting for an acknowledgement.
    for _ in range(3):
        with Conn(srv.addr) as conn:
            assert conn.request("/hello.txt").status == 200
            raw = _conn_of(srv, conn).raw
            assert raw is not None
            assert raw.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
