"""Tests for staticsrv.http.pages: directory listings and error pages."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from staticsrv.http import pages
from staticsrv.http.pages import ListingEntry, error_page, not_found_page, render_listing
from staticsrv.http.target import Target, TargetError, decode_target, quote_segments

MTIME = datetime(2026, 11, 22, 21, 30, 59, tzinfo=UTC).timestamp()


class Page(HTMLParser):
    """Collects what the tests look at: title, heading links, table rows."""

    def __init__(self, body: bytes) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.h1 = ""
        self.h1_links: list[tuple[str, str]] = []  # (href, text)
        self.rows: list[list[str]] = []  # cell texts
        self.row_links: list[tuple[str, str]] = []  # (href, text) in the table
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._stack: list[str] = []
        self._href: str | None = None
        self._text = ""
        self.feed(body.decode("utf-8"))
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in {"meta", "br"}:
            return
        self._stack.append(tag)
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._text = ""
        elif tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self.rows[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        assert self._stack and self._stack[-1] == tag, (self._stack, tag)
        self._stack.pop()
        if tag == "a":
            assert self._href is not None
            link = (self._href, self._text)
            (self.h1_links if "h1" in self._stack else self.row_links).append(link)
            self._href = None

    def handle_data(self, data: str) -> None:
        if not self._stack:
            return
        if self._stack[-1] == "title":
            self.title += data
        if "h1" in self._stack:
            self.h1 += data
        if self._href is not None:
            self._text += data
        if "td" in self._stack:
            self.rows[-1][-1] += data


def entry(name: str, is_dir: bool = False, size: int = 0, mtime: float = MTIME) -> ListingEntry:
    return ListingEntry(name, is_dir, size, mtime)


def entry_links(page: Page) -> list[tuple[str, str]]:
    return [link for link in page.row_links if link[0] != "../"]


# --- document structure ----------------------------------------------------


def test_root_listing_structure() -> None:
    body = render_listing((), [entry("a.txt")])
    assert isinstance(body, bytes)
    page = Page(body)
    assert page.title == "Index of /"
    assert page.h1 == "Index of /"
    text = body.decode("utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in text
    assert ("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}) in (
        page.tags
    )
    assert "prefers-color-scheme:dark" in text.replace(" ", "")
    assert "color-scheme" in text
    assert "<script" not in text.lower()
    assert "javascript:" not in text.lower()
    assert "on" + "click" not in text.lower()


def test_no_parent_link_at_root() -> None:
    page = Page(render_listing((), [entry("x")]))
    assert "../" not in [href for href, _ in page.row_links]


def test_parent_link_below_root() -> None:
    page = Page(render_listing(("a",), [entry("x")]))
    assert page.row_links[0] == ("../", "../")
    assert [href for href, _ in page.row_links].count("../") == 1


def test_title_and_breadcrumb() -> None:
    page = Page(render_listing(("a", "b c", "d"), []))
    assert page.title == "Index of /a/b c/d/"
    assert page.h1 == "Index of /a/b c/d/"
    base = "http://h/a/b%20c/d/"
    resolved = [(urlsplit(urljoin(base, href)).path, text) for href, text in page.h1_links]
    assert resolved == [
        ("/", "/"),
        ("/a/", "a/"),
        ("/a/b%20c/", "b c/"),
        ("/a/b%20c/d/", "d/"),
    ]
    # Relative, so the page also works when mounted under a prefix.
    assert all(not href.startswith("/") for href, _ in page.h1_links)


def test_empty_directory_has_only_parent() -> None:
    page = Page(render_listing(("a",), []))
    assert page.row_links == [("../", "../")]


def test_accepts_any_iterable() -> None:
    page = Page(render_listing(("a",), (e for e in [entry("x"), entry("y")])))
    assert [text for _, text in entry_links(page)] == ["x", "y"]


# --- escaping and links ------------------------------------------------------

NASTY = [
    "<script>alert(1).html",  # (a real name cannot contain "/")
    "<img src=x onerror=alert(1)>",
    'quote"d.txt',
    "it's.txt",
    "a&b.txt",
    "a&amp;b.txt",
    "a:b",
    "javascript:alert(1)",
    "x?y=1",
    "x#frag",
    "100%.txt",
    "%2e%2e",
    "sp ace.txt",
    "plus+sign",
    "tab\tname",
    "new\nline",
    "back\\slash",
    "café.html",
    "日本語.txt",
    "😀",
    "-->",
    "<!--",
    "]]>",
    ";semi",
    "@at",
    "~tilde",
]


@pytest.mark.parametrize("is_dir", [False, True])
@pytest.mark.parametrize("segments", [(), ("sub dir", "ü")])
def test_names_escaped_and_hrefs_resolve(is_dir: bool, segments: tuple[str, ...]) -> None:
    body = render_listing(segments, [entry(name, is_dir) for name in NASTY])
    text = body.decode("utf-8")
    assert "<script>" not in text
    assert "<img" not in text
    assert "<!--" not in text
    assert 'quote"d' not in text
    assert "a&b" not in text
    page = Page(body)
    links = entry_links(page)
    assert sorted(label for _, label in links) == sorted(
        name + "/" if is_dir else name for name in NASTY
    )
    base = "http://host" + quote_segments(segments, trailing_slash=True)
    for href, label in links:
        name = label[:-1] if is_dir else label
        assert href.startswith("./")
        parts = urlsplit(href)
        assert parts.scheme == ""
        assert parts.netloc == ""
        assert parts.query == ""
        assert parts.fragment == ""
        assert href.isascii()
        assert not any(ch in href for ch in ' \t\n<>"')  # "'" is a legal sub-delim
        assert href.endswith("/") is is_dir
        # What a browser would request for this link decodes to the entry.
        url = urlsplit(urljoin(base, href))
        assert url.netloc == "host"
        result = decode_target(url.path, dotfiles=True)
        if "\t" in name or "\n" in name:
            assert isinstance(result, TargetError)  # controls are refused
            continue
        assert isinstance(result, Target), name
        assert result.segments == (*segments, name)
        assert result.trailing_slash is is_dir


def test_specific_encodings() -> None:
    page = Page(
        render_listing(
            (),
            [entry("x?y"), entry("x#y"), entry("100%"), entry("a:b"), entry("d:e", is_dir=True)],
        )
    )
    hrefs = {label: href for href, label in entry_links(page)}
    assert hrefs["x?y"] == "./x%3Fy"
    assert hrefs["x#y"] == "./x%23y"
    assert hrefs["100%"] == "./100%25"
    assert hrefs["a:b"] == "./a:b"
    assert hrefs["d:e/"] == "./d:e/"


def test_impossible_names_are_skipped() -> None:
    page = Page(
        render_listing(
            (), [entry(""), entry("."), entry(".."), entry("a/b"), entry("nul\x00"), entry("ok")]
        )
    )
    assert [label for _, label in entry_links(page)] == ["ok"]


def test_undecodable_file_name_does_not_raise() -> None:
    # os.scandir surrogate-escapes bytes that are not UTF-8.
    body = render_listing(("d\udcffir",), [entry("caf\udce9.txt")])
    page = Page(body)
    ((href, label),) = entry_links(page)
    assert href == "./caf%E9.txt"  # the link carries the file's real bytes
    assert label == "caf?.txt"
    assert page.title == "Index of /d?ir/"


def test_dotfiles_are_rendered_as_given() -> None:
    page = Page(render_listing((), [entry(".env"), entry(".git", is_dir=True)]))
    assert [label for _, label in entry_links(page)] == [".git/", ".env"]


# --- order, sizes and times ----------------------------------------------------


def test_directories_first_then_case_insensitive_natural() -> None:
    names = [
        ("b.txt", False),
        ("A.txt", False),
        ("file10.txt", False),
        ("file9.txt", False),
        ("file09.txt", False),
        ("Zeta", True),
        ("alpha", True),
        ("v1.10", True),
        ("v1.9", True),
        ("a.txt", False),
        ("C.txt", False),
        ("0", False),
        ("10", False),
        ("9", False),
    ]
    page = Page(render_listing((), [entry(n, d) for n, d in names]))
    assert [label for _, label in entry_links(page)] == [
        "alpha/",
        "v1.9/",
        "v1.10/",
        "Zeta/",
        "0",
        "9",
        "10",
        "A.txt",
        "a.txt",
        "b.txt",
        "C.txt",
        "file09.txt",
        "file9.txt",
        "file10.txt",
    ]


def test_order_does_not_depend_on_input_order() -> None:
    entries = [entry(n) for n in ["b", "B", "a", "A", "a1", "a01", "a001"]]
    first = render_listing((), entries)
    assert render_listing((), reversed(entries)) == first
    page = Page(first)
    assert [label for _, label in entry_links(page)] == ["A", "a", "a001", "a01", "a1", "B", "b"]


def test_huge_digit_runs_sort_without_int_overflow() -> None:
    big = "9" * 5000  # int() of this would raise in Python 3.11
    page = Page(render_listing((), [entry(big + "0"), entry(big), entry("1")]))
    assert [label for _, label in entry_links(page)] == ["1", big, big + "0"]


def _cells(name: str, is_dir: bool = False, size: int = 0, mtime: float = MTIME) -> list[str]:
    page = Page(render_listing((), [entry(name, is_dir, size, mtime)]))
    (row,) = [r for r in page.rows if r]
    return row


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0 B"),
        (1, "1 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1229, "1.2 KiB"),
        (1536, "1.5 KiB"),
        (1024 * 1024 - 1, "1.0 MiB"),  # not "1024.0 KiB"
        (5 * 1024 * 1024, "5.0 MiB"),
        (3 * 1024**3, "3.0 GiB"),
        (2 * 1024**4, "2.0 TiB"),
        (1024**6, "1.0 EiB"),
        (5000 * 1024**6, "5000.0 EiB"),
    ],
)
def test_human_sizes(size: int, shown: str) -> None:
    assert _cells("f", size=size)[1] == shown


def test_directory_size_is_not_shown() -> None:
    assert _cells("d", is_dir=True, size=4096)[1] == "-"


@pytest.mark.parametrize(
    ("mtime", "shown"),
    [
        (MTIME, "2026-11-22 21:30"),
        (0.0, "1970-01-01 00:00"),
        (1e20, "-"),
        (float("nan"), "-"),
        (float("inf"), "-"),
    ],
)
def test_modification_time_in_utc(mtime: float, shown: str) -> None:
    assert _cells("f", mtime=mtime)[2] == shown


def test_time_element_is_machine_readable() -> None:
    page = Page(render_listing((), [entry("f")]))
    times = [attrs for tag, attrs in page.tags if tag == "time"]
    assert times == [{"datetime": "2026-11-22T21:30Z"}]


# --- error pages ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "title"),
    [
        (400, "400 Bad Request"),
        (403, "403 Forbidden"),
        (404, "404 Not Found"),
        (405, "405 Method Not Allowed"),
        (416, "416 Range Not Satisfiable"),
        (500, "500 Internal Server Error"),
        (599, "599 Server Error"),
    ],
)
def test_error_page_title(status: int, title: str) -> None:
    body = error_page(status, "Something went wrong.")
    assert isinstance(body, bytes)
    page = Page(body)
    assert page.title == title
    assert page.h1 == title
    text = body.decode("utf-8")
    assert "<p>Something went wrong.</p>" in text
    assert '<meta charset="utf-8">' in text
    assert "<script" not in text


def test_error_page_escapes_reason() -> None:
    body = error_page(400, "<script>alert(\"x\")</script> & 'q'")
    text = body.decode("utf-8")
    assert "<script>" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;q&#x27;" in text
    assert Page(body).title == "400 Bad Request"


def test_error_page_is_small_and_stable() -> None:
    body = error_page(404, "Not here.")
    assert body == error_page(404, "Not here.")
    assert len(body) < 4096


def test_not_found_page_shows_the_path_and_links_home_and_up() -> None:
    body = not_found_page("/docs/gone.html", "../", ("../docs/", "/docs/"))
    text = body.decode("utf-8")
    page = Page(body)
    assert page.title == page.h1 == "404 Not Found"
    assert "<code>/docs/gone.html</code>" in text
    assert '<a href="../docs/">/docs/</a>' in text
    assert '<a href="../">The site root</a>' in text
    assert "<script" not in text


def test_not_found_page_escapes_the_path_and_links() -> None:
    text = not_found_page('/<script>"x"', './"><', ('"><b>', "<i>")).decode("utf-8")
    assert "<script>" not in text and "<b>" not in text and "<i>" not in text
    assert "&lt;script&gt;&quot;x&quot;" in text


def test_not_found_page_without_a_folder_link() -> None:
    text = not_found_page("/x", "./", None).decode("utf-8")
    assert "Nearest existing folder" not in text
    assert not_found_page("/x", "./", None) == not_found_page("/x", "./", None)


@pytest.mark.parametrize(
    ("segments", "top"),
    [(("prefix",), 1), (("prefix", "sub"), 1), (("a", "b"), 2), (("a", "b", "c", "d"), 2)],
)
def test_no_listing_link_leads_above_the_base(segments: tuple[str, ...], top: int) -> None:
    html = render_listing(segments, [entry("x.txt"), entry("d", is_dir=True)], top).decode()
    here = "/" + "".join(s + "/" for s in segments)
    base = "/" + "".join(s + "/" for s in segments[:top])
    links = [urljoin(here, href) for href in re.findall(r'href="([^"]*)"', html)]
    assert links and all(link.startswith(base) for link in links), links
    assert (base in links) is True  # the base itself stays reachable
    assert ('href="../"' in html) is (len(segments) > top)


def test_without_a_base_the_root_link_and_parent_row_stay() -> None:
    html = render_listing(("sub",), [entry("x.txt")]).decode()
    assert '<a href="../">/</a>' in html and '<a href="../">../</a>' in html


@given(st.text())
def test_escape_is_html_escape(text: str) -> None:
    assert pages.escape(text) == html.escape(text, quote=True)
    assert pages.escape(text, quote=False) == html.escape(text, quote=False)
