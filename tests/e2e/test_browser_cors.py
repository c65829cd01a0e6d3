"""A real browser reads a byte range across origins through --cors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServeFactory

# Chromium over TLS is test_browser_https's (the CA pinned on its command line).
pytestmark = [pytest.mark.browser, pytest.mark.one_scheme]

PAGE = """<!DOCTYPE html><meta charset="utf-8"><title>reader</title>
<script>
async function readRange(url) {
  const resp = await fetch(url, {headers: {Range: "bytes=2-5", "X-Probe": "1"}});
  const bytes = new Uint8Array(await resp.arrayBuffer());
  return {
    status: resp.status,
    range: resp.headers.get("Content-Range"),
    accept: resp.headers.get("Accept-Ranges"),
    etag: resp.headers.get("ETag"),
    length: resp.headers.get("Content-Length"),
    bytes: Array.from(bytes),
  };
}
async function blocked(url) {
  try { await fetch(url, {headers: {Range: "bytes=2-5"}}); return false; }
  catch (e) { return e instanceof TypeError; }
}
</script>
"""


def test_cross_origin_range_read_in_chromium(
    serve: ServeFactory, tmp_path: Path, browser: Any
) -> None:
    page_root = tmp_path / "page"
    page_root.mkdir()
    (page_root / "index.html").write_text(PAGE)
    data_root = tmp_path / "data"
    data_root.mkdir()
    (data_root / "blob.bin").write_bytes(bytes(range(16)))
    pages = serve(page_root)
    data = serve(data_root, cors=True)  # another port: another origin
    closed = serve(data_root)  # the same files without --cors
    tab = browser.new_page()
    tab.goto(f"http://127.0.0.1:{pages.port}/")
    got = tab.evaluate("url => readRange(url)", f"http://127.0.0.1:{data.port}/blob.bin")
    refused = tab.evaluate("url => blocked(url)", f"http://127.0.0.1:{closed.port}/blob.bin")
    assert got["status"] == 206
    assert got["range"] == "bytes 2-5/16"
    assert got["accept"] == "bytes"
    assert got["etag"]
    assert got["length"] == "4"
    assert got["bytes"] == [2, 3, 4, 5]
    assert refused is True  # the control: without --cors the browser refuses the read
    # The custom request header made Chromium send a preflight first.
    assert any('"OPTIONS /blob.bin HTTP/1.1" 204' in line for line in data.log)
