"""--live over real sockets: the event stream, the watcher, the limits.

Every test reads ``hello`` first: the server says it only once its file
watches are in place, so each write after it is seen (no readiness sleep).
"One event" is shown by writing a sentinel file afterwards: the next event
must be the sentinel's alone, so nothing came in between.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from pathlib import Path

import pytest

import staticsrv
from staticsrv.config import Config, Timeouts
from tests.client import get
from tests.conftest import Running, ServeFactory
from tests.sse import EventStream
from tests.waiting import poll_until

pytest.importorskip("watchfiles")

DELAY = 0.05
TIMEOUTS = Timeouts(head=5.0, keepalive=5.0, send=5.0)


@pytest.fixture
def live(serve: ServeFactory) -> Running:
    return serve(live=True, live_delay=DELAY)


def sentinel(root: Path, stream: EventStream) -> None:
    """Write a sentinel file; the very next event must be its own."""
    (root / "sentinel.txt").write_text(str(time.monotonic()))
    assert stream.next_event() == ("reload", {"paths": ["/sentinel.txt"]})


def test_a_file_change_sends_reload_with_its_url_path(live: Running) -> None:
    with EventStream(live.addr) as stream:
        stream.hello()
        assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
        (live.root / "index.html").write_text("<h1>new</h1>")
        assert stream.next_event() == ("reload", {"paths": ["/index.html"]})
        assert b"<h1>new</h1><script" in get(live.addr, "/").body


def test_a_stylesheet_change_sends_css(live: Running) -> None:
    with EventStream(live.addr) as stream:
        stream.hello()
        (live.root / "style.css").write_text("body { color: blue }")
        assert stream.next_event() == ("css", {"paths": ["/style.css"]})


def test_a_stylesheet_and_a_page_together_send_reload(live: Running) -> None:
    with EventStream(live.addr) as stream:
        stream.hello()
        (live.root / "style.css").write_text("body { color: blue }")
        (live.root / "hello.txt").write_text("changed")
        assert stream.next_event() == ("reload", {"paths": ["/hello.txt", "/style.css"]})


def test_creating_a_missing_page_reloads_and_names_it(live: Running) -> None:
    assert b"/__staticsrv__/live.js" in get(live.addr, "/new%20page.html").body  # its 404
    with EventStream(live.addr) as stream:
        stream.hello()
        (live.root / "new page.html").write_text("<p>here</p>")
        assert stream.next_event() == ("reload", {"paths": ["/new%20page.html"]})


def build(out: Path, count: int, pause_at: int | None = None) -> float:
    """Write ``count`` pages 8 ms apart (50 take ~400 ms), pausing 40 ms before ``pause_at``.

    Returns the longest gap between two writes as this process saw it.
    """
    longest, last = 0.0, time.monotonic()
    for i in range(count):
        if i == pause_at:  # longer than the watcher's step, shorter than the quiet period
            time.sleep(0.04)  # allowed: the build's one pause
        (out / f"page{i:02}.html").write_text(f"<p>{i}</p>")
        now = time.monotonic()
        longest, last = max(longest, now - last), now
        time.sleep(0.008)  # allowed: paces the build
    return longest


def one_burst(running: Running, pause_at: int | None) -> None:
    pages = [f"/build/page{i:02}.html" for i in range(50)]
    with EventStream(running.addr) as stream:
        stream.hello()
        longest = build(running.root / "build", len(pages), pause_at)
        name, data = stream.next_event()
        if longest >= BURST_DELAY and data["paths"] != pages:
            # A machine that stops this process for longer than the quiet
            # period made two bursts; announcing the first was right.
            pytest.skip(f"the writer itself stalled {longest * 1000:.0f} ms")
        assert name == "reload"
        assert data["paths"] == pages
        sentinel(running.root, stream)


BURST_DELAY = 0.1  # the default --live-delay


@pytest.fixture
def burst(serve: ServeFactory, site: Path) -> Running:
    # The folder exists before the server starts: its creation is no part of the burst.
    (site / "build").mkdir()
    return serve(live=True, live_delay=BURST_DELAY)


def test_a_burst_of_50_files_is_one_event_after_the_last_write(burst: Running) -> None:
    one_burst(burst, pause_at=None)


def test_a_burst_with_a_short_pause_is_still_one_event(burst: Running) -> None:
    """A pause longer than the watcher's grouping step but within the quiet
    period splits the watcher's groups; the burst goes on being one event,
    including its half the watcher still holds when the first half's quiet
    period would have run out."""
    one_burst(burst, pause_at=20)


def test_a_change_under_a_hidden_folder_reloads_nothing(live: Running) -> None:
    with EventStream(live.addr) as stream:
        stream.hello()
        (live.root / ".git" / "index").write_text("x")
        (live.root / ".env").write_text("SECRET=2")
        sentinel(live.root, stream)


def test_an_editors_rename_into_place_is_one_reload(live: Running) -> None:
    with EventStream(live.addr) as stream:
        stream.hello()
        tmp = live.root / "index.html.tmp"
        tmp.write_text("<h1>saved</h1>")
        os.replace(tmp, live.root / "index.html")
        assert stream.next_event() == ("reload", {"paths": ["/index.html"]})
        sentinel(live.root, stream)


def test_ignored_globs_reload_nothing(serve: ServeFactory) -> None:
    running = serve(live=True, live_delay=DELAY, ignore=("*.log",))
    with EventStream(running.addr) as stream:
        stream.hello()
        (running.root / "server.log").write_text("x")
        sentinel(running.root, stream)


def test_a_watched_folder_outside_the_root_reloads(serve: ServeFactory, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    running = serve(live=True, live_delay=DELAY, watch=(os.path.realpath(src),))
    with EventStream(running.addr) as stream:
        stream.hello()
        (src / "main.md").write_text("# x")
        # No URL shows a source file: a reload naming no path.
        assert stream.next_event() == ("reload", {"paths": []})


def test_hello_carries_a_new_id_after_a_restart_on_the_same_port(site: Path) -> None:
    config = Config(root=str(site.resolve()), port=0, live=True, live_delay=DELAY)
    with staticsrv.serve(config=config) as first:
        port = first.port
        with EventStream(("127.0.0.1", port)) as stream:
            first_id = stream.hello()
            with EventStream(("127.0.0.1", port)) as again:
                assert again.hello() == first_id  # one id per run
    with staticsrv.serve(config=dataclasses.replace(config, port=port)) as second:  # noqa: SIM117
        with EventStream(("127.0.0.1", second.port)) as stream:
            assert stream.hello() != first_id


def test_streams_beyond_the_cap_get_503(live: Running) -> None:
    hub = live.core.hub
    assert hub is not None
    hub.max_streams = 2
    with contextlib.ExitStack() as stack:
        for _ in range(2):
            stack.enter_context(EventStream(live.addr)).hello()
        over = stack.enter_context(EventStream(live.addr))
        assert over.read_head() == 503
        assert over.headers["retry-after"] == "2"
    # Streams are ordinary connections otherwise: pages still load.
    assert get(live.addr, "/").status == 200


def test_a_client_that_stops_reading_is_dropped(serve: ServeFactory) -> None:
    running = serve(
        live=True, live_delay=DELAY, timeouts=Timeouts(head=5.0, keepalive=5.0, send=0.5)
    )
    hub = running.core.hub
    assert hub is not None
    task = running.server._task
    assert task is not None
    with EventStream(running.addr, rcvbuf=4096) as stream:
        stream.hello()
        assert hub.streams == 1
        # Events far larger than any socket buffer, and the client reads
        # none of them: the server's send blocks until its send deadline.
        big = {"paths": ["/" + "x" * 200_000]}
        for _ in range(30):
            task.get_loop().call_soon_threadsafe(hub.publish, "reload", big)
        # The server drops it on its own schedule (its sweeper): poll, bounded.
        poll_until("the stalled stream is dropped", lambda: hub.streams == 0, 10, 0.05)
        poll_until("its connection is closed", lambda: running.core.connections == 0, 10, 0.05)
    assert get(running.addr, "/").status == 200


def test_shutdown_ends_streams_at_once_without_the_grace_period(site: Path) -> None:
    # A grace period longer than serve()'s own stop timeout (15 s): if
    # the stream waited it out, leaving the block would raise.
    timeouts = Timeouts(head=5.0, keepalive=5.0, send=5.0, shutdown_grace=60.0)
    config = Config(root=str(site.resolve()), port=0, live=True, timeouts=timeouts)
    with contextlib.ExitStack() as streams:
        with staticsrv.serve(config=config) as server:
            stream = streams.enter_context(EventStream(("127.0.0.1", server.port)))
            stream.hello()
        with pytest.raises(ConnectionError):
            stream.next_event()


def test_without_live_nothing_is_reserved_or_injected(srv: Running) -> None:
    assert get(srv.addr, "/__staticsrv__/events").status == 404
    assert get(srv.addr, "/__staticsrv__/live.js").status == 404
    assert get(srv.addr, "/").body == (srv.root / "index.html").read_bytes()
    assert b"__staticsrv__" not in get(srv.addr, "/missing").body


def test_a_root_inside_a_dot_folder_is_watched(serve: ServeFactory, tmp_path: Path) -> None:
    root = tmp_path / ".cache" / "site"
    root.mkdir(parents=True)
    (root / "index.html").write_text("<p>x</p>")
    running = serve(root=root, live=True, live_delay=DELAY)
    with EventStream(running.addr) as stream:
        stream.hello()
        (root / "index.html").write_text("<p>y</p>")
        assert stream.next_event() == ("reload", {"paths": ["/index.html"]})


def test_the_injected_page_revalidates_and_ranges_over_the_wire(live: Running) -> None:
    full = get(live.addr, "/")
    assert full.body.endswith(b'<h1>home</h1>\n<script src="/__staticsrv__/live.js"></script>')
    assert full.header("content-length") == str(len(full.body))
    etag = full.header("etag")
    assert etag is not None and etag.endswith('-live"')
    assert get(live.addr, "/", headers={"If-None-Match": etag}).status == 304
    head = get(live.addr, "/", "HEAD")
    assert head.header("content-length") == full.header("content-length")
    assert head.header("etag") == etag
    part = get(live.addr, "/", headers={"Range": "bytes=-9"})
    assert (part.status, part.body) == (206, b"</script>")
