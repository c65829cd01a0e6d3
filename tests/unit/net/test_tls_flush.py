"""TLS records from concurrent flushes go out whole and in order.

A read can produce records (the answer to a key update) while a send waits
for the socket to drain, and an HTTP/2 connection sends from several
streams: two raw sends in flight at once would interleave their bytes and
break the record stream.  Here two sends race on a socket whose peer is
not reading yet; the peer must then decrypt every byte of both.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from pathlib import Path

from staticsrv.config import Config
from staticsrv.net import tls
from staticsrv.net.transport import Features, Opened, Transport

SIZE = 384 * 1024  # several pieces each, far more than the socket buffers hold


async def test_two_sends_racing_on_a_full_socket_reach_the_peer_whole(
    pair: tuple[socket.socket, socket.socket], tmp_path: Path, client_tls: ssl.SSLContext
) -> None:
    ours, peer = pair
    for sock in (ours, peer):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    setup = tls.setup(Config(root=str(tmp_path), https=True))
    assert setup is not None
    server = tls.TLSTransport(Transport(ours, Features()), setup.context, "peer")
    client = client_tls.wrap_socket(
        peer, server_hostname="localhost", do_handshake_on_connect=False
    )
    shaken = threading.Thread(target=client.do_handshake)
    shaken.start()
    assert await server.open() is Opened.READY
    await asyncio.to_thread(shaken.join)

    sends = asyncio.gather(server.send(b"A" * SIZE), server.send(b"B" * SIZE))
    await asyncio.sleep(0)  # both sends are now waiting on the full socket

    def read_all() -> bytes:
        client.settimeout(20)
        got = bytearray()
        while len(got) < 2 * SIZE:
            chunk = client.recv(1 << 16)  # an SSLError here: a broken record stream
            assert chunk, "the server closed early"
            got += chunk
        return bytes(got)

    received = await asyncio.to_thread(read_all)
    await asyncio.wait_for(sends, 20)
    assert received.count(b"A") == SIZE
    assert received.count(b"B") == SIZE
    client.close()
