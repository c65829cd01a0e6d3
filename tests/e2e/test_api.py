"""The embedding API as users call it: staticsrv.Server, staticsrv.serve and the pytest fixture."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

import staticsrv
from staticsrv import cli
from staticsrv.config import from_options
from tests.client import Conn, get

pytest_plugins = ["pytester"]

BIG = os.urandom(4 * 1024 * 1024 + 3)  # beyond the socket buffers: a send in flight


@pytest.fixture
def root(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>api</p>\n")
    (site / "big.bin").write_bytes(BIG)
    (site / ".env").write_text("SECRET=1\n")
    (site / "sub").mkdir()
    return site


def refused(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


async def test_async_server_serves_at_its_url_and_port(root: Path) -> None:
    async with staticsrv.Server(root, port=0) as server:
        assert server.port != 0
        assert server.url == f"http://127.0.0.1:{server.port}/"
        assert server.running
        # The blocking client runs in a thread: this loop is the server's.
        resp = await asyncio.to_thread(get, ("127.0.0.1", server.port), "/")
        assert (resp.status, resp.body) == (200, b"<p>api</p>\n")
    assert not server.running
    assert refused(server.port)


async def test_leaving_the_block_lets_an_answer_in_flight_finish(root: Path) -> None:
    in_flight = threading.Event()
    stopping = threading.Event()
    got: list[bytes] = []

    def client(port: int) -> None:
        with Conn(("127.0.0.1", port), rcvbuf=64 * 1024) as conn:
            conn.send(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
            head = conn.read_head()
            assert head.status == 200
            in_flight.set()
            # Read nothing more until the stop has begun: the server is
            # blocked mid-body with a full socket buffer when it is told to stop.
            assert stopping.wait(10)
            length = int(head.headers["content-length"])
            while len(conn.buf) < length:
                chunk = conn.sock.recv(1 << 18)
                assert chunk, f"cut after {len(conn.buf)} of {length} bytes"
                conn.buf += chunk
            got.append(bytes(conn.buf))

    async with staticsrv.Server(root, port=0) as server:
        thread = threading.Thread(target=client, args=(server.port,), daemon=True)
        thread.start()
        assert await asyncio.to_thread(in_flight.wait, 10)
        # Runs at the first await inside __aexit__, after the stop was asked for.
        asyncio.get_running_loop().call_soon(stopping.set)
    await asyncio.to_thread(thread.join, 10)
    assert got == [BIG]
    assert not server.running
    assert refused(server.port)


async def test_async_server_takes_the_cli_options_and_an_access_log(root: Path) -> None:
    lines: list[str] = []
    async with staticsrv.Server(
        root, port=0, no_listing=True, dotfiles=True, access_log=lines.append
    ) as server:
        addr = ("127.0.0.1", server.port)
        sub = await asyncio.to_thread(get, addr, "/sub/")
        env = await asyncio.to_thread(get, addr, "/.env")
    assert sub.status == 404
    assert (env.status, env.body) == (200, b"SECRET=1\n")
    assert any('"GET /.env HTTP/1.1" 200' in line for line in lines)


async def test_a_config_can_be_given_instead_of_options(root: Path) -> None:
    config = from_options(root, port=0, no_listing=True)
    async with staticsrv.Server(config=config) as server:
        resp = await asyncio.to_thread(get, ("127.0.0.1", server.port), "/sub/")
    assert resp.status == 404
    with pytest.raises(ValueError, match="either config or options"):
        staticsrv.Server(config=config, port=0)


def test_serve_runs_in_a_thread_and_stops_on_exit(root: Path) -> None:
    with staticsrv.serve(root, port=0) as server:
        assert server.url == f"http://127.0.0.1:{server.port}/"
        for _ in range(3):
            resp = get(("127.0.0.1", server.port), "/")
            assert (resp.status, resp.body) == (200, b"<p>api</p>\n")
        big = get(("127.0.0.1", server.port), "/big.bin")
        assert big.body == BIG
    assert not server.running
    assert refused(server.port)


def test_serve_stops_when_the_block_raises(root: Path) -> None:
    with pytest.raises(KeyError), staticsrv.serve(root, port=0) as server:
        assert get(("127.0.0.1", server.port), "/").status == 200
        raise KeyError("the caller's own error")
    assert not server.running
    assert refused(server.port)


def test_serve_twice_gives_two_servers(root: Path) -> None:
    with staticsrv.serve(root, port=0) as a, staticsrv.serve(root, port=0, quiet=True) as b:
        assert a.port != b.port
        assert get(("127.0.0.1", a.port), "/").status == 200
        assert get(("127.0.0.1", b.port), "/").status == 200


@pytest.mark.parametrize(
    ("options", "argv"),
    [
        ({"port": 70000}, ["--port", "70000"]),
        ({"port": "abc"}, ["--port", "abc"]),
        ({"send_timeout": 0.0}, ["--send-timeout", "0"]),
        ({"cache": 10, "no_cache": True}, ["--cache", "10", "--no-cache"]),
        ({"loop": "tokio"}, None),  # click refuses it before our check, in its own words
    ],
)
def test_a_bad_option_is_a_value_error_with_the_clis_message(
    root: Path,
    capsys: pytest.CaptureFixture[str],
    options: dict[str, Any],
    argv: list[str] | None,
) -> None:
    with pytest.raises(ValueError) as info, staticsrv.serve(root, **options):
        pass
    message = str(info.value)
    assert "\n" not in message
    with pytest.raises(ValueError) as again:
        staticsrv.Server(root, **options)
    assert str(again.value) == message
    if argv is not None:
        with pytest.raises(SystemExit) as exited:
            cli.main([str(root), *argv])
        assert exited.value.code == 2
        assert capsys.readouterr().err == f"staticsrv: error: {message}\n"


def test_unknown_options_and_a_missing_root_are_value_errors(root: Path) -> None:
    with pytest.raises(ValueError, match="unknown option 'colour'"):
        staticsrv.Server(root, colour=True)
    with pytest.raises(ValueError, match="does not exist"):
        staticsrv.Server(root / "missing")


def test_workers_are_refused_by_the_embedding_api(root: Path) -> None:
    with pytest.raises(ValueError, match="--workers"):
        staticsrv.Server(root, workers=2)


def test_a_busy_port_is_a_bind_error_with_one_line(root: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(staticsrv.BindError) as info, staticsrv.serve(root, port=port):
            pass
    assert str(info.value) == f"port {port} on 127.0.0.1 is already in use"


def test_url_before_start_is_an_error(root: Path) -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = staticsrv.Server(root, port=0).url


PLUGIN_USER = """
import socket
from urllib.request import urlopen

import pytest

PORTS = []


def test_a_site(static_server, tmp_path):
    (tmp_path / "index.html").write_text("<p>from the fixture</p>")
    server = static_server(tmp_path)
    assert server.port != 0
    PORTS.append(server.port)
    with urlopen(server.url) as resp:
        assert resp.read() == b"<p>from the fixture</p>"


def test_options_and_several_servers(static_server, tmp_path):
    (tmp_path / ".env").write_text("x")
    hidden = static_server(tmp_path)
    shown = static_server(tmp_path, dotfiles=True)
    assert hidden.port != shown.port
    with urlopen(shown.url + ".env") as resp:
        assert resp.read() == b"x"


def test_bad_options_raise(static_server, tmp_path):
    with pytest.raises(ValueError, match="--port"):
        static_server(tmp_path, port=70000)


def test_servers_were_stopped_at_teardown():
    for port in PORTS:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
"""


def test_the_static_server_fixture_comes_from_the_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=PLUGIN_USER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    # Without the entry point's plugin the fixture does not exist: it came from there.
    without = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:staticsrv")
    without.assert_outcomes(passed=1, errors=3)
    without.stdout.fnmatch_lines(["*fixture 'static_server' not found*"])
