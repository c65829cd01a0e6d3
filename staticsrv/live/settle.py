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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# watchfiles' Change values (added, modified, deleted).
ADDED, MODIFIED, DELETED = 1, 2, 3

Event = tuple[int, str, int | None]  # (kind, absolute path, size now; None: missing)


@dataclass(slots=True)
class _Seen:
    first: int  # the kind of the path's first event in this batch
    size: int | None  # its size at the last look (None: missing)


class Settler:
    """Collects changes until they settle; see the module docstring."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._seen: dict[str, _Seen] = {}
        self._last = 0.0  # time of the last write seen (or of the last growth)

    @property
    def pending(self) -> tuple[str, ...]:
        """Paths changed since the last batch (the ones to stat when :attr:`due`)."""
        return tuple(self._seen)

    @property
    def due(self) -> float | None:
        """When to call :meth:`settle` next; None while nothing is pending."""
        return self._last + self.delay if self._seen else None

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
        batch = frozenset(
            path
            for path, entry in self._seen.items()
            if not (entry.first == ADDED and entry.size is None)
        )
        self._seen.clear()
        return batch
