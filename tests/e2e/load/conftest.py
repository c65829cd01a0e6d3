"""Fixtures for the load tests: the server as a real subprocess.

``run_server(root, *cli_args)`` starts ``python -m staticsrv`` on port 0 and
returns a :class:`~tests.e2e.load.procserver.ServerProc`.  At teardown every
server is stopped with SIGTERM and must exit with status 0 and without a
Python traceback on stderr: a test that leaves the server crashed, hung or
logging unexpected errors fails even if its own assertions passed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.load.procserver import ServerProc, start_server

RunServer = Callable[..., ServerProc]


@pytest.fixture
def run_server(tmp_path: Path) -> Iterator[RunServer]:
    started: list[ServerProc] = []

    def start(root: Path, *args: str, preexec_fn: Callable[[], None] | None = None) -> ServerProc:
        path = tmp_path / f"server-{len(started)}.stderr"
        server = start_server(root, *args, stderr_path=path, preexec_fn=preexec_fn)
        started.append(server)
        return server

    yield start
    problems: list[str] = []
    for server in started:
        status, stderr = server.stop()
        if status != 0:
            problems.append(f"server {server.pid} exited with status {status}: {stderr[-2000:]}")
        if "Traceback" in stderr:
            problems.append(f"server {server.pid} logged a traceback:\n{stderr[-4000:]}")
    assert not problems, "\n".join(problems)
