"""Response values and the one place a head becomes bytes (RFC 9112 §4, §6, §7.1, §9)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from staticsrv.http import pages
from staticsrv.http.responses import (
    ALLOW,
    SERVER,
    FileBody,
    Response,
    StreamBody,
    chunk,
    date_line,
    error_response,
    field_lines,
    render_head,
)

DATE = date_line("Sun, 06 Nov 1994 08:49:37 GMT")


async def _chunks() -> AsyncIterator[bytes]:
    yield b"data: 1\n\n"


def ok() -> Response:
    return Response(200, (("Content-Type", "text/plain"), ("Content-Length", "5")), b"hello")


def test_a_head_is_status_line_server_fields_date_and_tail() -> None:
    head = render_head(ok(), DATE, keep_alive=True, http10=False)
    assert head == (
        b"HTTP/1.1 200 OK\r\n"
        + f"Server: {SERVER}\r\n".encode()
        + b"Content-Type: text/plain\r\nContent-Length: 5\r\n"
        + b"Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        + b"\r\n"
    )


def test_http11_keep_alive_sends_no_connection_field_rfc9112_9_3() -> None:
    head = render_head(ok(), DATE, keep_alive=True, http10=False)
    assert b"Connection" not in head
    assert head.endswith(DATE + b"\r\n")


def test_http10_keep_alive_is_said_explicitly() -> None:
    head = render_head(ok(), DATE, keep_alive=True, http10=True)
    assert head.endswith(DATE + b"Connection: keep-alive\r\n\r\n")


@pytest.mark.parametrize("http10", [False, True])
def test_close_is_said_explicitly(http10: bool) -> None:
    head = render_head(ok(), DATE, keep_alive=False, http10=http10)
    assert head.endswith(DATE + b"Connection: close\r\n\r\n")


def test_a_response_that_asks_to_close_overrides_keep_alive() -> None:
    resp = error_response(400, close=True)
    assert resp.close
    head = render_head(resp, DATE, keep_alive=True, http10=False)
    assert head.endswith(b"Connection: close\r\n\r\n")


def test_a_stream_is_chunked_for_http11_and_keeps_the_connection() -> None:
    resp = Response(200, (("Content-Type", "text/event-stream"),), StreamBody(_chunks()))
    head = render_head(resp, DATE, keep_alive=True, http10=False)
    assert head.endswith(DATE + b"Transfer-Encoding: chunked\r\n\r\n")
    assert b"Content-Length" not in head
    assert resp.length == 0


def test_a_stream_to_http10_is_delimited_by_the_close_rfc9112_6_3() -> None:
    resp = Response(200, (("Content-Type", "text/event-stream"),), StreamBody(_chunks()))
    head = render_head(resp, DATE, keep_alive=True, http10=True)
    assert b"Transfer-Encoding" not in head
    assert head.endswith(b"Connection: close\r\n\r\n")


def test_chunks_are_hex_length_framed_and_empty_is_the_last_chunk() -> None:
    assert chunk(b"hello") == b"5\r\nhello\r\n"
    assert chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"
    assert chunk(b"") == b"0\r\n\r\n"


def test_an_unknown_status_still_renders() -> None:
    assert Response(299, ()).prefix().startswith(b"HTTP/1.1 299 Success\r\n")


def test_a_field_value_with_a_line_break_is_refused() -> None:
    with pytest.raises(ValueError, match="X-Evil"):
        field_lines([("X-Evil", "a\r\nSet-Cookie: x=1")])
    with pytest.raises(ValueError):
        Response(200, (("Location", "/a\nb"),)).prefix()


def test_with_fields_appends_and_leaves_the_original_untouched() -> None:
    original = ok()
    before = original.prefix()
    added = original.with_fields((("X-Test", "1"),))
    assert original.fields == (("Content-Type", "text/plain"), ("Content-Length", "5"))
    assert original.prefix() == before
    assert added.fields[-1] == ("X-Test", "1")
    assert added.prefix() == before + b"X-Test: 1\r\n"  # rendered afresh, not the old prefix
    assert added.body == original.body


def test_field_lookup_is_case_insensitive() -> None:
    resp = ok()
    assert resp.field("content-type") == "text/plain"
    assert resp.field("CONTENT-LENGTH") == "5"
    assert resp.field("ETag") is None


def test_without_body_keeps_the_head() -> None:
    resp = ok()
    bare = resp.without_body()
    assert (bare.status, bare.fields, bare.body) == (200, resp.fields, b"")
    assert bare.prefix() == resp.prefix()


def test_length_counts_bytes_and_file_regions() -> None:
    assert ok().length == 5
    assert Response(200, (), FileBody(-1, (b"ab", (0, 10)), 12)).length == 12


def test_error_response_is_the_builtin_page_with_its_length() -> None:
    resp = error_response(404)
    assert resp.status == 404
    assert isinstance(resp.body, bytes)
    assert resp.body == pages.error_page(404, "Not Found")
    assert resp.field("Content-Length") == str(len(resp.body))
    assert resp.field("Content-Type") == "text/html; charset=utf-8"
    assert resp.field("Cache-Control") == "no-cache"
    assert not resp.close


def test_error_response_for_head_has_the_length_but_no_body() -> None:
    full = error_response(404)
    head = error_response(404, head=True)
    assert head.body == b""
    assert head.fields == full.fields


def test_error_response_extra_fields_reason_and_cache_control() -> None:
    resp = error_response(
        405, extra=(("Allow", ALLOW),), cache_control="no-store", reason="Fixed text."
    )
    assert resp.field("Allow") == "GET, HEAD, OPTIONS"
    assert resp.field("Cache-Control") == "no-store"
    assert isinstance(resp.body, bytes) and b"Fixed text." in resp.body
    # The cached value underneath is never changed by a caller's extras.
    plain = error_response(405, cache_control="no-store", reason="Fixed text.")
    assert plain.field("Allow") is None
