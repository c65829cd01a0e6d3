"""Portable lifecycle: every platform-specific call's fallback, forced on Linux.

Windows has no ``loop.add_signal_handler`` and no ``SO_REUSEPORT``; macOS
and Windows have no view of the TCP send queue (SIOCOUTQ); Windows'
proactor loop has no ``add_writer``.  Each gap is forced here and the
server must still stop, refuse clearly, drop a stalled reader on time and
send files byte for byte.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from staticsrv import app, cli, workers
from staticsrv.config import Timeouts
from staticsrv.net.transport import Features
from tests.client import Conn, get
from tests.conftest import ServeFactory
from tests.e2e.load.netutil import TCP_ESTABLISHED, server_sockets
from tests.patching import replace
from tests.waiting import poll_until

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/net/tcp")


# Signals


@pytest.fixture
def saved_signal_handlers() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in app.STOP_SIGNALS}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.usefixtures("saved_signal_handlers")
async def test_without_loop_signal_handlers_a_signal_still_asks_for_a_stop() -> None:
    """The Windows path: plain signal.signal handlers hand the stop to the loop."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    app.install_stop_signals(loop, stop, loop_handlers=False)
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Checked before the kill: a default disposition would end the test run.
        handler = signal.getsignal(sig)
        assert callable(handler) and handler is not signal.default_int_handler, sig
    os.kill(os.getpid(), signal.SIGTERM)
    # Bounded: the handler runs between bytecodes and wakes the loop at once.
    await asyncio.wait_for(stop.wait(), 10)
    assert stop.is_set()


SECOND_SIGNAL = """
import asyncio, os, signal, sys

from staticsrv.app import install_stop_signals


async def main() -> None:
    stop = asyncio.Event()
    install_stop_signals(asyncio.get_running_loop(), stop, loop_handlers={loop_handlers})
    os.kill(os.getpid(), signal.SIGINT)
    await asyncio.wait_for(stop.wait(), 10)
    print("stopping", flush=True)
    os.kill(os.getpid(), signal.SIGINT)
    # Not a wait for readiness: the bound after which the second signal has
    # failed to end the process (the exit status then tells).
    await asyncio.sleep(10)  # allowed: a bound, never a wait for readiness (see above)


asyncio.run(main())
sys.exit(0)
"""


@pytest.mark.parametrize("loop_handlers", [True, False], ids=["loop handlers", "signal.signal"])
def test_a_second_signal_forces_exit_130(loop_handlers: bool) -> None:
    script = textwrap.dedent(SECOND_SIGNAL).format(loop_handlers=loop_handlers)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.stdout == "stopping\n"
    assert result.returncode == app.EXIT_FORCED == 130
    assert result.stderr == "staticsrv: forced exit\n"


# No SO_REUSEPORT


def test_workers_without_so_reuseport_are_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked = replace(monkeypatch, workers, "reuse_port_supported", lambda: False)
    with pytest.raises(SystemExit) as exited:
        cli.main([str(tmp_path), "--port", "0", "--workers", "2"])
    assert asked, "the CLI did not ask workers.reuse_port_supported"
    assert exited.value.code != 0
    captured = capsys.readouterr()
    assert captured.err == "staticsrv: error: --workers needs SO_REUSEPORT (Linux, BSD, macOS)\n"
    assert captured.out == ""


# No view of the TCP send queue


def test_without_a_send_queue_a_big_download_completes(serve: ServeFactory) -> None:
    srv = serve(features=Features(send_queue=False))
    data = (srv.root / "big.bin").read_bytes()
    assert get(srv.addr, "/big.bin").body == data
    part = get(srv.addr, "/big.bin", headers={"Range": "bytes=100-2000000"})
    assert (part.status, part.body) == (206, data[100:2000001])


@linux_only
def test_without_a_send_queue_a_stalled_reader_is_still_dropped(serve: ServeFactory) -> None:
    srv = serve(
        features=Features(send_queue=False),
        timeouts=Timeouts(head=5.0, keepalive=5.0, send=1.0),
    )
    size = 64 * 1024 * 1024  # sparse: more than any kernel buffer holds
    with open(srv.root / "huge.bin", "wb") as f:
        f.truncate(size)
    with Conn(srv.addr, rcvbuf=16 * 1024) as conn:
        conn.send(b"GET /huge.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert conn.read_head().status == 200
        port = conn.local_port
        # Observing an outcome (the server's socket leaving ESTABLISHED), not readiness.
        poll_until(
            "the stalled reader is dropped",
            lambda: server_sockets(srv.port).get(port, (0, 0))[0] != TCP_ESTABLISHED,
            timeout=15,
        )
        body, how = conn.read_to_eof(15)
    assert how in ("eof", "reset")
    assert len(body) < size
    assert get(srv.addr, "/hello.txt").body == b"hello world\n"  # the server is fine


# The proactor loop: no add_writer


def test_without_add_writer_files_and_ranges_are_byte_exact(serve: ServeFactory) -> None:
    srv = serve(features=Features(add_writer=False))
    data = (srv.root / "big.bin").read_bytes()
    with Conn(srv.addr) as conn:
        assert conn.request("/big.bin").body == data
        part = conn.request("/big.bin", headers={"Range": "bytes=1000-2999999"})
        assert (part.status, part.body) == (206, data[1000:3000000])
        multi = conn.request("/big.bin", headers={"Range": "bytes=0-9,-10"})
        assert multi.status == 206
        assert data[:10] in multi.body and data[-10:] in multi.body
        small = conn.request("/hello.txt")
        assert (small.status, small.body) == (200, b"hello world\n")
