"""A tiny raw-socket HTTP/1.1 client for the end-to-end tests.

Clients such as http.client or curl normalise targets (``..``, ``//``), so
attacks must go out as raw bytes; this reads the answers back strictly by
their framing (Content-Length), which also proves the server's framing.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field

TIMEOUT = 10.0


class Addr(tuple[str, int]):
    """A server's address; with ``tls`` set, every client here speaks TLS to it.

    A tuple still (``socket.create_connection`` takes it as is), so the
    same tests run over plain TCP and over TLS.
    """

    tls: ssl.SSLContext | None

    def __new__(cls, host: str, port: int, tls: ssl.SSLContext | None = None) -> Addr:
        self = super().__new__(cls, (host, port))
        self.tls = tls
        return self


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    raw_head: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def connect(addr: tuple[str, int], timeout: float = TIMEOUT) -> socket.socket:
    """A connection to ``addr``: TLS (verifying name and CA) when the address says so."""
    sock = socket.create_connection(addr, timeout=timeout)
    tls = getattr(addr, "tls", None)
    if tls is None:
        return sock
    try:
        wrapped: socket.socket = tls.wrap_socket(sock, server_hostname=addr[0])
        return wrapped
    except BaseException:
        sock.close()
        raise


class Conn:
    """One connection that can send raw bytes and read framed responses."""

    def __init__(self, addr: tuple[str, int]) -> None:
        self.sock = connect(addr)
        self.buf = b""

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def read_response(self, head_request: bool = False) -> Response:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError(f"closed before a complete head: {self.buf[:200]!r}")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        version, status, *reason = lines[0].split(" ", 2)
        assert version == "HTTP/1.1", lines[0]
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            assert key not in headers or key == "vary", f"duplicate header {key}"
            headers[key] = value.strip()
        code = int(status)
        length = 0
        if not head_request and code not in (204, 304) and code >= 200:
            assert "content-length" in headers, f"no Content-Length in {lines}"
            length = int(headers["content-length"])
        while len(self.buf) < length:
            if not self._fill():
                raise ConnectionError("closed before the whole body")
        body, self.buf = self.buf[:length], self.buf[length:]
        return Response(code, reason[0] if reason else "", headers, body, head)

    def request(
        self, target: str = "/", method: str = "GET", headers: dict[str, str] | None = None
    ) -> Response:
        self.send(build(target, method, headers))
        return self.read_response(head_request=method == "HEAD")

    def closed_by_server(self) -> bool:
        """True if the server closed the connection (EOF, or reset) with nothing more to read."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return not self.buf
                self.buf += chunk
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False


def build(target: str, method: str = "GET", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: localhost"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def get(
    addr: tuple[str, int],
    target: str = "/",
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> Response:
    with Conn(addr) as conn:
        return conn.request(target, method, headers)


def raw(addr: tuple[str, int], data: bytes) -> tuple[Response | None, bool]:
    """Send raw bytes; return the first response (if any) and whether the server then closed."""
    with Conn(addr) as conn:
        conn.send(data)
        try:
            resp = conn.read_response()
        except ConnectionError:
            return None, True
        return resp, conn.closed_by_server()
