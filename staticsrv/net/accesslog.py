"""The access log: one line per answer, written in batches.

Owns: the line format and the batching (lines gathered during one turn of
the event loop are written with one call).  May not touch: sockets, files
other than through the ``sink`` it is given.

The format is the Common Log Format with the bytes of the body actually
sent (nginx's ``$body_bytes_sent``), not the planned length: a download cut
short shows how far it got, and is marked ``(cut short)``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable

from staticsrv.http.http11 import Request

_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0x100), 0x22, 0x5C)}


def stderr_sink(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class AccessLog:
    __slots__ = ("_lines", "_sec", "_sink", "_when")

    def __init__(self, sink: Callable[[str], None]) -> None:
        self._sink = sink
        self._lines: list[str] = []
        self._sec = -1
        self._when = ""

    def record(
        self,
        peer: str,
        req: Request | bytes | None,
        status: int,
        sent: int,
        complete: bool = True,
    ) -> None:
        """One answer; ``req`` as bytes is the raw line of a request refused unparsed."""
        now = int(time.time())
        if now != self._sec:  # formatted once a second, like the Date line
            self._sec = now
            self._when = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now))
        when = self._when
        if isinstance(req, Request):
            line = f"{req.method} {req.target} {req.version}"
        else:
            line = "-" if not req else req.decode("latin-1")
        # The target holds the raw bytes as latin-1 characters: back to those
        # bytes, and anything outside printable ASCII shown as \xHH (as nginx
        # does), so a log line can never break in two, garble UTF-8 or send
        # a terminal escape; a quote or backslash too, so the field stays one.
        line = line.translate(_ESCAPES)
        mark = "" if complete else " (cut short)"
        self._lines.append(f'{peer} - - [{when}] "{line}" {status} {sent}{mark}')
        if len(self._lines) == 1:
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        if self._lines:
            self._sink("\n".join(self._lines))
            self._lines.clear()
