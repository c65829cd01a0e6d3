"""Option spellings people bring with them (--spa dist, STATICSRV_SPA=1), a variable for
every option, the README's HTTPS banner, --help for --cache, refused lines in the log."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import click
import pytest

from staticsrv import cli
from staticsrv.pki import certs
from tests.client import Conn, get
from tests.process import next_line, run_fail, start, staticsrv, stop

HTTPS_DOC = Path(__file__).resolve().parents[2] / "docs" / "https.md"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder holding a built app in dist/ (and nothing servable at its top)."""
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<p>app</p>")
    (dist / "app.js").write_text("js")
    return tmp_path


def test_spa_followed_by_a_folder_serves_that_folder_as_an_spa(project: Path) -> None:
    proc, port, line = start("--spa", "dist", "--port", "0", "-q", cwd=project)
    try:
        assert line.startswith(f"Serving {(project / 'dist').resolve()} at ")
        addr = ("127.0.0.1", port)
        route = get(addr, "/users/42", headers={"Accept": "text/html"})
        assert (route.status, route.body) == (200, b"<p>app</p>")
        assert get(addr, "/app.js").body == b"js"
        assert get(addr, "/missing.js").status == 404
    finally:
        assert stop(proc)[0] == 0


def test_spa_naming_a_folder_with_a_root_given_is_still_one_line(project: Path) -> None:
    done = run_fail(str(project / "dist"), "--spa", str(project))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("staticsrv: error: --spa: ")


@pytest.mark.parametrize("value", ["1", "true", "yes", "on"])
def test_staticsrv_spa_1_means_on_with_index_html(project: Path, value: str) -> None:
    env = {**os.environ, "STATICSRV_SPA": value}
    proc, port, _ = start("dist", "--port", "0", "-q", cwd=project, env=env)
    try:
        route = get(("127.0.0.1", port), "/deep/route", headers={"Accept": "text/html"})
        assert (route.status, route.body) == (200, b"<p>app</p>")
    finally:
        stop(proc)


@pytest.mark.parametrize("value", ["0", "false", "off"])
def test_staticsrv_spa_0_means_off(project: Path, value: str) -> None:
    env = {**os.environ, "STATICSRV_SPA": value}
    proc, port, _ = start("dist", "--port", "0", "-q", cwd=project, env=env)
    try:
        assert (
            get(("127.0.0.1", port), "/deep/route", headers={"Accept": "text/html"}).status == 404
        )
    finally:
        stop(proc)


def test_every_option_reads_its_environment_variable() -> None:
    ctx = click.Context(cli.command, auto_envvar_prefix="STATICSRV")
    actions = {"help", "version"}
    for param in cli.command.params:
        if not isinstance(param, click.Option) or param.name in actions:
            continue
        assert param.name is not None
        long = max(param.opts, key=len).lstrip("-")
        var = "STATICSRV_" + long.upper().replace("-", "_")
        os.environ[var] = "1"
        try:
            assert param.resolve_envvar_value(ctx) == "1", f"{param.name}: no {var}"
        finally:
            del os.environ[var]


def test_staticsrv_print_ca_1_prints_the_ca_and_exits(tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    env = {**os.environ, "STATICSRV_PRINT_CA": "1", certs.ENV_DATA_DIR: str(tmp_path / "ca")}
    done = run_fail(str(tmp_path), env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (tmp_path / "ca" / certs.CA_CERT).read_text()


def test_cache_help_says_public() -> None:
    out = " ".join(run_fail("--help").stdout.split())
    assert "--cache SECONDS Send Cache-Control: public, max-age=SECONDS" in out


def test_the_readme_https_banner_is_what_the_server_prints(tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    text = HTTPS_DOC.read_text()
    shown = re.search(r"^Serving /\S+ at (https://\S+) \(Ctrl\+C to stop\)$", text, re.M)
    assert shown is not None
    site = tmp_path / "site"
    site.mkdir()
    proc = staticsrv(
        "./site", "--https", "--host", "0.0.0.0", "-q",
        cwd=tmp_path, env={**os.environ, "STATICSRV_PORT": "0"},
    )  # fmt: skip
    first = next_line(proc)
    proc.kill()
    proc.communicate(timeout=15)
    printed = re.match(
        rf"Serving {re.escape(str(site.resolve()))} at (https://\S+) \(Ctrl\+C to stop\)", first
    )
    assert printed is not None, first
    assert re.sub(r":\d+/", ":PORT/", printed[1]) == re.sub(r":\d+/", ":PORT/", shown[1])


@pytest.mark.parametrize(
    ("sent", "status", "logged"),
    [
        (b"GET /a b c HTTP/1.1", 400, '"GET /a b c HTTP/1.1" 400'),
        (b"G\x01T /\x1b[31m HTTP/1.1", 400, '"G\\x01T /\\x1b[31m HTTP/1.1" 400'),
        (b"GET /caf\xc3\xa9 HTTP/9.9", 505, '"GET /caf\\xc3\\xa9 HTTP/9.9" 505'),
        # Accepted, but a quote or backslash would end or escape the quoted field.
        (b'GET /"q"\\ HTTP/1.1', 404, '"GET /\\x22q\\x22\\x5c HTTP/1.1" 404'),
    ],
)
def test_a_refused_request_line_is_logged_escaped(
    tmp_path: Path, sent: bytes, status: int, logged: str
) -> None:
    proc, port, _ = start(str(tmp_path), "--port", "0")
    try:
        with Conn(("127.0.0.1", port)) as conn:
            conn.send(sent + b"\r\nHost: localhost\r\n\r\n")
            assert conn.read_response().status == status
    finally:
        _, err = stop(proc)
    lines = [line for line in err.splitlines() if f'" {status} ' in line]
    assert len(lines) == 1, err
    assert logged in lines[0]


# ---------------------------------------------------------------- python -m http.server habits


def run_in(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_fail(*args, cwd=cwd)


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        # `python -m http.server 8000`, `npx serve -l 3000` (-l is --live here)
        (["8000"], "root '8000' does not exist; to serve on port 8000: staticsrv --port 8000"),
        (
            ["-l", "3000"],
            "root '3000' does not exist; to serve on port 3000: staticsrv --port 3000",
        ),
        # `python -m http.server -d site -b 0.0.0.0`, http-server's `-a`
        (["-d", "site"], "No such option '-d' (the folder to serve is ROOT or --root)"),
        (
            ["--directory", "site"],
            "No such option '--directory' (the folder to serve is ROOT or --root)",
        ),
        (["-b", "0.0.0.0"], "No such option '-b' (the address to bind is --host)"),
        (["--bind", "0.0.0.0"], "No such option '--bind' (the address to bind is --host)"),
        (["-a", "0.0.0.0"], "No such option '-a' (the address to bind is --host)"),
    ],
)
def test_http_server_habits_get_the_right_spelling_in_one_line(
    tmp_path: Path, args: list[str], hint: str
) -> None:
    (tmp_path / "site").mkdir()
    done = run_in(tmp_path, *args)
    assert done.returncode == 2
    assert done.stderr == f"staticsrv: error: {hint}\n"


def test_a_folder_named_like_a_port_is_served(tmp_path: Path) -> None:
    (tmp_path / "8000").mkdir()
    (tmp_path / "8000" / "a.txt").write_text("a")
    proc, port, _ = start("8000", "--port", "0", "-q", cwd=tmp_path)
    try:
        assert get(("127.0.0.1", port), "/a.txt").body == b"a"
    finally:
        assert stop(proc)[0] == 0
