"""A checked file body holds its last byte back until the file is seen unchanged."""

from __future__ import annotations

from staticsrv.http.responses import FileBody
from staticsrv.net.writer import _held_back


def test_the_last_byte_of_a_checked_body_is_held_back() -> None:
    region_last = FileBody(3, (b"--b\r\n", (0, 10)), 15, (10, 1))
    assert _held_back(region_last) == ((b"--b\r\n", (0, 9)), (9, 1))
    tag_last = FileBody(3, ((0, 10), b"<script>"), 18, (10, 1))
    assert _held_back(tag_last) == (((0, 10), b"<script"), b">")


def test_an_unchecked_body_is_sent_as_it_is() -> None:
    body = FileBody(3, ((0, 10),), 10)
    assert _held_back(body) == (((0, 10),), None)
