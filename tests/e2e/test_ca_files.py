"""The local CA's folder and keys, as the command line leaves them on every start."""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

import pytest

from staticsrv.pki import certs
from tests.client import get
from tests.process import next_line, run_fail, staticsrv

pytest.importorskip("cryptography")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes and links")

URL = re.compile(r"https://127\.0\.0\.1:\d+/")


def mode(path: Path) -> int:
    return path.lstat().st_mode & 0o777


def start_https(root: Path, data: Path) -> tuple[int, str, str]:
    """Start ``staticsrv --https``, stop it once it listens; (status, first line, stderr)."""
    env = {**os.environ, certs.ENV_DATA_DIR: str(data)}
    proc = staticsrv(str(root), "--https", "--port", "0", "-q", env=env)
    first = next_line(proc)
    match = URL.search(first)
    if match:
        # Plain HTTP on the HTTPS port is answered (400): the loop runs and
        # its stop signals are in place, so SIGTERM is a graceful stop.
        port = int(match.group(0).rsplit(":", 1)[1].strip("/"))
        assert get(("127.0.0.1", port), "/").status == 400
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, first, err


@pytest.fixture
def root(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    return site


def test_the_folder_is_made_0700_and_every_key_0600(root: Path, tmp_path: Path) -> None:
    data = tmp_path / "data" / "staticsrv"
    old = os.umask(0o002)  # a permissive umask must not leak into the folder
    try:
        code, first, err = start_https(root, data)
    finally:
        os.umask(old)
    assert code == 0 and URL.search(first), err
    assert mode(data) == 0o700
    assert mode(data / certs.CA_KEY) == mode(data / certs.LEAF_KEY) == 0o600
    assert "warning" not in err
    assert not list(data.glob("*.tmp")), "a temporary file was left behind"


def test_a_loosened_folder_and_keys_are_tightened_on_the_next_start(
    root: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    assert start_https(root, data)[0] == 0
    data.chmod(0o755)
    (data / certs.CA_KEY).chmod(0o644)
    (data / certs.LEAF_KEY).chmod(0o640)
    code, _first, err = start_https(root, data)
    assert code == 0, err
    assert err.splitlines() == [
        f"staticsrv: warning: {data} was open to others (mode 0755); tightened to 0700"
    ]
    assert mode(data) == 0o700
    assert mode(data / certs.CA_KEY) == mode(data / certs.LEAF_KEY) == 0o600


@pytest.mark.parametrize("name", [certs.CA_KEY, certs.LEAF_KEY])
def test_a_symlinked_key_is_refused_and_its_target_untouched(
    root: Path, tmp_path: Path, name: str
) -> None:
    data = tmp_path / "data"
    assert start_https(root, data)[0] == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("not a key\n")
    victim.chmod(0o644)
    before = victim.stat()
    (data / name).unlink()
    (data / name).symlink_to(victim)
    code, first, err = start_https(root, data)
    assert code == 2 and first == ""
    assert err == (
        f"staticsrv: error: --https: {data / name} is a symbolic link; refusing to use it "
        "(remove it and a new key is made)\n"
    )
    after = victim.stat()
    assert victim.read_text() == "not a key\n"
    assert (after.st_mode, after.st_mtime_ns, after.st_size) == (
        before.st_mode,
        before.st_mtime_ns,
        before.st_size,
    )
    assert (data / name).is_symlink()


def test_print_ca_tightens_the_folder_too(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    env = {**os.environ, certs.ENV_DATA_DIR: str(data)}
    done = run_fail("--print-ca", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("-----BEGIN CERTIFICATE-----")
    assert "tightened to 0700" in done.stderr
    assert mode(data) == 0o700 and mode(data / certs.CA_KEY) == 0o600
