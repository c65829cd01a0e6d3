"""One small bounded map for the server's memo tables.

Owns: :class:`Bounded`, a dict with a limit on entries and, optionally, on
the bytes its values hold.  When either limit would be passed, the oldest
entries (by insertion) go first: O(1) per operation, no reordering on a hit,
so a lookup on the hot path costs one dict access.  A scan of random URLs
can never grow a table past its limit.  May not touch: anything else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Bounded(Generic[K, V]):
    __slots__ = ("_data", "_held", "_weigh", "budget", "get", "maxsize")

    def __init__(
        self, maxsize: int, *, budget: int = 0, weigh: Callable[[V], int] | None = None
    ) -> None:
        self.maxsize = maxsize
        self.budget = budget  # bytes; 0 means no byte limit
        self._weigh = weigh
        self._held = 0
        self._data: dict[K, V] = {}
        self.get = self._data.get  # the hot path calls the dict's own method

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    @property
    def held(self) -> int:
        """Bytes held by the values, as weighed when they were stored."""
        return self._held

    def __setitem__(self, key: K, value: V) -> None:
        self.pop(key)
        weight = self._weigh(value) if self._weigh is not None else 0
        if self.budget and weight > self.budget:
            return  # would push out everything and still not fit
        data = self._data
        while data and (
            len(data) >= self.maxsize or (self.budget and self._held + weight > self.budget)
        ):
            self.pop(next(iter(data)))
        data[key] = value
        self._held += weight

    def pop(self, key: K) -> V | None:
        value = self._data.pop(key, None)
        if value is not None and self._weigh is not None:
            self._held -= self._weigh(value)
        return value

    def clear(self) -> None:
        self._data.clear()
        self._held = 0
