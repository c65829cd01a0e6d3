"""``--workers N``: N server processes sharing one port through SO_REUSEPORT.

The parent reserves the address (bound, never listening, so the kernel never
hands it a connection), forks the workers, forwards SIGINT/SIGTERM/SIGHUP to
them as SIGTERM, restarts a worker that dies unexpectedly, and exits 0 once
all have stopped (1 when it gave up on workers that keep crashing).  A
second stop signal kills the workers and exits 130 at once, as the
single-process server does.  Each worker is the ordinary
single-process server with its own event loop and caches; the kernel spreads
new connections across their listen queues.

Workers die with their parent, however it ends (``kill -9`` included), so
they never keep an orphaned port serving an old root: on Linux the kernel
sends them SIGTERM (``PR_SET_PDEATHSIG``); elsewhere each worker watches
the read end of a pipe whose only writer is the parent, and stops when it
reads end-of-file.
"""

from __future__ import annotations

import contextlib
import ctypes
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
    from staticsrv.net.tls import Setup

RESTART_WINDOW = 10.0  # seconds
RESTART_LIMIT = 10  # crashes within the window before the supervisor gives up
STOP_GRACE = 10.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
EXIT_FORCED = 130  # a second Ctrl+C, as in the single-process server
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def _die_with_parent(parent: int) -> bool:
    """Ask the kernel for SIGTERM when ``parent`` dies; False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        # The running program's own symbols include libc's: no library search
        # (find_library would spawn ldconfig in every worker).
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:
        # The parent died between fork and prctl: the signal will never come.
        os.kill(os.getpid(), signal.SIGTERM)
    return True


def reuse_port_supported() -> bool:
    """SO_REUSEPORT spreads connections over processes (Linux, BSD, macOS; not Windows)."""
    return hasattr(socket, "SO_REUSEPORT")


def run_workers(config: Config, shown_root: str, tls: Setup | None = None) -> int:
    from staticsrv.app import run, welcome
    from staticsrv.config import PORT_FALLBACK
    from staticsrv.net.server import BindError, bind, bind_any

    if not reuse_port_supported():
        click.echo("staticsrv: error: --workers needs SO_REUSEPORT (Linux, BSD, macOS)", err=True)
        return 2  # a usage error on this platform, like any other bad argument
    try:
        # SO_REUSEPORT lets any process of the same user join a port, so a
        # second "staticsrv -w N" on it would silently take half the traffic.
        # An exclusive bind first fails on a port anyone listens on; it is
        # held until the shared reservation is made, so nothing slips between.
        ports = PORT_FALLBACK if config.port_fallback else (config.port,)
        probe, busy = bind_any(config.host, ports, listen=False)
        with probe:
            port = probe.getsockname()[1]
            reserve = bind(config.host, port, reuse_port=True, listen=False)
    except BindError as exc:
        click.echo(f"staticsrv: error: {exc}", err=True)
        return 1
    config = dataclasses.replace(config, port=port, port_fallback=False)
    # Each worker writes one byte here once it listens; the URL is printed
    # only when all do, so a client that reads it can connect at once.
    ready_r, ready_w = os.pipe()
    # The parent's lifeline: workers that cannot use PR_SET_PDEATHSIG watch
    # life_r; the kernel closes life_w when the parent ends, however it ends.
    life_r, life_w = os.pipe()
    parent = os.getpid()

    stopping = False
    gave_up = False
    children: dict[int, int] = {}
    # The readiness pipe serves the first start only: the parent closes both
    # ends once every worker listens, and a restarted worker has nothing to
    # report (the URL is printed already), nor any end of it to close.
    startup = True

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:
            # The child: default signal dispositions, the parent's socket closed.
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            # Its own process group: a Ctrl+C in the terminal reaches the
            # parent alone, which stops the workers once; otherwise each
            # worker would see the SIGINT and then the parent's SIGTERM,
            # and take the pair for a second Ctrl+C (a forced exit).
            os.setpgid(0, 0)
            reserve.close()
            if startup:
                os.close(ready_r)
            os.close(life_w)
            watch = None if _die_with_parent(parent) else life_r
            status = 1

            def ready() -> None:
                os.write(ready_w, b"!")
                os.close(ready_w)

            try:
                status = run(
                    config,
                    shown_root,
                    announce=False,
                    on_ready=ready if startup else None,
                    tls=tls,
                    parent_watch=watch,
                )
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)
        children[pid] = index

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        if stopping and signum:
            # A second Ctrl+C (or TERM, or HUP): no more waiting for in-flight
            # answers.  The workers go now, so the port is free on return.
            for pid in list(children):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            _reap(children)
            click.echo("staticsrv: forced exit", err=True)
            os._exit(EXIT_FORCED)
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    # SIGHUP (the terminal closed, or someone signalling the parent alone)
    # stops the group like SIGTERM; ignoring it would orphan the workers.
    for sig in STOP_SIGNALS:
        signal.signal(sig, on_signal)
    for index in range(config.workers):
        spawn(index)
    if not _wait_ready(ready_r, config.workers, children):
        click.echo("staticsrv: error: workers failed to start", err=True)
        on_signal(0, None)  # 0: the supervisor's own decision, not a signal
        _reap(children)
        return 1
    os.close(ready_r)
    os.close(ready_w)
    startup = False
    welcome(config, f"{shown_root} with {config.workers} workers", reserve, busy, tls)

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
            gave_up = True
            on_signal(0, None)  # 0: the supervisor's own decision, not a signal
            continue
        spawn(index)
    reserve.close()
    return 1 if gave_up else 0


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
