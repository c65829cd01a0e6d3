"""The command line: the only place a :class:`Config` is built.

Every user mistake ends in one line on stderr and exit status 2, never a
traceback (click's own multi-line usage errors are folded into one line).
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import click

from staticsrv import __version__
from staticsrv.config import Config, Timeouts

_DEFAULT_TIMEOUTS = Timeouts()

EXIT_USAGE = 2


def _fail(message: str) -> None:
    click.echo(f"staticsrv: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


MAX_SECONDS = 86400.0  # a day: any longer deadline is a typo, not a choice
# RFC 9111 §1.2.2: caches treat larger delta-seconds as 2^31 anyway.
MAX_AGE_LIMIT = 2**31


def _seconds(_ctx: click.Context, param: click.Parameter, value: float) -> float:
    # float() takes "nan" and "inf", which would silently turn a deadline off.
    if not (math.isfinite(value) and 0 < value <= MAX_SECONDS):
        raise click.BadParameter(f"must be greater than 0 and at most {MAX_SECONDS:g}")
    return value


def _port(_ctx: click.Context, param: click.Parameter, value: str | int) -> int:
    text = str(value)
    if not (text.isdecimal() and 0 <= int(text) <= 65535):
        raise click.BadParameter(f"{text!r} is not a port number (0 to 65535)")
    return int(text)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("root_arg", metavar="[ROOT]", required=False, type=click.Path())
@click.option("--root", "root_opt", type=click.Path(), help="Folder to serve (default: .).")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind; 0.0.0.0 for the LAN."
)
@click.option(
    "--port",
    "-p",
    default="8080",
    metavar="PORT",
    callback=_port,
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@click.option("--no-listing", is_flag=True, help="Answer 404 for folders without index.html.")
@click.option(
    "--dotfiles", is_flag=True, help="Serve and list dotfiles such as .env (hidden by default)."
)
@click.option(
    "--cache",
    "max_age",
    type=click.IntRange(0, MAX_AGE_LIMIT),
    default=None,
    metavar="SECONDS",
    help="Send Cache-Control: max-age=SECONDS (default: no-cache, always revalidate).",
)
@click.option("--no-cache", "no_store", is_flag=True, help="Send Cache-Control: no-store.")
@click.option("--no-compress", is_flag=True, help="Do not gzip text responses on the fly.")
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Processes sharing the port (SO_REUSEPORT).",
)
@click.option(
    "--loop",
    type=click.Choice(["auto", "asyncio", "uvloop"]),
    default="auto",
    show_default=True,
    help="Event loop; auto uses uvloop when installed.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(1),
    default=1024,
    show_default=True,
    help="Open connections at once; more wait in the listen backlog.",
)
@click.option(
    "--head-timeout",
    type=float,
    metavar="SECONDS",
    callback=_seconds,
    default=_DEFAULT_TIMEOUTS.head,
    show_default=True,
    help="Seconds to receive a whole request head.",
)
@click.option(
    "--keepalive-timeout",
    type=float,
    metavar="SECONDS",
    callback=_seconds,
    default=_DEFAULT_TIMEOUTS.keepalive,
    show_default=True,
    help="Seconds an idle connection stays open.",
)
@click.option(
    "--send-timeout",
    type=float,
    metavar="SECONDS",
    callback=_seconds,
    default=_DEFAULT_TIMEOUTS.send,
    show_default=True,
    help="Seconds a client may stop reading before it is dropped.",
)
@click.option("--quiet", "-q", is_flag=True, help="No access log.")
@click.version_option(__version__, "--version", "-V", prog_name="staticsrv")
def command(
    root_arg: str | None,
    root_opt: str | None,
    host: str,
    port: int,
    no_listing: bool,
    dotfiles: bool,
    max_age: int | None,
    no_store: bool,
    no_compress: bool,
    workers: int,
    loop: str,
    max_connections: int,
    head_timeout: float,
    keepalive_timeout: float,
    send_timeout: float,
    quiet: bool,
) -> None:
    """Serve the files under ROOT over HTTP, for local development.

    \b
    Examples:
      staticsrv                      serve the current folder on 127.0.0.1:8080
      staticsrv ./site --port 0      any free port
      staticsrv --root docs/_build/html --host 0.0.0.0
    """
    if root_arg is not None and root_opt is not None and root_arg != root_opt:
        _fail("give the root either as ROOT or as --root, not both")
    root = root_opt if root_opt is not None else root_arg if root_arg is not None else "."
    if not os.path.exists(root):
        _fail(f"root {root!r} does not exist")
    if not os.path.isdir(root):
        _fail(f"root {root!r} is not a folder")
    if not os.access(root, os.R_OK | os.X_OK):
        _fail(f"root {root!r} is not readable")
    if max_age is not None and no_store:
        _fail("--cache and --no-cache exclude each other")
    if loop == "uvloop" and not _has_uvloop():
        _fail("--loop uvloop needs uvloop: pip install 'staticsrv[fast]'")
    config = Config(
        root=os.path.realpath(root),
        host=host,
        port=port,
        listing=not no_listing,
        dotfiles=dotfiles,
        quiet=quiet,
        max_age=max_age,
        no_store=no_store,
        compress=not no_compress,
        workers=workers,
        loop=loop,
        max_connections=max_connections,
        timeouts=Timeouts(head=head_timeout, keepalive=keepalive_timeout, send=send_timeout),
    )
    shown = root
    if workers > 1:
        from staticsrv.workers import run_workers

        sys.exit(run_workers(config, shown))
    sys.exit(run(config, shown))


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def loop_runner(choice: str) -> Callable[[Coroutine[Any, Any, int]], int]:
    """asyncio.run or uvloop.run, as chosen (auto: uvloop when installed)."""
    if choice != "asyncio" and _has_uvloop():
        import uvloop

        runner: Callable[[Coroutine[Any, Any, int]], int] = uvloop.run
        return runner
    return asyncio.run


def run(
    config: Config,
    shown_root: str,
    *,
    announce: bool = True,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Bind, serve until SIGINT/SIGTERM, return the exit status.

    ``on_ready`` runs once the socket listens (the worker supervisor waits
    for it before announcing the URL).
    """
    from staticsrv.server import BindError, Server, bind, bound_url, stderr_log

    try:
        lsock = bind(config.host, config.port, reuse_port=config.workers > 1)
    except BindError as exc:
        click.echo(f"staticsrv: error: {exc}", err=True)
        return 1
    if announce:
        click.echo(f"Serving {shown_root} at {bound_url(lsock)} (Ctrl+C to stop)")
        sys.stdout.flush()
    if on_ready is not None:
        on_ready()

    async def main() -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server = Server(config, access_log=None if config.quiet else stderr_log)
        await server.serve(lsock, stop)
        return 0

    return loop_runner(config.loop)(main())


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command, folding click's usage errors into one line."""
    try:
        status = command.main(args=argv, prog_name="staticsrv", standalone_mode=False)
    except click.ClickException as exc:
        _fail(" ".join(exc.format_message().split()))
    except click.exceptions.Abort:
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(0)
    # --help and --version return here with their exit status.
    sys.exit(status if isinstance(status, int) else 0)
