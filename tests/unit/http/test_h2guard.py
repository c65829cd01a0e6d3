"""The HTTP/2 frame guard and the header-list mapping: pure, no sockets."""

from __future__ import annotations

import pytest

from staticsrv.http.h2fields import response_headers, to_request
from staticsrv.http.h2guard import PREFACE, Bounds, FrameGuard
from staticsrv.http.http11 import ParseError, Request, parse_head
from staticsrv.http.limits import Limits
from staticsrv.http.responses import Response


def frame(kind: int, flags: int = 0, stream: int = 1, payload: bytes = b"") -> bytes:
    return (
        len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload
    )


def test_frames_split_anywhere_are_followed_byte_by_byte() -> None:
    data = PREFACE + b"".join(frame(6, 0, 0, b"\0" * 8) for _ in range(11))
    guard = FrameGuard(Bounds(control=10))
    verdicts = [guard.feed(data[i : i + 1], 0.0) for i in range(len(data))]
    assert [v for v in verdicts if v] == ["too many control frames"]
    # Found at the 11th PING's last header byte, before its payload.
    assert verdicts.index("too many control frames") == len(PREFACE) + 10 * 17 + 8


def test_rates_count_per_second() -> None:
    guard = FrameGuard(Bounds(resets=3))
    assert guard.feed(PREFACE + frame(3, payload=b"\0" * 4) * 3, 10.0) is None
    assert guard.feed(frame(3, payload=b"\0" * 4) * 3, 11.2) is None  # a new second
    assert guard.feed(frame(3, payload=b"\0" * 4), 11.9) == "too many streams reset"


def test_acknowledgements_are_not_counted() -> None:
    guard = FrameGuard(Bounds(control=1))
    assert guard.feed(PREFACE + frame(4, 1, 0) * 50 + frame(6, 1, 0, b"\0" * 8) * 50, 0) is None


def test_a_header_block_is_bounded_across_continuations() -> None:
    guard = FrameGuard(Bounds(header_block=100))
    assert guard.feed(PREFACE + frame(1, 0, 1, b"x" * 60), 0) is None
    assert guard.feed(frame(9, 0, 1, b"x" * 41), 0) == "header block too large"
    ended = FrameGuard(Bounds(header_block=100))
    assert ended.feed(PREFACE + frame(1, 4, 1, b"x" * 60) + frame(1, 4, 3, b"x" * 60), 0) is None


def test_empty_frames_that_end_nothing_are_counted() -> None:
    guard = FrameGuard(Bounds(empty=5))
    assert guard.feed(PREFACE + frame(0, 1) * 50, 0) is None  # END_STREAM: not empty talk
    assert guard.feed(frame(0) * 6, 0) == "too many empty frames"


def parse(head: bytes) -> Request | ParseError:
    return parse_head(head, Limits())


def test_pseudo_fields_become_the_same_request_as_http11() -> None:
    req = to_request(
        [
            (b":method", b"GET"),
            (b":scheme", b"https"),
            (b":authority", b"example.test:8443"),
            (b":path", b"/a%20b?q=1"),
            (b"cookie", b"a=1"),
            (b"cookie", b"b=2"),
            (b"accept-encoding", b"gzip"),
        ],
        parse,
    )
    assert isinstance(req, Request)
    assert (req.method, req.target, req.version) == ("GET", "/a%20b?q=1", "HTTP/2.0")
    assert req.headers["host"] == "example.test:8443"
    assert req.headers["cookie"] == "a=1; b=2"
    assert req.keep_alive


@pytest.mark.parametrize(
    "headers",
    [
        [(b":method", b"GET"), (b":path", b"/x\r\nhost: evil")],
        [(b":method", b"GET"), (b":path", b"/"), (b"x", b"a\nb")],
        [(b":method", b"GET")],
        [(b":method", b"GET"), (b":path", b"/"), (b":protocol", b"websocket")],
        [(b":method", b"GET"), (b":path", b"no-slash"), (b":authority", b"a")],
    ],
)
def test_malformed_header_lists_are_refused_with_400(headers: list[tuple[bytes, bytes]]) -> None:
    req = to_request(headers, parse)
    assert isinstance(req, ParseError) and req.status == 400


def test_response_headers_drop_connection_specific_fields() -> None:
    resp = Response(
        200,
        (
            ("Content-Type", "text/plain"),
            ("Connection", "close"),
            ("Transfer-Encoding", "chunked"),
            ("Keep-Alive", "x"),
            ("Vary", "A"),
        ),
    )
    out = response_headers(resp, b"Mon, 07 Dec 2026 00:00:00 GMT")
    names = [name for name, _ in out]
    assert names == [b":status", b"server", b"date", b"content-type", b"vary"]
    assert out[0] == (b":status", b"200")


@pytest.mark.parametrize(
    "headers",
    [
        [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b"Upper", b"x")],
        [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b"connection", b"x")],
        [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b"te", b"gzip")],
        [(b":method", b"GET"), (b":scheme", b"https"), (b"a", b"b"), (b":path", b"/")],
        [(b":method", b"GET"), (b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/")],
        [(b":method", b"GET"), (b":path", b"/")],
    ],
)
def test_rules_of_rfc9113_section8_are_checked(headers: list[tuple[bytes, bytes]]) -> None:
    req = to_request(headers, parse)
    assert isinstance(req, ParseError) and req.status == 400


def test_te_trailers_is_allowed() -> None:
    fields = [
        (b":method", b"GET"),
        (b":scheme", b"https"),
        (b":authority", b"localhost"),
        (b":path", b"/"),
        (b"te", b"trailers"),
    ]
    assert isinstance(to_request(fields, parse), Request)


def test_field_encoder_blocks_decode_to_the_fields_and_leave_the_table_empty() -> None:
    from hpack import Decoder

    from staticsrv.http.h2hpack import FieldEncoder

    encoder, decoder = FieldEncoder(), Decoder()
    fields = [(b":status", b"200"), (b"server", b"staticsrv"), (b"etag", b'"abc"')]
    for _ in range(3):  # the second and third blocks come from the cache
        assert decoder.decode(encoder.encode(fields), raw=True) == fields
        assert len(decoder.header_table.dynamic_entries) == 0
    encoder.header_table_size = 100  # the client's setting changed: a size update leads
    assert encoder.encode(fields).startswith(b"\x20")


def test_block_decoder_reuses_only_blocks_that_insert_nothing() -> None:
    from hpack import Encoder

    from staticsrv.http.h2hpack import BlockDecoder

    encoder, decoder = Encoder(), BlockDecoder(65536)
    first = [(b":method", b"GET"), (b":path", b"/a"), (b"x-one", b"1")]
    block = encoder.encode(first)  # inserts into the table
    assert decoder.decode(block, raw=True) == first
    again = encoder.encode(first)  # every field indexed now
    assert again != block
    assert decoder.decode(again, raw=True) == first
    assert decoder.decode(again, raw=True) == first  # from the cache
    other = [(b":method", b"GET"), (b":path", b"/b"), (b"x-one", b"2")]
    assert decoder.decode(encoder.encode(other), raw=True) == other  # a new generation
    assert decoder.decode(encoder.encode(other), raw=True) == other
