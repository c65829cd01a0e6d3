"""Real HTTP/2 clients against ``--https``: curl, nghttp, h2load, Chromium.

Each is skipped where it is not installed.  curl and the nghttp2 tools
trust the session's CA by file; Chromium by the CA key's pin, as
test_browser_https.py does.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from staticsrv.pki import certs
from tests.browser import launch
from tests.conftest import ServeFactory
from tests.e2e.test_browser_https import spki_sha256

pytestmark = pytest.mark.one_scheme
MODULES = 300


def ca_file() -> str:
    return str(certs.data_dir() / certs.CA_CERT)


@pytest.fixture
def big_root(tmp_path: Path) -> Path:
    root = tmp_path / "big"
    root.mkdir()
    (root / "index.html").write_text("<h1>h2</h1>\n")
    (root / "big.bin").write_bytes(os.urandom(1 << 20) * 48)  # 48 MiB
    return root


@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl")
def test_curl_http2_downloads_a_big_file_and_resumes_a_range(
    serve: ServeFactory, big_root: Path, tmp_path: Path
) -> None:
    srv = serve(big_root, https=True)
    url = f"https://localhost:{srv.port}/big.bin"
    data = (big_root / "big.bin").read_bytes()
    out = tmp_path / "got.bin"
    run = subprocess.run(
        [
            "curl",
            "--http2",
            "-sS",
            "--cacert",
            ca_file(),
            "-o",
            str(out),
            "-w",
            "%{http_version} %{http_code}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert run.stdout == "2 200"
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(data).digest()
    # A download cut at 10 MiB, resumed with -C - (a Range request).
    out.write_bytes(data[: 10 << 20])
    run = subprocess.run(
        [
            "curl",
            "--http2",
            "-sS",
            "--cacert",
            ca_file(),
            "-C",
            "-",
            "-o",
            str(out),
            "-w",
            "%{http_version} %{http_code}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert run.stdout == "2 206"
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(data).digest()


@pytest.mark.skipif(shutil.which("nghttp") is None, reason="no nghttp")
def test_nghttp_fetches_many_streams_without_error(serve: ServeFactory) -> None:
    srv = serve(https=True)
    base = f"https://localhost:{srv.port}"
    names = ("hello.txt", "style.css", "app.js", "big.bin")
    urls = [f"{base}/{name}?n={n}" for n in range(10) for name in names]  # nghttp dedups
    run = subprocess.run(
        ["nghttp", "-n", "-s", "--no-verify-peer", *urls],  # nghttp takes no CA file
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("200") >= len(urls)  # one line per stream in the statistics


@pytest.mark.skipif(shutil.which("h2load") is None, reason="no h2load")
def test_h2load_runs_without_errors(serve: ServeFactory) -> None:
    srv = serve(https=True)
    run = subprocess.run(
        ["h2load", "-n", "3000", "-c", "8", "-m", "10", f"https://localhost:{srv.port}/hello.txt"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Application protocol: h2" in run.stdout
    done = re.search(
        r"requests: 3000 total, 3000 started, (\d+) done, (\d+) succeeded, "
        r"(\d+) failed, (\d+) errored, (\d+) timeout",
        run.stdout,
    )
    assert done is not None, run.stdout
    assert done.groups() == ("3000", "3000", "0", "0", "0")


def module_page(root: Path, count: int = MODULES) -> None:
    """index.html importing ``count`` ES modules, each its own request."""
    mods = root / "mods"
    mods.mkdir()
    for n in range(count):
        (mods / f"m{n}.js").write_text(f"export const v{n} = {n};\n")
    imports = "".join(f'import {{ v{n} }} from "./mods/m{n}.js";\n' for n in range(count))
    total = " + ".join(f"v{n}" for n in range(count))
    (root / "main.js").write_text(imports + f"document.title = String({total});\n")
    (root / "index.html").write_text(
        "<!doctype html><script>performance.setResourceTimingBufferSize(4000)</script>"
        '<script type="module" src="main.js"></script>'
    )


@pytest.mark.browser
def test_chromium_loads_300_modules_over_h2(
    serve: ServeFactory, tmp_path: Path, playwright: Any
) -> None:
    root = tmp_path / "mods-site"
    root.mkdir()
    module_page(root)
    srv = serve(root, https=True)
    pin = spki_sha256((certs.data_dir() / certs.CA_CERT).read_bytes())
    browser = launch(playwright, f"--ignore-certificate-errors-spki-list={pin}")
    try:
        page = browser.new_page()
        resp = page.goto(f"https://localhost:{srv.port}/")
        assert resp is not None and resp.status == 200
        page.wait_for_function(f"document.title === '{sum(range(MODULES))}'")
        navigation = page.evaluate("performance.getEntries()[0].nextHopProtocol")
        protocols = page.evaluate(
            "performance.getEntries().filter(e => e.nextHopProtocol).map(e => e.nextHopProtocol)"
        )
    finally:
        browser.close()
    assert navigation == "h2"
    assert len(protocols) >= MODULES + 2
    assert set(protocols) == {"h2"}
    log = "\n".join(srv.log)
    assert log.count("HTTP/2.0") >= MODULES
