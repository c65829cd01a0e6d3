"""Replace a function where the code under test looks it up, and prove it was.

A patch of a module attribute is silently defeated when the code moves or
imports the name elsewhere: the test then runs the real function and may
still pass.  ``replace`` records every call of the replacement, so the test
asserts that the code under test really went through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


def replace(
    monkeypatch: pytest.MonkeyPatch, owner: object, name: str, fake: Callable[..., Any]
) -> list[tuple[Any, ...]]:
    """Patch ``owner.name`` with ``fake``; return the list its calls' arguments go to."""
    assert callable(getattr(owner, name)), f"{owner!r}.{name} is not a function to replace"
    calls: list[tuple[Any, ...]] = []

    def recorded(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return fake(*args, **kwargs)

    monkeypatch.setattr(owner, name, recorded)
    return calls
