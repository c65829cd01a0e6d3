"""Every relative link in README.md, CHANGELOG.md and docs/ leads somewhere.

A moved or renamed page breaks the build.

A link's path must name a file (or folder) of the repository, and a
``#anchor`` must name a heading of the page it points to, computed the way
GitHub computes heading ids (github-slugger): lower case, punctuation
dropped, each space a hyphen, ``-1``, ``-2`` ... for repeated headings.
Links inside code (fenced blocks and inline spans) are text, not links.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
README = REPO / "README.md"
CHANGELOG = REPO / "CHANGELOG.md"
README_MAX_LINES = 250  # the front page fits on about two screens

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target) and [text](target "title"); the text may hold code spans.
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
HTML_ID = re.compile(r"<a\s[^>]*\b(?:id|name)=\"([^\"]+)\"", re.IGNORECASE)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def doc_files() -> list[Path]:
    return [README, CHANGELOG, *sorted(DOCS.glob("*.md"))]


def prose_lines(text: str) -> list[tuple[int, str]]:
    """Lines outside fenced code blocks, with their numbers."""
    out: list[tuple[int, str]] = []
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if m is not None:
            mark = m.group(1)
            if fence is None:
                fence = mark
                continue
            if mark[0] == fence[0] and len(mark) >= len(fence) and not line.strip()[len(mark) :]:
                fence = None
                continue
        if fence is None:
            out.append((number, line))
    return out


def heading_text(raw: str) -> str:
    """What a heading reads as rendered: code spans kept, links and emphasis as text."""
    pieces = re.split(r"(`+[^`]*`+)", raw)
    out = []
    for piece in pieces:
        if piece.startswith("`"):
            out.append(piece.strip("`").strip())
            continue
        piece = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", piece)
        piece = re.sub(r"<[^>]+>", "", piece)
        piece = re.sub(r"(\*\*|__)(.+?)\1", r"\2", piece)
        piece = re.sub(r"(?<!\w)([*_])(.+?)\1(?!\w)", r"\2", piece)
        out.append(piece)
    return "".join(out)


def slug(text: str) -> str:
    """GitHub's id for a heading's text (github-slugger, before de-duplication)."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every id a page offers: its headings' slugs (repeats numbered) and HTML ids."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for _, line in prose_lines(text):
        m = HEADING.match(line)
        if m is not None:
            base = slug(heading_text(m.group(2)))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        found.update(HTML_ID.findall(line))
    return found


def links(text: str) -> list[tuple[int, str]]:
    """(line number, target) of every link in prose, code spans left out."""
    out: list[tuple[int, str]] = []
    for number, line in prose_lines(text):
        line = CODE_SPAN.sub("", line)
        out += [(number, target) for target in INLINE_LINK.findall(line)]
        m = REFERENCE.match(line)
        if m is not None:
            out.append((number, m.group(1)))
    return out


def broken_links(page: Path, repo: Path) -> list[str]:
    """Why each relative link of ``page`` leads nowhere (empty: all resolve)."""
    problems: list[str] = []
    cache: dict[Path, set[str]] = {}
    for number, target in links(page.read_text("utf-8")):
        if not target or SCHEME.match(target) or target.startswith("//"):
            continue  # another site: not this test's business
        where = f"{page.relative_to(repo)}:{number}: {target}"
        path_part, _, fragment = target.partition("#")
        path_part = path_part.partition("?")[0]
        if path_part.startswith("/"):
            problems.append(f"{where}: absolute path (breaks on GitHub and under a base)")
            continue
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.is_relative_to(repo):
            problems.append(f"{where}: leads out of the repository")
            continue
        if not dest.exists():
            problems.append(f"{where}: no such file")
            continue
        if fragment and dest.suffix == ".md":
            ids = cache.get(dest)
            if ids is None:
                ids = cache[dest] = anchors(dest.read_text("utf-8"))
            if fragment not in ids:
                problems.append(f"{where}: no heading with the id {fragment!r}")
    return problems


@pytest.mark.parametrize("page", doc_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page, REPO) == []


def test_there_are_links_to_check() -> None:
    # A parser that found nothing would pass the test above for nothing.
    counted = {page.name: len(links(page.read_text("utf-8"))) for page in doc_files()}
    assert counted["README.md"] >= len(list(DOCS.glob("*.md")))
    assert sum(counted.values()) > 50


def test_the_readme_links_to_every_page_and_fits_on_two_screens() -> None:
    text = README.read_text("utf-8")
    linked = {target.partition("#")[0] for _, target in links(text)}
    missing = [p.name for p in sorted(DOCS.glob("*.md")) if f"docs/{p.name}" not in linked]
    assert missing == []
    assert len(text.splitlines()) <= README_MAX_LINES


def test_the_mkdocs_nav_lists_every_page() -> None:
    # Read without a YAML parser: the unit tests also run with only the `unit` extra.
    nav = re.findall(r"^\s+- [^:]+: (\S+\.md)\s*$", (REPO / "mkdocs.yml").read_text(), re.M)
    assert sorted(nav) == sorted(p.name for p in DOCS.glob("*.md"))


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        # As GitHub renders them (github-slugger).
        ("Set-up: two commands", "set-up-two-commands"),
        ("What it serves, and how", "what-it-serves-and-how"),
        ("Preview as deployed: `--spa`", "preview-as-deployed---spa"),
        ("The Host check (DNS rebinding)", "the-host-check-dns-rebinding"),
        ("`_redirects` and `_headers`", "_redirects-and-_headers"),
        ("**Bold** and *em* and [a link](x.md)", "bold-and-em-and-a-link"),
        ("Ünïcode café", "ünïcode-café"),
    ],
)
def test_slugs_follow_github(heading: str, expected: str) -> None:
    assert slug(heading_text(heading)) == expected


def test_a_repeated_heading_gets_a_number() -> None:
    assert anchors("# A\n\n## Notes\n\n## Notes\n\n## Notes\n") == {
        "a",
        "notes",
        "notes-1",
        "notes-2",
    }


def test_broken_links_are_reported(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "there.md").write_text("# There\n\n## A heading\n")
    page = tmp_path / "docs" / "here.md"
    page.write_text(
        "# Here\n\n"
        "[ok](there.md) [ok](there.md#a-heading) [ok](#here) [web](https://example.com/x)\n"
        "[gone](moved.md) [bad anchor](there.md#no-such) [self](#nowhere)\n"
        "[out](../../outside.md) [root](/docs/there.md)\n"
        "`[in code](missing.md)`\n"
        "```\n[in a block](missing.md)\n```\n"
        "[ref]: gone-too.md\n"
    )
    problems = broken_links(page, tmp_path)
    assert [p.split(": ")[1] for p in problems] == [
        "moved.md",
        "there.md#no-such",
        "#nowhere",
        "../../outside.md",
        "/docs/there.md",
        "gone-too.md",
    ]
