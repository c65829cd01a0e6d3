"""HTTP/2 limits and known attacks, each run twice: defended, and with the defence off.

The "off" run switches the one defence off in the running server (a
bound raised out of reach) and is marked ``xfail(strict=True)``: it must
fail, which shows the test detects the attack and that the defence, not
something else, stops it.  Frames go out raw (hyperframe and hpack), as
an attacker sends them; a well-behaved client library would refuse to.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time

import pytest
from hpack import Encoder
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
)

from staticsrv.http import h2guard
from staticsrv.net import h2conn
from tests.conftest import Running, ServeFactory
from tests.h2client import h2_context

pytestmark = pytest.mark.one_scheme

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
ENHANCE_YOUR_CALM = 0xB
DEFENCE = pytest.mark.parametrize(
    "defended",
    [True, pytest.param(False, marks=pytest.mark.xfail(strict=True, reason="defence off"))],
)


class Raw:
    """A TLS connection that negotiated h2 and speaks in raw frames."""

    def __init__(self, running: Running) -> None:
        assert running.tls is not None
        sock = socket.create_connection(running.addr, timeout=5)
        self.sock = h2_context(running.tls).wrap_socket(sock, server_hostname="127.0.0.1")
        assert self.sock.selected_alpn_protocol() == "h2"
        self.hpack = Encoder()
        self.sock.sendall(PREFACE + SettingsFrame(0).serialize())

    def block(self, path: str = "/hello.txt", method: str = "GET", extra: object = ()) -> bytes:
        fields = [
            (":method", method),
            (":scheme", "https"),
            (":authority", "localhost"),
            (":path", path),
            *extra,
        ]  # type: ignore[misc]
        data: bytes = self.hpack.encode(fields)
        return data

    def send(self, *frames: Frame) -> None:
        """Send, or stop sending when the server has closed (its answer stays readable)."""
        with contextlib.suppress(OSError):
            self.sock.sendall(b"".join(f.serialize() for f in frames))

    def frames(self, quiet: float = 1.5, limit: float = 8.0) -> list[Frame]:
        """What the server sends until it closes, or until ``quiet`` seconds of nothing."""
        frames: list[Frame] = []
        data = bytearray()
        end = time.monotonic() + limit
        self.sock.settimeout(quiet)
        while time.monotonic() < end:
            try:
                chunk = self.sock.recv(1 << 16)
            except (TimeoutError, ConnectionResetError, ssl.SSLError):
                break
            if not chunk:
                break
            data += chunk
            while len(data) >= 9:
                frame, length = Frame.parse_frame_header(memoryview(data[:9]))
                if len(data) < 9 + length:
                    break
                frame.parse_body(memoryview(data[9 : 9 + length]))
                frames.append(frame)
                del data[: 9 + length]
        self.sock.close()
        return frames


def calm(frames: list[Frame]) -> bool:
    return any(isinstance(f, GoAwayFrame) and f.error_code == ENHANCE_YOUR_CALM for f in frames)


@pytest.fixture
def guarded(serve: ServeFactory, defended: bool, monkeypatch: pytest.MonkeyPatch) -> Running:
    if not defended:
        monkeypatch.setattr(h2guard, "BOUNDS", h2guard.Bounds(10**9, 10**9, 10**9, 10**9))
    return serve(https=True)


@DEFENCE
def test_rapid_reset_gets_goaway_enhance_your_calm(guarded: Running) -> None:
    # CVE-2023-44487: streams opened and at once reset cost the server a
    # request each while never counting against the concurrency limit.
    raw = Raw(guarded)
    frames: list[Frame] = []
    for n in range(400):
        sid = 2 * n + 1
        frames += [
            HeadersFrame(sid, raw.block(), flags=["END_HEADERS", "END_STREAM"]),
            RstStreamFrame(sid, error_code=8),
        ]
    raw.send(*frames)
    assert calm(raw.frames())


@DEFENCE
def test_a_continuation_flood_is_cut_at_the_header_block_bound(guarded: Running) -> None:
    # 2024's CONTINUATION flood: a header block that never ends, each frame
    # buffered until END_HEADERS (h2 alone keeps up to 64 frames of 16 KiB).
    raw = Raw(guarded)
    first = raw.block()
    raw.send(HeadersFrame(1, first, flags=["END_STREAM"]))
    raw.send(*(ContinuationFrame(1, b"\x00" * 16000) for _ in range(12)))
    assert calm(raw.frames())


@DEFENCE
def test_a_ping_flood_gets_goaway(guarded: Running) -> None:
    raw = Raw(guarded)
    raw.send(*(PingFrame(0, opaque_data=n.to_bytes(8, "big")) for n in range(2000)))
    assert calm(raw.frames())


@DEFENCE
def test_a_settings_flood_gets_goaway(guarded: Running) -> None:
    raw = Raw(guarded)
    raw.send(*(SettingsFrame(0) for _ in range(2000)))
    assert calm(raw.frames())


@DEFENCE
def test_an_empty_frame_flood_gets_goaway(guarded: Running) -> None:
    raw = Raw(guarded)
    raw.send(HeadersFrame(1, raw.block(method="POST"), flags=["END_HEADERS"]))
    raw.send(*(DataFrame(1, b"") for _ in range(2000)))
    assert calm(raw.frames())


@pytest.mark.parametrize(
    "defended",
    [True, pytest.param(False, marks=pytest.mark.xfail(strict=True, reason="defence off"))],
)
def test_an_hpack_bomb_is_refused_while_decoding(
    serve: ServeFactory, defended: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 4 KB in the dynamic table, referenced 200 times in one block: a few
    # hundred bytes on the wire that decode to 800 KB.
    if not defended:
        monkeypatch.setattr(h2conn, "MAX_HEADER_LIST", 1 << 30)
    raw = Raw(serve(https=True))
    bomb = [("x-bomb", "a" * 4000)] * 200
    block = raw.block(extra=bomb)
    assert len(block) < 8000
    raw.send(HeadersFrame(1, block, flags=["END_HEADERS", "END_STREAM"]))
    assert calm(raw.frames())


@pytest.mark.parametrize(
    "defended",
    [True, pytest.param(False, marks=pytest.mark.xfail(strict=True, reason="defence off"))],
)
def test_at_most_128_streams_run_at_once(
    serve: ServeFactory, defended: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not defended:
        monkeypatch.setattr(h2conn, "MAX_STREAMS", 10_000)
    running = serve(https=True)
    raw = Raw(running)
    # Answers of 3 MiB each: the connection's window (64 KiB, never
    # opened here) keeps every stream open while the client sends more.
    raw.send(
        *(
            HeadersFrame(2 * n + 1, raw.block("/big.bin"), flags=["END_HEADERS", "END_STREAM"])
            for n in range(200)
        )
    )
    frames = raw.frames()
    settings = [f for f in frames if isinstance(f, SettingsFrame) and "ACK" not in f.flags]
    assert settings[0].settings[SettingsFrame.MAX_CONCURRENT_STREAMS] == 128
    answered = {f.stream_id for f in frames if isinstance(f, HeadersFrame)}
    refused = any(isinstance(f, GoAwayFrame | RstStreamFrame) for f in frames)
    assert len(answered) <= 128
    assert refused
