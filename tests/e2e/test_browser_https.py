"""A real Chromium loads a page over ``--https``, trusting the local CA from its command line.

Chromium takes no CA file on its command line, but it takes the SHA-256 of
public keys to accept (``--ignore-certificate-errors-spki-list``); the
server sends the CA in its chain, so the CA's key is the one named, as a
developer would name it in a browser-test launcher.  Chromium is found as
``$CHROMIUM`` or on PATH; Playwright only drives it.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from staticsrv.pki import certs
from tests.browser import launch
from tests.conftest import ServeFactory

pytestmark = [pytest.mark.browser, pytest.mark.one_scheme]


def spki_sha256(pem: bytes) -> str:
    key = x509.load_pem_x509_certificate(pem).public_key()
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")


@pytest.fixture
def page_root(tmp_path: Path) -> Path:
    root = tmp_path / "page"
    root.mkdir()
    (root / "index.html").write_text(
        '<!doctype html><link rel="stylesheet" href="style.css">'
        '<script src="app.js"></script><h1>over TLS</h1>\n'
    )
    (root / "style.css").write_text("h1 { color: rgb(1, 2, 3); }\n")
    (root / "app.js").write_text("document.title = 'loaded ' + location.protocol;\n")
    return root


def test_chromium_loads_a_page_over_https_as_a_secure_context(
    serve: ServeFactory,
    page_root: Path,
    caplog: pytest.LogCaptureFixture,
    playwright: Any,
) -> None:
    caplog.set_level(logging.WARNING, logger="staticsrv")
    srv = serve(page_root, https=True)
    ca_pin = spki_sha256((certs.data_dir() / certs.CA_CERT).read_bytes())
    failed: list[str] = []
    browser = launch(playwright, f"--ignore-certificate-errors-spki-list={ca_pin}")
    try:
        page = browser.new_page()
        page.on("requestfailed", lambda req: failed.append(req.url))
        resp = page.goto(f"https://localhost:{srv.port}/")
        assert resp is not None and resp.status == 200
        assert page.title() == "loaded https:"
        color = page.eval_on_selector("h1", "e => getComputedStyle(e).color")
        assert color == "rgb(1, 2, 3)"
        # What HTTPS is for on a phone: a secure context and its APIs.
        assert page.evaluate("window.isSecureContext") is True
        assert page.evaluate("typeof crypto.subtle.digest") == "function"
        assert page.evaluate("'serviceWorker' in navigator") is True
    finally:
        browser.close()
    assert failed == []
    # Not one connection refused the certificate along the way.
    assert [r.getMessage() for r in caplog.records if "TLS" in r.getMessage()] == []
