"""--live pages above the cap: streamed from disk with the script spliced in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from staticsrv.site.document import LIVE_PAGE_MAX
from staticsrv.site.inject import SCRIPT_TAG, inject
from tests.client import Conn, build, get
from tests.conftest import Running, ServeFactory

pytest.importorskip("watchfiles")

HEAD = b"<!doctype html><html><head><script>var s = '</head>';</script><title>big</title>"
ROW = b"<tr><td>a &amp; b</td><td class='x'>1</td></tr>\n"


def big_page(path: Path, size: int = LIVE_PAGE_MAX + 100_000, head: bytes = HEAD) -> bytes:
    rows = ROW * ((size - len(head)) // len(ROW) + 1)
    data = head + b"</head><body><table>" + rows + b"</table></body></html>"
    path.write_bytes(data)
    return data


@pytest.fixture
def live(serve: ServeFactory) -> Running:
    return serve(live=True, live_delay=0.05)


def test_a_large_page_gets_the_script_at_the_same_place_as_a_small_one(live: Running) -> None:
    data = big_page(live.root / "big.html")
    resp = get(live.addr, "/big.html", headers={"Accept-Encoding": "gzip"})
    assert resp.status == 200
    assert resp.body == inject(data)
    assert resp.body.count(SCRIPT_TAG) == 1
    assert resp.header("content-length") == str(len(data) + len(SCRIPT_TAG))
    assert resp.header("content-encoding") is None  # identity above the cap
    assert resp.header("accept-ranges") == "bytes"
    etag = resp.header("etag")
    assert etag is not None and etag.startswith('"') and etag.endswith('-live"')


def test_no_head_nor_body_puts_the_script_at_the_end(live: Running) -> None:
    data = b"<p>" + b"x" * (LIVE_PAGE_MAX + 10)
    (live.root / "plain.html").write_bytes(data)
    assert get(live.addr, "/plain.html").body == data + SCRIPT_TAG


def test_revalidation_head_and_ranges_on_the_injected_representation(live: Running) -> None:
    data = big_page(live.root / "big.html")
    whole = inject(data)
    full = get(live.addr, "/big.html")
    etag = full.header("etag")
    assert etag is not None
    assert get(live.addr, "/big.html", headers={"If-None-Match": etag}).status == 304
    head = get(live.addr, "/big.html", "HEAD")
    assert (head.status, head.body) == (200, b"")
    for name in ("content-length", "etag", "content-type", "accept-ranges", "last-modified"):
        assert head.header(name) == full.header(name), name
    at = whole.index(SCRIPT_TAG)
    # A range across the spliced tag, one inside it, the tail, and one after it.
    for first, last in ((at - 5, at + 10), (at + 3, at + 7), (len(whole) - 9, len(whole) - 1)):
        part = get(live.addr, "/big.html", headers={"Range": f"bytes={first}-{last}"})
        assert part.status == 206
        assert part.body == whole[first : last + 1]
        assert part.header("content-range") == f"bytes {first}-{last}/{len(whole)}"
    tag_end = at + len(SCRIPT_TAG) + 2
    multi = get(live.addr, "/big.html", headers={"Range": f"bytes=0-3,{at}-{tag_end}"})
    assert multi.status == 206
    assert f"bytes 0-3/{len(whole)}\r\n\r\n".encode() + whole[:4] + b"\r\n--" in multi.body
    tagged = f"bytes {at}-{tag_end}/{len(whole)}\r\n\r\n".encode() + whole[at : tag_end + 1]
    assert tagged + b"\r\n--" in multi.body
    over = get(live.addr, "/big.html", headers={"Range": f"bytes={len(whole)}-"})
    assert over.status == 416
    assert over.header("content-range") == f"bytes */{len(whole)}"
    stale = get(live.addr, "/big.html", headers={"Range": "bytes=0-3", "If-Range": '"other"'})
    assert (stale.status, stale.body) == (200, whole)


def test_a_saved_page_is_scanned_again(live: Running) -> None:
    first = big_page(live.root / "big.html")
    before = get(live.addr, "/big.html")
    assert before.body == inject(first)
    tmp = live.root / "big.html.tmp"
    second = big_page(tmp, head=b"<html><head><title>v2</title>")
    os.replace(tmp, live.root / "big.html")
    after = get(live.addr, "/big.html")
    assert after.body == inject(second)
    assert after.header("etag") != before.header("etag")


def test_a_page_changed_while_it_is_sent_is_cut_short(live: Running) -> None:
    # Large enough that the socket buffers hold a small part of it: the
    # server is still sending when the file changes.
    path = live.root / "huge.html"
    big_page(path, 48 * 1024 * 1024)
    with Conn(live.addr) as conn:
        conn.send(build("/huge.html"))
        head = conn.read_head()
        assert head.status == 200
        length = int(head.headers["content-length"])
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        body, how = conn.read_to_eof(limit=20.0)
    assert how in ("eof", "reset")  # closed by the server, not a timeout
    assert 0 < len(body) < length  # cut short: never taken for the whole page
