#!/usr/bin/env python3
"""Edit -> visible in Chromium with ``--live``: an HTML edit and a CSS edit.

    .venv/bin/python benchmarks/live_browser.py                # staticsrv alone
    .venv/bin/python benchmarks/live_browser.py --edits 20 \\
        --live-server node_modules/.bin/live-server            # beside live-server

Each server runs as a subprocess with its default settings on 127.0.0.1
(staticsrv: ``--live``, 100 ms of quiet; live-server: ``--no-browser``,
its 100 ms ``--wait``), the page is open in Debian's Chromium through
Playwright, and each figure is the time from just before ``write()`` to:

* **HTML edit**: the first contentful paint of the reloaded page (its
  ``performance.timeOrigin`` plus the paint entry's ``startTime``);
* **CSS edit**: the first animation frame in which the heading's computed
  colour is the new one (a ``requestAnimationFrame`` loop in the page),
  the frame that paints it.

Both sides read the same wall clock (``time.time()`` and the page's
``Date``-based origin).  The servers take turns edit by edit, so load on
the machine falls on both alike.  Then, in process (to read the server's
own count), ``--tabs`` tabs of one site in one browser context, reloaded
once by an edit: the event streams open, with and without SharedWorker.
Prints Markdown tables (copied into ``LIVE.md``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from live import server

PAGE = """<!doctype html>
<html><head><title>bench</title><link rel="stylesheet" href="/style.css"></head>
<body><h1 id="title">{n}</h1><p>{filler}</p></body></html>
"""
FILLER = "Lorem ipsum dolor sit amet. " * 40
COLORS = ("rgb(255, 0, 0)", "rgb(0, 0, 255)")
SPACING = 0.7  # seconds between two edits (staticsrv.live.watch: the storm guard)
WAIT_MS = 10_000
PAUSE = 0.4  # between edits: each one is its own batch, on both servers


def log(msg: str) -> None:
    print(f"live_browser.py: {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def live_server(command: str, root: Path) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [*command.split(), str(root), f"--port={port}", "--host=127.0.0.1", "--no-browser"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("live-server did not start") from None
                time.sleep(0.05)  # allowed: a benchmark waiting for a subprocess
        yield port
    finally:
        proc.terminate()
        proc.wait(20)


@contextmanager
def staticsrv(root: Path) -> Iterator[int]:
    with server(root, "--live") as (_pid, port):
        yield port


class Site:
    """One served folder and the page open on it."""

    def __init__(self, name: str, root: Path, page: Any, ready: str) -> None:
        self.name, self.root, self.page, self.ready = name, root, page, ready
        self.n = 0
        self.html: list[float] = []
        self.css: list[float] = []

    def wait_ready(self) -> None:
        self.page.wait_for_function(self.ready, timeout=WAIT_MS)
        # Each edit is a save of its own: later than the storm guard's window
        # (an edit within 0.5 s of the last announcement waits for quiet).
        time.sleep(SPACING)  # allowed: a benchmark spacing its edits

    def edit_html(self) -> None:
        self.n += 1
        self.wait_ready()
        start = time.time()
        (self.root / "index.html").write_text(PAGE.format(n=self.n, filler=FILLER))
        self.page.wait_for_function(
            f"document.getElementById('title') && document.getElementById('title')"
            f".textContent === '{self.n}'"
            " && performance.getEntriesByName('first-contentful-paint').length > 0",
            timeout=WAIT_MS,
        )
        painted = self.page.evaluate(
            "performance.timeOrigin"
            " + performance.getEntriesByName('first-contentful-paint')[0].startTime"
        )
        self.html.append(painted - start * 1000)

    def edit_css(self) -> None:
        self.n += 1
        color = COLORS[(len(self.css) + 1) % 2]
        self.wait_ready()
        self.page.evaluate(
            """color => { window.__seen = 0;
            const look = () => {
              const h = document.getElementById('title');
              if (h && getComputedStyle(h).color === color) { window.__seen = Date.now(); }
              else { requestAnimationFrame(look); }
            };
            requestAnimationFrame(look); }""",
            color,
        )
        start = time.time()
        (self.root / "style.css").write_text(f"h1 {{ color: {color} }}\n")
        self.page.wait_for_function("window.__seen > 0", timeout=WAIT_MS)
        seen = self.page.evaluate("window.__seen")
        self.css.append(seen - start * 1000)


def make_root(base: Path, name: str) -> Path:
    root = base / name
    root.mkdir()
    (root / "index.html").write_text(PAGE.format(n=0, filler=FILLER))
    (root / "style.css").write_text(f"h1 {{ color: {COLORS[0]} }}\n")
    return root


def row(name: str, kind: str, values: list[float]) -> str:
    ordered = sorted(values)
    return (
        f"| {name} | {kind} | {statistics.median(ordered):.0f} ms | {ordered[0]:.0f} ms"
        f" | {ordered[-1]:.0f} ms | {len(ordered)} |"
    )


def stream_counts(browser: Any, base: Path, tabs: int) -> list[tuple[str, int, int]]:
    """Per mode: (mode, streams open after ``tabs`` tabs loaded, the most at once).

    In process, to read the server's own count; an edit reloads every tab
    once in between, so the count covers the handovers of a reload too.
    """
    import staticsrv
    from staticsrv.config import Config

    found: list[tuple[str, int, int]] = []
    for mode, init in (("SharedWorker", ""), ("leader election", "delete window.SharedWorker;")):
        root = make_root(base, f"tabs-{len(found)}")
        config = Config(root=str(root), port=0, live=True, quiet=True)
        with staticsrv.serve(config=config) as running:
            assert running.core is not None and running.core.hub is not None
            hub = running.core.hub
            context = browser.new_context()
            if init:
                context.add_init_script(init)
            pages = [context.new_page() for _ in range(tabs)]
            for page in pages:
                page.goto(running.url, timeout=WAIT_MS)
            ready = "window.__staticsrvLive && window.__staticsrvLive.run !== null"
            for page in pages:
                page.wait_for_function(ready, timeout=WAIT_MS)
            (root / "index.html").write_text(PAGE.format(n="edited", filler=""))
            for page in pages:
                page.wait_for_function(
                    "document.getElementById('title').textContent === 'edited'", timeout=WAIT_MS
                )
                page.wait_for_function(ready, timeout=WAIT_MS)
            found.append((mode, hub.streams, hub.peak))
            context.close()
    return found


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--edits", type=int, default=20, help="edits of each kind (default 20)")
    p.add_argument("--tabs", type=int, default=12, help="tabs for the stream count (default 12)")
    p.add_argument("--live-server", default="", help="the live-server command to compare with")
    p.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    servers: list[tuple[str, Callable[[Path], AbstractContextManager[int]], str]] = [
        ("staticsrv", staticsrv, "window.__staticsrvLive && window.__staticsrvLive.run !== null"),
    ]
    if args.live_server:
        command = args.live_server
        servers.append(
            (
                "live-server",
                lambda root: live_server(command, root),
                # Its client opens a WebSocket once the page has loaded.
                "document.readyState === 'complete'",
            )
        )
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium)
        sites: list[Site] = []
        with contextlib.ExitStack() as stack:
            for name, start, ready in servers:
                root = make_root(Path(tmp), name)
                port = stack.enter_context(start(root))
                page = browser.new_context().new_page()
                page.goto(f"http://127.0.0.1:{port}/", timeout=WAIT_MS)
                site = Site(name, root, page, ready)
                site.wait_ready()
                page.wait_for_timeout(500)  # live-server's socket, staticsrv's watches
                sites.append(site)
            for i in range(args.edits):
                for site in sites:
                    site.edit_html()
                    site.page.wait_for_timeout(PAUSE * 1000)
                    site.edit_css()
                    site.page.wait_for_timeout(PAUSE * 1000)
                log(f"round {i + 1}/{args.edits}")
        counts = stream_counts(browser, Path(tmp), args.tabs)
        browser.close()
    load = os.getloadavg()[0]
    print("| server | edit | median | min | max | edits |")
    print("|---|---|---:|---:|---:|---:|")
    for site in sites:
        print(row(site.name, "HTML", site.html))
        print(row(site.name, "CSS", site.css))
    print(f"\nLoad average (1 min) at the end: {load:.1f} on {os.cpu_count()} cores.")
    print(f"\n| {args.tabs} tabs, one browser context | streams open | most at once |")
    print("|---|---:|---:|")
    for mode, now, peak in counts:
        print(f"| {mode} | {now} | {peak} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
