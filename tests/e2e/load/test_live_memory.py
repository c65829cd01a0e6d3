"""--live with a 200 MB page: memory stays bounded, the bytes are the page plus one script.

Before pages above the cap were streamed, one GET of such a page peaked at
607 MiB of server RSS and four concurrent GETs at 1.7 GiB.  The server runs
as a real subprocess; its peak is read from the kernel (VmHWM), and its RSS
is also sampled while the four downloads run.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from pathlib import Path

import pytest

from staticsrv.site.inject import SCRIPT_TAG
from tests.e2e.load.conftest import RunServer
from tests.e2e.load.procserver import ServerProc

pytestmark = pytest.mark.load
pytest.importorskip("watchfiles")

PAGE_MB = 200
CLIENTS = 4
LIMIT_MIB = 80
RECV = 1 << 20


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} line")


def write_page(path: Path) -> tuple[bytes, int]:
    """A page with no </head> (a "</head>" in a script does not count) and
    </body> at its very end: the whole file is scanned, the script goes near
    the end.  Returns the page's sha256 with the script in place, and its length."""
    top = b"<!doctype html><html><script>var s = '</head>';</script><body>\n"
    line = b"<p class='row'>" + b"lorem ipsum dolor sit amet " * 3 + b"</p>\n"
    block = line * (1024 * 1024 // len(line))
    tail = b"</body></html>\n"
    want = hashlib.sha256()
    size = 0
    with path.open("wb") as f:
        for piece in (top, *(block for _ in range(PAGE_MB)), tail[:0]):
            f.write(piece)
            want.update(piece)
            size += len(piece)
        f.write(tail)
    want.update(SCRIPT_TAG + tail)  # before </body>, which starts the tail
    return want.digest(), size + len(SCRIPT_TAG) + len(tail)


def download(addr: tuple[str, int], results: list[tuple[int, int, bytes]]) -> None:
    """One GET, the body hashed as it arrives (never held whole)."""
    with socket.create_connection(addr, timeout=60) as sock:
        sock.sendall(b"GET /big.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        buf = b""
        while b"\r\n\r\n" not in buf:
            more = sock.recv(65536)
            assert more, "closed before the head"
            buf += more
        head, body = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = dict(line.lower().split(": ", 1) for line in lines[1:])
        length = int(fields["content-length"])
        got = hashlib.sha256(body)
        received = len(body)
        while True:
            more = sock.recv(RECV)
            if not more:
                break
            got.update(more)
            received += len(more)
        results.append((status, length, got.digest() if received == length else b""))


def test_four_downloads_of_a_200_mb_page_stay_under_80_mib(
    run_server: RunServer, tmp_path: Path
) -> None:
    root = tmp_path / "site"
    root.mkdir()
    digest, length = write_page(root / "big.html")
    server: ServerProc = run_server(root, "--live")
    idle = status_kib(server.pid, "VmRSS")
    results: list[tuple[int, int, bytes]] = []
    threads = [
        threading.Thread(target=download, args=(server.addr, results)) for _ in range(CLIENTS)
    ]
    samples: list[int] = []
    started = time.monotonic()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        samples.append(status_kib(server.pid, "VmRSS"))
        for t in threads:
            t.join(0.02)
    elapsed = time.monotonic() - started
    peak = status_kib(server.pid, "VmHWM")
    print(
        f"\n{CLIENTS} x {length / 2**20:.0f} MiB under --live in {elapsed:.1f} s: "
        f"idle RSS {idle / 1024:.1f} MiB, sampled max {max(samples) / 1024:.1f} MiB "
        f"({len(samples)} samples), VmHWM {peak / 1024:.1f} MiB"
    )
    assert results == [(200, length, digest)] * CLIENTS
    assert peak < LIMIT_MIB * 1024, f"server peak RSS {peak / 1024:.1f} MiB"
