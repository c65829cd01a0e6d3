"""What the --live watcher counts as a change, and its fallback to polling.

The watcher's I/O is watchfiles; here a fake ``watch`` stands in for it, so
the filter, the URL paths, the one-line fallback and when a batch counts as
quiet are tested without
depending on the OS's notifications.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from staticsrv.config import Config, from_options
from staticsrv.live.events import Hub
from staticsrv.live.paths import SCRATCH, PathFilter, url_path
from staticsrv.live.watch import STEP_MS, describe, watch


def test_hidden_names_are_ignored_relative_to_the_watched_folder() -> None:
    flt = PathFilter(["/home/u/.cache/site"], dotfiles=False, ignore=())
    # The root itself lies inside a dot-folder: still watched.
    assert flt(None, "/home/u/.cache/site/index.html")
    assert not flt(None, "/home/u/.cache/site/.git/index")
    assert not flt(None, "/home/u/.cache/site/sub/.env")
    # RFC 8615's folder is served, so it is watched.
    assert flt(None, "/home/u/.cache/site/.well-known/security.txt")


def test_hidden_names_count_with_dotfiles() -> None:
    flt = PathFilter(["/s"], dotfiles=True, ignore=())
    assert flt(None, "/s/.env")


def test_ignore_globs_match_names_folders_and_relative_paths() -> None:
    flt = PathFilter(["/s"], dotfiles=False, ignore=("node_modules", "*.map", "build/tmp/*"))
    assert not flt(None, "/s/node_modules/x/index.js")
    assert not flt(None, "/s/js/app.js.map")
    assert not flt(None, "/s/build/tmp/a.html")
    assert flt(None, "/s/build/a.html")
    assert flt(None, "/s/js/app.js")


def test_editor_scratch_files_are_ignored_by_default() -> None:
    flt = PathFilter(["/s"], dotfiles=False, ignore=SCRATCH)
    for name in ("index.html~", "4913", "#index.html#", "index.html.swp"):
        assert not flt(None, f"/s/{name}"), name
    assert flt(None, "/s/index.html")


def test_paths_outside_every_watched_folder_and_the_folders_themselves_do_not_count() -> None:
    flt = PathFilter(["/s", "/src"], dotfiles=False, ignore=())
    assert not flt(None, "/s")
    assert not flt(None, "/other/a.html")
    assert not flt(None, "/sx/a.html")
    assert flt(None, "/src/main.ts")


def test_a_watched_single_file_counts(tmp_path: Path) -> None:
    conf = tmp_path / "site.toml"
    conf.write_text("x")
    flt = PathFilter([str(tmp_path / "site"), str(conf)], dotfiles=False, ignore=())
    assert flt(None, str(conf))


def test_url_paths_are_percent_encoded_and_none_outside_the_root() -> None:
    assert url_path("/s", "/s/style.css") == "/style.css"
    assert url_path("/s", "/s/my dir/a&b é.css") == "/my%20dir/a&b%20%C3%A9.css"
    assert url_path("/s", "/src/a.ts") is None


class FakeWatch:
    """A ``watchfiles.watch`` stand-in: refuses native watches once, then
    yields the given groups, then rounds without a change until stopped."""

    def __init__(self, refuse: bool, changes: list[set[tuple[Any, str]]]) -> None:
        self.refuse = refuse
        self.changes = changes
        self.calls: list[dict[str, Any]] = []

    def __call__(self, *paths: str, **kwargs: Any) -> Iterator[set[tuple[Any, str]]]:
        self.calls.append({"paths": paths, **kwargs})
        if self.refuse and not kwargs["force_polling"]:
            raise OSError("OS file watch limit reached.")
        for group in self.changes:
            if got := {c for c in group if kwargs["watch_filter"](c[0], c[1])}:
                yield got  # (watchfiles yields nothing for a group it filtered out)
        while not kwargs["stop_event"].wait(kwargs["rust_timeout"] / 1000):
            yield set()


async def run_until_event(config: Config, fake: FakeWatch, hub: Hub) -> list[bytes]:
    got: list[bytes] = []
    chunks = hub.stream()
    task = asyncio.create_task(watch(config, hub, lambda: None, watcher=fake, poller=fake))
    try:
        async for data in chunks:
            got.append(data.split(b"\n", 1)[1] if data.startswith(b"id: ") else data)
            if len(got) == 2:  # hello, then the announcement (without their ids)
                break
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await chunks.aclose()
    return got


async def test_a_refused_native_watch_falls_back_to_polling_with_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a.html").write_text("x")
    config = from_options(tmp_path, live=True, live_delay=0)
    fake = FakeWatch(refuse=True, changes=[{(2, str(tmp_path / "a.html"))}])
    with caplog.at_level(logging.WARNING, "staticsrv"):
        got = await run_until_event(config, fake, Hub())
    assert [c["force_polling"] for c in fake.calls] == [None, True]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "polling" in warnings[0] and "\n" not in warnings[0]
    assert got[1] == b'event: reload\ndata: {"paths": ["/a.html"]}\n\n'


async def test_changes_under_git_announce_nothing_and_css_only_swaps(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "s.css").write_text("x")
    config = from_options(tmp_path, live=True, live_delay=0)
    fake = FakeWatch(
        refuse=False,
        changes=[{(2, str(tmp_path / ".git" / "index"))}, {(2, str(tmp_path / "s.css"))}],
    )
    got = await run_until_event(config, fake, Hub())
    assert got[1] == b'event: css\ndata: {"paths": ["/s.css"]}\n\n'


async def test_groups_handed_over_back_to_back_are_one_batch(tmp_path: Path) -> None:
    """Quiet is what the watcher reports, not what the clock says: with no
    quiet period at all, two groups with no empty round between them are
    still one announcement (the second was held in the watcher meanwhile)."""
    for name in ("a.html", "b.html"):
        (tmp_path / name).write_text("x")
    config = from_options(tmp_path, live=True, live_delay=0)
    a, b = str(tmp_path / "a.html"), str(tmp_path / "b.html")
    fake = FakeWatch(refuse=False, changes=[{(2, a)}, {(2, b)}])
    got = await run_until_event(config, fake, Hub())
    assert got[1] == b'event: reload\ndata: {"paths": ["/a.html", "/b.html"]}\n\n'
    [call] = fake.calls
    assert call["yield_on_timeout"] is True
    assert call["rust_timeout"] == STEP_MS > 0  # 0 would mean "never report"


def test_files_in_mounted_folders_are_announced_under_their_path(tmp_path: Path) -> None:
    from staticsrv.config import from_options
    from staticsrv.live.paths import mounted_url

    folder = tmp_path / "node_modules"
    folder.mkdir()
    config = from_options(tmp_path, mount=(f"/mods/lib={folder}",))
    assert mounted_url(config, str(folder / "a b" / "x.css")) == "/mods/lib/a%20b/x.css"
    assert mounted_url(config, str(tmp_path / "other.css")) is None


def test_build_sources_never_count_dot_folders_node_modules_or_pycache() -> None:
    flt = PathFilter(["/p/site", "/p"], dotfiles=True, ignore=(), sources=["/p"])
    assert flt(None, "/p/docs/index.md")
    for path in ("/p/.git/index", "/p/.venv/x.py", "/p/node_modules/a.js", "/p/x/__pycache__/m"):
        assert not flt(None, path), path
    # ROOT follows its own rules (--dotfiles here), never the sources'.
    assert flt(None, "/p/site/.nojekyll")


def test_a_watched_folder_itself_counts_only_when_named_as_a_root() -> None:
    flt = PathFilter(["/s"], dotfiles=False, ignore=())
    flt.roots = frozenset({"/s"})
    assert flt(None, "/s")  # its own deletion must reach the watcher


def test_the_banner_says_how_and_what_is_built(tmp_path: Path) -> None:
    config = from_options(tmp_path, live=True, poll=True, poll_interval=500)
    assert describe(config, None)[1] == "Polling every 500 ms (--poll)"
    config = from_options(tmp_path, live=True, build="make html", watch=(str(tmp_path),))
    lines = describe(config, "/mnt/c/x is on 9p (/mnt/c), which sends no change events")
    assert lines[1] == (
        "Polling every 300 ms: /mnt/c/x is on 9p (/mnt/c), which sends no change events"
    )
    assert lines[2].startswith("Build: make html")
