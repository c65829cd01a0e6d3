"""Readiness-driven reads through the transport seam, on a real socket pair.

The reader is registered once and feeds an inbox; these tests pin down
what the connection loop relies on: bytes arrive whole and in order, the
end of the stream is b"" (and stays b""), a reset is raised, a paused
reader (read-ahead limit) resumes, and the portable ``sock_recv`` path
gives the same results.
"""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from staticsrv.net.transport import READ_AHEAD, Features, Transport

FEATURES = [
    pytest.param(Features(), id="add_reader"),
    pytest.param(Features(add_reader=False), id="sock_recv"),
]


async def _read_all(t: Transport, want: int) -> bytes:
    got = b""
    while len(got) < want:
        data = await t.recv()
        if not data:
            break
        got += data
    return got


@pytest.mark.parametrize("features", FEATURES)
async def test_bytes_arrive_whole_and_in_order(
    pair: tuple[socket.socket, socket.socket], features: Features
) -> None:
    a, b = pair
    t = Transport(a, features)
    payload = bytes(range(256)) * 1000
    loop = asyncio.get_running_loop()
    writer = loop.run_in_executor(None, b.sendall, payload)
    assert await _read_all(t, len(payload)) == payload
    await writer
    t.close()


@pytest.mark.parametrize("features", FEATURES)
async def test_end_of_stream_is_empty_bytes_and_stays_so(
    pair: tuple[socket.socket, socket.socket], features: Features
) -> None:
    a, b = pair
    t = Transport(a, features)
    b.sendall(b"last words")
    b.shutdown(socket.SHUT_WR)
    assert await _read_all(t, 10) == b"last words"
    assert await t.recv() == b""
    assert await t.recv() == b""
    t.close()


@pytest.mark.parametrize("features", FEATURES)
async def test_a_reset_is_raised_not_taken_for_data(features: Features) -> None:
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        b = socket.create_connection(lsock.getsockname())
        a, _ = lsock.accept()
    a.setblocking(False)
    t = Transport(a, features)
    waiting = asyncio.ensure_future(t.recv())
    await asyncio.sleep(0)  # lets recv start waiting before the reset arrives
    # SO_LINGER with a zero timeout: close sends a TCP reset, not a FIN.
    b.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    b.close()
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(waiting, 5)
    t.close()


async def test_reading_pauses_at_the_read_ahead_limit_and_resumes(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    t = Transport(a, Features())
    first = await asyncio.wait_for(asyncio.gather(t.recv(), asyncio.to_thread(b.sendall, b"x")), 5)
    assert first[0] == b"x"
    # The client sends far more than the read-ahead while nobody reads.
    payload = b"y" * (READ_AHEAD * 4)
    sender = asyncio.ensure_future(asyncio.to_thread(b.sendall, payload))
    got = await asyncio.wait_for(_read_all(t, len(payload)), 10)
    await sender
    assert got == payload
    t.close()


async def test_close_unregisters_so_the_descriptor_can_be_reused(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    t = Transport(a, Features())
    b.sendall(b"1")
    assert await t.recv() == b"1"
    fd = a.fileno()
    t.close()
    loop = asyncio.get_running_loop()
    # A registration left behind would make this raise or fire for a dead socket.
    assert not loop.remove_reader(fd)
