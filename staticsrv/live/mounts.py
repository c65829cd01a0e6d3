"""Which file systems give no change events: the mount table, read as text.

Owns: parsing Linux's ``/proc/self/mountinfo`` (proc(5)), finding the
mount a path lies on, and the reason to poll it.  Pure except
:func:`read_mountinfo`, the one read of the real table.  May not touch:
the watcher, sockets.

inotify only sees changes made through this kernel.  On a network or
host-shared file system the writer is elsewhere (Windows under WSL2's
``/mnt/c``, the host of a VM or container, an NFS or SMB server, the far
end of sshfs), so the watcher stays silent while the files change.  Such
a path is polled instead, and the banner says why.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# File systems whose changes are made elsewhere than through this kernel.
NO_EVENTS = frozenset(
    {
        "9p",  # WSL2's /mnt/c (drvfs over 9p), QEMU/virtfs shares
        "drvfs",  # WSL1
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "virtiofs",  # WSL2's newer shares, VM and Docker Desktop bind mounts
        "vboxsf",  # VirtualBox shared folders
        "fakeowner",  # Docker Desktop for Mac bind mounts
    }
)
# FUSE file systems known to report changes through inotify: the ones that
# are only a view of a local disk.  Any other fuse.* (sshfs, rclone,
# gvfsd-fuse, grpcfuse, ...) is polled.
FORWARDS_EVENTS = frozenset({"fuse.bindfs", "fuse.mergerfs"})
_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True, slots=True)
class Mount:
    point: str  # where it is mounted
    fstype: str  # e.g. "ext4", "9p", "fuse.sshfs"
    source: str  # e.g. "/dev/sda1", "drvfs", "host:/export"


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as \\ooo octal.
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    """The mounts in ``/proc/self/mountinfo`` order; malformed lines are skipped.

    A line: ``id parent major:minor root point options [optional...] -
    fstype source superoptions`` (the optional fields end at ``-``).
    """
    mounts = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            dash = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < dash + 3:
            continue
        mounts.append(Mount(_unescape(fields[4]), fields[dash + 1], _unescape(fields[dash + 2])))
    return mounts


def mount_of(path: str, mounts: Sequence[Mount]) -> Mount | None:
    """The mount ``path`` (absolute, symlinks resolved) lies on.

    The longest mount point containing it; of equal ones the last, since a
    later mount on the same point hides the earlier one.
    """
    best: Mount | None = None
    for mount in mounts:
        point = mount.point
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best.point)):
            best = mount
    return best


def no_events(mount: Mount) -> bool:
    fstype = mount.fstype
    if fstype in NO_EVENTS or mount.source == "drvfs":
        return True
    return fstype.startswith("fuse.") and fstype not in FORWARDS_EVENTS


def poll_reason(paths: Iterable[str], mounts: Sequence[Mount]) -> str | None:
    """Why polling is needed for ``paths``, as the banner says it; None: events work."""
    for path in paths:
        mount = mount_of(path, mounts)
        if mount is not None and no_events(mount):
            return f"{path} is on {mount.fstype} ({mount.point}), which sends no change events"
    return None


def read_mountinfo() -> list[Mount]:
    """The real mount table; empty where there is none (not Linux)."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            return parse_mountinfo(f.read())
    except OSError:
        return []


def auto_poll_reason(paths: Iterable[str]) -> str | None:
    """:func:`poll_reason` on this machine's mount table.

    A path not made yet (``--build``'s root) lies where its nearest
    existing parent lies.
    """
    found = []
    for path in paths:
        near = path
        while not os.path.exists(near) and os.path.dirname(near) != near:
            near = os.path.dirname(near)
        found.append(near)
    return poll_reason(found, read_mountinfo())
