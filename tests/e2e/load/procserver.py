"""Run ``python -m staticsrv`` as a real subprocess and observe it from outside.

The server binds port 0 and prints ``Serving ... at http(s)://127.0.0.1:PORT/``
once its listening socket is bound and listening, so the port is read from
that line: no test ever waits for readiness with a sleep.  Resource figures
(RSS, CPU time) come from ``/proc/PID``, exactly what an operator would see.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tests.process import start_quiet

STOP_TIMEOUT = 20.0
_URL = re.compile(r"Serving .* at https?://127\.0\.0\.1:(\d+)/ \(Ctrl\+C to stop\)")
_CLK_TCK = os.sysconf("SC_CLK_TCK")


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
    try:
        proc, port, line = start_quiet(
            "--root", str(root), "--port", "0", "-q", *args, stderr=stderr, preexec_fn=preexec_fn
        )
    except BaseException:
        stderr.close()
        raise
    assert _URL.search(line), f"unexpected startup line: {line!r}"
    return ServerProc(proc, port, root, stderr_path, stderr)
