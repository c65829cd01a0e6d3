"""What a newcomer sees first: the banner names the served folder in full."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.e2e.test_cli import URL_RE, staticsrv, stop


def test_the_banner_names_a_relative_root_as_an_absolute_path(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>hi</p>\n")
    proc = staticsrv("site", "--port", "0", "-q", cwd=str(tmp_path))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert URL_RE.search(line), line
    finally:
        stop(proc, signal.SIGTERM)
    assert line.startswith(f"Serving {site.resolve()} at http://127.0.0.1:")
