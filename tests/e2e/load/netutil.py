"""Small blocking HTTP/1.1 client and /proc/net/tcp reader for the load tests.

The client keeps its receive buffer in a ``bytearray`` so that megabytes of
body cost linear time, and reads every answer strictly by its framing
(Content-Length), which also checks the server's framing under load.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

TIMEOUT = 10.0
RECV = 1 << 18
TCP_ESTABLISHED = 0x01


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class Closed(ConnectionError):
    """The server closed the connection before a complete answer."""

    def __init__(self, message: str, received: bytes) -> None:
        super().__init__(message)
        self.received = received


def request_bytes(target: str, *, close: bool = False, extra: str = "") -> bytes:
    connection = "Connection: close\r\n" if close else ""
    return f"GET {target} HTTP/1.1\r\nHost: localhost\r\n{connection}{extra}\r\n".encode("latin-1")


class Client:
    """One connection: send raw bytes, read framed answers, or read to EOF."""

    def __init__(
        self,
        addr: tuple[str, int],
        *,
        timeout: float = TIMEOUT,
        rcvbuf: int | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if rcvbuf is not None:
                # Set before connect so the advertised window stays small.
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect(addr)
            if tls is not None:
                self.sock = tls.wrap_socket(self.sock, server_hostname=addr[0])
        except BaseException:
            self.sock.close()
            raise
        self.buf = bytearray()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    @property
    def local_port(self) -> int:
        port: int = self.sock.getsockname()[1]
        return port

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(RECV)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def read_head(self) -> tuple[int, dict[str, str]]:
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if not self._fill():
                raise Closed("closed before a complete head", bytes(self.buf))
        head = bytes(self.buf[:end]).decode("latin-1")
        del self.buf[: end + 4]
        lines = head.split("\r\n")
        version, status, *_ = lines[0].split(" ", 2)
        assert version == "HTTP/1.1", lines[0]
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(status), headers

    def read_reply(self, *, head_request: bool = False) -> Reply:
        status, headers = self.read_head()
        length = 0
        if not head_request and status not in (204, 304):
            length = int(headers["content-length"])
        while len(self.buf) < length:
            if not self._fill():
                raise Closed(
                    f"closed after {len(self.buf)} of {length} body bytes", bytes(self.buf)
                )
        body = bytes(self.buf[:length])
        del self.buf[:length]
        return Reply(status, headers, body)

    def get(self, target: str, *, close: bool = False) -> Reply:
        self.send(request_bytes(target, close=close))
        return self.read_reply()

    def read_to_eof(self, limit: float) -> tuple[bytes, str]:
        """Everything until the server closes: (bytes, "eof" | "reset" | "timeout")."""
        deadline = time.monotonic() + limit
        how = "timeout"
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                if not self._fill():
                    how = "eof"
                    break
            except (ConnectionResetError, ssl.SSLError):
                how = "reset"  # over TLS also a record cut off by the close
                break
            except TimeoutError:
                break
        data = bytes(self.buf)
        self.buf.clear()
        return data, how


def fetch(
    addr: tuple[str, int],
    target: str,
    *,
    timeout: float = TIMEOUT,
    tls: ssl.SSLContext | None = None,
) -> Reply:
    """One request on a fresh connection with ``Connection: close``; checks the close."""
    with Client(addr, timeout=timeout, tls=tls) as client:
        reply = client.get(target, close=True)
        assert reply.headers.get("connection") == "close", reply.headers
        rest, how = client.read_to_eof(timeout)
        assert (rest, how) == (b"", "eof"), f"after the answer: {rest[:100]!r} then {how}"
        return reply


def client_hello() -> bytes:
    """The bytes of a real TLS ClientHello (a browser's first flight)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def server_sockets(port: int) -> dict[int, tuple[int, int]]:
    """Server-side TCP sockets on ``port``: remote port -> (state, bytes in send queue).

    Read from /proc/net/tcp, i.e. what the kernel knows about the server's
    sockets, independently of what the client has read so far.
    """
    found: dict[int, tuple[int, int]] = {}
    with open("/proc/net/tcp", encoding="ascii") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, state, queues = fields[1], fields[2], fields[3], fields[4]
            if int(local.split(":")[1], 16) != port:
                continue
            tx_queue = int(queues.split(":")[0], 16)
            found[int(remote.split(":")[1], 16)] = (int(state, 16), tx_queue)
    return found


def poll_until(
    condition: str, check: Callable[[], bool], timeout: float, interval: float = 0.02
) -> float:
    """Call ``check()`` until it is true; return the seconds it took, fail after ``timeout``.

    Used only to observe an outcome (a socket state in /proc), never to wait
    for the server to be ready: that is what the startup line is for.
    """
    start = time.monotonic()
    while not check():
        elapsed = time.monotonic() - start
        assert elapsed < timeout, f"not within {timeout} s: {condition}"
        time.sleep(interval)  # allowed: polls an outcome in /proc, never readiness
    return time.monotonic() - start
