"""Never stale under load: a save races 16 pipelining keep-alive connections.

The promise (README, "Caching"): a request sent after a save completed gets
the saved file, and one sent after ``_redirects``/``_headers`` was saved gets
the new rule, on a new connection as on a kept-alive one.  A writer saves
files in every way editors do (rename into place, in-place rewrite of the
same size, delete, create) and edits both rule files, while 16 keep-alive
connections keep several pipelined requests in flight, for other URLs and
for the very files being saved.  After each save completes, one request on
a new connection and one on a kept-alive connection must see it; every
hammer request sent after a save must see that version or a newer one.

The second test is the quick path's case (staticsrv.net.quick): files the
memo has held for a while, each saved once, while keep-alive connections send
one request at a time, so most answers are memo hits sent from the loop's
readiness callback.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import re
import threading
import time
from collections.abc import Callable
from multiprocessing.sharedctypes import SynchronizedArray
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import pytest

from staticsrv.site.reader import RACY_NS
from tests.client import Conn, Received, build
from tests.e2e.load.conftest import RunServer
from tests.waiting import poll_until

pytestmark = pytest.mark.load

HAMMERS = 16
PIPELINE = 4  # requests in flight per hammer connection
HOT = 8  # files being saved
OLD = 4  # files whose rules are edited
SAVES = 2000
EDITS = 200
SIZE = 2048  # every version has the same size
PACE = 0.03  # seconds between one hammer's batches
LIMIT_SECONDS = 90.0  # a hard stop on a very slow machine (the counts then fail)
_VERSION = re.compile(rb"v(\d{8})\n")


def _content(version: int) -> bytes:
    head = b"v%08d\n" % version
    return head + b"." * (SIZE - len(head))


def _version(resp: Received) -> int:
    found = _VERSION.match(resp.body)
    assert found is not None, resp.body[:40]
    return int(found.group(1))


class Site:
    """What was saved last, as the writer published it after each save completed."""

    def __init__(self, root: Path, published: SynchronizedArray[Any]) -> None:
        self.root = root
        self.lock = threading.Lock()
        # Shared with the hammer: hot file index -> version (-1: deleted),
        # then (last slot) the rules' generation.
        self.published = published
        self.redirected: set[str] = set()  # old URLs with a forced 301
        self.generation = 0  # the X-Gen value _headers sets on old URLs

    def save(self, index: int, version: int) -> str:
        """One save of hot file ``index``, in the way ``version`` picks; returns the URL."""
        path = self.root / "hot" / f"f{index}.txt"
        mode = (version // HOT) % 4
        if mode == 0:  # an editor's atomic save: write aside, rename into place
            tmp = path.with_name(f".f{index}.tmp")
            tmp.write_bytes(_content(version))
            os.replace(tmp, path)
        elif mode == 1:  # an in-place rewrite of the same size (same inode)
            with open(path, "r+b") as f:
                f.write(_content(version))
        elif mode == 2:
            os.unlink(path)
            version = -1
        else:  # created again
            path.write_bytes(_content(version))
        self.published[index] = version
        return f"/hot/f{index}.txt"

    def edit_rules(self, edit: int) -> str:
        """Toggle a forced redirect of one old URL and bump the header generation."""
        url = f"/old{edit % OLD}.txt"
        redirected = set(self.redirected) ^ {url}
        lines = "".join(f"{u} /target.txt 301!\n" for u in sorted(redirected))
        headers = "".join(f"/old{k}.txt\n  X-Gen: {edit + 1}\n" for k in range(OLD))
        write = _write_in_place if edit % 2 else _write_renamed
        # A new version of the page too, so that answers for it take a real
        # read (an await) while the rules change under them.
        write(self.root / url[1:], f"old {edit % OLD} {edit + 1:08d}\n")
        write(self.root / "_redirects", lines)
        write(self.root / "_headers", headers)
        with self.lock:
            self.redirected = redirected
            self.generation = edit + 1
        self.published[HOT] = edit + 1
        return url

    def expected(self, url: str) -> int:
        return int(self.published[int(url[len("/hot/f") : -len(".txt")])])


def _write_renamed(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_in_place(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _check_file(resp: Received, version: int) -> bool:
    """True if ``resp`` is the saved ``version`` (-1: deleted)."""
    if version < 0:
        return resp.status == 404
    return resp.status == 200 and _version(resp) == version


def _check_rule(resp: Received, site: Site, url: str) -> bool:
    if url in site.redirected:
        return resp.status == 301
    return resp.status == 200 and resp.header("x-gen") == str(site.generation)


def test_a_request_sent_after_a_save_always_sees_it(run_server: RunServer, tmp_path: Path) -> None:
    root = tmp_path / "site"
    (root / "hot").mkdir(parents=True)
    site = Site(root, multiprocessing.get_context("spawn").Array("q", HOT + 1))
    for index in range(HOT):
        (root / "hot" / f"f{index}.txt").write_bytes(_content(0))
    for k in range(OLD):
        (root / f"old{k}.txt").write_text(f"old {k} {0:08d}\n")
    for k in range(8):
        (root / f"other{k}.txt").write_text(f"other {k}\n" * 50)
    (root / "target.txt").write_text("target\n")
    (root / "_redirects").write_text("")
    (root / "_headers").write_text("".join(f"/old{k}.txt\n  X-Gen: 0\n" for k in range(OLD)))
    server = run_server(root)
    addr = server.addr

    # The hammer runs in a process of its own: in this one, its 16 threads
    # would take the interpreter lock from the writer most of the time.
    spawn = multiprocessing.get_context("spawn")
    stop = spawn.Event()
    counts = spawn.Array("q", 3)  # answered, stale, errors
    hammer = spawn.Process(target=_hammer, args=(addr, site.published, stop, counts))
    hammer.start()
    saves = edits = 0
    stale_new = stale_kept = 0
    start = time.monotonic()
    try:
        with Conn(addr, timeout=30) as kept:
            while (saves < SAVES or edits < EDITS) and time.monotonic() - start < LIMIT_SECONDS:
                version = saves + 1
                url = site.save(saves % HOT, version)
                expect = site.expected(url)
                with Conn(addr, timeout=30) as new:
                    stale_new += not _check_file(new.request(url), expect)
                stale_kept += not _check_file(kept.request(url), expect)
                saves += 1
                if saves % 10 == 0:
                    old = site.edit_rules(edits)
                    with Conn(addr, timeout=30) as new:
                        stale_new += not _check_rule(new.request(old), site, old)
                    stale_kept += not _check_rule(kept.request(old), site, old)
                    edits += 1
    finally:
        stop.set()
        hammer.join(timeout=60)
    took = time.monotonic() - start
    hammered, stale_hammer, errors = counts[:]
    print(
        f"\n{saves} saves, {edits} rule edits in {took:.1f} s; "
        f"{hammered} hammer answers ({HAMMERS} connections x {PIPELINE} in flight); "
        f"stale: {stale_new} new-connection, {stale_kept} kept-alive, "
        f"{stale_hammer} hammer"
    )
    assert hammer.exitcode == 0 and errors == 0
    assert saves >= SAVES and edits >= EDITS, "the machine was too slow to reach the counts"
    assert hammered > saves  # the hammer really ran alongside
    assert (stale_new, stale_kept, stale_hammer) == (0, 0, 0)
    assert server.alive()


def _hammer(addr: tuple[str, int], published: Any, stop: Event, counts: Any) -> None:
    """The hammer's process: HAMMERS keep-alive connections, PIPELINE requests in flight each."""

    def expected(url: str) -> int:
        return int(published[int(url[len("/hot/f") : -len(".txt")])])

    def run(n: int, answered: list[int], stale: list[int]) -> None:
        urls = [f"/other{n % 8}.txt", f"/hot/f{n % HOT}.txt", f"/old{n % OLD}.txt", "/nope"]
        with Conn(addr, timeout=30) as conn:
            for batch in itertools.count():
                if stop.wait(PACE):  # paced: the writer must get its turns too
                    return
                sent = [urls[(batch + i) % len(urls)] for i in range(PIPELINE)]
                floors = [expected(u) if u.startswith("/hot/") else -1 for u in sent]
                rules = int(published[HOT])
                conn.send(b"".join(build(u) for u in sent))
                for url, floor in zip(sent, floors, strict=True):
                    resp = conn.read_response()
                    answered[n] += 1
                    if floor >= 0 and resp.status == 200:
                        # Sent after version `floor` was saved: that or newer.
                        stale[n] += _version(resp) < floor
                    gen = resp.header("x-gen") if url.startswith("/old") else None
                    if gen is not None:
                        # Sent after the rules' generation `rules` was saved.  (No
                        # X-Gen: decided while _headers was being rewritten in
                        # place, a save not yet complete: nothing to compare.)
                        stale[n] += int(gen) < rules

    _threads(HAMMERS, run, counts)


def _threads(count: int, run: Callable[[int, list[int], list[int]], None], counts: Any) -> None:
    """``run(n, answered, stale)`` on ``count`` threads; the totals and errors into ``counts``."""
    answered = [0] * count
    stale = [0] * count
    errors: list[BaseException] = []

    def guarded(n: int) -> None:
        try:
            run(n, answered, stale)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for exc in errors[:3]:
        print("hammer:", repr(exc))
    counts[:] = [sum(answered), sum(stale), len(errors)]


SETTLED = 300  # files saved once each, after the memo has held them for a while
QUICK_HAMMERS = 8


def test_a_save_to_a_file_the_memo_holds_is_seen_by_the_very_next_request(
    run_server: RunServer, tmp_path: Path
) -> None:
    """The quick path's case: every file is settled (older than the racy window,
    so the memo keeps its answer and a hit is sent from the loop's callback) when
    it is saved, once, while keep-alive connections send one request at a time
    (each one a head on its own: what the quick path answers)."""
    root = tmp_path / "site"
    (root / "s").mkdir(parents=True)
    for index in range(SETTLED):
        (root / "s" / f"f{index}.txt").write_bytes(_content(0))
    server = run_server(root)
    addr = server.addr
    urls = [f"/s/f{index}.txt" for index in range(SETTLED)]
    # The memo keeps a file only once it is older than the racy window: wait
    # for the clock to pass it (no server state to wait for).
    newest = max(os.stat(root / url[1:]).st_ctime_ns for url in urls)  # ctime >= mtime
    poll_until(
        "the files are older than the racy window",
        lambda: time.time_ns() - newest > RACY_NS,
        timeout=2 * RACY_NS / 1e9,
    )
    with Conn(addr, timeout=30) as warm:
        for url in urls:
            assert _check_file(warm.request(url), 0)
    spawn = multiprocessing.get_context("spawn")
    published = spawn.Array("q", SETTLED)
    stop = spawn.Event()
    counts = spawn.Array("q", 3)  # answered, stale, errors
    running = spawn.Event()
    hammer = spawn.Process(target=_single_hammer, args=(addr, published, stop, counts, running))
    hammer.start()
    stale_new = stale_kept = 0
    start = time.monotonic()
    try:
        assert running.wait(60), "the hammer did not start"  # the race needs it in flight
        with Conn(addr, timeout=30) as kept:
            assert all(_check_file(kept.request(url), 0) for url in urls)  # all memo hits
            for index, url in enumerate(urls):
                path = root / url[1:]
                if index % 2:
                    _write_in_place(path, _content(1).decode())  # same size, same inode
                else:
                    _write_renamed(path, _content(1).decode())
                published[index] = 1
                with Conn(addr, timeout=30) as new:
                    stale_new += not _check_file(new.request(url), 1)
                stale_kept += not _check_file(kept.request(url), 1)
    finally:
        stop.set()
        hammer.join(timeout=60)
    hammered, stale_hammer, errors = counts[:]
    print(
        f"\n{SETTLED} saves of settled files in {time.monotonic() - start:.1f} s; "
        f"{hammered} hammer answers ({QUICK_HAMMERS} connections, one request at a time); "
        f"stale: {stale_new} new-connection, {stale_kept} kept-alive, {stale_hammer} hammer"
    )
    assert hammer.exitcode == 0 and errors == 0
    assert hammered > SETTLED  # the hammer really ran alongside
    assert (stale_new, stale_kept, stale_hammer) == (0, 0, 0)
    assert server.alive()


def _single_hammer(
    addr: tuple[str, int], published: Any, stop: Event, counts: Any, running: Event
) -> None:
    """QUICK_HAMMERS keep-alive connections, each sending one request at a time."""

    def run(n: int, answered: list[int], stale: list[int]) -> None:
        with Conn(addr, timeout=30) as conn:
            for k in itertools.count(n * 37):
                if stop.is_set():
                    return
                index = k % SETTLED
                floor = int(published[index])  # saved before this request is sent
                resp = conn.request(f"/s/f{index}.txt")
                answered[n] += 1
                if sum(answered) >= QUICK_HAMMERS:
                    running.set()
                stale[n] += resp.status != 200 or _version(resp) < floor

    _threads(QUICK_HAMMERS, run, counts)
