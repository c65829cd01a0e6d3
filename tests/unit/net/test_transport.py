"""The transport seam on a real socket pair: every sendfile tier and fallback, forced by Features.

Each platform gap is a :class:`Features` value (no native loop sendfile as
on uvloop, no ``os.sendfile``, no ``add_writer`` as on Windows' proactor
loop, no view of the kernel's send queue off Linux), so each fallback runs
here on Linux.  The peer drains in a thread while the transport sends, so
sends much larger than the socket buffers complete; results are compared
byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from staticsrv.net import sendfile as sendfile_mod
from staticsrv.net.sendfile import SENDFILE_STEP
from staticsrv.net.transport import Features, Transport

SIZE = 3 * 1024 * 1024 + 17  # far beyond any socket buffer
DATA = os.urandom(SIZE)

TIERS = {
    "loop sendfile": Features(loop_sendfile=True, os_sendfile=True),
    "os.sendfile only": Features(loop_sendfile=False, os_sendfile=True),
    "pread only": Features(loop_sendfile=False, os_sendfile=False),
    "proactor-like": Features(add_writer=False),
    "no send queue": Features(send_queue=False),
}


@dataclass
class Drain:
    """The peer: reads everything until the transport closes, in a thread."""

    sock: socket.socket
    got: bytearray = field(default_factory=bytearray)
    thread: threading.Thread | None = None

    def start(self) -> Drain:
        self.sock.settimeout(10)

        def run() -> None:
            while chunk := self.sock.recv(1 << 18):
                self.got += chunk

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        return self

    async def result(self) -> bytes:
        assert self.thread is not None
        await asyncio.to_thread(self.thread.join, 10)
        assert not self.thread.is_alive(), "the peer never saw the end of the stream"
        return bytes(self.got)


@dataclass
class Pipe:
    transport: Transport
    peer: socket.socket
    progress: list[int]

    def drain(self) -> Drain:
        return Drain(self.peer).start()


@pytest.fixture
def data_fd(tmp_path: Path) -> Iterator[int]:
    path = tmp_path / "big.bin"
    path.write_bytes(DATA)
    fd = os.open(path, os.O_RDONLY)
    yield fd
    os.close(fd)


def make(sock: socket.socket, peer: socket.socket, features: Features) -> Pipe:
    calls: list[int] = []
    t = Transport(sock, features, progress=lambda: calls.append(t.sent))
    return Pipe(t, peer, calls)


Spy = list[tuple[Any, ...]]


def spy_on(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> Spy:
    calls: Spy = []
    real: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return calls


@pytest.mark.parametrize("tier", list(TIERS))
async def test_a_whole_file_arrives_byte_exact_through_each_tier(
    pair: tuple[socket.socket, socket.socket], data_fd: int, tier: str
) -> None:
    features = dataclasses.replace(TIERS[tier])  # a fresh copy: fallbacks flip it
    pipe = make(*pair, features)
    drain = pipe.drain()
    assert await pipe.transport.sendfile(data_fd, 0, SIZE) is True
    assert pipe.transport.sent == SIZE
    pipe.transport.close()
    assert await drain.result() == DATA
    assert pipe.progress, "progress was never reported"
    assert pipe.progress == sorted(pipe.progress)
    assert pipe.progress[-1] <= SIZE


@pytest.mark.parametrize("tier", list(TIERS))
async def test_a_region_arrives_byte_exact_through_each_tier(
    pair: tuple[socket.socket, socket.socket], data_fd: int, tier: str
) -> None:
    features = dataclasses.replace(TIERS[tier])  # a fresh copy: fallbacks flip it
    pipe = make(*pair, features)
    drain = pipe.drain()
    await pipe.transport.send(b"head\r\n")
    assert await pipe.transport.sendfile(data_fd, 1000, 2_000_000) is True
    await pipe.transport.send(b"tail")
    assert pipe.transport.sent == 6 + 2_000_000 + 4
    pipe.transport.close()
    assert await drain.result() == b"head\r\n" + DATA[1000:2_001_000] + b"tail"


@pytest.mark.parametrize("tier", list(TIERS))
async def test_a_file_shorter_than_promised_returns_false(
    pair: tuple[socket.socket, socket.socket], data_fd: int, tier: str
) -> None:
    features = dataclasses.replace(TIERS[tier])  # a fresh copy: fallbacks flip it
    pipe = make(*pair, features)
    drain = pipe.drain()
    start = SIZE - 1000
    assert await pipe.transport.sendfile(data_fd, start, 5000) is False
    assert pipe.transport.sent == 1000
    pipe.transport.close()
    assert await drain.result() == DATA[start:]


async def test_the_loop_tier_is_the_loops_own_sendfile(
    pair: tuple[socket.socket, socket.socket], data_fd: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    loop_calls = spy_on(monkeypatch, loop, "sock_sendfile")
    preads = spy_on(monkeypatch, os, "pread")
    pipe = make(*pair, Features())
    drain = pipe.drain()
    assert await pipe.transport.sendfile(data_fd, 0, SIZE)
    pipe.transport.close()
    assert await drain.result() == DATA
    assert len(loop_calls) == 1  # the kernel's view of the queue: one call for the file
    assert preads == []


async def test_without_a_send_queue_the_loop_tier_goes_in_steps_with_progress(
    pair: tuple[socket.socket, socket.socket], data_fd: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    loop_calls = spy_on(monkeypatch, loop, "sock_sendfile")
    pipe = make(*pair, Features(send_queue=False))
    assert pipe.transport.unacked() == -1
    drain = pipe.drain()
    assert await pipe.transport.sendfile(data_fd, 0, SIZE)
    pipe.transport.close()
    assert await drain.result() == DATA
    steps = -(-SIZE // SENDFILE_STEP)
    assert len(loop_calls) == steps
    assert len(pipe.progress) >= steps - 1  # a deadline renewed per piece


async def test_os_sendfile_only_never_asks_the_loop(
    pair: tuple[socket.socket, socket.socket], data_fd: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    loop_calls = spy_on(monkeypatch, loop, "sock_sendfile")
    sendfiles = spy_on(monkeypatch, os, "sendfile")
    preads = spy_on(monkeypatch, os, "pread")
    pipe = make(*pair, Features(loop_sendfile=False))
    drain = pipe.drain()
    assert await pipe.transport.sendfile(data_fd, 0, SIZE)
    pipe.transport.close()
    assert await drain.result() == DATA
    assert loop_calls == [] and preads == []
    assert sendfiles


@pytest.mark.parametrize(
    "features",
    [Features(loop_sendfile=False, os_sendfile=False), Features(add_writer=False)],
    ids=["pread only", "proactor-like"],
)
async def test_the_portable_tier_never_calls_sendfile(
    pair: tuple[socket.socket, socket.socket],
    data_fd: int,
    monkeypatch: pytest.MonkeyPatch,
    features: Features,
) -> None:
    loop = asyncio.get_running_loop()
    loop_calls = spy_on(monkeypatch, loop, "sock_sendfile")
    sendfiles = spy_on(monkeypatch, os, "sendfile")
    preads = spy_on(monkeypatch, os, "pread")
    pipe = make(*pair, features)
    drain = pipe.drain()
    assert await pipe.transport.sendfile(data_fd, 0, SIZE)
    pipe.transport.close()
    assert await drain.result() == DATA
    assert loop_calls == [] and sendfiles == []
    assert len(preads) >= SIZE // sendfile_mod.PREAD_SIZE


async def test_a_loop_without_native_sendfile_is_asked_once_then_os_sendfile_serves(
    pair: tuple[socket.socket, socket.socket], data_fd: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvloop has no native sock_sendfile: the first refusal switches the tier off."""
    loop = asyncio.get_running_loop()
    refused: list[int] = []

    async def no_native(*args: Any, **kwargs: Any) -> int:
        refused.append(1)
        raise NotImplementedError

    monkeypatch.setattr(loop, "sock_sendfile", no_native)
    features = Features()
    pipe = make(*pair, features)
    drain = pipe.drain()
    assert await pipe.transport.sendfile(data_fd, 0, SIZE)
    assert await pipe.transport.sendfile(data_fd, 0, 10)
    pipe.transport.close()
    assert await drain.result() == DATA + DATA[:10]
    assert features.loop_sendfile is False
    assert refused == [1]


async def test_a_refused_os_sendfile_falls_back_to_pread_once(
    pair: tuple[socket.socket, socket.socket], data_fd: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system without sendfile(2) (EINVAL): pread + send, and never ask again."""
    refused: list[int] = []

    def einval(*args: Any) -> int:
        refused.append(1)
        raise OSError(errno.EINVAL, "not on this file system")

    monkeypatch.setattr(os, "sendfile", einval)
    features = Features(loop_sendfile=False)
    pipe = make(*pair, features)
    drain = pipe.drain()
    assert await pipe.transport.sendfile(data_fd, 0, SIZE)
    assert await pipe.transport.sendfile(data_fd, 5, 10)
    pipe.transport.close()
    assert await drain.result() == DATA + DATA[5:15]
    assert features.os_sendfile is False
    assert refused == [1]


async def test_another_sendfile_error_is_raised(
    pair: tuple[socket.socket, socket.socket], data_fd: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def eio(*args: Any) -> int:
        raise OSError(errno.EIO, "disk gone")

    monkeypatch.setattr(os, "sendfile", eio)
    features = Features(loop_sendfile=False)
    pipe = make(*pair, features)
    with pytest.raises(OSError) as info:
        await pipe.transport.sendfile(data_fd, 0, SIZE)
    assert info.value.errno == errno.EIO
    assert features.os_sendfile is True  # a real error is not a missing feature


@pytest.mark.parametrize(
    "features", [Features(), Features(add_writer=False)], ids=["selector", "proactor-like"]
)
async def test_send_delivers_everything_and_counts_it(
    pair: tuple[socket.socket, socket.socket], features: Features
) -> None:
    pipe = make(*pair, features)
    drain = pipe.drain()
    await pipe.transport.send(DATA)
    await pipe.transport.send(memoryview(b"end"))
    assert pipe.transport.sent == SIZE + 3
    pipe.transport.close()
    assert await drain.result() == DATA + b"end"
    if features.add_writer:
        assert pipe.progress, "a send that waited for the peer reports progress"


async def test_a_selector_loop_without_add_writer_switches_to_sendall(
    pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proactor loop raises NotImplementedError from add_writer: noted once."""
    loop = asyncio.get_running_loop()

    def no_writer(*args: Any) -> None:
        raise NotImplementedError

    monkeypatch.setattr(loop, "add_writer", no_writer)
    features = Features()
    pipe = make(*pair, features)
    sending = asyncio.create_task(pipe.transport.send(DATA))
    # One turn of the loop: with nobody reading yet the buffer fills, the
    # wait for writability meets the refusal, and sock_sendall takes over.
    await asyncio.sleep(0)
    assert features.add_writer is False
    drain = pipe.drain()
    await sending
    pipe.transport.close()
    assert await drain.result() == DATA


async def test_recv_and_end_of_stream(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    t = Transport(ours, Features())
    peer.sendall(b"GET / HTTP/1.1\r\n\r\n")
    assert await t.recv() == b"GET / HTTP/1.1\r\n\r\n"
    peer.shutdown(socket.SHUT_WR)
    assert await t.recv() == b""


async def test_shutdown_write_ends_the_peers_stream_and_close_is_idempotent(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, peer = pair
    t = Transport(ours, Features())
    t.send_nowait(b"bye")
    assert t.sent == 3
    t.shutdown_write()
    peer.settimeout(5)
    assert peer.recv(10) == b"bye"
    assert peer.recv(10) == b""
    t.close()
    t.close()
    t.shutdown_write()  # on a closed socket: no error
    t.send_nowait(b"x")
    assert t.sent == 3


@pytest.mark.skipif(sys.platform != "linux", reason="SIOCOUTQ is Linux's")
async def test_unacked_sees_bytes_the_peer_has_not_read() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    with client, server:
        server.setblocking(False)
        t = Transport(server, Features())
        assert t.unacked() == 0
        # Fill the peer's window and our buffer: nobody reads, so bytes wait.
        with contextlib.suppress(BlockingIOError):
            while True:
                server.send(b"x" * 65536)
        assert t.unacked() > 0
        assert Transport(server, Features(send_queue=False)).unacked() == -1
