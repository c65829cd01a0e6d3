"""Preview as deployed, the edges (issue 22): what the host would do, over real sockets.

Splats that match nothing, rules over folders without an index, links that
stay under ``--base``, UTF-8 in ``_redirects``, ``Set-Cookie`` from several
``_headers`` blocks, links out of the root in listings, start-up reports of
the rule files, and the README's own ``_redirects``/``_headers`` examples.
(The SPA navigation rule is in test_preview.py.)
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import urljoin

import pytest

from tests.client import get
from tests.conftest import ServeFactory

PREVIEW_DOC = Path(__file__).resolve().parents[2] / "docs" / "preview.md"


def hrefs(body: bytes) -> list[str]:
    return re.findall(r'href="([^"]*)"', body.decode())


# ---------------------------------------------------------------- 1: empty splat


def test_an_empty_splat_is_the_empty_string(serve: ServeFactory, site: Path) -> None:
    (site / "_redirects").write_text("/docs/* /guide/:splat 302\n")
    srv = serve()
    for target, location in [("/docs", "/guide/"), ("/docs/", "/guide/"), ("/docs/a", "/guide/a")]:
        resp = get(srv.addr, target)
        assert (resp.status, resp.header("location")) == (302, location), target
    based = serve(base=("p",))
    assert get(based.addr, "/p/docs").header("location") == "/p/guide/"


# ---------------------------------------------------------------- 3: rules over listings


def test_a_rule_wins_over_the_listing_of_a_folder_without_index(
    serve: ServeFactory, site: Path
) -> None:
    shop = site / "shop"
    shop.mkdir()
    (shop / "404.html").write_text("shop is closed")
    (shop / "real.txt").write_text("a real file")
    (site / "_redirects").write_text(
        "/shop/*  /shop/404.html  404\n/sub/*  /hello.txt  302\n/withindex/*  /hello.txt  302\n"
    )
    srv = serve()
    for target in ("/shop/", "/shop", "/shop/item/7"):
        resp = get(srv.addr, target)
        assert (resp.status, resp.body) == (404, b"shop is closed"), target
    assert get(srv.addr, "/shop/real.txt").body == b"a real file"  # a file still shadows
    assert get(srv.addr, "/sub/").header("location") == "/hello.txt"
    assert get(srv.addr, "/sub/a.txt").body == b"a\n"
    # A folder with its index.html is a page: it shadows the rule, as a file does.
    assert get(srv.addr, "/withindex/").body == b"<p>inner index</p>\n"
    # A clean URL's file is a page: "/shop" serves shop.html, the rule stays for "/shop/".
    (site / "shop.html").write_text("the shop page")
    assert get(srv.addr, "/shop").body == b"the shop page"
    assert get(srv.addr, "/shop/").body == b"shop is closed"
    # Without a matching rule the listing is still there.
    (site / "_redirects").write_text("/other /hello.txt\n")
    assert b"real.txt" in get(srv.addr, "/shop/").body


def test_a_forced_rule_wins_over_a_folder_with_index(serve: ServeFactory, site: Path) -> None:
    (site / "_redirects").write_text("/withindex/*  /hello.txt  302!\n")
    srv = serve()
    assert get(srv.addr, "/withindex/").header("location") == "/hello.txt"


# ---------------------------------------------------------------- 4: links inside --base


def test_listing_and_404_links_stay_under_the_base(serve: ServeFactory, site: Path) -> None:
    (site / "index.html").unlink()
    (site / "not_found.html").unlink()  # the built-in 404 page
    srv = serve(base=("prefix",))
    pages = ["/prefix/", "/prefix/sub/", "/prefix/sub/nested/"]
    pages += ["/prefix/missing.txt", "/prefix/sub/gone/deeper/x", "/prefix/.env"]
    for page in pages:
        resp = get(srv.addr, page)
        assert resp.status in (200, 404), page
        links = hrefs(resp.body)
        assert links, page
        for href in links:
            assert urljoin(page, href).startswith("/prefix/"), (page, href)
    root = get(srv.addr, "/prefix/").body
    assert b'href="../"' not in root  # no parent row above the site's root
    assert urljoin("/prefix/missing.txt", hrefs(get(srv.addr, "/prefix/missing.txt").body)[-1]) == (
        "/prefix/"
    )
    # The page names the path as the user asked for it, prefix included, and
    # so does the nearest folder's label ("/prefix/sub/", not "/sub/").
    gone = get(srv.addr, "/prefix/sub/gone/x").body
    assert b"<code>/prefix/sub/gone/x</code>" in gone
    assert b'<a href="../../../prefix/sub/">/prefix/sub/</a>' in gone
    # Without --base the root keeps its links and no parent row.
    plain = serve()
    assert hrefs(get(plain.addr, "/sub/").body)[:2] == ["../", "./"]


# ---------------------------------------------------------------- 5: UTF-8 in _redirects


def test_unicode_targets_and_paths_are_percent_encoded(serve: ServeFactory, site: Path) -> None:
    (site / "café.html").write_text("café")
    (site / "日本.html").write_text("日本")
    (site / "_redirects").write_text(
        "/cafe /café.html 301\n/jp /日本.html 301\n/東京 /hello.txt 302\n/jp-page /日本.html 200\n",
        encoding="utf-8",
    )
    srv = serve()
    cafe = get(srv.addr, "/cafe")
    assert (cafe.status, cafe.header("location")) == (301, "/caf%C3%A9.html")
    assert cafe.raw_head.isascii()
    assert get(srv.addr, "/caf%C3%A9.html").body == "café".encode()  # where it leads
    jp = get(srv.addr, "/jp")
    assert (jp.status, jp.header("location")) == (301, "/%E6%97%A5%E6%9C%AC.html")
    assert get(srv.addr, "/%E6%9D%B1%E4%BA%AC").header("location") == "/hello.txt"  # /東京
    assert get(srv.addr, "/jp-page").body == "日本".encode()


# ---------------------------------------------------------------- 6: Set-Cookie apart


def test_set_cookie_from_several_blocks_goes_out_as_separate_fields(
    serve: ServeFactory, site: Path
) -> None:
    (site / "_headers").write_text(
        "/*\n  Set-Cookie: a=1; Path=/\n  X-Joined: one\n"
        "/hello.txt\n  Set-Cookie: b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT\n  X-Joined: two\n"
    )
    srv = serve()
    resp = get(srv.addr, "/hello.txt")
    assert resp.all_headers("set-cookie") == [
        "a=1; Path=/",
        "b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT",
    ]
    assert resp.raw_head.lower().count(b"\r\nset-cookie: ") == 2  # two field lines, not one
    assert resp.all_headers("x-joined") == ["one, two"]  # a list field is still joined
    assert get(srv.addr, "/hello.txt").all_headers("set-cookie") == resp.all_headers("set-cookie")


# ---------------------------------------------------------------- 7: listings and links out


@pytest.fixture
def linked(tmp_path: Path) -> Path:
    """A root without index whose entries include links out of it and one inside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside\n")
    (outside / "dir").mkdir()
    root = tmp_path / "linked"
    root.mkdir()
    (root / "real.txt").write_text("real\n")
    (root / "leak.txt").symlink_to(outside / "secret.txt")
    (root / "leakdir").symlink_to(outside / "dir")
    (root / "inner.txt").symlink_to(root / "real.txt")  # stays inside: listed
    return root


def test_listings_never_show_links_that_leave_the_root(serve: ServeFactory, linked: Path) -> None:
    body = get(serve(linked).addr, "/").body
    assert b"real.txt" in body and b"inner.txt" in body
    assert b"leak.txt" not in body and b"leakdir" not in body
    followed = get(serve(linked, follow_symlinks=True).addr, "/").body
    assert b"leak.txt" in followed and b"leakdir/" in followed


# ---------------------------------------------------------------- 8: reported at start-up


def test_skipped_rule_lines_are_reported_before_any_request(
    serve: ServeFactory, site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (site / "_redirects").write_text("/a /hello.txt\n/b /hello.txt 418\n")
    (site / "_headers").write_text("nope\n  X-A: 1\n/ok\n  X-B: 2\n")
    with caplog.at_level(logging.WARNING, logger="staticsrv"):
        srv = serve()
        before = [r.getMessage() for r in caplog.records]
        assert get(srv.addr, "/a").status == 301
        assert [r.getMessage() for r in caplog.records] == before  # nothing more
    assert before == [
        "staticsrv: _redirects line 2: status '418' is not one of 200, 301, 302, 303, 307, "
        "308, 404 (line skipped)",
        "staticsrv: _headers line 1: 'nope' does not start with / (line skipped)",
        "staticsrv: _headers line 2: belongs to the path on line 1, which was skipped "
        "(line skipped)",
    ]


# ---------------------------------------------------------------- 16: the README's examples


def readme_block(marker: str) -> str:
    """The preview page's code block whose first line starts with ``marker`` (``# _redirects``)."""
    text = PREVIEW_DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", text, re.M | re.S)
    found = [block for block in blocks if block.startswith(marker)]
    assert len(found) == 1, f"one README block starting with {marker!r}"
    return str(found[0])


def test_the_readme_rule_examples_work_as_copied(
    serve: ServeFactory, site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (site / "_redirects").write_text(readme_block("# _redirects"))
    (site / "_headers").write_text(readme_block("# _headers"))
    (site / "app").mkdir()
    (site / "app" / "index.html").write_text("<p>the app</p>")
    (site / "shop").mkdir()
    (site / "shop" / "404.html").write_text("<p>no such product</p>")
    (site / "legacy.html").write_text("old")
    (site / "assets" / "private").mkdir(parents=True)
    (site / "assets" / "app.css").write_text("a{}")
    (site / "assets" / "private" / "key.txt").write_text("k")
    with caplog.at_level(logging.WARNING, logger="staticsrv"):
        srv = serve()
    assert [r.getMessage() for r in caplog.records] == []  # every line is understood
    redirects = {
        "/old-page": (301, "/new-page"),
        "/blog/2024/hello": (308, "/posts/2024/hello"),
        "/docs": (302, "/guide/"),
        "/docs/intro": (302, "/guide/intro"),
        "/launch": (307, "https://example.com/"),
        "/legacy.html": (301, "/modern.html"),
    }
    for target, (status, location) in redirects.items():
        resp = get(srv.addr, target)
        assert (resp.status, resp.header("location")) == (status, location), target
    rewrite = get(srv.addr, "/app/settings/profile")
    assert (rewrite.status, rewrite.body) == (200, b"<p>the app</p>")
    custom = get(srv.addr, "/shop/no-such-item")
    assert (custom.status, custom.body) == (404, b"<p>no such product</p>")
    assert get(srv.addr, "/hello.txt").header("x-frame-options") == "DENY"
    css = get(srv.addr, "/assets/app.css")
    assert css.header("cache-control") == "public, max-age=31536000, immutable"
    assert css.header("x-frame-options") == "DENY"
    assert get(srv.addr, "/assets/private/key.txt").header("x-frame-options") is None
