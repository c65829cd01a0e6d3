"""The browser fixtures of the end-to-end tests (see tests/browser.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests import browser as chromium


# Module scope, not session: while Playwright's sync API is started, its
# event loop counts as the thread's running loop, and the asyncio tests
# that follow in the same session could not run theirs.  Every browser test
# file holds sync tests only, and stops Playwright when it ends.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    """Playwright, started by a file's first browser test."""
    with chromium.sync_api().sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def shared_browser(playwright: Any) -> Iterator[Any]:
    browser = chromium.launch(playwright)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def browser(shared_browser: Any) -> Iterator[Any]:
    """One Chromium per test file; each test's pages and contexts closed after it.

    Closing them stops a page left open (a live-reload stream retrying) from
    talking to the next test's server.
    """
    yield shared_browser
    for context in shared_browser.contexts:
        context.close()
