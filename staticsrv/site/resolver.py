"""URL path -> file system outcome.  This module does the stat/realpath I/O.

Every outcome is a value (:class:`File`, :class:`Redirect`, :class:`Listing`,
:class:`NotFound`, :class:`Forbidden`); nothing here raises for a bad path.

Safety rests on three checks:

* the pure target decoder already refused ``..``, NUL and (by default)
  dotfile segments in any encoding;
* the *real* path (symlinks resolved) must lie inside the real root, and its
  own segments must not be hidden either (a link to ``.git/config``);
* only regular files are served: ``os.stat`` never blocks on a FIFO or a
  device (only ``open`` does), so those are refused before anything opens them.

``realpath`` costs one ``lstat`` per path component, so its verdict is
remembered per path together with the ``(st_dev, st_ino)`` it was made for.
A later request reuses it only if ``stat`` still reaches that very inode:
if a link was swapped to point elsewhere, the inode differs and the check
runs again, so the cache can never widen what is served.

A link whose target leaves the root is refused (404, left out of
listings) unless ``follow_symlinks`` is set; each refused target is logged
once, naming the flag, so a monorepo's ``assets -> ../../shared/assets``
is not a silent mystery.  Followed links still lead only to regular files
and folders, and never to a path with a dot-name in it (unless dotfiles).
"""

from __future__ import annotations

import errno
import logging
import os
import stat

from staticsrv.http.target import Target, is_hidden
from staticsrv.site.reader import FileKey

INDEX_FILE = "index.html"
log = logging.getLogger("staticsrv")


# The outcomes are plain classes, not dataclasses: creating a dataclass
# costs start-up time, and nothing compares or copies these.


class _Found:
    """Something at the target: its real path and the stat it was found with."""

    __slots__ = ("path", "st")

    def __init__(self, path: str, st: os.stat_result) -> None:
        self.path = path
        self.st = st

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={self.path!r}, st={self.st!r})"


class File(_Found):
    """A regular file to serve."""

    __slots__ = ()


class _Verdict:
    """An outcome without data, one instance each (``REDIRECT``, ``NOT_FOUND``,
    ``FORBIDDEN``): told apart with ``isinstance``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Redirect(_Verdict):
    """``/dir`` -> ``/dir/`` (RFC 9110 §15.4.2); the server builds the Location."""

    __slots__ = ()


class Listing(_Found):
    """A folder to list (no index.html in it, listings on)."""

    __slots__ = ()


class NotFound(_Verdict):
    __slots__ = ()


class Forbidden(_Verdict):
    __slots__ = ()


Resolution = File | Redirect | Listing | NotFound | Forbidden

NOT_FOUND = NotFound()
FORBIDDEN = Forbidden()
REDIRECT = Redirect()

# Errors that mean "there is nothing to serve here" rather than a fault:
# ENAMETOOLONG and ELOOP come from hostile or odd names and must be 404, never 500.
_MISSING_ERRNOS = frozenset(
    {errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP, errno.EINVAL}
)


def _stat(path: str) -> os.stat_result | NotFound | Forbidden:
    try:
        return os.stat(path)
    except PermissionError:
        return FORBIDDEN
    except (OSError, ValueError) as exc:
        if isinstance(exc, OSError) and exc.errno not in _MISSING_ERRNOS:
            raise
        return NOT_FOUND


class Resolver:
    """Maps decoded targets to outcomes under one root."""

    _MAX_VERDICTS = 16384

    _MAX_REFUSED = 1024  # refused paths and links remembered, so each link is logged once

    def __init__(
        self,
        root: str,
        *,
        listing: bool,
        dotfiles: bool,
        follow_symlinks: bool = False,
        mounts: tuple[tuple[tuple[str, ...], str], ...] = (),
    ) -> None:
        self.root = os.path.realpath(root)
        self._prefix = self.root.rstrip(os.sep) + os.sep
        # --mount: (URL segments, real folder), longest first; each folder
        # is a root of its own for the inside check.
        self._mounts = tuple(
            ("/".join(segs), os.path.realpath(folder).rstrip(os.sep) + os.sep)
            for segs, folder in sorted(mounts, key=lambda m: len(m[0]), reverse=True)
        )
        mounted = ((prefix.rstrip(os.sep) or os.sep, prefix) for _url, prefix in self._mounts)
        self._roots = ((self.root, self._prefix), *mounted)
        self.listing = listing
        self.dotfiles = dotfiles
        self.follow_symlinks = follow_symlinks
        self._refused: set[str] = set()
        # path -> (st_dev, st_ino) for which realpath said "inside the root".
        self._inside: dict[str, tuple[int, int]] = {}
        self._not_found_paths = tuple(
            os.path.join(self.root, name) for name in ("not_found.html", "404.html")
        )

    def full_path(self, relpath: str) -> str:
        # Plain concatenation: segments never hold "/" and are never empty,
        # so this is os.path.join without its work (and can never jump to an
        # absolute path the way join does for a segment starting with "/").
        for url, folder in self._mounts:
            if relpath.startswith(url) and relpath[len(url) : len(url) + 1] in ("", "/"):
                return folder + relpath[len(url) + 1 :] if len(relpath) > len(url) else folder[:-1]
        return self._prefix + relpath if relpath else self.root

    def is_inside(self, path: str, st: os.stat_result) -> bool:
        """True if ``path`` (already stat'ed as ``st``) really lies under the root."""
        ident = (st.st_dev, st.st_ino)
        if self._inside.get(path) == ident:
            return True
        real = os.path.realpath(path)
        root, prefix = self.root, self._prefix
        if self._mounts:
            # Inside whichever served folder holds it (the root or a mount).
            root, prefix = next(
                ((r, p) for r, p in self._roots if real == r or real.startswith(p)),
                (root, prefix),
            )
        if real != root:
            if real.startswith(prefix):
                if not self.dotfiles and is_hidden(real[len(prefix) :].split(os.sep)):
                    return False
            elif not self.follow_symlinks:
                self._refuse(path, real)
                return False
            elif not self.dotfiles and is_hidden(real.split(os.sep)):
                # Trusting the tree is not trusting every dot-folder it
                # may point into (a link to ~/.ssh/ stays hidden).
                return False
        if len(self._inside) >= self._MAX_VERDICTS:
            self._inside.clear()
        self._inside[path] = ident
        return True

    def _refuse(self, path: str, real: str) -> None:
        """Log a link out of the root, once per link (not per request or per file under it)."""
        if path in self._refused:
            return
        if len(self._refused) >= self._MAX_REFUSED:
            self._refused.clear()
        self._refused.add(path)
        # The link itself is the first component on the way that leaves the
        # root ("assets" in assets/img/logo.svg): name that, once.
        link, target = path, real
        if path.startswith(self._prefix):
            parts = path[len(self._prefix) :].split(os.sep)
            for depth in range(1, len(parts) + 1):
                candidate = self._prefix + os.sep.join(parts[:depth])
                resolved = os.path.realpath(candidate)
                if resolved != self.root and not resolved.startswith(self._prefix):
                    link, target = candidate, resolved
                    break
        if link != path:
            if link in self._refused:
                return
            self._refused.add(link)
        shown = "/" + link[len(self._prefix) :] if link.startswith(self._prefix) else link
        log.warning(
            "staticsrv: not serving %s: it links to %s, outside the root "
            "(--follow-symlinks serves such links)",
            shown,
            target,
        )

    def is_missing(self, path: str) -> bool:
        """True if the stat that starts :meth:`resolve` finds nothing at ``path``."""
        return _stat(path) is NOT_FOUND

    def regular_file(self, path: str) -> File | NotFound | Forbidden:
        """A regular file inside the root at ``path``, or why not."""
        st = _stat(path)
        if isinstance(st, NotFound | Forbidden):
            return st
        if not stat.S_ISREG(st.st_mode) or not self.is_inside(path, st):
            return NOT_FOUND
        return File(path, st)

    def resolve(self, target: Target) -> Resolution:
        path = self.full_path(target.relpath)
        st = _stat(path)
        if isinstance(st, NotFound | Forbidden):
            return st
        if not self.is_inside(path, st):
            return NOT_FOUND
        if stat.S_ISREG(st.st_mode):
            # "/page.html/" names a directory that does not exist.
            return NOT_FOUND if target.trailing_slash and target.segments else File(path, st)
        if not stat.S_ISDIR(st.st_mode):
            return NOT_FOUND  # FIFO, socket, device: never opened
        if not target.trailing_slash:
            return REDIRECT
        index = self.regular_file(os.path.join(path, INDEX_FILE))
        if isinstance(index, File | Forbidden):
            return index
        if self.listing:
            return Listing(path, st)
        return NOT_FOUND

    def is_bare_folder(self, target: Target) -> bool:
        """A folder without ``index.html`` at ``target`` (slash or not): no page on a host.

        Netlify and Cloudflare Pages apply a matching ``_redirects`` rule
        there, so the handler does too instead of answering with a listing.
        """
        path = self.full_path(target.relpath)
        st = _stat(path)
        if isinstance(st, NotFound | Forbidden) or not stat.S_ISDIR(st.st_mode):
            return False
        if not self.is_inside(path, st):
            return False
        return isinstance(self.regular_file(os.path.join(path, INDEX_FILE)), NotFound)

    def still_missing(self, path: str, page: FileKey | None) -> bool:
        """True while ``path`` is missing and :meth:`not_found_page` would still be ``page``.

        The same verdicts as :meth:`is_missing` and :meth:`not_found_page`,
        in as few system calls: the page candidates before ``page`` must still
        be missing, and ``page`` itself must still be that very version (a
        swapped link or a replaced file has another identity).
        """
        try:
            os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            pass
        except (OSError, ValueError):
            return self.is_missing(path)
        else:
            return False
        for candidate in self._not_found_paths:
            try:
                st = os.stat(candidate)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except (OSError, ValueError):
                return False
            return page is not None and page.path == candidate and page.matches(st)
        return page is None

    def nearest_folder(self, segments: tuple[str, ...]) -> int | None:
        """How many leading ``segments`` name the deepest folder above them that is served.

        Served means it answers with its ``index.html`` or a listing; None
        if not even the root does (listings off and no index).
        """
        for depth in range(len(segments) - 1, -1, -1):
            found = self.resolve(Target(segments[:depth], "", True))
            if isinstance(found, Listing | File):
                return depth
        return None

    def not_found_page(self) -> File | None:
        """The site's own 404 page: ``not_found.html``, else ``404.html`` (GitHub Pages)."""
        for path in self._not_found_paths:
            found = self.regular_file(path)
            if isinstance(found, File):
                return found
        return None
