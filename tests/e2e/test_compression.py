"""On-the-fly gzip beyond the body cache, and gzipped error pages, over real sockets."""

from __future__ import annotations

import gzip
import json
import os
import socket
import struct
from pathlib import Path

import pytest

from staticsrv.site import fileresponse
from tests.client import Conn, build, connect, get
from tests.conftest import Running, ServeFactory
from tests.waiting import poll_until

AE = {"Accept-Encoding": "gzip"}
JUST_OVER = 256 * 1024 + 1  # one byte more than the body cache takes


def text_of(size: int) -> bytes:
    line = b"the quick brown fox jumps over the lazy dog 0123456789\n"
    return (line * (size // len(line) + 1))[:size]


def search_index(size: int) -> bytes:
    """A MkDocs-like search_index.json of about ``size`` bytes."""
    text = "lorem ipsum dolor sit amet " * 10
    count = size // (len(text) + 60) + 1
    docs = [{"location": f"page-{i}/", "title": f"Page {i}", "text": text} for i in range(count)]
    return json.dumps({"config": {"lang": ["en"]}, "docs": docs}).encode()


def test_a_text_file_just_over_the_cache_size_is_gzipped(srv: Running) -> None:
    data = text_of(JUST_OVER)
    (srv.root / "big.txt").write_bytes(data)
    identity = get(srv.addr, "/big.txt")
    resp = get(srv.addr, "/big.txt", headers=AE)
    assert resp.status == 200
    assert resp.header("content-encoding") == "gzip"
    # HTTP/2 frames the body itself: no chunked coding (RFC 9113 §8.2.2).
    chunked = None if srv.h2 is not None else "chunked"
    assert resp.header("transfer-encoding") == chunked
    assert resp.header("content-length") is None
    assert resp.header("vary") == "Accept-Encoding"
    assert gzip.decompress(resp.body) == data
    assert len(resp.body) < len(data) // 10
    # Each representation has its own strong tag (RFC 9110 §8.8.3.3).
    assert identity.header("etag") != resp.header("etag")
    assert (resp.header("etag") or "").endswith('-gzip"')


def test_a_large_json_streams_the_same_bytes_every_time_and_revalidates(srv: Running) -> None:
    data = search_index(3 * 1024 * 1024)
    (srv.root / "search_index.json").write_bytes(data)
    with Conn(srv.addr) as conn:  # one keep-alive connection: the framing must hold
        first = conn.request("/search_index.json", headers=AE)
        second = conn.request("/search_index.json", headers=AE)
        etag = first.header("etag") or ""
        again = conn.request("/search_index.json", headers={**AE, "If-None-Match": etag})
        after = conn.request("/hello.txt")
    assert (first.header("content-type") or "").startswith("application/json")
    assert gzip.decompress(first.body) == data
    assert second.body == first.body  # a strong ETag promises the same bytes
    assert second.header("etag") == etag
    assert again.status == 304
    assert again.header("etag") == etag
    assert after.body == b"hello world\n"


def test_a_range_of_a_large_text_file_gets_identity_bytes(srv: Running) -> None:
    data = text_of(1024 * 1024)
    (srv.root / "big.txt").write_bytes(data)
    identity_etag = get(srv.addr, "/big.txt", method="HEAD").header("etag")
    resp = get(srv.addr, "/big.txt", headers={**AE, "Range": "bytes=1000-1999"})
    assert resp.status == 206
    assert resp.header("content-encoding") is None
    assert resp.body == data[1000:2000]
    assert resp.header("etag") == identity_etag


def test_head_of_a_large_gzipped_file_has_the_get_fields_and_no_body(srv: Running) -> None:
    (srv.root / "big.txt").write_bytes(text_of(JUST_OVER))
    with Conn(srv.addr) as conn:
        head = conn.request("/big.txt", method="HEAD", headers=AE)
        after = conn.request("/hello.txt")
    assert head.status == 200
    assert head.header("content-encoding") == "gzip"
    assert (head.header("etag") or "").endswith('-gzip"')
    assert head.body == b""
    assert after.body == b"hello world\n"


def test_an_http10_client_gets_the_gzip_stream_delimited_by_the_close(srv: Running) -> None:
    data = text_of(JUST_OVER)
    (srv.root / "big.txt").write_bytes(data)
    with connect(srv.addr, timeout=10) as sock:
        sock.sendall(b"GET /big.txt HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Content-Encoding: gzip" in head
    assert b"Transfer-Encoding" not in head
    assert gzip.decompress(body) == data


def test_concurrent_gzip_streams_are_capped_and_freed_when_clients_leave(
    srv: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond the cap a download gets identity (sendfile), never unbounded compressor memory."""
    monkeypatch.setattr(fileresponse, "MAX_GZIP_STREAMS", 2)
    # Barely compressible text, far larger than any socket buffer: a stream
    # whose client does not read stays open, holding its place.
    data = os.urandom(12 * 1024 * 1024).hex().encode()
    (srv.root / "noise.txt").write_bytes(data)
    holders = []
    for _ in range(2):
        conn = Conn(srv.addr)
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        conn.send(build("/noise.txt", headers=AE))
        holders.append(conn)
    heads = []
    for conn in holders:
        # The head and the first bytes of the body: the stream is under way.
        while b"\r\n\r\n" not in conn.buf or conn.buf.endswith(b"\r\n\r\n"):
            assert conn._fill()
        heads.append(conn.buf.split(b"\r\n\r\n")[0])
    assert all(b"Content-Encoding: gzip" in head for head in heads)
    over = get(srv.addr, "/noise.txt", method="HEAD", headers=AE)
    assert over.header("content-encoding") is None
    assert over.header("content-length") == str(len(data))
    for conn in holders:
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.sock.close()  # a reset: the server's blocked send fails at once
    # The server notices the resets on its own schedule (its next send
    # fails): poll, a bounded number of times, until both places are free.
    files = srv.core.handler.files

    def cut() -> list[str]:
        lines = "\n".join(srv.log).splitlines()  # the sink gets batches of lines
        return [line for line in lines if line.endswith("(cut short)")]

    poll_until(
        "both downloads cut short and their files closed",
        lambda: not files.streams and len(cut()) >= 2,
        10,
        detail=lambda: (files.streams, srv.log),
    )
    assert files.streams == 0
    again = get(srv.addr, "/noise.txt", method="HEAD", headers=AE)
    assert again.header("content-encoding") == "gzip"
    assert len(cut()) == 2, srv.log
    assert all(int(line.split('" 200 ')[1].split()[0]) > 0 for line in cut()), cut()


# ---------------------------------------------------------------- error pages


def test_the_sites_own_404_page_is_gzipped_when_accepted(srv: Running) -> None:
    page = b"<!doctype html><title>Not found</title>" + b"<p>MkDocs 404 navigation</p>\n" * 200
    (srv.root / "404.html").write_bytes(page)
    (srv.root / "not_found.html").unlink()
    packed = get(srv.addr, "/nope.html", headers=AE)
    assert packed.status == 404
    assert packed.header("content-encoding") == "gzip"
    assert packed.header("vary") == "Accept-Encoding"
    assert gzip.decompress(packed.body) == page
    plain = get(srv.addr, "/nope.html")
    assert plain.status == 404
    assert plain.header("content-encoding") is None
    assert plain.header("vary") == "Accept-Encoding"
    assert plain.body == page
    head = get(srv.addr, "/nope.html", method="HEAD", headers=AE)
    assert head.header("content-length") == packed.header("content-length")


def test_the_built_in_404_page_is_gzipped_when_accepted(
    serve: ServeFactory, tmp_path: Path
) -> None:
    root = tmp_path / "bare"
    root.mkdir()
    running = serve(root)
    plain = get(running.addr, "/missing.html")
    packed = get(running.addr, "/missing.html", headers=AE)
    assert plain.status == packed.status == 404
    assert packed.header("content-encoding") == "gzip"
    assert gzip.decompress(packed.body) == plain.body
    assert len(packed.body) < len(plain.body)


def test_a_small_404_page_is_sent_as_is(srv: Running) -> None:
    resp = get(srv.addr, "/nope.html", headers=AE)
    assert resp.status == 404
    assert resp.header("content-encoding") is None
    assert resp.body == b"<h1>custom 404</h1>\n"


def test_a_file_truncated_while_streamed_never_ends_as_a_whole_answer(srv: Running) -> None:
    """The body then lacks its last chunk, so no client takes it for complete."""
    path = srv.root / "noise.txt"
    path.write_bytes(os.urandom(12 * 1024 * 1024).hex().encode())
    with Conn(srv.addr) as conn:
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        conn.send(build("/noise.txt", headers=AE))
        while b"\r\n\r\n" not in conn.buf:
            assert conn._fill()
        path.write_bytes(b"")  # an editor truncating the file in place
        with pytest.raises(ConnectionError):
            conn.read_response()
