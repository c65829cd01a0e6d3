"""One Chromium lookup and one command line for every browser test.

Chromium is ``$STATICSRV_CHROMIUM`` or ``chromium`` on PATH (the system's
browser; Playwright only drives it and never downloads one).  Where it or
Playwright is missing the browser tests are skipped, except where
``STATICSRV_REQUIRE_BROWSER=1`` (CI sets it): there a missing browser FAILS
the test, so a broken install never passes as a silent skip.
"""

from __future__ import annotations

import os
import shutil
from types import ModuleType
from typing import Any, NoReturn

import pytest

REQUIRED = os.environ.get("STATICSRV_REQUIRE_BROWSER") == "1"
CHROMIUM = os.environ.get("STATICSRV_CHROMIUM") or shutil.which("chromium") or ""
# Quiet and reproducible: no sandbox (containers), no GPU, no QUIC (every
# request over the TCP the server sees), nothing fetched in the background.
ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def missing(reason: str) -> NoReturn:
    """Skip the test, or fail it where a browser is required."""
    if REQUIRED:
        pytest.fail(f"STATICSRV_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def sync_api() -> ModuleType:
    """Playwright's sync API, once Chromium and Playwright are both found."""
    if not CHROMIUM or not os.access(CHROMIUM, os.X_OK):
        missing(f"no Chromium ({CHROMIUM or 'chromium not on PATH'})")
    try:
        from playwright import sync_api as api
    except ImportError as exc:
        missing(f"no Playwright: {exc}")
    return api


def launch(playwright: Any, *extra: str) -> Any:
    """Chromium with the shared flags and any extra ones (a CA pin, say)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, *extra])
