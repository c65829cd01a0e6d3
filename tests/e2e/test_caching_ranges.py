"""End-to-end: validators, conditional requests, ranges and compression (RFC 9110 §8, §12-14)."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import pytest

from staticsrv.http.httpdate import format_http_date, parse_http_date
from tests.client import Conn, Received, get
from tests.conftest import Running, ServeFactory

TEXT = b"0123456789abcdefghijklmnopqrstuvwxyz" * 100  # 3,600 bytes, compressible


@pytest.fixture
def data_file(srv: Running) -> Path:
    path = srv.root / "data.txt"
    path.write_bytes(TEXT)
    # Saved a minute ago: a date in the current second is never sent (see
    # test_two_saves_in_one_second_never_earn_if_modified_since_a_304).
    past = time.time() - 60
    os.utime(path, (past, past))
    return path


def validators(srv: Running, target: str = "/data.txt") -> tuple[str, str]:
    resp = get(srv.addr, target)
    etag, lm = resp.header("etag"), resp.header("last-modified")
    assert etag is not None and lm is not None
    return etag, lm


# ---------------------------------------------------------------- validators (§8.8)


def test_file_has_strong_etag_last_modified_and_no_cache(srv: Running, data_file: Path) -> None:
    resp = get(srv.addr, "/data.txt")
    etag = resp.header("etag") or ""
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert resp.header("last-modified") == format_http_date(int(data_file.stat().st_mtime))
    assert resp.header("cache-control") == "no-cache"
    assert resp.header("accept-ranges") == "bytes"


def test_etag_is_stable_and_changes_after_an_edit(srv: Running, data_file: Path) -> None:
    first, _ = validators(srv)
    assert validators(srv)[0] == first
    data_file.write_bytes(TEXT + b"!")
    assert validators(srv)[0] != first


def test_etag_survives_a_restart(serve: ServeFactory, data_file: Path) -> None:
    one = serve(root=data_file.parent)
    two = serve(root=data_file.parent)
    assert validators(one) == validators(two)


def test_cache_option_sets_max_age_and_no_cache_sets_no_store(
    serve: ServeFactory, data_file: Path
) -> None:
    assert get(serve(max_age=600).addr, "/data.txt").header("cache-control") == (
        "public, max-age=600"
    )
    assert get(serve(no_store=True).addr, "/data.txt").header("cache-control") == "no-store"


# ---------------------------------------------------------------- preconditions (§13)


def test_if_none_match_gives_304_with_validators_and_no_body(srv: Running, data_file: Path) -> None:
    etag, lm = validators(srv)
    with Conn(srv.addr) as conn:
        resp = conn.request("/data.txt", headers={"If-None-Match": etag})
        after = conn.request("/hello.txt")  # no stray body desynchronised the connection
    assert resp.status == 304
    assert resp.body == b""
    assert resp.header("etag") == etag
    assert resp.header("last-modified") == lm
    assert resp.header("cache-control") == "no-cache"
    assert resp.header("date") is not None
    assert after.body == b"hello world\n"


def test_if_none_match_list_weak_and_star(srv: Running, data_file: Path) -> None:
    etag, _ = validators(srv)
    for value in (f'"x", {etag}', f"W/{etag}", "*"):
        assert get(srv.addr, "/data.txt", headers={"If-None-Match": value}).status == 304
    assert get(srv.addr, "/data.txt", headers={"If-None-Match": '"other"'}).status == 200


def test_if_modified_since_gives_304_and_200_after_edit(srv: Running, data_file: Path) -> None:
    _, lm = validators(srv)
    assert get(srv.addr, "/data.txt", headers={"If-Modified-Since": lm}).status == 304
    future = time.time() + 10
    os.utime(data_file, (future, future))
    resp = get(srv.addr, "/data.txt", headers={"If-Modified-Since": lm})
    assert resp.status == 200
    assert resp.body == TEXT


def test_if_none_match_wins_over_if_modified_since_rfc9110_13_2_2(
    srv: Running, data_file: Path
) -> None:
    # nginx answers 304 here; the RFC says If-Modified-Since is ignored.
    _, lm = validators(srv)
    resp = get(srv.addr, "/data.txt", headers={"If-None-Match": '"stale"', "If-Modified-Since": lm})
    assert resp.status == 200


def test_if_modified_since_invalid_or_future_date_is_ignored(srv: Running, data_file: Path) -> None:
    assert get(srv.addr, "/data.txt", headers={"If-Modified-Since": "yesterday"}).status == 200
    future = format_http_date(time.time() + 86400)
    assert get(srv.addr, "/data.txt", headers={"If-Modified-Since": future}).status == 200


def test_future_mtime_never_gives_a_last_modified_after_the_date_rfc9110_8_8_2_1(
    srv: Running, data_file: Path
) -> None:
    future = time.time() + 30 * 86400  # an archive's timestamps, a skewed clock
    os.utime(data_file, (future, future))
    resp = get(srv.addr, "/data.txt")
    lm, date = resp.header("last-modified"), resp.header("date")
    assert lm is not None and date is not None
    lm_at, date_at = parse_http_date(lm), parse_http_date(date)
    assert lm_at is not None and date_at is not None
    assert lm_at <= date_at
    # That date is not the file's: it never earns a 304 (the file may change
    # again within the second), while the ETag still does.
    assert get(srv.addr, "/data.txt", headers={"If-Modified-Since": lm}).status == 200
    etag = resp.header("etag")
    assert etag is not None
    assert get(srv.addr, "/data.txt", headers={"If-None-Match": etag}).status == 304


def test_if_match_mismatch_is_412_and_match_is_200(srv: Running, data_file: Path) -> None:
    etag, _ = validators(srv)
    assert get(srv.addr, "/data.txt", headers={"If-Match": '"nope"'}).status == 412
    assert get(srv.addr, "/data.txt", headers={"If-Match": etag}).status == 200
    assert get(srv.addr, "/data.txt", headers={"If-Match": "*"}).status == 200
    assert get(srv.addr, "/data.txt", headers={"If-Match": f"W/{etag}"}).status == 412


def test_if_unmodified_since_in_the_past_is_412(srv: Running, data_file: Path) -> None:
    headers = {"If-Unmodified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"}
    assert get(srv.addr, "/data.txt", headers=headers).status == 412


def test_conditional_head_mirrors_get(srv: Running, data_file: Path) -> None:
    etag, _ = validators(srv)
    resp = get(srv.addr, "/data.txt", method="HEAD", headers={"If-None-Match": etag})
    assert resp.status == 304


# ---------------------------------------------------------------- ranges (§14)


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=10-", 10, len(TEXT) - 1),
        ("bytes=-5", len(TEXT) - 5, len(TEXT) - 1),
        ("bytes=-999999", 0, len(TEXT) - 1),
        ("bytes=3500-999999", 3500, len(TEXT) - 1),
    ],
)
def test_single_range_is_206_with_exact_bytes(
    srv: Running, data_file: Path, spec: str, start: int, end: int
) -> None:
    resp = get(srv.addr, "/data.txt", headers={"Range": spec})
    assert resp.status == 206
    assert resp.body == TEXT[start : end + 1]
    assert resp.header("content-range") == f"bytes {start}-{end}/{len(TEXT)}"
    assert resp.header("content-length") == str(end - start + 1)
    assert resp.header("content-encoding") is None


@pytest.mark.parametrize("spec", ["bytes=5000-", "bytes=-0", "bytes=3600-3700"])
def test_unsatisfiable_range_is_416_with_size(srv: Running, data_file: Path, spec: str) -> None:
    resp = get(srv.addr, "/data.txt", headers={"Range": spec})
    assert resp.status == 416
    assert resp.header("content-range") == f"bytes */{len(TEXT)}"


def test_any_range_of_an_empty_file_is_416(srv: Running) -> None:
    resp = get(srv.addr, "/empty.txt", headers={"Range": "bytes=0-"})
    assert resp.status == 416
    assert resp.header("content-range") == "bytes */0"


@pytest.mark.parametrize("spec", ["bytes=5-2", "items=0-1", "bytes=abc", "bytes=", "0-1"])
def test_invalid_range_is_ignored_with_200(srv: Running, data_file: Path, spec: str) -> None:
    resp = get(srv.addr, "/data.txt", headers={"Range": spec})
    assert resp.status == 200
    assert resp.body == TEXT


def parse_multipart(resp: Received) -> list[tuple[str, str, bytes]]:
    """Parse a multipart/byteranges body (RFC 9110 §14.6, RFC 2046 §5.1) into
    (content-type, content-range, data) parts, using each part's Content-Range
    to know its length, and check the framing around them is exact."""
    ctype = resp.header("content-type") or ""
    prefix = "multipart/byteranges; boundary="
    assert ctype.startswith(prefix)
    delimiter = b"\r\n--" + ctype[len(prefix) :].strip('"').encode()
    body = resp.body
    parts: list[tuple[str, str, bytes]] = []
    pos = 0
    while True:
        assert body.startswith(delimiter, pos), body[pos : pos + 80]
        pos += len(delimiter)
        if body.startswith(b"--\r\n", pos):
            assert pos + 4 == len(body), "bytes after the closing delimiter"
            return parts
        assert body.startswith(b"\r\n", pos)
        end = body.index(b"\r\n\r\n", pos)
        fields = dict(
            line.split(": ", 1) for line in body[pos + 2 : end].decode("latin-1").split("\r\n")
        )
        first, last = fields["Content-Range"].split(" ")[1].split("/")[0].split("-")
        length = int(last) - int(first) + 1
        pos = end + 4
        parts.append((fields["Content-Type"], fields["Content-Range"], body[pos : pos + length]))
        pos += length


def test_multiple_ranges_are_multipart_byteranges(srv: Running, data_file: Path) -> None:
    resp = get(srv.addr, "/data.txt", headers={"Range": "bytes=0-4,100-109,-3"})
    assert resp.status == 206
    assert int(resp.header("content-length") or 0) == len(resp.body)
    parts = parse_multipart(resp)
    size = len(TEXT)
    assert [p[1] for p in parts] == [
        f"bytes 0-4/{size}",
        f"bytes 100-109/{size}",
        f"bytes {size - 3}-{size - 1}/{size}",
    ]
    assert [p[2] for p in parts] == [TEXT[0:5], TEXT[100:110], TEXT[-3:]]
    assert all(p[0] == "text/plain; charset=utf-8" for p in parts)


def test_multipart_of_a_large_file_through_sendfile(srv: Running) -> None:
    big = (srv.root / "big.bin").read_bytes()
    resp = get(srv.addr, "/big.bin", headers={"Range": "bytes=0-99,2000000-2000099"})
    assert resp.status == 206
    parts = parse_multipart(resp)
    assert [p[2] for p in parts] == [big[0:100], big[2000000:2000100]]


def test_large_file_single_range_via_sendfile(srv: Running) -> None:
    big = (srv.root / "big.bin").read_bytes()
    resp = get(srv.addr, "/big.bin", headers={"Range": "bytes=1000000-"})
    assert resp.status == 206
    assert resp.body == big[1000000:]


def test_overlapping_ranges_are_coalesced(srv: Running, data_file: Path) -> None:
    resp = get(srv.addr, "/data.txt", headers={"Range": "bytes=0-10,5-20"})
    assert resp.status == 206
    assert resp.body == TEXT[0:21]
    assert resp.header("content-range") == f"bytes 0-20/{len(TEXT)}"


@pytest.mark.parametrize(
    "spec",
    [
        ",".join(["0-0"] * 2000),  # the same byte 2,000 times
        ",".join(f"{i}-{i}" for i in range(0, 2000, 2)),  # 1,000 distinct single bytes
        ",".join(["0-"] * 50),  # the whole file 50 times (Apache CVE-2011-3192 shape)
    ],
    ids=["same-byte-2000x", "distinct-1000", "whole-file-50x"],
)
def test_range_storm_is_not_amplified(srv: Running, data_file: Path, spec: str) -> None:
    resp = get(srv.addr, "/data.txt", headers={"Range": "bytes=" + spec})
    assert resp.status == 200
    assert resp.body == TEXT


def test_if_range_with_current_etag_honours_the_range(srv: Running, data_file: Path) -> None:
    etag, lm = validators(srv)
    for value in (etag, lm):
        resp = get(srv.addr, "/data.txt", headers={"Range": "bytes=0-3", "If-Range": value})
        assert resp.status == 206
        assert resp.body == TEXT[:4]


def test_if_range_with_old_validator_sends_the_full_file(srv: Running, data_file: Path) -> None:
    for value in ('"old"', "Sun, 06 Nov 1994 08:49:37 GMT", 'W/"weak"'):
        resp = get(srv.addr, "/data.txt", headers={"Range": "bytes=0-3", "If-Range": value})
        assert resp.status == 200
        assert resp.body == TEXT


def test_head_with_range_mirrors_get(srv: Running, data_file: Path) -> None:
    resp = get(srv.addr, "/data.txt", method="HEAD", headers={"Range": "bytes=0-9"})
    assert resp.status == 206
    assert resp.header("content-range") == f"bytes 0-9/{len(TEXT)}"
    assert resp.header("content-length") == "10"


# ---------------------------------------------------------------- compression (§8.4, §12.5.3)


def test_gzip_on_the_fly_round_trips(srv: Running, data_file: Path) -> None:
    resp = get(srv.addr, "/data.txt", headers={"Accept-Encoding": "gzip, deflate"})
    assert resp.status == 200
    assert resp.header("content-encoding") == "gzip"
    assert resp.header("vary") == "Accept-Encoding"
    assert gzip.decompress(resp.body) == TEXT
    assert int(resp.header("content-length") or 0) == len(resp.body) < len(TEXT)
    identity_etag, _ = validators(srv)
    assert resp.header("etag") != identity_etag


def test_gzip_etag_gives_304_for_the_gzip_variant(srv: Running, data_file: Path) -> None:
    first = get(srv.addr, "/data.txt", headers={"Accept-Encoding": "gzip"})
    again = get(
        srv.addr,
        "/data.txt",
        headers={"Accept-Encoding": "gzip", "If-None-Match": first.header("etag") or ""},
    )
    assert again.status == 304
    assert again.header("etag") == first.header("etag")


def test_identity_response_still_varies(srv: Running, data_file: Path) -> None:
    resp = get(srv.addr, "/data.txt")
    assert resp.header("content-encoding") is None
    assert resp.header("vary") == "Accept-Encoding"


@pytest.mark.parametrize("value", ["gzip;q=0", "identity", "br;q=1, gzip;q=0", "*;q=0, identity"])
def test_gzip_refused_by_q_values_sends_identity(srv: Running, data_file: Path, value: str) -> None:
    resp = get(srv.addr, "/data.txt", headers={"Accept-Encoding": value})
    assert resp.header("content-encoding") is None
    assert resp.body == TEXT


def test_no_compression_for_ranges_small_files_images_and_head(
    srv: Running, data_file: Path
) -> None:
    ae = {"Accept-Encoding": "gzip"}
    ranged = get(srv.addr, "/data.txt", headers={**ae, "Range": "bytes=0-9"})
    assert ranged.status == 206 and ranged.header("content-encoding") is None
    assert get(srv.addr, "/hello.txt", headers=ae).header("content-encoding") is None
    (srv.root / "pic.png").write_bytes(b"\x89PNG" + b"\x00" * 5000)
    png = get(srv.addr, "/pic.png", headers=ae)
    assert png.header("content-encoding") is None and png.header("vary") is None
    head = get(srv.addr, "/data.txt", method="HEAD", headers=ae)
    assert head.body == b""
    full = get(srv.addr, "/data.txt", headers=ae)
    assert head.header("content-length") == full.header("content-length")


def test_no_compress_option(serve: ServeFactory, data_file: Path) -> None:
    running = serve(compress=False)
    resp = get(running.addr, "/data.txt", headers={"Accept-Encoding": "gzip"})
    assert resp.header("content-encoding") is None
    assert resp.body == TEXT


def test_precompressed_sidecars_are_chosen_by_accept_encoding(
    srv: Running, data_file: Path
) -> None:
    (srv.root / "data.txt.br").write_bytes(b"BROTLI-BYTES")
    (srv.root / "data.txt.gz").write_bytes(gzip.compress(TEXT))
    br = get(srv.addr, "/data.txt", headers={"Accept-Encoding": "gzip, br"})
    assert br.header("content-encoding") == "br"
    assert br.body == b"BROTLI-BYTES"
    assert br.header("content-type") == "text/plain; charset=utf-8"
    gz = get(srv.addr, "/data.txt", headers={"Accept-Encoding": "gzip"})
    assert gz.header("content-encoding") == "gzip"
    assert gzip.decompress(gz.body) == TEXT
    preferred = get(srv.addr, "/data.txt", headers={"Accept-Encoding": "br;q=0.5, gzip"})
    assert preferred.header("content-encoding") == "gzip"
    assert len({br.header("etag"), gz.header("etag"), validators(srv)[0]}) == 3


def test_stale_sidecar_is_not_served(srv: Running, data_file: Path) -> None:
    side = srv.root / "data.txt.br"
    side.write_bytes(b"OLD")
    past = time.time() - 3600
    os.utime(side, (past, past))
    resp = get(srv.addr, "/data.txt", headers={"Accept-Encoding": "br"})
    assert resp.header("content-encoding") != "br"


def test_edited_file_gets_new_gzip_bytes(srv: Running, data_file: Path) -> None:
    ae = {"Accept-Encoding": "gzip"}
    first = get(srv.addr, "/data.txt", headers=ae)
    data_file.write_bytes(TEXT.upper())
    second = get(srv.addr, "/data.txt", headers=ae)
    assert gzip.decompress(second.body) == TEXT.upper()
    assert first.header("etag") != second.header("etag")


def test_two_saves_in_one_second_never_earn_if_modified_since_a_304(
    srv: Running, data_file: Path
) -> None:
    # curl -z / wget -N send only If-Modified-Since.  A file saved, fetched and
    # saved again within one second keeps its date: the second save must
    # still be fetched (RFC 9110 §8.8.2.2: a date in the current second is weak).
    for round_ in range(3):
        data_file.write_bytes(b"first %d" % round_)
        lm = get(srv.addr, "/data.txt").header("last-modified")
        assert lm is not None
        data_file.write_bytes(b"second %d" % round_)
        again = get(srv.addr, "/data.txt", headers={"If-Modified-Since": lm})
        assert (again.status, again.body) == (200, b"second %d" % round_)


def test_a_file_added_to_a_folder_in_the_same_second_is_listed_for_if_modified_since(
    srv: Running,
) -> None:
    folder = srv.root / "fresh"
    for round_ in range(3):
        folder.mkdir(exist_ok=True)
        (folder / f"a{round_}").write_text("a")
        lm = get(srv.addr, "/fresh/").header("last-modified")
        assert lm is not None
        (folder / f"b{round_}").write_text("b")
        again = get(srv.addr, "/fresh/", headers={"If-Modified-Since": lm})
        assert again.status == 200 and f"b{round_}".encode() in again.body
