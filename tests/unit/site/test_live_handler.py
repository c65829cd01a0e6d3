"""The handler with --live: injected pages as their own representation (no sockets).

Without --live not a byte of any answer may change; with it, every HTML
answer carries the script and its own validators, and everything else is
byte for byte what it was.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from staticsrv.config import Config
from staticsrv.http.responses import Response
from staticsrv.live.events import Hub
from staticsrv.site.handler import Handler
from staticsrv.site.inject import SCRIPT_TAG
from tests.unit.heads import request

PAGE = b"<!doctype html><html><head><title>t</title></head><body>" + b"x" * 2000 + b"</body></html>"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_bytes(PAGE)
    (site / "bare.html").write_bytes(b"<p>no head, no body")
    (site / "style.css").write_text("body { color: red }\n" * 100)
    (site / "data.bin").write_bytes(bytes(range(256)) * 8)
    (site / "sub").mkdir()
    (site / "sub" / "a.txt").write_text("a\n")
    return site


@pytest.fixture
def live(root: Path) -> Iterator[Handler]:
    config = Config(root=os.path.realpath(root), live=True)
    handler = Handler(config, endpoints=Hub(cache_control=config.generated_cache_control))
    yield handler
    handler.close()


@pytest.fixture
def plain(root: Path) -> Iterator[Handler]:
    handler = Handler(Config(root=os.path.realpath(root)))
    yield handler
    handler.close()


def body(resp: Response) -> bytes:
    assert isinstance(resp.body, bytes)
    return resp.body


async def test_html_file_gets_the_script_and_its_own_length_and_strong_etag(
    live: Handler, plain: Handler
) -> None:
    on = await live.handle(request("/"))
    off = await plain.handle(request("/"))
    assert body(on) == PAGE.replace(b"</head>", SCRIPT_TAG + b"</head>")
    assert on.field("Content-Length") == str(len(body(on)))
    etag = on.field("ETag")
    assert etag is not None and not etag.startswith("W/")
    assert etag != off.field("ETag")


async def test_a_page_without_head_or_body_gets_the_script_at_the_end(live: Handler) -> None:
    resp = await live.handle(request("/bare.html"))
    assert body(resp) == b"<p>no head, no body" + SCRIPT_TAG


async def test_304_for_the_injected_etag_and_200_for_the_files_own(
    live: Handler, plain: Handler
) -> None:
    etag = (await live.handle(request("/"))).field("ETag")
    assert etag is not None
    again = await live.handle(request("/", if_none_match=etag))
    assert again.status == 304
    assert again.field("ETag") == etag
    # The on-disk file's tag names other bytes: never a 304 for it.
    file_tag = (await plain.handle(request("/"))).field("ETag")
    assert file_tag is not None
    other = await live.handle(request("/", if_none_match=file_tag))
    assert other.status == 200
    assert SCRIPT_TAG in body(other)


async def test_head_equals_get_without_the_body(live: Handler) -> None:
    get = await live.handle(request("/"))
    head = await live.handle(request("/", "HEAD"))
    assert head.status == get.status
    assert head.fields == get.fields
    assert body(head) == b""


async def test_range_is_evaluated_on_the_injected_bytes(live: Handler) -> None:
    full = body(await live.handle(request("/")))
    at = full.index(SCRIPT_TAG)
    resp = await live.handle(request("/", range=f"bytes={at}-{at + len(SCRIPT_TAG) - 1}"))
    assert resp.status == 206
    assert body(resp) == SCRIPT_TAG
    assert resp.field("Content-Range") == f"bytes {at}-{at + len(SCRIPT_TAG) - 1}/{len(full)}"
    tail = await live.handle(request("/", range="bytes=-10"))
    assert body(tail) == full[-10:]
    past = await live.handle(request("/", range=f"bytes={len(full)}-"))
    assert past.status == 416
    assert past.field("Content-Range") == f"bytes */{len(full)}"


async def test_if_range_with_the_files_etag_gets_the_whole_injected_page(
    live: Handler, plain: Handler
) -> None:
    file_tag = (await plain.handle(request("/"))).field("ETag")
    assert file_tag is not None
    resp = await live.handle(request("/", range="bytes=0-9", if_range=file_tag))
    assert resp.status == 200
    assert SCRIPT_TAG in body(resp)


async def test_gzip_is_applied_after_injection_with_its_own_etag(live: Handler) -> None:
    plain_resp = await live.handle(request("/"))
    resp = await live.handle(request("/", accept_encoding="gzip"))
    assert resp.field("Content-Encoding") == "gzip"
    assert gzip.decompress(body(resp)) == body(plain_resp)
    assert resp.field("Content-Length") == str(len(body(resp)))
    assert resp.field("ETag") not in (None, plain_resp.field("ETag"))


async def test_a_precompressed_sidecar_is_not_used_for_html(live: Handler, root: Path) -> None:
    (root / "index.html.gz").write_bytes(gzip.compress(PAGE))
    (root / "index.html.br").write_bytes(b"not really brotli")
    resp = await live.handle(request("/index.html", accept_encoding="br, gzip"))
    assert resp.field("Content-Encoding") == "gzip"
    assert SCRIPT_TAG in gzip.decompress(body(resp))


async def test_non_html_answers_are_byte_for_byte_unchanged(live: Handler, plain: Handler) -> None:
    for target, fields in [
        ("/style.css", {}),
        ("/style.css", {"Accept-Encoding": "gzip"}),
        ("/data.bin", {"Range": "bytes=10-20"}),
        ("/data.bin", {}),
    ]:
        on = await live.handle(request(target, headers=fields))
        off = await plain.handle(request(target, headers=fields))
        assert (on.status, on.fields, on.body) == (off.status, off.fields, off.body), target


async def test_listings_and_404_pages_carry_the_script(live: Handler, root: Path) -> None:
    listing = await live.handle(request("/sub/"))
    assert SCRIPT_TAG in body(listing)
    assert listing.field("Content-Length") == str(len(body(listing)))
    missing = await live.handle(request("/missing.html"))
    assert missing.status == 404
    assert SCRIPT_TAG in body(missing)
    assert missing.field("Content-Length") == str(len(body(missing)))
    head = await live.handle(request("/missing.html", "HEAD"))
    assert head.field("Content-Length") == missing.field("Content-Length")
    (root / "not_found.html").write_bytes(b"<html><body>custom</body></html>")
    custom = await live.handle(request("/missing.html"))
    assert body(custom) == b"<html><body>custom" + SCRIPT_TAG + b"</body></html>"
    assert custom.field("Content-Length") == str(len(body(custom)))


async def test_a_gzipped_listing_is_gzipped_after_injection(live: Handler, root: Path) -> None:
    for i in range(60):
        (root / "sub" / f"file-{i:03}.txt").write_text("x")
    resp = await live.handle(request("/sub/", accept_encoding="gzip"))
    assert resp.field("Content-Encoding") == "gzip"
    assert SCRIPT_TAG in gzip.decompress(body(resp))


async def test_the_endpoints_answer_only_with_live(live: Handler, plain: Handler) -> None:
    script = await live.handle(request("/__staticsrv__/live.js"))
    assert script.status == 200
    assert script.field("Content-Type") == "text/javascript; charset=utf-8"
    etag = script.field("ETag")
    assert etag is not None
    assert (await live.handle(request("/__staticsrv__/live.js", if_none_match=etag))).status == 304
    assert (await live.handle(request("/__staticsrv__/other"))).status == 404
    events = await live.handle(request("/__staticsrv__/events", "HEAD"))
    assert events.field("Content-Type") == "text/event-stream; charset=utf-8"
    for target in ("/__staticsrv__/live.js", "/__staticsrv__/events"):
        assert (await plain.handle(request(target))).status == 404


async def test_without_live_html_is_the_files_bytes_and_tag(plain: Handler, root: Path) -> None:
    resp = await plain.handle(request("/"))
    assert body(resp) == PAGE
    st = os.stat(root / "index.html")
    assert resp.field("ETag") == f'"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"'
    for target in ("/", "/sub/", "/missing", "/__staticsrv__/live.js"):
        for method in ("GET", "HEAD"):
            # No script tag (the built-in 404 page does show the path asked for).
            assert b"<script" not in body(await plain.handle(request(target, method)))


async def test_an_edit_is_served_at_once_through_the_memo(live: Handler, root: Path) -> None:
    first = await live.handle(request("/"))
    assert (await live.handle(request("/"))) is first  # memoised
    (root / "index.html").write_bytes(b"<head></head>new")
    os.utime(root / "index.html", ns=(1, 1))
    second = await live.handle(request("/"))
    assert body(second) == b"<head>" + SCRIPT_TAG + b"</head>new"
    assert second.field("ETag") != first.field("ETag")


BIG = b"<html><head></head><body>" + b"y" * 50_000 + b"</body></html>"


@pytest.fixture
def small_cache(root: Path) -> Iterator[Handler]:
    (root / "big.html").write_bytes(BIG)
    config = Config(root=os.path.realpath(root), live=True, cache_file_max=4096)
    handler = Handler(config, endpoints=Hub(cache_control=config.generated_cache_control))
    yield handler
    handler.close()


async def test_a_page_larger_than_the_memory_cache_is_injected_too(small_cache: Handler) -> None:
    resp = await small_cache.handle(request("/big.html"))
    assert body(resp) == BIG.replace(b"</head>", SCRIPT_TAG + b"</head>")
    part = await small_cache.handle(request("/big.html", range="bytes=-14"))
    assert body(part) == b"</body></html>"
