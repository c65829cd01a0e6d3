"""The streaming scanner finds the same injection point as the whole-document rules."""

from __future__ import annotations

import codecs
import random
from collections.abc import Callable, Iterable, Iterator

import pytest

from staticsrv.site.inject import SCRIPT_TAG, inject, injection_point
from staticsrv.site.scan import Scanner, find_point, spliced


def _splits(data: bytes, rng: random.Random) -> Iterator[bytes]:
    """``data`` cut at random places (h11's trick), including empty pieces."""
    i = 0
    while i < len(data):
        step = rng.choice((0, 1, 1, 2, 3, 5, 8, 64))
        yield data[i : i + step]
        i += step


def scan(data: bytes, pieces: Iterable[bytes]) -> int:
    """The scanner's answer, with its rewinds served from ``data``, as a file reader would."""
    scanner = Scanner()
    for piece in pieces:
        found = scanner.feed(piece)
        if found is not None:
            return found
    while True:
        at = scanner.end()
        if at is not None:
            return at
        rest = data[scanner.rewind :]
        for k in range(0, len(rest), 7):  # fed again in small pieces
            found = scanner.feed(rest[k : k + 7])
            if found is not None:
                return found


def every_way(data: bytes, seed: int = 0) -> set[int]:
    rng = random.Random(seed)
    answers = {
        scan(data, [data]),
        scan(data, [data[i : i + 1] for i in range(len(data))]),
    }
    for _ in range(5):
        answers.add(scan(data, _splits(data, rng)))
    return answers


CASES = [
    b"<html><head><title>t</title></head><body>x</body></html>",
    b"<!-- </head> --><head></head>",
    b"<script>var s = '</head>';</script></head>",
    b"<script>a</scriptx></head></script></body>",
    b"<style>p{}</style ></head>",
    b"<a title=\"</head>\" data-x='</body>'>x</a></body>",
    b"<p>no closing tags at all</p>",
    b"",
    b"<",
    b"</",
    b"<!-",
    b"<!-- never closed </head>",
    b"<!doctype html></HEAD>",
    b"<?xml x?></Head >",
    b"</ head></body x>",
    b"<plaintext></head>",
    b"<textarea></head></textarea></BODY>",
    b'<a x="unclosed></head></body>',
    b"<a x='unclosed></head>\"</body>",
    b'<script x="a></script></head>',
    b'<plaintext x="a></head>',
    b'<a x="1" y=\'2\' z="3></body>\'"</head>',
    b"</body></body></head>",
    b"</headx></head>",
    b"<!-->--></head>",
    b"<title>a</title</head>",
    b"<script></script",
    b"x</body",
    b"x</head",
    b"<a\" '\"></head>'",  # a quote in the name: the name is never shortened to fit
    b"<a\"b x='1'>y</body>",
]


@pytest.mark.parametrize("data", CASES)
def test_same_point_as_whole_document_rules(data: bytes) -> None:
    assert every_way(data) == {injection_point(data)}


def test_head_far_past_many_chunk_boundaries() -> None:
    filler = b"<p class='a'>text &amp; more</p>\n" * 5000
    data = b"<html><!-- c --><head><script>'</head>'</script>" + filler + b"</head><body>"
    at = injection_point(data)
    assert data[at : at + 7] == b"</head>" and at > len(filler)
    assert every_way(data) == {at}


def test_no_head_nor_body_means_the_end() -> None:
    data = b"<p>" + b"x" * 10_000
    assert every_way(data) == {len(data)}


def test_rewinds_are_bounded_to_two() -> None:
    data = b"<a x=\"1><b y='2><i>" + b"z" * 100 + b"</body>"
    scanner = Scanner()
    scanner.feed(data)
    rewinds = 0
    while (at := scanner.end()) is None:
        rewinds += 1
        scanner.feed(data[scanner.rewind :])
    assert rewinds == 2
    assert at == injection_point(data) == data.index(b"</body>")


_ATOMS = [
    b"<", b">", b"</", b"<!--", b"-->", b"-", b"!", b"?", b'"', b"'", b"=", b" ", b"/",
    b"head", b"HEAD", b"body", b"script", b"style", b"title", b"plaintext", b"x", b"\n",
    b"</head>", b"</body>", b"<script>", b"</script>", b"<a ", b"\xc3\xa9",
    b'a"', b"a'", b'<a"', b"<!doctype ", b"<scriptx>", b"</headx>",
]  # fmt: skip


def test_random_documents_agree() -> None:
    rng = random.Random(16)
    for seed in range(1500):
        data = b"".join(rng.choice(_ATOMS) for _ in range(rng.randint(0, 40)))
        assert every_way(data, seed) == {injection_point(data)}, data


def test_spliced_ranges_rebuild_the_injected_bytes() -> None:
    data = b"<head></head><body>hello</body>"
    at = injection_point(data)
    whole = inject(data)
    assert whole == data[:at] + SCRIPT_TAG + data[at:]
    for start in range(len(whole)):
        for length in range(1, len(whole) - start + 1):
            got = b"".join(
                p if isinstance(p, bytes) else data[p[0] : p[0] + p[1]]
                for p in spliced(at, start, length)
            )
            assert got == whole[start : start + length]


def _reader(data: bytes) -> Callable[[int, int], bytes]:
    return lambda offset, count: data[offset : offset + count]


@pytest.mark.parametrize("piece", [2, 6, 64, 65536])
@pytest.mark.parametrize(
    "text",
    [
        "<html><head><title>é😀</title></head><body>ü</body>",
        "<p>😀 no tags to close",
        "<script>'</head>'</script>😀<a x=\"unclosed></head></body>",
        "",
    ],
)
@pytest.mark.parametrize("bom", [b"", codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE])
def test_find_point_matches_inject_in_utf8_and_utf16(bom: bytes, text: str, piece: int) -> None:
    encoding = {codecs.BOM_UTF16_LE: "utf-16-le", codecs.BOM_UTF16_BE: "utf-16-be"}.get(
        bom, "utf-8"
    )
    data = bom + text.encode(encoding)
    at, tag = find_point(_reader(data), len(data), piece)
    assert data[:at] + tag + data[at:] == inject(data)


def test_find_point_refuses_a_short_read() -> None:
    data = b"<p>" + b"x" * 100
    with pytest.raises(EOFError):
        find_point(lambda offset, count: data[offset : offset + count], len(data) + 10, 16)
