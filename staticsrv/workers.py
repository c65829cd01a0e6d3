"""``--workers N``: N server processes sharing one port through SO_REUSEPORT.

The parent reserves the address (bound, never listening, so the kernel never
hands it a connection), forks the workers, forwards SIGINT/SIGTERM to them,
restarts a worker that dies unexpectedly, and exits 0 once all have stopped.
Each worker is the ordinary single-process server with its own event loop
and caches; the kernel spreads new connections across their listen queues.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import select
import signal
import socket
import sys
import time
from typing import TYPE_CHECKING

import click

from staticsrv.config import Config

if TYPE_CHECKING:
    from staticsrv.tls import Setup

RESTART_WINDOW = 10.0  # seconds
RESTART_LIMIT = 10  # crashes within the window before the supervisor gives up
STOP_GRACE = 10.0


def reuse_port_supported() -> bool:
    """SO_REUSEPORT spreads connections over processes (Linux, BSD, macOS; not Windows)."""
    return hasattr(socket, "SO_REUSEPORT")


def run_workers(config: Config, shown_root: str, tls: Setup | None = None) -> int:
    from staticsrv.app import banner_extra, run
    from staticsrv.server import BindError, bind, bound_url

    if not reuse_port_supported():
        click.echo("staticsrv: error: --workers needs SO_REUSEPORT (Linux, BSD, macOS)", err=True)
        return 1
    try:
        # SO_REUSEPORT lets any process of the same user join a port, so a
        # second "staticsrv -w N" on it would silently take half the traffic.
        # An exclusive bind first fails on a port anyone listens on; it is
        # held until the shared reservation is made, so nothing slips between.
        probe = bind(config.host, config.port, listen=False)
        with probe:
            port = probe.getsockname()[1]
            reserve = bind(config.host, port, reuse_port=True, listen=False)
    except BindError as exc:
        click.echo(f"staticsrv: error: {exc}", err=True)
        return 1
    config = dataclasses.replace(config, port=port)
    url = bound_url(reserve, config.scheme)
    # Each worker writes one byte here once it listens; the URL is printed
    # only when all do, so a client that reads it can connect at once.
    ready_r, ready_w = os.pipe()

    stopping = False
    children: dict[int, int] = {}

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:
            # The child: default signal dispositions, the parent's socket closed.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            reserve.close()
            os.close(ready_r)
            status = 1

            def ready() -> None:
                os.write(ready_w, b"!")
                os.close(ready_w)

            try:
                status = run(config, shown_root, announce=False, on_ready=ready, tls=tls)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)
        children[pid] = index

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    for index in range(config.workers):
        spawn(index)
    if not _wait_ready(ready_r, config.workers, children):
        click.echo("staticsrv: error: workers failed to start", err=True)
        on_signal(signal.SIGTERM, None)
        _reap(children)
        return 1
    os.close(ready_r)
    click.echo(f"Serving {shown_root} at {url} with {config.workers} workers (Ctrl+C to stop)")
    for line in banner_extra(config, port, tls):
        click.echo(line)
    sys.stdout.flush()

    crashes: list[float] = []
    deadline: float | None = None
    while children:
        if stopping and deadline is None:
            deadline = time.monotonic() + STOP_GRACE
        try:
            if deadline is not None:
                pid, status = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    if time.monotonic() > deadline:
                        for left in children:
                            os.kill(left, signal.SIGKILL)
                    time.sleep(0.05)
                    continue
            else:
                pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        index = children.pop(pid, -1)
        if index < 0 or stopping:
            continue
        code = os.waitstatus_to_exitcode(status)
        click.echo(
            f"staticsrv: worker {index} (pid {pid}) exited with {code}; restarting", err=True
        )
        now = time.monotonic()
        crashes = [t for t in crashes if now - t < RESTART_WINDOW] + [now]
        if len(crashes) > RESTART_LIMIT:
            click.echo("staticsrv: error: workers keep crashing; stopping", err=True)
            on_signal(signal.SIGTERM, None)
            continue
        spawn(index)
    reserve.close()
    return 0


def _wait_ready(fd: int, count: int, children: dict[int, int]) -> bool:
    """Wait until ``count`` workers report that they listen, or one dies first."""
    got = 0
    deadline = time.monotonic() + 30
    while got < count and time.monotonic() < deadline:
        readable, _, _ = select.select([fd], [], [], 0.1)
        if readable:
            got += len(os.read(fd, count - got))
            continue
        pid, _ = os.waitpid(-1, os.WNOHANG)
        if pid != 0:
            children.pop(pid, None)
            return False
    return got >= count


def _reap(children: dict[int, int]) -> None:
    for pid in list(children):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        children.pop(pid, None)
