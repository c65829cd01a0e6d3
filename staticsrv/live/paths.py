"""Which changed paths matter to --live, and the URL path of a changed file.

Owns: :class:`PathFilter` (hidden names follow ``--dotfiles`` relative to
each watched folder, ``--ignore`` globs, editors' scratch files, and
``--build``'s sources without their dot-folders, ``node_modules`` and
``__pycache__``) and :func:`url_path`.  Pure: strings in, answers out
(apart from telling a watched file from a watched folder once).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from staticsrv.config import Config

# Scratch files of editors that are not hidden names (vim's backup and its
# writability probe "4913", emacs' autosave); hidden ones follow --dotfiles.
SCRATCH = ("*~", "*.swp", "*.swx", "4913", "#*#")
NOT_SOURCES = frozenset({"node_modules", "__pycache__"})
WELL_KNOWN = ".well-known"  # served despite its dot (RFC 8615), so watched too
# RFC 3986 pchar: what a path segment may hold unencoded.
_SAFE = "/!$&'()*+,;=:@~"


class PathFilter:
    """Which changed paths matter; relative to the watched folder they are under.

    Relative, so that a root inside a dot-folder (``~/.cache/site``) is
    still watched while ``.git/`` under it is not.
    """

    def __init__(
        self,
        bases: Iterable[str],
        *,
        dotfiles: bool,
        ignore: Sequence[str],
        sources: Iterable[str] = (),
    ) -> None:
        # Longest first: a --watch folder inside the root is its own base.
        self.bases = sorted(set(bases), key=len, reverse=True)
        self.files = frozenset(b for b in self.bases if os.path.isfile(b))  # --watch FILE
        self.dotfiles = dotfiles
        self.ignore = tuple(ignore)
        # --build's sources: never their dot-folders, node_modules or
        # __pycache__, whatever --dotfiles says (nothing there is a source).
        self.sources = frozenset(sources)
        # The watched folders themselves: their deletion comes through (a
        # folder deleted and made again may get its old inode number back,
        # so identity alone would miss it).
        self.roots: frozenset[str] = frozenset()

    def _split(self, path: str) -> tuple[str, list[str]] | None:
        for base in self.bases:
            if path == base:
                return base, []
            if path.startswith(base.rstrip(os.sep) + os.sep):
                return base, path[len(base.rstrip(os.sep)) + 1 :].split(os.sep)
        return None

    def relative(self, path: str) -> list[str] | None:
        found = self._split(path)
        return None if found is None else found[1]

    def __call__(self, change: object, path: str) -> bool:
        if path in self.files:
            return True
        found = self._split(path)
        if found is None:
            return False  # outside every base
        if not found[1]:
            return path in self.roots  # a watched folder itself: only its own deletion
        base, parts = found
        if base in self.sources and any(p.startswith(".") or p in NOT_SOURCES for p in parts):
            return False
        if not self.dotfiles and any(p.startswith(".") and p != WELL_KNOWN for p in parts):
            return False
        rel = "/".join(parts)
        for glob in self.ignore:
            # A glob names the relative path, any leading part of it (so
            # "build/*" or "node_modules" cover a whole folder), or a name.
            if any(fnmatchcase(p, glob) for p in parts):
                return False
            if any(fnmatchcase("/".join(parts[:i]), glob) for i in range(1, len(parts) + 1)):
                return False
            if fnmatchcase(rel, glob):
                return False
        return True


def url_path(root: str, path: str) -> str | None:
    """The URL path of a file under ``root`` (percent-encoded), or None outside it."""
    base = root.rstrip(os.sep) + os.sep
    if not path.startswith(base):
        return None
    rel = path[len(base) :].replace(os.sep, "/")
    return "/" + quote(rel, safe=_SAFE)


def mounted_url(config: Config, path: str) -> str | None:
    """The URL path of a file in a ``--mount`` folder, or None outside them."""
    for segments, folder in config.mounts:
        inside = url_path(folder, path)
        if inside is not None:
            return "/" + quote("/".join(segments), safe=_SAFE) + inside
    return None
