"""The command line: the only place a :class:`Config` is built for a process.

Owns: the options as the user types them, their help, and turning every
mistake into one line on stderr and exit status 2, never a traceback
(click's own multi-line usage errors are folded into one line).  Checks and
defaults are :mod:`staticsrv.config`'s, shared with the embedding API.
May not touch: sockets, HTTP.
"""

from __future__ import annotations

import functools
import os
import sys

import click

from staticsrv.clihabits import port_hint, spa_names_a_folder, spa_value, usage_line
from staticsrv.clihelp import GroupedCommand
from staticsrv.config import DEFAULTS, LOOPS, from_options
from staticsrv.version import __version__

EXIT_USAGE = 2


def _fail(message: str) -> None:
    click.echo(f"staticsrv: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def _default(name: str) -> object:
    return DEFAULTS[name]


class _Lines(click.ParamType):  # type: ignore[type-arg]
    """Text whose several values in an environment variable are one per line.

    ``-H "Name: value"`` holds spaces, so the default (split on whitespace)
    would cut it apart.
    """

    name = "text"
    envvar_list_splitter = "\n"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> str:
        return str(value)


# Every option can also come from STATICSRV_<OPTION> (main() sets the prefix);
# --help names the variable next to each option.
option = functools.partial(click.option, show_envvar=True)


@click.command(cls=GroupedCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("root_arg", metavar="[ROOT]", required=False, type=click.Path())
@option(
    "--root",
    "root_opt",
    type=click.Path(),
    envvar="STATICSRV_ROOT",
    help="Folder to serve (default: .).",
)
@option(
    "--host",
    default=_default("host"),
    show_default=True,
    help="Address to bind; 0.0.0.0 for the LAN.",
)
@option(
    "--port",
    "-p",
    default=None,
    metavar="PORT",
    help="Port to listen on; 0 picks a free one.  [default: 8080, or the next free port to 8099]",
)
@option("--no-listing", is_flag=True, help="Answer 404 for folders without index.html.")
@option(
    "--dotfiles", is_flag=True, help="Serve and list dotfiles such as .env (hidden by default)."
)
@option(
    "--follow-symlinks",
    is_flag=True,
    help="Serve symlinks that point outside ROOT (trusts the tree; dotfiles stay hidden).",
)
@option(
    "--cache",
    type=int,
    default=None,
    metavar="SECONDS",
    help="Send Cache-Control: public, max-age=SECONDS (default: no-cache, always revalidate).",
)
@option("--no-cache", is_flag=True, help="Send Cache-Control: no-store.")
@option("--no-compress", is_flag=True, help="Do not gzip text responses on the fly.")
@option(
    "--workers",
    "-w",
    type=int,
    default=_default("workers"),
    show_default=True,
    help="Processes sharing the port (SO_REUSEPORT).",
)
@option(
    "--loop",
    type=click.Choice(LOOPS),
    default=_default("loop"),
    show_default=True,
    help="Event loop; auto uses uvloop when installed.",
)
@option(
    "--max-connections",
    type=int,
    default=_default("max_connections"),
    show_default=True,
    help="Open connections at once; more wait in the listen backlog.",
)
@option(
    "--head-timeout",
    type=float,
    metavar="SECONDS",
    default=_default("head_timeout"),
    show_default=True,
    help="Seconds to receive a whole request head.",
)
@option(
    "--keepalive-timeout",
    type=float,
    metavar="SECONDS",
    default=_default("keepalive_timeout"),
    show_default=True,
    help="Seconds an idle connection stays open.",
)
@option(
    "--send-timeout",
    type=float,
    metavar="SECONDS",
    default=_default("send_timeout"),
    show_default=True,
    help="Seconds a client may stop reading before it is dropped.",
)
@option("--quiet", "-q", is_flag=True, help="No access log.")
@option(
    "--spa",
    is_flag=False,
    flag_value="index.html",
    default=None,
    metavar="[FILE]",
    help="Single-page app: a missed page navigation gets FILE (default index.html) with 200.",
)
@option("--no-clean-urls", is_flag=True, help="Do not serve /about from about.html.")
@option(
    "--base",
    default=_default("base"),
    show_default=True,
    metavar="PATH",
    help="Serve the site under this prefix, as a project Pages site (/project/).",
)
@option("--no-rules", is_flag=True, help="Ignore the _redirects and _headers files.")
@option("--cors", is_flag=True, help="Let any origin read the files (no credentials).")
@option(
    "--header",
    "-H",
    multiple=True,
    type=_Lines(),
    metavar='"NAME: VALUE"',
    help="Add a field to every answer (repeatable; one per line in the variable).",
)
@option(
    "--allowed-host",
    multiple=True,
    metavar="NAME",
    help="Answer this Host name too (repeatable; 'all' turns the DNS-rebinding check off).",
)
@option("--qr", is_flag=True, help="Print a QR code of the LAN URL (needs staticsrv[qr]).")
@option("--open", "open", is_flag=True, help="Open the browser once the server listens.")
@option(
    "--live",
    "-l",
    is_flag=True,
    help="Reload open pages when a watched file changes (needs staticsrv[live]).",
)
@option(
    "--watch",
    multiple=True,
    metavar="PATH",
    help="With --live: also watch PATH (repeatable), e.g. sources a build writes into ROOT.",
)
@option(
    "--ignore",
    multiple=True,
    metavar="GLOB",
    help="With --live: changes matching GLOB reload nothing (repeatable).",
)
@option(
    "--live-delay",
    type=int,
    metavar="MS",
    default=_default("live_delay"),
    show_default=True,
    help="With --live: milliseconds of quiet before a change is announced.",
)
@option(
    "--build",
    metavar="CMD",
    default=None,
    help="Run CMD (through the shell) at start and after each change of its sources "
    "(--watch, else the current folder minus ROOT); implies --live.",
)
@option(
    "--poll",
    is_flag=True,
    help="With --live: poll for changes (automatic on mounts that send no change events).",
)
@option(
    "--poll-interval",
    type=int,
    metavar="MS",
    default=_default("poll_interval"),
    show_default=True,
    help="Milliseconds between two polling scans.",
)
@option(
    "--https",
    is_flag=True,
    help="Serve HTTPS with a certificate from a local CA made (once) in the user's data folder.",
)
@option(
    "--tls-cert",
    type=click.Path(dir_okay=False),
    default=_default("tls_cert"),
    metavar="FILE",
    help="Serve HTTPS with this PEM certificate (chain); the key may sit in it too.",
)
@option(
    "--tls-key",
    type=click.Path(dir_okay=False),
    default=_default("tls_key"),
    metavar="FILE",
    help="PEM key of --tls-cert (when not in the certificate file).",
)
@option(
    "--tls-key-password-file",
    type=click.Path(dir_okay=False),
    default=_default("tls_key_password_file"),
    metavar="FILE",
    help="File whose first line is the key's password.",
)
@option(
    "--no-http2",
    is_flag=True,
    help="With TLS: offer HTTP/1.1 only (by default ALPN offers h2, then http/1.1).",
)
@option(
    "--proxy",
    multiple=True,
    type=_Lines(),
    metavar="PATH=URL",
    help="Send PATH and below to the http(s) URL (repeatable; one per line in the variable).",
)
@option(
    "--proxy-timeout",
    type=float,
    metavar="SECONDS",
    default=_default("proxy_timeout"),
    show_default=True,
    help="Seconds an upstream has to start its answer (then 504).",
)
@option("--proxy-insecure", is_flag=True, help="Do not verify https upstreams' certificates.")
@option("--proxy-pass-auth", is_flag=True, help="With --auth: send Authorization upstream too.")
@option(
    "--mount",
    multiple=True,
    type=_Lines(),
    metavar="PATH=DIR",
    help="Serve DIR under PATH too, with the root's rules (repeatable).",
)
@option(
    "--auth",
    default=None,
    metavar="USER:PASSWORD",
    help="Ask for this user and password (HTTP Basic) on every path.",
)
@option(
    "--auth-file",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="Like --auth, from the first line of FILE (user:password).",
)
@option(
    "--print-ca",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    # An action, but the README promises a variable for every option:
    # STATICSRV_PRINT_CA=1 prints the CA and exits like the flag.
    callback=lambda ctx, _param, value: _print_ca(ctx) if value else None,
    help="Print the local CA's certificate (PEM), making it if needed, and exit.",
)
@click.version_option(__version__, "--version", "-V", prog_name="staticsrv")
def command(root_arg: str | None, root_opt: str | None, **options: object) -> None:
    """Serve the files under ROOT over HTTP (or HTTPS), for local development.

    \b
    Examples:
      staticsrv                      serve the current folder on 127.0.0.1:8080
      staticsrv ./site --port 0      any free port
      staticsrv --root docs/_build/html --host 0.0.0.0
      staticsrv dist --spa --cors    a single-page app, readable from any origin
      staticsrv site --base /proj/   a project Pages site, as deployed
      staticsrv ./site --live        reload the browser when files change
      staticsrv --https --host 0.0.0.0   HTTPS for phones on the LAN

    \b
    Every option can also be set as STATICSRV_<OPTION> in the environment,
    e.g. STATICSRV_PORT=3000 or STATICSRV_CORS=1, and in a settings file:
    staticsrv.toml, or [tool.staticsrv] in pyproject.toml, in the current
    folder (long names as keys: build = "mkdocs build").
    """
    if root_arg is not None and root_opt is not None and root_arg != root_opt:
        _fail("give the root either as ROOT or as --root, not both")
    root = root_opt if root_opt is not None else root_arg if root_arg is not None else "."
    options["spa"] = spa_value(options["spa"])
    if root_arg is None and root_opt is None and spa_names_a_folder(options["spa"]):
        # "serve -s dist": the habit of naming the app's folder after the flag.
        root, options["spa"] = str(options["spa"]), "index.html"
    try:
        config = from_options(root, **options)
    except ValueError as exc:
        _fail(str(exc) + port_hint(root_arg, str(exc)))
        return
    from staticsrv.app import run, tls_setup

    shown = click.get_current_context().obj
    if shown:
        print(f"Settings from {shown}", flush=True)  # the banner's first line

    # Built once, before any worker forks: one CA, one leaf, one context.
    tls, error = tls_setup(config) if config.scheme == "https" else (None, "")
    if error:
        _fail(error)
    if config.workers > 1:
        from staticsrv.workers import run_workers

        sys.exit(run_workers(config, config.root, tls))
    sys.exit(run(config, config.root, tls=tls))


def _print_ca(ctx: click.Context) -> None:
    from staticsrv.pki.certs import ensure_ca

    try:
        path = ensure_ca()
    except ValueError as exc:
        _fail(str(exc))
        return
    click.echo(path.read_text("ascii"), nl=False)
    ctx.exit(0)


def _settings() -> tuple[dict[str, object], str | None]:
    """The settings file's values as click defaults (below the command line and STATICSRV_*)."""
    from staticsrv.settings import command_defaults

    try:
        return command_defaults(command, os.getcwd())
    except ValueError as exc:
        _fail(str(exc))
        return {}, None


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command, folding click's usage errors into one line."""
    defaults, shown = _settings()
    try:
        status = command.main(
            args=argv,
            prog_name="staticsrv",
            standalone_mode=False,
            auto_envvar_prefix="STATICSRV",
            default_map=defaults,
            obj=shown,
        )
    except click.ClickException as exc:
        _fail(usage_line(exc))
    except click.exceptions.Abort:
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(0)
    # --help and --version return here with their exit status.
    sys.exit(status if isinstance(status, int) else 0)
