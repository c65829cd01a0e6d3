"""The files of the local CA: the folder's and the keys' modes, atomic writes, the lock.

Owns: how :mod:`staticsrv.pki.certs` touches the disk.  The folder is 0700 and
every key 0600, checked on every start; files are written to a fresh
temporary name (``O_EXCL``, ``O_NOFOLLOW``) and renamed over the old one;
a key that is a symbolic link is refused without anything it points to
being opened.  Errors are ``ValueError`` with the one line the CLI prints;
a folder found open to others is tightened with a one-line warning.
May not touch: certificate contents (that is :mod:`staticsrv.pki.certs`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # not on Windows, which has no such links to fear


def write(path: Path, data: bytes, mode: int) -> None:
    """Atomically, created with ``mode`` from the start (a key is never readable by others).

    A fresh temporary name opened with O_EXCL and O_NOFOLLOW: a file or a
    link planted under that name fails the open instead of being written
    through; the rename then replaces ``path`` itself, never what a link
    there would point to.
    """
    import secrets  # only writes need it: a start that reuses its files writes none

    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """One process at a time makes or renews certificates (two first starts at once)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the writes are atomic anyway
        yield
        return
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT | NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def prepare(folder: Path, keys: tuple[str, ...]) -> None:
    """The folder made 0700, and every key in it a regular file of mode 0600.

    Checked on every start: a CA key that others can read lets them mint
    certificates every device that trusts the CA accepts.  A key that is a
    symbolic link is refused, and nothing it points to is read or changed.
    """
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--https: cannot create {folder}: {exc.strerror}") from None
    if os.name != "posix":
        return
    mode = folder.stat().st_mode & 0o777
    if mode & 0o077:
        folder.chmod(0o700)
        sys.stderr.write(
            f"staticsrv: warning: {folder} was open to others (mode {mode:04o}); "
            "tightened to 0700\n"
        )
    for name in keys:
        _tighten_key(folder / name)


def _tighten_key(key: Path) -> None:
    try:
        # O_NOFOLLOW: a link fails the open itself (ELOOP), so nothing it
        # points to is ever opened, let alone changed.
        fd = os.open(key, os.O_RDONLY | NOFOLLOW)
    except FileNotFoundError:
        return
    except OSError as exc:
        if key.is_symlink():
            raise ValueError(
                f"--https: {key} is a symbolic link; refusing to use it "
                "(remove it and a new key is made)"
            ) from None
        raise ValueError(f"--https: cannot open {key}: {exc.strerror}") from None
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
