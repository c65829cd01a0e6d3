"""The _redirects and _headers parsers and matchers, on their own."""

from __future__ import annotations

import pytest

from staticsrv.http.fields import check_field
from staticsrv.site.netlify import (
    Problem,
    compile_pattern,
    encode_uri,
    headers_for,
    match_redirect,
    parse_headers,
    parse_redirects,
    strip_comment,
)

REDIRECTS = """\
# comment, then a blank line

/old            /new
/temp           /elsewhere     302
/blog/:year/:slug  /posts/:year-:slug  308
/docs/*         /guide/:splat  301!
/app/*          /index.html    200
/shop/*         /shop/404.html 404
/out            https://example.com/landing 307
"""


def test_redirect_rules_are_parsed_in_order_with_status_and_force() -> None:
    rules, problems = parse_redirects(REDIRECTS)
    assert problems == ()
    assert [(r.line, r.source.text, r.to, r.status, r.force) for r in rules] == [
        (3, "/old", "/new", 301, False),
        (4, "/temp", "/elsewhere", 302, False),
        (5, "/blog/:year/:slug", "/posts/:year-:slug", 308, False),
        (6, "/docs/*", "/guide/:splat", 301, True),
        (7, "/app/*", "/index.html", 200, False),
        (8, "/shop/*", "/shop/404.html", 404, False),
        (9, "/out", "https://example.com/landing", 307, False),
    ]


def test_bad_redirect_lines_are_reported_with_their_numbers_and_skipped() -> None:
    text = (
        "/ok /fine\n"  # 1
        "/lonely\n"  # 2: no target
        "/a /b 418\n"  # 3: unknown status
        "/a /b 301 Country=us\n"  # 4: Netlify conditions
        "relative /b\n"  # 5: source without /
        "/a //evil.com\n"  # 6: network-path target
        "/a https://example.com/ 404\n"  # 7: a not-found page on another host
        "/a/*/b/* /c\n"  # 8: two splats
        "https://old.example.com/* /new\n"  # 9: domain-level rule
        "/x\t/y\x01\n"  # 10: control character
        "/last /good 302\n"  # 11
    )
    rules, problems = parse_redirects(text)
    assert [r.line for r in rules] == [1, 11]
    assert [p.line for p in problems] == [2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert all(isinstance(p, Problem) and p.message for p in problems)
    assert str(problems[1]).startswith("line 3: status '418'")


def test_crlf_files_parse_like_lf_files() -> None:
    rules, problems = parse_redirects("/a /b\r\n/c /d 302\r\n")
    assert problems == ()
    assert [(r.to, r.status) for r in rules] == [("/b", 301), ("/d", 302)]


@pytest.mark.parametrize(
    ("pattern", "path", "captures"),
    [
        ("/old", "/old", {}),
        ("/old", "/old/", {}),  # a trailing slash is ignored, as on both hosts
        ("/old", "/older", None),
        ("/news/*", "/news", {"splat": ""}),  # an empty splat, as on Netlify
        ("/news/*", "/news/", {"splat": ""}),
        ("/news/*", "/news/a/b", {"splat": "a/b"}),
        ("/news/*", "/newsy", None),
        ("/blog/:year/:slug", "/blog/2024/hello", {"year": "2024", "slug": "hello"}),
        ("/blog/:year/:slug", "/blog/2024", None),
        ("/blog/:year/:slug", "/blog/2024/a/b", None),
        ("/*", "/", {"splat": ""}),
        ("/*", "/anything/at/all", {"splat": "anything/at/all"}),
        ("/a.b", "/aXb", None),  # literal text is literal, "." included
        ("/*.js", "/x/y.js", {"splat": "x/y"}),
    ],
)
def test_pattern_matching(pattern: str, path: str, captures: dict[str, str] | None) -> None:
    compiled = compile_pattern(pattern)
    assert not isinstance(compiled, str)
    assert compiled.match(path) == captures


def test_first_matching_rule_wins_and_forced_rules_are_apart() -> None:
    rules, _ = parse_redirects(REDIRECTS)
    hit = match_redirect(rules, "/docs/intro", forced=True)
    assert hit is not None and hit[0].line == 6 and hit[1] == {"splat": "intro"}
    assert match_redirect(rules, "/docs/intro", forced=False) is None
    hit = match_redirect(rules, "/blog/2024/hello", forced=False)
    assert hit is not None
    assert hit[0].target(hit[1], "") == "/posts/2024-hello"


def test_expanded_targets_are_percent_encoded_and_keep_the_query() -> None:
    rules, _ = parse_redirects("/docs/* /guide/:splat 301\n")
    rule = rules[0]
    assert rule.target({"splat": "a b/c?d#e"}, "") == "/guide/a%20b/c%3Fd%23e"
    assert rule.target({"splat": "x"}, "q=1&r=caf\xc3\xa9") == "/guide/x?q=1&r=caf%C3%A9"


def test_an_expansion_that_would_leave_the_host_is_refused() -> None:
    rules, problems = parse_redirects("/go* /:splat 302\n/to/* https://:splat.example.com/ 302\n")
    assert problems == ()
    local, external = rules
    # "/go/evil.com" gives splat "/evil.com": "//evil.com" is another host.
    captures = local.source.match("/go/evil.com")
    assert captures == {"splat": "/evil.com"}
    assert local.target(captures, "") is None
    assert local.target({"splat": "\\evil.com"}, "") == "/%5Cevil.com"
    assert external.target({"splat": "attacker"}, "") is None


def test_full_url_targets_keep_their_own_host() -> None:
    rules, _ = parse_redirects("/ext/* https://example.com/docs/:splat 301\n")
    assert rules[0].target({"splat": "a/b"}, "x=1") == "https://example.com/docs/a/b?x=1"


HEADERS = """\
# every page
/*
  X-Frame-Options: DENY
  Link: </style.css>; rel=preload
/assets/*
  Cache-Control: public, max-age=31536000, immutable
  Link: </font.woff2>; rel=preload
/assets/private/*
  ! Link
"""


def test_header_blocks_add_up_and_join_repeated_fields() -> None:
    blocks, problems = parse_headers(HEADERS)
    assert problems == ()
    assert [b.line for b in blocks] == [2, 5, 8]
    fields, removed = headers_for(blocks, "/assets/app.js")
    assert dict(fields) == {
        "X-Frame-Options": "DENY",
        "Link": "</style.css>; rel=preload, </font.woff2>; rel=preload",
        "Cache-Control": "public, max-age=31536000, immutable",
    }
    assert removed == set()
    fields, removed = headers_for(blocks, "/index.html")
    assert {name for name, _ in fields} == {"X-Frame-Options", "Link"}


def test_detached_fields_are_removed_cloudflare_style() -> None:
    blocks, _ = parse_headers(HEADERS)
    fields, removed = headers_for(blocks, "/assets/private/key.txt")
    assert "Link" not in dict(fields)
    assert removed == {"link"}


def test_bad_header_lines_are_reported_with_their_numbers_and_skipped() -> None:
    text = (
        "  X-Orphan: before any path\n"  # 1
        "/a\n"  # 2
        "  X-Good: yes\n"  # 3
        "  Bad Name: x\n"  # 4
        "  Content-Length: 5\n"  # 5: framing is the server's
        "  X-Empty:\n"  # 6
        "  no colon here\n"  # 7
        "  X-Ctl: a\x0bb\n"  # 8
        "  ! Transfer-Encoding\n"  # 9
        "relative\n"  # 10
        "  X-Lost: after a bad path\n"  # 11
    )
    blocks, problems = parse_headers(text)
    assert [(b.line, b.fields) for b in blocks] == [(2, (("X-Good", "yes"),))]
    assert [p.line for p in problems] == [1, 4, 5, 6, 7, 8, 9, 10, 11]


@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        ("X-Test", "1", True),
        ("Cache-Control", "no-store", True),
        ("X Test", "1", False),
        ("X-Test", "a\r\nSet-Cookie: x", False),
        ("X-Test", "a\nb", False),
        ("X-Test", "", False),
        ("Transfer-Encoding", "chunked", False),
        ("Connection", "close", False),
        ("Content-Encoding", "gzip", False),  # the server picks it per request
        ("X-Test", "\u20ac", False),  # cannot be sent as latin-1
        ("", "x", False),
    ],
)
def test_a_field_is_checked_for_name_value_and_framing(name: str, value: str, ok: bool) -> None:
    assert (check_field(name, value) is None) is ok


# ---------------------------------------------------------------- issue 22


@pytest.mark.parametrize(
    ("path", "location"),
    [("/docs", "/guide/"), ("/docs/", "/guide/"), ("/docs/a/b", "/guide/a/b")],
)
def test_an_empty_splat_substitutes_the_empty_string(path: str, location: str) -> None:
    rules, _ = parse_redirects("/docs/* /guide/:splat 302\n")
    hit = match_redirect(rules, path, forced=False)
    assert hit is not None
    assert hit[0].target(hit[1], "") == location


@pytest.mark.parametrize(
    ("line", "stripped"),
    [
        ("/a /b 301   # moved", "/a /b 301"),
        ("/a /b\t# tab first", "/a /b"),
        ("/a /b#frag 301", "/a /b#frag 301"),  # no whitespace before "#": part of the target
        ("/a /b 301 #", "/a /b 301"),
        ("/a /b", "/a /b"),
    ],
)
def test_trailing_comment_needs_whitespace_before_the_hash(line: str, stripped: str) -> None:
    assert strip_comment(line) == stripped


def test_rules_with_trailing_comments_parse() -> None:
    rules, problems = parse_redirects(
        "/app/*  /app/index.html  200    # a rewrite\n/legacy /modern 301!  # forced\n"
    )
    assert problems == ()
    assert [(r.to, r.status, r.force) for r in rules] == [
        ("/app/index.html", 200, False),
        ("/modern", 301, True),
    ]


@pytest.mark.parametrize(
    ("text", "wire"),
    [
        ("/café.html", "/caf%C3%A9.html"),
        ("/日本.html", "/%E6%97%A5%E6%9C%AC.html"),
        ("/a b", "/a%20b"),
        ("/already%20encoded?q=1&r=:x#top", "/already%20encoded?q=1&r=:x#top"),
        ("/posts/:year/:slug", "/posts/:year/:slug"),  # placeholders stay for expansion
        ("https://bücher.example/straße", "https://xn--bcher-kva.example/stra%C3%9Fe"),
        ("https://example.com:8443/é", "https://example.com:8443/%C3%A9"),
    ],
)
def test_targets_are_percent_encoded_utf8(text: str, wire: str) -> None:
    assert encode_uri(text) == wire


def test_unicode_rules_are_accepted_both_as_from_and_to() -> None:
    rules, problems = parse_redirects("/cafe /café.html 301\n/jp /日本.html 301\n/日本 /jp 302\n")
    assert problems == ()
    assert [r.to for r in rules] == ["/caf%C3%A9.html", "/%E6%97%A5%E6%9C%AC.html", "/jp"]
    hit = match_redirect(rules, "/日本", forced=False)
    assert hit is not None and hit[0].line == 3
    _, problems = parse_redirects("/a /b\x01c 301\n/c%0A /d 301\n")
    assert [p.message for p in problems] == ["holds a control character"] * 2
    # A percent-encoded FROM is the same rule as its decoded text.
    rules, _ = parse_redirects("/caf%C3%A9 /x 302\n")
    assert match_redirect(rules, "/café", forced=False) is not None


def test_set_cookie_from_several_blocks_stays_separate_fields() -> None:
    text = "/*\n  Set-Cookie: a=1\n  X-A: 1\n/app/*\n  Set-Cookie: b=2\n  X-A: 2\n"
    blocks, _ = parse_headers(text)
    fields, _ = headers_for(blocks, "/app/x")
    assert fields == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-A", "1, 2")]


def test_fields_under_a_skipped_path_line_say_so() -> None:
    text = "/ok\n  X-A: 1\nnope\n  X-B: 2\n  Bad Name: 3\n" + "/" + "x" * 2001 + "\n  X-C: 3\n"
    blocks, problems = parse_headers(text)
    assert [(b.line, b.fields) for b in blocks] == [(1, (("X-A", "1"),))]
    assert [(p.line, p.message) for p in problems] == [
        (3, "'nope' does not start with /"),
        (4, "belongs to the path on line 3, which was skipped"),
        (5, "belongs to the path on line 3, which was skipped"),
        (6, "longer than 2000 characters"),
        (7, "belongs to the path on line 6, which was skipped"),
    ]
    _, problems = parse_headers("  X-A: 1\n")
    assert [p.message for p in problems] == ["a header line before any path line"]
