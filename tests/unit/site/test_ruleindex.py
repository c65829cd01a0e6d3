"""The _redirects index: the same first match as trying every rule, in fewer tries."""

from __future__ import annotations

import random

import pytest

from staticsrv.site.netlify import match_redirect, parse_redirects
from staticsrv.site.ruleindex import RuleIndex, rule_key

RULES = """\
/old              /new          301
/docs/*           /guide/:splat 302
/docs/intro       /never        301
/:lang/docs/*     /docs/:splat  302
/blog/:year/:slug /p/:slug      308
/*.php            /legacy       301
/a*               /starts-a     302
/old              /second       302
/forced           /f            301!
/docs/*           /forced-docs  302!
/                 /home         302
/*                /catch-all    200
"""


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("/old", ("exact", 0, "/old")),
        ("/", ("exact", 0, "/")),
        ("/a:b/c", ("exact", 0, "/a:b/c")),  # ":" not after "/" is literal text
        ("/docs/*", ("segment", 0, "docs")),
        ("/blog/:year", ("segment", 0, "blog")),
        ("/:lang/docs", ("segment", 1, "docs")),
        ("/:lang/:v-x/api/*", ("segment", 2, "api")),
        ("/*", None),
        ("/:lang/*", None),
        ("/a*", None),
        ("/*.php", None),
        ("/:a/*/b", None),  # after the splat no position is fixed
    ],
)
def test_rule_key(text: str, key: tuple[str, int, str] | None) -> None:
    assert rule_key(text) == key


PATHS = [
    "/", "/old", "/old/", "/docs", "/docs/", "/docs/intro", "/docs/a/b", "/en/docs/x",
    "/blog/2024/hi", "/blog/2024", "/x.php", "/a", "/abc", "/forced", "/nothing/here",
    "/oldx", "/docsy",
]  # fmt: skip


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("forced", [False, True])
def test_index_gives_the_first_rule_in_file_order(path: str, forced: bool) -> None:
    rules, problems = parse_redirects(RULES)
    assert problems == ()
    expected = match_redirect(rules, path, forced=forced)
    assert RuleIndex(rules).match(path, forced=forced) == expected


def test_index_order_across_groups() -> None:
    rules, _ = parse_redirects(RULES)
    index = RuleIndex(rules)
    # "/docs/*" (line 2) comes before the exact "/docs/intro" (line 3).
    hit = index.match("/docs/intro", forced=False)
    assert hit is not None and hit[0].line == 2 and hit[1] == {"splat": "intro"}
    # A fallback rule earlier than the segment rules wins: "/a*" before "/*".
    hit = index.match("/abc", forced=False)
    assert hit is not None and hit[0].to == "/starts-a"
    assert index.both("/docs/x")[0] is not None  # the forced "/docs/*" too
    assert RuleIndex(()).both("/old") == (None, None)


def test_index_agrees_with_the_linear_match_on_random_rules() -> None:
    rng = random.Random(22)
    words = ["a", "b", "docs", "x.y", ":p", ":q", "*"]
    lines = []
    for n in range(300):
        parts = [rng.choice(words) for _ in range(rng.randint(1, 3))]
        if parts.count("*") > 1 or (parts[-1] != "*" and "*" in parts):
            parts = [p for p in parts if p != "*"] or ["a"]
        for name in (":p", ":q"):
            if parts.count(name) > 1:
                parts = [p for p in parts if p != name] + [name]
        force = "!" if n % 7 == 0 else ""
        lines.append(f"/{'/'.join(parts)} /to{n} 302{force}")
    rules, _ = parse_redirects("\n".join(lines))
    assert len(rules) > 200
    index = RuleIndex(rules)
    for _ in range(2000):
        path = "/" + "/".join(rng.choice(["a", "b", "docs", "x.y", "q"]) for _ in range(3))
        path = path[: rng.randint(1, len(path))]
        for forced in (False, True):
            assert index.match(path, forced=forced) == match_redirect(rules, path, forced=forced)
