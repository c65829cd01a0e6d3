"""Byte ranges (RFC 9110 §14): parsing, Content-Range and multipart/byteranges."""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from staticsrv.http.ranges import (
    UNSATISFIABLE,
    ByteRange,
    Unsatisfiable,
    content_range,
    multipart_layout,
    new_boundary,
    parse_range,
    unsatisfied_content_range,
)

U = UNSATISFIABLE
Expected = list[tuple[int, int]] | Unsatisfiable | None


def as_tuples(result: list[ByteRange] | Unsatisfiable | None) -> Expected:
    if isinstance(result, list):
        return [(r.start, r.end) for r in result]
    return result


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        pytest.param(None, 1000, None, id="absent_header_ignored"),
        pytest.param("bytes=0-99", 1000, [(0, 99)], id="int_range_rfc9110_14_1_2"),
        pytest.param("bytes=0-0", 1000, [(0, 0)], id="first_byte_only"),
        pytest.param("bytes=999-999", 1000, [(999, 999)], id="last_byte_only"),
        pytest.param("bytes=500-", 1000, [(500, 999)], id="open_ended_to_the_end"),
        pytest.param("bytes=0-", 1000, [(0, 999)], id="open_ended_whole_file"),
        pytest.param("bytes=-100", 1000, [(900, 999)], id="suffix_range_rfc9110_14_1_2"),
        pytest.param("bytes=-1", 1000, [(999, 999)], id="suffix_last_byte"),
        pytest.param(
            "bytes=-5000",
            1000,
            [(0, 999)],
            id="suffix_longer_than_file_is_whole_file_rfc9110_14_1_2",
        ),
        pytest.param(
            "bytes=900-5000", 1000, [(900, 999)], id="last_pos_beyond_size_clamped_rfc9110_14_1_2"
        ),
        pytest.param("bytes=-0", 1000, U, id="zero_suffix_unsatisfiable_rfc9110_14_1_1"),
        pytest.param("bytes=1000-", 1000, U, id="first_pos_at_size_unsatisfiable"),
        pytest.param("bytes=1000-2000", 1000, U, id="first_pos_beyond_size_unsatisfiable"),
        pytest.param("bytes=2000-,-0", 1000, U, id="all_elements_unsatisfiable_416"),
        pytest.param("bytes=0-0", 0, U, id="empty_file_int_range_unsatisfiable"),
        pytest.param("bytes=0-", 0, U, id="empty_file_open_range_unsatisfiable"),
        pytest.param("bytes=-5", 0, U, id="empty_file_suffix_unsatisfiable"),
        pytest.param(
            "bytes=2000-3000,0-9",
            1000,
            [(0, 9)],
            id="unsatisfiable_elements_dropped_when_one_satisfiable_rfc9110_14_1_1",
        ),
        # Invalid -> ignore the header (200), RFC 9110 §14.2.
        pytest.param("bytes=5-2", 1000, None, id="last_before_first_invalid_rfc9110_14_1_1"),
        pytest.param(
            "bytes=0-9,5-2", 1000, None, id="one_invalid_element_invalidates_header_rfc9110_14_2"
        ),
        pytest.param("bytes=0-9,abc", 1000, None, id="garbage_element_invalidates_header"),
        pytest.param("items=0-1", 1000, None, id="unknown_unit_ignored_rfc9110_14_2"),
        pytest.param("bytes 0-1", 1000, None, id="missing_equals"),
        pytest.param("bytes=", 1000, None, id="empty_range_set"),
        pytest.param("bytes=,,", 1000, None, id="only_empty_elements"),
        pytest.param("bytes=-", 1000, None, id="lone_dash"),
        pytest.param("bytes=5", 1000, None, id="missing_dash"),
        pytest.param("bytes=--5", 1000, None, id="negative_suffix"),
        pytest.param("bytes=-5-10", 1000, None, id="double_dash"),
        pytest.param("bytes=0 -1", 1000, None, id="space_inside_element_invalid"),
        pytest.param("bytes=0- 1", 1000, None, id="space_after_dash_invalid"),
        pytest.param("bytes=+1-2", 1000, None, id="plus_sign_not_a_digit"),
        pytest.param("bytes=1_0-20", 1000, None, id="underscore_digit_separator_rejected"),
        pytest.param("bytes=0x10-20", 1000, None, id="hex_rejected"),
        pytest.param("bytes=\uff10-1", 1000, None, id="non_ascii_digit_rejected"),
        pytest.param("bytes=1.5-2", 1000, None, id="decimal_rejected"),
        # Case, whitespace and empty list elements.
        pytest.param("BYTES=0-1", 1000, [(0, 1)], id="unit_case_insensitive_rfc9110_14_1"),
        pytest.param("Bytes=0-1", 1000, [(0, 1)], id="unit_mixed_case"),
        pytest.param("bytes=0-1, 5-6", 1000, [(0, 1), (5, 6)], id="ows_after_comma_rfc9110_5_6_1"),
        pytest.param("bytes= 0-1 ,\t5-6 ", 1000, [(0, 1), (5, 6)], id="ows_around_elements"),
        pytest.param("bytes =0-1", 1000, [(0, 1)], id="ows_before_equals_tolerated"),
        pytest.param(
            "bytes=,0-1,,5-6,", 1000, [(0, 1), (5, 6)], id="empty_list_elements_rfc9110_5_6_1"
        ),
        # Coalescing (RFC 9110 §14.6) and ordering.
        pytest.param("bytes=0-1,0-1", 1000, [(0, 1)], id="duplicate_ranges_coalesced"),
        pytest.param("bytes=0-10,5-20", 1000, [(0, 20)], id="overlapping_ranges_coalesced"),
        pytest.param("bytes=0-1,2-3", 1000, [(0, 3)], id="adjacent_ranges_coalesced"),
        pytest.param("bytes=0-1,3-4", 1000, [(0, 1), (3, 4)], id="one_byte_gap_kept_apart"),
        pytest.param(
            "bytes=500-599,0-9",
            1000,
            [(500, 599), (0, 9)],
            id="parts_in_request_order_rfc9110_15_3_7_2",
        ),
        pytest.param(
            "bytes=-100,0-99", 1000, [(900, 999), (0, 99)], id="suffix_then_prefix_in_request_order"
        ),
        pytest.param(
            "bytes=900-999,0-1,5-10,2-3",
            1000,
            [(900, 999), (0, 3), (5, 10)],
            id="merged_part_stands_where_its_first_member_was",
        ),
        pytest.param("bytes=10-20,12-15", 1000, [(10, 20)], id="contained_range_coalesced"),
        # Huge numerals (RFC 9110 §14.1.2: anticipate large decimal numerals).
        pytest.param(
            "bytes=0-99999999999999999999999999", 1000, [(0, 999)], id="huge_last_pos_clamped"
        ),
        pytest.param("bytes=99999999999999999999999-", 1000, U, id="huge_first_pos"),
        pytest.param("bytes=-99999999999999999999999", 1000, [(0, 999)], id="huge_suffix"),
        pytest.param(
            "bytes=0000000000000000000000005-0000000000000000000000009",
            1000,
            [(5, 9)],
            id="many_leading_zeros",
        ),
        pytest.param("bytes=" + "9" * 5000 + "-", 1000, U, id="numeral_beyond_int_str_limit"),
        # Amplification (RFC 9110 §14.2, CVE-2011-3192).
        pytest.param("bytes=0-,0-", 1000, None, id="whole_file_twice_amplification"),
        pytest.param(
            "bytes=0-599,400-999", 1000, None, id="overlap_sum_exceeds_size_amplification"
        ),
        pytest.param("bytes=0-1,0-1", 2, None, id="sum_exceeds_tiny_file"),
        pytest.param("bytes=0-499,500-999", 1000, [(0, 999)], id="sum_equal_to_size_allowed"),
        pytest.param(
            "bytes=" + ",".join(f"{2 * i}-{2 * i}" for i in range(16)),
            1000,
            [(2 * i, 2 * i) for i in range(16)],
            id="max_ranges_16_allowed",
        ),
        pytest.param(
            "bytes=" + ",".join(f"{2 * i}-{2 * i}" for i in range(17)),
            1000,
            None,
            id="more_than_max_ranges_ignored_rfc9110_14_2",
        ),
        pytest.param(
            "bytes=" + ",".join(f"{i}-{i}" for i in range(2000)),
            10**6,
            None,
            id="range_storm_2000_tiny_ranges_ignored_rfc9110_14_2",
        ),
        pytest.param(
            "bytes=0-," + ",".join(f"5-{i}" for i in range(5, 1300)),
            10**6,
            None,
            id="apache_killer_cve_2011_3192_ignored",
        ),
        pytest.param(
            "bytes=" + ",".join(["2000-3000"] * 17),
            1000,
            None,
            id="count_limit_includes_unsatisfiable_elements",
        ),
        pytest.param(
            "bytes=" + "," * 16 + "0-1", 1000, [(0, 1)], id="some_empty_elements_tolerated"
        ),
        pytest.param(
            "bytes=" + "," * 2000 + "0-1",
            1000,
            None,
            id="empty_element_flood_ignored_rfc9110_5_6_1",
        ),
    ],
)
def test_parse_range(header: str | None, size: int, expected: Expected) -> None:
    assert as_tuples(parse_range(header, size)) == expected


@pytest.mark.parametrize(
    ("header", "max_ranges", "expected"),
    [
        pytest.param("bytes=0-0,2-2", 1, None, id="custom_limit_exceeded"),
        pytest.param("bytes=0-0", 1, [(0, 0)], id="custom_limit_reached"),
        pytest.param("bytes=0-0,2-2,4-4", 3, [(0, 0), (2, 2), (4, 4)], id="custom_limit_three"),
    ],
)
def test_parse_range_max_ranges(header: str, max_ranges: int, expected: Expected) -> None:
    assert as_tuples(parse_range(header, 100, max_ranges=max_ranges)) == expected


def test_unsatisfiable_is_a_singleton_sentinel() -> None:
    assert parse_range("bytes=-0", 10) is UNSATISFIABLE
    assert parse_range("bytes=10-", 10) is Unsatisfiable.UNSATISFIABLE
    assert repr(UNSATISFIABLE) == "UNSATISFIABLE"


@pytest.mark.parametrize(
    ("r", "size", "length", "header"),
    [
        pytest.param(
            ByteRange(0, 99), 1000, 100, "bytes 0-99/1000", id="content_range_rfc9110_14_4"
        ),
        pytest.param(ByteRange(5, 5), 6, 1, "bytes 5-5/6", id="single_byte"),
        pytest.param(ByteRange(0, 0), 1, 1, "bytes 0-0/1", id="one_byte_file"),
    ],
)
def test_byte_range_length_and_content_range(
    r: ByteRange, size: int, length: int, header: str
) -> None:
    assert r.length == length
    assert content_range(r, size) == header


def test_unsatisfied_content_range_rfc9110_14_4() -> None:
    assert unsatisfied_content_range(1000) == "bytes */1000"
    assert unsatisfied_content_range(0) == "bytes */0"


def test_byte_range_is_frozen() -> None:
    r = ByteRange(1, 2)
    with pytest.raises(AttributeError):
        r.start = 5  # type: ignore[misc]


# --- multipart/byteranges -------------------------------------------------


def build_body(data: bytes, layout_ranges: list[ByteRange], content_type: str, b: str) -> bytes:
    layout = multipart_layout(layout_ranges, len(data), content_type, b)
    body = b"".join(head + data[r.start : r.end + 1] for head, r in layout.parts())
    return body + layout.closing


def test_multipart_layout_exact_bytes_rfc9110_14_6() -> None:
    layout = multipart_layout([ByteRange(0, 0), ByteRange(10, 19)], 1000, "text/plain", "B0UND")
    assert layout.part_heads == (
        b"\r\n--B0UND\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-0/1000\r\n\r\n",
        b"\r\n--B0UND\r\nContent-Type: text/plain\r\nContent-Range: bytes 10-19/1000\r\n\r\n",
    )
    assert layout.closing == b"\r\n--B0UND--\r\n"
    assert layout.content_type == "multipart/byteranges; boundary=B0UND"
    assert layout.ranges == (ByteRange(0, 0), ByteRange(10, 19))
    assert layout.total_length == sum(map(len, layout.part_heads)) + 1 + 10 + len(layout.closing)


def test_multipart_body_parses_back_as_mime() -> None:
    data = (string.ascii_letters * 20).encode()
    ranges = [ByteRange(0, 9), ByteRange(100, 149), ByteRange(len(data) - 5, len(data) - 1)]
    boundary = new_boundary()
    layout = multipart_layout(ranges, len(data), "text/plain; charset=utf-8", boundary)
    body = build_body(data, ranges, "text/plain; charset=utf-8", boundary)
    assert len(body) == layout.total_length
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {layout.content_type}\r\n\r\n".encode() + body
    )
    parts = list(message.iter_parts())
    assert len(parts) == len(ranges)
    for part, r in zip(parts, ranges, strict=True):
        assert part["Content-Range"] == content_range(r, len(data))
        assert part.get_content_type() == "text/plain"
        assert part.get_param("charset") == "utf-8"
        assert part.get_payload(decode=True) == data[r.start : r.end + 1]


@pytest.mark.parametrize(
    ("boundary", "param"),
    [
        pytest.param("abc123", "abc123", id="token_boundary_unquoted"),
        pytest.param("a:b", '"a:b"', id="tspecial_boundary_quoted_rfc9110_5_6_6"),
        pytest.param("a b", '"a b"', id="space_boundary_quoted"),
    ],
)
def test_multipart_boundary_parameter_quoting(boundary: str, param: str) -> None:
    layout = multipart_layout([ByteRange(0, 1)], 10, "text/plain", boundary)
    assert layout.content_type == f"multipart/byteranges; boundary={param}"
    assert layout.closing == f"\r\n--{boundary}--\r\n".encode()


@pytest.mark.parametrize(
    ("ranges", "size", "content_type", "boundary", "message"),
    [
        pytest.param([ByteRange(0, 1)], 10, "text/plain", "", "boundary", id="empty_boundary"),
        pytest.param(
            [ByteRange(0, 1)], 10, "text/plain", "x" * 71, "boundary", id="boundary_over_70"
        ),
        pytest.param(
            [ByteRange(0, 1)], 10, "text/plain", "ab ", "boundary", id="boundary_trailing_space"
        ),
        pytest.param(
            [ByteRange(0, 1)], 10, "text/plain", 'a"b', "boundary", id="boundary_with_dquote"
        ),
        pytest.param(
            [ByteRange(0, 1)], 10, "text/plain", "a\r\nb", "boundary", id="boundary_with_crlf"
        ),
        pytest.param(
            [ByteRange(0, 1)], 10, "text/plain\r\nX: y", "b", "content type", id="content_type_crlf"
        ),
        pytest.param([], 10, "text/plain", "b", "at least one range", id="no_ranges"),
        pytest.param([ByteRange(5, 10)], 10, "text/plain", "b", "outside", id="range_past_end"),
        pytest.param([ByteRange(5, 4)], 10, "text/plain", "b", "outside", id="inverted_range"),
    ],
)
def test_multipart_layout_rejects_programming_errors(
    ranges: list[ByteRange], size: int, content_type: str, boundary: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        multipart_layout(ranges, size, content_type, boundary)


def test_new_boundary_is_random_token() -> None:
    a, b = new_boundary(), new_boundary()
    assert a != b
    assert len(a) == 32
    assert set(a) <= set("0123456789abcdef")
    assert multipart_layout([ByteRange(0, 0)], 1, "x/y", a).content_type.endswith(f"={a}")


@st.composite
def file_and_ranges(draw: st.DrawFn) -> tuple[bytes, list[ByteRange]]:
    data = draw(st.binary(min_size=1, max_size=2000))
    n = len(data)
    ranges = []
    for _ in range(draw(st.integers(min_value=1, max_value=20))):
        start = draw(st.integers(min_value=0, max_value=n - 1))
        end = draw(st.integers(min_value=start, max_value=n - 1))
        ranges.append(ByteRange(start, end))
    return data, ranges


@settings(max_examples=200, deadline=None)
@given(file_and_ranges(), st.sampled_from(["application/octet-stream", "text/html; charset=utf-8"]))
def test_multipart_total_length_matches_concatenated_body(
    case: tuple[bytes, list[ByteRange]], content_type: str
) -> None:
    data, ranges = case
    boundary = new_boundary()
    layout = multipart_layout(ranges, len(data), content_type, boundary)
    body = build_body(data, ranges, content_type, boundary)
    assert len(body) == layout.total_length
    assert body.endswith(f"\r\n--{boundary}--\r\n".encode())
    assert body.count(f"\r\n--{boundary}\r\n".encode()) >= len(ranges)


# --- parse_range properties -----------------------------------------------

Spec = tuple[str, int, int | None]  # ("int", first, last|None) or ("suffix", n, None)

specs = st.one_of(
    st.tuples(
        st.just("int"),
        st.integers(min_value=0, max_value=400),
        st.none() | st.integers(min_value=0, max_value=400),
    ),
    st.tuples(st.just("suffix"), st.integers(min_value=0, max_value=400), st.none()),
)
ows = st.sampled_from(["", " ", "\t", "  "])


def render(spec: Spec) -> str:
    kind, a, b = spec
    if kind == "suffix":
        return f"-{a}"
    return f"{a}-" if b is None else f"{a}-{b}"


def model(
    elements: list[Spec], empties: int, size: int, max_ranges: int
) -> set[int] | Unsatisfiable | None:
    """A deliberately naive reference: the set of byte offsets to send."""
    if not elements or len(elements) > max_ranges or len(elements) + empties > 2 * max_ranges:
        return None
    if any(kind == "int" and b is not None and b < a for kind, a, b in elements):
        return None
    wanted: list[range] = []
    for kind, a, b in elements:
        if kind == "suffix":
            if a > 0 and size > 0:
                wanted.append(range(max(0, size - a), size))
        elif a < size:
            wanted.append(range(a, size if b is None else min(b + 1, size)))
    if not wanted:
        return UNSATISFIABLE
    if sum(len(w) for w in wanted) > size:
        return None
    return {i for w in wanted for i in w}


def check_invariants(result: list[ByteRange] | Unsatisfiable | None, size: int) -> None:
    if isinstance(result, list):
        assert result, "a range list is never empty"
        for r in result:
            assert 0 <= r.start <= r.end < size
        # Parts keep the order of the request (RFC 9110 §15.3.7.2), so the
        # ranges are checked in ascending order: non-overlapping and, since
        # adjacent ones merge, with a gap between.
        for prev, cur in itertools.pairwise(sorted(result, key=lambda r: r.start)):
            assert cur.start > prev.end + 1
        assert sum(r.length for r in result) <= size


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(ows, specs, ows), min_size=1, max_size=20),
    st.integers(min_value=0, max_value=300),
    st.integers(min_value=1, max_value=16),
    st.integers(min_value=0, max_value=4),
)
def test_parse_range_matches_reference_model(
    elements: list[tuple[str, Spec, str]], size: int, max_ranges: int, empties: int
) -> None:
    rendered = [f"{lead}{render(s)}{trail}" for lead, s, trail in elements]
    header = "bytes=" + "," * empties + ",".join(rendered)
    result = parse_range(header, size, max_ranges)
    check_invariants(result, size)
    expected = model([s for _, s, _ in elements], empties, size, max_ranges)
    if isinstance(expected, set):
        assert isinstance(result, list)
        assert {i for r in result for i in range(r.start, r.end + 1)} == expected
    else:
        assert result is expected


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet="bytes=0123456789-, \t\uff10x", max_size=60),
    st.integers(min_value=0, max_value=10**12),
)
def test_parse_range_never_raises_on_arbitrary_input(header: str, size: int) -> None:
    check_invariants(parse_range(header, size), size)
