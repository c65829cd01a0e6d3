"""What to answer for a file: a pure decision over headers and file metadata.

The server gathers the facts (the file's validators, which compressed
variants exist) and this module decides status, representation and ranges,
following RFC 9110: content negotiation (§12.5.3) picks the representation
first, because validators belong to the selected representation (§8.8); then
preconditions (§13.2.2); then Range (§14.2), which applies to a 200 only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from staticsrv.http.conditional import Precondition, evaluate_preconditions, if_range_allows_range
from staticsrv.http.negotiate import choose_encoding

if TYPE_CHECKING:
    from staticsrv.http.ranges import ByteRange


@dataclass(frozen=True, slots=True)
class Variant:
    """One representation of a file."""

    coding: str | None  # Content-Encoding; None for the identity representation
    etag: str
    sidecar: str | None = None  # path of a precompressed file next to the original
    size: int | None = None  # None for an on-the-fly encoding (not known before compressing)


@dataclass(frozen=True, slots=True)
class Plan:
    status: int  # 200, 206, 304, 412 or 416
    variant: Variant
    ranges: tuple[ByteRange, ...] = ()  # for 206 only


def plan_file(
    method: str,
    headers: Mapping[str, str],
    identity: Variant,
    encoded: Sequence[Variant],
    last_modified: int,
    now: float,
) -> Plan:
    """Decide the answer to a GET or HEAD of a file.

    ``identity.size`` must be set.  ``encoded`` lists the acceptable-to-serve
    compressed variants in the server's order of preference; at most one per
    coding.
    """
    variant = identity
    range_header = headers.get("range")
    # A Range request is answered from the identity representation: ranges of
    # a compressed stream are useless to clients that resume downloads, and
    # an on-the-fly encoding has no stable length to cut ranges from.
    if encoded and range_header is None:
        coding = choose_encoding(headers.get("accept-encoding"), [v.coding or "" for v in encoded])
        if coding is not None:
            variant = next(v for v in encoded if v.coding == coding)

    outcome = evaluate_preconditions(method, headers, variant.etag, last_modified, now)
    if outcome is Precondition.NOT_MODIFIED:
        return Plan(304, variant)
    if outcome is Precondition.PRECONDITION_FAILED:
        return Plan(412, variant)

    # RFC 9110 §14.2: Range is defined for GET only (HEAD mirrors GET's answer).
    if range_header is None or method not in ("GET", "HEAD") or variant.size is None:
        return Plan(200, variant)
    if not if_range_allows_range(headers.get("if-range"), variant.etag, last_modified):
        return Plan(200, variant)
    from staticsrv.http.ranges import Unsatisfiable, parse_range  # by the first Range, not at start

    ranges = parse_range(range_header, variant.size)
    if ranges is None:
        return Plan(200, variant)
    if isinstance(ranges, Unsatisfiable):
        return Plan(416, variant)
    return Plan(206, variant, tuple(ranges))
