#!/usr/bin/env python3
"""Benchmarks of ``--live --poll``: edit-to-event latency and idle CPU.

    .venv/bin/python benchmarks/live_poll.py                 # prints a Markdown section
    .venv/bin/python benchmarks/live_poll.py --edits 10 --files 2000 --idle 5

* **Latency**: from just before a page is written to the ``reload`` event
  read off an open event stream, ``--edits`` times, with ``--poll`` at its
  default interval (300 ms) and, for comparison, with OS events.  Edits
  are spaced beyond the storm guard's window (a user's next save).
* **Idle CPU**: the server's user+system CPU time (``/proc/PID/stat``)
  over ``--idle`` seconds with nothing changing, on a tree of ``--files``
  files in 100 folders, with ``--poll`` and with OS events.

The servers are real subprocesses on 127.0.0.1, port 0; runs are bounded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from live import STORM_WINDOW, open_stream, percentile, server, wait_event

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def make_tree(root: Path, files: int) -> None:
    per = max(1, files // 100)
    for d in range(100):
        folder = root / f"d{d:02}"
        folder.mkdir()
        for i in range(per):
            (folder / f"f{i:04}.html").write_text(f"<p>{d} {i}</p>\n")
    (root / "index.html").write_text("<h1>home</h1>\n")


def latency(root: Path, edits: int, args: list[str]) -> list[float]:
    page = root / "d50" / "f0000.html"
    out: list[float] = []
    with server(root, "--live", *args) as (_pid, port), open_stream(port) as sock:
        for i in range(edits):
            start = time.perf_counter()
            page.write_text(f"<p>edit {i}</p>\n")
            wait_event(sock, b"reload")
            out.append((time.perf_counter() - start) * 1000)
            time.sleep(STORM_WINDOW + 0.1)
    return out


def idle_cpu(root: Path, seconds: float, args: list[str]) -> float:
    """Percent of one core used while nothing changes."""
    with server(root, "--live", *args) as (pid, port), open_stream(port):
        time.sleep(1.0)  # the first scan is done by hello; let start-up settle
        before, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(seconds)
        used, took = cpu_seconds(pid) - before, time.monotonic() - t0
    return 100 * used / took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--idle", type=float, default=10.0)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "site"
        root.mkdir()
        make_tree(root, opts.files)
        load0 = os.getloadavg()[0]
        rows = []
        for label, args in (("--poll (300 ms)", ["--poll"]), ("OS events", [])):
            lat = latency(root, opts.edits, args)
            cpu = idle_cpu(root, opts.idle, args)
            rows.append((label, lat, cpu))
        load1 = os.getloadavg()[0]
    print(f"### --poll ({opts.files:,} files in 100 folders, {opts.edits} edits)\n")
    print("| watching | edit→event median | p99 | min | max | idle CPU (% of a core) |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, lat, cpu in rows:
        print(
            f"| {label} | {statistics.median(lat):.1f} ms | {percentile(lat, 0.99):.1f} ms"
            f" | {min(lat):.1f} ms | {max(lat):.1f} ms | {cpu:.2f} % |"
        )
    print(f"\nLoad average (1 min) at the start and the end: {load0:.1f} and {load1:.1f}.")


if __name__ == "__main__":
    main()
