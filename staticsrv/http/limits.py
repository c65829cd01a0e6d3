"""Protocol limits: how long a request line, how large a head, how many fields.

Pure data, read by the parser (:mod:`staticsrv.http.http11`,
:mod:`staticsrv.http.receivebuffer`) and the connection loop, and set through
:class:`staticsrv.config.Config`.  A module of its own so that the sans-io
HTTP layer needs nothing from the configuration above it.
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Protocol limits, all enforced by the pure parser and the connection loop.

    The values follow what nginx and h11 use in practice; RFC 9112 §3 leaves
    the exact sizes to the server but asks for 414/431 when they are exceeded.
    """

    max_request_line: int = 8 * KIB  # longer request line -> 414 (RFC 9112 §3)
    max_head: int = 16 * KIB  # whole head including the request line -> 431 (RFC 6585 §5)
    max_headers: int = 100  # more header lines -> 431
    max_discard_body: int = 64 * KIB  # a GET body up to this size is read and dropped
