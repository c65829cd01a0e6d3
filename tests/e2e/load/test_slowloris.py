"""Slowloris, slow bodies and idle connections are dropped on time.

Each slow connection's head deadline starts with its first byte and is not
extended by later ones, so with ``--head-timeout 2`` a connection that
trickles its head must be closed 2 s (plus the sweeper's period) after its
first byte.  The bound asserted is generous (8 s): an outcome, not a speed
benchmark.  The measured times are printed (``-s``).  Over TLS the same
holds for a head trickled inside the session and for a trickled
ClientHello: the handshake runs under the head deadline.
"""

from __future__ import annotations

import select
import ssl
import statistics
import time
from pathlib import Path

import pytest

from tests.client import Addr, Conn, build, client_hello, connect, fetch
from tests.e2e.load.conftest import RunServer

pytestmark = pytest.mark.load

HEAD_TIMEOUT = 2.0
DROP_BOUND = 8.0  # head timeout + a generous margin
SLOW_CONNECTIONS = 100
BODY = b"hello, slowloris\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "hello.txt").write_bytes(BODY)
    return site


_WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class Slow:
    """One slowloris connection: a partial head, then one byte per round.

    Over TLS either the handshake completes first and the head trickles
    inside it (an :class:`~tests.client.Addr` with a context), or the
    ClientHello itself trickles (``rest``: its bytes, sent one per round,
    never all).
    """

    def __init__(self, addr: tuple[str, int], partial: bytes, *, rest: bytes = b"") -> None:
        self.sock = connect(addr, timeout=5)
        self.sock.setblocking(False)
        self.sock.send(partial)
        self.rest = rest
        self.first_byte = time.monotonic()
        self.closed_at: float | None = None
        self.received = b""
        self.how = ""

    def trickle(self) -> None:
        if self.closed_at is not None:
            return
        try:
            # Never a CR or LF: the head can never end.
            self.sock.send(self.rest[:1] if self.rest else b"a")
            self.rest = self.rest[1:]
        except _WOULD_BLOCK:
            pass
        except OSError:
            self._closed("send failed")

    def on_readable(self) -> None:
        try:
            chunk = self.sock.recv(65536)
        except _WOULD_BLOCK:
            return
        except (ConnectionResetError, ssl.SSLError):
            self._closed("reset")
            return
        if chunk:
            self.received += chunk
        else:
            self._closed("eof")

    def _closed(self, how: str) -> None:
        self.closed_at = time.monotonic()
        self.how = how

    @property
    def dropped_after(self) -> float:
        assert self.closed_at is not None
        return self.closed_at - self.first_byte


@pytest.mark.parametrize("mode", ["http", "tls-head", "tls-hello"])
def test_100_slowloris_are_dropped_while_normal_clients_are_served(
    run_server: RunServer, root: Path, client_tls: ssl.SSLContext, mode: str
) -> None:
    """Over HTTP; over TLS with the head trickled after the handshake; and
    with the ClientHello itself trickled (the handshake is under the head deadline)."""
    https = ("--https",) if mode != "http" else ()
    server = run_server(
        root, "--head-timeout", str(HEAD_TIMEOUT), "--keepalive-timeout", "30", *https
    )
    addr = Addr(*server.addr, client_tls if mode != "http" else None)
    partials = [
        b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nX-Slow: ",  # headers never end
        b"GET /hello.tx",  # request line never ends
    ]
    hello = client_hello()
    if mode == "tls-hello":
        # The record header and a few bytes, then one byte per round: the
        # rounds end long before the ClientHello could.
        slow = [Slow(server.addr, hello[:9], rest=hello[9:-1]) for _ in range(SLOW_CONNECTIONS)]
    else:
        slow = [Slow(addr, partials[i % 2]) for i in range(SLOW_CONNECTIONS)]
    normal_served = 0
    try:
        end = time.monotonic() + DROP_BOUND + 2
        while time.monotonic() < end and any(s.closed_at is None for s in slow):
            for s in slow:
                s.trickle()
            # A normal client is answered at once, slowloris or not.
            reply = fetch(addr, "/hello.txt", timeout=5)
            assert (reply.status, reply.body) == (200, BODY)
            normal_served += 1
            open_socks = {s.sock.fileno(): s for s in slow if s.closed_at is None}
            readable, _, _ = select.select(list(open_socks), [], [], 0.5)
            for fd in readable:
                open_socks[fd].on_readable()
    finally:
        for s in slow:
            s.sock.close()

    still_open = sum(1 for s in slow if s.closed_at is None)
    assert still_open == 0, f"{still_open} slowloris connections still open after {DROP_BOUND} s"
    times = [s.dropped_after for s in slow]
    assert max(times) < DROP_BOUND, f"slowest drop after {max(times):.2f} s"
    # Closed by the head deadline, not by anything earlier.
    assert min(times) > HEAD_TIMEOUT * 0.75, f"a connection was dropped after {min(times):.2f} s"
    for s in slow:
        # The only thing a slowloris may ever receive is a 408 (RFC 9110 §15.5.9),
        # and nothing at all before its TLS session exists.
        assert s.received == b"" or s.received.startswith(b"HTTP/1.1 408 "), s.received[:80]
        assert s.received == b"" or mode != "tls-hello"
    assert normal_served >= 3
    assert server.alive()
    got_408 = sum(1 for s in slow if s.received)
    print(
        f"\n[{mode}] {SLOW_CONNECTIONS} slowloris connections, --head-timeout {HEAD_TIMEOUT:g}: "
        f"dropped after median {statistics.median(times):.2f} s, max {max(times):.2f} s "
        f"({got_408} got a 408); {normal_served} normal requests served meanwhile"
    )


def test_slowloris_filling_every_slot_only_delays_a_normal_client(
    run_server: RunServer, root: Path
) -> None:
    """With all --max-connections slots taken by slow heads, a new client waits
    in the listen backlog and is served once the head deadline frees slots."""
    slots = 20
    server = run_server(root, "--head-timeout", str(HEAD_TIMEOUT), "--max-connections", str(slots))
    slow = [Slow(server.addr, b"GET / HTTP/1.1\r\nHost: x\r\nX: ") for _ in range(2 * slots)]
    try:
        start = time.monotonic()
        reply = fetch(server.addr, "/hello.txt", timeout=4 * HEAD_TIMEOUT + DROP_BOUND)
        waited = time.monotonic() - start
    finally:
        for s in slow:
            s.sock.close()
    assert (reply.status, reply.body) == (200, BODY)
    assert waited < 4 * HEAD_TIMEOUT + DROP_BOUND
    print(f"\nall {slots} slots held by slowloris: a normal client was served after {waited:.2f} s")


def test_slow_body_cannot_hold_a_connection_open(run_server: RunServer, root: Path) -> None:
    """A GET whose (small, discarded) body is trickled one byte at a time must
    also be dropped: otherwise a body is a slowloris that never times out."""
    server = run_server(root, "--head-timeout", str(HEAD_TIMEOUT), "--keepalive-timeout", "30")
    slow = Slow(server.addr, build("/hello.txt", extra="Content-Length: 60000\r\n"))
    try:
        while slow.closed_at is None and time.monotonic() - slow.first_byte < DROP_BOUND:
            slow.trickle()  # one body byte per round: the body never completes
            readable, _, _ = select.select([slow.sock], [], [], 0.5)
            if readable:
                slow.on_readable()
    finally:
        slow.sock.close()
    held = time.monotonic() - slow.first_byte
    assert slow.closed_at is not None, (
        f"a request body trickled one byte per 0.5 s kept the connection open for {held:.1f} s "
        f"(--head-timeout {HEAD_TIMEOUT:g})"
    )
    assert slow.dropped_after < DROP_BOUND
    assert server.alive()


def test_idle_keepalive_connection_is_closed_after_the_timeout(
    run_server: RunServer, root: Path
) -> None:
    keepalive = 1.0
    server = run_server(root, "--keepalive-timeout", str(keepalive), "--head-timeout", "30")
    with Conn(server.addr) as conn:
        reply = conn.request("/hello.txt")
        assert (reply.status, reply.body) == (200, BODY)
        idle_from = time.monotonic()
        rest, how = conn.read_to_eof(DROP_BOUND)
        idle = time.monotonic() - idle_from
    # A clean close: no 408 for a connection that was between requests.
    assert (rest, how) == (b"", "eof")
    assert keepalive * 0.75 < idle < DROP_BOUND
    print(f"\nidle keep-alive connection closed after {idle:.2f} s (--keepalive-timeout 1)")


def test_connection_that_never_sends_is_closed(run_server: RunServer, root: Path) -> None:
    server = run_server(root, "--keepalive-timeout", "1", "--head-timeout", "1")
    with Conn(server.addr) as conn:
        start = time.monotonic()
        rest, how = conn.read_to_eof(DROP_BOUND)
        idle = time.monotonic() - start
    assert (rest, how) == (b"", "eof")
    assert idle < DROP_BOUND
    assert fetch(server.addr, "/hello.txt").body == BODY
