"""The body reader: keyed on a file's identity, checked through the descriptor it reads."""

from __future__ import annotations

import builtins
import errno
import gzip
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from staticsrv.site.reader import FileChanged, FileKey, Reader, _Aiofile, gzip_body, open_regular
from tests.patching import replace

DATA = b"0123456789" * 300


@pytest.fixture
def path(tmp_path: Path) -> Path:
    p = tmp_path / "a.txt"
    p.write_bytes(DATA)
    return p


@pytest.fixture
def reader() -> Iterator[Reader]:
    r = Reader(16)
    yield r
    r.close()


def key_of(path: Path) -> FileKey:
    return FileKey.of(str(path), os.stat(path))


def rewrite(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def same_identity_other_bytes(path: Path, data: bytes) -> None:
    """Rewrite in place with the same size and mtime: the identity cannot tell."""
    st = os.stat(path)
    assert len(data) == st.st_size
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_key_matches_only_its_own_version(path: Path) -> None:
    key = key_of(path)
    assert key.matches(os.stat(path))
    path.write_bytes(DATA + b"!")
    assert not key.matches(os.stat(path))
    other = path.with_name("b.txt")
    other.write_bytes(DATA)
    os.utime(other, ns=(key.mtime_ns, key.mtime_ns))
    assert not key.matches(os.stat(other))  # same size and mtime, another inode


async def test_read_returns_the_whole_body(reader: Reader, path: Path) -> None:
    assert await reader.read(key_of(path)) == DATA


async def test_a_version_is_read_once_then_served_from_memory(reader: Reader, path: Path) -> None:
    key = key_of(path)
    assert await reader.read(key) == DATA
    same_identity_other_bytes(path, DATA.upper().replace(b"0", b"X"))
    assert await reader.read(key) == DATA  # the cache answers: keyed on identity


async def test_forget_drops_a_version(reader: Reader, path: Path) -> None:
    key = key_of(path)
    await reader.read(key)
    await reader.read(key)
    assert reader._read.cache_info().misses == 1  # read once, then from memory
    reader.forget(key)
    assert await reader.read(key) == DATA
    assert reader._read.cache_info().misses == 2  # read again after forget


async def test_a_changed_file_raises_file_changed(reader: Reader, path: Path) -> None:
    key = key_of(path)
    rewrite(path, DATA + b"more")  # another size
    with pytest.raises(FileChanged):
        await reader.read(key)


async def test_a_replaced_file_raises_file_changed(reader: Reader, path: Path) -> None:
    key = key_of(path)
    tmp = path.with_name("tmp")
    tmp.write_bytes(DATA)
    os.replace(tmp, path)  # rename into place: another inode
    with pytest.raises(FileChanged):
        await reader.read(key)


async def test_a_vanished_file_raises_os_error(reader: Reader, path: Path) -> None:
    key = key_of(path)
    os.unlink(path)
    with pytest.raises(FileNotFoundError):
        await reader.read(key)


async def test_a_failed_read_is_not_cached(reader: Reader, path: Path) -> None:
    key = key_of(path)
    rewrite(path, b"x" * len(DATA))
    for attempt in (1, 2):
        with pytest.raises(FileChanged):
            await reader.read(key)
        # Each attempt reads the disk again: a failure is never the answer kept.
        assert reader._read.cache_info().misses == attempt


async def test_gzipped_is_the_gzip_of_the_body_and_stable(reader: Reader, path: Path) -> None:
    key = key_of(path)
    zipped = await reader.gzipped(key)
    assert gzip.decompress(zipped) == DATA
    assert zipped == gzip_body(DATA)  # mtime=0: the same bytes on every run
    assert len(zipped) < len(DATA)
    assert await reader.gzipped(key) is zipped  # compressed once per version


async def test_forget_drops_the_gzip_too(reader: Reader, path: Path) -> None:
    key = key_of(path)
    first = await reader.gzipped(key)
    reader.forget(key)
    again = await reader.gzipped(key)
    assert gzip.decompress(again) == DATA
    assert again is not first  # compressed again, not the kept bytes
    assert reader._gzip.cache_info().misses == 2


async def test_a_file_written_while_it_is_read_raises_file_changed(
    reader: Reader, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check after the read (size and stat through the descriptor) catches a torn read."""
    monkeypatch.setattr(_Aiofile, "cls", None)  # reads through os.pread in a thread
    monkeypatch.setattr(_Aiofile, "started", True)  # and no aiofile import meanwhile
    key = key_of(path)
    real_pread = os.pread

    def pread_during_a_save(fd: int, n: int, offset: int) -> bytes:
        # An editor saves in place (same size) just before the bytes are read.
        with open(path, "r+b") as f:
            f.write(DATA.upper().replace(b"0", b"Z"))
        os.utime(path, ns=(key.mtime_ns, key.mtime_ns))  # even the same mtime
        return real_pread(fd, n, offset)

    torn = replace(monkeypatch, os, "pread", pread_during_a_save)
    with pytest.raises(FileChanged):
        await reader.read(key)
    monkeypatch.setattr(os, "pread", real_pread)
    assert torn, "the read did not go through os.pread"
    assert reader._read.cache_info().currsize == 0  # nothing torn was kept


def test_open_regular_checks_the_version_it_opened(path: Path) -> None:
    key = key_of(path)
    fd = open_regular(key)
    try:
        assert os.pread(fd, 10, 0) == DATA[:10]
    finally:
        os.close(fd)
    path.write_bytes(b"short")
    with pytest.raises(FileChanged):
        open_regular(key)


def test_open_regular_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(FileChanged):
        open_regular(key_of(fifo))


def _import_failing_with(monkeypatch: pytest.MonkeyPatch, error: ImportError) -> None:
    real_import = builtins.__import__

    def fake(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "aiofile":
            raise error
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    monkeypatch.setattr(_Aiofile, "cls", None)
    monkeypatch.setattr(_Aiofile, "started", True)


def test_aiofile_import_out_of_descriptors_falls_back_and_retries_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A shared library that cannot be opened for EMFILE is an ImportError, not an OSError."""
    emfile = os.strerror(errno.EMFILE)
    _import_failing_with(
        monkeypatch, ImportError(f"_csv.so: cannot open shared object file: {emfile}")
    )
    _Aiofile._load()
    assert _Aiofile.cls is None  # reads stay on the thread pool
    assert _Aiofile.started is False  # and the next read tries the import again


def test_aiofile_import_error_of_another_kind_is_not_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _import_failing_with(monkeypatch, ImportError("No module named 'aiofile'"))
    with pytest.raises(ImportError):
        _Aiofile._load()
