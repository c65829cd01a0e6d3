"""The live-reload endpoints: the event stream and the client script.

Owns: :class:`Hub`, which answers ``/__staticsrv__/events`` (Server-Sent
Events, HTML Standard §9.2) and ``/__staticsrv__/live.js``, keeps the open
streams and announces settled changes to them.  May not touch: sockets
(the connection sends a stream like any other body), files other than the
packaged script (:data:`CLIENT_PARTS`), the watcher.

Every stream starts with ``event: hello`` carrying the id of this server
run, then the last ``event: build`` if a build command reported one; then
``event: reload``, ``event: css`` (every changed path a stylesheet, or
stylesheets and images) or ``event: img`` (every changed path an image)
with ``{"paths": [...]}``, and a comment line as a heartbeat so that
proxies and the browser see the stream alive.  Events carry an ``id:``
(run and sequence number; hello's is where the stream starts); a stream
opened with ``?since=<id>`` first gets the events after that one, so a tab
that takes over the stream of a closed one misses nothing (HTML Standard
§9.2.4 does the same with ``Last-Event-ID``, which a new ``EventSource``
cannot set).  Of ``hello``, ``reload`` and ``css`` only the ``id:`` line
is new: a client that ignores it works as before.

A stream whose client does not keep up is bounded twice: its own queue
holds at most :data:`MAX_PENDING` events (beyond that it is dropped, and
the browser reconnects), and a send the client does not read is cut by
the connection's send deadline.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import pkgutil
import secrets
import time
import urllib.parse
from collections.abc import AsyncGenerator, Iterable

from staticsrv.http.conditional import Precondition, evaluate_preconditions
from staticsrv.http.http11 import Request
from staticsrv.http.responses import Response, StreamBody, error_response
from staticsrv.http.target import Target

RESERVED = "__staticsrv__"  # the first path segment the endpoints live under
MAX_STREAMS = 256  # open event streams at once; more get 503
MAX_PENDING = 32  # events queued for one stream before it counts as stalled
RECENT = 32  # events kept for a stream that asks for what it missed (?since=)
# The client script's parts, joined in this order into the one served
# script (parts of one function: each file is a fragment of it).
CLIENT_PARTS = ("live.js", "live_swap.js", "live_start.js")
BUILD_LINES = 200  # the lines of a failed build's output sent to the pages
# Swapped in place by the client (img src/srcset, CSS backgrounds), not reloaded.
IMAGES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".svg", ".ico", ".bmp", ".apng")
HEARTBEAT = 10.0  # seconds between comment lines (the issue asks for at most 15)
STREAM_FIELDS = (
    ("Content-Type", "text/event-stream; charset=utf-8"),
    # An event stream is never stored or transformed (a buffering proxy
    # would hold events back).
    ("Cache-Control", "no-store, no-transform"),
)


def sse(event: str, data: object, event_id: str = "") -> bytes:
    """One Server-Sent Event: ``event:`` and a one-line JSON ``data:``."""
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def event_for(paths: Iterable[str]) -> tuple[str, list[str]]:
    """What the pages do about these changed URL paths.

    ``css`` when every one is a stylesheet, or a stylesheet or an image
    (the client refreshes both in place); ``img`` when every one is an
    image; else ``reload``.
    """
    listed = sorted(paths)
    lowered = [p.lower() for p in listed]
    if not listed or not all(p.endswith((".css", *IMAGES)) for p in lowered):
        return "reload", listed
    if all(p.endswith(IMAGES) for p in lowered):
        return "img", listed
    return "css", listed


def build_event(state: str, command: str, status: int | None, output: str) -> dict[str, object]:
    """The data of a ``build`` event; the output (failed builds only) cut to its last lines."""
    data: dict[str, object] = {"state": state, "command": command, "status": status}
    if state == "failed":
        data["output"] = "\n".join(output.splitlines()[-BUILD_LINES:])
    return data


def _is_build(message: bytes) -> bool:
    """Whether a queued message is a ``build`` event (its ``id:`` line first, if any)."""
    head = message.split(b"\n", 2)
    return b"event: build" in head[:2]


class _Stream:
    __slots__ = ("dropped", "pending", "wake")

    def __init__(self) -> None:
        self.pending: collections.deque[bytes] = collections.deque()
        self.wake = asyncio.Event()
        self.dropped = False


def _client_part(name: str) -> bytes:
    data = pkgutil.get_data("staticsrv.live", name)
    if data is None:  # a loader that cannot read data files
        raise FileNotFoundError(f"staticsrv.live/{name}")
    return data


class Hub:
    """The open event streams of one server run, and the two endpoints."""

    reserved = RESERVED  # the first path segment it answers under (extension.Endpoints)

    def __init__(
        self,
        *,
        cache_control: str = "no-cache",
        max_streams: int = MAX_STREAMS,
        heartbeat: float = HEARTBEAT,
    ) -> None:
        # A new id per server run: a browser reconnecting to another run
        # reloads once (its page may be stale), never on the same run.
        self.run_id = secrets.token_hex(8)
        self.max_streams = max_streams
        self.heartbeat = heartbeat
        self._cc = cache_control
        self._streams: set[_Stream] = set()
        self.peak = 0  # the most streams open at once in this run
        self._seq = 0  # the sequence number of the last event published
        self._recent: collections.deque[tuple[int, bytes]] = collections.deque(maxlen=RECENT)
        self._build: dict[str, object] | None = None  # the last build event's data
        # Set by the watcher once its watches are in place: a stream says
        # hello only then, so a client that heard hello misses no change.
        self.ready = asyncio.Event()
        # pkgutil.get_data reads through the package's loader as
        # importlib.resources would (an installed wheel, a zip), without
        # importing importlib.resources (with tempfile, zipfile: about 10 ms).
        script = b"".join(_client_part(part) for part in CLIENT_PARTS)
        self.script = script
        self.script_etag = '"' + hashlib.sha256(script).hexdigest()[:20] + '"'
        self._started = int(time.time())  # the script's "modification" time

    @property
    def streams(self) -> int:
        return len(self._streams)

    def publish(self, event: str, data: object) -> None:
        """Queue one event on every open stream."""
        self._seq += 1
        message = sse(event, data, f"{self.run_id}.{self._seq}")
        self._recent.append((self._seq, message))
        if event == "build" and isinstance(data, dict):
            self._build = data
        for stream in self._streams:
            if len(stream.pending) >= MAX_PENDING:
                stream.dropped = True  # it does not keep up: end it
            else:
                stream.pending.append(message)
            stream.wake.set()

    def announce(self, url_paths: Iterable[str]) -> None:
        """Tell every page that these URL paths changed."""
        event, paths = event_for(url_paths)
        self.publish(event, {"paths": paths})

    def build_state(
        self, state: str, command: str, status: int | None = None, output: str = ""
    ) -> None:
        """Tell every page how the build command went (``running``, ``ok`` or ``failed``).

        The last state is also sent to every stream opened later, right
        after hello: a page loaded while a failure stands shows it too.
        """
        self.publish("build", build_event(state, command, status, output))

    def respond(self, req: Request, target: Target) -> Response | None:
        """The answer under ``/__staticsrv__/``; None: nothing there (404)."""
        name = target.segments[1:]
        if name == ("events",):
            return self._events(req, target.query)
        if name == ("live.js",):
            # Also the shared worker's script: one file, one download.
            return self._script(req, self.script, self.script_etag)
        return None

    def _events(self, req: Request, query: str) -> Response:
        if len(self._streams) >= self.max_streams:
            # RFC 9110 §15.6.4: a passing condition; the client retries.
            return error_response(
                503,
                cache_control="no-store",
                head=req.method == "HEAD",
                extra=(("Retry-After", "2"),),
            )
        if req.method == "HEAD":
            return Response(200, STREAM_FIELDS)
        since = dict(urllib.parse.parse_qsl(query)).get("since", "")
        return Response(200, STREAM_FIELDS, StreamBody(self.stream(since)))

    def _script(self, req: Request, script: bytes, etag: str) -> Response:
        fields = (
            ("Content-Type", "text/javascript; charset=utf-8"),
            ("ETag", etag),
            ("Cache-Control", self._cc),
        )
        outcome = evaluate_preconditions(req.method, req.headers, etag, self._started, time.time())
        if outcome is Precondition.NOT_MODIFIED:
            return Response(304, fields)
        if outcome is Precondition.PRECONDITION_FAILED:
            return Response(412, (("Content-Length", "0"),))
        body = b"" if req.method == "HEAD" else script
        return Response(200, (*fields, ("Content-Length", str(len(script)))), body)

    def stream(self, since: str = "") -> AsyncGenerator[bytes, None]:
        """The chunks of one new event stream (hello, then events and heartbeats).

        ``since``: the id of the last event the client saw; the events
        after it come first (a ``reload`` if they are no longer all kept).
        """
        return self._chunks(since)

    def _opening(self, since: str) -> tuple[int, list[bytes]]:
        """Where a new stream's client stands after hello, and what it gets first.

        A client of this run that says which event it saw last (``since``)
        gets the events after it, or a ``reload`` if they are no longer all
        kept; any other gets the last build state.
        """
        run, _, seq = since.partition(".")
        if run == self.run_id and seq.isdigit() and int(seq) <= self._seq:
            after = int(seq)
            if after == self._seq or (self._recent and self._recent[0][0] <= after + 1):
                return after, [message for n, message in self._recent if n > after]
            return self._seq, [sse("reload", {"paths": []})]
        return self._seq, [] if self._build is None else [sse("build", self._build)]

    async def _chunks(self, since: str) -> AsyncGenerator[bytes, None]:
        if len(self._streams) >= self.max_streams:
            return  # others got in between the check and now: end at once
        stream = _Stream()
        # Taken together with joining: an event published from now on is
        # queued on the stream, one published before is accounted for here.
        # Events after hello without an id leave the client's position
        # where hello put it (HTML Standard §9.2.6).
        position, first = self._opening(since)
        stream.pending.extend(first)
        self._streams.add(stream)
        self.peak = max(self.peak, len(self._streams))
        try:
            await self.ready.wait()
            # Build states queued while waiting for the watcher are news of
            # one moment: only the newest is told (after hello, as usual).
            builds = [m for m in stream.pending if _is_build(m)]
            for message in builds[:-1]:
                stream.pending.remove(message)
            yield sse("hello", {"id": self.run_id}, f"{self.run_id}.{position}")
            while True:
                if stream.dropped:
                    return
                if stream.pending:
                    yield stream.pending.popleft()
                    continue
                stream.wake.clear()
                try:
                    async with asyncio.timeout(self.heartbeat):
                        await stream.wake.wait()
                except TimeoutError:
                    yield b": heartbeat\n\n"
        finally:
            self._streams.discard(stream)

    def close(self) -> None:
        """End every stream (the connections are cancelled by the server)."""
        for stream in self._streams:
            stream.dropped = True
            stream.wake.set()
