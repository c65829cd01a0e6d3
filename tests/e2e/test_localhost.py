"""--host localhost listens on 127.0.0.1 and ::1; [::1]:8080 held elsewhere is a busy
8080; --open without any browser says so."""

from __future__ import annotations

import errno
import http.client
import os
import socket
from pathlib import Path

import pytest

import staticsrv
from tests.client import get
from tests.process import start, stop


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def get6(port: int) -> tuple[int, bytes]:
    """GET / over IPv6 loopback (tests.client speaks IPv4 only)."""
    conn = http.client.HTTPConnection("::1", port, timeout=10)
    try:
        conn.request("GET", "/", headers={"Host": f"localhost:{port}"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="needs an IPv6 loopback")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text("<p>both</p>")
    return tmp_path


@needs_ipv6
def test_host_localhost_answers_on_127_0_0_1_and_on_ipv6_loopback(root: Path) -> None:
    proc, port, _ = start(str(root), "--host", "localhost", "--port", "0", "-q")
    try:
        assert get(("127.0.0.1", port), "/").body == b"<p>both</p>"
        assert get6(port) == (200, b"<p>both</p>")
    finally:
        code, err = stop(proc)
    assert code == 0, err


@needs_ipv6
def test_the_embedding_api_binds_both_for_localhost_and_frees_both(root: Path) -> None:
    with staticsrv.serve(root, host="localhost", port=0) as server:
        port = server.port
        assert get6(port)[0] == 200
        assert get(("127.0.0.1", port), "/").status == 200
    for family, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with socket.socket(family) as probe:
            assert probe.connect_ex((addr, port)) != 0


@needs_ipv6
def test_localhost_with_ipv6_loopback_taken_is_one_line(root: Path) -> None:
    with socket.socket(socket.AF_INET6) as holder:
        holder.bind(("::1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with (
            pytest.raises(staticsrv.BindError, match=f"port {port} on ::1 .* in use"),
            staticsrv.serve(root, host="localhost", port=port),
        ):
            raise AssertionError("started beside another server")  # pragma: no cover
        # 127.0.0.1 was let go again: the next server gets it.
        with staticsrv.serve(root, port=port) as server:
            assert get(("127.0.0.1", server.port), "/").status == 200


@needs_ipv6
def test_a_server_on_ipv6_loopback_8080_makes_the_default_port_fall_back(root: Path) -> None:
    with socket.socket(socket.AF_INET6) as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            holder.bind(("::1", 8080))
            holder.listen()
        except OSError as exc:  # someone else holds it: just as busy
            assert exc.errno == errno.EADDRINUSE
        proc, port, line = start(str(root), "-q")
        try:
            assert 8081 <= port <= 8099
            assert "port 8080 was busy" in line
            assert get(("127.0.0.1", port), "/").body == b"<p>both</p>"
        finally:
            stop(proc)


def test_open_without_any_browser_says_so_in_one_line(root: Path, tmp_path: Path) -> None:
    empty = tmp_path / "no-programs"
    empty.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY", "MIR_SOCKET")
    }
    env["PATH"] = str(empty)  # no browser, no xdg-open, no console browser
    proc, port, _ = start(str(root), "-q", "--port", "0", "--open", env=env)
    try:
        assert get(("127.0.0.1", port), "/").status == 200  # it serves all the same
    finally:
        code, err = stop(proc)
    assert code == 0
    assert err.splitlines() == [
        f"staticsrv: --open: no browser found here; open http://127.0.0.1:{port}/ yourself"
    ]
