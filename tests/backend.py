"""A small upstream for the proxy tests: asyncio streams in a thread of its own.

Its routes answer what the proxy must pass on (JSON, echoes of what came
up, chunked and streamed bodies, an event stream, redirects and cookies)
and what it must refuse (answers cut short, framed two ways, heads too
large, nothing at all).  It parses only what the tests send.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

BIG = 100 * 1024 * 1024
JSON_1K = json.dumps({"items": [{"id": i, "name": f"item {i:04d}"} for i in range(33)]}).encode()[
    :1024
]


@dataclass
class Backend:
    port: int
    loop: asyncio.AbstractEventLoop
    requests: list[dict[str, object]] = field(default_factory=list)
    connections: int = 0
    closed: int = 0  # connections ended (by either side)
    release: asyncio.Event | None = None  # set to let /slow and /sse go on

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str]] | None:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = raw.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return method, target, headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> tuple[int, str]:
    """(length, sha256) of the body, read as it comes (never held whole)."""
    digest = hashlib.sha256()
    total = 0
    if headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            data = await reader.readexactly(size)
            digest.update(data)
            total += size
            await reader.readexactly(2)
    else:
        left = int(headers.get("content-length", "0"))
        while left:
            data = await reader.read(min(left, 65536))
            if not data:
                raise ConnectionError
            digest.update(data)
            total += len(data)
            left -= len(data)
    return total, digest.hexdigest()


def _answer(status: int, body: bytes, *fields: str, ctype: str = "application/json") -> bytes:
    head = [f"HTTP/1.1 {status} X", f"Content-Type: {ctype}", f"Content-Length: {len(body)}"]
    head.extend(fields)
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


async def _serve(b: Backend, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    b.connections += 1
    try:
        while True:
            got = await _read_head(reader)
            if got is None:
                return
            method, target, headers = got
            path = target.partition("?")[0]
            if headers.get("expect"):
                writer.write(b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n")
                return
            if path.endswith("/stall"):  # reads no body until the test lets it
                assert b.release is not None
                await b.release.wait()
            length, sha = await _read_body(reader, headers)
            seen = {
                "method": method,
                "target": target,
                "headers": headers,
                "length": length,
                "sha256": sha,
            }
            b.requests.append(seen)
            if not await _route(b, method, path, headers, seen, writer):
                return
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        b.closed += 1
        writer.close()


async def _route(
    b: Backend,
    method: str,
    path: str,
    headers: dict[str, str],
    seen: dict[str, object],
    writer: asyncio.StreamWriter,
) -> bool:
    """Write the answer for ``path``; False to close the connection afterwards."""
    w = writer.write
    if path.endswith("/json"):
        answer = _answer(200, JSON_1K)
        w(answer[: -len(JSON_1K)] if method == "HEAD" else answer)
    elif path.endswith("/chunked"):
        w(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n")
        for part in (b"one ", b"two ", b"three"):
            w(b"%x\r\n%s\r\n" % (len(part), part))
        w(b"0\r\n\r\n")
    elif path.endswith("/sse"):
        w(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        event = b"data: first\n\n"
        w(b"%x\r\n%s\r\n" % (len(event), event))
        await writer.drain()
        assert b.release is not None
        await b.release.wait()  # the test has read the first event through the proxy
        event = b"data: second\n\n"
        w(b"%x\r\n%s\r\n0\r\n\r\n" % (len(event), event))
    elif path.endswith("/slow"):
        assert b.release is not None
        await b.release.wait()
        w(_answer(200, b"late"))
    elif path.endswith("/cut"):
        w(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 100)
        await writer.drain()
        return False
    elif path.endswith("/smuggle"):
        w(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbad"
        )
        return False
    elif path.endswith("/badchunk"):
        w(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n")
        return False
    elif path.endswith("/fold"):
        w(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n")
        return False
    elif path.endswith("/bighead"):
        w(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70000 + b"\r\nContent-Length: 0\r\n\r\n")
        return False
    elif path.endswith("/redirect"):
        w(
            _answer(
                302,
                b"",
                f"Location: {b.origin}/v1/login?next=1",
                "Content-Location: /relative",
                f"Refresh: 0; url={b.origin}/v1/done",
            )
        )
    elif path.endswith("/cookie"):
        w(
            _answer(
                200,
                b"{}",
                "Set-Cookie: sid=abc; Domain=backend.test; Path=/; Secure; HttpOnly; SameSite=None",
                "Set-Cookie: theme=dark; Max-Age=60",
            )
        )
    elif path.endswith("/hop"):
        w(
            _answer(
                200,
                b"{}",
                "Connection: X-Private",
                "X-Private: secret",
                "Keep-Alive: 5",
                "X-Kept: yes",
            )
        )
    elif path.endswith("/big"):  # BIG bytes, written as fast as the proxy takes them
        w(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n")
        w(b"Content-Length: %d\r\n\r\n" % BIG)
        piece = b"\x5a" * 65536
        for _ in range(BIG // len(piece)):
            w(piece)
            await writer.drain()
    elif path.endswith("/dribble"):  # a chunked body written a byte at a time
        w(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for byte in b"5;x=y\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nT: 1\r\n\r\n":
            w(bytes([byte]))
            await writer.drain()
    elif path.endswith("/page"):
        page = b"<!doctype html><html><head><title>app</title></head><body>%s</body></html>" % (
            b"<p>server-rendered</p>" * 20
        )
        w(_answer(200, page, 'ETag: "up"', ctype="text/html; charset=utf-8"))
    elif path.endswith("/close"):
        w(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
        await writer.drain()
        return False
    else:  # echo what came up
        body = json.dumps(seen).encode()
        w(_answer(200, b"" if method == "HEAD" else body))
    return True


@contextmanager
def backend() -> Iterator[Backend]:
    """A backend on 127.0.0.1, port 0, in a thread; stopped on exit."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def main() -> None:
        b = Backend(0, loop)
        b.release = asyncio.Event()
        server = await asyncio.start_server(lambda r, w: _serve(b, r, w), "127.0.0.1", 0)
        b.port = server.sockets[0].getsockname()[1]
        holder["b"], holder["server"] = b, server
        ready.set()
        async with server:
            await server.serve_forever()

    thread = threading.Thread(target=lambda: loop.run_until_complete(_guard(main())), daemon=True)
    thread.start()
    ready.wait()
    b = holder["b"]
    assert isinstance(b, Backend)
    try:
        yield b
    finally:
        loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(loop)])
        thread.join(5)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _guard(coro: object) -> None:
    import contextlib

    with contextlib.suppress(asyncio.CancelledError):
        await coro  # type: ignore[misc]


def release(b: Backend) -> None:
    """Let the held routes (/slow, /sse) go on."""
    assert b.release is not None
    b.loop.call_soon_threadsafe(b.release.set)
