"""The embedding API at its edges: typed options, serve() without with, url after the
stop, BindError as an OSError, the fixture's relative root (the README's example)."""

from __future__ import annotations

import errno
import socket
import subprocess
import sys
from pathlib import Path
from urllib.request import urlopen

import pytest

import staticsrv
from tests.client import get

pytest_plugins = ["pytester"]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text("<p>home</p>")
    (tmp_path / ".env").write_text("SECRET=1")
    return tmp_path


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("dotfiles", "off"),
        ("follow_symlinks", "no"),
        ("cors", "false"),
        ("no_listing", "x"),
        ("dotfiles", 1),
    ],
)
def test_string_booleans_are_refused_naming_the_option(
    site: Path, option: str, value: object
) -> None:
    flag = "--" + option.replace("_", "-")
    with (
        pytest.raises(ValueError, match=f"^{flag}: .* is not a bool"),
        staticsrv.serve(site, port=0, **{option: value}),
    ):
        raise AssertionError("the server started")  # pragma: no cover


def test_a_refused_option_leaves_nothing_served_and_the_right_types_serve(site: Path) -> None:
    with staticsrv.serve(site, port=0, dotfiles=False, cors=True) as server:
        addr = ("127.0.0.1", server.port)
        assert get(addr, "/.env").status == 404
        assert (
            get(addr, "/", headers={"Origin": "http://x"}).header("access-control-allow-origin")
            == "*"
        )


def test_url_and_port_still_answer_after_the_with_block(site: Path) -> None:
    with staticsrv.serve(site, port=0) as server:
        url, port = server.url, server.port
        with urlopen(url) as resp:
            assert resp.read() == b"<p>home</p>"
    assert server.url == url == f"http://127.0.0.1:{port}/"
    assert server.port == port
    assert not server.running
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_url_is_the_sites_root_under_base_as_the_banner_says(site: Path) -> None:
    # The README's `urlopen(server.url + "index.html")` must work under --base too.
    with staticsrv.serve(site, port=0, base="/project/") as server:
        assert server.url == f"http://127.0.0.1:{server.port}/project/"
        with urlopen(server.url + "index.html") as resp:
            assert resp.read() == b"<p>home</p>"


def test_url_of_a_wildcard_bind_is_the_loopback_one(site: Path) -> None:
    # 0.0.0.0 is an address to bind, not one to connect to (Windows refuses it,
    # and no certificate names it): the URL is the banner's local one.
    with staticsrv.serve(site, host="0.0.0.0", port=0) as server:
        assert server.url == f"http://127.0.0.1:{server.port}/"
        with urlopen(server.url) as resp:
            assert resp.status == 200


def test_serve_without_with_says_how_to_use_it(site: Path) -> None:
    handle = staticsrv.serve(site, port=0)
    with pytest.raises(AttributeError, match=r"with staticsrv\.serve\(root, port=0\) as server"):
        handle.url  # noqa: B018
    # The same object then works in a with block.
    with handle as server:
        assert get(("127.0.0.1", server.port), "/").status == 200


def test_bind_error_is_an_oserror_with_the_in_use_errno(site: Path) -> None:
    with (
        staticsrv.serve(site, port=0) as first,
        pytest.raises(OSError) as info,
        staticsrv.serve(site, port=first.port),
    ):
        raise AssertionError("bound a busy port")  # pragma: no cover
    assert isinstance(info.value, staticsrv.BindError)
    assert info.value.errno == errno.EADDRINUSE
    assert str(info.value) == f"port {first.port} on 127.0.0.1 is already in use"


README_FIXTURE = """
from urllib.request import urlopen


def test_docs_build(static_server):
    server = static_server("docs/_build/html")
    assert urlopen(server.url + "index.html").status == 200
"""


def test_the_readme_fixture_example_works_from_any_folder(pytester: pytest.Pytester) -> None:
    # The README's example, as a project would hold it: an ini file at the
    # project's root, the built docs there, the test in tests/.
    pytester.makeini("[pytest]\n")
    html = pytester.path / "docs" / "_build" / "html"
    html.mkdir(parents=True)
    (html / "index.html").write_text("<p>docs</p>")
    tests = pytester.path / "tests"
    tests.mkdir()
    (tests / "test_docs.py").write_text(README_FIXTURE)
    for cwd in (pytester.path, tests):
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert "1 passed" in run.stdout
