"""The checks of the live-reload options (``--live`` and what goes with it).

Owns: turning ``--live``, ``--watch``, ``--ignore``, ``--live-delay``,
``--build``, ``--poll`` and ``--poll-interval`` into their checked
:class:`~staticsrv.config.Config` fields, with the one-line messages of
:mod:`staticsrv.config`.  May not touch: the watcher itself (watchfiles is
only looked for, never imported here).
"""

from __future__ import annotations

import os

from staticsrv.config import MAX_WORKERS, _int_in, _strings, has_module

MAX_LIVE_DELAY_MS = 10_000  # ten seconds of quiet: any longer is a typo
POLL_INTERVAL_MS = (10, 60_000)  # a scan every 10 ms to once a minute


def build_options(o: dict[str, object], root: str) -> tuple[str | None, bool, float]:
    """--build, --poll and --poll-interval, checked (--build turns --live on)."""
    build = o["build"]
    if build is not None and (not isinstance(build, str) or not build.strip()):
        raise ValueError("--build: give the command that builds ROOT, e.g. 'mkdocs build'")
    interval = _int_in("poll-interval", o["poll_interval"], *POLL_INTERVAL_MS)
    if build:
        o["live"] = True
        if not o["watch"]:
            here = os.path.realpath(os.getcwd())
            if here == root or here.startswith(root.rstrip(os.sep) + os.sep):
                # The build's own output would count as a change of its sources.
                raise ValueError(
                    "--build: ROOT holds the current folder; name the sources with --watch"
                )
            o["watch"] = (here,)
    if o["poll"] and not o["live"]:
        raise ValueError("--poll needs --live")
    return build or None, bool(o["poll"]), interval / 1000


def live_options(o: dict[str, object]) -> tuple[bool, tuple[str, ...], tuple[str, ...], float]:
    """The live-reload fields of the Config, checked: live, watch, ignore, delay."""
    watch = _strings("watch", o["watch"])
    ignore = _strings("ignore", o["ignore"])
    delay = _int_in("live-delay", o["live_delay"], 0, MAX_LIVE_DELAY_MS)
    if not o["live"]:
        if watch or ignore:
            raise ValueError("--watch and --ignore need --live")
        return False, (), (), delay / 1000
    if not has_module("watchfiles"):
        raise ValueError("--live needs watchfiles: pip install 'staticsrv[live]'")
    if _int_in("workers", o["workers"], 1, MAX_WORKERS) != 1:
        # Each worker would watch on its own and announce its own run id,
        # so a reconnect landing on another worker would reload the page.
        raise ValueError("--live serves from one process: drop --workers")
    real: list[str] = []
    for path in watch:
        if not path or not os.path.exists(path):
            raise ValueError(f"--watch: {path!r} does not exist")
        real.append(os.path.realpath(path))
    for glob in ignore:
        if not glob:
            raise ValueError("--ignore: give a glob such as '*.tmp'")
    return True, tuple(dict.fromkeys(real)), ignore, delay / 1000
