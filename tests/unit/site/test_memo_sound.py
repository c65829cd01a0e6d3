"""The memo's invariant, path by path (see staticsrv.site.memo).

A request whose first byte arrived after a save completed never gets an
answer decided from the disk before that save: a decision that outlives its
pass, a rule file saved while a request is in flight, a new connection's
first read, and a same-size rewrite within one timestamp tick.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from staticsrv.config import Config
from staticsrv.http.responses import Response
from staticsrv.net.transport import Features, Transport
from staticsrv.site.handler import Handler
from staticsrv.site.reader import RACY_NS
from staticsrv.site.resolver import File
from tests.patching import replace
from tests.unit.heads import request

V1 = b"version one\n"
V2 = b"version TWO\n"  # the same size: only the stat (or the content) tells them apart


@pytest.fixture
def root(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "a.txt").write_bytes(V1)
    (site / "t.txt").write_text("target\n")
    return site


def make(root: Path, **kwargs: Any) -> tuple[Handler, list[Callable[[], None]]]:
    handler = Handler(Config(root=os.path.realpath(root)), **kwargs)
    ends: list[Callable[[], None]] = []
    handler.passes.next_pass = ends.append  # passes end only when the test says so
    return handler, ends


@pytest.fixture
def served(root: Path) -> Iterator[tuple[Handler, list[Callable[[], None]]]]:
    handler, ends = make(root)
    yield handler, ends
    handler.close()


def save(path: Path, data: bytes) -> None:
    """An editor's atomic save: write aside, rename into place."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class Gate:
    """Holds the first file answer decided while ``armed`` (bytes read) until ``release``."""

    def __init__(self, handler: Handler) -> None:
        self.armed = False
        self.waiting = asyncio.Event()
        self.release = asyncio.Event()
        real: Callable[[Any, File], Awaitable[Response]] = handler.files.respond

        async def respond(req: Any, f: File) -> Response:
            resp = await real(req, f)
            if self.armed:
                self.armed = False
                self.waiting.set()
                await self.release.wait()
            return resp

        handler.files.respond = respond  # type: ignore[method-assign]


async def test_a_decision_held_across_a_pass_boundary_is_not_fresh_in_the_later_pass(
    served: tuple[Handler, list[Callable[[], None]]], root: Path
) -> None:
    handler, _ends = served
    gate = Gate(handler)
    gate.armed = True
    slow = asyncio.create_task(handler.handle(request("/a.txt")))  # pass 1: stats V1
    await gate.waiting.wait()
    save(root / "a.txt", V2)
    handler.passes.arrived()  # B and C, sent after the save, are read
    assert (await handler.handle(request("/a.txt"))).body == V2  # B starts pass 2
    gate.release.set()
    assert (await slow).body == V1  # decided before the save: fine for its own request
    # C shares pass 2 with B: the slow answer's facts date from pass 1.
    assert (await handler.handle(request("/a.txt"))).body == V2


async def test_a_rule_file_saved_while_a_request_is_in_flight_is_never_lost(
    served: tuple[Handler, list[Callable[[], None]]], root: Path
) -> None:
    handler, ends = served
    gate = Gate(handler)
    gate.armed = True
    slow = asyncio.create_task(handler.handle(request("/a.txt")))  # no rule yet
    await gate.waiting.wait()
    (root / "_redirects").write_text("/a.txt /t.txt 301!\n")
    handler.passes.arrived()
    assert (await handler.handle(request("/a.txt"))).status == 301  # re-read the rules
    gate.release.set()
    assert (await slow).status == 200  # decided under the old rules
    assert (await handler.handle(request("/a.txt"))).status == 301
    ends.pop()()  # later passes too: the old answer was never stored
    for _ in range(2):
        assert (await handler.handle(request("/a.txt"))).status == 301


async def test_a_new_connections_first_read_ends_the_pass(
    served: tuple[Handler, list[Callable[[], None]]], root: Path
) -> None:
    handler, ends = served
    assert (await handler.handle(request("/a.txt"))).body == V1  # pass 1, memoised
    assert (await handler.handle(request("/a.txt"))).body == V1  # from the memo
    save(root / "a.txt", V2)
    client, server = socket.socketpair()
    with client, server:
        server.setblocking(False)
        transport = Transport(
            server, Features(), loop=asyncio.get_running_loop(), arrived=handler.passes.arrived
        )
        client.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await transport.recv()).startswith(b"GET /a.txt")  # the direct recv
        transport.close()
    assert len(ends) == 1  # still the loop's same turn
    assert (await handler.handle(request("/a.txt"))).body == V2


def coarse(real: Callable[..., os.stat_result], tick: int) -> Callable[..., os.stat_result]:
    """A stat as a file system with coarse timestamps (FAT, SMB, HFS+) reports it
    while its clock stays within one tick: every write is stamped ``tick``."""

    def stat(*args: Any, **kwargs: Any) -> os.stat_result:
        st = real(*args, **kwargs)
        ns = {"st_mtime_ns": tick, "st_ctime_ns": tick}
        seconds = {"st_mtime": tick / 1e9, "st_ctime": tick / 1e9}
        return os.stat_result(tuple(st)[:10], {"st_atime_ns": st.st_atime_ns, **ns, **seconds})

    return stat


def rewrite_in_place(path: Path, data: bytes) -> None:
    with open(path, "r+b") as f:  # the same inode, the same size
        f.write(data)


@pytest.mark.real_clock
async def test_a_same_second_same_size_rewrite_gets_new_bytes_and_a_new_etag(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = root / "a.txt"
    tick = os.stat(path).st_mtime_ns // 10**9 * 10**9  # the second the file was written in
    stats = replace(monkeypatch, os, "stat", coarse(os.stat, tick))
    fstats = replace(monkeypatch, os, "fstat", coarse(os.fstat, tick))
    now = [tick + 500_000_000]  # a coarse clock: still within that second
    handler, _ends = make(root, clock=lambda: now[0])
    try:
        first = await handler.handle(request("/a.txt"))
        assert first.body == V1
        assert stats and fstats, "the handler did not look through os.stat and os.fstat"
        assert first.field("Last-Modified") is None  # a date cannot tell these apart
        before = os.stat(path)
        rewrite_in_place(path, V2)
        after = os.stat(path)
        fields = ("st_ino", "st_size", "st_mtime_ns", "st_ctime_ns")
        # The stat cannot tell...
        assert [getattr(after, k) for k in fields] == [getattr(before, k) for k in fields]
        second = await handler.handle(request("/a.txt"))
        assert second.body == V2  # ...but nothing was trusted by it
        assert second.field("ETag") != first.field("ETag")
        etag = first.field("ETag") or ""
        revalidated = await handler.handle(request("/a.txt", headers={"If-None-Match": etag}))
        assert revalidated.status == 200 and revalidated.body == V2
        now[0] = tick + RACY_NS + 1  # settled: trusted by its stat, memoised again
        settled = await handler.handle(request("/a.txt"))
        assert settled.body == V2 and settled.field("Last-Modified") is not None
        assert settled.field("ETag") not in (first.field("ETag"), second.field("ETag"))
    finally:
        handler.close()


async def test_a_listing_shows_an_entrys_new_size_at_once(
    served: tuple[Handler, list[Callable[[], None]]], root: Path
) -> None:
    handler, _ends = served
    (root / "sub").mkdir()
    (root / "sub" / "x.bin").write_bytes(b"x" * 10)
    first = await handler.handle(request("/sub/"))
    assert first.status == 200
    folder = os.stat(root / "sub").st_mtime_ns
    (root / "sub" / "x.bin").write_bytes(b"x" * 5000)  # the folder's mtime stays
    assert os.stat(root / "sub").st_mtime_ns == folder
    handler.passes.arrived()
    etag = first.field("ETag") or ""
    second = await handler.handle(request("/sub/", headers={"If-None-Match": etag}))
    assert second.status == 200
    assert second.field("ETag") != etag


def live_config(root: Path) -> Config:
    return Config(root=os.path.realpath(root), live=True)


@pytest.mark.real_clock
async def test_under_live_a_same_second_same_size_page_rewrite_gets_the_new_page(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The injected page (live reload) is never kept for a racy version either."""
    from staticsrv.live.events import Hub

    path = root / "p.html"
    path.write_bytes(b"<p>one</p>\n")
    tick = os.stat(path).st_mtime_ns // 10**9 * 10**9
    stats = replace(monkeypatch, os, "stat", coarse(os.stat, tick))
    fstats = replace(monkeypatch, os, "fstat", coarse(os.fstat, tick))
    now = [tick + 500_000_000]
    handler = Handler(live_config(root), clock=lambda: now[0], endpoints=Hub())
    ends: list[Callable[[], None]] = []
    handler.passes.next_pass = ends.append
    try:
        first = await handler.handle(request("/p.html"))
        assert isinstance(first.body, bytes) and b"<p>one</p>" in first.body
        assert stats and fstats, "the handler did not look through os.stat and os.fstat"
        rewrite_in_place(path, b"<p>TWO</p>\n")
        second = await handler.handle(request("/p.html"))
        assert isinstance(second.body, bytes) and b"<p>TWO</p>" in second.body
        assert second.field("ETag") != first.field("ETag")
    finally:
        handler.close()
