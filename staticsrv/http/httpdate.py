"""HTTP-date formatting and parsing (RFC 9110 §5.6.7), locale-free and pure.

Senders MUST generate only IMF-fixdate, but recipients MUST accept all three
historical forms, so :func:`parse_http_date` understands::

    IMF-fixdate  Sun, 06 Nov 1994 08:49:37 GMT
    RFC 850      Sunday, 06-Nov-94 08:49:37 GMT
    asctime      Sun Nov  6 08:49:37 1994

Day and month names come from fixed English tables rather than
``time.strftime`` because ``%a``/``%b`` follow ``LC_TIME`` and a server that
runs under a non-English locale would otherwise emit invalid dates.

The grammar is case-sensitive (the ABNF uses ``%s"..."`` strings), so
``sun, 06 nov 1994`` is rejected rather than guessed at: an invalid date in a
conditional header is simply ignored by the caller (RFC 9110 §13.1.3, §13.1.4),
which is always a safe outcome.
"""

from __future__ import annotations

import math
import time
from typing import Final

__all__ = ["format_http_date", "parse_http_date"]

_DAY_NAMES: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # tm_wday order
_DAY_NAMES_LONG: Final = frozenset(
    ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
)
_DAY_NAME_SET: Final = frozenset(_DAY_NAMES)
_MONTH_NAMES: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_MONTHS: Final = {name: i for i, name in enumerate(_MONTH_NAMES, start=1)}
_MONTH_DAYS: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def format_http_date(ts: float) -> str:
    """Format a POSIX timestamp as an IMF-fixdate, e.g. ``Sun, 06 Nov 1994 08:49:37 GMT``.

    Fractions are floored: HTTP dates have one-second resolution (RFC 9110
    §5.6.7) and flooring keeps ``format(mtime)`` equal to the Last-Modified
    second that the validators compare against.
    """
    t = time.gmtime(math.floor(ts))
    return (
        f"{_DAY_NAMES[t.tm_wday]}, {t.tm_mday:02d} {_MONTH_NAMES[t.tm_mon - 1]} "
        f"{t.tm_year:04d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def _int(s: str) -> int:
    """Decimal value of an all-ASCII-digit string, or -1.

    ``str.isdigit`` alone accepts non-ASCII digits such as ``"²"`` and ``int``
    accepts ``"1_0"`` and surrounding spaces, none of which the ABNF allows.
    """
    if s.isascii() and s.isdigit():
        return int(s)
    return -1


def _clock(s: str) -> tuple[int, int, int] | None:
    """Parse ``time-of-day = hour ":" minute ":" second`` (exactly ``HH:MM:SS``)."""
    if len(s) != 8 or s[2] != ":" or s[5] != ":":
        return None
    hh, mm, ss = _int(s[0:2]), _int(s[3:5]), _int(s[6:8])
    # RFC 9110 §5.6.7: 00:00:00 - 23:59:60, the 60 being a leap second.
    if not (0 <= hh <= 23 and 0 <= mm <= 59 and 0 <= ss <= 60):
        return None
    return hh, mm, ss


def _epoch(year: int, month: int, day: int, clock: tuple[int, int, int]) -> int | None:
    # Reject "31 Feb" instead of letting timegm roll it over into March.
    # Gregorian leap years, as calendar.isleap (not imported for this alone).
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    last = 29 if month == 2 and leap else _MONTH_DAYS[month - 1]
    if day < 1 or day > last:
        return None
    hh, mm, ss = clock
    # Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's
    # days_from_civil).  Unlike calendar.timegm it needs no datetime object,
    # so the year 0000, which 4DIGIT allows, does not raise.
    y = year - 1 if month <= 2 else year
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    return days * 86400 + hh * 3600 + mm * 60 + ss


def _rfc850_year(yy: int, now: float | None) -> int:
    """Expand a two-digit RFC 850 year.

    RFC 9110 §5.6.7: a year that "appears to be more than 50 years in the
    future" is the most recent past year with the same last two digits, i.e.
    the year lies in the window (now-50, now+50].  Without ``now`` we fall back
    to the fixed POSIX ``%y`` pivot (69-99 -> 19xx, 00-68 -> 20xx), which is
    equivalent to the RFC rule for any clock between 2019 and 2068.
    """
    if now is None:
        return 1900 + yy if yy >= 69 else 2000 + yy
    current = time.gmtime(math.floor(now)).tm_year
    year = current - current % 100 + yy
    if year > current + 50:
        year -= 100
    elif year <= current - 50:
        year += 100
    return year


def parse_http_date(value: str, now: float | None = None) -> int | None:
    """Parse any of the three HTTP-date forms into epoch seconds, or ``None``.

    ``now`` (epoch seconds) only matters for the two-digit year of the obsolete
    RFC 850 form; see :func:`_rfc850_year`.  The weekday name is checked for
    spelling but not against the date, as most servers do: a mismatch says
    nothing about which instant the client meant.
    """
    v = value.strip(" \t")
    n = len(v)
    # IMF-fixdate, by far the most common form: fixed width, fixed offsets.
    if n == 29 and v[3:5] == ", " and v[25:] == " GMT":
        if v[:3] not in _DAY_NAME_SET or v[7] != " " or v[11] != " " or v[16] != " ":
            return None
        month = _MONTHS.get(v[8:11])
        clock = _clock(v[17:25])
        day, year = _int(v[5:7]), _int(v[12:16])
        if month is None or clock is None or day < 0 or year < 0:
            return None
        return _epoch(year, month, day, clock)
    # asctime: "Sun Nov  6 08:49:37 1994" (day is 2DIGIT or SP DIGIT).
    if n == 24 and v[3] == " " and v[7] == " ":
        if v[:3] not in _DAY_NAME_SET or v[10] != " " or v[19] != " ":
            return None
        month = _MONTHS.get(v[4:7])
        clock = _clock(v[11:19])
        day = _int(v[9]) if v[8] == " " else _int(v[8:10])
        year = _int(v[20:24])
        if month is None or clock is None or day < 0 or year < 0:
            return None
        return _epoch(year, month, day, clock)
    # RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" (variable-length day name).
    comma = v.find(", ")
    if comma > 0 and v.endswith(" GMT") and n - comma == 24:
        if v[:comma] not in _DAY_NAMES_LONG:
            return None
        rest = v[comma + 2 :]  # "06-Nov-94 08:49:37 GMT"
        if rest[2] != "-" or rest[6] != "-" or rest[9] != " ":
            return None
        month = _MONTHS.get(rest[3:6])
        clock = _clock(rest[10:18])
        day, yy = _int(rest[0:2]), _int(rest[7:9])
        if month is None or clock is None or day < 0 or yy < 0:
            return None
        return _epoch(_rfc850_year(yy, now), month, day, clock)
    return None
