"""The command line, run as a real subprocess: start-up line, errors, signals."""

from __future__ import annotations

import os
import re
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client import get
from tests.process import next_line, run_fail, start, stop

URL_HTTP = re.compile(r"http://127\.0\.0\.1:(\d+)/")


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "index.html").write_text("<p>cli</p>\n")
    yield tmp_path


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_serves_prints_url_logs_and_stops_cleanly(root: Path, sig: int) -> None:
    proc, port, line = start("--root", str(root), "--port", "0")
    try:
        assert line.startswith(f"Serving {root} at http://127.0.0.1:{port}/")
        assert "Ctrl+C" in line
        assert get(("127.0.0.1", port), "/").body == b"<p>cli</p>\n"
    finally:
        code, err = stop(proc, sig)
    assert code == 0
    assert "Traceback" not in err
    assert '"GET / HTTP/1.1" 200 11' in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_live_says_what_it_watches_and_stops_at_once_with_a_stream_open(
    root: Path, sig: int
) -> None:
    pytest.importorskip("watchfiles")
    from tests.sse import EventStream

    proc, port, _ = start(str(root), "--port", "0", "--live")
    try:
        assert proc.stdout is not None
        assert next_line(proc).strip() == f"Live reload on: watching {root.resolve()}"
        with EventStream(("127.0.0.1", port)) as stream:
            stream.hello()
            assert b"/__staticsrv__/live.js" in get(("127.0.0.1", port), "/").body
            code, err = stop(proc, sig)
            with pytest.raises(ConnectionError):
                stream.next_event()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 0
    assert "Traceback" not in err


def test_root_as_positional_argument_and_quiet(root: Path) -> None:
    proc, port, _ = start(str(root), "--port", "0", "-q")
    assert get(("127.0.0.1", port), "/").status == 200
    code, err = stop(proc)
    assert code == 0
    assert err == ""


def test_default_root_is_the_current_folder(root: Path) -> None:
    proc, port, line = start("--port", "0", "-q", cwd=root)
    assert URL_HTTP.search(line), line
    assert get(("127.0.0.1", port), "/").body == b"<p>cli</p>\n"
    assert stop(proc)[0] == 0


def test_binds_loopback_by_default(root: Path) -> None:
    proc, port, line = start(str(root), "--port", "0", "-q")
    try:
        assert "127.0.0.1" in line
        # Not reachable on another local address: the socket is bound to loopback only.
        with socket.socket() as probe:
            probe.settimeout(2)
            assert probe.connect_ex(("127.0.0.2", port)) != 0
    finally:
        stop(proc)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/definitely/not/here"], "does not exist"),
        (["--port", "70000"], "--port"),
        (["--port", "abc"], "--port"),
        (["--bogus"], "--bogus"),
        (["--loop", "tokio"], "--loop"),
        (["--head-timeout", "0"], "greater than 0"),
        (["--head-timeout", "nan"], "greater than 0"),
        (["--send-timeout", "inf"], "at most 86400"),
        (["--keepalive-timeout", "1e309"], "at most 86400"),
        (["--cache", "99999999999999999999"], "--cache"),
        (["--port", "abc"], "not a port number"),
        (["--root", ""], "does not exist"),
        (["--cache", "10", "--no-cache"], "exclude each other"),
        (["--watch", "."], "--watch and --ignore need --live"),
        (["--ignore", "*.tmp"], "need --live"),
        (["--live", "--watch", "/definitely/not/here"], "--watch"),
        (["--live", "--live-delay", "-1"], "--live-delay"),
        (["--live", "--live-delay", "soon"], "--live-delay"),
        (["--live", "--workers", "2"], "--live serves from one process"),
    ],
)
def test_bad_arguments_give_one_line_and_nonzero_exit(args: list[str], message: str) -> None:
    result = run_fail(*args)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("staticsrv: error:")
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_root_that_is_a_file_is_refused(root: Path) -> None:
    result = run_fail(str(root / "index.html"))
    assert result.returncode != 0
    assert (
        result.stderr.strip() == f"staticsrv: error: root '{root / 'index.html'}' is not a folder"
    )


def test_busy_port_is_one_clear_line(root: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_fail(str(root), "--port", str(port))
    assert result.returncode != 0
    assert result.stderr.strip() == f"staticsrv: error: port {port} on 127.0.0.1 is already in use"


def test_version_and_help() -> None:
    version = run_fail("--version")
    assert version.returncode == 0
    assert re.fullmatch(r"staticsrv, version \d+\.\d+\.\d+\n", version.stdout)
    helptext = run_fail("--help")
    assert helptext.returncode == 0
    for option in ("--root", "--host", "--port", "--no-listing", "--follow-symlinks", "--quiet"):
        assert option in helptext.stdout


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT")
def test_two_workers_share_the_port_and_stop_together(root: Path) -> None:
    proc, port, line = start(str(root), "--port", "0", "-q", "--workers", "2")
    try:
        assert "2 workers" in line
        for _ in range(20):
            assert get(("127.0.0.1", port), "/").body == b"<p>cli</p>\n"
    finally:
        code, err = stop(proc)
    assert code == 0
    assert "Traceback" not in err


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT")
def test_workers_do_not_join_a_port_another_server_uses(root: Path) -> None:
    """SO_REUSEPORT would let a second group share the port and split the traffic."""
    proc, port, _ = start(str(root), "--port", "0", "-q", "--workers", "2")
    try:
        for args in (["--workers", "2"], []):
            result = run_fail(str(root), "--port", str(port), *args)
            assert result.returncode != 0
            assert result.stderr.strip() == (
                f"staticsrv: error: port {port} on 127.0.0.1 is already in use"
            )
        assert get(("127.0.0.1", port), "/").body == b"<p>cli</p>\n"
    finally:
        code, _ = stop(proc)
    assert code == 0


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT")
def test_a_crashed_worker_is_restarted(root: Path) -> None:
    proc, port, _ = start(str(root), "--port", "0", "-q", "--workers", "2")
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(children) == 2
        os.kill(int(children[0]), signal.SIGKILL)
        assert proc.stderr is not None
        notice = proc.stderr.readline()
        assert "restarting" in notice
        for _ in range(20):
            assert get(("127.0.0.1", port), "/").status == 200
        after = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(after) == 2
        assert children[0] not in after
    finally:
        code, _ = stop(proc)
    assert code == 0


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_each_loop_sends_large_files_and_ranges_byte_exact(root: Path, loop: str) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    data = os.urandom(3 * 1024 * 1024 + 17)  # above the cache threshold: sendfile
    (root / "big.bin").write_bytes(data)
    proc, port, _ = start(str(root), "--port", "0", "-q", "--loop", loop)
    try:
        full = get(("127.0.0.1", port), "/big.bin")
        part = get(("127.0.0.1", port), "/big.bin", headers={"Range": "bytes=1000-2999999"})
    finally:
        code, _ = stop(proc)
    assert full.body == data
    assert part.status == 206
    assert part.body == data[1000:3000000]
    assert code == 0


def test_a_link_out_of_the_root_is_explained_once_and_served_with_the_flag(
    root: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    shared = tmp_path_factory.mktemp("shared")
    (shared / "logo.svg").write_text("<svg/>\n")
    (root / "assets").symlink_to(shared)
    proc, port, _ = start(str(root), "--port", "0", "-q")
    try:
        for _ in range(3):
            assert get(("127.0.0.1", port), "/assets/logo.svg").status == 404
    finally:
        code, err = stop(proc)
    assert code == 0
    hints = [line for line in err.splitlines() if "--follow-symlinks" in line]
    assert len(hints) == 1, err
    assert "/assets" in hints[0]
    proc, port, _ = start(str(root), "--port", "0", "-q", "--follow-symlinks")
    try:
        assert get(("127.0.0.1", port), "/assets/logo.svg").body == b"<svg/>\n"
    finally:
        code, err = stop(proc)
    assert code == 0
    assert err == ""
