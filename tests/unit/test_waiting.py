"""The suite's one bounded poll fails with what it waited for, and never waits forever."""

from __future__ import annotations

import itertools

import pytest

from tests.waiting import poll_until


def test_returns_once_the_check_holds() -> None:
    calls = itertools.count()
    took = poll_until("the third call", lambda: next(calls) >= 2, 5, 0.001)
    assert next(calls) == 3
    assert 0 <= took < 5


def test_fails_after_the_bound_with_the_condition_and_its_detail() -> None:
    with pytest.raises(AssertionError, match=r"not within 0.05 s: never: \['state'\]"):
        poll_until("never", lambda: False, 0.05, 0.001, detail=lambda: ["state"])
