"""A minimal Server-Sent Events client over a raw socket, for the --live tests.

It speaks HTTP/1.1 to ``/__staticsrv__/events``, undoes the chunked framing
and hands out whole events (comment lines, the heartbeat, are skipped), so
a test sees exactly what a browser's EventSource would.
"""

from __future__ import annotations

import json
from typing import Any

from tests.client import connect

TIMEOUT = 10.0

PATH = "/__staticsrv__/events"


class EventStream:
    def __init__(
        self, addr: tuple[str, int], timeout: float = TIMEOUT, rcvbuf: int = 0, query: str = ""
    ) -> None:
        # Through the shared client's connect: TLS when the server speaks it.
        self.sock = connect(addr, timeout=timeout, rcvbuf=rcvbuf or None)
        target = f"{PATH}?{query}" if query else PATH
        self.sock.sendall(f"GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        self.raw = b""  # bytes off the socket, not yet unchunked
        self.text = b""  # the unchunked stream, not yet split into events
        self.status = 0
        self.headers: dict[str, str] = {}
        self.last_id = ""  # the id of the last event read that had one

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the stream")
        self.raw += data

    def read_head(self) -> int:
        while b"\r\n\r\n" not in self.raw:
            self._fill()
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        return self.status

    def _unchunk(self) -> None:
        while True:
            line_end = self.raw.find(b"\r\n")
            if line_end < 0:
                return
            size = int(self.raw[:line_end], 16)
            if size == 0:
                raise ConnectionError("the server ended the stream")
            if len(self.raw) < line_end + 2 + size + 2:
                return
            start = line_end + 2
            self.text += self.raw[start : start + size]
            self.raw = self.raw[start + size + 2 :]

    def next_event(self) -> tuple[str, Any]:
        """The next event as (name, parsed JSON data); heartbeats are skipped."""
        if not self.status:
            assert self.read_head() == 200, self.headers
        while True:
            self._unchunk()
            while b"\n\n" in self.text:
                block, self.text = self.text.split(b"\n\n", 1)
                name, data = "message", ""
                for line in block.decode().split("\n"):
                    if line.startswith(":"):
                        continue
                    key, _, value = line.partition(": ")
                    if key == "event":
                        name = value
                    elif key == "id":
                        self.last_id = value
                    elif key == "data":
                        data += value
                if data:
                    return name, json.loads(data)
            self._fill()

    def hello(self) -> str:
        name, data = self.next_event()
        assert name == "hello", (name, data)
        run_id: str = data["id"]
        return run_id
