"""--live in a real browser, many tabs and frames: one event stream per browser.

Chromium (Debian's, through Playwright) as in test_live_browser.py.  The
server's own count of open event streams (``Hub.streams``, and
``Hub.peak``: the most at once) is what "one stream per browser" means.
Waits are Playwright's bounded waits for a condition in a page.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

import staticsrv
from staticsrv.config import Config
from staticsrv.live.events import Hub
from tests.conftest import Running, ServeFactory
from tests.e2e.test_live_browser import PAGE, WAIT_MS

pytestmark = [pytest.mark.browser, pytest.mark.one_scheme]

NO_WORKER = "delete window.SharedWorker;"  # what a browser without SharedWorker has
LOAD_MS = 2_000  # the bound for each tab's load


def hub_of(running: Running) -> Hub:
    hub = running.core.hub
    assert hub is not None
    return hub


def gets(running: Running, path: str) -> int:
    """Requests for ``path`` (200, or 304 when the tab's cache revalidates)."""
    # The log's sink gets the lines of one loop pass joined in one call.
    return "\n".join(running.log).count(f'"GET {path} HTTP/1.1" ')


def listening(page: Any) -> None:
    page.wait_for_function("window.__staticsrvLive && window.__staticsrvLive.run !== null")


@pytest.mark.parametrize(
    ("tabs", "init"),
    [(12, ""), (12, NO_WORKER), (6, "")],
    ids=["12-tabs-shared-worker", "12-tabs-leader-election", "6-tabs"],
)
def test_every_tab_loads_and_reloads_once_over_at_most_two_streams(
    browser: Any, serve: ServeFactory, site: Path, tabs: int, init: str
) -> None:
    (site / "index.html").write_text(PAGE.format(title="old"))
    running = serve(live=True, live_delay=0.05)
    hub = hub_of(running)
    context = browser.new_context()
    if init:
        context.add_init_script(init)
    url = f"http://127.0.0.1:{running.port}/"
    pages = []
    for _ in range(tabs):
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        # Each tab loads within the bound: none waits for a connection slot
        # that another tab's event stream holds.
        page.goto(url, timeout=LOAD_MS)
        page.evaluate("window.marker = 1")
        pages.append(page)
    for page in pages:
        listening(page)
    via = {page.evaluate("window.__staticsrvLive.via") for page in pages}
    assert via == ({"leader", "follower"} if init else {"worker"})
    assert hub.streams <= 2 and hub.peak <= 2, (hub.streams, hub.peak)
    assert gets(running, "/") == tabs

    (site / "index.html").write_text(PAGE.format(title="new"))
    for page in pages:
        page.wait_for_function("document.getElementById('title')?.textContent === 'new'")
        assert page.evaluate("window.marker") is None  # reloaded
        listening(page)
    # A round trip through every tab's stream (a css swap, no reload)
    # before counting: a second reload would have come before it.
    (site / "style.css").write_text("h1 { color: rgb(0, 0, 255) }\n")
    for page in pages:
        page.wait_for_function(
            "getComputedStyle(document.getElementById('title')).color === 'rgb(0, 0, 255)'"
        )
    assert gets(running, "/") == 2 * tabs  # each tab reloaded once
    assert hub.streams <= 2 and hub.peak <= 2, (hub.streams, hub.peak)
    context.close()


def test_a_closing_leader_hands_over_without_a_missed_event(
    browser: Any, serve: ServeFactory, site: Path
) -> None:
    (site / "index.html").write_text(PAGE.format(title="old"))
    running = serve(live=True, live_delay=0.05)
    context = browser.new_context()
    context.add_init_script(NO_WORKER)
    url = f"http://127.0.0.1:{running.port}/"
    pages = [context.new_page() for _ in range(3)]
    for page in pages:
        page.set_default_timeout(WAIT_MS)
        page.goto(url)
        listening(page)
    leader = next(p for p in pages if p.evaluate("window.__staticsrvLive.via") == "leader")
    rest = [p for p in pages if p is not leader]
    leader.close()
    # At once, before any tab can have taken over: the event is published
    # while nobody holds a stream, and the next leader asks for it.
    (site / "index.html").write_text(PAGE.format(title="new"))
    for page in rest:
        page.wait_for_function("document.getElementById('title')?.textContent === 'new'")
    context.close()


SCROLL_PAGE = """<!doctype html>
<html><head><title>scroll</title>
<script src="/manual.js"></script></head>
<body style="margin:0">
<div style="height:6000px;background:linear-gradient(#fff,#888)">
<h1 id="title">{title}</h1>
<div class="pane" style="height:200px;overflow:auto"><div style="height:3000px"></div></div>
</div></body></html>
"""


@pytest.mark.parametrize("restoration", ["auto", "manual"])
def test_a_live_reload_keeps_the_scroll_position_and_a_new_visit_starts_at_the_top(
    browser: Any, serve: ServeFactory, site: Path, restoration: str
) -> None:
    (site / "manual.js").write_text(f'history.scrollRestoration = "{restoration}";\n')
    (site / "index.html").write_text(SCROLL_PAGE.format(title="old"))
    running = serve(live=True, live_delay=0.05)
    page = browser.new_page()
    page.set_default_timeout(WAIT_MS)
    url = f"http://127.0.0.1:{running.port}/"
    page.goto(url)
    listening(page)
    page.evaluate(
        "window.scrollTo(0, 2000); document.querySelector('.pane').scrollTop = 700;"
        " window.marker = 1"
    )
    (site / "index.html").write_text(SCROLL_PAGE.format(title="new"))
    page.wait_for_function("document.getElementById('title')?.textContent === 'new'")
    assert page.evaluate("window.marker") is None  # a reload, not an edit in place
    page.wait_for_function(
        "window.scrollY === 2000 && document.querySelector('.pane').scrollTop === 700"
    )
    assert page.evaluate("history.scrollRestoration") == restoration
    assert page.evaluate("sessionStorage.length") == 0  # nothing left behind
    # A new visit to the same URL starts at the top.
    page.evaluate("window.scrollTo(0, 1500)")
    page.goto(url)
    listening(page)
    page.wait_for_load_state("load")
    assert page.evaluate("window.scrollY") == 0
    page.close()


def test_a_page_with_five_frames_reloads_over_one_stream(
    browser: Any, serve: ServeFactory, site: Path
) -> None:
    frames = "".join(f'<iframe src="/frame.html?{i}"></iframe>' for i in range(5))
    (site / "index.html").write_text(
        f"<!doctype html><html><head><title>frames</title></head><body>{frames}</body></html>"
    )
    (site / "frame.html").write_text('<!doctype html><p id="text">old</p>')
    running = serve(live=True, live_delay=0.05)
    hub = hub_of(running)
    page = browser.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"http://127.0.0.1:{running.port}/", timeout=LOAD_MS)
    listening(page)
    assert len(page.frames) == 6
    for frame in page.frames[1:]:
        frame.wait_for_function("document.getElementById('text')?.textContent === 'old'")
    page.evaluate("window.marker = 1")
    assert hub.peak == 1
    (site / "frame.html").write_text('<!doctype html><p id="text">new</p>')
    page.wait_for_function("window.marker === undefined")
    listening(page)
    for frame in page.frames[1:]:
        frame.wait_for_function("document.getElementById('text')?.textContent === 'new'")
    assert gets(running, "/") == 2  # the top page reloaded once, the frames with it
    assert hub.streams == 1
    page.close()


NO_LOCKS = NO_WORKER + "Object.defineProperty(navigator, 'locks', {value: undefined});"


@pytest.mark.parametrize(
    "init", ["", NO_WORKER, NO_LOCKS], ids=["shared-worker", "leader-election", "own-stream"]
)
def test_after_a_restart_every_tab_reloads_once(browser: Any, site: Path, init: str) -> None:
    (site / "index.html").write_text(PAGE.format(title="old"))
    config = Config(root=str(site.resolve()), port=0, live=True, live_delay=0.05)
    context = browser.new_context()
    if init:
        context.add_init_script(init)
    with staticsrv.serve(config=config) as first:
        port = first.port
        pages = [context.new_page() for _ in range(3)]
        for page in pages:
            page.set_default_timeout(WAIT_MS)
            page.goto(f"http://127.0.0.1:{port}/")
            listening(page)
            page.evaluate("window.marker = 1")
        via = {page.evaluate("window.__staticsrvLive.via") for page in pages}
        expected = {"": {"worker"}, NO_WORKER: {"leader", "follower"}, NO_LOCKS: {"own"}}
        assert via == expected[init]
    # Changed while the server was down: the restart must show it.
    (site / "index.html").write_text(PAGE.format(title="after restart"))
    log: list[str] = []
    with staticsrv.serve(config=dataclasses.replace(config, port=port), access_log=log.append):
        for page in pages:
            page.wait_for_function(
                "document.getElementById('title')?.textContent === 'after restart'"
            )
            listening(page)
        # A round trip (a css swap, no reload) before counting.
        (site / "style.css").write_text("h1 { color: rgb(0, 0, 255) }\n")
        for page in pages:
            page.wait_for_function(
                "getComputedStyle(document.getElementById('title')).color === 'rgb(0, 0, 255)'"
            )
        assert "\n".join(log).count('"GET / HTTP/1.1" ') == len(pages)  # once each
    context.close()


def test_a_page_whose_policy_forbids_workers_still_reloads(
    browser: Any, serve: ServeFactory, site: Path
) -> None:
    (site / "index.html").write_text(PAGE.format(title="old"))
    policy = "worker-src 'none'"
    running = serve(live=True, live_delay=0.05, headers=(("Content-Security-Policy", policy),))
    page = browser.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"http://127.0.0.1:{running.port}/")
    listening(page)
    assert page.evaluate("window.__staticsrvLive.via") == "leader"  # the worker was refused
    (site / "index.html").write_text(PAGE.format(title="new"))
    page.wait_for_function("document.getElementById('title')?.textContent === 'new'")
    page.close()
