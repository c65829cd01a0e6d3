"""The file watcher of ``--live``: changes on disk in, settled announcements out.

Owns: which changes count (:class:`PathFilter`: hidden names follow
``--dotfiles`` relative to each watched folder, ``--ignore`` globs and the
editors' scratch files), the URL path of a changed file, and :func:`watch`,
the background task that feeds :mod:`watchfiles` events through the pure
:class:`~staticsrv.live.settle.Settler` and hands each settled batch to the
:class:`~staticsrv.live.events.Hub`.  May not touch: sockets, HTTP.

``watchfiles`` wraps the Rust ``notify`` crate (inotify, FSEvents,
ReadDirectoryChangesW) and its polling fallback.  If the OS refuses the
watches (Linux's ``fs.inotify.max_user_watches``), this says so in one line
and polls instead of silently watching nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
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
AWatch = Callable[..., AsyncIterator[Changes]]


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


async def _next(agen: AsyncIterator[Changes]) -> Changes:
    return await agen.__anext__()


async def _feed(
    paths: Sequence[str],
    flt: PathFilter,
    queue: asyncio.Queue[Changes | BaseException],
    stop: threading.Event,
    awatch: AWatch,
    ready: Callable[[], None],
) -> None:
    polling = False
    while True:
        changes = awatch(
            *paths,
            watch_filter=flt,
            step=STEP_MS,
            debounce=DEBOUNCE_MS,
            stop_event=stop,
            force_polling=True if polling else None,
            poll_delay_ms=POLL_MS,
        )
        pending = asyncio.ensure_future(_next(changes))
        # Its first step sets the watches up (or fails) before it waits for
        # a change: after it, every later write is seen.
        await asyncio.sleep(0)
        if not pending.done():
            ready()
        try:
            while True:
                got = await pending
                ready()  # (a watcher that found changes at once is in place too)
                queue.put_nowait(got)
                pending = asyncio.ensure_future(_next(changes))
        except StopAsyncIteration:
            return
        except (FileNotFoundError, PermissionError) as exc:
            queue.put_nowait(exc)
            return
        except OSError as exc:
            if polling:
                queue.put_nowait(exc)
                return
            # One line, and go on watching: polling costs some CPU, watching
            # nothing would cost the user their trust in the reloads.
            log.warning(
                "staticsrv: live reload: the OS refused file watches (%s); polling every %d ms"
                " instead (raise fs.inotify.max_user_watches to avoid this)",
                str(exc).strip() or type(exc).__name__,
                POLL_MS,
            )
            polling = True


async def watch(
    config: Config, hub: Hub, invalidate: Callable[[], None], *, awatch: AWatch | None = None
) -> None:
    """Watch until cancelled; announce each settled batch of changes.

    Never raises: a watcher that fails says so in one line, and the server
    goes on serving (pages just stop reloading).
    """
    try:
        await _watch(config, hub, invalidate, awatch)
    except Exception as exc:
        log.error("staticsrv: live reload stopped: %s", str(exc) or type(exc).__name__)
        hub.ready.set()


async def _watch(
    config: Config, hub: Hub, invalidate: Callable[[], None], awatch: AWatch | None
) -> None:
    if awatch is None:
        from watchfiles import awatch as real_awatch

        awatch = real_awatch
    loop = asyncio.get_running_loop()
    paths = (config.root, *config.watch)
    flt = PathFilter(paths, dotfiles=config.dotfiles, ignore=(*SCRATCH, *config.ignore))
    settler = Settler(config.live_delay)
    queue: asyncio.Queue[Changes | BaseException] = asyncio.Queue()
    stop = threading.Event()  # checked by the watching thread every step
    feeder = asyncio.create_task(_feed(paths, flt, queue, stop, awatch, hub.ready.set))
    try:
        while True:
            due = settler.due
            got: Changes | BaseException | None = None
            try:
                async with asyncio.timeout(None if due is None else max(0.0, due - loop.time())):
                    got = await queue.get()
            except TimeoutError:
                pass
            now = loop.time()
            if isinstance(got, BaseException):
                log.error("staticsrv: live reload stopped: %s", got)
                hub.ready.set()  # streams still open, with nothing to announce
                return
            if got is not None:
                # The group comes after STEP_MS of quiet: the last write was
                # at least that long ago, and counting from then is safe.
                events = [(int(kind), path, _size(path)) for kind, path in got]
                settler.changed(now - STEP_MS / 1000, events)
                continue
            batch = settler.settle(now, {p: _size(p) for p in settler.pending})
            if batch:
                invalidate()
                urls = (url_path(config.root, p) for p in batch)
                hub.announce(u for u in urls if u is not None)
    finally:
        stop.set()
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({feeder}, timeout=1.0)
