"""96 HTTP/2 streams of a 5 MiB file that nobody reads: memory stays bounded, then a drop.

A server that buffers whole answers while the peer's windows (or the
socket) are shut grows by the size of every answer in flight (hypercorn,
measured: 96 such streams took it from 31 to 526 MiB).  Here each stream
reads a file only as far as it may send, one piece at a time, and the
connection's send deadline drops a peer that reads nothing.
"""

from __future__ import annotations

import os
import ssl
import time
from pathlib import Path

import h2.settings
import pytest

from tests.e2e.load.conftest import RunServer
from tests.e2e.load.netutil import TCP_ESTABLISHED, server_sockets
from tests.h2client import H2Conn
from tests.waiting import poll_until

pytestmark = pytest.mark.load

MIB = 1024 * 1024
STREAMS = 96
SIZE = 5 * MIB
RSS_GROWTH_BOUND_KIB = 40 * 1024  # 96 x 5 MiB = 480 MiB if answers were buffered
SEND_TIMEOUT = 2.0


def test_96_stalled_h2_streams_bounded_rss_then_dropped(
    run_server: RunServer, tmp_path: Path, client_h2: ssl.SSLContext
) -> None:
    root = tmp_path / "site"
    root.mkdir()
    for n in range(STREAMS):
        (root / f"f{n}.bin").write_bytes(os.urandom(SIZE))
    server = run_server(root, "--https", "--send-timeout", str(SEND_TIMEOUT))
    rss_idle = server.rss_kib()
    conn = H2Conn(server.addr, client_h2, rcvbuf=64 * 1024)
    try:
        # Windows wide open: only the unread socket holds the server back.
        conn.h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
        conn.h2.increment_flow_control_window(2**31 - 1 - 65535)
        conn.flush()
        for n in range(STREAMS):
            conn.start(f"/f{n}.bin")
        port = conn.sock.getsockname()[1]

        def queued() -> int:
            return server_sockets(server.port).get(port, (0, 0))[1]

        poll_until("the server's send queue fills", lambda: queued() > 0, timeout=5.0)
        start = time.monotonic()
        rss = [server.rss_kib()]
        while time.monotonic() - start < SEND_TIMEOUT * 0.8:
            rss.append(server.rss_kib())
            time.sleep(0.1)  # allowed: sampling RSS over a bounded time
        growth = max(rss) - rss_idle
        print(f"RSS idle {rss_idle} KiB, max while stalled {max(rss)} KiB (+{growth})")
        assert growth < RSS_GROWTH_BOUND_KIB, f"RSS grew {growth} KiB"
        poll_until(
            "the stalled connection is dropped",
            lambda: server_sockets(server.port).get(port, (0, 0))[0] != TCP_ESTABLISHED,
            timeout=SEND_TIMEOUT + 8.0,
        )
    finally:
        conn.close()
    assert server.alive()
