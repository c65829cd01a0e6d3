"""When a burst of file changes is over: a pure state machine over timed events.

Owns: :class:`Settler`.  May not touch: files, clocks, the event loop (the
watcher feeds it times and sizes it observed).

A change is announced once writes have been quiet for ``delay`` seconds,
and never while a changed file is still growing: when the quiet period
ends, the watcher stats the changed paths again and any size that moved
since the last look starts another quiet period (a slow copy, a network
share or the polling watcher, which sees a file between two writes).  A
build writing 50 files over 400 ms is therefore one batch, after its last
write.  A path first seen being added and missing at the end (an editor's
temporary file renamed into place, a build's scratch file) was never there
for a page to show, so it is left out of the batch: a rename-into-place
counts as one change of the target.

Two refinements, both opt-in (the watcher turns them on):

- **A single file saved in place** (one path, not new) settles after
  ``fast`` instead of ``delay``: the watcher only hands it over after a
  step without writes, so nothing followed it.  A burst's first group
  holds many paths, and a new file may be a temporary one about to be
  renamed: both wait for the whole delay.
- **Storm guard**: a batch that starts within ``STORM_WINDOW`` of the last
  announcement (a file still being written in pieces, a build that
  pauses) waits for ``STORM_QUIET`` of quiet, so such a writer gives at
  most two announcements, not one per piece.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# watchfiles' Change values (added, modified, deleted).
ADDED, MODIFIED, DELETED = 1, 2, 3

Event = tuple[int, str, int | None]  # (kind, absolute path, size now; None: missing)

STORM_WINDOW = 0.5  # seconds after an announcement in which a new batch counts as a storm
STORM_QUIET = 0.5  # ... and then waits for this much quiet (pieces 150 ms apart are one batch)


@dataclass(slots=True)
class _Seen:
    first: int  # the kind of the path's first event in this batch
    size: int | None  # its size at the last look (None: missing)


class Settler:
    """Collects changes until they settle; see the module docstring."""

    def __init__(self, delay: float, *, fast: float | None = None, storm: bool = False) -> None:
        self.delay = delay
        self.fast = None if fast is None else min(fast, delay)
        self.storm = storm
        self._seen: dict[str, _Seen] = {}
        self._last = 0.0  # time of the last write seen (or of the last growth)
        self._announced = -STORM_WINDOW  # time of the last non-empty batch
        self._quiet = delay  # the quiet period of the batch being collected

    @property
    def pending(self) -> tuple[str, ...]:
        """Paths changed since the last batch (the ones to stat when :attr:`due`)."""
        return tuple(self._seen)

    @property
    def due(self) -> float | None:
        """When to call :meth:`settle` next; None while nothing is pending."""
        if not self._seen:
            return None
        if self.fast is not None and self._quiet == self.delay and self._single():
            return self._last + self.fast
        return self._last + self._quiet

    def _single(self) -> bool:
        """One file saved in place, and nothing else pending.

        A new file does not count: it may be an editor's temporary file about
        to be renamed over its target (under load, more than a step can pass
        between the two), so a rename-into-place waits for the whole delay.
        """
        if len(self._seen) != 1:
            return False
        [entry] = self._seen.values()
        return entry.first == MODIFIED

    def changed(self, now: float, events: Iterable[Event]) -> None:
        """Writes seen at ``now``: the quiet period starts again.

        ``events`` is one group as the watcher hands it over: a set, in no
        order.  A path new to this batch with an ``added`` event in its
        group was created during the batch (a created-then-renamed scratch
        file reports added, modified and deleted in one group).
        """
        group: dict[str, tuple[bool, int | None]] = {}
        for kind, path, size in events:
            added = group.get(path, (False, None))[0] or kind == ADDED
            group[path] = (added, size)
        if group and not self._seen:  # a new batch: a storm's continuation?
            stormy = self.storm and now - self._announced < STORM_WINDOW
            self._quiet = max(self.delay, STORM_QUIET) if stormy else self.delay
        for path, (added, size) in group.items():
            entry = self._seen.get(path)
            if entry is None:
                self._seen[path] = _Seen(ADDED if added else MODIFIED, size)
            else:
                entry.size = size
        if group:
            self._last = now

    def settle(self, now: float, sizes: Mapping[str, int | None]) -> frozenset[str] | None:
        """The settled batch, or None if it is not time yet or a file still grows.

        ``sizes`` holds the size of each :attr:`pending` path observed at
        ``now`` (None: missing).  The batch may be empty (only transient
        files changed); the caller then announces nothing.
        """
        due = self.due
        if due is None or now < due:
            return None
        moved = False
        for path, entry in self._seen.items():
            size = sizes.get(path)
            if size != entry.size:
                entry.size = size
                moved = True
        if moved:
            self._last = now
            return None
        return self._batch(now)

    def flush(self, now: float, sizes: Mapping[str, int | None]) -> frozenset[str]:
        """Everything pending, settled or not (a build ended: its writes are done)."""
        for path, entry in self._seen.items():
            if path in sizes:
                entry.size = sizes[path]
        return self._batch(now)

    def _batch(self, now: float) -> frozenset[str]:
        batch = frozenset(
            path
            for path, entry in self._seen.items()
            if not (entry.first == ADDED and entry.size is None)
        )
        self._seen.clear()
        if batch:
            self._announced = now
        return batch
