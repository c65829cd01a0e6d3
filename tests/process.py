"""``python -m staticsrv`` as a real subprocess: the one launcher of the suite.

The server prints ``Serving ... at http(s)://HOST:PORT/ (Ctrl+C to stop)``
once its socket listens, so a test started on port 0 reads the port from
that line: no test waits for readiness with a sleep, and the read is
bounded, so a server that never prints fails the test instead of hanging it.
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
from pathlib import Path
from typing import IO, Any

STARTUP_TIMEOUT = 20.0
URL_RE = re.compile(r"https?://127\.0\.0\.1:(\d+)/")
REPO = Path(__file__).resolve().parents[1]


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "staticsrv", *args]


def staticsrv(
    *args: str,
    cwd: str | Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    """The server with its output in pipes, as text."""
    return subprocess.Popen(
        command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )


def next_line(proc: subprocess.Popen[Any], timeout: float = STARTUP_TIMEOUT) -> str:
    """The process's next line on stdout ("" at its end), read within ``timeout`` seconds.

    Read a byte at a time from the descriptor, past ``proc.stdout``'s own
    buffer, so nothing after the line is taken from the pipe.  A test reads
    every line of a process this way (a ``readline()`` could wait forever).
    """
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while not seen.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no line within {timeout} s: {seen!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            byte = os.read(fd, 1)
            if not byte:
                break  # the process closed its stdout (it exited): what it said is the line
            seen += byte
    return seen.decode("utf-8", "replace")


def port_of(proc: subprocess.Popen[Any], line: str) -> int:
    """The port in a start-up line; else the process is stopped and the test fails."""
    match = URL_RE.search(line)
    if match is None:
        proc.kill()
        _, err = proc.communicate(timeout=15)
        raise AssertionError(f"unexpected start-up line: {line!r} {err!r}")
    return int(match.group(1))


def start(
    *args: str, cwd: str | Path | None = None, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], int, str]:
    """Start the server and read the bound port from its first line (no sleeps)."""
    proc = staticsrv(*args, cwd=cwd, env=env)
    line = next_line(proc)
    return proc, port_of(proc, line), line


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str]:
    """Send ``sig``; return the exit status and everything said on stderr."""
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=15)
    return proc.returncode, err


def run_fail(
    *args: str, cwd: str | Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run to completion (a bad argument, --help, --print-ca), bounded."""
    return subprocess.run(
        command(*args), capture_output=True, text=True, timeout=30, check=False, cwd=cwd, env=env
    )


def start_quiet(
    *args: str,
    stderr: IO[bytes],
    preexec_fn: Callable[[], None] | None = None,
) -> tuple[subprocess.Popen[bytes], int, str]:
    """Start from the repository with stderr to a file (the load tests' servers).

    A file, not a pipe: a chatty server can never block on a full pipe.
    """
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        command(*args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        cwd=str(REPO),
        env=env,
        preexec_fn=preexec_fn,
    )
    try:
        line = next_line(proc)
        return proc, port_of(proc, line), line
    except BaseException:
        proc.kill()
        proc.wait(5)
        raise
