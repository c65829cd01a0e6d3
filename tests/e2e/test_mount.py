"""--mount PATH=DIR: another folder under PATH, with every rule of the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from staticsrv.config import from_options
from tests.client import get
from tests.conftest import Running, ServeFactory
from tests.process import run_fail


@pytest.fixture
def modules(tmp_path: Path) -> Path:
    folder = tmp_path / "node_modules"
    (folder / "lib").mkdir(parents=True)
    (folder / "lib" / "index.js").write_text("export const x = 1;\n")
    (folder / ".cache").mkdir()
    (folder / ".cache" / "secret").write_text("hidden\n")
    (folder / ".npmrc").write_text("token=1\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("outside\n")
    os.symlink(outside, folder / "escape.txt")
    os.symlink(folder / ".npmrc", folder / "dotlink.txt")
    return folder


def _mounted(serve: ServeFactory, site: Path, modules: Path, **kw: object) -> Running:
    config = from_options(site, mount=(f"/modules={modules}",))
    return serve(mounts=config.mounts, **kw)


def test_files_listing_and_validators_under_the_mount(
    serve: ServeFactory, site: Path, modules: Path
) -> None:
    srv = _mounted(serve, site, modules)
    addr = srv.addr
    resp = get(addr, "/modules/lib/index.js")
    assert resp.status == 200 and resp.body == b"export const x = 1;\n"
    assert resp.header(
        "content-type",
    ) is not None and "javascript" in resp.header("content-type")  # type: ignore[operator]
    etag = resp.header("etag")
    assert etag is not None
    assert get(addr, "/modules/lib/index.js", headers={"If-None-Match": etag}).status == 304
    listing = get(addr, "/modules/")
    assert listing.status == 200 and b"lib/" in listing.body
    assert b".npmrc" not in listing.body and b"escape.txt" not in listing.body
    assert get(addr, "/modules").status == 301  # a folder: its slash, as for the root
    assert get(addr, "/hello.txt").body == b"hello world\n"  # the root as before


@pytest.mark.one_scheme
@pytest.mark.parametrize(
    "target",
    [
        "/modules/../hello.txt",
        "/modules/%2e%2e/outside.txt",
        "/modules/..%2foutside.txt",
        "/modules/lib/%2e%2e/%2e%2e/outside.txt",
        "/modules/.npmrc",
        "/modules/.cache/secret",
        "/modules/%2enpmrc",
        "/modules/escape.txt",  # a link out of every served folder
        "/modules/dotlink.txt",  # a link to a dotfile
    ],
)
def test_traversal_dotfiles_and_links_refused(
    serve: ServeFactory, site: Path, modules: Path, target: str
) -> None:
    srv = _mounted(serve, site, modules)
    resp = get(srv.addr, target)
    assert resp.status in (400, 404), (target, resp.status)
    assert (
        b"token=1" not in resp.body and b"outside" not in resp.body and b"hidden" not in resp.body
    )


@pytest.mark.one_scheme
def test_rules_of_the_root_apply(serve: ServeFactory, site: Path, modules: Path) -> None:
    dotted = _mounted(serve, site, modules, dotfiles=True)
    assert get(dotted.addr, "/modules/.npmrc").body == b"token=1\n"
    following = _mounted(serve, site, modules, follow_symlinks=True)
    resp = get(following.addr, "/modules/escape.txt")
    assert resp.body == b"outside\n"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("modules", "is not PATH=DIR"),
        ("/m=/no/such/folder", "is not a folder"),
        ("/=.", "PATH must be below /"),
        ("/a/../b=.", "--mount"),
    ],
)
def test_bad_mounts_are_one_line(value: str, message: str) -> None:
    result = run_fail("--mount", value)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
