"""Live pages per version: whole below the cap, a shared scan above it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from staticsrv.config import Config
from staticsrv.site import document
from staticsrv.site.document import LIVE_PAGE_MAX, Documents, Injected, Spliced
from staticsrv.site.inject import inject
from staticsrv.site.reader import FileChanged, FileKey


def key_of(path: Path) -> FileKey:
    return FileKey.of(str(path), os.stat(path))


def docs_for(tmp_path: Path, reads: list[FileKey]) -> Documents:
    async def read(key: FileKey) -> bytes:
        reads.append(key)
        await asyncio.sleep(0)  # let the other requests arrive meanwhile
        with open(key.path, "rb") as f:  # noqa: ASYNC230 (a small test file)
            return f.read()

    return Documents(Config(root=str(tmp_path)), read, inject)


def test_concurrent_requests_for_a_large_page_share_one_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = tmp_path / "big.html"
    data = b"<head><title>x</title>" + b"a line of text\n" * (LIVE_PAGE_MAX // 14) + b"</head>"
    page.write_bytes(data)
    scans: list[FileKey] = []
    real_scan = document._scan

    def counting_scan(key: FileKey) -> tuple[int, bytes]:
        scans.append(key)
        return real_scan(key)

    monkeypatch.setattr(document, "_scan", counting_scan)
    reads: list[FileKey] = []
    docs = docs_for(tmp_path, reads)

    async def main() -> list[Injected | Spliced]:
        got = await asyncio.gather(*(docs.get(key_of(page)) for _ in range(8)))
        got.append(await docs.get(key_of(page)))  # later: from the cache
        return got

    got = asyncio.run(main())
    assert len(scans) == 1 and reads == []
    first = got[0]
    assert isinstance(first, Spliced) and all(g is first for g in got)
    assert data[: first.at] + first.tag + data[first.at :] == inject(data)
    assert first.length == len(inject(data))


def test_concurrent_requests_for_a_small_page_share_one_read(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_bytes(b"<head></head><body>hi</body>")
    reads: list[FileKey] = []
    docs = docs_for(tmp_path, reads)

    async def main() -> list[Injected | Spliced]:
        return list(await asyncio.gather(*(docs.get(key_of(page)) for _ in range(8))))

    got = asyncio.run(main())
    assert len(reads) == 1
    assert all(isinstance(g, Injected) and g.data == inject(page.read_bytes()) for g in got)


def test_a_page_written_during_its_scan_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "big.html"
    page.write_bytes(b"<p>" + b"x" * (LIVE_PAGE_MAX + 1))
    key = key_of(page)
    with page.open("ab") as f:
        f.write(b"more")  # the version asked for is gone
    with pytest.raises(FileChanged):
        document._scan(key)


def test_a_scan_that_fails_fails_every_waiter_and_is_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = tmp_path / "big.html"
    page.write_bytes(b"<p>" + b"x" * (LIVE_PAGE_MAX + 1))
    calls: list[FileKey] = []

    def failing(key: FileKey) -> tuple[int, bytes]:
        calls.append(key)
        raise FileChanged(key.path)

    monkeypatch.setattr(document, "_scan", failing)
    docs = docs_for(tmp_path, [])

    async def main() -> list[BaseException | Injected | Spliced]:
        asks = (docs.get(key_of(page)) for _ in range(4))
        return list(await asyncio.gather(*asks, return_exceptions=True))

    got = asyncio.run(main())
    assert all(isinstance(g, FileChanged) for g in got) and len(calls) == 1
    asyncio.run(main())
    assert len(calls) == 2  # tried again, not remembered
