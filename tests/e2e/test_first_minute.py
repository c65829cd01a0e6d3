"""What a newcomer sees first: the banner names the served folder in full."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.process import URL_RE, next_line, staticsrv, stop


def test_the_banner_names_a_relative_root_as_an_absolute_path(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>hi</p>\n")
    proc = staticsrv("site", "--port", "0", "-q", cwd=str(tmp_path))
    try:
        line = next_line(proc)
        assert URL_RE.search(line), line
    finally:
        stop(proc, signal.SIGTERM)
    assert line.startswith(f"Serving {site.resolve()} at http://127.0.0.1:")


@pytest.mark.parametrize("attempt", range(5))
def test_a_stop_signal_right_after_the_url_is_printed_stops_cleanly(
    tmp_path: Path, attempt: int
) -> None:
    """A script that reads the URL and stops the server at once gets exit status 0."""
    (tmp_path / "index.html").write_text("<p>hi</p>\n")
    proc = staticsrv(str(tmp_path), "--port", "0", "-q")
    line = next_line(proc)
    assert URL_RE.search(line), line
    code, err = stop(proc, signal.SIGTERM)
    assert code == 0, err
