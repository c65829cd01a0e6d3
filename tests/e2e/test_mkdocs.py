"""A real MkDocs site built for a subpath works unchanged under --base."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from tests.client import get
from tests.conftest import ServeFactory

pytest.importorskip("mkdocs")

LINK = re.compile(r'(?:href|src)="([^"#]+)')


@pytest.fixture
def mkdocs_site(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    docs = project / "docs"
    docs.mkdir(parents=True)
    (docs / "index.md").write_text("# Home\n\nSee [the guide](guide/setup.md).\n")
    (docs / "guide").mkdir()
    (docs / "guide" / "setup.md").write_text("# Setup\n\nBack [home](../index.md).\n")
    (project / "mkdocs.yml").write_text(
        "site_name: Preview test\nsite_url: https://example.github.io/project/\n"
    )
    out = tmp_path / "built"
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--quiet", "--site-dir", str(out)],
        cwd=project,
        check=True,
        timeout=120,
    )
    return out


def test_mkdocs_site_for_a_subpath_is_served_under_base(
    serve: ServeFactory, mkdocs_site: Path
) -> None:
    srv = serve(mkdocs_site, base=("project",))
    resp = get(srv.addr, "/")
    assert (resp.status, resp.header("location")) == (302, "/project/")
    checked: set[str] = set()
    for page in ("/project/", "/project/guide/setup/"):
        resp = get(srv.addr, page)
        assert resp.status == 200, page
        assert b"Preview test" in resp.body
        for ref in LINK.findall(resp.body.decode()):
            url = urlsplit(urljoin("http://127.0.0.1" + page, ref))
            if url.netloc != "127.0.0.1" or url.path in checked:
                continue  # another site (a CDN, the canonical https URL)
            checked.add(url.path)
            assert url.path.startswith("/project/"), ref
            linked = get(srv.addr, url.path)
            assert linked.status == 200, (page, ref)
    assert any(path.endswith(".css") for path in checked)
    assert any(path.endswith(".js") for path in checked)
    assert "/project/guide/setup/" in checked and "/project/" in checked
    # The search index the theme's JavaScript loads, through the prefix.
    index = get(srv.addr, "/project/search/search_index.json")
    assert index.status == 200
    assert any(doc["location"].startswith("guide/setup") for doc in json.loads(index.body)["docs"])
    # MkDocs' 404 page (absolute links from site_url) answers misses under the prefix.
    missing = get(srv.addr, "/project/no/such/page/")
    assert missing.status == 404
    assert b"/project/" in missing.body
