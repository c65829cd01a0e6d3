"""Tests of the sans-io HTTP/1.1 request-head parser (RFC 9112, RFC 9110)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from staticsrv.http import http11
from staticsrv.http.http11 import MAX_EMPTY_LINES, ParseError, Request, parse_head
from staticsrv.http.limits import Limits
from staticsrv.http.receivebuffer import ReceiveBuffer

LIMITS = Limits()
# Small limits make the boundaries of 414/431 easy to hit exactly.
SMALL = Limits(max_request_line=40, max_head=200, max_headers=4)

# The beginning of a next pipelined request: must stay in the buffer.
NEXT = b"GET /next HTTP/1.1\r\nHost: example.com\r\n"

ALL_REASONS = {v.reason for v in vars(http11).values() if isinstance(v, ParseError)}


def request(
    target: str = "/",
    *,
    method: str = "GET",
    version: str = "HTTP/1.1",
    headers: dict[str, str] | None = None,
    keep_alive: bool = True,
    body_length: int = 0,
    chunked: bool = False,
    absolute: bool = False,
) -> Request:
    return Request(
        method=method,
        target=target,
        version=version,
        headers={"host": "example.com"} if headers is None else headers,
        keep_alive=keep_alive,
        body_length=body_length,
        chunked=chunked,
        absolute=absolute,
    )


def outcome(chunks: list[bytes], limits: Limits = LIMITS) -> Request | ParseError | None:
    """Feed chunks in turn as the server does; the first decision, parsed."""
    buf = ReceiveBuffer(limits)
    for chunk in chunks:
        buf.feed(chunk)
        got = buf.extract_head()
        if isinstance(got, bytes):
            return parse_head(got, limits)
        if got is not None:
            return got
    return None


def bytewise(raw: bytes) -> list[bytes]:
    return [raw[i : i + 1] for i in range(len(raw))]


def assert_parses(raw: bytes, expected: Request, limits: Limits = LIMITS) -> None:
    """Like h11's helper: the same Request whole, byte by byte and pipelined.

    ``raw`` is one complete request head including its final empty line.
    """
    for chunks, trailing in [
        ([raw], b""),
        (bytewise(raw), b""),
        ([raw + NEXT], NEXT),
        ([*bytewise(raw), NEXT], NEXT),
    ]:
        buf = ReceiveBuffer(limits)
        decided: list[tuple[int, bytes | ParseError]] = []
        for index, chunk in enumerate(chunks):
            buf.feed(chunk)
            got = buf.extract_head()
            if got is not None:
                decided.append((index, got))
        # Exactly one head, complete exactly when its last byte arrived, and
        # the incomplete next request is not mistaken for anything.
        assert len(decided) == 1, decided
        index, head = decided[0]
        assert index == len(chunks) - (2 if trailing and len(chunks) > 1 else 1)
        assert isinstance(head, bytes)
        assert head.endswith(b"\r\n")
        assert parse_head(head, limits) == expected
        assert len(buf) == len(trailing)
        assert bool(buf) is bool(trailing)
        assert buf.extract(len(buf) + 10) == trailing


def assert_rejected(raw: bytes, status: int, limits: Limits = LIMITS) -> ParseError:
    """The same status whether the bytes arrive at once or one by one."""
    whole = outcome([raw], limits)
    assert isinstance(whole, ParseError), whole
    assert whole.status == status, whole
    dribbled = outcome(bytewise(raw), limits)
    assert isinstance(dribbled, ParseError), dribbled
    assert dribbled.status == status, dribbled
    return whole


def parse_direct(raw: bytes, limits: Limits = LIMITS) -> Request | ParseError:
    """parse_head on a head given without its final empty line."""
    assert raw.endswith(b"\r\n\r\n")
    return parse_head(raw[:-2], limits)


# --- valid requests -----------------------------------------------------------


def test_simple_get_rfc9112_3() -> None:
    raw = b"GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"
    assert_parses(raw, request("/index.html?q=1"))
    assert parse_direct(raw) == request("/index.html?q=1")


def test_head_request_rfc9110_9_3_2() -> None:
    raw = b"HEAD /a HTTP/1.1\r\nHost: example.com\r\n\r\n"
    assert_parses(raw, request("/a", method="HEAD"))


def test_options_asterisk_form_rfc9112_3_2_4() -> None:
    raw = b"OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n"
    assert_parses(raw, request("*", method="OPTIONS"))


def test_method_is_case_sensitive_token_rfc9110_9_1() -> None:
    raw = b"get / HTTP/1.1\r\nHost: example.com\r\n\r\n"
    assert_parses(raw, request("/", method="get"))
    raw = b"M-SEARCH! / HTTP/1.1\r\nHost: example.com\r\n\r\n"
    assert_parses(raw, request("/", method="M-SEARCH!"))


def test_http10_without_host_rfc9112_3_2() -> None:
    raw = b"GET / HTTP/1.0\r\n\r\n"
    assert_parses(raw, request(version="HTTP/1.0", headers={}, keep_alive=False))


@pytest.mark.parametrize(
    ("target", "path", "host"),
    [
        (b"http://example.org/a/b?c=d", "/a/b?c=d", "example.org"),
        (b"HTTPS://example.org", "/", "example.org"),
        (b"HtTp://example.org:8080?x=1", "/?x=1", "example.org:8080"),
        (b"http://example.org//double", "//double", "example.org"),
        (b"http://[::1]:8080/v6", "/v6", "[::1]:8080"),
        (b"http://127.0.0.1/", "/", "127.0.0.1"),
    ],
)
def test_absolute_form_takes_path_and_host_rfc9112_3_2_2(
    target: bytes, path: str, host: str
) -> None:
    raw = b"GET " + target + b" HTTP/1.1\r\nHost: ignored.example\r\n\r\n"
    # The received Host is replaced by the target's authority (§3.2.2), and
    # the request says it came in absolute-form (the proxy refuses other hosts).
    assert_parses(raw, request(path, headers={"host": host}, absolute=True))


def test_absolute_form_still_requires_host_rfc9112_3_2() -> None:
    assert_rejected(b"GET http://example.org/ HTTP/1.1\r\n\r\n", 400)


def test_double_slash_target_is_origin_form_kept_as_is_rfc9112_3_2_1() -> None:
    raw = b"GET //evil.example/x HTTP/1.1\r\nHost: example.com\r\n\r\n"
    assert_parses(raw, request("//evil.example/x"))


def test_obs_text_in_target_is_latin1_decoded() -> None:
    raw = b"GET /caf\xe9%20x HTTP/1.1\r\nHost: example.com\r\n\r\n"
    assert_parses(raw, request("/caf\xe9%20x"))


@pytest.mark.parametrize(
    ("version", "connection", "keep_alive"),
    [
        (b"HTTP/1.1", None, True),
        (b"HTTP/1.1", b"close", False),
        (b"HTTP/1.1", b"Close", False),
        (b"HTTP/1.1", b"keep-alive", True),
        (b"HTTP/1.1", b"Upgrade, CLOSE", False),
        (b"HTTP/1.1", b"keep-alive, close", False),
        (b"HTTP/1.1", b"closed", True),
        (b"HTTP/1.0", None, False),
        (b"HTTP/1.0", b"keep-alive", True),
        (b"HTTP/1.0", b"Keep-Alive", True),
        (b"HTTP/1.0", b"foo ,\tKEEP-ALIVE ", True),
        (b"HTTP/1.0", b"keep-alive, close", False),
        (b"HTTP/1.0", b"close", False),
        (b"HTTP/1.0", b"keep-alives", False),
    ],
)
def test_keep_alive_matrix_rfc9112_9_3(
    version: bytes, connection: bytes | None, keep_alive: bool
) -> None:
    raw = b"GET / " + version + b"\r\nHost: example.com\r\n"
    headers = {"host": "example.com"}
    if connection is not None:
        raw += b"Connection: " + connection + b"\r\n"
        headers["connection"] = connection.decode().strip(" \t")
    expected = request(version=version.decode(), headers=headers, keep_alive=keep_alive)
    assert_parses(raw + b"\r\n", expected)


def test_repeated_fields_joined_rfc9110_5_3() -> None:
    raw = (
        b"GET / HTTP/1.1\r\nAccept: text/html\r\nHost: example.com\r\n"
        b"ACCEPT: image/png\r\naccept: */*\r\n\r\n"
    )
    expected = request(headers={"accept": "text/html, image/png, */*", "host": "example.com"})
    assert_parses(raw, expected)


def test_names_lowercased_values_ows_stripped_rfc9112_5_1() -> None:
    raw = (
        b"GET / HTTP/1.1\r\nHOST:example.com\r\nX-Thing: \t a  b \t \r\n"
        b"Empty:\r\nAlso-Empty:  \t \r\nLatin: caf\xe9\r\n\r\n"
    )
    expected = request(
        headers={
            "host": "example.com",
            "x-thing": "a  b",
            "empty": "",
            "also-empty": "",
            "latin": "caf\xe9",
        }
    )
    assert_parses(raw, expected)


@pytest.mark.parametrize("count", [1, 2, MAX_EMPTY_LINES])
def test_leading_empty_lines_ignored_rfc9112_2_2(count: int) -> None:
    raw = b"\r\n" * count + b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
    assert_parses(raw, request())
    # parse_head called directly tolerates them as well.
    assert parse_direct(raw) == request()


def test_too_many_leading_empty_lines_rejected_rfc9112_2_2() -> None:
    raw = b"\r\n" * (MAX_EMPTY_LINES + 1) + b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
    assert_rejected(raw, 400)
    assert isinstance(parse_direct(raw), ParseError)
    # The tolerance is per request: each pipelined request may have its own.
    one = b"\r\n" * MAX_EMPTY_LINES + b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
    buf = ReceiveBuffer(LIMITS)
    buf.feed(one * 3)
    for _ in range(3):
        head = buf.extract_head()
        assert isinstance(head, bytes)
        assert parse_head(head, LIMITS) == request()
    assert not buf


def test_empty_line_dribbled_as_cr_then_lf_is_dropped() -> None:
    buf = ReceiveBuffer(LIMITS)
    buf.feed(b"\r")
    assert buf.extract_head() is None
    buf.feed(b"\nGET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    head = buf.extract_head()
    assert head == b"GET / HTTP/1.1\r\nHost: example.com\r\n"


# --- line endings and control characters ------------------------------------------


def test_lf_only_request_gets_prompt_400_rfc9112_2_2() -> None:
    raw = b"GET / HTTP/1.1\nHost: example.com\n\n"
    error = assert_rejected(raw, 400)
    assert error.reason == "Line not terminated by CRLF"


def test_lf_only_first_line_rejected_as_soon_as_complete_rfc9112_2_2() -> None:
    assert outcome([b"GET / HTTP/1.1\n"]) == ParseError(400, "Line not terminated by CRLF")


@pytest.mark.parametrize(
    "raw",
    [
        b"GET / HTTP/1.1\r\nHost: example.com\n\r\n",  # bare LF ending the last field
        b"GET / HTTP/1.1\r\nHost: example.com\r\n\n",  # bare LF as the empty line
        b"GET / HTTP/1.1\r\nX: a\nY: b\r\nHost: example.com\r\n\r\n",  # bare LF mid-head
        b"GET / HTTP/1.1\r\nX: a\rb\r\nHost: example.com\r\n\r\n",  # bare CR in a value
        b"GET / HTTP/1.1\r\nX: a\r\rHost: example.com\r\n\r\n",  # CR CR
        b"GET /a\rb HTTP/1.1\r\nHost: example.com\r\n\r\n",  # bare CR in the target
        b"GET / HTTP/1.1\r\r\nHost: example.com\r\n\r\n",  # CR CR LF
        b"\rGET / HTTP/1.1\r\nHost: example.com\r\n\r\n",  # leading bare CR
        b"\nGET / HTTP/1.1\r\nHost: example.com\r\n\r\n",  # leading bare LF
    ],
)
def test_bare_cr_or_lf_rejected_rfc9112_2_2(raw: bytes) -> None:
    assert_rejected(raw, 400)


@pytest.mark.parametrize("ctl", [b"\x00", b"\x01", b"\x1b", b"\x7f", b"\x0b", b"\x0c"])
def test_ctl_in_field_value_rejected_rfc9110_5_5(ctl: bytes) -> None:
    raw = b"GET / HTTP/1.1\r\nHost: example.com\r\nX: a" + ctl + b"b\r\n\r\n"
    assert_rejected(raw, 400)


@pytest.mark.parametrize("ctl", [b"\x00", b"\x01", b"\t", b"\x7f"])
def test_ctl_in_request_line_rejected_rfc9112_3(ctl: bytes) -> None:
    for line in (b"GET /a" + ctl + b"b HTTP/1.1", b"G" + ctl + b"T / HTTP/1.1"):
        assert_rejected(line + b"\r\nHost: example.com\r\n\r\n", 400)


def test_ctl_in_field_name_rejected_rfc9110_5_1() -> None:
    assert_rejected(b"GET / HTTP/1.1\r\nHost: example.com\r\nX\x00Y: 1\r\n\r\n", 400)


def test_htab_and_obs_text_allowed_in_field_value_rfc9110_5_5() -> None:
    raw = b"GET / HTTP/1.1\r\nHost: example.com\r\nX: a\tb \xff\x80\r\n\r\n"
    assert_parses(raw, request(headers={"host": "example.com", "x": "a\tb \xff\x80"}))


# --- request line -----------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"GET /  HTTP/1.1",  # two spaces
        b"GET  / HTTP/1.1",
        b" GET / HTTP/1.1",  # empty method
        b"GET / HTTP/1.1 ",  # trailing space
        b"GET / HTTP/1.1 x",
        b"GET\t/\tHTTP/1.1",  # HTAB is not SP
        b"GET / x HTTP/1.1",  # space inside the target
        b"GET",
        b"G(T / HTTP/1.1",  # method not a token
        b"G\xe9T / HTTP/1.1",
        b"GET / HTTP/1",  # malformed versions
        b"GET / http/1.1",
        b"GET / HTTP/1.1.1",
        b"GET / HTTP/11",
        b"GET / HTTP/a.b",
        b"GET / HTTP/1,1",
        b"GET / HTTPS/1.1",
        b"GET / HTTP/\xb9.1",
    ],
)
def test_malformed_request_line_rejected_rfc9112_3(line: bytes) -> None:
    assert_rejected(line + b"\r\nHost: example.com\r\n\r\n", 400)


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/0.9", b"HTTP/3.0", b"HTTP/9.9"])
def test_unsupported_version_is_505_rfc9110_15_6_6(version: bytes) -> None:
    assert_rejected(b"GET / " + version + b"\r\nHost: example.com\r\n\r\n", 505)


@pytest.mark.parametrize("version", [b"HTTP/1.2", b"HTTP/1.9"])
def test_higher_minor_version_is_processed_as_http11_rfc9110_2_5(version: bytes) -> None:
    raw = b"GET / " + version + b"\r\nHost: example.com\r\n\r\n"
    assert_parses(raw, request())


def test_http2_preface_is_505_rfc9113_3_4() -> None:
    assert_rejected(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505)
    # Decided at the end of the first line already.
    assert outcome([b"PRI * HTTP/2.0\r\n"]) == ParseError(505, "HTTP version not supported")


def test_http09_request_rejected_as_soon_as_line_is_complete() -> None:
    buf = ReceiveBuffer(LIMITS)
    buf.feed(b"GET /")
    assert buf.extract_head() is None
    buf.feed(b"\r\n")  # an HTTP/0.9 client now waits for the response
    error = buf.extract_head()
    assert isinstance(error, ParseError)
    assert error.status == 400


def test_garbage_first_line_rejected_before_empty_line() -> None:
    buf = ReceiveBuffer(LIMITS)
    buf.feed(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n")  # TLS-ish bytes
    error = buf.extract_head()
    assert isinstance(error, ParseError)
    assert error.status == 400


CLIENT_HELLO = bytes.fromhex("160301020001000001fc0303") + bytes(range(32))


@pytest.mark.parametrize(
    "start",
    [
        CLIENT_HELLO[:1],  # TLS on the plain port: the very first byte decides
        CLIENT_HELLO,
        b"\x00\x00\x00\x00",
        b"GET /\x00",
        b"GET /a\x01b",
        b"GET / HTTP/1.1\rX",
        b"\r\r",
        b"\xff\xfe",
        b'{"json": 1}',
    ],
)
def test_bytes_that_cannot_start_a_request_are_refused_at_once(start: bytes) -> None:
    """No line end needed: a ClientHello or binary garbage gets its 400 now,
    not when the head deadline passes."""
    for chunks in ([start], bytewise(start)):
        got = outcome(chunks)
        assert isinstance(got, ParseError), (chunks, got)
        assert got.status == 400


@pytest.mark.parametrize("start", [b"G", b"GET", b"GET ", b"GET /a", b"GET /a HTTP/1.1\r", b"\r"])
def test_a_plausible_start_waits_for_more(start: bytes) -> None:
    assert outcome(bytewise(start)) is None
    assert outcome([start]) is None


def test_valid_first_line_waits_for_the_rest() -> None:
    buf = ReceiveBuffer(LIMITS)
    buf.feed(b"GET / HTTP/1.1\r\nHost: example.com\r\n")
    assert buf.extract_head() is None
    assert buf.extract_head() is None
    buf.feed(b"\r\n")
    assert buf.extract_head() == b"GET / HTTP/1.1\r\nHost: example.com\r\n"


@pytest.mark.parametrize("method", [b"GET", b"HEAD", b"options"])
def test_asterisk_form_only_with_options_rfc9112_3_2_4(method: bytes) -> None:
    assert_rejected(method + b" * HTTP/1.1\r\nHost: example.com\r\n\r\n", 400)


@pytest.mark.parametrize(
    "target",
    [
        b"example.com:443",  # authority-form (§3.2.3)
        b"index.html",  # relative reference
        b"?q",
        b"ftp://example.com/x",
        b"http:/example.com/x",
        b"http://",  # empty host (RFC 9110 §4.2.1)
        b"http:///x",
        b"http://user:pw@example.com/",  # userinfo (RFC 9110 §4.2.4)
        b"http://exa%2mple.com/",
        b"http://[::1/",
        b"http://[::g]/",
        b"http://example.com:80:80/",
        b"http://example.com:8a/",
        b"http://example.com#frag",
        b"/a\x7fb",
    ],
)
def test_bad_request_targets_rejected_rfc9112_3_2(target: bytes) -> None:
    method = b"CONNECT " if target == b"example.com:443" else b"GET "
    assert_rejected(method + target + b" HTTP/1.1\r\nHost: example.com\r\n\r\n", 400)


# --- limits: 414 and 431 -------------------------------------------------------


def test_request_line_limit_boundary_rfc9112_3() -> None:
    fits = b"GET /" + b"a" * (SMALL.max_request_line - len(b"GET / HTTP/1.1")) + b" HTTP/1.1"
    assert len(fits) == SMALL.max_request_line
    raw = fits + b"\r\nHost: h\r\n\r\n"
    assert_parses(raw, request(fits[4:-9].decode(), headers={"host": "h"}), SMALL)
    too_long = fits.replace(b"/", b"/b", 1)
    error = assert_rejected(too_long + b"\r\nHost: h\r\n\r\n", 414, SMALL)
    assert error == ParseError(414, "Request line too long")
    assert parse_direct(too_long + b"\r\nHost: h\r\n\r\n", SMALL) == error


def test_request_line_too_long_rejected_before_crlf_rfc9112_3() -> None:
    buf = ReceiveBuffer(SMALL)
    buf.feed(b"GET /" + b"a" * (SMALL.max_request_line - 5))
    assert len(buf) == SMALL.max_request_line
    assert buf.extract_head() is None
    buf.feed(b"\r")  # could still be the line's CRLF
    assert buf.extract_head() is None
    buf2 = ReceiveBuffer(SMALL)
    buf2.feed(b"GET /" + b"a" * (SMALL.max_request_line - 4))
    error = buf2.extract_head()
    assert isinstance(error, ParseError)
    assert error.status == 414


def test_request_line_too_long_with_default_limits() -> None:
    buf = ReceiveBuffer(LIMITS)
    buf.feed(b"GET /" + b"a" * LIMITS.max_request_line)
    error = buf.extract_head()
    assert isinstance(error, ParseError)
    assert error.status == 414


def head_of_size(size: int, fields: int = 2) -> bytes:
    """A valid head (without final CRLF) of exactly ``size`` bytes and ``fields`` fields."""
    start = b"GET / HTTP/1.1\r\nHost: h\r\n"
    filler = b"".join(b"X%d: \r\n" % i for i in range(fields - 2))
    base = start + filler + b"Pad: \r\n"
    assert len(base) <= size
    return start + filler + b"Pad: " + b"p" * (size - len(base)) + b"\r\n"


def test_head_size_limit_boundary_rfc6585_5() -> None:
    fits = head_of_size(SMALL.max_head)
    assert len(fits) == SMALL.max_head
    result = outcome([fits + b"\r\n"], SMALL)
    assert isinstance(result, Request)
    assert result.headers["pad"].startswith("ppp")
    assert_parses(fits + b"\r\n", result, SMALL)
    too_big = head_of_size(SMALL.max_head + 1)
    error = assert_rejected(too_big + b"\r\n", 431, SMALL)
    assert error.reason == "Request header section too large"
    assert parse_head(too_big, SMALL) == error


def test_head_too_large_rejected_before_empty_line_rfc6585_5() -> None:
    buf = ReceiveBuffer(SMALL)
    head = head_of_size(SMALL.max_head)
    buf.feed(head + b"\r")  # the final CRLF may still come
    assert buf.extract_head() is None
    buf2 = ReceiveBuffer(SMALL)
    # Once max_head + 2 bytes hold no terminator, none can end the head in time.
    buf2.feed(head + b"XX")
    assert buf2.extract_head() == ParseError(431, "Request header section too large")
    # Same with the default limits and a stream of endless header lines.
    buf3 = ReceiveBuffer(LIMITS)
    buf3.feed(b"GET / HTTP/1.1\r\n")
    result: bytes | ParseError | None = None
    while result is None:
        buf3.feed(b"X: " + b"y" * 60 + b"\r\n")
        result = buf3.extract_head()
    assert isinstance(result, ParseError)
    assert result.status == 431
    assert len(buf3) <= LIMITS.max_head + 2 + 70


def test_too_many_header_fields_rfc6585_5() -> None:
    fits = head_of_size(100, fields=SMALL.max_headers)
    assert fits.count(b"\r\n") == SMALL.max_headers + 1
    assert isinstance(outcome([fits + b"\r\n"], SMALL), Request)
    too_many = head_of_size(100, fields=SMALL.max_headers + 1)
    error = assert_rejected(too_many + b"\r\n", 431, SMALL)
    assert error.reason == "Too many header fields"


def test_too_many_header_fields_default_limit() -> None:
    raw = b"GET / HTTP/1.1\r\nHost: h\r\n" + b"A: b\r\n" * LIMITS.max_headers + b"\r\n"
    assert_rejected(raw, 431)


# --- header field syntax ---------------------------------------------------------


@pytest.mark.parametrize("fold", [b" ", b"\t", b"  \t "])
def test_obs_fold_is_rejected_rfc9112_5_2(fold: bytes) -> None:
    raw = b"GET / HTTP/1.1\r\nHost: example.com\r\nX: a\r\n" + fold + b"b\r\n\r\n"
    error = assert_rejected(raw, 400)
    assert error.reason == "Obsolete line folding is not accepted"


def test_whitespace_before_first_field_rejected_rfc9112_2_2() -> None:
    assert_rejected(b"GET / HTTP/1.1\r\n Host: example.com\r\n\r\n", 400)


@pytest.mark.parametrize("name", [b"Host ", b"Host\t", b"X-A  "])
def test_whitespace_before_colon_is_rejected_rfc9112_5_1(name: bytes) -> None:
    raw = b"GET / HTTP/1.1\r\n" + name + b": example.com\r\nHost: h\r\n\r\n"
    error = assert_rejected(raw, 400)
    assert error.reason == "Whitespace between header field name and colon"


@pytest.mark.parametrize(
    "line",
    [b": empty-name", b"No-Colon", b"X(y): 1", b"X y: 1", b"X\xe9: 1", b"X/Y: 1", b"[x]: 1"],
)
def test_bad_field_name_rejected_rfc9110_5_1(line: bytes) -> None:
    assert_rejected(b"GET / HTTP/1.1\r\nHost: h\r\n" + line + b"\r\n\r\n", 400)


def test_empty_line_inside_head_given_to_parse_head_is_rejected() -> None:
    assert isinstance(parse_head(b"GET / HTTP/1.1\r\n\r\nHost: h\r\n", LIMITS), ParseError)


@pytest.mark.parametrize("head", [b"", b"\r\n", b"GET / HTTP/1.1", b"GET / HTTP/1.1\r\nHost: h"])
def test_parse_head_without_crlf_line_end_is_rejected(head: bytes) -> None:
    result = parse_head(head, LIMITS)
    assert isinstance(result, ParseError)
    assert result.status == 400


# --- Host ---------------------------------------------------------------------


def test_missing_host_in_http11_rejected_rfc9112_3_2() -> None:
    error = assert_rejected(b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400)
    assert error.reason == "Missing Host header field"


@pytest.mark.parametrize("version", [b"HTTP/1.1", b"HTTP/1.0"])
def test_multiple_host_fields_rejected_rfc9112_3_2(version: bytes) -> None:
    raw = b"GET / " + version + b"\r\nHost: a.example\r\nhost: a.example\r\n\r\n"
    error = assert_rejected(raw, 400)
    assert error.reason == "More than one Host header field"


@pytest.mark.parametrize(
    "host",
    [
        b"example.com",
        b"example.com:8080",
        b"localhost:",  # empty port (RFC 3986 §3.2.3)
        b"127.0.0.1:80",
        b"[::1]",
        b"[::1]:8080",
        b"[2001:db8::192.0.2.1]",
        b"xn--bcher-kva.example",
        b"ex%41mple.com",
        b"a_b~c!$&'()*+,;=",
        b"",  # a target URI without authority (§3.2)
    ],
)
def test_valid_host_accepted_rfc9112_3_2(host: bytes) -> None:
    raw = b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"
    assert_parses(raw, request(headers={"host": host.decode()}))


@pytest.mark.parametrize(
    "host",
    [
        b"exa mple.com",
        b"user@example.com",
        b"example.com:80:80",
        b"example.com:http",
        b":80",
        b"[::1",
        b"[::1]x",
        b"[::1]:8x",
        b"[]",
        b"[zz::1]",
        b"[1:2:3:4:5:6:7:8:9]",
        b"[v1.x]",  # IPvFuture is not accepted
        b"[fe80::1%25eth0]",  # nor zone identifiers
        b"ex%4mple.com",
        b"ex%",
        b"example.com/path",
        b"caf\xe9.example",
    ],
)
def test_invalid_host_rejected_rfc9112_3_2(host: bytes) -> None:
    raw = b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"
    error = assert_rejected(raw, 400)
    assert error.reason == "Invalid Host header field"


def test_http10_host_is_validated_too() -> None:
    assert_rejected(b"GET / HTTP/1.0\r\nHost: a b\r\n\r\n", 400)


# --- Content-Length and Transfer-Encoding -----------------------------------------


@pytest.mark.parametrize(
    ("fields", "length"),
    [
        ([b"5"], 5),
        ([b"0"], 0),
        ([b"005"], 5),
        ([b" 42 "], 42),
        ([b"5, 5"], 5),
        ([b"5,5 ,\t5"], 5),
        ([b"5", b"5"], 5),
        ([b"7", b"7, 7"], 7),
        ([b"9" * 18], int("9" * 18)),
    ],
)
def test_content_length_accepted_rfc9112_6_3(fields: list[bytes], length: int) -> None:
    raw = b"POST /upload HTTP/1.1\r\nHost: h\r\n"
    raw += b"".join(b"Content-Length: " + f + b"\r\n" for f in fields) + b"\r\n"
    result = outcome([raw])
    assert isinstance(result, Request)
    assert result.body_length == length
    assert not result.chunked
    assert_parses(raw, result)


@pytest.mark.parametrize(
    "fields",
    [
        [b"5, 6"],
        [b"5", b"6"],
        [b"5", b"05, 6"],
    ],
)
def test_conflicting_content_lengths_rejected_rfc9112_6_3(fields: list[bytes]) -> None:
    raw = b"POST / HTTP/1.1\r\nHost: h\r\n"
    raw += b"".join(b"Content-Length: " + f + b"\r\n" for f in fields) + b"\r\n"
    error = assert_rejected(raw, 400)
    assert error.reason == "Conflicting Content-Length values"


@pytest.mark.parametrize(
    "value",
    [b"", b"-5", b"+5", b"5 5", b"0x5", b"5,", b",5", b"5;", b"1e3", b"\xb2", b"1" * 19, b"abc"],
)
def test_invalid_content_length_rejected_rfc9112_6_3(value: bytes) -> None:
    raw = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: " + value + b"\r\n\r\n"
    error = assert_rejected(raw, 400)
    assert error.reason == "Invalid Content-Length"


@pytest.mark.parametrize("value", [b"chunked", b"Chunked", b" CHUNKED ", b", chunked"])
def test_chunked_transfer_encoding_rfc9112_6_1(value: bytes) -> None:
    raw = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: " + value + b"\r\n\r\n"
    result = outcome([raw])
    assert isinstance(result, Request)
    assert result.chunked
    assert result.body_length == 0


def test_transfer_encoding_with_content_length_rejected_rfc9112_6_3() -> None:
    raw = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
    error = assert_rejected(raw, 400)
    assert error.reason == "Both Transfer-Encoding and Content-Length"


def test_transfer_encoding_in_http10_rejected_rfc9112_6_1() -> None:
    raw = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
    error = assert_rejected(raw, 400)
    assert error.reason == "Transfer-Encoding in an HTTP/1.0 request"


@pytest.mark.parametrize(
    "value", [b"gzip", b"chunked, gzip", b"chunked, chunked", b"chunked;x=1", b"", b" , "]
)
def test_final_coding_not_chunked_rejected_rfc9112_6_3(value: bytes) -> None:
    raw = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: " + value + b"\r\n\r\n"
    assert_rejected(raw, 400)


@pytest.mark.parametrize("fields", [[b"gzip, chunked"], [b"x-custom", b"chunked"]])
def test_unimplemented_transfer_coding_is_501_rfc9112_6_1(fields: list[bytes]) -> None:
    raw = b"POST / HTTP/1.1\r\nHost: h\r\n"
    raw += b"".join(b"Transfer-Encoding: " + f + b"\r\n" for f in fields) + b"\r\n"
    assert_rejected(raw, 501)


# --- pipelining and bodies --------------------------------------------------------


def test_three_pipelined_requests_in_one_feed_rfc9112_9_3_2() -> None:
    heads = [
        b"GET /1 HTTP/1.1\r\nHost: h\r\n",
        b"HEAD /2 HTTP/1.1\r\nHost: h\r\n",
        b"GET /3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n",
    ]
    buf = ReceiveBuffer(LIMITS)
    buf.feed(b"\r\n".join(heads) + b"\r\n")
    targets = []
    for expected in heads:
        head = buf.extract_head()
        assert head == expected
        parsed = parse_head(head, LIMITS)
        assert isinstance(parsed, Request)
        targets.append((parsed.method, parsed.target, parsed.keep_alive))
    assert targets == [("GET", "/1", True), ("HEAD", "/2", True), ("GET", "/3", False)]
    assert buf.extract_head() is None
    assert len(buf) == 0


def test_extract_discards_a_body_then_next_request_follows() -> None:
    buf = ReceiveBuffer(LIMITS)
    buf.feed(b"POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello")
    head = buf.extract_head()
    assert isinstance(head, bytes)
    parsed = parse_head(head, LIMITS)
    assert isinstance(parsed, Request)
    assert parsed.body_length == 11
    assert buf.extract(parsed.body_length) == b"hello"  # only what has arrived
    assert buf.extract(0) == b""
    assert buf.extract(-1) == b""
    buf.feed(b" world\r\n")  # the rest of the body, then a stray CRLF (§2.2)
    buf.feed(b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
    assert buf.extract(6) == b" world"
    assert buf.extract_head() == b"GET /next HTTP/1.1\r\nHost: h\r\n"
    assert not buf


def test_extract_resets_the_search_after_a_premature_extract_head() -> None:
    body = b"x" * 60
    buf = ReceiveBuffer(LIMITS)
    buf.feed(b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 60\r\n\r\n" + body)
    assert isinstance(buf.extract_head(), bytes)
    # Looking for a head among the body bytes finds nothing yet ...
    assert buf.extract_head() is None
    assert buf.extract(60) == body
    buf.feed(b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n")
    # ... and the search for the next head, shorter than the body, starts over.
    assert buf.extract_head() == b"GET /b HTTP/1.1\r\nHost: h\r\n"


def test_error_is_sticky_and_buffer_untouched() -> None:
    buf = ReceiveBuffer(LIMITS)
    buf.feed(b"GET /\r\nmore")
    first = buf.extract_head()
    assert isinstance(first, ParseError)
    assert buf.extract_head() == first
    assert len(buf) == len(b"GET /\r\nmore")


# --- performance shape: linear search, no wall clock -------------------------------


def test_head_dribbled_one_byte_at_a_time_is_searched_linearly() -> None:
    limits = Limits(max_head=32 * 1024, max_headers=200)
    head = b"GET / HTTP/1.1\r\nHost: h\r\n" + b"".join(
        b"X-%02d: " % i + b"v" * 150 + b"\r\n" for i in range(99)
    )
    head += b"Pad: " + b"p" * (16 * 1024 - len(head) - 7) + b"\r\n"
    assert len(head) == 16 * 1024
    raw = head + b"\r\n"
    buf = ReceiveBuffer(limits)
    result: bytes | ParseError | None = None
    previous_start = 0
    for i in range(len(raw)):
        buf.feed(raw[i : i + 1])
        result = buf.extract_head()
        if result is not None:
            break
        # Each search resumes just before where the previous one stopped.
        assert previous_start <= buf._head_search >= len(buf) - 3
        previous_start = buf._head_search
    assert result == head
    parsed = parse_head(head, limits)
    assert isinstance(parsed, Request)
    assert len(parsed.headers) == 101
    # A quadratic search would cover ~n*n/2 = 134 million bytes; each byte is
    # covered a small constant number of times here.
    assert buf._scanned <= 12 * len(raw)


def test_many_pipelined_heads_in_one_buffer_are_searched_linearly() -> None:
    one = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
    buf = ReceiveBuffer(LIMITS)
    buf.feed(one * 500)
    for _ in range(500):
        assert isinstance(buf.extract_head(), bytes)
    assert buf._scanned <= 3 * len(one) * 500


# --- error values ----------------------------------------------------------------


def test_error_reasons_are_fixed_texts_never_client_input() -> None:
    marker = b"ZQXJ"
    bad = [
        b"GET /" + marker + b"\x00 HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: " + marker + b" x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n" + marker + b" : x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: " + marker + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: " + marker + b", chunked\r\n\r\n",
        marker + b" / HTTP/9.9\r\n\r\n",
    ]
    seen = set()
    for raw in bad:
        error = outcome([raw])
        assert isinstance(error, ParseError)
        assert error.reason in ALL_REASONS
        assert marker.decode() not in error.reason
        assert error.reason.isascii()
        seen.add(error.status)
    assert seen == {400, 501, 505}


def test_request_is_frozen() -> None:
    req = request()
    with pytest.raises(AttributeError):
        req.method = "POST"  # type: ignore[misc]
    assert replace(req, method="POST").method == "POST"
