"""Polling for changes where the OS sends no events (``--poll``, network mounts).

Owns: :class:`Poller` (what a scan stats and what it reports) and
:func:`watch`, a stand-in for ``watchfiles.watch`` with the same rounds
(a set of ``(change, path)`` per round, an empty one when nothing
changed).  May not touch: sockets, the settling (the watcher's thread does
that with these rounds as with watchfiles' own).

watchfiles' own poller compares modification times in whole seconds, so a
second save within the same second as the first (same size, or not) is
never seen.  Here a file's state is its nanosecond mtime, size and inode.
A scan must stay cheap on a big tree, so it stats:

- every watched folder: one whose mtime moved is listed again, which finds
  new, deleted and renamed entries (an editor's rename-into-place, ``sed
  -i``, a build's new files) at once;
- every file that changed in the last minute (a file being edited);
- and :data:`BUDGET` other files in turn, so an edit in place of a file not
  touched for a while is seen within ``files / BUDGET`` scans.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from staticsrv.live.settle import ADDED, DELETED, MODIFIED

BUDGET = 1000  # files stat'ed per scan besides the hot ones
HOT_SECONDS = 60.0  # a file changed this recently is looked at on every scan
Key = tuple[int, int, int]  # (mtime_ns, size, inode)
Keep = Callable[[Any, str], bool]  # watchfiles' watch_filter


def _key(st: os.stat_result) -> Key:
    return st.st_mtime_ns, st.st_size, st.st_ino


class Poller:
    """The known state of the watched trees, and one scan at a time."""

    def __init__(self, paths: tuple[str, ...], keep: Keep, budget: int = BUDGET) -> None:
        self.keep = keep
        self.budget = budget
        self.files: dict[str, Key] = {}
        self.dirs: dict[str, int] = {}  # folder -> mtime_ns
        self.hot: dict[str, float] = {}  # file -> when it last changed
        self._turn: list[str] = []  # the files in turn for the budget
        self._pos = 0
        for path in paths:
            try:
                st = os.stat(path)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                self._add_dir(path, st.st_mtime_ns, None)
            else:
                self.files[path] = _key(st)

    def _add_dir(self, folder: str, mtime: int, out: set[tuple[int, str]] | None) -> None:
        self.dirs[folder] = mtime
        if out is not None:
            out.add((ADDED, folder))
        for entry in self._entries(folder):
            self._add_entry(entry.path, out)

    def _add_entry(self, path: str, out: set[tuple[int, str]] | None) -> None:
        try:
            st = os.stat(path)  # follows links, as the served files do
        except OSError:
            return
        if stat.S_ISDIR(st.st_mode):
            if path not in self.dirs:
                self._add_dir(path, st.st_mtime_ns, out)
        elif path not in self.files:
            self.files[path] = _key(st)
            if out is not None:
                out.add((ADDED, path))
                self.hot[path] = time.monotonic()

    def _entries(self, folder: str) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(folder) as it:
                return [e for e in it if self.keep(None, e.path)]
        except OSError:
            return []

    def _forget(self, path: str, out: set[tuple[int, str]]) -> None:
        """``path`` is gone: it and everything known under it."""
        prefix = path.rstrip(os.sep) + os.sep
        for table in (self.files, self.dirs):
            for known in [p for p in table if p == path or p.startswith(prefix)]:
                del table[known]
                self.hot.pop(known, None)
                out.add((DELETED, known))

    def scan(self, *, full: bool = False) -> set[tuple[int, str]]:
        """What changed since the last scan; ``full`` stats every file (a build ended)."""
        out: set[tuple[int, str]] = set()
        for folder, mtime in list(self.dirs.items()):
            if folder not in self.dirs:
                continue  # forgotten with its parent in this scan
            try:
                now = os.stat(folder).st_mtime_ns
            except OSError:
                self._forget(folder, out)
                continue
            if now != mtime:
                self.dirs[folder] = now
                self._relist(folder, out)
        self._check_files(out, full)
        return out

    def _relist(self, folder: str, out: set[tuple[int, str]]) -> None:
        present = {e.path for e in self._entries(folder)}
        prefix = folder.rstrip(os.sep) + os.sep
        for table in (self.files, self.dirs):
            for known in [p for p in table if p.startswith(prefix) and p not in present]:
                if os.sep not in known[len(prefix) :]:  # a direct child that went
                    self._forget(known, out)
        for path in present:
            self._add_entry(path, out)

    def _check_files(self, out: set[tuple[int, str]], full: bool) -> None:
        now = time.monotonic()
        for path, since in list(self.hot.items()):
            if now - since > HOT_SECONDS:
                del self.hot[path]
        if self._pos >= len(self._turn):
            self._turn, self._pos = list(self.files), 0
        batch = self._turn[self._pos : self._pos + self.budget]
        self._pos += self.budget
        for path in list(self.files) if full else {*self.hot, *batch}:
            known = self.files.get(path)
            if known is None:
                continue
            try:
                key = _key(os.stat(path))
            except OSError:
                self._forget(path, out)
                continue
            if key != known:
                self.files[path] = key
                self.hot[path] = now
                out.add((MODIFIED, path))


def watch(
    *paths: str,
    watch_filter: Keep,
    stop_event: threading.Event,
    poll_delay_ms: int,
    rust_timeout: int,
    full_scan: threading.Event | None = None,
    **_watchfiles_options: object,
) -> Iterator[set[tuple[int, str]]]:
    """Rounds as ``watchfiles.watch(..., yield_on_timeout=True)`` gives them, by polling.

    ``full_scan``, when set, makes the next scan stat every file (and is
    cleared): a build just ended, and its writes are announced once.
    """
    poller = Poller(paths, watch_filter)
    delay = poll_delay_ms / 1000
    step = rust_timeout / 1000
    yield set()  # the first scan is done: as watchfiles, once its watches are in place
    due = time.monotonic() + delay
    while not stop_event.wait(max(0.0, min(step, due - time.monotonic()))):
        if time.monotonic() < due:
            yield set()
            continue
        due = time.monotonic() + delay
        full = full_scan is not None and full_scan.is_set()
        if full:
            assert full_scan is not None
            full_scan.clear()
        yield {(k, p) for k, p in poller.scan(full=full) if watch_filter(k, p)}
