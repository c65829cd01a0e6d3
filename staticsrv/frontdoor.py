"""The checks of the options that put something in front of the files: proxy, mounts, password.

Owns: turning ``--proxy``, ``--mount`` and ``--auth``/``--auth-file`` values
into :class:`~staticsrv.config.Config` fields, or a ``ValueError`` whose
text is the one line the CLI prints; called by
:func:`staticsrv.config.from_options`.  The proxy and auth modules load only
when their option is given.  May not touch: sockets.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from staticsrv.http.routing import parse_base

if TYPE_CHECKING:
    from staticsrv.http.proxymap import ProxyMap

# The options' defaults, as in config.DEFAULTS (the CLI's long names).
FRONT_DOOR_DEFAULTS: dict[str, object] = {
    "proxy": (),
    "proxy_timeout": 60.0,
    "proxy_insecure": False,
    "proxy_pass_auth": False,
    "mount": (),
    "auth": None,
    "auth_file": None,
}


def proxy_options(values: tuple[str, ...]) -> tuple[ProxyMap, ...]:
    """``--proxy PATH=URL`` values; the proxy modules load only when one is given."""
    if not values:
        return ()
    from staticsrv.http.proxymap import parse_proxy

    maps = tuple(parse_proxy(text) for text in values)
    seen: set[str] = set()
    for m in maps:
        if m.prefix in seen:
            raise ValueError(f"--proxy: {m.prefix or '/'} is mapped twice")
        seen.add(m.prefix)
    return maps


def mount_options(values: tuple[str, ...]) -> tuple[tuple[tuple[str, ...], str], ...]:
    """``--mount PATH=DIR``: another folder under PATH (PATH follows --base's rules)."""
    out: dict[tuple[str, ...], str] = {}
    for text in values:
        path, eq, folder = text.partition("=")
        if not eq or not folder:
            raise ValueError(f"--mount: {text!r} is not PATH=DIR (e.g. /modules=./node_modules)")
        segments = parse_base(path.strip(), "--mount")
        if not segments:
            raise ValueError("--mount: PATH must be below / (the root is served already)")
        if segments in out:
            raise ValueError(f"--mount: {path.strip()!r} is mounted twice")
        if not os.path.isdir(folder):
            raise ValueError(f"--mount: {folder!r} is not a folder")
        out[segments] = os.path.realpath(folder)
    return tuple(out.items())


def auth_option(text: object, path: str | None) -> tuple[str, str] | None:
    if text is None or text == "":
        if path is None:
            return None
        from staticsrv.http.auth import read_auth_file

        return read_auth_file(path)
    if path is not None:
        raise ValueError("--auth and --auth-file exclude each other")
    from staticsrv.http.auth import parse_credentials

    return parse_credentials(str(text))
