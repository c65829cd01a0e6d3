"""StreamBody over real sockets: chunked for HTTP/1.1, delimited by the close for HTTP/1.0.

No built-in answer streams yet (Server-Sent Events for live reload will);
a rule puts a stream in place of one answer, which also shows that a rule
can replace a body through the seam and that such an answer is never
memoised (a stream can be consumed once).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import staticsrv
from staticsrv.config import Config, Timeouts
from staticsrv.http.http11 import Request
from staticsrv.http.responses import Response, StreamBody
from tests.client import Conn
from tests.conftest import ServeFactory
from tests.waiting import poll_until

EVENTS = [b"data: one\n\n", b"", b"data: two\n\n", b"x" * 100_000]


async def _events() -> AsyncIterator[bytes]:
    for event in EVENTS:
        yield event


async def _endless() -> AsyncIterator[bytes]:
    yield b"data: hello\n\n"
    await asyncio.Event().wait()  # an event stream that has nothing more to say


@dataclass(frozen=True, slots=True)
class StreamAt:
    """Answers ``target`` with a fresh event stream."""

    target: str
    endless: bool = False
    reads: frozenset[str] = frozenset()

    def apply(self, req: Request, resp: Response) -> Response:
        if req.target != self.target:
            return resp
        chunks = _endless() if self.endless else _events()
        return Response(200, (("Content-Type", "text/event-stream"),), StreamBody(chunks))


def test_a_stream_is_chunked_for_http11_and_the_connection_stays(serve: ServeFactory) -> None:
    srv = serve(rules=[StreamAt("/events")])
    with Conn(srv.addr) as conn:
        for _ in range(2):  # a second stream: never answered from the memo
            resp = conn.request("/events")
            assert resp.status == 200
            assert resp.header("transfer-encoding") == "chunked"
            assert resp.header("content-length") is None
            assert resp.header("content-type") == "text/event-stream"
            assert resp.body == b"".join(EVENTS)
        after = conn.request("/hello.txt")  # framing intact: the next answer follows
        assert (after.status, after.body) == (200, b"hello world\n")
    # The access log is flushed once per loop turn: poll the outcome, bounded.
    poll_until(
        "the stream logged", lambda: any('"GET /events HTTP/1.1" 200' in x for x in srv.log), 10
    )


def test_a_stream_to_http10_ends_with_the_close(serve: ServeFactory) -> None:
    srv = serve(rules=[StreamAt("/events")])
    with Conn(srv.addr) as conn:
        conn.send(b"GET /events HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        head = conn.read_head()
        assert head.status == 200
        assert head.header("transfer-encoding") is None
        assert head.header("connection") == "close"
        body, how = conn.read_to_eof(10)
    assert how == "eof"
    assert body == b"".join(EVENTS)


def test_a_head_of_a_stream_has_no_body(serve: ServeFactory) -> None:
    srv = serve(rules=[StreamAt("/events")])
    with Conn(srv.addr) as conn:
        resp = conn.request("/events", "HEAD")
        assert resp.status == 200
        assert resp.body == b""
        assert conn.request("/hello.txt").body == b"hello world\n"


def test_an_open_stream_does_not_hold_up_the_shutdown(site: Path) -> None:
    """Streams are cut at once on shutdown, not given the grace of answers in flight:
    with a grace longer than serve()'s stop bound, a waited-on stream would fail the exit."""
    config = Config(root=os.path.realpath(site), port=0, timeouts=Timeouts(shutdown_grace=3600.0))
    with staticsrv.serve(config=config, rules=[StreamAt("/events", endless=True)]) as server:
        conn = Conn(("127.0.0.1", server.port))
        conn.send(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert conn.read_head().status == 200
        conn.read_until(b"data: hello\n\n\r\n")  # the first chunk is out: streaming
    with conn:
        rest, how = conn.read_to_eof(10)
    assert how == "eof"
    assert rest == b"d\r\ndata: hello\n\n\r\n"  # the first chunk, then the cut
