"""Conditional requests (RFC 9110 §13): preconditions, If-Range and entity-tags."""

from __future__ import annotations

import pytest

from staticsrv.http.conditional import (
    Precondition,
    evaluate_preconditions,
    if_range_allows_range,
    make_etag,
)
from staticsrv.http.httpdate import format_http_date

ETAG = make_etag(0x1A2B, 0x400, 0x17F0C3E5D2A1B000)
OTHER = '"something-else"'
LM = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT
NOW = float(LM + 86400)
LM_DATE = format_http_date(LM)
BEFORE = format_http_date(LM - 1)
AFTER = format_http_date(LM + 1)
FUTURE = format_http_date(NOW + 3600)
LM_RFC850 = "Sunday, 06-Nov-94 08:49:37 GMT"
LM_ASCTIME = "Sun Nov  6 08:49:37 1994"

PROCEED = Precondition.PROCEED
NOT_MODIFIED = Precondition.NOT_MODIFIED
FAILED = Precondition.PRECONDITION_FAILED


@pytest.mark.parametrize(
    ("method", "headers", "expected"),
    [
        pytest.param("GET", {}, PROCEED, id="no_preconditions_proceed"),
        pytest.param("GET", {"host": "x", "range": "bytes=0-1"}, PROCEED, id="unrelated_headers"),
        # Step 1: If-Match, strong comparison.
        pytest.param("GET", {"if-match": ETAG}, PROCEED, id="if_match_exact_strong_match"),
        pytest.param(
            "PUT", {"if-match": "*"}, PROCEED, id="if_match_star_matches_current_rfc9110_13_1_1"
        ),
        pytest.param("PUT", {"if-match": OTHER}, FAILED, id="if_match_mismatch_412_rfc9110_13_1_1"),
        pytest.param("GET", {"if-match": OTHER}, FAILED, id="if_match_mismatch_412_even_for_get"),
        pytest.param(
            "PUT",
            {"if-match": f"W/{ETAG}"},
            FAILED,
            id="if_match_weak_tag_never_matches_strongly_rfc9110_8_8_3_2",
        ),
        pytest.param(
            "PUT", {"if-match": f'{OTHER}, {ETAG}, "x"'}, PROCEED, id="if_match_list_member_matches"
        ),
        pytest.param(
            "PUT",
            {"if-match": f" , ,\t{ETAG} ,, "},
            PROCEED,
            id="if_match_empty_elements_and_ows_rfc9110_5_6_1",
        ),
        pytest.param(
            "PUT",
            {"if-match": f'{ETAG} "x"'},
            FAILED,
            id="if_match_malformed_list_missing_comma_is_non_matching",
        ),
        pytest.param(
            "PUT",
            {"if-match": f"{ETAG}, unquoted"},
            FAILED,
            id="if_match_malformed_unquoted_element_is_non_matching",
        ),
        pytest.param(
            "PUT",
            {"if-match": f'{ETAG}, "unterminated'},
            FAILED,
            id="if_match_malformed_unterminated_quote_is_non_matching",
        ),
        pytest.param(
            "PUT", {"if-match": f"{ETAG}, *"}, FAILED, id="if_match_star_inside_list_is_malformed"
        ),
        pytest.param("PUT", {"if-match": ""}, FAILED, id="if_match_empty_value_matches_nothing"),
        # Step 2: If-Unmodified-Since, only without If-Match.
        pytest.param(
            "PUT",
            {"if-unmodified-since": BEFORE},
            FAILED,
            id="if_unmodified_since_modified_after_date_412_rfc9110_13_1_4",
        ),
        pytest.param(
            "PUT", {"if-unmodified-since": LM_DATE}, PROCEED, id="if_unmodified_since_equal_date"
        ),
        pytest.param(
            "PUT", {"if-unmodified-since": AFTER}, PROCEED, id="if_unmodified_since_later_date"
        ),
        pytest.param(
            "PUT",
            {"if-unmodified-since": "not a date"},
            PROCEED,
            id="if_unmodified_since_invalid_date_ignored_rfc9110_13_1_4",
        ),
        pytest.param(
            "PUT",
            {"if-unmodified-since": f"{LM_DATE}, {BEFORE}"},
            PROCEED,
            id="if_unmodified_since_list_of_dates_ignored_rfc9110_13_1_4",
        ),
        pytest.param(
            "PUT",
            {"if-match": ETAG, "if-unmodified-since": BEFORE},
            PROCEED,
            id="if_match_takes_precedence_over_if_unmodified_since_rfc9110_13_2_2",
        ),
        pytest.param(
            "PUT",
            {"if-match": OTHER, "if-unmodified-since": AFTER},
            FAILED,
            id="if_match_failure_not_rescued_by_if_unmodified_since_rfc9110_13_2_2",
        ),
        # Step 3: If-None-Match, weak comparison.
        pytest.param(
            "GET",
            {"if-none-match": ETAG},
            NOT_MODIFIED,
            id="if_none_match_match_get_304_rfc9110_13_1_2",
        ),
        pytest.param(
            "HEAD", {"if-none-match": ETAG}, NOT_MODIFIED, id="if_none_match_match_head_304"
        ),
        pytest.param(
            "POST",
            {"if-none-match": ETAG},
            FAILED,
            id="if_none_match_match_other_method_412_rfc9110_13_1_2",
        ),
        pytest.param(
            "get",
            {"if-none-match": ETAG},
            FAILED,
            id="method_names_are_case_sensitive_rfc9110_9_1",
        ),
        pytest.param(
            "GET",
            {"if-none-match": f"W/{ETAG}"},
            NOT_MODIFIED,
            id="if_none_match_weak_comparison_rfc9110_8_8_3_2",
        ),
        pytest.param(
            "GET",
            {"if-none-match": f"w/{ETAG}"},
            PROCEED,
            id="if_none_match_lowercase_w_prefix_is_malformed_rfc9110_8_8_3",
        ),
        pytest.param("GET", {"if-none-match": "*"}, NOT_MODIFIED, id="if_none_match_star_get_304"),
        pytest.param(
            "PUT",
            {"if-none-match": "*"},
            FAILED,
            id="if_none_match_star_put_412_rfc9110_13_1_2",
        ),
        pytest.param("GET", {"if-none-match": OTHER}, PROCEED, id="if_none_match_mismatch"),
        pytest.param(
            "GET",
            {"if-none-match": f'"a", W/"b",{ETAG}'},
            NOT_MODIFIED,
            id="if_none_match_list_member_matches",
        ),
        pytest.param(
            "GET",
            {"if-none-match": f'{ETAG}, "x" junk'},
            PROCEED,
            id="if_none_match_malformed_list_is_non_matching",
        ),
        pytest.param(
            "GET",
            {"if-none-match": ETAG[1:-1]},
            PROCEED,
            id="if_none_match_unquoted_tag_is_malformed",
        ),
        pytest.param(
            "GET",
            {"if-none-match": f"{ETAG[:-1]}x{ETAG[-1]}"},
            PROCEED,
            id="if_none_match_prefix_of_tag_does_not_match",
        ),
        pytest.param(
            "GET",
            {"if-match": ETAG, "if-none-match": ETAG},
            NOT_MODIFIED,
            id="if_match_true_continues_to_if_none_match_rfc9110_13_2_2",
        ),
        pytest.param(
            "GET",
            {"if-match": OTHER, "if-none-match": ETAG},
            FAILED,
            id="if_match_evaluated_before_if_none_match_rfc9110_13_2_2",
        ),
        pytest.param(
            "GET",
            {"if-unmodified-since": BEFORE, "if-none-match": ETAG},
            FAILED,
            id="if_unmodified_since_evaluated_before_if_none_match_rfc9110_13_2_2",
        ),
        # Step 4: If-Modified-Since, only without If-None-Match, GET/HEAD only.
        pytest.param(
            "GET",
            {"if-modified-since": LM_DATE},
            NOT_MODIFIED,
            id="if_modified_since_equal_304_rfc9110_13_1_3",
        ),
        pytest.param(
            "HEAD", {"if-modified-since": LM_DATE}, NOT_MODIFIED, id="if_modified_since_head_304"
        ),
        pytest.param(
            "GET", {"if-modified-since": AFTER}, NOT_MODIFIED, id="if_modified_since_later_304"
        ),
        pytest.param(
            "GET",
            {"if-modified-since": BEFORE},
            PROCEED,
            id="if_modified_since_modified_after_date_200",
        ),
        pytest.param(
            "GET",
            {"if-modified-since": FUTURE},
            PROCEED,
            id="if_modified_since_in_the_future_ignored_rfc9110_13_1_3",
        ),
        pytest.param(
            "GET",
            {"if-modified-since": "garbage"},
            PROCEED,
            id="if_modified_since_invalid_date_ignored_rfc9110_13_1_3",
        ),
        pytest.param(
            "GET",
            {"if-modified-since": f"{LM_DATE}, {LM_DATE}"},
            PROCEED,
            id="if_modified_since_more_than_one_member_ignored_rfc9110_13_1_3",
        ),
        pytest.param(
            "POST",
            {"if-modified-since": LM_DATE},
            PROCEED,
            id="if_modified_since_ignored_for_non_get_head_rfc9110_13_1_3",
        ),
        pytest.param(
            "GET",
            {"if-modified-since": LM_RFC850},
            NOT_MODIFIED,
            id="if_modified_since_rfc850_date_accepted_rfc9110_5_6_7",
        ),
        pytest.param(
            "GET",
            {"if-modified-since": LM_ASCTIME},
            NOT_MODIFIED,
            id="if_modified_since_asctime_date_accepted_rfc9110_5_6_7",
        ),
        pytest.param(
            "GET",
            {"if-none-match": OTHER, "if-modified-since": LM_DATE},
            PROCEED,
            id="if_none_match_takes_precedence_over_if_modified_since_rfc9110_13_2_2",
        ),
        pytest.param(
            "GET",
            {"if-none-match": f"{ETAG} garbage", "if-modified-since": LM_DATE},
            PROCEED,
            id="malformed_if_none_match_still_disables_if_modified_since_rfc9110_13_1_3",
        ),
        pytest.param(
            "GET",
            {"if-unmodified-since": BEFORE, "if-modified-since": LM_DATE},
            FAILED,
            id="if_unmodified_since_evaluated_before_if_modified_since_rfc9110_13_2_2",
        ),
        pytest.param(
            "GET",
            {"if-match": "*", "if-modified-since": LM_DATE},
            NOT_MODIFIED,
            id="if_match_true_continues_to_if_modified_since_rfc9110_13_2_2",
        ),
    ],
)
def test_evaluate_preconditions(
    method: str, headers: dict[str, str], expected: Precondition
) -> None:
    assert evaluate_preconditions(method, headers, ETAG, LM, NOW) is expected


@pytest.mark.parametrize(
    ("header", "etag", "expected"),
    [
        pytest.param('"x", "a,b"', '"a,b"', NOT_MODIFIED, id="comma_inside_quoted_etag"),
        pytest.param('"a,b"', '"a"', PROCEED, id="comma_inside_quotes_is_not_a_separator"),
        pytest.param('"a", "b"', '"a,b"', PROCEED, id="two_tags_are_not_one"),
        pytest.param('W/"a,b" ,\t"c"', '"a,b"', NOT_MODIFIED, id="weak_tag_with_comma"),
        pytest.param('""', '""', NOT_MODIFIED, id="empty_opaque_tag_is_valid"),
    ],
)
def test_entity_tag_list_parsing(header: str, etag: str, expected: Precondition) -> None:
    assert evaluate_preconditions("GET", {"if-none-match": header}, etag, LM, NOW) is expected


@pytest.mark.parametrize(
    ("if_range", "expected"),
    [
        pytest.param(None, True, id="absent_allows_range"),
        pytest.param(ETAG, True, id="if_range_etag_strong_match_rfc9110_13_1_5"),
        pytest.param(f" {ETAG}\t", True, id="if_range_etag_surrounding_ows"),
        pytest.param(OTHER, False, id="if_range_etag_mismatch_sends_full_200"),
        pytest.param(f"W/{ETAG}", False, id="if_range_weak_etag_never_matches_rfc9110_13_1_5"),
        pytest.param(f"{ETAG}, {OTHER}", False, id="if_range_takes_a_single_etag"),
        pytest.param(ETAG[:-1], False, id="if_range_unterminated_etag"),
        pytest.param(LM_DATE, True, id="if_range_date_exact_match_rfc9110_13_1_5"),
        pytest.param(LM_RFC850, True, id="if_range_date_rfc850_form"),
        pytest.param(AFTER, False, id="if_range_date_must_be_exact_not_later"),
        pytest.param(BEFORE, False, id="if_range_date_earlier_fails"),
        pytest.param("yesterday", False, id="if_range_invalid_value_fails"),
        pytest.param("", False, id="if_range_empty_value_fails"),
    ],
)
def test_if_range_allows_range(if_range: str | None, expected: bool) -> None:
    assert if_range_allows_range(if_range, ETAG, LM) is expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param((0x1A2B, 0x400, 0x17F0), '"1a2b-400-17f0"', id="strong_quoted_hex"),
        pytest.param((0, 0, 0), '"0-0-0"', id="zeros"),
        pytest.param((1, 2, 3, "gzip"), '"1-2-3-gzip"', id="suffix_distinguishes_coding"),
        pytest.param((1, 2, 3, "br"), '"1-2-3-br"', id="suffix_br"),
    ],
)
def test_make_etag(args: tuple[int, int, int] | tuple[int, int, int, str], expected: str) -> None:
    assert make_etag(*args) == expected


def test_make_etag_changes_with_every_component() -> None:
    base = make_etag(1, 2, 3)
    variants = {
        make_etag(9, 2, 3),
        make_etag(1, 9, 3),
        make_etag(1, 2, 9),
        make_etag(1, 2, 3, "gz"),
    }
    assert base not in variants
    assert len(variants) == 4


@pytest.mark.parametrize("suffix", ['g"z', "g z", "gz\r\n", "\t"])
def test_make_etag_rejects_suffix_outside_etagc(suffix: str) -> None:
    with pytest.raises(ValueError, match="suffix"):
        make_etag(1, 2, 3, suffix)
