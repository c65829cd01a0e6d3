"""plan_file as a pure function: negotiation, then preconditions, then ranges (RFC 9110)."""

from __future__ import annotations

from staticsrv.http.httpdate import format_http_date
from staticsrv.http.ranges import ByteRange
from staticsrv.site.fileplan import Plan, Variant, plan_file

MTIME = 1_700_000_000
NOW = MTIME + 3600.0
IDENTITY = Variant(None, '"abc"', None, 1000)
GZIP = Variant("gzip", '"abc-gzip"')  # on the fly: no size known
BR = Variant("br", '"br1"', "/site/a.css.br", 300)


def plan(
    headers: dict[str, str], encoded: list[Variant] | None = None, method: str = "GET"
) -> Plan:
    return plan_file(method, headers, IDENTITY, encoded or [], MTIME, NOW)


def test_a_plain_get_is_200_of_the_identity() -> None:
    assert plan({}) == Plan(200, IDENTITY)


def test_an_accepted_encoding_is_chosen_in_the_servers_order() -> None:
    assert plan({"accept-encoding": "gzip"}, [GZIP]) == Plan(200, GZIP)
    assert plan({"accept-encoding": "gzip, br"}, [BR, GZIP]) == Plan(200, BR)
    assert plan({"accept-encoding": "gzip"}, [BR, GZIP]) == Plan(200, GZIP)


def test_no_or_refused_accept_encoding_gives_the_identity() -> None:
    assert plan({}, [GZIP]).variant is IDENTITY
    assert plan({"accept-encoding": "gzip;q=0"}, [GZIP]).variant is IDENTITY
    assert plan({"accept-encoding": "identity"}, [GZIP]).variant is IDENTITY


def test_validators_belong_to_the_selected_representation_rfc9110_8_8() -> None:
    # The gzip ETag revalidates the gzip answer; the identity ETag does not.
    headers = {"accept-encoding": "gzip", "if-none-match": GZIP.etag}
    assert plan(headers, [GZIP]) == Plan(304, GZIP)
    headers = {"accept-encoding": "gzip", "if-none-match": IDENTITY.etag}
    assert plan(headers, [GZIP]) == Plan(200, GZIP)
    assert plan({"if-none-match": IDENTITY.etag}, [GZIP]) == Plan(304, IDENTITY)


def test_if_modified_since_not_before_the_mtime_is_304() -> None:
    assert plan({"if-modified-since": format_http_date(MTIME)}).status == 304
    assert plan({"if-modified-since": format_http_date(MTIME - 1)}).status == 200


def test_a_failed_if_match_is_412_before_any_range() -> None:
    assert plan({"if-match": '"other"', "range": "bytes=0-1"}).status == 412
    assert plan({"if-match": IDENTITY.etag}).status == 200


def test_a_range_is_206_with_its_byte_ranges() -> None:
    assert plan({"range": "bytes=0-9"}) == Plan(206, IDENTITY, (ByteRange(0, 9),))
    assert plan({"range": "bytes=-10"}) == Plan(206, IDENTITY, (ByteRange(990, 999),))


def test_a_head_with_range_mirrors_the_get() -> None:
    assert plan({"range": "bytes=0-9"}, method="HEAD") == plan({"range": "bytes=0-9"})


def test_a_range_request_is_answered_from_the_identity_even_if_gzip_is_accepted() -> None:
    got = plan({"range": "bytes=0-9", "accept-encoding": "gzip"}, [GZIP])
    assert got == Plan(206, IDENTITY, (ByteRange(0, 9),))


def test_an_unsatisfiable_range_is_416() -> None:
    assert plan({"range": "bytes=1000-"}) == Plan(416, IDENTITY)


def test_an_invalid_range_is_ignored() -> None:
    assert plan({"range": "lines=1-2"}) == Plan(200, IDENTITY)
    assert plan({"range": "bytes=9-1"}) == Plan(200, IDENTITY)


def test_if_range_with_an_old_validator_sends_the_whole_file() -> None:
    assert plan({"range": "bytes=0-9", "if-range": '"old"'}) == Plan(200, IDENTITY)
    current = plan({"range": "bytes=0-9", "if-range": IDENTITY.etag})
    assert current.status == 206


def test_the_plan_is_a_pure_function_of_its_inputs() -> None:
    headers = {"accept-encoding": "gzip", "range": "bytes=0-1,5-6"}
    assert plan(headers, [GZIP]) == plan(dict(headers), [GZIP])
    assert headers == {"accept-encoding": "gzip", "range": "bytes=0-1,5-6"}
