"""The event hub of --live (staticsrv.live.events), driven without sockets."""

from __future__ import annotations

import asyncio
import json

from staticsrv.live.events import MAX_PENDING, Hub, event_for, sse


def test_only_stylesheets_make_a_css_event() -> None:
    assert event_for(["/a.css", "/b/C.CSS"]) == ("css", ["/a.css", "/b/C.CSS"])
    assert event_for(["/a.css", "/index.html"]) == ("reload", ["/a.css", "/index.html"])
    assert event_for([]) == ("reload", [])


def test_an_event_is_one_line_of_json_per_field() -> None:
    data = sse("reload", {"paths": ["/a\nb.html"]})
    name, payload, end = data.split(b"\n", 2)
    assert name == b"event: reload"
    assert json.loads(payload.removeprefix(b"data: ")) == {"paths": ["/a\nb.html"]}
    assert end == b"\n"


async def test_every_stream_starts_with_hello_and_the_run_id() -> None:
    hub = Hub()
    hub.ready.set()
    first, second = hub.stream(), hub.stream()
    one, two = await anext(first), await anext(second)
    assert one == two == sse("hello", {"id": hub.run_id})
    assert hub.streams == 2
    hub.announce(["/s.css"])
    assert await anext(first) == sse("css", {"paths": ["/s.css"]})
    await first.aclose()
    await second.aclose()
    assert hub.streams == 0
    assert Hub().run_id != hub.run_id  # a new run, a new id


async def test_a_stream_that_falls_too_far_behind_is_ended() -> None:
    hub = Hub()
    hub.ready.set()
    stream = hub.stream()
    await anext(stream)
    for _ in range(MAX_PENDING + 1):
        hub.publish("reload", {"paths": []})
    chunks = [chunk async for chunk in stream]
    assert chunks == []  # ended at once; the browser reconnects and reloads
    assert hub.streams == 0


async def test_heartbeats_keep_an_idle_stream_alive() -> None:
    hub = Hub(heartbeat=0.01)
    hub.ready.set()
    stream = hub.stream()
    await anext(stream)
    assert await anext(stream) == b": heartbeat\n\n"
    await stream.aclose()


async def test_a_new_stream_hears_the_build_state_once_right_after_hello() -> None:
    hub = Hub()
    chunks = hub.stream()
    first = asyncio.ensure_future(chunks.__anext__())
    await asyncio.sleep(0)  # the stream waits for the watcher: a build starts meanwhile
    hub.build({"state": "running", "command": "make", "status": None})
    hub.build({"state": "failed", "command": "make", "status": 2, "output": "boom"})
    hub.announce(["/a.html"])
    hub.ready.set()
    got = [await first, await chunks.__anext__(), await chunks.__anext__()]
    await chunks.aclose()
    assert got[0].startswith(b"event: hello\n")
    assert got[1] == sse(
        "build", {"state": "failed", "command": "make", "status": 2, "output": "boom"}
    )
    assert got[2] == sse("reload", {"paths": ["/a.html"]})  # the stale build events were dropped
