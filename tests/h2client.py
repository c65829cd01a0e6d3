"""The test suite's HTTP/2 client: the h2 library over a TLS socket (ALPN h2).

Answers come back as the same :class:`~tests.client.Received` the HTTP/1.1
client gives, checked on the way in: a ``:status``, lower-case names, no
connection-specific field (RFC 9113 §8.2.2), no repeated field but Vary,
and a body exactly as long as its Content-Length.  ``raw_head`` holds an
HTTP/1.1-looking rendering (``HTTP/2 200`` first) for tests that search it.
"""

from __future__ import annotations

import socket
import ssl

import h2.config
import h2.connection
import h2.events
import h2.exceptions

from tests.client import REPEATABLE, TIMEOUT, Closed, Received

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}
)


def h2_context(base: ssl.SSLContext) -> ssl.SSLContext:
    """A client context like ``base`` (same trust) that offers only h2."""
    ctx = ssl.create_default_context()
    ctx.load_verify_locations(cadata=_ca_pem(base))
    ctx.set_alpn_protocols(["h2"])
    return ctx


def _ca_pem(base: ssl.SSLContext) -> str:
    return "".join(ssl.DER_cert_to_PEM_cert(der) for der in base.get_ca_certs(binary_form=True))


class H2Conn:
    """One HTTP/2 connection; requests one at a time or several in flight."""

    def __init__(
        self,
        addr: tuple[str, int],
        tls: ssl.SSLContext,
        *,
        timeout: float = TIMEOUT,
        rcvbuf: int | None = None,
    ) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if rcvbuf is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as browsers do
            sock.settimeout(timeout)
            sock.connect(addr)
            self.sock = tls.wrap_socket(sock, server_hostname=addr[0])
        except BaseException:
            sock.close()
            raise
        assert self.sock.selected_alpn_protocol() == "h2"
        config = h2.config.H2Configuration(
            client_side=True, header_encoding=None, validate_outbound_headers=False
        )
        self.h2 = h2.connection.H2Connection(config=config)
        self.h2.initiate_connection()
        self.flush()
        self.heads: dict[int, list[tuple[bytes, bytes]]] = {}
        self.bodies: dict[int, bytearray] = {}
        self.ended: set[int] = set()
        self.reset: dict[int, int] = {}
        self.informational: dict[int, list[bytes]] = {}  # the 1xx statuses per stream
        self.goaway: h2.events.ConnectionTerminated | None = None
        self.ack = True  # acknowledge received data (False: the windows stay shut)

    def __enter__(self) -> H2Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def start(
        self, target: str = "/", method: str = "GET", headers: dict[str, str] | None = None
    ) -> int:
        """Send a request's HEADERS; its stream id."""
        fields = {k.lower(): v for k, v in (headers or {}).items()}
        authority = fields.pop("host", "localhost")
        head = [
            (b":method", method.encode("latin-1")),
            (b":scheme", b"https"),
            (b":authority", authority.encode("latin-1")),
            (b":path", target.encode("latin-1")),
        ]
        head += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in fields.items()]
        stream_id: int = self.h2.get_next_available_stream_id()
        self.h2.send_headers(stream_id, head, end_stream=True)
        self.flush()
        return stream_id

    def pump(self) -> bool:
        """Read once and act on it; False at the end of the connection."""
        try:
            data = self.sock.recv(1 << 18)
        except (ConnectionResetError, ssl.SSLError):
            data = b""
        if not data:
            return False
        for event in self.h2.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                self.heads[event.stream_id] = list(event.headers or [])
            elif isinstance(event, h2.events.InformationalResponseReceived):
                self.informational.setdefault(event.stream_id, []).append(
                    dict(event.headers or [])[b":status"]
                )
            elif isinstance(event, h2.events.DataReceived):
                self.bodies.setdefault(event.stream_id, bytearray()).extend(event.data or b"")
                if self.ack:
                    length = event.flow_controlled_length
                    self.h2.acknowledge_received_data(length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self.ended.add(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                self.reset[event.stream_id] = event.error_code
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.goaway = event
        self.flush()
        return True

    def response(self, stream_id: int, head_request: bool = False) -> Received:
        """Wait for the whole answer on ``stream_id``."""
        while stream_id not in self.ended:
            if stream_id in self.reset:
                raise Closed(f"stream reset ({self.reset[stream_id]})", b"", in_body=True)
            if self.goaway is not None and stream_id > (self.goaway.last_stream_id or 0):
                raise Closed("GOAWAY before the answer", b"")
            if not self.pump():
                raise Closed("connection closed before the answer", b"")
        return _received(
            self.heads[stream_id], bytes(self.bodies.pop(stream_id, b"")), head_request
        )

    def request(
        self, target: str = "/", method: str = "GET", headers: dict[str, str] | None = None
    ) -> Received:
        return self.response(self.start(target, method, headers), method == "HEAD")


def _received(head: list[tuple[bytes, bytes]], body: bytes, head_request: bool) -> Received:
    status = 0
    headers: dict[str, str] = {}
    fields: dict[str, list[str]] = {}
    lines = []
    for raw_name, raw_value in head:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        if name == ":status":
            status = int(value)
            continue
        assert name == name.lower(), f"upper-case field name {name!r}"
        assert name not in HOP_BY_HOP, f"connection-specific field {name} over HTTP/2"
        assert name not in headers or name in REPEATABLE, f"duplicate header {name}"
        headers[name] = value
        fields.setdefault(name, []).append(value)
        lines.append(f"{name}: {value}")
    assert status, "no :status"
    length = headers.get("content-length")
    if length is not None and not head_request and status not in (204, 304):
        assert int(length) == len(body), f"Content-Length {length}, body {len(body)}"
    raw_head = "\r\n".join([f"HTTP/2 {status}", *lines]).encode("latin-1")
    return Received(status, "", headers, body, raw_head, fields)


def get(
    addr: tuple[str, int],
    tls: ssl.SSLContext,
    target: str = "/",
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> Received:
    with H2Conn(addr, tls) as conn:
        return conn.request(target, method, headers)
