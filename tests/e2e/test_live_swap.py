"""--live in a real browser: images swapped in place, and the build overlay.

Chromium (Debian's, through Playwright) as in test_live_browser.py.  A
``window.marker`` set before the change and still there after it shows
that the page was not reloaded.  The build events are published on the
server's own hub, in its loop, as the build runner does.
"""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Running, ServeFactory
from tests.e2e.test_live_browser import WAIT_MS

pytestmark = [pytest.mark.browser, pytest.mark.one_scheme]

IMAGE_PAGE = """<!doctype html>
<html><head><title>images</title><link rel="stylesheet" href="/style.css"></head>
<body><h1 id="title">images</h1>
<img id="plain" src="pic.png">
<picture><source srcset="/pic.png 1x, /other.png 2x"><img id="pictured" src="/other.png"></picture>
<img id="untouched" src="/other.png">
<div id="bg"></div>
</body></html>
"""
STYLE = "#bg { width: 10px; height: 10px; background: url(bg.png) no-repeat }\n"


def png(width: int, height: int) -> bytes:
    """A valid grey PNG of this size (RFC 2083)."""

    def part(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    head = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + part(b"IHDR", head)
        + part(b"IDAT", zlib.compress(rows))
        + part(b"IEND", b"")
    )


def open_page(browser: Any, running: Running, path: str = "/") -> Any:
    page = browser.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"http://127.0.0.1:{running.port}{path}")
    page.wait_for_function("window.__staticsrvLive && window.__staticsrvLive.run !== null")
    page.evaluate("window.marker = 42")
    return page


def test_an_edited_image_is_swapped_in_place_without_a_reload(
    browser: Any, serve: ServeFactory, site: Path
) -> None:
    (site / "index.html").write_text(IMAGE_PAGE)
    (site / "style.css").write_text(STYLE)
    for name in ("pic.png", "other.png", "bg.png"):
        (site / name).write_bytes(png(3, 3))
    running = serve(live=True, live_delay=0.05)
    page = open_page(browser, running)
    page.wait_for_function("document.getElementById('plain').complete")
    assert page.evaluate("document.getElementById('plain').naturalWidth") == 3

    (site / "pic.png").write_bytes(png(7, 5))
    page.wait_for_function("document.getElementById('plain').naturalWidth === 7")
    assert page.evaluate("window.marker") == 42  # no reload
    srcset = page.evaluate("document.querySelector('source').getAttribute('srcset')")
    first, second = srcset.split(", ")
    assert re.fullmatch(rf"http://127\.0\.0\.1:{running.port}/pic\.png\?__staticsrv=\w+ 1x", first)
    assert second == "/other.png 2x"  # not changed, not touched
    assert page.evaluate("document.getElementById('untouched').getAttribute('src')") == "/other.png"

    # A CSS background: the stylesheet's rule points at the new version.
    (site / "bg.png").write_bytes(png(9, 9))
    page.wait_for_function(
        "getComputedStyle(document.getElementById('bg')).backgroundImage.includes('__staticsrv=')"
    )
    assert "/bg.png?__staticsrv=" in page.evaluate(
        "getComputedStyle(document.getElementById('bg')).backgroundImage"
    )
    assert page.evaluate("window.marker") == 42
    # The new versions were fetched (not taken from the page's memory).
    log = "\n".join(running.log)
    assert '"GET /pic.png?__staticsrv=' in log and '"GET /bg.png?__staticsrv=' in log
    assert log.count('"GET / HTTP/1.1"') == 1
    page.close()


def test_a_failed_build_shows_an_overlay_until_a_good_build_reloads(
    browser: Any, serve: ServeFactory, site: Path
) -> None:
    (site / "index.html").write_text('<!doctype html><h1 id="title">site</h1>')
    running = serve(live=True, live_delay=0.05)
    hub = running.core.hub
    task = running.server._task
    assert hub is not None and task is not None
    page = open_page(browser, running)
    assert page.locator("#__staticsrv_overlay").count() == 0

    output = "\n".join(f"step {i}" for i in range(300)) + "\nerror: <b>bad</b> & worse"
    task.get_loop().call_soon_threadsafe(hub.build_state, "failed", "make html", 2, output)
    overlay = page.locator("#__staticsrv_overlay")
    overlay.wait_for(state="visible")
    text = overlay.inner_text()
    assert "make html" in text and "exit 2" in text
    assert "error: <b>bad</b> & worse" in text  # as text, not markup
    assert page.locator("#__staticsrv_overlay b").count() == 0
    shown = page.locator("#__staticsrv_overlay pre").inner_text().splitlines()
    assert len(shown) == 200 and shown[0] == "step 101"
    assert page.evaluate(
        "getComputedStyle(document.querySelector('#__staticsrv_overlay pre')).fontFamily"
    ).startswith("ui-monospace")
    assert page.evaluate("window.marker") == 42  # shown without a reload

    # A page loaded while the failure stands shows it too.
    later = open_page(browser, running)
    later.locator("#__staticsrv_overlay").wait_for(state="visible")
    assert "error: <b>bad</b> & worse" in later.locator("#__staticsrv_overlay").inner_text()
    # Its close button hides it.
    later.get_by_role("button", name="Close").click()
    assert later.locator("#__staticsrv_overlay").count() == 0

    task.get_loop().call_soon_threadsafe(hub.build_state, "ok", "make html", 0)
    for tab in (page, later):
        tab.wait_for_function("window.marker === undefined")  # reloaded
        tab.wait_for_function("window.__staticsrvLive && window.__staticsrvLive.run !== null")
        assert tab.locator("#__staticsrv_overlay").count() == 0
    page.close()
    later.close()
