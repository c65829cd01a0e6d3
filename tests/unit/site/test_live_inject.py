"""Where the live-reload script goes (staticsrv.site.inject): pure, no I/O."""

from __future__ import annotations

import codecs

import pytest

from staticsrv.site.inject import SCRIPT_TAG, inject, injection_point

TAG = SCRIPT_TAG.decode()


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        # Before </head> when there is one.
        (
            "<html><head><title>t</title></head><body>x</body></html>",
            f"<html><head><title>t</title>{TAG}</head><body>x</body></html>",
        ),
        # Else before </body>.
        ("<p>x</p></body></html>", f"<p>x</p>{TAG}</body></html>"),
        # Neither: at the very end, so the page still reloads.
        ("<p>just a fragment", f"<p>just a fragment{TAG}"),
        ("", TAG),
        # Tag names are case-insensitive, and may carry spaces.
        ("<HEAD><TITLE>t</TITLE></HEAD >", f"<HEAD><TITLE>t</TITLE>{TAG}</HEAD >"),
        ("<Body>x</BoDy>", f"<Body>x{TAG}</BoDy>"),
    ],
)
def test_script_goes_before_head_else_body_else_at_the_end(doc: str, expected: str) -> None:
    assert inject(doc.encode()).decode() == expected


def test_head_end_inside_a_comment_is_not_an_injection_point() -> None:
    doc = b"<head><!-- </head> --></head>"
    assert injection_point(doc) == doc.rindex(b"</head>")


def test_head_end_inside_a_script_string_is_not_an_injection_point() -> None:
    doc = b'<head><script>document.write("</head>")</script></head><body></body>'
    assert injection_point(doc) == doc.rindex(b"</head>")


def test_body_end_inside_a_script_or_style_is_skipped_too() -> None:
    doc = b"<script>var s = '</body>';</script><style>/* </BODY> */</style><p>x</body>"
    assert injection_point(doc) == doc.rindex(b"</body>")


def test_head_end_inside_an_attribute_value_is_not_an_injection_point() -> None:
    doc = b'<head><meta content="</head>" name="x"></head>'
    assert injection_point(doc) == doc.rindex(b"</head>")


def test_a_textarea_or_title_holding_markup_is_text() -> None:
    doc = b"<title></head></title><textarea></body></textarea>"
    assert injection_point(doc) == len(doc)


def test_an_unclosed_comment_or_script_ends_the_search_at_the_end() -> None:
    assert injection_point(b"<p>x<!-- </head>") == len(b"<p>x<!-- </head>")
    assert injection_point(b"<script></head>") == len(b"<script></head>")


def test_the_first_head_end_wins() -> None:
    doc = b"<head></head><body><svg><head></head></svg></body>"
    assert injection_point(doc) == doc.index(b"</head>")


def test_doctype_and_processing_instructions_are_skipped() -> None:
    doc = b"<!DOCTYPE html><?xml version='1.0'?><head></head>"
    assert injection_point(doc) == doc.index(b"</head>")


def test_non_ascii_utf8_documents_keep_their_bytes() -> None:
    doc = "<head><title>Grüße — 日本</title></head><body>é</body>".encode()
    out = inject(doc)
    assert out == doc.replace(b"</head>", SCRIPT_TAG + b"</head>")
    assert len(out) == len(doc) + len(SCRIPT_TAG)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_documents_get_the_tag_in_utf16(codec: str) -> None:
    bom = codecs.BOM_UTF16_LE if codec == "utf-16-le" else codecs.BOM_UTF16_BE
    text = "<head><title>ü</title></head><body></body>"
    out = inject(bom + text.encode(codec))
    assert out.startswith(bom)
    assert out[len(bom) :].decode(codec) == text.replace("</head>", TAG + "</head>")


def test_markup_is_never_lost_or_reordered() -> None:
    doc = b"<div a='>' b=\"</body>\">x</div></body>"
    out = inject(doc)
    assert out.replace(SCRIPT_TAG, b"") == doc
    assert out.count(SCRIPT_TAG) == 1
    assert out.endswith(SCRIPT_TAG + b"</body>")
