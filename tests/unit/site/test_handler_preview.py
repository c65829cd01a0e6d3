"""The handler's preview decisions without sockets: a Request in, a Response out."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from staticsrv.config import Config
from staticsrv.site.handler import Handler
from staticsrv.site.siterules import SiteFiles
from tests.unit.heads import request


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text("app")
    (tmp_path / "about.html").write_text("about")
    return tmp_path


async def test_host_check_comes_before_the_memo(root: Path) -> None:
    handler = Handler(Config(root=str(root)))
    assert (await handler.handle(request("/about.html"))).status == 200
    assert (await handler.handle(request("/about.html"))).status == 200  # from the memo
    refused = await handler.handle(request("/about.html", host="rebind.example"))
    assert refused.status == 403
    assert isinstance(refused.body, bytes) and b"--allowed-host" in refused.body


async def test_a_changed_rule_file_clears_memoised_answers(root: Path) -> None:
    handler = Handler(Config(root=str(root)))
    assert (await handler.handle(request("/about.html"))).field("X-Rule") is None
    (root / "_headers").write_text("/about.html\n  X-Rule: on\n")
    assert (await handler.handle(request("/about.html"))).field("X-Rule") == "on"


async def test_spa_answers_are_never_memoised_across_accept(root: Path) -> None:
    handler = Handler(dataclasses.replace(Config(root=str(root)), spa="index.html"))
    for accept, status in [("application/json", 404), ("text/html", 200), ("*/*", 404)]:
        resp = await handler.handle(request("/route", accept=accept))
        assert resp.status == status, accept


async def test_base_and_clean_urls_compose(root: Path) -> None:
    handler = Handler(Config(root=str(root), base=("docs", "v1")))
    resp = await handler.handle(request("/docs/v1/about"))
    assert (resp.status, resp.body) == (200, b"about")
    resp = await handler.handle(request("/"))
    assert (resp.status, resp.field("Location")) == (302, "/docs/v1/")
    assert (await handler.handle(request("/docs/about"))).status == 404


def test_rule_files_are_seen_when_created_edited_and_removed(root: Path) -> None:
    """A settled root (mtime in the past) is trusted for absent files; a
    creation moves its mtime, so the new file is still read at once."""
    os.utime(root, (1_000_000_000, 1_000_000_000))
    files = SiteFiles(str(root))
    assert not files.redirects and not files.refresh()
    (root / "_redirects").write_text("/a /b\n")
    assert files.refresh()
    assert [r.to for r in files.redirects] == ["/b"]
    (root / "_redirects").write_text("/a /c 302\n")  # in place: the file's own stat
    assert files.refresh()
    assert [(r.to, r.status) for r in files.redirects] == [("/c", 302)]
    assert not files.refresh()
    (root / "_redirects").unlink()
    assert files.refresh()
    assert not files.redirects
