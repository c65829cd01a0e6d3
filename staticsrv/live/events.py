"""The live-reload endpoints: the event stream and the client script.

Owns: :class:`Hub`, which answers ``/__staticsrv__/events`` (Server-Sent
Events, HTML Standard §9.2) and ``/__staticsrv__/live.js``, keeps the open
streams and announces settled changes to them.  May not touch: sockets
(the connection sends a stream like any other body), files other than the
packaged script, the watcher.

Every stream starts with ``event: hello`` carrying the id of this server
run (with ``--build``, then ``event: build`` with the build's state); then
``event: reload`` or ``event: css`` with ``{"paths": [...]}``,
and a comment line as a heartbeat so that proxies and the browser see the
stream alive.  A stream whose client does not keep up is bounded twice:
its own queue holds at most :data:`MAX_PENDING` events (beyond that it is
dropped, and the browser reconnects), and a send the client does not read
is cut by the connection's send deadline.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import secrets
import time
from collections.abc import AsyncGenerator, Iterable
from importlib import resources

from staticsrv.conditional import Precondition, evaluate_preconditions
from staticsrv.http11 import Request
from staticsrv.responses import Response, StreamBody, error_response
from staticsrv.target import Target

RESERVED = "__staticsrv__"  # the first path segment the endpoints live under
MAX_STREAMS = 256  # open event streams at once; more get 503
MAX_PENDING = 32  # events queued for one stream before it counts as stalled
HEARTBEAT = 10.0  # seconds between comment lines (the issue asks for at most 15)
STREAM_FIELDS = (
    ("Content-Type", "text/event-stream; charset=utf-8"),
    # An event stream is never stored or transformed (a buffering proxy
    # would hold events back).
    ("Cache-Control", "no-store, no-transform"),
)


def sse(event: str, data: object) -> bytes:
    """One Server-Sent Event: ``event:`` and a one-line JSON ``data:``."""
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def event_for(paths: Iterable[str]) -> tuple[str, list[str]]:
    """``css`` when every changed URL path is a stylesheet, else ``reload``."""
    listed = sorted(paths)
    if listed and all(p.lower().endswith(".css") for p in listed):
        return "css", listed
    return "reload", listed


class _Stream:
    __slots__ = ("dropped", "pending", "wake")

    def __init__(self) -> None:
        self.pending: collections.deque[bytes] = collections.deque()
        self.wake = asyncio.Event()
        self.dropped = False


class Hub:
    """The open event streams of one server run, and the two endpoints."""

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
        self.build_state: dict[str, object] | None = None  # --build: the last `build` event
        # Set by the watcher once its watches are in place: a stream says
        # hello only then, so a client that heard hello misses no change.
        self.ready = asyncio.Event()
        script = resources.files("staticsrv.live").joinpath("live.js").read_bytes()
        self.script = script
        self._started = int(time.time())  # the script's "modification" time
        self.script_etag = '"' + hashlib.sha256(script).hexdigest()[:20] + '"'

    @property
    def streams(self) -> int:
        return len(self._streams)

    def publish(self, event: str, data: object) -> None:
        """Queue one event on every open stream."""
        message = sse(event, data)
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

    def build(self, state: dict[str, object]) -> None:
        """--build: publish the build's state, and keep it for streams opened later."""
        self.build_state = state
        self.publish("build", state)

    def respond(self, req: Request, target: Target) -> Response | None:
        """The answer under ``/__staticsrv__/``; None: nothing there (404)."""
        name = target.segments[1:]
        if name == ("events",):
            return self._events(req)
        if name == ("live.js",):
            return self._script(req)
        return None

    def _events(self, req: Request) -> Response:
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
        return Response(200, STREAM_FIELDS, StreamBody(self.stream()))

    def _script(self, req: Request) -> Response:
        fields = (
            ("Content-Type", "text/javascript; charset=utf-8"),
            ("ETag", self.script_etag),
            ("Cache-Control", self._cc),
        )
        outcome = evaluate_preconditions(
            req.method, req.headers, self.script_etag, self._started, time.time()
        )
        if outcome is Precondition.NOT_MODIFIED:
            return Response(304, fields)
        if outcome is Precondition.PRECONDITION_FAILED:
            return Response(412, (("Content-Length", "0"),))
        body = b"" if req.method == "HEAD" else self.script
        return Response(200, (*fields, ("Content-Length", str(len(self.script)))), body)

    def stream(self) -> AsyncGenerator[bytes, None]:
        """The chunks of one new event stream (hello, then events and heartbeats)."""
        return self._chunks()

    async def _chunks(self) -> AsyncGenerator[bytes, None]:
        if len(self._streams) >= self.max_streams:
            return  # others got in between the check and now: end at once
        stream = _Stream()
        self._streams.add(stream)
        try:
            await self.ready.wait()
            yield sse("hello", {"id": self.run_id})
            if self.build_state is not None:  # --build: how the last build stands
                # Build events queued while waiting for hello are older news.
                old = [m for m in stream.pending if m.startswith(b"event: build\n")]
                for message in old:
                    stream.pending.remove(message)
                yield sse("build", self.build_state)
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
