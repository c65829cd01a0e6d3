"""Many clients at once: keep-alive fan-in and a storm of fresh connections.

Every answer is checked byte for byte; the figures printed (run with ``-s``)
are for the record, the assertions are only about outcomes.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.client import Conn, fetch
from tests.e2e.load.conftest import RunServer

pytestmark = pytest.mark.load

CLIENTS = 300
REQUESTS_PER_CLIENT = 20
FRESH_REQUESTS = 10_000
FRESH_WORKERS = 32


@pytest.fixture
def files(tmp_path: Path) -> dict[str, bytes]:
    root = tmp_path / "site"
    root.mkdir()
    content = {
        "/small.txt": b"hello, load\n",
        "/page.html": b"<p>" + b"lorem ipsum " * 1700 + b"</p>\n",  # ~20 KiB, cached
        "/data.bin": os.urandom(100 * 1024),  # cached body
        "/large.bin": os.urandom(300 * 1024),  # over cache_file_max: sendfile
        "/dir/nested.txt": b"nested\n",
    }
    for name, data in content.items():
        path = root / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return content


def test_300_concurrent_keepalive_clients_get_exact_bytes(
    run_server: RunServer, files: dict[str, bytes], tmp_path: Path
) -> None:
    server = run_server(tmp_path / "site", "--keepalive-timeout", "30", "--head-timeout", "10")
    names = sorted(files)
    connected = threading.Barrier(CLIENTS + 1, timeout=60)
    counted = threading.Barrier(CLIENTS + 1, timeout=60)
    errors: list[str] = []
    served = [0] * CLIENTS

    def client(index: int) -> None:
        try:
            with Conn(server.addr, timeout=30) as conn:
                first = conn.request(names[index % len(names)])
                assert first.status == 200
                connected.wait()  # every client holds an open connection now
                counted.wait()
                for i in range(REQUESTS_PER_CLIENT - 1):
                    name = names[(index + i + 1) % len(names)]
                    reply = conn.request(name)
                    assert reply.status == 200, (name, reply.status)
                    assert reply.body == files[name], f"{name}: wrong bytes"
                    served[index] += 1
                served[index] += 1
        except BaseException as exc:
            connected.abort()
            counted.abort()
            errors.append(f"client {index}: {exc!r}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    start = time.monotonic()
    for t in threads:
        t.start()
    try:
        connected.wait()
        held = server.open_fds()
        counted.wait()
    except threading.BrokenBarrierError:
        held = -1
    for t in threads:
        t.join(90)
    elapsed = time.monotonic() - start
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert not errors, f"{len(errors)} failed clients, e.g. {errors[:5]}"
    assert sum(served) == CLIENTS * REQUESTS_PER_CLIENT
    # All clients were connected at the same moment: the server held them all.
    assert held >= CLIENTS, f"server had only {held} descriptors open"
    assert server.alive()
    print(
        f"\n{CLIENTS} keep-alive clients x {REQUESTS_PER_CLIENT} requests: "
        f"{sum(served)} exact answers in {elapsed:.2f} s; "
        f"server held {held} descriptors at once"
    )


def test_10k_fresh_connections_with_zero_errors(
    run_server: RunServer, files: dict[str, bytes], tmp_path: Path
) -> None:
    server = run_server(tmp_path / "site")
    targets = ["/small.txt", "/page.html", "/dir/nested.txt"]
    per_worker = FRESH_REQUESTS // FRESH_WORKERS
    remainder = FRESH_REQUESTS - per_worker * FRESH_WORKERS

    def worker(index: int) -> tuple[int, list[str]]:
        ok = 0
        errors: list[str] = []
        for i in range(per_worker + (1 if index < remainder else 0)):
            name = targets[(index + i) % len(targets)]
            try:
                reply = fetch(server.addr, name)
                if reply.status == 200 and reply.body == files[name]:
                    ok += 1
                else:
                    errors.append(f"{name}: {reply.status} {len(reply.body)} bytes")
            except Exception as exc:
                errors.append(f"{name}: {exc!r}")
        return ok, errors

    start = time.monotonic()
    with ThreadPoolExecutor(FRESH_WORKERS) as pool:
        results = list(pool.map(worker, range(FRESH_WORKERS)))
    elapsed = time.monotonic() - start
    ok = sum(r[0] for r in results)
    errors = [e for r in results for e in r[1]]
    assert not errors, f"{len(errors)} errors, e.g. {errors[:5]}"
    assert ok == FRESH_REQUESTS
    assert server.alive()
    print(
        f"\n{FRESH_REQUESTS} requests on fresh connections (Connection: close), "
        f"{FRESH_WORKERS} workers: 0 errors in {elapsed:.2f} s ({ok / elapsed:.0f} req/s)"
    )
