"""What a start imports: only what its first answer needs (benchmarks/STARTUP.md).

tests/unit/test_layers.py reads the source for imports that run at import
time; these tests run the command line in a subprocess and look at its
``sys.modules``, so an import that turns eager again anywhere (a module
level import of the TLS code, a helper that pulls in ``webbrowser``) fails
here, not only in a benchmark.  No timings: only which modules were loaded.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from pathlib import Path

from tests.process import next_line, port_of, stop

# A plain start (no --https, --live, --proxy, --auth, --open, --qr, settings
# file) never loads these, not even by the time it stops: each is imported
# by the option, the kind of answer or the file that needs it.
NOT_AT_START = (
    # TLS, HTTP/2 and the local CA: --https, --tls-cert.
    "staticsrv.net.tls",
    "staticsrv.pki",
    "staticsrv.net.h2conn",
    "staticsrv.net.h2send",
    "staticsrv.net.h2body",
    "staticsrv.http.h2fields",
    "staticsrv.http.h2guard",
    "staticsrv.http.h2hpack",
    "cryptography",
    "h2",
    "hpack",
    "hyperframe",
    # Live reload: --live, --build.
    "staticsrv.live",
    "staticsrv.site.document",
    "staticsrv.site.inject",
    "staticsrv.site.scan",
    "watchfiles",
    # The proxy, --auth, --workers, the embedding API.
    "staticsrv.net.proxy",
    "staticsrv.http.auth",
    "staticsrv.workers",
    "staticsrv.api",
    # Other answers than a file's 200: rule files, ranges.  (The error pages are
    # loaded at start: out of descriptors, an import could not open its file.)
    "staticsrv.site.netlify",
    "staticsrv.http.ranges",
    # --open, --qr, a settings file, br.
    "webbrowser",
    "segno",
    "tomllib",
    "brotli",
)
# --help and --version do not even load the server.
NOT_FOR_HELP = ("asyncio", "ssl", "staticsrv.app", "staticsrv.net", "staticsrv.site", "uvloop")

# Runs the command line with argv[2:] and writes sys.modules to argv[1] at exit.
CHILD = """
import atexit, sys

def dump():
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        f.write("\\n".join(sorted(sys.modules)))

atexit.register(dump)
from staticsrv.cli import main

main(sys.argv[2:])
"""


def _loaded(names: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        name
        for name in names.split()
        if any(name == top or name.startswith(top + ".") for top in forbidden)
    ]


def _without_coverage() -> dict[str, str]:
    """This environment without coverage's subprocess hook: measuring a child
    makes coverage read its configuration (with tomllib) in that child."""
    return {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}


def test_a_plain_start_loads_no_optional_feature(tmp_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    (root / "small.html").write_text("<p>hello</p>\n")
    out = tmp_path / "modules.txt"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(out), "--root", str(root), "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,  # no settings file here
        env=_without_coverage(),
    )
    port = port_of(proc, next_line(proc))
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/small.html")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        status, err = stop(proc)
    assert status == 0, err
    assert _loaded(out.read_text(encoding="utf-8"), NOT_AT_START) == []


def test_help_and_version_do_not_load_the_server(tmp_path: Path) -> None:
    for option in ("--help", "--version"):
        out = tmp_path / "modules.txt"
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(out), option],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            cwd=tmp_path,
            env=_without_coverage(),
        )
        assert done.returncode == 0, done.stderr
        assert _loaded(out.read_text(encoding="utf-8"), NOT_FOR_HELP) == [], option


def test_the_check_sees_a_loaded_module() -> None:
    names = "asyncio\nstaticsrv.cli\nstaticsrv.pki.certs\nstaticsrv.pkix\nh2\n"
    assert _loaded(names, NOT_AT_START) == ["staticsrv.pki.certs", "h2"]
