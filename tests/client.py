"""The one raw-socket HTTP/1.1 client of the test suite (end-to-end, attack and load tests).

Clients such as http.client or curl normalise targets (``..``, ``//``), so
attacks must go out as raw bytes; this reads the answers back strictly by
their framing (Content-Length, or chunked for streams), which also proves the server's framing.
The receive buffer is a ``bytearray`` so that megabytes of body cost linear
time under load.  Every answer is checked on the way in: an HTTP/1.1
status line, well-formed field lines, no repeated field but Vary, and a
Content-Length wherever a body may follow.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass, field

TIMEOUT = 10.0
RECV = 1 << 18
# The only fields the server may send twice: Vary, and Set-Cookie, which
# cannot be combined into one line (RFC 9110 §5.3; a _headers rule sets it).
REPEATABLE = frozenset({"vary", "set-cookie"})


class Addr(tuple[str, int]):
    """A server's address; with ``tls`` set, every client here speaks TLS to it.

    A tuple still (``socket.create_connection`` takes it as is), so the
    same tests run over plain TCP and over TLS.
    """

    tls: ssl.SSLContext | None
    h2: ssl.SSLContext | None  # set: get() speaks HTTP/2 (tests/h2client.py) with it

    def __new__(
        cls,
        host: str,
        port: int,
        tls: ssl.SSLContext | None = None,
        h2: ssl.SSLContext | None = None,
    ) -> Addr:
        self = super().__new__(cls, (host, port))
        self.tls = tls
        self.h2 = h2
        return self


@dataclass
class Received:
    """One answer as it came over the wire (named apart from staticsrv.http.responses.Response)."""

    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case name -> value
    body: bytes = b""
    raw_head: bytes = b""
    fields: dict[str, list[str]] = field(default_factory=dict)  # every value, in order

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def all_headers(self, name: str) -> list[str]:
        """Every value sent for ``name`` (an empty list when absent)."""
        return self.fields.get(name.lower(), [])

    @property
    def status_line(self) -> str:
        return self.raw_head.split(b"\r\n", 1)[0].decode("latin-1")


class Closed(ConnectionError):
    """The server closed the connection before a complete answer."""

    def __init__(self, message: str, received: bytes, *, in_body: bool = False) -> None:
        super().__init__(message)
        self.received = received
        self.in_body = in_body  # the head had arrived whole, the body had not


def parse_head(head: bytes) -> Received:
    """A head without its final CRLF CRLF, checked strictly; body left empty."""
    lines = head.decode("latin-1").split("\r\n")
    version, status, *reason = lines[0].split(" ", 2)
    assert version == "HTTP/1.1", lines[0]
    headers: dict[str, str] = {}
    fields: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        assert colon, f"malformed header line {line!r}"
        key = name.strip().lower()
        assert key not in headers or key in REPEATABLE, f"duplicate header {key}"
        headers[key] = value.strip()
        fields.setdefault(key, []).append(value.strip())
    return Received(int(status), reason[0] if reason else "", headers, b"", head, fields)


def connect(
    addr: tuple[str, int], *, timeout: float = TIMEOUT, rcvbuf: int | None = None
) -> socket.socket:
    """A connection to ``addr``: TLS (verifying name and CA, handshake done) when it is
    an :class:`Addr` with a context; every raw socket of the e2e tests comes from here."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf is not None:
            # Set before connect so the advertised window stays small.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(timeout)
        sock.connect(addr)
        tls = getattr(addr, "tls", None)
        if tls is not None:
            wrapped: socket.socket = tls.wrap_socket(sock, server_hostname=addr[0])
            return wrapped
    except BaseException:
        sock.close()
        raise
    return sock


class Conn:
    """One connection: send raw bytes, read framed answers, or read to the close."""

    def __init__(
        self, addr: tuple[str, int], *, timeout: float = TIMEOUT, rcvbuf: int | None = None
    ) -> None:
        self.sock = connect(addr, timeout=timeout, rcvbuf=rcvbuf)
        self.buf = bytearray()

    def __enter__(self) -> Conn:
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

    def read_head(self) -> Received:
        """The next head (its body, if any, stays in ``buf``)."""
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if not self._fill():
                received = bytes(self.buf)
                raise Closed(f"closed before a complete head: {received[:200]!r}", received)
        head = bytes(self.buf[:end])
        del self.buf[: end + 4]
        return parse_head(head)

    def _need(self, n: int, what: str) -> None:
        while len(self.buf) < n:
            if not self._fill():
                raise Closed(f"closed in {what}", bytes(self.buf), in_body=True)

    def read_until(self, marker: bytes) -> None:
        """Receive until ``marker`` is in ``buf`` (which keeps everything received)."""
        while marker not in self.buf:
            if not self._fill():
                raise Closed(f"closed before {marker!r}", bytes(self.buf))

    def _read_chunked(self) -> bytes:
        """A chunked body (RFC 9112 §7.1), checked strictly: hex sizes, CRLFs, no trailers."""
        body = bytearray()
        while True:
            while (end := self.buf.find(b"\r\n")) < 0:
                self._need(len(self.buf) + 1, "a chunk size line")
            line = bytes(self.buf[:end])
            del self.buf[: end + 2]
            assert line and all(c in b"0123456789abcdefABCDEF" for c in line), line
            size = int(line, 16)
            self._need(size + 2, "a chunk")
            assert self.buf[size : size + 2] == b"\r\n", "chunk not followed by CRLF"
            body += self.buf[:size]
            del self.buf[: size + 2]
            if size == 0:
                return bytes(body)

    def read_response(self, head_request: bool = False) -> Received:
        resp = self.read_head()
        code = resp.status
        if not head_request and resp.headers.get("transfer-encoding") == "chunked":
            assert "content-length" not in resp.headers, "both framings (RFC 9112 §6.3)"
            resp.body = self._read_chunked()
            return resp
        length = 0
        if not head_request and code not in (204, 304) and code >= 200:
            assert "content-length" in resp.headers, f"no Content-Length in {resp.raw_head!r}"
            length = int(resp.headers["content-length"])
        while len(self.buf) < length:
            if not self._fill():
                raise Closed(
                    f"closed after {len(self.buf)} of {length} body bytes",
                    bytes(self.buf),
                    in_body=True,
                )
        resp.body = bytes(self.buf[:length])
        del self.buf[:length]
        return resp

    def request(
        self,
        target: str = "/",
        method: str = "GET",
        headers: dict[str, str] | None = None,
        *,
        close: bool = False,
    ) -> Received:
        self.send(build(target, method, headers, close=close))
        return self.read_response(head_request=method == "HEAD")

    def wait_close(self) -> tuple[bool, bytes]:
        """(True, bytes that came first) once the server closed (EOF or reset);
        (False, ...) if the socket timeout passed with the connection still open."""
        try:
            while self._fill():
                pass
        except (ConnectionResetError, ssl.SSLError):  # over TLS: a record cut off
            pass
        except TimeoutError:
            return False, bytes(self.buf)
        return True, bytes(self.buf)

    def closed_by_server(self) -> bool:
        """True if the server closed the connection (EOF, or reset) with nothing more to read."""
        try:
            while self._fill():
                pass
        except (ConnectionResetError, ssl.SSLError):  # over TLS: a record cut off
            return True
        except TimeoutError:
            return False
        return not self.buf

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


def build(
    target: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    *,
    close: bool = False,
    extra: str = "",
) -> bytes:
    """A request head; ``extra`` is raw field lines, each ending with CRLF."""
    lines = [f"{method} {target} HTTP/1.1", "Host: localhost"]
    if close:
        lines.append("Connection: close")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode("latin-1")


def get(
    addr: tuple[str, int],
    target: str = "/",
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> Received:
    """One request on a new connection: HTTP/2 when ``addr`` asks for it (the h2 scheme)."""
    h2 = getattr(addr, "h2", None)
    if h2 is not None:
        from tests import h2client

        return h2client.get(addr, h2, target, method, headers)
    with Conn(addr) as conn:
        return conn.request(target, method, headers)


def fetch(addr: tuple[str, int], target: str, *, timeout: float = TIMEOUT) -> Received:
    """One request on a fresh connection with ``Connection: close``; checks the close."""
    with Conn(addr, timeout=timeout) as conn:
        resp = conn.request(target, close=True)
        assert resp.headers.get("connection") == "close", resp.headers
        rest, how = conn.read_to_eof(timeout)
        assert (rest, how) == (b"", "eof"), f"after the answer: {rest[:100]!r} then {how}"
        return resp


def raw(addr: tuple[str, int], data: bytes) -> tuple[Received | None, bool]:
    """Send raw bytes; return the first response (if any) and whether the server then closed."""
    with Conn(addr) as conn:
        conn.send(data)
        try:
            resp = conn.read_response()
        except ConnectionError:
            return None, True
        return resp, conn.closed_by_server()


def client_hello() -> bytes:
    """The bytes of a real TLS ClientHello, as a browser's first flight."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:  # waits for the server's answer: the hello is out
        return outgoing.read()
    raise AssertionError("a TLS handshake completed without a server")
