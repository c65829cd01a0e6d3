"""Property tests of the HTTP/1.1 head parser: it never raises, and how the
bytes are split across reads never changes the outcome."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from staticsrv.http import http11
from staticsrv.http.http11 import ParseError, Request, parse_head
from staticsrv.http.limits import Limits
from staticsrv.http.receivebuffer import ReceiveBuffer

LIMITS = Limits()
# Small enough for random inputs to reach 414 and 431 often.
TIGHT = Limits(max_request_line=48, max_head=160, max_headers=6)
STATUSES = {400, 414, 431, 501, 505}
REASONS = {v.reason for v in vars(http11).values() if isinstance(v, ParseError)}
NEXT = b"GET /next HTTP/1.1\r\nHost: h\r\n"

TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
VISIBLE = [chr(c) for c in range(0x21, 0x7F)] + [chr(c) for c in range(0x80, 0x100)]
SPECIAL = {"host", "content-length", "transfer-encoding", "connection"}

tokens = st.text(alphabet=TCHARS, min_size=1, max_size=10)
field_names = tokens.filter(lambda name: name.lower() not in SPECIAL)
field_values = st.text(alphabet=[*VISIBLE, " ", "\t"], max_size=24).map(lambda v: v.strip(" \t"))
targets = st.text(alphabet=VISIBLE, max_size=30).map(lambda t: "/" + t)
# Pieces that make random inputs look enough like HTTP to get past the
# first checks and into the deeper ones.
pieces = st.sampled_from(
    [
        b"\r\n",
        b"\n",
        b"\r",
        b" ",
        b"\t",
        b":",
        b",",
        b"GET",
        b"OPTIONS",
        b"/",
        b"*",
        b"http://h",
        b"HTTP/1.1",
        b"HTTP/1.0",
        b"HTTP/2.0",
        b"Host: h",
        b"Content-Length: ",
        b"Transfer-Encoding: ",
        b"chunked",
        b"Connection: close",
        b"5",
        b"a",
        b"\x00",
        b"\xff",
    ]
)
structured = st.lists(pieces, max_size=40).map(b"".join)
some_bytes = st.one_of(st.binary(max_size=300), structured)


@st.composite
def valid_requests(draw: st.DrawFn) -> tuple[bytes, Request]:
    """A valid request head (with its final empty line) and its expected parse."""
    method = draw(tokens)
    target = draw(targets)
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0"]))
    fields = draw(st.lists(st.tuples(field_names, field_values), max_size=8))
    host = draw(st.sampled_from(["example.com", "localhost:8080", "[::1]:80", "10.0.0.1", ""]))
    fields.insert(draw(st.integers(0, len(fields))), ("Host", host))
    connection = draw(st.sampled_from([None, "close", "keep-alive", "Upgrade, Keep-Alive"]))
    if connection is not None:
        fields.append(("Connection", connection))
    length = draw(st.none() | st.integers(0, 10**12))
    if length is not None:
        fields.append(("Content-Length", str(length)))
    ows = draw(st.sampled_from(["", " ", "\t", " \t "]))
    empty_lines = draw(st.integers(0, 2))
    text = "\r\n" * empty_lines + f"{method} {target} {version}\r\n"
    text += "".join(f"{name}:{ows}{value}{ows}\r\n" for name, value in fields) + "\r\n"

    headers: dict[str, str] = {}
    for name, value in fields:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    options = {o.strip().lower() for o in (connection or "").split(",")}
    keep_alive = "close" not in options and (version == "HTTP/1.1" or "keep-alive" in options)
    expected = Request(method, target, version, headers, keep_alive, length or 0, False)
    return text.encode("latin-1"), expected


def check(result: Request | ParseError | None) -> None:
    """The invariants every outcome satisfies."""
    if isinstance(result, ParseError):
        assert result.status in STATUSES
        assert result.reason in REASONS
    elif isinstance(result, Request):
        assert result.version in ("HTTP/1.1", "HTTP/1.0")
        assert result.method
        assert result.target == "*" or result.target.startswith("/")
        assert all(name == name.lower() for name in result.headers)
        assert result.body_length >= 0
        assert not (result.chunked and result.body_length)
    else:
        assert result is None


def decide(chunks: list[bytes], limits: Limits) -> Request | ParseError | None:
    """Feed chunks like the server; the first decision, parsed."""
    buf = ReceiveBuffer(limits)
    for chunk in chunks:
        buf.feed(chunk)
        got = buf.extract_head()
        if isinstance(got, bytes):
            assert len(got) <= limits.max_head
            return parse_head(got, limits)
        if got is not None:
            return got
    return None


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in pairwise(points)]


def assert_split_invariant(data: bytes, cuts: list[int], limits: Limits) -> None:
    """Splitting never turns a Request into an error or back, nor changes it."""
    whole = decide([data], limits)
    check(whole)
    for chunks in (split(data, cuts), [data[i : i + 1] for i in range(len(data))]):
        parts = decide(chunks, limits)
        check(parts)
        assert type(parts) is type(whole), (whole, parts)
        if isinstance(whole, Request):
            assert parts == whole


@settings(max_examples=300, deadline=None)
@given(data=some_bytes, cuts=st.lists(st.integers(0, 400), max_size=8))
def test_random_bytes_never_raise(data: bytes, cuts: list[int]) -> None:
    for limits in (LIMITS, TIGHT):
        assert_split_invariant(data, cuts, limits)
        check(parse_head(data, limits))


@settings(max_examples=300, deadline=None)
@given(case=valid_requests(), cuts=st.lists(st.integers(0, 600), max_size=10))
def test_valid_requests_parse_the_same_however_split(
    case: tuple[bytes, Request], cuts: list[int]
) -> None:
    raw, expected = case
    assert decide([raw], LIMITS) == expected
    assert parse_head(raw[:-2], LIMITS) == expected
    buf = ReceiveBuffer(LIMITS)
    heads: list[bytes | ParseError] = []
    for chunk in split(raw + NEXT, cuts):
        buf.feed(chunk)
        got = buf.extract_head()
        if got is not None:
            heads.append(got)
    assert len(heads) == 1
    assert isinstance(heads[0], bytes)
    assert parse_head(heads[0], LIMITS) == expected
    assert buf.extract(len(buf)) == NEXT


@settings(max_examples=300, deadline=None)
@given(
    case=valid_requests(),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["insert", "delete", "replace"]),
            st.integers(0, 10_000),
            st.sampled_from([b"\r", b"\n", b" ", b"\t", b":", b",", b"\x00", b"\x7f", b"\x80"])
            | st.binary(min_size=1, max_size=3),
        ),
        min_size=1,
        max_size=4,
    ),
    cuts=st.lists(st.integers(0, 600), max_size=6),
)
def test_mutated_requests_never_raise(
    case: tuple[bytes, Request], edits: list[tuple[str, int, bytes]], cuts: list[int]
) -> None:
    data = case[0]
    for kind, position, piece in edits:
        at = position % (len(data) + 1)
        if kind == "insert":
            data = data[:at] + piece + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + len(piece) :]
        else:
            data = data[:at] + piece + data[at + len(piece) :]
    for limits in (LIMITS, TIGHT):
        assert_split_invariant(data, cuts, limits)


@settings(max_examples=300, deadline=None)
@given(
    cases=st.lists(valid_requests(), min_size=1, max_size=4),
    cuts=st.lists(st.integers(0, 2000), max_size=10),
)
def test_pipelined_requests_come_out_in_order(
    cases: list[tuple[bytes, Request]], cuts: list[int]
) -> None:
    stream = b"".join(raw for raw, _ in cases)
    buf = ReceiveBuffer(LIMITS)
    parsed: list[Request | ParseError] = []
    for chunk in split(stream, cuts):
        buf.feed(chunk)
        while (got := buf.extract_head()) is not None:
            assert isinstance(got, bytes)
            parsed.append(parse_head(got, LIMITS))
    assert parsed == [expected for _, expected in cases]
    assert not buf
