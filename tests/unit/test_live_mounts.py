"""Choosing polling from the mount table (staticsrv.live.mounts), on fake tables."""

from __future__ import annotations

import pytest

from staticsrv.live.mounts import Mount, mount_of, parse_mountinfo, poll_reason

# A WSL2 machine with a Docker volume, an NFS home and an sshfs mount, as
# /proc/self/mountinfo prints it (a space in a mount point is \040).
TABLE = """\
22 1 8:32 / / rw,relatime shared:1 - ext4 /dev/sdc rw,discard
61 22 0:52 / /mnt/c rw,noatime shared:31 - 9p drvfs rw,dirsync,aname=drvfs;path=C:\\
62 22 0:53 / /mnt/wsl1 rw - drvfs C:\\ rw
70 22 0:60 / /home/u/nfs rw,relatime shared:40 master:2 - nfs4 srv:/export rw,vers=4.2
71 22 0:61 / /home/u/remote\\040box rw,nosuid - fuse.sshfs u@box:/srv rw,user_id=0
72 22 0:62 / /home/u/merged rw - fuse.mergerfs a:b rw
73 22 0:63 / /srv/share rw - cifs //nas/share rw
74 22 0:64 / /tmp rw - tmpfs tmpfs rw
not a mountinfo line
75 74 0:65 / /tmp/inner rw - virtiofs docker rw
"""


def test_lines_are_parsed_with_escapes_and_optional_fields() -> None:
    mounts = parse_mountinfo(TABLE)
    assert len(mounts) == 9  # the malformed line is skipped
    assert mounts[0] == Mount("/", "ext4", "/dev/sdc")
    assert mounts[3] == Mount("/home/u/nfs", "nfs4", "srv:/export")  # past "master:2"
    assert mounts[4].point == "/home/u/remote box"


def test_the_longest_mount_point_wins() -> None:
    mounts = parse_mountinfo(TABLE)
    assert mount_of("/mnt/c/Users/u/site", mounts) == mounts[1]
    assert mount_of("/mnt/cx/site", mounts) == mounts[0]  # a prefix, not a parent
    assert mount_of("/tmp/inner/x", mounts) == mounts[8]
    assert mount_of("/tmp", mounts) == mounts[7]


def test_a_later_mount_on_the_same_point_hides_the_earlier() -> None:
    mounts = parse_mountinfo(TABLE + "76 22 0:66 / /srv/share rw - ext4 /dev/sdd rw\n")
    assert poll_reason(["/srv/share/site"], mounts) is None


@pytest.mark.parametrize(
    ("path", "fstype"),
    [
        ("/mnt/c/Users/u/site", "9p"),
        ("/mnt/wsl1/site", "drvfs"),
        ("/home/u/nfs/site", "nfs4"),
        ("/home/u/remote box/site", "fuse.sshfs"),
        ("/srv/share/site", "cifs"),
        ("/tmp/inner/site", "virtiofs"),
    ],
)
def test_file_systems_without_events_are_polled_and_say_why(path: str, fstype: str) -> None:
    reason = poll_reason(["/home/u/site", path], parse_mountinfo(TABLE))
    assert reason is not None
    assert path in reason and fstype in reason and "no change events" in reason


@pytest.mark.parametrize("path", ["/home/u/site", "/tmp/site", "/home/u/merged/site"])
def test_local_file_systems_and_known_fuse_views_use_events(path: str) -> None:
    assert poll_reason([path], parse_mountinfo(TABLE)) is None


def test_no_table_means_events() -> None:
    assert poll_reason(["/any"], parse_mountinfo("")) is None
