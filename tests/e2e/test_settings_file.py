"""The settings file ([tool.staticsrv] in pyproject.toml, or staticsrv.toml), through the CLI."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.client import get
from tests.process import next_line, run_fail, staticsrv


def launch(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], int, list[str]]:
    """Start the CLI in ``cwd``; read its banner up to the URL line."""
    proc = staticsrv(*args, cwd=cwd, env={**os.environ, **(env or {})})
    lines = [next_line(proc)]
    while not (match := re.search(r"http://127\.0\.0\.1:(\d+)/", lines[-1])):
        assert lines[-1], f"no URL line: {lines}"
        lines.append(next_line(proc))
    return proc, int(match.group(1)), lines


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=15)
    return err


@pytest.fixture
def project(tmp_path: Path) -> Path:
    site = tmp_path / "public"
    (site / "sub").mkdir(parents=True)
    (site / "index.html").write_text("<p>home</p>")
    (site / "sub" / "a.txt").write_text("a")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.staticsrv]\nroot = "public"\nport = 0\n'
        'no-listing = true\ncache = 60\nheader = "X-From: settings"\nquiet = true\n'
    )
    return tmp_path


def test_pyproject_settings_are_read_and_named_in_the_banner(project: Path) -> None:
    proc, port, lines = launch(project)
    try:
        assert lines[0].strip() == "Settings from pyproject.toml [tool.staticsrv]"
        home = get(("127.0.0.1", port), "/")
        assert home.body == b"<p>home</p>"  # root = "public"
        assert home.header("cache-control") == "public, max-age=60"
        assert home.header("x-from") == "settings"  # one value, not its letters
        assert get(("127.0.0.1", port), "/sub/").status == 404  # no-listing
    finally:
        stop(proc)


def test_the_command_line_and_the_environment_win_over_the_file(project: Path) -> None:
    proc, port, _ = launch(
        project, "--cache", "5", "-H", "X-From: cli", env={"STATICSRV_NO_LISTING": "0"}
    )
    try:
        home = get(("127.0.0.1", port), "/")
        assert home.header("cache-control") == "public, max-age=5"
        assert home.header("x-from") == "cli"
        assert get(("127.0.0.1", port), "/sub/").status == 200  # the variable turned it off
    finally:
        stop(proc)


def test_staticsrv_toml_is_read_too(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("own file")
    (tmp_path / "staticsrv.toml").write_text("port = 0\nquiet = true\n")
    proc, port, lines = launch(tmp_path)
    try:
        assert lines[0].strip() == "Settings from staticsrv.toml"
        assert get(("127.0.0.1", port), "/").body == b"own file"
    finally:
        stop(proc)


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("pyproject.toml", "[tool.staticsrv]\nport = 0\nporte = 1\n", "unknown setting 'porte'"),
        ("staticsrv.toml", "print-ca = true\n", "unknown setting 'print-ca'"),
        ("staticsrv.toml", "port = \n", "staticsrv.toml: "),
    ],
)
def test_a_bad_settings_file_is_one_line_naming_it(
    tmp_path: Path, name: str, text: str, says: str
) -> None:
    (tmp_path / name).write_text(text)
    done = run_fail(cwd=tmp_path)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith(f"staticsrv: error: {name}") and says in line


def test_a_pyproject_without_the_table_is_no_settings_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    proc, _, lines = launch(tmp_path, "--port", "0", "-q")
    try:
        assert lines[0].startswith("Serving ")
    finally:
        stop(proc)
