"""Tests for staticsrv.site.mime: the built-in Content-Type table."""

from __future__ import annotations

import mimetypes

import pytest

from staticsrv.site import mime
from staticsrv.site.mime import DEFAULT_TYPE, guess_type

UTF8 = "; charset=utf-8"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("index.html", "text/html" + UTF8),
        ("page.htm", "text/html" + UTF8),
        ("page.xhtml", "application/xhtml+xml" + UTF8),
        ("style.css", "text/css" + UTF8),
        ("app.js", "text/javascript" + UTF8),
        ("mod.mjs", "text/javascript" + UTF8),
        ("common.cjs", "text/javascript" + UTF8),
        ("main.ts", "text/javascript" + UTF8),
        ("view.tsx", "text/javascript" + UTF8),
        ("view.jsx", "text/javascript" + UTF8),
        ("data.json", "application/json" + UTF8),
        ("app.js.map", "application/json" + UTF8),
        ("data.jsonld", "application/ld+json" + UTF8),
        ("site.webmanifest", "application/manifest+json" + UTF8),
        ("feed.xml", "application/xml" + UTF8),
        ("feed.rss", "application/rss+xml" + UTF8),
        ("feed.atom", "application/atom+xml" + UTF8),
        ("logo.svg", "image/svg+xml" + UTF8),
        ("a.png", "image/png"),
        ("staticsrv-ca.crt", "application/x-x509-ca-cert"),  # a phone installs it
        ("ca.pem", "application/x-x509-ca-cert"),
        ("ca.cer", "application/pkix-cert"),
        ("a.jpg", "image/jpeg"),
        ("a.jpeg", "image/jpeg"),
        ("a.gif", "image/gif"),
        ("a.webp", "image/webp"),
        ("a.avif", "image/avif"),
        ("favicon.ico", "image/x-icon"),
        ("a.bmp", "image/bmp"),
        ("f.woff", "font/woff"),
        ("f.woff2", "font/woff2"),
        ("f.ttf", "font/ttf"),
        ("f.otf", "font/otf"),
        ("f.eot", "application/vnd.ms-fontobject"),
        ("m.wasm", "application/wasm"),
        ("v.mp4", "video/mp4"),
        ("v.webm", "video/webm"),
        ("a.ogg", "audio/ogg"),
        ("a.mp3", "audio/mpeg"),
        ("a.wav", "audio/wav"),
        ("a.flac", "audio/flac"),
        ("a.m4a", "audio/mp4"),
        ("subs.vtt", "text/vtt" + UTF8),
        ("doc.pdf", "application/pdf"),
        ("notes.txt", "text/plain" + UTF8),
        ("README.md", "text/markdown" + UTF8),
        ("t.csv", "text/csv" + UTF8),
        ("cal.ics", "text/calendar" + UTF8),
        ("c.yaml", "application/yaml" + UTF8),
        ("c.yml", "application/yaml" + UTF8),
        ("pyproject.toml", "application/toml" + UTF8),
        ("x.zip", "application/zip"),
        ("x.tar.gz", "application/gzip"),  # the file itself, not an encoding
        ("x.tar", "application/x-tar"),
        ("x.br", "application/x-brotli"),
        ("x.zst", "application/zstd"),
        ("x.7z", "application/x-7z-compressed"),
        ("script.py", "text/x-python" + UTF8),
        ("run.sh", "text/x-shellscript" + UTF8),
        ("clip.m2ts", "video/mp2t"),
    ],
)
def test_known_types(name: str, expected: str) -> None:
    assert guess_type(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("INDEX.HTML", "text/html" + UTF8),
        ("Photo.JPG", "image/jpeg"),
        ("app.Js", "text/javascript" + UTF8),
        ("/srv/site/assets/app.js", "text/javascript" + UTF8),  # a full path
        ("dir.d/app.css", "text/css" + UTF8),
        ("dir.html/README", DEFAULT_TYPE),  # the directory's dot does not count
    ],
)
def test_case_and_paths(name: str, expected: str) -> None:
    assert guess_type(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "",
        "README",
        "Makefile",
        "file.",
        ".",
        "..",
        ".bashrc",  # a dotfile: the dot starts the name, it is no extension
        ".html",
        "x.unknownext",
        "x.exe.unknown",
        "x.html ",  # the trailing space makes it another extension
        "x.html\x00",
        "x.\u0130",  # "İ".lower() is two code points: must simply miss
        "/",
        "dir/",
    ],
)
def test_unknown_is_octet_stream(name: str) -> None:
    assert guess_type(name) == "application/octet-stream"
    assert guess_type(name) == DEFAULT_TYPE


def test_charset_only_on_textual_types() -> None:
    for ext, value in mime._TYPES.items():
        base = value.split(";")[0]
        textual = base.startswith("text/") or base in mime._TEXTUAL
        assert value.endswith(UTF8) is textual, ext
        assert value.count(";") == (1 if textual else 0), ext


def test_table_is_well_formed() -> None:
    for ext, value in mime._TYPES.items():
        assert ext == ext.lower()
        assert ext and "." not in ext
        kind, slash, sub = value.split(";")[0].partition("/")
        assert slash and kind and sub, ext
        assert kind in {"text", "application", "image", "audio", "video", "font"}, ext


def test_independent_of_mimetypes_state(monkeypatch: pytest.MonkeyPatch) -> None:
    # The stdlib table follows the host's /etc/mime.types and anyone's
    # mimetypes.add_type(); ours must follow neither.
    def boom(*args: object, **kwargs: object) -> tuple[str | None, str | None]:
        raise AssertionError("mimetypes must not be consulted")

    monkeypatch.setattr(mimetypes, "guess_type", boom)
    monkeypatch.setattr(mimetypes, "types_map", {".js": "application/x-bogus"})
    assert guess_type("app.js") == "text/javascript" + UTF8
    assert guess_type("x.unknownext") == DEFAULT_TYPE
