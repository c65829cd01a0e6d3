"""The file watcher of ``--live``: changes on disk in, settled announcements out.

Owns: :func:`watch`, the background task that feeds :mod:`watchfiles`
events (or :mod:`~staticsrv.live.poll`'s, when polling) through the pure
:class:`~staticsrv.live.settle.Settler` and hands each settled batch to the
:class:`~staticsrv.live.events.Hub` (or, with ``--build``, to the
:class:`~staticsrv.live.build.Builder`); choosing to poll (``--poll``, a
mount without change events, refused watches); watching a watched folder
again once it is deleted and made again or replaced by a rename (its
identity is checked every round).  Which paths count is
:mod:`~staticsrv.live.paths`'.  May not touch: sockets, HTTP.

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
instead of silently watching nothing.  When ``--build``'s build ends, the
thread is asked to flush: once a round shows that everything written
before then was handed over, every pending change settles at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from staticsrv.config import Config
from staticsrv.live.events import Hub
from staticsrv.live.mounts import auto_poll_reason
from staticsrv.live.paths import SCRATCH, PathFilter, mounted_url, url_path
from staticsrv.live.settle import DELETED, MODIFIED, Settler

if TYPE_CHECKING:
    from staticsrv.live.build import Builder

log = logging.getLogger("staticsrv")

STEP_MS = 20  # watchfiles hands over a group after this much quiet
DEBOUNCE_MS = 500  # ... or after this long, if writes never pause
Changes = set[tuple[Any, str]]
Watcher = Callable[..., Iterator[Changes]]  # watchfiles.watch


def _size(path: str) -> int | None:
    """The size now (a folder counts as 0: its entries are watched themselves)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return 0 if stat.S_ISDIR(st.st_mode) else st.st_size


def describe(config: Config, poll_reason: str | None) -> list[str]:
    """The banner lines: what is watched, how, and the build command."""
    extra = "".join(f", {p}" for p in config.watch)
    lines = [f"Live reload on: watching {config.root}{extra}"]
    if config.poll:
        lines.append(f"Polling every {config.poll_interval * 1000:.0f} ms (--poll)")
    elif poll_reason is not None:
        lines.append(f"Polling every {config.poll_interval * 1000:.0f} ms: {poll_reason}")
    if config.build:
        lines.append(f"Build: {config.build} (at start and after each change of its sources)")
    return lines


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def _outermost(paths: Iterable[str]) -> list[str]:
    """The paths not inside another one (watched recursively, each folder once)."""
    ordered = sorted(set(paths), key=len)
    out: list[str] = []
    for path in ordered:
        if not any(path.startswith(p.rstrip(os.sep) + os.sep) for p in out):
            out.append(path)
    return out


def _folder_noise(kind: int, path: str) -> bool:
    """A new empty folder, or a folder's own change (its mtime, as polling sees it).

    A folder shows nothing until a file lands in it, and that file is a
    change of its own; a poller that counted folder mtimes would announce
    each change twice (and forever, for some tools' folders).
    """
    if kind == DELETED:
        return False
    try:
        with os.scandir(path) as entries:
            return kind == MODIFIED or next(entries, None) is None
    except OSError:
        return False  # not a folder, or gone


class _Run:
    """One watching thread: watchfiles' rounds in, settled batches out to the loop."""

    def __init__(
        self,
        config: Config,
        loop: asyncio.AbstractEventLoop,
        settled: Callable[[frozenset[str], bool], None],
        ready: Callable[[], None],
        watcher: Watcher,
        poller: Watcher,
    ) -> None:
        self.config = config
        self.poller = poller
        self.paths = (config.root, *config.watch)
        self.filter = PathFilter(
            self.paths,
            dotfiles=config.dotfiles,
            ignore=(*SCRATCH, *config.ignore),
            sources=config.watch if config.build else (),
        )
        self.filter.roots = frozenset(self.paths)
        self.gone: set[str] = set()  # watched folders reported deleted
        self.loop = loop
        self.settled = settled  # on the loop: (batch, flushed)
        self.ready = ready
        self.watcher = watcher
        self.stop = threading.Event()  # checked by watchfiles every step
        self.ended: asyncio.Future[None] = loop.create_future()
        self.polling = config.poll
        self.reason = None if config.poll else auto_poll_reason(self.paths)
        if self.reason is not None:
            self.polling = True
        # A build ended at this time (set from the loop): settle everything
        # seen up to then at once (polling: after a scan of every file).
        self._flush_after: float | None = None
        self.full_scan = threading.Event()
        self.settler = Settler(config.live_delay, fast=STEP_MS / 1000, storm=True)
        self.rewatched: list[str] = []  # replaced paths, watched again: a change each

    @property
    def flush_after(self) -> float | None:
        return self._flush_after

    @flush_after.setter
    def flush_after(self, when: float | None) -> None:
        self._flush_after = when
        if when is not None:
            self.full_scan.set()

    def _soon(self, callback: Callable[..., object], *args: object) -> None:
        # The loop may be closing while this thread still reports.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(callback, *args)

    def _end(self) -> None:  # on the loop
        self.ready()  # streams stay open, with nothing to announce
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
        while not self.stop.is_set():
            ids = {p: _identity(p) for p in self.paths}
            present = _outermost(p for p in self.paths if ids[p] is not None)
            if not present:  # nothing to watch yet (a build makes the root)
                self._soon(self.ready)
                while not self.stop.wait(STEP_MS / 1000) and not self._moved(ids):
                    self._round(set())
                self._note_moved(ids)
                continue
            if self._rounds(present, ids):
                return  # stopped

    def _moved(self, ids: dict[str, tuple[int, int] | None]) -> list[str]:
        return [p for p, known in ids.items() if _identity(p) != known]

    def _note_moved(self, ids: dict[str, tuple[int, int] | None]) -> None:
        """The watched paths there again (or new): one line each, a change each."""
        back = [p for p in self._moved(ids) if _identity(p) is not None]
        for path in back:
            self._note([path], "created" if ids[path] is None else "replaced")

    def _note(self, paths: list[str], how: str) -> None:
        self.rewatched += paths
        for path in paths:
            log.warning("staticsrv: live reload: %s was %s; watching it", path, how)

    def _rounds(self, present: list[str], ids: dict[str, tuple[int, int] | None]) -> bool:
        """Watch ``present`` until stopped (True) or a watched path is replaced (False)."""
        # Polling is staticsrv's own (live/poll.py): watchfiles' poller
        # misses a second save within the same second.
        only_polling = {"full_scan": self.full_scan} if self.polling else {}
        rounds = (self.poller if self.polling else self.watcher)(
            *present,
            **only_polling,
            watch_filter=self.filter,
            step=STEP_MS,
            debounce=DEBOUNCE_MS,
            # Every step without a change is reported as an empty set, so
            # a batch settles within a step of its quiet period (at a
            # cost of about 0.2 % of a core while idle, in this thread).
            rust_timeout=STEP_MS,
            yield_on_timeout=True,
            stop_event=self.stop,
            force_polling=True if self.polling else None,
            poll_delay_ms=round(self.config.poll_interval * 1000),
        )
        try:
            ready = True
            for got in rounds:
                if ready:  # the first round ends after the watches are in place
                    self._soon(self.ready)
                    ready = False
                    if self.rewatched:
                        # Whatever the new folder got before it was watched.
                        now = time.monotonic()
                        self.settler.changed(now, [(MODIFIED, p, 0) for p in self.rewatched])
                        self.rewatched = []
                if got:
                    self._round(got)
                # A replaced folder is watched again before anything settles
                # (a build's end waits for it: what it wrote there counts).
                if self.gone:
                    # Made again with the same inode number (else _moved
                    # sees it): the OS watch still went with the old one.
                    back = [p for p in self.gone if _identity(p) is not None]
                    self.gone.clear()
                    self._note(back, "replaced")
                    return False
                if self._moved(ids):
                    # Deleted, re-created or renamed away: the OS watch went
                    # with the old folder.  Watch whatever is there now.
                    self._note_moved(ids)
                    return False
                if not got:
                    self._round(got)
            return True  # stopped
        except (FileNotFoundError, PermissionError):
            if self._moved(ids):
                self._note_moved(ids)
                return False  # it went between the check and the watch
            raise
        except OSError as exc:
            if self.polling:
                raise
            # One line, and go on watching: polling costs some CPU,
            # watching nothing would cost the user their trust in the reloads.
            log.warning(
                "staticsrv: live reload: the OS refused file watches (%s); polling every %d ms"
                " instead (raise fs.inotify.max_user_watches%s to avoid this)",
                str(exc).strip() or type(exc).__name__,
                round(self.config.poll_interval * 1000),
                " or fs.inotify.max_user_instances" if exc.errno == errno.EMFILE else "",
            )
            self.polling = True
            return False

    def _round(self, got: Changes) -> None:
        settler = self.settler
        now = time.monotonic()
        if got:
            self.gone.update(p for k, p in got if p in self.filter.roots and int(k) == DELETED)
            got = {(kind, path) for kind, path in got if path not in self.filter.roots}
        if got:
            # A group is handed over after a step without writes, so its
            # last write was about a step ago (one handed over at its
            # debounce shortens the quiet period by that step).
            events = [
                (int(kind), path, _size(path))
                for kind, path in got
                if not _folder_noise(int(kind), path)
            ]
            if events:
                settler.changed(now - STEP_MS / 1000, events)
            return
        # A round with no change at all, which began after the last group
        # was handed over: nothing is held back (module docstring).
        flush = self.flush_after
        scanned = not (self.polling and self.full_scan.is_set())  # the full scan is done
        if flush is not None and scanned and now >= flush + self._lag():
            self.flush_after = None
            flushed = settler.flush(now, {p: _size(p) for p in settler.pending})
            self._soon(self.settled, flushed, True)
            return
        due = settler.due
        if due is None or now < due:
            return
        batch = settler.settle(now, {p: _size(p) for p in settler.pending})
        if batch:
            self._soon(self.settled, batch, False)

    def _lag(self) -> float:
        """How long after a write the watcher surely reported it."""
        return 2 * STEP_MS / 1000 + (self.config.poll_interval if self.polling else 0.0)


async def watch(
    config: Config,
    hub: Hub,
    invalidate: Callable[[], None],
    *,
    watcher: Watcher | None = None,
    poller: Watcher | None = None,
) -> None:
    """Watch until cancelled; announce each settled batch of changes (and build, with --build).

    The watching runs in a thread of its own: watchfiles blocks while it
    waits, and the stats of the changed files stay off the event loop.
    Never raises: a watcher that fails says so in one line, and the server
    goes on serving (pages just stop reloading).
    """
    if watcher is None:
        from watchfiles import watch as real_watch

        watcher = real_watch
    loop = asyncio.get_running_loop()
    builder: Builder | None = None

    def settled(batch: frozenset[str], flushed: bool) -> None:  # on the loop
        if builder is not None:
            builder.settled(batch, flushed)
            return
        invalidate()
        urls = (url_path(config.root, p) or mounted_url(config, p) for p in batch)
        hub.announce(u for u in urls if u is not None)

    if poller is None:
        from staticsrv.live import poll

        poller = poll.watch
    run = _Run(config, loop, settled, hub.ready.set, watcher, poller)
    if config.build:
        from staticsrv.live.build import Builder  # --build only: --live alone never loads it

        builder = Builder(config, hub, invalidate, run)
    thread = threading.Thread(target=run.run, name="staticsrv-live", daemon=True)
    thread.start()
    task = None if builder is None else loop.create_task(builder.run())
    try:
        await run.ended
        if task is not None:
            await task
    finally:
        run.stop.set()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.to_thread(thread.join, 1.0)
