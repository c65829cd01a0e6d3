"""The resolver on its own: decoded target in, outcome value out."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from staticsrv.site.reader import FileKey
from staticsrv.site.resolver import File, Forbidden, Listing, NotFound, Redirect, Resolver
from tests.patching import replace
from tests.unit.heads import target


@pytest.fixture
def root(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    (site / "docs").mkdir(parents=True)
    (site / "docs" / "page.html").write_text("p")
    (site / "blog").mkdir()
    (site / "blog" / "index.html").write_text("i")
    (site / "a.txt").write_text("a")
    (site / ".secret").mkdir()
    (site / ".secret" / "key").write_text("k")
    (tmp_path / "outside.txt").write_text("o")
    (tmp_path / "site-evil").mkdir()
    (tmp_path / "site-evil" / "x.txt").write_text("x")
    return site


def test_regular_file_is_a_file_outcome(root: Path) -> None:
    outcome = Resolver(str(root), listing=True, dotfiles=False).resolve(target("/a.txt"))
    assert isinstance(outcome, File)
    assert outcome.path == str(root / "a.txt")
    assert outcome.st.st_size == 1


def test_missing_file_is_not_found(root: Path) -> None:
    resolver = Resolver(str(root), listing=True, dotfiles=False)
    assert isinstance(resolver.resolve(target("/nope.txt")), NotFound)
    assert isinstance(resolver.resolve(target("/a.txt/more")), NotFound)  # ENOTDIR
    assert isinstance(resolver.resolve(target("/a.txt/")), NotFound)


def test_directory_without_slash_is_a_redirect_value(root: Path) -> None:
    resolver = Resolver(str(root), listing=True, dotfiles=False)
    assert isinstance(resolver.resolve(target("/docs")), Redirect)


def test_directory_with_index_resolves_to_the_index_file(root: Path) -> None:
    outcome = Resolver(str(root), listing=True, dotfiles=False).resolve(target("/blog/"))
    assert isinstance(outcome, File)
    assert outcome.path.endswith(os.path.join("blog", "index.html"))


def test_directory_without_index_is_listing_or_not_found(root: Path) -> None:
    assert isinstance(
        Resolver(str(root), listing=True, dotfiles=False).resolve(target("/docs/")), Listing
    )
    assert isinstance(
        Resolver(str(root), listing=False, dotfiles=False).resolve(target("/docs/")), NotFound
    )


def test_root_itself_lists(root: Path) -> None:
    outcome = Resolver(str(root), listing=True, dotfiles=False).resolve(target("/"))
    assert isinstance(outcome, Listing)


def test_symlink_escape_is_not_found_but_inside_link_works(root: Path) -> None:
    os.symlink(root.parent / "outside.txt", root / "out.txt")
    os.symlink(root / "a.txt", root / "in.txt")
    resolver = Resolver(str(root), listing=True, dotfiles=False)
    assert isinstance(resolver.resolve(target("/out.txt")), NotFound)
    assert isinstance(resolver.resolve(target("/in.txt")), File)


def test_prefix_sibling_is_outside(root: Path) -> None:
    # "/site-evil" starts with "/site" as a string but is not inside it.
    os.symlink(root.parent / "site-evil", root / "evil")
    resolver = Resolver(str(root), listing=True, dotfiles=False)
    assert isinstance(resolver.resolve(target("/evil/x.txt")), NotFound)


def test_root_given_through_a_symlink_works(root: Path) -> None:
    alias = root.parent / "alias"
    os.symlink(root, alias)
    resolver = Resolver(str(alias), listing=True, dotfiles=False)
    assert isinstance(resolver.resolve(target("/a.txt")), File)


def test_link_into_a_dot_folder_is_hidden_unless_dotfiles(root: Path) -> None:
    os.symlink(root / ".secret" / "key", root / "key.txt")
    assert isinstance(
        Resolver(str(root), listing=True, dotfiles=False).resolve(target("/key.txt")), NotFound
    )
    assert isinstance(
        Resolver(str(root), listing=True, dotfiles=True).resolve(target("/key.txt")), File
    )


def test_verdict_cache_rechecks_a_swapped_link(root: Path) -> None:
    link = root / "swap.txt"
    os.symlink(root / "a.txt", link)
    resolver = Resolver(str(root), listing=True, dotfiles=False)
    assert isinstance(resolver.resolve(target("/swap.txt")), File)
    link.unlink()
    os.symlink(root.parent / "outside.txt", link)
    assert isinstance(resolver.resolve(target("/swap.txt")), NotFound)


def test_fifo_and_socket_are_not_found(root: Path) -> None:
    os.mkfifo(root / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "sock"))
    try:
        resolver = Resolver(str(root), listing=True, dotfiles=False)
        assert isinstance(resolver.resolve(target("/fifo")), NotFound)
        assert isinstance(resolver.resolve(target("/sock")), NotFound)
    finally:
        sock.close()


def test_index_html_that_is_a_fifo_falls_back_to_listing(root: Path) -> None:
    os.mkfifo(root / "docs" / "index.html")
    outcome = Resolver(str(root), listing=True, dotfiles=False).resolve(target("/docs/"))
    assert isinstance(outcome, Listing)


def test_name_too_long_is_not_found(root: Path) -> None:
    resolver = Resolver(str(root), listing=True, dotfiles=False)
    assert isinstance(resolver.resolve(target("/" + "x" * 4000)), NotFound)


def test_permission_error_is_forbidden(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def deny(path: str) -> os.stat_result:
        raise PermissionError(13, "Permission denied", path)

    resolver = Resolver(str(root), listing=True, dotfiles=False)
    denied = replace(monkeypatch, os, "stat", deny)
    assert isinstance(resolver.resolve(target("/a.txt")), Forbidden)
    assert denied, "the resolver did not stat through os.stat"


def test_not_found_page_prefers_not_found_html_then_404_html(root: Path) -> None:
    resolver = Resolver(str(root), listing=True, dotfiles=False)
    assert resolver.not_found_page() is None
    (root / "404.html").write_text("gh")
    page = resolver.not_found_page()
    assert page is not None and page.path.endswith("404.html")
    (root / "not_found.html").write_text("nf")
    page = resolver.not_found_page()
    assert page is not None and page.path.endswith("not_found.html")


def _page_key(resolver: Resolver) -> FileKey | None:
    page = resolver.not_found_page()
    return None if page is None else FileKey.of(page.path, page.st)


def test_still_missing_agrees_with_a_fresh_lookup_as_the_site_changes(root: Path) -> None:
    """The 404 memo's check gives the same verdict as is_missing + not_found_page."""
    resolver = Resolver(str(root), listing=True, dotfiles=False)
    missing = str(root / "nope.html")
    key = _page_key(resolver)
    assert key is None and resolver.still_missing(missing, key)
    (root / "404.html").write_text("four oh four")
    assert not resolver.still_missing(missing, None)  # a page appeared
    key = _page_key(resolver)
    assert key is not None and resolver.still_missing(missing, key)
    (root / "not_found.html").write_text("preferred")  # takes precedence over 404.html
    assert not resolver.still_missing(missing, key)
    key = _page_key(resolver)
    assert key is not None and key.path.endswith("not_found.html")
    assert resolver.still_missing(missing, key)
    (root / "not_found.html").write_text("edited, longer")
    assert not resolver.still_missing(missing, key)
    key = _page_key(resolver)
    (root / "nope.html").write_text("now here")
    assert not resolver.still_missing(missing, key)


def test_a_bare_folder_is_one_without_index(root: Path, tmp_path: Path) -> None:
    resolver = Resolver(str(root), listing=True, dotfiles=False)
    assert resolver.is_bare_folder(target("/docs/")) is True
    assert resolver.is_bare_folder(target("/docs")) is True  # with or without its slash
    assert resolver.is_bare_folder(target("/")) is True  # the root has no index.html
    assert resolver.is_bare_folder(target("/blog/")) is False  # it has its index.html
    assert resolver.is_bare_folder(target("/a.txt")) is False
    assert resolver.is_bare_folder(target("/missing/")) is False
    (root / "out").symlink_to(tmp_path / "site-evil")
    assert resolver.is_bare_folder(target("/out/")) is False  # outside the root: nothing
