"""Listing validators, the built-in 404 page, and symlinks that leave the root."""

from __future__ import annotations

import gzip
import logging
import os
import re
import time
from pathlib import Path

import pytest

from tests.client import get
from tests.conftest import Running, ServeFactory

# ---------------------------------------------------------------- listing validators


def test_a_listing_has_a_strong_etag_and_last_modified_and_answers_304(srv: Running) -> None:
    past = time.time() - 60  # made a minute ago: its date is no longer in the current second
    for path in (srv.root / "sub", *(srv.root / "sub").rglob("*")):
        os.utime(path, (past, past))
    first = get(srv.addr, "/sub/")
    etag = first.header("etag") or ""
    assert first.status == 200
    assert re.fullmatch(r'"[^"W/]+"', etag), etag  # strong: no W/ prefix
    assert first.header("last-modified")
    again = get(srv.addr, "/sub/", headers={"If-None-Match": etag})
    assert again.status == 304
    assert again.body == b""
    assert again.header("etag") == etag
    since = get(
        srv.addr, "/sub/", headers={"If-Modified-Since": first.header("last-modified") or ""}
    )
    assert since.status == 304


def test_a_listing_etag_changes_with_what_it_shows(srv: Running) -> None:
    # A rendered listing is reused only while every entry is as it shows:
    # each edit below is seen by the very next request, with no delay.
    etag = get(srv.addr, "/sub/").header("etag") or ""
    # A file grows in place: the folder's mtime stays, the listing's size changes.
    (srv.root / "sub" / "a.txt").write_text("a much longer line now\n")
    os.utime(srv.root / "sub" / "a.txt", (2_000_000_000, 2_000_000_000))
    changed = get(srv.addr, "/sub/", headers={"If-None-Match": etag})
    assert changed.status == 200
    assert changed.header("etag") != etag
    new_file = get(srv.addr, "/sub/", headers={"If-None-Match": changed.header("etag") or ""})
    assert new_file.status == 304
    (srv.root / "sub" / "c.txt").write_text("c\n")
    added = get(srv.addr, "/sub/", headers={"If-None-Match": changed.header("etag") or ""})
    assert added.status == 200
    assert b"c.txt" in added.body


def test_a_listing_etag_depends_on_options(serve: ServeFactory, site: Path) -> None:
    (site / "sub" / ".draft.txt").write_text("draft\n")
    hidden = serve()
    shown = serve(dotfiles=True)
    assert get(hidden.addr, "/sub/").header("etag") != get(shown.addr, "/sub/").header("etag")


def test_the_gzipped_listing_has_its_own_etag(srv: Running) -> None:
    for index in range(60):
        (srv.root / "sub" / f"file-{index:03}.txt").write_text("x\n")
    plain = get(srv.addr, "/sub/")
    packed = get(srv.addr, "/sub/", headers={"Accept-Encoding": "gzip"})
    assert packed.header("content-encoding") == "gzip"
    assert gzip.decompress(packed.body) == plain.body
    assert packed.header("etag") != plain.header("etag")
    again = get(
        srv.addr,
        "/sub/",
        headers={"Accept-Encoding": "gzip", "If-None-Match": packed.header("etag") or ""},
    )
    assert again.status == 304
    assert again.header("vary") == "Accept-Encoding"


# ---------------------------------------------------------------- the built-in 404 page


@pytest.fixture
def bare(serve: ServeFactory, tmp_path: Path) -> Running:
    """A site without its own 404 page: a few nested folders."""
    root = tmp_path / "bare"
    (root / "docs" / "guide").mkdir(parents=True)
    (root / "docs" / "guide" / "intro.html").write_text("<p>intro</p>\n")
    return serve(root)


def test_the_built_in_404_shows_the_path_a_root_link_and_the_nearest_folder(bare: Running) -> None:
    resp = get(bare.addr, "/docs/guide/gone/deeper/page.html")
    assert resp.status == 404
    page = resp.body.decode()
    assert "/docs/guide/gone/deeper/page.html" in page
    # Relative links from /docs/guide/gone/deeper/: four levels up is the root.
    assert 'href="../../../../"' in page
    assert 'href="../../../../docs/guide/"' in page
    assert ">/docs/guide/</a>" in page


def test_the_built_in_404_escapes_the_path(bare: Running) -> None:
    resp = get(bare.addr, "/docs/%3Cscript%3Ealert(1)%3C/script%3E.html")
    assert resp.status == 404
    assert b"<script>" not in resp.body
    assert b"&lt;script&gt;alert(1)&lt;" in resp.body


def test_the_built_in_404_has_no_folder_link_without_listings(
    serve: ServeFactory, tmp_path: Path
) -> None:
    root = tmp_path / "bare"
    (root / "docs").mkdir(parents=True)
    running = serve(root, listing=False)
    page = get(running.addr, "/docs/gone.html").body.decode()
    assert "/docs/gone.html" in page
    assert 'href="../"' in page  # the root
    assert "docs/</a>" not in page


def test_the_nearest_folder_link_follows_the_tree(bare: Running) -> None:
    before = get(bare.addr, "/docs/guide/new/page.html").body.decode()
    assert ">/docs/guide/</a>" in before
    (bare.root / "docs" / "guide" / "new").mkdir()
    after = get(bare.addr, "/docs/guide/new/page.html").body.decode()
    assert ">/docs/guide/new/</a>" in after


def test_a_hidden_path_gets_the_same_404_page_without_a_folder_link(bare: Running) -> None:
    resp = get(bare.addr, "/docs/.env")
    assert resp.status == 404
    assert b"/docs/.env" in resp.body
    assert b"Nearest existing folder" not in resp.body


# ---------------------------------------------------------------- symlinks out of the root


@pytest.fixture
def monorepo(tmp_path: Path) -> Path:
    """site/assets -> ../shared/assets, as a monorepo links its shared files."""
    shared = tmp_path / "shared" / "assets"
    shared.mkdir(parents=True)
    (shared / "logo.svg").write_text("<svg/>\n")
    (shared / ".secret").write_text("no\n")
    site = tmp_path / "mono"
    site.mkdir()
    (site / "index.html").write_text("<p>mono</p>\n")
    (site / "assets").symlink_to(Path("..") / "shared" / "assets")
    (site / "logo.svg").symlink_to(shared / "logo.svg")
    return site


def test_a_link_out_of_the_root_is_refused_and_logged_once(
    serve: ServeFactory, monorepo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    running = serve(monorepo)
    with caplog.at_level(logging.WARNING, logger="staticsrv"):
        for _ in range(3):
            assert get(running.addr, "/assets/logo.svg").status == 404
            assert get(running.addr, "/logo.svg").status == 404
        listing = get(running.addr, "/assets/")
    assert listing.status == 404
    lines = [r.getMessage() for r in caplog.records if "--follow-symlinks" in r.getMessage()]
    # One line per refused target, not per request.
    assert len(lines) == 2, lines
    assert any("/assets" in line and "shared" in line for line in lines)


def test_follow_symlinks_serves_links_out_of_the_root(serve: ServeFactory, monorepo: Path) -> None:
    running = serve(monorepo, follow_symlinks=True)
    assert get(running.addr, "/assets/logo.svg").body == b"<svg/>\n"
    assert get(running.addr, "/logo.svg").body == b"<svg/>\n"
    listing = get(running.addr, "/assets/")
    assert listing.status == 200
    assert b"logo.svg" in listing.body


def test_follow_symlinks_keeps_dotfiles_hidden_and_only_regular_files(
    serve: ServeFactory, monorepo: Path
) -> None:
    (monorepo / "secret.txt").symlink_to(monorepo.parent / "shared" / "assets" / ".secret")
    (monorepo / "zero").symlink_to("/dev/zero")
    running = serve(monorepo, follow_symlinks=True)
    assert get(running.addr, "/assets/.secret").status == 404
    assert get(running.addr, "/secret.txt").status == 404
    assert get(running.addr, "/zero").status == 404
    assert b".secret" not in get(running.addr, "/assets/").body


def test_a_folder_asked_with_an_encoded_slash_is_redirected_to_its_own_url(srv: Running) -> None:
    # A browser at "/sub%2F" resolves "./a.txt" to "/a.txt" (%2F is no
    # separator to it): the listing must not be served there.
    for target, location in (("/sub%2F", "/sub/"), ("/sub%2f?x=1", "/sub/?x=1")):
        resp = get(srv.addr, target)
        assert (resp.status, resp.header("location")) == (301, location), target
    listing = get(srv.addr, "/sub/")
    assert listing.status == 200 and b'href="./a.txt"' in listing.body
    assert get(srv.addr, "/hello.txt%2F").body == b"hello world\n"  # a file's name, slash dropped
