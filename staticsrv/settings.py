"""The settings file: options under their long names, for the long lines.

Owns: finding the file in the current folder (``staticsrv.toml``, else a
``[tool.staticsrv]`` table in ``pyproject.toml``), reading it, and
checking its keys against the options the command line knows.  The
command line and ``STATICSRV_*`` take precedence (the CLI hands these
values to click as defaults).  May not touch: sockets, the Config itself
(values are checked by :func:`staticsrv.config.from_options` like any).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import click

OWN_FILE = "staticsrv.toml"
PYPROJECT = "pyproject.toml"


class Settings:
    """A settings file's values (a plain class: a dataclass costs start-up time)."""

    __slots__ = ("shown", "values")

    def __init__(self, shown: str, values: dict[str, object]) -> None:
        self.shown = shown  # how the banner and errors name it: "pyproject.toml [tool.staticsrv]"
        self.values = values  # option names (click's parameter names) -> values


def parse(text: str, shown: str, table: tuple[str, ...], known: Mapping[str, str]) -> Settings:
    """The settings in ``text``; ``known`` maps long names (``live-delay``) to parameter names.

    Raises ValueError with the one line to print, naming the file.
    """
    import tomllib  # only when there is a file: most starts have none

    try:
        data: object = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{shown}: {exc}") from None
    for key in table:
        data = data.get(key, {}) if isinstance(data, dict) else None
    if not isinstance(data, dict):
        raise ValueError(f"{shown}: [{'.'.join(table)}] must be a table")
    values: dict[str, object] = {}
    for key, value in data.items():
        name = known.get(key.replace("_", "-"))
        if name is None:
            raise ValueError(f"{shown}: unknown setting {key!r} (use an option's long name)")
        values[name] = value
    return Settings(shown, values)


def find(folder: str, known: Mapping[str, str]) -> Settings | None:
    """The settings of ``folder``: its staticsrv.toml, else pyproject's table; None if neither."""
    own = os.path.join(folder, OWN_FILE)
    if os.path.isfile(own):
        return parse(_read(own, OWN_FILE), OWN_FILE, (), known)
    pyproject = os.path.join(folder, PYPROJECT)
    if os.path.isfile(pyproject):
        import tomllib

        text = _read(pyproject, PYPROJECT)
        shown = f"{PYPROJECT} [tool.staticsrv]"
        settings = parse(text, shown, ("tool", "staticsrv"), known)
        # A pyproject.toml without the table is not a settings file.
        return settings if "staticsrv" in tomllib.loads(text).get("tool", {}) else None
    return None


def _read(path: str, shown: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{shown}: cannot read it ({exc})") from None


def command_defaults(command: click.Command, cwd: str) -> tuple[dict[str, object], str | None]:
    """The settings file's values under ``command``'s parameter names, and the file's name.

    ValueError (one line naming the file) for an unknown key or a bad file.
    """
    known: dict[str, str] = {}
    multiple: set[str] = set()
    for param in command.params:
        if isinstance(param, click.Option) and param.expose_value and param.name:
            for opt in param.opts:
                if opt.startswith("--") and opt not in ("--help", "--version"):
                    known[opt[2:]] = param.name
            if param.multiple:
                multiple.add(param.name)
    found = find(cwd, known)
    if found is None:
        return {}, None
    values = found.values
    for name in multiple & set(values):
        if isinstance(values[name], str):
            values[name] = [values[name]]  # watch = "docs": one path, not its letters
    return values, found.shown
