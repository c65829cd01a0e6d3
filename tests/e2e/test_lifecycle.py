"""How the process ends: forced exits, workers dying with their parent, the honest log."""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.client import build, connect, get
from tests.conftest import ServeFactory
from tests.process import next_line, start, stop
from tests.waiting import poll_until

BIG = 64 * 1024 * 1024  # far more than loopback socket buffers hold
needs_reuseport = pytest.mark.skipif(
    not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT"
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text("<p>life</p>\n")
    with open(tmp_path / "big.bin", "wb") as f:
        f.truncate(BIG)  # sparse: costs no disk, reads as zeros
    return tmp_path


def stalled_download(addr: tuple[str, int]) -> socket.socket:
    """A client that asks for the big file and reads only its first bytes."""
    sock = connect(addr, rcvbuf=4096)
    sock.sendall(build("/big.bin"))
    got = b""
    while b"\r\n\r\n" not in got:
        got += sock.recv(1000)
    return sock


def reset(sock: socket.socket) -> None:
    """Close with a reset (SO_LINGER 0), as a browser's cancelled download does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def wait_until_refused(port: int) -> None:
    """Poll, a bounded number of times, until the server has closed its listener.

    The listener closing is the one outside sign that the graceful stop has
    begun; there is no event to wait on from another process.
    """

    def refused() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) != 0

    poll_until("the server stopped accepting after the stop signal", refused, 10)


def gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie awaiting its reaper counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_gone(pids: list[int]) -> bool:
    # Another process's exit cannot be awaited from here: poll, bounded.
    try:
        poll_until("the processes are gone", lambda: all(gone(pid) for pid in pids), 15, 0.05)
    except AssertionError:
        return False
    return True


def children_of(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# ---------------------------------------------------------------- second Ctrl+C


@pytest.mark.parametrize("workers", [1, 2])
def test_a_second_ctrl_c_exits_130_at_once(root: Path, workers: int) -> None:
    if workers > 1 and not hasattr(socket, "SO_REUSEPORT"):
        pytest.skip("needs SO_REUSEPORT")
    proc, port, _ = start(str(root), "--port", "0", "-q", "--workers", str(workers))
    client = stalled_download(("127.0.0.1", port))  # holds the grace period open
    try:
        proc.send_signal(signal.SIGINT)
        wait_until_refused(port)
        code, err = stop(proc, signal.SIGINT)
    finally:
        reset(client)
    # Without the second signal the server would wait out the grace period
    # and exit 0; the forced exit is 130, as a shell reports a Ctrl+C'ed job.
    assert code == 130, err
    assert "forced exit" in err
    assert "Traceback" not in err


def test_one_ctrl_c_with_a_download_in_flight_still_exits_0(root: Path) -> None:
    proc, port, _ = start(str(root), "--port", "0", "-q")
    client = stalled_download(("127.0.0.1", port))
    try:
        code, err = stop(proc, signal.SIGINT)
    finally:
        reset(client)
    assert code == 0, err


# ---------------------------------------------------------------- workers die with the parent


@needs_reuseport
def test_workers_die_when_the_parent_is_killed(root: Path) -> None:
    proc, port, _ = start(str(root), "--port", "0", "-q", "--workers", "2")
    workers = children_of(proc.pid)
    assert len(workers) == 2
    proc.kill()  # SIGKILL: the parent cannot forward anything
    proc.communicate(timeout=15)
    assert wait_gone(workers), "workers outlived their parent"
    assert port_is_free(port)
    again, again_port, _ = start(str(root), "--port", str(port), "-q")
    try:
        assert again_port == port
        assert get(("127.0.0.1", port), "/").body == b"<p>life</p>\n"
    finally:
        assert stop(again)[0] == 0


@needs_reuseport
def test_sighup_to_the_parent_stops_the_workers_like_sigterm(root: Path) -> None:
    proc, port, _ = start(str(root), "--port", "0", "-q", "--workers", "2")
    workers = children_of(proc.pid)
    code, err = stop(proc, signal.SIGHUP)
    assert code == 0, err
    assert wait_gone(workers)
    assert port_is_free(port)


PARENT = """
import os, subprocess, sys
r, w = os.pipe()
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2], str(r)], pass_fds=(r,))
os.close(r)
print("child", child.pid, flush=True)
child.wait()
"""
CHILD = """
import sys
from staticsrv.app import run
from staticsrv.config import from_options
config = from_options(sys.argv[1], port=0, quiet=True)
sys.exit(run(config, sys.argv[1], parent_watch=int(sys.argv[2])))
"""


def test_a_server_watching_its_parents_pipe_stops_when_the_parent_is_killed(root: Path) -> None:
    """The portable fallback where PR_SET_PDEATHSIG does not exist (BSD, macOS)."""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, CHILD, str(root)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child = port = 0
    while not (child and port):
        line = next_line(parent)
        assert line, "the parent ended before its child served"
        if line.startswith("child "):
            child = int(line.split()[1])
        elif match := re.search(r"127\.0\.0\.1:(\d+)/", line):
            port = int(match.group(1))
    assert get(("127.0.0.1", port), "/").status == 200
    parent.kill()
    parent.communicate(timeout=15)
    assert wait_gone([child]), "the server outlived its parent"
    assert port_is_free(port)


# ---------------------------------------------------------------- the access log


def test_a_download_cut_short_is_logged_with_the_bytes_sent_and_a_mark(
    serve: ServeFactory, root: Path
) -> None:
    running = serve(root)
    client = stalled_download(running.addr)
    client.recv(1000)
    reset(client)
    # The server learns of the reset when its next send fails, on its own
    # schedule: poll the in-memory log, bounded.
    poll_until("the download is logged", lambda: any("/big.bin" in x for x in running.log), 10)
    line = next(line for line in running.log if "/big.bin" in line)
    assert line.endswith(" (cut short)"), line
    sent = int(line.split('" 200 ')[1].split()[0])
    assert 0 < sent < BIG


def test_a_whole_download_is_logged_with_its_size_and_no_mark(
    serve: ServeFactory, root: Path
) -> None:
    running = serve(root)
    assert len(get(running.addr, "/big.bin").body) == BIG
    # The log is flushed once per loop turn: poll, bounded.
    poll_until("the download is logged", lambda: running.log, 10)
    assert running.log[0].endswith(f'"GET /big.bin {running.version}" 200 {BIG}')


def test_process_group_of_workers_is_their_own(root: Path) -> None:
    """A terminal's Ctrl+C reaches the supervisor alone, which stops each worker once."""
    if not hasattr(socket, "SO_REUSEPORT"):
        pytest.skip("needs SO_REUSEPORT")
    proc, _, _ = start(str(root), "--port", "0", "-q", "--workers", "2")
    try:
        for pid in children_of(proc.pid):
            assert os.getpgid(pid) != os.getpgid(proc.pid)
    finally:
        code, _ = stop(proc, signal.SIGINT)
    assert code == 0
