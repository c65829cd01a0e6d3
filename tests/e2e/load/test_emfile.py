"""Out of file descriptors: the server survives, does not spin, and recovers.

The server runs with RLIMIT_NOFILE = 64 and is sent more connections than it
can accept.  accept(2) then fails with EMFILE while the connection stays in
the listen backlog, i.e. the listening socket stays readable: a naive accept
loop retries at once and burns a core.  The bound asserted on CPU time is an
outcome (less than half the wall time), not a speed measurement.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import pytest

from tests.client import Closed, Conn, fetch
from tests.e2e.load.conftest import RunServer
from tests.e2e.load.procserver import ServerProc
from tests.waiting import poll_until

pytestmark = pytest.mark.load

FD_LIMIT = 64
CONNECTIONS = 3 * FD_LIMIT
HOLD = 2.0
HELLO = b"hello, emfile\n"


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "hello.txt").write_bytes(HELLO)
    (site / "cold.txt").write_bytes(b"never read before the limit\n")
    (site / "big.bin").write_bytes(os.urandom(1024 * 1024))
    (site / "dir").mkdir()
    (site / "dir" / "a.txt").write_bytes(b"a\n")
    return site


def _settled(server: ServerProc, target: str) -> None:
    """Wait until ``target`` is no longer "racy" (written within 2 s: read afresh for
    every request, never from the cache); such a version is sent without Last-Modified."""
    poll_until(
        f"{target} settled",
        lambda: fetch(server.addr, target).header("last-modified") is not None,
        timeout=10,
    )


def _start(run_server: RunServer, root: Path, loop: str) -> ServerProc:
    return run_server(
        root,
        "--head-timeout",
        "30",
        "--keepalive-timeout",
        "30",
        "--loop",
        loop,
        preexec_fn=_low_fd_limit,
    )


def _exhaust(server: ServerProc) -> list[Conn]:
    """Open CONNECTIONS connections (the backlog takes what accept cannot)."""
    clients = [Conn(server.addr, timeout=10) for _ in range(CONNECTIONS)]
    # The server has used every descriptor it may have.
    poll_until("server out of descriptors", lambda: server.open_fds() >= FD_LIMIT, timeout=10)
    return clients


@pytest.mark.parametrize("loop", ["auto", "asyncio"])
def test_out_of_descriptors_no_spin_then_recovery(
    run_server: RunServer, root: Path, loop: str
) -> None:
    server = _start(run_server, root, loop)
    _settled(server, "/hello.txt")
    assert fetch(server.addr, "/hello.txt").body == HELLO  # warm the body cache
    clients = _exhaust(server)
    try:
        cpu0, wall0 = server.cpu_seconds(), time.monotonic()
        time.sleep(HOLD)  # allowed: the window in which CPU use is measured, not a wait
        cpu1, wall1 = server.cpu_seconds(), time.monotonic()
        share = (cpu1 - cpu0) / (wall1 - wall0)
        assert server.alive()
        assert share < 0.5, f"server used {share:.0%} of a CPU while out of descriptors"
        # Connections already accepted are still served (a cached body needs no fd).
        reply = clients[0].request("/hello.txt")
        assert (reply.status, reply.body) == (200, HELLO)
    finally:
        for c in clients:
            c.close()
    # Recovery: once descriptors are free again, new connections are served.
    for name in ("/hello.txt", "/cold.txt", "/big.bin", "/dir/"):
        reply = fetch(server.addr, name, timeout=15)
        assert reply.status == 200, (name, reply.status)
    assert fetch(server.addr, "/big.bin").body == (root / "big.bin").read_bytes()
    assert server.alive()
    print(
        f"\n[{loop}] RLIMIT_NOFILE {FD_LIMIT}: {CONNECTIONS} connections held for {HOLD:g} s, "
        f"server CPU {share:.1%} of wall time; recovered after they closed"
    )


@pytest.mark.parametrize(
    ("target", "body_file"),
    [("/cold.txt", "cold.txt"), ("/big.bin", "big.bin"), ("/dir/", None)],
    ids=["uncached-small-file", "sendfile-file", "listing"],
)
def test_requests_needing_a_descriptor_fail_cleanly_when_none_is_left(
    run_server: RunServer, root: Path, target: str, body_file: str | None
) -> None:
    """On an accepted connection, while the process is out of descriptors, a
    request that needs to open a file gets a complete answer: the file, or a
    503 with Retry-After -- never a 500 with a traceback in the log, and never
    a 200 head whose body then never comes."""
    server = _start(run_server, root, "auto")
    clients = _exhaust(server)
    try:
        clients[0].send(f"GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        try:
            reply = clients[0].read_response()
        except Closed as exc:
            pytest.fail(f"GET {target}: connection closed mid-answer: {exc} {exc.received[:120]!r}")
        if reply.status == 200:
            if body_file is not None:
                assert reply.body == (root / body_file).read_bytes()
        else:
            assert reply.status == 503, f"GET {target} -> {reply.status}, expected 200 or 503"
            assert "retry-after" in reply.headers
    finally:
        for c in clients:
            c.close()
    assert fetch(server.addr, target, timeout=15).status == 200
    stderr = server.stderr_text()
    assert "Traceback" not in stderr, stderr[-3000:]
