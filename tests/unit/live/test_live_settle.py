"""Settling of file changes (staticsrv.live.settle) on synthetic event sequences."""

from __future__ import annotations

import pytest

from staticsrv.live.settle import ADDED, DELETED, MODIFIED, STORM_QUIET, Settler

DELAY = 0.1


def drive(settler: Settler, now: float, sizes: dict[str, int | None]) -> frozenset[str] | None:
    """Ask at ``now`` with the given sizes of the pending paths."""
    return settler.settle(now, {p: sizes.get(p) for p in settler.pending})


def test_nothing_pending_means_nothing_due() -> None:
    settler = Settler(DELAY)
    assert settler.due is None
    assert settler.settle(10.0, {}) is None


def test_a_single_write_is_announced_after_the_quiet_period() -> None:
    settler = Settler(DELAY)
    settler.changed(1.0, [(MODIFIED, "/s/a.html", 10)])
    assert settler.due == 1.0 + DELAY
    assert drive(settler, 1.05, {"/s/a.html": 10}) is None  # not quiet long enough
    assert drive(settler, 1.1, {"/s/a.html": 10}) == frozenset({"/s/a.html"})
    assert settler.due is None  # the batch was handed out once


def test_a_build_of_50_files_over_400ms_is_one_batch_after_the_last_write() -> None:
    settler = Settler(DELAY)
    sizes: dict[str, int | None] = {}
    batches = []
    t = 0.0
    for i in range(50):
        t = i * 0.008  # 50 writes over ~400 ms
        path = f"/s/page{i}.html"
        sizes[path] = 100 + i
        settler.changed(t, [(ADDED, path, sizes[path])])
        # The server looks whenever it is due: never before the build is done.
        due = settler.due
        assert due is not None
        if due <= t + 0.008:
            batches.append(drive(settler, due, sizes))
    assert batches == []
    last = t
    due = settler.due
    assert due == last + DELAY
    batch = drive(settler, due, sizes)
    assert batch == frozenset(sizes)


def test_a_file_still_growing_is_not_announced() -> None:
    settler = Settler(DELAY)
    settler.changed(0.0, [(ADDED, "/s/big.js", 1000)])
    # Quiet for the delay, but the file grew meanwhile (a slow copy, polling).
    assert drive(settler, 0.1, {"/s/big.js": 5000}) is None
    assert settler.due == 0.1 + DELAY
    assert drive(settler, 0.2, {"/s/big.js": 9000}) is None
    # Stable for a whole quiet period: now it is announced.
    due = settler.due
    assert due is not None
    assert drive(settler, due, {"/s/big.js": 9000}) == frozenset({"/s/big.js"})


def test_an_editors_rename_into_place_is_one_change_of_the_target() -> None:
    settler = Settler(DELAY)
    settler.changed(0.0, [(ADDED, "/s/index.html.tmp123", 0)])
    settler.changed(0.001, [(MODIFIED, "/s/index.html.tmp123", 50)])
    settler.changed(0.002, [(DELETED, "/s/index.html.tmp123", None), (ADDED, "/s/index.html", 50)])
    sizes: dict[str, int | None] = {"/s/index.html": 50}
    assert drive(settler, 0.1, sizes) is None  # quiet counts from the last event
    due = settler.due
    assert due is not None
    assert drive(settler, due, sizes) == frozenset({"/s/index.html"})


def test_a_file_added_then_removed_in_one_burst_is_no_change_at_all() -> None:
    settler = Settler(DELAY)
    settler.changed(0.0, [(ADDED, "/s/scratch", 3)])
    settler.changed(0.01, [(DELETED, "/s/scratch", None)])
    assert drive(settler, 0.2, {}) == frozenset()


def test_a_deleted_file_that_existed_is_a_change() -> None:
    settler = Settler(DELAY)
    settler.changed(0.0, [(DELETED, "/s/old.css", None)])
    assert drive(settler, 0.1, {}) == frozenset({"/s/old.css"})


def test_writes_after_a_batch_start_a_new_one() -> None:
    settler = Settler(DELAY)
    settler.changed(0.0, [(MODIFIED, "/s/a.css", 1)])
    assert drive(settler, 0.1, {"/s/a.css": 1}) == frozenset({"/s/a.css"})
    settler.changed(0.5, [(MODIFIED, "/s/b.css", 1)])
    assert settler.due == 0.5 + DELAY
    assert drive(settler, 0.6, {"/s/b.css": 1}) == frozenset({"/s/b.css"})


def test_a_zero_delay_announces_at_once() -> None:
    settler = Settler(0.0)
    settler.changed(1.0, [(MODIFIED, "/s/a", 1)])
    assert drive(settler, 1.0, {"/s/a": 1}) == frozenset({"/s/a"})


def test_a_group_in_any_order_still_knows_a_scratch_file_was_added() -> None:
    settler = Settler(DELAY)
    # One group from the watcher: a set, so the deleted event may come first.
    settler.changed(
        0.0,
        [
            (DELETED, "/s/index.html.tmp", None),
            (MODIFIED, "/s/index.html.tmp", None),
            (ADDED, "/s/index.html.tmp", None),
            (ADDED, "/s/index.html", 50),
        ],
    )
    assert drive(settler, 0.1, {"/s/index.html": 50}) == frozenset({"/s/index.html"})


def test_a_single_saved_file_settles_after_the_fast_quiet() -> None:
    settler = Settler(DELAY, fast=0.02)
    settler.changed(1.0, [(MODIFIED, "/s/a.html", 10)])
    assert settler.due == pytest.approx(1.02)
    assert drive(settler, 1.02, {"/s/a.html": 10}) == frozenset({"/s/a.html"})


def test_a_new_file_waits_for_the_whole_delay() -> None:
    # It may be an editor's temporary file, to be renamed over its target.
    settler = Settler(DELAY, fast=0.02)
    settler.changed(1.0, [(ADDED, "/s/a.html.tmp", 5)])
    assert settler.due == pytest.approx(1.0 + DELAY)


def test_many_files_wait_for_the_whole_delay() -> None:
    settler = Settler(DELAY, fast=0.02)
    settler.changed(1.0, [(MODIFIED, "/s/a.html", 10), (MODIFIED, "/s/b.html", 10)])
    assert settler.due == pytest.approx(1.0 + DELAY)


def test_the_storm_guard_makes_pieces_of_one_file_at_most_two_batches() -> None:
    settler = Settler(DELAY, fast=0.02, storm=True)
    batches = []
    size = 0
    for i in range(10):  # a piece every 150 ms
        t = i * 0.15
        size += 10
        settler.changed(t, [(MODIFIED, "/s/big.js", size)])
        # Looked at every 10 ms until the next piece.
        for step in range(1, 15):
            now = t + step * 0.01
            due = settler.due
            if due is not None and now >= due:
                got = drive(settler, now, {"/s/big.js": size})
                if got:
                    batches.append((now, got))
    due = settler.due
    assert due is not None
    last = drive(settler, due, {"/s/big.js": size})
    assert last is not None
    batches.append((due, last))
    assert len(batches) == 2, batches
    assert batches[0][0] < 0.05  # the first piece at once (a single saved file)


def test_after_a_quiet_second_the_storm_guard_lets_go() -> None:
    settler = Settler(DELAY, fast=0.02, storm=True)
    settler.changed(0.0, [(MODIFIED, "/s/a.html", 1)])
    assert drive(settler, 0.02, {"/s/a.html": 1})
    settler.changed(0.5, [(MODIFIED, "/s/a.html", 2)])
    assert settler.due == pytest.approx(0.5 + STORM_QUIET)
    assert drive(settler, 1.0, {"/s/a.html": 2})
    settler.changed(2.5, [(MODIFIED, "/s/a.html", 3)])
    assert settler.due == pytest.approx(2.52)


def test_flush_hands_out_everything_pending_at_once() -> None:
    settler = Settler(DELAY)
    settler.changed(1.0, [(ADDED, "/s/a.html", 1), (ADDED, "/s/tmp", 1)])
    assert settler.flush(1.001, {"/s/a.html": 2, "/s/tmp": None}) == frozenset({"/s/a.html"})
    assert settler.due is None
