"""The proxy in Chromium: a server-rendered page, its WebSocket, live reload of a static asset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from staticsrv.http.proxymap import parse_proxy
from tests.conftest import ServeFactory
from tests.e2e.test_proxy_frameworks import starlette_origin

pytestmark = [pytest.mark.browser, pytest.mark.one_scheme]

pytest.importorskip("watchfiles")

__all__ = ["starlette_origin"]  # the fixture, shared with the framework tests
WAIT_MS = 20_000
RED, BLUE = "rgb(255, 0, 0)", "rgb(0, 0, 255)"


def test_proxied_page_websocket_and_live_css(
    browser: Any, serve: ServeFactory, site: Path, starlette_origin: str
) -> None:
    (site / "style.css").write_text(f"h1 {{ color: {RED} }}\n")
    running = serve(live=True, live_delay=0.05, proxy=(parse_proxy(f"/api={starlette_origin}"),))
    page = browser.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"http://127.0.0.1:{running.port}/api/page")
    # The reload script went into the proxied page, and its stream is open.
    page.wait_for_function("window.__staticsrvLive && window.__staticsrvLive.run !== null")
    # The page's WebSocket went through the proxy to the backend and back.
    page.wait_for_function(
        "document.getElementById('echo')?.textContent === 'echo: from the browser'"
    )
    color = "getComputedStyle(document.getElementById('title')).color"
    assert page.evaluate(color) == RED
    (site / "style.css").write_text(f"h1 {{ color: {BLUE} }}\n")
    page.wait_for_function(f"{color} === '{BLUE}'")
