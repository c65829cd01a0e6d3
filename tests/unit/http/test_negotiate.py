"""Accept-Encoding negotiation (RFC 9110 §12.5.3) and the compressible-type table."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from staticsrv.http.negotiate import choose_encoding, is_compressible

AVAIL = ("br", "zstd", "gzip")


@pytest.mark.parametrize(
    ("header", "available", "expected"),
    [
        pytest.param(None, AVAIL, None, id="absent_header_identity"),
        pytest.param("", AVAIL, None, id="empty_value_no_coding_wanted_rfc9110_12_5_3"),
        pytest.param(" \t", AVAIL, None, id="whitespace_only"),
        pytest.param("gzip", AVAIL, "gzip", id="single_coding"),
        pytest.param(
            "gzip, deflate, br, zstd", AVAIL, "br", id="equal_q_tie_broken_by_server_order"
        ),
        pytest.param("gzip, deflate, br, zstd", ("gzip", "br"), "gzip", id="server_order_gzip"),
        pytest.param(
            "gzip;q=1.0, br;q=0.5", AVAIL, "gzip", id="highest_qvalue_wins_rfc9110_12_4_2"
        ),
        pytest.param("br;q=0.5, gzip;q=0.5", ("gzip", "br"), "gzip", id="q_tie_server_order"),
        pytest.param("br;q=0.001, gzip;q=0", AVAIL, "br", id="smallest_positive_q_acceptable"),
        pytest.param("br;q=0, gzip", AVAIL, "gzip", id="q0_not_acceptable_rfc9110_12_4_2"),
        pytest.param("br;q=0", ("br",), None, id="only_coding_refused"),
        pytest.param("compress, deflate", AVAIL, None, id="nothing_available_is_acceptable"),
        pytest.param("gzip", (), None, id="no_available_codings"),
        # "*" matches any coding not listed explicitly.
        pytest.param("*", AVAIL, "br", id="star_matches_any_rfc9110_12_5_3"),
        pytest.param("*;q=0", AVAIL, None, id="star_q0_refuses_everything"),
        pytest.param("*, br;q=0", AVAIL, "zstd", id="explicit_entry_overrides_star_rfc9110_12_5_3"),
        pytest.param("*;q=0.1, gzip", AVAIL, "gzip", id="explicit_higher_than_star"),
        pytest.param("gzip;q=0.2, *;q=0.5", AVAIL, "br", id="star_higher_than_explicit"),
        pytest.param("*;q=0, gzip", AVAIL, "gzip", id="star_q0_with_explicit_coding"),
        # Case-insensitivity and the x-gzip alias.
        pytest.param("GZIP", AVAIL, "gzip", id="coding_case_insensitive_rfc9110_8_4_1"),
        pytest.param("Gzip;Q=0.5, br;q=0.4", AVAIL, "gzip", id="q_parameter_case_insensitive"),
        pytest.param("x-gzip", AVAIL, "gzip", id="x_gzip_alias_rfc9110_8_4_1_3"),
        pytest.param("x-gzip;q=0, *", AVAIL, "br", id="x_gzip_q0_refuses_gzip"),
        pytest.param("x-gzip;q=0, *", ("gzip",), None, id="x_gzip_q0_refuses_gzip_only"),
        # identity.
        pytest.param("identity", AVAIL, None, id="identity_only"),
        pytest.param("identity, gzip", AVAIL, "gzip", id="identity_tie_prefers_coding"),
        pytest.param(
            "gzip;q=0.5, identity", AVAIL, None, id="identity_strictly_preferred_rfc9110_12_5_3"
        ),
        pytest.param(
            "gzip;q=0.5, *;q=0.8", ("gzip",), None, id="identity_ranked_by_star_above_coding"
        ),
        pytest.param("identity;q=0, gzip;q=0.1", AVAIL, "gzip", id="identity_refused_coding_ok"),
        pytest.param("identity;q=0", AVAIL, None, id="identity_refused_still_identity"),
        pytest.param("gzip;q=0.5", AVAIL, "gzip", id="implicit_identity_does_not_outrank"),
        pytest.param("gzip", ("identity", "gzip"), "gzip", id="identity_in_available_skipped"),
        # Malformed weights count as q=0 (documented choice).
        pytest.param("br;q=abc, gzip;q=0.5", AVAIL, "gzip", id="malformed_q_is_q0"),
        pytest.param("*, br;q=x", AVAIL, "zstd", id="malformed_q_not_rescued_by_star"),
        pytest.param("gzip;q=1.5", AVAIL, None, id="q_above_1_malformed"),
        pytest.param("gzip;q=0.1234", AVAIL, None, id="q_more_than_3_decimals_malformed"),
        pytest.param("gzip;q=.5", AVAIL, None, id="q_without_leading_digit_malformed"),
        pytest.param("gzip;q=1.001", AVAIL, None, id="q_1_point_001_malformed"),
        pytest.param("gzip;q=-1", AVAIL, None, id="negative_q_malformed"),
        pytest.param("gzip;q=", AVAIL, None, id="empty_q_malformed"),
        pytest.param("gzip;q=1.000", AVAIL, "gzip", id="q_1_point_000_valid"),
        pytest.param("gzip;q=1.", AVAIL, "gzip", id="q_1_point_valid_per_abnf"),
        pytest.param("gzip;level=9", AVAIL, "gzip", id="unknown_parameter_ignored"),
        # List syntax.
        pytest.param(
            " gzip ; q=0.5 ,\tbr ; q=0.4 ", AVAIL, "gzip", id="ows_around_weights_rfc9110_12_4_2"
        ),
        pytest.param(",, gzip ,,", AVAIL, "gzip", id="empty_list_elements_rfc9110_5_6_1"),
        pytest.param(";q=1, gzip", AVAIL, "gzip", id="element_without_coding_skipped"),
        pytest.param("gzip;q=0, gzip", ("gzip",), None, id="duplicate_first_occurrence_wins"),
        pytest.param(
            "gzip" + ", unknown-coding" * 100, AVAIL, "gzip", id="long_header_beyond_cache_limit"
        ),
    ],
)
def test_choose_encoding(
    header: str | None, available: Sequence[str], expected: str | None
) -> None:
    assert choose_encoding(header, available) == expected


def test_choose_encoding_returns_available_entry_and_is_repeatable() -> None:
    # Cached parsing must not leak between different "available" tuples.
    assert choose_encoding("br, gzip", ("gzip",)) == "gzip"
    assert choose_encoding("br, gzip", ("br", "gzip")) == "br"
    assert choose_encoding("br, gzip", ["gzip"]) == "gzip"


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        pytest.param("text/html; charset=utf-8", True, id="text_html_with_charset"),
        pytest.param("text/css", True, id="text_css"),
        pytest.param("text/plain", True, id="text_plain"),
        pytest.param("TEXT/Markdown ; charset=UTF-8", True, id="case_and_ows"),
        pytest.param("text/javascript", True, id="text_javascript"),
        pytest.param("application/javascript", True, id="application_javascript"),
        pytest.param("application/json", True, id="json"),
        pytest.param("application/manifest+json", True, id="web_manifest"),
        pytest.param("application/ld+json", True, id="any_plus_json_rfc6839"),
        pytest.param("application/vnd.api+json; charset=utf-8", True, id="vendor_plus_json"),
        pytest.param("image/svg+xml", True, id="svg"),
        pytest.param("application/xml", True, id="xml"),
        pytest.param("application/rss+xml", True, id="any_plus_xml_rfc6839"),
        pytest.param("application/xhtml+xml", True, id="xhtml"),
        pytest.param("application/wasm", True, id="wasm"),
        pytest.param("image/png", False, id="png"),
        pytest.param("image/jpeg", False, id="jpeg"),
        pytest.param("image/webp", False, id="webp"),
        pytest.param("image/avif", False, id="avif"),
        pytest.param("video/mp4", False, id="video"),
        pytest.param("audio/mpeg", False, id="audio"),
        pytest.param("font/woff2", False, id="woff2_already_compressed"),
        pytest.param("font/woff", False, id="woff_already_compressed"),
        pytest.param("font/ttf", False, id="fonts_not_compressed"),
        pytest.param("application/zip", False, id="zip_archive"),
        pytest.param("application/gzip", False, id="gzip_archive"),
        pytest.param("application/pdf", False, id="pdf"),
        pytest.param("application/octet-stream", False, id="octet_stream"),
        pytest.param("application/json-seq-but-not-really/x", False, id="not_a_suffix_match"),
        pytest.param("", False, id="empty_type"),
    ],
)
def test_is_compressible(content_type: str, expected: bool) -> None:
    assert is_compressible(content_type) is expected
