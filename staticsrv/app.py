"""The application lifecycle: event loop choice, signals, run until stopped.

Owns: picking the loop (uvloop when installed, asyncio otherwise), turning
SIGINT/SIGTERM/SIGHUP into a graceful stop (and a second one into an
immediate exit), the banner, and :func:`run`, which the CLI and each worker
process call.  May not touch: option parsing (the CLI's), HTTP.

Portability: where the loop cannot take signal handlers
(``loop.add_signal_handler`` raises NotImplementedError on Windows), plain
``signal.signal`` handlers hand the stop to the loop thread-safely.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from staticsrv.config import PORT_FALLBACK, Config, has_uvloop

if TYPE_CHECKING:
    from staticsrv.net.tls import Setup

EXIT_FORCED = 130  # a second Ctrl+C: as a shell reports a SIGINT'ed job
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def loop_runner(choice: str) -> Callable[[Coroutine[Any, Any, int]], int]:
    """asyncio.run or uvloop.run, as chosen (auto: uvloop when installed)."""
    if choice != "asyncio" and has_uvloop():
        import uvloop

        runner: Callable[[Coroutine[Any, Any, int]], int] = uvloop.run
        return runner
    return asyncio.run


def install_stop_signals(
    loop: asyncio.AbstractEventLoop, stop: asyncio.Event, *, loop_handlers: bool = True
) -> None:
    """The first stop signal sets ``stop``; a second one ends the process at once.

    ``loop_handlers=False`` forces the portable path (what Windows gets).
    """

    def on_signal() -> None:
        if stop.is_set():
            # Someone pressed Ctrl+C again while in-flight answers finish:
            # they want out now, not after the grace period (uvicorn does the same).
            sys.stderr.write("staticsrv: forced exit\n")
            sys.stderr.flush()
            os._exit(EXIT_FORCED)
        stop.set()

    for sig in STOP_SIGNALS:
        if loop_handlers:
            try:
                loop.add_signal_handler(sig, on_signal)
                continue
            except (NotImplementedError, RuntimeError):
                pass
        with contextlib.suppress(ValueError, OSError):  # not the main thread
            signal.signal(sig, lambda _s, _f: loop.call_soon_threadsafe(on_signal))


def tls_setup(config: Config) -> tuple[Setup | None, str]:
    """The TLS the config asks for, or (None, the one-line error)."""
    from staticsrv.net.tls import setup

    try:
        return setup(config), ""
    except ValueError as exc:
        return None, str(exc)


def welcome(
    config: Config, shown_root: str, lsock: socket.socket, busy: list[int], tls: Setup | None
) -> None:
    """The banner (URLs, then the TLS set-up), QR code and browser, once the socket listens."""
    from staticsrv import banner
    from staticsrv.http.routing import base_url

    local, lan = banner.urls(lsock, base_url(config.base), config.scheme)
    lines = banner.lines(shown_root, local, lan, busy)
    if tls is not None:
        lines += tls.banner
    print("\n".join(lines), flush=True)
    if config.auth is not None:
        from staticsrv.http.auth import plain_http_warning

        warning = plain_http_warning(config.host, config.scheme)
        if warning:
            sys.stderr.write(warning + "\n")
    if config.proxy_insecure:
        sys.stderr.write("staticsrv: warning: --proxy-insecure: https upstreams are not verified\n")
    if config.live:
        from staticsrv.live.mounts import auto_poll_reason
        from staticsrv.live.watch import describe

        reason = None if config.poll else auto_poll_reason((config.root, *config.watch))
        print("\n".join(describe(config, reason)), flush=True)
    if config.qr:
        if lan:
            print(banner.qr_text(lan[0]), end="", flush=True)
        else:
            sys.stderr.write("staticsrv: --qr: no LAN URL to show (use --host 0.0.0.0)\n")
    if config.open_browser:
        banner.open_browser(local)


def run(
    config: Config,
    shown_root: str,
    *,
    announce: bool = True,
    on_ready: Callable[[], None] | None = None,
    tls: Setup | None = None,
    parent_watch: int | None = None,
) -> int:
    """Bind, serve until a stop signal, return the exit status.

    ``on_ready`` runs once the socket listens (the worker supervisor waits
    for it before announcing the URL).  ``tls`` is the context built once
    for the process (the CLI builds it before forking workers).
    ``parent_watch`` is the read end of a pipe only the parent writes to:
    its end-of-file (the parent is gone) stops the server like SIGTERM.
    """
    from staticsrv.net.accesslog import stderr_sink
    from staticsrv.net.server import BindError, ServerCore, bind_also, bind_any

    if tls is None and config.scheme == "https":
        tls, error = tls_setup(config)
        if tls is None:
            sys.stderr.write(f"staticsrv: error: {error}\n")
            return 2
    ports = PORT_FALLBACK if config.port_fallback else (config.port,)
    try:
        lsock, busy = bind_any(config.host, ports, reuse_port=config.workers > 1)
        try:
            also = bind_also(config.host, lsock, reuse_port=config.workers > 1)
        except BindError:
            lsock.close()
            raise
    except BindError as exc:
        sys.stderr.write(f"staticsrv: error: {exc}\n")
        return 1

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        install_stop_signals(loop, stop)
        if parent_watch is not None:
            fd = parent_watch

            def parent_gone() -> None:
                loop.remove_reader(fd)
                stop.set()

            loop.add_reader(fd, parent_gone)
        # Announced only once a stop signal is handled: a script that reads
        # the URL and at once sends SIGTERM must get a clean stop (exit 0),
        # not the default action that kills the process.
        if announce:
            welcome(config, shown_root, lsock, busy, tls)
        if on_ready is not None:
            on_ready()
        core = ServerCore(
            config,
            access_log=None if config.quiet else stderr_sink,
            tls=None if tls is None else tls.context,
        )
        await core.serve(lsock, stop, also)
        return 0

    try:
        return loop_runner(config.loop)(main())
    except KeyboardInterrupt:
        return 0  # a Ctrl+C that arrived before the handlers were in place
