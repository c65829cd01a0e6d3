"""What people bring from the tools they used before, understood or named in one line.

Owns: ``serve -s dist`` (``--spa`` naming the app's folder),
``STATICSRV_SPA=1`` (on, like ``STATICSRV_CORS=1``), ``python -m http.server
8000`` (a number where ROOT goes), and the options of ``http.server`` and
``http-server`` (``-d``, ``-b``, ``-a``) named in staticsrv's words.  May
not touch: the options themselves (:mod:`staticsrv.cli`) or their checks
(:mod:`staticsrv.config`).
"""

from __future__ import annotations

import os

import click

ON = ("1", "true", "yes", "on")
OFF = ("", "0", "false", "no", "off")


def spa_value(value: object) -> object:
    """STATICSRV_SPA=1 means on with index.html, as STATICSRV_CORS=1 means on."""
    ctx = click.get_current_context()
    if ctx.get_parameter_source("spa") is not click.core.ParameterSource.ENVIRONMENT:
        return value
    text = str(value).strip().lower()
    return "index.html" if text in ON else None if text in OFF else value


def spa_names_a_folder(value: object) -> bool:
    """``--spa dist`` with no ROOT: a folder here and no such file in the current one."""
    return isinstance(value, str) and os.path.isdir(value) and not os.path.isfile(value)


def port_hint(root_arg: str | None, error: str) -> str:
    """``python -m http.server 8000`` (or ``serve -l 3000``): a missing ROOT that is a number."""
    if root_arg is None or not (root_arg.isascii() and root_arg.isdecimal()):
        return ""
    if error != f"root {root_arg!r} does not exist":
        return ""
    return f"; to serve on port {root_arg}: staticsrv --port {root_arg}"


# Options of python -m http.server and http-server, and what staticsrv calls them.
HABITS = {
    "-d": "the folder to serve is ROOT or --root",
    "--directory": "the folder to serve is ROOT or --root",
    "-b": "the address to bind is --host",
    "--bind": "the address to bind is --host",
    "-a": "the address to bind is --host",
}


def usage_line(exc: click.ClickException) -> str:
    """click's message on one line, naming our spelling of a habitual option."""
    line = " ".join(exc.format_message().split())
    if isinstance(exc, click.NoSuchOption) and exc.option_name in HABITS:
        # Our own words only: click's "did you mean" guess is by spelling
        # ("--bind": "--build"), not by what the user meant.
        line = f"No such option {exc.option_name!r} ({HABITS[exc.option_name]})"
    return line
