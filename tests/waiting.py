"""The one bounded poll of the test suite.

Used only to observe an outcome that nothing signals to the test (a socket
state in /proc, a log line written on the server's own schedule, another
process's fork or exit), never to wait for a server to be ready: a server
is ready when ``staticsrv.serve`` returns or its startup line is read.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def poll_until(
    condition: str,
    check: Callable[[], object],
    timeout: float,
    interval: float = 0.02,
    *,
    detail: Callable[[], object] | None = None,
) -> float:
    """Call ``check()`` until it is true; return the seconds it took, fail after ``timeout``.

    ``detail()``, if given, is added to the failure's message (the state
    that did not come about).
    """
    start = time.monotonic()
    while not check():
        elapsed = time.monotonic() - start
        if elapsed >= timeout:
            more = f": {detail()}" if detail is not None else ""
            raise AssertionError(f"not within {timeout} s: {condition}{more}")
        time.sleep(interval)  # allowed: polls an outcome, never readiness
    return time.monotonic() - start
