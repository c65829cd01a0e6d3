"""HTTP-date formatting and parsing (RFC 9110 §5.6.7)."""

from __future__ import annotations

import calendar
import email.utils

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from staticsrv.http.httpdate import format_http_date, parse_http_date

# The RFC's own example instant: Sun, 06 Nov 1994 08:49:37 GMT.
EXAMPLE = calendar.timegm((1994, 11, 6, 8, 49, 37, 0, 0, 0))
NOW_2024 = float(calendar.timegm((2024, 6, 1, 0, 0, 0, 0, 0, 0)))


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> int:
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        pytest.param(EXAMPLE, "Sun, 06 Nov 1994 08:49:37 GMT", id="imf_fixdate_rfc9110_5_6_7"),
        pytest.param(0, "Thu, 01 Jan 1970 00:00:00 GMT", id="epoch"),
        pytest.param(EXAMPLE + 0.999, "Sun, 06 Nov 1994 08:49:37 GMT", id="fraction_floored"),
        pytest.param(utc(2000, 2, 29, 23, 59, 59), "Tue, 29 Feb 2000 23:59:59 GMT", id="leap_day"),
        pytest.param(utc(2038, 1, 19, 3, 14, 8), "Tue, 19 Jan 2038 03:14:08 GMT", id="past_2038"),
        pytest.param(
            utc(1969, 12, 31, 23, 59, 59), "Wed, 31 Dec 1969 23:59:59 GMT", id="pre_epoch"
        ),
    ],
)
def test_format_http_date(ts: float, expected: str) -> None:
    assert format_http_date(ts) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("Sun, 06 Nov 1994 08:49:37 GMT", EXAMPLE, id="imf_fixdate_rfc9110_5_6_7"),
        pytest.param("Sunday, 06-Nov-94 08:49:37 GMT", EXAMPLE, id="rfc850_obsolete_must_accept"),
        pytest.param("Sun Nov  6 08:49:37 1994", EXAMPLE, id="asctime_obsolete_must_accept"),
        pytest.param("Sun Nov 06 08:49:37 1994", EXAMPLE, id="asctime_two_digit_day"),
        pytest.param("  Sun, 06 Nov 1994 08:49:37 GMT\t", EXAMPLE, id="surrounding_ows_stripped"),
        pytest.param(
            "Mon, 06 Nov 1994 08:49:37 GMT", EXAMPLE, id="weekday_not_cross_checked_with_date"
        ),
        pytest.param(
            "Tue, 29 Feb 2000 12:00:00 GMT", utc(2000, 2, 29, 12), id="leap_day_400_year_rule"
        ),
        pytest.param(
            "Wed, 31 Dec 2008 23:59:60 GMT",
            utc(2009, 1, 1),
            id="leap_second_60_allowed_rfc9110_5_6_7",
        ),
        pytest.param("Thu, 01 Jan 1970 00:00:00 GMT", 0, id="epoch"),
        pytest.param("Sat, 01 Jan 0000 00:00:00 GMT", -62167219200, id="year_0000_is_valid_4digit"),
        # Invalid values -> None.
        pytest.param("", None, id="empty"),
        pytest.param("yesterday", None, id="garbage"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 UTC", None, id="zone_must_be_gmt"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 gmt", None, id="gmt_is_case_sensitive"),
        pytest.param("sun, 06 nov 1994 08:49:37 GMT", None, id="names_are_case_sensitive"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 +0000", None, id="numeric_zone_rejected"),
        pytest.param("Sun,  6 Nov 1994 08:49:37 GMT", None, id="imf_day_must_be_2digit"),
        pytest.param("Sun, 06 Nov 94 08:49:37 GMT", None, id="imf_year_must_be_4digit"),
        pytest.param("Xyz, 06 Nov 1994 08:49:37 GMT", None, id="unknown_day_name"),
        pytest.param("Sun, 06 Foo 1994 08:49:37 GMT", None, id="unknown_month_name"),
        pytest.param("Sun, 31 Feb 1994 08:49:37 GMT", None, id="day_beyond_month_end"),
        pytest.param("Thu, 29 Feb 1900 00:00:00 GMT", None, id="no_leap_day_in_1900"),
        pytest.param("Sun, 00 Nov 1994 08:49:37 GMT", None, id="day_zero"),
        pytest.param("Sun, 06 Nov 1994 24:00:00 GMT", None, id="hour_24"),
        pytest.param("Sun, 06 Nov 1994 08:60:00 GMT", None, id="minute_60"),
        pytest.param("Sun, 06 Nov 1994 08:49:61 GMT", None, id="second_61"),
        pytest.param("Sun, 06 Nov 1994 08-49-37 GMT", None, id="bad_time_separator"),
        pytest.param("Sun, \uff10\uff16 Nov 1994 08:49:37 GMT", None, id="non_ascii_digits"),
        pytest.param("Sun, 06 Nov 1994 08:49:3\u00b2 GMT", None, id="superscript_digit"),
        pytest.param("Sun, +6 Nov 1994 08:49:37 GMT", None, id="sign_is_not_a_digit"),
        pytest.param(
            "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT",
            None,
            id="list_of_dates_is_invalid_rfc9110_13_1_3",
        ),
        pytest.param("Sun, 06-Nov-94 08:49:37 GMT", None, id="rfc850_needs_long_day_name"),
        pytest.param("Sunday, 06 Nov 1994 08:49:37 GMT", None, id="long_day_in_imf_form"),
        pytest.param("Sunday, 06-Nov-1994 08:49:37 GMT", None, id="rfc850_four_digit_year"),
        pytest.param("Sun Nov 6 08:49:37 1994", None, id="asctime_single_space_day"),
        pytest.param("Sun Nov  6 08:49:37 94", None, id="asctime_two_digit_year"),
        pytest.param("Sun Nov 31 08:49:37 1994", None, id="asctime_invalid_day"),
    ],
)
def test_parse_http_date(value: str, expected: int | None) -> None:
    assert parse_http_date(value) == expected


@pytest.mark.parametrize(
    ("value", "now", "year"),
    [
        # RFC 9110 §5.6.7: a two-digit year "more than 50 years in the future"
        # is the most recent past year with the same last two digits.
        pytest.param("Sunday, 06-Nov-94 08:49:37 GMT", NOW_2024, 1994, id="rfc850_94_in_2024"),
        pytest.param("Monday, 06-Nov-30 08:49:37 GMT", NOW_2024, 2030, id="rfc850_near_future"),
        pytest.param(
            "Monday, 06-Nov-74 08:49:37 GMT", NOW_2024, 2074, id="rfc850_exactly_50_years_ahead"
        ),
        pytest.param(
            "Monday, 06-Nov-75 08:49:37 GMT",
            NOW_2024,
            1975,
            id="rfc850_more_than_50_years_ahead_is_past_rfc9110_5_6_7",
        ),
        pytest.param(
            "Monday, 06-Nov-30 08:49:37 GMT",
            float(utc(2095, 1, 1)),
            2130,
            id="rfc850_window_follows_the_clock",
        ),
        # Without a clock: the POSIX %y pivot.
        pytest.param("Monday, 06-Nov-68 08:49:37 GMT", None, 2068, id="rfc850_no_now_68_is_2068"),
        pytest.param("Monday, 06-Nov-69 08:49:37 GMT", None, 1969, id="rfc850_no_now_69_is_1969"),
    ],
)
def test_rfc850_two_digit_year(value: str, now: float | None, year: int) -> None:
    assert parse_http_date(value, now) == utc(year, 11, 6, 8, 49, 37)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=-2e9, max_value=253402300799.0, allow_nan=False))
def test_format_then_parse_round_trips_to_the_second(ts: float) -> None:
    text = format_http_date(ts)
    assert len(text) == 29
    # The stdlib's RFC 5322 formatter also uses fixed English names.
    assert text == email.utils.formatdate(int(ts // 1), usegmt=True)
    assert parse_http_date(text) == int(ts // 1)
