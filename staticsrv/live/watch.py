"""The file watcher of ``--live``: changes on disk in, settled announcements out.

Owns: which changes count (:class:`PathFilter`: hidden names follow
``--dotfiles`` relative to each watched folder, ``--ignore`` globs and the
editors' scratch files), the URL path of a changed file, and :func:`watch`,
the background task that feeds :mod:`watchfiles` events through the pure
:class:`~staticsrv.live.settle.Settler` and hands each settled batch to the
:class:`~staticsrv.live.events.Hub`.  May not touch: sockets, HTTP.

``watchfiles`` wraps the Rust ``notify`` crate (inotify, FSEvents,
ReadDirectoryChangesW) and its polling fallback, and runs here in a thread
of its own.  It hands changes over in groups, holding each until its writes
pause for a step (or its debounce runs out), so what it has not handed over
yet is invisible.  Quiet is therefore never inferred from the clock alone:
watchfiles also reports each round in which it saw nothing at all
(``rust_timeout`` with ``yield_on_timeout``), and a batch settles only on
such a report made once the quiet period since the last group has passed.
Timing from the last group alone announced a build that paused once for a
few tens of milliseconds half done, while its later writes sat in the
watcher.  If the OS refuses the watches (Linux's
``fs.inotify.max_user_watches``), this says so in one line and polls
instead of silently watching nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import quote

from staticsrv.config import Config
from staticsrv.live.events import Hub
from staticsrv.live.settle import Settler

log = logging.getLogger("staticsrv")

STEP_MS = 20  # watchfiles hands over a group after this much quiet
DEBOUNCE_MS = 500  # ... or after this long, if writes never pause
POLL_MS = 300  # the polling fallback's interval
# Scratch files of editors that are not hidden names (vim's backup and its
# writability probe "4913", emacs' autosave); hidden ones follow --dotfiles.
SCRATCH = ("*~", "*.swp", "*.swx", "4913", "#*#")
WELL_KNOWN = ".well-known"  # served despite its dot (RFC 8615), so watched too
# RFC 3986 pchar: what a path segment may hold unencoded.
_SAFE = "/!$&'()*+,;=:@~"

Changes = set[tuple[Any, str]]
Watcher = Callable[..., Iterator[Changes]]  # watchfiles.watch


class PathFilter:
    """Which changed paths matter; relative to the watched folder they are under.

    Relative, so that a root inside a dot-folder (``~/.cache/site``) is
    still watched while ``.git/`` under it is not.
    """

    def __init__(self, bases: Iterable[str], *, dotfiles: bool, ignore: Sequence[str]) -> None:
        # Longest first: a --watch folder inside the root is its own base.
        self.bases = sorted(set(bases), key=len, reverse=True)
        self.files = frozenset(b for b in self.bases if os.path.isfile(b))  # --watch FILE
        self.dotfiles = dotfiles
        self.ignore = tuple(ignore)

    def relative(self, path: str) -> list[str] | None:
        for base in self.bases:
            if path == base:
                return []
            if path.startswith(base.rstrip(os.sep) + os.sep):
                return path[len(base.rstrip(os.sep)) + 1 :].split(os.sep)
        return None

    def __call__(self, change: object, path: str) -> bool:
        if path in self.files:
            return True
        parts = self.relative(path)
        if not parts:
            return False  # outside every base, or a watched folder itself
        if not self.dotfiles and any(p.startswith(".") and p != WELL_KNOWN for p in parts):
            return False
        rel = "/".join(parts)
        for glob in self.ignore:
            # A glob names the relative path, any leading part of it (so
            # "build/*" or "node_modules" cover a whole folder), or a name.
            if any(fnmatchcase(p, glob) for p in parts):
                return False
            if any(fnmatchcase("/".join(parts[:i]), glob) for i in range(1, len(parts) + 1)):
                return False
            if fnmatchcase(rel, glob):
                return False
        return True


def url_path(root: str, path: str) -> str | None:
    """The URL path of a file under ``root`` (percent-encoded), or None outside it."""
    base = root.rstrip(os.sep) + os.sep
    if not path.startswith(base):
        return None
    rel = path[len(base) :].replace(os.sep, "/")
    return "/" + quote(rel, safe=_SAFE)


def mounted_url(config: Config, path: str) -> str | None:
    """The URL path of a file in a ``--mount`` folder, or None outside them."""
    for segments, folder in config.mounts:
        inside = url_path(folder, path)
        if inside is not None:
            return "/" + quote("/".join(segments), safe=_SAFE) + inside
    return None


def _size(path: str) -> int | None:
    """The size now (a folder counts as 0: its entries are watched themselves)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return 0 if stat.S_ISDIR(st.st_mode) else st.st_size


def describe(config: Config) -> str:
    """The banner line: what is watched."""
    extra = "".join(f", {p}" for p in config.watch)
    return f"Live reload on: watching {config.root}{extra}"


class _Run:
    """One watching thread: watchfiles' rounds in, settled batches out to the loop."""

    def __init__(
        self,
        config: Config,
        loop: asyncio.AbstractEventLoop,
        hub: Hub,
        invalidate: Callable[[], None],
        watcher: Watcher,
    ) -> None:
        self.config = config
        self.paths = (config.root, *config.watch)
        self.filter = PathFilter(
            self.paths, dotfiles=config.dotfiles, ignore=(*SCRATCH, *config.ignore)
        )
        self.loop = loop
        self.hub = hub
        self.invalidate = invalidate
        self.watcher = watcher
        self.stop = threading.Event()  # checked by watchfiles every step
        self.ended: asyncio.Future[None] = loop.create_future()

    def _soon(self, callback: Callable[..., object], *args: object) -> None:
        # The loop may be closing while this thread still reports.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(callback, *args)

    def _announce(self, batch: frozenset[str]) -> None:  # on the loop
        self.invalidate()
        urls = (url_path(self.config.root, p) or mounted_url(self.config, p) for p in batch)
        self.hub.announce(u for u in urls if u is not None)

    def _end(self) -> None:  # on the loop
        self.hub.ready.set()  # streams stay open, with nothing to announce
        if not self.ended.done():
            self.ended.set_result(None)

    def run(self) -> None:  # the watching thread
        try:
            self._watch()
        except Exception as exc:
            log.error("staticsrv: live reload stopped: %s", str(exc) or type(exc).__name__)
        finally:
            self._soon(self._end)

    def _watch(self) -> None:
        settler = Settler(self.config.live_delay)
        polling, ready = False, True
        while True:
            rounds = self.watcher(
                *self.paths,
                watch_filter=self.filter,
                step=STEP_MS,
                debounce=DEBOUNCE_MS,
                # Every step without a change is reported as an empty set, so
                # a batch settles within a step of its quiet period (at a
                # cost of about 0.2 % of a core while idle, in this thread).
                rust_timeout=STEP_MS,
                yield_on_timeout=True,
                stop_event=self.stop,
                force_polling=True if polling else None,
                poll_delay_ms=POLL_MS,
            )
            try:
                for got in rounds:
                    if ready:  # the first round ends after the watches are in place
                        self._soon(self.hub.ready.set)
                        ready = False
                    self._round(settler, got)
                return  # stopped
            except (FileNotFoundError, PermissionError):
                raise
            except OSError as exc:
                if polling:
                    raise
                # One line, and go on watching: polling costs some CPU,
                # watching nothing would cost the user their trust in the reloads.
                log.warning(
                    "staticsrv: live reload: the OS refused file watches (%s); polling every %d ms"
                    " instead (raise fs.inotify.max_user_watches to avoid this)",
                    str(exc).strip() or type(exc).__name__,
                    POLL_MS,
                )
                polling = True

    def _round(self, settler: Settler, got: Changes) -> None:
        now = time.monotonic()
        if got:
            # A group is handed over after a step without writes, so its
            # last write was about a step ago (one handed over at its
            # debounce shortens the quiet period by that step).
            events = [(int(kind), path, _size(path)) for kind, path in got]
            settler.changed(now - STEP_MS / 1000, events)
            return
        # A round with no change at all, which began after the last group
        # was handed over: nothing is held back (module docstring).
        due = settler.due
        if due is None or now < due:
            return
        batch = settler.settle(now, {p: _size(p) for p in settler.pending})
        if batch:
            self._soon(self._announce, batch)


async def watch(
    config: Config, hub: Hub, invalidate: Callable[[], None], *, watcher: Watcher | None = None
) -> None:
    """Watch until cancelled; announce each settled batch of changes.

    The watching runs in a thread of its own: watchfiles blocks while it
    waits, and the stats of the changed files stay off the event loop.
    Never raises: a watcher that fails says so in one line, and the server
    goes on serving (pages just stop reloading).
    """
    if watcher is None:
        from watchfiles import watch as real_watch

        watcher = real_watch
    run = _Run(config, asyncio.get_running_loop(), hub, invalidate, watcher)
    thread = threading.Thread(target=run.run, name="staticsrv-live", daemon=True)
    thread.start()
    try:
        await run.ended
    finally:
        run.stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.to_thread(thread.join, 1.0)
