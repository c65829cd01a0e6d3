"""A crashed worker is restarted; a supervisor whose workers keep crashing exits non-zero."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.client import get
from tests.e2e.test_lifecycle import children_of, gone
from tests.process import start, stop
from tests.waiting import poll_until

pytestmark = pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT")


def live_children(pid: int) -> list[int]:
    return [c for c in children_of(pid) if not gone(c)]


def wait_for_new_worker(pid: int, old: set[int], count: int) -> list[int]:
    # Another process's fork cannot be awaited from here: poll, bounded.
    now: list[int] = []

    def replaced() -> bool:
        now[:] = live_children(pid)
        return len(now) == count and bool(set(now) - old)

    poll_until("a worker replaced the killed one", replaced, 15, detail=lambda: children_of(pid))
    return now


def test_a_worker_killed_with_sigkill_is_restarted_and_the_port_keeps_serving(
    tmp_path: Path,
) -> None:
    (tmp_path / "index.html").write_text("<p>up</p>\n")
    proc, port, _ = start(str(tmp_path), "--port", "0", "-q", "--workers", "2")
    try:
        first = live_children(proc.pid)
        assert len(first) == 2
        os.kill(first[0], signal.SIGKILL)
        now = wait_for_new_worker(proc.pid, set(first), 2)
        assert first[0] not in now and first[1] in now
        # The restarted worker listens too: kill the other original, so only
        # the new one is left to answer.
        os.kill(first[1], signal.SIGKILL)
        wait_for_new_worker(proc.pid, set(now), 2)
        for _ in range(20):
            assert get(("127.0.0.1", port), "/").body == b"<p>up</p>\n"
        assert proc.poll() is None
    finally:
        code, err = stop(proc)
    assert code == 0, err
    assert "Bad file descriptor" not in err
    assert err.count("restarting") == 2, err


def test_a_supervisor_that_gives_up_on_crashing_workers_exits_non_zero(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<p>up</p>\n")
    proc, _port, _ = start(str(tmp_path), "--port", "0", "-q", "--workers", "2")
    killed: set[int] = set()
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        # Kill every worker as soon as it appears, until the supervisor gives up.
        for pid in live_children(proc.pid):
            if pid not in killed:
                killed.add(pid)
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)  # allowed: a bounded poll of another process's forks
    _, err = proc.communicate(timeout=15)
    assert "workers keep crashing; stopping" in err, err
    assert proc.returncode == 1, err
    assert "Traceback" not in err
