"""The command line: the only place a :class:`Config` is built for a process.

Owns: the options as the user types them, their help, and turning every
mistake into one line on stderr and exit status 2, never a traceback
(click's own multi-line usage errors are folded into one line).  Checks and
defaults are :mod:`staticsrv.config`'s, shared with the embedding API.
May not touch: sockets, HTTP.
"""

from __future__ import annotations

import sys

import click

from staticsrv import __version__
from staticsrv.config import DEFAULTS, LOOPS, from_options

EXIT_USAGE = 2


def _fail(message: str) -> None:
    click.echo(f"staticsrv: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def _default(name: str) -> object:
    return DEFAULTS[name]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("root_arg", metavar="[ROOT]", required=False, type=click.Path())
@click.option("--root", "root_opt", type=click.Path(), help="Folder to serve (default: .).")
@click.option(
    "--host",
    default=_default("host"),
    show_default=True,
    help="Address to bind; 0.0.0.0 for the LAN.",
)
@click.option(
    "--port",
    "-p",
    default=str(_default("port")),
    metavar="PORT",
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@click.option("--no-listing", is_flag=True, help="Answer 404 for folders without index.html.")
@click.option(
    "--dotfiles", is_flag=True, help="Serve and list dotfiles such as .env (hidden by default)."
)
@click.option(
    "--cache",
    type=int,
    default=None,
    metavar="SECONDS",
    help="Send Cache-Control: max-age=SECONDS (default: no-cache, always revalidate).",
)
@click.option("--no-cache", is_flag=True, help="Send Cache-Control: no-store.")
@click.option("--no-compress", is_flag=True, help="Do not gzip text responses on the fly.")
@click.option(
    "--workers",
    "-w",
    type=int,
    default=_default("workers"),
    show_default=True,
    help="Processes sharing the port (SO_REUSEPORT).",
)
@click.option(
    "--loop",
    type=click.Choice(LOOPS),
    default=_default("loop"),
    show_default=True,
    help="Event loop; auto uses uvloop when installed.",
)
@click.option(
    "--max-connections",
    type=int,
    default=_default("max_connections"),
    show_default=True,
    help="Open connections at once; more wait in the listen backlog.",
)
@click.option(
    "--head-timeout",
    type=float,
    metavar="SECONDS",
    default=_default("head_timeout"),
    show_default=True,
    help="Seconds to receive a whole request head.",
)
@click.option(
    "--keepalive-timeout",
    type=float,
    metavar="SECONDS",
    default=_default("keepalive_timeout"),
    show_default=True,
    help="Seconds an idle connection stays open.",
)
@click.option(
    "--send-timeout",
    type=float,
    metavar="SECONDS",
    default=_default("send_timeout"),
    show_default=True,
    help="Seconds a client may stop reading before it is dropped.",
)
@click.option(
    "--https",
    is_flag=True,
    help="Serve HTTPS with a certificate from a local CA made (once) in the user's data folder.",
)
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="Serve HTTPS with this PEM certificate (chain); the key may sit in it too.",
)
@click.option(
    "--tls-key",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="PEM key of --tls-cert (when not in the certificate file).",
)
@click.option(
    "--tls-key-password-file",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="File whose first line is the key's password.",
)
@click.option(
    "--print-ca",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=lambda ctx, _param, value: _print_ca(ctx) if value else None,
    help="Print the local CA's certificate (PEM), making it if needed, and exit.",
)
@click.option("--quiet", "-q", is_flag=True, help="No access log.")
@click.version_option(__version__, "--version", "-V", prog_name="staticsrv")
def command(root_arg: str | None, root_opt: str | None, **options: object) -> None:
    """Serve the files under ROOT over HTTP (or HTTPS), for local development.

    \b
    Examples:
      staticsrv                      serve the current folder on 127.0.0.1:8080
      staticsrv ./site --port 0      any free port
      staticsrv --root docs/_build/html --host 0.0.0.0
      staticsrv --https --host 0.0.0.0   HTTPS for phones on the LAN
    """
    if root_arg is not None and root_opt is not None and root_arg != root_opt:
        _fail("give the root either as ROOT or as --root, not both")
    root = root_opt if root_opt is not None else root_arg if root_arg is not None else "."
    try:
        config = from_options(root, **options)
    except ValueError as exc:
        _fail(str(exc))
        return
    from staticsrv.app import run, tls_setup

    # Built once, before any worker forks: one CA, one leaf, one context.
    tls, error = tls_setup(config) if config.scheme == "https" else (None, "")
    if error:
        _fail(error)
    if config.workers > 1:
        from staticsrv.workers import run_workers

        sys.exit(run_workers(config, root, tls))
    sys.exit(run(config, root, tls=tls))


def _print_ca(ctx: click.Context) -> None:
    from staticsrv.certs import ensure_ca

    try:
        path = ensure_ca()
    except ValueError as exc:
        _fail(str(exc))
        return
    click.echo(path.read_text("ascii"), nl=False)
    ctx.exit(0)


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
