"""The project's own docs build with ``mkdocs build --strict`` and serve through staticsrv."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.client import get
from tests.conftest import ServeFactory

pytest.importorskip("mkdocs")

REPO = Path(__file__).resolve().parents[2]
NAV_PAGE = re.compile(r"^\s+- [^:]+: (\S+)\.md\s*$", re.M)


@pytest.fixture(scope="module")
def docs_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs-site")
    # --strict: a page missing from the nav, a link to a missing page or
    # heading (mkdocs.yml's validation) fails the build.  Not --quiet: it
    # hides the warnings, and --strict then has nothing to count.
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=50,  # within the test's own bound (pytest-timeout, 60 s)
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.one_scheme
def test_every_page_of_the_nav_is_built_and_served(serve: ServeFactory, docs_site: Path) -> None:
    pages = NAV_PAGE.findall((REPO / "mkdocs.yml").read_text())
    assert "index" in pages and len(pages) == len(list((REPO / "docs").glob("*.md")))
    srv = serve(docs_site)
    for page in pages:
        url = "/" if page == "index" else f"/{page}/"
        resp = get(srv.addr, url)
        assert resp.status == 200, url
        # Each page's own first heading, as MkDocs rendered it.
        title = next(
            line[2:].strip()
            for line in (REPO / "docs" / f"{page}.md").read_text().splitlines()
            if line.startswith("# ")
        )
        assert f">{title}</h1>".encode() in resp.body.replace(b"&#39;", b"'"), url
