"""staticsrv's own poller (staticsrv.live.poll) on a real temporary tree."""

from __future__ import annotations

import os
from pathlib import Path

from staticsrv.live import poll
from staticsrv.live.settle import ADDED, DELETED, MODIFIED


def keep(change: object, path: str) -> bool:
    return ".git" not in path.split(os.sep)


def tree(tmp_path: Path) -> Path:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("a")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "index").write_text("i")
    (tmp_path / "index.html").write_text("x")
    return tmp_path


def test_two_saves_within_one_second_are_both_seen(tmp_path: Path) -> None:
    root = tree(tmp_path)
    poller = poll.Poller((str(root),), keep)
    page = root / "index.html"
    page.write_text("y")  # same size, same second
    assert poller.scan() == {(MODIFIED, str(page))}
    page.write_text("z")
    os.utime(page, ns=(page.stat().st_atime_ns, page.stat().st_mtime_ns + 1))
    assert poller.scan() == {(MODIFIED, str(page))}
    assert poller.scan() == set()


def test_new_deleted_and_renamed_entries_and_pruned_folders(tmp_path: Path) -> None:
    root = tree(tmp_path)
    poller = poll.Poller((str(root),), keep)
    assert str(root / ".git" / "index") not in poller.files
    (root / "new").mkdir()
    (root / "new" / "p.html").write_text("p")
    (root / "sub" / "a.txt").unlink()
    got = poller.scan()
    assert (ADDED, str(root / "new" / "p.html")) in got
    assert (DELETED, str(root / "sub" / "a.txt")) in got
    tmp = root / "index.html.tmp"
    tmp.write_text("saved")
    os.replace(tmp, root / "index.html")
    assert poller.scan() == {(MODIFIED, str(root / "index.html"))}  # the temp file never seen
    assert poller.scan() == set()


def test_a_cold_file_edited_in_place_is_seen_within_its_turn(tmp_path: Path) -> None:
    for i in range(6):
        (tmp_path / f"f{i}.txt").write_text("0")
    poller = poll.Poller((str(tmp_path),), keep, budget=2)
    target = tmp_path / "f5.txt"
    target.write_text("1")
    os.utime(target, ns=(0, target.stat().st_mtime_ns + 5))
    seen = [poller.scan() for _ in range(3)]  # 6 files, 2 per scan
    assert sum((MODIFIED, str(target)) in s for s in seen) == 1


def test_a_full_scan_sees_every_file_whatever_the_budget(tmp_path: Path) -> None:
    for i in range(6):
        (tmp_path / f"f{i}.txt").write_text("0")
    poller = poll.Poller((str(tmp_path),), keep, budget=1)
    for i in range(6):
        path = tmp_path / f"f{i}.txt"
        path.write_text("1")
        os.utime(path, ns=(0, path.stat().st_mtime_ns + 5))
    assert len(poller.scan(full=True)) == 6
