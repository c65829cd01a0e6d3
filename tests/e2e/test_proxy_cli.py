"""--proxy from the command line and the environment (STATICSRV_PROXY, one per line)."""

from __future__ import annotations

import os
import socket

from tests.client import get
from tests.process import start, stop


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_proxies_from_the_environment_one_per_line() -> None:
    a, b = _closed_port(), _closed_port()
    env = {**os.environ, "STATICSRV_PROXY": f"/a=http://127.0.0.1:{a}\n/b=http://127.0.0.1:{b}/v1"}
    proc, port, _line = start("--port", "0", "-q", env=env)
    try:
        first = get(("127.0.0.1", port), "/a/x")
        second = get(("127.0.0.1", port), "/b/x")
    finally:
        status, err = stop(proc)
    assert (first.status, second.status) == (502, 502)
    assert f"/a -&gt; http://127.0.0.1:{a}".encode() in first.body
    assert f"/b -&gt; http://127.0.0.1:{b}/v1".encode() in second.body
    assert status == 0
    # One warning line per failure, naming the mapping (not a traceback).
    assert "Traceback" not in err
    assert sum("proxy /a -> " in line for line in err.splitlines()) == 1
