"""A 100 MB upload and a 100 MB download through --proxy: the server's memory stays bounded.

The server is a real subprocess; its peak resident size (VmHWM, what the
kernel counted at the worst moment) is read from /proc after the transfers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.backend import BIG, backend
from tests.client import Conn
from tests.e2e.load.conftest import RunServer

PIECE = 64 * 1024
LIMIT_KIB = 80 * 1024


def _peak_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM line")


def test_100_mb_up_and_down_in_bounded_memory(run_server: RunServer, tmp_path: Path) -> None:
    with backend() as up:
        server = run_server(tmp_path, "--proxy", f"/api={up.origin}", "-q")
        piece = bytes(range(256)) * (PIECE // 256)
        digest = hashlib.sha256()
        with Conn(server.addr, timeout=60) as conn:
            conn.send(
                b"POST /api/upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % BIG
            )
            for _ in range(BIG // PIECE):
                conn.send(piece)
                digest.update(piece)
            seen = json.loads(conn.read_response().body)
            assert (seen["length"], seen["sha256"]) == (BIG, digest.hexdigest())
            # Chunked too, re-chunked on the way up.
            conn.send(
                b"PUT /api/upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            for _ in range(BIG // PIECE // 4):
                conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.send(b"0\r\n\r\n")
            seen = json.loads(conn.read_response().body)
            assert seen["length"] == BIG // 4
            conn.send(b"GET /api/big HTTP/1.1\r\nHost: localhost\r\n\r\n")
            head = conn.read_head()
            assert head.header("content-length") == str(BIG)
            got = len(conn.buf)
            conn.buf.clear()
            while got < BIG:
                data = conn.sock.recv(1 << 20)
                assert data
                got += len(data)
            assert got == BIG
        peak = _peak_kib(server.pid)
        print(f"staticsrv peak RSS after 125 MB up and 100 MB down: {peak / 1024:.1f} MiB")
        assert peak < LIMIT_KIB
