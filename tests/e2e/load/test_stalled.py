"""Clients that stop reading: bounded memory, others still served, dropped on time.

Large bodies go out with sendfile(2), or over TLS as bounded reads each
encrypted and sent before the next, so 50 stalled 50 MiB downloads must not
show up in the server's RSS; ``--send-timeout`` must drop them, and must not
drop a client that keeps reading.  Stalls are observed in the kernel's view
of the server's sockets (/proc/net/tcp: state and send-queue), independently
of how much the client has read.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client import Addr, Conn, fetch
from tests.e2e.load.conftest import RunServer
from tests.e2e.load.netutil import TCP_ESTABLISHED, server_sockets
from tests.waiting import poll_until

pytestmark = pytest.mark.load

MIB = 1024 * 1024
BIG = 50 * MIB
STALLED = 50
RSS_BOUND_KIB = 100 * 1024
SEND_TIMEOUT = 2.0
DROP_BOUND = 10.0  # send timeout + a generous margin
SMALL_RCVBUF = 64 * 1024
HELLO = b"still here\n"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    site = tmp_path_factory.mktemp("stalled")
    (site / "big.bin").write_bytes(os.urandom(BIG))
    (site / "medium.bin").write_bytes(os.urandom(4 * MIB))
    (site / "hello.txt").write_bytes(HELLO)
    yield site


@pytest.fixture(scope="module")
def big(root: Path) -> bytes:
    return (root / "big.bin").read_bytes()


# (loop, scheme): both loops over TCP, the default loop over TLS.
LOOPS_SCHEMES = [("auto", "http"), ("asyncio", "http"), ("auto", "https")]


def _tls(scheme: str, ctx: ssl.SSLContext) -> tuple[tuple[str, ...], ssl.SSLContext | None]:
    return (("--https",), ctx) if scheme == "https" else ((), None)


@pytest.mark.parametrize(("loop", "scheme"), LOOPS_SCHEMES)
def test_50_stalled_downloads_bounded_rss_then_dropped(
    run_server: RunServer,
    root: Path,
    big: bytes,
    loop: str,
    scheme: str,
    client_tls: ssl.SSLContext,
) -> None:
    args, tls = _tls(scheme, client_tls)
    server = run_server(
        root, "--send-timeout", str(SEND_TIMEOUT), "--head-timeout", "10", "--loop", loop, *args
    )
    rss_idle = server.rss_kib()
    addr = Addr(*server.addr, tls)
    clients = [Conn(addr, rcvbuf=SMALL_RCVBUF) for _ in range(STALLED)]
    try:
        ports = {c.local_port for c in clients}
        for c in clients:
            c.send(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
        sent_at = time.monotonic()

        def stalled() -> dict[int, tuple[int, int]]:
            return {p: s for p, s in server_sockets(server.port).items() if p in ports}

        # All 50 server-side sockets are established with a full send queue:
        # the server is blocked on every one of them.
        poll_until(
            "every download stalls",
            lambda: (
                sum(1 for st, q in stalled().values() if st == TCP_ESTABLISHED and q) == STALLED
            ),
            timeout=SEND_TIMEOUT * 0.9,
        )
        queued = sum(q for _, q in stalled().values())
        rss = [server.rss_kib()]
        # A normal client is served meanwhile, small (cached) and large (sendfile).
        assert fetch(addr, "/hello.txt").body == HELLO
        medium = fetch(addr, "/medium.bin").body
        assert medium == (root / "medium.bin").read_bytes()
        rss.append(server.rss_kib())
        still_stalled = sum(1 for st, _ in stalled().values() if st == TCP_ESTABLISHED)
        assert max(rss) < RSS_BOUND_KIB, f"RSS {max(rss)} KiB with {STALLED} stalled downloads"

        # --send-timeout: the server closes every stalled connection (its side
        # leaves ESTABLISHED) although none of the clients ever read.
        poll_until(
            "every stalled download is dropped",
            lambda: not any(st == TCP_ESTABLISHED for st, _ in stalled().values()),
            timeout=DROP_BOUND,
        )
        dropped = time.monotonic() - sent_at

        # Each client drains what was queued and then sees the close; what it
        # got is a 200 head and an exact prefix of the file, nothing else.
        for c in clients:
            head = c.read_head()
            status, headers = head.status, head.headers
            assert status == 200 and int(headers["content-length"]) == BIG
            body, how = c.read_to_eof(DROP_BOUND)
            assert how in ("eof", "reset"), f"stalled client not closed: {how}"
            assert len(body) < BIG
            assert big.startswith(body), "bytes that are not the file's were sent"
        assert server.alive()
        assert fetch(addr, "/hello.txt").body == HELLO
    finally:
        for c in clients:
            c.close()
    print(
        f"\n[{loop}, {scheme}] {STALLED} stalled 50 MiB downloads ({queued / MIB:.0f} MiB "
        f"queued in the kernel): server RSS {max(rss) / 1024:.1f} MiB "
        f"(idle {rss_idle / 1024:.1f} MiB); "
        f"{still_stalled} still stalled while a normal client was served; "
        f"all dropped {dropped:.2f} s after the requests (--send-timeout {SEND_TIMEOUT:g})"
    )


@pytest.mark.parametrize(("loop", "scheme"), LOOPS_SCHEMES)
def test_healthy_slow_reader_is_not_dropped(
    run_server: RunServer, root: Path, loop: str, scheme: str, client_tls: ssl.SSLContext
) -> None:
    """64 KiB every 50 ms for a 4 MiB file: slow, but never stopped for 2 s."""
    medium = (root / "medium.bin").read_bytes()
    args, tls = _tls(scheme, client_tls)
    server = run_server(root, "--send-timeout", str(SEND_TIMEOUT), "--loop", loop, *args)
    with Conn(Addr(*server.addr, tls), rcvbuf=SMALL_RCVBUF) as conn:
        conn.send(b"GET /medium.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
        head = conn.read_head()
        status, headers = head.status, head.headers
        assert status == 200 and int(headers["content-length"]) == len(medium)
        body = bytearray(conn.buf)
        conn.buf.clear()
        start = time.monotonic()
        for _ in range(len(medium) // (64 * 1024) * 3):  # bounded by count...
            if len(body) >= len(medium) or time.monotonic() - start > 30:  # ...and time
                break
            # Up to 64 KiB per round (a TLS recv returns one 16 KiB record at most).
            want = min(64 * 1024, len(medium) - len(body))
            got = len(body)
            while len(body) - got < want:
                chunk = conn.sock.recv(want - (len(body) - got))
                assert chunk, f"server closed a reading client after {len(body)} bytes"
                body += chunk
            time.sleep(0.05)  # allowed: pacing a slow reader (64 KiB per 50 ms)
        took = time.monotonic() - start
    assert bytes(body) == medium
    print(f"\n[{loop}, {scheme}] slow reader got all 4 MiB byte-exact in {took:.1f} s")


@pytest.mark.parametrize("loop", ["auto", "asyncio"])
def test_steady_reader_of_a_big_file_is_not_dropped(
    run_server: RunServer, root: Path, big: bytes, loop: str
) -> None:
    """16 KiB every 100 ms (160 KiB/s), never pausing, must not be taken for a
    stalled client: --send-timeout is "seconds a client may stop reading"."""
    server = run_server(root, "--send-timeout", str(SEND_TIMEOUT), "--loop", loop)
    read_for = 3 * SEND_TIMEOUT
    with Conn(server.addr, rcvbuf=SMALL_RCVBUF) as conn:
        conn.send(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
        port = conn.local_port
        assert conn.read_head().status == 200
        body = bytearray(conn.buf)
        conn.buf.clear()
        start = time.monotonic()
        dropped_at: float | None = None
        longest_pause = 0.0
        last = start
        while time.monotonic() - start < read_for:
            chunk = conn.sock.recv(16 * 1024)
            assert chunk, "EOF while reading steadily"
            now = time.monotonic()
            longest_pause, last = max(longest_pause, now - last), now
            body += chunk
            state = server_sockets(server.port).get(port, (0, 0))[0]
            if state != TCP_ESTABLISHED and dropped_at is None:
                dropped_at = now - start
            time.sleep(0.1)  # allowed: pacing a steady reader (16 KiB per 100 ms)
    assert big.startswith(bytes(body))
    assert longest_pause < SEND_TIMEOUT / 2
    assert dropped_at is None, (
        f"[{loop}] the server closed a client reading {len(body) / (now - start) / 1024:.0f} "
        f"KiB/s without a pause over {longest_pause:.2f} s, {dropped_at:.2f} s into the "
        f"body (--send-timeout {SEND_TIMEOUT:g})"
    )
