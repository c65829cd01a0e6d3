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


def test_many_clients_at_once_get_their_own_answers(run_server: RunServer, tmp_path: Path) -> None:
    """32 keep-alive clients, GETs and POSTs interleaved: every answer is its own request's."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    from tests.backend import JSON_1K

    with backend() as up:
        server = run_server(tmp_path, "--proxy", f"/api={up.origin}", "-q")

        def client(seed: int) -> int:
            rng = random.Random(seed)
            done = 0
            with Conn(server.addr, timeout=60) as conn:
                for i in range(60):
                    if rng.random() < 0.5:
                        resp = conn.request(f"/api/json?c={seed}&i={i}")
                        assert resp.body == JSON_1K
                    else:
                        body = rng.randbytes(rng.randrange(0, 200_000))
                        conn.send(
                            b"POST /api/echo?c=%d&i=%d HTTP/1.1\r\nHost: localhost\r\n"
                            b"Content-Length: %d\r\n\r\n%s" % (seed, i, len(body), body)
                        )
                        seen = json.loads(conn.read_response().body)
                        assert seen["target"] == f"/api/echo?c={seed}&i={i}"
                        assert seen["sha256"] == hashlib.sha256(body).hexdigest()
                    done += 1
            return done

        with ThreadPoolExecutor(32) as pool:
            total = sum(pool.map(client, range(32)))
        assert total == 32 * 60
        # Upstream connections are pooled: at most one per client at a time.
        assert up.connections <= 32 * 2
        print(f"{total} proxied requests, {up.connections} upstream connections")
        assert _peak_kib(server.pid) < LIMIT_KIB
