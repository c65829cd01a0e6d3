"""The event hub of --live (staticsrv.live.events), driven without sockets."""

from __future__ import annotations

import asyncio
import json

from staticsrv.live.events import BUILD_LINES, MAX_PENDING, RECENT, Hub, event_for, sse


def test_only_stylesheets_make_a_css_event() -> None:
    assert event_for(["/a.css", "/b/C.CSS"]) == ("css", ["/a.css", "/b/C.CSS"])
    assert event_for(["/a.css", "/index.html"]) == ("reload", ["/a.css", "/index.html"])
    assert event_for([]) == ("reload", [])


def test_images_make_an_img_event_and_ride_along_with_stylesheets() -> None:
    assert event_for(["/a/b.PNG", "/c.svg", "/d.webp"]) == (
        "img",
        ["/a/b.PNG", "/c.svg", "/d.webp"],
    )
    assert event_for(["/s.css", "/bg.jpg"]) == ("css", ["/bg.jpg", "/s.css"])
    assert event_for(["/bg.jpg", "/page.html"]) == ("reload", ["/bg.jpg", "/page.html"])
    assert event_for(["/pngs.html"]) == ("reload", ["/pngs.html"])


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
    assert one == two == sse("hello", {"id": hub.run_id}, f"{hub.run_id}.0")
    assert hub.streams == 2
    hub.announce(["/s.css"])
    assert await anext(first) == sse("css", {"paths": ["/s.css"]}, f"{hub.run_id}.1")
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


def data_of(chunk: bytes) -> tuple[str, object]:
    fields = dict(line.split(": ", 1) for line in chunk.decode().splitlines() if ": " in line)
    return fields["event"], json.loads(fields["data"])


async def test_a_stream_opened_since_an_event_gets_what_came_after_it() -> None:
    hub = Hub()
    hub.ready.set()
    hub.announce(["/a.html"])
    hub.announce(["/s.css"])
    hub.announce(["/b.html"])
    stream = hub.stream(since=f"{hub.run_id}.1")
    assert await anext(stream) == sse("hello", {"id": hub.run_id}, f"{hub.run_id}.1")
    assert data_of(await anext(stream)) == ("css", {"paths": ["/s.css"]})
    assert data_of(await anext(stream)) == ("reload", {"paths": ["/b.html"]})
    hub.announce(["/c.html"])
    assert data_of(await anext(stream)) == ("reload", {"paths": ["/c.html"]})
    await stream.aclose()


async def test_since_another_run_or_too_long_ago() -> None:
    hub = Hub()
    hub.ready.set()
    hub.announce(["/a.html"])
    # Another run's id: nothing is replayed (its hello makes the page reload).
    other = hub.stream(since="0123456789abcdef.1")
    assert await anext(other) == sse("hello", {"id": hub.run_id}, f"{hub.run_id}.1")
    hub.announce(["/x.css"])
    assert data_of(await anext(other)) == ("css", {"paths": ["/x.css"]})
    await other.aclose()
    for i in range(RECENT + 1):
        hub.announce([f"/p{i}.html"])
    # More missed than is kept: one reload instead.
    behind = hub.stream(since=f"{hub.run_id}.1")
    await anext(behind)
    assert data_of(await anext(behind)) == ("reload", {"paths": []})
    hub.announce(["/y.css"])
    assert data_of(await anext(behind)) == ("css", {"paths": ["/y.css"]})
    await behind.aclose()


async def test_the_last_build_state_follows_hello_on_a_new_stream() -> None:
    hub = Hub()
    hub.ready.set()
    output = "\n".join(f"line {i}" for i in range(BUILD_LINES + 50))
    hub.build_state("failed", "make html", 2, output)
    stream = hub.stream()
    await anext(stream)
    event, data = data_of(await anext(stream))
    assert event == "build"
    assert isinstance(data, dict)
    assert (data["state"], data["command"], data["status"]) == ("failed", "make html", 2)
    lines = str(data["output"]).splitlines()
    assert len(lines) == BUILD_LINES and lines[-1] == f"line {BUILD_LINES + 49}"
    hub.build_state("ok", "make html", 0)
    assert data_of(await anext(stream)) == (
        "build",
        {"state": "ok", "command": "make html", "status": 0},
    )
    await stream.aclose()
    later = hub.stream()
    await anext(later)
    assert data_of(await anext(later))[1] == {"state": "ok", "command": "make html", "status": 0}
    await later.aclose()
    assert hub.peak == 1


def test_the_served_script_is_its_parts_joined_into_one_function() -> None:
    from importlib import resources

    from staticsrv.live.events import CLIENT_PARTS

    package = resources.files("staticsrv.live")
    parts = [package.joinpath(name).read_text() for name in CLIENT_PARTS]
    script = Hub().script.decode()
    assert script == "".join(parts)
    # One function around all of them: opened by the first, closed by the last.
    assert "(function (global) {" in parts[0] and parts[-1].rstrip().endswith("})(self);")
    assert all(part.count("(function (global) {") == 0 for part in parts[1:])


async def test_a_new_stream_hears_the_build_state_once_right_after_hello() -> None:
    hub = Hub()
    chunks = hub.stream()
    first = asyncio.ensure_future(chunks.__anext__())
    await asyncio.sleep(0)  # the stream waits for the watcher: a build starts meanwhile
    hub.build_state("running", "make")
    hub.build_state("failed", "make", 2, "boom")
    hub.announce(["/a.html"])
    hub.ready.set()
    got = [await first, await chunks.__anext__(), await chunks.__anext__()]
    await chunks.aclose()
    assert data_of(got[0])[0] == "hello"
    assert data_of(got[1]) == (
        "build",
        {"state": "failed", "command": "make", "status": 2, "output": "boom"},
    )
    # the stale build events were dropped
    assert data_of(got[2]) == ("reload", {"paths": ["/a.html"]})
