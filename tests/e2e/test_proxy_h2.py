"""--proxy over HTTP/2 (TLS, ALPN h2): request bodies go up whole, backpressured, cut cleanly.

HTTP/2 in, HTTP/1.1 up: each stream's DATA reaches the upstream as it
arrives, with its content-length or chunked when it has none, and the
stream's flow-control window reopens only as the upstream takes the data.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
from collections.abc import Iterator

import pytest
from h2.errors import ErrorCodes

from staticsrv.config import Timeouts
from staticsrv.http.proxymap import parse_proxy
from tests.backend import Backend, backend, release
from tests.conftest import Running, ServeFactory
from tests.h2client import H2Conn, h2_context
from tests.waiting import poll_until

pytestmark = pytest.mark.one_scheme
MB = 1024 * 1024


@pytest.fixture
def up() -> Iterator[Backend]:
    with backend() as b:
        yield b


def _server(serve: ServeFactory, up: Backend) -> Running:
    running = serve(https=True, proxy=(parse_proxy(f"/api={up.origin}"),))
    assert running.tls is not None
    return running


def _open(running: Running, timeout: float = 15.0) -> H2Conn:
    assert running.tls is not None
    return H2Conn(running.addr, h2_context(running.tls), timeout=timeout)


def _begin(conn: H2Conn, method: str, path: str, fields: dict[str, str] | None = None) -> int:
    """A request's HEADERS without END_STREAM: a body follows."""
    head = [
        (b":method", method.encode()),
        (b":scheme", b"https"),
        (b":authority", b"localhost"),
        (b":path", path.encode()),
    ]
    head += [(k.encode(), v.encode()) for k, v in (fields or {}).items()]
    stream_id: int = conn.h2.get_next_available_stream_id()
    conn.h2.send_headers(stream_id, head)
    conn.flush()
    return stream_id


def _pieces(total: int, piece: int = 256 * 1024) -> Iterator[bytes]:
    """``total`` bytes that are not all alike (a shifted piece would show)."""
    sent = 0
    n = 0
    while sent < total:
        data = (b"%08d" % n) * (piece // 8)
        data = data[: total - sent]
        sent += len(data)
        n += 1
        yield data


def _send(conn: H2Conn, stream_id: int, data: bytes, stall: float | None = None) -> int:
    """Send ``data`` within the windows; with ``stall``, stop (returning the bytes sent)
    once no window has opened for that long."""
    view = memoryview(data)
    sent = 0
    while view:
        window = min(conn.h2.local_flow_control_window(stream_id), conn.h2.max_outbound_frame_size)
        if window <= 0:
            if stall is not None:
                conn.sock.settimeout(stall)
                try:
                    alive = conn.pump()
                except TimeoutError:
                    return sent
                finally:
                    conn.sock.settimeout(15.0)
            else:
                alive = conn.pump()
            assert alive, "the server closed the connection mid-upload"
            continue
        conn.h2.send_data(stream_id, bytes(view[:window]))
        conn.flush()
        view = view[window:]
        sent += window
    return sent


def _end(conn: H2Conn, stream_id: int) -> None:
    conn.h2.end_stream(stream_id)
    conn.flush()


def _seen(conn: H2Conn, stream_id: int) -> dict[str, object]:
    resp = conn.response(stream_id)
    assert resp.status == 200, resp.body[:200]
    out: dict[str, object] = json.loads(resp.body)
    return out


def test_a_json_post_goes_up_with_its_exact_body(serve: ServeFactory, up: Backend) -> None:
    running = _server(serve, up)
    body = json.dumps({"name": "ada", "tags": ["a", "b"], "n": 1}).encode()
    with _open(running) as conn:
        for _ in range(3):  # and again on the same connection (the upstream's kept alive)
            sid = _begin(
                conn,
                "POST",
                "/api/users",
                {"content-type": "application/json", "content-length": str(len(body))},
            )
            _send(conn, sid, body)
            _end(conn, sid)
            seen = _seen(conn, sid)
            assert (seen["method"], seen["target"]) == ("POST", "/api/users")
            assert seen["length"] == len(body)
            assert seen["sha256"] == hashlib.sha256(body).hexdigest()
            headers = seen["headers"]
            assert isinstance(headers, dict)
            assert headers["content-length"] == str(len(body))
            assert "transfer-encoding" not in headers
            assert headers["content-type"] == "application/json"
            assert headers["x-forwarded-proto"] == "https"
        # A form, sent in several DATA frames, and a PATCH without a body at all.
        form = b"a=1&b=" + b"x" * 5000
        sid = _begin(conn, "POST", "/api/form", {"content-length": str(len(form))})
        for i in range(0, len(form), 700):
            _send(conn, sid, form[i : i + 700])
        _end(conn, sid)
        assert _seen(conn, sid)["sha256"] == hashlib.sha256(form).hexdigest()
        seen = _echo_request(conn, "PATCH", "/api/p")
        assert (seen["method"], seen["length"]) == ("PATCH", 0)
    assert up.connections == 1


def _echo_request(conn: H2Conn, method: str, path: str) -> dict[str, object]:
    resp = conn.request(path, method)
    assert resp.status == 200
    out: dict[str, object] = json.loads(resp.body)
    return out


@pytest.mark.parametrize("with_length", [True, False])
def test_a_10_mb_put_arrives_byte_exact(
    serve: ServeFactory, up: Backend, with_length: bool
) -> None:
    running = _server(serve, up)
    total = 10 * MB
    digest = hashlib.sha256()
    with _open(running) as conn:
        fields = {"content-type": "application/octet-stream"}
        if with_length:
            fields["content-length"] = str(total)
        sid = _begin(conn, "PUT", "/api/upload", fields)
        for piece in _pieces(total):
            digest.update(piece)
            _send(conn, sid, piece)
        _end(conn, sid)
        seen = _seen(conn, sid)
        assert (seen["method"], seen["length"]) == ("PUT", total)
        assert seen["sha256"] == digest.hexdigest()
        headers = seen["headers"]
        assert isinstance(headers, dict)
        if with_length:
            assert headers["content-length"] == str(total)
            assert "transfer-encoding" not in headers
        else:
            # HTTP/2 has no chunked coding; HTTP/1.1 up needs a framing: chunked.
            assert headers["transfer-encoding"] == "chunked"
            assert "content-length" not in headers
        assert conn.request("/hello.txt").body == b"hello world\n"


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_an_upload_to_a_stalled_upstream_waits_in_the_client(
    serve: ServeFactory, up: Backend
) -> None:
    """The window is not reopened beyond what went up: memory stays bounded."""
    running = _server(serve, up)
    total = 50 * MB
    digest = hashlib.sha256()
    rss_before = _rss()
    with _open(running, timeout=30.0) as conn:
        sid = _begin(conn, "POST", "/api/stall", {"content-length": str(total)})
        pieces = _pieces(total)
        sent = 0
        stalled_at = None
        for piece in pieces:
            digest.update(piece)
            n = _send(conn, sid, piece, stall=1.0)
            sent += n
            if n < len(piece):
                stalled_at = sent
                rest = piece[n:]
                break
        assert stalled_at is not None, "all 50 MB went into a server whose upstream reads none"
        # What the client got in: socket buffers up to the upstream, one stream window.
        assert stalled_at < 16 * MB, stalled_at
        grown = _rss() - rss_before
        assert grown < 32 * MB, grown
        assert conn.h2.local_flow_control_window(sid) == 0
        # The stall holds one stream window, not the connection's: another
        # upload on the same connection goes up meanwhile.
        other = _begin(conn, "PUT", "/api/other", {"content-length": str(2 * MB)})
        _send(conn, other, b"o" * (2 * MB))
        _end(conn, other)
        assert _seen(conn, other)["length"] == 2 * MB
        release(up)
        _send(conn, sid, rest)
        for piece in pieces:
            digest.update(piece)
            _send(conn, sid, piece)
        _end(conn, sid)
        seen = _seen(conn, sid)
        assert seen["length"] == total
        assert seen["sha256"] == digest.hexdigest()
    print(f"stalled after {stalled_at} of {total} bytes; RSS grew {grown} bytes meanwhile")


def test_a_stream_reset_mid_upload_closes_the_upstream(serve: ServeFactory, up: Backend) -> None:
    running = _server(serve, up)
    with _open(running) as conn:
        sid = _begin(conn, "PUT", "/api/upload", {"content-length": str(MB)})
        _send(conn, sid, b"y" * 40000)
        poll_until("the upstream has the request", lambda: up.connections == 1, 10.0)
        conn.h2.reset_stream(sid, ErrorCodes.CANCEL)
        conn.flush()
        poll_until("the upstream connection is closed", lambda: up.closed == 1, 10.0)
        assert up.requests == []  # its body never completed
        # The connection and the server go on: files, and a proxied body again.
        assert conn.request("/hello.txt").body == b"hello world\n"
        sid = _begin(conn, "POST", "/api/again", {"content-length": "5"})
        _send(conn, sid, b"hello")
        _end(conn, sid)
        assert _seen(conn, sid)["length"] == 5
    # And the client that vanishes mid-body: the upstream is closed again.
    with _open(running) as conn:
        sid = _begin(conn, "PUT", "/api/upload")
        # More than a stream window: sent only once the proxy is pumping upstream.
        _send(conn, sid, b"z" * 100000)
        conn.sock.shutdown(socket.SHUT_RDWR)
    poll_until("the upstream connection is closed", lambda: up.closed >= 2, 10.0)
    assert len(up.requests) == 1


def test_a_body_the_handler_does_not_read_is_stopped_and_its_window_freed(
    serve: ServeFactory, up: Backend
) -> None:
    """A POST to a file still gets 405 and a NO_ERROR reset (RFC 9113 §8.1), and the
    unread DATA is given back: 24 of them (1.4 MiB) pass the connection window."""
    running = _server(serve, up)
    with _open(running) as conn:
        for _ in range(24):
            sid = _begin(conn, "POST", "/hello.txt")
            _send(conn, sid, b"x" * 60000)
            while sid not in conn.reset:
                assert conn.pump()
            assert dict(conn.heads[sid])[b":status"] == b"405"
            assert conn.reset[sid] == ErrorCodes.NO_ERROR
        sid = _begin(conn, "POST", "/api/after", {"content-length": "100000"})
        _send(conn, sid, b"w" * 100000)
        _end(conn, sid)
        assert _seen(conn, sid)["length"] == 100000
        assert conn.request("/hello.txt").body == b"hello world\n"


def test_an_upgrade_over_h2_is_refused_at_once(serve: ServeFactory, up: Backend) -> None:
    """No 101 in HTTP/2 (RFC 9113 §8.6): a clear 400, never a hang, nothing goes up."""
    running = _server(serve, up)
    with _open(running) as conn:
        conn.h2.config.normalize_outbound_headers = False  # h2 would drop them itself
        start = time.monotonic()
        resp = conn.request("/api/ws", "GET", {"upgrade": "websocket", "connection": "Upgrade"})
        assert resp.status == 400
        assert time.monotonic() - start < 5.0
        assert conn.request("/api/json").status == 200
    assert [r["target"] for r in up.requests] == ["/api/json"]


def test_a_client_that_stalls_mid_body_gets_a_400_at_the_head_deadline(
    serve: ServeFactory, up: Backend
) -> None:
    """As over HTTP/1.1: each wait for more of the body has the head deadline."""
    running = serve(
        https=True,
        proxy=(parse_proxy(f"/api={up.origin}"),),
        timeouts=Timeouts(head=1.0, keepalive=5.0, send=5.0),
    )
    with _open(running) as conn:
        sid = _begin(conn, "PUT", "/api/upload", {"content-length": "1000"})
        _send(conn, sid, b"s" * 10)
        resp = conn.response(sid)
        assert resp.status == 400
        poll_until("the upstream connection is closed", lambda: up.closed == 1, 10.0)
        assert up.requests == []
        assert conn.request("/hello.txt").body == b"hello world\n"


def test_expect_100_continue_is_answered_by_the_server(serve: ServeFactory, up: Backend) -> None:
    """RFC 9110 §10.1.1: the client waits for a 100 before its body; the upstream never
    sees the expectation (it would answer 417)."""
    running = _server(serve, up)
    with _open(running) as conn:
        sid = _begin(conn, "POST", "/api/e", {"content-length": "5", "expect": "100-continue"})
        while sid not in conn.informational:
            assert conn.pump()
        assert conn.informational[sid] == [b"100"]
        _send(conn, sid, b"hello")
        _end(conn, sid)
        seen = _seen(conn, sid)
        assert seen["length"] == 5
        headers = seen["headers"]
        assert isinstance(headers, dict) and "expect" not in headers
