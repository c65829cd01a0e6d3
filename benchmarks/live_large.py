"""A 200 MB HTML page under ``--live``: server memory and time to the first byte.

Two pages of the same size: ``head-first.html`` (``</head>`` near the top,
the usual page: the scan stops at once) and ``body-last.html`` (no
``</head>``, ``</body>`` at the very end, a tag every ~100 bytes: the whole
file is scanned before the first byte).  For each, ``--clients`` concurrent
GETs on fresh connections (the first request of the version pays for the
scan; the others wait for the same one), then one more GET (the scan is
known).  Reported per page: time to the first body byte of the first round
and of the later GET, the round's wall time, and the server's peak RSS
(VmHWM of ``/proc/PID/status``, since start).  Every body is hashed and
checked against the page with the script once at its place; a GET the
server closed or reset counts as wrong.

    python benchmarks/live_large.py [--mb 200] [--clients 4] [--before REV]

``--before REV`` runs the same against ``staticsrv/`` as it was at REV
(``git archive``; read only), for a before/after table.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import REPO, before_tree, make_log, md_table

log = make_log("live_large")
TAG = b'<script src="/__staticsrv__/live.js"></script>'
_URL = re.compile(rb"at https?://127\.0\.0\.1:(\d+)/")


def write_pages(root: Path, mb: int) -> dict[str, tuple[bytes, int]]:
    """The two pages; name -> (sha256 of the expected answer, its length)."""
    line = b"<p class='row'>" + b"lorem ipsum dolor sit amet " * 3 + b"</p>\n"
    block = line * (1024 * 1024 // len(line))
    layouts = {
        # (before the tag, after the tag): the tag goes between them.
        "head-first.html": (b"<html><head><title>big</title>", b"</head><body>\n"),
        "body-last.html": (b"<html><script>'</head>'</script><body>\n", b"</body></html>\n"),
    }
    pages = {}
    for name, (top, rest) in layouts.items():
        want = hashlib.sha256()
        size = 0
        with (root / name).open("wb") as f:
            pieces = [top, *([block] * mb)] if name == "body-last.html" else [top]
            after = [rest] if name == "body-last.html" else [rest, *([block] * mb)]
            for piece in pieces:
                f.write(piece)
                want.update(piece)
                size += len(piece)
            want.update(TAG)
            for piece in after:
                f.write(piece)
                want.update(piece)
                size += len(piece)
        pages[name] = (want.digest(), size + len(TAG))
    return pages


def start(root: Path, pythonpath: Path) -> tuple[subprocess.Popen[bytes], int]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(pythonpath))
    cmd = [sys.executable, "-m", "staticsrv", "--root", str(root), "--port", "0", "-q", "--live"]
    # cwd: "python -m" puts it first on sys.path, so it picks the package measured.
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=str(pythonpath)
    )
    assert proc.stdout is not None
    seen = b""
    while b"\n" not in seen:
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        if not ready:
            raise RuntimeError(f"no startup line: {seen!r}")
        more = os.read(proc.stdout.fileno(), 4096)
        if not more:
            raise RuntimeError(f"server exited: {seen!r}")
        seen += more
    m = _URL.search(seen)
    assert m is not None, seen
    return proc, int(m.group(1))


def hwm_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def download(port: int, name: str, out: list[tuple[float, bytes, int]]) -> None:
    """One GET: (seconds to the first body byte, sha256 of the body, its length);
    (nan, b"", -1) when the server closed or reset the connection first."""
    try:
        _download(port, name, out)
    except OSError as exc:  # reset, refused, or closed before the head
        log(f"a GET of {name} failed: {exc!r}")
        out.append((float("nan"), b"", -1))


def _download(port: int, name: str, out: list[tuple[float, bytes, int]]) -> None:
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=300) as sock:
        sock.sendall(
            f"GET /{name} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
        )
        buf = b""
        while b"\r\n\r\n" not in buf:
            more = sock.recv(65536)
            if not more:
                raise ConnectionError("closed before the head")
            buf += more
        body = buf.split(b"\r\n\r\n", 1)[1]
        while not body:
            body = sock.recv(65536)
        first = time.monotonic() - t0
        got, n = hashlib.sha256(body), len(body)
        while more := sock.recv(1 << 20):
            got.update(more)
            n += len(more)
    out.append((first, got.digest(), n))


def measure(label: str, pythonpath: Path, root: Path, pages: dict[str, tuple[bytes, int]],
            clients: int) -> list[list[str]]:  # fmt: skip
    rows = []
    for name, (digest, length) in pages.items():
        proc, port = start(root, pythonpath)
        try:
            out: list[tuple[float, bytes, int]] = []
            t0 = time.monotonic()
            threads = [
                threading.Thread(target=download, args=(port, name, out)) for _ in range(clients)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.monotonic() - t0
            later: list[tuple[float, bytes, int]] = []
            download(port, name, later)
            peak = hwm_mib(proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)
        right = sum(d == digest and n == length for _, d, n in out + later)
        first = max((f for f, _, n in out if n >= 0), default=float("nan"))
        rows.append([label, name, f"{first * 1000:.0f}", f"{later[0][0] * 1000:.1f}",
                     f"{wall:.1f}", f"{peak:.1f}", f"{right} of {clients + 1}"])  # fmt: skip
        log(" | ".join(rows[-1]))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mb", type=int, default=200)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--before", metavar="REV", help="also run staticsrv as it was at REV")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pages = write_pages(root, args.mb)
        rows = []
        if args.before:
            rows += measure(f"before ({args.before})", before_tree(args.before), root, pages,
                            args.clients)  # fmt: skip
        rows += measure("after", REPO, root, pages, args.clients)
    head = ["code", "page", f"first byte, {args.clients} at once (ms)", "first byte, later (ms)",
            "round (s)", "server VmHWM (MiB)", "GETs with the right bytes"]  # fmt: skip
    print(f"{args.clients} concurrent GETs of a {args.mb} MiB page under --live\n")
    print("\n".join(md_table(head, rows, "llrrrrl")))


if __name__ == "__main__":
    main()
