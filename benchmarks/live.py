#!/usr/bin/env python3
"""Benchmarks of ``--live``: write-to-event latency, memory per event stream,
and the small-file hot path with live reload off.

    .venv/bin/python benchmarks/live.py                      # all three, writes benchmarks/LIVE.md
    .venv/bin/python benchmarks/live.py --edits 20 --streams 50 --no-throughput

* **Latency**: the time from just before a file is written to the moment
  the ``reload`` event arrives on an open event stream (a raw socket
  client), over ``--edits`` edits, with the default ``--live-delay`` (100 ms
  of quiet) and with ``--live-delay 0`` (the watcher's own overhead).
* **Memory**: the server's RSS (``/proc/PID/status``) before and after
  ``--streams`` event streams are open and have each received ``hello``.
* **Small-file throughput** without ``--live``: ``wrk -c64`` on a 1 KiB
  HTML file against this tree and against ``--base REF`` (default: the
  commit before live reload), interleaved rounds, so the hot path can be
  seen not to move.  Needs ``wrk``; skipped with ``--no-throughput``.

The servers run as real subprocesses on 127.0.0.1, port 0; the load is
bounded in count and time.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STORM_WINDOW = 0.5  # staticsrv.live.settle.STORM_WINDOW
DEFAULT_OUT = REPO / "benchmarks" / "LIVE.md"
DEFAULT_BASE = "36c6dc6"  # the tree just before --live
_URL = re.compile(rb"Serving .* at http://127\.0\.0\.1:(\d+)/")
EVENTS = b"GET /__staticsrv__/events HTTP/1.1\r\nHost: localhost\r\n\r\n"


def log(msg: str) -> None:
    print(f"live.py: {msg}", file=sys.stderr, flush=True)


def python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if os.access(venv, os.X_OK) else sys.executable


@contextmanager
def server(root: Path, *args: str, tree: Path = REPO) -> Iterator[tuple[int, int]]:
    """``python -m staticsrv ROOT --port 0 --quiet ARGS`` from ``tree``: (pid, port)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.Popen(
        [python(), "-m", "staticsrv", str(root), "--port", "0", "--quiet", *args],
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        port = 0
        deadline = time.monotonic() + 20
        while not port:
            line = proc.stdout.readline()
            if not line or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            found = _URL.search(line)
            if found:
                port = int(found.group(1))
        yield proc.pid, port
    finally:
        proc.terminate()
        proc.wait(20)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def open_stream(port: int) -> socket.socket:
    """An event stream that has received its hello (the server watches by then)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(EVENTS)
    got = b""
    while b"event: hello" not in got:
        data = sock.recv(65536)
        if not data:
            raise RuntimeError("stream closed before hello")
        got += data
    return sock


def wait_event(sock: socket.socket, name: bytes) -> None:
    got = b""
    while b"event: " + name not in got:
        data = sock.recv(65536)
        if not data:
            raise RuntimeError("stream closed")
        got += data


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency(root: Path, edits: int, delay_ms: int) -> list[float]:
    page = root / "index.html"
    out: list[float] = []
    with server(root, "--live", "--live-delay", str(delay_ms)) as (_pid, port):
        sock = open_stream(port)
        with sock:
            for i in range(edits):
                start = time.perf_counter()
                page.write_text(f"<h1>edit {i}</h1>\n")
                wait_event(sock, b"reload")
                out.append((time.perf_counter() - start) * 1000)
                # A user's next save, not a storm: an edit this soon after an
                # announcement would wait for the storm guard's longer quiet.
                time.sleep(STORM_WINDOW + 0.1)
    return out


def stream_memory(root: Path, streams: int) -> tuple[int, int, int]:
    """RSS in KiB: idle after one page load, with ``streams`` open, and the count."""
    with server(root, "--live") as (pid, port):
        warm = open_stream(port)  # the first stream loads the code paths
        warm.close()
        time.sleep(0.5)  # lets the server notice the close before the baseline
        before = rss_kib(pid)
        socks = [open_stream(port) for _ in range(streams)]
        try:
            after = rss_kib(pid)
        finally:
            for s in socks:
                s.close()
    return before, after, len(socks)


def wrk_rps(port: int, seconds: int) -> float:
    result = subprocess.run(
        ["wrk", "-t1", "-c64", f"-d{seconds}s", f"http://127.0.0.1:{port}/small.html"],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if not found:
        raise RuntimeError(result.stdout)
    return float(found.group(1))


def throughput(root: Path, base: str, rounds: int, seconds: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        base_tree = export(base, Path(tmp))
        trees: dict[str, tuple[Path, tuple[str, ...]]] = {
            f"before --live ({base})": (base_tree, ()),
            "this tree": (REPO, ()),
            "this tree, --live on": (REPO, ("--live",)),
        }
        results: dict[str, list[float]] = {name: [] for name in trees}
        names = list(trees)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                tree, extra = trees[name]
                with server(root, *extra, tree=tree) as (_pid, port):
                    wrk_rps(port, 1)  # warm-up
                    results[name].append(wrk_rps(port, seconds))
                log(f"round {r + 1} {name}: {results[name][-1]:.0f} req/s")
        return results


# Per-request cost of the handler's hot path (a repeated GET of a small
# file, answered from the memo after a fresh stat), in-process: far less
# noisy on a shared machine than a socket benchmark.
HOTPATH = """
import asyncio, os, sys, time
from staticsrv.config import Config
from staticsrv.http.limits import Limits
from staticsrv.site.handler import Handler
from staticsrv.http.http11 import parse_head
root, n = sys.argv[1], int(sys.argv[2])
req = parse_head(b"GET /small.html HTTP/1.1\\r\\nHost: x\\r\\n", Limits())
async def main():
    h = Handler(Config(root=os.path.realpath(root)))
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            await h.handle(req)
        best = min(best, time.perf_counter() - t)
    print(best / n * 1e6)
asyncio.run(main())
"""


def hotpath(root: Path, base: str, rounds: int, n: int = 100_000) -> dict[str, list[float]]:
    """Microseconds per memo-hit request: best of 5 runs, in ``rounds`` processes each."""
    with tempfile.TemporaryDirectory() as tmp:
        base_tree = export(base, Path(tmp))
        trees = {f"before --live ({base})": base_tree, "this tree": REPO}
        results: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(rounds):
            for name, tree in trees.items():
                out = subprocess.run(
                    [python(), "-c", HOTPATH, str(root), str(n)],
                    cwd=tree,
                    env={**os.environ, "PYTHONPATH": str(tree)},
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                results[name].append(float(out))
        return results


def export(ref: str, into: Path) -> Path:
    """The ``staticsrv`` package as of ``ref``, in ``into/base``."""
    tree = into / "base"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "staticsrv"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def rounds_rows(
    results: dict[str, list[float]], best: Callable[[list[float]], float], fmt: str
) -> list[str]:
    """Table rows of per-round figures: name, the best round, the median, every round."""
    rows = []
    for name, values in results.items():
        shown = ", ".join(fmt.format(v) for v in values)
        figures = (fmt.format(best(values)), fmt.format(statistics.median(values)))
        rows.append(f"| {name} | {figures[0]} | {figures[1]} | {shown} |")
    return [*rows, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--base", default=DEFAULT_BASE, help="git ref to compare throughput with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument("--md", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    load_start = os.getloadavg()[0]
    lines = ["# Live reload benchmarks (`benchmarks/live.py`)", ""]
    lines += [
        f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, Linux inotify"
        " through watchfiles.",
        "",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "site"
        root.mkdir()
        (root / "index.html").write_text("<h1>start</h1>\n")
        (root / "small.html").write_text("<p>" + "x" * 1010 + "</p>\n")

        lines += [
            f"## Write-to-event latency ({args.edits} edits)",
            "",
            "From just before `write()` of a page to the `reload` event read off an open"
            " event stream.",
            "",
            "| --live-delay | median | p99 | min | max |",
            "|---|---:|---:|---:|---:|",
        ]
        for delay in (100, 0):
            log(f"latency, --live-delay {delay}")
            ms = latency(root, args.edits, delay)
            label = f"{delay} ms" + (" (default)" if delay == 100 else "")
            lines.append(
                f"| {label} | {statistics.median(ms):.1f} ms | {percentile(ms, 0.99):.1f} ms"
                f" | {min(ms):.1f} ms | {max(ms):.1f} ms |"
            )
        lines += [
            "",
            "With 0 ms the figure is the watcher's own: watchfiles hands a group over"
            " after a 20 ms step without writes, and a batch is announced only after"
            " the next step in which it saw no change at all (a write it still holds"
            " is never left out of a batch).",
            "",
            "For comparison, as quoted in issue 9: live-server about 100 ms,"
            " browser-sync about 500 ms.",
            "",
        ]

        log(f"memory with {args.streams} streams")
        before, after, count = stream_memory(root, args.streams)
        lines += [
            f"## Memory with {count} open event streams",
            "",
            "| RSS before | RSS with streams | difference | per stream |",
            "|---:|---:|---:|---:|",
            f"| {before / 1024:.1f} MiB | {after / 1024:.1f} MiB"
            f" | {(after - before) / 1024:.2f} MiB | {(after - before) / count:.1f} KiB |",
            "",
        ]

        log("hot path, in-process")
        micro = hotpath(root, args.base, args.rounds)
        lines += [
            "## Small-file hot path without --live (in-process)",
            "",
            "`Handler.handle()` of a repeated `GET /small.html` (a memo hit after a fresh"
            " `stat`), best of 5 x 100,000 calls, in one process per round.",
            "",
            "| tree | best µs/request | median | rounds |",
            "|---|---:|---:|---|",
        ]
        lines += rounds_rows(micro, min, "{:.2f}")

        if not args.no_throughput and shutil.which("wrk"):
            log("small-file throughput")
            results = throughput(root, args.base, args.rounds, args.seconds)
            lines += [
                "## Small-file throughput (1 KiB HTML, wrk -t1 -c64)",
                "",
                f"{args.rounds} interleaved rounds of {args.seconds} s.  Other load on a"
                " shared machine only ever lowers a round, so the best round is the"
                " steadier figure.",
                "",
                "| server | best req/s | median | rounds |",
                "|---|---:|---:|---|",
            ]
            lines += rounds_rows(results, max, "{:.0f}")

    lines.append(
        "Load average (1 min) at the start and the end: "
        + " and ".join(f"{x:.1f}" for x in (load_start, os.getloadavg()[0]))
        + f" on {os.cpu_count()} cores (other work on the machine)."
    )
    lines.append("")
    text = "\n".join(lines)
    args.md.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
