"""The friendlier start: port fallback, LAN URLs, --qr, --open, STATICSRV_* variables,
and the one-line refusals of the preview options."""

from __future__ import annotations

import errno
import os
import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from staticsrv import config
from staticsrv.pki.lan import lan_addresses
from tests.client import Conn, get
from tests.patching import replace
from tests.process import next_line, run_fail, start, stop


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "index.html").write_text("<p>cli</p>\n")
    (tmp_path / "about.html").write_text("about")
    yield tmp_path


def test_busy_default_port_falls_back_to_the_next_free_one(root: Path) -> None:
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            holder.bind(("127.0.0.1", 8080))
            holder.listen()
        except OSError as exc:  # someone else holds 8080: just as busy
            assert exc.errno == errno.EADDRINUSE
        proc, port, line = start(str(root), "-q")
        try:
            assert 8081 <= port <= 8099
            assert "port 8080 was busy" in line
            assert get(("127.0.0.1", port), "/").body == b"<p>cli</p>\n"
        finally:
            stop(proc)


def test_lan_urls_are_listed_for_all_interfaces(root: Path) -> None:
    proc, port, _line = start(str(root), "-q", "--host", "0.0.0.0", "--port", "0")
    try:
        assert proc.stdout is not None
        expected = [f"  On your network: http://{a}:{port}/" for a in lan_addresses("0.0.0.0")]
        got = [next_line(proc).rstrip("\n") for _ in expected]
        assert got == expected
        assert get(("127.0.0.1", port), "/").status == 200
    finally:
        stop(proc)


def test_qr_code_of_the_first_lan_url(root: Path) -> None:
    pytest.importorskip("segno")
    lan = lan_addresses("0.0.0.0")
    proc, _port, _line = start(str(root), "-q", "--host", "0.0.0.0", "--port", "0", "--qr")
    try:
        assert proc.stdout is not None
        if lan:
            for _ in lan:
                next_line(proc)
            assert "█" in next_line(proc)  # block characters of the code
    finally:
        _code, err = stop(proc)
    if not lan:
        assert "--qr: no LAN URL" in err


def test_qr_without_segno_names_the_extra(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    asked = replace(monkeypatch, config, "has_module", lambda name: name != "segno")
    with pytest.raises(ValueError, match=re.escape("pip install 'staticsrv[qr]'")):
        config.from_options(root, qr=True)
    assert ("segno",) in asked


def test_open_starts_the_browser_on_the_url(root: Path, tmp_path: Path) -> None:
    # webbrowser honours $BROWSER: a stand-in "browser" that prints what it
    # was asked to open on the server's stdout, which the test reads.
    fake = tmp_path / "fake_browser.py"
    fake.write_text("import sys\nprint('OPENED', sys.argv[1], flush=True)\n")
    env = {**os.environ, "BROWSER": f"{sys.executable} {fake} %s"}
    proc, port, _line = start(str(root), "-q", "--port", "0", "--open", env=env)
    try:
        assert proc.stdout is not None
        assert next_line(proc).strip() == f"OPENED http://127.0.0.1:{port}/"
    finally:
        stop(proc)


def test_every_option_can_come_from_the_environment(root: Path) -> None:
    env = {
        **os.environ,
        "STATICSRV_ROOT": str(root),
        "STATICSRV_PORT": "0",
        "STATICSRV_QUIET": "1",
        "STATICSRV_CORS": "1",
        "STATICSRV_SPA": "index.html",
        "STATICSRV_HEADER": "X-One: 1\nX-Two: two words",
        "STATICSRV_ALLOWED_HOST": "mybox other",
    }
    proc, port, _line = start(env=env)
    try:
        addr = ("127.0.0.1", port)
        resp = get(addr, "/some/route", headers={"Accept": "text/html"})
        assert resp.status == 200
        assert resp.header("access-control-allow-origin") == "*"
        assert (resp.header("x-one"), resp.header("x-two")) == ("1", "two words")
        with Conn(addr) as conn:
            conn.send(b"GET / HTTP/1.1\r\nHost: mybox:80\r\n\r\n")
            assert conn.read_response().status == 200
    finally:
        stop(proc)


def test_help_names_the_environment_variables() -> None:
    out = run_fail("--help").stdout
    for name in ("STATICSRV_PORT", "STATICSRV_SPA", "STATICSRV_CORS", "STATICSRV_ROOT"):
        assert name in out
    for option in ("--spa", "--no-clean-urls", "--base", "--no-rules", "--cors", "--header"):
        assert option in out
    for option in ("--allowed-host", "--qr", "--open"):
        assert option in out


def test_allowed_host_all_turns_the_check_off(root: Path) -> None:
    proc, port, _ = start(str(root), "-q", "--port", "0", "--allowed-host", "all")
    try:
        with Conn(("127.0.0.1", port)) as conn:
            conn.send(b"GET / HTTP/1.1\r\nHost: anything.example\r\n\r\n")
            assert conn.read_response().status == 200
    finally:
        stop(proc)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-H", "Bad Name: x"], "--header: 'Bad Name' is not a valid field name"),
        (["-H", "X-A: a\r\nSet-Cookie: x"], "--header: the value of X-A holds a line break"),
        (["-H", "no colon"], "--header"),
        (["-H", "Content-Length: 1"], "--header: Content-Length is set by the server"),
        (["--spa", "missing.html"], "--spa: 'missing.html' is not a file in the root"),
        (["--spa", "../index.html"], "--spa"),
        (["--base", "/../x/"], "--base"),
        (["--allowed-host", "a/b"], "--allowed-host"),
    ],
)
def test_bad_preview_options_are_one_line(root: Path, args: list[str], message: str) -> None:
    result = run_fail(str(root), *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("staticsrv: error: ")
    assert message in lines[0]


def test_spa_and_base_from_the_command_line(root: Path) -> None:
    proc, port, line = start(str(root), "-q", "--port", "0", "--spa", "--base", "/proj/")
    try:
        assert f"http://127.0.0.1:{port}/proj/" in line
        addr = ("127.0.0.1", port)
        assert get(addr, "/proj/a/route", headers={"Accept": "text/html"}).status == 200
        assert get(addr, "/proj/about").body == b"about"
    finally:
        stop(proc)


def test_bad_rule_lines_go_to_stderr_and_the_server_starts(root: Path) -> None:
    (root / "_redirects").write_text("/ok /about.html 302\n/oops\n")
    (root / "_headers").write_text("/*\n  Bad Name: 1\n")
    proc, port, _ = start(str(root), "-q", "--port", "0")
    try:
        assert get(("127.0.0.1", port), "/ok").status == 302
    finally:
        code, err = stop(proc)
    assert code == 0
    assert "_redirects line 2: expected: FROM TO [STATUS] (line skipped)" in err
    assert "_headers line 2: 'Bad Name' is not a valid field name (line skipped)" in err
    assert err.count("line skipped") == 2
