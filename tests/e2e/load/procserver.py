"""Run ``python -m staticsrv`` as a real subprocess and observe it from outside.

The server binds port 0 and prints ``Serving ... at http(s)://127.0.0.1:PORT/``
once its listening socket is bound and listening, so the port is read from
that line: no test ever waits for readiness with a sleep.  Resource figures
(RSS, CPU time) come from ``/proc/PID``, exactly what an operator would see.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0
_URL = re.compile(rb"Serving .* at https?://127\.0\.0\.1:(\d+)/ \(Ctrl\+C to stop\)")
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_REPO = Path(__file__).resolve().parents[3]


@dataclass
class ServerProc:
    proc: subprocess.Popen[bytes]
    port: int
    root: Path
    stderr_path: Path
    _stderr: IO[bytes] = field(repr=False)

    @property
    def addr(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_kib(self) -> int:
        """Resident set size in KiB (VmRSS of /proc/PID/status)."""
        with open(f"/proc/{self.pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS line")

    def cpu_seconds(self) -> float:
        """User plus system CPU time consumed so far (/proc/PID/stat fields 14, 15)."""
        with open(f"/proc/{self.pid}/stat", encoding="ascii") as f:
            stat = f.read()
        # The command name (field 2) may contain spaces: split after its ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def stderr_text(self) -> str:
        return self.stderr_path.read_text("utf-8", "replace")

    def stop(self) -> tuple[int, str]:
        """SIGTERM, wait, and return (exit status, everything written on stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            status = -9
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()
        return status, self.stderr_text()


def _read_port(proc: subprocess.Popen[bytes]) -> int:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while b"\n" not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no startup line within {STARTUP_TIMEOUT} s: {seen!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise AssertionError(f"server exited before announcing its port: {seen!r}")
            seen += chunk
    match = _URL.search(seen)
    assert match is not None, f"unexpected startup line: {seen!r}"
    return int(match.group(1))


def start_server(
    root: Path,
    *args: str,
    stderr_path: Path,
    preexec_fn: Callable[[], None] | None = None,
) -> ServerProc:
    """Start ``python -m staticsrv --root ROOT --port 0 -q ARGS`` and wait for its port."""
    # A file, not a pipe: a chatty server can never block on a full pipe.  It
    # stays open for the server's lifetime and is closed by ServerProc.stop.
    stderr = open(stderr_path, "wb")  # noqa: SIM115
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "staticsrv", "--root", str(root), "--port", "0", "-q", *args]
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        cwd=str(_REPO),
        env=env,
        preexec_fn=preexec_fn,
    )
    try:
        port = _read_port(proc)
    except BaseException:
        proc.kill()
        proc.wait(5)
        stderr.close()
        raise
    return ServerProc(proc, port, root, stderr_path, stderr)
