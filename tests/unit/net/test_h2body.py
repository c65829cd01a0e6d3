"""An HTTP/2 stream's body for the proxy (h2body.StreamSide), on a recording session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

import pytest

from staticsrv.http.http11 import Request
from staticsrv.net.exchange import Body, BodyError
from staticsrv.net.h2body import StreamSide

if TYPE_CHECKING:
    from staticsrv.net.h2conn import Session, Stream


class Acks:
    """What h2 was told was consumed, per stream."""

    def __init__(self) -> None:
        self.acked: list[tuple[int, int]] = []
        self.queued = 0
        self.settled = 0

    def acknowledge_received_data(self, size: int, stream_id: int) -> None:
        self.acked.append((size, stream_id))


def _side(
    headers: dict[str, str], has_body: bool = True, head: float = 5.0
) -> tuple[StreamSide, Acks, SimpleNamespace]:
    acks = Acks()

    def queue() -> None:
        acks.queued += 1

    def settle() -> None:
        acks.settled += 1

    session = SimpleNamespace(
        conn=SimpleNamespace(peer="192.0.2.7"),
        shared=SimpleNamespace(timeouts=SimpleNamespace(head=head)),
        h2=acks,
        queue=queue,
        settle=settle,
    )
    stream = SimpleNamespace(id=3, endless=False)
    length = int(headers.get("content-length", "0"))
    req = Request("POST", "/api", "HTTP/2.0", headers, True, length, False)
    side = StreamSide(cast("Session", session), cast("Stream", stream), req, has_body)
    return side, acks, stream


async def test_data_is_handed_on_and_acknowledged_only_once_taken() -> None:
    side, acks, _ = _side({"content-length": "8"})
    assert (side.peer, side.has_body, side.chunked, side.state) == (
        "192.0.2.7",
        True,
        False,
        Body.UNREAD,
    )
    side.feed(b"abcd", 4)
    side.feed(b"efgh", 4 + 10)  # padded: the padding is flow-controlled too
    side.ended()
    body = side.body()
    assert await anext(body) == b"abcd"
    assert acks.acked == []  # handed on, not yet taken
    assert await anext(body) == b"efgh"
    assert acks.acked == [(4, 3)]
    with pytest.raises(StopAsyncIteration):
        await anext(body)
    assert acks.acked == [(4, 3), (14, 3)]
    assert side.state is Body.READ
    side.discard()
    assert acks.acked == [(4, 3), (14, 3)]  # nothing twice


async def test_no_content_length_goes_up_chunked_and_waits_for_data() -> None:
    side, _, _ = _side({})
    assert side.chunked
    body = side.body()
    first = asyncio.ensure_future(anext(body))
    await asyncio.sleep(0)
    assert not first.done()
    side.feed(b"late", 4)
    assert await first == b"late"
    side.ended()
    with pytest.raises(StopAsyncIteration):
        await anext(body)


@pytest.mark.parametrize(
    ("pieces", "why"),
    [
        ([b"toolong!!"], "more data than content-length"),
        ([b"short"], "less data than content-length"),
    ],
)
async def test_a_body_that_breaks_its_content_length_is_an_error(
    pieces: list[bytes], why: str
) -> None:
    side, _, _ = _side({"content-length": "8"})
    for piece in pieces:
        side.feed(piece, len(piece))
    side.ended()
    with pytest.raises(BodyError, match=why):
        async for _ in side.body():
            pass
    assert side.state is Body.BROKEN


async def test_a_reset_mid_body_is_an_error_and_what_was_left_is_given_back() -> None:
    side, acks, _ = _side({})
    side.feed(b"one", 3)
    side.feed(b"two", 3)
    body = cast("AsyncGenerator[bytes, None]", side.body())
    assert await anext(body) == b"one"
    side.ended("the client reset the stream mid-body")
    await body.aclose()  # the proxy gives up after one piece
    side.discard()
    assert sum(size for size, _ in acks.acked) == 6


async def test_a_stall_has_the_head_deadline() -> None:
    side, _, _ = _side({}, head=0.05)
    with pytest.raises(BodyError, match="stalled"):
        async for _ in side.body():
            pass


async def test_hold_takes_the_stream_out_of_the_send_deadline() -> None:
    side, acks, stream = _side({}, has_body=False)
    assert side.state is Body.READ and not side.has_body and not side.chunked
    side.hold()
    assert stream.endless and acks.settled == 1
    with pytest.raises(StopAsyncIteration):
        await anext(side.body())
