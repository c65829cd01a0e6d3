"""``--build CMD``: run the command that makes the root, and say how it went.

Owns: :class:`Builder` (one build at a time, at start and after each
settled change of the sources; changes during a build queue exactly one
more), the build's process group and its output, the ``build`` events,
and :class:`BuildingPage` (the answer while the root is missing or
empty).  May not touch: sockets, the watcher's thread (it is handed
settled batches on the loop and asked to flush through ``flush_after``).

Changes inside ROOT during a build are the build's own: they start no
build and are announced once, after the build ends (``css`` when every
path is a stylesheet, else ``reload``).  A failed build announces
nothing: the pages show the failure instead (the ``build`` event).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Protocol

from staticsrv.config import Config
from staticsrv.http.http11 import Request
from staticsrv.http.responses import Response
from staticsrv.live.events import Hub
from staticsrv.live.paths import url_path

log = logging.getLogger("staticsrv")

TAIL_LINES = 200  # of output, shown with a failure
PREFIX = "build| "  # before each line of the command's output on the terminal
FLUSH_WAIT = 2.0  # seconds to wait for the watcher to report the build's writes
KILL_GRACE = 0.5  # seconds between SIGTERM and SIGKILL for the build's group


class Flushable(Protocol):
    flush_after: float | None


def in_root(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class Builder:
    """Runs ``config.build``; see the module docstring."""

    def __init__(
        self, config: Config, hub: Hub, invalidate: Callable[[], None], watcher: Flushable
    ) -> None:
        assert config.build
        self.command = config.build
        self.root = config.root
        self.hub = hub
        self.invalidate = invalidate
        self.watcher = watcher
        self.wanted = asyncio.Event()
        self.wanted.set()  # the first build, at start
        self.busy = True  # from now until the first build's writes are announced
        self.held: set[str] = set()  # ROOT paths the running build changed
        self._flushed: asyncio.Future[None] | None = None
        self.builds = 0  # builds started (tests and the log read it)

    def settled(self, batch: frozenset[str], flushed: bool) -> None:
        """A settled batch from the watcher (on the loop)."""
        root = {p for p in batch if in_root(self.root, p)}
        if len(root) < len(batch):
            self.wanted.set()  # a source changed: one more build (at most)
        if root:
            self.invalidate()
            if self.busy:
                self.held |= root
            else:
                self._announce(root)  # a change in ROOT by hand
        if flushed and self._flushed is not None and not self._flushed.done():
            self._flushed.set_result(None)

    def _announce(self, paths: set[str]) -> None:
        urls = (url_path(self.root, p) for p in paths)
        self.hub.announce(u for u in urls if u is not None)

    async def run(self) -> None:
        """Build whenever wanted, until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            await self.wanted.wait()
            self.wanted.clear()
            self.busy = True
            ok = await self._one()
            # Wait until the watcher has reported everything written before
            # the build ended, so that it is announced once, now.
            self._flushed = loop.create_future()
            self.watcher.flush_after = time.monotonic()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FLUSH_WAIT):
                    await self._flushed
            held, self.held = self.held, set()
            if ok and held:
                self._announce(held)
            self.busy = False

    async def _one(self) -> bool:
        self.builds += 1
        self.hub.build_state("running", self.command)
        start = time.monotonic()
        status, tail = await run_command(self.command)
        took = time.monotonic() - start
        if status == 0:
            log.warning("staticsrv: build ok in %.2f s", took)
            self.hub.build_state("ok", self.command, 0)
            return True
        why = f"exit {status}" if status is not None else "could not start"
        log.warning("staticsrv: build failed (%s) in %.2f s", why, took)
        self.hub.build_state("failed", self.command, status, "\n".join(tail))
        return False


async def run_command(command: str) -> tuple[int | None, collections.deque[str]]:
    """Run ``command`` through the shell in its own process group.

    Its output goes to stderr line by line, prefixed; the last
    :data:`TAIL_LINES` are returned with the exit status (None: it could
    not start).  Cancelled, it ends the whole group before returning.
    """
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    group = (
        {"creationflags": 0x200}  # CREATE_NEW_PROCESS_GROUP
        if os.name == "nt"
        else {"start_new_session": True}  # Ctrl+C in the terminal reaches us, not it
    )
    try:
        proc = await asyncio.create_subprocess_shell(
            command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            **group,
        )
    except OSError as exc:
        tail.append(f"{command}: {exc}")
        return None, tail
    assert proc.stdout is not None
    try:
        while line := await proc.stdout.readline():
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            tail.append(text)
            sys.stderr.write(PREFIX + text + "\n")
            sys.stderr.flush()
        return await proc.wait(), tail
    except BaseException:
        await _end_group(proc)
        raise


async def _end_group(proc: asyncio.subprocess.Process) -> None:
    """End the build and everything it started (the server is stopping)."""
    if proc.returncode is not None:
        return
    if os.name == "nt":
        # The shell's children are not in a group a signal reaches: taskkill
        # ends the whole tree.
        with contextlib.suppress(OSError):
            killer = await asyncio.create_subprocess_exec(
                "taskkill", "/F", "/T", "/PID", str(proc.pid),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            await killer.wait()
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    try:
        async with asyncio.timeout(KILL_GRACE):
            await proc.wait()
    except TimeoutError:
        if os.name != "nt":
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


BUILDING = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Building\xe2\x80\xa6</title>
<style>body{font:1.1rem system-ui,sans-serif;margin:4rem auto;max-width:40rem;color:#444}</style>
</head><body><h1>Building\xe2\x80\xa6</h1>
<p>The site is being built. This page turns into it when the build is done.</p>
<script src="/__staticsrv__/live.js"></script>
</body></html>
"""


class BuildingPage:
    """A rule: while ROOT is missing or empty, a 404 becomes the "building..." page.

    503 with Retry-After (RFC 9110 §15.6.4): the site is coming, not
    missing.  The page holds the live-reload script, so it turns into the
    site on the reload that follows the build.
    """

    reads: frozenset[str] = frozenset()

    def __init__(self, root: str) -> None:
        self.root = root

    def _empty(self) -> bool:
        try:
            with os.scandir(self.root) as entries:
                return next(entries, None) is None
        except OSError:
            return True

    def apply(self, req: Request, resp: Response) -> Response:
        if resp.status != 404 or not self._empty():
            return resp
        fields = (
            ("Content-Type", "text/html; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("Retry-After", "1"),
            ("Content-Length", str(len(BUILDING))),
        )
        return Response(503, fields, b"" if req.method == "HEAD" else BUILDING)
