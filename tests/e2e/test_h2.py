"""HTTP/2 end to end: ALPN, many streams on one connection, flow control, deadlines, stop.

The attacks (limits and floods) are in test_h2_attacks.py.  Every server
here speaks TLS; the clients are the h2 library over a socket
(tests/h2client.py) or raw frames where a well-behaved client would refuse.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import ssl
import time

import h2.events
import h2.settings
import pytest
from hyperframe.frame import DataFrame, Frame, GoAwayFrame

from staticsrv.config import Timeouts
from tests.client import connect, get
from tests.conftest import Running, ServeFactory
from tests.h2client import H2Conn
from tests.waiting import poll_until

pytestmark = pytest.mark.one_scheme


def h2_server(serve: ServeFactory, **overrides: object) -> Running:
    running = serve(https=True, **overrides)
    assert running.tls is not None
    return running


def alpn_of(running: Running, offer: list[str]) -> str | None:
    assert running.tls is not None
    ctx = ssl.create_default_context()
    ctx.load_verify_locations(cadata=_pem(running.tls))
    ctx.set_alpn_protocols(offer)
    with (
        socket.create_connection(running.addr, timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return tls.selected_alpn_protocol()


def _pem(ctx: ssl.SSLContext) -> str:
    return "".join(ssl.DER_cert_to_PEM_cert(d) for d in ctx.get_ca_certs(binary_form=True))


def open_h2(running: Running, timeout: float = 10.0, rcvbuf: int | None = None) -> H2Conn:
    from tests.h2client import h2_context

    assert running.tls is not None
    return H2Conn(running.addr, h2_context(running.tls), timeout=timeout, rcvbuf=rcvbuf)


def test_alpn_offers_h2_first_then_http11(serve: ServeFactory) -> None:
    running = h2_server(serve)
    assert alpn_of(running, ["h2", "http/1.1"]) == "h2"
    assert alpn_of(running, ["http/1.1"]) == "http/1.1"
    # A client without ALPN still gets HTTP/1.1 over the same port.
    assert get(running.addr, "/hello.txt").body == b"hello world\n"


def test_no_http2_keeps_http11_only(serve: ServeFactory) -> None:
    running = h2_server(serve, http2=False)
    assert alpn_of(running, ["h2", "http/1.1"]) == "http/1.1"


def test_many_streams_on_one_connection_each_get_their_own_bytes(
    serve: ServeFactory,
) -> None:
    running = h2_server(serve)
    want = {
        "/hello.txt": (running.root / "hello.txt").read_bytes(),
        "/style.css": (running.root / "style.css").read_bytes(),
        "/big.bin": (running.root / "big.bin").read_bytes(),
        "/missing": (running.root / "not_found.html").read_bytes(),
    }
    with open_h2(running) as conn:
        ids = {conn.start(path): path for _ in range(10) for path in want}
        for stream_id, path in ids.items():
            resp = conn.response(stream_id)
            assert resp.body == want[path], path
            assert resp.status == (404 if path == "/missing" else 200)
    # The access log is flushed once per loop turn: poll the outcome, bounded.
    poll_until(
        "every stream logged", lambda: "\n".join(running.log).count("HTTP/2.0") >= len(ids), 10
    )
    assert "\n".join(running.log).count("HTTP/2.0") == len(ids)


def test_head_and_304_have_no_data_and_ranges_match_http11(serve: ServeFactory) -> None:
    running = h2_server(serve)
    with open_h2(running) as conn:
        full = conn.request("/big.bin")
        head = conn.request("/big.bin", "HEAD")
        assert head.body == b""
        assert head.header("content-length") == str(len(full.body))
        etag = full.header("etag")
        assert etag is not None
        assert conn.request("/big.bin", headers={"if-none-match": etag}).status == 304
        part = conn.request("/big.bin", headers={"range": "bytes=1000-1999"})
        assert part.status == 206
        assert part.body == full.body[1000:2000]
        multi = conn.request("/big.bin", headers={"range": "bytes=0-9,100-109"})
        assert multi.status == 206
        assert (multi.header("content-type") or "").startswith("multipart/byteranges")
        assert full.body[100:110] in multi.body


def test_the_window_bounds_what_is_sent_until_it_opens(serve: ServeFactory) -> None:
    running = h2_server(serve)
    big = (running.root / "big.bin").read_bytes()
    with open_h2(running, timeout=1.0) as conn:
        # A client that acknowledges nothing: the connection's window is
        # 65,535 bytes (RFC 9113 §6.9.2), and that is all it may get.
        conn.h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 65535})
        conn.flush()
        conn.ack = False
        stream_id = conn.start("/big.bin")
        deadline = time.monotonic() + 1.5
        with contextlib.suppress(TimeoutError):
            while time.monotonic() < deadline and conn.pump():
                pass
        got = conn.bodies[stream_id]
        assert 0 < len(got) <= 65535
        # Open the windows: the rest arrives, byte for byte.
        conn.h2.acknowledge_received_data(len(got), stream_id)
        conn.flush()
        conn.sock.settimeout(10)
        conn.ack = True
        resp = conn.response(stream_id)
    assert hashlib.sha256(resp.body).digest() == hashlib.sha256(big).digest()


def _frames_until_close(conn: H2Conn, limit: float) -> list[h2.events.Event]:
    events: list[h2.events.Event] = []
    end = time.monotonic() + limit
    conn.sock.settimeout(limit)
    while time.monotonic() < end:
        try:
            data = conn.sock.recv(1 << 16)
        except TimeoutError:
            break
        except (ConnectionResetError, ssl.SSLError):
            return [*events, h2.events.ConnectionTerminated()]
        if not data:
            events.append(h2.events.ConnectionTerminated())  # the close itself
            break
        events += conn.h2.receive_data(data)
    return events


def test_a_stream_whose_window_stays_shut_is_reset_after_the_send_timeout(
    serve: ServeFactory,
) -> None:
    running = h2_server(serve, timeouts=Timeouts(head=5.0, keepalive=30.0, send=1.0))
    with open_h2(running) as conn:
        conn.start("/big.bin")
        events = _frames_until_close(conn, 6.0)
    resets = [e for e in events if isinstance(e, h2.events.StreamReset)]
    goaways = [e for e in events if isinstance(e, h2.events.ConnectionTerminated)]
    assert resets or goaways, events  # dropped like a stalled HTTP/1.1 reader


def test_an_idle_connection_gets_goaway_after_the_keepalive_timeout(
    serve: ServeFactory,
) -> None:
    running = h2_server(serve, timeouts=Timeouts(head=5.0, keepalive=1.0, send=5.0))
    with open_h2(running) as conn:
        assert conn.request("/hello.txt").status == 200
        start = time.monotonic()
        events = _frames_until_close(conn, 5.0)
        took = time.monotonic() - start
    goaway = [e for e in events if isinstance(e, h2.events.ConnectionTerminated)]
    assert goaway and goaway[0].error_code == 0, events
    assert goaway[0].last_stream_id == 1
    assert took < 4.0


def test_a_preface_that_never_comes_is_closed_at_the_head_deadline(
    serve: ServeFactory,
) -> None:
    running = h2_server(serve, timeouts=Timeouts(head=1.0, keepalive=30.0, send=5.0))
    from tests.h2client import h2_context

    assert running.tls is not None
    addr = running.addr
    sock = socket.create_connection(addr, timeout=5)
    tls = h2_context(running.tls).wrap_socket(sock, server_hostname="127.0.0.1")
    assert tls.selected_alpn_protocol() == "h2"
    tls.sendall(b"PRI * HTTP/2.0\r\n")  # half a preface, then nothing
    start = time.monotonic()
    closed = False
    try:
        while time.monotonic() - start < 4.5:
            if not tls.recv(1 << 16):
                closed = True
                break
    except (ConnectionResetError, ssl.SSLError):
        closed = True
    except TimeoutError:
        pass
    finally:
        tls.close()
    assert closed
    assert time.monotonic() - start < 4.0


def test_graceful_stop_sends_goaway_and_lets_the_stream_in_flight_finish(
    serve: ServeFactory,
) -> None:
    running = h2_server(serve)
    huge = os.urandom(1 << 20) * 24  # more than the kernel's buffers hold
    (running.root / "huge.bin").write_bytes(huge)
    with open_h2(running, rcvbuf=1 << 16) as conn:
        # Windows wide open, so the client need not answer while it reads
        # frames raw (h2 as a client refuses DATA after a GOAWAY).
        conn.h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
        conn.h2.increment_flow_control_window(2**31 - 1 - 65535)
        conn.flush()
        stream_id = conn.start("/huge.bin")
        data = bytearray()
        frames = raw_frames(conn, data, 10.0, until=DataFrame)  # the answer has begun
        loop = running.core._loop
        loop.call_soon_threadsafe(lambda: asyncio.ensure_future(running.server.stop()))
        frames += raw_frames(conn, data, 10.0)
    goaways = [f for f in frames if isinstance(f, GoAwayFrame)]
    assert goaways and goaways[0].error_code == 0 and goaways[0].last_stream_id == stream_id
    body = b"".join(f.data for f in frames if isinstance(f, DataFrame))
    assert hashlib.sha256(body).digest() == hashlib.sha256(huge).digest()
    assert any("END_STREAM" in f.flags for f in frames if isinstance(f, DataFrame))


def raw_frames(
    conn: H2Conn, data: bytearray, limit: float, until: type[Frame] | None = None
) -> list[Frame]:
    """The frames the server sends until it closes (or one of type ``until`` came),
    parsed by hyperframe alone; ``data`` keeps the bytes of a frame not yet whole."""
    frames: list[Frame] = []
    end = time.monotonic() + limit
    while time.monotonic() < end:
        while len(data) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(data[:9]))
            if len(data) < 9 + length:
                break
            frame.parse_body(memoryview(data[9 : 9 + length]))
            frames.append(frame)
            del data[: 9 + length]
            if until is not None and isinstance(frame, until):
                return frames
        try:
            chunk = conn.sock.recv(1 << 16)
        except (TimeoutError, ConnectionResetError, ssl.SSLError):
            break
        if not chunk:
            break
        data += chunk
    return frames


def test_http11_over_tls_is_unchanged_beside_h2(serve: ServeFactory) -> None:
    running = h2_server(serve)
    with connect(running.addr) as sock:
        sock.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data = sock.recv(4096)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")


def test_twelve_live_tabs_share_one_connection_and_all_reload(serve: ServeFactory) -> None:
    # --live: each tab's event stream is a stream of the one connection (no
    # longer one of the browser's six per host), and a change reaches all.
    running = h2_server(serve, live=True, live_delay=0.05)
    with open_h2(running) as conn:
        page = conn.request("/index.html")
        assert b"/__staticsrv__/live.js" in page.body  # injected as over HTTP/1.1
        tabs = [conn.start("/__staticsrv__/events") for _ in range(12)]
        while not all(t in conn.heads for t in tabs):
            assert conn.pump()
        assert all(dict(conn.heads[t])[b":status"] == b"200" for t in tabs)
        assert conn.request("/hello.txt").body == b"hello world\n"  # the connection still serves
        before = {t: len(conn.bodies.get(t, b"")) for t in tabs}
        (running.root / "index.html").write_text("<h1>changed</h1>\n")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(
            b"data:" in conn.bodies.get(t, b"")[before[t] :] for t in tabs
        ):
            assert conn.pump()
        assert all(b"data:" in conn.bodies.get(t, b"")[before[t] :] for t in tabs)
        assert conn.request("/index.html").body.startswith(b"<h1>changed</h1>")


def test_a_body_still_coming_after_the_answer_is_stopped_with_no_error(
    serve: ServeFactory,
) -> None:
    running = h2_server(serve)
    with open_h2(running) as conn:
        stream_id = conn.h2.get_next_available_stream_id()
        head = [
            (b":method", b"POST"),
            (b":scheme", b"https"),
            (b":authority", b"localhost"),
            (b":path", b"/hello.txt"),
        ]
        conn.h2.send_headers(stream_id, head)  # no END_STREAM: a body would follow
        conn.h2.send_data(stream_id, b"x" * 1000)
        conn.flush()
        while stream_id not in conn.reset:
            assert conn.pump()
        assert dict(conn.heads[stream_id])[b":status"] == b"405"
        assert conn.reset[stream_id] == 0  # NO_ERROR
        assert conn.request("/hello.txt").body == b"hello world\n"
