"""A table of raw malicious requests against the real server.

Each row is the exact bytes sent, the statuses allowed, and whether the
server must close the connection afterwards:

* ``CLOSE``: the framing cannot be trusted (smuggling shapes, broken line
  ends, garbage).  After the answer the server must close, and must never
  answer anything that was smuggled behind the first request.
* ``KEEP``: the request is well framed but refused (a traversal is a 400 on
  the target, not on the framing).  The same connection must then still
  serve a normal request, proving nothing was left half-read.

Every row also checks that no file outside the root leaks and that nothing
was injected into the response head; after every row, and after the whole
table replayed at once, a normal request is still served.  The table runs
over plain HTTP and over TLS (the same bytes inside the TLS session).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

import staticsrv
from staticsrv.config import Config, Timeouts
from tests.client import Addr, Closed, Conn, Received

pytestmark = pytest.mark.load

TIMEOUT = 5.0
HELLO = b"hello world\n"
SECRET = b"TOP SECRET outside the root\n"
RANGES_SIZE = 100_000
RANGES_BODY = bytes(range(256)) * (RANGES_SIZE // 256) + bytes(RANGES_SIZE % 256)
CLOSE = True
KEEP = False
SMUGGLED = b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"


@dataclasses.dataclass
class AttackSite:
    addr: Addr  # says whether to speak TLS (see tests.client.connect)
    server: staticsrv.Server
    log: list[str]


@pytest.fixture(scope="module", params=["http", "https"])
def server(
    tmp_path_factory: pytest.TempPathFactory,
    client_tls: ssl.SSLContext,
    request: pytest.FixtureRequest,
) -> Iterator[AttackSite]:
    https = request.param == "https"
    base = tmp_path_factory.mktemp("attacks")
    (base / "secret.txt").write_bytes(SECRET)  # next to the root, never served
    root = base / "site"
    root.mkdir()
    (root / "hello.txt").write_bytes(HELLO)
    (root / "ranges.bin").write_bytes(RANGES_BODY)
    for name in ("evil.com", "\\evil.com", "sub"):
        (root / name).mkdir()
    (root / "sub" / "a.txt").write_bytes(b"a\n")
    config = Config(
        root=os.path.realpath(root),
        port=0,
        timeouts=Timeouts(head=5.0, keepalive=5.0, send=5.0),
        https=https,
    )
    log: list[str] = []
    # Leaving serve() raises if the server's loop died.
    with staticsrv.serve(config=config, access_log=log.append) as running:
        addr = Addr("127.0.0.1", running.port, client_tls if https else None)
        yield AttackSite(addr, running, log)


def _recv_answer(conn: Conn) -> Received | None:
    """One framed answer (None if the server closed before a whole head)."""
    try:
        answer = conn.read_response()
    except Closed as exc:
        assert not exc.in_body, str(exc)
        return None
    except ConnectionResetError:
        return None
    assert "content-length" in answer.fields, answer.raw_head
    return answer


def _send_in_background(sock: socket.socket, data: bytes) -> threading.Thread:
    """Send while the main thread reads: a server that answers and closes
    before reading 1 MiB of garbage must not deadlock the test."""

    def send() -> None:
        # The server may close early: its answer is what counts.
        with contextlib.suppress(OSError):
            sock.sendall(data)

    if isinstance(sock, ssl.SSLSocket):
        # One TLS session must never be used by two threads at once
        # (OpenSSL): these requests (under 64 KiB) fit in the socket buffers
        # and the server's lingering close, so they go out whole first.
        send()
        thread = threading.Thread(target=lambda: None, daemon=True)
    else:
        thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def _normal_request(conn: Conn) -> Received | None:
    conn.send(b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
    return _recv_answer(conn)


def _head(target: bytes, *fields: bytes, method: bytes = b"GET") -> bytes:
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: localhost", *fields]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _ranges(spec: str) -> bytes:
    return _head(b"/ranges.bin", b"Range: bytes=" + spec.encode("ascii"))


TINY_OVERLAPPING = ",".join(["0-0"] * 2000)
TINY_SUFFIXES = ",".join(["-1"] * 2000)
# As many disjoint one-byte ranges as fit in the 16 KiB head limit.
TINY_DISJOINT = ",".join(f"{2 * i}-{2 * i}" for i in range(1500))

# (id, request bytes, allowed statuses, CLOSE or KEEP or None for either)
TABLE: list[tuple[str, bytes, frozenset[int], bool | None]] = [
    # ------------------------------------------------------------ traversal
    ("dotdot", _head(b"/../secret.txt"), frozenset({400}), KEEP),
    ("dotdot-deep", _head(b"/sub/../../secret.txt"), frozenset({400}), KEEP),
    ("pct-2e2e", _head(b"/%2e%2e/secret.txt"), frozenset({400}), KEEP),
    ("pct-2E2E-2f", _head(b"/%2E%2E%2fsecret.txt"), frozenset({400}), KEEP),
    ("dotdot-pct-2f", _head(b"/..%2fsecret.txt"), frozenset({400}), KEEP),
    ("dotdot-pct-5c", _head(b"/..%5csecret.txt"), frozenset({400}), KEEP),
    ("dot-pct-2e", _head(b"/.%2e/secret.txt"), frozenset({400}), KEEP),
    # Decoded once: "%2e%2e" is a literal (missing) name, never "..".
    ("double-encoded", _head(b"/%252e%252e/secret.txt"), frozenset({404}), KEEP),
    ("overlong-utf8-pct", _head(b"/%c0%ae%c0%ae/secret.txt"), frozenset({400}), KEEP),
    ("overlong-utf8-raw", _head(b"/\xc0\xae\xc0\xae/secret.txt"), frozenset({400}), KEEP),
    ("backslash-dotdot", _head(b"/\\..\\secret.txt"), frozenset({400}), KEEP),
    ("sub-backslash-dotdot", _head(b"/sub\\..\\..\\secret.txt"), frozenset({400}), KEEP),
    # ------------------------------------------------------------ smuggling
    # Each is followed by a complete request: a server that honoured the
    # wrong framing would answer it, and CLOSE asserts that nothing follows.
    (
        "cl-te",
        _head(b"/hello.txt", b"Content-Length: 5", b"Transfer-Encoding: chunked")
        + b"0\r\n\r\n"
        + SMUGGLED,
        frozenset({400}),
        CLOSE,
    ),
    (
        "te-cl",
        _head(b"/hello.txt", b"Transfer-Encoding: chunked", b"Content-Length: 5")
        + b"0\r\n\r\n"
        + SMUGGLED,
        frozenset({400}),
        CLOSE,
    ),
    (
        "duplicate-differing-cl",
        _head(b"/hello.txt", b"Content-Length: 0", b"Content-Length: 37") + SMUGGLED,
        frozenset({400}),
        CLOSE,
    ),
    (
        "cl-list-differing",
        _head(b"/hello.txt", b"Content-Length: 0, 37") + SMUGGLED,
        frozenset({400}),
        CLOSE,
    ),
    (
        "te-xchunked",
        _head(b"/hello.txt", b"Transfer-Encoding: xchunked") + SMUGGLED,
        frozenset({400, 501}),
        CLOSE,
    ),
    (
        "te-chunked-identity",
        _head(b"/hello.txt", b"Transfer-Encoding: chunked, identity") + SMUGGLED,
        frozenset({400, 501}),
        CLOSE,
    ),
    (
        "te-identity-chunked",
        _head(b"/hello.txt", b"Transfer-Encoding: identity, chunked") + SMUGGLED,
        frozenset({400, 501}),
        CLOSE,
    ),
    (
        "te-space-before-colon",
        _head(b"/hello.txt", b"Transfer-Encoding : chunked") + SMUGGLED,
        frozenset({400}),
        CLOSE,
    ),
    (
        "te-http10",
        b"GET /hello.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED,
        frozenset({400}),
        CLOSE,
    ),
    # A lenient reader of "+5" would drop the 5 bytes "GET /" as the body and
    # then answer the smuggled request behind them.
    (
        "cl-plus",
        _head(b"/hello.txt", b"Content-Length: +5") + b"GET /" + SMUGGLED,
        frozenset({400}),
        CLOSE,
    ),
    (
        "cl-negative",
        _head(b"/hello.txt", b"Content-Length: -1") + SMUGGLED,
        frozenset({400}),
        CLOSE,
    ),
    (
        "cl-huge",
        _head(b"/hello.txt", b"Content-Length: 99999999999999999999999") + SMUGGLED,
        frozenset({400}),
        CLOSE,
    ),
    # ------------------------------------------------------------ line ends and bytes
    ("obs-fold", _head(b"/hello.txt", b"X-A: a", b" folded: b"), frozenset({400}), CLOSE),
    ("obs-fold-tab", _head(b"/hello.txt", b"X-A: a", b"\tb"), frozenset({400}), CLOSE),
    ("bare-lf", b"GET /hello.txt HTTP/1.1\nHost: localhost\n\n", frozenset({400}), CLOSE),
    ("bare-lf-mixed", b"GET /hello.txt HTTP/1.1\r\nHost: localhost\n\r\n", frozenset({400}), CLOSE),
    ("bare-cr", _head(b"/hello.txt", b"X-A: a\rX-B: b"), frozenset({400}), CLOSE),
    (
        "bare-cr-request-line",
        b"GET /hello.txt\rHTTP/1.1\r\nHost: localhost\r\n\r\n",
        frozenset({400}),
        CLOSE,
    ),
    ("nul-in-target", _head(b"/hello.txt\x00.html"), frozenset({400}), CLOSE),
    ("nul-pct-in-target", _head(b"/hello.txt%00.html"), frozenset({400}), KEEP),
    ("nul-in-header", _head(b"/hello.txt", b"X-A: a\x00b"), frozenset({400}), CLOSE),
    ("nul-in-header-name", _head(b"/hello.txt", b"X\x00A: b"), frozenset({400}), CLOSE),
    # ------------------------------------------------------------ targets and redirects
    # RFC 9112 §3.2.2: absolute-form is accepted, the path is served from our root.
    (
        "absolute-form",
        b"GET http://localhost/hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n",
        frozenset({200}),
        KEEP,
    ),
    # Its authority replaces Host, so the DNS-rebinding check applies to it.
    (
        "absolute-form-foreign-host",
        b"GET http://evil.com/hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n",
        frozenset({403}),
        KEEP,
    ),
    (
        "absolute-form-traversal",
        b"GET http://127.0.0.1/../secret.txt HTTP/1.1\r\nHost: localhost\r\n\r\n",
        frozenset({400}),
        KEEP,
    ),
    ("dns-rebinding", b"GET /hello.txt HTTP/1.1\r\nHost: evil.com\r\n\r\n", frozenset({403}), KEEP),
    ("fragment-in-target", _head(b"/index.html#/../.env"), frozenset({400}), KEEP),
    ("protocol-relative", _head(b"//evil.com"), frozenset({301}), KEEP),
    ("protocol-relative-triple", _head(b"///evil.com"), frozenset({301}), KEEP),
    ("protocol-relative-query", _head(b"//evil.com?next=//x"), frozenset({301}), KEEP),
    ("slash-backslash", _head(b"/\\evil.com"), frozenset({301}), KEEP),
    ("slash-pct-5c", _head(b"/%5cevil.com"), frozenset({301}), KEEP),
    ("pct-2f-2f", _head(b"/%2f%2fevil.com"), frozenset({301}), KEEP),
    ("pct-2F-slash", _head(b"/%2F/evil.com"), frozenset({301}), KEEP),
    ("crlf-injection-path", _head(b"/hello.txt%0d%0aSet-Cookie:x"), frozenset({400}), KEEP),
    ("crlf-injection-dir", _head(b"/sub%0d%0aSet-Cookie:x"), frozenset({400}), KEEP),
    ("crlf-injection-query", _head(b"/sub?%0d%0aSet-Cookie:x"), frozenset({301}), KEEP),
    ("lf-injection-path", _head(b"/sub%0aSet-Cookie:x"), frozenset({400}), KEEP),
    # ------------------------------------------------------------ ranges
    ("huge-range", _ranges("0-99999999999999999999"), frozenset({206}), KEEP),
    ("huge-first-pos", _ranges("99999999999999999999-"), frozenset({416}), KEEP),
    ("negative-range", _ranges("-5-3"), frozenset({200}), KEEP),
    ("reversed-range", _ranges("5-1"), frozenset({200}), KEEP),
    ("2000-overlapping-ranges", _ranges(TINY_OVERLAPPING), frozenset({200, 206, 416}), KEEP),
    ("2000-suffix-ranges", _ranges(TINY_SUFFIXES), frozenset({200, 206, 416}), KEEP),
    ("1500-disjoint-ranges", _ranges(TINY_DISJOINT), frozenset({200, 206, 416}), KEEP),
    # ------------------------------------------------------------ versions and methods
    ("http-0.9", b"GET /hello.txt\r\n", frozenset({400}), CLOSE),
    ("http2-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", frozenset({505}), CLOSE),
    (
        "http-1.2-served-as-1.1",
        _head(b"/hello.txt").replace(b"HTTP/1.1", b"HTTP/1.2", 1),
        frozenset({200}),
        KEEP,
    ),
    (
        "lowercase-version",
        _head(b"/hello.txt").replace(b"HTTP/1.1", b"http/1.1", 1),
        frozenset({400}),
        CLOSE,
    ),
    # RFC 9110 §9.1: methods are case-sensitive, "get" is not GET: 405 (not
    # allowed here, with Allow) or 501 (not recognised), never the file.
    ("lowercase-get", _head(b"/hello.txt", method=b"get"), frozenset({405, 501}), KEEP),
    ("long-method", _head(b"/hello.txt", method=b"G" * 5000), frozenset({405, 501}), KEEP),
    (
        "overlong-method",
        _head(b"/hello.txt", method=b"G" * 10_000),
        frozenset({400, 414, 501}),
        CLOSE,
    ),
    ("method-with-slash", _head(b"/hello.txt", method=b"GE/T"), frozenset({400}), CLOSE),
    ("garbage-1MiB-lines", bytes(range(256)) * 4096, frozenset({400, 414, 431}), CLOSE),
    ("garbage-1MiB-no-newline", b"\xff\xfe" * (512 * 1024), frozenset({400, 414, 431}), CLOSE),
    (
        "headers-1MiB",
        b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n" + b"X: y\r\n" * 174_763,
        frozenset({431}),
        CLOSE,
    ),
]


def _check_answer(data: bytes, answer: Received) -> None:
    """What every answer must satisfy, whatever its status."""
    assert SECRET not in answer.body, "a file outside the root leaked"
    assert "set-cookie" not in answer.fields, "a header was injected"
    for values in answer.fields.values():
        for value in values:
            assert "\r" not in value and "\n" not in value
    location = answer.fields.get("location")
    if location is not None:
        assert len(location) == 1
        assert location[0].startswith("/"), location
        assert not location[0].startswith(("//", "/\\")), f"open redirect: {location}"
        # Only ever our own folders, with the slash added (RFC 9110 §15.4.2).
        path = location[0].split("?", 1)[0]
        assert path in ("/evil.com/", "/%5Cevil.com/", "/sub/"), location
    if answer.status == 405:
        assert answer.fields.get("allow") == ["GET, HEAD, OPTIONS"]
    if answer.status >= 400:
        assert answer.body != HELLO, "an error status with the file as body"
    if b"/ranges.bin" in data:
        content_length = int(answer.fields["content-length"][0])
        assert content_length == len(answer.body)
        if answer.status == 200:
            assert answer.body == RANGES_BODY
        elif answer.status == 206:
            # Not amplified: a few part heads on top of at most the file itself.
            assert len(answer.body) <= RANGES_SIZE + 4096, len(answer.body)


@pytest.mark.parametrize(
    ("name", "data", "statuses", "close"),
    [pytest.param(*row, id=row[0]) for row in TABLE],
)
def test_attack(
    server: AttackSite, name: str, data: bytes, statuses: frozenset[int], close: bool | None
) -> None:
    with Conn(server.addr, timeout=TIMEOUT) as conn:
        sender = _send_in_background(conn.sock, data)
        answer = _recv_answer(conn)
        assert answer is not None, "the server closed without answering"
        assert answer.status in statuses, f"{name}: {answer.status_line}"
        _check_answer(data, answer)
        if answer.status == 200 and b"/hello.txt" in data:
            assert answer.body == HELLO
        sender.join(TIMEOUT)
        if close is CLOSE:
            assert "close" in answer.fields.get("connection", [""])[0]
            closed, extra = conn.wait_close()
            assert closed, "the server kept a connection whose framing is broken"
            assert extra == b"", f"answered something smuggled: {extra[:80]!r}"
        elif close is KEEP:
            # The very same connection serves a normal request afterwards.
            follow = _normal_request(conn)
            assert follow is not None, "the server closed a connection it should keep"
            assert (follow.status, follow.body) == (200, HELLO)
    # And the server as a whole is fine.
    with Conn(server.addr, timeout=TIMEOUT) as conn:
        after = _normal_request(conn)
        assert after is not None and (after.status, after.body) == (200, HELLO)


def test_whole_table_at_once_then_normal_request(server: AttackSite) -> None:
    """Every attack on its own connection, all in flight together."""

    def one(data: bytes) -> int | None:
        with Conn(server.addr, timeout=TIMEOUT) as conn:
            sender = _send_in_background(conn.sock, data)
            answer = _recv_answer(conn)
            sender.join(TIMEOUT)
            return None if answer is None else answer.status

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(one, [row[1] for row in TABLE]))
    for (name, _, allowed, _), status in zip(TABLE, statuses, strict=True):
        assert status in allowed, f"{name}: {status}"
    with Conn(server.addr, timeout=TIMEOUT) as conn:
        for _ in range(3):
            answer = _normal_request(conn)
            assert answer is not None and (answer.status, answer.body) == (200, HELLO)
    assert server.server.running
    assert not any("Traceback" in line for line in server.log)
