"""The strict chunked-body reader (RFC 9112 §7.1)."""

from __future__ import annotations

import pytest

from staticsrv.http.chunked import MAX_LINE, ChunkedReader, State

NEXT = b"GET / HTTP/1.1\r\n"


def read(data: bytes, max_body: int = 65536, *, bytewise: bool = False) -> tuple[State, int]:
    """Feed ``data`` whole or one byte at a time; the state and the bytes consumed."""
    reader = ChunkedReader(max_body)
    if not bytewise:
        consumed = reader.feed(data)
        return reader.state, consumed
    buffer, consumed = b"", 0
    for byte in data:
        buffer += bytes((byte,))
        used = reader.feed(buffer)
        consumed += used
        buffer = buffer[used:]
        if reader.finished:
            break
    return reader.state, consumed


@pytest.mark.parametrize(
    "body",
    [
        b"0\r\n\r\n",
        b"5\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        b"A\r\n0123456789\r\n0\r\n\r\n",
        b"a\r\n0123456789\r\n0\r\n\r\n",
        b"005\r\nhello\r\n0\r\n\r\n",
        b"5;name\r\nhello\r\n0\r\n\r\n",
        b'5 ; name = "quoted \\" value"\r\nhello\r\n0;x=y\r\n\r\n',
        b"5\r\nhello\r\n0\r\nX-Trailer: yes\r\nOther:\r\n\r\n",
    ],
)
def test_well_formed_bodies_are_consumed_exactly(body: bytes) -> None:
    for bytewise in (False, True):
        state, consumed = read(body + NEXT, bytewise=bytewise)
        assert state is State.DONE
        assert consumed == len(body)  # the next request is left alone


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"0x5\r\nhello\r\n0\r\n\r\n", "0x prefix"),
        (b"+5\r\nhello\r\n0\r\n\r\n", "sign"),
        (b" 5\r\nhello\r\n0\r\n\r\n", "leading space"),
        (b"5\nhello\r\n0\r\n\r\n", "bare LF after the size"),
        (b"5;a\nb\r\nhello\r\n0\r\n\r\n", "bare LF in an extension"),
        (b"5\rx\r\nhello\r\n0\r\n\r\n", "bare CR in the size line"),
        (b"\r\nhello\r\n0\r\n\r\n", "no size at all"),
        (b"g\r\nhello\r\n0\r\n\r\n", "not hex"),
        (b"5\r\nhello!\r\n0\r\n\r\n", "data longer than declared"),
        (b"5\r\nhello\n0\r\n\r\n", "bare LF after the data"),
        (b"5;\r\nhello\r\n0\r\n\r\n", "empty extension name"),
        (b"5;a=\r\nhello\r\n0\r\n\r\n", "empty extension value"),
        (b'5;a="x\r\nhello\r\n0\r\n\r\n', "unterminated quoted value"),
        (b"5\r\nhello\r\n0\r\nno colon\r\n\r\n", "trailer line without a colon"),
        (b"5\r\nhello\r\n0\r\n\n", "bare LF ending the trailers"),
        (b"1" * 17 + b"\r\n", "size with too many digits"),
        (b"5;" + b"a" * MAX_LINE + b"\r\n", "size line longer than the bound"),
    ],
)
def test_malformed_bodies_are_errors(body: bytes, why: str) -> None:
    for bytewise in (False, True):
        state, _ = read(body, 1 << 40, bytewise=bytewise)
        assert state is State.ERROR, why


def test_an_endless_line_is_refused_without_its_end() -> None:
    reader = ChunkedReader(65536)
    assert reader.feed(b"5" + b";" * (MAX_LINE + 10)) == 0
    assert reader.state is State.ERROR


def test_bodies_past_the_bound_are_too_large() -> None:
    reader = ChunkedReader(10)
    reader.feed(b"5\r\nhello\r\n6\r\n")
    assert reader.state is State.TOO_LARGE


def test_incomplete_bodies_wait_for_more() -> None:
    reader = ChunkedReader(65536)
    assert reader.feed(b"5\r\nhel") == 6
    assert not reader.finished
    assert reader.feed(b"lo\r") == 2  # the CR of the CRLF waits for its LF
    assert reader.feed(b"\r\n0\r\n\r\n") == 7
    assert reader.state is State.DONE
