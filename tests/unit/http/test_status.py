"""Reason phrases are RFC 9110's on every Python, not the running interpreter's."""

from __future__ import annotations

import pytest

from staticsrv.http import pages
from staticsrv.http.responses import Response, render_head
from staticsrv.http.status import reason


@pytest.mark.parametrize(
    ("status", "phrase"),
    [
        (200, "OK"),
        (404, "Not Found"),
        # The three that Python 3.13's HTTPStatus renamed: RFC 9110's names.
        (413, "Content Too Large"),
        (416, "Range Not Satisfiable"),
        (422, "Unprocessable Content"),
        (502, "Bad Gateway"),
    ],
)
def test_each_status_has_rfc_9110s_phrase(status: int, phrase: str) -> None:
    assert reason(status) == phrase


@pytest.mark.parametrize(
    ("status", "word"),
    [(199, "Informational"), (299, "Success"), (499, "Client Error"), (599, "Server Error")],
)
def test_an_unlisted_status_gets_its_class_word(status: int, word: str) -> None:
    assert reason(status) == word


def test_the_416_page_is_titled_as_rfc_9110_names_it() -> None:
    page = pages.error_page(416, "no such range")
    assert b"<title>416 Range Not Satisfiable</title>" in page


def test_the_status_line_carries_the_rfc_phrase() -> None:
    head = render_head(Response(416, ()), date=b"", keep_alive=True, http10=False)
    assert head.startswith(b"HTTP/1.1 416 Range Not Satisfiable\r\n")
