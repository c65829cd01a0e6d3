"""Chromium on a listing of hostile names, the 404 page, and seeking in a media file.

Every link of a listing must lead to its file (spaces, ``#``, ``?``, ``%``,
unicode, markup in a name) and nothing in a name may run as script; a media
element seeks with byte ranges.
"""

from __future__ import annotations

import math
import os
import struct
import wave
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import ServeFactory
from tests.waiting import poll_until

pytestmark = [
    pytest.mark.browser,
    pytest.mark.one_scheme,
    pytest.mark.skipif(os.name == "nt", reason="these names are not valid on Windows"),
]


# Each file holds its own name, so a link that leads elsewhere is caught.
NAMES = [
    "a b.txt", "a#b.txt", "a?b.txt", "50%.txt", "%41.txt", "a+b.txt", "a&amp;b.txt",
    "ünï.txt", "日本語.txt", "q'\"x.txt", "a\\b.txt", "x:y.txt", "javascript:alert(1)",
    "<img src=x onerror=window.pwned=1>", "<script>window.pwned=2<\\script>.txt", ";x.txt",
]  # fmt: skip
FOLDER = "dir #?% <b>"


def test_every_listing_link_leads_to_its_file_and_no_name_runs(
    serve: ServeFactory, tmp_path: Path, browser: Any
) -> None:
    root = tmp_path / "odd"
    (root / FOLDER).mkdir(parents=True)
    for name in NAMES:
        (root / name).write_text(name)
        (root / FOLDER / name).write_text(name)
    srv = serve(root)
    page = browser.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    base = f"http://127.0.0.1:{srv.port}/"
    for folder, expected in (("", [*NAMES, FOLDER + "/"]), (FOLDER + "/", ["../", *NAMES])):
        resp = page.goto(base + quote(folder))
        assert resp is not None and resp.status == 200
        links = page.eval_on_selector_all("tbody a", "els => els.map(e => [e.textContent, e.href])")
        assert sorted(text for text, _ in links) == sorted(expected)
        for text, href in links:
            got = page.request.get(href, max_redirects=0)
            assert got.status == 200, (text, href)
            if not text.endswith("/"):
                assert got.text() == text, (text, href)
        assert page.evaluate("window.pwned") is None
    # Clicking a folder's link lands on its listing (the browser's own URL resolution).
    page.goto(base)
    page.click(f"tbody a >> text='{FOLDER}/'")
    assert page.title() == f"Index of /{FOLDER}/"
    # The 404 page shows the path escaped, and its links work.
    resp = page.goto(base + "missing%20%3Cb%3Ex%3C%2Fb%3E.txt")
    assert resp is not None and resp.status == 404
    assert page.locator("code").text_content() == "/missing <b>x</b>.txt"
    for href in page.eval_on_selector_all("a", "els => els.map(e => e.href)"):
        assert page.request.get(href).status == 200
    assert (dialogs, errors) == ([], [])
    assert page.evaluate("window.pwned") is None


def test_audio_seeks_with_byte_ranges(serve: ServeFactory, tmp_path: Path, browser: Any) -> None:
    root = tmp_path / "media"
    root.mkdir()
    rate, seconds = 8000, 120  # ~1.9 MB: a seek far ahead needs a range, not the whole file
    with wave.open(str(root / "tone.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(i * 440 * 2 * math.pi / rate)))
                for i in range(rate * seconds)
            )
        )
    (root / "index.html").write_text('<audio id=a src="tone.wav" preload="metadata"></audio>')
    srv = serve(root)
    page = browser.new_page()
    ranges: list[str] = []
    page.on("request", lambda r: ranges.append(r.headers.get("range") or ""))
    page.goto(f"http://127.0.0.1:{srv.port}/")
    got = page.evaluate(
        """() => new Promise((resolve, reject) => {
          const a = document.getElementById('a');
          const seek = () => {
            a.addEventListener('seeked', () => resolve([a.currentTime, a.duration]), {once: true});
            a.currentTime = 100;
          };
          if (a.readyState >= 1) seek();
          else a.addEventListener('loadedmetadata', seek, {once: true});
          a.addEventListener('error', () => reject('media error ' + a.error.code));
          setTimeout(() => reject('no seek within 20 s'), 20000);
        })"""
    )
    assert got == [100, seconds]
    assert any(r.startswith("bytes=") and r != "bytes=0-" for r in ranges), ranges
    # Logged in the loop's turn after the answer, which the browser may have used by then.
    poll_until(
        "a 206 was logged", lambda: any(" 206 " in x for x in srv.log), 5.0, detail=srv.log.copy
    )


def test_spa_under_base_reloads_a_deep_route_with_a_dot(
    serve: ServeFactory, tmp_path: Path, browser: Any
) -> None:
    root = tmp_path / "app"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(
        '<!doctype html><base href="/app/"><script src="assets/app.js"></script><p id=out></p>'
    )
    (root / "assets" / "app.js").write_text(
        "addEventListener('DOMContentLoaded', () => {"
        " document.getElementById('out').textContent = 'route ' + location.pathname; });"
    )
    srv = serve(root, spa="index.html", base=("app",))
    page = browser.new_page()
    url = f"http://127.0.0.1:{srv.port}/app/users/john.doe"
    for load in (lambda: page.goto(url), page.reload):
        resp = load()
        assert resp is not None and resp.status == 200
        assert page.locator("#out").text_content() == "route /app/users/john.doe"
    # An asset that is missing stays a 404, never the app's page.
    assert page.request.get(f"http://127.0.0.1:{srv.port}/app/assets/gone.js").status == 404
