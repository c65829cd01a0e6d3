"""--live event streams over real sockets: ids, resuming with ?since=, leaving.

A browser shares one stream among its tabs; when the tab (or worker) that
holds it goes away, the next holder asks for what it missed.  These check
the server's side of that: the ids, the replay, and that a stream whose
client left stops counting at once (not at the next heartbeat).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Running, ServeFactory
from tests.sse import EventStream
from tests.waiting import poll_until

pytest.importorskip("watchfiles")


@pytest.fixture
def live(serve: ServeFactory) -> Running:
    return serve(live=True, live_delay=0.05)


def test_a_new_stream_resumes_after_the_last_event_it_names(live: Running, site: Path) -> None:
    hub = live.core.hub
    assert hub is not None
    with EventStream(live.addr) as first:
        run = first.hello()
        (site / "a.css").write_text("a {}")
        assert first.next_event() == ("css", {"paths": ["/a.css"]})
        seen = first.last_id
        assert seen.startswith(run + ".")
    # While nobody listens: two changes.
    with EventStream(live.addr) as witness:
        witness.hello()
        (site / "b.html").write_text("<p>b")
        assert witness.next_event() == ("reload", {"paths": ["/b.html"]})
        (site / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n")
        assert witness.next_event() == ("img", {"paths": ["/pic.png"]})
    with EventStream(live.addr, query=f"since={seen}") as resumed:
        assert resumed.hello() == run
        assert resumed.next_event() == ("reload", {"paths": ["/b.html"]})
        assert resumed.next_event() == ("img", {"paths": ["/pic.png"]})
        (site / "c.css").write_text("c {}")
        assert resumed.next_event() == ("css", {"paths": ["/c.css"]})


def test_a_stream_whose_client_left_stops_counting_before_any_heartbeat(live: Running) -> None:
    hub = live.core.hub
    assert hub is not None
    assert hub.heartbeat >= 10  # the default: a dead stream would count that long
    streams = [EventStream(live.addr) for _ in range(3)]
    for stream in streams:
        stream.hello()
    assert hub.streams == 3
    for stream in streams:
        stream.close()
    took = poll_until("the closed streams are unregistered", lambda: hub.streams == 0, 3.0)
    assert took < hub.heartbeat
    poll_until("their connections are closed", lambda: live.core.connections == 0, 3.0)
