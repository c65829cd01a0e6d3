"""--live in a real browser: Chromium driven by Playwright.

Skipped where Playwright or a Chromium binary is missing (CI installs
both).  Waits are Playwright's own bounded waits for a condition in the
page, never sleeps.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

import staticsrv
from staticsrv.config import Config
from tests.conftest import ServeFactory

# Chromium over HTTPS is covered by test_browser_https.py; these run on plain HTTP.
pytestmark = [pytest.mark.browser, pytest.mark.one_scheme]
pytest.importorskip("watchfiles")

WAIT_MS = 20_000  # generous bound for each wait in the page
PAGE = """<!doctype html>
<html><head><title>live</title><link rel="stylesheet" href="/style.css"></head>
<body><h1 id="title">{title}</h1><input id="field"></body></html>
"""
RED, BLUE = "rgb(255, 0, 0)", "rgb(0, 0, 255)"


@pytest.fixture
def page_site(site: Path) -> Path:
    (site / "index.html").write_text(PAGE.format(title="old"))
    (site / "style.css").write_text(f"h1 {{ color: {RED} }}\n")
    return site


def open_live_page(browser: Any, url: str) -> Any:
    page = browser.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    # The client heard hello: its stream is open and the server watches.
    page.wait_for_function("window.__staticsrvLive && window.__staticsrvLive.run !== null")
    return page


def title_color(page: Any) -> str:
    color: str = page.evaluate("getComputedStyle(document.getElementById('title')).color")
    return color


def test_editing_the_html_shows_the_new_content_without_a_manual_reload(
    browser: Any, serve: ServeFactory, page_site: Path
) -> None:
    running = serve(live=True, live_delay=0.05)
    page = open_live_page(browser, f"http://127.0.0.1:{running.port}/")
    assert page.inner_text("#title") == "old"
    (page_site / "index.html").write_text(PAGE.format(title="new"))
    page.wait_for_function("document.getElementById('title')?.textContent === 'new'")


def test_editing_a_stylesheet_restyles_the_page_without_reloading_it(
    browser: Any, serve: ServeFactory, page_site: Path
) -> None:
    running = serve(live=True, live_delay=0.05)
    page = open_live_page(browser, f"http://127.0.0.1:{running.port}/")
    assert title_color(page) == RED
    page.evaluate("window.marker = 42")
    page.fill("#field", "typed by the user")
    (page_site / "style.css").write_text(f"h1 {{ color: {BLUE} }}\n")
    page.wait_for_function(f"getComputedStyle(document.getElementById('title')).color === '{BLUE}'")
    # No reload happened: the page's own state survived.
    assert page.evaluate("window.marker") == 42
    assert page.input_value("#field") == "typed by the user"
    assert page.evaluate("document.querySelectorAll('link[rel=stylesheet]').length") == 1


def test_the_page_recovers_after_the_server_restarts(browser: Any, page_site: Path) -> None:
    config = Config(root=str(page_site.resolve()), port=0, live=True, live_delay=0.05)
    with staticsrv.serve(config=config) as first:
        port = first.port
        page = open_live_page(browser, f"http://127.0.0.1:{port}/")
        first_run = page.evaluate("window.__staticsrvLive.run")
    # Changed while the server was down: the restart must show it.
    (page_site / "index.html").write_text(PAGE.format(title="after restart"))
    log: list[str] = []
    second_config = dataclasses.replace(config, port=port)
    with staticsrv.serve(config=second_config, access_log=log.append):
        page.wait_for_function("document.getElementById('title')?.textContent === 'after restart'")
        page.wait_for_function(
            "window.__staticsrvLive && window.__staticsrvLive.run !== null"
            f" && window.__staticsrvLive.run !== {first_run!r}"
        )
        # Settle a round trip through the new run (a css swap, no reload),
        # then count: one page load after the restart, not a loop.
        (page_site / "style.css").write_text(f"h1 {{ color: {BLUE} }}\n")
        page.wait_for_function(
            f"getComputedStyle(document.getElementById('title')).color === '{BLUE}'"
        )
        assert sum(1 for line in log if '"GET / HTTP/1.1" 200' in line) == 1
