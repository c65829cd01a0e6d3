"""The browser fixtures of the end-to-end tests (see tests/browser.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests import browser as chromium


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    """Playwright for the session, started by the first browser test."""
    with chromium.sync_api().sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def shared_browser(playwright: Any) -> Iterator[Any]:
    browser = chromium.launch(playwright)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def browser(shared_browser: Any) -> Iterator[Any]:
    """One Chromium for the session; each test's pages and contexts closed after it.

    Closing them stops a page left open (a live-reload stream retrying) from
    talking to the next test's server.
    """
    yield shared_browser
    for context in shared_browser.contexts:
        context.close()
